//! Resolving a host and connecting to it: the addresses of a name, each
//! tried in turn with its own time limit (`--connect-timeout`), until one
//! accepts. The system resolver has no time limit of its own, so it runs on
//! a thread of its own, which is left behind if it does not answer in time.
//!
//! This is the step that returns a connected stream; a proxy would be
//! reached here, in place of the host.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use log::debug;
use url::Host;

use super::time::Deadline;
use crate::exit::{Code, WithCode, fail, fail_with};
use crate::human;

/// Connects to `host` at `port`: resolves it, then connects to the first of
/// its addresses that accepts. Resolving, and each attempt, may take
/// `connect_timeout`, all before `deadline`.
pub fn connect(
    host: &Host<&str>,
    port: u16,
    connect_timeout: Option<Duration>,
    deadline: Option<Deadline>,
) -> anyhow::Result<TcpStream> {
    let name = format!("{host} port {port}");
    let limit = connect_limit(&name, connect_timeout, deadline)?;
    let addrs = resolve(host, port, limit)?;
    connect_first(&addrs, &name, connect_timeout, deadline)
}

/// How long resolving, or connecting to one address, may take now.
fn connect_limit(
    name: &str,
    connect_timeout: Option<Duration>,
    deadline: Option<Deadline>,
) -> anyhow::Result<Option<Duration>> {
    Deadline::cap(deadline, connect_timeout)
        .with_code(Code::Timeout, || format!("connecting to {name}"))
}

/// Connects to the first of `addrs` that accepts, trying each in turn
/// with its own time limit; `name` says what they are in the error.
fn connect_first(
    addrs: &[SocketAddr],
    name: &str,
    connect_timeout: Option<Duration>,
    deadline: Option<Deadline>,
) -> anyhow::Result<TcpStream> {
    let mut failures = Vec::new();
    for &addr in addrs {
        debug!("connecting to {addr}");
        let attempt = match connect_limit(name, connect_timeout, deadline)? {
            Some(limit) => TcpStream::connect_timeout(&addr, limit),
            None => TcpStream::connect(addr),
        };
        match attempt {
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
                return Ok(stream);
            }
            Err(err) => {
                debug!("connecting to {addr}: {err}");
                failures.push((addr, err));
            }
        }
    }
    let failures = Attempts(failures);
    let (code, what) = if failures.all_timed_out() {
        (Code::Timeout, "timed out connecting to")
    } else {
        (Code::CouldntConnect, "could not connect to")
    };
    Err(fail_with(code, format!("{what} {name}"), failures))
}

/// Every address tried, and why each failed.
#[derive(Debug)]
struct Attempts(Vec<(SocketAddr, io::Error)>);

impl Attempts {
    fn all_timed_out(&self) -> bool {
        self.0
            .iter()
            .all(|(_, err)| err.kind() == io::ErrorKind::TimedOut)
    }
}

impl fmt::Display for Attempts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (addr, err)) in self.0.iter().enumerate() {
            let separator = if i == 0 { "" } else { "; " };
            write!(f, "{separator}{addr}: {err}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Attempts {}

/// Resolves a host to its addresses (an IP literal is its own address),
/// within `limit`.
fn resolve(
    host: &Host<&str>,
    port: u16,
    limit: Option<Duration>,
) -> anyhow::Result<Vec<SocketAddr>> {
    let domain = match *host {
        Host::Ipv4(ip) => return Ok(vec![SocketAddr::from((ip, port))]),
        Host::Ipv6(ip) => return Ok(vec![SocketAddr::from((ip, port))]),
        Host::Domain(domain) => domain.to_owned(),
    };
    let (tx, rx) = mpsc::channel();
    let lookup = {
        let domain = domain.clone();
        move || {
            let result = (domain.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect::<Vec<_>>);
            // The receiver is gone only if it gave up waiting.
            let _ = tx.send(result);
        }
    };
    thread::Builder::new()
        .name("resolve".into())
        .spawn(lookup)
        .with_code(Code::CouldntResolve, || format!("resolving {domain}"))?;
    let answer = match limit {
        Some(limit) => rx.recv_timeout(limit).map_err(|_| {
            fail(
                Code::Timeout,
                format!(
                    "resolving {domain}: no answer within {}",
                    human::duration(limit)
                ),
            )
        })?,
        None => rx.recv().map_err(|_| {
            fail(
                Code::CouldntResolve,
                format!("resolving {domain}: no answer"),
            )
        })?,
    };
    let addrs = answer.with_code(Code::CouldntResolve, || {
        format!("could not resolve host {domain}")
    })?;
    if addrs.is_empty() {
        return Err(fail(
            Code::CouldntResolve,
            format!("host {domain} has no address"),
        ));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_addresses_need_no_lookup() {
        let v6 = Host::Ipv6("::1".parse().unwrap());
        assert_eq!(
            resolve(&v6, 8080, None).unwrap(),
            vec!["[::1]:8080".parse().unwrap()]
        );
    }

    #[test]
    fn every_fetch_socket_has_nagle_off() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = Host::Ipv4(std::net::Ipv4Addr::LOCALHOST);
        let port = listener.local_addr().unwrap().port();
        let stream = connect(&host, port, Some(Duration::from_secs(5)), None).unwrap();
        assert!(stream.nodelay().unwrap(), "TCP_NODELAY is not set");
    }

    /// An address on loopback where nothing listens, very likely: a port
    /// just bound and released.
    fn closed_port_on_loopback() -> SocketAddr {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
    }

    #[test]
    fn a_refused_connection_exits_7_and_says_why() {
        let closed = closed_port_on_loopback();
        let host = Host::Ipv4(std::net::Ipv4Addr::LOCALHOST);
        let err = connect(&host, closed.port(), Some(Duration::from_secs(5)), None).unwrap_err();
        assert_eq!(Code::of(&err), Code::CouldntConnect);
        let message = format!("{err:#}");
        assert!(
            message.starts_with(&format!(
                "could not connect to 127.0.0.1 port {}: 127.0.0.1:",
                closed.port()
            )),
            "{message}"
        );
        assert!(message.contains("refused"), "{message}");
    }

    #[test]
    fn each_address_is_tried_in_turn() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let closed = closed_port_on_loopback();
        let limit = Some(Duration::from_secs(5));
        let stream = connect_first(&[closed, open], "test", limit, None).unwrap();
        assert_eq!(stream.peer_addr().unwrap(), open);
        let err = connect_first(&[closed, closed], "test", limit, None).unwrap_err();
        assert_eq!(Code::of(&err), Code::CouldntConnect);
        assert_eq!(format!("{err:#}").matches("refused").count(), 2, "{err:#}");
    }

    #[test]
    fn every_failed_address_is_told() {
        let closed = closed_port_on_loopback();
        let io = |kind| io::Error::new(kind, "x");
        let attempts = Attempts(vec![
            (closed, io(io::ErrorKind::ConnectionRefused)),
            (closed, io(io::ErrorKind::TimedOut)),
        ]);
        assert_eq!(attempts.to_string(), format!("{closed}: x; {closed}: x"));
        assert!(!attempts.all_timed_out());
        let timed_out = Attempts(vec![(closed, io(io::ErrorKind::TimedOut))]);
        assert!(timed_out.all_timed_out());
    }
}
