//! One connection, on its own thread: the tutorial's `tcplink`.
//!
//! The hot path is one read and one write system call per round trip: a
//! read into a small fixed buffer, the framer's replies built into one
//! buffer, one write of that buffer. Idle clients are caught by the socket's
//! own receive and send timeouts, set once per connection, so no timeout is
//! set or checked per read.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use log::info;

use super::registry::Slot;
use crate::greeting::{Flow, Framer, WELCOME};

/// Bytes asked for per read: the tutorial's `recv(1024)`, so that raw mode
/// splits a long message where the tutorial does. The buffer lives on the
/// connection's stack; at 1 KiB, 10,000 connections hold 10 MiB of them.
const READ_BUF: usize = 1024;

/// Reply buffer capacity kept between round trips. Replies to a long line can
/// grow the buffer to well over 64 KiB; it is given back after such a burst,
/// so that a mostly idle connection does not keep it.
const KEEP_REPLY_CAPACITY: usize = 8 * 1024;

/// What a connection needs besides its socket.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Sleep after each read, like the tutorial's server.
    pub delay: Option<Duration>,
    /// How long a client may send nothing, or read nothing, before it is closed.
    pub idle_timeout: Option<Duration>,
}

/// Why a conversation ended.
#[derive(Debug)]
pub enum End {
    /// The client sent `exit` or closed its side.
    Finished,
    /// The client sent a line longer than the framer accepts.
    LineTooLong,
    /// The client sent nothing for the idle timeout.
    Silent,
    /// The client read none of the replies for the idle timeout.
    NotReading,
    /// The connection failed (a reset, most often).
    Failed(io::Error),
}

/// Serves one accepted connection to its end, then logs how it ended.
/// Dropping `slot` closes the socket and frees the connection's place,
/// however this function ends (a panic included); it is dropped before the
/// closing line is logged, so that the line is true when it appears.
pub fn serve(stream: Arc<TcpStream>, peer: SocketAddr, slot: Slot, settings: Settings) {
    info!("accepted a connection from {peer}");
    // `&TcpStream` reads and writes too, so the socket stays shared with the
    // registry, which shuts it down if the server stops.
    let end = prepare(&stream, settings)
        .map_or_else(End::Failed, |()| converse(&mut &*stream, settings.delay));
    drop(stream);
    drop(slot);
    let idle = settings.idle_timeout.unwrap_or_default();
    match end {
        End::Finished => info!("connection from {peer} closed"),
        End::LineTooLong => info!("connection from {peer} closed: line too long"),
        End::Silent => info!("connection from {peer} closed: sent nothing for {idle:?}"),
        End::NotReading => info!("connection from {peer} closed: read no reply for {idle:?}"),
        End::Failed(err) => info!("connection from {peer} closed: {err}"),
    }
}

/// Sets the socket up once for the whole conversation.
fn prepare(stream: &TcpStream, settings: Settings) -> io::Result<()> {
    // Each reply is complete when written; Nagle's algorithm would hold it
    // back waiting for the client's ACK and add a round trip of latency.
    stream.set_nodelay(true)?;
    stream.set_read_timeout(settings.idle_timeout)?;
    stream.set_write_timeout(settings.idle_timeout)
}

/// The conversation: welcome, then a reply to each message until the client
/// leaves. Generic so that tests can count the calls it makes.
pub fn converse(stream: &mut (impl Read + Write), delay: Option<Duration>) -> End {
    if let Err(err) = send(stream, WELCOME) {
        return write_failure(err);
    }
    let mut input = [0u8; READ_BUF];
    let mut replies = Vec::with_capacity(256);
    let mut framer = Framer::new();
    loop {
        let read = match stream.read(&mut input) {
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return read_failure(err),
        };
        if let Some(delay) = delay {
            thread::sleep(delay);
        }
        let flow = if read == 0 {
            framer.finish(&mut replies)
        } else {
            framer.feed(&input[..read], &mut replies)
        };
        if !replies.is_empty() {
            if let Err(err) = send(stream, &replies) {
                return write_failure(err);
            }
            replies.clear();
            replies.shrink_to(KEEP_REPLY_CAPACITY);
        }
        match flow {
            Flow::Continue => {}
            Flow::Close => return End::Finished,
            Flow::LineTooLong => return End::LineTooLong,
        }
    }
}

/// Writes all of `bytes` in one call. A blocking socket's write returns
/// fewer bytes than asked only when its send timeout (the idle timeout) ran
/// out, or a signal came, after part of them was taken: the client has not
/// been reading. `write_all` would then wait a second full timeout before
/// failing, so a short write is taken as that timeout instead.
fn send(stream: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    loop {
        match stream.write(bytes) {
            Ok(written) if written == bytes.len() => return Ok(()),
            Ok(_) => return Err(io::ErrorKind::TimedOut.into()),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

/// A read that fails with a timeout means the client said nothing for that long.
fn read_failure(err: io::Error) -> End {
    match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => End::Silent,
        _ => End::Failed(err),
    }
}

/// A write that fails with a timeout means the client stopped reading.
fn write_failure(err: io::Error) -> End {
    match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => End::NotReading,
        _ => End::Failed(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A stream that plays scripted reads and records every call.
    struct Scripted {
        reads: VecDeque<io::Result<Vec<u8>>>,
        read_calls: usize,
        write_calls: usize,
        written: Vec<u8>,
    }

    impl Scripted {
        fn new(reads: impl IntoIterator<Item = io::Result<Vec<u8>>>) -> Scripted {
            Scripted {
                reads: reads.into_iter().collect(),
                read_calls: 0,
                write_calls: 0,
                written: Vec::new(),
            }
        }

        fn of(reads: &[&[u8]]) -> Scripted {
            Scripted::new(reads.iter().map(|r| Ok(r.to_vec())))
        }
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.read_calls += 1;
            match self.reads.pop_front() {
                None => Ok(0),
                Some(Err(err)) => Err(err),
                Some(Ok(bytes)) => {
                    assert!(bytes.len() <= buf.len(), "script read too large");
                    buf[..bytes.len()].copy_from_slice(&bytes);
                    Ok(bytes.len())
                }
            }
        }
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_calls += 1;
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn one_read_and_one_write_per_round_trip() {
        let rounds = 1000;
        let names: Vec<Vec<u8>> = (0..rounds)
            .map(|i| format!("n{i}\r\n").into_bytes())
            .collect();
        let mut stream = Scripted::new(names.iter().cloned().map(Ok));
        let end = converse(&mut stream, None);
        assert!(matches!(end, End::Finished));
        // Every round trip, plus the read that sees the end of the stream.
        assert_eq!(stream.read_calls, rounds + 1);
        // Every round trip, plus the welcome.
        assert_eq!(stream.write_calls, rounds + 1);
        let expected: Vec<u8> = WELCOME
            .iter()
            .copied()
            .chain((0..rounds).flat_map(|i| format!("Hello, n{i}!\r\n").into_bytes()))
            .collect();
        assert_eq!(stream.written, expected);
    }

    #[test]
    fn raw_mode_round_trips_are_one_read_and_one_write_too() {
        let mut stream = Scripted::of(&[b"Michael", b"Tracy", b"Sarah", b"exit"]);
        assert!(matches!(converse(&mut stream, None), End::Finished));
        assert_eq!(
            stream.written,
            b"Welcome!Hello, Michael!Hello, Tracy!Hello, Sarah!"
        );
        assert_eq!((stream.read_calls, stream.write_calls), (4, 4));
    }

    #[test]
    fn a_tail_is_answered_at_end_of_stream() {
        let mut stream = Scripted::of(&[b"a\nb"]);
        assert!(matches!(converse(&mut stream, None), End::Finished));
        assert_eq!(stream.written, b"Welcome!Hello, a!\nHello, b!");
    }

    #[test]
    fn timeouts_tell_silent_from_not_reading() {
        let timed_out = || Err(io::Error::from(io::ErrorKind::WouldBlock));
        let mut silent = Scripted::new([Ok(b"a\n".to_vec()), timed_out()]);
        assert!(matches!(converse(&mut silent, None), End::Silent));
        assert_eq!(silent.written, b"Welcome!Hello, a!\n");

        struct Stuck;
        impl Read for Stuck {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Ok(1)
            }
        }
        impl Write for Stuck {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::WouldBlock.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        assert!(matches!(converse(&mut Stuck, None), End::NotReading));
    }

    #[test]
    fn a_short_write_is_the_send_timeout_not_a_reason_to_wait_again() {
        /// Takes one byte of each write, as a socket whose send timeout ran
        /// out after part of a reply was taken.
        struct Short {
            reads: Scripted,
            write_calls: usize,
        }
        impl Read for Short {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.reads.read(buf)
            }
        }
        impl Write for Short {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                self.write_calls += 1;
                Ok(1)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut short = Short {
            reads: Scripted::of(&[b"a\n"]),
            write_calls: 0,
        };
        assert!(matches!(converse(&mut short, None), End::NotReading));
        assert_eq!(short.write_calls, 1);
    }

    #[test]
    fn a_reset_ends_the_conversation_quietly() {
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        let mut stream = Scripted::new([Ok(b"a\n".to_vec()), Err(reset)]);
        let end = converse(&mut stream, None);
        assert!(
            matches!(end, End::Failed(ref e) if e.kind() == io::ErrorKind::ConnectionReset),
            "{end:?}"
        );
    }

    #[test]
    fn interrupted_reads_are_retried() {
        let interrupted = io::Error::from(io::ErrorKind::Interrupted);
        let mut stream = Scripted::new([Err(interrupted), Ok(b"x".to_vec())]);
        assert!(matches!(converse(&mut stream, None), End::Finished));
        assert_eq!(stream.written, b"Welcome!Hello, x!");
    }

    #[test]
    fn a_line_too_long_is_refused() {
        let mut reads = vec![b"\n".to_vec()];
        reads.extend(std::iter::repeat_n(
            vec![b'a'; READ_BUF],
            crate::greeting::MAX_LINE / READ_BUF + 1,
        ));
        let mut stream = Scripted::new(reads.into_iter().map(Ok));
        assert!(matches!(converse(&mut stream, None), End::LineTooLong));
        assert_eq!(stream.written, b"Welcome!Hello, !\nError: line too long\n");
    }
}
