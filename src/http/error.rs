//! What can be wrong with a response: one kind per fault, with the
//! offending value where it helps the user (the conflicting lengths, the
//! malformed line), in the manner of httparse's `Error`. This module knows
//! nothing of exit codes: the command that reads a response decides what
//! each kind means to its user.

use std::fmt;

use super::{
    MAX_CHUNK_LINE_BYTES, MAX_CHUNK_SIZE_DIGITS, MAX_HEAD_BYTES, MAX_HEADERS, MAX_TRAILER_BYTES,
};

/// What went wrong in a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    // The head.
    /// The head did not end within [`MAX_HEAD_BYTES`].
    HeadTooLarge,
    /// The head has more than [`MAX_HEADERS`] fields.
    TooManyHeaders,
    /// httparse rejected the head: the kind says what it tripped on.
    MalformedHead(httparse::Error),
    /// The status code is outside 100-599.
    StatusOutOfRange(u16),
    /// A header value holds a control byte (see [`is_forbidden_in_value`](super::is_forbidden_in_value)).
    ControlByte {
        /// The header's name.
        name: String,
        /// The byte.
        byte: u8,
    },

    // How the body is delimited.
    /// A 101 Switching Protocols, which answers only a request to upgrade.
    SwitchingProtocols,
    /// Both `Transfer-Encoding` and `Content-Length`: the smuggling case.
    LengthAndTransferEncoding,
    /// `Transfer-Encoding` in an HTTP/1.0 response.
    TransferEncodingInHttp10,
    /// A `Transfer-Encoding` with no coding in it.
    EmptyTransferEncoding,
    /// `chunked` applied before another coding (or twice).
    ChunkedNotLast,
    /// A `Content-Length` that is not one decimal number a u64 holds.
    InvalidContentLength(Vec<u8>),
    /// Two different `Content-Length` values.
    ConflictingContentLength {
        /// The value seen first.
        first: u64,
        /// The value that disagrees with it.
        second: u64,
    },

    // A chunked body.
    /// A chunk-size line longer than [`MAX_CHUNK_LINE_BYTES`].
    ChunkLineTooLong,
    /// A chunk-size line that does not start with a hex digit (the line, without its ending).
    ChunkSizeNotHex(Vec<u8>),
    /// A chunk size of more than [`MAX_CHUNK_SIZE_DIGITS`] significant digits.
    ChunkSizeTooLarge,
    /// A chunk-size line malformed after its digits (the line, without its ending).
    MalformedChunkLine(Vec<u8>),
    /// Chunk data that goes on past its size.
    ChunkDataTooLong,
    /// A trailer section larger than [`MAX_TRAILER_BYTES`].
    TrailersTooLarge,
    /// A trailer line that is not a field (the line, without its ending).
    MalformedTrailer(Vec<u8>),

    // The end of the stream.
    /// The stream ended before the end of the body.
    Truncated(Truncation),
}

/// Where a body was cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truncation {
    /// A `Content-Length` body: `received` of `expected` bytes arrived.
    Length {
        /// Body bytes received.
        received: u64,
        /// Body bytes announced.
        expected: u64,
    },
    /// A chunked body, between chunks, before the last one.
    BeforeLastChunk,
    /// A chunked body, inside a chunk's data or its line ending.
    InsideChunk,
    /// A chunked body, inside the trailer section.
    InsideTrailers,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::HeadTooLarge => {
                write!(f, "response head larger than {MAX_HEAD_BYTES} bytes")
            }
            HttpError::TooManyHeaders => {
                write!(f, "response head has more than {MAX_HEADERS} header fields")
            }
            HttpError::MalformedHead(err) => {
                let what = match err {
                    httparse::Error::Version => "not an HTTP/1.0 or HTTP/1.1 status line",
                    httparse::Error::Status => "malformed status line",
                    httparse::Error::HeaderName => "invalid byte in a header name",
                    httparse::Error::HeaderValue => "invalid byte in a header value",
                    httparse::Error::NewLine => "invalid line ending",
                    httparse::Error::Token => "invalid token",
                    httparse::Error::TooManyHeaders => "too many header fields",
                };
                write!(f, "malformed response head: {what}")
            }
            HttpError::StatusOutOfRange(status) => {
                write!(f, "status code {status:03} is outside 100-599")
            }
            HttpError::ControlByte { name, byte } => {
                write!(f, "header {name} holds the control byte {byte:#04x}")
            }
            HttpError::SwitchingProtocols => {
                f.write_str("unexpected 101 Switching Protocols: no upgrade was asked for")
            }
            HttpError::LengthAndTransferEncoding => {
                f.write_str("response has both Transfer-Encoding and Content-Length")
            }
            HttpError::TransferEncodingInHttp10 => {
                f.write_str("HTTP/1.0 response with Transfer-Encoding")
            }
            HttpError::EmptyTransferEncoding => f.write_str("empty Transfer-Encoding"),
            HttpError::ChunkedNotLast => {
                f.write_str("Transfer-Encoding applies chunked before another coding")
            }
            HttpError::InvalidContentLength(value) => {
                write!(f, "invalid Content-Length: {}", Quoted(value))
            }
            HttpError::ConflictingContentLength { first, second } => {
                write!(f, "conflicting Content-Length values: {first} and {second}")
            }
            HttpError::ChunkLineTooLong => write!(
                f,
                "chunk size line longer than {MAX_CHUNK_LINE_BYTES} bytes"
            ),
            HttpError::ChunkSizeNotHex(line) => {
                write!(
                    f,
                    "chunk size is not a hexadecimal number: {}",
                    Quoted(line)
                )
            }
            HttpError::ChunkSizeTooLarge => write!(
                f,
                "chunk size has more than {MAX_CHUNK_SIZE_DIGITS} significant hex digits"
            ),
            HttpError::MalformedChunkLine(line) => {
                write!(f, "malformed chunk size line: {}", Quoted(line))
            }
            HttpError::ChunkDataTooLong => f.write_str("chunk data is longer than its size"),
            HttpError::TrailersTooLarge => {
                write!(f, "trailer section longer than {MAX_TRAILER_BYTES} bytes")
            }
            HttpError::MalformedTrailer(line) => {
                write!(f, "malformed trailer field: {}", Quoted(line))
            }
            HttpError::Truncated(cut) => cut.fmt(f),
        }
    }
}

impl fmt::Display for Truncation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let where_ = match self {
            Truncation::Length { received, expected } => {
                return write!(
                    f,
                    "the body ended early: got {received} of {expected} bytes"
                );
            }
            Truncation::BeforeLastChunk => "before the last chunk",
            Truncation::InsideChunk => "inside a chunk",
            Truncation::InsideTrailers => "inside the trailer section",
        };
        write!(
            f,
            "the chunked body ended early: connection closed {where_}"
        )
    }
}

// httparse's error is not given as the source: its message would repeat
// what ours says, in words less precise.
impl std::error::Error for HttpError {}

/// Bytes from the wire, shown between double quotes with anything but
/// printable ASCII escaped (`\r`, `\x00`), so that a hostile server cannot
/// write to the user's terminal through an error message.
struct Quoted<'a>(&'a [u8]);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.escape_ascii())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_offending_values() {
        let conflicting = HttpError::ConflictingContentLength {
            first: 5,
            second: 6,
        };
        assert_eq!(
            conflicting.to_string(),
            "conflicting Content-Length values: 5 and 6"
        );
        let line = HttpError::MalformedChunkLine(b"005 5".to_vec());
        assert_eq!(line.to_string(), "malformed chunk size line: \"005 5\"");
        let hostile = HttpError::InvalidContentLength(b"1\x1b[2J\"".to_vec());
        assert_eq!(
            hostile.to_string(),
            "invalid Content-Length: \"1\\x1b[2J\\\"\""
        );
        let cut = HttpError::Truncated(Truncation::Length {
            received: 4,
            expected: 10,
        });
        assert_eq!(cut.to_string(), "the body ended early: got 4 of 10 bytes");
    }

    #[test]
    fn a_malformed_head_says_what_httparse_tripped_on() {
        let err = HttpError::MalformedHead(httparse::Error::Version);
        assert_eq!(
            err.to_string(),
            "malformed response head: not an HTTP/1.0 or HTTP/1.1 status line"
        );
    }
}
