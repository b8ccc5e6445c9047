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
//!   sockdemo's server answers in line mode; each reply line is printed.
//! - load (`--connections N`): see the `load` module.
//!
//! Errors name the address and carry curl's exit codes: 7 cannot connect,
//! 28 timed out, 55 sending failed, 56 receiving failed or the server closed
//! early, 8 the server sent something else than the protocol says.

mod load;

use std::io::{self, BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::exit::{Code, fail};
use crate::greeting::WELCOME;

/// The client's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The server to talk to.
    pub connect: SocketAddr,
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
    /// Open `connections` connections at once and do `rounds` round trips on each.
    Load {
        /// Connections held open at the same time.
        connections: usize,
        /// Round trips per connection.
        rounds: usize,
    },
}

/// The message that asks the server to close the connection.
const EXIT: &[u8] = b"exit";

/// Bytes asked of the kernel per read. Replies are short; a longer one
/// simply takes several reads.
const READ_CHUNK: usize = 4096;

/// Bytes of standard input sent per write in `--stdin` mode, so that a huge
/// line streams through instead of being held in memory whole.
const STDIN_CHUNK: u64 = 64 * 1024;

/// Runs the client in the mode the configuration asks for.
pub fn run(config: &Config) -> anyhow::Result<()> {
    let outcome = match &config.mode {
        Mode::Names(names) => converse(config, names),
        Mode::Stdin => relay_stdin(config),
        Mode::Load {
            connections,
            rounds,
        } => load::run(config.connect, config.timeout, *connections, *rounds),
    };
    match outcome {
        // A reader that stops reading (`sockdemo client | head -1`) is not a failure.
        Err(err) if err.is::<StdoutClosed>() => Ok(()),
        other => other,
    }
}

/// The tutorial's session: print the welcome, send each name and print its
/// reply, then say `exit`.
fn converse(config: &Config, names: &[String]) -> anyhow::Result<()> {
    for name in names {
        check_name(name)?;
    }
    let mut connection = Connection::open(config.connect, config.timeout)?;
    let mut stdout = io::stdout().lock();
    connection.expect(WELCOME)?;
    print_line(&mut stdout, WELCOME)?;
    for name in names {
        connection.send(name.as_bytes())?;
        let reply = format!("Hello, {name}!");
        connection.expect(reply.as_bytes())?;
        print_line(&mut stdout, reply.as_bytes())?;
    }
    connection.send(EXIT)
}

/// A name is sent as one raw message, so it must be one the server can see:
/// TCP cannot carry an empty message, a line feed would switch sockdemo's
/// server to line mode, and `exit` would end the conversation.
fn check_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty() {
        return Err(fail(Code::Usage, "a name cannot be empty"));
    }
    if name.contains('\n') {
        return Err(fail(
            Code::Usage,
            format!("a name cannot contain a line feed: {name:?} (use --stdin to send lines)"),
        ));
    }
    if name.as_bytes() == EXIT {
        return Err(fail(
            Code::Usage,
            "\"exit\" ends the conversation, it cannot be a name",
        ));
    }
    Ok(())
}

/// `--stdin`: send each line of standard input with its line ending and
/// print the reply line, until `exit` or the end of the input.
fn relay_stdin(config: &Config) -> anyhow::Result<()> {
    let mut connection = Connection::open(config.connect, config.timeout)?;
    let mut stdout = io::stdout().lock();
    connection.expect(WELCOME)?;
    print_line(&mut stdout, WELCOME)?;
    let mut stdin = io::stdin().lock();
    let mut chunk = Vec::new();
    // Whether the line being sent began in an earlier chunk.
    let mut continued = false;
    loop {
        chunk.clear();
        let read = (&mut stdin)
            .take(STDIN_CHUNK)
            .read_until(b'\n', &mut chunk)
            .context("reading standard input")?;
        if read == 0 {
            if continued {
                // The input ended inside a line: end it, so the server answers it.
                connection.send(b"\n")?;
                connection.copy_line(&mut stdout)?;
            }
            return Ok(());
        }
        let complete = chunk.ends_with(b"\n");
        // A line starts a chunk, and `exit` fits in one, so an incomplete
        // `exit` here is the input's last line; the ending it is given makes
        // it the line `exit`, which the server answers by closing.
        if !continued && strip_line_ending(&chunk) == EXIT {
            connection.send(&chunk)?;
            return if complete {
                Ok(())
            } else {
                connection.send(b"\n")
            };
        }
        connection.send(&chunk)?;
        if complete {
            connection.copy_line(&mut stdout)?;
        }
        continued = !complete;
    }
}

/// A line without its LF or CRLF.
fn strip_line_ending(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Standard output was closed by its reader; [`run`] turns this into success.
#[derive(Debug)]
struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Prints one line of program output.
fn print_line(out: &mut impl Write, line: &[u8]) -> anyhow::Result<()> {
    out.write_all(line)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(stdout_error)
}

fn stdout_error(err: io::Error) -> anyhow::Error {
    if err.kind() == io::ErrorKind::BrokenPipe {
        anyhow::Error::new(StdoutClosed)
    } else {
        fail(
            Code::WriteError,
            format!("writing to standard output: {err}"),
        )
    }
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
    /// Connects, giving up after `timeout`.
    fn open(addr: SocketAddr, timeout: Option<Duration>) -> anyhow::Result<Connection> {
        let connected = match timeout {
            Some(timeout) => TcpStream::connect_timeout(&addr, timeout),
            None => TcpStream::connect(addr),
        };
        let stream = connected.map_err(|err| {
            if is_timeout(&err) {
                fail(
                    Code::Timeout,
                    format!("connecting to {addr}: no answer within {timeout:?}"),
                )
            } else {
                fail(
                    Code::CouldntConnect,
                    format!("cannot connect to {addr}: {err}"),
                )
            }
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
        self.stream.write_all(message).map_err(|err| {
            let addr = self.addr;
            if is_timeout(&err) {
                fail(
                    Code::Timeout,
                    format!("sending to {addr}: not accepted within {:?}", self.timeout),
                )
            } else {
                fail(Code::SendError, format!("sending to {addr}: {err}"))
            }
        })
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

    /// Copies one reply line, line ending included, to `out` as it arrives.
    fn copy_line(&mut self, out: &mut impl Write) -> anyhow::Result<()> {
        let mut reply = self.start_reply()?;
        loop {
            if let Some(end) = self.received.iter().position(|&b| b == b'\n') {
                out.write_all(&self.received[..=end])
                    .and_then(|()| out.flush())
                    .map_err(stdout_error)?;
                self.received.drain(..=end);
                return Ok(());
            }
            // Pass on what there is, so a long line never piles up here.
            out.write_all(&self.received).map_err(stdout_error)?;
            self.received.clear();
            self.receive(&mut reply, || "the end of a reply line".to_owned())?;
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
        if is_timeout(&err) {
            fail(
                Code::Timeout,
                format!(
                    "timed out after {:?} waiting for {} from {addr}",
                    self.timeout.unwrap_or_default(),
                    awaited(),
                ),
            )
        } else {
            fail(Code::RecvError, format!("receiving from {addr}: {err}"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings_are_stripped() {
        assert_eq!(strip_line_ending(b"exit\n"), b"exit");
        assert_eq!(strip_line_ending(b"exit\r\n"), b"exit");
        assert_eq!(strip_line_ending(b"exit"), b"exit");
        assert_eq!(strip_line_ending(b"a\r\r\n"), b"a\r");
    }

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
    }
}
