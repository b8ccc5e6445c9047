//! The temporary file a download to a regular file goes into, and its
//! rename over the target once complete: written, synced early and at the
//! end, given its final owner and mode, renamed, and removed (or, with
//! `-C`, kept) when abandoned.
//!
//! An ordinary download goes into an unnamed file (`O_TMPFILE`): no other
//! user can open it while it fills, whatever the directory, and nothing is
//! left behind even after SIGKILL. Once complete and checked it is linked
//! to a temporary name (`linkat` never replaces a file) and renamed over
//! the target. Where the file system has no `O_TMPFILE`, a named file
//! created with mode 0600 takes its place. The `.part` of `-C` must outlive
//! the process, so it is a named 0600 file (see [`crate::fetch::partial`]).
//! Temporary names have a fixed length, so a target name of 255 bytes
//! still has room for them.

use std::convert::Infallible;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::SystemTime;

use log::{debug, warn};

use super::place::Place;
use super::saved::SavedNames;
use crate::fetch::partial::{Meta, Partial, file_name};
use crate::fetch::signals::PartialFile;
use crate::platform;

/// Writeback of a downloaded file is started every this many bytes, so the
/// disk works while the network does and the final fsync has little left to
/// do. Large enough that the extra system call is negligible.
const WRITEBACK_STEP: u64 = 8 * 1024 * 1024;

/// The mode of a temporary file until it gets the target's: readable by
/// no one else.
const TEMP_MODE: u32 = 0o600;

/// Temporary names: `.sockdemo-` and 12 random characters and `.tmp`, 26
/// bytes whatever the target's name.
const TEMP_PREFIX: &str = ".sockdemo-";
const TEMP_SUFFIX: &str = ".tmp";
const TEMP_RANDOM: usize = 12;

/// A regular file replaced atomically: written to a temporary file beside
/// it, then renamed over it.
pub(super) struct Atomic {
    /// `None` once committed or removed.
    pub(super) temp: Option<Temp>,
    pub(super) place: Box<Place>,
    /// The target's directory, opened before the download so that nothing
    /// can fail once the rename is done; `None` when it cannot be opened
    /// (a directory one may write but not read).
    pub(super) dir: Option<File>,
    pub(super) written: u64,
    pub(super) writeback_from: u64,
    /// A `.part` whose data cannot be continued: removed, not kept.
    pub(super) discard: bool,
    /// False when an existing file of the target's name must be kept (a
    /// name the server chose, `-J`): the rename then fails instead.
    pub(super) replace: bool,
    /// `-R`: the time the file gets before it takes the target's name.
    pub(super) modified: Option<SystemTime>,
    /// What a signal removes; cleared once the file is renamed or removed.
    pub(super) partial: PartialFile,
}

/// The file a download goes into before it is renamed into place.
pub(super) enum Temp {
    /// An unnamed file (`O_TMPFILE`), gone unless committed.
    Unnamed(File),
    /// A 0600 file with a random name, removed unless committed: where
    /// `O_TMPFILE` is missing.
    Named(tempfile::NamedTempFile),
    /// The `.part` of `-C`, kept unless committed or discarded.
    Kept(Partial),
}

impl Temp {
    /// A new temporary file in `dir`: unnamed where the file system allows
    /// it, else named and tracked in `partial` from before it exists.
    pub(super) fn create(dir: &Path, partial: &PartialFile) -> io::Result<Temp> {
        match platform::fs::create_unnamed(dir, TEMP_MODE) {
            Ok(file) => return Ok(Temp::Unnamed(file)),
            Err(err) if err.kind() == io::ErrorKind::Unsupported => {
                debug!("{err}: using a named temporary file");
            }
            Err(err) => return Err(err),
        }
        Temp::named(dir, partial)
    }

    /// A new temporary file in `dir` with a random name and mode 0600,
    /// tracked in `partial` from before it exists.
    fn named(dir: &Path, partial: &PartialFile) -> io::Result<Temp> {
        let named = temp_names().make_in(dir, |path| {
            // Tracked before it exists: a signal between its creation and
            // its tracking would leave it behind.
            partial.track(path);
            OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(TEMP_MODE)
                .open(path)
                .inspect_err(|_| partial.keep())
        })?;
        Ok(Temp::Named(named))
    }

    pub(super) fn file(&self) -> &File {
        match self {
            Temp::Unnamed(file) => file,
            Temp::Named(temp) => temp.as_file(),
            Temp::Kept(partial) => partial.file(),
        }
    }

    /// Renames the file over `target` (an unnamed one is first linked to a
    /// temporary name); for a `.part`, then removes its metadata, which
    /// describes nothing any more.
    /// Gives the file the target's name: over a file of that name when
    /// `replace`, else only while the name is free (AlreadyExists if not).
    fn persist(self, dir: &Path, target: &Path, replace: bool) -> io::Result<()> {
        match self {
            // linkat never replaces a file.
            Temp::Unnamed(file) if !replace => platform::fs::link_unnamed(&file, target),
            Temp::Named(temp) if !replace => temp
                .persist_noclobber(target)
                .map(drop)
                .map_err(|err| err.error),
            Temp::Unnamed(file) => {
                // Removed again if the rename fails.
                let named =
                    temp_names().make_in(dir, |path| platform::fs::link_unnamed(&file, path))?;
                named.persist(target).map_err(|err| err.error)
            }
            Temp::Named(temp) => temp.persist(target).map(drop).map_err(|err| err.error),
            Temp::Kept(partial) => {
                // -C and -J never go together: a kept part always replaces.
                debug_assert!(replace, "a kept part cannot keep an existing file");
                std::fs::rename(partial.path(), target)?;
                if let Err(err) = std::fs::remove_file(partial.meta_path()) {
                    debug!("removing {}: {err}", file_name(partial.meta_path()));
                }
                Ok(())
            }
        }
    }
}

/// The fixed-length random names of temporary files.
fn temp_names() -> tempfile::Builder<'static, 'static> {
    let mut names = tempfile::Builder::new();
    names
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .rand_bytes(TEMP_RANDOM);
    names
}

impl Atomic {
    pub(super) fn file(&self) -> io::Result<&File> {
        self.temp
            .as_ref()
            .map(Temp::file)
            .ok_or_else(|| io::Error::other("the temporary file is gone"))
    }

    /// Empties the file, and with `-C` records what it holds from now on;
    /// while a `.part` holds nothing that can be continued, a signal
    /// removes it.
    pub(super) fn restart(&mut self, meta: Option<Meta>) -> io::Result<()> {
        match self.temp.as_mut() {
            Some(temp @ (Temp::Unnamed(_) | Temp::Named(_))) => {
                let mut file = temp.file();
                file.set_len(0)?;
                file.seek(SeekFrom::Start(0))?;
            }
            Some(Temp::Kept(partial)) => {
                // Emptied and described anew: the old description is
                // replaced in one rename, so a signal meanwhile never finds
                // a kept part without one; a part that will hold nothing to
                // continue goes to the signal thread first.
                let resumable = meta.is_some();
                if !resumable {
                    self.partial.track(partial.path());
                }
                partial.start_over(meta)?;
                if resumable {
                    self.partial.keep();
                }
            }
            None => return Err(io::Error::other("the temporary file is gone")),
        }
        self.written = 0;
        self.writeback_from = 0;
        Ok(())
    }

    pub(super) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file()?.write(buf)?;
        self.written += n as u64;
        if self.written - self.writeback_from >= WRITEBACK_STEP {
            self.start_writeback();
        }
        Ok(n)
    }

    /// Asks the kernel to start writing the bytes written since the last
    /// call to disk, without waiting for it. Only a speed-up: the fsync at
    /// the end is what makes the data durable, so a failure here is ignored.
    fn start_writeback(&mut self) {
        let Ok(file) = self.file() else { return };
        let (from, len) = (self.writeback_from, self.written - self.writeback_from);
        if let Err(err) = platform::start_writeback(file, from, len) {
            debug!("starting writeback: {err}");
        }
        self.writeback_from = self.written;
    }

    /// Syncs the file and renames it over the target; with `saved`, only
    /// if no file of that name was saved earlier in the run.
    pub(super) fn commit(&mut self, saved: Option<&SavedNames>) -> io::Result<()> {
        let temp = self
            .temp
            .take()
            .ok_or_else(|| io::Error::other("the temporary file is gone"))?;
        if let Some(time) = self.modified {
            // Before the rename: no reader ever sees the download's own time.
            if let Err(err) = temp.file().set_modified(time) {
                warn!("setting the time of {}: {err}", self.place.shown.display());
            }
        }
        temp.file().sync_all()?;
        // Before the file has a name it shares with the target.
        self.place.settle_permissions(temp.file());
        // No signal removes the file while it is renamed, nor after.
        let (dir, target) = (self.place.dir(), self.place.target());
        let replace = self.replace;
        let rename = || {
            temp.persist(&dir, &target, replace).map_err(|err| {
                if !replace && err.kind() == io::ErrorKind::AlreadyExists {
                    io::Error::new(
                        err.kind(),
                        "a file of this name appeared during the download, and is kept (-J replaces no file but the one the URL names)",
                    )
                } else {
                    err
                }
            })
        };
        self.partial.settle(|| match saved {
            Some(saved) => saved.rename_once(&self.place, rename),
            None => rename(),
        })?;
        // The rename is done: nothing below may fail.
        if let Some(dir) = &self.dir
            && let Err(err) = dir.sync_all()
        {
            warn!(
                "{} is saved, but its directory could not be synced ({err}): after a crash the previous version may be back",
                self.place.shown.display()
            );
        }
        Ok(())
    }
}

impl Drop for Atomic {
    fn drop(&mut self) {
        // Removed (or kept), and forgotten by the signal thread, as one step.
        let temp = self.temp.take();
        let committed = temp.is_none();
        let discard = self.discard;
        let _: Result<(), Infallible> = self.partial.settle(|| {
            match temp {
                Some(Temp::Kept(partial)) if discard || partial.meta().is_none() => {
                    if let Err(err) = partial.remove() {
                        debug!("removing the partial file: {err}");
                    }
                }
                Some(Temp::Kept(partial)) => {
                    if let Err(err) = partial.file().sync_all() {
                        debug!("syncing {}: {err}", file_name(partial.path()));
                    }
                    debug!("kept {} for a later run with -C", file_name(partial.path()));
                }
                Some(Temp::Unnamed(_) | Temp::Named(_)) | None => drop(temp),
            }
            Ok(())
        });
        if !committed {
            self.place.remove_placeholder();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn names(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn a_named_temporary_file_is_0600_with_a_fixed_length_name() {
        let dir = tempfile::tempdir().unwrap();
        let temp = Temp::named(dir.path(), &PartialFile::default()).unwrap();
        let found = names(dir.path());
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with(TEMP_PREFIX) && found[0].ends_with(TEMP_SUFFIX));
        assert_eq!(
            found[0].len(),
            TEMP_PREFIX.len() + TEMP_RANDOM + TEMP_SUFFIX.len()
        );
        assert_eq!(temp.file().metadata().unwrap().mode() & 0o777, 0o600);
        let target = dir.path().join("target");
        temp.persist(dir.path(), &target, true).unwrap();
        assert_eq!(names(dir.path()), ["target"]);
    }

    #[test]
    fn an_unnamed_temporary_file_gets_a_name_only_when_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let temp = Temp::create(dir.path(), &PartialFile::default()).unwrap();
        assert!(matches!(temp, Temp::Unnamed(_)));
        temp.file().write_all(b"done").unwrap();
        assert_eq!(names(dir.path()), Vec::<String>::new());
        let target = dir.path().join("target");
        temp.persist(dir.path(), &target, true).unwrap();
        assert_eq!(names(dir.path()), ["target"]);
        assert_eq!(std::fs::read(&target).unwrap(), b"done");
    }

    #[test]
    fn without_replace_an_existing_file_is_kept_by_either_kind() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"theirs").unwrap();
        let partial = PartialFile::default();
        for temp in [
            Temp::create(dir.path(), &partial).unwrap(),
            Temp::named(dir.path(), &partial).unwrap(),
        ] {
            temp.file().write_all(b"ours").unwrap();
            let err = temp.persist(dir.path(), &target, false).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
            assert_eq!(std::fs::read(&target).unwrap(), b"theirs");
        }
        assert_eq!(names(dir.path()), ["target"], "no temporary file left");
        std::fs::remove_file(&target).unwrap();
        let temp = Temp::create(dir.path(), &partial).unwrap();
        temp.file().write_all(b"ours").unwrap();
        temp.persist(dir.path(), &target, false).unwrap();
        assert_eq!(
            std::fs::read(&target).unwrap(),
            b"ours",
            "a free name is taken"
        );
    }
}
