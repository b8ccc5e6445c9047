//! Time limits on a connection. Two kinds apply to every read and write.
//! The timeout (`--timeout`) ends a wait on a silent peer. A [`Deadline`]
//! ends a step that must finish by a given time however the bytes trickle
//! in: the whole fetch (`--max-time`), and each step of bounded size (the
//! TLS handshake, the response head), which a peer sending one byte just
//! before each timeout could otherwise stretch for days.
//!
//! The socket has one limit per wait, so [`TimedStream`] gives it, before
//! each read or write, the smaller of the two, and says which one ran out.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::human;

/// A time by which a step must be done, and the words that say it was not.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    limit: Duration,
    step: &'static str,
}

impl Deadline {
    /// The deadline of a `step` that starts now and may take `limit`
    /// (`None`: no limit, no deadline).
    pub fn after(limit: Option<Duration>, step: &'static str) -> Option<Deadline> {
        let limit = limit?;
        // A limit past what the clock can count (centuries) is no limit.
        let at = Instant::now().checked_add(limit)?;
        Some(Deadline { at, limit, step })
    }

    /// The deadline of a `step` that starts now and may take `limit`, within
    /// an `outer` deadline: whichever comes first.
    pub fn within(
        outer: Option<Deadline>,
        limit: Option<Duration>,
        step: &'static str,
    ) -> Option<Deadline> {
        match (outer, Deadline::after(limit, step)) {
            (Some(outer), Some(own)) if outer.at <= own.at => Some(outer),
            (outer, own) => own.or(outer),
        }
    }

    /// The time left, zero once passed.
    fn left(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// The time a wait may take: `limit` (`None`: none) cut to what is left
    /// of `deadline`. The error, a timeout saying so, once it has passed.
    pub fn cap(
        deadline: Option<Deadline>,
        limit: Option<Duration>,
    ) -> io::Result<Option<Duration>> {
        let Some(deadline) = deadline else {
            return Ok(limit);
        };
        let left = deadline.left();
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                deadline.to_string(),
            ));
        }
        Ok(Some(limit.map_or(left, |limit| limit.min(left))))
    }
}

impl fmt::Display for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} did not complete within {}",
            self.step,
            human::duration(self.limit)
        )
    }
}

/// How much longer than a wait may take the socket's limit may stay: a
/// deadline met this late is met, and a request whose head must arrive
/// within the timeout (a deadline a few microseconds short of it) then
/// costs no system calls to set the socket's limits.
const SLACK: Duration = Duration::from_millis(10);

/// True when a socket whose limit is `applied` may wait for at most
/// `limit` as it is: the same limit, or one longer by at most [`SLACK`]
/// (never a shorter one, which would end a wait too early).
fn may_stay(applied: Option<Duration>, limit: Option<Duration>) -> bool {
    match (applied, limit) {
        (Some(applied), Some(limit)) => applied >= limit && applied - limit <= SLACK,
        (applied, limit) => applied == limit,
    }
}

/// A TCP connection whose every read and write waits at most the timeout,
/// and never past the deadline.
#[derive(Debug)]
pub struct TimedStream {
    tcp: TcpStream,
    timeout: Option<Duration>,
    deadline: Option<Deadline>,
    /// The limit the socket has now, so that it is set again only when it
    /// changes: not at all while the deadline is further off than the
    /// timeout (or about as far: [`SLACK`]).
    applied: Option<Duration>,
}

impl TimedStream {
    /// `tcp` with these limits (`None`: none).
    pub fn new(tcp: TcpStream, timeout: Option<Duration>, deadline: Option<Deadline>) -> Self {
        TimedStream {
            tcp,
            timeout,
            deadline,
            applied: None,
        }
    }

    /// The socket underneath.
    pub fn socket(&self) -> &TcpStream {
        &self.tcp
    }

    /// The deadline every read and write must now meet.
    pub fn deadline(&self) -> Option<Deadline> {
        self.deadline
    }

    /// From now on, every read and write must be done by `deadline` (`None`:
    /// only the timeout applies).
    pub fn set_deadline(&mut self, deadline: Option<Deadline>) {
        self.deadline = deadline;
    }

    /// Gives the socket the limit the next wait may take.
    fn arm(&mut self) -> io::Result<()> {
        let limit = Deadline::cap(self.deadline, self.timeout)?;
        if !may_stay(self.applied, limit) {
            self.tcp.set_read_timeout(limit)?;
            self.tcp.set_write_timeout(limit)?;
            self.applied = limit;
        }
        Ok(())
    }

    /// A timeout of the socket, told as the limit that was reached.
    fn explain(&self, err: io::Error, waiting_for: &str) -> io::Error {
        if !matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            return err;
        }
        let message = match self.deadline {
            // The deadline, not the timeout, was what ran out.
            Some(deadline) if deadline.left() <= SLACK => deadline.to_string(),
            _ => format!(
                "{waiting_for} for {}",
                human::duration(self.applied.unwrap_or_default())
            ),
        };
        io::Error::new(io::ErrorKind::TimedOut, message)
    }
}

impl Read for TimedStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        self.tcp
            .read(buf)
            .map_err(|err| self.explain(err, "nothing received"))
    }
}

impl Write for TimedStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm()?;
        self.tcp
            .write(buf)
            .map_err(|err| self.explain(err, "nothing could be sent"))
    }

    /// Several buffers in one system call: rustls hands over a TLS flight
    /// (key exchange, change cipher spec, finished) as one buffer per
    /// record, and writing them one by one would send each as a segment of
    /// its own.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.arm()?;
        self.tcp
            .write_vectored(bufs)
            .map_err(|err| self.explain(err, "nothing could be sent"))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_limit_stays_only_when_it_ends_no_wait_early_nor_much_late() {
        let ms = Duration::from_millis;
        assert!(may_stay(None, None));
        assert!(may_stay(Some(ms(30_000)), Some(ms(30_000))));
        assert!(
            may_stay(Some(ms(30_000)), Some(ms(29_995))),
            "a little late"
        );
        assert!(!may_stay(Some(ms(30_000)), Some(ms(29_000))), "too late");
        assert!(!may_stay(Some(ms(29_995)), Some(ms(30_000))), "too early");
        assert!(!may_stay(None, Some(ms(1))));
        assert!(!may_stay(Some(ms(1)), None));
    }

    #[test]
    fn a_step_deadline_never_outlives_the_outer_one() {
        let outer = Deadline::after(Some(Duration::from_secs(1)), "outer");
        let step = |limit| Deadline::within(outer, limit, "step").map(|d| d.step);
        assert_eq!(step(Some(Duration::from_secs(60))), Some("outer"));
        assert_eq!(step(Some(Duration::from_millis(10))), Some("step"));
        assert_eq!(step(None), Some("outer"));
        assert!(Deadline::within(None, None, "step").is_none());

        let timeout = Some(Duration::from_secs(60));
        assert_eq!(Deadline::cap(None, timeout).unwrap(), timeout);
        let capped = Deadline::cap(outer, timeout).unwrap().unwrap();
        assert!(capped <= Duration::from_secs(1), "{capped:?}");
        let passed = Deadline::after(Some(Duration::from_nanos(1)), "the step");
        std::thread::sleep(Duration::from_millis(1));
        let err = Deadline::cap(passed, timeout).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(err.to_string(), "the step did not complete within 1ns");
    }

    #[test]
    fn a_silent_peer_times_out_naming_the_limit() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let _peer = listener.accept().unwrap();
        let mut timed = TimedStream::new(tcp, Some(Duration::from_millis(20)), None);
        let err = timed.read(&mut [0; 8]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(err.to_string(), "nothing received for 20ms");
        timed.set_deadline(Deadline::after(Some(Duration::from_millis(10)), "the step"));
        let err = timed.read(&mut [0; 8]).unwrap_err();
        assert_eq!(err.to_string(), "the step did not complete within 10ms");
    }
}
