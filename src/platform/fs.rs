//! The file calls a download needs beyond the standard library: an unnamed
//! temporary file linked into its directory once complete (`O_TMPFILE`,
//! `linkat`), the kernel's own answer to "may I write this file?"
//! (`faccessat`), the path the kernel resolved an open file to, and a copy
//! of a descriptor the user named (`/dev/fd/N`).
//!
//! Why `O_TMPFILE`: the file has no name while it fills, so no other user
//! can open it, whatever its mode, and a process killed with SIGKILL leaves
//! nothing behind; it gets a name (and its final mode before that) only
//! once the download is complete and checked.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Creates an unnamed regular file in the directory `dir`, for writing,
/// with `mode` (less the umask) once it is linked. Fails with
/// [`io::ErrorKind::Unsupported`] where the file system or kernel has no
/// `O_TMPFILE` (the caller then falls back to a named file).
pub fn create_unnamed(dir: &Path, mode: u32) -> io::Result<File> {
    let opened = OpenOptions::new()
        .read(true)
        .write(true)
        .mode(mode)
        .custom_flags(libc::O_TMPFILE)
        .open(dir);
    match opened {
        // EISDIR: a kernel older than 3.11 takes O_TMPFILE for O_DIRECTORY;
        // EOPNOTSUPP: a file system without it (some network mounts).
        Err(err) if matches!(err.raw_os_error(), Some(libc::EISDIR | libc::EOPNOTSUPP)) => Err(
            io::Error::new(io::ErrorKind::Unsupported, "no O_TMPFILE here"),
        ),
        other => other,
    }
}

/// Gives the unnamed file `file` (from [`create_unnamed`]) the name `path`,
/// in the directory it was created in. Fails with
/// [`io::ErrorKind::AlreadyExists`] when the name is taken: `linkat` never
/// replaces a file.
#[allow(unsafe_code)]
pub fn link_unnamed(file: &File, path: &Path) -> io::Result<()> {
    // Through /proc rather than AT_EMPTY_PATH, which needs
    // CAP_DAC_READ_SEARCH: this is the way open(2) documents for any user.
    let from = std::ffi::CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .map_err(io::Error::other)?;
    let to = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in the path"))?;
    // SAFETY: both pointers are NUL-terminated strings alive for the whole
    // call; linkat only reads them.
    let result = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Opens `path` the way open(2) does, symbolic links followed by the
/// kernel's rules (`fs.protected_symlinks` included), without reading or
/// writing anything (`O_PATH`): to learn what the path leads to.
pub fn open_location(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(path)
}

/// Opens the directory `path` (`O_PATH`), symbolic links followed by the
/// kernel's rules, to reach files in it with [`path_in`] from now on.
pub fn open_directory(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(path)
}

/// A path to `name` in the open directory `dir` (from [`open_directory`])
/// that goes through the open directory itself (`/proc/self/fd/N/NAME`),
/// not through the path it was opened by; an empty `name` is the directory.
pub fn path_in(dir: &File, name: &std::ffi::OsStr) -> PathBuf {
    let mut path = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    if !name.is_empty() {
        path.push(name);
    }
    path
}

/// Opens for writing the file that `location` (from [`open_location`])
/// leads to, with no new look-up of the path: for a FIFO or a device.
pub fn reopen_for_writing(location: &File) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(format!("/proc/self/fd/{}", location.as_raw_fd()))
}

/// What the open descriptor `fd` is (a pipe, a terminal, a file); fails
/// when `fd` is not open.
pub fn descriptor_metadata(fd: RawFd) -> io::Result<std::fs::Metadata> {
    std::fs::metadata(format!("/proc/self/fd/{fd}"))
}

/// Whether this process may write the open file `file`, by the kernel's
/// rules for its effective user (`faccessat(W_OK, AT_EACCESS)`): root may
/// write a read-only file; anyone else may not.
#[allow(unsafe_code)]
pub fn may_write(file: &File) -> io::Result<bool> {
    let path = std::ffi::CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .map_err(io::Error::other)?;
    // SAFETY: the pointer is a NUL-terminated string alive for the whole
    // call; faccessat only reads it.
    let result =
        unsafe { libc::faccessat(libc::AT_FDCWD, path.as_ptr(), libc::W_OK, libc::AT_EACCESS) };
    if result == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EACCES | libc::EROFS | libc::ETXTBSY | libc::EPERM) => Ok(false),
        _ => Err(err),
    }
}

/// The path the kernel resolved the open file `file` to (its name in its
/// directory now). Fails when the file has no name any more.
pub fn resolved_path(file: &File) -> io::Result<PathBuf> {
    let path = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
    if !path.is_absolute() || path.as_os_str().as_bytes().ends_with(b" (deleted)") {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "it was removed while being opened",
        ));
    }
    Ok(path)
}

/// A copy of the open descriptor `fd` (`F_DUPFD_CLOEXEC`), to write to the
/// file, pipe or terminal it is: for `-o /dev/fd/N`. Fails with `EBADF` when
/// `fd` is not open.
#[allow(unsafe_code)]
pub fn duplicate(fd: RawFd) -> io::Result<File> {
    // SAFETY: fcntl with F_DUPFD_CLOEXEC reads only its integer arguments;
    // an `fd` that is not open is an EBADF error, not undefined behaviour.
    let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if copy < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `copy` is a new descriptor that nothing else owns.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(copy) }))
}

/// The effective user id of this process, the owner of the files it creates.
#[allow(unsafe_code)]
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no arguments and always succeeds.
    unsafe { libc::geteuid() }
}

/// This process's umask, read without changing it (`Umask:` in
/// `/proc/self/status`, Linux 4.7 and later); `None` when it cannot be read.
/// Read once: sockdemo never changes its umask, and a run of many files
/// would otherwise read the status file for each.
pub fn umask() -> Option<u32> {
    static UMASK: OnceLock<Option<u32>> = OnceLock::new();
    *UMASK.get_or_init(read_umask)
}

fn read_umask() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let mask = status
        .lines()
        .find_map(|line| line.strip_prefix("Umask:"))?;
    u32::from_str_radix(mask.trim(), 8).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn an_unnamed_file_appears_only_once_linked() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut file = create_unnamed(dir.path(), 0o600).expect("O_TMPFILE on the test's disk");
        file.write_all(b"complete").expect("write");
        assert_eq!(std::fs::read_dir(dir.path()).expect("read_dir").count(), 0);
        let path = dir.path().join("named");
        link_unnamed(&file, &path).expect("linkat");
        assert_eq!(std::fs::read(&path).expect("read"), b"complete");
        assert_eq!(
            std::fs::metadata(&path).expect("stat").mode() & 0o777,
            0o600 & !umask().expect("umask")
        );
        let taken = link_unnamed(&file, &path).expect_err("a name already taken");
        assert_eq!(taken.kind(), io::ErrorKind::AlreadyExists);
    }

    #[test]
    fn a_read_only_file_is_not_writable_unless_root() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("read-only");
        std::fs::write(&path, b"x").expect("write");
        let file = open_location(&path).expect("O_PATH");
        assert!(may_write(&file).expect("faccessat"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).expect("chmod");
        assert_eq!(may_write(&file).expect("faccessat"), effective_uid() == 0);
    }

    #[test]
    fn a_symbolic_link_resolves_to_the_file_it_names() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let real = dir.path().join("real");
        std::fs::write(&real, b"x").expect("write");
        std::os::unix::fs::symlink("real", dir.path().join("link")).expect("symlink");
        let file = open_location(&dir.path().join("link")).expect("O_PATH");
        let resolved = resolved_path(&file).expect("readlink");
        assert_eq!(resolved, real.canonicalize().expect("canonicalize"));
    }

    #[test]
    fn a_duplicate_writes_where_the_descriptor_does() {
        let (mut reader, writer) = io::pipe().expect("a pipe");
        let fd = OwnedFd::from(writer);
        let mut copy = duplicate(fd.as_raw_fd()).expect("dup");
        drop(fd);
        copy.write_all(b"through the copy").expect("write");
        drop(copy);
        let mut got = String::new();
        reader.read_to_string(&mut got).expect("read");
        assert_eq!(got, "through the copy");
        assert_eq!(
            duplicate(-1).expect_err("no descriptor").raw_os_error(),
            Some(libc::EBADF)
        );
    }
}
