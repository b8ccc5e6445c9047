//! HTTP/1.1 for a client, sans-IO: pure code over byte slices and URLs that
//! never touches a socket (RFC 9110, RFC 9112). The transport lives in
//! `fetch`; this module is what makes the protocol testable and fuzzable.
//!
//! | module | owns |
//! |---|---|
//! | `request` | the request head: method, request target, header fields, `-H` and `-A` |
//! | `head` | parsing a response head |
//! | `framing`, `body`, `chunked` | how a body is delimited, and decoding it |
//! | `coding` | content and transfer codings (gzip, deflate, br, zstd) |
//! | `redirect` | follow or stop, the redirect count, the URLs a fetch can send, fields for the first origin only |
//! | `range` | `Range` and `If-Range`, and what the answer to them means |
//! | `conditional` | `If-Modified-Since`, `If-Unmodified-Since` and `Last-Modified` for `-N` and `-z`, the dates `-z` takes |
//! | `disposition` | the file name of `Content-Disposition`, for `-J`, reduced to a safe plain name |
//! | `persistence` | whether a connection can carry another request (the kept-alive connections of a fetch of several URLs) |
//! | `error` | every way a response can break the protocol |
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
//!    stream tells a complete body from a cut one. For a body held whole in
//!    memory, [`BodyDecoder::decode_all`] does both.
//!
//! Each fault is an [`HttpError`] kind; what a kind means to a user (an exit
//! code, say) is for the command that reads the response to decide.
//!
//! ```
//! use sockdemo::http::{parse_head, framing, BodyDecoder};
//!
//! let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
//! let (head, n) = parse_head(wire).unwrap().unwrap();
//! let mut decoder = BodyDecoder::new(framing(&head, false).unwrap());
//! assert_eq!(decoder.decode_all(&wire[n..]).unwrap(), b"hello");
//! ```
//!
//! Every line this module needs whole (a head, a chunk-size line, a trailer
//! field) is bounded by a named limit no larger than [`MAX_HEAD_BYTES`], so a
//! caller whose buffer holds `MAX_HEAD_BYTES` always makes progress or gets an
//! error: it never waits for more input with a full buffer.

mod body;
mod chunked;
mod coding;
mod conditional;
mod disposition;
mod error;
mod framing;
mod head;
mod persistence;
mod range;
mod redirect;
mod request;

pub use body::{Arrival, BodyDecoder, Step};
pub use chunked::{MAX_CHUNK_LINE_BYTES, MAX_CHUNK_SIZE_DIGITS, MAX_TRAILER_BYTES};
pub use coding::{
    Coding, CodingError, DECODE_BUFFER, DecodeError, Decoder, MAX_CODINGS, ZSTD_WINDOW_LOG_MAX,
    content_codings, transfer_codings,
};
pub use conditional::{Answer, TimeCondition, parse_date};
pub use disposition::{MAX_NAME_BYTES, NameRefusal, disposition_name};
pub use error::{HttpError, Truncation};
pub use framing::{Framing, framing};
pub use head::{Header, MAX_HEAD_BYTES, MAX_HEADERS, ResponseHead, parse_head};
pub use persistence::{closes, reusable};
pub use range::{RangeMismatch, Resume, Validator, Verdict, judge_unranged};
pub use redirect::{Redirect, RedirectError, Redirects, UrlError, goes_to, same_origin, sendable};
pub use request::{
    Custom, DEFAULT_USER_AGENT, FieldError, Method, RequestHeaders, absolute_form,
    hide_credentials, host_header, is_token, origin_form, parse_custom, parse_user_agent,
    request_head,
};

// The promise of the module documentation: a head-sized buffer always holds
// a whole framing line. Checked when compiling.
const _: () =
    assert!(MAX_CHUNK_LINE_BYTES <= MAX_HEAD_BYTES && MAX_TRAILER_BYTES <= MAX_HEAD_BYTES);

/// True for the bytes a field value must not hold (RFC 9110 section 5.5):
/// the controls other than HTAB, and DEL. The one definition used for header
/// fields and for trailer fields alike.
pub fn is_forbidden_in_value(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_but_tab_are_forbidden_in_values() {
        assert!(is_forbidden_in_value(0) && is_forbidden_in_value(b'\r'));
        assert!(is_forbidden_in_value(b'\n') && is_forbidden_in_value(0x7f));
        assert!(!is_forbidden_in_value(b'\t') && !is_forbidden_in_value(b' '));
        assert!(!is_forbidden_in_value(b'~') && !is_forbidden_in_value(0x80));
    }
}
