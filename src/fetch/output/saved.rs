//! The files a run of several URLs has saved so far. Names chosen before
//! the run are checked for clashes before any request; names that only the
//! responses give (`-J`) are known only at the rename, so every rename of
//! the run is checked here: a file saved from one URL is never replaced by
//! another's.

use std::collections::HashSet;
use std::ffi::OsString;
use std::io;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::place::Place;

/// A file as the kernel knows it: its directory's device and inode, and
/// its name there. Two spellings of one path (`a`, `./x/../a`) are one key.
type Key = (u64, u64, OsString);

/// The files saved so far by a run, shared by its transfers.
#[derive(Debug, Default)]
pub struct SavedNames(Mutex<HashSet<Key>>);

impl SavedNames {
    /// Runs `rename`, which puts the file of `place` into its directory,
    /// unless a file of that name was saved earlier in the run: then the
    /// error is [`io::ErrorKind::AlreadyExists`] and the earlier file stays.
    /// The name is claimed before the rename, so that two transfers
    /// finishing together cannot both find it free, and given back if the
    /// rename fails.
    pub(super) fn rename_once(
        &self,
        place: &Place,
        rename: impl FnOnce() -> io::Result<()>,
    ) -> io::Result<()> {
        let key = place.key()?;
        if !self.lock().insert(key.clone()) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a file of this name was saved from another URL of this run, and is kept",
            ));
        }
        rename().inspect_err(|_| {
            self.lock().remove(&key);
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashSet<Key>> {
        // A set of names, valid whatever a panicking holder was doing.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::output::place::{self, Opened};

    fn place(path: &std::path::Path) -> Place {
        match place::open(path).unwrap() {
            Opened::Regular(place) => *place,
            Opened::Special(_) => panic!("not a regular file"),
        }
    }

    #[test]
    fn a_name_is_saved_once_however_it_is_spelled() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let saved = SavedNames::default();
        let mut renames = 0;
        let mut rename = || {
            renames += 1;
            Ok(())
        };
        saved
            .rename_once(&place(&dir.path().join("a")), &mut rename)
            .unwrap();
        let again = saved.rename_once(&place(&dir.path().join("sub/../a")), &mut rename);
        assert_eq!(again.unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        saved
            .rename_once(&place(&dir.path().join("sub/a")), &mut rename)
            .unwrap();
        assert_eq!(renames, 2, "the refused rename was not run");
        let failed = saved.rename_once(&place(&dir.path().join("b")), || {
            Err(io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        saved
            .rename_once(&place(&dir.path().join("b")), || Ok(()))
            .expect("a failed rename gives its name back");
    }
}
