//! Early writeback of a file being written: the kernel starts putting the
//! bytes on disk during a download, so the fsync at its end has little left
//! to do.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Asks the kernel to start writing `len` bytes of `file` from `offset` to
/// disk, without waiting for it. Only a speed-up: it makes nothing durable
/// (an fsync does), so a caller may ignore its failure.
#[allow(unsafe_code)]
pub fn start_writeback(file: &File, offset: u64, len: u64) -> io::Result<()> {
    let offset = libc::off64_t::try_from(offset).map_err(io::Error::other)?;
    let len = libc::off64_t::try_from(len).map_err(io::Error::other)?;
    // SAFETY: sync_file_range only reads its integer arguments; the file
    // descriptor is valid for the duration of the call, borrowed from `file`.
    let result = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn writeback_of_written_bytes_starts() {
        let mut file = tempfile::tempfile().expect("create a temporary file");
        file.write_all(&[7; 64 * 1024]).expect("write to it");
        start_writeback(&file, 0, 64 * 1024).expect("start writeback");
        // A length of 0 means "to the end of the file".
        start_writeback(&file, 4096, 0).expect("start writeback to the end");
    }

    #[test]
    fn a_pipe_has_no_writeback() {
        let (_reader, writer) = io::pipe().expect("create a pipe");
        let pipe = File::from(std::os::fd::OwnedFd::from(writer));
        let err = start_writeback(&pipe, 0, 1).expect_err("sync_file_range on a pipe");
        assert_eq!(err.raw_os_error(), Some(libc::ESPIPE));
    }

    #[test]
    fn an_offset_beyond_what_the_kernel_takes_is_refused() {
        let file = tempfile::tempfile().expect("create a temporary file");
        let err = start_writeback(&file, u64::MAX, 1).expect_err("an offset beyond off64_t");
        assert_eq!(err.raw_os_error(), None);
    }
}
