//! Load mode (`sockdemo client --connections N --rounds M`): N connections
//! held open at once, M round trips on each (or as many as fit in
//! `--duration`), every reply checked byte for byte, and one summary.
//!
//! The wire format is the tutorial's raw mode: each name goes out as one
//! small write with no line ending, and exactly one message is in flight per
//! connection, so each read on the server side holds exactly one message.
//! Every greeting server understands that: sockdemo's (a connection stays in
//! raw mode until it sees a newline), the tutorial's `seed_server.py` (which
//! only knows raw mode: `name\n` would come back as `Hello, name\n!`), and the
//! benchmark's floor server.
//!
//! One thread per connection, like the server, so the code reads like the
//! tutorial's client run N times; how many threads the process can hold is
//! checked first ([`crate::capacity`]), so that too many is a clear error,
//! not an abort. The run has three phases, separated by checkpoints: every
//! connection connects and reads its welcome; then all do their round trips
//! together (the timed phase: a slow connect storm does not count against
//! the server's round-trip rate); then, once every connection is done, each
//! says `exit` and waits for the server to close. So all N connections are
//! open at the same time while the round trips run.
//!
//! Latencies go into one HDR histogram, in batches from each thread, so
//! memory does not grow with the number of round trips. Ctrl-C ends the
//! timed phase early: the summary then covers what was measured, and the
//! process exits 130. What is reported, and how, is the `summary` module's.

mod summary;

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};

use super::Connection;
use crate::capacity;
use crate::exit::{Code, fail};
use crate::greeting::{EXIT, WELCOME, write_reply};
use crate::human::thousands;
use crate::platform::memory;
use crate::platform::signals::{self, SIGINT};
use summary::{Summary, report};

/// What load mode does, from the command line.
#[derive(Debug, Clone)]
pub struct Load {
    /// Connections held open at the same time.
    pub connections: usize,
    /// How long the timed phase goes on.
    pub run: Run,
    /// Print the summary as one JSON object.
    pub json: bool,
    /// Write the latency distribution to this file (HdrHistogram's text format).
    pub histogram: Option<PathBuf>,
}

/// How long the timed phase goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// This many round trips on each connection.
    Rounds(u64),
    /// As many round trips as fit in this time.
    For(Duration),
}

/// The most `--rounds` accepted: a billion round trips per connection is
/// hours of load at any rate one machine reaches.
pub const MAX_ROUNDS: u64 = 1_000_000_000;

/// Stack of each connection's thread: enough for the connection's few frames
/// and the formatting of an error message, with a wide margin; small, so that
/// 10,000 threads stay cheap.
const THREAD_STACK: usize = 128 * 1024;

/// Latencies are recorded in nanoseconds, up to an hour, to 3 significant digits.
const LATENCY_MAX_NS: u64 = 3_600_000_000_000;

/// Latencies a thread collects before adding them to the shared histogram:
/// 2 KiB per thread, and the histogram's lock taken once per 256 round trips.
const LATENCY_BATCH: usize = 256;

/// After Ctrl-C, how long round trips in flight get to finish and be counted.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// How often the progress line is redrawn, and the main thread looks for Ctrl-C.
const TICK: Duration = Duration::from_millis(100);

/// Runs the load and prints its summary; fails with the code of the first
/// failed connection when any failed, and with 130 after Ctrl-C.
pub(super) fn run(
    addrs: &[SocketAddr],
    timeout: Option<Duration>,
    load: &Load,
) -> anyhow::Result<()> {
    let connections = load.connections;
    ensure_capacity(connections)?;
    let stop = Arc::new(AtomicBool::new(false));
    // A second Ctrl-C ends the process at once, the first one the run.
    signals::flag_then_exit(SIGINT, &stop, Code::Interrupted as i32).context("handling Ctrl-C")?;

    let shared = Arc::new(Shared::new(stop));
    let progress = std::io::stderr()
        .is_terminal()
        .then(|| Progress::start(Arc::clone(&shared), connections, load.run))
        .flatten();

    let mut workers = Vec::with_capacity(connections);
    for index in 0..connections {
        let worker = Arc::clone(&shared);
        let addrs = addrs.to_vec();
        let run = load.run;
        let spawned = thread::Builder::new()
            .name(format!("load-{index}"))
            .stack_size(THREAD_STACK)
            .spawn(move || drive(index, &addrs, timeout, run, &worker));
        match spawned {
            Ok(worker) => workers.push(worker),
            Err(err) => shared.failed(
                index,
                anyhow::Error::new(err)
                    .context(format!("connection {index}: cannot start a thread for it")),
            ),
        }
    }

    let started = workers.len();
    shared.greeted.wait_for(started, &shared.stop, None);
    let start = Instant::now();
    shared.greeted.release();
    let all_done = shared.finished.wait_for(started, &shared.stop, None);
    if !all_done {
        // Ctrl-C: let the round trips in flight finish and be counted.
        shared
            .finished
            .wait_for(started, &AtomicBool::new(false), Some(STOP_WAIT));
    }
    let elapsed = start.elapsed();
    let interrupted = shared.stop.load(Ordering::SeqCst);
    if !interrupted {
        shared.finished.release();
        for worker in workers {
            if worker.join().is_err() {
                shared.failed(
                    usize::MAX,
                    anyhow::anyhow!("a connection's thread panicked"),
                );
            }
        }
    }
    if let Some(progress) = progress {
        progress.stop();
    }
    let summary = Summary::of(&shared, connections, elapsed, interrupted);
    report(&summary, load)?;
    summary.verdict()
}

/// What every connection's thread shares with the main thread.
struct Shared {
    /// Passed once connected and welcomed (or failed trying).
    greeted: Checkpoint,
    /// Passed once the round trips are done (or failed).
    finished: Checkpoint,
    /// Set by Ctrl-C: stop the round trips.
    stop: Arc<AtomicBool>,
    /// Round trips completed so far, for the progress line.
    round_trips: AtomicU64,
    /// Every latency measured, in nanoseconds.
    latency: Mutex<Histogram<u64>>,
    /// Connections that failed, and the failure of the lowest-numbered one.
    failures: Mutex<Failures>,
}

#[derive(Default)]
struct Failures {
    count: usize,
    first: Option<(usize, anyhow::Error)>,
}

impl Shared {
    fn new(stop: Arc<AtomicBool>) -> Shared {
        Shared {
            greeted: Checkpoint::default(),
            finished: Checkpoint::default(),
            stop,
            round_trips: AtomicU64::new(0),
            latency: Mutex::new(
                Histogram::new_with_bounds(1, LATENCY_MAX_NS, 3)
                    .expect("constant histogram bounds are valid"),
            ),
            failures: Mutex::new(Failures::default()),
        }
    }

    /// Counts connection `index` as failed with `error`.
    fn failed(&self, index: usize, error: anyhow::Error) {
        let mut failures = lock(&self.failures);
        failures.count += 1;
        if failures
            .first
            .as_ref()
            .is_none_or(|(first, _)| index < *first)
        {
            failures.first = Some((index, error));
        }
    }

    /// Adds a batch of latencies to the histogram, and empties the batch.
    fn record(&self, batch: &mut Vec<u64>) {
        let mut latency = lock(&self.latency);
        for &ns in batch.iter() {
            latency.saturating_record(ns);
        }
        batch.clear();
    }
}

/// One connection's life: connect and read the welcome, do the round trips,
/// then say `exit` and see the server close. Every phase's checkpoint is
/// passed whatever happens, so the main thread never waits for a connection
/// that already failed.
fn drive(index: usize, addrs: &[SocketAddr], timeout: Option<Duration>, run: Run, shared: &Shared) {
    let mut batch = Vec::with_capacity(LATENCY_BATCH);
    let greeted = Connection::open(addrs, timeout).and_then(|mut connection| {
        connection.expect(WELCOME)?;
        Ok(connection)
    });
    shared.greeted.arrive_and_wait();
    let deadline = match run {
        Run::For(duration) => Instant::now().checked_add(duration),
        Run::Rounds(_) => None,
    };
    let talked = greeted.and_then(|mut connection| {
        round_trips(&mut connection, index, run, deadline, &mut batch, shared)?;
        Ok(connection)
    });
    shared.record(&mut batch);
    let talked = match talked {
        Ok(connection) => Some(connection),
        Err(err) => {
            shared.failed(index, err.context(format!("connection {index}")));
            None
        }
    };
    shared.finished.arrive_and_wait();
    if let Some(mut connection) = talked {
        let closed = connection
            .send(EXIT)
            .and_then(|()| connection.expect_close());
        if let Err(err) = closed {
            shared.failed(index, err.context(format!("connection {index}")));
        }
    }
}

/// Round trips with names unique to this connection and round, each reply
/// checked whole, each latency recorded in nanoseconds; until the rounds
/// are done, the deadline passes, or Ctrl-C.
fn round_trips(
    connection: &mut Connection,
    index: usize,
    run: Run,
    deadline: Option<Instant>,
    batch: &mut Vec<u64>,
    shared: &Shared,
) -> anyhow::Result<()> {
    let rounds = match run {
        Run::Rounds(rounds) => rounds,
        Run::For(_) => u64::MAX,
    };
    let mut name = Vec::with_capacity(32);
    let mut reply = Vec::with_capacity(48);
    for round in 0..rounds {
        if shared.stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        name.clear();
        write!(name, "c{index}r{round}")?;
        reply.clear();
        write_reply(&name, &mut reply);
        let sent = Instant::now();
        connection.send(&name)?;
        connection.expect(&reply)?;
        batch.push(u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX));
        if batch.len() == LATENCY_BATCH {
            shared.record(batch);
        }
        shared.round_trips.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// A point every connection's thread passes: each arrives and waits until
/// the main thread, having seen all of them arrive, releases them together.
#[derive(Default)]
struct Checkpoint {
    state: Mutex<CheckpointState>,
    /// Wakes the main thread on each arrival (one waiter, not N).
    arrival: Condvar,
    /// Wakes every waiting thread, once, on release.
    release: Condvar,
}

#[derive(Default)]
struct CheckpointState {
    arrived: usize,
    released: bool,
}

impl Checkpoint {
    fn arrive_and_wait(&self) {
        let mut state = lock(&self.state);
        state.arrived += 1;
        self.arrival.notify_one();
        while !state.released {
            state = self
                .release
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Waits until `count` threads have arrived (true), `stop` is set, or
    /// `within` has passed (false).
    fn wait_for(&self, count: usize, stop: &AtomicBool, within: Option<Duration>) -> bool {
        let deadline = within.map(|within| Instant::now() + within);
        let mut state = lock(&self.state);
        while state.arrived < count {
            if stop.load(Ordering::SeqCst) || deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            // Woken by arrivals; the tick is for Ctrl-C, which cannot notify.
            state = self
                .arrival
                .wait_timeout(state, TICK)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    fn release(&self) {
        lock(&self.state).released = true;
        self.release.notify_all();
    }
}

/// Locks a mutex that guards counters only: a poisoned one is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Raises the soft limit on open files to the hard limit (as the server
/// does), and refuses up front, naming the limit, when the process cannot
/// hold a thread and a socket for every connection.
fn ensure_capacity(connections: usize) -> anyhow::Result<()> {
    crate::platform::open_files::raise_to_hard_limit().context("raising the open file limit")?;
    let arenas = memory::limit_malloc_arenas(capacity::malloc_arenas(memory::cores()));
    let limits = crate::platform::limits::limits(THREAD_STACK, arenas);
    let capacity = capacity::connections(&limits);
    if connections > capacity.get() {
        return Err(fail(
            Code::Failure,
            format!(
                "{} connections need a thread and a socket each, more than this process can hold: {capacity}",
                thousands(connections as u64)
            ),
        ));
    }
    Ok(())
}

/// The progress line on stderr, for a person watching a terminal.
struct Progress {
    done: Arc<AtomicBool>,
    ticker: thread::JoinHandle<()>,
}

impl Progress {
    /// Starts redrawing the line; `None` (no progress shown) if no thread can be had for it.
    fn start(shared: Arc<Shared>, connections: usize, run: Run) -> Option<Progress> {
        let done = Arc::new(AtomicBool::new(false));
        let bar = match run {
            Run::Rounds(rounds) => ProgressBar::new((connections as u64).saturating_mul(rounds))
                .with_style(
                    ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} round trips")
                        .expect("constant template is valid")
                        .progress_chars("=> "),
                ),
            Run::For(_) => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{msg} {spinner} {pos} round trips")
                    .expect("constant template is valid"),
            ),
        };
        let stop = Arc::clone(&done);
        let ticker = thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let greeted = lock(&shared.greeted.state).arrived;
                    bar.set_message(format!("{greeted}/{connections} connected"));
                    bar.set_position(shared.round_trips.load(Ordering::Relaxed));
                    thread::sleep(TICK);
                }
                bar.finish_and_clear();
            });
        Some(Progress {
            done,
            ticker: ticker.ok()?,
        })
    }

    fn stop(self) {
        self.done.store(true, Ordering::Relaxed);
        let _ = self.ticker.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_wait_ends_on_stop_or_time() {
        let checkpoint = Checkpoint::default();
        let stopped = AtomicBool::new(true);
        assert!(!checkpoint.wait_for(1, &stopped, None));
        let running = AtomicBool::new(false);
        assert!(!checkpoint.wait_for(1, &running, Some(Duration::from_millis(10))));
        assert!(checkpoint.wait_for(0, &running, None));
    }
}
