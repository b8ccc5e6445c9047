//! HTTP proxies: which proxy a URL goes through, with curl's rules, and the
//! two ways of talking through one.
//!
//! Plain `http` goes to the proxy as an ordinary request whose target is
//! the whole URL (the absolute form, RFC 9112 section 3.2.2). `https` asks
//! the proxy for a tunnel (`CONNECT host:port`, section 3.2.3) and then
//! speaks TLS through it with the origin: the proxy sees only encrypted
//! bytes and the name of the host.
//!
//! The choice follows curl, so that the environment a user already has for
//! curl works unchanged:
//!
//! - `-x/--proxy URL` wins over the environment; `-x ""` means no proxy.
//! - `http` URLs read `http_proxy`, in lower case only: a CGI program gets
//!   the request header `Proxy:` as `HTTP_PROXY`, so the upper-case name
//!   can be set by whoever sends the request ("httpoxy").
//! - `https` URLs read `https_proxy`, then `HTTPS_PROXY`.
//! - Either falls back to `all_proxy`, then `ALL_PROXY`.
//! - `--noproxy LIST`, else `no_proxy`, else `NO_PROXY`, lists the hosts
//!   reached directly: `*` for all, a domain and its subdomains
//!   (`example.com` or `.example.com`), an IP address or a CIDR block
//!   (`10.0.0.0/8`), each optionally with `:PORT` to match that port only.
//!
//! Only `http://` proxies are spoken to, with Basic credentials from the
//! proxy URL (`http://user:pass@proxy:3128`); `https://` and SOCKS proxies
//! are refused with a clear error.

use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use percent_encoding::percent_decode_str;
use url::{Host, Position, Url};

use log::debug;

use super::tcp;
use super::time::Deadline;
use crate::exit::{Code, WithCode, fail, fail_with};
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

/// Where the proxy settings come from, besides the command line: the
/// environment, as a function so that tests need not change the process's.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, for [`choose`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
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
                    format!("unsupported proxy scheme {scheme:?}: use an http:// proxy"),
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
            port: url.port().unwrap_or(DEFAULT_PROXY_PORT),
            authorization,
        })
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

/// The proxy `url` goes through, if any: `-x` (`proxy_flag`) or the
/// environment, unless `--noproxy` (`noproxy_flag`) or `no_proxy` exempts
/// the host. An empty `-x ""` or `--noproxy ""` counts as given.
pub fn choose(
    url: &Url,
    proxy_flag: Option<&str>,
    noproxy_flag: Option<&str>,
    env: Env<'_>,
) -> anyhow::Result<Option<Proxy>> {
    // An empty variable is as good as unset, as in curl.
    let var = |name: &str| env(name).filter(|value| !value.is_empty());
    let chosen = match proxy_flag {
        Some(flag) => Some(flag.to_owned()),
        None => {
            let own = match url.scheme() {
                "https" => var("https_proxy").or_else(|| var("HTTPS_PROXY")),
                _ => var("http_proxy"),
            };
            own.or_else(|| var("all_proxy"))
                .or_else(|| var("ALL_PROXY"))
        }
    };
    let Some(proxy) = chosen.filter(|proxy| !proxy.is_empty()) else {
        return Ok(None);
    };
    let exempt = match noproxy_flag {
        Some(list) => list.to_owned(),
        None => var("no_proxy")
            .or_else(|| var("NO_PROXY"))
            .unwrap_or_default(),
    };
    if bypasses(url, &exempt) {
        return Ok(None);
    }
    Proxy::parse(&proxy).map(Some)
}

/// True when the no-proxy `list` names `url`'s host (and port, when the
/// entry gives one).
fn bypasses(url: &Url, list: &str) -> bool {
    let Some(host) = url.host() else {
        return false;
    };
    let port = url.port_or_known_default();
    list.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|entry| !entry.is_empty())
        .any(|entry| entry == "*" || entry_matches(entry, &host, port))
}

/// One no-proxy entry against a host and port.
fn entry_matches(entry: &str, host: &Host<&str>, port: Option<u16>) -> bool {
    let (pattern, entry_port) = split_port(entry);
    if entry_port.is_some() && entry_port != port {
        return false;
    }
    match host {
        Host::Domain(name) => domain_matches(pattern, name),
        Host::Ipv4(ip) => ip_matches(pattern, IpAddr::V4(*ip)),
        Host::Ipv6(ip) => ip_matches(pattern, IpAddr::V6(*ip)),
    }
}

/// An entry's host part and its port, if it has one: `host:80`,
/// `[::1]:80` and `10.0.0.1:80` have one; `::1` and `[::1]` have none.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((ip, after)) => (ip, after.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (entry, None),
        };
    }
    match entry.rsplit_once(':') {
        // More than one colon without brackets: an IPv6 address, no port.
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

/// A domain entry matches the name itself and every name below it:
/// `example.com` and `.example.com` both match `www.example.com`.
fn domain_matches(pattern: &str, name: &str) -> bool {
    let pattern = pattern.trim_start_matches('.').trim_end_matches('.');
    let name = name.trim_end_matches('.');
    if pattern.is_empty() || name.len() < pattern.len() {
        return false;
    }
    let (above, suffix) = name.split_at(name.len() - pattern.len());
    suffix.eq_ignore_ascii_case(pattern) && (above.is_empty() || above.ends_with('.'))
}

/// An IP entry matches the same address, or, as a CIDR block
/// (`10.0.0.0/8`), every address in it.
fn ip_matches(pattern: &str, ip: IpAddr) -> bool {
    let (address, bits) = match pattern.split_once('/') {
        Some((address, bits)) => match bits.parse::<u32>() {
            Ok(bits) => (address, Some(bits)),
            Err(_) => return false,
        },
        None => (pattern, None),
    };
    let Ok(network) = address.parse::<IpAddr>() else {
        return false;
    };
    match (network, ip) {
        (IpAddr::V4(network), IpAddr::V4(ip)) => {
            prefix_matches(&network.octets(), &ip.octets(), bits.unwrap_or(32))
        }
        (IpAddr::V6(network), IpAddr::V6(ip)) => {
            prefix_matches(&network.octets(), &ip.octets(), bits.unwrap_or(128))
        }
        _ => false,
    }
}

/// True when the first `bits` bits of two addresses agree.
fn prefix_matches(network: &[u8], ip: &[u8], bits: u32) -> bool {
    if bits as usize > network.len() * 8 {
        return false;
    }
    let whole = bits as usize / 8;
    if network[..whole] != ip[..whole] {
        return false;
    }
    let rest = bits % 8;
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        network[whole] & mask == ip[whole] & mask
    }
}

/// `host:port` of a URL, as a `CONNECT` request names it (IPv6 in brackets,
/// the port always given).
fn authority(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(443);
    format!("{host}:{port}")
}

/// The request target of a plain-http request through a proxy: the whole
/// URL (absolute form), without its fragment. User names and passwords were
/// removed from the URL when it was parsed.
pub fn absolute_form(url: &Url) -> &str {
    &url[..Position::AfterQuery]
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

/// Connects to the proxy, as [`tcp::connect`] connects to a host, with
/// curl's codes for a proxy: one that cannot be resolved exits 5, one that
/// cannot be reached 7.
pub fn connect(
    proxy: &Proxy,
    connect_timeout: Option<Duration>,
    deadline: Option<Deadline>,
) -> anyhow::Result<TcpStream> {
    debug!("going through proxy {}", proxy.name());
    let host = match &proxy.host {
        Host::Domain(domain) => Host::Domain(domain.as_str()),
        Host::Ipv4(ip) => Host::Ipv4(*ip),
        Host::Ipv6(ip) => Host::Ipv6(*ip),
    };
    tcp::connect(&host, proxy.port, connect_timeout, deadline)
        .map_err(|err| proxy_failure(proxy, err))
}

/// A failure to reach the proxy, named so, and with curl's code for a
/// proxy that cannot be resolved (5) in place of a host's (6).
fn proxy_failure(proxy: &Proxy, err: anyhow::Error) -> anyhow::Error {
    let code = match Code::of(&err) {
        Code::CouldntResolve => Code::CouldntResolveProxy,
        code => code,
    };
    fail_with(code, format!("proxy {}", proxy.name()), err)
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
            Ok(Some((head, used))) => return Ok((head, used < buf.len())),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn chosen(
        url: &str,
        flag: Option<&str>,
        noproxy: Option<&str>,
        env: &[(&str, &str)],
    ) -> Option<String> {
        let url = Url::parse(url).unwrap();
        choose(&url, flag, noproxy, &env_of(env))
            .unwrap()
            .map(|proxy| proxy.name())
    }

    #[test]
    fn http_reads_lower_case_http_proxy_only() {
        let http = "http://example.com/";
        assert_eq!(
            chosen(http, None, None, &[("http_proxy", "p:3128")]),
            Some("p:3128".into())
        );
        assert_eq!(chosen(http, None, None, &[("HTTP_PROXY", "p:3128")]), None);
        assert_eq!(chosen(http, None, None, &[("https_proxy", "p:3128")]), None);
    }

    #[test]
    fn https_reads_both_cases_lower_first() {
        let https = "https://example.com/";
        assert_eq!(
            chosen(https, None, None, &[("HTTPS_PROXY", "up:1")]),
            Some("up:1".into())
        );
        assert_eq!(
            chosen(
                https,
                None,
                None,
                &[("HTTPS_PROXY", "up:1"), ("https_proxy", "low:2")]
            ),
            Some("low:2".into())
        );
        assert_eq!(chosen(https, None, None, &[("http_proxy", "p:1")]), None);
    }

    #[test]
    fn all_proxy_is_the_fallback() {
        let env = [("ALL_PROXY", "all:1"), ("https_proxy", "own:2")];
        assert_eq!(chosen("http://h/", None, None, &env), Some("all:1".into()));
        assert_eq!(chosen("https://h/", None, None, &env), Some("own:2".into()));
        let env = [("ALL_PROXY", "up:1"), ("all_proxy", "low:2")];
        assert_eq!(chosen("http://h/", None, None, &env), Some("low:2".into()));
    }

    #[test]
    fn empty_variables_are_unset() {
        let env = [("http_proxy", ""), ("all_proxy", "all:1")];
        assert_eq!(chosen("http://h/", None, None, &env), Some("all:1".into()));
    }

    #[test]
    fn the_flags_override_the_environment() {
        let env = [("http_proxy", "env:1"), ("no_proxy", "*")];
        assert_eq!(
            chosen("http://h/", Some("flag:2"), Some(""), &env),
            Some("flag:2".into())
        );
        // -x "" turns proxies off, environment included.
        assert_eq!(
            chosen("http://h/", Some(""), None, &[("http_proxy", "env:1")]),
            None
        );
        // no_proxy applies to -x too, as in curl.
        assert_eq!(chosen("http://h/", Some("flag:2"), None, &env), None);
        assert_eq!(
            chosen("http://h/", None, Some("h"), &[("http_proxy", "env:1")]),
            None
        );
    }

    #[test]
    fn no_proxy_matches_suffixes_ips_and_ports() {
        let proxied = |url: &str, list: &str| {
            chosen(url, None, None, &[("all_proxy", "p:1"), ("no_proxy", list)]).is_some()
        };
        assert!(!proxied("http://example.com/", "example.com"));
        assert!(!proxied("http://www.example.com/", "example.com"));
        assert!(!proxied("http://www.example.com/", ".example.com"));
        assert!(!proxied("http://example.com/", ".example.com"));
        assert!(!proxied("http://WWW.Example.COM./", "example.com"));
        assert!(proxied("http://badexample.com/", "example.com"));
        assert!(proxied("http://example.com.evil/", "example.com"));
        assert!(!proxied("http://anything/", "*"));
        assert!(!proxied("http://b/", "a, b"));
        assert!(!proxied("http://b/", "a b"));

        assert!(!proxied("http://127.0.0.1/", "127.0.0.1"));
        assert!(proxied("http://127.0.0.2/", "127.0.0.1"));
        assert!(!proxied("http://10.1.2.3/", "10.0.0.0/8"));
        assert!(proxied("http://11.1.2.3/", "10.0.0.0/8"));
        assert!(!proxied("http://192.168.1.200/", "192.168.1.128/25"));
        assert!(proxied("http://192.168.1.100/", "192.168.1.128/25"));
        assert!(!proxied("http://[::1]/", "::1"));
        assert!(!proxied("http://[::1]/", "[::1]"));
        assert!(!proxied("http://[fd00::5]/", "fd00::/8"));
        assert!(proxied("http://[::2]/", "::1"));
        // An IP entry never matches a name, nor a name an IP.
        assert!(proxied("http://localhost/", "127.0.0.1"));

        assert!(!proxied("http://example.com:8080/", "example.com:8080"));
        assert!(proxied("http://example.com:8081/", "example.com:8080"));
        assert!(!proxied("http://example.com/", "example.com:80"));
        assert!(!proxied("https://example.com/", "example.com:443"));
        assert!(!proxied("http://127.0.0.1:81/", "127.0.0.1:81"));
        assert!(!proxied("http://[::1]:81/", "[::1]:81"));
        assert!(proxied("http://[::1]:82/", "[::1]:81"));
    }

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

    #[test]
    fn plain_http_goes_in_absolute_form() {
        let url = crate::fetch::target::parse("http://user:pw@h:8080/a/b?c=d#frag").unwrap();
        assert_eq!(absolute_form(&url), "http://h:8080/a/b?c=d");
        let url = crate::fetch::target::parse("h").unwrap();
        assert_eq!(absolute_form(&url), "http://h/");
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
        let err = connect(&proxy, Some(std::time::Duration::from_secs(5)), None).unwrap_err();
        assert_eq!(Code::of(&err), Code::CouldntConnect);
        assert!(
            format!("{err:#}").starts_with(&format!(
                "proxy {closed}: could not connect to 127.0.0.1 port {}",
                closed.port()
            )),
            "{err:#}"
        );
        let stream = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let proxy = Proxy::parse(&listener.local_addr().unwrap().to_string()).unwrap();
            connect(&proxy, None, None).unwrap()
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
