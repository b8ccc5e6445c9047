//! How a response's body is delimited: RFC 9112 section 6.3, point by point,
//! including the conflicting and invalid cases, which are errors here rather
//! than guesses (a guess is how a cut or smuggled body passes for complete).

use super::HttpError;
use super::head::ResponseHead;

/// How a response's body is delimited (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body: 1xx, 204, 304, or a response to HEAD.
    NoBody,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the connection closes.
    UntilClose,
}

/// The framing of a response to a request of the given method.
///
/// In the order of RFC 9112 section 6.3: a response to HEAD, a 1xx, 204 or
/// 304 has no body, whatever its fields say (bytes after such a head are
/// not part of it); a `Transfer-Encoding` whose final coding is `chunked`
/// means chunked, and any other final coding (`gzip` alone, or `chunked,
/// gzip`) means the body runs until the connection closes; otherwise
/// `Content-Length` gives the length; otherwise the body runs until close.
/// The transfer codings other than a final `chunked` are not framing: a
/// [`Decoder`](super::Decoder) undoes them from what the framing delivers.
///
/// Errors, each its own [`HttpError`] kind: a 101 (sockdemo never asks to switch
/// protocols); both `Transfer-Encoding` and `Content-Length` (the RFC's
/// smuggling case); `Transfer-Encoding` in an HTTP/1.0 response (section
/// 6.1: the framing is faulty); `chunked` applied twice or an empty coding
/// list; a `Content-Length` that is not a decimal number, too large, or
/// holding two different values (an identical list such as `5, 5` or a
/// repeated identical field is one value).
pub fn framing(head: &ResponseHead, request_was_head: bool) -> Result<Framing, HttpError> {
    if head.status == 101 {
        return Err(HttpError::SwitchingProtocols);
    }
    if request_was_head || head.is_interim() || head.status == 204 || head.status == 304 {
        return Ok(Framing::NoBody);
    }
    let has_length = head.header("content-length").is_some();
    if head.header("transfer-encoding").is_some() {
        if has_length {
            return Err(HttpError::LengthAndTransferEncoding);
        }
        if head.version == 0 {
            return Err(HttpError::TransferEncodingInHttp10);
        }
        return transfer_coding(head);
    }
    if has_length {
        return content_length(head).map(Framing::Length);
    }
    Ok(Framing::UntilClose)
}

/// The framing a `Transfer-Encoding` field (or several: they form one list)
/// gives a response: chunked when `chunked` is the final coding, otherwise
/// until close (section 6.3, point 4, for responses). `identity` is no
/// coding at all (RFC 2616 listed it; curl and browsers still meet it in
/// `identity, chunked`), so it is passed over.
fn transfer_coding(head: &ResponseHead) -> Result<Framing, HttpError> {
    let mut codings = coding_names(head, "transfer-encoding");
    if codings.is_empty() {
        return Err(HttpError::EmptyTransferEncoding);
    }
    codings.retain(|coding| !is_identity(coding));
    let is_chunked = |coding: &&[u8]| coding.eq_ignore_ascii_case(b"chunked");
    match codings.split_last() {
        // Nothing but `identity`: no coding, and no length either.
        None => Ok(Framing::UntilClose),
        _ if codings.iter().filter(|c| is_chunked(c)).count() > 1 => Err(HttpError::ChunkedTwice),
        Some((last, _)) if is_chunked(last) => Ok(Framing::Chunked),
        // `chunked, gzip` included: the body runs until close, and the
        // codings, chunked among them, are undone after (see `coding`).
        Some(_) => Ok(Framing::UntilClose),
    }
}

/// The codings the fields named `field` list (`Transfer-Encoding` or
/// `Content-Encoding`; several fields form one list), in order, without
/// their parameters (`;name=value` does not change which coding it is) and
/// without empty elements.
pub(super) fn coding_names<'h>(head: &'h ResponseHead, field: &str) -> Vec<&'h [u8]> {
    head.headers_named(field)
        .flat_map(list_elements)
        .map(|element| element.split(|&b| b == b';').next().unwrap_or(element))
        .map(<[u8]>::trim_ascii)
        .filter(|coding| !coding.is_empty())
        .collect()
}

/// `identity`: the coding that changes nothing, ignored wherever listed.
pub(super) fn is_identity(coding: &[u8]) -> bool {
    coding.eq_ignore_ascii_case(b"identity")
}

/// The elements of a comma-separated list (RFC 9110 section 5.6.1), as
/// they are, whitespace and empty ones included. A comma inside a quoted
/// string (a parameter value, section 5.6.4) separates nothing.
pub(super) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut quoted = false;
    let mut escaped = false;
    value.split(move |&b| {
        match (quoted, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (_, false, b'"') => quoted = !quoted,
            _ => {}
        }
        b == b',' && !quoted
    })
}

/// The one length all `Content-Length` values agree on.
fn content_length(head: &ResponseHead) -> Result<u64, HttpError> {
    let mut length = None;
    for element in head.headers_named("content-length").flat_map(list_elements) {
        let element = element.trim_ascii();
        let value = parse_decimal(element)
            .ok_or_else(|| HttpError::InvalidContentLength(element.to_vec()))?;
        match length {
            Some(first) if first != value => {
                return Err(HttpError::ConflictingContentLength {
                    first,
                    second: value,
                });
            }
            _ => length = Some(value),
        }
    }
    // Never empty: a field's value is at least one (empty) element.
    length.ok_or(HttpError::InvalidContentLength(Vec::new()))
}

/// `1*DIGIT` as a u64; `None` when empty, not all digits, or too large. (No
/// sign, no spaces: `str::parse` would take a `+`.)
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit()
            .then(|| n.checked_mul(10)?.checked_add(u64::from(b - b'0')))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_head;

    fn head(fields: &str) -> ResponseHead {
        head_with_status("HTTP/1.1 200 OK", fields)
    }

    fn head_with_status(status_line: &str, fields: &str) -> ResponseHead {
        let wire = format!("{status_line}\r\n{fields}\r\n");
        parse_head(wire.as_bytes()).unwrap().unwrap().0
    }

    fn of(fields: &str) -> Result<Framing, HttpError> {
        framing(&head(fields), false)
    }

    fn bad(fields: &str) -> HttpError {
        of(fields).expect_err(fields)
    }

    #[test]
    fn no_body_statuses_and_head_requests() {
        let both = "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n";
        for status in [
            "HTTP/1.1 204 No Content",
            "HTTP/1.1 304 Not Modified",
            "HTTP/1.1 100 Continue",
            "HTTP/1.1 103 Early Hints",
        ] {
            let head = head_with_status(status, "Content-Length: 5\r\n");
            assert_eq!(framing(&head, false), Ok(Framing::NoBody), "{status}");
            let head = head_with_status(status, both);
            assert_eq!(framing(&head, false), Ok(Framing::NoBody), "{status}");
        }
        assert_eq!(
            framing(&head("Content-Length: 5\r\n"), true),
            Ok(Framing::NoBody)
        );
        assert_eq!(
            framing(&head("Transfer-Encoding: chunked\r\n"), true),
            Ok(Framing::NoBody)
        );
    }

    #[test]
    fn switching_protocols_is_an_error() {
        let head = head_with_status("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket\r\n");
        assert_eq!(framing(&head, false), Err(HttpError::SwitchingProtocols));
    }

    #[test]
    fn content_length() {
        assert_eq!(of("Content-Length: 5\r\n"), Ok(Framing::Length(5)));
        assert_eq!(of("Content-Length: 0\r\n"), Ok(Framing::Length(0)));
        assert_eq!(of("content-length:  007 \r\n"), Ok(Framing::Length(7)));
        assert_eq!(of("Content-Length: 5, 5\r\n"), Ok(Framing::Length(5)));
        assert_eq!(of("Content-Length: 5,5 ,5\r\n"), Ok(Framing::Length(5)));
        assert_eq!(
            of("Content-Length: 5\r\nContent-Length: 5\r\n"),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            of("Content-Length: 18446744073709551615\r\n"),
            Ok(Framing::Length(u64::MAX))
        );
    }

    #[test]
    fn invalid_or_conflicting_content_length() {
        let conflicting = HttpError::ConflictingContentLength {
            first: 5,
            second: 6,
        };
        assert_eq!(
            bad("Content-Length: 5\r\nContent-Length: 6\r\n"),
            conflicting
        );
        assert_eq!(bad("Content-Length: 5, 6\r\n"), conflicting);
        for invalid in [
            "-1",
            "+5",
            "5a",
            "0x10",
            "1 2",
            "",
            "5,",
            ",5",
            "18446744073709551616",
            "\u{b3}",
        ] {
            assert!(
                matches!(
                    bad(&format!("Content-Length: {invalid}\r\n")),
                    HttpError::InvalidContentLength(_)
                ),
                "{invalid:?}"
            );
        }
        for (field, value) in [("1 2", &b"1 2"[..]), ("5,", b""), ("0x10", b"0x10")] {
            assert_eq!(
                bad(&format!("Content-Length: {field}\r\n")),
                HttpError::InvalidContentLength(value.to_vec())
            );
        }
    }

    #[test]
    fn chunked_and_other_codings() {
        assert_eq!(of("Transfer-Encoding: chunked\r\n"), Ok(Framing::Chunked));
        assert_eq!(of("Transfer-Encoding: Chunked\r\n"), Ok(Framing::Chunked));
        assert_eq!(
            of("Transfer-Encoding: gzip, chunked\r\n"),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            of("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            of("Transfer-Encoding: chunked;x=1\r\n"),
            Ok(Framing::Chunked)
        );
        assert_eq!(of("Transfer-Encoding: gzip\r\n"), Ok(Framing::UntilClose));
        assert_eq!(
            of("Transfer-Encoding: identity\r\n"),
            Ok(Framing::UntilClose)
        );
        // `identity` is no coding: curl's test 1493.
        assert_eq!(
            of("Transfer-Encoding: identity, chunked\r\n"),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            of("Transfer-Encoding: chunked, Identity\r\n"),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            bad("Transfer-Encoding: chunked, identity, chunked\r\n"),
            HttpError::ChunkedTwice
        );
        assert_eq!(
            bad("Transfer-Encoding: identity\r\nContent-Length: 5\r\n"),
            HttpError::LengthAndTransferEncoding
        );
        // The final coding is not chunked: until close (RFC 9112 section 6.3).
        assert_eq!(
            of("Transfer-Encoding: chunked, gzip\r\n"),
            Ok(Framing::UntilClose)
        );
        assert_eq!(
            bad("Transfer-Encoding: chunked, chunked\r\n"),
            HttpError::ChunkedTwice
        );
        assert_eq!(
            bad("Transfer-Encoding: chunked, gzip, chunked\r\n"),
            HttpError::ChunkedTwice
        );
        assert_eq!(
            bad("Transfer-Encoding: , \r\n"),
            HttpError::EmptyTransferEncoding
        );
    }

    #[test]
    fn commas_in_quoted_parameters_separate_nothing() {
        assert_eq!(
            of("Transfer-Encoding: chunked;foo=\"a,b\"\r\n"),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            of("Transfer-Encoding: gzip;q=\"x,\\\",chunked\", chunked\r\n"),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            of("Transfer-Encoding: chunked;a=\"1\", gzip\r\n"),
            Ok(Framing::UntilClose)
        );
    }

    #[test]
    fn list_elements_respect_quoted_strings() {
        fn elements(value: &[u8]) -> Vec<&[u8]> {
            list_elements(value).collect()
        }
        assert_eq!(elements(b"a, b"), [&b"a"[..], b" b"]);
        assert_eq!(elements(b"a;p=\"1,2\",b"), [&b"a;p=\"1,2\""[..], b"b"]);
        assert_eq!(elements(b"a;p=\"\\\",\",b"), [&b"a;p=\"\\\",\""[..], b"b"]);
        assert_eq!(elements(b"a;p=\"\\\\\",b"), [&b"a;p=\"\\\\\""[..], b"b"]);
        assert_eq!(elements(b""), [&b""[..]]);
    }

    #[test]
    fn content_length_with_transfer_encoding_is_an_error() {
        assert_eq!(
            bad("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
            HttpError::LengthAndTransferEncoding
        );
        assert_eq!(
            bad("Transfer-Encoding: gzip\r\nContent-Length: 5\r\n"),
            HttpError::LengthAndTransferEncoding
        );
    }

    #[test]
    fn transfer_encoding_in_http_1_0_is_an_error() {
        let head = head_with_status("HTTP/1.0 200 OK", "Transfer-Encoding: chunked\r\n");
        assert_eq!(
            framing(&head, false),
            Err(HttpError::TransferEncodingInHttp10)
        );
    }

    #[test]
    fn otherwise_until_close() {
        assert_eq!(of(""), Ok(Framing::UntilClose));
        let head = head_with_status("HTTP/1.0 200 OK", "Server: x\r\n");
        assert_eq!(framing(&head, false), Ok(Framing::UntilClose));
    }

    #[test]
    fn parse_decimal_edges() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        assert_eq!(parse_decimal(b"99999999999999999999"), None);
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b" 1"), None);
    }
}
