//! Where the body goes, and the promise that a user's file is never left
//! half-written: a download to a regular file is written to a temporary
//! file beside it (unnamed where the file system allows: see [`atomic`]),
//! fsynced, and renamed over the target only once it is complete; on any
//! failure the temporary file is gone and the existing file is untouched. A
//! named temporary file is tracked in a [`PartialFile`], so that a signal
//! removes it too (see [`super::signals`]). The target is found by the
//! kernel's rules, symbolic links and write permission included ([`place`]).
//!
//! With `-C`, the temporary file is the `.part` of [`super::partial`]
//! instead, kept on failure and on a signal so that a later run continues it.
//!
//! A path naming an open descriptor (`/dev/stdout`, `/dev/fd/N`) is that
//! descriptor ([`Destination::of_path`]).
//!
//! The tutorial's counterpart is `with open(a.out, 'wb') as f: f.write(html)`,
//! which truncates the user's file before a single byte has arrived.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::{AsFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use log::debug;

mod atomic;
mod place;
mod saved;

use super::partial::{Meta, Partial};
use super::signals::PartialFile;
use crate::exit::{Code, WithCode};
use crate::http::Resume;
use crate::platform;
use atomic::{Atomic, Temp};
use place::Opened;
pub use saved::SavedNames;

/// Body bytes are gathered into writes of at least this size when they
/// arrive in small pieces (small chunks of a chunked body); larger pieces
/// are written straight from the receive buffer without a copy.
const WRITE_BLOCK: usize = 64 * 1024;

/// Where the user asked the body to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `-o -`.
    Stdout,
    /// A path (the default name, or `-o FILE`).
    File(PathBuf),
    /// A path naming an open descriptor that is not a regular file
    /// (`-o /dev/stderr` into a pipe): written directly, as stdout is.
    Descriptor {
        /// The path as given, for messages.
        path: PathBuf,
        /// The descriptor it names.
        fd: RawFd,
    },
}

impl Destination {
    /// Where `-o PATH` sends the body. A path naming an open descriptor
    /// (`/dev/stdout`, `/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N`, the
    /// names a shell gives them in redirections) is that descriptor: fd 1
    /// is `-o -` whatever it is, another one is written directly unless it
    /// is a regular file (which is replaced as any file is). Anything else
    /// is a file.
    pub fn of_path(path: &Path) -> Destination {
        if path.as_os_str() == "-" {
            return Destination::Stdout;
        }
        let file = || Destination::File(path.to_path_buf());
        let Some(fd) = named_descriptor(path) else {
            return file();
        };
        match platform::fs::descriptor_metadata(fd) {
            Ok(_) if fd == 1 => Destination::Stdout,
            Ok(meta) if !meta.is_file() => Destination::Descriptor {
                path: path.to_path_buf(),
                fd,
            },
            _ => file(),
        }
    }
}

/// The descriptor a path names by its spelling, as bash reads these names.
fn named_descriptor(path: &Path) -> Option<RawFd> {
    let path = path.to_str()?;
    let number = match path {
        "/dev/stdin" => return Some(0),
        "/dev/stdout" => return Some(1),
        "/dev/stderr" => return Some(2),
        _ => path
            .strip_prefix("/dev/fd/")
            .or_else(|| path.strip_prefix("/proc/self/fd/"))?,
    };
    // Digits only: `+1` or ` 1` name no descriptor.
    if !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse().ok()
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
            Destination::Descriptor { path, fd } => {
                let name = path.display().to_string();
                let file = platform::fs::duplicate(*fd)
                    .with_code(Code::WriteError, || format!("writing {name}"))?;
                (Sink::Direct(file), name)
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

    /// From now on the commit keeps a file that exists by the target's
    /// name, and fails instead (exit 23): for a name the server chose (`-J`),
    /// which may not take the place of a file that appeared meanwhile.
    pub fn keep_existing(&mut self) {
        if let Sink::Atomic(atomic) = self.writer.get_mut() {
            atomic.replace = false;
        }
    }

    /// `-R`: the file gets `time` as its modification time before it takes
    /// the target's name. A FIFO or a device written in place keeps its own.
    pub fn set_modified(&mut self, time: SystemTime) {
        if let Sink::Atomic(atomic) = self.writer.get_mut() {
            atomic.modified = Some(time);
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
    ///
    /// With `saved` (a run of several URLs), a file saved earlier in the
    /// run is not replaced: exit 23.
    pub fn commit(self, saved: Option<&SavedNames>) -> anyhow::Result<String> {
        let name = self.name;
        let writing = || format!("writing {name}");
        let sink = self
            .writer
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
            .with_code(Code::WriteError, writing)?;
        match sink {
            Sink::Stdout(_) | Sink::Direct(_) => {}
            Sink::Atomic(mut atomic) => {
                atomic.commit(saved).with_code(Code::WriteError, writing)?
            }
        }
        Ok(name)
    }
}

/// Opens a path: in place when it is not a regular file, else through a
/// temporary file beside the file the kernel opened ([`place`]).
fn open_file(path: &Path, partial: &PartialFile) -> io::Result<Sink> {
    // `new/` names a directory, which the rename would refuse: refuse it
    // now, not after the download.
    if path.as_os_str().as_bytes().ends_with(b"/") {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "names a directory",
        ));
    }
    let place = match place::open(path)? {
        Opened::Special(location) => {
            debug!(
                "{} is not a regular file: writing it in place",
                path.display()
            );
            return Ok(Sink::Direct(platform::fs::reopen_for_writing(&location)?));
        }
        Opened::Regular(place) => place,
    };
    let temp = Temp::create(&place.dir(), partial)?;
    debug!(
        "downloading into a temporary file in {}",
        place.shown.display()
    );
    Ok(Sink::Atomic(Box::new(Atomic {
        discard: false,
        replace: true,
        modified: None,
        temp: Some(temp),
        dir: open_dir(&place.dir()),
        place,
        written: 0,
        writeback_from: 0,
        partial: partial.clone(),
    })))
}

/// Opens the `.part` of `path` for `-C`, beside the file the kernel opened,
/// which must be a regular file or not exist yet.
fn open_kept(path: &Path, url: &str, partial: &PartialFile) -> io::Result<Atomic> {
    let Opened::Regular(place) = place::open(path)? else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "-C needs a regular file to continue",
        ));
    };
    let kept = Partial::open(&place.target(), url)?;
    // Until its metadata is written, the file holds nothing to continue,
    // and a signal removes it.
    if kept.meta().is_none() {
        partial.track(kept.path());
    }
    debug!(
        "downloading into {} beside {}",
        super::partial::file_name(kept.path()),
        place.shown.display()
    );
    Ok(Atomic {
        written: kept.kept(),
        writeback_from: kept.kept(),
        temp: Some(Temp::Kept(kept)),
        dir: open_dir(&place.dir()),
        place,
        partial: partial.clone(),
        discard: false,
        replace: true,
        modified: None,
    })
}

/// The directory of a download, opened to fsync it after the rename.
fn open_dir(dir: &Path) -> Option<File> {
    File::open(dir)
        .inspect_err(|err| debug!("the directory will not be fsynced: {err}"))
        .ok()
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
    use std::fs::{self, Permissions};
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

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
        assert_eq!(entries(dir.path()).len(), 0, "an unnamed temporary file");
        output.commit(None).unwrap();
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
        output.commit(None).unwrap();
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
    fn a_dangling_link_names_the_file_to_create_and_only_a_success_creates_it() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink("made.txt", &link).unwrap();
        let made = dir.path().join("made.txt");
        let mut output = open(&file(link.clone())).unwrap();
        output.write_all(b"partial").unwrap();
        drop(output);
        assert!(!made.exists(), "a failed download left the file it created");
        let mut output = open(&file(link.clone())).unwrap();
        output.write_all(b"new").unwrap();
        output.commit(None).unwrap();
        assert_eq!(fs::read(&made).unwrap(), b"new");
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(entries(dir.path()), ["link.txt", "made.txt"]);
    }

    #[test]
    fn a_new_file_is_0644_less_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.txt");
        let output = open(&file(path.clone())).unwrap();
        output.commit(None).unwrap();
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
    fn the_time_is_the_files_before_it_has_the_targets_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(784_111_777);
        let mut output = open(&file(path.clone())).unwrap();
        output.write_all(b"x").unwrap();
        output.set_modified(time);
        output.commit(None).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), time);
    }

    #[test]
    fn a_non_regular_file_is_written_in_place() {
        let mut output = open(&file("/dev/null")).unwrap();
        output.write_all(b"discarded").unwrap();
        // Its time is not ours to set.
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(784_111_777);
        output.set_modified(time);
        assert_eq!(output.commit(None).unwrap(), "/dev/null");
        // Not replaced by a regular file, which root could have done.
        assert!(
            fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
        assert_ne!(
            fs::metadata("/dev/null").unwrap().modified().ok(),
            Some(time)
        );
    }

    #[test]
    fn descriptor_paths_are_read_as_a_shell_reads_them() {
        for (path, fd) in [
            ("/dev/stdin", Some(0)),
            ("/dev/stdout", Some(1)),
            ("/dev/stderr", Some(2)),
            ("/dev/fd/7", Some(7)),
            ("/proc/self/fd/12", Some(12)),
            ("/dev/fd/+1", None),
            ("/dev/fd/", None),
            ("/dev/fd/1/x", None),
            ("/proc/1/fd/1", None),
            ("dev/stdout", None),
        ] {
            assert_eq!(named_descriptor(Path::new(path)), fd, "{path}");
        }
        // Not open: a path like any other.
        assert_eq!(
            Destination::of_path(Path::new("/dev/fd/999999")),
            file("/dev/fd/999999")
        );
        assert_eq!(Destination::of_path(Path::new("-")), Destination::Stdout);
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
