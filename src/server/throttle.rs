//! Log lines that a client or the machine can trigger over and over (a
//! refused client, a failed accept, a thread that cannot start) go through a
//! throttle: at most one per [`EVERY`], each saying how many like it were
//! held back since the last one, so that a flood of clients cannot flood
//! the log too. What is still held back when the server stops is reported
//! then ([`Throttle::flush`]), so that every count appears.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// At most one line of a kind per this interval.
pub const EVERY: Duration = Duration::from_secs(1);

/// Lets one kind of log line through at most once per [`EVERY`], counting
/// the ones held back in between. Shared by every thread that may log it.
#[derive(Debug, Default)]
pub struct Throttle {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last: Option<Instant>,
    held_back: u64,
}

/// How many lines like this one were held back; prints as a suffix.
#[derive(Debug, PartialEq, Eq)]
pub struct HeldBack(pub u64);

impl Throttle {
    /// A throttle that lets the first line through.
    pub const fn new() -> Throttle {
        Throttle {
            state: Mutex::new(State {
                last: None,
                held_back: 0,
            }),
        }
    }

    /// Whether to log now; if so, with how many were held back before.
    pub fn allow(&self) -> Option<HeldBack> {
        self.allow_at(Instant::now())
    }

    /// The lines held back since the last one let through, if any, taken:
    /// for a last report when nothing more of the kind will come.
    pub fn flush(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let held_back = std::mem::take(&mut state.held_back);
        (held_back > 0).then_some(held_back)
    }

    fn allow_at(&self, now: Instant) -> Option<HeldBack> {
        // Only counters live under the lock: a poisoned one is still usable.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.last.is_some_and(|last| now - last < EVERY) {
            state.held_back += 1;
            return None;
        }
        state.last = Some(now);
        Some(HeldBack(std::mem::take(&mut state.held_back)))
    }
}

impl fmt::Display for HeldBack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => Ok(()),
            n => write!(f, " ({n} more since the last report)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lets_one_through_per_interval_and_counts_the_rest() {
        let throttle = Throttle::new();
        let start = Instant::now();
        assert_eq!(throttle.allow_at(start), Some(HeldBack(0)));
        assert_eq!(throttle.allow_at(start), None);
        assert_eq!(throttle.allow_at(start + EVERY / 2), None);
        let held_back = throttle.allow_at(start + EVERY).expect("a new interval");
        assert_eq!(held_back, HeldBack(2));
        assert_eq!(held_back.to_string(), " (2 more since the last report)");
        assert_eq!(HeldBack(0).to_string(), "");
        assert_eq!(throttle.flush(), None);
        assert_eq!(throttle.allow_at(start + EVERY), None);
        assert_eq!(throttle.flush(), Some(1));
        assert_eq!(throttle.flush(), None);
    }
}
