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
//! [`Resume::judge`] reads the answer, both ways: the server must have
//! honoured the condition (a 206 carries the validator it was asked with:
//! the same strong ETag, or the same date), and what the 206 carries must
//! not contradict the response being continued (a range elsewhere, another
//! length, an ETag where that response had none). A 206 that was not asked
//! for ([`judge_unranged`]) is taken only when it holds the whole file.
//! Everything here is pure: the caller truncates, appends or starts over.

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

    /// Which field it is, as its name: `ETag` or `Last-Modified`.
    pub fn kind(&self) -> &'static str {
        match self {
            Validator::ETag(_) => "ETag",
            Validator::LastModified(_) => "Last-Modified",
        }
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
            Validator::ETag(value) | Validator::LastModified(value) => {
                write!(f, "{} {value}", self.kind())
            }
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
    /// A 200: the file changed, or the server ignores ranges; or a 206
    /// that holds the whole file. Its body is the whole file: start over
    /// with it (truncate what was saved).
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
    /// It does not carry the validator the request was conditional on:
    /// another ETag or date (section 13.1.5: a server ignoring `If-Range`
    /// sends the range of whatever it has now), or none at all.
    Validator {
        /// The validator asked with.
        asked: Validator,
        /// What the 206 carries in its place, as received.
        found: Option<String>,
    },
    /// An ETag, when the response being continued had none (its validator
    /// is its date): the server's file is not the one it described.
    UnexpectedETag(String),
    /// A 206 to a request without `Range` that does not hold the whole file
    /// (section 14.4: its `Content-Range` must run from the first byte to
    /// the last of a known length).
    NotWhole(String),
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
            RangeMismatch::Validator { asked, found } => match found {
                Some(found) => write!(
                    f,
                    "partial content of another version of the file: {} {found}, not {}",
                    asked.kind(),
                    asked.value()
                ),
                None => write!(f, "partial content without the {asked} it was asked for"),
            },
            RangeMismatch::UnexpectedETag(tag) => write!(
                f,
                "partial content with ETag {tag}, but the file had no ETag"
            ),
            RangeMismatch::NotWhole(value) => write!(
                f,
                "partial content to a request for the whole file (Content-Range \"{value}\")"
            ),
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
        self.check_validator(head)?;
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

    /// Checks that a 206 carries the validator the request was conditional
    /// on, and no ETag the continued response did not have: a
    /// [`Validator::LastModified`] is only ever chosen when that response
    /// had no ETag at all.
    fn check_validator(&self, head: &ResponseHead) -> Result<(), RangeMismatch> {
        let received = |name| {
            head.header(name)
                .map(|v| String::from_utf8_lossy(v).trim().to_owned())
        };
        let etag = received("etag");
        let (found, matches) = match &self.validator {
            Validator::ETag(ours) => {
                let matches = etag.as_deref() == Some(ours.as_str());
                (etag, matches)
            }
            Validator::LastModified(ours) => {
                if let Some(tag) = etag {
                    return Err(RangeMismatch::UnexpectedETag(tag));
                }
                let date = received("last-modified");
                let matches = date.as_deref().is_some_and(|date| same_date(date, ours));
                (date, matches)
            }
        };
        if matches {
            Ok(())
        } else {
            Err(RangeMismatch::Validator {
                asked: self.validator.clone(),
                found,
            })
        }
    }
}

/// Two HTTP dates that name the same second; as text when either cannot be
/// read as a date (a strong validator is always one that can).
fn same_date(a: &str, b: &str) -> bool {
    match (httpdate::parse_http_date(a), httpdate::parse_http_date(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// What a response to a request without `Range` means for the body: a 206
/// is taken as the whole file only when its `Content-Range` covers all of
/// it (`bytes 0-LAST/TOTAL`, LAST the last byte of TOTAL), as a server may
/// send for a range nobody asked for (section 14.4); anything else would
/// save a piece as if it were the file. Any other status is not about
/// ranges.
pub fn judge_unranged(head: &ResponseHead) -> Result<Verdict, RangeMismatch> {
    if head.status != 206 {
        return Ok(Verdict::NotARange);
    }
    let value = head.header("content-range").unwrap_or_default();
    match ContentRange::parse(value) {
        Some(ContentRange {
            first: 0,
            last,
            total: Some(total),
        }) if last + 1 == total => Ok(Verdict::StartOver),
        _ => Err(RangeMismatch::NotWhole(
            String::from_utf8_lossy(value).into_owned(),
        )),
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
            judge(
                &resume(None),
                partial,
                "Content-Range: bytes 100-199/*\r\nETag: \"v1\"\r\n"
            ),
            Ok(Verdict::Append {
                total: None,
                end: 200
            })
        );
        assert_eq!(
            judge(
                &resume(None),
                partial,
                "ETag:  \"v1\" \r\nContent-Range: bytes 100-4999/5000\r\n"
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
        let judge = |resume: &Resume, status_line: &str, fields: &str| {
            judge(resume, status_line, &format!("ETag: \"v1\"\r\n{fields}"))
        };
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
    fn a_206_must_carry_the_etag_it_was_asked_with() {
        let partial = "HTTP/1.1 206 Partial Content";
        let range = "Content-Range: bytes 100-999/1000\r\n";
        let known = resume(Some(1000));
        let asked = Validator::ETag("\"v1\"".into());
        for (etag, found) in [
            ("ETag: \"v2\"\r\n", Some("\"v2\"")),
            // The same tag, weak: not the same bytes (section 8.8.3.2).
            ("ETag: W/\"v1\"\r\n", Some("W/\"v1\"")),
            ("", None),
        ] {
            assert_eq!(
                judge(&known, partial, &format!("{range}{etag}")),
                Err(RangeMismatch::Validator {
                    asked: asked.clone(),
                    found: found.map(str::to_owned)
                }),
                "{etag:?}"
            );
        }
        let err = judge(&known, partial, &format!("{range}ETag: \"v2\"\r\n")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "partial content of another version of the file: ETag \"v2\", not \"v1\""
        );
        assert_eq!(
            judge(&known, partial, range).unwrap_err().to_string(),
            "partial content without the ETag \"v1\" it was asked for"
        );
    }

    #[test]
    fn a_206_must_carry_the_date_it_was_asked_with_and_no_etag() {
        let partial = "HTTP/1.1 206 Partial Content";
        let range = "Content-Range: bytes 100-999/1000\r\n";
        let date = "Sun, 06 Nov 1994 08:49:36 GMT";
        let known = Resume {
            offset: 100,
            validator: Validator::LastModified(date.into()),
            total: Some(1000),
        };
        let append = Ok(Verdict::Append {
            total: Some(1000),
            end: 1000,
        });
        assert_eq!(
            judge(
                &known,
                partial,
                &format!("{range}Last-Modified: {date}\r\n")
            ),
            append
        );
        // The same second in the obsolete RFC 850 form is the same date.
        assert_eq!(
            judge(
                &known,
                partial,
                &format!("{range}Last-Modified: Sunday, 06-Nov-94 08:49:36 GMT\r\n")
            ),
            append
        );
        let later = "Sun, 06 Nov 1994 08:49:38 GMT";
        assert_eq!(
            judge(
                &known,
                partial,
                &format!("{range}Last-Modified: {later}\r\n")
            ),
            Err(RangeMismatch::Validator {
                asked: known.validator.clone(),
                found: Some(later.into())
            })
        );
        assert_eq!(
            judge(&known, partial, range),
            Err(RangeMismatch::Validator {
                asked: known.validator.clone(),
                found: None
            })
        );
        // The file continued had no ETag: one now contradicts it.
        assert_eq!(
            judge(
                &known,
                partial,
                &format!("{range}Last-Modified: {date}\r\nETag: \"x\"\r\n")
            ),
            Err(RangeMismatch::UnexpectedETag("\"x\"".into()))
        );
        assert_eq!(
            judge(
                &known,
                partial,
                &format!("{range}Last-Modified: {later}\r\n")
            )
            .unwrap_err()
            .to_string(),
            format!(
                "partial content of another version of the file: Last-Modified {later}, not {date}"
            )
        );
    }

    #[test]
    fn a_206_not_asked_for_is_taken_only_when_it_holds_the_whole_file() {
        let unranged = |fields: &str| judge_unranged(&head("HTTP/1.1 206 Partial Content", fields));
        assert_eq!(
            unranged("Content-Range: bytes 0-999/1000\r\n"),
            Ok(Verdict::StartOver)
        );
        for piece in ["bytes 0-99/1000", "bytes 100-999/1000", "bytes 0-999/*", ""] {
            assert_eq!(
                unranged(&format!("Content-Range: {piece}\r\n")),
                Err(RangeMismatch::NotWhole(piece.into())),
                "{piece}"
            );
        }
        assert_eq!(
            unranged("Content-Range: bytes 0-99/1000\r\n")
                .unwrap_err()
                .to_string(),
            "partial content to a request for the whole file (Content-Range \"bytes 0-99/1000\")"
        );
        for status in ["HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found"] {
            assert_eq!(judge_unranged(&head(status, "")), Ok(Verdict::NotARange));
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
