//! Which URL a transfer slot takes next: the first in input order whose
//! host has fewer than `--parallel-max-host` transfers under way. A host
//! that could not be reached, retries exhausted, is not tried again: its
//! remaining URLs are handed out as already failed.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::exit::Code;

/// What a slot is given to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Task {
    /// Fetch the URL at this index.
    Fetch(usize),
    /// The URL at this index fails without a try: its host could not be
    /// reached earlier in the run, with this code.
    Unreachable(usize, Code),
}

struct State {
    /// The indexes not yet handed out, in input order.
    pending: VecDeque<usize>,
    /// The transfers under way for each host.
    active: HashMap<String, usize>,
    /// The hosts that could not be reached, and the code they failed with.
    unreachable: HashMap<String, Code>,
    stopped: bool,
    /// The slots waiting for a host's turn: only then is a change worth
    /// waking them for.
    waiting: usize,
}

/// The URLs of a run waiting for a slot.
pub struct Schedule {
    /// The host of each URL, by index.
    hosts: Vec<String>,
    max_per_host: usize,
    state: Mutex<State>,
    changed: Condvar,
}

impl Schedule {
    /// A schedule of URLs whose hosts are `hosts` (by index), at most
    /// `max_per_host` (at least 1) under way for one host.
    pub fn new(hosts: Vec<String>, max_per_host: usize) -> Schedule {
        Schedule {
            state: Mutex::new(State {
                pending: (0..hosts.len()).collect(),
                active: HashMap::new(),
                unreachable: HashMap::new(),
                stopped: false,
                waiting: 0,
            }),
            hosts,
            max_per_host: max_per_host.max(1),
            changed: Condvar::new(),
        }
    }

    /// The next task, waiting while every pending URL's host is at its
    /// cap; `None` when nothing is left or the run is stopped.
    pub fn take(&self) -> Option<Task> {
        let mut state = self.lock();
        loop {
            if state.stopped || state.pending.is_empty() {
                return None;
            }
            let ready = state.pending.iter().position(|&index| {
                let host = &self.hosts[index];
                state.unreachable.contains_key(host)
                    || state.active.get(host).copied().unwrap_or(0) < self.max_per_host
            });
            if let Some(at) = ready {
                let index = state.pending.remove(at)?;
                let host = &self.hosts[index];
                if let Some(&code) = state.unreachable.get(host) {
                    return Some(Task::Unreachable(index, code));
                }
                *state.active.entry(host.clone()).or_default() += 1;
                return Some(Task::Fetch(index));
            }
            state.waiting += 1;
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            state.waiting -= 1;
        }
    }

    /// The transfer of `index` is over; `unreachable` gives the code when
    /// its host could not be reached at all.
    pub fn done(&self, index: usize, unreachable: Option<Code>) {
        let mut state = self.lock();
        let host = &self.hosts[index];
        if let Some(active) = state.active.get_mut(host) {
            *active -= 1;
            if *active == 0 {
                state.active.remove(host);
            }
        }
        if let Some(code) = unreachable {
            state.unreachable.insert(host.clone(), code);
        }
        let waiting = state.waiting > 0;
        drop(state);
        if waiting {
            self.changed.notify_all();
        }
    }

    /// Hands out nothing more (`--fail-early`); what is under way ends as
    /// it would.
    pub fn stop(&self) {
        self.lock().stopped = true;
        self.changed.notify_all();
    }

    /// The URLs never handed out.
    #[cfg(test)]
    pub fn left(&self) -> usize {
        self.lock().pending.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Indexes and counts stay consistent whatever a panicking holder did.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn a_host_at_its_cap_lets_the_next_host_go_first() {
        let schedule = Schedule::new(hosts(&["a", "a", "b"]), 1);
        assert_eq!(schedule.take(), Some(Task::Fetch(0)));
        assert_eq!(schedule.take(), Some(Task::Fetch(2)), "a is at its cap");
        schedule.done(0, None);
        assert_eq!(schedule.take(), Some(Task::Fetch(1)));
        assert_eq!(schedule.take(), None);
    }

    #[test]
    fn an_unreachable_host_fails_its_other_urls_without_a_try() {
        let schedule = Schedule::new(hosts(&["a", "b", "a"]), 6);
        assert_eq!(schedule.take(), Some(Task::Fetch(0)));
        schedule.done(0, Some(Code::CouldntConnect));
        assert_eq!(schedule.take(), Some(Task::Fetch(1)));
        assert_eq!(
            schedule.take(),
            Some(Task::Unreachable(2, Code::CouldntConnect))
        );
    }

    #[test]
    fn a_stopped_schedule_hands_out_nothing_and_wakes_its_waiters() {
        let schedule = Schedule::new(hosts(&["a", "a"]), 1);
        assert_eq!(schedule.take(), Some(Task::Fetch(0)));
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| schedule.take());
            schedule.stop();
            assert_eq!(waiter.join().unwrap(), None);
        });
        assert_eq!(schedule.left(), 1);
    }
}
