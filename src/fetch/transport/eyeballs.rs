//! Happy Eyeballs (RFC 8305 sections 4 and 5), the rules alone: in which
//! order the addresses of a name are tried, and when the next attempt
//! starts. No socket here: [`super::tcp`] plays the [`Schedule`] with real
//! connections, and the tests below play it with a clock of their own.
//!
//! A name often has an IPv6 and an IPv4 address, and on many networks one
//! of the two is broken: the address resolves, and the packets vanish.
//! Trying the addresses one after another waits out the whole connect
//! timeout on the broken one; trying them all at once floods the server.
//! Happy Eyeballs starts with the resolver's first choice, gives it a short
//! head start, then starts the next address of the other family while the
//! first is still pending, and so on: the first connection to succeed wins.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// How long an attempt has to itself before the next one starts: RFC 8305
/// section 5's recommended "Connection Attempt Delay", as curl and the
/// browsers use. Longer than a round trip on most paths, short enough that
/// a broken family costs a user little.
pub const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// The address families a connection may use (`-4`, `-6`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Family {
    /// IPv4 and IPv6, as the name resolves.
    #[default]
    Any,
    /// IPv4 only (`-4`, `--ipv4`).
    V4,
    /// IPv6 only (`-6`, `--ipv6`).
    V6,
}

impl Family {
    /// Whether an address of this family may be used.
    pub fn admits(self, ip: IpAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
        }
    }

    /// The family's name in messages, with its flag.
    pub fn name(self) -> &'static str {
        match self {
            Family::Any => "IP",
            Family::V4 => "IPv4 (-4)",
            Family::V6 => "IPv6 (-6)",
        }
    }
}

/// The addresses in the order they are tried (RFC 8305 section 4): the
/// resolver's first, then alternately one of the other family and one of
/// the first's, each family in the resolver's order; what is left of the
/// longer family at the end. A repeated address is tried once.
pub fn interleave(addrs: &[IpAddr]) -> Vec<IpAddr> {
    let mut seen = Vec::with_capacity(addrs.len());
    for &addr in addrs {
        if !seen.contains(&addr) {
            seen.push(addr);
        }
    }
    let Some(first) = seen.first().copied() else {
        return seen;
    };
    let (mut preferred, mut other): (VecDeque<IpAddr>, VecDeque<IpAddr>) = seen
        .into_iter()
        .partition(|addr| addr.is_ipv4() == first.is_ipv4());
    let mut order = Vec::with_capacity(preferred.len() + other.len());
    while !preferred.is_empty() || !other.is_empty() {
        order.extend(preferred.pop_front());
        order.extend(other.pop_front());
    }
    order
}

/// What a race does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Start an attempt to this address now.
    Start(SocketAddr),
    /// Wait for a pending attempt to end, until this time at most (`None`:
    /// no next attempt to start; only a pending one can end the wait).
    Wait(Option<Instant>),
    /// Every attempt has failed: the race is lost.
    Lost,
}

/// When each attempt of a race starts (RFC 8305 section 5): the first at
/// once, each next one [`ATTEMPT_DELAY`] after the one before while that is
/// still pending, or at once when no attempt is pending (they all failed).
/// The race's caller says when an attempt fails ([`Schedule::failed`]); the
/// first to succeed ends the race, which is the caller's to see.
#[derive(Debug)]
pub struct Schedule {
    waiting: VecDeque<SocketAddr>,
    pending: usize,
    /// When the next attempt may start while others are pending.
    next_at: Option<Instant>,
    delay: Duration,
}

impl Schedule {
    /// A race over `addrs`, tried in this order, each next one `delay`
    /// after the one before.
    pub fn new(addrs: &[SocketAddr], delay: Duration) -> Schedule {
        Schedule {
            waiting: addrs.iter().copied().collect(),
            pending: 0,
            next_at: None,
            delay,
        }
    }

    /// What to do at `now`: start the next attempt, wait, or give up.
    pub fn next(&mut self, now: Instant) -> Next {
        let due = self.pending == 0 || self.next_at.is_none_or(|at| at <= now);
        match self.waiting.front() {
            Some(&addr) if due => {
                self.waiting.pop_front();
                self.pending += 1;
                self.next_at = now.checked_add(self.delay);
                Next::Start(addr)
            }
            Some(_) => Next::Wait(self.next_at),
            None if self.pending > 0 => Next::Wait(None),
            None => Next::Lost,
        }
    }

    /// An attempt failed: the next one need not wait for its head start.
    pub fn failed(&mut self) {
        self.pending = self.pending.saturating_sub(1);
        self.next_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(text: &[&str]) -> Vec<IpAddr> {
        text.iter().map(|ip| ip.parse().unwrap()).collect()
    }

    #[test]
    fn families_alternate_starting_with_the_resolvers_first() {
        let v6_first = ips(&["2001:db8::1", "2001:db8::2", "192.0.2.1", "192.0.2.2"]);
        assert_eq!(
            interleave(&v6_first),
            ips(&["2001:db8::1", "192.0.2.1", "2001:db8::2", "192.0.2.2"])
        );
        let v4_first = ips(&["192.0.2.1", "2001:db8::1", "2001:db8::2", "2001:db8::3"]);
        assert_eq!(
            interleave(&v4_first),
            ips(&["192.0.2.1", "2001:db8::1", "2001:db8::2", "2001:db8::3"])
        );
        let one_family = ips(&["192.0.2.2", "192.0.2.1"]);
        assert_eq!(interleave(&one_family), one_family);
        let repeated = ips(&["::1", "127.0.0.1", "::1"]);
        assert_eq!(interleave(&repeated), ips(&["::1", "127.0.0.1"]));
        assert!(interleave(&[]).is_empty());
    }

    #[test]
    fn families_restrict() {
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        let v6: IpAddr = "::1".parse().unwrap();
        assert!(Family::Any.admits(v4) && Family::Any.admits(v6));
        assert!(Family::V4.admits(v4) && !Family::V4.admits(v6));
        assert!(Family::V6.admits(v6) && !Family::V6.admits(v4));
    }

    fn addrs(count: u16) -> Vec<SocketAddr> {
        (1..=count)
            .map(|port| SocketAddr::from(([192, 0, 2, 1], port)))
            .collect()
    }

    #[test]
    fn a_new_attempt_starts_every_250ms_while_earlier_ones_are_pending() {
        let [a, b, c] = addrs(3)[..] else { panic!() };
        let mut race = Schedule::new(&[a, b, c], ATTEMPT_DELAY);
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        assert_eq!(race.next(t0), Next::Start(a));
        assert_eq!(race.next(t0), Next::Wait(Some(ms(250))));
        assert_eq!(race.next(ms(249)), Next::Wait(Some(ms(250))));
        assert_eq!(race.next(ms(250)), Next::Start(b));
        assert_eq!(race.next(ms(300)), Next::Wait(Some(ms(500))));
        assert_eq!(race.next(ms(501)), Next::Start(c));
        // Nothing left to start: only a pending attempt can end the wait.
        assert_eq!(race.next(ms(900)), Next::Wait(None));
        race.failed();
        race.failed();
        assert_eq!(race.next(ms(900)), Next::Wait(None));
        race.failed();
        assert_eq!(race.next(ms(900)), Next::Lost);
    }

    #[test]
    fn a_failed_attempt_lets_the_next_start_at_once() {
        let [a, b, c] = addrs(3)[..] else { panic!() };
        let mut race = Schedule::new(&[a, b, c], ATTEMPT_DELAY);
        let t0 = Instant::now();
        assert_eq!(race.next(t0), Next::Start(a));
        // Refused after 1 ms: no reason to wait out the head start.
        race.failed();
        let t1 = t0 + Duration::from_millis(1);
        assert_eq!(race.next(t1), Next::Start(b));
        assert_eq!(
            race.next(t1),
            Next::Wait(Some(t1 + ATTEMPT_DELAY)),
            "b is pending: c waits for its turn"
        );
    }

    #[test]
    fn an_empty_race_is_lost_at_once() {
        assert_eq!(
            Schedule::new(&[], ATTEMPT_DELAY).next(Instant::now()),
            Next::Lost
        );
    }
}
