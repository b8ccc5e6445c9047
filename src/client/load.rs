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
//! process exits 130.

use std::fmt::Write as _;
use std::fs;
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
use signal_hook::consts::SIGINT;

use super::{Connection, print_line};
use crate::capacity;
use crate::exit::{Code, WithCode, fail, fail_with};
use crate::greeting::{EXIT, WELCOME, write_reply};
use crate::human::thousands;

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
    signal_hook::flag::register_conditional_shutdown(SIGINT, 130, Arc::clone(&stop))
        .and_then(|_| signal_hook::flag::register(SIGINT, Arc::clone(&stop)))
        .context("handling Ctrl-C")?;

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

/// Prints the summary (text or JSON) and writes the histogram file.
fn report(summary: &Summary, load: &Load) -> anyhow::Result<()> {
    if let Some(path) = &load.histogram {
        fs::write(path, summary.percentile_distribution())
            .with_code(Code::WriteError, || format!("writing {}", path.display()))?;
    }
    let line = if load.json {
        summary.json().to_string()
    } else {
        summary.to_string()
    };
    match print_line(&mut std::io::stdout().lock(), line.as_bytes()) {
        // With nobody reading the summary, the exit code still tells the outcome.
        Err(err) if !super::stdout_closed(&err) => Err(err),
        _ => Ok(()),
    }
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

/// What load mode reports.
struct Summary {
    connections: usize,
    failed: usize,
    first_failure: Option<anyhow::Error>,
    elapsed: Duration,
    latency: Histogram<u64>,
    interrupted: bool,
}

impl Summary {
    fn of(shared: &Shared, connections: usize, elapsed: Duration, interrupted: bool) -> Summary {
        let mut failures = lock(&shared.failures);
        Summary {
            connections,
            failed: failures.count,
            first_failure: failures.first.take().map(|(_, err)| err),
            elapsed,
            latency: lock(&shared.latency).clone(),
            interrupted,
        }
    }

    fn round_trips(&self) -> u64 {
        self.latency.len()
    }

    fn per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.round_trips() as f64 / seconds
        } else {
            0.0
        }
    }

    /// A latency quantile in microseconds.
    fn micros(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1e3
    }

    /// Exit 0 only when every connection succeeded; otherwise the first
    /// failure's message and exit code, with the count; 130 after Ctrl-C.
    fn verdict(self) -> anyhow::Result<()> {
        if self.interrupted {
            return Err(fail(
                Code::Interrupted,
                "interrupted: the summary covers the round trips done until then",
            ));
        }
        let Some(first) = self.first_failure else {
            return Ok(());
        };
        Err(fail_with(
            Code::of(&first),
            format!(
                "{} of {} connections failed; the first",
                self.failed, self.connections
            ),
            first,
        ))
    }

    /// The summary as one JSON object, for scripts and plots.
    fn json(&self) -> serde_json::Value {
        let latency = (!self.latency.is_empty()).then(|| {
            serde_json::json!({
                "p50": self.micros(0.50),
                "p90": self.micros(0.90),
                "p99": self.micros(0.99),
                "p99_9": self.micros(0.999),
                "max": self.latency.max() as f64 / 1e3,
                "mean": self.latency.mean() / 1e3,
            })
        });
        serde_json::json!({
            "connections_ok": self.connections - self.failed,
            "connections_failed": self.failed,
            "round_trips": self.round_trips(),
            "elapsed_s": self.elapsed.as_secs_f64(),
            "round_trips_per_s": self.per_second(),
            "latency_us": latency,
            "first_failure": self.first_failure.as_ref().map(|err| format!("{err:#}")),
            "interrupted": self.interrupted,
        })
    }

    /// The latency distribution in HdrHistogram's percentile text format,
    /// values in microseconds: what wrk2 prints, and what HdrHistogram's
    /// plotter reads.
    fn percentile_distribution(&self) -> String {
        const SCALE: f64 = 1e3;
        let mut text = format!(
            "{:>12} {:>14} {:>10} {:>14}\n\n",
            "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
        );
        let mut total = 0u64;
        for step in self.latency.iter_quantiles(5) {
            total += step.count_since_last_iteration();
            let value = step.value_iterated_to() as f64 / SCALE;
            let quantile = step.quantile_iterated_to();
            let _ = if quantile < 1.0 {
                writeln!(
                    text,
                    "{value:12.3} {quantile:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - quantile)
                )
            } else {
                writeln!(text, "{value:12.3} {quantile:2.12} {total:10}")
            };
        }
        let _ = writeln!(
            text,
            "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
            self.latency.mean() / SCALE,
            self.latency.stdev() / SCALE
        );
        let _ = writeln!(
            text,
            "#[Max     = {:12.3}, Total count    = {:12}]",
            self.latency.max() as f64 / SCALE,
            self.latency.len()
        );
        let _ = writeln!(
            text,
            "#[Buckets = {:12}, SubBuckets     = {:12}]",
            self.latency.buckets(),
            self.latency.distinct_values()
        );
        text
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "connections: {} ok, {} failed; round trips: {} in {:.3} s, {:.0}/s",
            self.connections - self.failed,
            self.failed,
            self.round_trips(),
            self.elapsed.as_secs_f64(),
            self.per_second()
        )?;
        if self.latency.is_empty() {
            return f.write_str("; latency: none measured");
        }
        write!(
            f,
            "; latency p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            self.micros(0.50) / 1e3,
            self.micros(0.90) / 1e3,
            self.micros(0.99) / 1e3,
            self.latency.max() as f64 / 1e6
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
    crate::open_files::raise_to_hard_limit().context("raising the open file limit")?;
    let capacity = capacity::connections(&crate::platform::limits::limits());
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

    fn summary(latencies_ns: &[u64]) -> Summary {
        let mut latency = Histogram::new_with_bounds(1, LATENCY_MAX_NS, 3).expect("bounds");
        for &ns in latencies_ns {
            latency.record(ns).expect("record");
        }
        Summary {
            connections: 4,
            failed: 1,
            first_failure: Some(fail(Code::RecvError, "127.0.0.1:1 closed the connection")),
            elapsed: Duration::from_secs(2),
            latency,
            interrupted: false,
        }
    }

    #[test]
    fn the_json_summary_has_every_documented_field_in_its_unit() {
        let json = summary(&[1_000_000, 2_000_000, 3_000_000]).json();
        assert_eq!(json["connections_ok"], 3);
        assert_eq!(json["connections_failed"], 1);
        assert_eq!(json["round_trips"], 3);
        assert_eq!(json["elapsed_s"], 2.0);
        assert_eq!(json["round_trips_per_s"], 1.5);
        let p50 = json["latency_us"]["p50"].as_f64().expect("p50");
        assert!((p50 - 2000.0).abs() < 2.0, "{p50}");
        let max = json["latency_us"]["max"].as_f64().expect("max");
        assert!((max - 3000.0).abs() < 3.0, "{max}");
        assert!(json["latency_us"]["p90"].is_f64() && json["latency_us"]["p99_9"].is_f64());
        assert_eq!(json["first_failure"], "127.0.0.1:1 closed the connection");
        assert_eq!(json["interrupted"], false);
        assert!(summary(&[]).json()["latency_us"].is_null());
    }

    #[test]
    fn the_distribution_is_in_hdrhistograms_text_format_in_microseconds() {
        let latencies: Vec<u64> = (1..=1000).map(|i| i * 1000).collect();
        let text = summary(&latencies).percentile_distribution();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("       Value     Percentile TotalCount 1/(1-Percentile)")
        );
        assert_eq!(lines.next(), Some(""));
        let first = lines.next().expect("first row");
        let fields: Vec<&str> = first.split_whitespace().collect();
        assert_eq!(fields, ["1.000", "0.000000000000", "1", "1.00"]);
        let rows: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        let last: Vec<&str> = rows.last().expect("last row").split_whitespace().collect();
        assert_eq!(last.len(), 3, "{last:?}");
        assert_eq!(last[1], "1.000000000000");
        assert_eq!(last[2], "1000");
        assert!(
            text.contains("#[Max     =     1000.447, Total count    =         1000]"),
            "{text}"
        );
    }

    #[test]
    fn the_text_summary_keeps_its_shape() {
        let text = summary(&[1_500_000]).to_string();
        assert!(
            text.starts_with(
                "connections: 3 ok, 1 failed; round trips: 1 in 2.000 s, 0/s; latency p50 1.500 ms"
            ),
            "{text}"
        );
    }

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
