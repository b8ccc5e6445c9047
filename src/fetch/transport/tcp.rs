//! Resolving a host and connecting to it: the addresses of a name, from
//! the run's [`Resolver`], restricted to a family (`-4`, `-6`), raced as
//! Happy Eyeballs says ([`super::eyeballs`]): one attempt after another,
//! each with a head start of 250 ms, the first connection to succeed
//! winning and the others closed. `--connect-timeout` bounds resolving and
//! the whole race together.
//!
//! This is the step that returns a connected stream; a proxy would be
//! reached here, in place of the host.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use log::debug;
use url::Host;

use super::eyeballs::{self, ATTEMPT_DELAY, Family, Next, Schedule};
use super::resolve::Resolver;
use super::time::Deadline;
use crate::exit::{Code, WithCode, fail, fail_with};
use crate::platform::connect::{Connecting, wait_any};

/// How connections are made: the resolver shared by the run, the address
/// families allowed, and the limit on resolving and connecting.
///
/// Clones share the resolver (its thread and its cache).
#[derive(Debug, Clone, Default)]
pub struct Dialer {
    /// Where names are resolved.
    pub resolver: Resolver,
    /// `-4`, `-6`: the address families allowed.
    pub family: Family,
    /// Limit on resolving and connecting together (`None`: none).
    pub connect_timeout: Option<Duration>,
}

impl Dialer {
    /// Connects to `host` at `port`: resolves it, then races its addresses
    /// (an IP address is its own). All within the connect timeout, and
    /// before `deadline`.
    pub fn connect(
        &self,
        host: &Host<&str>,
        port: u16,
        deadline: Option<Deadline>,
    ) -> anyhow::Result<TcpStream> {
        self.connect_named(host, port, format!("{host} port {port}"), deadline)
    }

    /// As [`Dialer::connect`], with messages that call the host `name`
    /// (`proxy HOST:PORT`, say).
    pub fn connect_named(
        &self,
        host: &Host<&str>,
        port: u16,
        name: String,
        deadline: Option<Deadline>,
    ) -> anyhow::Result<TcpStream> {
        let within = Deadline::within(
            deadline,
            self.connect_timeout,
            "connecting (--connect-timeout)",
        );
        let ips = self.addresses(host, within)?;
        let addrs: Vec<SocketAddr> = ips.iter().map(|&ip| SocketAddr::new(ip, port)).collect();
        let target = Target {
            name,
            literal: !matches!(host, Host::Domain(_)),
        };
        race(&addrs, &target, within)
    }

    /// The addresses to try, in order: those of the allowed family,
    /// interleaved by family.
    fn addresses(
        &self,
        host: &Host<&str>,
        within: Option<Deadline>,
    ) -> anyhow::Result<Vec<IpAddr>> {
        let ip = match *host {
            Host::Ipv4(ip) => IpAddr::V4(ip),
            Host::Ipv6(ip) => IpAddr::V6(ip),
            Host::Domain(name) => {
                let all = self.resolver.resolve(name, within)?;
                let allowed: Vec<IpAddr> = all
                    .iter()
                    .copied()
                    .filter(|&ip| self.family.admits(ip))
                    .collect();
                if allowed.is_empty() {
                    return Err(fail(
                        Code::CouldntResolve,
                        format!("host {name} has no {} address", self.family.name()),
                    ));
                }
                return Ok(eyeballs::interleave(&allowed));
            }
        };
        if !self.family.admits(ip) {
            return Err(fail(
                Code::CouldntResolve,
                format!("{ip} is not an {} address", self.family.name()),
            ));
        }
        Ok(vec![ip])
    }
}

/// What is being connected to, for messages.
struct Target {
    /// `HOST port PORT`, or what the caller calls it.
    name: String,
    /// The host is an IP address: a message need not name it again.
    literal: bool,
}

/// Races connections to `addrs`, tried in this order (RFC 8305 section 5):
/// the first to connect is returned, the others are closed. Fails when
/// every attempt has failed, or when `within` passes first.
fn race(
    addrs: &[SocketAddr],
    target: &Target,
    within: Option<Deadline>,
) -> anyhow::Result<TcpStream> {
    let mut race = Race {
        schedule: Schedule::new(addrs, ATTEMPT_DELAY),
        pending: Vec::new(),
        failures: Attempts {
            failed: Vec::new(),
            literal: target.literal,
        },
    };
    loop {
        let until = match race.schedule.next(Instant::now()) {
            Next::Start(addr) => {
                race.start(addr);
                continue;
            }
            Next::Wait(until) => until,
            Next::Lost => return Err(race.failures.into_error(&target.name)),
        };
        let wait = until.map(|until| until.saturating_duration_since(Instant::now()));
        let limit = match Deadline::cap(within, wait) {
            Ok(limit) => limit,
            Err(ran_out) => return Err(race.failures.timed_out(&target.name, ran_out)),
        };
        let done = wait_any(&race.pending, limit).with_code(Code::CouldntConnect, || {
            format!("connecting to {}", target.name)
        })?;
        if let Some(stream) = race.settle(&done)? {
            // The attempts still pending are dropped with the race: closed.
            return Ok(stream);
        }
    }
}

/// A race under way: when the next attempt starts, the attempts pending,
/// and those that failed.
struct Race {
    schedule: Schedule,
    pending: Vec<Connecting>,
    failures: Attempts,
}

impl Race {
    /// Starts an attempt to `addr`.
    fn start(&mut self, addr: SocketAddr) {
        debug!("connecting to {addr}");
        match Connecting::start(addr) {
            Ok(attempt) => self.pending.push(attempt),
            Err(err) => self.failed(addr, err),
        }
    }

    /// Takes the outcome of each pending attempt that `done` says is done,
    /// in the order they started, so that of two done at once the earlier
    /// wins: the first connected stream, if any.
    fn settle(&mut self, done: &[bool]) -> anyhow::Result<Option<TcpStream>> {
        let (finished, pending): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .zip(done)
            .partition(|(_, done)| **done);
        self.pending = pending.into_iter().map(|(attempt, _)| attempt).collect();
        for (attempt, _) in finished {
            let addr = attempt.addr();
            match attempt.finish() {
                Ok(stream) => {
                    debug!("connected to {addr}");
                    // Without it, Nagle's algorithm holds back the second and
                    // later small segments of a flight (a TLS handshake's) until
                    // the peer acknowledges the first, which a delayed ACK puts
                    // off by up to 40 ms. sockdemo writes whole messages, never
                    // a byte at a time, so it gives nothing up.
                    stream
                        .set_nodelay(true)
                        .with_code(Code::CouldntConnect, || {
                            format!("setting TCP_NODELAY on {addr}")
                        })?;
                    return Ok(Some(stream));
                }
                Err(err) => self.failed(addr, err),
            }
        }
        Ok(None)
    }

    /// The attempt to `addr` failed: the next may start at once.
    fn failed(&mut self, addr: SocketAddr, err: io::Error) {
        debug!("connecting to {addr}: {err}");
        self.schedule.failed();
        self.failures.failed.push((addr, err));
    }
}

/// The attempts that failed, and why each did.
#[derive(Debug)]
struct Attempts {
    failed: Vec<(SocketAddr, io::Error)>,
    /// The host is an IP address, so the address goes unsaid.
    literal: bool,
}

impl Attempts {
    /// The error of a race lost because every attempt failed: exit 7, or
    /// 28 if each of them timed out (the system's own limit, without one of
    /// sockdemo's).
    fn into_error(self, name: &str) -> anyhow::Error {
        let all_timed_out = self
            .failed
            .iter()
            .all(|(_, err)| err.kind() == io::ErrorKind::TimedOut);
        let (code, what) = match all_timed_out {
            true => (Code::Timeout, "timed out connecting to"),
            false => (Code::CouldntConnect, "could not connect to"),
        };
        fail_with(code, format!("{what} {name}"), self)
    }

    /// The error of a race whose time ran out (`ran_out` says which limit),
    /// with the attempts that had failed by then.
    fn timed_out(self, name: &str, ran_out: io::Error) -> anyhow::Error {
        let message = format!("timed out connecting to {name}");
        match self.failed.is_empty() {
            true => fail_with(Code::Timeout, message, ran_out),
            false => fail_with(
                Code::Timeout,
                message,
                io::Error::new(io::ErrorKind::TimedOut, format!("{ran_out}; {self}")),
            ),
        }
    }
}

impl fmt::Display for Attempts {
    /// Each reason once, with the addresses that gave it:
    /// `Connection refused (::1, 127.0.0.1)`; for an IP address given as
    /// the host, the reason alone.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut reasons: Vec<(String, Vec<SocketAddr>)> = Vec::new();
        for (addr, err) in &self.failed {
            let reason = reason(err);
            match reasons.iter_mut().find(|(known, _)| *known == reason) {
                Some((_, addrs)) if !addrs.contains(addr) => addrs.push(*addr),
                Some(_) => {}
                None => reasons.push((reason, vec![*addr])),
            }
        }
        for (i, (reason, addrs)) in reasons.iter().enumerate() {
            let separator = if i == 0 { "" } else { "; " };
            write!(f, "{separator}{reason}")?;
            if !self.literal {
                let addrs: Vec<String> = addrs.iter().map(|addr| addr.ip().to_string()).collect();
                write!(f, " ({})", addrs.join(", "))?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Attempts {}

/// Why a connection failed, in the system's words without the standard
/// library's ` (os error N)`, which tells a user nothing more.
fn reason(err: &io::Error) -> String {
    let text = err.to_string();
    match err.raw_os_error() {
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .map_or_else(|| text.clone(), str::to_owned),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, TcpListener};

    fn dialer(connect_timeout: Duration) -> Dialer {
        Dialer {
            connect_timeout: Some(connect_timeout),
            ..Dialer::default()
        }
    }

    #[test]
    fn every_fetch_socket_has_nagle_off() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = Host::Ipv4(Ipv4Addr::LOCALHOST);
        let port = listener.local_addr().unwrap().port();
        let stream = dialer(Duration::from_secs(5))
            .connect(&host, port, None)
            .unwrap();
        assert!(stream.nodelay().unwrap(), "TCP_NODELAY is not set");
    }

    /// An address on loopback where nothing listens, very likely: a port
    /// just bound and released.
    fn closed_port_on_loopback() -> SocketAddr {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
    }

    /// A listener on loopback whose queue is full and which never accepts:
    /// the kernel drops every further SYN, as a black hole does, and the
    /// connection waits. With its filling connections, kept open.
    fn black_hole() -> (socket2::Socket, Vec<TcpStream>) {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket
            .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
            .unwrap();
        socket.listen(0).unwrap();
        let addr = socket.local_addr().unwrap().as_socket().unwrap();
        let mut filling = Vec::new();
        // A backlog of 0 holds one connection; fill until one is not
        // answered: from then on, SYNs are dropped.
        while filling.len() < 8 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(stream) => filling.push(stream),
                Err(err) => {
                    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
                    return (socket, filling);
                }
            }
        }
        panic!("the listener's queue never filled");
    }

    fn target(literal: bool) -> Target {
        Target {
            name: "test port 1".into(),
            literal,
        }
    }

    #[test]
    fn a_refused_connection_exits_7_naming_the_address_once() {
        let closed = closed_port_on_loopback();
        let host = Host::Ipv4(Ipv4Addr::LOCALHOST);
        let err = dialer(Duration::from_secs(5))
            .connect(&host, closed.port(), None)
            .unwrap_err();
        assert_eq!(Code::of(&err), Code::CouldntConnect);
        assert_eq!(
            format!("{err:#}"),
            format!(
                "could not connect to 127.0.0.1 port {}: Connection refused",
                closed.port()
            )
        );
    }

    #[test]
    fn the_first_connection_wins_while_a_black_hole_is_pending() {
        let (hole, _filling) = black_hole();
        let hole = hole.local_addr().unwrap().as_socket().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let within = Deadline::after(Some(Duration::from_secs(10)), "the race");
        let started = Instant::now();
        let stream = race(&[hole, open], &target(false), within).unwrap();
        let took = started.elapsed();
        assert_eq!(stream.peer_addr().unwrap(), open);
        // The second attempt started after the first's head start, without
        // waiting for the first to time out.
        assert!(took >= ATTEMPT_DELAY, "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        // The loser was closed, not left sending SYNs.
        assert_eq!(syns_sent_to(hole.port()), 0);
    }

    /// How many of the system's IPv4 sockets are waiting for an answer to
    /// their SYN (state SYN_SENT, 02 in /proc/net/tcp) from `port`.
    fn syns_sent_to(port: u16) -> usize {
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
        table
            .lines()
            .skip(1)
            .filter(|line| {
                // sl, local_address, rem_address, st, ...
                let mut fields = line.split_ascii_whitespace().skip(2);
                let (Some(remote), Some(state)) = (fields.next(), fields.next()) else {
                    return false;
                };
                state == "02" && remote.ends_with(&format!(":{port:04X}"))
            })
            .count()
    }

    #[test]
    fn a_pending_attempt_is_seen_as_a_syn_sent() {
        // The check above must be able to see what it checks.
        let (hole, _filling) = black_hole();
        let hole = hole.local_addr().unwrap().as_socket().unwrap();
        let attempt = Connecting::start(hole).unwrap();
        assert_eq!(syns_sent_to(hole.port()), 1);
        drop(attempt);
        assert_eq!(syns_sent_to(hole.port()), 0);
    }

    #[test]
    fn a_refusal_lets_the_next_address_start_at_once() {
        let closed = closed_port_on_loopback();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let started = Instant::now();
        let stream = race(&[closed, open], &target(false), None).unwrap();
        assert_eq!(stream.peer_addr().unwrap(), open);
        assert!(started.elapsed() < ATTEMPT_DELAY, "{:?}", started.elapsed());
        let err = race(&[closed, closed], &target(false), None).unwrap_err();
        assert_eq!(Code::of(&err), Code::CouldntConnect);
        assert_eq!(
            format!("{err:#}"),
            "could not connect to test port 1: Connection refused (127.0.0.1)"
        );
    }

    #[test]
    fn the_connect_timeout_covers_the_whole_race() {
        let holes: Vec<_> = (0..3).map(|_| black_hole()).collect();
        let addrs: Vec<SocketAddr> = holes
            .iter()
            .map(|(hole, _)| hole.local_addr().unwrap().as_socket().unwrap())
            .collect();
        let closed = closed_port_on_loopback();
        let mut all = vec![closed];
        all.extend(&addrs);
        let limit = Duration::from_millis(900);
        let within = Deadline::after(Some(limit), "connecting (--connect-timeout)");
        let started = Instant::now();
        let err = race(&all, &target(false), within).unwrap_err();
        let took = started.elapsed();
        assert_eq!(Code::of(&err), Code::Timeout);
        // One limit for the race, not one per address (which would be 2.7 s).
        assert!(took >= limit && took < limit * 2, "{took:?}");
        assert_eq!(
            format!("{err:#}"),
            "timed out connecting to test port 1: connecting (--connect-timeout) did not complete within 900ms; Connection refused (127.0.0.1)"
        );
    }

    #[test]
    fn a_family_restricts_the_addresses() {
        let v6 = Host::Ipv6("::1".parse().unwrap());
        let only_v4 = Dialer {
            family: Family::V4,
            ..Dialer::default()
        };
        let err = only_v4.connect(&v6, 80, None).unwrap_err();
        assert_eq!(Code::of(&err), Code::CouldntResolve);
        assert_eq!(err.to_string(), "::1 is not an IPv4 (-4) address");
        let v4 = Host::Ipv4(Ipv4Addr::LOCALHOST);
        let only_v6 = Dialer {
            family: Family::V6,
            ..Dialer::default()
        };
        let err = only_v6.connect(&v4, 80, None).unwrap_err();
        assert_eq!(err.to_string(), "127.0.0.1 is not an IPv6 (-6) address");
        assert_eq!(
            Dialer::default().addresses(&v6, None).unwrap(),
            vec!["::1".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn reasons_are_told_once_with_their_addresses() {
        let io = |kind| io::Error::new(kind, "x");
        let a: SocketAddr = "[::1]:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let attempts = Attempts {
            failed: vec![
                (a, io::Error::from_raw_os_error(libc::ECONNREFUSED)),
                (b, io::Error::from_raw_os_error(libc::ECONNREFUSED)),
                (b, io(io::ErrorKind::TimedOut)),
            ],
            literal: false,
        };
        assert_eq!(
            attempts.to_string(),
            "Connection refused (::1, 127.0.0.1); x (127.0.0.1)"
        );
        let err = attempts.into_error("h port 1");
        assert_eq!(Code::of(&err), Code::CouldntConnect);
        let timed_out = Attempts {
            failed: vec![(b, io(io::ErrorKind::TimedOut))],
            literal: true,
        };
        assert_eq!(timed_out.to_string(), "x");
        assert_eq!(Code::of(&timed_out.into_error("h")), Code::Timeout);
    }
}
