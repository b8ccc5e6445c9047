//! HTTP proxies: which proxy a URL goes through ([`choice`], curl's rules),
//! reaching it, and the two ways of talking through one.
//!
//! Plain `http` goes to the proxy as an ordinary request whose target is
//! the whole URL (the absolute form, RFC 9112 section 3.2.2). `https` asks
//! the proxy for a tunnel (`CONNECT host:port`, section 3.2.3) and then
//! speaks TLS through it with the origin: the proxy sees only encrypted
//! bytes and the name of the host.
//!
//! Only `http://` proxies are spoken to, with Basic credentials from the
//! proxy URL (`http://user:pass@proxy:3128`); `https://` and SOCKS proxies
//! are refused with a clear error.

pub mod choice;

pub use choice::{choose, process_env};

use std::io::{self, Read, Write};
use std::net::TcpStream;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use percent_encoding::percent_decode_str;
use url::{Host, Url};

use log::debug;

use super::tcp;
use super::time::Deadline;
use crate::exit::{Code, WithCode, fail, fail_with};
use crate::fetch::verbose;
use crate::http::{self, MAX_HEAD_BYTES, ResponseHead};

/// The port of a proxy URL that names none: curl's.
const DEFAULT_PROXY_PORT: u16 = 1080;

/// An `http://` proxy, as the fetch connects to it.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// The proxy's host: a name to resolve, or an IP address.
    pub host: Host<String>,
    /// The proxy's port.
    pub port: u16,
    /// The value of `Proxy-Authorization`, from the user and password of the
    /// proxy URL. Never logged or shown.
    authorization: Option<String>,
}

impl Proxy {
    /// Parses a proxy URL as curl does: the scheme may be left out
    /// (`proxy:3128` is `http://proxy:3128`) and so may the port (1080).
    /// `https://` and SOCKS proxies are refused (exit 1); a malformed URL
    /// exits 3.
    pub fn parse(text: &str) -> anyhow::Result<Proxy> {
        let with_scheme = if text.contains("://") {
            text.to_owned()
        } else {
            format!("http://{text}")
        };
        // The URL's own text is left out of the message: it may hold a password.
        let url = Url::parse(&with_scheme).with_code(Code::UrlMalformed, || "invalid proxy URL")?;
        match url.scheme() {
            "http" => {}
            "https" => {
                return Err(fail(
                    Code::Failure,
                    "https:// proxies are not supported: use an http:// proxy (https URLs still go through it encrypted, in a CONNECT tunnel)",
                ));
            }
            scheme if scheme.starts_with("socks") => {
                return Err(fail(
                    Code::Failure,
                    format!("{scheme}:// proxies are not supported: use an http:// proxy"),
                ));
            }
            scheme => {
                return Err(fail(
                    Code::Failure,
                    format!("unsupported proxy scheme {scheme}://: use an http:// proxy"),
                ));
            }
        }
        let host = url
            .host()
            .ok_or_else(|| fail(Code::UrlMalformed, "invalid proxy URL: no host"))?
            .to_owned();
        let authorization = (!url.username().is_empty()).then(|| {
            let decode = |part: &str| percent_decode_str(part).collect::<Vec<u8>>();
            let mut credentials = decode(url.username());
            credentials.push(b':');
            credentials.extend(decode(url.password().unwrap_or_default()));
            format!("Basic {}", BASE64.encode(credentials))
        });
        Ok(Proxy {
            host,
            port: url
                .port()
                .or_else(|| written_port(&with_scheme))
                .unwrap_or(DEFAULT_PROXY_PORT),
            authorization,
        })
    }

    /// The same proxy with this `Proxy-Authorization` value (`-U`).
    pub fn with_authorization(self, authorization: String) -> Proxy {
        Proxy {
            authorization: Some(authorization),
            ..self
        }
    }

    /// The same proxy without its credentials, for a request shown in a log.
    pub fn without_credentials(&self) -> Proxy {
        Proxy {
            authorization: None,
            ..self.clone()
        }
    }

    /// The proxy as `host:port`, for messages: never its credentials.
    pub fn name(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The `CONNECT` request that asks the proxy for a tunnel to `url`'s host
    /// and port. It carries the proxy's credentials and the user agent, and
    /// nothing else: headers meant for the origin never go to the proxy.
    pub fn connect_request(&self, url: &Url, user_agent: &str) -> String {
        let authority = authority(url);
        let mut request = format!(
            "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: {user_agent}\r\n"
        );
        if let Some(authorization) = &self.authorization {
            request.push_str(&format!("Proxy-Authorization: {authorization}\r\n"));
        }
        request.push_str("\r\n");
        request
    }

    /// The header a plain-http request through the proxy carries besides its
    /// own: `Proxy-Authorization`, when the proxy URL has credentials.
    pub fn authorization_header(&self) -> Option<(&'static str, &str)> {
        self.authorization
            .as_deref()
            .map(|value| ("Proxy-Authorization", value))
    }
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Written by hand so that the credentials never reach a log.
        f.debug_struct("Proxy")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("authorization", &self.authorization.as_ref().map(|_| "..."))
            .finish()
    }
}

/// `host:port` of a URL, as a `CONNECT` request names it (IPv6 in brackets,
/// the port always given).
fn authority(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(443);
    format!("{host}:{port}")
}

/// Checks the proxy's answer to `CONNECT`: any 2xx opens the tunnel; any
/// other status is the proxy refusing, exit 56 with the status in the message.
pub fn check_tunnel_reply(head: &ResponseHead, proxy: &Proxy, url: &Url) -> anyhow::Result<()> {
    if (200..300).contains(&head.status) {
        return Ok(());
    }
    let why = match head.status {
        407 => {
            " (the proxy wants credentials: give them in the proxy URL, http://user:password@host:port)"
        }
        _ => "",
    };
    Err(fail(
        Code::RecvError,
        format!(
            "proxy {} refused the tunnel to {}: {} {}{why}",
            proxy.name(),
            authority(url),
            head.status,
            head.reason
        ),
    ))
}

/// Connects to the proxy, as [`tcp::Dialer::connect`] connects to a host,
/// with messages that call it the proxy and curl's codes for a proxy: one
/// that cannot be resolved exits 5, one that cannot be reached 7.
pub fn connect(
    proxy: &Proxy,
    dialer: &tcp::Dialer,
    deadline: Option<Deadline>,
) -> anyhow::Result<TcpStream> {
    debug!("going through proxy {}", proxy.name());
    let host = match &proxy.host {
        Host::Domain(domain) => Host::Domain(domain.as_str()),
        Host::Ipv4(ip) => Host::Ipv4(*ip),
        Host::Ipv6(ip) => Host::Ipv6(*ip),
    };
    let name = format!("proxy {}", proxy.name());
    dialer
        .connect_named(&host, proxy.port, name, deadline)
        .map_err(|err| proxy_failure(proxy, err))
}

/// A failure to resolve the proxy, named so, with curl's code for a proxy
/// that cannot be resolved (5) in place of a host's (6). Other failures
/// name the proxy already.
fn proxy_failure(proxy: &Proxy, err: anyhow::Error) -> anyhow::Error {
    match Code::of(&err) {
        Code::CouldntResolve => fail_with(
            Code::CouldntResolveProxy,
            format!("proxy {}", proxy.name()),
            err,
        ),
        _ => err,
    }
}

/// Opens a tunnel through the proxy at the other end of `stream` to `url`'s
/// host and port: sends `CONNECT`, reads the proxy's reply head and checks
/// it. The stream then carries the origin's bytes, starting with the TLS
/// handshake, which is the caller's.
///
/// The proxy's reply is read in small steps and never past its end: the
/// bytes after it belong to the origin, and the origin says nothing before
/// the client's first TLS message, so a reply with more after it is refused.
pub fn open_tunnel(
    stream: &mut (impl Read + Write),
    proxy: &Proxy,
    url: &Url,
    user_agent: &str,
) -> anyhow::Result<()> {
    let request = proxy.connect_request(url, user_agent);
    debug!(
        "asking proxy {} for a tunnel to {}",
        proxy.name(),
        authority(url)
    );
    verbose::sent(request.as_bytes());
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.flush())
        .with_code(Code::SendError, || {
            format!("sending CONNECT to proxy {}", proxy.name())
        })?;
    let (head, more) = read_reply(stream, proxy)?;
    check_tunnel_reply(&head, proxy, url)?;
    if more {
        return Err(fail(
            Code::RecvError,
            format!(
                "proxy {}: sent data after its CONNECT reply, before the TLS handshake",
                proxy.name()
            ),
        ));
    }
    debug!(
        "proxy {} opened a tunnel: {} {}",
        proxy.name(),
        head.status,
        head.reason
    );
    Ok(())
}

/// Reads the proxy's reply head to `CONNECT`, and says whether more came
/// with it: a refusal's error page, or, after a 2xx, bytes that cannot be
/// the origin's.
fn read_reply(stream: &mut impl Read, proxy: &Proxy) -> anyhow::Result<(ResponseHead, bool)> {
    let refused = |why: String| fail(Code::RecvError, format!("proxy {}: {why}", proxy.name()));
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let read = match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(refused(
                    "closed the connection before answering CONNECT".into(),
                ));
            }
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => {
                let code = match err.kind() {
                    io::ErrorKind::TimedOut => Code::Timeout,
                    _ => Code::RecvError,
                };
                return Err(fail_with(
                    code,
                    format!("reading the CONNECT reply of proxy {}", proxy.name()),
                    err,
                ));
            }
        };
        buf.extend_from_slice(&chunk[..read]);
        match http::parse_head(&buf) {
            Ok(Some((head, used))) => {
                verbose::received(&buf[..used]);
                return Ok((head, used < buf.len()));
            }
            Ok(None) if buf.len() < MAX_HEAD_BYTES => {}
            Ok(None) => return Err(refused("CONNECT reply head too large".into())),
            Err(err) => {
                return Err(fail_with(
                    Code::RecvError,
                    format!("proxy {}: malformed CONNECT reply", proxy.name()),
                    err,
                ));
            }
        }
    }
}

/// The port written in a URL's authority. [`Url::port`] hides it when it is
/// the scheme's default (`http://proxy:80` has none), but for a proxy an
/// absent port means 1080, as in curl, so a written `:80` must be kept.
fn written_port(url: &str) -> Option<u16> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host_port)| host_port);
    let (host, port) = host_port.rsplit_once(':')?;
    // A colon inside the brackets of an IPv6 address is not a port's.
    if host.starts_with('[') && !host.ends_with(']') {
        return None;
    }
    port.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_are_parsed_as_curl_does() {
        let proxy = Proxy::parse("proxy.lan").unwrap();
        assert_eq!(proxy.name(), "proxy.lan:1080");
        let proxy = Proxy::parse("http://127.0.0.1:3128/").unwrap();
        assert_eq!(
            (proxy.host.clone(), proxy.port),
            (Host::Ipv4([127, 0, 0, 1].into()), 3128)
        );
        let proxy = Proxy::parse("[::1]:8080").unwrap();
        assert_eq!(proxy.name(), "[::1]:8080");
        // The scheme's default port, written, is the port: not curl's 1080.
        for written in ["proxy.lan:80", "http://u:p@proxy.lan:80/", "[::1]:80"] {
            assert_eq!(Proxy::parse(written).unwrap().port, 80, "{written}");
        }
        assert_eq!(Proxy::parse("[::1]").unwrap().port, 1080);
        assert_eq!(Proxy::parse("http://proxy.lan/").unwrap().port, 1080);
    }

    #[test]
    fn https_and_socks_proxies_are_refused_with_exit_1() {
        for url in [
            "https://p:443",
            "socks5://p:1080",
            "socks5h://p",
            "socks4a://p",
            "ftp://p",
        ] {
            let err = Proxy::parse(url).unwrap_err();
            assert_eq!(Code::of(&err), Code::Failure, "{url}");
            assert!(
                err.to_string().contains("not supported")
                    || err.to_string().contains("unsupported"),
                "{err}"
            );
        }
        let err = Proxy::parse("http://[::1").unwrap_err();
        assert_eq!(Code::of(&err), Code::UrlMalformed);
    }

    #[test]
    fn connect_asks_for_the_origin_with_credentials() {
        let proxy = Proxy::parse("http://al%40ice:s%3Acret@p:3128").unwrap();
        let url = Url::parse("https://example.com/a?b").unwrap();
        assert_eq!(
            proxy.connect_request(&url, "sockdemo/1"),
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nUser-Agent: sockdemo/1\r\n\
             Proxy-Authorization: Basic YWxAaWNlOnM6Y3JldA==\r\n\r\n"
        );
        // al@ice:s:cret
        assert_eq!(
            BASE64.decode("YWxAaWNlOnM6Y3JldA==").unwrap(),
            b"al@ice:s:cret"
        );
        let plain = Proxy::parse("p:3128").unwrap();
        let url = Url::parse("https://[::1]:8443/").unwrap();
        assert_eq!(
            plain.connect_request(&url, "ua"),
            "CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\nUser-Agent: ua\r\n\r\n"
        );
        assert_eq!(plain.authorization_header(), None);
        assert_eq!(
            proxy.authorization_header(),
            Some(("Proxy-Authorization", "Basic YWxAaWNlOnM6Y3JldA=="))
        );
    }

    #[test]
    fn credentials_never_show() {
        let proxy = Proxy::parse("http://user:secret@p:3128").unwrap();
        assert!(!format!("{proxy:?}").contains("secret"));
        assert!(!format!("{proxy:?}").contains(&BASE64.encode("user:secret")));
        assert_eq!(proxy.name(), "p:3128");
        let err = Proxy::parse("http://user:secret@[p").unwrap_err();
        assert!(!format!("{err:#}").contains("secret"), "{err:#}");
    }

    /// A proxy on loopback that reads one request head, answers `reply`,
    /// and hands back the request it read.
    fn proxy_answering(
        reply: &'static [u8],
    ) -> (std::net::SocketAddr, std::thread::JoinHandle<Vec<u8>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap() == 1 {
                request.push(byte[0]);
            }
            conn.write_all(reply).unwrap();
            request
        });
        (addr, server)
    }

    #[test]
    fn a_tunnel_opens_on_2xx_and_reads_nothing_past_the_reply() {
        let (addr, server) = proxy_answering(b"HTTP/1.1 200 Connection established\r\n\r\n");
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        let proxy = Proxy::parse(&format!("http://u:p@{addr}")).unwrap();
        let url = Url::parse("https://example.com/").unwrap();
        open_tunnel(&mut stream, &proxy, &url, "ua").unwrap();
        let request = server.join().unwrap();
        assert_eq!(request, proxy.connect_request(&url, "ua").as_bytes());

        let (addr, server) =
            proxy_answering(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        let proxy = Proxy::parse(&addr.to_string()).unwrap();
        let err = open_tunnel(&mut stream, &proxy, &url, "ua").unwrap_err();
        assert_eq!(Code::of(&err), Code::RecvError);
        assert!(err.to_string().contains("502 Bad Gateway"), "{err}");
        server.join().unwrap();

        let mut reply: &[u8] = b"HTTP/1.1 200 OK\r\n\r\nsurprise";
        let (head, more) = read_reply(&mut reply, &proxy).unwrap();
        assert_eq!((head.status, more), (200, true));
        // A refusal with its error page: the status is what matters.
        let (addr, server) =
            proxy_answering(b"HTTP/1.1 403 Access violation\r\nContent-Length: 5\r\n\r\nnope.");
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        let err = open_tunnel(&mut stream, &proxy, &url, "ua").unwrap_err();
        server.join().unwrap();
        assert_eq!(Code::of(&err), Code::RecvError);
        assert!(err.to_string().contains("403 Access violation"), "{err}");

        let (addr, server) = proxy_answering(b"");
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        let err = open_tunnel(&mut stream, &proxy, &url, "ua").unwrap_err();
        server.join().unwrap();
        assert_eq!(Code::of(&err), Code::RecvError);
        assert!(err.to_string().contains("closed"), "{err}");
    }

    #[test]
    fn a_proxy_that_cannot_be_reached_exits_7_and_names_the_proxy() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap();
        let proxy = Proxy::parse(&closed.to_string()).unwrap();
        let dialer = tcp::Dialer {
            connect_timeout: Some(std::time::Duration::from_secs(5)),
            ..tcp::Dialer::default()
        };
        let err = connect(&proxy, &dialer, None).unwrap_err();
        assert_eq!(Code::of(&err), Code::CouldntConnect);
        assert_eq!(
            format!("{err:#}"),
            format!("could not connect to proxy {closed}: Connection refused")
        );
        let stream = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let proxy = Proxy::parse(&listener.local_addr().unwrap().to_string()).unwrap();
            connect(&proxy, &tcp::Dialer::default(), None).unwrap()
        };
        assert!(stream.nodelay().unwrap());
    }

    #[test]
    fn a_proxy_that_cannot_be_resolved_exits_5() {
        let proxy = Proxy::parse("proxy.test:3128").unwrap();
        let unresolved = fail(Code::CouldntResolve, "could not resolve host proxy.test");
        let err = proxy_failure(&proxy, unresolved);
        assert_eq!(Code::of(&err), Code::CouldntResolveProxy);
        assert_eq!(Code::CouldntResolveProxy as u8, 5);
        assert_eq!(
            format!("{err:#}"),
            "proxy proxy.test:3128: could not resolve host proxy.test"
        );
        let timeout = proxy_failure(&proxy, fail(Code::Timeout, "late"));
        assert_eq!(Code::of(&timeout), Code::Timeout);
    }

    #[test]
    fn only_2xx_opens_a_tunnel() {
        let head = |raw: &[u8]| crate::http::parse_head(raw).unwrap().unwrap().0;
        let proxy = Proxy::parse("p:3128").unwrap();
        let url = Url::parse("https://example.com/").unwrap();
        check_tunnel_reply(
            &head(b"HTTP/1.1 200 Connection established\r\n\r\n"),
            &proxy,
            &url,
        )
        .unwrap();
        check_tunnel_reply(&head(b"HTTP/1.0 204 OK\r\n\r\n"), &proxy, &url).unwrap();
        let err =
            check_tunnel_reply(&head(b"HTTP/1.1 403 Forbidden\r\n\r\n"), &proxy, &url).unwrap_err();
        assert_eq!(Code::of(&err), Code::RecvError);
        assert_eq!(
            err.to_string(),
            "proxy p:3128 refused the tunnel to example.com:443: 403 Forbidden"
        );
        let err = check_tunnel_reply(
            &head(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"),
            &proxy,
            &url,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("407 Proxy Authentication Required"),
            "{err}"
        );
        assert!(err.to_string().contains("credentials"), "{err}");
    }
}
