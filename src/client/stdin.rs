//! `--stdin` mode: each line of standard input goes out with its line
//! ending, and every reply is printed as it arrives.
//!
//! Sending and receiving run at the same time: a thread reads standard input
//! and sends, while the main thread reads the server's replies and prints
//! them. Taking turns instead (send a line, read its reply) deadlocks on a
//! long line: the server answers each read of a first line in raw mode, its
//! replies fill the socket's buffers while the client is still sending, and
//! then each side waits for the other to read.
//!
//! Each line of up to [`STDIN_CHUNK`] bytes goes out in one write, its line
//! ending included (also the one added to an unterminated last line): the
//! server decides on line mode from what one read holds, so `Bob` and its
//! `\n` in two writes could be answered as two raw messages. A longer line
//! streams in pieces, its ending in the same write as its last bytes.
//!
//! The line `exit` is sent and ends the session; the end of the input shuts
//! the sending side down, and the server answers what is left and closes.
//! Either way the session ends when the server closes, once every line sent
//! has had its reply. `Error: line too long` from the server is printed and
//! ends the session with exit 8.

use std::collections::VecDeque;
use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::{Connection, is_timeout, print_line, send_all};
use crate::exit::{Code, WithCode, fail, fail_with};
use crate::greeting::{EXIT, LINE_TOO_LONG, MAX_LINE, WELCOME};
use crate::human;

/// Bytes of standard input sent per write: a line up to the server's longest
/// ([`MAX_LINE`]) goes out whole, a longer one streams through instead of
/// being held in memory whole.
const STDIN_CHUNK: usize = MAX_LINE;

/// How far the sending thread has got, as the receiving side needs to know.
#[derive(Debug, Default)]
struct Sent {
    /// Lines sent (or being sent), each owed one reply line; `exit` not counted.
    lines: AtomicU64,
    /// When each line not yet answered was sent whole, oldest first: its
    /// reply's deadline runs from then (or from the end of the reply
    /// before, if later).
    times: Mutex<VecDeque<Instant>>,
    /// The sending is over: `exit` was sent, or the input ended.
    done: AtomicBool,
    /// The sending failed (standard input unreadable, a send timed out or
    /// was refused): its error, not what the reading side then sees, is
    /// the cause.
    sender_failed: AtomicBool,
}

/// Runs the `--stdin` session.
pub(super) fn relay(addrs: &[SocketAddr], timeout: Option<Duration>) -> anyhow::Result<()> {
    let mut connection = Connection::open(addrs, timeout)?;
    let mut stdout = io::stdout().lock();
    connection.expect(WELCOME)?;
    print_line(&mut stdout, WELCOME)?;
    connection.start_reply()?;

    let sent = Arc::new(Sent::default());
    let sender = {
        let stream = connection
            .stream
            .try_clone()
            .with_context(|| format!("sharing the connection to {}", connection.addr))?;
        let sent = Arc::clone(&sent);
        let addr = connection.addr;
        thread::Builder::new()
            .name("stdin".into())
            .spawn(move || {
                let send = |bytes: &[u8]| send_all(&stream, addr, timeout, bytes);
                match send_lines(&mut io::stdin().lock(), send, &sent) {
                    Ok(Ended::Input) => stream
                        .shutdown(Shutdown::Write)
                        .with_code(Code::SendError, || format!("ending the input to {addr}")),
                    Ok(Ended::Exit) => Ok(()),
                    Err(err) => {
                        // Wake the reading side, which would otherwise wait
                        // for replies to lines that will never be sent; it
                        // learns first that the failure is the sender's.
                        sent.sender_failed.store(true, Ordering::SeqCst);
                        let _ = stream.shutdown(Shutdown::Both);
                        Err(err)
                    }
                }
            })
            .context("starting the thread that sends standard input")?
    };
    let received = receive(&mut connection, &mut stdout, &sent);
    if let Err(err) = &received
        && (!sent.sender_failed.load(Ordering::SeqCst) || Code::of(err) == Code::BadResponse)
    {
        // The session failed on the connection's side (the server refusing
        // a line as too long comes first, even if sending failed after it);
        // the sender may be waiting for input that never comes.
        return received;
    }
    // Done and answered, or the sending failed: the sender has finished, or
    // is about to, and its error is the cause (a send timeout, 28; a
    // refused send, 55; unreadable input, 1).
    let sending = sender
        .join()
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the sending thread panicked")));
    sending.and(received)
}

impl Sent {
    /// Counts a line as owed a reply, before it is sent.
    fn owe(&self) {
        self.lines.fetch_add(1, Ordering::SeqCst);
    }

    /// Records that the line counted last has been sent whole.
    fn sent_whole(&self) {
        lock(&self.times).push_back(Instant::now());
    }

    /// When the oldest line that has had no reply yet was sent, if it has
    /// been sent whole; taken when `take` is true (its reply is complete).
    fn oldest(&self, take: bool) -> Option<Instant> {
        let mut times = lock(&self.times);
        if take {
            times.pop_front()
        } else {
            times.front().copied()
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Only instants live under the lock: a poisoned one is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why the sending ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The line `exit` was sent.
    Exit,
    /// The input ended: the sending side is to be shut down.
    Input,
}

/// Sends standard input, line by line, as the module describes: each call
/// of `send` is one write.
fn send_lines(
    input: &mut impl BufRead,
    mut send: impl FnMut(&[u8]) -> anyhow::Result<()>,
    sent: &Sent,
) -> anyhow::Result<Ended> {
    // A piece of the current line read but not sent yet: the line's end may
    // still have to be added to it.
    let mut held: Vec<u8> = Vec::new();
    // Whether `held` is the start of its line.
    let mut held_starts_line = false;
    // Whether the next piece read continues a line.
    let mut continued = false;
    loop {
        let mut piece = Vec::new();
        let read = input
            .take(STDIN_CHUNK as u64)
            .read_until(b'\n', &mut piece)
            .context("reading standard input")?;
        if read == 0 {
            // The input ended inside a line: end it, so the server answers it.
            if !held.is_empty() {
                held.push(b'\n');
                if held_starts_line && strip_line_ending(&held) == EXIT {
                    sent.done.store(true, Ordering::SeqCst);
                    send(&held)?;
                    return Ok(Ended::Exit);
                }
                sent.owe();
                send(&held)?;
                sent.sent_whole();
            }
            sent.done.store(true, Ordering::SeqCst);
            return Ok(Ended::Input);
        }
        let mut starts_line = !continued;
        if !held.is_empty() {
            if piece.ends_with(b"\n") {
                // The line's last piece: its end goes out in the same write
                // as the bytes before it (a line of exactly 64 KiB included).
                held.append(&mut piece);
                piece = std::mem::take(&mut held);
                starts_line = held_starts_line;
            } else {
                // More follows, so this was not the line's last piece.
                send(&held)?;
                held.clear();
            }
        }
        continued = !piece.ends_with(b"\n");
        if continued {
            held = piece;
            held_starts_line = starts_line;
            continue;
        }
        if starts_line && strip_line_ending(&piece) == EXIT {
            sent.done.store(true, Ordering::SeqCst);
            send(&piece)?;
            return Ok(Ended::Exit);
        }
        sent.owe();
        send(&piece)?;
        sent.sent_whole();
    }
}

/// Prints everything the server sends until it closes, checking that it
/// answered every line sent, and stopping at `Error: line too long`.
///
/// Each reply must be complete within the timeout, counted from the later
/// of its line being sent whole and the reply before it being complete, as
/// names mode bounds each whole reply: a server that trickles a reply byte
/// by byte cannot hold the client longer than that.
fn receive(connection: &mut Connection, out: &mut impl Write, sent: &Sent) -> anyhow::Result<()> {
    let addr = connection.addr;
    let timeout = connection.timeout;
    let mut replies = ReplyLines::default();
    let mut chunk = [0u8; super::READ_CHUNK];
    // When the last reply was complete (the welcome, at first).
    let mut previous_done = Instant::now();
    loop {
        // The reply due next, if its line has been sent: its deadline.
        let deadline = timeout.and_then(|timeout| {
            let sent_at = sent.oldest(false)?;
            Some(sent_at.max(previous_done) + timeout)
        });
        // Without a reply due, the read waits as long as a reply may; a
        // line sent meanwhile gets its deadline on the next turn.
        let wait = match deadline {
            Some(deadline) => Some(deadline.saturating_duration_since(Instant::now())),
            None => timeout,
        };
        if wait.is_some_and(|wait| wait.is_zero()) {
            return Err(timed_out(connection, sent, &replies));
        }
        connection
            .stream
            .set_read_timeout(wait)
            .with_context(|| format!("setting a timeout on the connection to {addr}"))?;
        let read = match (&connection.stream).read(&mut chunk) {
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            // The deadline is checked on the next turn.
            Err(err) if is_timeout(&err) => continue,
            Err(err) => {
                return Err(fail_with(
                    Code::RecvError,
                    format!("receiving from {addr}"),
                    err,
                ));
            }
        };
        if read == 0 {
            let owed = owed(sent, &replies);
            if owed == 0 && sent.done.load(Ordering::SeqCst) {
                return Ok(());
            }
            if owed == 0 {
                return Err(fail(
                    Code::RecvError,
                    format!("{addr} closed the connection before the input ended"),
                ));
            }
            return Err(fail(
                Code::RecvError,
                format!(
                    "{addr} closed the connection before answering every line ({owed} unanswered)"
                ),
            ));
        }
        out.write_all(&chunk[..read])
            .and_then(|()| out.flush())
            .with_code(Code::WriteError, || "writing to standard output")?;
        let before = replies.lines;
        let refused = replies.feed(&chunk[..read]);
        for _ in before..replies.lines {
            sent.oldest(true);
            previous_done = Instant::now();
        }
        if refused {
            return Err(fail(
                Code::BadResponse,
                format!("{addr} refused a line longer than {MAX_LINE} bytes and closed"),
            ));
        }
    }
}

/// The error of a reply that did not come whole in time.
fn timed_out(connection: &Connection, sent: &Sent, replies: &ReplyLines) -> anyhow::Error {
    let waited = connection.timeout.map_or_else(String::new, human::duration);
    fail(
        Code::Timeout,
        format!(
            "timed out after {waited} waiting for a reply from {} ({} lines unanswered)",
            connection.addr,
            owed(sent, replies)
        ),
    )
}

/// Reply lines owed: lines sent less reply lines received.
fn owed(sent: &Sent, replies: &ReplyLines) -> u64 {
    sent.lines
        .load(Ordering::SeqCst)
        .saturating_sub(replies.lines)
}

/// Counts the reply lines that went by, and spots the line-too-long line.
#[derive(Debug, Default)]
struct ReplyLines {
    /// Complete lines seen.
    lines: u64,
    /// The start of the current line, as much as comparing needs.
    start: Vec<u8>,
}

impl ReplyLines {
    /// Takes the next bytes received; true once [`LINE_TOO_LONG`] went by.
    fn feed(&mut self, bytes: &[u8]) -> bool {
        for &byte in bytes {
            if self.start.len() < LINE_TOO_LONG.len() {
                self.start.push(byte);
            }
            if byte == b'\n' {
                self.lines += 1;
                if self.start == LINE_TOO_LONG {
                    return true;
                }
                self.start.clear();
            }
        }
        false
    }
}

/// A line without its LF or CRLF.
fn strip_line_ending(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
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
    fn reply_lines_are_counted_and_the_refusal_spotted_across_reads() {
        let mut replies = ReplyLines::default();
        assert!(!replies.feed(b"Hello, a!\nHello, b!\r\nHel"));
        assert!(!replies.feed(b"lo, c!\nError: line"));
        assert_eq!(replies.lines, 3);
        assert!(replies.feed(b" too long\n"));
        assert_eq!(replies.lines, 4);
        let mut named = ReplyLines::default();
        assert!(!named.feed(b"Hello, Error: line too long!\n"));
    }

    /// Runs the sender on `input`; returns each write, the lines owed a
    /// reply, and how the sending ended.
    fn sent_by(input: &[u8]) -> (Vec<Vec<u8>>, u64, Ended) {
        let sent = Sent::default();
        let mut writes = Vec::new();
        let ended = send_lines(
            &mut &input[..],
            |bytes: &[u8]| {
                writes.push(bytes.to_vec());
                Ok(())
            },
            &sent,
        )
        .expect("send");
        assert!(sent.done.load(Ordering::SeqCst));
        (writes, sent.lines.load(Ordering::SeqCst), ended)
    }

    fn writes(parts: &[&[u8]]) -> Vec<Vec<u8>> {
        parts.iter().map(|part| part.to_vec()).collect()
    }

    #[test]
    fn each_line_is_one_write_with_its_ending_and_a_last_line_gets_one() {
        assert_eq!(
            sent_by(b"Bob\r\nAnn"),
            (writes(&[b"Bob\r\n", b"Ann\n"]), 2, Ended::Input)
        );
        // Never `Bob` and then its line ending: the server would see two messages.
        assert_eq!(sent_by(b"Bob"), (writes(&[b"Bob\n"]), 1, Ended::Input));
        assert_eq!(sent_by(b""), (Vec::new(), 0, Ended::Input));
        let longest = vec![b'z'; STDIN_CHUNK - 1];
        let line = [&longest[..], b"\n"].concat();
        assert_eq!(sent_by(&line), (vec![line.clone()], 1, Ended::Input));
        // Exactly 64 KiB, and 64 KiB less one with CRLF: the ending still
        // goes with the last bytes, never in a write of its own.
        for ending in [&b"\n"[..], b"\r\n"] {
            let data = vec![b'z'; STDIN_CHUNK + 1 - ending.len()];
            let line = [&data[..], ending].concat();
            assert_eq!(sent_by(&line), (vec![line.clone()], 1, Ended::Input));
        }
    }

    #[test]
    fn exit_ends_the_sending_and_is_not_owed_a_reply() {
        assert_eq!(
            sent_by(b"a\nexit\r\nnever\n"),
            (writes(&[b"a\n", b"exit\r\n"]), 1, Ended::Exit)
        );
        assert_eq!(
            sent_by(b"a\nexit"),
            (writes(&[b"a\n", b"exit\n"]), 1, Ended::Exit)
        );
        assert_eq!(sent_by(b"exit\r"), (writes(&[b"exit\r\n"]), 0, Ended::Exit));
        // `exit` at the end of a longer line is just text.
        let mut long = vec![b'x'; STDIN_CHUNK];
        long.extend_from_slice(b"exit\n");
        let (sent, lines, ended) = sent_by(&long);
        assert_eq!((sent.concat(), lines, ended), (long, 1, Ended::Input));
    }

    #[test]
    fn a_long_line_streams_and_its_ending_goes_with_its_last_bytes() {
        let line = vec![b'y'; 3 * STDIN_CHUNK];
        let (sent, lines, _) = sent_by(&line);
        assert_eq!(sent.len(), 3);
        assert!(sent.iter().all(|write| write.len() <= STDIN_CHUNK + 1));
        assert_eq!(sent[2], [&line[..STDIN_CHUNK], b"\n"].concat());
        assert_eq!(lines, 1);
    }
}
