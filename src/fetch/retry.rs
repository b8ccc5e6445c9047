//! The retry policy: which failed attempts are worth another, and how long
//! to wait before it. Pure: the caller says what happened and how much time
//! has passed, and sleeps for the delay it is given.
//!
//! The rules, in the order [`Retrier::decide`] applies them:
//!
//! 1. Only a transient failure is retried ([`Failure::is_transient`]): the
//!    network or the server may do better in a moment. A malformed response,
//!    a certificate error or a 404 will be the same next time.
//! 2. An attempt that took the download further than any before it (a new
//!    high-water mark) proves the network works: the retry count and the
//!    back-off start afresh, and the next attempt starts at once. So a link
//!    that drops every 100 MiB costs no waiting, and a long download may need
//!    more resumptions than `--retry` allows in a row. Bytes alone are not
//!    enough: a server that ignores ranges and cuts at the same point every
//!    time never passes its first mark, and runs out of retries.
//! 3. Otherwise the wait is the server's `Retry-After` if it sent one, else
//!    `--retry-delay` if given, else an exponential back-off: 1 s, doubling
//!    up to 60 s, with jitter (a random half of it taken off) so that many
//!    clients cut off at once do not come back at once.
//! 4. No retry starts after `--retry-max-time` (counted from the start of the
//!    first attempt), and no wait goes past it.

use std::time::{Duration, SystemTime};

/// `--retry` when not given: a downloader should ride out a blip.
pub const DEFAULT_RETRIES: u32 = 3;

/// `--retry-max-time` when not given.
pub const DEFAULT_RETRY_MAX_TIME: Duration = Duration::from_secs(10 * 60);

/// The first back-off, doubled after each retry that made no progress.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// The longest back-off: a minute is long enough for a server to restart
/// and short enough that the user does not think the program hung.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How an attempt failed, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The connection was reset (exit 56).
    Reset,
    /// Connecting or waiting for data timed out (exit 28).
    Timeout,
    /// The body ended before its announced end (exit 18).
    BodyCut,
    /// The server closed the connection without a reply (exit 52).
    NothingReceived,
    /// The connection closed inside the response head (exit 8, but only for
    /// an end of stream: a malformed head is [`Failure::Permanent`]).
    HeadCut,
    /// The resolver failed for now (`EAI_AGAIN`).
    ResolverBusy,
    /// The connection was refused (exit 7): nobody is listening.
    Refused,
    /// The final response has this status.
    Status(u16),
    /// Anything else: a malformed response, a certificate, a write error, a
    /// checksum: the same again next time.
    Permanent,
}

impl Failure {
    /// Whether another attempt may succeed. A refused connection is retried
    /// only with `--retry-connrefused`, or once an earlier attempt has
    /// connected (the server is restarting, rather than absent, as curl and
    /// wget assume of a first refusal).
    pub fn is_transient(self, connected_before: bool, retry_connrefused: bool) -> bool {
        match self {
            Failure::Reset
            | Failure::Timeout
            | Failure::BodyCut
            | Failure::NothingReceived
            | Failure::HeadCut
            | Failure::ResolverBusy => true,
            Failure::Refused => connected_before || retry_connrefused,
            Failure::Status(status) => is_transient_status(status),
            Failure::Permanent => false,
        }
    }
}

/// The statuses that say "try again later": timeout, too many requests, and
/// the 5xx a proxy or an overloaded server sends. 501 (not implemented) and
/// 505 (version) will not change.
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// The longest a `Retry-After` may make a download wait when there is no
/// `--retry-max-time` window to cap it: an hour, so that a server asking
/// for years cannot hang the client.
const MAX_SERVER_WAIT: Duration = Duration::from_secs(3600);

/// The retry settings of the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `--retry N`: retries in a row without progress (0: none at all).
    pub retries: u32,
    /// `--retry-delay`: a fixed wait instead of the back-off.
    pub fixed_delay: Option<Duration>,
    /// `--retry-max-time`: no retry this long after the first attempt, or
    /// after the last one that got further than any before it (`None`: no
    /// limit; a `Retry-After` is then capped at an hour).
    pub max_time: Option<Duration>,
    /// `--retry-connrefused`: a refused connection is transient too.
    pub retry_connrefused: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            retries: DEFAULT_RETRIES,
            fixed_delay: None,
            max_time: Some(DEFAULT_RETRY_MAX_TIME),
            retry_connrefused: false,
        }
    }
}

/// What one failed attempt reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// How it failed.
    pub failure: Failure,
    /// How far the download got: the saved bytes at the end of the attempt,
    /// the part resumed from included.
    pub reached: u64,
    /// Whether it got a connection (a refusal after that is a restart).
    pub connected: bool,
    /// The server's `Retry-After`, already turned into a wait.
    pub retry_after: Option<Duration>,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try again after this long.
    Retry {
        /// The wait (zero: at once).
        delay: Duration,
    },
    /// The failure is not transient: report it as it is.
    Permanent,
    /// `--retry` attempts in a row made no progress.
    OutOfRetries,
    /// `--retry-max-time` has passed.
    OutOfTime,
}

/// Decides, attempt after attempt, whether and when to try again.
#[derive(Debug, Clone)]
pub struct Retrier {
    policy: Policy,
    retries_left: u32,
    backoff: Duration,
    best: u64,
    attempts: u32,
    connected: bool,
    /// When the retry window opened: at the first attempt, and again at
    /// each new high-water mark.
    window_opened: Duration,
    rng: SplitMix64,
}

impl Retrier {
    /// A retrier for `policy`; `seed` drives the jitter (fixed in tests).
    pub fn new(policy: Policy, seed: u64) -> Retrier {
        Retrier {
            retries_left: policy.retries,
            policy,
            backoff: FIRST_BACKOFF,
            best: 0,
            attempts: 0,
            connected: false,
            window_opened: Duration::ZERO,
            rng: SplitMix64(seed),
        }
    }

    /// Attempts that have failed so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The high-water mark: the furthest any attempt got, in saved bytes.
    pub fn best(&self) -> u64 {
        self.best
    }

    /// Takes a failed attempt into account and says what comes next;
    /// `elapsed` is the time since the first attempt started.
    pub fn decide(&mut self, attempt: &Attempt, elapsed: Duration) -> Decision {
        self.attempts += 1;
        let connected_before = self.connected;
        self.connected |= attempt.connected;
        let progressed = attempt.reached > self.best;
        if progressed {
            self.best = attempt.reached;
            self.retries_left = self.policy.retries;
            self.backoff = FIRST_BACKOFF;
            // A download that keeps getting further is not one long
            // failure: a 10 GiB file may take longer than the window.
            self.window_opened = elapsed;
        }
        let connected = connected_before || attempt.connected;
        if !attempt
            .failure
            .is_transient(connected, self.policy.retry_connrefused)
        {
            return Decision::Permanent;
        }
        // A retry after progress is not one of the N in a row without it;
        // `--retry 0` still means no retry at all.
        if self.retries_left == 0 || self.policy.retries == 0 {
            return Decision::OutOfRetries;
        }
        let in_window = elapsed.saturating_sub(self.window_opened);
        let left = match self.policy.max_time {
            Some(max) if in_window >= max => return Decision::OutOfTime,
            Some(max) => max - in_window,
            // A server cannot make us wait longer than this, window or not.
            None => MAX_SERVER_WAIT,
        };
        if !progressed {
            self.retries_left -= 1;
        }
        let delay = match (attempt.retry_after, self.policy.fixed_delay) {
            (Some(asked), _) => asked,
            (None, _) if progressed => Duration::ZERO,
            (None, Some(fixed)) => fixed,
            (None, None) => self.next_backoff(),
        };
        Decision::Retry {
            delay: delay.min(left),
        }
    }

    /// The current back-off less a random part of up to half of it, and the
    /// back-off doubled for next time.
    fn next_backoff(&mut self) -> Duration {
        let base = self.backoff;
        self.backoff = (base * 2).min(MAX_BACKOFF);
        let half = base / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(self.rng.next() % (nanos + 1))
    }
}

/// The wait a `Retry-After` value asks for (RFC 9110 section 10.2.3): a
/// number of seconds, or an HTTP date (a date in the past means now). `None`
/// when it is neither.
pub fn retry_after(value: &[u8], now: SystemTime) -> Option<Duration> {
    let text = std::str::from_utf8(value).ok()?.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        // More seconds than u64 holds is "very long": capped later anyway.
        return Some(Duration::from_secs(text.parse().unwrap_or(u64::MAX)));
    }
    let date = httpdate::parse_http_date(text).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A seed for the jitter that differs between runs and processes.
pub fn jitter_seed() -> u64 {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    (now.as_nanos() as u64) ^ (u64::from(std::process::id()) << 32)
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a few lines of well-mixed
/// numbers, plenty for jitter, and reproducible from a seed.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(reached: u64) -> Attempt {
        Attempt {
            failure: Failure::BodyCut,
            reached,
            connected: true,
            retry_after: None,
        }
    }

    fn failed(failure: Failure) -> Attempt {
        Attempt {
            failure,
            reached: 0,
            connected: true,
            retry_after: None,
        }
    }

    fn delay(decision: Decision) -> Duration {
        match decision {
            Decision::Retry { delay } => delay,
            other => panic!("expected a retry, got {other:?}"),
        }
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn transient_failures_are_the_decided_ones() {
        for failure in [
            Failure::Reset,
            Failure::Timeout,
            Failure::BodyCut,
            Failure::NothingReceived,
            Failure::HeadCut,
            Failure::ResolverBusy,
        ] {
            assert!(failure.is_transient(false, false), "{failure:?}");
        }
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(
                Failure::Status(status).is_transient(false, false),
                "{status}"
            );
        }
        for status in [200, 400, 401, 403, 404, 410, 416, 501, 505, 599] {
            assert!(
                !Failure::Status(status).is_transient(true, true),
                "{status}"
            );
        }
        assert!(!Failure::Permanent.is_transient(true, true));
        assert!(!Failure::Refused.is_transient(false, false));
        assert!(Failure::Refused.is_transient(true, false));
        assert!(Failure::Refused.is_transient(false, true));
    }

    #[test]
    fn back_off_doubles_with_jitter_up_to_a_minute() {
        let policy = Policy {
            retries: 20,
            max_time: None,
            ..Policy::default()
        };
        let mut retrier = Retrier::new(policy, 1);
        let mut base = FIRST_BACKOFF;
        for _ in 0..10 {
            let wait = delay(retrier.decide(&failed(Failure::Reset), Duration::ZERO));
            assert!(
                wait >= base / 2 && wait <= base,
                "{wait:?} for a back-off of {base:?}"
            );
            base = (base * 2).min(MAX_BACKOFF);
        }
        assert_eq!(base, MAX_BACKOFF);
        // The jitter is reproducible from the seed, and not constant.
        let waits = |seed| {
            let mut retrier = Retrier::new(Policy::default(), seed);
            (0..3)
                .map(|_| delay(retrier.decide(&failed(Failure::Timeout), Duration::ZERO)))
                .collect::<Vec<_>>()
        };
        assert_eq!(waits(7), waits(7));
        assert_ne!(waits(7), waits(8));
    }

    #[test]
    fn retries_run_out_without_progress() {
        let mut retrier = Retrier::new(Policy::default(), 0);
        for _ in 0..DEFAULT_RETRIES {
            delay(retrier.decide(&failed(Failure::Status(503)), Duration::ZERO));
        }
        assert_eq!(
            retrier.decide(&failed(Failure::Status(503)), Duration::ZERO),
            Decision::OutOfRetries
        );
        assert_eq!(retrier.attempts(), DEFAULT_RETRIES + 1);
        let none = Policy {
            retries: 0,
            ..Policy::default()
        };
        assert_eq!(
            Retrier::new(none.clone(), 0).decide(&failed(Failure::Reset), Duration::ZERO),
            Decision::OutOfRetries
        );
        assert_eq!(
            Retrier::new(none, 0).decide(&cut(100), Duration::ZERO),
            Decision::OutOfRetries,
            "--retry 0: no retry, progress or not"
        );
    }

    #[test]
    fn a_new_high_water_mark_resets_the_count_and_retries_at_once() {
        let mut retrier = Retrier::new(Policy::default(), 0);
        // Ten drops, each further on: far more than three retries, none waited for.
        for step in 1..=10u64 {
            assert_eq!(
                retrier.decide(&cut(step * 100), Duration::ZERO),
                Decision::Retry {
                    delay: Duration::ZERO
                }
            );
        }
        assert_eq!(retrier.best(), 1000);
        // A server that ignores ranges and cuts at the same point again:
        // bytes, but no new mark. It backs off, and runs out.
        for _ in 0..DEFAULT_RETRIES {
            assert!(delay(retrier.decide(&cut(1000), Duration::ZERO)) >= SECOND / 2);
        }
        assert_eq!(
            retrier.decide(&cut(1000), Duration::ZERO),
            Decision::OutOfRetries
        );
    }

    #[test]
    fn progress_restarts_the_back_off() {
        let mut retrier = Retrier::new(Policy::default(), 3);
        delay(retrier.decide(&failed(Failure::Reset), Duration::ZERO));
        delay(retrier.decide(&failed(Failure::Reset), Duration::ZERO));
        assert_eq!(
            delay(retrier.decide(&cut(10), Duration::ZERO)),
            Duration::ZERO
        );
        let wait = delay(retrier.decide(&cut(10), Duration::ZERO));
        assert!(wait <= FIRST_BACKOFF, "{wait:?}");
    }

    #[test]
    fn permanent_failures_stop_at_once() {
        let mut retrier = Retrier::new(Policy::default(), 0);
        assert_eq!(
            retrier.decide(&failed(Failure::Status(404)), Duration::ZERO),
            Decision::Permanent
        );
        let refused = Attempt {
            failure: Failure::Refused,
            reached: 0,
            connected: false,
            retry_after: None,
        };
        let mut first = Retrier::new(Policy::default(), 0);
        assert_eq!(first.decide(&refused, Duration::ZERO), Decision::Permanent);
        // Once connected, a refusal is a server restarting.
        let mut later = Retrier::new(Policy::default(), 0);
        delay(later.decide(&cut(0), Duration::ZERO));
        delay(later.decide(&refused, Duration::ZERO));
        let eager = Policy {
            retry_connrefused: true,
            ..Policy::default()
        };
        delay(Retrier::new(eager, 0).decide(&refused, Duration::ZERO));
    }

    #[test]
    fn fixed_delay_and_retry_after_replace_the_back_off() {
        let fixed = Policy {
            fixed_delay: Some(Duration::from_millis(50)),
            ..Policy::default()
        };
        let mut retrier = Retrier::new(fixed, 0);
        for _ in 0..3 {
            assert_eq!(
                delay(retrier.decide(&failed(Failure::Reset), Duration::ZERO)),
                Duration::from_millis(50)
            );
        }
        let mut retrier = Retrier::new(Policy::default(), 0);
        let asked = Attempt {
            retry_after: Some(Duration::from_secs(120)),
            ..failed(Failure::Status(503))
        };
        assert_eq!(
            delay(retrier.decide(&asked, Duration::ZERO)),
            Duration::from_secs(120)
        );
    }

    #[test]
    fn the_retry_window_caps_waits_and_ends_retries() {
        let mut retrier = Retrier::new(Policy::default(), 0);
        let asked = Attempt {
            retry_after: Some(Duration::from_secs(3600)),
            ..failed(Failure::Status(429))
        };
        // An hour asked for, nine minutes of the window left.
        assert_eq!(
            delay(retrier.decide(&asked, Duration::from_secs(60))),
            Duration::from_secs(9 * 60)
        );
        assert_eq!(
            retrier.decide(&asked, DEFAULT_RETRY_MAX_TIME),
            Decision::OutOfTime
        );
        let unlimited = Policy {
            max_time: None,
            ..Policy::default()
        };
        assert_eq!(
            delay(Retrier::new(unlimited.clone(), 0).decide(&asked, Duration::from_secs(86_400))),
            Duration::from_secs(3600)
        );
        // Without a window, a server still cannot make us wait for years.
        let years = Attempt {
            retry_after: Some(Duration::from_secs(u64::MAX)),
            ..failed(Failure::Status(503))
        };
        assert_eq!(
            delay(Retrier::new(unlimited, 0).decide(&years, Duration::ZERO)),
            MAX_SERVER_WAIT
        );
    }

    #[test]
    fn progress_opens_the_retry_window_again() {
        // A download that keeps getting further runs past the window.
        let mut retrier = Retrier::new(Policy::default(), 0);
        let hour = Duration::from_secs(3600);
        assert_eq!(delay(retrier.decide(&cut(100), hour)), Duration::ZERO);
        assert_eq!(delay(retrier.decide(&cut(200), 2 * hour)), Duration::ZERO);
        // Without progress, the window runs from the last high-water mark.
        assert!(matches!(
            retrier.decide(&cut(200), 2 * hour + Duration::from_secs(60)),
            Decision::Retry { .. }
        ));
        assert_eq!(
            retrier.decide(&cut(200), 2 * hour + DEFAULT_RETRY_MAX_TIME),
            Decision::OutOfTime
        );
    }

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(retry_after(b"120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(b" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            retry_after(b"Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(b"Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            retry_after(b"99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(retry_after(b"-5", now), None);
        assert_eq!(retry_after(b"soon", now), None);
        assert_eq!(retry_after(b"", now), None);
    }
}
