//! The temporary file a download to a regular file goes into, and its
//! rename over the target once complete: written, synced early and at the
//! end, renamed, and removed (or, with `-C`, kept) when abandoned.

use std::convert::Infallible;
use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use log::{debug, warn};

use crate::fetch::partial::{Meta, Partial};
use crate::fetch::signals::PartialFile;
use crate::platform;

/// Writeback of a downloaded file is started every this many bytes, so the
/// disk works while the network does and the final fsync has little left to
/// do. Large enough that the extra system call is negligible.
const WRITEBACK_STEP: u64 = 8 * 1024 * 1024;

/// A regular file replaced atomically: written to a temporary file beside
/// it, then renamed over it.
pub(super) struct Atomic {
    /// `None` once committed or removed.
    pub(super) temp: Option<Temp>,
    pub(super) target: PathBuf,
    /// The target's directory, opened before the download so that nothing
    /// can fail once the rename is done; `None` when it cannot be opened
    /// (a directory one may write but not read).
    pub(super) dir: Option<File>,
    pub(super) written: u64,
    pub(super) writeback_from: u64,
    /// A `.part` whose data cannot be continued: removed, not kept.
    pub(super) discard: bool,
    /// What a signal removes; cleared once the file is renamed or removed.
    pub(super) partial: PartialFile,
}

/// The file a download goes into before it is renamed into place.
pub(super) enum Temp {
    /// A temporary file with a random name, removed unless committed.
    Random(tempfile::NamedTempFile),
    /// The `.part` of `-C`, kept unless committed or discarded.
    Kept(Partial),
}

impl Temp {
    pub(super) fn file(&self) -> &File {
        match self {
            Temp::Random(temp) => temp.as_file(),
            Temp::Kept(partial) => partial.file(),
        }
    }

    /// Renames the file over `target`; for a `.part`, then removes its
    /// metadata, which describes nothing any more.
    fn persist(self, target: &Path) -> io::Result<()> {
        match self {
            Temp::Random(temp) => temp.persist(target).map(drop).map_err(|err| err.error),
            Temp::Kept(partial) => {
                fs::rename(partial.path(), target)?;
                if let Err(err) = fs::remove_file(partial.meta_path()) {
                    debug!("removing {}: {err}", partial.meta_path().display());
                }
                Ok(())
            }
        }
    }
}

impl Atomic {
    pub(super) fn file(&self) -> io::Result<&File> {
        self.temp
            .as_ref()
            .map(Temp::file)
            .ok_or_else(|| io::Error::other("the temporary file is gone"))
    }

    /// Empties the file, and with `-C` records what it holds from now on.
    pub(super) fn restart(&mut self, meta: Option<Meta>) -> io::Result<()> {
        match self.temp.as_mut() {
            Some(Temp::Random(temp)) => {
                temp.as_file().set_len(0)?;
                temp.as_file_mut().seek(SeekFrom::Start(0))?;
            }
            Some(Temp::Kept(partial)) => {
                partial.start_over(None)?;
                self.record(meta)?;
            }
            None => return Err(io::Error::other("the temporary file is gone")),
        }
        self.written = 0;
        self.writeback_from = 0;
        Ok(())
    }

    /// With `-C`: records the metadata of what the `.part` holds. While it
    /// holds nothing that can be continued, a signal removes it.
    fn record(&mut self, meta: Option<Meta>) -> io::Result<()> {
        let Some(Temp::Kept(partial)) = self.temp.as_mut() else {
            return Ok(());
        };
        let resumable = meta.is_some();
        partial.record(meta)?;
        if resumable {
            self.partial.keep();
        } else {
            self.partial.track(partial.path());
        }
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

    pub(super) fn commit(&mut self) -> io::Result<()> {
        let temp = self
            .temp
            .take()
            .ok_or_else(|| io::Error::other("the temporary file is gone"))?;
        temp.file().sync_all()?;
        // No signal removes the file while it is renamed, nor after.
        self.partial.settle(|| temp.persist(&self.target))?;
        // The rename is done: nothing below may fail.
        if let Some(dir) = &self.dir
            && let Err(err) = dir.sync_all()
        {
            warn!(
                "{} is saved, but its directory could not be synced ({err}): after a crash the previous version may be back",
                self.target.display()
            );
        }
        Ok(())
    }
}

impl Drop for Atomic {
    fn drop(&mut self) {
        // Removed (or kept), and forgotten by the signal thread, as one step.
        let temp = self.temp.take();
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
                        debug!("syncing {}: {err}", partial.path().display());
                    }
                    debug!("kept {} for a later run with -C", partial.path().display());
                }
                Some(Temp::Random(_)) | None => drop(temp),
            }
            Ok(())
        });
    }
}
