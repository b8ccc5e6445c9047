//! Where the body goes, and the promise that a user's file is never left
//! half-written: a download to a regular file is written to a temporary
//! file beside it, fsynced, and renamed over the target only once it is
//! complete; on any failure the temporary file is removed and the existing
//! file is untouched. The temporary file is tracked in a [`PartialFile`],
//! so that a signal removes it too (see [`super::signals`]).
//!
//! With `-C`, the temporary file is the `.NAME.part` of [`super::partial`]
//! instead, kept on failure and on a signal so that a later run continues it.
//!
//! The tutorial's counterpart is `with open(a.out, 'wb') as f: f.write(html)`,
//! which truncates the user's file before a single byte has arrived.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, BufWriter, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use log::debug;

mod atomic;

use super::partial::{Meta, Partial};
use super::signals::PartialFile;
use crate::exit::{Code, WithCode};
use crate::http::Resume;
use atomic::{Atomic, Temp};

/// Body bytes are gathered into writes of at least this size when they
/// arrive in small pieces (small chunks of a chunked body); larger pieces
/// are written straight from the receive buffer without a copy.
const WRITE_BLOCK: usize = 64 * 1024;

/// Permissions of a newly created file before the umask, as curl gives (not
/// the 0600 of a temporary file).
const NEW_FILE_MODE: u32 = 0o644;

/// Symbolic links followed before giving up (Linux's own limit).
const MAX_SYMLINKS: usize = 40;

/// Where the user asked the body to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `-o -`.
    Stdout,
    /// A path (the default name, or `-o FILE`).
    File(PathBuf),
}

/// An open output. Dropping it without [`Output::commit`] abandons the
/// download: a temporary file is removed, the target left as it was.
pub struct Output {
    writer: BufWriter<Sink>,
    name: String,
}

enum Sink {
    /// Standard output, unbuffered by Rust (its stdout splits at newlines).
    Stdout(File),
    /// Something that is not a regular file (`/dev/null`, a FIFO): written
    /// in place, since it cannot be replaced and holds nothing to protect.
    Direct(File),
    /// A regular file, replaced atomically.
    Atomic(Box<Atomic>),
}

impl Output {
    /// Opens the destination for writing; a temporary file is tracked in
    /// `partial` from before it exists. Exit 23 when that is not possible.
    pub fn open(destination: &Destination, partial: &PartialFile) -> anyhow::Result<Output> {
        let (sink, name) = match destination {
            Destination::Stdout => {
                let fd = io::stdout()
                    .as_fd()
                    .try_clone_to_owned()
                    .with_code(Code::WriteError, || "writing stdout")?;
                (Sink::Stdout(File::from(fd)), "stdout".to_owned())
            }
            Destination::File(path) => {
                let name = path.display().to_string();
                let sink = open_file(path, partial)
                    .with_code(Code::WriteError, || format!("writing {name}"))?;
                (sink, name)
            }
        };
        Ok(Output {
            writer: BufWriter::with_capacity(WRITE_BLOCK, sink),
            name,
        })
    }

    /// Opens a file for `-C`: its `.part`, continued if an earlier run with
    /// `-C` left it for the same `url`. Exit 23 when that is not possible,
    /// another run using it included.
    pub fn open_continued(path: &Path, url: &str, partial: &PartialFile) -> anyhow::Result<Output> {
        let name = path.display().to_string();
        let sink = open_kept(path, url, partial)
            .with_code(Code::WriteError, || format!("continuing {name}"))?;
        Ok(Output {
            writer: BufWriter::with_capacity(WRITE_BLOCK, Sink::Atomic(Box::new(sink))),
            name,
        })
    }

    /// The name written to, as the messages say it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How to continue what an earlier run with `-C` left, if anything.
    pub fn kept(&self) -> Option<Resume> {
        match self.writer.get_ref() {
            Sink::Atomic(atomic) => match &atomic.temp {
                Some(Temp::Kept(partial)) => partial.resume(),
                _ => None,
            },
            Sink::Stdout(_) | Sink::Direct(_) => None,
        }
    }

    /// Hands the bytes an earlier run left to `sink`, from the first.
    pub fn read_kept(&mut self, sink: impl FnMut(&[u8])) -> anyhow::Result<()> {
        let name = self.name.clone();
        if let Sink::Atomic(atomic) = self.writer.get_mut()
            && let Some(Temp::Kept(partial)) = &mut atomic.temp
        {
            partial
                .read_kept(sink)
                .with_code(Code::WriteError, || format!("reading {name}"))?;
        }
        Ok(())
    }

    /// Whether [`Output::restart`] can empty what was written: not for
    /// standard output or a FIFO, whose bytes are gone.
    pub fn can_restart(&self) -> bool {
        matches!(self.writer.get_ref(), Sink::Atomic(_))
    }

    /// Empties the output: the download starts over from its first byte.
    /// With `-C`, `meta` says what the `.part` will hold from now on (`None`:
    /// nothing that can be continued). Exit 23 on failure.
    pub fn restart(&mut self, meta: Option<Meta>) -> anyhow::Result<()> {
        let name = self.name.clone();
        let writing = || format!("writing {name}");
        self.writer.flush().with_code(Code::WriteError, writing)?;
        match self.writer.get_mut() {
            Sink::Atomic(atomic) => atomic.restart(meta).with_code(Code::WriteError, writing),
            Sink::Stdout(_) | Sink::Direct(_) => Err(crate::exit::fail(
                Code::WriteError,
                format!("{name} cannot be emptied to start over"),
            )),
        }
    }

    /// Gives up the download: a temporary file is removed, and so is a
    /// `.part` when `discard` (its data is known to be wrong); otherwise a
    /// `.part` stays for a later run.
    pub fn abandon(mut self, discard: bool) {
        // What is buffered belongs in a `.part` that is kept.
        if let Err(err) = self.writer.flush() {
            debug!("flushing {}: {err}", self.name);
        }
        if let Sink::Atomic(atomic) = self.writer.get_mut() {
            atomic.discard |= discard;
        }
    }

    /// Writes body bytes. Exit 23 on failure.
    pub fn write_all(&mut self, data: &[u8]) -> anyhow::Result<()> {
        self.writer
            .write_all(data)
            .with_code(Code::WriteError, || format!("writing {}", self.name))
    }

    /// Completes the download: flushes, and for a regular file fsyncs it,
    /// renames it over the target, and fsyncs the directory so that the
    /// rename itself survives a crash. Returns the name written to.
    ///
    /// An error means the target is as it was. Once the rename is done, the
    /// download has succeeded: a failed fsync of the directory is only a
    /// warning, since after a crash the directory holds either the old file
    /// or the new one, never a mix.
    pub fn commit(self) -> anyhow::Result<String> {
        let name = self.name;
        let writing = || format!("writing {name}");
        let sink = self
            .writer
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
            .with_code(Code::WriteError, writing)?;
        match sink {
            Sink::Stdout(_) | Sink::Direct(_) => {}
            Sink::Atomic(mut atomic) => atomic.commit().with_code(Code::WriteError, writing)?,
        }
        Ok(name)
    }
}

/// Opens a path: in place when it is not a regular file, else through a
/// temporary file beside the (symlink-resolved) target.
fn open_file(path: &Path, partial: &PartialFile) -> io::Result<Sink> {
    // `new/` names a directory, which the rename would refuse: refuse it
    // now, not after the download.
    if path.as_os_str().as_bytes().ends_with(b"/") {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "names a directory",
        ));
    }
    let target = resolve_symlinks(path)?;
    let existing = match fs::metadata(&target) {
        Ok(meta) => Some(meta),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => return Err(err),
    };
    if let Some(meta) = &existing {
        if meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory",
            ));
        }
        if !meta.is_file() {
            debug!(
                "{} is not a regular file: writing it in place",
                target.display()
            );
            return Ok(Sink::Direct(OpenOptions::new().write(true).open(&target)?));
        }
    }
    let dir = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let dir_handle = File::open(dir)
        .inspect_err(|err| debug!("{} will not be fsynced: {err}", dir.display()))
        .ok();
    let Some(file_name) = target.file_name() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a file name",
        ));
    };
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(file_name);
    prefix.push(".");
    let temp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".part")
        .make_in(dir, |path| {
            // Tracked before it exists: a signal between its creation and
            // its tracking would leave it behind.
            partial.track(path);
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(NEW_FILE_MODE)
                .open(path)
                .inspect_err(|_| partial.keep())
        })?;
    if let Some(meta) = existing {
        keep_owner_and_mode(temp.as_file(), &meta);
    }
    debug!("downloading into {}", temp.path().display());
    Ok(Sink::Atomic(Box::new(Atomic {
        discard: false,
        temp: Some(Temp::Random(temp)),
        target,
        dir: dir_handle,
        written: 0,
        writeback_from: 0,
        partial: partial.clone(),
    })))
}

/// Opens the `.part` of `path` for `-C`, beside the (symlink-resolved)
/// target, which must be a regular file or not exist yet.
fn open_kept(path: &Path, url: &str, partial: &PartialFile) -> io::Result<Atomic> {
    let target = resolve_symlinks(path)?;
    let existing = match fs::metadata(&target) {
        Ok(meta) if !meta.is_file() => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "-C needs a regular file to continue",
            ));
        }
        Ok(meta) => Some(meta),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => return Err(err),
    };
    let dir = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let dir_handle = File::open(dir)
        .inspect_err(|err| debug!("{} will not be fsynced: {err}", dir.display()))
        .ok();
    let kept = Partial::open(&target, url)?;
    if let Some(meta) = existing {
        keep_owner_and_mode(kept.file(), &meta);
    }
    // Until its metadata is written, the file holds nothing to continue,
    // and a signal removes it.
    if kept.meta().is_none() {
        partial.track(kept.path());
    }
    debug!("downloading into {}", kept.path().display());
    Ok(Atomic {
        written: kept.kept(),
        writeback_from: kept.kept(),
        temp: Some(Temp::Kept(kept)),
        target,
        dir: dir_handle,
        partial: partial.clone(),
        discard: false,
    })
}

/// Follows a chain of symbolic links to the path they lead to, which need
/// not exist yet (a dangling link names the file to create).
fn resolve_symlinks(path: &Path) -> io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..MAX_SYMLINKS {
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = fs::read_link(&path)?;
                path = match path.parent() {
                    Some(parent) => parent.join(link),
                    None => link,
                };
            }
            _ => return Ok(path),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

/// A replaced file keeps its permissions, and its owner when the process may
/// give it (root replacing another user's file).
fn keep_owner_and_mode(file: &File, original: &fs::Metadata) {
    if let Ok(own) = file.metadata()
        && (own.uid(), own.gid()) != (original.uid(), original.gid())
        && let Err(err) =
            std::os::unix::fs::fchown(file, Some(original.uid()), Some(original.gid()))
    {
        debug!("keeping the owner of the replaced file: {err}");
    }
    // After fchown, which may clear set-id bits.
    let mode = Permissions::from_mode(original.mode() & 0o7777);
    if let Err(err) = file.set_permissions(mode) {
        debug!("keeping the mode of the replaced file: {err}");
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Stdout(file) | Sink::Direct(file) => file.write(buf),
            Sink::Atomic(atomic) => atomic.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    fn file(path: impl Into<PathBuf>) -> Destination {
        Destination::File(path.into())
    }

    fn open(destination: &Destination) -> anyhow::Result<Output> {
        Output::open(destination, &PartialFile::default())
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_new_file_appears_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        let mut output = open(&file(path.clone())).unwrap();
        output.write_all(b"hello ").unwrap();
        output.write_all(&vec![b'x'; 3 * WRITE_BLOCK]).unwrap();
        assert!(!path.exists(), "visible before commit");
        assert_eq!(entries(dir.path()).len(), 1, "one temporary file");
        output.commit().unwrap();
        let mut expected = b"hello ".to_vec();
        expected.extend(vec![b'x'; 3 * WRITE_BLOCK]);
        assert_eq!(fs::read(&path).unwrap(), expected);
        assert_eq!(entries(dir.path()), ["out.bin"]);
    }

    #[test]
    fn an_abandoned_download_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keep.txt");
        fs::write(&path, b"precious").unwrap();
        let mut output = open(&file(path.clone())).unwrap();
        output.write_all(b"partial").unwrap();
        drop(output);
        assert_eq!(fs::read(&path).unwrap(), b"precious");
        assert_eq!(entries(dir.path()), ["keep.txt"]);
    }

    #[test]
    fn a_replaced_file_keeps_its_mode_and_a_symlink_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.txt");
        fs::write(&real, b"old").unwrap();
        fs::set_permissions(&real, Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink("real.txt", &link).unwrap();
        let mut output = open(&file(link.clone())).unwrap();
        output.write_all(b"new").unwrap();
        output.commit().unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&real).unwrap(), b"new");
        assert_eq!(fs::metadata(&real).unwrap().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_new_file_is_0644_less_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.txt");
        let output = open(&file(path.clone())).unwrap();
        output.commit().unwrap();
        // Read, not set: the umask is shared with the tests running alongside.
        let status = fs::read_to_string("/proc/self/status").unwrap();
        let umask = status
            .lines()
            .find_map(|line| line.strip_prefix("Umask:"))
            .map(|mask| u32::from_str_radix(mask.trim(), 8).unwrap())
            .unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o644 & !umask);
    }

    #[test]
    fn a_non_regular_file_is_written_in_place() {
        let mut output = open(&file("/dev/null")).unwrap();
        output.write_all(b"discarded").unwrap();
        assert_eq!(output.commit().unwrap(), "/dev/null");
        // Not replaced by a regular file, which root could have done.
        assert!(
            fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }

    #[test]
    fn a_directory_or_a_missing_directory_is_a_write_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = open(&file(dir.path().to_path_buf())).err().unwrap();
        assert_eq!(Code::of(&err), Code::WriteError);
        let err = open(&file(dir.path().join(".."))).err().unwrap();
        assert_eq!(Code::of(&err), Code::WriteError);
        let err = open(&file(dir.path().join("no/such/file"))).err().unwrap();
        assert_eq!(Code::of(&err), Code::WriteError);
        let new_dir = format!("{}/new/", dir.path().display());
        let err = open(&file(new_dir)).err().unwrap();
        assert_eq!(Code::of(&err), Code::WriteError);
        assert!(format!("{err:#}").ends_with("names a directory"), "{err:#}");
        assert_eq!(entries(dir.path()), Vec::<String>::new());
    }
}
