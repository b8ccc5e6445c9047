//! `sockdemo client`: the tutorial's client (`seed_client.py`), done properly.
//!
//! Three modes share one `Connection`, which knows what it waits for: a
//! reply is complete when the expected bytes have arrived, however TCP splits
//! them, and incomplete replies give up after the timeout.
//!
//! - names (the default): the tutorial's session. Each name goes out as one
//!   write with no line ending, the way the tutorial sends it, so the server
//!   answers in raw mode; `exit` ends it.
//! - `--stdin`: each line of standard input goes out with its line ending, so
//!   sockdemo's server answers in line mode; the replies are printed as they
//!   arrive. A thread sends while the main thread reads, so that a long line
//!   can never leave both sides waiting for the other to read.
//! - load (`--connections N`): see the `load` module.
//!
//! Errors name the address and carry curl's exit codes: 6 cannot resolve,
//! 7 cannot connect, 28 timed out, 55 sending failed, 56 receiving failed or
//! the server closed early, 8 the server sent something else than the
//! protocol says.

mod load;
mod stdin;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::address::Address;
use crate::exit::{Code, WithCode, fail, fail_with};
use crate::greeting::{EXIT, RAW_MESSAGE_MAX, WELCOME, write_reply};
use crate::human;

pub use load::{Load, MAX_ROUNDS, Run};

/// The client's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The server to talk to.
    pub connect: Address,
    /// How long to wait for a connection or a whole reply (`None`: forever).
    pub timeout: Option<Duration>,
    /// What to do once connected.
    pub mode: Mode,
}

/// What the client does.
#[derive(Debug, Clone)]
pub enum Mode {
    /// The tutorial's session: send each name, print each reply.
    Names(Vec<String>),
    /// Send each line of standard input, print each reply line.
    Stdin,
    /// Open many connections at once and time round trips on each.
    Load(Load),
}

/// Bytes asked of the kernel per read. Replies are short; a longer one
/// simply takes several reads.
const READ_CHUNK: usize = 4096;

/// Runs the client in the mode the configuration asks for.
pub fn run(config: &Config) -> anyhow::Result<()> {
    let addrs = resolve(&config.connect)?;
    let outcome = match &config.mode {
        Mode::Names(names) => send_names(&addrs, config.timeout, names),
        Mode::Stdin => stdin::relay(&addrs, config.timeout),
        Mode::Load(load) => load::run(&addrs, config.timeout, load),
    };
    match outcome {
        // A reader that stops reading (`sockdemo client | head -1`) is not a failure.
        Err(err) if stdout_closed(&err) => Ok(()),
        other => other,
    }
}

/// The addresses a name stands for; an IP address stands for itself.
fn resolve(address: &Address) -> anyhow::Result<Vec<SocketAddr>> {
    address
        .resolve()
        .with_code(Code::CouldntResolve, || format!("cannot resolve {address}"))
}

/// The tutorial's session: print the welcome, send each name and print its
/// reply, then say `exit`.
fn send_names(
    addrs: &[SocketAddr],
    timeout: Option<Duration>,
    names: &[String],
) -> anyhow::Result<()> {
    for name in names {
        check_name(name)?;
    }
    let mut connection = Connection::open(addrs, timeout)?;
    let mut stdout = io::stdout().lock();
    connection.expect(WELCOME)?;
    print_line(&mut stdout, WELCOME)?;
    let mut reply = Vec::new();
    for name in names {
        connection.send(name.as_bytes())?;
        reply.clear();
        write_reply(name.as_bytes(), &mut reply);
        connection.expect(&reply)?;
        print_line(&mut stdout, &reply)?;
    }
    connection.send(EXIT)
}

/// A name is sent as one raw message, so it must be one the server can see
/// as one: TCP cannot carry an empty message, a line feed would switch
/// sockdemo's server to line mode, `exit` would end the conversation, and
/// the server reads at most 1 KiB at a time, answering a longer message in
/// pieces.
fn check_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty() {
        return Err(fail(Code::Usage, "a name cannot be empty"));
    }
    if name.contains('\n') {
        return Err(fail(
            Code::Usage,
            format!(
                "a name cannot contain a line feed: \"{}\" (use --stdin to send lines)",
                name.escape_debug()
            ),
        ));
    }
    if name.as_bytes() == EXIT {
        return Err(fail(
            Code::Usage,
            "\"exit\" ends the conversation, it cannot be a name",
        ));
    }
    if name.len() > RAW_MESSAGE_MAX {
        return Err(fail(
            Code::Usage,
            format!(
                "a name is at most {RAW_MESSAGE_MAX} bytes, this one has {}: the server reads a raw message {RAW_MESSAGE_MAX} bytes at a time (use --stdin to send longer lines)",
                name.len()
            ),
        ));
    }
    Ok(())
}

/// Whether an error is standard output closed by its reader.
fn stdout_closed(err: &anyhow::Error) -> bool {
    Code::of(err) == Code::WriteError
        && crate::exit::io_cause(err).is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// Prints one line of program output.
fn print_line(out: &mut impl Write, line: &[u8]) -> anyhow::Result<()> {
    out.write_all(line)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .with_code(Code::WriteError, || "writing to standard output")
}

/// One connection to a greeting server, and the bytes received from it that
/// no reply has consumed yet.
struct Connection {
    stream: TcpStream,
    addr: SocketAddr,
    timeout: Option<Duration>,
    /// Whether the socket's read timeout was shortened to the rest of a
    /// reply's deadline, and must be restored before the next reply.
    shortened: bool,
    received: Vec<u8>,
}

impl Connection {
    /// Connects to the first of `addrs` that answers, trying each in turn
    /// and giving up on each after `timeout`; the error is the last one's.
    fn open(addrs: &[SocketAddr], timeout: Option<Duration>) -> anyhow::Result<Connection> {
        let mut last = None;
        for &addr in addrs {
            match Connection::open_one(addr, timeout) {
                Ok(connection) => return Ok(connection),
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(|| fail(Code::CouldntResolve, "no address to connect to")))
    }

    /// Connects to `addr`, giving up after `timeout`.
    fn open_one(addr: SocketAddr, timeout: Option<Duration>) -> anyhow::Result<Connection> {
        let connected = match timeout {
            Some(timeout) => TcpStream::connect_timeout(&addr, timeout),
            None => TcpStream::connect(addr),
        };
        let stream = connected.map_err(|err| match timeout {
            Some(timeout) if is_timeout(&err) => fail(
                Code::Timeout,
                format!(
                    "connecting to {addr}: no answer within {}",
                    human::duration(timeout)
                ),
            ),
            _ => fail_with(
                Code::CouldntConnect,
                format!("cannot connect to {addr}"),
                err,
            ),
        })?;
        // Each message is one small write that must leave at once: the server
        // may read it as one raw message, and Nagle would only add delay.
        stream
            .set_nodelay(true)
            .and_then(|()| stream.set_read_timeout(timeout))
            .and_then(|()| stream.set_write_timeout(timeout))
            .with_context(|| format!("setting up the connection to {addr}"))?;
        Ok(Connection {
            stream,
            addr,
            timeout,
            shortened: false,
            received: Vec::with_capacity(READ_CHUNK),
        })
    }

    /// Sends `message` whole.
    fn send(&mut self, message: &[u8]) -> anyhow::Result<()> {
        send_all(&self.stream, self.addr, self.timeout, message)
    }

    /// Waits for exactly `expected`, failing as soon as what arrived differs
    /// from it.
    fn expect(&mut self, expected: &[u8]) -> anyhow::Result<()> {
        let mut reply = self.start_reply()?;
        loop {
            let have = self.received.len().min(expected.len());
            if self.received[..have] != expected[..have] || self.received.len() > expected.len() {
                return Err(fail(
                    Code::BadResponse,
                    format!(
                        "{} sent \"{}\" where \"{}\" was expected",
                        self.addr,
                        self.received.escape_ascii(),
                        expected.escape_ascii()
                    ),
                ));
            }
            if have == expected.len() {
                self.received.clear();
                return Ok(());
            }
            self.receive(&mut reply, || format!("\"{}\"", expected.escape_ascii()))?;
        }
    }

    /// Waits for the server to close the connection, as it does after `exit`.
    fn expect_close(&mut self) -> anyhow::Result<()> {
        let mut reply = self.start_reply()?;
        while self.received.is_empty() {
            match self.read_some(&mut reply) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(err) => {
                    let awaited = || "the close after exit".to_owned();
                    return Err(self.receive_error(err, awaited));
                }
            }
        }
        Err(fail(
            Code::BadResponse,
            format!(
                "{} sent \"{}\" after exit instead of closing",
                self.addr,
                self.received.escape_ascii()
            ),
        ))
    }

    /// Starts the clock of the reply about to be read. Restores the full
    /// read timeout if the previous reply shortened it (a system call that
    /// the common case, a reply in one read, never needs).
    fn start_reply(&mut self) -> anyhow::Result<Reply> {
        if self.shortened {
            self.stream
                .set_read_timeout(self.timeout)
                .with_context(|| format!("setting a timeout on the connection to {}", self.addr))?;
            self.shortened = false;
        }
        Ok(Reply {
            deadline: self.timeout.map(|timeout| Instant::now() + timeout),
            reads: 0,
        })
    }

    /// Reads more of a reply; end of stream here means the server closed early.
    fn receive(&mut self, reply: &mut Reply, awaited: impl Fn() -> String) -> anyhow::Result<()> {
        match self.read_some(reply) {
            Ok(0) => Err(fail(
                Code::RecvError,
                format!(
                    "{} closed the connection while sockdemo waited for {}",
                    self.addr,
                    awaited()
                ),
            )),
            Ok(_) => Ok(()),
            Err(err) => Err(self.receive_error(err, awaited)),
        }
    }

    /// One read into `received`, bounded by what is left of the reply's time.
    fn read_some(&mut self, reply: &mut Reply) -> io::Result<usize> {
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            // Later reads of one reply get only the rest of its time, so a
            // server that trickles bytes cannot hold the client forever.
            if let (Some(deadline), 1..) = (reply.deadline, reply.reads) {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                self.stream.set_read_timeout(Some(left))?;
                self.shortened = true;
            }
            reply.reads += 1;
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.received.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
        }
    }

    fn receive_error(&self, err: io::Error, awaited: impl Fn() -> String) -> anyhow::Error {
        let addr = self.addr;
        match self.timeout {
            Some(timeout) if is_timeout(&err) => fail(
                Code::Timeout,
                format!(
                    "timed out after {} waiting for {} from {addr}",
                    human::duration(timeout),
                    awaited(),
                ),
            ),
            _ => fail_with(Code::RecvError, format!("receiving from {addr}"), err),
        }
    }
}

/// The clock of one reply: its deadline, and how many reads it took so far.
struct Reply {
    deadline: Option<Instant>,
    reads: usize,
}

/// Whether an I/O error is a socket timeout (reported as `WouldBlock` on Unix).
fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Sends `message` whole on `stream`; a send that the timeout cuts short
/// says so in words.
fn send_all(
    mut stream: &TcpStream,
    addr: SocketAddr,
    timeout: Option<Duration>,
    message: &[u8],
) -> anyhow::Result<()> {
    stream.write_all(message).map_err(|err| match timeout {
        Some(timeout) if is_timeout(&err) => fail(
            Code::Timeout,
            format!(
                "sending to {addr}: the server took nothing for {}",
                human::duration(timeout)
            ),
        ),
        _ => fail_with(Code::SendError, format!("sending to {addr}"), err),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_server_cannot_see_are_refused() {
        assert!(check_name("Michael").is_ok());
        let empty = check_name("").unwrap_err();
        assert_eq!(Code::of(&empty), Code::Usage);
        let exit = check_name("exit").unwrap_err();
        assert_eq!(Code::of(&exit), Code::Usage);
        assert!(check_name("exit ").is_ok());
        let lines = check_name("Bob\nAlice").unwrap_err();
        assert_eq!(Code::of(&lines), Code::Usage);
        assert_eq!(
            lines.to_string(),
            "a name cannot contain a line feed: \"Bob\\nAlice\" (use --stdin to send lines)"
        );
        assert!(check_name(&"a".repeat(RAW_MESSAGE_MAX)).is_ok());
        let long = check_name(&"a".repeat(RAW_MESSAGE_MAX + 1)).unwrap_err();
        assert_eq!(Code::of(&long), Code::Usage);
    }
}
