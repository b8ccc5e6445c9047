//! One attempt at a download: from the URL given, following redirects, to
//! the end of the final body. Each request is the tutorial's steps: connect
//! ([`transport`](super::transport)), send the request and read the head
//! ([`exchange`](super::exchange)), follow or stop ([`http::Redirects`]),
//! then the status rule and the body ([`Download::save`]).

use std::time::Duration;

use log::{debug, warn};
use url::Url;

use super::credentials::{Credentials, PerOrigin};
use super::download::{Body, Download};
use super::exchange::{Exchange, RECEIVE_BUFFER, Response, Wire};
use super::failure::{Failed, exit_code, redirect_failure};
use super::names::Conditional;
use super::observed::Observed;
use super::report::Report;
use super::retry;
use super::target;
use super::transport::proxy::Proxy;
use super::transport::{Connector, Deadline, Stream};
use super::verbose;
use crate::exit::{Code, fail, fail_with};
use crate::http::{
    self, Framing, Method, Redirects, RequestHeaders, ResponseHead, Resume, Verdict,
};

/// What the command line asks of every request of a fetch.
#[derive(Debug, Clone)]
pub struct Options {
    /// `GET`, or `HEAD` with `-I`.
    pub method: Method,
    /// The request's header fields: the defaults, `-A` and `-H`.
    pub headers: RequestHeaders,
    /// Redirects to follow at most; `None` with `--no-follow`.
    pub max_redirects: Option<usize>,
    /// `--content-on-error`: save the body of a final status of 400 or
    /// more, and succeed; by default it is an error (exit 22) that keeps no
    /// file.
    pub content_on_error: bool,
    /// `--compressed`: ask for a compressed body.
    pub compressed: bool,
    /// The credentials for the origin the fetch starts at (`-u`, the
    /// URL's, the `.netrc`'s), sent as Basic `Authorization` to it alone,
    /// and the `.netrc` for the hosts redirects lead to.
    pub credentials: PerOrigin,
    /// `-N`, `-z`: fetch only a newer (or older) file.
    pub condition: Option<Conditional>,
}

/// Where an attempt gets its connections: a [`Connector`] in a fetch; a
/// script in memory in a test.
pub trait Connect {
    /// The connection it gives.
    type Wire: Wire;

    /// A connection for a request to `url`: to its origin, or to the proxy
    /// it goes through, all before `deadline`.
    fn connect(&self, url: &Url, deadline: Option<Deadline>) -> anyhow::Result<Self::Wire>;

    /// The limit on waiting for data, which also bounds each step of
    /// bounded size (a response head, a drained redirect body).
    fn timeout(&self) -> Option<Duration>;

    /// True when the request to `url` may leave out `Connection: close`:
    /// another request of the same origin is waiting for the connection.
    /// A connector that never reuses one says false.
    fn keep_alive(&self, _url: &Url) -> bool {
        false
    }

    /// A new connection for `url`, never one kept from an earlier request:
    /// for the request a kept connection failed before any byte came back.
    fn connect_new(&self, url: &Url, deadline: Option<Deadline>) -> anyhow::Result<Self::Wire> {
        self.connect(url, deadline)
    }

    /// The size of the receive buffer of each exchange.
    fn receive_buffer(&self) -> usize {
        RECEIVE_BUFFER
    }

    /// True once the connector was stopped: no attempt is worth making.
    fn stopped(&self) -> bool {
        false
    }

    /// Takes back a connection whose response was read to its end and
    /// left it reusable, for the next request to `url`'s origin.
    fn release(&self, _url: &Url, _wire: Self::Wire) {}
}

impl<C: Connect> Connect for &C {
    type Wire = C::Wire;

    fn connect(&self, url: &Url, deadline: Option<Deadline>) -> anyhow::Result<C::Wire> {
        (*self).connect(url, deadline)
    }

    fn timeout(&self) -> Option<Duration> {
        (*self).timeout()
    }

    fn keep_alive(&self, url: &Url) -> bool {
        (*self).keep_alive(url)
    }

    fn connect_new(&self, url: &Url, deadline: Option<Deadline>) -> anyhow::Result<C::Wire> {
        (*self).connect_new(url, deadline)
    }

    fn receive_buffer(&self) -> usize {
        (*self).receive_buffer()
    }

    fn stopped(&self) -> bool {
        (*self).stopped()
    }

    fn release(&self, url: &Url, wire: C::Wire) {
        (*self).release(url, wire);
    }
}

impl Connect for Connector {
    type Wire = Stream;

    fn connect(&self, url: &Url, deadline: Option<Deadline>) -> anyhow::Result<Stream> {
        Connector::connect(self, url, deadline)
    }

    fn timeout(&self) -> Option<Duration> {
        Connector::timeout(self)
    }
}

/// A failed attempt over the connections of `C`.
pub type AttemptFailed<C> = Failed<Response<<C as Connect>::Wire>>;

/// What every attempt of a fetch uses.
pub struct Attempts<C = Connector> {
    /// What each request asks for.
    pub options: Options,
    /// How to connect.
    pub connector: C,
    /// The deadline of the whole fetch (`--max-time`).
    pub total: Option<Deadline>,
    /// The URL the user gave.
    pub first_url: Url,
    /// Where the heads are printed.
    pub report: Report,
    /// What `--write-out` reports, noted on the way.
    pub observed: Observed,
}

impl<C: Connect> Attempts<C> {
    /// One attempt at the download: from the URL given, following redirects
    /// again, to the end of the body. A continued download asks for the rest
    /// (`Range`, `If-Range`); a 416 to that asks once more, for all of it,
    /// and so does a 206 that does not fit (another version of the file, a
    /// range not asked for), once in a run ([`Download::start_over_after`]).
    pub fn download(&self, download: &mut Download) -> Result<(), AttemptFailed<C>> {
        let mut url = self.first_url.clone();
        let mut redirects = Redirects::new(&url, self.options.max_redirects);
        let mut heads = Vec::new();
        self.observed.attempt_started();
        loop {
            let resume = download
                .resume()
                .filter(|_| self.options.method == Method::Get);
            let mut extra = request_fields(resume.as_ref(), self.options.compressed);
            // A download that continues has decided to fetch already.
            if let (None, Some(conditional)) = (&resume, &self.options.condition) {
                extra.push(conditional.condition.request_field());
            }
            let request = Request {
                method: self.options.method,
                url: &url,
                first_url: &self.first_url,
                headers: &self.options.headers,
                credentials: self.options.credentials.for_url(&url, &self.first_url),
                extra: &extra,
                close: !self.connector.keep_alive(&url),
            };
            let mut response = attempt(&self.connector, &request, self.total, &self.observed)?;
            heads.push(response.head.raw.clone());
            if let Some(next) = follow(&mut redirects, &response.head, &url)? {
                // Read to its end, the connection may take the next request
                // (when other URLs of its origin keep it alive).
                if response.exchange.drain(response.framing) {
                    self.release(response, &url);
                }
                self.observed.redirected();
                url = next;
                continue;
            }
            if retry::is_transient_status(response.head.status) {
                return Err(Failed::Status(Box::new(response), url, heads));
            }
            let judged = match &resume {
                Some(resume) => resume.judge(&response.head),
                // A range the user asked for (`-H Range:`) is theirs to take.
                None if self.options.method == Method::Head || self.user_asks_range(&url) => {
                    Ok(Verdict::NotARange)
                }
                None => http::judge_unranged(&response.head),
            };
            let verdict = match judged {
                Ok(verdict) => verdict,
                Err(mismatch) => {
                    // Its body is not read: the connection goes with it.
                    download
                        .start_over_after(mismatch, &url)
                        .map_err(Failed::connected)?;
                    heads.clear();
                    continue;
                }
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
            self.report.heads(&heads).map_err(Failed::connected)?;
            let body = match verdict {
                Verdict::Append { end, .. } => Body::Rest { end },
                _ => Body::Whole,
            };
            self.take_final(&mut response, &url, body, download)
                .map_err(Failed::connected)?;
            self.release(response, &url);
            return Ok(());
        }
    }

    /// Hands the connection of a response read to its end back to the
    /// connector, when persistence allows another request on it.
    fn release(&self, response: Response<C::Wire>, url: &Url) {
        let Response {
            exchange,
            head,
            framing,
            close_sent,
        } = response;
        if !http::reusable(close_sent, &head, framing, true) {
            return;
        }
        // Bytes past the response would be taken for the next one.
        if let Some(wire) = exchange.into_idle() {
            self.connector.release(url, wire);
        }
    }

    /// Whether the request for `url` carries a `Range` the user set.
    fn user_asks_range(&self, url: &Url) -> bool {
        self.options
            .headers
            .for_url(url, &self.first_url, true)
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("range"))
    }

    /// Saves the body of a final response, unless the error-page rule
    /// refuses its status or `-I` asked for heads only. `body` says whether
    /// it continues what is saved.
    pub fn take_final(
        &self,
        response: &mut Response<C::Wire>,
        url: &Url,
        body: Body,
        download: &mut Download,
    ) -> anyhow::Result<()> {
        let unmet = self.options.condition.as_ref();
        if let Some(why) = unmet.and_then(|condition| condition.unmet(&response.head, url)) {
            download.save_nothing(why);
            return Ok(());
        }
        check_status(&response.head, url, self.options.content_on_error)?;
        if self.options.method == Method::Head {
            return Ok(());
        }
        if response.framing == Framing::NoBody {
            download.save_nothing(format!(
                "{url} answered {} {}, which has no body",
                response.head.status, response.head.reason
            ));
            return Ok(());
        }
        download.save(response, url, body)
    }
}

/// Follow or stop: the URL a response to `url` redirects to, if it is a
/// redirect to follow; `None` for the final response. A redirect back to a
/// URL already visited, or one more than allowed, exits 47.
fn follow<R>(
    redirects: &mut Redirects,
    head: &ResponseHead,
    url: &Url,
) -> Result<Option<Url>, Failed<R>> {
    let failed = |err| Failed::connected(redirect_failure(&err));
    let Some(location) = redirects.location(head, url).map_err(failed)? else {
        return Ok(None);
    };
    if location.dropped_credentials {
        target::warn_credentials_dropped();
    }
    let redirect = redirects.follow(url, location).map_err(failed)?;
    debug!("{} redirect to {}", head.status, redirect.url);
    if redirect.downgrade {
        warn!(
            "redirected from https to plain http: {} is fetched unencrypted",
            redirect.url
        );
    }
    Ok(Some(redirect.url))
}

/// One request of a fetch: its method, its URL, and the header fields it
/// sends, which depend on the URL the fetch started at.
struct Request<'a> {
    method: Method,
    url: &'a Url,
    first_url: &'a Url,
    headers: &'a RequestHeaders,
    /// The credentials for `url`.
    credentials: Option<Credentials>,
    /// Fields of this attempt: `Range` and `If-Range`, `Accept-Encoding`.
    extra: &'a [(&'static str, String)],
    /// Send `Connection: close`: no other request waits for the connection.
    close: bool,
}

/// One attempt at one URL: connects, sends the request, reads the final
/// response head and decides how its body is framed, all before `total`.
fn attempt<C: Connect>(
    connector: &C,
    request: &Request<'_>,
    total: Option<Deadline>,
    observed: &Observed,
) -> Result<Response<C::Wire>, AttemptFailed<C>> {
    let url = request.url;
    let not_connected = |err| Failed::Error {
        err,
        connected: false,
    };
    observed.request(url);
    let mut stream = connector.connect(url, total).map_err(not_connected)?;
    observed.connected();
    let (exchange, head) = loop {
        let wire = request_head(request, stream.proxy());
        // As sent, but for the credentials, which no log shows.
        let shown = stream.proxy().map(Proxy::without_credentials);
        verbose::sent(request_head(request, shown.as_ref()).as_bytes());
        let reused = stream.reused();
        let mut exchange = Exchange::with_buffer(
            stream,
            connector.receive_buffer(),
            connector.timeout(),
            total,
        );
        match exchange.request(wire.as_bytes()) {
            Ok(head) => break (exchange, head),
            // The server closed a kept connection as it sat idle: the
            // request never reached it, and a GET or HEAD may be sent
            // again at once (RFC 9112 section 9.3.1), not as a retry.
            Err(err) if reused && !exchange.received_any() => {
                debug!("a kept connection failed before any reply ({err:#}): sending on a new one");
                stream = connector.connect_new(url, total).map_err(not_connected)?;
                observed.connected();
            }
            Err(err) => {
                return Err(Failed::connected(err.context(format!("fetching {url}"))));
            }
        }
    };
    observed.head(&head);
    let framing = http::framing(&head, request.method == Method::Head).map_err(|err| {
        Failed::connected(fail_with(exit_code(&err), format!("fetching {url}"), err))
    })?;
    Ok(Response {
        exchange,
        head,
        framing,
        close_sent: request.close,
    })
}

/// The request head: in origin form (`GET /path`) to the server, or in
/// absolute form (`GET http://host/path`) with the proxy's credentials to a
/// proxy that forwards plain http.
fn request_head(request: &Request<'_>, proxy: Option<&Proxy>) -> String {
    let mut fields = request
        .headers
        .for_url(request.url, request.first_url, request.close);
    // Credentials go to the origin they were given for, and give way to -H.
    if let Some(credentials) = &request.credentials
        && !request.headers.sets("authorization")
    {
        fields.insert(1, ("Authorization".to_owned(), credentials.basic()));
    }
    // A field the user set with -H stays as set.
    for (name, value) in request.extra {
        if !fields.iter().any(|(set, _)| set.eq_ignore_ascii_case(name)) {
            fields.push(((*name).to_owned(), value.clone()));
        }
    }
    let target = match proxy {
        None => http::origin_form(request.url),
        Some(proxy) => {
            if let Some((name, value)) = proxy.authorization_header() {
                fields.push((name.to_owned(), value.to_owned()));
            }
            http::absolute_form(request.url)
        }
    };
    http::request_head(request.method, target, &fields)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::download::{self, Finished};
    use crate::fetch::output::Destination;
    use crate::fetch::report::Verbosity;
    use crate::fetch::scripted::Script;
    use crate::fetch::signals::PartialFile;
    use std::fs;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::thread;
    use std::time::Duration;

    fn url(text: &str) -> Url {
        target::parse(text).unwrap()
    }

    fn head(wire: &str) -> ResponseHead {
        http::parse_head(wire.as_bytes()).unwrap().unwrap().0
    }

    fn get<'a>(url: &'a Url, headers: &'a RequestHeaders) -> Request<'a> {
        Request {
            method: Method::Get,
            url,
            first_url: url,
            headers,
            credentials: None,
            extra: &[],
            close: true,
        }
    }

    /// Attempts of a fetch of `first` over the connections of `script`,
    /// saying nothing; the script's requests are read through
    /// `connector` after.
    fn attempts(script: Script, first: &str, options: Options) -> Attempts<Script> {
        Attempts {
            options,
            connector: script,
            total: None,
            first_url: url(first),
            report: Report::new(Verbosity::Silent, false),
            observed: Observed::default(),
        }
    }

    fn options(method: Method, custom: &[&str]) -> Options {
        let custom = custom
            .iter()
            .map(|c| http::parse_custom(c).unwrap())
            .collect();
        Options {
            method,
            headers: RequestHeaders::new(Some("ua".into()), custom),
            max_redirects: Some(10),
            content_on_error: false,
            compressed: false,
            credentials: PerOrigin::default(),
            condition: None,
        }
    }

    /// A download into `dir/out`, as a fetch makes it.
    fn download_into(dir: &std::path::Path, first: &str) -> Download {
        let destination = Destination::File(dir.join("out"));
        let partial = PartialFile::default();
        Download::new(
            destination,
            &partial,
            download::Options::default(),
            true,
            first,
        )
        .unwrap()
    }

    #[test]
    fn an_attempt_follows_a_redirect_and_saves_the_final_body_in_memory() {
        let script = Script::new(&[
            b"HTTP/1.1 302 Found\r\nLocation: http://other:8080/b\r\nContent-Length: 4\r\n\r\nmove",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ]);
        let dir = tempfile::tempdir().unwrap();
        let mut download = download_into(dir.path(), "http://h/a");
        let options = options(Method::Get, &["Authorization: Bearer t", "X-Keep: k"]);
        let attempts = attempts(script, "http://h/a", options);
        let Ok(()) = attempts.download(&mut download) else {
            panic!("the attempt failed")
        };
        let finished = download.finish().unwrap();
        assert!(
            matches!(finished, Finished::Saved { bytes: 5, .. }),
            "{finished:?}"
        );
        assert_eq!(fs::read(dir.path().join("out")).unwrap(), b"hello");
        let requests = attempts.connector.requests();
        assert_eq!(
            requests,
            [
                (
                    "http://h/a".to_owned(),
                    "GET /a HTTP/1.1\r\nHost: h\r\nUser-Agent: ua\r\nAccept: */*\r\nAuthorization: Bearer t\r\nX-Keep: k\r\nConnection: close\r\n\r\n".to_owned()
                ),
                (
                    "http://other:8080/b".to_owned(),
                    "GET /b HTTP/1.1\r\nHost: other:8080\r\nUser-Agent: ua\r\nAccept: */*\r\nX-Keep: k\r\nConnection: close\r\n\r\n".to_owned()
                ),
            ],
            "the credentials stay with the first origin"
        );
    }

    #[test]
    fn a_kept_connection_closed_while_idle_is_replaced_at_once() {
        let script = Script::new(&[b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"]);
        let dir = tempfile::tempdir().unwrap();
        let mut download = download_into(dir.path(), "http://h/f");
        let attempts = attempts(
            script.kept_alive(true),
            "http://h/f",
            options(Method::Get, &[]),
        );
        let Ok(()) = attempts.download(&mut download) else {
            panic!("the request was not sent again")
        };
        let requests = attempts.connector.requests();
        assert_eq!(requests.len(), 2, "the kept connection, then a new one");
        assert_eq!(requests[0], requests[1], "the same request, whole");
        assert!(!requests[1].1.contains("Connection: close"), "{requests:?}");
        assert_eq!(attempts.connector.released(), 1, "reusable: handed back");
    }

    #[test]
    fn only_a_connection_left_reusable_is_handed_back() {
        for (answer, kept, released) in [
            (
                &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"[..],
                true,
                1,
            ),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", false, 0),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1",
                true,
                0,
            ),
            (
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi",
                true,
                0,
            ),
            (b"HTTP/1.1 200 OK\r\n\r\nhi", true, 0),
            (
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno",
                true,
                0,
            ),
        ] {
            let script = Script::new(&[answer]);
            let script = if kept {
                script.kept_alive(false)
            } else {
                script
            };
            let dir = tempfile::tempdir().unwrap();
            let mut download = download_into(dir.path(), "http://h/f");
            let attempts = attempts(script, "http://h/f", options(Method::Get, &[]));
            let _ = attempts.download(&mut download);
            let shown = String::from_utf8_lossy(answer);
            assert_eq!(attempts.connector.released(), released, "{shown:?}");
            let sent_close = attempts.connector.requests()[0]
                .1
                .contains("Connection: close");
            assert_eq!(sent_close, !kept, "{shown:?}");
        }
    }

    #[test]
    fn credentials_go_to_the_first_origin_alone_and_give_way_to_h() {
        let script = Script::new(&[
            b"HTTP/1.1 302 Found\r\nLocation: /b\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 302 Found\r\nLocation: http://other/c\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ]);
        let dir = tempfile::tempdir().unwrap();
        let mut download = download_into(dir.path(), "http://h/a");
        let mut options = options(Method::Get, &[]);
        options.credentials.first = Some(Credentials::new("Aladdin", "open sesame"));
        let attempts = attempts(script, "http://h/a", options);
        assert!(attempts.download(&mut download).is_ok());
        let basic = "Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n";
        let requests = attempts.connector.requests();
        assert!(requests[0].1.contains(basic), "{}", requests[0].1);
        assert!(
            requests[1].1.contains(basic),
            "same origin: {}",
            requests[1].1
        );
        assert!(
            !requests[2].1.contains("Authorization"),
            "{}",
            requests[2].1
        );
        download.abandon(true);

        let url = url("http://h/a");
        let headers = RequestHeaders::new(
            None,
            vec![http::parse_custom("Authorization: Bearer t").unwrap()],
        );
        let request = Request {
            credentials: Some(Credentials::new("u", "p")),
            ..get(&url, &headers)
        };
        let head = request_head(&request, None);
        assert!(
            head.contains("Authorization: Bearer t\r\n") && !head.contains("Basic"),
            "{head}"
        );
    }

    #[test]
    fn a_busy_server_is_a_status_to_retry_with_its_body_unread() {
        let script =
            Script::new(&[b"HTTP/1.1 503 Busy\r\nRetry-After: 1\r\nContent-Length: 4\r\n\r\nbusy"]);
        let dir = tempfile::tempdir().unwrap();
        let mut download = download_into(dir.path(), "http://h/f");
        let attempts = attempts(script, "http://h/f", options(Method::Get, &[]));
        let Err(Failed::Status(mut response, url, heads)) = attempts.download(&mut download) else {
            panic!("a 503 is not a status to retry")
        };
        assert_eq!((response.head.status, url.as_str()), (503, "http://h/f"));
        assert_eq!(heads.len(), 1);
        let err = attempts
            .take_final(&mut response, &url, Body::Whole, &mut download)
            .unwrap_err();
        assert_eq!(
            Code::of(&err),
            Code::HttpError,
            "the last answer is an error page"
        );
        let mut body = Vec::new();
        response
            .exchange
            .body(response.framing, |data| {
                body.extend_from_slice(data);
                Ok(())
            })
            .unwrap();
        assert_eq!(body, b"busy", "nothing read the body");
        download.abandon(true);
    }

    #[test]
    fn head_saves_nothing_and_an_error_page_touches_no_file() {
        let script = Script::new(&[b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"]);
        let dir = tempfile::tempdir().unwrap();
        let mut download = download_into(dir.path(), "http://h/f");
        let head = attempts(script, "http://h/f", options(Method::Head, &[]));
        assert!(
            head.download(&mut download).is_ok(),
            "HEAD has no body to wait for"
        );
        assert!(
            head.connector.requests()[0]
                .1
                .starts_with("HEAD /f HTTP/1.1\r\n")
        );
        let script = Script::new(&[b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!"]);
        let get = attempts(script, "http://h/f", options(Method::Get, &[]));
        let Err(Failed::Error { err, connected }) = get.download(&mut download) else {
            panic!("a 404 was saved")
        };
        assert!(connected);
        assert_eq!(Code::of(&err), Code::HttpError);
        download.abandon(true);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no file at all"
        );
    }

    #[test]
    fn a_206_of_another_version_starts_over_once_in_the_same_file() {
        let script = Script::new(&[
            b"HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nContent-Length: 10\r\n\r\nolder",
            b"HTTP/1.1 206 Partial Content\r\nETag: \"v2\"\r\nContent-Range: bytes 5-9/10\r\nContent-Length: 5\r\n\r\nWORLD",
            b"HTTP/1.1 200 OK\r\nETag: \"v2\"\r\nContent-Length: 10\r\n\r\nhelloWO",
            b"HTTP/1.1 206 Partial Content\r\nETag: \"v3\"\r\nContent-Range: bytes 7-9/10\r\nContent-Length: 3\r\n\r\nxyz",
        ]);
        let dir = tempfile::tempdir().unwrap();
        let mut download = download_into(dir.path(), "http://h/f");
        let attempts = attempts(script, "http://h/f", options(Method::Get, &[]));
        let Err(Failed::Error { err, .. }) = attempts.download(&mut download) else {
            panic!("a cut body was taken")
        };
        assert_eq!(Code::of(&err), Code::PartialBody);
        // The 206 is of v2: asked again for all of it, which is cut too.
        let Err(Failed::Error { err, .. }) = attempts.download(&mut download) else {
            panic!("a cut body was taken")
        };
        assert_eq!(Code::of(&err), Code::PartialBody);
        assert_eq!(download.saved(), 7, "v2 saved from its first byte");
        // Another version again: a second mismatch in the run is the end.
        let Err(Failed::Error { err, .. }) = attempts.download(&mut download) else {
            panic!("a second mismatch was taken")
        };
        assert_eq!(Code::of(&err), Code::BadResponse);
        assert_eq!(
            format!("{err:#}"),
            "fetching http://h/f: partial content of another version of the file: ETag \"v3\", not \"v2\""
        );
        assert_eq!(download.saved(), 0, "nothing stale is kept");
        let ranges: Vec<_> = attempts
            .connector
            .requests()
            .iter()
            .map(|(_, sent)| {
                sent.lines()
                    .find(|l| l.starts_with("Range:"))
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(
            ranges,
            [
                None,
                Some("Range: bytes=5-".to_owned()),
                None,
                Some("Range: bytes=7-".to_owned())
            ]
        );
        download.abandon(false);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_206_not_asked_for_is_saved_only_whole() {
        let piece: &[u8] = b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-4/10\r\nContent-Length: 5\r\n\r\nhello";
        let whole: &[u8] = b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/10\r\nContent-Length: 10\r\n\r\nhelloworld";
        let dir = tempfile::tempdir().unwrap();
        let mut download = download_into(dir.path(), "http://h/f");
        let attempts = attempts(
            Script::new(&[piece, whole]),
            "http://h/f",
            options(Method::Get, &[]),
        );
        assert!(attempts.download(&mut download).is_ok());
        assert_eq!(attempts.connector.requests().len(), 2);
        assert!(matches!(
            download.finish().unwrap(),
            Finished::Saved { bytes: 10, .. }
        ));
        assert_eq!(fs::read(dir.path().join("out")).unwrap(), b"helloworld");

        let mut download = download_into(dir.path(), "http://h/f");
        let pieces = self::attempts(
            Script::new(&[piece, piece]),
            "http://h/f",
            options(Method::Get, &[]),
        );
        let Err(Failed::Error { err, .. }) = pieces.download(&mut download) else {
            panic!("a piece was saved as the file")
        };
        assert_eq!(Code::of(&err), Code::BadResponse);
        download.abandon(true);
        assert_eq!(fs::read(dir.path().join("out")).unwrap(), b"helloworld");
    }

    #[test]
    fn a_redirect_loop_ends_the_attempt_with_exit_47() {
        let script = Script::new(&[
            b"HTTP/1.1 301 Moved\r\nLocation: /b\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 301 Moved\r\nLocation: /a\r\nContent-Length: 0\r\n\r\n",
        ]);
        let dir = tempfile::tempdir().unwrap();
        let mut download = download_into(dir.path(), "http://h/a");
        let attempts = attempts(script, "http://h/a", options(Method::Get, &[]));
        let Err(Failed::Error { err, .. }) = attempts.download(&mut download) else {
            panic!("the loop was followed")
        };
        assert_eq!(Code::of(&err), Code::TooManyRedirects);
        assert_eq!(
            err.to_string(),
            "redirect loop: http://h/b sends back to http://h/a"
        );
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
        request.method = Method::Head;
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
            validator: http::Validator::ETag("\"x\"".into()),
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
        let Ok(mut response) =
            attempt(&connector, &get(&url, &headers), None, &Observed::default())
        else {
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
        let Err(Failed::Error { err, .. }) =
            attempt(&connector, &get(&url, &headers), None, &Observed::default())
        else {
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
