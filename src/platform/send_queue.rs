//! How much of a socket's send queue the peer has not acknowledged yet,
//! and how much of its receive queue is unread: what the server's
//! lingering close waits for, and how the end of the grace period tells an
//! idle connection, which may close at once.

use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;

/// Bytes written to `stream` that the peer has not acknowledged yet
/// (`SIOCOUTQ`): unsent bytes plus those in flight, and the FIN once the
/// write side is shut down. Zero means the peer's kernel holds everything.
#[allow(unsafe_code)]
pub fn unacknowledged(stream: &TcpStream) -> io::Result<usize> {
    let mut queued: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (the same number as TIOCOUTQ) writes one c_int to the
    // pointer given, which points at `queued`, alive for the whole call.
    let result = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(queued).unwrap_or(0))
}

/// Bytes received on `stream` that nobody has read yet (`SIOCINQ`, the
/// same number as `FIONREAD`).
#[allow(unsafe_code)]
pub fn unread(stream: &TcpStream) -> io::Result<usize> {
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int to the pointer given, which points
    // at `queued`, alive for the whole call.
    let result = unsafe { libc::ioctl(stream.as_raw_fd(), libc::FIONREAD, &mut queued) };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(queued).unwrap_or(0))
}

/// Whether `stream` is idle both ways: nothing received is unread, and the
/// peer has acknowledged everything sent (the end of the stream included,
/// once the write side is shut down). Closing such a socket loses nothing
/// and sends no reset. A socket that cannot say is not idle.
pub fn idle(stream: &TcpStream) -> bool {
    matches!((unread(stream), unacknowledged(stream)), (Ok(0), Ok(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acknowledged_socket_has_nothing_queued() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (mut server, _) = listener.accept().expect("accept");
        client.write_all(b"ping").expect("write");
        let mut got = [0u8; 4];
        server.read_exact(&mut got).expect("read");
        // The peer's kernel acknowledges at once on loopback; wait for it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while unacknowledged(&client).expect("SIOCOUTQ") != 0 {
            assert!(std::time::Instant::now() < deadline, "never acknowledged");
            std::thread::yield_now();
        }
    }

    #[test]
    fn unread_bytes_make_a_socket_busy() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (mut server, _) = listener.accept().expect("accept");
        assert!(idle(&server));
        client.write_all(b"ping").expect("write");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while unread(&server).expect("FIONREAD") != 4 {
            assert!(std::time::Instant::now() < deadline, "never arrived");
            std::thread::yield_now();
        }
        assert!(!idle(&server));
        let mut got = [0u8; 4];
        server.read_exact(&mut got).expect("read");
        assert!(idle(&server));
    }
}
