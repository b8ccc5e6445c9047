//! `sockdemo serve`: the tutorial's threaded greeting server, made to hold
//! thousands of clients and to survive the ways such servers usually fall over.
//!
//! The main thread listens and accepts (the tutorial's `while True: accept`);
//! each admitted client gets a thread of its own (`tcplink`), with a small
//! explicit stack. [`run`] is the command: [`Server::bind`] sets up
//! everything before the first accept, the signal thread is started, and
//! [`Server::serve`] runs the accept loop until a [`Stopper`] ends it, then
//! drains the live connections. Whoever holds the `Server` decides how it
//! stops, so the tests run one inside the test process and stop it with
//! its `Stopper`, as the signal thread does. Around that loop:
//!
//! - `listener`: the socket (backlog, SO_REUSEADDR, dual stack);
//! - `connection`: one client's conversation, one read and one write per round trip;
//! - `registry`: the live connections, `--max-connections`, the totals;
//! - `pressure`: new clients told busy while the memory control group is nearly full;
//! - `shutdown`: the [`Stopper`], and SIGINT / SIGTERM turned into a graceful stop;
//! - `throttle`: log lines a flood could repeat, at most one a second.
//!
//! How many connections the server admits at once is `--max-connections`,
//! lowered at start to what the process can really hold (see
//! [`crate::capacity`]): beyond that, a client is told the server is busy,
//! instead of the whole server aborting when the system runs out of room
//! for one more thread.
//!
//! Transient accept failures (out of descriptors or memory, a client that
//! gave up in the queue) never end the loop: they are logged at most once a
//! second and followed by a pause that doubles from 5 ms to 1 s, as Go's
//! net/http does, until accepting works again.

mod connection;
mod listener;
mod pressure;
mod registry;
mod shutdown;
mod throttle;

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use log::{debug, info, warn};

use crate::address::Address;
use crate::capacity::{self, Capacity};
use crate::greeting::BUSY;
use crate::human::{self, thousands};
use crate::platform::memory;
use connection::{LINGER, Settings};
use pressure::Pressure;
use registry::{Registry, Stage};
use throttle::Throttle;

pub use registry::Totals;
pub use shutdown::Stopper;

/// The server's settings, from `sockdemo serve`'s flags.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: Address,
    /// Sleep after each read, like the tutorial's server.
    pub delay: Option<Duration>,
    /// Length of the listen queue.
    pub backlog: usize,
    /// Clients served at once.
    pub max_connections: usize,
    /// Close a client that sends nothing, or reads nothing, for this long.
    pub idle_timeout: Option<Duration>,
    /// On SIGINT or SIGTERM, how long live connections may go on.
    pub grace: Duration,
}

/// `--max-connections` when not given: enough for the classic C10K test.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// Stack reserved for each connection's thread. The deepest path measured
/// is a panic printing its backtrace, at 35 KiB in a debug build (31 KiB in
/// release; a conversation logging at trace level: 16 KiB). 256 KiB leaves a
/// margin of seven, because an overflow would kill the whole server, not one
/// connection; only the pages touched cost memory.
const CONNECTION_STACK: usize = 256 * 1024;

/// First pause after a failed accept; it doubles on each failure in a row.
const BACKOFF_FIRST: Duration = Duration::from_millis(5);

/// Longest pause after failed accepts: retry at least once a second.
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// After a second signal has shut the remaining connections down, how long
/// they get to end and log their closing line before the server exits.
const SETTLE: Duration = Duration::from_secs(1);

/// After the lingering close has run its course at the end of the grace
/// period, how long the connections get to end before the server exits:
/// with [`LINGER`], the server exits at most 2.5 s after the grace period.
const LAST_CLOSE: Duration = Duration::from_millis(500);

/// At the end of the grace period, how often the server looks for
/// connections whose clients have taken their last replies, to close them.
const IDLE_POLL: Duration = Duration::from_millis(50);

/// Runs the server until SIGINT or SIGTERM, then shuts it down gracefully.
pub fn run(config: &Config) -> anyhow::Result<()> {
    let server = Server::bind(config)?;
    shutdown::watch_signals(server.stopper())?;
    // Scripts and tests wait for this line; with nobody reading stdout the
    // server is still useful, so a failed write is no reason to stop.
    let _ = writeln!(io::stdout(), "listening on {}", server.local_addr());
    server.serve()?;
    Ok(())
}

/// A server that is listening but not yet accepting: the socket is bound,
/// and how many connections it admits at once is settled. Who runs it
/// decides how it is stopped, through its [`Stopper`]: `run` on signals, a
/// test when it is done.
#[derive(Debug)]
pub struct Server {
    listener: Arc<TcpListener>,
    addr: SocketAddr,
    registry: Arc<Registry>,
    /// Every stopper handed out is a clone of this one, so that they share
    /// what they know (whether the accept loop was woken already).
    stopper: Stopper,
    max_connections: usize,
    /// The memory control group's use, watched if it has a limit.
    pressure: Pressure,
    settings: Settings,
    grace: Duration,
}

impl Server {
    /// Raises the open-file limit, resolves and binds `config.listen`, and
    /// applies the capacity rule to `--max-connections`.
    pub fn bind(config: &Config) -> anyhow::Result<Server> {
        match crate::platform::open_files::raise_to_hard_limit() {
            Ok((before, now)) if before == now => debug!("open file limit: {now}"),
            Ok((before, now)) => debug!("open file limit raised from {before} to {now}"),
            Err(err) => debug!("cannot raise the open file limit: {err}"),
        }
        let listen = config
            .listen
            .resolve_for_listening()
            .with_context(|| format!("cannot resolve {}", config.listen))?;
        if let Address::Name { host, .. } = &config.listen {
            info!("{host} resolves to {}; listening there", listen.ip());
        }
        let listener = Arc::new(listener::listen(listen, config.backlog)?);
        let addr = listener
            .local_addr()
            .context("reading the listening address")?;
        let arenas = memory::limit_malloc_arenas(capacity::malloc_arenas(memory::cores()));
        let limits = crate::platform::limits::limits(CONNECTION_STACK, arenas);
        let capacity = capacity::connections(&limits);
        let (max_connections, warning) = connections_allowed(config.max_connections, &capacity);
        if let Some(warning) = warning {
            warn!("{warning}");
        }
        let registry = Registry::new(max_connections);
        let stopper = Stopper::new(&listener, &registry);
        Ok(Server {
            listener,
            addr,
            registry,
            stopper,
            max_connections,
            pressure: Pressure::new(limits.memory_max.is_some()),
            settings: Settings {
                delay: config.delay,
                idle_timeout: config.idle_timeout,
            },
            grace: config.grace,
        })
    }

    /// The address the server listens on: with port 0 asked for, the port
    /// the system chose.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The handle that stops this server once [`Server::serve`] runs (or
    /// before: it then returns at once).
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Accepts and serves clients until a [`Stopper`] stops the server, then
    /// lets live connections finish within the grace period and closes the
    /// rest. Returns the totals, which it also logs.
    pub fn serve(self) -> anyhow::Result<Totals> {
        let Server {
            listener,
            addr,
            registry,
            stopper: _,
            max_connections,
            pressure,
            settings,
            grace,
        } = self;
        info!("waiting for connections on {addr}");
        accept_loop(&listener, &registry, settings, max_connections, pressure)?;
        // Closed now: the port is free again while connections drain.
        drop(listener);

        drain(&registry, grace);
        let totals = registry.totals();
        info!(
            "stopped; connections served: {}, refused: {}, most at once: {}",
            totals.served, totals.refused, totals.peak
        );
        Ok(totals)
    }
}

/// The capacity rule applied to `--max-connections`: the connections the
/// server admits at once, and the warning to log, if any.
fn connections_allowed(asked: usize, capacity: &Capacity) -> (usize, Option<String>) {
    let can = capacity.get();
    if asked > can {
        let warning = format!(
            "--max-connections {} lowered to {}: {capacity}",
            thousands(asked as u64),
            thousands(can as u64)
        );
        return (can, Some(warning));
    }
    let warning = (can < DEFAULT_MAX_CONNECTIONS).then(|| {
        format!(
            "this process can hold about {} connections, fewer than the default {}: {capacity}",
            thousands(can as u64),
            thousands(DEFAULT_MAX_CONNECTIONS as u64)
        )
    });
    (asked, warning)
}

/// Accepts clients until shutdown begins. Returns an error only when the
/// listening socket itself is broken.
fn accept_loop(
    listener: &TcpListener,
    registry: &Arc<Registry>,
    settings: Settings,
    max_connections: usize,
    mut pressure: Pressure,
) -> anyhow::Result<()> {
    let mut backoff = BACKOFF_FIRST;
    let mut failures_in_a_row = 0u64;
    let failure_log = Throttle::new();
    let recovery_log = Throttle::new();
    let refusal_log = Throttle::new();
    let thread_log = Throttle::new();
    let memory_log = Throttle::new();
    loop {
        match listener.accept() {
            // A client accepted just as shutdown begins is served all the
            // same: it is live, and the grace period covers it.
            Ok((stream, peer)) => {
                // An IPv4 client of a dual-stack listener is logged as the
                // IPv4 address it is, not as `[::ffff:a.b.c.d]`.
                let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
                if failures_in_a_row > 0 {
                    // Not flushed at the end: the accept that follows each
                    // one held back is the news, and it was logged.
                    if let Some(held_back) = recovery_log.allow() {
                        info!(
                            "accepting again; failed attempts in a row: {failures_in_a_row}{held_back}"
                        );
                    }
                    failures_in_a_row = 0;
                    backoff = BACKOFF_FIRST;
                }
                match start_connection(stream, peer, registry, settings, &mut pressure) {
                    Started::Yes => {}
                    Started::Busy => {
                        if let Some(held_back) = refusal_log.allow() {
                            warn!(
                                "refused a connection from {peer}: {} connections already (--max-connections){held_back}",
                                thousands(max_connections as u64)
                            );
                        }
                    }
                    Started::MemoryFull { limit, used } => {
                        if let Some(held_back) = memory_log.allow() {
                            warn!(
                                "refused a connection from {peer}: the control group's memory is nearly used up ({} of {}){held_back}",
                                human::bytes(used),
                                human::bytes(limit)
                            );
                        }
                    }
                    Started::NoThread(err) => {
                        if let Some(held_back) = thread_log.allow() {
                            warn!(
                                "cannot start a thread for {peer}, told it the server is busy: {err}{held_back}"
                            );
                        }
                    }
                }
            }
            // Shutdown shuts the listening socket down, which ends a
            // blocked accept with an error.
            Err(_) if registry.stage() != Stage::Running => break,
            Err(err) if is_transient(&err) => {
                failures_in_a_row += 1;
                if let Some(held_back) = failure_log.allow() {
                    warn!(
                        "cannot accept a connection: {err}; retrying in {}{held_back}",
                        human::duration(backoff)
                    );
                }
                registry.sleep_unless_stopping(backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
            Err(err) => return Err(err).context("accepting connections"),
        }
        if registry.stage() != Stage::Running {
            break;
        }
    }
    // Lines held back since the last report of their kind are counted
    // before the server stops, not lost.
    if let Some(held_back) = refusal_log.flush() {
        warn!("refused {held_back} more connections since the last report (--max-connections)");
    }
    if let Some(held_back) = memory_log.flush() {
        warn!("refused {held_back} more connections since the last report (memory)");
    }
    if let Some(held_back) = thread_log.flush() {
        warn!("could not start a thread for {held_back} more connections since the last report");
    }
    if let Some(held_back) = failure_log.flush() {
        warn!("{held_back} more failed accepts since the last report");
    }
    Ok(())
}

/// What became of an accepted client.
enum Started {
    /// It has a thread of its own.
    Yes,
    /// The server is full: it got the busy line and was closed.
    Busy,
    /// The memory control group is nearly full: it got the busy line and
    /// was closed.
    MemoryFull {
        /// The group's limit, in bytes.
        limit: u64,
        /// What the group uses, in bytes.
        used: u64,
    },
    /// No thread could be started for it: it got the busy line and was closed.
    NoThread(io::Error),
}

/// Admits a client and starts its thread, or turns it away.
fn start_connection(
    stream: TcpStream,
    peer: SocketAddr,
    registry: &Arc<Registry>,
    settings: Settings,
    pressure: &mut Pressure,
) -> Started {
    if let Some((limit, used)) = pressure.full() {
        registry.refuse();
        turn_away(&stream);
        return Started::MemoryFull { limit, used };
    }
    let stream = Arc::new(stream);
    let Some(slot) = registry.admit(Arc::clone(&stream), peer) else {
        turn_away(&stream);
        return Started::Busy;
    };
    // Kept here too, to tell the client if its thread cannot start.
    let kept = Arc::clone(&stream);
    let spawned = thread::Builder::new()
        .name(format!("connection {}", slot.id()))
        .stack_size(CONNECTION_STACK)
        .spawn(move || connection::serve(stream, peer, slot, settings));
    match spawned {
        Ok(_) => {
            registry.started();
            Started::Yes
        }
        // The closure, with the slot, is dropped: the place is freed, and
        // the client is told, as when the server is full.
        Err(err) => {
            registry.not_started();
            turn_away(&kept);
            Started::NoThread(err)
        }
    }
}

/// Sends a client the busy line; it is then closed, when the last handle
/// on its socket goes. Non-blocking, so that a client can never hold up the
/// accept loop; a fresh socket's send buffer takes one short line anyway.
/// The client is turned away whether or not the line gets through.
fn turn_away(stream: &TcpStream) {
    let _ = stream
        .set_nonblocking(true)
        .and_then(|()| { stream }.write_all(BUSY));
}

/// Lets live connections finish for up to `grace`, then closes the rest:
/// idle ones at once, the others by lingering, all within [`LINGER`] and
/// [`LAST_CLOSE`] of the grace period's end. A second signal closes them at
/// once.
fn drain(registry: &Registry, grace: Duration) {
    info!(
        "refusing new connections; live ones may finish within {}",
        human::duration(grace)
    );
    let live = registry.wait_for_grace(Instant::now() + grace);
    if registry.stage() == Stage::Hurrying {
        // The signal thread shuts them down, and busy ones end themselves.
        info!("second signal: closing {live} live connections now");
        let left = registry.wait_until_empty(Instant::now() + SETTLE);
        if left > 0 {
            info!("exiting with {left} connections still closing");
        }
        return;
    }
    if live == 0 {
        return;
    }
    info!("grace period over; closing live connections: {live}");
    registry.advance(Stage::Closing);
    let lingered = Instant::now() + LINGER;
    // Idle clients (blocked in a read the client will not end) close now;
    // the others get their replies and the end of the stream, and linger.
    registry.shut_down_idle(Some(Shutdown::Write));
    loop {
        let next = (Instant::now() + IDLE_POLL).min(lingered);
        if registry.wait_until_empty(next) == 0 {
            return;
        }
        if Instant::now() >= lingered || registry.stage() == Stage::Hurrying {
            break;
        }
        // A client that has taken its last replies since is idle now.
        registry.shut_down_idle(None);
    }
    // The lingering is over for everyone (a client still sending is cut
    // off, as in a connection's own lingering close).
    registry.shut_down_all(Shutdown::Both);
    let left = registry.wait_until_empty(Instant::now() + LAST_CLOSE);
    if left > 0 {
        info!("exiting with {left} connections still closing");
    }
}

/// Failures of one accept call that say nothing about the listening socket:
/// running out of descriptors or memory, which passes, and errors of the one
/// client being accepted (Linux reports a queued client's network errors
/// from `accept`, and asks that they be treated as a retry).
fn is_transient(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(
            libc::EMFILE
                | libc::ENFILE
                | libc::ENOBUFS
                | libc::ENOMEM
                | libc::ECONNABORTED
                | libc::EINTR
                | libc::EAGAIN
                | libc::EPROTO
                | libc::EPERM
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
                | libc::ETIMEDOUT
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::greeting::WELCOME;
    use std::io::Read;
    use std::sync::mpsc;

    /// The longest any step of the serving tests may take.
    const STEP: Duration = Duration::from_secs(10);

    /// A server on a free loopback port, serving on a thread of its own,
    /// inside the test process.
    struct Running {
        addr: SocketAddr,
        stopper: Stopper,
        outcome: mpsc::Receiver<anyhow::Result<Totals>>,
    }

    fn start(max_connections: usize, grace: Duration) -> Running {
        let config = Config {
            listen: Address::Ip("127.0.0.1:0".parse().expect("address")),
            delay: None,
            backlog: 16,
            max_connections,
            // Longer than any wait of these tests, so that no connection
            // ends on its own while a test waits for the server to end it.
            idle_timeout: Some(6 * STEP),
            grace,
        };
        let server = Server::bind(&config).expect("bind");
        let (addr, stopper) = (server.local_addr(), server.stopper());
        let (done, outcome) = mpsc::channel();
        thread::Builder::new()
            .name("serve".into())
            .spawn(move || {
                let _ = done.send(server.serve());
            })
            .expect("a thread to serve on");
        Running {
            addr,
            stopper,
            outcome,
        }
    }

    impl Running {
        fn connect(&self) -> TcpStream {
            let stream = TcpStream::connect(self.addr).expect("connect");
            stream.set_read_timeout(Some(STEP)).expect("read timeout");
            stream.set_write_timeout(Some(STEP)).expect("write timeout");
            stream
        }

        /// What `serve` returned, once it has: it must, within [`STEP`].
        fn totals(&self) -> Totals {
            self.outcome
                .recv_timeout(STEP)
                .expect("serve returns once stopped")
                .expect("serve succeeds")
        }
    }

    /// Reads exactly as many bytes as `expected` holds, and compares.
    fn expect(stream: &mut TcpStream, expected: &[u8]) {
        let mut got = vec![0; expected.len()];
        stream.read_exact(&mut got).expect("a reply in time");
        assert_eq!(
            got.escape_ascii().to_string(),
            expected.escape_ascii().to_string()
        );
    }

    /// Reads until the server closes the connection.
    fn rest(stream: &mut TcpStream) -> Vec<u8> {
        let mut rest = Vec::new();
        stream
            .read_to_end(&mut rest)
            .expect("the server closes in time");
        rest
    }

    #[test]
    fn serves_a_client_then_stops_when_asked() {
        let server = start(10, STEP);
        let mut client = server.connect();
        expect(&mut client, WELCOME);
        client.write_all(b"Alice\n").expect("send");
        expect(&mut client, b"Hello, Alice!\n");
        client.write_all(b"Bob\r\nexit\n").expect("send");
        expect(&mut client, b"Hello, Bob!\r\n");
        assert_eq!(rest(&mut client), b"");

        server.stopper.drain();
        let totals = server.totals();
        assert_eq!(
            totals,
            Totals {
                served: 1,
                refused: 0,
                peak: 1
            }
        );
    }

    #[test]
    fn a_full_server_turns_the_next_client_away_with_the_busy_line() {
        let server = start(1, STEP);
        let mut first = server.connect();
        expect(&mut first, WELCOME);
        let mut second = server.connect();
        assert_eq!(
            rest(&mut second).escape_ascii().to_string(),
            BUSY.escape_ascii().to_string()
        );
        // The first is still served.
        first.write_all(b"Carol\nexit\n").expect("send");
        expect(&mut first, b"Hello, Carol!\n");
        assert_eq!(rest(&mut first), b"");

        server.stopper.drain();
        assert_eq!(
            server.totals(),
            Totals {
                served: 1,
                refused: 1,
                peak: 1
            }
        );
    }

    #[test]
    fn draining_lets_a_client_go_on_and_hurrying_closes_it_at_once() {
        // A grace period far longer than the test may take: only hurrying
        // can end it in time.
        let server = start(10, Duration::from_secs(3600));
        let mut client = server.connect();
        expect(&mut client, WELCOME);

        server.stopper.drain();
        client.write_all(b"Dave\n").expect("send");
        expect(&mut client, b"Hello, Dave!\n");
        assert!(
            server.outcome.try_recv().is_err(),
            "serve returned with a connection live in its grace period"
        );

        assert_eq!(server.stopper.hurry(), 1);
        assert_eq!(rest(&mut client), b"");
        assert_eq!(server.totals().served, 1);
    }

    #[test]
    fn descriptor_exhaustion_is_transient_and_a_broken_listener_is_not() {
        assert!(is_transient(&io::Error::from_raw_os_error(libc::EMFILE)));
        assert!(is_transient(&io::Error::from_raw_os_error(
            libc::ECONNABORTED
        )));
        assert!(!is_transient(&io::Error::from_raw_os_error(libc::EBADF)));
        assert!(!is_transient(&io::Error::from_raw_os_error(libc::EINVAL)));
    }

    #[test]
    fn the_capacity_lowers_max_connections_and_says_why() {
        let capacity = crate::capacity::Capacity {
            connections: 15_900,
            limit: Some(crate::capacity::Limit::MaxMapCount),
            of: 65_530,
            in_use: 1_000,
            per: 4,
        };
        let (max, warning) = connections_allowed(30_000, &capacity);
        assert_eq!(max, 15_900);
        assert_eq!(
            warning.as_deref(),
            Some(
                "--max-connections 30,000 lowered to 15,900: vm.max_map_count allows about 15,900 (65,530 memory mappings, 1,000 in use, 4 per thread)"
            )
        );
        let (max, warning) = connections_allowed(100, &capacity);
        assert_eq!((max, warning), (100, None));

        let small = crate::capacity::Capacity {
            connections: 5_000,
            limit: Some(crate::capacity::Limit::OpenFiles),
            of: 5_050,
            in_use: 10,
            per: 1,
        };
        let (max, warning) = connections_allowed(100, &small);
        assert_eq!(max, 100);
        assert_eq!(
            warning.as_deref(),
            Some(
                "this process can hold about 5,000 connections, fewer than the default 10,000: the open-file limit (ulimit -n) allows about 5,000 (5,050 open files, 10 in use, 1 per connection)"
            )
        );
    }
}
