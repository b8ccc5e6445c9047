//! HTTP/1.1 response parsing and body framing, sans-IO: pure code over byte
//! slices that never touches a socket (RFC 9112). The transport lives in
//! `fetch`; this module is what makes the protocol testable and fuzzable.
//!
//! A response is read in three steps, each a pure function or state machine:
//!
//! 1. [`parse_head`] finds and parses the response head at the start of a
//!    buffer (call it again after each read until it returns a head). A 1xx
//!    interim head ([`ResponseHead::is_interim`]) is skipped by the caller,
//!    which then parses the next head from the bytes after it.
//! 2. [`framing()`] decides how the body is delimited (RFC 9112 section 6.3).
//! 3. A [`BodyDecoder`] for that framing turns the bytes after the head into
//!    body bytes, without copying: each [`Step`] says how much input was used
//!    and where in it the body bytes are. [`BodyDecoder::finish`] at end of
//!    stream tells a complete body from a cut one.
//!
//! ```
//! use sockdemo::http::{parse_head, framing, BodyDecoder};
//!
//! let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
//! let (head, n) = parse_head(wire).unwrap().unwrap();
//! let mut decoder = BodyDecoder::new(framing(&head, false).unwrap());
//! let mut input = &wire[n..];
//! let mut body = Vec::new();
//! loop {
//!     let step = decoder.decode(input).unwrap();
//!     body.extend_from_slice(&input[step.data]);
//!     input = &input[step.consumed..];
//!     if step.consumed == 0 {
//!         break;
//!     }
//! }
//! assert!(decoder.is_complete());
//! assert_eq!(body, b"hello");
//! ```
//!
//! Every line this module needs whole (a head, a chunk-size line, a trailer
//! field) is bounded by a named limit no larger than [`MAX_HEAD_BYTES`], so a
//! caller whose buffer holds `MAX_HEAD_BYTES` always makes progress or gets an
//! error: it never waits for more input with a full buffer.

mod body;
mod chunked;
mod coding;
mod framing;
mod head;

use crate::exit::Code;

pub use body::{BodyDecoder, Step};
pub use chunked::{MAX_CHUNK_LINE_BYTES, MAX_TRAILER_BYTES};
pub use coding::{
    Coding, CodingError, DECODE_BUFFER, DecodeError, Decoder, MAX_CODINGS, ZSTD_WINDOW_LOG_MAX,
    content_codings, transfer_codings,
};
pub use framing::{Framing, framing};
pub use head::{Header, MAX_HEAD_BYTES, MAX_HEADERS, ResponseHead, parse_head};

// The promise of the module documentation: a head-sized buffer always holds
// a whole framing line. Checked when compiling.
const _: () =
    assert!(MAX_CHUNK_LINE_BYTES <= MAX_HEAD_BYTES && MAX_TRAILER_BYTES <= MAX_HEAD_BYTES);

/// What went wrong in a response; each kind maps to one exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The head is malformed, too large, or has a conflicting framing (exit 8).
    BadHead(String),
    /// A chunked body is malformed (exit 8).
    BadChunk(String),
    /// The stream ended before the end of the body (exit 18).
    Truncated(String),
}

impl HttpError {
    /// The exit code for this error.
    pub fn code(&self) -> Code {
        match self {
            HttpError::BadHead(_) | HttpError::BadChunk(_) => Code::BadResponse,
            HttpError::Truncated(_) => Code::PartialBody,
        }
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::BadHead(m) | HttpError::BadChunk(m) | HttpError::Truncated(m) => {
                f.write_str(m)
            }
        }
    }
}

impl std::error::Error for HttpError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_curls_codes() {
        assert_eq!(HttpError::BadHead("x".into()).code() as u8, 8);
        assert_eq!(HttpError::BadChunk("x".into()).code() as u8, 8);
        assert_eq!(HttpError::Truncated("x".into()).code() as u8, 18);
        assert_eq!(HttpError::Truncated("cut".into()).to_string(), "cut");
    }
}
