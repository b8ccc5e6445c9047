//! Logging: info by default (the tutorial prints its server's events), `-q`
//! and `-v` move the level, and `RUST_LOG`, when set, overrides both.
//! Logs go to stderr; program output goes to stdout. While a progress bar is
//! showing, log lines are drawn around it instead of through it.
//!
//! A line looks like what it is. At the default level a command talks to
//! its user, as curl does: `sockdemo: warning: ...`, `sockdemo: error: ...`,
//! no timestamp. With `-v` or `RUST_LOG`, and always for `serve`, whose log
//! is a server's log, each line is a timestamped record
//! (`2026-12-05T06:56:31.701Z WARN  ...`). The lines of [`WIRE`] (`-v`'s
//! `> ` and `< ` view of an exchange) are written as they are, with no
//! prefix, as curl writes them.
//!
//! `-v` and `-vv` raise sockdemo's own level only: other crates log their
//! own structures at debug level (rustls a whole ClientHello), which tell a
//! user nothing. `RUST_LOG` reaches them (`RUST_LOG=rustls=debug`).

use std::io::{self, Write};
use std::sync::Mutex;

use indicatif::ProgressBar;
use log::{Level, LevelFilter};

/// The log target of the lines that show an exchange as it goes over the
/// wire (`> GET / HTTP/1.1`): written without a prefix.
pub const WIRE: &str = "sockdemo::wire";

/// The highest level other crates log at unless `RUST_LOG` asks for more:
/// their warnings, not their debugging.
const OTHER_CRATES: LevelFilter = LevelFilter::Warn;

/// The progress bar on stderr, if one is showing.
static PROGRESS_BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `sockdemo: warning: ...`: a command's messages to its user.
    Plain,
    /// `2026-12-05T06:56:31.701Z WARN  ...`: a log, read after the fact.
    Timestamped,
}

/// What the command line asks of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// sockdemo's own level, before `RUST_LOG` has its say.
    pub level: LevelFilter,
    /// How lines look when `RUST_LOG` is not set (with it, they are
    /// always timestamped).
    pub style: Style,
}

/// Installs the global logger.
pub fn init(settings: Settings) {
    let mut builder = env_logger::Builder::new();
    let style = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => {
            builder.parse_filters(&spec);
            Style::Timestamped
        }
        _ => {
            builder
                .filter_level(settings.level.min(OTHER_CRATES))
                .filter_module("sockdemo", settings.level);
            settings.style
        }
    };
    builder
        .format(move |buf, record| {
            if record.target() == WIRE {
                return writeln!(buf, "{}", record.args());
            }
            match style {
                Style::Plain => writeln!(buf, "{}", plain(record.level(), record.args())),
                Style::Timestamped => writeln!(
                    buf,
                    "{} {:<5} {}",
                    buf.timestamp_millis(),
                    record.level(),
                    record.args()
                ),
            }
        })
        .target(env_logger::Target::Pipe(Box::new(Stderr)))
        .init();
}

/// A message as a command says it to its user: `sockdemo: warning: ...`.
fn plain(level: Level, message: impl std::fmt::Display) -> String {
    match level {
        Level::Error => format!("sockdemo: error: {message}"),
        Level::Warn => format!("sockdemo: warning: {message}"),
        Level::Info => format!("sockdemo: {message}"),
        Level::Debug => format!("sockdemo: debug: {message}"),
        Level::Trace => format!("sockdemo: trace: {message}"),
    }
}

/// Draws log lines around this progress bar from now on (`None`: it is gone).
pub fn draw_around(bar: Option<ProgressBar>) {
    let mut current = PROGRESS_BAR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *current = bar;
}

/// Standard error, hiding the progress bar while a log line is written.
struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let bar = PROGRESS_BAR
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        match bar {
            Some(bar) => bar.suspend(|| io::stderr().write(buf)),
            None => io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_messages_name_the_program_and_the_kind() {
        assert_eq!(
            plain(Level::Warn, "retrying"),
            "sockdemo: warning: retrying"
        );
        assert_eq!(plain(Level::Error, "gone"), "sockdemo: error: gone");
        assert_eq!(plain(Level::Info, "continuing"), "sockdemo: continuing");
    }
}
