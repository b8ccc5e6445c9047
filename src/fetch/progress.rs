//! The progress bar of a download: on stderr, only when stderr is a terminal
//! and `-q` was not given; size, rate and ETA when the length is known.
//! While it shows, log lines are drawn around it (see [`crate::logging`]).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Redraws per second: smooth to the eye, negligible next to the transfer.
const REFRESH_HZ: u8 = 10;

/// A progress bar, or nothing when none should show.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Starts a bar for a body of `length` bytes (`None`: unknown), unless
    /// `quiet` or stderr is not a terminal.
    pub fn start(length: Option<u64>, quiet: bool) -> Progress {
        if quiet || !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let target = ProgressDrawTarget::stderr_with_hz(REFRESH_HZ);
        let bar = ProgressBar::with_draw_target(length, target);
        let template = match length {
            Some(_) => {
                "{bytes:>10} / {total_bytes} [{wide_bar}] {binary_bytes_per_sec:>12} ETA {eta}"
            }
            None => "{spinner} {bytes:>10} {binary_bytes_per_sec:>12} {elapsed}",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        // Keeps the rate and the spinner moving while the network stalls.
        bar.enable_steady_tick(Duration::from_millis(1000 / u64::from(REFRESH_HZ)));
        crate::logging::draw_around(Some(bar.clone()));
        Progress { bar: Some(bar) }
    }

    /// Counts `n` more body bytes.
    pub fn advance(&self, n: usize) {
        if let Some(bar) = &self.bar {
            bar.inc(n as u64);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            crate::logging::draw_around(None);
            bar.finish_and_clear();
        }
    }
}
