//! The one progress bar of a run of several URLs, on stderr when it is a
//! terminal and `-q` was not given: files done of all, the bytes saved, the
//! rate since the start, and the time left by the files still to come.
//! Each URL's closing line is printed above it.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::human;

/// Redraws per second: enough for counts that move once per file.
const REFRESH_HZ: u8 = 4;

/// The bar of a run, or nothing when none should show.
pub struct RunBar {
    bar: Option<ProgressBar>,
    started: Instant,
    bytes: u64,
}

impl RunBar {
    /// A bar for `files` files, unless `quiet` or stderr is no terminal.
    pub fn start(files: usize, quiet: bool) -> RunBar {
        let started = Instant::now();
        if quiet || !std::io::stderr().is_terminal() {
            return RunBar {
                bar: None,
                started,
                bytes: 0,
            };
        }
        let target = ProgressDrawTarget::stderr_with_hz(REFRESH_HZ);
        let bar = ProgressBar::with_draw_target(Some(files as u64), target);
        if let Ok(style) =
            ProgressStyle::with_template("{pos}/{len} files {msg} [{wide_bar}] ETA {eta}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(1000 / u64::from(REFRESH_HZ)));
        crate::logging::draw_around(Some(bar.clone()));
        RunBar {
            bar: Some(bar),
            started,
            bytes: 0,
        }
    }

    /// Writes `text` to stderr above the bar.
    pub fn print(&self, text: &[u8]) {
        let write = || {
            let _ = std::io::stderr().lock().write_all(text);
        };
        match &self.bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }

    /// Counts one more file done, with the bytes it saved.
    pub fn done(&mut self, bytes: u64) {
        self.bytes += bytes;
        if let Some(bar) = &self.bar {
            let seconds = self.started.elapsed().as_secs_f64().max(0.001);
            bar.set_message(format!(
                "{}, {}/s",
                human::bytes(self.bytes),
                human::bytes((self.bytes as f64 / seconds) as u64)
            ));
            bar.inc(1);
        }
    }
}

impl Drop for RunBar {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            crate::logging::draw_around(None);
            bar.finish_and_clear();
        }
    }
}
