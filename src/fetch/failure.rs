//! What a failure means: the exit code of each way a response can break
//! the protocol or a redirect fail, the failures of a fetch's own that
//! retrying tells apart, and which failures are worth another attempt. The
//! one place where [`crate::http`]'s typed errors become exit codes.

use crate::exit::{Code, fail, io_cause};
use crate::http::{HttpError, RedirectError, UrlError};

use std::fmt;

use super::retry::Failure;

/// The connection closed inside the response head: a malformed reply
/// (exit 8) that, unlike a malformed head, may go better another time.
#[derive(Debug)]
pub struct HeadCut;

impl fmt::Display for HeadCut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the connection closed before the end of the response head")
    }
}

impl std::error::Error for HeadCut {}

/// The output cannot be emptied to take a new version of the file
/// (standard output, a FIFO): the download fails with the error that made
/// it try again.
#[derive(Debug)]
pub struct CannotStartOver;

impl fmt::Display for CannotStartOver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the server sent the whole file again, and the output cannot be emptied to take it",
        )
    }
}

impl std::error::Error for CannotStartOver {}

/// The exit code of each way a response can break the protocol: a body
/// cut short is a partial file (curl's 18), every other fault a malformed
/// reply (8). Each kind is listed, so that a new one needs a decision here.
pub fn exit_code(err: &HttpError) -> Code {
    match err {
        HttpError::Truncated(_) => Code::PartialBody,
        HttpError::HeadTooLarge
        | HttpError::TooManyHeaders
        | HttpError::MalformedHead(_)
        | HttpError::ControlByte { .. }
        | HttpError::SwitchingProtocols
        | HttpError::LengthAndTransferEncoding
        | HttpError::TransferEncodingInHttp10
        | HttpError::EmptyTransferEncoding
        | HttpError::ChunkedTwice
        | HttpError::InvalidContentLength(_)
        | HttpError::ConflictingContentLength { .. }
        | HttpError::ChunkLineTooLong
        | HttpError::ChunkSizeNotHex(_)
        | HttpError::ChunkSizeTooLarge
        | HttpError::MalformedChunkLine(_)
        | HttpError::ChunkDataTooLong
        | HttpError::TrailersTooLarge
        | HttpError::MalformedTrailer(_) => Code::BadResponse,
    }
}

/// A URL that cannot be fetched: another scheme is curl's "unsupported
/// protocol" (1), a URL without a host a malformed one (3).
pub fn url_failure(err: &UrlError) -> anyhow::Error {
    let code = match err {
        UrlError::Scheme { .. } => Code::Failure,
        UrlError::NoHost { .. } => Code::UrlMalformed,
    };
    fail(code, err.to_string())
}

/// A redirect that cannot be followed: a loop or one too many exit 47, a
/// `Location` that is no URL exits 3, one that cannot be fetched as
/// [`url_failure`] says.
pub fn redirect_failure(err: &RedirectError) -> anyhow::Error {
    match err {
        RedirectError::Loop { .. } | RedirectError::TooMany { .. } => {
            fail(Code::TooManyRedirects, err.to_string())
        }
        RedirectError::Location { .. } => fail(Code::UrlMalformed, err.to_string()),
        RedirectError::Url(err) => url_failure(err),
    }
}

/// What ended a failed attempt.
pub enum Failed<R> {
    /// A final response whose status says "try again later" (503, say);
    /// its body is not read yet, in case it is the last answer. With its
    /// URL and the heads that led to it, printed only if it is.
    Status(Box<R>, url::Url, Vec<Vec<u8>>),
    /// An error, and whether the attempt got a connection.
    Error { err: anyhow::Error, connected: bool },
}

impl<R> Failed<R> {
    /// An error of an attempt that got a connection.
    pub fn connected(err: anyhow::Error) -> Failed<R> {
        Failed::Error {
            err,
            connected: true,
        }
    }
}

/// True when the output could not take a new version of the file: the
/// download fails with the error that made it try again.
pub fn cannot_start_over(err: &anyhow::Error) -> bool {
    err.is::<CannotStartOver>()
}

/// How retrying sees an error: the kinds worth another attempt, by their
/// exit code and, where one code covers both, their cause.
pub fn classify(err: &anyhow::Error) -> Failure {
    match Code::of(err) {
        // A reset, or a failed read or write: an I/O error underneath. Not a
        // proxy refusing a tunnel, which says so in a status of its own.
        Code::RecvError | Code::SendError if io_cause(err).is_some() => Failure::Reset,
        Code::Timeout => Failure::Timeout,
        // A TLS stream without close_notify in a body that needed it is one.
        Code::PartialBody => Failure::BodyCut,
        Code::GotNothing => Failure::NothingReceived,
        Code::BadResponse if err.chain().any(|e| e.is::<HeadCut>()) => Failure::HeadCut,
        Code::CouldntConnect => Failure::Refused,
        Code::CouldntResolve if resolver_busy(err) => Failure::ResolverBusy,
        _ => Failure::Permanent,
    }
}

/// Whether name resolution failed for now (`EAI_AGAIN`). The standard
/// library reports it only in words: those of glibc's `gai_strerror`.
fn resolver_busy(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.to_string()
            .contains("Temporary failure in name resolution")
    })
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;
    use crate::exit::fail_with;
    use crate::http::Truncation;

    #[test]
    fn errors_are_classified_for_retrying_by_code_and_cause() {
        let coded = |code| fail(code, "x");
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(
            classify(&fail_with(Code::RecvError, "receiving", reset)),
            Failure::Reset
        );
        let tunnel_refused = fail(Code::RecvError, "proxy p refused the tunnel: 403 Forbidden");
        assert_eq!(classify(&tunnel_refused), Failure::Permanent);
        assert_eq!(classify(&coded(Code::Timeout)), Failure::Timeout);
        assert_eq!(classify(&coded(Code::PartialBody)), Failure::BodyCut);
        assert_eq!(classify(&coded(Code::GotNothing)), Failure::NothingReceived);
        assert_eq!(classify(&coded(Code::CouldntConnect)), Failure::Refused);
        let cut_head = fail_with(Code::BadResponse, "reading the response head", HeadCut);
        assert_eq!(classify(&cut_head), Failure::HeadCut);
        let busy = fail_with(
            Code::CouldntResolve,
            "could not resolve host h",
            io::Error::other(
                "failed to lookup address information: Temporary failure in name resolution",
            ),
        );
        assert_eq!(classify(&busy), Failure::ResolverBusy);
        for code in [
            Code::BadResponse,
            Code::CouldntResolve,
            Code::TlsHandshake,
            Code::PeerCertificate,
            Code::Mismatch,
            Code::WriteError,
            Code::BadEncoding,
        ] {
            assert_eq!(classify(&coded(code)), Failure::Permanent, "{code:?}");
        }
    }

    #[test]
    fn a_cut_body_is_a_partial_file_and_every_other_fault_a_bad_response() {
        let cut = HttpError::Truncated(Truncation::InsideChunk);
        assert_eq!(exit_code(&cut) as u8, 18);
        for fault in [
            HttpError::HeadTooLarge,
            HttpError::MalformedHead(httparse::Error::Version),
            HttpError::ConflictingContentLength {
                first: 1,
                second: 2,
            },
            HttpError::ChunkSizeTooLarge,
            HttpError::MalformedTrailer(b"x".to_vec()),
        ] {
            assert_eq!(exit_code(&fault) as u8, 8, "{fault}");
        }
    }

    #[test]
    fn redirect_and_url_failures_have_curls_codes() {
        let code = |err: &RedirectError| Code::of(&redirect_failure(err));
        assert_eq!(
            code(&RedirectError::TooMany { max: 1 }),
            Code::TooManyRedirects
        );
        let cycle = RedirectError::Loop {
            from: "http://h/2".into(),
            to: "http://h/1".into(),
        };
        assert_eq!(code(&cycle), Code::TooManyRedirects);
        assert_eq!(
            redirect_failure(&cycle).to_string(),
            "redirect loop: http://h/2 sends back to http://h/1"
        );
        let location = RedirectError::Location {
            location: "http://[::1/".into(),
            base: "http://h/".into(),
            reason: url::ParseError::InvalidIpv6Address,
        };
        assert_eq!(code(&location), Code::UrlMalformed);
        let scheme = UrlError::Scheme {
            scheme: "ftp".into(),
            url: "ftp://h/".into(),
        };
        assert_eq!(code(&RedirectError::Url(scheme)), Code::Failure);
        let no_host = UrlError::NoHost { url: "x".into() };
        assert_eq!(Code::of(&url_failure(&no_host)), Code::UrlMalformed);
    }
}
