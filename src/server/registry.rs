//! The registry of live connections: who holds a slot, how many were served
//! and refused, and where shutdown stands. One mutex guards the connections
//! and the totals; it is taken when a connection is accepted and when it
//! ends, never per message. The stage is an atomic beside it, so that every
//! connection can look at it between messages for the cost of one load: a
//! busy connection then ends itself as soon as the server stops, instead of
//! waiting for its turn to be shut down while thousands like it keep the
//! cores busy.
//!
//! Each live connection's socket is registered so that, at the end of the
//! grace period, shutdown can close the ones still open. The registry shares
//! the socket (an `Arc`), so the descriptor stays valid for as long as it is
//! registered and no second descriptor is spent per connection. Shutting
//! thousands of sockets down takes a while, so it happens on a snapshot of
//! them, with the lock released: connections that end meanwhile are not held
//! up, nor is anything waiting for them.

use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::platform::send_queue;

/// Where the server stands in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Stage {
    /// Accepting and serving.
    Running,
    /// Asked to stop: no new connections, live ones get the grace period.
    Draining,
    /// The grace period is over: live connections close, lingering so
    /// that their last replies are delivered.
    Closing,
    /// Asked twice: close live connections now, without lingering.
    Hurrying,
}

impl Stage {
    const ALL: [Stage; 4] = [
        Stage::Running,
        Stage::Draining,
        Stage::Closing,
        Stage::Hurrying,
    ];
}

/// Totals for the summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Connections admitted and given a thread since the start.
    pub served: u64,
    /// Connections turned away with the busy line: the server was full,
    /// or no thread could be started for them.
    pub refused: u64,
    /// The most connections alive at once.
    pub peak: usize,
}

/// The live connections and the server's stage, shared by all threads.
#[derive(Debug)]
pub struct Registry {
    state: Mutex<State>,
    /// Notified when a connection ends and when the stage changes.
    changed: Condvar,
    /// The [`Stage`], as its number; it only grows. Shared with the signal
    /// handler that raises it on a second signal.
    stage: Arc<AtomicU8>,
    max_connections: usize,
}

#[derive(Debug)]
struct State {
    live: HashMap<u64, Arc<TcpStream>>,
    next_id: u64,
    /// Admitted, but turned away because no thread could be started.
    unstarted: u64,
    refused: u64,
    peak: usize,
}

/// A connection's place in the registry. Dropping it (also while unwinding
/// from a panic) frees the place.
#[derive(Debug)]
pub struct Slot {
    registry: Arc<Registry>,
    id: u64,
    peer: SocketAddr,
}

impl Registry {
    /// An empty registry that admits up to `max_connections` at once.
    pub fn new(max_connections: usize) -> Arc<Registry> {
        Arc::new(Registry {
            state: Mutex::new(State {
                live: HashMap::new(),
                next_id: 0,
                unstarted: 0,
                refused: 0,
                peak: 0,
            }),
            changed: Condvar::new(),
            stage: Arc::new(AtomicU8::new(Stage::Running as u8)),
            max_connections,
        })
    }

    /// Registers a new connection, or counts it as refused (and returns
    /// `None`) when `max_connections` are already alive.
    pub fn admit(self: &Arc<Self>, stream: Arc<TcpStream>, peer: SocketAddr) -> Option<Slot> {
        let mut state = self.lock();
        if state.live.len() >= self.max_connections {
            state.refused += 1;
            return None;
        }
        let id = state.next_id;
        state.next_id += 1;
        state.live.insert(id, stream);
        Some(Slot {
            registry: Arc::clone(self),
            id,
            peer,
        })
    }

    /// Counts a connection turned away before it was admitted (the memory
    /// control group is nearly full).
    pub fn refuse(&self) {
        self.lock().refused += 1;
    }

    /// Counts an admitted connection whose thread could not be started:
    /// it was turned away, not served.
    pub fn not_started(&self) {
        self.lock().unstarted += 1;
    }

    /// Records that an admitted connection's thread started: it counts
    /// towards the most connections served at once.
    pub fn started(&self) {
        let mut state = self.lock();
        state.peak = state.peak.max(state.live.len());
    }

    /// The server's stage: one atomic load, cheap enough for every message.
    pub fn stage(&self) -> Stage {
        Stage::ALL[usize::from(self.stage.load(Ordering::Acquire))]
    }

    /// The stage's atomic itself, for a signal handler to raise to
    /// [`Stage::Hurrying`] with one `fetch_max`, as a handler may do, without
    /// waking anyone. Connections see it before their next read;
    /// [`Registry::advance`], which everything else uses, wakes the waiters.
    pub fn stage_level(&self) -> Arc<AtomicU8> {
        Arc::clone(&self.stage)
    }

    /// Moves the server on to `stage` (never back) and wakes everyone waiting.
    pub fn advance(&self, stage: Stage) {
        self.stage.fetch_max(stage as u8, Ordering::AcqRel);
        // Taking the lock orders this notification after any waiter's check
        // of the stage, so that none misses it.
        let _state = self.lock();
        self.changed.notify_all();
    }

    /// Sleeps for `timeout`, or less if the server is asked to stop meanwhile.
    pub fn sleep_unless_stopping(&self, timeout: Duration) {
        let state = self.lock();
        let _ = self
            .changed
            .wait_timeout_while(state, timeout, |_| self.stage() == Stage::Running)
            .unwrap_or_else(PoisonError::into_inner);
    }

    /// Waits until no connection is alive, `deadline` passes, or the stage
    /// reaches [`Stage::Hurrying`]. Returns how many connections are still alive.
    pub fn wait_for_grace(&self, deadline: Instant) -> usize {
        self.wait_until(deadline, |state| {
            state.live.is_empty() || self.stage() == Stage::Hurrying
        })
    }

    /// Waits until no connection is alive or `deadline` passes. Returns how
    /// many connections are still alive.
    pub fn wait_until_empty(&self, deadline: Instant) -> usize {
        self.wait_until(deadline, |state| state.live.is_empty())
    }

    fn wait_until(&self, deadline: Instant, done: impl Fn(&State) -> bool) -> usize {
        let mut state = self.lock();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if done(&state) || left.is_zero() {
                return state.live.len();
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Shuts down every live socket, from a snapshot taken without holding
    /// the lock; returns how many there were.
    ///
    /// `Shutdown::Both` (a second signal) ends every connection at once:
    /// blocked reads see the end of the stream, blocked writes fail.
    /// `Shutdown::Write` (the end of the grace period) sends each client the
    /// end of the stream after its queued replies and leaves reading open:
    /// Linux answers data that reaches a socket shut down both ways, and
    /// closing, with a reset that destroys the replies still queued, so a
    /// client still sending must be read until it stops (the lingering close).
    pub fn shut_down_all(&self, how: Shutdown) -> usize {
        let live: Vec<Arc<TcpStream>> = self.lock().live.values().cloned().collect();
        for stream in &live {
            // A socket the peer already reset cannot be shut down; it is ending anyway.
            let _ = stream.shutdown(how);
        }
        live.len()
    }

    /// Shuts down, both ways, every live socket that is idle: nothing unread,
    /// every byte sent acknowledged (see [`send_queue::idle`]). Its
    /// connection, blocked in a read, sees the end of the stream at once and
    /// closes, losing nothing. The others are shut down for writing only,
    /// when `others` says so, and close by lingering. Returns how many were
    /// idle.
    ///
    /// A client that sends a last message just after its socket was found
    /// idle gets a reset instead of the end of the stream: the server would
    /// not have answered it anyway, as the grace period is over.
    pub fn shut_down_idle(&self, others: Option<Shutdown>) -> usize {
        let live: Vec<Arc<TcpStream>> = self.lock().live.values().cloned().collect();
        let mut idle = 0;
        for stream in &live {
            let how = if send_queue::idle(stream) {
                idle += 1;
                Shutdown::Both
            } else if let Some(how) = others {
                how
            } else {
                continue;
            };
            // A socket the peer already reset cannot be shut down; it is ending anyway.
            let _ = stream.shutdown(how);
        }
        idle
    }

    /// The totals so far.
    pub fn totals(&self) -> Totals {
        let state = self.lock();
        Totals {
            served: state.next_id - state.unstarted,
            refused: state.refused + state.unstarted,
            peak: state.peak,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The lock is never held across code that can panic, so a poisoned
        // state is still consistent: carry on rather than take the server down.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Slot {
    /// The number of this connection, counted from 0 since the start.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether the server was asked to stop twice: connections close at
    /// once, without lingering.
    pub fn hurrying(&self) -> bool {
        self.registry.stage() == Stage::Hurrying
    }

    /// Whether live connections are to close now (the grace period is over,
    /// or a second signal came).
    pub fn closing(&self) -> bool {
        self.registry.stage() >= Stage::Closing
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if thread::panicking() {
            log::error!(
                "connection from {} ended by a panic; the server goes on",
                self.peer
            );
        }
        let mut state = self.registry.lock();
        state.live.remove(&self.id);
        self.registry.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn socket_pair() -> (Arc<TcpStream>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        (Arc::new(server), client)
    }

    fn peer() -> SocketAddr {
        "127.0.0.1:1".parse().expect("address")
    }

    #[test]
    fn admits_up_to_the_limit_and_counts_the_refused() {
        let registry = Registry::new(2);
        let (a, _ca) = socket_pair();
        let (b, _cb) = socket_pair();
        let (c, _cc) = socket_pair();
        let slot_a = registry.admit(a, peer()).expect("first");
        registry.started();
        let _slot_b = registry.admit(b, peer()).expect("second");
        registry.started();
        assert!(registry.admit(Arc::clone(&c), peer()).is_none());
        drop(slot_a);
        assert!(registry.admit(c, peer()).is_some());
        registry.started();
        let totals = registry.totals();
        assert_eq!(
            totals,
            Totals {
                served: 3,
                refused: 1,
                peak: 2
            }
        );
    }

    #[test]
    fn a_connection_whose_thread_did_not_start_is_refused_not_served() {
        let registry = Registry::new(5);
        let (a, _ca) = socket_pair();
        let (b, _cb) = socket_pair();
        let _slot_a = registry.admit(a, peer()).expect("first");
        registry.started();
        let slot_b = registry.admit(b, peer()).expect("second");
        registry.not_started();
        drop(slot_b);
        assert_eq!(
            registry.totals(),
            Totals {
                served: 1,
                refused: 1,
                peak: 1
            }
        );
    }

    #[test]
    fn a_panic_releases_the_slot() {
        let registry = Registry::new(1);
        let (stream, _client) = socket_pair();
        let slot = registry.admit(stream, peer()).expect("admitted");
        let outcome = thread::spawn(move || {
            let _slot = slot;
            panic!("a bug in one connection");
        })
        .join();
        assert!(outcome.is_err());
        assert_eq!(registry.wait_until_empty(Instant::now()), 0);
        let (stream, _client) = socket_pair();
        assert!(registry.admit(stream, peer()).is_some());
    }

    #[test]
    fn shutting_down_ends_a_blocked_read() {
        use std::io::Read;
        let registry = Registry::new(1);
        let (stream, _client) = socket_pair();
        let slot = registry
            .admit(Arc::clone(&stream), peer())
            .expect("admitted");
        let reader = thread::spawn(move || {
            let _slot = slot;
            let mut byte = [0u8; 1];
            (&*stream).read(&mut byte).map_err(|e| e.kind())
        });
        thread::sleep(Duration::from_millis(50));
        assert_eq!(registry.shut_down_all(Shutdown::Both), 1);
        let deadline = Instant::now() + Duration::from_secs(10);
        assert_eq!(registry.wait_until_empty(deadline), 0);
        assert_eq!(reader.join().expect("reader"), Ok(0));
    }

    #[test]
    fn stages_only_move_forward_and_wake_sleepers() {
        let registry = Registry::new(1);
        let sleeper = {
            let registry = Arc::clone(&registry);
            thread::spawn(move || {
                let start = Instant::now();
                registry.sleep_unless_stopping(Duration::from_secs(30));
                start.elapsed()
            })
        };
        thread::sleep(Duration::from_millis(50));
        registry.advance(Stage::Hurrying);
        registry.advance(Stage::Draining);
        assert_eq!(registry.stage(), Stage::Hurrying);
        for stage in Stage::ALL {
            assert_eq!(Stage::ALL[stage as usize], stage);
        }
        assert!(sleeper.join().expect("sleeper") < Duration::from_secs(10));
    }
}
