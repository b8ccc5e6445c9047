//! The one progress bar of a run of several URLs, on stderr when it is a
//! terminal and `-q` was not given: files done of all, the bytes received
//! so far and their recent rate, and the time left by the files still to
//! come. Each URL's closing line is printed above it.

use std::collections::VecDeque;
use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{
    ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle, style::ProgressTracker,
};

use crate::human;

/// Redraws per second: smooth to the eye, negligible next to the transfers.
const REFRESH_HZ: u8 = 4;

/// The rate shown is over this much of the recent past, as the bar of a
/// single download measures it.
const RATE_WINDOW: Duration = Duration::from_secs(3);

/// The bar of a run, or nothing when none should show.
pub struct RunBar {
    bar: Option<ProgressBar>,
}

impl RunBar {
    /// A bar for `files` files, showing the count of bytes `received` as it
    /// grows, unless `quiet` or stderr is no terminal.
    pub fn start(files: usize, quiet: bool, received: Arc<AtomicU64>) -> RunBar {
        if quiet || !std::io::stderr().is_terminal() {
            return RunBar { bar: None };
        }
        let target = ProgressDrawTarget::stderr_with_hz(REFRESH_HZ);
        let bar = ProgressBar::with_draw_target(Some(files as u64), target);
        if let Ok(style) =
            ProgressStyle::with_template("{pos}/{len} files {received} [{wide_bar}] ETA {eta}")
        {
            let tracker = Received {
                count: received,
                samples: VecDeque::new(),
            };
            bar.set_style(style.with_key("received", tracker).progress_chars("=> "));
        }
        // The ticks read the count: the bytes move while no file ends.
        bar.enable_steady_tick(Duration::from_millis(1000 / u64::from(REFRESH_HZ)));
        crate::logging::draw_around(Some(bar.clone()));
        RunBar { bar: Some(bar) }
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

    /// Counts one more file done.
    pub fn done(&self) {
        if let Some(bar) = &self.bar {
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

/// The bytes received by the run and their rate over the last
/// [`RATE_WINDOW`], sampled at each tick.
#[derive(Debug, Clone)]
struct Received {
    count: Arc<AtomicU64>,
    samples: VecDeque<(Instant, u64)>,
}

impl Received {
    fn record(&mut self, now: Instant, bytes: u64) {
        self.samples.push_back((now, bytes));
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

impl ProgressTracker for Received {
    fn clone_box(&self) -> Box<dyn ProgressTracker> {
        Box::new(self.clone())
    }

    fn tick(&mut self, _: &ProgressState, now: Instant) {
        let bytes = self.count.load(Ordering::Relaxed);
        self.record(now, bytes);
    }

    fn reset(&mut self, _: &ProgressState, _: Instant) {
        self.samples.clear();
    }

    fn write(&self, _: &ProgressState, w: &mut dyn fmt::Write) {
        let bytes = human::bytes(self.count.load(Ordering::Relaxed));
        let _ = match self.per_second() {
            Some(rate) => write!(w, "{bytes}, {}/s", human::bytes(rate as u64)),
            None => write!(w, "{bytes}"),
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
        let mut received = Received {
            count: Arc::default(),
            samples: VecDeque::new(),
        };
        assert_eq!(received.per_second(), None);
        for s in 0..=10 {
            received.record(at(s * 1000), s * 1_000_000);
        }
        assert_eq!(received.per_second(), Some(1_000_000.0));
        for s in 1..=4 {
            received.record(at(10_000 + s * 1000), 10_000_000 + s * 100_000);
        }
        assert_eq!(received.per_second(), Some(100_000.0));
    }
}
