//! A request head, written: the request line in the form its receiver
//! wants, and the header fields, sockdemo's defaults with the user's
//! `-A/--user-agent` and `-H/--header` over them, as curl does.
//!
//! - `-H "Name: value"` adds a field, or replaces the default field of the
//!   same name (`Host` included); `-H "Name:"` removes a default field;
//!   `-H "Name;"` sends the field with an empty value.
//! - `Connection`, `Content-Length` and `Transfer-Encoding` cannot be set:
//!   they are the message framing sockdemo relies on (one exchange per
//!   connection, no request body).
//! - A CR, LF or NUL in a field would end it early and smuggle in another
//!   one: refused, like a name that is not an HTTP token (RFC 9110 section
//!   5.6.2).
//! - On a redirect, the fields go to the next request too, except those
//!   that go only to the origin the fetch started at
//!   ([`redirect::goes_to`]).
//!
//! Everything here is pure: the caller sends the bytes.

use std::fmt;

use url::{Position, Url};

use super::redirect;

/// What sockdemo says it is, unless `-A` says otherwise.
pub const DEFAULT_USER_AGENT: &str = concat!("sockdemo/", env!("CARGO_PKG_VERSION"));

/// Fields the user cannot set: the framing of the exchange.
const FRAMING: [&str; 3] = ["connection", "content-length", "transfer-encoding"];

/// The request's method: a fetch asks for the body, or only for the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`: the head and the body.
    Get,
    /// `HEAD` (`-I`): the head alone; the response has no body.
    Head,
}

impl Method {
    /// The method as the request line writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
        }
    }
}

/// A header field the user gave that cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldError {
    /// Neither `Name: value`, `Name:` nor `Name;`.
    Syntax,
    /// The name is not an HTTP token.
    Name(String),
    /// The name is one of the framing fields.
    Framing(String),
    /// The value holds a byte that would end the field early.
    ControlByte(u8),
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldError::Syntax => {
                f.write_str("expected \"Name: value\" (or \"Name:\" to remove a default field)")
            }
            FieldError::Name(name) => write!(
                f,
                "\"{}\" is not a valid header field name",
                name.escape_debug()
            ),
            FieldError::Framing(name) => write!(
                f,
                "{name} cannot be set: sockdemo sends one request per connection, without a body"
            ),
            FieldError::ControlByte(byte) => write!(
                f,
                "a header field may not hold the control byte {byte:#04x} (CR, LF or NUL)"
            ),
        }
    }
}

impl std::error::Error for FieldError {}

/// One `-H` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Custom {
    /// The field name, as given.
    pub name: String,
    /// The value; `None` removes the default field of this name.
    pub value: Option<String>,
}

/// Parses a `-H` argument (`Name: value`, `Name:`, `Name;`).
pub fn parse_custom(argument: &str) -> Result<Custom, FieldError> {
    let (name, value) = match argument.find([':', ';']) {
        Some(at) if argument.as_bytes()[at] == b':' => {
            let value = argument[at + 1..].trim_matches([' ', '\t']);
            (
                &argument[..at],
                (!value.is_empty()).then(|| value.to_owned()),
            )
        }
        Some(at) if argument[at + 1..].trim().is_empty() => (&argument[..at], Some(String::new())),
        _ => return Err(FieldError::Syntax),
    };
    if !is_token(name) {
        return Err(FieldError::Name(name.to_owned()));
    }
    if FRAMING
        .iter()
        .any(|framing| name.eq_ignore_ascii_case(framing))
    {
        return Err(FieldError::Framing(name.to_owned()));
    }
    if let Some(value) = &value {
        check_value(value)?;
    }
    Ok(Custom {
        name: name.to_owned(),
        value,
    })
}

/// Parses a `-A` argument: any text without CR, LF or NUL.
pub fn parse_user_agent(argument: &str) -> Result<String, FieldError> {
    check_value(argument)?;
    Ok(argument.to_owned())
}

/// Refuses the bytes that would end a field early.
fn check_value(value: &str) -> Result<(), FieldError> {
    match value.bytes().find(|b| matches!(b, b'\r' | b'\n' | b'\0')) {
        Some(byte) => Err(FieldError::ControlByte(byte)),
        None => Ok(()),
    }
}

/// True for a token of RFC 9110 section 5.6.2, what a field name is made
/// of: one or more `tchar`s.
pub fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The header fields every request of a fetch sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeaders {
    user_agent: String,
    custom: Vec<Custom>,
}

impl Default for RequestHeaders {
    fn default() -> Self {
        RequestHeaders::new(None, Vec::new())
    }
}

impl RequestHeaders {
    /// The defaults, with `-A` (`user_agent`) and the `-H` fields over them.
    pub fn new(user_agent: Option<String>, custom: Vec<Custom>) -> RequestHeaders {
        RequestHeaders {
            user_agent: user_agent.unwrap_or_else(|| DEFAULT_USER_AGENT.to_owned()),
            custom,
        }
    }

    /// The user agent of `-A` (or sockdemo's own), which a proxy `CONNECT`
    /// sends too, as curl's does; a `-H` field, `User-Agent` included,
    /// never goes to a proxy.
    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// The fields of the request for `url`, in the order sent, for a fetch
    /// that started at `first`; `close` adds `Connection: close`, which a
    /// request leaves out only when the connection may carry another one
    /// (RFC 9112 section 9.3).
    pub fn for_url(&self, url: &Url, first: &Url, close: bool) -> Vec<(String, String)> {
        let goes = |name: &str| redirect::goes_to(name, url, first);
        let defaults = [
            ("Host", host_header(url)),
            ("User-Agent", self.user_agent.clone()),
            ("Accept", "*/*".to_owned()),
        ];
        let mut fields = Vec::new();
        for (name, value) in defaults {
            match self.custom_value(name) {
                // Replaced where it stands, or removed.
                Some(custom) if goes(name) => {
                    if let Some(custom) = custom {
                        fields.push((name.to_owned(), custom.to_owned()));
                    }
                }
                _ => fields.push((name.to_owned(), value)),
            }
        }
        for custom in &self.custom {
            if defaults_named(&custom.name) || !goes(&custom.name) {
                continue;
            }
            if let Some(value) = &custom.value {
                fields.push((custom.name.clone(), value.clone()));
            }
        }
        if close {
            fields.push(("Connection".to_owned(), "close".to_owned()));
        }
        fields
    }

    /// True when the user gave a field of this name with `-H`, to send or
    /// to remove: credentials of `-u` then give way, as in curl.
    pub fn sets(&self, name: &str) -> bool {
        self.custom_value(name).is_some()
    }

    /// The value the user gave a field: `None` if not given, `Some(None)`
    /// if removed. The last `-H` of a name wins over a default.
    fn custom_value(&self, name: &str) -> Option<Option<&str>> {
        self.custom
            .iter()
            .rev()
            .find(|custom| custom.name.eq_ignore_ascii_case(name))
            .map(|custom| custom.value.as_deref())
    }
}

/// True for the names of the default fields that `-H` replaces.
fn defaults_named(name: &str) -> bool {
    ["host", "user-agent", "accept"]
        .iter()
        .any(|default| name.eq_ignore_ascii_case(default))
}

/// The request target of the request line to the origin server (origin
/// form, RFC 9112 section 3.2.1): the path and the query, never the
/// fragment.
pub fn origin_form(url: &Url) -> &str {
    &url[Position::BeforePath..Position::AfterQuery]
}

/// The request target of a plain-http request through a proxy (absolute
/// form, RFC 9112 section 3.2.2): the whole URL, without its fragment. User
/// names and passwords were removed from the URL when it was parsed.
pub fn absolute_form(url: &Url) -> &str {
    &url[..Position::AfterQuery]
}

/// The value of the `Host` header: the host (IPv6 in brackets), and the port
/// when it is not the scheme's default.
pub fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// The request head: the request line and the fields, each line ending in
/// CRLF, and the empty line that ends the head.
pub fn request_head(method: Method, request_target: &str, fields: &[(String, String)]) -> String {
    let mut head = format!("{} {request_target} HTTP/1.1\r\n", method.as_str());
    for (name, value) in fields {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head
}

/// A request head as a log may show it: the credentials of
/// `Authorization` and `Proxy-Authorization` replaced by `[hidden]`, their
/// scheme kept (`Authorization: Basic [hidden]`).
pub fn hide_credentials(head: &str) -> String {
    let mut shown = String::with_capacity(head.len());
    for line in head.split_inclusive("\r\n") {
        let secret = line.split_once(':').filter(|(name, _)| {
            name.eq_ignore_ascii_case("authorization")
                || name.eq_ignore_ascii_case("proxy-authorization")
        });
        match secret {
            Some((name, value)) => {
                let scheme = value.split_whitespace().next().unwrap_or_default();
                let ending = if line.ends_with("\r\n") { "\r\n" } else { "" };
                shown.push_str(&format!("{name}: {scheme} [hidden]{ending}"));
            }
            None => shown.push_str(line),
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(arguments: &[&str]) -> Vec<Custom> {
        arguments.iter().map(|a| parse_custom(a).unwrap()).collect()
    }

    #[test]
    fn a_shown_head_hides_credentials_but_their_scheme() {
        let head = "GET / HTTP/1.1\r\nHost: h\r\nauthorization: Basic dTpw\r\nProxy-Authorization: Bearer s3cret\r\nX-Authorization: kept\r\n\r\n";
        assert_eq!(
            hide_credentials(head),
            "GET / HTTP/1.1\r\nHost: h\r\nauthorization: Basic [hidden]\r\nProxy-Authorization: Bearer [hidden]\r\nX-Authorization: kept\r\n\r\n"
        );
        let sets = RequestHeaders::new(None, custom(&["authorization:"]));
        assert!(sets.sets("Authorization") && !sets.sets("Cookie"));
    }

    fn names_and_values(fields: &[(String, String)]) -> Vec<String> {
        fields.iter().map(|(n, v)| format!("{n}: {v}")).collect()
    }

    #[test]
    fn header_arguments_are_parsed_as_curl_does() {
        assert_eq!(
            parse_custom("X-Test:  a b ").unwrap(),
            Custom {
                name: "X-Test".into(),
                value: Some("a b".into())
            }
        );
        assert_eq!(parse_custom("Accept:").unwrap().value, None);
        assert_eq!(parse_custom("X-Empty;").unwrap().value, Some(String::new()));
        assert_eq!(parse_custom("X: a;b").unwrap().value, Some("a;b".into()));
        for bad in ["no colon", "Bad Name: x", ": x", "X; y", "Con\u{e9}: x"] {
            assert!(parse_custom(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn framing_fields_and_control_bytes_are_refused() {
        for bad in [
            "Connection: keep-alive",
            "content-length: 5",
            "Transfer-Encoding: chunked",
            "Connection:",
        ] {
            let err = parse_custom(bad).unwrap_err().to_string();
            assert!(err.contains("cannot be set"), "{bad}: {err}");
        }
        for bad in ["X: a\r\nEvil: 1", "X: a\nb", "X: a\0b"] {
            let err = parse_custom(bad).unwrap_err().to_string();
            assert!(err.contains("CR, LF or NUL"), "{bad:?}: {err}");
        }
        assert!(parse_user_agent("agent\r\nX: 1").is_err());
        assert_eq!(parse_user_agent("agent/1").unwrap(), "agent/1");
    }

    #[test]
    fn defaults_are_sent_in_order() {
        let url = Url::parse("http://example.com:8080/a").unwrap();
        let fields = RequestHeaders::default().for_url(&url, &url, true);
        assert_eq!(
            names_and_values(&fields),
            [
                "Host: example.com:8080".to_owned(),
                format!("User-Agent: {DEFAULT_USER_AGENT}"),
                "Accept: */*".to_owned(),
                "Connection: close".to_owned(),
            ]
        );
    }

    #[test]
    fn custom_fields_replace_remove_and_add() {
        let url = Url::parse("http://example.com/").unwrap();
        let headers = RequestHeaders::new(
            Some("agent/2".into()),
            custom(&["host: other.test", "Accept:", "X-One: 1", "X-Two;"]),
        );
        assert_eq!(
            names_and_values(&headers.for_url(&url, &url, true)),
            [
                "Host: other.test",
                "User-Agent: agent/2",
                "X-One: 1",
                "X-Two: ",
                "Connection: close"
            ]
        );
        assert_eq!(headers.user_agent(), "agent/2");
        let headers = RequestHeaders::new(Some("agent/2".into()), custom(&["User-Agent: h/3"]));
        assert_eq!(headers.user_agent(), "agent/2", "for a proxy: -A, never -H");
        assert!(
            names_and_values(&headers.for_url(&url, &url, true))
                .contains(&"User-Agent: h/3".to_owned())
        );
    }

    #[test]
    fn credentials_stay_with_the_first_origin() {
        let first = Url::parse("https://example.com/start").unwrap();
        let headers = RequestHeaders::new(
            None,
            custom(&[
                "Authorization: Bearer t",
                "Cookie: c=1",
                "Host: alias.test",
                "X-Keep: k",
            ]),
        );
        let sent =
            |url: &str| names_and_values(&headers.for_url(&Url::parse(url).unwrap(), &first, true));
        let same = sent("https://example.com:443/next");
        assert!(
            same.contains(&"Authorization: Bearer t".to_owned()),
            "{same:?}"
        );
        assert!(same.contains(&"Cookie: c=1".to_owned()), "{same:?}");
        assert!(same.contains(&"Host: alias.test".to_owned()), "{same:?}");
        for elsewhere in [
            "https://other.test/",
            "http://example.com/",
            "https://example.com:8443/",
        ] {
            let fields = sent(elsewhere);
            assert!(
                !fields
                    .iter()
                    .any(|f| f.starts_with("Authorization") || f.starts_with("Cookie")),
                "{elsewhere}: {fields:?}"
            );
            assert!(
                fields.contains(&"X-Keep: k".to_owned()),
                "{elsewhere}: {fields:?}"
            );
            assert!(
                !fields.contains(&"Host: alias.test".to_owned()),
                "{elsewhere}: {fields:?}"
            );
        }
    }

    #[test]
    fn the_request_head_is_exact() {
        let url = Url::parse("http://h/p?q").unwrap();
        let fields = RequestHeaders::new(Some("ua".into()), Vec::new()).for_url(&url, &url, true);
        assert_eq!(
            request_head(Method::Get, "/p?q", &fields),
            "GET /p?q HTTP/1.1\r\nHost: h\r\nUser-Agent: ua\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        let kept = RequestHeaders::new(Some("ua".into()), Vec::new()).for_url(&url, &url, false);
        assert_eq!(
            request_head(Method::Get, "/p?q", &kept),
            "GET /p?q HTTP/1.1\r\nHost: h\r\nUser-Agent: ua\r\nAccept: */*\r\n\r\n",
            "a connection kept for another request says nothing: HTTP/1.1 persists by default"
        );
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn host_header_has_the_port_only_when_not_default() {
        assert_eq!(host_header(&url("http://example.com")), "example.com");
        assert_eq!(host_header(&url("http://example.com:80/")), "example.com");
        assert_eq!(host_header(&url("https://example.com:443/")), "example.com");
        assert_eq!(
            host_header(&url("https://example.com:80/")),
            "example.com:80"
        );
        assert_eq!(
            host_header(&url("http://example.com:8080")),
            "example.com:8080"
        );
        assert_eq!(host_header(&url("http://[::1]:8080")), "[::1]:8080");
        assert_eq!(host_header(&url("http://[::1]/")), "[::1]");
    }

    #[test]
    fn the_origin_form_is_path_and_query_without_fragment() {
        assert_eq!(origin_form(&url("http://example.com")), "/");
        assert_eq!(
            origin_form(&url("http://example.com/a%20b?q=1&r#frag")),
            "/a%20b?q=1&r"
        );
        assert_eq!(origin_form(&url("http://example.com/a b")), "/a%20b");
        assert_eq!(origin_form(&url("http://example.com/?")), "/?");
        assert_eq!(origin_form(&url("http://example.com/x#y")), "/x");
    }

    #[test]
    fn the_absolute_form_is_the_whole_url_without_fragment() {
        assert_eq!(
            absolute_form(&url("http://h:8080/a/b?c=d#frag")),
            "http://h:8080/a/b?c=d"
        );
        assert_eq!(absolute_form(&url("http://h")), "http://h/");
    }

    #[test]
    fn methods_are_written_as_the_request_line_wants() {
        assert_eq!(Method::Get.as_str(), "GET");
        assert_eq!(Method::Head.as_str(), "HEAD");
        assert!(is_token("X-Custom_1.~") && !is_token("") && !is_token("a b"));
    }
}
