//! Redirects: whether a response sends the request elsewhere, where to, and
//! what goes with it (RFC 9110 section 15.4).
//!
//! - 301, 302, 303, 307 and 308 with a non-empty `Location` are followed;
//!   any other response, or a redirect without a `Location`, is final, as in
//!   curl.
//! - A `Location` is resolved against the URL that answered; bytes outside
//!   ASCII, which some servers send unencoded, are percent-encoded rather
//!   than misread. The URL reached must be one a fetch can send
//!   ([`sendable`]).
//! - A URL visited before is a loop; more redirects than allowed is an
//!   error too.
//! - `Authorization` and `Cookie` (and a custom `Host`) go only to the
//!   scheme, host and port the fetch started at (curl's rule): a redirect
//!   must not hand the user's credentials to another site ([`goes_to`]).
//!
//! Everything here is pure: the caller logs, and decides what an error
//! means to the user. Model: ureq-proto's `client/redirect.rs`.

use std::collections::HashSet;
use std::fmt;
use std::hash::{BuildHasher, RandomState};

use url::Url;

use crate::http::ResponseHead;

/// Fields that only go to the origin the fetch started at.
const ORIGIN_ONLY: [&str; 3] = ["authorization", "cookie", "host"];

/// Whether a field a fetch that started at `first` sends also goes to
/// `url`: every field does, but those for the first origin alone.
pub fn goes_to(name: &str, url: &Url, first: &Url) -> bool {
    same_origin(url, first)
        || !ORIGIN_ONLY
            .iter()
            .any(|only| name.eq_ignore_ascii_case(only))
}

/// True when two URLs have the same scheme, host and port.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// A URL a fetch cannot send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    /// A scheme other than `http` and `https`.
    Scheme {
        /// The scheme.
        scheme: String,
        /// The whole URL, without credentials.
        url: String,
    },
    /// No host to connect to.
    NoHost {
        /// The whole URL, without credentials.
        url: String,
    },
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::Scheme { scheme, url } => write!(
                f,
                "unsupported scheme \"{scheme}\" in {url} (only http and https)"
            ),
            UrlError::NoHost { url } => write!(f, "no host in URL {url}"),
        }
    }
}

impl std::error::Error for UrlError {}

/// A URL as a fetch sends it, or why it cannot be: an `http` or `https`
/// URL with a host. The fragment is dropped, so that URLs compare as the
/// requests they make, and so are a user name and password, which are not
/// sent and must not be shown in messages either. The flag says whether
/// there were credentials to drop.
pub fn sendable(mut url: Url) -> Result<(Url, bool), UrlError> {
    let had_credentials = !url.username().is_empty() || url.password().is_some();
    // These fail only for a URL that cannot have credentials, hence has none.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_fragment(None);
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::Scheme {
            scheme: url.scheme().to_owned(),
            url: url.to_string(),
        });
    }
    if url.host().is_none() {
        return Err(UrlError::NoHost {
            url: url.to_string(),
        });
    }
    Ok((url, had_credentials))
}

/// Why a redirect cannot be followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectError {
    /// The `Location` is not a URL, even relative to the base.
    Location {
        /// The `Location`, percent-encoded.
        location: String,
        /// The URL that answered.
        base: String,
        /// What the URL parser said.
        reason: url::ParseError,
    },
    /// The `Location` leads to a URL a fetch cannot send.
    Url(UrlError),
    /// The `Location` leads back to a URL already visited.
    Loop {
        /// The URL that answered.
        from: String,
        /// The URL visited before.
        to: String,
    },
    /// One redirect more than allowed.
    TooMany {
        /// Redirects allowed.
        max: usize,
    },
}

impl fmt::Display for RedirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedirectError::Location {
                location,
                base,
                reason,
            } => write!(
                f,
                "invalid redirect Location \"{}\" from {base}: {reason}",
                location.escape_debug()
            ),
            RedirectError::Url(err) => err.fmt(f),
            RedirectError::Loop { from, to } => {
                write!(f, "redirect loop: {from} sends back to {to}")
            }
            RedirectError::TooMany { max } => write!(f, "too many redirects (more than {max})"),
        }
    }
}

impl std::error::Error for RedirectError {}

/// Where a redirect leads, before it is followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The URL its `Location` resolves to, as it will be sent.
    pub url: Url,
    /// The `Location` held a user name or password, which is not sent.
    pub dropped_credentials: bool,
}

/// A redirect followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The URL to request next.
    pub url: Url,
    /// From `https` to plain `http`: the next request is unencrypted.
    pub downgrade: bool,
}

/// The redirects of a fetch: how many may be followed (`None`: none, with
/// `--no-follow`), and the URLs visited, to tell a loop. Each URL is kept
/// as a 64-bit hash: a Location may be tens of KiB, and a chain of them
/// must not make memory grow by that much a step.
#[derive(Debug)]
pub struct Redirects {
    max: Option<usize>,
    hasher: RandomState,
    seen: HashSet<u64>,
}

impl Redirects {
    /// No redirect followed yet from `first`.
    pub fn new(first: &Url, max: Option<usize>) -> Redirects {
        let mut redirects = Redirects {
            max,
            hasher: RandomState::new(),
            seen: HashSet::new(),
        };
        redirects.visit(first);
        redirects
    }

    /// Follow or stop, first step: where `head`, the response to `url`,
    /// sends the request, if it is a redirect to follow; `None` when it is
    /// the final response.
    pub fn location(
        &self,
        head: &ResponseHead,
        url: &Url,
    ) -> Result<Option<Location>, RedirectError> {
        if self.max.is_none() || !matches!(head.status, 301 | 302 | 303 | 307 | 308) {
            return Ok(None);
        }
        match head.header("location") {
            Some(location) if !location.is_empty() => {
                let (url, dropped_credentials) = resolve(url, location)?;
                Ok(Some(Location {
                    url,
                    dropped_credentials,
                }))
            }
            _ => Ok(None),
        }
    }

    /// Follow or stop, second step: follows `to` from `from`. A URL visited
    /// before is a loop; one redirect more than allowed is an error too.
    pub fn follow(&mut self, from: &Url, to: Location) -> Result<Redirect, RedirectError> {
        let max = self.max.unwrap_or(0);
        if !self.visit(&to.url) {
            return Err(RedirectError::Loop {
                from: from.to_string(),
                to: to.url.to_string(),
            });
        }
        if self.followed() > max {
            return Err(RedirectError::TooMany { max });
        }
        Ok(Redirect {
            downgrade: from.scheme() == "https" && to.url.scheme() == "http",
            url: to.url,
        })
    }

    /// Records a URL; false if it was visited before.
    fn visit(&mut self, url: &Url) -> bool {
        self.seen.insert(self.hasher.hash_one(url.as_str()))
    }

    /// Redirects followed so far: every URL but the first.
    pub fn followed(&self) -> usize {
        self.seen.len() - 1
    }
}

/// The URL a `Location` leads to from `base` ([`sendable`]), and whether
/// it held credentials.
pub fn resolve(base: &Url, location: &[u8]) -> Result<(Url, bool), RedirectError> {
    let location =
        percent_encoding::percent_encode(location, percent_encoding::CONTROLS).to_string();
    let next = base
        .join(location.trim())
        .map_err(|reason| RedirectError::Location {
            base: base.to_string(),
            location: location.clone(),
            reason,
        })?;
    sendable(next).map_err(RedirectError::Url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_head;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn head(wire: &str) -> ResponseHead {
        parse_head(wire.as_bytes()).unwrap().unwrap().0
    }

    fn redirect(status: u16, location: &str) -> ResponseHead {
        head(&format!(
            "HTTP/1.1 {status} Moved\r\nLocation: {location}\r\n\r\n"
        ))
    }

    /// Both steps, as a fetch takes them.
    fn follow_or_stop(
        redirects: &mut Redirects,
        head: &ResponseHead,
        base: &Url,
    ) -> Result<Option<Redirect>, RedirectError> {
        match redirects.location(head, base)? {
            Some(location) => redirects.follow(base, location).map(Some),
            None => Ok(None),
        }
    }

    fn next(redirects: &mut Redirects, head: &ResponseHead, base: &Url) -> Option<Url> {
        follow_or_stop(redirects, head, base)
            .unwrap()
            .map(|redirect| redirect.url)
    }

    #[test]
    fn redirects_are_followed_resolved_and_counted() {
        let base = url("http://h/a/b");
        let mut redirects = Redirects::new(&base, Some(5));
        let to = next(&mut redirects, &redirect(302, "c"), &base);
        assert_eq!(to, Some(url("http://h/a/c")));
        for status in [301, 303, 307, 308] {
            let location = format!("/{status}");
            let to = next(&mut redirects, &redirect(status, &location), &base);
            assert_eq!(to, Some(base.join(&location).unwrap()));
        }
        assert_eq!(redirects.followed(), 5);
        let sixth = follow_or_stop(&mut redirects, &redirect(302, "/y"), &base).unwrap_err();
        assert_eq!(sixth, RedirectError::TooMany { max: 5 });
        assert_eq!(sixth.to_string(), "too many redirects (more than 5)");
    }

    #[test]
    fn a_loop_through_several_urls_is_told() {
        let first = url("http://h/1");
        let mut redirects = Redirects::new(&first, Some(10));
        let second = next(&mut redirects, &redirect(302, "/2"), &first).unwrap();
        let err = follow_or_stop(&mut redirects, &redirect(302, "/1"), &second).unwrap_err();
        assert_eq!(
            err.to_string(),
            "redirect loop: http://h/2 sends back to http://h/1"
        );
    }

    #[test]
    fn some_responses_are_final_whatever_they_say() {
        let base = url("http://h/");
        let mut redirects = Redirects::new(&base, Some(10));
        assert_eq!(next(&mut redirects, &redirect(200, "/x"), &base), None);
        assert_eq!(next(&mut redirects, &redirect(304, "/x"), &base), None);
        assert_eq!(next(&mut redirects, &redirect(302, ""), &base), None);
        let no_location = head("HTTP/1.1 302 Found\r\n\r\n");
        assert_eq!(next(&mut redirects, &no_location, &base), None);
        let mut no_follow = Redirects::new(&base, None);
        assert_eq!(
            next(&mut no_follow, &redirect(302, "/x"), &base),
            None,
            "--no-follow"
        );
    }

    #[test]
    fn a_redirect_says_what_it_drops_and_when_it_downgrades() {
        let base = url("https://h/a");
        let mut redirects = Redirects::new(&base, Some(10));
        let location = redirects
            .location(&redirect(302, "http://u:secret@other/x#f"), &base)
            .unwrap()
            .unwrap();
        assert!(location.dropped_credentials, "said before it is followed");
        let to = redirects.follow(&base, location).unwrap();
        assert_eq!(to.url.as_str(), "http://other/x");
        assert!(to.downgrade);
        let to = follow_or_stop(&mut redirects, &redirect(302, "/b"), &base)
            .unwrap()
            .unwrap();
        assert!(!to.downgrade);
    }

    #[test]
    fn locations_resolve_relative_to_the_url_that_answered() {
        let base = url("https://h:8443/a/b?q#f");
        let next = |location: &[u8]| resolve(&base, location).unwrap().0.to_string();
        assert_eq!(next(b"c"), "https://h:8443/a/c");
        assert_eq!(next(b"/c d?e f"), "https://h:8443/c%20d?e%20f");
        assert_eq!(next(b"//other/x"), "https://other/x");
        assert_eq!(next(b"?x"), "https://h:8443/a/b?x");
        assert_eq!(next(b"http://other/"), "http://other/");
        assert_eq!(next(b"/caf\xc3\xa9/\xff"), "https://h:8443/caf%C3%A9/%FF");
        assert!(matches!(
            resolve(&base, b"ftp://h/x"),
            Err(RedirectError::Url(UrlError::Scheme { .. }))
        ));
        let err = resolve(&base, b"http://[::1/").unwrap_err();
        assert!(matches!(err, RedirectError::Location { .. }));
        assert_eq!(
            err.to_string(),
            "invalid redirect Location \"http://[::1/\" from https://h:8443/a/b?q#f: invalid IPv6 address"
        );
    }

    #[test]
    fn only_some_urls_are_sendable() {
        let (sent, dropped) = sendable(url("http://user:secret@h/p#f")).unwrap();
        assert_eq!((sent.as_str(), dropped), ("http://h/p", true));
        let err = sendable(url("ftp://u:secret@h/")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported scheme \"ftp\" in ftp://h/ (only http and https)"
        );
        let no_host = UrlError::NoHost {
            url: "http:".into(),
        };
        assert_eq!(no_host.to_string(), "no host in URL http:");
    }

    #[test]
    fn credentials_stay_with_the_first_origin() {
        let first = url("https://example.com/start");
        assert!(goes_to(
            "Authorization",
            &url("https://example.com:443/n"),
            &first
        ));
        for elsewhere in [
            "https://other.test/",
            "http://example.com/",
            "https://example.com:8443/",
        ] {
            let elsewhere = url(elsewhere);
            for name in ["Authorization", "cookie", "HOST"] {
                assert!(!goes_to(name, &elsewhere, &first), "{name} to {elsewhere}");
            }
            assert!(goes_to("X-Keep", &elsewhere, &first));
        }
    }
}
