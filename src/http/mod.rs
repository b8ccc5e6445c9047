//! HTTP/1.1 response parsing and body framing, sans-IO: pure code over byte
//! slices that never touches a socket (RFC 9112). The transport lives in
//! `fetch`; this module is what makes the protocol testable and fuzzable.
//!
//! API CONTRACT (to be implemented; the signatures below are what `fetch` uses).

use std::ops::Range;

use crate::exit::Code;

/// Largest response head accepted, status line to blank line.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most header fields accepted in one head.
pub const MAX_HEADERS: usize = 100;

/// One header field, its value unfolded (obs-fold replaced by a space).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: Vec<u8>,
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The minor version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub version: u8,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<Header>,
    /// The head exactly as received, status line to blank line included.
    pub raw: Vec<u8>,
}

impl ResponseHead {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        let _ = name;
        todo!()
    }

    /// True for a 1xx interim response, which the caller skips.
    pub fn is_interim(&self) -> bool {
        todo!()
    }
}

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

/// Looks for one complete response head at the start of `buf`.
///
/// `Ok(None)`: more bytes are needed. `Ok(Some((head, n)))`: the head is
/// `buf[..n]`. An error once `buf` holds more than [`MAX_HEAD_BYTES`]
/// without the end of a head, or when the head is malformed.
pub fn parse_head(buf: &[u8]) -> Result<Option<(ResponseHead, usize)>, HttpError> {
    let _ = buf;
    todo!()
}

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
pub fn framing(head: &ResponseHead, request_was_head: bool) -> Result<Framing, HttpError> {
    let _ = (head, request_was_head);
    todo!()
}

/// One step of [`BodyDecoder::decode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Bytes of the input used up; the caller drops them.
    pub consumed: usize,
    /// Where in the input the body bytes of this step are (within `..consumed`).
    pub data: Range<usize>,
}

/// Decodes a body incrementally, over input split in any way, without copying.
#[derive(Debug)]
pub struct BodyDecoder {
    _private: (),
}

impl BodyDecoder {
    /// A decoder for a body of the given framing.
    pub fn new(framing: Framing) -> Self {
        let _ = framing;
        todo!()
    }

    /// Decodes from the start of `input`. Call again with the rest while
    /// `consumed > 0`; when it is 0 and the body is not complete, read more.
    pub fn decode(&mut self, input: &[u8]) -> Result<Step, HttpError> {
        let _ = input;
        todo!()
    }

    /// True once the whole body (and any trailers) has been decoded.
    pub fn is_complete(&self) -> bool {
        todo!()
    }

    /// The stream ended: fine if the body is complete or runs until close,
    /// [`HttpError::Truncated`] (or `BadChunk` inside a chunk line) otherwise.
    pub fn finish(&self) -> Result<(), HttpError> {
        todo!()
    }
}
