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
pub(super) struct Place {
    /// The directory the file is in: where the temporary file goes.
    pub(super) dir: PathBuf,
    /// The file, in `dir`.
    pub(super) target: PathBuf,
    /// The file replaced, when there is one.
    existing: Option<fs::Metadata>,
    /// An empty file this run created through a dangling symbolic link (as
    /// open(2) with `O_CREAT` does): removed when the download fails.
    placeholder: bool,
}

/// Opens `path` by the kernel's rules and says what it is. A write-protected
/// file is a [`io::ErrorKind::PermissionDenied`] error.
pub(super) fn open(path: &Path) -> io::Result<Opened> {
    match platform::fs::open_location(path) {
        Ok(location) => at(location, false),
        Err(err) if err.kind() == io::ErrorKind::NotFound => match fs::symlink_metadata(path) {
            // A dangling link names the file to create: the kernel creates
            // it, following the link only where it may.
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
                let dir = match path.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => parent,
                    _ => Path::new("."),
                };
                Ok(Opened::Regular(Box::new(Place {
                    dir: dir.to_path_buf(),
                    target: path.to_path_buf(),
                    existing: None,
                    placeholder: false,
                })))
            }
            Ok(_) => Err(err),
            Err(err) => Err(err),
        },
        Err(err) => Err(err),
    }
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
    let target = platform::fs::resolved_path(&location)?;
    // The name must still be this file when the rename comes; a file that
    // moved between the open and now is not replaced blindly.
    let now = fs::symlink_metadata(&target)?;
    if (now.dev(), now.ino()) != (meta.dev(), meta.ino()) {
        return Err(io::Error::other("it was moved while being opened"));
    }
    if meta.nlink() > 1 && !placeholder {
        warn!(
            "{} has {} other hard link(s): they keep the previous version",
            target.display(),
            meta.nlink() - 1
        );
    }
    let dir = target.parent().unwrap_or(Path::new("/")).to_path_buf();
    Ok(Opened::Regular(Box::new(Place {
        dir,
        target,
        existing: (!placeholder).then_some(meta),
        placeholder,
    })))
}

impl Place {
    /// Gives `file`, which will replace the target, its final owner and
    /// mode: those of the replaced file, or 0644 less the umask for a new
    /// one. Called before the file gets a name in the directory.
    pub(super) fn settle_permissions(&self, file: &File) {
        let mode = match &self.existing {
            Some(original) => keep_owner(file, original, &self.target),
            None => match platform::fs::umask() {
                Some(umask) => NEW_FILE_MODE & !umask,
                // Unknown: the temporary file's 0600 is the safe side.
                None => return,
            },
        };
        if let Err(err) = file.set_permissions(Permissions::from_mode(mode)) {
            warn!(
                "{}: the new file keeps mode 0600, its mode could not be set: {err}",
                self.target.display()
            );
        }
    }

    /// After a failed download: removes the empty file created through a
    /// dangling link, if it is still that.
    pub(super) fn remove_placeholder(&self) {
        if self.placeholder
            && fs::symlink_metadata(&self.target)
                .is_ok_and(|meta| meta.is_file() && meta.len() == 0)
            && let Err(err) = fs::remove_file(&self.target)
        {
            debug!("removing {}: {err}", self.target.display());
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
