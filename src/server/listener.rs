//! The listening socket: the tutorial's `socket` / `setsockopt` / `bind` /
//! `listen`, with the backlog under the user's control (std's
//! `TcpListener::bind` always asks for 128).

use std::net::{SocketAddr, TcpListener};

use anyhow::Context;
use socket2::{Domain, Protocol, Socket, Type};

/// Binds and listens on `addr` with a listen queue of `backlog` connections.
/// On the IPv6 unspecified address `[::]` it takes IPv4 clients too.
pub fn listen(addr: SocketAddr, backlog: usize) -> anyhow::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .context("creating the listening socket")?;
    // A restarted server can bind again at once, while the previous run's
    // connections linger in TIME_WAIT.
    socket
        .set_reuse_address(true)
        .context("setting SO_REUSEADDR")?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket
            .set_only_v6(false)
            .context("making [::] accept IPv4 too")?;
    }
    socket
        .bind(&addr.into())
        .with_context(|| format!("cannot listen on {addr}"))?;
    // The kernel quietly caps this at net.core.somaxconn.
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    socket
        .listen(backlog)
        .with_context(|| format!("cannot listen on {addr}"))?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_in_use_is_a_clear_error() {
        let first = listen("127.0.0.1:0".parse().expect("address"), 16).expect("listen");
        let addr = first.local_addr().expect("addr");
        let err = listen(addr, 16).expect_err("second bind");
        assert_eq!(
            format!("{err:#}"),
            format!("cannot listen on {addr}: Address already in use (os error 98)")
        );
    }
}
