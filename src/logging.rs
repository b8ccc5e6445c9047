//! Logging: info by default (the tutorial prints its server's events), `-q`
//! and `-v` move the level, and `RUST_LOG`, when set, overrides both.
//! Logs go to stderr; program output goes to stdout. While a progress bar is
//! showing, log lines are drawn around it instead of through it.

use std::io::{self, Write};
use std::sync::Mutex;

use indicatif::ProgressBar;

/// The progress bar on stderr, if one is showing.
static PROGRESS_BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Installs the global logger.
pub fn init(level: log::LevelFilter) {
    env_logger::Builder::new()
        .filter_level(level)
        .parse_env("RUST_LOG")
        .format(|buf, record| {
            writeln!(
                buf,
                "{} {:<5} {}",
                buf.timestamp_millis(),
                record.level(),
                record.args()
            )
        })
        .target(env_logger::Target::Pipe(Box::new(Stderr)))
        .init();
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
