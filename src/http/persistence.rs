//! Whether a connection can carry another request once a response is read
//! (RFC 9112 section 9.3, persistence).
//!
//! HTTP/1.1 keeps a connection open by default; it is reusable only when
//! both ends mean to keep it and the response is known to be over, with
//! nothing of it left on the wire:
//!
//! - the response is HTTP/1.1 (an HTTP/1.0 server closes by default, and
//!   its `keep-alive` is a separate, older protocol not spoken here);
//! - neither the request nor the response has `Connection: close`;
//! - the body is framed by length, by chunks, or has none: a body read
//!   until the connection closes ends the connection with it;
//! - and the body was read to its end (a body left half-read would be
//!   taken for the next response).

use super::{Framing, ResponseHead};

/// True when the connection that carried a request and `head`'s response
/// can carry another request: see the module documentation. `request_close`
/// says whether the request sent `Connection: close`; `body_read` whether
/// the response's body was read to its end.
pub fn reusable(
    request_close: bool,
    head: &ResponseHead,
    framing: Framing,
    body_read: bool,
) -> bool {
    let framed = matches!(
        framing,
        Framing::NoBody | Framing::Length(_) | Framing::Chunked
    );
    head.version == 1 && !request_close && !closes(head) && framed && body_read
}

/// True when a response's `Connection` fields hold the `close` option
/// (section 9.6), in any case, in a list or in a field of its own.
pub fn closes(head: &ResponseHead) -> bool {
    head.headers_named("connection").any(|value| {
        value
            .split(|&b| b == b',')
            .any(|option| option.trim_ascii().eq_ignore_ascii_case(b"close"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_head;

    fn head(wire: &str) -> ResponseHead {
        parse_head(wire.as_bytes()).unwrap().unwrap().0
    }

    const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";

    #[test]
    fn an_http_1_1_response_read_to_its_end_leaves_the_connection_reusable() {
        assert!(reusable(false, &head(OK), Framing::Length(2), true));
        let chunked = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert!(reusable(false, &chunked, Framing::Chunked, true));
        let not_modified = head("HTTP/1.1 304 Not Modified\r\n\r\n");
        assert!(reusable(false, &not_modified, Framing::NoBody, true));
    }

    #[test]
    fn a_close_from_either_side_ends_the_connection() {
        assert!(!reusable(true, &head(OK), Framing::Length(2), true));
        for connection in ["close", "Close", "keep-alive, close", " CLOSE "] {
            let wire = format!("HTTP/1.1 200 OK\r\nConnection: {connection}\r\n\r\n");
            assert!(
                !reusable(false, &head(&wire), Framing::Length(0), true),
                "{connection}"
            );
        }
        let two_fields =
            head("HTTP/1.1 200 OK\r\nConnection: upgrade\r\nConnection: close\r\n\r\n");
        assert!(closes(&two_fields));
        let keep = head("HTTP/1.1 200 OK\r\nConnection: keep-alive, closed\r\n\r\n");
        assert!(!closes(&keep), "closed is not close");
    }

    #[test]
    fn an_unknown_end_an_unread_body_or_http_1_0_ends_the_connection() {
        let until_close = head("HTTP/1.1 200 OK\r\n\r\n");
        assert!(!reusable(false, &until_close, Framing::UntilClose, true));
        assert!(!reusable(false, &head(OK), Framing::Length(2), false));
        let old = head("HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n");
        assert!(!reusable(false, &old, Framing::Length(2), true));
    }
}
