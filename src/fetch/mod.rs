//! `sockdemo fetch TARGET`: the tutorial's raw HTTP fetch, done properly.
//!
//! One GET per connection (`Connection: close`), following redirects: each
//! response head is printed as received, the final body is streamed through
//! a fixed buffer into an output that replaces the user's file only once the
//! download is complete. The protocol itself (head parsing, body framing) is
//! the pure [`crate::http`] module; this module drives it over a socket.
//!
//! | part | owns | tutorial |
//! |---|---|---|
//! | [`target`] | TARGET to URL, request target, `Host`, default file name | `a.host`, `a.path`, `a.out` |
//! | [`transport`] | resolve, connect, timeouts, TLS | `s.connect((a.host, a.port))` |
//! | [`output`] | atomic file output, stdout | `open(a.out, 'wb')` |
//! | [`progress`] | the progress bar | — |
//! | this file | request, response loop, redirects, exit codes | `s.send(...)`, the `recv` loop, `split(b'\r\n\r\n')` |

pub mod output;
pub mod partial;
pub mod progress;
pub mod resume;
pub mod retry;
pub mod target;
pub mod transport;
pub mod verify;

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use log::{debug, info, warn};
use url::Url;

use crate::exit::{Code, fail};
use crate::http::{self, BodyDecoder, Framing, HttpError, ResponseHead};
use output::{Destination, Output};
use progress::Progress;
use transport::{Connector, Deadline, Stream};

/// The receive buffer: one read fills at most this much, and body bytes are
/// written straight from it. Larger than a response head may be
/// ([`http::MAX_HEAD_BYTES`]), and large enough that a fast transfer costs
/// few system calls; it is all the memory a download needs.
const RECEIVE_BUFFER: usize = 256 * 1024;

/// A redirect's body is read and thrown away up to this size, then the
/// connection is simply closed: a redirect page is small, and nothing of it
/// is kept.
const MAX_DRAINED_BODY: u64 = 1024 * 1024;

/// Sent as `User-Agent`.
const USER_AGENT: &str = concat!("sockdemo/", env!("CARGO_PKG_VERSION"));

/// The fetcher's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// What to fetch, as typed: `host`, `host:port`, `host/path`, or a URL.
    pub target: String,
    /// `-o`: a file, `-` for stdout, or `None` for the URL's file name.
    pub output: Option<PathBuf>,
    /// Limit on connecting to each address (`None`: none).
    pub connect_timeout: Option<Duration>,
    /// Limit on waiting for data, and on each step of bounded size: the TLS
    /// handshake, a response head, a redirect's body (`None`: none).
    pub timeout: Option<Duration>,
    /// Limit on the whole fetch, redirects included (`None`: none).
    pub max_time: Option<Duration>,
    /// Redirects to follow at most; `None` with `--no-follow`.
    pub max_redirects: Option<usize>,
    /// `--fail`: a status of 400 or more is an error and keeps no file.
    pub fail: bool,
    /// `--cacert`: a PEM file of CAs to trust instead of the built-in roots.
    pub cacert: Option<PathBuf>,
    /// `--insecure`: do not verify the server's certificate.
    pub insecure: bool,
    /// `-q`: nothing on stderr but errors.
    pub quiet: bool,
}

/// Fetches `config.target`: prints each response head, saves the final body.
pub fn run(config: &Config) -> anyhow::Result<()> {
    let first_url = target::parse(&config.target)?;
    let destination = match &config.output {
        Some(path) if path.as_os_str() == "-" => Destination::Stdout,
        Some(path) => Destination::File(path.clone()),
        // From the URL the user gave, whatever the redirects say.
        None => Destination::File(target::default_file_name(&first_url)),
    };
    let heads = HeadPrinter {
        to_stderr: destination == Destination::Stdout,
        quiet: config.quiet,
    };
    let connector = Connector::new(
        config.connect_timeout,
        config.timeout,
        config.cacert.as_deref(),
        config.insecure,
    );

    let total = Deadline::after(config.max_time, "the whole transfer (--max-time)");

    let mut url = first_url;
    let mut visited = Visited::default();
    visited.insert(&url);
    loop {
        let mut exchange = Exchange::start(&connector, &url, total)?;
        let head = exchange
            .read_head()
            .with_context(|| format!("fetching {url}"))?;
        heads.print(&head)?;
        let framing = http::framing(&head, false)
            .map_err(|err| http_failure(&err))
            .with_context(|| format!("fetching {url}"))?;

        if let Some(next) = redirect_location(&head, &url, config.max_redirects)? {
            if !visited.insert(&next) {
                return Err(fail(
                    Code::TooManyRedirects,
                    format!("redirect loop: {url} sends back to {next}"),
                ));
            }
            let max = config.max_redirects.unwrap_or_default();
            if visited.redirects() > max {
                return Err(fail(
                    Code::TooManyRedirects,
                    format!("too many redirects (more than {max})"),
                ));
            }
            debug!("{} redirect to {next}", head.status);
            if url.scheme() == "https" && next.scheme() == "http" {
                warn!("redirected from https to plain http: {next} is fetched unencrypted");
            }
            exchange.drain(framing);
            url = next;
            continue;
        }

        if config.fail && head.status >= 400 {
            return Err(fail(
                Code::HttpError,
                format!("{url} returned HTTP status {} {}", head.status, head.reason),
            ));
        }
        let mut output = Output::open(&destination)?;
        let progress = Progress::start(framing_length(framing), config.quiet);
        let received = exchange
            .body(framing, |data| {
                output.write_all(data)?;
                progress.advance(data.len());
                Ok(())
            })
            .with_context(|| format!("fetching {url}"))?;
        drop(progress);
        let name = output.commit()?;
        info!("saved {received} bytes to {name}");
        return Ok(());
    }
}

/// Prints response heads as received: on stdout, or on stderr when the body
/// goes to stdout (and then not at all with `-q`).
struct HeadPrinter {
    to_stderr: bool,
    quiet: bool,
}

impl HeadPrinter {
    fn print(&self, head: &ResponseHead) -> anyhow::Result<()> {
        // The raw head ends with its own blank line, which also separates
        // it from the next head of a redirect chain.
        let written = if self.to_stderr {
            if self.quiet {
                return Ok(());
            }
            let mut stderr = io::stderr().lock();
            stderr.write_all(&head.raw).and_then(|()| stderr.flush())
        } else {
            let mut stdout = io::stdout().lock();
            stdout.write_all(&head.raw).and_then(|()| stdout.flush())
        };
        written.map_err(|err| {
            fail(
                Code::WriteError,
                format!("printing the response head: {err}"),
            )
        })
    }
}

/// The URL a response redirects to, if it is a redirect to follow.
fn redirect_location(
    head: &ResponseHead,
    base: &Url,
    max_redirects: Option<usize>,
) -> anyhow::Result<Option<Url>> {
    if max_redirects.is_none() || !matches!(head.status, 301 | 302 | 303 | 307 | 308) {
        return Ok(None);
    }
    // A redirect without a Location, or with an empty one, is a final
    // response, as in curl.
    match head.header("location") {
        Some(location) if !location.is_empty() => target::redirect(base, location).map(Some),
        _ => Ok(None),
    }
}

/// The URLs a fetch has visited, to tell a redirect loop. Each is kept as a
/// 64-bit hash: a Location may be tens of KiB, and a chain of them must not
/// make memory grow by that much a step.
#[derive(Default)]
struct Visited {
    hasher: RandomState,
    seen: HashSet<u64>,
}

impl Visited {
    /// Records a URL; false if it was visited before.
    fn insert(&mut self, url: &Url) -> bool {
        self.seen.insert(self.hasher.hash_one(url.as_str()))
    }

    /// Redirects followed so far: every URL but the first.
    fn redirects(&self) -> usize {
        self.seen.len() - 1
    }
}

fn framing_length(framing: Framing) -> Option<u64> {
    match framing {
        Framing::Length(length) => Some(length),
        Framing::NoBody => Some(0),
        Framing::Chunked | Framing::UntilClose => None,
    }
}

/// The error of a response that breaks the protocol, with its exit code.
fn http_failure(err: &HttpError) -> anyhow::Error {
    fail(err.code(), err.to_string())
}

/// One request and its response, over one connection.
struct Exchange {
    stream: Stream,
    /// The idle limit, which also bounds the head and a drained body.
    timeout: Option<Duration>,
    /// The deadline of the whole fetch, if any.
    total: Option<Deadline>,
    /// `buf[start..end]` holds bytes received but not yet used.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Whether any byte has arrived, to tell "nothing at all" (52) from a
    /// head cut short (8).
    received_any: bool,
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

impl Exchange {
    /// Connects and sends the GET request for `url`, all before `total`.
    fn start(
        connector: &Connector,
        url: &Url,
        total: Option<Deadline>,
    ) -> anyhow::Result<Exchange> {
        let mut stream = connector.connect(url, total)?;
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {USER_AGENT}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            target::request_target(url),
            target::host_header(url),
        );
        debug!("request: {request:?}");
        stream
            .write_all(request.as_bytes())
            .and_then(|()| stream.flush())
            .map_err(|err| {
                let code = match err.kind() {
                    io::ErrorKind::TimedOut => Code::Timeout,
                    _ => Code::SendError,
                };
                fail(code, format!("sending the request to {url}: {err}"))
            })?;
        Ok(Exchange {
            stream,
            timeout: connector.read_timeout(),
            total,
            buf: vec![0; RECEIVE_BUFFER],
            start: 0,
            end: 0,
            received_any: false,
        })
    }

    /// Reads up to the end of the final response head, skipping 1xx interim
    /// responses. The bytes after it stay in the buffer for the body.
    ///
    /// The heads together must arrive within the idle limit: they are
    /// bounded in size but not in number (1xx), and a server trickling them
    /// byte by byte must not hold the fetch for days.
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
                    self.start += used;
                    if head.is_interim() {
                        debug!("skipping interim response {} {}", head.status, head.reason);
                        continue;
                    }
                    return Ok(head);
                }
                Ok(None) => {}
                Err(err) => return Err(http_failure(&err)),
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
                    return Err(fail(
                        Code::BadResponse,
                        "the connection closed before the end of the response head",
                    ));
                }
            }
        }
    }

    /// Decodes the body, handing each piece of it to `sink` straight from
    /// the receive buffer, and returns its length.
    fn body(
        &mut self,
        framing: Framing,
        mut sink: impl FnMut(&[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<u64> {
        let mut decoder = BodyDecoder::new(framing);
        let mut length = 0u64;
        loop {
            while self.start < self.end {
                let input = &self.buf[self.start..self.end];
                let step = decoder.decode(input).map_err(|err| http_failure(&err))?;
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
                    decoder.finish().map_err(|err| http_failure(&err))?;
                    return Ok(length);
                }
                Received::EndUnverified => {
                    decoder.finish().map_err(|err| http_failure(&err))?;
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

    /// Reads and discards a redirect's body, within [`MAX_DRAINED_BODY`] and
    /// the idle limit as a whole. Nothing of it is kept, so a failure only
    /// ends the reading.
    fn drain(&mut self, framing: Framing) {
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
        if let Err(err) = result {
            debug!("draining the redirect body: {err:#}");
        }
    }

    /// Gives a step of bounded size the idle limit as a whole, within the
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
                Err(err) => return self.receive_error(err),
            }
        }
    }

    fn receive_error(&self, err: io::Error) -> anyhow::Result<Received> {
        match err.kind() {
            // The transport says which limit was reached.
            io::ErrorKind::TimedOut => Err(fail(Code::Timeout, err.to_string())),
            io::ErrorKind::UnexpectedEof if self.stream.is_tls() => Ok(Received::EndUnverified),
            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => Err(fail(
                Code::RecvError,
                format!("the connection was reset: {err}"),
            )),
            _ => Err(fail(Code::RecvError, format!("receiving: {err}"))),
        }
    }
}
