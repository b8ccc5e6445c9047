//! The progress of a download, on stderr unless `-q` or `-s`: a bar when
//! stderr is a terminal (size, rate and time left when the length is known,
//! and a note when the download resumes); otherwise a line now and then, so
//! that the log of a long job shows it moving. While the bar shows, log
//! lines are drawn around it (see [`crate::logging`]).
//!
//! How far the download is lives in a [`Meter`] shared with the signal
//! thread, which clears the bar and says where the download stopped.

use std::collections::VecDeque;
use std::fmt;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use indicatif::{
    HumanBytes, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle,
    style::ProgressTracker,
};

use crate::human;

/// Redraws per second: smooth to the eye, negligible next to the transfer.
const REFRESH_HZ: u8 = 10;

/// The rate shown is over this much of the recent past: long enough to
/// smooth out bursts, short enough that after a stall or a resume it says
/// how fast the data comes now, not since the start. The time left is the
/// bytes still to come at that same rate.
const RATE_WINDOW: Duration = Duration::from_secs(3);

/// Samples of the position closer together than this replace each other:
/// the window holds a few dozen of them, however fast the data comes.
const SAMPLE_SPACING: Duration = Duration::from_millis(100);

/// Without a terminal, a line at most this often...
const LINE_INTERVAL: Duration = Duration::from_secs(10);

/// ...and only once this share of the file (in tenths) has come since the
/// last one: for a long job, a line every 10 s or every 10%, whichever is
/// rarer.
const LINE_TENTHS: u64 = 1;

/// How far the download is, shared with the signal thread.
#[derive(Debug, Clone, Default)]
pub struct Meter(Arc<Mutex<Reading>>);

#[derive(Debug, Default)]
struct Reading {
    at: u64,
    total: Option<u64>,
    /// The bar on the screen, if one shows.
    bar: Option<ProgressBar>,
    /// Set once the bar is gone for good: no new one may show.
    halted: bool,
}

impl Meter {
    /// Clears the bar from the screen for good and returns how far the
    /// download got: the bytes of the file saved, and its length when known.
    pub fn halt(&self) -> (u64, Option<u64>) {
        let mut reading = self.lock();
        reading.halted = true;
        if let Some(bar) = reading.bar.take() {
            crate::logging::draw_around(None);
            bar.finish_and_clear();
        }
        (reading.at, reading.total)
    }

    fn lock(&self) -> MutexGuard<'_, Reading> {
        // Plain numbers, valid whatever a panicking holder was doing.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The progress of one body: a bar, lines, or nothing.
pub struct Progress {
    meter: Meter,
    bar: Option<ProgressBar>,
    lines: Option<Lines>,
}

impl Progress {
    /// Starts showing a body that begins at `at` bytes of a file of
    /// `length` (`None`: unknown): a bar on a terminal, lines otherwise,
    /// nothing when `quiet`.
    pub fn start(length: Option<u64>, at: u64, quiet: bool, meter: &Meter) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let mut reading = meter.lock();
        let bar = (!quiet && terminal && !reading.halted).then(|| bar(length, at));
        let lines = (!quiet && !terminal).then(|| Lines::new(Instant::now(), at, length));
        *reading = Reading {
            at,
            total: length,
            bar: bar.clone(),
            halted: reading.halted,
        };
        drop(reading);
        if let Some(bar) = &bar {
            crate::logging::draw_around(Some(bar.clone()));
        }
        Progress {
            meter: meter.clone(),
            bar,
            lines,
        }
    }

    /// Counts `n` more body bytes.
    pub fn advance(&mut self, n: usize) {
        let at = {
            let mut reading = self.meter.lock();
            reading.at += n as u64;
            reading.at
        };
        if let Some(bar) = &self.bar {
            bar.inc(n as u64);
        }
        if let Some(line) = self
            .lines
            .as_mut()
            .and_then(|lines| lines.due(Instant::now(), at))
        {
            eprintln!("{line}");
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
            let mut reading = self.meter.lock();
            reading.bar = None;
            crate::logging::draw_around(None);
            bar.finish_and_clear();
        }
    }
}

/// A bar in its style from the first frame: it is drawn nowhere until the
/// style and the position are set.
fn bar(length: Option<u64>, at: u64) -> ProgressBar {
    let template = match length {
        Some(_) => "{bytes:>10} / {total_bytes} [{wide_bar}] {rate:>12} ETA {eta} {msg}",
        None => "{spinner} {bytes:>10} {rate:>12} {elapsed} {msg}",
    };
    let bar = ProgressBar::with_draw_target(length, ProgressDrawTarget::hidden());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(
            style
                .with_key("rate", Recent::new(Show::Rate))
                .with_key("eta", Recent::new(Show::TimeLeft))
                .progress_chars("=> "),
        );
    }
    bar.set_position(at);
    bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(REFRESH_HZ));
    // Keeps the rate and the spinner moving while the network stalls.
    bar.enable_steady_tick(Duration::from_millis(1000 / u64::from(REFRESH_HZ)));
    bar
}

/// The positions of the last [`RATE_WINDOW`], sampled as the bar ticks.
#[derive(Debug, Clone, Default)]
struct RecentRate {
    samples: VecDeque<(Instant, u64)>,
}

impl RecentRate {
    fn record(&mut self, now: Instant, position: u64) {
        let len = self.samples.len();
        if len >= 2 && now.duration_since(self.samples[len - 2].0) < SAMPLE_SPACING {
            self.samples[len - 1] = (now, position);
        } else {
            self.samples.push_back((now, position));
        }
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

    /// The time the `remaining` bytes take at the recent rate; `None` while
    /// nothing comes.
    fn time_left(&self, remaining: u64) -> Option<Duration> {
        let rate = self.per_second().filter(|&rate| rate > 0.0)?;
        Duration::try_from_secs_f64(remaining as f64 / rate).ok()
    }
}

/// Which field of the bar a [`Recent`] writes.
#[derive(Debug, Clone, Copy)]
enum Show {
    Rate,
    TimeLeft,
}

/// The `{rate}` and `{eta}` of the bar, both from the same recent rate
/// (indicatif's own `{eta}` would count a resumed offset as speed).
#[derive(Debug, Clone)]
struct Recent {
    rate: RecentRate,
    show: Show,
}

impl Recent {
    fn new(show: Show) -> Recent {
        Recent {
            rate: RecentRate::default(),
            show,
        }
    }
}

impl ProgressTracker for Recent {
    fn clone_box(&self) -> Box<dyn ProgressTracker> {
        Box::new(self.clone())
    }

    fn tick(&mut self, state: &ProgressState, now: Instant) {
        self.rate.record(now, state.pos());
    }

    fn reset(&mut self, _: &ProgressState, _: Instant) {
        self.rate.samples.clear();
    }

    fn write(&self, state: &ProgressState, w: &mut dyn fmt::Write) {
        let _ = match self.show {
            Show::Rate => match self.rate.per_second() {
                Some(rate) => write!(w, "{}/s", HumanBytes(rate as u64)),
                None => write!(w, "-"),
            },
            Show::TimeLeft => {
                let remaining = state.len().map(|len| len.saturating_sub(state.pos()));
                match remaining.and_then(|remaining| self.rate.time_left(remaining)) {
                    Some(left) => write!(w, "{}", clock(left)),
                    None => write!(w, "-"),
                }
            }
        };
    }
}

/// A time left as a clock reads it, to the second under an hour: `42s`,
/// `3m05s`, `2h03m`, `3d04h`.
fn clock(left: Duration) -> String {
    let s = left.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Progress as lines, for a stderr that is not a terminal (a log file).
#[derive(Debug)]
struct Lines {
    total: Option<u64>,
    /// When and where the last line was (or the body started).
    last: (Instant, u64),
}

impl Lines {
    fn new(now: Instant, at: u64, total: Option<u64>) -> Lines {
        Lines {
            total,
            last: (now, at),
        }
    }

    /// The line to write now that the body is at `at`, if one is due: at
    /// least [`LINE_INTERVAL`] and a tenth of the file since the last.
    fn due(&mut self, now: Instant, at: u64) -> Option<String> {
        let (then, was) = self.last;
        let elapsed = now.duration_since(then);
        if elapsed < LINE_INTERVAL {
            return None;
        }
        if let Some(total) = self.total
            && at.saturating_sub(was).saturating_mul(10) < total.saturating_mul(LINE_TENTHS)
        {
            return None;
        }
        self.last = (now, at);
        let per_second = at.saturating_sub(was) as f64 / elapsed.as_secs_f64();
        let rate = format!("{}/s", human::bytes(per_second as u64));
        Some(match self.total {
            Some(total) => {
                let percent = at.saturating_mul(100).checked_div(total).unwrap_or(100);
                let left =
                    match Duration::try_from_secs_f64(total.saturating_sub(at) as f64 / per_second)
                    {
                        Ok(left) => format!(", {} left", clock(left)),
                        Err(_) => String::new(),
                    };
                format!(
                    "progress: {} of {} ({percent}%), {rate}{left}",
                    human::bytes(at),
                    human::bytes(total)
                )
            }
            None => format!("progress: {}, {rate}", human::bytes(at)),
        })
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

    #[test]
    fn many_samples_close_together_stay_few() {
        let start = Instant::now();
        let mut rate = RecentRate::default();
        for ms in 0..3000 {
            rate.record(start + Duration::from_millis(ms), ms * 1000);
        }
        assert!(rate.samples.len() <= 32, "{}", rate.samples.len());
        assert_eq!(rate.per_second(), Some(1_000_000.0));
    }

    #[test]
    fn after_a_resume_the_time_left_falls_at_the_recent_rate() {
        // Resumed at 150 MB of 200 MB: the offset is not speed.
        let start = Instant::now();
        let mut rate = RecentRate::default();
        let mut left = Vec::new();
        for s in 0..=6 {
            let position = 150_000_000 + s * 1_000_000;
            rate.record(start + Duration::from_secs(s), position);
            left.push(rate.time_left(200_000_000 - position));
        }
        assert_eq!(left[0], None, "nothing to go by yet");
        assert_eq!(left[1], Some(Duration::from_secs(49)));
        assert_eq!(left[6], Some(Duration::from_secs(44)));
        assert!(left[1..].windows(2).all(|w| w[1] < w[0]), "{left:?}");
    }

    #[test]
    fn time_left_reads_as_a_clock() {
        assert_eq!(clock(Duration::from_secs(0)), "0s");
        assert_eq!(clock(Duration::from_secs(42)), "42s");
        assert_eq!(clock(Duration::from_secs(185)), "3m05s");
        assert_eq!(clock(Duration::from_secs(7380)), "2h03m");
        assert_eq!(clock(Duration::from_secs(3 * 86_400 + 4 * 3600)), "3d04h");
    }

    #[test]
    fn lines_come_every_ten_seconds_or_tenth_whichever_is_rarer() {
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let mib = 1 << 20;
        // 200 MiB at 1 MiB/s: a tenth takes 20 s, so a line every 20 s.
        let mut lines = Lines::new(start, 0, Some(200 * mib));
        let mut shown = Vec::new();
        for s in 1..=60 {
            if let Some(line) = lines.due(at(s), s * mib) {
                shown.push((s, line));
            }
        }
        assert_eq!(
            shown,
            [
                (
                    20,
                    "progress: 20.0 MiB of 200.0 MiB (10%), 1.0 MiB/s, 3m00s left".to_owned()
                ),
                (
                    40,
                    "progress: 40.0 MiB of 200.0 MiB (20%), 1.0 MiB/s, 2m40s left".to_owned()
                ),
                (
                    60,
                    "progress: 60.0 MiB of 200.0 MiB (30%), 1.0 MiB/s, 2m20s left".to_owned()
                ),
            ]
        );
        // 20 MiB at 1 MiB/s: a tenth is 2 s, so a line every 10 s.
        let mut lines = Lines::new(start, 0, Some(20 * mib));
        let due: Vec<u64> = (1..=20)
            .filter(|&s| lines.due(at(s), s * mib).is_some())
            .collect();
        assert_eq!(due, [10, 20]);
        // A fast download says nothing.
        let mut lines = Lines::new(start, 0, Some(200 * mib));
        assert_eq!(
            lines.due(start + Duration::from_millis(200), 200 * mib),
            None
        );
        // Unknown length: every 10 s.
        let mut lines = Lines::new(start, 5 * mib, None);
        assert_eq!(lines.due(at(9), 6 * mib), None);
        assert_eq!(
            lines.due(at(10), 25 * mib),
            Some("progress: 25.0 MiB, 2.0 MiB/s".to_owned())
        );
    }
}
