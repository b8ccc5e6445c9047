//! TCP connections made without blocking, so that one thread can wait on
//! several at once: the race between the addresses of a name (Happy
//! Eyeballs) starts a connection to each in turn and takes the first that
//! succeeds. The socket is made by socket2; waiting on several is `poll`.
//!
//! A connection that wins is handed over as a blocking [`TcpStream`]:
//! only connecting is done this way, never the transfer.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// A TCP connection under way: its SYN is sent, its answer not yet seen.
/// Dropping it closes the socket, which abandons the attempt.
#[derive(Debug)]
pub struct Connecting {
    socket: Socket,
    addr: SocketAddr,
}

impl Connecting {
    /// Starts connecting to `addr` and returns at once. An error here is
    /// one the system knows without asking the network (no route, say).
    pub fn start(addr: SocketAddr) -> io::Result<Connecting> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        match socket.connect(&SockAddr::from(addr)) {
            Ok(()) => {}
            Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(err) => return Err(err),
        }
        Ok(Connecting { socket, addr })
    }

    /// The address being connected to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The outcome of an attempt that [`wait_any`] said is done: the
    /// connected stream, blocking again, or why the connection failed.
    pub fn finish(self) -> io::Result<TcpStream> {
        if let Some(err) = self.socket.take_error()? {
            return Err(err);
        }
        // Not connected without an error would be a wait that returned too
        // early: `peer_addr` then fails with ENOTCONN rather than a stream
        // that cannot carry anything being handed on.
        self.socket.peer_addr()?;
        self.socket.set_nonblocking(false)?;
        Ok(TcpStream::from(self.socket))
    }
}

/// Waits until at least one of `attempts` is done (connected or failed),
/// for at most `limit` (`None`: as long as it takes). For each attempt, in
/// order, whether it is done; none is when `limit` passed first, or a
/// signal interrupted the wait.
#[allow(unsafe_code)]
pub fn wait_any(attempts: &[Connecting], limit: Option<Duration>) -> io::Result<Vec<bool>> {
    let mut fds: Vec<libc::pollfd> = attempts
        .iter()
        .map(|attempt| libc::pollfd {
            fd: attempt.socket.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        })
        .collect();
    let count = libc::nfds_t::try_from(fds.len()).map_err(io::Error::other)?;
    // SAFETY: `fds` is a live, exclusively borrowed array of `count`
    // pollfd structures, which poll writes `revents` into and nothing else;
    // each descriptor belongs to a socket of `attempts`, open for the call.
    let result = unsafe { libc::poll(fds.as_mut_ptr(), count, poll_millis(limit)) };
    if result < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(err);
    }
    // A failed connection is writable too, and may say so with POLLERR or
    // POLLHUP alone: each means the attempt has an outcome to read.
    let done = libc::POLLOUT | libc::POLLERR | libc::POLLHUP;
    Ok(fds.iter().map(|fd| fd.revents & done != 0).collect())
}

/// `limit` in poll's milliseconds (-1: no limit), rounded up, so that a wait
/// of a fraction of a millisecond does not become a busy loop of zeros.
fn poll_millis(limit: Option<Duration>) -> libc::c_int {
    let Some(limit) = limit else {
        return -1;
    };
    let millis = limit.as_nanos().div_ceil(1_000_000);
    libc::c_int::try_from(millis).unwrap_or(libc::c_int::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;
    use std::time::Instant;

    #[test]
    fn a_listening_port_connects_and_a_closed_one_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let closed = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap();
        let attempts = vec![
            Connecting::start(closed).unwrap(),
            Connecting::start(open).unwrap(),
        ];
        let bound = Some(Duration::from_secs(5));
        let mut outcomes = Vec::new();
        let mut pending = attempts;
        while !pending.is_empty() {
            let done = wait_any(&pending, bound).unwrap();
            assert!(done.contains(&true), "the wait ended with nothing done");
            let (finished, rest): (Vec<_>, Vec<_>) =
                pending.into_iter().zip(done).partition(|(_, done)| *done);
            pending = rest.into_iter().map(|(attempt, _)| attempt).collect();
            for (attempt, _) in finished {
                outcomes.push((attempt.addr(), attempt.finish()));
            }
        }
        outcomes.sort_by_key(|(addr, _)| *addr == open);
        let [(_, refused), (_, connected)] = &outcomes[..] else {
            panic!("{outcomes:?}")
        };
        let refused = refused.as_ref().unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        let stream = connected.as_ref().unwrap();
        assert_eq!(stream.peer_addr().unwrap(), open);
        // Blocking again: a read with a timeout waits rather than failing at once.
        stream
            .set_read_timeout(Some(Duration::from_millis(30)))
            .unwrap();
        let started = Instant::now();
        let err = (&*stream).read_exact(&mut [0; 1]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(started.elapsed() >= Duration::from_millis(25));
    }

    #[test]
    fn waiting_ends_at_the_limit() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let attempt = Connecting::start(listener.local_addr().unwrap()).unwrap();
        // Connected at once on loopback: done without waiting.
        assert_eq!(wait_any(&[attempt], None).unwrap(), vec![true]);
        let started = Instant::now();
        assert_eq!(
            wait_any(&[], Some(Duration::from_millis(20))).unwrap(),
            Vec::<bool>::new()
        );
        assert!(started.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn poll_limits_round_up() {
        assert_eq!(poll_millis(None), -1);
        assert_eq!(poll_millis(Some(Duration::ZERO)), 0);
        assert_eq!(poll_millis(Some(Duration::from_nanos(1))), 1);
        assert_eq!(poll_millis(Some(Duration::from_millis(250))), 250);
        assert_eq!(
            poll_millis(Some(Duration::from_secs(u64::MAX))),
            libc::c_int::MAX
        );
    }
}
