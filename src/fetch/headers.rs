//! The header fields of a request: sockdemo's defaults, with the user's
//! `-A/--user-agent` and `-H/--header` over them, as curl does.
//!
//! - `-H "Name: value"` adds a field, or replaces the default field of the
//!   same name (`Host` included); `-H "Name:"` removes a default field;
//!   `-H "Name;"` sends the field with an empty value.
//! - `Connection`, `Content-Length` and `Transfer-Encoding` cannot be set:
//!   they are the message framing sockdemo relies on (one exchange per
//!   connection, no request body).
//! - A CR, LF or NUL in a field would end it early and smuggle in another
//!   one: refused, like a name that is not an HTTP token.
//! - On a redirect, the fields go to the next request too, except
//!   `Authorization` and `Cookie` (and a custom `Host`), which go only to
//!   the scheme, host and port the fetch started with (curl's rule): a
//!   redirect must not hand the user's credentials to another site.

use url::Url;

use super::target;

/// What sockdemo says it is, unless `-A` says otherwise.
pub const DEFAULT_USER_AGENT: &str = concat!("sockdemo/", env!("CARGO_PKG_VERSION"));

/// Fields that only go to the origin the fetch started at.
const ORIGIN_ONLY: [&str; 3] = ["authorization", "cookie", "host"];

/// Fields the user cannot set: the framing of the exchange.
const FRAMING: [&str; 3] = ["connection", "content-length", "transfer-encoding"];

/// One `-H` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Custom {
    /// The field name, as given.
    pub name: String,
    /// The value; `None` removes the default field of this name.
    pub value: Option<String>,
}

/// Parses a `-H` argument (`Name: value`, `Name:`, `Name;`), for clap: the
/// error is a usage error (exit 2).
pub fn parse_custom(argument: &str) -> Result<Custom, String> {
    let (name, value) = match argument.find([':', ';']) {
        Some(at) if argument.as_bytes()[at] == b':' => {
            let value = argument[at + 1..].trim_matches([' ', '\t']);
            (
                &argument[..at],
                (!value.is_empty()).then(|| value.to_owned()),
            )
        }
        Some(at) if argument[at + 1..].trim().is_empty() => (&argument[..at], Some(String::new())),
        _ => {
            return Err("expected \"Name: value\" (or \"Name:\" to remove a default field)".into());
        }
    };
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(format!(
            "\"{}\" is not a valid header field name",
            name.escape_debug()
        ));
    }
    if FRAMING
        .iter()
        .any(|framing| name.eq_ignore_ascii_case(framing))
    {
        return Err(format!(
            "{name} cannot be set: sockdemo sends one request per connection, without a body"
        ));
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
pub fn parse_user_agent(argument: &str) -> Result<String, String> {
    check_value(argument)?;
    Ok(argument.to_owned())
}

/// Refuses the bytes that would end a field early.
fn check_value(value: &str) -> Result<(), String> {
    match value.bytes().find(|b| matches!(b, b'\r' | b'\n' | b'\0')) {
        Some(byte) => Err(format!(
            "a header field may not hold the control byte {byte:#04x} (CR, LF or NUL)"
        )),
        None => Ok(()),
    }
}

/// A `tchar` of RFC 9110 section 5.6.2: what a field name is made of.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
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
    /// that started at `first`.
    pub fn for_url(&self, url: &Url, first: &Url) -> Vec<(String, String)> {
        let at_origin = same_origin(url, first);
        let goes = |name: &str| {
            at_origin
                || !ORIGIN_ONLY
                    .iter()
                    .any(|only| name.eq_ignore_ascii_case(only))
        };
        let defaults = [
            ("Host", target::host_header(url)),
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
        fields.push(("Connection".to_owned(), "close".to_owned()));
        fields
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

/// True when two URLs have the same scheme, host and port.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// The request head: the request line and the fields, each line ending in
/// CRLF, and the empty line that ends the head.
pub fn request_head(method: &str, request_target: &str, fields: &[(String, String)]) -> String {
    let mut head = format!("{method} {request_target} HTTP/1.1\r\n");
    for (name, value) in fields {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(arguments: &[&str]) -> Vec<Custom> {
        arguments.iter().map(|a| parse_custom(a).unwrap()).collect()
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
            let err = parse_custom(bad).unwrap_err();
            assert!(err.contains("cannot be set"), "{bad}: {err}");
        }
        for bad in ["X: a\r\nEvil: 1", "X: a\nb", "X: a\0b"] {
            let err = parse_custom(bad).unwrap_err();
            assert!(err.contains("CR, LF or NUL"), "{bad:?}: {err}");
        }
        assert!(parse_user_agent("agent\r\nX: 1").is_err());
        assert_eq!(parse_user_agent("agent/1").unwrap(), "agent/1");
    }

    #[test]
    fn defaults_are_sent_in_order() {
        let url = Url::parse("http://example.com:8080/a").unwrap();
        let fields = RequestHeaders::default().for_url(&url, &url);
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
            names_and_values(&headers.for_url(&url, &url)),
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
            names_and_values(&headers.for_url(&url, &url)).contains(&"User-Agent: h/3".to_owned())
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
            |url: &str| names_and_values(&headers.for_url(&Url::parse(url).unwrap(), &first));
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
        let fields = RequestHeaders::new(Some("ua".into()), Vec::new()).for_url(&url, &url);
        assert_eq!(
            request_head("GET", "/p?q", &fields),
            "GET /p?q HTTP/1.1\r\nHost: h\r\nUser-Agent: ua\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
    }
}
