//! What a fetch tells its user, besides the log: the response heads as
//! received (the tutorial's `print(header)`), and one line at the end
//! saying what was saved. How much of it is shown is decided once, from
//! `-q` and `-s`.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};

use super::download::Finished;
use crate::exit::{Code, WithCode};
use crate::human::thousands;

/// How much a fetch says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verbosity {
    /// The heads, the progress bar, warnings, the line saying what was saved.
    #[default]
    Normal,
    /// `-q`: no warnings, no progress, no closing line; the heads are still
    /// printed, unless they would share stderr with nothing else to say.
    Quiet,
    /// `-s`: errors only.
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
            block: Some(Arc::clone(&block)),
        };
        (report, block)
    }

    /// Prints the heads of an attempt, each as received: on stdout, or on
    /// stderr when the body goes to stdout (and then not at all with `-q`);
    /// never with `-s`.
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
            (Verbosity::Silent, _) | (Verbosity::Quiet, true) => None,
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
    fn heads_go_to_stdout_or_beside_a_body_on_stdout_and_never_with_s() {
        let go = |verbosity, body_on_stdout| Report::new(verbosity, body_on_stdout).heads_go();
        assert_eq!(go(Verbosity::Normal, false), Some(Channel::Stdout));
        assert_eq!(
            go(Verbosity::Quiet, false),
            Some(Channel::Stdout),
            "-q keeps the heads"
        );
        assert_eq!(go(Verbosity::Normal, true), Some(Channel::Stderr), "-o -");
        assert_eq!(
            go(Verbosity::Quiet, true),
            None,
            "-q -o -: stderr says nothing"
        );
        assert_eq!(go(Verbosity::Silent, false), None);
        assert_eq!(go(Verbosity::Silent, true), None);
    }
}
