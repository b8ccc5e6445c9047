//! Advisory locks on whole files (`flock`): how `fetch -C` keeps two runs
//! from writing into one partial file at once.
//!
//! The lock belongs to the open file, not to the process: a second `open` of
//! the same path, even in the same process, does not hold it, and it goes
//! away when the file is closed, so a run that dies never leaves it behind.
//! (`File::try_lock` in the standard library does the same from Rust 1.89,
//! newer than the version this crate supports.)

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Takes an exclusive lock on `file` without waiting for it: `Ok(true)`
/// once it is held, `Ok(false)` when another open file holds a lock on the
/// same file (the call would block).
#[allow(unsafe_code)]
pub fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    // SAFETY: flock only reads its integer arguments; the descriptor is
    // valid for the whole call, borrowed from `file`.
    let result = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if result == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        return Ok(false);
    }
    Err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_file_cannot_take_the_lock_until_the_first_is_closed() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("locked");
        let first = File::create(&path).expect("create");
        let second = File::open(&path).expect("open again");
        assert!(try_lock_exclusive(&first).expect("flock"));
        // Taking it again through the same open file is allowed.
        assert!(try_lock_exclusive(&first).expect("flock again"));
        assert!(!try_lock_exclusive(&second).expect("flock on another open file"));
        drop(first);
        assert!(try_lock_exclusive(&second).expect("flock once the first is closed"));
    }
}
