//! The floor of the serve benchmark (`bench/serve.sh`): the least a
//! thread-per-connection greeting server can be on std::net. No logging, no
//! limits, no timeouts, no shutdown: what `sockdemo serve` is measured against.
//!
//! It speaks the raw mode of the greeting protocol, the one the load uses:
//! `Welcome!`, then each read is one message, answered `Hello, <message>!`;
//! `exit` or end of stream closes. Bytes are echoed as they are (no UTF-8
//! check), so it does no more work than the protocol needs.
//!
//! Usage: `cargo run --release --example floor_server [ADDR]` (default
//! `127.0.0.1:0`); it prints `listening on ADDR` once ready, like `sockdemo serve`.
//! Cargo.toml declares it as an example, so that it builds with the package.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;

use socket2::{Domain, Socket, Type};

/// Listen queue length: std's `TcpListener::bind` uses 128, which a burst of
/// thousands of connects overflows; the kernel caps this at net.core.somaxconn.
const BACKLOG: i32 = 4096;

/// Stack of each connection's thread: its one frame and a read buffer need
/// a few KiB; 10,000 threads at std's default 2 MiB would reserve 20 GiB.
const THREAD_STACK: usize = 64 * 1024;

/// Bytes read at a time: the tutorial's `recv(1024)`.
const READ_BUF: usize = 1024;

fn main() -> io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .as_deref()
        .unwrap_or("127.0.0.1:0")
        .parse()
        .map_err(io::Error::other)?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    let listener = TcpListener::from(socket);
    println!("listening on {}", listener.local_addr()?);
    for stream in listener.incoming() {
        // A failed accept or spawn loses that one client; the floor does
        // nothing more about it.
        let Ok(stream) = stream else { continue };
        let _ = thread::Builder::new()
            .stack_size(THREAD_STACK)
            .spawn(move || greet(stream));
    }
    Ok(())
}

/// One client's conversation; any I/O error simply ends it.
fn greet(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.write_all(b"Welcome!")?;
    let mut message = [0u8; READ_BUF];
    let mut reply = Vec::with_capacity(READ_BUF + 8);
    loop {
        let n = stream.read(&mut message)?;
        if n == 0 || &message[..n] == b"exit" {
            return Ok(());
        }
        reply.clear();
        reply.extend_from_slice(b"Hello, ");
        reply.extend_from_slice(&message[..n]);
        reply.push(b'!');
        stream.write_all(&reply)?;
    }
}
