//! TLS over a connection: the step that wraps a connected stream in a TLS
//! session, after a handshake bounded as a whole by the timeout, and tells
//! a rejected certificate (exit 60) from other TLS failures (35) and from a
//! timeout (28). The settings are [`config`]'s; the verifier of
//! `--insecure` is [`verifier`]'s.

pub mod config;
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
use crate::exit::{Code, WithCode, fail_with};

/// A TLS session over a connection.
pub type TlsStream = StreamOwned<ClientConnection, TimedStream>;

/// Wraps `stream` in TLS with `host`, under `config`. The handshake is a few
/// KiB: it gets `timeout` as a whole, within the stream's own deadline.
pub fn wrap(
    config: Arc<ClientConfig>,
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
            .map_err(|err| handshake_error(err, host))?;
    }
    stream.set_deadline(later);
    debug!(
        "TLS with {host}: {}, {}",
        tls.protocol_version()
            .and_then(|version| version.as_str())
            .unwrap_or("unknown version"),
        tls.negotiated_cipher_suite()
            .and_then(|suite| suite.suite().as_str())
            .unwrap_or("unknown cipher suite"),
    );
    Ok(StreamOwned::new(tls, stream))
}

/// The exit code and message of a failed handshake.
fn handshake_error(err: io::Error, host: &Host<&str>) -> anyhow::Error {
    if err.kind() == io::ErrorKind::TimedOut {
        return fail_with(Code::Timeout, format!("TLS handshake with {host}"), err);
    }
    let rejected = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|tls| matches!(tls, rustls::Error::InvalidCertificate(_)));
    if rejected {
        fail_with(
            Code::PeerCertificate,
            format!("certificate of {host} rejected (use --cacert to trust a private CA)"),
            err,
        )
    } else {
        fail_with(
            Code::TlsHandshake,
            format!("TLS handshake with {host} failed"),
            err,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_errors_map_to_curls_codes() {
        let host = Host::Domain("example.test");
        let code = |err| Code::of(&handshake_error(err, &host));
        let timed_out = io::Error::new(io::ErrorKind::TimedOut, "late");
        assert_eq!(code(timed_out), Code::Timeout);
        let untrusted = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let err = handshake_error(io::Error::new(io::ErrorKind::InvalidData, untrusted), &host);
        assert_eq!(Code::of(&err), Code::PeerCertificate);
        assert!(
            format!("{err:#}").starts_with("certificate of example.test rejected"),
            "{err:#}"
        );
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert_eq!(
            code(io::Error::new(io::ErrorKind::InvalidData, alert)),
            Code::TlsHandshake
        );
    }
}
