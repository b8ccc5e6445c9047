//! Resuming a download without stitching two versions of a file together.
//!
//! A resume asks for the rest (`Range: bytes=N-`) on one condition, carried
//! by `If-Range`: that the server still has the version the first N bytes
//! came from (RFC 9110 sections 13.1.5 and 14.2). If it has, it answers 206
//! with the rest; if not, 200 with the whole new version. The validator is
//! the response's strong `ETag`, or its `Last-Modified` date when that is a
//! strong validator (at least one second older than the response's `Date`,
//! section 8.8.2.2: a file changed twice within a second would otherwise
//! look unchanged). A weak ETag, or nothing usable, means no resume: start
//! over.
//!
//! [`Resume::judge`] reads the answer. Everything here is pure: the caller
//! truncates, appends or fails.

use std::fmt;
use std::time::Duration;

use crate::http::ResponseHead;

/// What proves that the server's file is still the one being continued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validator {
    /// A strong entity tag, quotes included (`"abc"`).
    ETag(String),
    /// A `Last-Modified` date that is a strong validator, as received.
    LastModified(String),
}

impl Validator {
    /// The validator of a response, if it has one that may be used with
    /// `If-Range`: a strong ETag first; otherwise a strong Last-Modified,
    /// and only when there is no ETag at all (section 13.1.5: a client that
    /// has an entity tag must not send a date).
    pub fn of(head: &ResponseHead) -> Option<Validator> {
        if let Some(etag) = head.header("etag") {
            return strong_etag(etag).map(Validator::ETag);
        }
        let modified = text(head.header("last-modified")?)?;
        let date = text(head.header("date")?)?;
        let (modified_at, sent_at) = (
            httpdate::parse_http_date(modified).ok()?,
            httpdate::parse_http_date(date).ok()?,
        );
        let age = sent_at.duration_since(modified_at).ok()?;
        (age >= Duration::from_secs(1)).then(|| Validator::LastModified(modified.to_owned()))
    }

    /// The value for `If-Range`: the tag or the date, exactly as received.
    pub fn value(&self) -> &str {
        match self {
            Validator::ETag(tag) | Validator::LastModified(tag) => tag,
        }
    }
}

impl fmt::Display for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Validator::ETag(tag) => write!(f, "ETag {tag}"),
            Validator::LastModified(date) => write!(f, "Last-Modified {date}"),
        }
    }
}

/// A field value as text: visible ASCII and spaces only, trimmed.
fn text(value: &[u8]) -> Option<&str> {
    let value = std::str::from_utf8(value).ok()?.trim();
    value
        .bytes()
        .all(|b| b == b' ' || b.is_ascii_graphic())
        .then_some(value)
}

/// An entity tag that is strong and well formed (section 8.8.3: a quoted
/// string of visible characters other than the quote), or `None`.
fn strong_etag(value: &[u8]) -> Option<String> {
    let tag = text(value)?;
    let inner = tag.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('"') && !inner.contains(' ')).then(|| tag.to_owned())
}

/// Continuing a download at `offset`, on the condition of `validator`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// Bytes already saved: the first byte asked for.
    pub offset: u64,
    /// The validator of the response those bytes came from.
    pub validator: Validator,
    /// The length of the whole file, when that response announced one.
    pub total: Option<u64>,
}

/// What a response to a resume request means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A 206 that continues the file: append its body. `total` is the
    /// length of the whole file, when the server says.
    Append {
        /// The length of the whole file, if known.
        total: Option<u64>,
        /// Where the file ends once this body is appended: its last byte
        /// plus one. The body must end exactly there.
        end: u64,
    },
    /// A 200: the file changed, or the server ignores ranges. Its body is
    /// the whole file: start over with it (truncate what was saved).
    StartOver,
    /// A 416: the offset is not valid for the file the server has now (it
    /// shrank, or changed). Ask once more without a range.
    StartOverWithoutRange,
    /// Any other status: not an answer about the range; the response is
    /// handled as any final response (retried, or an error page).
    NotARange,
}

/// A 206 that does not continue the file: saving it would stitch two
/// versions together, or leave a hole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeMismatch {
    /// No `Content-Range`, or one that is not `bytes FIRST-LAST/TOTAL` (a
    /// multipart 206 has none either).
    Unreadable(String),
    /// It starts elsewhere than asked.
    Start {
        /// The offset asked for.
        asked: u64,
        /// Its first byte.
        first: u64,
    },
    /// The whole file's length is not the one announced before.
    Total {
        /// The length announced by the response being continued.
        announced: u64,
        /// The length this one gives (`None`: `*`).
        now: Option<u64>,
    },
    /// It stops before the end of the file.
    Short {
        /// Its last byte.
        last: u64,
        /// The length of the whole file.
        total: u64,
    },
    /// Its ETag is not the one the request was conditional on.
    Validator,
}

impl fmt::Display for RangeMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RangeMismatch::Unreadable(value) => {
                write!(
                    f,
                    "partial content with an unusable Content-Range \"{value}\""
                )
            }
            RangeMismatch::Start { asked, first } => write!(
                f,
                "partial content starts at byte {first}, not at byte {asked} as asked"
            ),
            RangeMismatch::Total { announced, now } => match now {
                Some(now) => write!(
                    f,
                    "partial content of a {now}-byte file, but the file had {announced} bytes"
                ),
                None => write!(
                    f,
                    "partial content of a file of unknown length, but the file had {announced} bytes"
                ),
            },
            RangeMismatch::Short { last, total } => write!(
                f,
                "partial content stops at byte {last} of a {total}-byte file"
            ),
            RangeMismatch::Validator => {
                f.write_str("partial content of another version of the file (its ETag differs)")
            }
        }
    }
}

impl std::error::Error for RangeMismatch {}

impl Resume {
    /// The fields a resume request adds.
    pub fn request_fields(&self) -> [(&'static str, String); 2] {
        [
            ("Range", format!("bytes={}-", self.offset)),
            ("If-Range", self.validator.value().to_owned()),
        ]
    }

    /// What the final response to the resume request means.
    pub fn judge(&self, head: &ResponseHead) -> Result<Verdict, RangeMismatch> {
        match head.status {
            200 => return Ok(Verdict::StartOver),
            416 => return Ok(Verdict::StartOverWithoutRange),
            206 => {}
            _ => return Ok(Verdict::NotARange),
        }
        if let (Validator::ETag(ours), Some(theirs)) = (&self.validator, head.header("etag"))
            && text(theirs) != Some(ours.as_str())
        {
            return Err(RangeMismatch::Validator);
        }
        let value = head.header("content-range").unwrap_or_default();
        let range = ContentRange::parse(value).ok_or_else(|| {
            RangeMismatch::Unreadable(String::from_utf8_lossy(value).into_owned())
        })?;
        if range.first != self.offset {
            return Err(RangeMismatch::Start {
                asked: self.offset,
                first: range.first,
            });
        }
        if let Some(announced) = self.total
            && range.total != Some(announced)
        {
            return Err(RangeMismatch::Total {
                announced,
                now: range.total,
            });
        }
        if let Some(total) = range.total
            && range.last + 1 != total
        {
            return Err(RangeMismatch::Short {
                last: range.last,
                total,
            });
        }
        Ok(Verdict::Append {
            total: range.total,
            end: range.last.saturating_add(1),
        })
    }
}

/// A `Content-Range: bytes FIRST-LAST/TOTAL` (section 14.4), `TOTAL` `*`
/// when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ContentRange {
    first: u64,
    last: u64,
    total: Option<u64>,
}

impl ContentRange {
    fn parse(value: &[u8]) -> Option<ContentRange> {
        let value = text(value)?;
        let (unit, rest) = value.split_once(' ')?;
        if !unit.eq_ignore_ascii_case("bytes") {
            return None;
        }
        let (range, total) = rest.trim_start().split_once('/')?;
        let (first, last) = range.split_once('-')?;
        let (first, last) = (decimal(first)?, decimal(last)?);
        let total = match total {
            "*" => None,
            total => Some(decimal(total)?),
        };
        let valid = first <= last && total.is_none_or(|total| last < total);
        valid.then_some(ContentRange { first, last, total })
    }
}

fn decimal(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_head;

    fn head(status_line: &str, fields: &str) -> ResponseHead {
        let raw = format!("{status_line}\r\n{fields}\r\n");
        parse_head(raw.as_bytes()).unwrap().unwrap().0
    }

    fn validator(fields: &str) -> Option<Validator> {
        Validator::of(&head("HTTP/1.1 200 OK", fields))
    }

    const DATE: &str = "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n";

    #[test]
    fn a_strong_etag_is_the_validator() {
        assert_eq!(
            validator("ETag: \"v1\"\r\n"),
            Some(Validator::ETag("\"v1\"".into()))
        );
        assert_eq!(
            validator("ETag: \"\"\r\n"),
            Some(Validator::ETag("\"\"".into()))
        );
        // Weak, malformed: no resume, and no falling back to the date.
        assert_eq!(
            validator(&format!(
                "ETag: W/\"v1\"\r\nLast-Modified: Sat, 05 Nov 1994 08:49:37 GMT\r\n{DATE}"
            )),
            None
        );
        assert_eq!(validator("ETag: v1\r\n"), None);
        assert_eq!(validator("ETag: \"a\"b\"\r\n"), None);
    }

    #[test]
    fn last_modified_only_when_a_second_older_than_date() {
        assert_eq!(
            validator(&format!(
                "Last-Modified: Sun, 06 Nov 1994 08:49:36 GMT\r\n{DATE}"
            )),
            Some(Validator::LastModified(
                "Sun, 06 Nov 1994 08:49:36 GMT".into()
            ))
        );
        // Modified in the second it was sent: it may change again within it.
        assert_eq!(
            validator(&format!(
                "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n{DATE}"
            )),
            None
        );
        assert_eq!(
            validator("Last-Modified: Sun, 06 Nov 1994 08:49:36 GMT\r\n"),
            None,
            "no Date: no way to tell"
        );
        assert_eq!(
            validator(&format!("Last-Modified: yesterday\r\n{DATE}")),
            None
        );
        assert_eq!(validator(""), None);
    }

    fn resume(total: Option<u64>) -> Resume {
        Resume {
            offset: 100,
            validator: Validator::ETag("\"v1\"".into()),
            total,
        }
    }

    fn judge(resume: &Resume, status_line: &str, fields: &str) -> Result<Verdict, RangeMismatch> {
        resume.judge(&head(status_line, fields))
    }

    #[test]
    fn request_fields_ask_for_the_rest_of_this_version() {
        assert_eq!(
            resume(None).request_fields(),
            [
                ("Range", "bytes=100-".to_owned()),
                ("If-Range", "\"v1\"".to_owned())
            ]
        );
    }

    #[test]
    fn a_matching_206_is_appended() {
        let partial = "HTTP/1.1 206 Partial Content";
        assert_eq!(
            judge(
                &resume(Some(1000)),
                partial,
                "Content-Range: bytes 100-999/1000\r\nETag: \"v1\"\r\n"
            ),
            Ok(Verdict::Append {
                total: Some(1000),
                end: 1000
            })
        );
        // The first response had no length: any total, or none, will do.
        assert_eq!(
            judge(&resume(None), partial, "Content-Range: bytes 100-199/*\r\n"),
            Ok(Verdict::Append {
                total: None,
                end: 200
            })
        );
        assert_eq!(
            judge(
                &resume(None),
                partial,
                "Content-Range: bytes 100-4999/5000\r\n"
            ),
            Ok(Verdict::Append {
                total: Some(5000),
                end: 5000
            })
        );
    }

    #[test]
    fn a_206_that_does_not_continue_the_file_is_refused() {
        let partial = "HTTP/1.1 206 Partial Content";
        let known = resume(Some(1000));
        assert_eq!(
            judge(&known, partial, "Content-Range: bytes 0-999/1000\r\n"),
            Err(RangeMismatch::Start {
                asked: 100,
                first: 0
            })
        );
        assert_eq!(
            judge(&known, partial, "Content-Range: bytes 100-1999/2000\r\n"),
            Err(RangeMismatch::Total {
                announced: 1000,
                now: Some(2000)
            })
        );
        assert_eq!(
            judge(&known, partial, "Content-Range: bytes 100-199/*\r\n"),
            Err(RangeMismatch::Total {
                announced: 1000,
                now: None
            })
        );
        assert_eq!(
            judge(&known, partial, "Content-Range: bytes 100-499/1000\r\n"),
            Err(RangeMismatch::Short {
                last: 499,
                total: 1000
            })
        );
        assert_eq!(
            judge(
                &known,
                partial,
                "Content-Range: bytes 100-999/1000\r\nETag: \"v2\"\r\n"
            ),
            Err(RangeMismatch::Validator)
        );
        for bad in [
            "",
            "Content-Range: bytes 100-/1000\r\n",
            "Content-Range: items 100-999/1000\r\n",
            "Content-Range: bytes 999-100/1000\r\n",
            "Content-Range: bytes 100-1000/1000\r\n",
            "Content-Range: bytes */1000\r\n",
            "Content-Type: multipart/byteranges; boundary=x\r\n",
        ] {
            assert!(
                matches!(
                    judge(&known, partial, bad),
                    Err(RangeMismatch::Unreadable(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn other_answers_say_what_to_do() {
        let known = resume(Some(1000));
        assert_eq!(judge(&known, "HTTP/1.1 200 OK", ""), Ok(Verdict::StartOver));
        assert_eq!(
            judge(
                &known,
                "HTTP/1.1 416 Range Not Satisfiable",
                "Content-Range: bytes */50\r\n"
            ),
            Ok(Verdict::StartOverWithoutRange)
        );
        assert_eq!(
            judge(&known, "HTTP/1.1 503 Service Unavailable", ""),
            Ok(Verdict::NotARange)
        );
        assert_eq!(
            judge(&known, "HTTP/1.1 404 Not Found", ""),
            Ok(Verdict::NotARange)
        );
    }
}
