//! The one line `-v` shows for a TLS handshake, as curl's `-v` shows its
//! handful: the protocol version, the cipher suite, what ALPN chose, the
//! server's certificate (its subject, its issuer, when it expires), and
//! whether an earlier connection's session was resumed, which saves a
//! round trip and the certificate check on a new connection to a host
//! already met in the run.

use std::time::Duration;

use rustls::pki_types::UnixTime;
use rustls::{ClientConnection, HandshakeKind, ProtocolVersion};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::error::date;

/// What a handshake settled, as the line tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// `TLS 1.3`.
    pub version: String,
    /// rustls's name of the suite, the IANA one: `TLS13_AES_256_GCM_SHA384`.
    pub suite: String,
    /// The protocol ALPN chose, if the server chose one.
    pub alpn: Option<String>,
    /// The server's own certificate, if it could be read.
    pub certificate: Option<Certificate>,
    /// An earlier session resumed, rather than a full handshake.
    pub resumed: bool,
}

/// The server's certificate, as the line names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The subject's distinguished name: `CN=example.com`.
    pub subject: String,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// The day it expires (`notAfter`), `2027-01-31`.
    pub expires: String,
}

impl Handshake {
    /// What the finished handshake of `tls` settled.
    pub fn of(tls: &ClientConnection) -> Handshake {
        let version = match tls.protocol_version() {
            Some(ProtocolVersion::TLSv1_3) => "TLS 1.3".to_owned(),
            Some(ProtocolVersion::TLSv1_2) => "TLS 1.2".to_owned(),
            Some(other) => other.as_str().unwrap_or("an unknown version").to_owned(),
            None => "an unknown version".to_owned(),
        };
        Handshake {
            version,
            suite: tls
                .negotiated_cipher_suite()
                .and_then(|suite| suite.suite().as_str())
                .unwrap_or("an unknown cipher suite")
                .to_owned(),
            alpn: tls
                .alpn_protocol()
                .map(|protocol| String::from_utf8_lossy(protocol).into_owned()),
            certificate: tls
                .peer_certificates()
                .and_then(<[_]>::first)
                .and_then(|der| Certificate::read(der)),
            resumed: tls.handshake_kind() == Some(HandshakeKind::Resumed),
        }
    }

    /// The line, for a connection to `host`.
    pub fn line(&self, host: &str) -> String {
        let alpn = match &self.alpn {
            Some(protocol) => format!("ALPN {protocol}"),
            None => "no ALPN".to_owned(),
        };
        let certificate = match &self.certificate {
            Some(cert) => format!(
                "certificate {} issued by {}, expires {}",
                cert.subject, cert.issuer, cert.expires
            ),
            None => "certificate unreadable".to_owned(),
        };
        let session = match self.resumed {
            true => "session resumed",
            false => "new session",
        };
        format!(
            "{} with {host}: {}, {alpn}; {certificate}; {session}",
            self.version, self.suite
        )
    }
}

impl Certificate {
    /// The names and expiry of a DER certificate; `None` if it cannot be
    /// read (rustls has checked it, unless `--insecure`).
    pub fn read(der: &[u8]) -> Option<Certificate> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let not_after = u64::try_from(cert.validity().not_after.timestamp()).ok()?;
        // A name may be empty (a certificate that names its hosts only in
        // subjectAltName): said so, rather than left blank.
        let name = |name: String| match name.is_empty() {
            true => "(no name)".to_owned(),
            false => name,
        };
        Some(Certificate {
            subject: name(cert.subject().to_string()),
            issuer: name(cert.issuer().to_string()),
            expires: date(UnixTime::since_unix_epoch(Duration::from_secs(not_after))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_is_named_by_subject_issuer_and_expiry() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["a.test".to_owned()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "a.test");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Example");
        params.not_after = rcgen::date_time_ymd(2031, 7, 9);
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            Certificate::read(cert.der()),
            Some(Certificate {
                subject: "CN=a.test, O=Example".to_owned(),
                issuer: "CN=a.test, O=Example".to_owned(),
                expires: "2031-07-09".to_owned(),
            })
        );
        assert_eq!(Certificate::read(b"not a certificate"), None);
        params.distinguished_name = rcgen::DistinguishedName::new();
        let unnamed = params.self_signed(&key).unwrap();
        let read = Certificate::read(unnamed.der()).unwrap();
        assert_eq!((&*read.subject, &*read.issuer), ("(no name)", "(no name)"));
    }

    #[test]
    fn the_line_says_everything_once() {
        let mut handshake = Handshake {
            version: "TLS 1.3".to_owned(),
            suite: "TLS13_AES_256_GCM_SHA384".to_owned(),
            alpn: Some("http/1.1".to_owned()),
            certificate: Some(Certificate {
                subject: "CN=a.test".to_owned(),
                issuer: "CN=Test CA".to_owned(),
                expires: "2031-07-09".to_owned(),
            }),
            resumed: false,
        };
        assert_eq!(
            handshake.line("a.test"),
            "TLS 1.3 with a.test: TLS13_AES_256_GCM_SHA384, ALPN http/1.1; certificate CN=a.test issued by CN=Test CA, expires 2031-07-09; new session"
        );
        handshake.alpn = None;
        handshake.certificate = None;
        handshake.resumed = true;
        assert_eq!(
            handshake.line("a.test"),
            "TLS 1.3 with a.test: TLS13_AES_256_GCM_SHA384, no ALPN; certificate unreadable; session resumed"
        );
    }
}
