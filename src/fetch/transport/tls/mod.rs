//! TLS over a connection: the step that wraps a connected stream in a TLS
//! session, after a handshake bounded as a whole by the timeout, and tells
//! a rejected certificate (exit 60) from other TLS failures (35) and from a
//! timeout (28), in words ([`error`]). The settings are [`config`]'s, what
//! they trust [`trust`]'s; the verifiers (the trust store's, and `--insecure`'s) are [`verifier`]'s.
//! A finished handshake is told in one line with `-v` ([`summary`]).

pub mod config;
pub mod error;
pub mod summary;
pub mod trust;
pub mod verifier;

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use log::debug;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use url::Host;

use super::time::{Deadline, TimedStream};
use crate::exit::{Code, WithCode, fail, fail_with};
use trust::Origin;

/// A TLS session over a connection.
pub type TlsStream = StreamOwned<ClientConnection, TimedStream>;

/// Wraps `stream` in TLS with `host`, under `config`, whose certificates
/// come from `trust` (`None`: `--insecure`). The handshake is a few KiB: it
/// gets `timeout` as a whole, within the stream's own deadline.
pub fn wrap(
    config: Arc<ClientConfig>,
    trust: Option<&Origin>,
    host: &Host<&str>,
    mut stream: TimedStream,
    timeout: Option<Duration>,
) -> anyhow::Result<TlsStream> {
    let name = match *host {
        Host::Domain(domain) => {
            ServerName::try_from(domain.to_owned()).with_code(Code::UrlMalformed, || domain)?
        }
        Host::Ipv4(ip) => ServerName::IpAddress(IpAddr::V4(ip).into()),
        Host::Ipv6(ip) => ServerName::IpAddress(IpAddr::V6(ip).into()),
    };
    let mut tls = ClientConnection::new(config, name)
        .with_code(Code::TlsHandshake, || format!("TLS setup for {host}"))?;
    let later = stream.deadline();
    stream.set_deadline(Deadline::within(later, timeout, "the TLS handshake"));
    while tls.is_handshaking() {
        tls.complete_io(&mut stream)
            .map_err(|err| handshake_error(err, host, trust))?;
    }
    stream.set_deadline(later);
    debug!("{}", summary::Handshake::of(&tls).line(&host.to_string()));
    Ok(StreamOwned::new(tls, stream))
}

/// The exit code and message of a failed handshake. A TLS error is told in
/// words of its own ([`error::describe`]), without rustls's message, which
/// is written for programmers.
fn handshake_error(err: io::Error, host: &Host<&str>, trust: Option<&Origin>) -> anyhow::Error {
    if err.kind() == io::ErrorKind::TimedOut {
        return fail_with(Code::Timeout, format!("TLS handshake with {host}"), err);
    }
    let tls_error = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls_error {
        Some(tls_error) => {
            debug!("TLS handshake with {host}: {tls_error}");
            fail(
                error::code(tls_error),
                error::describe(tls_error, &host.to_string(), trust),
            )
        }
        None => fail_with(
            Code::TlsHandshake,
            format!("TLS handshake with {host} failed"),
            err,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_errors_map_to_curls_codes_in_words() {
        let host = Host::Domain("example.test");
        let origin = Origin::System;
        let code = |err| Code::of(&handshake_error(err, &host, Some(&origin)));
        let timed_out = io::Error::new(io::ErrorKind::TimedOut, "late");
        assert_eq!(code(timed_out), Code::Timeout);
        let untrusted = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let err = handshake_error(
            io::Error::new(io::ErrorKind::InvalidData, untrusted),
            &host,
            Some(&origin),
        );
        assert_eq!(Code::of(&err), Code::PeerCertificate);
        assert_eq!(
            format!("{err:#}"),
            "certificate of example.test has an unknown issuer: add its CA with --cacert or to the system store"
        );
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert_eq!(
            code(io::Error::new(io::ErrorKind::InvalidData, alert)),
            Code::TlsHandshake
        );
        let reset = io::Error::new(io::ErrorKind::ConnectionReset, "reset");
        let err = handshake_error(reset, &host, None);
        assert_eq!(Code::of(&err), Code::TlsHandshake);
        assert_eq!(
            format!("{err:#}"),
            "TLS handshake with example.test failed: reset"
        );
    }
}
