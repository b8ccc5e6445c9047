//! What SIGINT, SIGTERM and SIGHUP do to a download: remove its temporary
//! file, clear the progress bar and say in one line how far the download
//! got and what is kept, then end the process as the signal would have
//! (exit status 130 for Ctrl-C), so that an interrupted download leaves
//! nothing behind but what `-C` keeps on purpose.
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

use super::partial::part_path;
use super::progress::Meter;
use crate::human;
use crate::platform::signals::{self, SIGHUP, SIGINT, SIGTERM};

/// The partial file of a download, which a signal removes: set when the
/// temporary file is created, cleared once it is renamed into place or
/// removed. Clones share the same file, and the same [`Meter`] of how far
/// the download is.
#[derive(Debug, Clone, Default)]
pub struct PartialFile {
    path: Arc<Mutex<Option<PathBuf>>>,
    meter: Meter,
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

    /// How far the download is, for the line a signal prints.
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// Removes the file, if one is tracked, and keeps the lock so that the
    /// download cannot rename it into place afterwards; says whether a file
    /// was tracked.
    fn remove(&self) -> (MutexGuard<'_, Option<PathBuf>>, bool) {
        let mut path = self.lock();
        let tracked = path.take();
        if let Some(path) = &tracked {
            match fs::remove_file(path) {
                Ok(()) => debug!("removed {}", path.display()),
                Err(err) => debug!("removing {}: {err}", path.display()),
            }
        }
        (path, tracked.is_some())
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

/// What the line after a signal says, besides how far the download got.
#[derive(Debug, Clone)]
pub struct Interruption {
    /// `-s`: nothing is said.
    pub silent: bool,
    /// The file the body is saved to (`None`: it is written where it
    /// goes, to stdout or a descriptor).
    pub target: Option<PathBuf>,
    /// Where the body goes, for the line: `stdout`, or the path given.
    pub written_to: String,
    /// With `-C`: the command that continues the download.
    pub resume_command: Option<String>,
}

/// What is left of an interrupted download.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Left {
    /// The body was written where it goes (stdout, a descriptor).
    Written(String),
    /// Nothing; `-C` was not given.
    Nothing,
    /// Nothing, though `-C` was given: nothing that can be continued yet.
    NothingToContinue,
    /// `-C` kept the `.part`.
    Kept { part: PathBuf, command: String },
}

/// Starts the thread that, on the first SIGINT, SIGTERM or SIGHUP, removes
/// `partial`'s file, clears the progress bar, says in one line how far the
/// download got and what is kept (unless `-s`), and ends the process the
/// way the signal does.
pub fn remove_on_signal(partial: &PartialFile, story: Interruption) -> anyhow::Result<()> {
    let partial = partial.clone();
    signals::watch("signals", &[SIGINT, SIGTERM, SIGHUP], move |signal| {
        let (at, total) = partial.meter().halt();
        // Held until the process ends: the download must not rename the
        // file once it has been removed.
        let (_settled, removed) = partial.remove();
        if !story.silent {
            let left = match (&story.target, &story.resume_command) {
                (None, _) => Left::Written(story.written_to.clone()),
                (Some(_), None) => Left::Nothing,
                (Some(target), Some(command)) => {
                    let part = part_path(target);
                    if removed || !part.exists() {
                        Left::NothingToContinue
                    } else {
                        Left::Kept {
                            part,
                            command: command.clone(),
                        }
                    }
                }
            };
            eprintln!("{}", interrupted_line(signal, at, total, &left));
        }
        signals::end_as(signal);
    })
}

/// The line a signal prints: `interrupted at 84.0 MiB of 200.0 MiB;
/// nothing kept (sockdemo fetch -C keeps partial data)`.
fn interrupted_line(signal: libc::c_int, at: u64, total: Option<u64>, left: &Left) -> String {
    let what = match signal {
        SIGINT => "interrupted",
        SIGTERM => "terminated",
        SIGHUP => "hung up",
        _ => "stopped",
    };
    let of = total
        .map(|total| format!(" of {}", human::bytes(total)))
        .unwrap_or_default();
    let left = match left {
        Left::Written(to) => format!(", written to {to}"),
        Left::Nothing => "; nothing kept (sockdemo fetch -C keeps partial data)".to_owned(),
        Left::NothingToContinue => "; nothing kept (nothing -C could continue yet)".to_owned(),
        Left::Kept { part, command } => {
            format!("; kept in {}: {command} continues", part.display())
        }
    };
    format!("{what} at {}{of}{left}", human::bytes(at))
}

/// The command that continues a download of `url` into `output` (when
/// `-o` named it), as a shell reads it back.
pub fn resume_command(url: &url::Url, output: Option<&Path>) -> String {
    let mut url = url.clone();
    // No message shows credentials.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let mut command = format!("sockdemo fetch -C {}", shell_word(url.as_str()));
    if let Some(output) = output {
        command.push_str(" -o ");
        command.push_str(&shell_word(&output.to_string_lossy()));
    }
    command
}

/// `word` as a shell reads it back: as it is when it holds nothing the
/// shell would act on, otherwise in single quotes.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._~:/%+@,=".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
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
        drop(partial.remove().0);
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
        drop(partial.remove().0);
        assert!(!path.exists(), "the partial file was left");
    }

    #[test]
    fn the_line_says_how_far_and_what_is_kept() {
        let mib = 1 << 20;
        assert_eq!(
            interrupted_line(SIGINT, 84 * mib, Some(200 * mib), &Left::Nothing),
            "interrupted at 84.0 MiB of 200.0 MiB; nothing kept (sockdemo fetch -C keeps partial data)"
        );
        let kept = Left::Kept {
            part: PathBuf::from(".f.iso.part"),
            command: "sockdemo fetch -C http://h/f.iso".into(),
        };
        assert_eq!(
            interrupted_line(SIGINT, 84 * mib, Some(200 * mib), &kept),
            "interrupted at 84.0 MiB of 200.0 MiB; kept in .f.iso.part: sockdemo fetch -C http://h/f.iso continues"
        );
        assert_eq!(
            interrupted_line(SIGTERM, 10, None, &Left::Written("stdout".into())),
            "terminated at 10 bytes, written to stdout"
        );
        assert_eq!(
            interrupted_line(SIGHUP, 0, None, &Left::NothingToContinue),
            "hung up at 0 bytes; nothing kept (nothing -C could continue yet)"
        );
    }

    #[test]
    fn the_resume_command_can_be_pasted_and_shows_no_credentials() {
        let url = url::Url::parse("http://user:secret@h:81/a?b=1&c").unwrap();
        assert_eq!(
            resume_command(&url, None),
            "sockdemo fetch -C 'http://h:81/a?b=1&c'"
        );
        let url = url::Url::parse("http://h/f.iso").unwrap();
        assert_eq!(
            resume_command(&url, Some(Path::new("it's.iso"))),
            "sockdemo fetch -C http://h/f.iso -o 'it'\\''s.iso'"
        );
    }

    #[test]
    fn a_kept_file_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        fs::write(&path, b"partial").unwrap();
        let partial = PartialFile::default();
        partial.track(&path);
        partial.keep();
        drop(partial.remove().0);
        assert_eq!(fs::read(&path).unwrap(), b"partial");
    }
}
