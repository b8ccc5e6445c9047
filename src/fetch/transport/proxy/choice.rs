//! Which proxy a URL goes through. The choice follows curl, so that the
//! environment a user already has for curl works unchanged:
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

use std::net::IpAddr;

use url::{Host, Url};

use super::Proxy;

/// Where the proxy settings come from, besides the command line: the
/// environment, as a function so that tests need not change the process's.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, for [`choose`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
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
}
