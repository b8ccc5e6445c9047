//! `sockdemo serve`: the tutorial's threaded greeting server, made to hold
//! thousands of clients and to survive the ways such servers usually fall over.
//!
//! The main thread listens and accepts (the tutorial's `while True: accept`);
//! each admitted client gets a thread of its own (`tcplink`), with a small
//! explicit stack. Around that loop:
//!
//! - `listener`: the socket (backlog, SO_REUSEADDR, dual stack);
//! - `connection`: one client's conversation, one read and one write per round trip;
//! - `registry`: the live connections, `--max-connections`, the totals;
//! - `shutdown`: SIGINT / SIGTERM, turned into a graceful stop.
//!
//! Transient accept failures (out of descriptors or memory, a client that
//! gave up in the queue) never end the loop: they are logged at most once a
//! second and followed by a pause that doubles from 5 ms to 1 s, as Go's
//! net/http does, until accepting works again.

mod connection;
mod listener;
mod registry;
mod shutdown;

use std::fmt;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use log::{debug, info, warn};

use crate::greeting::BUSY;
use connection::Settings;
use registry::{Registry, Stage};

/// The server's settings, from `sockdemo serve`'s flags.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
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

/// A recurring warning (failed accepts, refused clients) is logged at most
/// once per this interval, so that a flood cannot flood the log too.
const WARN_EVERY: Duration = Duration::from_secs(1);

/// After the grace period, how long closed connections get to end and log.
const SETTLE: Duration = Duration::from_secs(1);

/// Runs the server until SIGINT or SIGTERM, then shuts it down gracefully.
pub fn run(config: &Config) -> anyhow::Result<()> {
    match crate::open_files::raise_to_hard_limit() {
        Ok((before, now)) if before == now => debug!("open file limit: {now}"),
        Ok((before, now)) => debug!("open file limit raised from {before} to {now}"),
        Err(err) => debug!("cannot raise the open file limit: {err}"),
    }
    let listener = Arc::new(listener::listen(config.listen, config.backlog)?);
    let addr = listener
        .local_addr()
        .context("reading the listening address")?;
    let registry = Registry::new(config.max_connections);
    shutdown::watch_signals(Arc::clone(&listener), Arc::clone(&registry))?;

    // Scripts and tests wait for this line; with nobody reading stdout the
    // server is still useful, so a failed write is no reason to stop.
    let _ = writeln!(io::stdout(), "listening on {addr}");
    info!("waiting for connections on {addr}");
    accept_loop(&listener, &registry, config)?;
    drop(listener);

    drain(&registry, config.grace);
    let totals = registry.totals();
    info!(
        "stopped; connections served: {}, refused: {}, most at once: {}",
        totals.served, totals.refused, totals.peak
    );
    Ok(())
}

/// Accepts clients until shutdown begins. Returns an error only when the
/// listening socket itself is broken.
fn accept_loop(
    listener: &TcpListener,
    registry: &Arc<Registry>,
    config: &Config,
) -> anyhow::Result<()> {
    let settings = Settings {
        delay: config.delay,
        idle_timeout: config.idle_timeout,
    };
    let mut backoff = BACKOFF_FIRST;
    let mut failures_in_a_row = 0u64;
    let mut failure_log = Throttle::default();
    let mut refusal_log = Throttle::default();
    loop {
        match listener.accept() {
            // A client accepted just as shutdown begins is served all the
            // same: it is live, and the grace period covers it.
            Ok((stream, peer)) => {
                // An IPv4 client of a dual-stack listener is logged as the
                // IPv4 address it is, not as `[::ffff:a.b.c.d]`.
                let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
                if failures_in_a_row > 0 {
                    info!("accepting again; failed attempts in a row: {failures_in_a_row}");
                    failures_in_a_row = 0;
                    backoff = BACKOFF_FIRST;
                }
                if !start_connection(stream, peer, registry, settings)
                    && let Some(held_back) = refusal_log.allow()
                {
                    warn!(
                        "refused a connection from {peer}: {} connections already (--max-connections){held_back}",
                        config.max_connections
                    );
                }
            }
            // Shutdown shuts the listening socket down, which ends a
            // blocked accept with an error.
            Err(_) if registry.stage() != Stage::Running => return Ok(()),
            Err(err) if is_transient(&err) => {
                failures_in_a_row += 1;
                if let Some(held_back) = failure_log.allow() {
                    warn!("cannot accept a connection: {err}; retrying in {backoff:?}{held_back}");
                }
                registry.sleep_unless_stopping(backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
            Err(err) => return Err(err).context("accepting connections"),
        }
        if registry.stage() != Stage::Running {
            return Ok(());
        }
    }
}

/// Admits a client and starts its thread. Returns false when the server is
/// full: the client then gets the busy line and is closed.
fn start_connection(
    stream: TcpStream,
    peer: SocketAddr,
    registry: &Arc<Registry>,
    settings: Settings,
) -> bool {
    let stream = Arc::new(stream);
    let Some(slot) = registry.admit(Arc::clone(&stream), peer) else {
        // Non-blocking, so that a client can never hold up the accept loop; a
        // fresh socket's send buffer takes one short line anyway. The client
        // is turned away whether or not the line gets through.
        let _ = stream
            .set_nonblocking(true)
            .and_then(|()| (&*stream).write_all(BUSY));
        return false;
    };
    let spawned = thread::Builder::new()
        .name(format!("connection {}", slot.id()))
        .stack_size(CONNECTION_STACK)
        .spawn(move || connection::serve(stream, peer, slot, settings));
    // On failure the closure, with the socket and the slot, is dropped:
    // this one client is closed and its place freed.
    if let Err(err) = spawned {
        registry.not_started();
        warn!("cannot start a thread for {peer}, closing its connection: {err}");
    }
    true
}

/// Lets live connections finish for up to `grace`, then closes the rest.
fn drain(registry: &Registry, grace: Duration) {
    info!("refusing new connections; live ones may finish within {grace:?}");
    let live = registry.wait_for_grace(Instant::now() + grace);
    if live > 0 {
        info!("grace period over; closing live connections: {live}");
        registry.shut_down_all();
        registry.wait_until_empty(Instant::now() + SETTLE);
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

/// Lets a recurring warning through at most once per [`WARN_EVERY`],
/// counting the ones held back in between.
#[derive(Debug, Default)]
struct Throttle {
    last: Option<Instant>,
    held_back: u64,
}

/// How many warnings like this one were held back; prints as a suffix.
#[derive(Debug, PartialEq, Eq)]
struct HeldBack(u64);

impl Throttle {
    /// Whether to log now; if so, with how many were held back before.
    fn allow(&mut self) -> Option<HeldBack> {
        let now = Instant::now();
        if self.last.is_some_and(|last| now - last < WARN_EVERY) {
            self.held_back += 1;
            return None;
        }
        self.last = Some(now);
        Some(HeldBack(std::mem::take(&mut self.held_back)))
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
    fn a_throttle_lets_one_through_per_interval_and_counts_the_rest() {
        let mut throttle = Throttle::default();
        assert_eq!(throttle.allow(), Some(HeldBack(0)));
        assert_eq!(throttle.allow(), None);
        assert_eq!(throttle.allow(), None);
        throttle.last = Some(Instant::now() - WARN_EVERY);
        let held_back = throttle.allow().expect("a new interval");
        assert_eq!(held_back, HeldBack(2));
        assert_eq!(held_back.to_string(), " (2 more since the last report)");
        assert_eq!(HeldBack(0).to_string(), "");
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
}
