//! Admission by the memory control group's use, beside the capacity rule.
//!
//! The capacity rule counts an idle connection's memory, with a margin for
//! the few clients that hold a long line. When many do at once, the group
//! fills up although the number of connections is within the rule, and the
//! kernel kills the server rather than fail an allocation. So while the
//! group's use is near its limit, new clients are told `Busy` too: the
//! memory the live ones hold is left to them. It is read at most once per
//! [`CHECK_EVERY`], so that a flood of clients costs a few file reads a
//! second, not one per client.

use std::time::{Duration, Instant};

use crate::capacity::{MEMORY_MARGIN, MEMORY_PER_CONNECTION};
use crate::platform::memory;

/// How often the group's use is read while clients arrive.
const CHECK_EVERY: Duration = Duration::from_millis(10);

/// The group's memory a new client needs to find free: its own cost, and
/// half the capacity rule's margin, so that the other half stays for the
/// live clients' lines and replies.
const ROOM_FOR_ONE_MORE: u64 = MEMORY_PER_CONNECTION + MEMORY_MARGIN / 2;

/// The accept loop's view of the memory control group.
#[derive(Debug)]
pub struct Pressure {
    /// Whether the process is in a group with a memory limit at all.
    limited: bool,
    last_check: Option<Instant>,
    /// The group's limit and use at the last check, when it was too full.
    full: Option<(u64, u64)>,
}

impl Pressure {
    /// Watches the group if `limited` (the capacity rule found a limit).
    pub fn new(limited: bool) -> Pressure {
        Pressure {
            limited,
            last_check: None,
            full: None,
        }
    }

    /// The group's limit and use if it is too full for one more client.
    pub fn full(&mut self) -> Option<(u64, u64)> {
        if !self.limited {
            return None;
        }
        let now = Instant::now();
        if self
            .last_check
            .is_none_or(|last| now.duration_since(last) >= CHECK_EVERY)
        {
            self.last_check = Some(now);
            self.full = match memory::memory_cgroup() {
                Some((Some(limit), used)) if too_full(limit, used) => Some((limit, used)),
                _ => None,
            };
        }
        self.full
    }
}

/// Whether a group using `used` bytes of its `limit` is too full for one
/// more client.
fn too_full(limit: u64, used: u64) -> bool {
    used.saturating_add(ROOM_FOR_ONE_MORE) > limit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_needs_its_cost_and_half_the_margin_free() {
        let limit = 100 << 20;
        assert!(!too_full(limit, 0));
        assert!(!too_full(limit, limit - ROOM_FOR_ONE_MORE));
        assert!(too_full(limit, limit - ROOM_FOR_ONE_MORE + 1));
        assert!(too_full(limit, u64::MAX));
        assert_eq!(ROOM_FOR_ONE_MORE, 48 * 1024 + 4 * 1024 * 1024);
    }

    #[test]
    fn without_a_limit_nothing_is_read_and_nobody_refused() {
        let mut pressure = Pressure::new(false);
        assert_eq!(pressure.full(), None);
        assert_eq!(pressure.last_check, None);
    }
}
