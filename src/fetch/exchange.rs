//! One request and its response, over one connection: the request is sent,
//! the response head read (1xx interim heads skipped), then the body decoded
//! straight out of one fixed receive buffer, or a redirect's body drained.
//! The protocol is [`crate::http`]'s; this module feeds it bytes and turns
//! what goes wrong into exit codes.
//!
//! The tutorial's counterpart is `s.send(b'GET / ...')` and the
//! `while True: d = s.recv(1024)` loop.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use log::debug;

use super::failure::{HeadCut, exit_code};
use super::transport::proxy::Proxy;
use super::transport::{Deadline, Stream};
use super::verbose;
use crate::exit::{Code, fail, fail_with};
use crate::http::{self, BodyDecoder, Framing, HttpError, ResponseHead};

/// The receive buffer: one read fills at most this much, and body bytes are
/// written straight from it. Larger than a response head may be
/// ([`http::MAX_HEAD_BYTES`]), and large enough that a fast transfer costs
/// few system calls; it is all the memory a download needs.
pub const RECEIVE_BUFFER: usize = 256 * 1024;

/// The receive buffer of each slot of a parallel fetch: a quarter of the
/// above, so that 50 slots hold about 6 MiB; still twice the largest
/// response head, and large enough that a transfer costs few system calls.
pub const PARALLEL_RECEIVE_BUFFER: usize = 128 * 1024;

/// A redirect's body is read and thrown away up to this size, then the
/// connection is simply closed: a redirect page is small, and nothing of it
/// is kept.
const MAX_DRAINED_BODY: u64 = 1024 * 1024;

/// What an exchange talks over: a connection's bytes, with its time
/// limits. A [`Stream`] in a fetch; bytes scripted in memory in a test.
pub trait Wire: Read + Write {
    /// From now on, every read and write must be done by `deadline`
    /// (`None`: only the timeout applies).
    fn set_deadline(&mut self, deadline: Option<Deadline>);

    /// True for TLS, where an end of stream without close_notify can be a
    /// truncation by an attacker.
    fn is_tls(&self) -> bool;

    /// The proxy a plain-http request goes to, which the request then names
    /// in absolute form, with the proxy's credentials; `None` for a request
    /// to the origin server itself.
    fn proxy(&self) -> Option<&Proxy> {
        None
    }

    /// True for a connection kept from an earlier request, which the
    /// server may have closed meanwhile.
    fn reused(&self) -> bool {
        false
    }
}

impl Wire for Stream {
    fn set_deadline(&mut self, deadline: Option<Deadline>) {
        Stream::set_deadline(self, deadline);
    }

    fn is_tls(&self) -> bool {
        Stream::is_tls(self)
    }

    fn proxy(&self) -> Option<&Proxy> {
        Stream::proxy(self)
    }
}

/// A response whose head has been read; its body is still to come, over
/// the exchange that brought the head.
pub struct Response<S> {
    /// The exchange, positioned at the first byte of the body.
    pub exchange: Exchange<S>,
    /// The final head (1xx interim heads are skipped).
    pub head: ResponseHead,
    /// How the body is delimited.
    pub framing: Framing,
    /// The request said `Connection: close`.
    pub close_sent: bool,
}

/// One request and its response, over one connection.
pub struct Exchange<S> {
    stream: S,
    /// The limit on waiting for data, which also bounds the head and a
    /// drained body as a whole.
    timeout: Option<Duration>,
    /// The deadline of the whole fetch, if any.
    total: Option<Deadline>,
    /// `buf[start..end]` holds bytes received but not yet used.
    buf: ReceiveBuffer,
    start: usize,
    end: usize,
    /// Whether any byte has arrived, to tell "nothing at all" (52) from a
    /// head cut short (8).
    received_any: bool,
}

/// A receive buffer, handed back to its thread when dropped, so that a run
/// of many URLs allocates one for each transfer thread rather than one for
/// each request: a buffer this size is mapped anew and zeroed page by page
/// each time, and unmapped again, which costs a thread's request more than
/// reading the response does.
struct ReceiveBuffer(Vec<u8>);

thread_local! {
    /// The buffer of this thread's last exchange.
    static SPARE: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

impl ReceiveBuffer {
    /// This thread's spare buffer if it has `size` bytes, else a new one.
    fn new(size: usize) -> ReceiveBuffer {
        let spare = SPARE.take();
        if spare.len() == size {
            ReceiveBuffer(spare)
        } else {
            ReceiveBuffer(vec![0; size])
        }
    }
}

impl Drop for ReceiveBuffer {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
        // A thread that is ending has no spare to keep.
        let _ = SPARE.try_with(|spare| spare.set(buf));
    }
}

impl Deref for ReceiveBuffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl DerefMut for ReceiveBuffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

/// What a read brought.
enum Received {
    Bytes,
    /// A clean end of stream.
    End,
    /// A TLS stream ended without close_notify: clean only if the body's
    /// own framing says it was complete.
    EndUnverified,
}

impl<S: Wire> Exchange<S> {
    /// An exchange over `stream` with a [`RECEIVE_BUFFER`], for tests.
    #[cfg(test)]
    pub fn new(stream: S, timeout: Option<Duration>, total: Option<Deadline>) -> Exchange<S> {
        Exchange::with_buffer(stream, RECEIVE_BUFFER, timeout, total)
    }

    /// An exchange over `stream`, with the limit on waiting for data, within
    /// the deadline of the whole fetch, receiving into a buffer of `size`
    /// bytes (at least twice [`http::MAX_HEAD_BYTES`]).
    pub fn with_buffer(
        stream: S,
        size: usize,
        timeout: Option<Duration>,
        total: Option<Deadline>,
    ) -> Exchange<S> {
        Exchange {
            stream,
            timeout,
            total,
            buf: ReceiveBuffer::new(size.max(2 * http::MAX_HEAD_BYTES)),
            start: 0,
            end: 0,
            received_any: false,
        }
    }

    /// True once any byte of a response has arrived.
    pub fn received_any(&self) -> bool {
        self.received_any
    }

    /// The connection, for another request, when nothing unread is left
    /// in the buffer: bytes past the response would be taken for the next.
    pub fn into_idle(self) -> Option<S> {
        (self.start == self.end).then_some(self.stream)
    }

    /// Sends a request head and reads the final response head; the bytes
    /// after it stay in the buffer for the body.
    pub fn request(&mut self, head: &[u8]) -> anyhow::Result<ResponseHead> {
        self.send(head)?;
        self.read_head()
    }

    /// Sends the request: exit 28 on a timeout, 55 on another failure.
    fn send(&mut self, request: &[u8]) -> anyhow::Result<()> {
        self.stream
            .write_all(request)
            .and_then(|()| self.stream.flush())
            .map_err(|err| {
                let code = match err.kind() {
                    io::ErrorKind::TimedOut => Code::Timeout,
                    _ => Code::SendError,
                };
                fail_with(code, "sending the request", err)
            })
    }

    /// Reads up to the end of the final response head, skipping 1xx interim
    /// responses. The bytes after it stay in the buffer for the body.
    ///
    /// The heads together must arrive within the timeout: they are bounded
    /// in size but not in number (1xx), and a server trickling them byte by
    /// byte must not hold the fetch for days.
    fn read_head(&mut self) -> anyhow::Result<ResponseHead> {
        self.bound_step("the response head");
        let head = self.read_final_head();
        self.stream.set_deadline(self.total);
        head
    }

    fn read_final_head(&mut self) -> anyhow::Result<ResponseHead> {
        loop {
            match http::parse_head(&self.buf[self.start..self.end]) {
                Ok(Some((head, used))) => {
                    verbose::received(&self.buf[self.start..self.start + used]);
                    self.start += used;
                    if head.is_interim() {
                        debug!("skipping interim response {} {}", head.status, head.reason);
                        continue;
                    }
                    return Ok(head);
                }
                Ok(None) => {}
                Err(err) => return Err(protocol_error("reading the response head", err)),
            }
            match self.receive()? {
                Received::Bytes => {}
                Received::End | Received::EndUnverified if !self.received_any => {
                    return Err(fail(
                        Code::GotNothing,
                        "the server closed the connection without sending anything",
                    ));
                }
                Received::End | Received::EndUnverified => {
                    return Err(fail_with(
                        Code::BadResponse,
                        "reading the response head",
                        HeadCut,
                    ));
                }
            }
        }
    }

    /// Decodes the body, handing each piece of it to `sink` straight from
    /// the receive buffer, and returns its length.
    pub fn body(
        &mut self,
        framing: Framing,
        mut sink: impl FnMut(&[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<u64> {
        let reading = |err| protocol_error("reading the body", err);
        let mut decoder = BodyDecoder::new(framing);
        let mut length = 0u64;
        loop {
            while self.start < self.end {
                let input = &self.buf[self.start..self.end];
                let step = decoder.decode(input).map_err(reading)?;
                if !step.data.is_empty() {
                    sink(&input[step.data.clone()])?;
                    length += step.data.len() as u64;
                }
                self.start += step.consumed;
                if step.consumed == 0 {
                    break;
                }
            }
            if decoder.is_complete() {
                return Ok(length);
            }
            match self.receive()? {
                Received::Bytes => {}
                Received::End => {
                    decoder.finish().map_err(reading)?;
                    return Ok(length);
                }
                Received::EndUnverified => {
                    decoder.finish().map_err(reading)?;
                    // Complete by the framing only if it is not "until close".
                    return Err(fail(
                        Code::PartialBody,
                        format!(
                            "the TLS connection closed without close_notify after {length} bytes: the body may be cut short"
                        ),
                    ));
                }
            }
        }
    }

    /// Reads and discards a redirect's body, within `MAX_DRAINED_BODY` and
    /// the timeout as a whole. Nothing of it is kept, so a failure only
    /// ends the reading. True when the body was read to its end (the
    /// connection may then carry another request).
    pub fn drain(&mut self, framing: Framing) -> bool {
        self.bound_step("the redirect body");
        let mut drained = 0u64;
        let result = self.body(framing, |data| {
            drained += data.len() as u64;
            if drained > MAX_DRAINED_BODY {
                anyhow::bail!(
                    "redirect body larger than {MAX_DRAINED_BODY} bytes: not read further"
                );
            }
            Ok(())
        });
        if let Err(err) = &result {
            debug!("draining the redirect body: {err:#}");
        }
        result.is_ok()
    }

    /// Gives a step of bounded size the timeout as a whole, within the
    /// deadline of the whole fetch.
    fn bound_step(&mut self, step: &'static str) {
        self.stream
            .set_deadline(Deadline::within(self.total, self.timeout, step));
    }

    /// Reads more bytes into the buffer, first moving what is left of it to
    /// the front so that the free space is at the end.
    fn receive(&mut self) -> anyhow::Result<Received> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // parse_head and the decoders bound what they leave unconsumed
            // far below the buffer's size, so this means a broken invariant.
            return Err(fail(
                Code::BadResponse,
                "response element larger than the receive buffer",
            ));
        }
        loop {
            match self.stream.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(Received::End),
                Ok(n) => {
                    self.end += n;
                    self.received_any = true;
                    return Ok(Received::Bytes);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if err.kind() == io::ErrorKind::UnexpectedEof && self.stream.is_tls() => {
                    return Ok(Received::EndUnverified);
                }
                Err(err) => return Err(receive_error(err)),
            }
        }
    }
}

/// The error of a failed read: a timeout (the transport's message says
/// which limit was reached) exits 28, any other failure 56.
fn receive_error(err: io::Error) -> anyhow::Error {
    match err.kind() {
        io::ErrorKind::TimedOut => fail_with(Code::Timeout, "timed out", err),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
            fail_with(Code::RecvError, "the connection was reset", err)
        }
        _ => fail_with(Code::RecvError, "receiving", err),
    }
}

/// The error of a response that breaks the protocol while `doing`
/// something, with the exit code of its kind.
fn protocol_error(doing: &str, err: HttpError) -> anyhow::Error {
    fail_with(exit_code(&err), doing, err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::scripted::Scripted;

    /// Sends a request over `wire` and reads the whole response: its head,
    /// and its body as decoded.
    fn exchange(wire: Scripted) -> (anyhow::Result<(ResponseHead, Vec<u8>)>, Vec<u8>) {
        let sent = wire.sent();
        let mut exchange = Exchange::new(wire, None, None);
        let result = exchange
            .request(b"GET / HTTP/1.1\r\n\r\n")
            .and_then(|head| {
                let framing = http::framing(&head, false)?;
                let mut body = Vec::new();
                exchange.body(framing, |data| {
                    body.extend_from_slice(data);
                    Ok(())
                })?;
                Ok((head, body))
            });
        let sent = sent.borrow().clone();
        (result, sent)
    }

    const CHUNKED: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nT: 1\r\n\r\n";

    #[test]
    fn a_response_cut_anywhere_reads_the_same() {
        for at in 1..CHUNKED.len() {
            for second in [at + 1, at + 7, CHUNKED.len()] {
                let cuts: Vec<usize> = [at, second]
                    .into_iter()
                    .filter(|&cut| cut < CHUNKED.len())
                    .collect();
                let (result, written) = exchange(Scripted::cut(CHUNKED, &cuts));
                let (head, body) = result.unwrap_or_else(|err| panic!("cut at {cuts:?}: {err:#}"));
                assert_eq!(head.status, 200, "the interim head is skipped");
                assert_eq!(body, b"hello world", "cut at {cuts:?}");
                assert_eq!(written, b"GET / HTTP/1.1\r\n\r\n");
            }
        }
    }

    #[test]
    fn a_response_in_single_bytes_reads_the_same() {
        let pieces: Vec<&[u8]> = CHUNKED.chunks(1).collect();
        let (result, _) = exchange(Scripted::new(&pieces));
        assert_eq!(result.unwrap().1, b"hello world");
    }

    #[test]
    fn nothing_at_all_a_cut_head_and_a_cut_body_have_their_codes() {
        let (nothing, _) = exchange(Scripted::new(&[]));
        assert_eq!(Code::of(&nothing.unwrap_err()), Code::GotNothing);
        let (cut_head, _) = exchange(Scripted::new(&[b"HTTP/1.1 200 OK\r\nContent-Le"]));
        let cut_head = cut_head.unwrap_err();
        assert_eq!(Code::of(&cut_head), Code::BadResponse);
        assert!(cut_head.chain().any(|e| e.is::<HeadCut>()), "{cut_head:#}");
        let (cut_body, _) = exchange(Scripted::new(&[
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
            b"12345",
        ]));
        let cut_body = cut_body.unwrap_err();
        assert_eq!(Code::of(&cut_body), Code::PartialBody);
        assert_eq!(
            format!("{cut_body:#}"),
            "reading the body: the body ended early: got 5 of 10 bytes"
        );
    }

    #[test]
    fn a_tls_end_without_close_notify_cuts_only_a_body_framed_until_close() {
        let framed = Scripted::new(&[b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"]);
        let (framed, _) = exchange(framed.ending_without_close_notify());
        assert_eq!(framed.unwrap().1, b"hi", "complete by its length");
        let until_close = Scripted::new(&[b"HTTP/1.1 200 OK\r\n\r\nhi"]);
        let (until_close, _) = exchange(until_close.ending_without_close_notify());
        let err = until_close.unwrap_err();
        assert_eq!(Code::of(&err), Code::PartialBody);
        assert!(
            err.to_string()
                .contains("without close_notify after 2 bytes"),
            "{err:#}"
        );
        let (plain, _) = exchange(Scripted::new(&[b"HTTP/1.1 200 OK\r\n\r\nhi"]));
        assert_eq!(plain.unwrap().1, b"hi", "a clean close ends it");
    }

    #[test]
    fn a_drained_redirect_leaves_nothing_to_read() {
        let mut exchange = Exchange::new(
            Scripted::new(&[b"HTTP/1.1 302 Found\r\nContent-Length: 3\r\n\r\nabc"]),
            None,
            None,
        );
        let head = exchange.request(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        exchange.drain(http::framing(&head, false).unwrap());
        assert_eq!(exchange.start, exchange.end, "the body is consumed");
    }

    #[test]
    fn failed_reads_map_to_curls_codes() {
        let code = |kind| Code::of(&receive_error(io::Error::new(kind, "x")));
        assert_eq!(code(io::ErrorKind::TimedOut), Code::Timeout);
        assert_eq!(code(io::ErrorKind::ConnectionReset), Code::RecvError);
        assert_eq!(code(io::ErrorKind::BrokenPipe), Code::RecvError);
        let err = receive_error(io::Error::new(
            io::ErrorKind::TimedOut,
            "nothing received for 1s",
        ));
        assert_eq!(format!("{err:#}"), "timed out: nothing received for 1s");
    }

    #[test]
    fn a_protocol_error_keeps_its_kind_as_the_source() {
        let cut = HttpError::Truncated(http::Truncation::Length {
            received: 1,
            expected: 2,
        });
        let err = protocol_error("reading the body", cut.clone());
        assert_eq!(Code::of(&err), Code::PartialBody);
        let source = err.chain().find_map(|e| e.downcast_ref::<HttpError>());
        assert_eq!(source, Some(&cut));
        assert_eq!(
            format!("{err:#}"),
            "reading the body: the body ended early: got 1 of 2 bytes"
        );
    }
}
