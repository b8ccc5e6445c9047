//! Load mode (`sockdemo client --connections N --rounds M`): N connections
//! held open at once, M round trips on each, every reply checked byte for
//! byte, and one summary line.
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
//! tutorial's client run N times. The run has three phases, separated by
//! checkpoints: every connection connects and reads its welcome; then all
//! do their round trips together (the timed phase: a slow connect storm
//! does not count against the server's round-trip rate); then, once every
//! connection is done, each says `exit` and waits for the server to close.
//! So all N connections are open at the same time while the round trips run.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};

use super::{Connection, EXIT};
use crate::exit::{Code, fail};
use crate::greeting::WELCOME;

/// Stack of each connection's thread: enough for the connection's few frames
/// and the formatting of an error message, with a wide margin; small, so that
/// 10,000 threads stay cheap.
const THREAD_STACK: usize = 128 * 1024;

/// Descriptors the process needs besides one per connection (stdio, and
/// whatever the runtime opens).
const SPARE_DESCRIPTORS: u64 = 32;

/// Latencies are recorded in nanoseconds, up to an hour, to 3 significant digits.
const LATENCY_MAX_NS: u64 = 3_600_000_000_000;

/// How often the progress line is redrawn.
const PROGRESS_TICK: Duration = Duration::from_millis(100);

/// Runs the load and prints its summary; fails with the code of the first
/// failed connection when any failed.
pub(super) fn run(
    addr: SocketAddr,
    timeout: Option<Duration>,
    connections: usize,
    rounds: usize,
) -> anyhow::Result<()> {
    ensure_descriptors(connections)?;
    let shared = Arc::new(Shared::default());
    let progress = std::io::stderr()
        .is_terminal()
        .then(|| Progress::start(Arc::clone(&shared), connections, rounds))
        .flatten();

    let mut workers = Vec::with_capacity(connections);
    let mut outcomes = Vec::with_capacity(connections);
    for index in 0..connections {
        let shared = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name(format!("load-{index}"))
            .stack_size(THREAD_STACK)
            .spawn(move || drive(index, addr, timeout, rounds, &shared));
        match spawned {
            Ok(worker) => workers.push(worker),
            Err(err) => outcomes
                .push(Outcome::failed(anyhow::Error::new(err).context(format!(
                    "connection {index}: cannot start a thread for it"
                )))),
        }
    }

    shared.greeted.wait_for(workers.len());
    let start = Instant::now();
    shared.greeted.release();
    shared.finished.wait_for(workers.len());
    let elapsed = start.elapsed();
    shared.finished.release();

    for worker in workers {
        outcomes.push(worker.join().unwrap_or_else(|_| {
            Outcome::failed(anyhow::anyhow!("a connection's thread panicked"))
        }));
    }
    if let Some(progress) = progress {
        progress.stop();
    }
    let summary = Summary::of(&outcomes, elapsed);
    match super::print_line(
        &mut std::io::stdout().lock(),
        summary.to_string().as_bytes(),
    ) {
        // With nobody reading the summary, the exit code still tells the outcome.
        Err(err) if !err.is::<super::StdoutClosed>() => return Err(err),
        _ => {}
    }
    summary.verdict(outcomes)
}

/// What every connection's thread shares with the main thread.
#[derive(Default)]
struct Shared {
    /// Passed once connected and welcomed (or failed trying).
    greeted: Checkpoint,
    /// Passed once the round trips are done (or failed).
    finished: Checkpoint,
    /// Round trips completed so far, for the progress line.
    round_trips: AtomicU64,
}

/// One connection's life: connect and read the welcome, do the round trips,
/// then say `exit` and see the server close. Every phase's checkpoint is
/// passed whatever happens, so the main thread never waits for a connection
/// that already failed.
fn drive(
    index: usize,
    addr: SocketAddr,
    timeout: Option<Duration>,
    rounds: usize,
    shared: &Shared,
) -> Outcome {
    let mut latencies = Vec::with_capacity(rounds);
    let greeted = Connection::open(addr, timeout).and_then(|mut connection| {
        connection.expect(WELCOME)?;
        Ok(connection)
    });
    shared.greeted.arrive_and_wait();
    let talked = greeted.and_then(|mut connection| {
        round_trips(&mut connection, index, rounds, &mut latencies, shared)?;
        Ok(connection)
    });
    shared.finished.arrive_and_wait();
    let closed = talked.and_then(|mut connection| {
        connection.send(EXIT)?;
        connection.expect_close()
    });
    Outcome {
        latencies,
        error: closed
            .err()
            .map(|err| err.context(format!("connection {index}"))),
    }
}

/// `rounds` round trips with names unique to this connection and round,
/// each reply checked whole, each latency recorded in nanoseconds.
fn round_trips(
    connection: &mut Connection,
    index: usize,
    rounds: usize,
    latencies: &mut Vec<u64>,
    shared: &Shared,
) -> anyhow::Result<()> {
    let mut name = Vec::with_capacity(32);
    let mut reply = Vec::with_capacity(48);
    for round in 0..rounds {
        name.clear();
        write!(name, "c{index}r{round}")?;
        reply.clear();
        reply.extend_from_slice(b"Hello, ");
        reply.extend_from_slice(&name);
        reply.push(b'!');
        let sent = Instant::now();
        connection.send(&name)?;
        connection.expect(&reply)?;
        let latency = sent.elapsed();
        latencies.push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
        shared.round_trips.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// What one connection did.
struct Outcome {
    latencies: Vec<u64>,
    error: Option<anyhow::Error>,
}

impl Outcome {
    fn failed(error: anyhow::Error) -> Outcome {
        Outcome {
            latencies: Vec::new(),
            error: Some(error),
        }
    }
}

/// The one line load mode prints.
struct Summary {
    ok: usize,
    failed: usize,
    round_trips: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
}

impl Summary {
    fn of(outcomes: &[Outcome], elapsed: Duration) -> Summary {
        let mut latency = Histogram::new_with_bounds(1, LATENCY_MAX_NS, 3)
            .expect("constant histogram bounds are valid");
        let mut round_trips = 0;
        for outcome in outcomes {
            for &ns in &outcome.latencies {
                latency.saturating_record(ns);
            }
            round_trips += outcome.latencies.len() as u64;
        }
        let failed = outcomes.iter().filter(|o| o.error.is_some()).count();
        Summary {
            ok: outcomes.len() - failed,
            failed,
            round_trips,
            elapsed,
            latency,
        }
    }

    fn per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.round_trips as f64 / seconds
        } else {
            0.0
        }
    }

    /// Exit 0 only when every connection succeeded; otherwise the first
    /// failure's message and exit code, with the count.
    fn verdict(&self, outcomes: Vec<Outcome>) -> anyhow::Result<()> {
        let total = outcomes.len();
        let Some(first) = outcomes.into_iter().find_map(|o| o.error) else {
            return Ok(());
        };
        let code = Code::of(&first);
        Err(fail(
            code,
            format!(
                "{} of {total} connections failed; the first: {first:#}",
                self.failed
            ),
        ))
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "connections: {} ok, {} failed; round trips: {} in {:.3} s, {:.0}/s",
            self.ok,
            self.failed,
            self.round_trips,
            self.elapsed.as_secs_f64(),
            self.per_second()
        )?;
        if self.latency.is_empty() {
            return f.write_str("; latency: none measured");
        }
        let ms = |ns: u64| ns as f64 / 1e6;
        write!(
            f,
            "; latency p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            ms(self.latency.value_at_quantile(0.50)),
            ms(self.latency.value_at_quantile(0.90)),
            ms(self.latency.value_at_quantile(0.99)),
            ms(self.latency.max())
        )
    }
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
        let mut state = self.lock();
        state.arrived += 1;
        self.arrival.notify_one();
        while !state.released {
            state = self
                .release
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// Waits until `count` threads have arrived.
    fn wait_for(&self, count: usize) {
        let mut state = self.lock();
        while state.arrived < count {
            state = self
                .arrival
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    fn release(&self) {
        self.lock().released = true;
        self.release.notify_all();
    }

    /// The state; no code panics while holding the lock, but a poisoned lock
    /// is still a usable counter.
    fn lock(&self) -> std::sync::MutexGuard<'_, CheckpointState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Raises the soft limit on open files to the hard limit (as the server
/// does), and fails early, with a clear message, when even that is too few.
fn ensure_descriptors(connections: usize) -> anyhow::Result<()> {
    let (_, limit) =
        crate::open_files::raise_to_hard_limit().context("raising the open file limit")?;
    let needed = connections as u64 + SPARE_DESCRIPTORS;
    if needed > limit {
        return Err(fail(
            Code::Failure,
            format!(
                "{connections} connections need about {needed} open files, but the limit is {limit} (see ulimit -n)"
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
    fn start(shared: Arc<Shared>, connections: usize, rounds: usize) -> Option<Progress> {
        let done = Arc::new(AtomicBool::new(false));
        let bar = ProgressBar::new((connections * rounds) as u64).with_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} round trips")
                .expect("constant template is valid")
                .progress_chars("=> "),
        );
        let stop = Arc::clone(&done);
        let ticker = thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let greeted = shared.greeted.lock().arrived;
                    bar.set_message(format!("{greeted}/{connections} connected"));
                    bar.set_position(shared.round_trips.load(Ordering::Relaxed));
                    thread::sleep(PROGRESS_TICK);
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
