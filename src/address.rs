//! The ADDR values of `--listen` and `--connect`: `IP:PORT`, `HOST:PORT`, or
//! a port alone.
//!
//! People coming from nc and socat type host names and bare ports, so both
//! are accepted. A bare port means the default host, 127.0.0.1, so that a
//! server started with `--listen 9999` stays reachable from this machine
//! only, as by default. `:9999` is refused: tools disagree on whether it
//! means every interface or this machine only, and the difference matters.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};

/// The host a bare port means: this machine only.
pub const DEFAULT_HOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// An address from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// An IP address and port, used as given.
    Ip(SocketAddr),
    /// A host name and port, resolved when used.
    Name {
        /// The host name (`localhost`).
        host: String,
        /// The port.
        port: u16,
    },
}

/// Parses an ADDR: `IP:PORT` (`[::1]:9999` for IPv6), `HOST:PORT`, or `PORT`.
pub fn parse(text: &str) -> Result<Address, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(Address::Ip(addr));
    }
    if let Ok(port) = text.parse::<u16>() {
        return Ok(Address::Ip(SocketAddr::new(DEFAULT_HOST, port)));
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!(
            "\"{text}\" has no port: write HOST:PORT, IP:PORT, or a port alone"
        ));
    };
    if host.is_empty() {
        return Err(format!(
            "\"{text}\" has no host: write 0.0.0.0:{port} or [::]:{port} for every interface, or {port} for this machine only"
        ));
    }
    if host.contains(':') {
        return Err(format!(
            "\"{text}\" is not an address: an IPv6 address goes in brackets, as in [::1]:9999"
        ));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| format!("\"{port}\" is not a port (0 to 65535)"))?;
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_';
    if !host.chars().all(valid) {
        return Err(format!("\"{host}\" is not a host name"));
    }
    Ok(Address::Name {
        host: host.to_owned(),
        port,
    })
}

impl Address {
    /// The socket addresses it stands for, in the resolver's order.
    pub fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        match self {
            Address::Ip(addr) => Ok(vec![*addr]),
            Address::Name { host, port } => {
                let addrs: Vec<SocketAddr> = (host.as_str(), *port).to_socket_addrs()?.collect();
                if addrs.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        "the name has no address",
                    ));
                }
                Ok(addrs)
            }
        }
    }

    /// The address to listen on: the first IPv4 address of a name, if it
    /// has one, so that the default client (127.0.0.1) reaches a server
    /// started on `localhost`; otherwise its first address.
    pub fn resolve_for_listening(&self) -> io::Result<SocketAddr> {
        let addrs = self.resolve()?;
        Ok(addrs
            .iter()
            .copied()
            .find(SocketAddr::is_ipv4)
            .unwrap_or(addrs[0]))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Ip(addr) => write!(f, "{addr}"),
            Address::Name { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Address {
        Address::Ip(text.parse().expect("socket address"))
    }

    #[test]
    fn ip_addresses_and_bare_ports() {
        assert_eq!(parse("127.0.0.1:9999"), Ok(ip("127.0.0.1:9999")));
        assert_eq!(parse("[::1]:80"), Ok(ip("[::1]:80")));
        assert_eq!(parse("0.0.0.0:0"), Ok(ip("0.0.0.0:0")));
        assert_eq!(parse("9999"), Ok(ip("127.0.0.1:9999")));
        assert_eq!(parse("0"), Ok(ip("127.0.0.1:0")));
    }

    #[test]
    fn host_names() {
        assert_eq!(
            parse("localhost:9999"),
            Ok(Address::Name {
                host: "localhost".into(),
                port: 9999
            })
        );
        assert_eq!(
            parse("ip6-localhost:1").map(|a| a.to_string()),
            Ok("ip6-localhost:1".to_owned())
        );
    }

    #[test]
    fn a_missing_host_is_refused_with_a_hint() {
        assert_eq!(
            parse(":9999"),
            Err("\":9999\" has no host: write 0.0.0.0:9999 or [::]:9999 for every interface, or 9999 for this machine only".to_owned())
        );
    }

    #[test]
    fn malformed_addresses_say_what_is_wrong() {
        assert!(
            parse("localhost")
                .expect_err("no port")
                .contains("has no port")
        );
        assert!(
            parse("localhost:http")
                .expect_err("port")
                .contains("is not a port")
        );
        assert!(
            parse("localhost:70000")
                .expect_err("port")
                .contains("is not a port")
        );
        assert!(parse("::1:9999").expect_err("v6").contains("in brackets"));
        assert!(
            parse("a b:1")
                .expect_err("host")
                .contains("is not a host name")
        );
    }

    #[test]
    fn localhost_resolves_to_loopback_and_listens_on_ipv4() {
        let localhost = parse("localhost:9").expect("parse");
        let addrs = localhost.resolve().expect("resolve localhost");
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
        assert_eq!(
            localhost.resolve_for_listening().expect("resolve"),
            "127.0.0.1:9".parse().expect("addr")
        );
    }

    #[test]
    fn the_documented_forms() {
        use crate::address::{Address, parse};
        assert_eq!(
            parse("9999"),
            Ok(Address::Ip("127.0.0.1:9999".parse().unwrap()))
        );
        assert!(parse(":9999").is_err());
    }
}
