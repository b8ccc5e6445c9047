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
//! follow or stop (`follow_or_stop`), save the body (`save`).
//!
//! | part | owns | tutorial |
//! |---|---|---|
//! | [`target`] | TARGET to URL, request target, `Host`, default file name | `a.host`, `a.path`, `a.out` |
//! | [`headers`] | the request's header fields: defaults, `-A`, `-H`, redirect rules | the request string |
//! | [`transport`] | resolve, connect, proxies, time limits, TLS | `s.connect((a.host, a.port))` |
//! | [`exchange`] | one request and its response over one connection | `s.send(...)`, the `recv` loop |
//! | [`output`] | atomic file output, stdout | `open(a.out, 'wb')` |
//! | [`signals`] | removing the temporary file on SIGINT, SIGTERM, SIGHUP | — |
//! | [`progress`] | the progress bar | — |
//! | this file | the steps, redirects, the error-page rule, exit codes of protocol errors | `split(b'\r\n\r\n')`, `print(header)` |

pub mod exchange;
pub mod headers;
pub mod output;
pub mod progress;
pub mod signals;
pub mod target;
pub mod transport;

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use log::{debug, warn};
use url::Url;

use crate::exit::{Code, WithCode, fail, fail_with};
use crate::http::{self, Framing, HttpError, ResponseHead};
use exchange::Exchange;
use headers::RequestHeaders;
use output::{Destination, Output};
use progress::Progress;
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
}

/// Fetches `config.target`: prints each response head, and saves the final
/// body unless its status is 400 or more (the error-page rule) or `-I` asked
/// for heads only.
pub fn run(config: &Config) -> anyhow::Result<()> {
    let first_url = target::parse(&config.target)?;
    let destination = destination(config.output.as_deref(), &first_url);
    let heads = HeadPrinter {
        to_stderr: destination == Destination::Stdout,
        quiet: config.quiet,
        silent: config.silent,
    };
    let connector = Connector::new(
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
    });
    let total = Deadline::after(config.max_time, "the whole transfer (--max-time)");
    let mut redirects = Redirects::new(&first_url, config.max_redirects);
    let mut url = first_url.clone();
    loop {
        let request = Request {
            method: if config.head_only { "HEAD" } else { "GET" },
            url: &url,
            first_url: &first_url,
            headers: &config.headers,
        };
        let mut response = attempt(&connector, &request, total)?;
        heads.print(&response.head)?;
        match follow_or_stop(&response.head, &url, &mut redirects)? {
            Some(next) => {
                response.exchange.drain(response.framing);
                url = next;
            }
            None => {
                check_status(&response.head, &url, config.content_on_error)?;
                if config.head_only {
                    return Ok(());
                }
                return save(response, &url, &destination, config);
            }
        }
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
struct Response {
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
}

/// One attempt at one URL: connects, sends the request, reads the final
/// response head and decides how its body is framed, all before `total`.
fn attempt(
    connector: &Connector,
    request: &Request<'_>,
    total: Option<Deadline>,
) -> anyhow::Result<Response> {
    let url = request.url;
    let stream = connector.connect(url, total)?;
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
        .with_context(|| format!("fetching {url}"))?;
    let head = exchange
        .read_head()
        .with_context(|| format!("fetching {url}"))?;
    let framing = http::framing(&head, request.method == "HEAD")
        .map_err(|err| fail_with(exit_code(&err), format!("fetching {url}"), err))?;
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

/// Saves the body of the final response.
fn save(
    mut response: Response,
    url: &Url,
    destination: &Destination,
    config: &Config,
) -> anyhow::Result<()> {
    let partial = PartialFile::default();
    if let Destination::File(_) = destination {
        signals::remove_on_signal(&partial)?;
    }
    let mut output = Output::open(destination, &partial)?;
    let progress = Progress::start(
        framing_length(response.framing),
        config.quiet || config.silent,
    );
    let received = response
        .exchange
        .body(response.framing, |data| {
            output.write_all(data)?;
            progress.advance(data.len());
            Ok(())
        })
        .with_context(|| format!("fetching {url}"))?;
    drop(progress);
    let name = output.commit()?;
    if !(config.quiet || config.silent) {
        // A sentence for the user, not a log line: it is the outcome.
        eprintln!("saved {} bytes to {name}", grouped(received));
    }
    Ok(())
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

/// A count with its thousands grouped, as people read it: `5,242,897`.
fn grouped(count: u64) -> String {
    let digits = count.to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

/// Prints response heads as received: on stdout, or on stderr when the body
/// goes to stdout (and then not at all with `-q`); never with `-s`.
struct HeadPrinter {
    to_stderr: bool,
    quiet: bool,
    silent: bool,
}

impl HeadPrinter {
    fn print(&self, head: &ResponseHead) -> anyhow::Result<()> {
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
            stderr.write_all(&head.raw).and_then(|()| stderr.flush())
        } else {
            let mut stdout = io::stdout().lock();
            stdout.write_all(&head.raw).and_then(|()| stdout.flush())
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

/// The length of a body, when its framing tells it, for the progress bar.
fn framing_length(framing: Framing) -> Option<u64> {
    match framing {
        Framing::Length(length) => Some(length),
        Framing::NoBody => Some(0),
        Framing::Chunked | Framing::UntilClose => None,
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
        | HttpError::StatusOutOfRange(_)
        | HttpError::ControlByte { .. }
        | HttpError::SwitchingProtocols
        | HttpError::LengthAndTransferEncoding
        | HttpError::TransferEncodingInHttp10
        | HttpError::EmptyTransferEncoding
        | HttpError::ChunkedNotLast
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
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(5_242_897), "5,242,897");
        assert_eq!(grouped(u64::MAX), "18,446,744,073,709,551,615");
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

    #[test]
    fn the_progress_bar_knows_a_length_only_from_the_framing() {
        assert_eq!(framing_length(Framing::Length(5)), Some(5));
        assert_eq!(framing_length(Framing::NoBody), Some(0));
        assert_eq!(framing_length(Framing::Chunked), None);
        assert_eq!(framing_length(Framing::UntilClose), None);
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
        let mut response = attempt(&connector, &get(&url, &headers), None).unwrap();
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
        let Err(err) = attempt(&connector, &get(&url, &headers), None) else {
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
