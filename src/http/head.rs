//! The response head: status line and header fields, parsed with httparse
//! within fixed limits, obsolete line folding unfolded.

use super::{HttpError, is_forbidden_in_value};

/// Largest response head accepted, status line to blank line. Real heads are
/// a few hundred bytes to a few KiB (cookies); 64 KiB is what nginx and curl
/// allow too, and it bounds the memory a hostile server can make us hold.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How much of a head is parsed while its end is not in sight: enough to
/// refuse at once a reply that is not HTTP (the status line comes first),
/// while a head arriving in many small reads is not parsed whole after each
/// one, which would cost time quadratic in its size.
const EARLY_PARSE_BYTES: usize = 512;

/// Most header fields accepted in one head: ample for real responses (nginx
/// and Apache refuse requests with more) while keeping the parse bounded.
pub const MAX_HEADERS: usize = 100;

/// One header field, its value unfolded (obs-fold replaced by a space).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The field name as received (a token: ASCII, compare case-insensitively).
    pub name: String,
    /// The field value, without surrounding whitespace; never holds NUL, CR or LF.
    pub value: Vec<u8>,
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The minor version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub version: u8,
    /// The status code, 100 to 599.
    pub status: u16,
    /// The reason phrase, without the whitespace before it (non-UTF-8 bytes
    /// replaced by U+FFFD); may be empty.
    pub reason: String,
    /// The header fields, in the order received.
    pub headers: Vec<Header>,
    /// The head exactly as received, status line to blank line included.
    pub raw: Vec<u8>,
}

impl ResponseHead {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers_named(name).next()
    }

    /// Every value of a header, by case-insensitive name, in the order received.
    pub fn headers_named<'s, 'n>(
        &'s self,
        name: &'n str,
    ) -> impl Iterator<Item = &'s [u8]> + use<'s, 'n> {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_slice())
    }

    /// True for a 1xx interim response, which the caller skips to read the
    /// final response after it.
    ///
    /// 101 Switching Protocols is not interim here: it only answers a request
    /// that asked to upgrade, which sockdemo never sends, and what follows it
    /// is not HTTP; [`framing`](fn@super::framing) rejects it.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }
}

/// Looks for one complete response head at the start of `buf`.
///
/// `Ok(None)`: more bytes are needed. `Ok(Some((head, n)))`: the head is
/// `buf[..n]`. An error once `buf` holds [`MAX_HEAD_BYTES`] bytes
/// without the end of a head, or when the head is malformed: at once when
/// the fault is in its first bytes (a reply that is not HTTP), otherwise
/// when the end of the head has arrived (it is parsed whole only then).
///
/// Bare LF line endings are accepted (RFC 9112 section 2.2 allows it, and
/// hand-written servers send them), and so are empty lines before the
/// status line (left over after a previous message); obsolete line folding
/// is replaced by one space. A header value with a control character (NUL,
/// a CR not followed by LF...), a status outside 100..=599, an HTTP version
/// other than 1.0 and 1.1, or more than [`MAX_HEADERS`] fields is an error.
pub fn parse_head(buf: &[u8]) -> Result<Option<(ResponseHead, usize)>, HttpError> {
    // Parsing at most MAX_HEAD_BYTES keeps the work bounded however much the
    // caller has buffered; a head that does not end within them is too large.
    let window = &buf[..buf.len().min(MAX_HEAD_BYTES)];
    let whole = buf.len() >= MAX_HEAD_BYTES || may_end(window);
    let scope = if whole {
        window
    } else {
        &window[..window.len().min(EARLY_PARSE_BYTES)]
    };
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut fields);
    let parsed = httparse::ParserConfig::default()
        .allow_obsolete_multiline_headers_in_responses(true)
        .parse_response(&mut response, scope);
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => {
            return Err(HttpError::HeadTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::TooManyHeaders),
        Err(err) => return Err(HttpError::MalformedHead(err)),
    };
    // httparse returns each field as soon as it is complete: a Complete
    // status means every field is filled in.
    let (Some(version), Some(status)) = (response.version, response.code) else {
        return Err(HttpError::MalformedHead(httparse::Error::Status));
    };
    if !(100..=599).contains(&status) {
        return Err(HttpError::StatusOutOfRange(status));
    }
    let headers = response
        .headers
        .iter()
        .map(|h| {
            let value = unfold(h.value);
            if let Some(&byte) = value.iter().find(|&&b| is_forbidden_in_value(b)) {
                return Err(HttpError::ControlByte {
                    name: h.name.to_owned(),
                    byte,
                });
            }
            Ok(Header {
                name: h.name.to_owned(),
                value,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let raw = buf[status_line_start(&buf[..len])..len].to_vec();
    let reason = reason_phrase(&raw);
    Ok(Some((
        ResponseHead {
            version,
            status,
            reason,
            headers,
            raw,
        },
        len,
    )))
}

/// Where the status line starts: the empty lines httparse skips before it
/// belong to no message.
fn status_line_start(buf: &[u8]) -> usize {
    buf.iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len())
}

/// False when `buf` cannot hold a whole head: from the status line on, no
/// line ending is followed by an empty line. A scan far cheaper than a parse.
fn may_end(buf: &[u8]) -> bool {
    let message = &buf[status_line_start(buf)..];
    message
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && matches!(message[i + 1..], [b'\n', ..] | [b'\r', b'\n', ..]))
}

/// The reason phrase from the raw status line. httparse has already checked
/// its shape (`HTTP/1.x SSS` then a space or the line end); it drops a
/// phrase with non-ASCII bytes, which is still worth showing, lossily. The
/// whitespace before the phrase is all taken as its separator (RFC 9112
/// section 4 asks for one space; some servers send more).
fn reason_phrase(raw: &[u8]) -> String {
    const BEFORE_SEPARATOR: usize = "HTTP/1.1 200".len();
    let line_end = raw.iter().position(|&b| b == b'\n').unwrap_or(raw.len());
    let line = raw[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&raw[..line_end]);
    let after_code = line.get(BEFORE_SEPARATOR..).unwrap_or_default();
    let start = after_code
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(after_code.len());
    String::from_utf8_lossy(&after_code[start..]).into_owned()
}

/// A field value with each obsolete line fold (`OWS CRLF RWS`, RFC 9112
/// section 5.2) replaced by one space.
fn unfold(value: &[u8]) -> Vec<u8> {
    if !value.contains(&b'\n') {
        return value.to_vec();
    }
    let mut out = Vec::with_capacity(value.len());
    let mut rest = value;
    while let Some(fold) = rest.iter().position(|&b| b == b'\r' || b == b'\n') {
        let before = rest[..fold].trim_ascii_end();
        out.extend_from_slice(before);
        let after = &rest[fold..];
        let skip = after
            .iter()
            .position(|&b| !matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
            .unwrap_or(after.len());
        // A fold between two words separates them; one at an end adds nothing.
        if !out.is_empty() && skip < after.len() {
            out.push(b' ');
        }
        rest = &after[skip..];
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(wire: &[u8]) -> (ResponseHead, usize) {
        parse_head(wire)
            .expect("a valid head")
            .expect("a complete head")
    }

    fn bad(wire: &[u8]) -> HttpError {
        parse_head(wire).expect_err("a malformed head")
    }

    /// httparse's verdict on a head it rejected.
    fn syntax(wire: &[u8]) -> httparse::Error {
        match bad(wire) {
            HttpError::MalformedHead(err) => err,
            other => panic!("expected MalformedHead, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_simple_head() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello";
        let (head, n) = parse(wire);
        assert_eq!(n, wire.len() - 5);
        assert_eq!(head.version, 1);
        assert_eq!(head.status, 200);
        assert_eq!(head.reason, "OK");
        assert_eq!(head.raw, &wire[..n]);
        assert_eq!(head.header("content-length"), Some(&b"5"[..]));
        assert_eq!(head.header("SERVER"), Some(&b"x"[..]));
        assert_eq!(head.header("missing"), None);
        assert!(!head.is_interim());
    }

    #[test]
    fn every_proper_prefix_needs_more() {
        let wire = b"HTTP/1.0 404 Not Found\r\nA: 1\r\n\tfolded\r\nB:\r\n\r\n";
        for cut in 0..wire.len() {
            assert_eq!(parse_head(&wire[..cut]), Ok(None), "cut at {cut}");
        }
        let (head, n) = parse(wire);
        assert_eq!((head.version, head.status, n), (0, 404, wire.len()));
        assert_eq!(head.reason, "Not Found");
    }

    #[test]
    fn only_a_buffer_that_may_hold_a_whole_head_is_parsed_whole() {
        assert!(may_end(b"HTTP/1.1 200 OK\r\n\r\n"));
        assert!(may_end(b"HTTP/1.1 200 OK\nA: 1\n\n"));
        assert!(may_end(b"\r\nHTTP/1.1 200 OK\n\r\n"));
        assert!(!may_end(b"HTTP/1.1 200 OK\r\nA: 1\r\n"));
        assert!(!may_end(b"\r\n\n\r\nHTTP/1.1 200 OK\r\n\r"));
        assert!(!may_end(b"\n\n"));
        // Beyond the start, a malformed field waits for the end of the head;
        // a reply that is not HTTP is refused at once.
        let mut late = b"HTTP/1.1 200 OK\r\n".to_vec();
        late.resize(EARLY_PARSE_BYTES, b'A');
        late.extend_from_slice(b"\r\n");
        assert_eq!(parse_head(&late), Ok(None));
        late.extend_from_slice(b"\r\n");
        assert_eq!(syntax(&late), httparse::Error::HeaderName);
        assert_eq!(syntax(b"SSH-2.0-OpenSSH_9.2\r\n"), httparse::Error::Version);
    }

    #[test]
    fn bare_lf_line_endings_are_accepted() {
        let wire = b"HTTP/1.1 200 OK\nContent-Length: 2\n\nhi";
        let (head, n) = parse(wire);
        assert_eq!(n, wire.len() - 2);
        assert_eq!(head.header("content-length"), Some(&b"2"[..]));
        assert_eq!(head.raw, b"HTTP/1.1 200 OK\nContent-Length: 2\n\n");
    }

    #[test]
    fn obsolete_line_folding_is_unfolded() {
        let wire = b"HTTP/1.1 200 OK\r\nX-Long: one  \r\n  two\r\n\tthree\r\nY:\r\n four\r\n\r\n";
        let (head, _) = parse(wire);
        assert_eq!(head.header("x-long"), Some(&b"one two three"[..]));
        assert_eq!(head.header("y"), Some(&b"four"[..]));
    }

    #[test]
    fn unfold_handles_edges() {
        assert_eq!(unfold(b"a\r\n b"), b"a b");
        assert_eq!(unfold(b"a \n\t b"), b"a b");
        assert_eq!(unfold(b"a\r\n "), b"a");
        assert_eq!(unfold(b"plain"), b"plain");
    }

    #[test]
    fn control_bytes_in_values_are_rejected() {
        // httparse refuses them first; the check after it is a second line.
        for value in [&b"a\0b"[..], b"a\rb", b"a\x7f", b"a\x01"] {
            let mut wire = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
            wire.extend_from_slice(value);
            wire.extend_from_slice(b"\r\n\r\n");
            assert_eq!(syntax(&wire), httparse::Error::HeaderValue);
        }
    }

    #[test]
    fn bare_cr_line_ending_is_rejected() {
        assert_eq!(
            syntax(b"HTTP/1.1 200 OK\rX: 1\r\n\r\n"),
            httparse::Error::Status
        );
        assert_eq!(
            syntax(b"HTTP/1.1 200 OK\r\nX: 1\r\r\n\r\n"),
            httparse::Error::HeaderValue
        );
    }

    #[test]
    fn non_ascii_values_and_reasons_are_kept() {
        let (head, _) = parse(b"HTTP/1.1 200 \xc3\xa9t\xe9\r\nX: caf\xc3\xa9\xff\r\n\r\n");
        assert_eq!(head.reason, "\u{e9}t\u{fffd}");
        assert_eq!(head.header("x"), Some(&b"caf\xc3\xa9\xff"[..]));
    }

    #[test]
    fn whitespace_before_the_reason_is_dropped() {
        assert_eq!(parse(b"HTTP/1.1 200  OK\r\n\r\n").0.reason, "OK");
        assert_eq!(
            parse(b"HTTP/1.1 200 \t Not  Found \r\n\r\n").0.reason,
            "Not  Found "
        );
    }

    #[test]
    fn missing_reason_is_empty() {
        assert_eq!(parse(b"HTTP/1.1 204\r\n\r\n").0.reason, "");
        assert_eq!(parse(b"HTTP/1.1 204 \r\n\r\n").0.reason, "");
        assert_eq!(parse(b"HTTP/1.1 204 \t \n\n").0.reason, "");
    }

    #[test]
    fn leading_empty_lines_are_skipped_but_counted() {
        let wire = b"\r\n\nHTTP/1.1 200 OK\r\n\r\n";
        let (head, n) = parse(wire);
        assert_eq!(n, wire.len());
        assert_eq!(head.raw, b"HTTP/1.1 200 OK\r\n\r\n");
    }

    #[test]
    fn malformed_status_lines_are_rejected() {
        assert_eq!(syntax(b"HTTP/2 200 OK\r\n\r\n"), httparse::Error::Version);
        assert_eq!(syntax(b"HTTP/1.1 20 OK\r\n\r\n"), httparse::Error::Status);
        assert_eq!(syntax(b"HTTP/1.1 2000 OK\r\n\r\n"), httparse::Error::Status);
        assert_eq!(syntax(b"<html>\r\n\r\n"), httparse::Error::Version);
        assert_eq!(
            bad(b"HTTP/1.1 099 Low\r\n\r\n"),
            HttpError::StatusOutOfRange(99)
        );
        assert_eq!(
            bad(b"HTTP/1.1 600 High\r\n\r\n"),
            HttpError::StatusOutOfRange(600)
        );
        assert_eq!(
            syntax(b"HTTP/1.1 200 OK\r\nNo colon\r\n\r\n"),
            httparse::Error::HeaderName
        );
        assert_eq!(
            syntax(b"HTTP/1.1 200 OK\r\nSpace : before colon\r\n\r\n"),
            httparse::Error::HeaderName
        );
    }

    #[test]
    fn header_count_is_bounded() {
        let head_with = |n: usize| {
            let mut wire = b"HTTP/1.1 200 OK\r\n".to_vec();
            for i in 0..n {
                wire.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
            }
            wire.extend_from_slice(b"\r\n");
            wire
        };
        assert_eq!(parse(&head_with(MAX_HEADERS)).0.headers.len(), MAX_HEADERS);
        assert_eq!(bad(&head_with(MAX_HEADERS + 1)), HttpError::TooManyHeaders);
    }

    #[test]
    fn head_size_is_bounded() {
        let head_of = |len: usize| {
            let mut wire = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
            wire.resize(len - 4, b'a');
            wire.extend_from_slice(b"\r\n\r\n");
            assert_eq!(wire.len(), len);
            wire
        };
        let (_, n) = parse(&head_of(MAX_HEAD_BYTES));
        assert_eq!(n, MAX_HEAD_BYTES);
        let mut too_big = head_of(MAX_HEAD_BYTES + 1);
        assert_eq!(bad(&too_big), HttpError::HeadTooLarge);
        // Still an error, not a wait, when the end is not in sight at all.
        too_big.truncate(MAX_HEAD_BYTES);
        assert!(
            parse_head(&too_big[..MAX_HEAD_BYTES - 1])
                .unwrap()
                .is_none()
        );
        assert_eq!(bad(&too_big), HttpError::HeadTooLarge);
    }

    #[test]
    fn interim_and_switching_protocols() {
        let status = |s: &str| parse(format!("HTTP/1.1 {s}\r\n\r\n").as_bytes()).0;
        assert!(status("100 Continue").is_interim());
        assert!(status("103 Early Hints").is_interim());
        assert!(!status("101 Switching Protocols").is_interim());
        assert!(!status("200 OK").is_interim());
    }

    #[test]
    fn repeated_headers() {
        let (head, _) = parse(b"HTTP/1.1 200 OK\r\nSet-Cookie: 1\r\nset-cookie: 2\r\n\r\n");
        let cookies: Vec<_> = head.headers_named("Set-Cookie").collect();
        assert_eq!(cookies, [&b"1"[..], &b"2"[..]]);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// A header field: its name, and its value as words, each joined to
        /// the previous one by a space or by an obsolete line fold.
        type Field = (String, Vec<(String, bool)>);

        fn field() -> impl Strategy<Value = Field> {
            (
                "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}",
                prop::collection::vec(("[!-~\u{80}-\u{ff}]{1,8}", any::<bool>()), 0..4),
            )
        }

        fn serialize(status_line: &str, fields: &[Field], eol: &str) -> Vec<u8> {
            let mut wire = format!("{status_line}{eol}");
            for (name, words) in fields {
                wire.push_str(&format!("{name}:"));
                for (i, (word, folded)) in words.iter().enumerate() {
                    let gap = if *folded {
                        format!("{eol} \t")
                    } else {
                        " ".into()
                    };
                    if i > 0 || *folded {
                        wire.push_str(&gap);
                    }
                    wire.push_str(word);
                }
                wire.push_str(eol);
            }
            wire.push_str(eol);
            // The generated words are Latin-1 characters standing for bytes.
            wire.chars().map(|c| c as u32 as u8).collect()
        }

        proptest! {
            #[test]
            fn any_valid_head_parses_back_and_no_prefix_is_a_head(
                version in 0u8..2,
                status in 100u16..600,
                reason in "[ -~]{0,20}",
                fields in prop::collection::vec(field(), 0..8),
                bare_lf in any::<bool>(),
                body in prop::collection::vec(any::<u8>(), 0..20),
            ) {
                let status_line = format!("HTTP/1.{version} {status} {reason}");
                let head = serialize(&status_line, &fields, if bare_lf { "\n" } else { "\r\n" });
                let mut wire = head.clone();
                wire.extend_from_slice(&body);
                let (parsed, n) = parse_head(&wire).unwrap().unwrap();
                prop_assert_eq!(n, head.len());
                prop_assert_eq!(&parsed.raw, &head);
                prop_assert_eq!(parsed.version, version);
                prop_assert_eq!(parsed.status, status);
                prop_assert_eq!(parsed.reason.as_str(), reason.trim_start_matches(' '));
                prop_assert_eq!(parsed.headers.len(), fields.len());
                for (got, (name, words)) in parsed.headers.iter().zip(&fields) {
                    prop_assert_eq!(&got.name, name);
                    let words: Vec<&str> = words.iter().map(|(w, _)| w.as_str()).collect();
                    let value: Vec<u8> = words.join(" ").chars().map(|c| c as u32 as u8).collect();
                    prop_assert_eq!(&got.value, &value);
                }
                for cut in 0..head.len() {
                    prop_assert_eq!(parse_head(&head[..cut]), Ok(None));
                }
            }

            #[test]
            fn arbitrary_bytes_never_panic_and_a_head_is_its_prefix(
                wire in prop::collection::vec(
                    prop_oneof![any::<u8>(), Just(b'\r'), Just(b'\n'), Just(b' '), Just(b':')],
                    0..200,
                ),
            ) {
                let mut input = b"HTTP/1.1 200 OK\r\n".to_vec();
                input.extend_from_slice(&wire);
                if let Ok(Some((head, n))) = parse_head(&input) {
                    prop_assert!(n <= input.len());
                    prop_assert!(input[..n].ends_with(&head.raw));
                    prop_assert_eq!(parse_head(&input[..n]), Ok(Some((head, n))));
                }
            }
        }
    }
}
