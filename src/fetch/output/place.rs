//! Where a download to a path goes, as the kernel opens it: the path is
//! never resolved by hand. It is opened with `O_PATH`, so a symbolic link is
//! followed exactly where open(2) follows one (with `fs.protected_symlinks`,
//! not a link another user planted in a sticky world-writable directory
//! such as /tmp), and the file it led to is the one replaced, in the
//! directory the kernel found it in.
//!
//! The permission to replace a file is the permission to write it
//! (`faccessat(W_OK, AT_EACCESS)`): a write-protected file is kept, as curl
//! keeps it, except for root, whom the kernel lets write anything. The new
//! file takes the replaced one's owner, group and mode; what cannot be kept
//! narrows the mode rather than widen who may read it.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use log::{debug, warn};

use crate::platform;

/// Permissions of a newly created file before the umask, as curl gives.
const NEW_FILE_MODE: u32 = 0o644;

/// What an output path leads to.
pub(super) enum Opened {
    /// Something that is not a regular file (`/dev/null`, a FIFO), opened
    /// without `O_PATH`'s access: only its location.
    Special(File),
    /// A regular file to replace, or a new one to create.
    Regular(Box<Place>),
}

/// A regular file replaced (or created) by a rename in its directory.
///
/// The directory is held open from the moment the kernel found the file
/// in it, and every later step (the temporary file, its link, the rename)
/// goes through that open directory (`/proc/self/fd/N/NAME`), never
/// through the path again: a directory of the path swapped for a symbolic
/// link meanwhile cannot send the file elsewhere.
pub(super) struct Place {
    /// The directory the file is in, opened with `O_PATH`.
    dir: File,
    /// The file's name in `dir`.
    name: OsString,
    /// The file as messages name it.
    pub(super) shown: PathBuf,
    /// The file replaced, when there is one.
    existing: Option<fs::Metadata>,
    /// An empty file this run created through a dangling symbolic link (as
    /// open(2) with `O_CREAT` does): removed when the download fails.
    placeholder: bool,
}

/// Opens `path` by the kernel's rules and says what it is. A write-protected
/// file is a [`io::ErrorKind::PermissionDenied`] error.
pub(super) fn open(path: &Path) -> io::Result<Opened> {
    let missing = match platform::fs::open_location(path) {
        Ok(location) => return at(location, false),
        Err(err) if err.kind() == io::ErrorKind::NotFound => err,
        Err(err) => return Err(err),
    };
    match fs::symlink_metadata(path) {
        // A dangling link names the file to create: the kernel creates it,
        // following the link only where it may.
        Ok(meta) if meta.file_type().is_symlink() => {
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(NEW_FILE_MODE)
                .open(path)?;
            at(platform::fs::open_location(path)?, true)
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            let (parent, name) = split(path)?;
            Ok(Opened::Regular(Box::new(Place {
                dir: platform::fs::open_directory(parent)?,
                name: name.to_os_string(),
                shown: path.to_path_buf(),
                existing: None,
                placeholder: false,
            })))
        }
        // Something appeared since: the kernel's answer stands.
        _ => Err(missing),
    }
}

/// A path's directory (`.` when it has none) and file name.
fn split(path: &Path) -> io::Result<(&Path, &OsStr)> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    Ok((parent, name))
}

/// What the opened `location` is, and for a regular file, where it is.
fn at(location: File, placeholder: bool) -> io::Result<Opened> {
    let meta = location.metadata()?;
    if meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory",
        ));
    }
    if !meta.is_file() {
        return Ok(Opened::Special(location));
    }
    if !platform::fs::may_write(&location)? {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "it is write-protected",
        ));
    }
    // Where the kernel found the file; its directory is then held open, and
    // must hold this very file under that name.
    let shown = platform::fs::resolved_path(&location)?;
    let (parent, name) = split(&shown)?;
    let dir = platform::fs::open_directory(parent)?;
    let now = fs::symlink_metadata(platform::fs::path_in(&dir, name))?;
    if (now.dev(), now.ino()) != (meta.dev(), meta.ino()) {
        return Err(io::Error::other("it was moved while being opened"));
    }
    if meta.nlink() > 1 && !placeholder {
        warn!(
            "{} has {} other hard link(s): they will keep the previous version",
            shown.display(),
            meta.nlink() - 1
        );
    }
    Ok(Opened::Regular(Box::new(Place {
        dir,
        name: name.to_os_string(),
        existing: (!placeholder).then_some(meta),
        placeholder,
        shown,
    })))
}

impl Place {
    /// The directory, as a path that reaches it through the open directory.
    pub(super) fn dir(&self) -> PathBuf {
        platform::fs::path_in(&self.dir, OsStr::new(""))
    }

    /// The file, as a path that reaches it through the open directory.
    pub(super) fn target(&self) -> PathBuf {
        platform::fs::path_in(&self.dir, &self.name)
    }

    /// Gives `file`, which will replace the target, its final owner and
    /// mode: those of the replaced file, or 0644 less the umask for a new
    /// one. Called before the file gets a name in the directory.
    pub(super) fn settle_permissions(&self, file: &File) {
        let mode = match &self.existing {
            Some(original) => keep_owner(file, original, &self.shown),
            None => match platform::fs::umask() {
                Some(umask) => NEW_FILE_MODE & !umask,
                // Unknown: the temporary file's 0600 is the safe side.
                None => return,
            },
        };
        if let Err(err) = file.set_permissions(Permissions::from_mode(mode)) {
            warn!(
                "{}: the new file keeps mode 0600, its mode could not be set: {err}",
                self.shown.display()
            );
        }
    }

    /// The file as the kernel knows it, for [`super::SavedNames`].
    pub(super) fn key(&self) -> io::Result<(u64, u64, OsString)> {
        let dir = self.dir.metadata()?;
        Ok((dir.dev(), dir.ino(), self.name.clone()))
    }

    /// After a failed download: removes the empty file created through a
    /// dangling link, if it is still that.
    pub(super) fn remove_placeholder(&self) {
        let target = self.target();
        if self.placeholder
            && fs::symlink_metadata(&target).is_ok_and(|meta| meta.is_file() && meta.len() == 0)
            && let Err(err) = fs::remove_file(&target)
        {
            debug!("removing {}: {err}", self.shown.display());
        }
    }
}

/// Gives `file` the owner and group of `original` where the process may
/// (root replacing another user's file), and returns the mode it gets:
/// `original`'s, less the set-user-ID bit when the owner cannot be kept,
/// and less the group's permissions and set-group-ID when the group cannot
/// be kept (they would go to another group), with a warning.
fn keep_owner(file: &File, original: &fs::Metadata, target: &Path) -> u32 {
    let wanted = (original.uid(), original.gid());
    let own = |file: &File| file.metadata().map(|meta| (meta.uid(), meta.gid()));
    if own(file).is_ok_and(|now| now != wanted)
        && let Err(err) = std::os::unix::fs::fchown(file, Some(wanted.0), Some(wanted.1))
    {
        debug!("keeping the owner of {}: {err}", target.display());
        // The group alone, which a member of it may give.
        if let Err(err) = std::os::unix::fs::fchown(file, None, Some(wanted.1)) {
            debug!("keeping the group of {}: {err}", target.display());
        }
    }
    let mut mode = original.mode() & 0o7777;
    let Ok((uid, gid)) = own(file) else {
        return mode & 0o700;
    };
    let mut lost = Vec::new();
    if uid != wanted.0 {
        mode &= !0o4000;
        lost.push("owner");
    }
    if gid != wanted.1 {
        mode &= !0o2070;
        lost.push("group");
    }
    if !lost.is_empty() {
        warn!(
            "{}: the {} of the replaced file cannot be kept: the new file gets mode {mode:04o}, without the permissions that went with it",
            target.display(),
            lost.join(" and "),
        );
    }
    mode
}
