//! The progress bar of a download: on stderr, only when stderr is a terminal
//! and `-q` was not given; size, rate and ETA when the length is known, and
//! a note when the download resumes. While it shows, log lines are drawn
//! around it (see [`crate::logging`]).

use std::collections::VecDeque;
use std::fmt;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{
    HumanBytes, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle,
    style::ProgressTracker,
};

/// Redraws per second: smooth to the eye, negligible next to the transfer.
const REFRESH_HZ: u8 = 10;

/// The rate shown is over this much of the recent past: long enough to
/// smooth out bursts, short enough that after a stall or a resume it says
/// how fast the data comes now, not since the start.
const RATE_WINDOW: Duration = Duration::from_secs(3);

/// A progress bar, or nothing when none should show.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Starts a bar at `at` bytes of `length` (`None`: unknown), unless
    /// `quiet` or stderr is not a terminal.
    pub fn start(length: Option<u64>, at: u64, quiet: bool) -> Progress {
        if quiet || !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let target = ProgressDrawTarget::stderr_with_hz(REFRESH_HZ);
        let bar = ProgressBar::with_draw_target(length, target);
        bar.set_position(at);
        let template = match length {
            Some(_) => "{bytes:>10} / {total_bytes} [{wide_bar}] {rate:>12} ETA {eta} {msg}",
            None => "{spinner} {bytes:>10} {rate:>12} {elapsed} {msg}",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(
                style
                    .with_key("rate", RecentRate::default())
                    .progress_chars("=> "),
            );
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

    /// Shows a short note after the bar (`resuming at 312.0 MiB`).
    pub fn note(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(text.to_owned());
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

/// The bytes per second over the last [`RATE_WINDOW`]: positions sampled at
/// each tick, the oldest dropped once the window is covered without them.
#[derive(Debug, Clone, Default)]
struct RecentRate {
    samples: VecDeque<(Instant, u64)>,
}

impl RecentRate {
    fn record(&mut self, now: Instant, position: u64) {
        self.samples.push_back((now, position));
        while self.samples.len() > 2 && now.duration_since(self.samples[1].0) >= RATE_WINDOW {
            self.samples.pop_front();
        }
    }

    /// Bytes per second, or `None` before there is anything to go by.
    fn per_second(&self) -> Option<f64> {
        let (&(first, from), &(last, to)) = (self.samples.front()?, self.samples.back()?);
        let seconds = last.duration_since(first).as_secs_f64();
        (seconds > 0.0).then(|| to.saturating_sub(from) as f64 / seconds)
    }
}

impl ProgressTracker for RecentRate {
    fn clone_box(&self) -> Box<dyn ProgressTracker> {
        Box::new(self.clone())
    }

    fn tick(&mut self, state: &ProgressState, now: Instant) {
        self.record(now, state.pos());
    }

    fn reset(&mut self, _: &ProgressState, _: Instant) {
        self.samples.clear();
    }

    fn write(&self, _: &ProgressState, w: &mut dyn fmt::Write) {
        let _ = match self.per_second() {
            Some(rate) => write!(w, "{}/s", HumanBytes(rate as u64)),
            None => write!(w, "-"),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_that_of_the_last_seconds() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut rate = RecentRate::default();
        assert_eq!(rate.per_second(), None);
        rate.record(at(0), 0);
        assert_eq!(rate.per_second(), None);
        // Ten seconds at 1 MB/s...
        for s in 1..=10 {
            rate.record(at(s * 1000), s * 1_000_000);
        }
        assert_eq!(rate.per_second(), Some(1_000_000.0));
        // ...then four seconds at 100 kB/s: the window has forgotten the fast part.
        for s in 1..=4 {
            rate.record(at(10_000 + s * 1000), 10_000_000 + s * 100_000);
        }
        assert_eq!(rate.per_second(), Some(100_000.0));
    }
}
