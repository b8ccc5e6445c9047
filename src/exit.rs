//! Exit codes, and the one error type that carries one.
//!
//! sockdemo reuses curl's numbers wherever the meaning is the same, so that
//! scripts written against curl read sockdemo's codes the same way. Code that
//! needs a specific exit status returns a [`CodedError`], made by [`fail`], [`fail_with`]
//! or [`WithCode::with_code`]; every other error ends the process with [`Code::Failure`]
//! (1). Usage errors are clap's 2.

use std::fmt;
use std::io;

/// A documented process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    /// Everything worked.
    Success = 0,
    /// A failure without a more specific code.
    Failure = 1,
    /// The command line was wrong (clap's own code).
    Usage = 2,
    /// The URL is malformed (curl: URL_MALFORMAT).
    UrlMalformed = 3,
    /// The proxy's host name could not be resolved (curl: COULDNT_RESOLVE_PROXY).
    CouldntResolveProxy = 5,
    /// The host name could not be resolved (curl: COULDNT_RESOLVE_HOST).
    CouldntResolve = 6,
    /// No connection could be made (curl: COULDNT_CONNECT).
    CouldntConnect = 7,
    /// The reply is not what the protocol allows: a malformed or incomplete
    /// HTTP response head, or a greeting other than the expected one
    /// (curl: WEIRD_SERVER_REPLY).
    BadResponse = 8,
    /// The body ended before its announced end (curl: PARTIAL_FILE).
    PartialBody = 18,
    /// The final response has a status of 400 or more, so nothing was saved (curl: HTTP_RETURNED_ERROR).
    HttpError = 22,
    /// The output could not be written (curl: WRITE_ERROR).
    WriteError = 23,
    /// A file to read could not be read: `--input-file`, `--checksum-file`, a
    /// `.netrc`, a `-w @FILE` (curl: READ_ERROR).
    ReadError = 26,
    /// An operation timed out (curl: OPERATION_TIMEDOUT).
    Timeout = 28,
    /// The download is not what `--checksum` or `--expect-size` said. curl
    /// retired 32 and never reuses a number; aria2 exits 32 for a failed
    /// checksum, so a script written for either reads it right.
    Mismatch = 32,
    /// The TLS handshake failed (curl: SSL_CONNECT_ERROR).
    TlsHandshake = 35,
    /// Too many redirects, or a redirect loop (curl: TOO_MANY_REDIRECTS).
    TooManyRedirects = 47,
    /// The server closed the connection without sending anything (curl: GOT_NOTHING).
    GotNothing = 52,
    /// Sending to the peer failed (curl: SEND_ERROR).
    SendError = 55,
    /// Receiving from the peer failed, or it closed early (curl: RECV_ERROR).
    RecvError = 56,
    /// The server's certificate was rejected (curl: PEER_FAILED_VERIFICATION).
    PeerCertificate = 60,
    /// A transfer or content coding is unknown, or its data cannot be decoded
    /// (curl: BAD_CONTENT_ENCODING, "unrecognized transfer encoding").
    BadEncoding = 61,
    /// The download is larger than `--max-filesize` (curl: FILESIZE_EXCEEDED).
    TooLarge = 63,
    /// A CA file or directory the user named could not be read or holds no certificate
    /// (curl: SSL_CACERT_BADFILE).
    CaCertFile = 77,
    /// Stopped by Ctrl-C (SIGINT) after reporting what was done (the shell's 128 + 2).
    Interrupted = 130,
}

impl Code {
    /// Every code, for documentation and tests.
    pub const ALL: [Code; 24] = [
        Code::Success,
        Code::Failure,
        Code::Usage,
        Code::UrlMalformed,
        Code::CouldntResolveProxy,
        Code::CouldntResolve,
        Code::CouldntConnect,
        Code::BadResponse,
        Code::PartialBody,
        Code::HttpError,
        Code::WriteError,
        Code::ReadError,
        Code::Timeout,
        Code::Mismatch,
        Code::TlsHandshake,
        Code::TooManyRedirects,
        Code::GotNothing,
        Code::SendError,
        Code::RecvError,
        Code::PeerCertificate,
        Code::BadEncoding,
        Code::TooLarge,
        Code::CaCertFile,
        Code::Interrupted,
    ];

    /// One line that says what the code means, as printed in `--help`.
    pub fn meaning(self) -> &'static str {
        match self {
            Code::Success => "success",
            Code::Failure => "other failure",
            Code::Usage => "usage error on the command line",
            Code::UrlMalformed => "malformed URL",
            Code::CouldntResolveProxy => "could not resolve the proxy",
            Code::CouldntResolve => "could not resolve host",
            Code::CouldntConnect => "could not connect",
            Code::BadResponse => "malformed, incomplete or unexpected reply",
            Code::PartialBody => "partial body: the transfer ended early",
            Code::HttpError => "HTTP status 400 or more: nothing saved",
            Code::WriteError => "could not write the output",
            Code::ReadError => {
                "a file to read could not be read or parsed (--input-file, --checksum-file, a .netrc, a -w @FILE)"
            }
            Code::Timeout => "timed out",
            Code::Mismatch => "the download does not match --checksum or --expect-size",
            Code::TlsHandshake => "TLS handshake failed",
            Code::TooManyRedirects => "too many redirects, or a redirect loop",
            Code::GotNothing => "the server closed the connection without a reply",
            Code::SendError => "sending to the peer failed",
            Code::RecvError => "receiving failed: reset, or closed early",
            Code::PeerCertificate => "server certificate rejected",
            Code::BadEncoding => "unknown coding, or coded data that cannot be decoded",
            Code::TooLarge => "the download is larger than --max-filesize",
            Code::CaCertFile => {
                "a CA file named (--cacert, CURL_CA_BUNDLE, SSL_CERT_FILE...) is unreadable or empty"
            }
            Code::Interrupted => "interrupted by Ctrl-C (load mode: after its summary)",
        }
    }

    /// The code of an error: that of the outermost [`CodedError`] (made by [`fail`] or
    /// [`fail_with`]) in its chain, or [`Code::Failure`] when there is none.
    pub fn of(err: &anyhow::Error) -> Code {
        err.chain()
            .find_map(|e| e.downcast_ref::<CodedError>())
            .map_or(Code::Failure, |e| e.code)
    }
}

impl From<Code> for std::process::ExitCode {
    fn from(code: Code) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

/// An error that decides the exit code: the line the user sees, the [`Code`] the process
/// ends with, and, when one caused it, the underlying error as its
/// [`source`](std::error::Error::source), so the chain stays intact for `{:#}` and for code
/// that looks for a cause (an [`io::Error`] of kind `BrokenPipe`, say).
#[derive(Debug)]
pub struct CodedError {
    code: Code,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl CodedError {
    /// The exit code this error ends the process with.
    pub fn code(&self) -> Code {
        self.code
    }
}

/// An error with the line the user sees and the exit code it ends the process with.
pub fn fail(code: Code, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(CodedError {
        code,
        message: message.into(),
        source: None,
    })
}

/// Like [`fail`], for an error with a cause: the message says what was being done
/// (`sending to 127.0.0.1:9999`), the cause says why it failed, and `{:#}` prints both
/// (`sending to 127.0.0.1:9999: Connection reset by peer`).
pub fn fail_with(
    code: Code,
    message: impl Into<String>,
    source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
) -> anyhow::Error {
    anyhow::Error::new(CodedError {
        code,
        message: message.into(),
        source: Some(source.into()),
    })
}

/// Gives a `Result` an exit code and a message on its error, keeping the error as the cause.
pub trait WithCode<T> {
    /// Maps the error to a [`CodedError`] with `code` and the message `what()`, whose
    /// source is the original error.
    fn with_code<M: Into<String>>(self, code: Code, what: impl FnOnce() -> M) -> anyhow::Result<T>;
}

impl<T, E> WithCode<T> for Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn with_code<M: Into<String>>(self, code: Code, what: impl FnOnce() -> M) -> anyhow::Result<T> {
        self.map_err(|err| fail_with(code, what(), err))
    }
}

/// The first [`io::Error`] in an error's chain, if any: for code that decides by the kind of
/// I/O failure underneath (a closed pipe is a quiet end, not an error).
pub fn io_cause(err: &anyhow::Error) -> Option<&io::Error> {
    err.chain().find_map(|e| e.downcast_ref::<io::Error>())
}

impl fmt::Display for CodedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CodedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn codes_are_distinct_and_curls() {
        let mut seen: Vec<u8> = Code::ALL.iter().map(|&c| c as u8).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), Code::ALL.len());
        assert_eq!(Code::CouldntConnect as u8, 7);
        assert_eq!(Code::Timeout as u8, 28);
        assert_eq!(Code::RecvError as u8, 56);
        assert_eq!(Code::UrlMalformed as u8, 3);
        assert_eq!(Code::BadEncoding as u8, 61);
        assert_eq!(Code::TooLarge as u8, 63);
    }

    #[test]
    fn readme_documents_every_code() {
        let readme = include_str!("../README.md");
        for code in Code::ALL {
            let row = format!("| {} | ", code as u8);
            assert!(
                readme.contains(&row),
                "README has no row for exit code {}",
                code as u8
            );
        }
    }

    #[test]
    fn code_is_found_under_context() {
        let err = fail(Code::Timeout, "timed out").context("fetching /");
        assert_eq!(Code::of(&err), Code::Timeout);
        let plain = anyhow::anyhow!("no code");
        assert_eq!(Code::of(&plain), Code::Failure);
        let io: Result<(), std::io::Error> = Err(std::io::Error::other("x"));
        let err = io.context("writing").unwrap_err();
        assert_eq!(Code::of(&err), Code::Failure);
    }

    #[test]
    fn coded_error_keeps_its_cause() {
        let io = io::Error::new(io::ErrorKind::BrokenPipe, "pipe closed");
        let err: anyhow::Result<()> = Err(io).with_code(Code::WriteError, || "writing to stdout");
        let err = err.unwrap_err();
        assert_eq!(Code::of(&err), Code::WriteError);
        assert_eq!(format!("{err:#}"), "writing to stdout: pipe closed");
        assert_eq!(
            io_cause(&err).map(io::Error::kind),
            Some(io::ErrorKind::BrokenPipe)
        );
        assert!(io_cause(&fail(Code::Timeout, "late")).is_none());
    }
}
