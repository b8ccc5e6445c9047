//! Content and transfer codings (RFC 9110 section 8.4, RFC 9112 section 7):
//! which codings a response applies, and a streaming decoder that undoes them.
//!
//! Two fields name codings. `Transfer-Encoding` is framing: the codings
//! before a final `chunked` (`gzip, chunked`) are always undone, or the saved
//! file would hold bytes the server never meant as content. `Content-Encoding`
//! is the content itself: a client that asked for it (`--compressed`)
//! undoes it; one that did not saves it as sent.
//!
//! The decoder is sans-IO like the rest of this module: bytes go in, decoded
//! bytes come out through a callback, in pieces no larger than
//! [`DECODE_BUFFER`]. Nothing grows with the size of the body: each stage has
//! one fixed output buffer and its codec's own bounded window
//! ([`ZSTD_WINDOW_LOG_MAX`], brotli's 16 MiB at most, deflate's 32 KiB), so a
//! decompression bomb costs time, never memory; the caller bounds the size
//! of what it keeps.
//!
//! This file names the codings and reads the fields that list them;
//! `decoder` chains the stages, and each family of codings has its own
//! file: `flate` (gzip and deflate), `brotli`, `zstd`, and `chunked` (as a
//! coding that is not the final one).

mod brotli;
mod chunked;
mod decoder;
mod flate;
mod zstd;

use std::fmt;

use super::framing::{coding_names, is_identity};
use super::head::ResponseHead;

pub use self::zstd::ZSTD_WINDOW_LOG_MAX;
pub use decoder::{DECODE_BUFFER, DecodeError, Decoder};

/// Most codings one field may stack (`gzip, br, ...`): curl's limit too. Each
/// is a stage with its own buffer and window, so their number is bounded.
pub const MAX_CODINGS: usize = 5;

/// A coding sockdemo can undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// `gzip` or `x-gzip` (RFC 1952).
    Gzip,
    /// `deflate`: zlib (RFC 1950), or raw deflate as some servers send it.
    Deflate,
    /// `br` (RFC 7932).
    Brotli,
    /// `zstd` (RFC 8878).
    Zstd,
    /// `chunked` when it is not the final transfer coding (`chunked, gzip`):
    /// the framing then runs until close, and the chunks are undone here.
    Chunked,
}

impl Coding {
    /// The coding a list element of `field` names (case-insensitive); `None`
    /// when unknown. `chunked` is a transfer coding only.
    fn named(name: &[u8], field: &str) -> Option<Coding> {
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        if is("chunked") && field == TRANSFER_ENCODING {
            Some(Coding::Chunked)
        } else if is("gzip") || is("x-gzip") {
            Some(Coding::Gzip)
        } else if is("deflate") {
            Some(Coding::Deflate)
        } else if is("br") {
            Some(Coding::Brotli)
        } else if is("zstd") {
            Some(Coding::Zstd)
        } else {
            None
        }
    }

    /// Its name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
            Coding::Chunked => "chunked",
        }
    }
}

impl fmt::Display for Coding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a coding list cannot be used or a coded body cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodingError {
    /// A coding sockdemo does not know (`compress`, a typo...), in the named field.
    Unknown {
        /// `Transfer-Encoding` or `Content-Encoding`.
        field: &'static str,
        /// The coding as received (lossily decoded).
        coding: String,
    },
    /// More than [`MAX_CODINGS`] codings in one field.
    TooMany {
        /// `Transfer-Encoding` or `Content-Encoding`.
        field: &'static str,
    },
    /// The coded data is invalid.
    Corrupt {
        /// The coding whose data is invalid.
        coding: Coding,
        /// What the codec said, or what is wrong.
        detail: String,
    },
    /// The coded data ends before its end of stream.
    Truncated {
        /// The coding whose stream is cut short.
        coding: Coding,
    },
    /// Bytes follow the end of a coded stream that allows nothing after it.
    TrailingData {
        /// The coding whose stream ended.
        coding: Coding,
    },
}

impl fmt::Display for CodingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodingError::Unknown { field, coding } => {
                write!(f, "unrecognized {field} coding \"{coding}\"")
            }
            CodingError::TooMany { field } => {
                write!(f, "{field} stacks more than {MAX_CODINGS} codings")
            }
            CodingError::Corrupt { coding, detail } => {
                write!(f, "invalid {coding} data: {detail}")
            }
            CodingError::Truncated { coding } => {
                write!(f, "the {coding} data ends before its end of stream")
            }
            CodingError::TrailingData { coding } => {
                write!(f, "data follows the end of the {coding} stream")
            }
        }
    }
}

impl std::error::Error for CodingError {}

/// The codings a `Transfer-Encoding` applies before its final `chunked`, in the
/// order applied; every coding when `chunked` is not last (the body then runs
/// until close, RFC 9112 section 6.3). Which framing results is
/// [`framing`](fn@super::framing)'s to say; this is what is left to undo.
/// `identity` changes nothing and is left out (curl's test 1493 sends
/// `identity, chunked`).
pub fn transfer_codings(head: &ResponseHead) -> Result<Vec<Coding>, CodingError> {
    let mut names = coding_names(head, "transfer-encoding");
    names.retain(|name| !is_identity(name));
    if names
        .last()
        .is_some_and(|last| last.eq_ignore_ascii_case(b"chunked"))
    {
        names.pop();
    }
    known_codings(&names, TRANSFER_ENCODING)
}

const TRANSFER_ENCODING: &str = "Transfer-Encoding";

/// The codings a `Content-Encoding` applies, in the order applied; `identity`
/// (no coding) is left out.
pub fn content_codings(head: &ResponseHead) -> Result<Vec<Coding>, CodingError> {
    let mut names = coding_names(head, "content-encoding");
    names.retain(|name| !is_identity(name));
    known_codings(&names, "Content-Encoding")
}

fn known_codings(names: &[&[u8]], field: &'static str) -> Result<Vec<Coding>, CodingError> {
    if names.len() > MAX_CODINGS {
        return Err(CodingError::TooMany { field });
    }
    names
        .iter()
        .map(|&name| {
            Coding::named(name, field).ok_or_else(|| CodingError::Unknown {
                field,
                coding: String::from_utf8_lossy(name).into_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_head;

    fn head(fields: &str) -> ResponseHead {
        let raw = format!("HTTP/1.1 200 OK\r\n{fields}\r\n");
        parse_head(raw.as_bytes()).unwrap().unwrap().0
    }

    #[test]
    fn lists_name_known_codings_in_order() {
        assert_eq!(
            transfer_codings(&head("Transfer-Encoding: gzip, chunked\r\n")),
            Ok(vec![Coding::Gzip])
        );
        assert_eq!(
            transfer_codings(&head(
                "Transfer-Encoding: x-gzip\r\nTransfer-Encoding: chunked\r\n"
            )),
            Ok(vec![Coding::Gzip])
        );
        assert_eq!(
            transfer_codings(&head("Transfer-Encoding: chunked\r\n")),
            Ok(vec![])
        );
        assert_eq!(
            transfer_codings(&head("Transfer-Encoding: Deflate\r\n")),
            Ok(vec![Coding::Deflate])
        );
        assert_eq!(transfer_codings(&head("")), Ok(vec![]));
        assert_eq!(
            transfer_codings(&head(
                "Transfer-Encoding: identity, gzip, IDENTITY, chunked\r\n"
            )),
            Ok(vec![Coding::Gzip])
        );
        assert_eq!(
            transfer_codings(&head("Transfer-Encoding: compress, chunked\r\n")),
            Err(CodingError::Unknown {
                field: "Transfer-Encoding",
                coding: "compress".into()
            })
        );
        assert_eq!(
            content_codings(&head("Content-Encoding: gzip, identity, BR;q=1, zstd\r\n")),
            Ok(vec![Coding::Gzip, Coding::Brotli, Coding::Zstd])
        );
        assert_eq!(
            content_codings(&head("Content-Encoding: gzip,gzip,gzip,gzip,gzip,gzip\r\n")),
            Err(CodingError::TooMany {
                field: "Content-Encoding"
            })
        );
        assert_eq!(
            content_codings(&head("Content-Encoding: xz\r\n"))
                .unwrap_err()
                .to_string(),
            "unrecognized Content-Encoding coding \"xz\""
        );
    }

    #[test]
    fn chunked_is_a_transfer_coding_only() {
        // `Transfer-Encoding: chunked, gzip`: chunked first, then gzip.
        assert_eq!(
            transfer_codings(&head("Transfer-Encoding: chunked, gzip\r\n")),
            Ok(vec![Coding::Chunked, Coding::Gzip])
        );
        assert!(content_codings(&head("Content-Encoding: chunked\r\n")).is_err());
    }
}
