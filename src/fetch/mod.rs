//! `sockdemo fetch TARGET`: the tutorial's raw HTTP fetch, done properly.
//!
//! One GET per connection (`Connection: close`), following redirects: each
//! response head is printed as received, the final body is streamed through
//! a fixed buffer into an output that replaces the user's file only once the
//! download is complete, and only when the final status is below 400: an
//! error page never replaces a file. The protocol itself (head parsing, body framing) is
//! the pure [`crate::http`] module; this module drives it over a socket.
//!
//! [`run`] reads as the tutorial's steps, each a function of this file:
//! connect, send and read the head (`attempt`, one attempt at one URL),
//! follow or stop (`follow_or_stop`), save the body ([`Download::save`]).
//! Around them, `run` tries again after a transient failure ([`retry`]),
//! continuing the body where it stopped when the server proves it has the
//! same file ([`resume`]).
//!
//! | part | owns | tutorial |
//! |---|---|---|
//! | [`target`] | TARGET to URL, request target, `Host`, default file name | `a.host`, `a.path`, `a.out` |
//! | [`headers`] | the request's header fields: defaults, `-A`, `-H`, redirect rules | the request string |
//! | [`transport`] | resolve, connect, proxies, time limits, TLS | `s.connect((a.host, a.port))` |
//! | [`exchange`] | one request and its response over one connection | `s.send(...)`, the `recv` loop |
//! | [`output`] | atomic file output, stdout | `open(a.out, 'wb')` |
//! | [`signals`] | removing the temporary file on SIGINT, SIGTERM, SIGHUP | — |
//! | [`download`] | the saved bytes across attempts, codings, checks | — |
//! | [`retry`] | which failures are retried, and when | — |
//! | [`resume`] | `Range` and `If-Range`, and what the answer means | — |
//! | [`partial`] | `-C`: the `.part` file and its metadata | — |
//! | [`verify`] | `--checksum`, `--expect-size` | — |
//! | [`progress`] | the progress bar | — |
//! | this file | the steps, redirects, the error-page rule, exit codes of protocol errors | `split(b'\r\n\r\n')`, `print(header)` |

pub mod download;
pub mod exchange;
pub mod headers;
pub mod output;
pub mod partial;
pub mod progress;
pub mod resume;
pub mod retry;
pub mod signals;
pub mod target;
pub mod transport;
pub mod verify;

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use log::{debug, warn};
use url::Url;

use crate::exit::{Code, WithCode, fail, fail_with, io_cause};
use crate::http::{self, Framing, HttpError, ResponseHead};
use crate::human::{self, thousands};
use download::{Body, CannotStartOver, Download, Finished};
use exchange::{Exchange, HeadCut};
use headers::RequestHeaders;
use output::Destination;
use resume::{Resume, Verdict};
use retry::{Decision, Failure, Retrier};
use signals::PartialFile;
use transport::proxy::Proxy;
use transport::{Connector, Deadline, Proxies};

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
    /// `--content-on-error`: save the body of a final status of 400 or
    /// more, and succeed; by default it is an error (exit 22) that keeps no file.
    pub content_on_error: bool,
    /// `-I/--head`: send HEAD, print the heads, save nothing.
    pub head_only: bool,
    /// The request's header fields: the defaults, `-A` and `-H`.
    pub headers: RequestHeaders,
    /// `-x/--proxy`: the proxy for every URL (`Some("")`: none at all).
    pub proxy: Option<String>,
    /// `--noproxy`: the hosts reached directly, instead of `no_proxy`.
    pub noproxy: Option<String>,
    /// `--cacert`: a PEM file of CAs to trust instead of the system's.
    pub cacert: Option<PathBuf>,
    /// `--insecure`: do not verify the server's certificate.
    pub insecure: bool,
    /// `-q`: no warnings, no progress (the heads are still printed).
    pub quiet: bool,
    /// `-s`: `-q`, and no heads and no line saying what was saved either.
    pub silent: bool,
    /// `--retry`, `--retry-delay`, `--retry-max-time`, `--retry-connrefused`.
    pub retry: retry::Policy,
    /// `-C`: keep partial data in `.NAME.part`, and continue it.
    pub continue_partial: bool,
    /// `--checksum`: the digest the saved bytes must have.
    pub checksum: Option<verify::Checksum>,
    /// `--expect-size`: the size the saved bytes must have.
    pub expect_size: Option<u64>,
    /// `--max-filesize`: the most bytes saved, decoded ones included.
    pub max_filesize: Option<u64>,
    /// `--compressed`: ask for a compressed body and save it decoded.
    pub compressed: bool,
}

/// Fetches `config.target`: prints the response heads, and saves the final
/// body unless its status is 400 or more (the error-page rule) or `-I` asked
/// for heads only; after a transient failure, tries again.
pub fn run(config: &Config) -> anyhow::Result<()> {
    let first_url = target::parse(&config.target)?;
    let destination = destination(config.output.as_deref(), &first_url);
    if config.continue_partial && (destination == Destination::Stdout || config.head_only) {
        return Err(fail(
            Code::Usage,
            "-C continues a file beside the target: it cannot be used with -o - or -I",
        ));
    }
    let fetch = Fetch {
        heads: HeadPrinter {
            to_stderr: destination == Destination::Stdout,
            quiet: config.quiet,
            silent: config.silent,
        },
        connector: Connector::new(
            config.connect_timeout,
            config.timeout,
            config.cacert.as_deref(),
            config.insecure,
        )
        .with_proxies(Proxies {
            proxy: config.proxy.clone(),
            noproxy: config.noproxy.clone(),
            user_agent: config.headers.user_agent().to_owned(),
            ..Proxies::default()
        }),
        total: Deadline::after(config.max_time, "the whole transfer (--max-time)"),
        first_url,
        config,
    };
    let partial = PartialFile::default();
    if let Destination::File(_) = destination {
        signals::remove_on_signal(&partial)?;
    }
    let mut download = Download::new(destination, &partial, config, fetch.first_url.as_str())?;
    let mut retrier = Retrier::new(config.retry.clone(), retry::jitter_seed());
    let started = Instant::now();
    let mut previous: Option<anyhow::Error> = None;
    loop {
        let (failure, report) = match fetch.download(&mut download) {
            Ok(()) => return fetch.finish(download),
            Err(Failed::Status(mut response, url, heads)) => {
                let report = status_attempt(&response.head, download.saved());
                match retrier.decide(&report, started.elapsed()) {
                    Decision::Retry { delay }
                        if fetch.wait_to_retry(
                            &format!(
                                "{url} returned HTTP status {} {}",
                                response.head.status, response.head.reason
                            ),
                            delay,
                            &retrier,
                            &download,
                        ) =>
                    {
                        continue;
                    }
                    // The last answer is final: the error page rule applies.
                    _ => {
                        gave_up(&retrier, &download);
                        let saved = fetch.heads.print_all(&heads).and_then(|()| {
                            fetch.take_final(&mut response, &url, None, &mut download)
                        });
                        return match saved {
                            Ok(()) => fetch.finish(download),
                            Err(err) => Err(abandon(download, err)),
                        };
                    }
                }
            }
            Err(Failed::Error { err, connected }) => {
                // The output could not take a new version: the error is
                // the one that made this attempt necessary.
                let err = match (err.is::<CannotStartOver>(), previous.take()) {
                    (true, Some(previous)) => return Err(abandon(download, previous)),
                    _ => err,
                };
                let report = retry::Attempt {
                    failure: classify(&err),
                    reached: download.saved(),
                    connected,
                    retry_after: None,
                };
                (err, report)
            }
        };
        match retrier.decide(&report, started.elapsed()) {
            Decision::Retry { delay }
                if fetch.wait_to_retry(&format!("{failure:#}"), delay, &retrier, &download) =>
            {
                previous = Some(failure);
            }
            _ => {
                gave_up(&retrier, &download);
                return Err(abandon(download, failure));
            }
        }
    }
}

/// A final response whose status says "try again later", as retrying sees it.
fn status_attempt(head: &ResponseHead, saved: u64) -> retry::Attempt {
    retry::Attempt {
        failure: Failure::Status(head.status),
        reached: saved,
        connected: true,
        retry_after: head
            .header("retry-after")
            .and_then(|value| retry::retry_after(value, SystemTime::now())),
    }
}

/// After the last attempt, when there was more than one: how far they got.
fn gave_up(retrier: &Retrier, download: &Download) {
    if retrier.attempts() > 1 {
        let of = download
            .total()
            .map(|total| format!(" of {}", thousands(total)))
            .unwrap_or_default();
        warn!(
            "gave up after {} attempts; the furthest got {} bytes{of}",
            retrier.attempts(),
            thousands(retrier.best().max(download.saved()))
        );
    }
}

/// Gives up the download with `err`: partial data goes (with `-C` it stays,
/// unless the error says it is wrong or too large).
fn abandon(download: Download, err: anyhow::Error) -> anyhow::Error {
    let discard = matches!(Code::of(&err), Code::Mismatch | Code::TooLarge);
    download.abandon(discard);
    err
}

/// What ended a failed attempt.
enum Failed {
    /// A final response whose status says "try again later" (503, say);
    /// its body is not read yet, in case it is the last answer. With its
    /// URL and the heads that led to it, printed only if it is.
    Status(Box<Response>, Url, Vec<Vec<u8>>),
    /// An error, and whether the attempt got a connection.
    Error { err: anyhow::Error, connected: bool },
}

impl Failed {
    fn connected(err: anyhow::Error) -> Failed {
        Failed::Error {
            err,
            connected: true,
        }
    }
}

/// How retrying sees an error: the kinds worth another attempt, by their
/// exit code and, where one code covers both, their cause.
fn classify(err: &anyhow::Error) -> Failure {
    match Code::of(err) {
        // A reset, or a failed read or write: an I/O error underneath. Not a
        // proxy refusing a tunnel, which says so in a status of its own.
        Code::RecvError | Code::SendError if io_cause(err).is_some() => Failure::Reset,
        Code::Timeout => Failure::Timeout,
        // A TLS stream without close_notify in a body that needed it is one.
        Code::PartialBody => Failure::BodyCut,
        Code::GotNothing => Failure::NothingReceived,
        Code::BadResponse if err.chain().any(|e| e.is::<HeadCut>()) => Failure::HeadCut,
        Code::CouldntConnect => Failure::Refused,
        Code::CouldntResolve if resolver_busy(err) => Failure::ResolverBusy,
        _ => Failure::Permanent,
    }
}

/// Whether name resolution failed for now (`EAI_AGAIN`). The standard
/// library reports it only in words: those of glibc's `gai_strerror`.
fn resolver_busy(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.to_string()
            .contains("Temporary failure in name resolution")
    })
}

/// What every attempt of a fetch uses.
struct Fetch<'c> {
    heads: HeadPrinter,
    connector: Connector,
    total: Option<Deadline>,
    first_url: Url,
    config: &'c Config,
}

impl Fetch<'_> {
    /// One attempt at the download: from the URL given, following redirects
    /// again, to the end of the body. A continued download asks for the rest
    /// (`Range`, `If-Range`); a 416 to that asks once more, for all of it.
    fn download(&self, download: &mut Download) -> Result<(), Failed> {
        let mut url = self.first_url.clone();
        let mut redirects = Redirects::new(&url, self.config.max_redirects);
        let mut heads = Vec::new();
        loop {
            let resume = download.resume().filter(|_| !self.config.head_only);
            let extra = request_fields(resume.as_ref(), self.config.compressed);
            let request = Request {
                method: if self.config.head_only { "HEAD" } else { "GET" },
                url: &url,
                first_url: &self.first_url,
                headers: &self.config.headers,
                extra: &extra,
            };
            let mut response = attempt(&self.connector, &request, self.total)?;
            heads.push(response.head.raw.clone());
            let next =
                follow_or_stop(&response.head, &url, &mut redirects).map_err(Failed::connected)?;
            if let Some(next) = next {
                response.exchange.drain(response.framing);
                url = next;
                continue;
            }
            if retry::is_transient_status(response.head.status) {
                return Err(Failed::Status(Box::new(response), url, heads));
            }
            let verdict = match &resume {
                Some(resume) => resume.judge(&response.head).map_err(|mismatch| {
                    Failed::connected(fail_with(
                        Code::BadResponse,
                        format!("fetching {url}"),
                        mismatch,
                    ))
                })?,
                None => Verdict::NotARange,
            };
            if verdict == Verdict::StartOverWithoutRange {
                debug!(
                    "{url} refused to continue at byte {}: asking for all of it",
                    download.saved()
                );
                download.forget_resume();
                heads.clear();
                continue;
            }
            self.heads.print_all(&heads).map_err(Failed::connected)?;
            let body = match verdict {
                Verdict::Append { end, .. } => Some(Body::Rest { end }),
                _ => None,
            };
            return self
                .take_final(&mut response, &url, body, download)
                .map_err(Failed::connected);
        }
    }

    /// Saves the body of a final response, unless the error-page rule
    /// refuses its status or `-I` asked for heads only. `body` says whether
    /// it continues what is saved; `None` for a whole body.
    fn take_final(
        &self,
        response: &mut Response,
        url: &Url,
        body: Option<Body>,
        download: &mut Download,
    ) -> anyhow::Result<()> {
        check_status(&response.head, url, self.config.content_on_error)?;
        if self.config.head_only {
            return Ok(());
        }
        if response.framing == Framing::NoBody {
            download.save_nothing(format!(
                "{url} answered {} {}, which has no body",
                response.head.status, response.head.reason
            ));
            return Ok(());
        }
        download.save(response, url, body.unwrap_or(Body::Whole))
    }

    /// Completes the download, and says so in a sentence for the user (not
    /// a log line: it is the outcome), unless `-q` or `-s`.
    fn finish(&self, download: Download) -> anyhow::Result<()> {
        if self.config.head_only {
            return Ok(());
        }
        let finished = download.finish()?;
        if !(self.config.quiet || self.config.silent) {
            match finished {
                Finished::Saved { name, bytes } => {
                    eprintln!("saved {} bytes to {name}", thousands(bytes));
                }
                Finished::Nothing { why } => eprintln!("nothing saved: {why}"),
            }
        }
        Ok(())
    }

    /// Says why and when the next attempt comes, then waits for it. False,
    /// with nothing said, when `--max-time` has passed: no attempt is left.
    fn wait_to_retry(
        &self,
        reason: &str,
        delay: Duration,
        retrier: &Retrier,
        download: &Download,
    ) -> bool {
        let Ok(wait) = Deadline::cap(self.total, Some(delay)) else {
            return false;
        };
        // The wait as it will be: --max-time may cut it short.
        let delay = wait.unwrap_or(delay);
        let when = if delay.is_zero() {
            "at once".to_owned()
        } else {
            format!("in {}", human::duration(delay))
        };
        let how = match download.resume() {
            Some(resume) => format!(", resuming at byte {}", thousands(resume.offset)),
            None if download.saved() > 0 => ", from the start".to_owned(),
            None => String::new(),
        };
        warn!(
            "{reason}: retrying {when} (attempt {}){how}",
            retrier.attempts() + 1
        );
        thread::sleep(delay);
        true
    }
}

/// Where the body goes: `-o -` is stdout, `-o FILE` that file, and by
/// default a name from the URL the user gave, whatever the redirects say.
fn destination(output: Option<&Path>, first_url: &Url) -> Destination {
    match output {
        Some(path) if path.as_os_str() == "-" => Destination::Stdout,
        Some(path) => Destination::File(path.to_path_buf()),
        None => Destination::File(target::default_file_name(first_url)),
    }
}

/// A response whose head has been read; its body is still to come.
pub struct Response {
    exchange: Exchange,
    head: ResponseHead,
    framing: Framing,
}

/// One request of a fetch: its method, its URL, and the header fields it
/// sends, which depend on the URL the fetch started at.
struct Request<'a> {
    method: &'static str,
    url: &'a Url,
    first_url: &'a Url,
    headers: &'a RequestHeaders,
    /// Fields of this attempt: `Range` and `If-Range`, `Accept-Encoding`.
    extra: &'a [(&'static str, String)],
}

/// One attempt at one URL: connects, sends the request, reads the final
/// response head and decides how its body is framed, all before `total`.
fn attempt(
    connector: &Connector,
    request: &Request<'_>,
    total: Option<Deadline>,
) -> Result<Response, Failed> {
    let url = request.url;
    let stream = connector.connect(url, total).map_err(|err| Failed::Error {
        err,
        connected: false,
    })?;
    let wire = request_head(request, stream.proxy());
    // As sent, but for the proxy's credentials, which no log shows.
    let shown = stream.proxy().map(Proxy::without_credentials);
    debug!(
        "request: {}",
        request_head(request, shown.as_ref()).escape_debug()
    );
    let mut exchange = Exchange::new(stream, connector.timeout(), total);
    exchange
        .send(wire.as_bytes())
        .with_context(|| format!("fetching {url}"))
        .map_err(Failed::connected)?;
    let head = exchange
        .read_head()
        .with_context(|| format!("fetching {url}"))
        .map_err(Failed::connected)?;
    let framing = http::framing(&head, request.method == "HEAD").map_err(|err| {
        Failed::connected(fail_with(exit_code(&err), format!("fetching {url}"), err))
    })?;
    Ok(Response {
        exchange,
        head,
        framing,
    })
}

/// The request head: in origin form (`GET /path`) to the server, or in
/// absolute form (`GET http://host/path`) with the proxy's credentials to a
/// proxy that forwards plain http.
fn request_head(request: &Request<'_>, proxy: Option<&Proxy>) -> String {
    let mut fields = request.headers.for_url(request.url, request.first_url);
    // A field the user set with -H stays as set.
    for (name, value) in request.extra {
        if !fields.iter().any(|(set, _)| set.eq_ignore_ascii_case(name)) {
            fields.push(((*name).to_owned(), value.clone()));
        }
    }
    let target = match proxy {
        None => target::request_target(request.url),
        Some(proxy) => {
            if let Some((name, value)) = proxy.authorization_header() {
                fields.push((name.to_owned(), value.to_owned()));
            }
            transport::proxy::absolute_form(request.url)
        }
    };
    headers::request_head(request.method, target, &fields)
}

/// The fields a request adds to those of every request: `Range` and
/// `If-Range` to continue a download, or `Accept-Encoding` with
/// `--compressed` (not both: a continued body is the one first sent, which
/// was not compressed, or it could not be continued).
fn request_fields(resume: Option<&Resume>, compressed: bool) -> Vec<(&'static str, String)> {
    match resume {
        Some(resume) => resume.request_fields().to_vec(),
        None if compressed => vec![("Accept-Encoding", "gzip, deflate, br, zstd".to_owned())],
        None => Vec::new(),
    }
}

/// The error-page rule: a final status of 400 or more is a failure (exit
/// 22) that saves nothing, so that an error page never replaces a good
/// file; `--content-on-error` saves it anyway, as curl does by default.
fn check_status(head: &ResponseHead, url: &Url, content_on_error: bool) -> anyhow::Result<()> {
    if head.status >= 400 && !content_on_error {
        return Err(fail(
            Code::HttpError,
            format!(
                "{url} answered {} {}: nothing saved (--content-on-error saves the body)",
                head.status, head.reason
            ),
        ));
    }
    Ok(())
}

/// Prints response heads as received: on stdout, or on stderr when the body
/// goes to stdout (and then not at all with `-q`); never with `-s`.
struct HeadPrinter {
    to_stderr: bool,
    quiet: bool,
    silent: bool,
}

impl HeadPrinter {
    /// Prints the heads of an attempt, each as received.
    fn print_all(&self, heads: &[Vec<u8>]) -> anyhow::Result<()> {
        heads.iter().try_for_each(|head| self.print(head))
    }

    fn print(&self, head: &[u8]) -> anyhow::Result<()> {
        // The raw head ends with its own blank line, which also separates
        // it from the next head of a redirect chain.
        if self.silent {
            return Ok(());
        }
        let written = if self.to_stderr {
            if self.quiet {
                return Ok(());
            }
            let mut stderr = io::stderr().lock();
            stderr.write_all(head).and_then(|()| stderr.flush())
        } else {
            let mut stdout = io::stdout().lock();
            stdout.write_all(head).and_then(|()| stdout.flush())
        };
        written.with_code(Code::WriteError, || "printing the response head")
    }
}

/// Follow or stop: the URL a response redirects to, if it is a redirect to
/// follow, or `None` when it is the final response. A redirect back to a
/// URL already visited, or one more than allowed, exits 47.
fn follow_or_stop(
    head: &ResponseHead,
    url: &Url,
    redirects: &mut Redirects,
) -> anyhow::Result<Option<Url>> {
    let Some(max) = redirects.max else {
        return Ok(None);
    };
    if !matches!(head.status, 301 | 302 | 303 | 307 | 308) {
        return Ok(None);
    }
    // A redirect without a Location, or with an empty one, is a final
    // response, as in curl.
    let next = match head.header("location") {
        Some(location) if !location.is_empty() => target::redirect(url, location)?,
        _ => return Ok(None),
    };
    if !redirects.visit(&next) {
        return Err(fail(
            Code::TooManyRedirects,
            format!("redirect loop: {url} sends back to {next}"),
        ));
    }
    if redirects.followed() > max {
        return Err(fail(
            Code::TooManyRedirects,
            format!("too many redirects (more than {max})"),
        ));
    }
    debug!("{} redirect to {next}", head.status);
    if url.scheme() == "https" && next.scheme() == "http" {
        warn!("redirected from https to plain http: {next} is fetched unencrypted");
    }
    Ok(Some(next))
}

/// The redirects of a fetch: how many may be followed (`None`: none, with
/// `--no-follow`), and the URLs visited, to tell a loop. Each URL is kept
/// as a 64-bit hash: a Location may be tens of KiB, and a chain of them
/// must not make memory grow by that much a step.
struct Redirects {
    max: Option<usize>,
    hasher: RandomState,
    seen: HashSet<u64>,
}

impl Redirects {
    /// No redirect followed yet from `first`.
    fn new(first: &Url, max: Option<usize>) -> Redirects {
        let mut redirects = Redirects {
            max,
            hasher: RandomState::new(),
            seen: HashSet::new(),
        };
        redirects.visit(first);
        redirects
    }

    /// Records a URL; false if it was visited before.
    fn visit(&mut self, url: &Url) -> bool {
        self.seen.insert(self.hasher.hash_one(url.as_str()))
    }

    /// Redirects followed so far: every URL but the first.
    fn followed(&self) -> usize {
        self.seen.len() - 1
    }
}

/// The exit code of each way a response can break the protocol: a body
/// cut short is a partial file (curl's 18), every other fault a malformed
/// reply (8). Each kind is listed, so that a new one needs a decision here.
pub fn exit_code(err: &HttpError) -> Code {
    match err {
        HttpError::Truncated(_) => Code::PartialBody,
        HttpError::HeadTooLarge
        | HttpError::TooManyHeaders
        | HttpError::MalformedHead(_)
        | HttpError::ControlByte { .. }
        | HttpError::SwitchingProtocols
        | HttpError::LengthAndTransferEncoding
        | HttpError::TransferEncodingInHttp10
        | HttpError::EmptyTransferEncoding
        | HttpError::ChunkedTwice
        | HttpError::InvalidContentLength(_)
        | HttpError::ConflictingContentLength { .. }
        | HttpError::ChunkLineTooLong
        | HttpError::ChunkSizeNotHex(_)
        | HttpError::ChunkSizeTooLarge
        | HttpError::MalformedChunkLine(_)
        | HttpError::ChunkDataTooLong
        | HttpError::TrailersTooLarge
        | HttpError::MalformedTrailer(_) => Code::BadResponse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;
    use std::thread;

    fn url(text: &str) -> Url {
        target::parse(text).unwrap()
    }

    fn head(wire: &str) -> ResponseHead {
        http::parse_head(wire.as_bytes()).unwrap().unwrap().0
    }

    fn redirect(status: u16, location: &str) -> ResponseHead {
        head(&format!(
            "HTTP/1.1 {status} Moved\r\nLocation: {location}\r\n\r\n"
        ))
    }

    fn get<'a>(url: &'a Url, headers: &'a RequestHeaders) -> Request<'a> {
        Request {
            method: "GET",
            url,
            first_url: url,
            headers,
            extra: &[],
        }
    }

    #[test]
    fn the_request_is_a_get_with_host_and_connection_close() {
        let url = url("http://example.com:8080/a%20b?q=1#frag");
        assert_eq!(
            request_head(&get(&url, &RequestHeaders::default()), None),
            format!(
                "GET /a%20b?q=1 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: sockdemo/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn through_a_proxy_the_request_names_the_whole_url() {
        let url = url("http://example.com/a?q=1");
        let headers = RequestHeaders::new(Some("ua".into()), Vec::new());
        let proxy = Proxy::parse("http://u:p@proxy.test:3128").unwrap();
        let mut request = get(&url, &headers);
        request.method = "HEAD";
        assert_eq!(
            request_head(&request, Some(&proxy)),
            "HEAD http://example.com/a?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: ua\r\nAccept: */*\r\nConnection: close\r\nProxy-Authorization: Basic dTpw\r\n\r\n"
        );
    }

    #[test]
    fn an_error_status_is_a_failure_unless_asked_for() {
        let url = url("http://h/f");
        for status in [400, 404, 500, 599] {
            let head = head(&format!("HTTP/1.1 {status} X\r\n\r\n"));
            let err = check_status(&head, &url, false).unwrap_err();
            assert_eq!(Code::of(&err), Code::HttpError);
            assert!(
                err.to_string().contains(&format!("answered {status} X")),
                "{err}"
            );
            check_status(&head, &url, true).unwrap();
        }
        for status in [200, 204, 304, 399] {
            check_status(&head(&format!("HTTP/1.1 {status} X\r\n\r\n")), &url, false).unwrap();
        }
    }

    #[test]
    fn a_resume_asks_for_the_rest_and_compressed_for_a_coding() {
        let resume = Resume {
            offset: 10,
            validator: resume::Validator::ETag("\"x\"".into()),
            total: None,
        };
        let fields = request_fields(Some(&resume), true);
        let url = url("http://h/f");
        let headers = RequestHeaders::default();
        let request = Request {
            extra: &fields,
            ..get(&url, &headers)
        };
        assert_eq!(
            request_head(&request, None),
            format!(
                "GET /f HTTP/1.1\r\nHost: h\r\nUser-Agent: sockdemo/{}\r\nAccept: */*\r\nConnection: close\r\nRange: bytes=10-\r\nIf-Range: \"x\"\r\n\r\n",
                env!("CARGO_PKG_VERSION")
            ),
            "a continued body is the identity one first sent: no Accept-Encoding"
        );
        assert_eq!(
            request_fields(None, true),
            [("Accept-Encoding", "gzip, deflate, br, zstd".to_owned())]
        );
        assert!(request_fields(None, false).is_empty());
    }

    #[test]
    fn errors_are_classified_for_retrying_by_code_and_cause() {
        let coded = |code| fail(code, "x");
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(
            classify(&fail_with(Code::RecvError, "receiving", reset)),
            Failure::Reset
        );
        let tunnel_refused = fail(Code::RecvError, "proxy p refused the tunnel: 403 Forbidden");
        assert_eq!(classify(&tunnel_refused), Failure::Permanent);
        assert_eq!(classify(&coded(Code::Timeout)), Failure::Timeout);
        assert_eq!(classify(&coded(Code::PartialBody)), Failure::BodyCut);
        assert_eq!(classify(&coded(Code::GotNothing)), Failure::NothingReceived);
        assert_eq!(classify(&coded(Code::CouldntConnect)), Failure::Refused);
        let cut_head = fail_with(Code::BadResponse, "reading the response head", HeadCut);
        assert_eq!(classify(&cut_head), Failure::HeadCut);
        let busy = fail_with(
            Code::CouldntResolve,
            "could not resolve host h",
            io::Error::other(
                "failed to lookup address information: Temporary failure in name resolution",
            ),
        );
        assert_eq!(classify(&busy), Failure::ResolverBusy);
        for code in [
            Code::BadResponse,
            Code::CouldntResolve,
            Code::TlsHandshake,
            Code::PeerCertificate,
            Code::Mismatch,
            Code::WriteError,
            Code::BadEncoding,
        ] {
            assert_eq!(classify(&coded(code)), Failure::Permanent, "{code:?}");
        }
    }

    #[test]
    fn the_body_goes_where_o_says_or_to_the_first_urls_name() {
        let first = url("example.com/dir/file.txt");
        assert_eq!(
            destination(Some(Path::new("-")), &first),
            Destination::Stdout
        );
        assert_eq!(
            destination(Some(Path::new("out.bin")), &first),
            Destination::File("out.bin".into())
        );
        assert_eq!(
            destination(None, &first),
            Destination::File("file.txt".into())
        );
    }

    #[test]
    fn redirects_are_followed_resolved_and_counted() {
        let base = url("http://h/a/b");
        let mut redirects = Redirects::new(&base, Some(5));
        let next = follow_or_stop(&redirect(302, "c"), &base, &mut redirects).unwrap();
        assert_eq!(next, Some(url("http://h/a/c")));
        for status in [301, 303, 307, 308] {
            let location = format!("/{status}");
            let next = follow_or_stop(&redirect(status, &location), &base, &mut redirects);
            assert_eq!(next.unwrap(), Some(base.join(&location).unwrap()));
        }
        assert_eq!(redirects.followed(), 5);
        let sixth = follow_or_stop(&redirect(302, "/y"), &base, &mut redirects).unwrap_err();
        assert_eq!(Code::of(&sixth), Code::TooManyRedirects);
        assert_eq!(sixth.to_string(), "too many redirects (more than 5)");
    }

    #[test]
    fn a_loop_through_several_urls_is_told() {
        let first = url("http://h/1");
        let mut redirects = Redirects::new(&first, Some(10));
        let second = follow_or_stop(&redirect(302, "/2"), &first, &mut redirects)
            .unwrap()
            .unwrap();
        let err = follow_or_stop(&redirect(302, "/1"), &second, &mut redirects).unwrap_err();
        assert_eq!(Code::of(&err), Code::TooManyRedirects);
        assert_eq!(
            err.to_string(),
            "redirect loop: http://h/2 sends back to http://h/1"
        );
    }

    #[test]
    fn some_responses_are_final_whatever_they_say() {
        let base = url("http://h/");
        let mut redirects = Redirects::new(&base, Some(10));
        let mut stop = |head: &ResponseHead| follow_or_stop(head, &base, &mut redirects).unwrap();
        assert_eq!(stop(&redirect(200, "/x")), None);
        assert_eq!(stop(&redirect(304, "/x")), None);
        assert_eq!(stop(&redirect(302, "")), None);
        assert_eq!(stop(&head("HTTP/1.1 302 Found\r\n\r\n")), None);
        let mut no_follow = Redirects::new(&base, None);
        let next = follow_or_stop(&redirect(302, "/x"), &base, &mut no_follow).unwrap();
        assert_eq!(next, None, "--no-follow");
    }

    #[test]
    fn an_error_page_is_refused_in_one_sentence_naming_the_status() {
        let base = url("http://h/");
        let not_found = head("HTTP/1.1 404 Not Found\r\n\r\n");
        let err = check_status(&not_found, &base, false).unwrap_err();
        assert_eq!(Code::of(&err), Code::HttpError);
        assert_eq!(
            err.to_string(),
            "http://h/ answered 404 Not Found: nothing saved (--content-on-error saves the body)"
        );
        assert!(check_status(&not_found, &base, true).is_ok());
        assert!(check_status(&head("HTTP/1.1 399 X\r\n\r\n"), &base, false).is_ok());
    }

    #[test]
    fn a_cut_body_is_a_partial_file_and_every_other_fault_a_bad_response() {
        let cut = HttpError::Truncated(http::Truncation::InsideChunk);
        assert_eq!(exit_code(&cut) as u8, 18);
        for fault in [
            HttpError::HeadTooLarge,
            HttpError::MalformedHead(httparse::Error::Version),
            HttpError::ConflictingContentLength {
                first: 1,
                second: 2,
            },
            HttpError::ChunkSizeTooLarge,
            HttpError::MalformedTrailer(b"x".to_vec()),
        ] {
            assert_eq!(exit_code(&fault) as u8, 8, "{fault}");
        }
    }

    /// A server on loopback that reads one request, answers `reply`, and
    /// hands back the request it read.
    fn serve_once(reply: &'static [u8]) -> (Url, thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = url(&format!("http://{}/f", listener.local_addr().unwrap()));
        let server = thread::spawn(move || {
            let (mut client, _) = listener.accept().unwrap();
            client
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut request = Vec::new();
            let mut buf = [0; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let n = client.read(&mut buf).unwrap();
                assert!(n > 0, "the request ended early");
                request.extend_from_slice(&buf[..n]);
            }
            client.write_all(reply).unwrap();
            request
        });
        (url, server)
    }

    #[test]
    fn one_attempt_connects_sends_and_reads_the_final_head() {
        let reply = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
        let (url, server) = serve_once(reply);
        let limit = Some(Duration::from_secs(10));
        let connector = Connector::new(limit, limit, None, false);
        let headers = RequestHeaders::default();
        let Ok(mut response) = attempt(&connector, &get(&url, &headers), None) else {
            panic!("the attempt failed")
        };
        assert_eq!(
            server.join().unwrap(),
            request_head(&get(&url, &headers), None).as_bytes()
        );
        assert_eq!(response.head.status, 200, "the interim head is skipped");
        assert_eq!(response.framing, Framing::Length(2));
        let mut body = Vec::new();
        let length = response
            .exchange
            .body(response.framing, |data| {
                body.extend_from_slice(data);
                Ok(())
            })
            .unwrap();
        assert_eq!((length, body.as_slice()), (2, &b"hi"[..]));
    }

    #[test]
    fn a_bad_framing_fails_the_attempt_with_its_code() {
        let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        let (url, server) = serve_once(reply);
        let limit = Some(Duration::from_secs(10));
        let connector = Connector::new(limit, limit, None, false);
        let headers = RequestHeaders::default();
        let Err(Failed::Error { err, .. }) = attempt(&connector, &get(&url, &headers), None) else {
            panic!("conflicting lengths were accepted")
        };
        server.join().unwrap();
        assert_eq!(Code::of(&err), Code::BadResponse);
        assert_eq!(
            format!("{err:#}"),
            format!("fetching {url}: conflicting Content-Length values: 1 and 2")
        );
    }
}
