//! What a fetch tells its user, besides the log: the response heads as
//! received (the tutorial's `print(header)`), one line at the end saying
//! what was saved, and what `-w/--write-out` asks. How much of it is shown
//! is decided once, from `-q` and `-s`, by one rule:
//!
//! | | heads | progress, warnings, saved line | error line | `-w` | body with `-o -` |
//! |---|---|---|---|---|---|
//! | default | yes | yes | yes | yes | yes |
//! | `-q` | no | no | yes | yes | yes |
//! | `-s` | no | no | no | yes | yes |
//! | `-s -S` | no | no | yes | yes | yes |
//!
//! With `-I` the heads are the output asked for, as a body is: printed at
//! every level.
//!
//! The error line itself is printed by `main`; the log level follows the
//! same rule ([`crate::cli::Cli::log_level`]).

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};

use super::download::Finished;
use super::verbose;
use super::write_out::{Format, Stream};
use crate::exit::{Code, WithCode, fail};
use crate::human::thousands;

/// How much a fetch says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verbosity {
    /// The heads, the progress bar, warnings, the line saying what was saved.
    #[default]
    Normal,
    /// `-q`: errors only: no heads, no warnings, no progress, no closing
    /// line.
    Quiet,
    /// `-s`: nothing at all (the error line too, unless `-S`).
    Silent,
}

impl Verbosity {
    /// The verbosity `-q` (`quiet`) and `-s` (`silent`) ask for.
    pub fn new(quiet: bool, silent: bool) -> Verbosity {
        match (quiet, silent) {
            (_, true) => Verbosity::Silent,
            (true, false) => Verbosity::Quiet,
            (false, false) => Verbosity::Normal,
        }
    }

    /// True under `-q` or `-s`: no progress bar, no closing line.
    pub fn is_quiet(self) -> bool {
        self != Verbosity::Normal
    }
}

/// One of the process's output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Stdout,
    Stderr,
}

/// Says what a fetch has to say, where it belongs.
#[derive(Debug, Clone)]
pub struct Report {
    verbosity: Verbosity,
    /// The body goes to stdout: the heads go to stderr.
    heads_to_stderr: bool,
    /// `-I`: the heads are what was asked for, printed at every level.
    heads_asked: bool,
    /// One URL of several: what it says is kept, to be written whole
    /// when it ends, never interleaved with another's.
    block: Option<Arc<Mutex<Block>>>,
}

/// What one URL of several has to say, kept until it ends.
#[derive(Debug, Default)]
pub struct Block {
    /// Its heads, for stdout.
    pub stdout: Vec<u8>,
    /// Its closing line, for stderr.
    pub stderr: Vec<u8>,
}

impl Report {
    /// A report at `verbosity`; the heads go to stderr when the body goes
    /// to stdout.
    pub fn new(verbosity: Verbosity, heads_to_stderr: bool) -> Report {
        Report {
            verbosity,
            heads_to_stderr,
            block: None,
            heads_asked: false,
        }
    }

    /// The same report, for `-I` when `asked`: the heads are then the
    /// output, as a body is, and printed even with `-q` or `-s` (as `curl
    /// -sI` prints them).
    pub fn heads_asked(self, asked: bool) -> Report {
        Report {
            heads_asked: asked,
            ..self
        }
    }

    /// The report of one URL of several, which keeps what it says in a
    /// block shared with the caller; the heads are kept only when
    /// `show_heads` (`-i`, `-I`).
    pub fn collecting(verbosity: Verbosity, show_heads: bool) -> (Report, Arc<Mutex<Block>>) {
        let block = Arc::new(Mutex::new(Block::default()));
        let verbosity = match (show_heads, verbosity) {
            // Heads are dropped as -s drops them; the rest is said as asked.
            (false, _) => Verbosity::Silent,
            (true, verbosity) => verbosity,
        };
        let report = Report {
            verbosity,
            heads_to_stderr: false,
            heads_asked: false,
            block: Some(Arc::clone(&block)),
        };
        (report, block)
    }

    /// Prints the heads of an attempt, each as received: on stdout, or on
    /// stderr when the body goes to stdout; never with `-q` or `-s`.
    pub fn heads(&self, heads: &[Vec<u8>]) -> anyhow::Result<()> {
        heads.iter().try_for_each(|head| self.head(head))
    }

    fn head(&self, head: &[u8]) -> anyhow::Result<()> {
        // The raw head ends with its own blank line, which also separates
        // it from the next head of a redirect chain.
        let written = match self.heads_go() {
            None => return Ok(()),
            Some(_) if self.block.is_some() => {
                self.with_block(|block| block.stdout.extend_from_slice(head));
                return Ok(());
            }
            // Already on stderr, as the `< ` lines of -v: not twice.
            Some(Channel::Stderr) if !self.heads_asked && verbose::shows_heads() => {
                return Ok(());
            }
            Some(Channel::Stderr) => {
                let mut stderr = io::stderr().lock();
                stderr.write_all(head).and_then(|()| stderr.flush())
            }
            Some(Channel::Stdout) => {
                let mut stdout = io::stdout().lock();
                stdout.write_all(head).and_then(|()| stdout.flush())
            }
        };
        written.with_code(Code::WriteError, || "printing the response head")
    }

    /// Where the heads go, if anywhere.
    fn heads_go(&self) -> Option<Channel> {
        match (self.verbosity, self.heads_to_stderr) {
            (Verbosity::Silent | Verbosity::Quiet, _) if !self.heads_asked => None,
            (_, true) => Some(Channel::Stderr),
            (_, false) => Some(Channel::Stdout),
        }
    }

    /// Says what the download ended with, in a sentence for the user (not
    /// a log line: it is the outcome), unless `-q` or `-s`.
    pub fn finished(&self, finished: &Finished) {
        let line = match finished {
            Finished::Saved { name, bytes } => {
                format!("saved {} bytes to {name}\n", thousands(*bytes))
            }
            Finished::Nothing { why } => format!("nothing saved: {why}\n"),
        };
        if self.block.is_some() {
            // One of several: its line is kept for its block, where -q and
            // -s are decided by the writer.
            self.with_block(|block| block.stderr.extend_from_slice(line.as_bytes()));
        } else if !self.verbosity.is_quiet() {
            eprint!("{line}");
        }
    }

    fn with_block(&self, write: impl FnOnce(&mut Block)) {
        if let Some(block) = &self.block {
            write(&mut lock(block));
        }
    }
}

/// The block of a URL, locked.
pub fn lock(block: &Mutex<Block>) -> MutexGuard<'_, Block> {
    // Bytes appended whole: valid whatever a panicking holder was doing.
    block
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Report {}
/// Reads a `--write-out` format: the argument itself, or with `@FILE` the
/// text of FILE (`@-`: standard input), as curl does. An unknown variable
/// is a usage error; an unreadable file exits 26.
pub fn load_format(argument: &str) -> anyhow::Result<Format> {
    let text = match argument.strip_prefix('@') {
        None => argument.to_owned(),
        Some("-") => io::read_to_string(io::stdin()).with_code(
            Code::ReadError,
            || "reading the --write-out format from stdin",
        )?,
        Some(file) => std::fs::read_to_string(file).with_code(Code::ReadError, || {
            format!("reading the --write-out format from {file}")
        })?,
    };
    Format::parse(&text).map_err(|message| fail(Code::Usage, message))
}

/// Writes what `--write-out` rendered, each run to its stream. A reader of
/// stdout that has gone (`| head`) is no error.
pub fn write_out(runs: &[(Stream, String)]) -> anyhow::Result<()> {
    for (stream, text) in runs {
        let written = match stream {
            Stream::Stdout => {
                let mut stdout = io::stdout().lock();
                stdout
                    .write_all(text.as_bytes())
                    .and_then(|()| stdout.flush())
            }
            Stream::Stderr => {
                let mut stderr = io::stderr().lock();
                stderr
                    .write_all(text.as_bytes())
                    .and_then(|()| stderr.flush())
            }
        };
        match written {
            Err(err) if err.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
            other => other.with_code(Code::WriteError, || "writing the --write-out text")?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_wins_over_quiet_and_only_normal_talks() {
        assert_eq!(Verbosity::new(true, true), Verbosity::Silent);
        assert_eq!(Verbosity::new(false, true), Verbosity::Silent);
        assert_eq!(Verbosity::new(true, false), Verbosity::Quiet);
        assert_eq!(Verbosity::new(false, false), Verbosity::Normal);
        assert!(!Verbosity::Normal.is_quiet());
        assert!(Verbosity::Quiet.is_quiet() && Verbosity::Silent.is_quiet());
    }

    #[test]
    fn heads_go_to_stdout_or_beside_a_body_on_stdout_and_never_with_q_or_s() {
        let go = |verbosity, body_on_stdout| Report::new(verbosity, body_on_stdout).heads_go();
        assert_eq!(go(Verbosity::Normal, false), Some(Channel::Stdout));
        assert_eq!(go(Verbosity::Quiet, false), None, "-q: nothing on stdout");
        assert_eq!(go(Verbosity::Normal, true), Some(Channel::Stderr), "-o -");
        assert_eq!(
            go(Verbosity::Quiet, true),
            None,
            "-q -o -: stderr says nothing"
        );
        assert_eq!(go(Verbosity::Silent, false), None);
        assert_eq!(go(Verbosity::Silent, true), None);
        let asked = Report::new(Verbosity::Silent, false).heads_asked(true);
        assert_eq!(asked.heads_go(), Some(Channel::Stdout), "-I -s");
    }

    #[test]
    fn a_format_is_read_from_a_file_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("format");
        std::fs::write(&file, "%{http_code}\\n").unwrap();
        let from_file = load_format(&format!("@{}", file.display())).unwrap();
        assert_eq!(from_file, Format::parse("%{http_code}\n").unwrap());
        let missing = load_format(&format!("@{}", dir.path().join("no").display()));
        assert_eq!(Code::of(&missing.unwrap_err()), Code::ReadError);
        assert_eq!(Code::of(&load_format("%{nope}").unwrap_err()), Code::Usage);
    }
}
