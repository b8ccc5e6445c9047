//! What SIGINT, SIGTERM and SIGHUP do to a download: remove its temporary
//! file, then end the process as the signal would have (exit status 130
//! for Ctrl-C), so that an interrupted download leaves nothing behind.
//!
//! No work happens in a signal handler: the handler only wakes a thread of
//! ours ([`signals::watch`]), which removes the file in ordinary code. The
//! file's path is shared with the download under a mutex, and the download
//! renames the file into place while holding it: the thread either removes
//! the temporary file before the rename, or finds nothing to remove after
//! it, never the file the user now has.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use log::debug;

use crate::platform::signals::{self, SIGHUP, SIGINT, SIGTERM};

/// The partial file of a download, which a signal removes: set when the
/// temporary file is created, cleared once it is renamed into place or
/// removed. Clones share the same file.
#[derive(Debug, Clone, Default)]
pub struct PartialFile {
    path: Arc<Mutex<Option<PathBuf>>>,
}

impl PartialFile {
    /// From now on a signal removes the file at `path` (which need not
    /// exist yet: it is registered before it is created, so that no signal
    /// can come between).
    pub fn track(&self, path: &Path) {
        *self.lock() = Some(path.to_path_buf());
    }

    /// Leaves the partial file alone from now on: a signal no longer
    /// removes it. For a download that keeps what it has on purpose.
    pub fn keep(&self) {
        *self.lock() = None;
    }

    /// Runs `step`, which renames the file into place or removes it, with no
    /// signal able to remove the file meanwhile; once `step` has succeeded
    /// there is nothing left for a signal to remove.
    pub fn settle<T, E>(&self, step: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let mut path = self.lock();
        let done = step()?;
        *path = None;
        Ok(done)
    }

    /// Removes the file, if one is tracked, and keeps the lock so that the
    /// download cannot rename it into place afterwards.
    fn remove(&self) -> MutexGuard<'_, Option<PathBuf>> {
        let mut path = self.lock();
        if let Some(path) = path.take() {
            match fs::remove_file(&path) {
                Ok(()) => debug!("removed {}", path.display()),
                Err(err) => debug!("removing {}: {err}", path.display()),
            }
        }
        path
    }

    fn lock(&self) -> MutexGuard<'_, Option<PathBuf>> {
        // The data is a path, valid whatever a panicking holder was doing.
        self.path
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The partial files of the downloads under way in a run of several URLs,
/// by the index of their URL; clones share the same set.
#[derive(Debug, Clone, Default)]
pub struct PartialFiles {
    files: Arc<Mutex<HashMap<usize, PartialFile>>>,
}

impl PartialFiles {
    /// The partial file of the download of URL `index`, from now on
    /// removed by a signal.
    pub fn add(&self, index: usize) -> PartialFile {
        let file = PartialFile::default();
        self.lock().insert(index, file.clone());
        file
    }

    /// Forgets the partial file of URL `index`, whose download has ended.
    pub fn forget(&self, index: usize) {
        self.lock().remove(&index);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<usize, PartialFile>> {
        // A map of paths, valid whatever a panicking holder was doing.
        self.files
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Starts the thread that, on the first SIGINT, SIGTERM or SIGHUP, removes
/// the partial file of every download under way, runs `then` (the summary
/// of the run), and ends the process the way the signal does.
pub fn remove_all_on_signal(
    files: &PartialFiles,
    then: impl Fn() + Send + 'static,
) -> anyhow::Result<()> {
    let files = files.clone();
    signals::watch("signals", &[SIGINT, SIGTERM, SIGHUP], move |signal| {
        // Held until the process ends: no download may rename its file
        // once it has been removed, nor start another.
        let held = files.lock();
        let _settled: Vec<_> = held.values().map(PartialFile::remove).collect();
        then();
        signals::end_as(signal);
    })
}

/// Starts the thread that, on the first SIGINT, SIGTERM or SIGHUP, removes
/// `partial`'s file and ends the process the way the signal does.
pub fn remove_on_signal(partial: &PartialFile) -> anyhow::Result<()> {
    let partial = partial.clone();
    signals::watch("signals", &[SIGINT, SIGTERM, SIGHUP], move |signal| {
        // Held until the process ends: the download must not rename the
        // file once it has been removed.
        let _settled = partial.remove();
        signals::end_as(signal);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settled_file_is_no_longer_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        fs::write(&path, b"data").unwrap();
        let partial = PartialFile::default();
        partial.track(&path);
        let renamed: Result<(), std::io::Error> = partial.settle(|| Ok(()));
        renamed.unwrap();
        drop(partial.remove());
        assert!(path.exists(), "a settled file was removed");
    }

    #[test]
    fn a_failed_step_leaves_the_file_tracked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        fs::write(&path, b"data").unwrap();
        let partial = PartialFile::default();
        partial.track(&path);
        let failed: Result<(), &str> = partial.settle(|| Err("no"));
        assert_eq!(failed, Err("no"));
        drop(partial.remove());
        assert!(!path.exists(), "the partial file was left");
    }

    #[test]
    fn a_kept_file_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        fs::write(&path, b"partial").unwrap();
        let partial = PartialFile::default();
        partial.track(&path);
        partial.keep();
        drop(partial.remove());
        assert_eq!(fs::read(&path).unwrap(), b"partial");
    }
}
