//! One connection, on its own thread: the tutorial's `tcplink`.
//!
//! The hot path is one read and one write system call per round trip: a
//! read into a small fixed buffer, the framer's replies built into one
//! buffer, one write of that buffer. Idle clients are caught by the socket's
//! own receive and send timeouts, set once per connection, so no timeout is
//! set or checked per read.
//!
//! When the server ends a conversation itself (`exit` with more bytes
//! behind it, a line too long, the idle timeout, shutdown), the client may
//! still be sending. Closing a socket whose receive queue holds unread bytes
//! makes the kernel send a reset and throw away the replies still queued for
//! sending, so the connection closes the way nginx's `lingering_close` does:
//! it shuts its write side down (the replies, then the end of the stream, go
//! out), and reads and discards what the client still sends until the
//! client has acknowledged everything, closes or resets, for at most
//! [`LINGER`]: a probe that connects and closes at once frees its place
//! at once.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use log::{info, warn};

use super::registry::Slot;
use crate::greeting::{Flow, Framer, OUT_OF_MEMORY, RAW_MESSAGE_MAX, WELCOME};
use crate::human;

/// Bytes asked for per read: the tutorial's `recv(1024)`, so that raw mode
/// splits a long message where the tutorial does. The buffer lives on the
/// connection's stack; at 1 KiB, 10,000 connections hold 10 MiB of them.
const READ_BUF: usize = RAW_MESSAGE_MAX;

/// Reply buffer capacity kept between round trips. Replies to a long line can
/// grow the buffer to well over 64 KiB; it is given back after such a burst,
/// so that a mostly idle connection does not keep it.
const KEEP_REPLY_CAPACITY: usize = 8 * 1024;

/// The longest a closing connection waits for its client to take its last
/// replies (nginx's `lingering_time` is longer, but its clients are browsers
/// uploading bodies; a greeting client that has not read its replies in 2 s
/// is not reading them). A client that keeps sending is cut off here, so it
/// cannot hold the connection open.
pub const LINGER: Duration = Duration::from_secs(2);

/// While lingering, how often the connection looks whether the client has
/// acknowledged everything, and whether the server is hurrying to stop.
const LINGER_POLL: Duration = Duration::from_millis(10);

/// The coarsest clock tick the kernel measures a socket timeout in (100 Hz).
const CLOCK_TICK: Duration = Duration::from_millis(10);

/// Bytes discarded per read while lingering, once the client is seen to be
/// still sending. Until then a few bytes on the stack do: most clients send
/// nothing more, only acknowledge the end of the stream, and a buffer taken
/// for each of them would cost 10,000 closing connections tens of MiB.
const DISCARD_BUF: usize = 16 * 1024;

/// The first read while lingering, which usually sees only the client's end
/// of stream or a timeout.
const PROBE_BUF: usize = 64;

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
    /// The client sent `exit`, or closed its side.
    Finished,
    /// The client sent a line longer than the framer accepts.
    LineTooLong,
    /// The memory for the client's line or reply could not be allocated.
    OutOfMemory,
    /// The client sent nothing for the idle timeout.
    Silent,
    /// The client read none of the replies for the idle timeout.
    NotReading,
    /// The server is stopping and closed the connection.
    Stopping,
    /// The connection failed (a reset, most often).
    Failed(io::Error),
}

/// A connected socket, as the conversation sees it: bytes both ways, and
/// the error the kernel has pending for it. Tests stand in for the socket.
pub trait Peer: Read + Write {
    /// Takes the socket's pending error (`SO_ERROR`), if any.
    fn take_error(&self) -> io::Result<Option<io::Error>>;
}

impl Peer for &TcpStream {
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        TcpStream::take_error(self)
    }
}

/// Serves one accepted connection to its end, closes it without losing a
/// reply, then logs how it ended. Dropping `slot` frees the connection's
/// place, however this function ends (a panic included); it is dropped
/// after the socket is closed and before the closing line is logged, so that
/// the line is true when it appears.
pub fn serve(stream: Arc<TcpStream>, peer: SocketAddr, slot: Slot, settings: Settings) {
    info!("accepted a connection from {peer}");
    // `&TcpStream` reads and writes too, so the socket stays shared with the
    // registry, which shuts it down if the server stops.
    let end = prepare(&stream, settings).map_or_else(End::Failed, |()| {
        greet_and_answer(&mut &*stream, settings, || slot.closing())
    });
    if end.lets_replies_through() {
        linger(&stream, &slot);
    }
    drop(stream);
    drop(slot);
    let idle = settings
        .idle_timeout
        .map_or_else(String::new, human::duration);
    match end {
        End::Finished => info!("connection from {peer} closed"),
        End::LineTooLong => info!("connection from {peer} closed: line too long"),
        End::OutOfMemory => warn!("connection from {peer} closed: out of memory for its line"),
        End::Silent => info!("connection from {peer} closed: sent nothing for {idle}"),
        End::NotReading => info!("connection from {peer} closed: read no reply for {idle}"),
        End::Stopping => info!("connection from {peer} closed: the server is stopping"),
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
/// leaves, or `stopping()` says the server closes its connections. Generic
/// so that tests can count the calls it makes.
pub fn greet_and_answer(
    stream: &mut impl Peer,
    settings: Settings,
    stopping: impl Fn() -> bool,
) -> End {
    if let Err(err) = send(stream, WELCOME, settings.idle_timeout) {
        return write_failure(err);
    }
    let mut input = [0u8; READ_BUF];
    let mut replies = Vec::with_capacity(256);
    let mut framer = Framer::new();
    loop {
        // A busy client never blocks in `read`, where shutting the socket
        // down would reach it: it is told here, between two messages.
        if stopping() {
            return End::Stopping;
        }
        let read = match stream.read(&mut input) {
            // The server shut the socket down: the end is its, not the client's.
            Ok(0) if stopping() => return End::Stopping,
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) if stopping() => return End::Stopping,
            Err(err) => return read_failure(err),
        };
        if let Some(delay) = settings.delay {
            thread::sleep(delay);
        }
        let flow = if read == 0 {
            framer.finish(&mut replies)
        } else {
            framer.feed(&input[..read], &mut replies)
        };
        if !replies.is_empty() {
            if let Err(err) = send(stream, &replies, settings.idle_timeout) {
                // Its write side was shut down at the end of the grace: the
                // client is still sending, so the close must linger.
                if stopping() {
                    return End::Stopping;
                }
                return write_failure(err);
            }
            // Given back after a burst by letting it go: shrinking in place
            // is an allocation too, and one that cannot be caught.
            if replies.capacity() > KEEP_REPLY_CAPACITY {
                replies = Vec::new();
            } else {
                replies.clear();
            }
        }
        match flow {
            Flow::Continue => {}
            Flow::Close => return End::Finished,
            Flow::LineTooLong => return End::LineTooLong,
            Flow::OutOfMemory => {
                return match send(stream, OUT_OF_MEMORY, settings.idle_timeout) {
                    Ok(()) => End::OutOfMemory,
                    Err(err) => write_failure(err),
                };
            }
        }
    }
}

/// Writes all of `bytes`, in one call unless something cuts it short. A
/// blocking socket's write returns fewer bytes than asked only when its send
/// timeout (the idle timeout) ran out, or an error (a reset) or a signal
/// came, after part of them was taken. A pending error on the socket says it
/// was an error; a write that took the whole timeout, that it was the
/// timeout (`write_all` would then wait a second full timeout before
/// failing); otherwise a signal interrupted it, and the rest goes on.
fn send(stream: &mut impl Peer, mut bytes: &[u8], timeout: Option<Duration>) -> io::Result<()> {
    loop {
        let started = Instant::now();
        match stream.write(bytes) {
            Ok(written) if written == bytes.len() => return Ok(()),
            Ok(written) => {
                if let Some(err) = stream.take_error()? {
                    return Err(err);
                }
                // The kernel counts the timeout in clock ticks of up to 10 ms.
                if timeout.is_some_and(|timeout| started.elapsed() + CLOCK_TICK >= timeout) {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                bytes = &bytes[written..];
            }
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

impl End {
    /// Whether replies may still be on their way to a client that could
    /// still be sending: then the close lingers. Not after a reset (nothing
    /// can be delivered), nor for a client that reads nothing.
    fn lets_replies_through(&self) -> bool {
        !matches!(self, End::NotReading | End::Failed(_))
    }
}

/// The lingering close: shut the write side down, so that the queued
/// replies and then the end of the stream go out, and read and discard what
/// the client still sends, until the client has acknowledged every byte
/// (`SIOCOUTQ` is zero), closes its side or resets, [`LINGER`] has passed,
/// or the server hurries to stop. Only then may the socket be closed without a reset destroying
/// replies the client has not received. Stopping after a byte count instead
/// would bring the reset back for a client that keeps sending.
fn linger(stream: &TcpStream, slot: &Slot) {
    if slot.hurrying() || stream.set_read_timeout(Some(LINGER_POLL)).is_err() {
        return;
    }
    // It may be shut down already (at the end of the grace period); a dead
    // socket shows in the send queue below.
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + LINGER;
    let mut probe = [0u8; PROBE_BUF];
    let mut discard = Vec::new();
    while Instant::now() < deadline && !slot.hurrying() {
        match crate::platform::send_queue::unacknowledged(stream) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let buffer: &mut [u8] = if discard.is_empty() {
            &mut probe
        } else {
            &mut discard
        };
        match (&*stream).read(buffer) {
            // The client has closed (or the server shut the socket down to
            // end the wait): nothing unread is left, so closing sends no
            // reset, and the kernel still delivers what is queued. A probe
            // that connects and closes at once frees its place here.
            Ok(0) => return,
            Ok(_) => discard.resize(DISCARD_BUF, 0),
            Err(err) if is_retry(&err) => {}
            // A reset: nothing more can be delivered.
            Err(_) => return,
        }
    }
}

/// A read that timed out or was interrupted: try again.
fn is_retry(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No delay, no idle timeout.
    const PLAIN: Settings = Settings {
        delay: None,
        idle_timeout: None,
    };
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

    impl Peer for Scripted {
        fn take_error(&self) -> io::Result<Option<io::Error>> {
            Ok(None)
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
        let end = greet_and_answer(&mut stream, PLAIN, || false);
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
        assert!(matches!(
            greet_and_answer(&mut stream, PLAIN, || false),
            End::Finished
        ));
        assert_eq!(
            stream.written,
            b"Welcome!Hello, Michael!Hello, Tracy!Hello, Sarah!"
        );
        assert_eq!((stream.read_calls, stream.write_calls), (4, 4));
    }

    #[test]
    fn a_tail_is_answered_at_end_of_stream() {
        let mut stream = Scripted::of(&[b"a\nb"]);
        assert!(matches!(
            greet_and_answer(&mut stream, PLAIN, || false),
            End::Finished
        ));
        assert_eq!(stream.written, b"Welcome!Hello, a!\nHello, b!");
    }

    #[test]
    fn timeouts_tell_silent_from_not_reading() {
        let timed_out = || Err(io::Error::from(io::ErrorKind::WouldBlock));
        let mut silent = Scripted::new([Ok(b"a\n".to_vec()), timed_out()]);
        assert!(matches!(
            greet_and_answer(&mut silent, PLAIN, || false),
            End::Silent
        ));
        assert_eq!(silent.written, b"Welcome!Hello, a!\n");

        struct Stuck;
        impl Read for Stuck {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Ok(1)
            }
        }
        impl Peer for Stuck {
            fn take_error(&self) -> io::Result<Option<io::Error>> {
                Ok(None)
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
        assert!(matches!(
            greet_and_answer(&mut Stuck, PLAIN, || false),
            End::NotReading
        ));
    }

    #[test]
    fn a_short_write_is_the_send_timeout_not_a_reason_to_wait_again() {
        /// Takes one byte of each write, as a socket whose send timeout ran
        /// out after part of a reply was taken.
        struct Short {
            reads: Scripted,
            write_calls: usize,
            pending: std::cell::Cell<Option<io::Error>>,
        }
        impl Read for Short {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.reads.read(buf)
            }
        }
        impl Peer for Short {
            fn take_error(&self) -> io::Result<Option<io::Error>> {
                Ok(self.pending.take())
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
            pending: std::cell::Cell::new(None),
        };
        let timed = Settings {
            delay: None,
            idle_timeout: Some(Duration::from_millis(1)),
        };
        assert!(matches!(
            greet_and_answer(&mut short, timed, || false),
            End::NotReading
        ));
        assert_eq!(short.write_calls, 1);

        // Without a timeout (or before it), a short write was a signal: the
        // rest of the reply goes on.
        let mut interrupted = Short {
            reads: Scripted::of(&[b"a\n"]),
            write_calls: 0,
            pending: std::cell::Cell::new(None),
        };
        assert!(matches!(
            greet_and_answer(&mut interrupted, PLAIN, || false),
            End::Finished
        ));
        assert_eq!(interrupted.write_calls, "Welcome!Hello, a!\n".len());

        // A client that is gone (killed while the server was writing to it)
        // leaves a pending reset: that is what the conversation reports.
        let mut gone = Short {
            reads: Scripted::of(&[b"a\n"]),
            write_calls: 0,
            pending: std::cell::Cell::new(Some(io::ErrorKind::ConnectionReset.into())),
        };
        let end = greet_and_answer(&mut gone, PLAIN, || false);
        assert!(
            matches!(end, End::Failed(ref e) if e.kind() == io::ErrorKind::ConnectionReset),
            "{end:?}"
        );
    }

    #[test]
    fn a_reset_ends_the_conversation_quietly() {
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        let mut stream = Scripted::new([Ok(b"a\n".to_vec()), Err(reset)]);
        let end = greet_and_answer(&mut stream, PLAIN, || false);
        assert!(
            matches!(end, End::Failed(ref e) if e.kind() == io::ErrorKind::ConnectionReset),
            "{end:?}"
        );
    }

    #[test]
    fn a_stopping_server_ends_a_busy_conversation_between_messages() {
        let mut stream = Scripted::of(&[b"a\n", b"b\n", b"c\n"]);
        let reads = std::cell::Cell::new(0);
        let end = greet_and_answer(&mut stream, PLAIN, || {
            reads.set(reads.get() + 1);
            reads.get() > 2
        });
        assert!(matches!(end, End::Stopping), "{end:?}");
        assert_eq!(stream.written, b"Welcome!Hello, a!\nHello, b!\n");
    }

    #[test]
    fn interrupted_reads_are_retried() {
        let interrupted = io::Error::from(io::ErrorKind::Interrupted);
        let mut stream = Scripted::new([Err(interrupted), Ok(b"x".to_vec())]);
        assert!(matches!(
            greet_and_answer(&mut stream, PLAIN, || false),
            End::Finished
        ));
        assert_eq!(stream.written, b"Welcome!Hello, x!");
    }

    #[test]
    fn a_failed_allocation_ends_the_connection_with_its_error_line() {
        // In line mode, a line that arrives a read at a time, while this
        // thread can allocate no more than 16 KiB at once: the line's
        // buffer cannot grow past it.
        let mut reads = vec![b"Ann\n".to_vec()];
        reads.extend(std::iter::repeat_n(vec![b'a'; READ_BUF], 40));
        let mut stream = Scripted::new(reads.into_iter().map(Ok));
        let end = {
            let _ceiling = crate::platform::alloc_limit::fail_above(16 * 1024);
            greet_and_answer(&mut stream, PLAIN, || false)
        };
        assert!(matches!(end, End::OutOfMemory), "{end:?}");
        assert_eq!(
            stream.written.escape_ascii().to_string(),
            "Welcome!Hello, Ann!\\nError: out of memory\\n"
        );

        // A reply that cannot be built: raw mode, 1 KiB of invalid UTF-8,
        // whose reply takes 3 KiB.
        let mut stream = Scripted::new([Ok(b"Bob".to_vec()), Ok(vec![0xff; READ_BUF])]);
        let end = {
            let _ceiling = crate::platform::alloc_limit::fail_above(2 * 1024);
            greet_and_answer(&mut stream, PLAIN, || false)
        };
        assert!(matches!(end, End::OutOfMemory), "{end:?}");
        assert_eq!(stream.written, b"Welcome!Hello, Bob!Error: out of memory\n");
    }

    #[test]
    fn a_line_too_long_is_refused() {
        let mut reads = vec![b"\n".to_vec()];
        reads.extend(std::iter::repeat_n(
            vec![b'a'; READ_BUF],
            crate::greeting::MAX_LINE / READ_BUF + 1,
        ));
        let mut stream = Scripted::new(reads.into_iter().map(Ok));
        assert!(matches!(
            greet_and_answer(&mut stream, PLAIN, || false),
            End::LineTooLong
        ));
        assert_eq!(stream.written, b"Welcome!Hello, !\nError: line too long\n");
    }
}
