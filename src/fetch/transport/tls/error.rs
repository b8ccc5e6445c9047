//! TLS failures told in words: one plain sentence that names the host and
//! the reason, and the exit code that goes with it (60 for a rejected
//! certificate, 35 for any other handshake failure).
//!
//! rustls's own messages are written for programmers (`invalid peer
//! certificate: Other(OtherError(CaUsedAsEndEntity))`), so none of them is
//! shown as it is. A hint says what to do where there is something to do,
//! and never suggests a flag the user already gave.

use rustls::pki_types::{ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError, PeerIncompatible};

use super::trust::Origin;
use crate::exit::Code;

/// The exit code of a TLS failure: 60 for a certificate the check refused,
/// 35 for the rest of the handshake.
pub fn code(err: &rustls::Error) -> Code {
    match err {
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            Code::PeerCertificate
        }
        _ => Code::TlsHandshake,
    }
}

/// One sentence saying why the TLS handshake with `host` failed. `trust` is
/// where the trusted certificates came from (`None` with `--insecure`), for
/// the hint.
pub fn describe(err: &rustls::Error, host: &str, trust: Option<&Origin>) -> String {
    match err {
        rustls::Error::InvalidCertificate(why) => certificate(why, host, trust),
        rustls::Error::NoCertificatesPresented => format!("{host} sent no certificate"),
        rustls::Error::AlertReceived(alert) => {
            format!(
                "{host} refused the TLS handshake: {}",
                alert_words(*alert, host)
            )
        }
        rustls::Error::PeerIncompatible(why) => incompatible(why, host),
        rustls::Error::InvalidMessage(_) => {
            format!("{host} did not answer in TLS (is it a plain http:// port?)")
        }
        rustls::Error::PeerMisbehaved(_) => {
            format!("{host} broke the TLS protocol during the handshake")
        }
        rustls::Error::DecryptError => {
            format!("TLS with {host} failed: a record could not be decrypted")
        }
        rustls::Error::PeerSentOversizedRecord => {
            format!("{host} sent a TLS record larger than the protocol allows")
        }
        rustls::Error::NoApplicationProtocol => {
            format!("{host} does not offer HTTP/1.1 over TLS (ALPN)")
        }
        rustls::Error::UnsupportedNameType => {
            format!("{host} cannot be checked against a certificate (unsupported name type)")
        }
        rustls::Error::FailedToGetCurrentTime => {
            format!("the TLS handshake with {host} failed: the system clock could not be read")
        }
        rustls::Error::FailedToGetRandomBytes => {
            format!("the TLS handshake with {host} failed: the system gave no random bytes")
        }
        rustls::Error::General(message) => format!("TLS with {host} failed: {message}"),
        _ => format!("the TLS handshake with {host} failed"),
    }
}

/// Why a certificate was refused.
fn certificate(why: &CertificateError, host: &str, trust: Option<&Origin>) -> String {
    let of = format!("certificate of {host}");
    match why {
        CertificateError::ExpiredContext { not_after, .. } => {
            format!("{of} has expired (on {})", date(*not_after))
        }
        CertificateError::Expired => format!("{of} has expired"),
        CertificateError::NotValidYetContext { not_before, .. } => {
            format!("{of} is not valid yet (from {})", date(*not_before))
        }
        CertificateError::NotValidYet => format!("{of} is not valid yet"),
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => {
            let names: Vec<String> = presented
                .iter()
                .filter_map(|name| presented_name(name))
                .collect();
            let expected = server_name(expected);
            if names.is_empty() {
                format!("{of} names no host, so not {expected}")
            } else {
                format!("certificate is for {}, not {expected}", names.join(", "))
            }
        }
        CertificateError::NotValidForName => format!("{of} is not for the name {host}"),
        CertificateError::UnknownIssuer => unknown_issuer(&of, trust),
        CertificateError::BadSignature => {
            format!("{of} is not validly signed by its issuer (bad signature)")
        }
        CertificateError::Revoked => format!("{of} has been revoked"),
        CertificateError::BadEncoding => format!("{of} is malformed"),
        CertificateError::UnhandledCriticalExtension => {
            format!("{of} has a critical extension that cannot be checked")
        }
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            format!("{of} is not meant for a server (its extended key usage)")
        }
        CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            format!("{of} is signed with an algorithm that is not supported")
        }
        CertificateError::UnknownRevocationStatus
        | CertificateError::ExpiredRevocationList
        | CertificateError::ExpiredRevocationListContext { .. } => {
            format!("the revocation status of the {of} is unknown")
        }
        CertificateError::InvalidOcspResponse => {
            format!("{host} sent an invalid certificate status (OCSP)")
        }
        CertificateError::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(reason) => path_failure(reason, &of, trust),
            None => format!("{of} was rejected"),
        },
        _ => format!("{of} was rejected"),
    }
}

/// The certificate chains to nothing trusted.
fn unknown_issuer(of: &str, trust: Option<&Origin>) -> String {
    match trust {
        Some(origin @ Origin::CaCert(_)) => {
            format!("{of} has an unknown issuer: neither it nor its CA is in {origin}")
        }
        Some(origin @ (Origin::CurlCaBundle(_) | Origin::SslCert { .. })) => format!(
            "{of} has an unknown issuer: neither it nor its CA is in {origin}; add its CA there or give it with --cacert"
        ),
        Some(Origin::System | Origin::BuiltIn) | None => {
            format!("{of} has an unknown issuer: add its CA with --cacert or to the system store")
        }
    }
}

/// Failures of path validation that rustls passes on as webpki's own error.
fn path_failure(reason: &webpki::Error, of: &str, trust: Option<&Origin>) -> String {
    match reason {
        webpki::Error::CaUsedAsEndEntity => match trust {
            Some(origin @ Origin::CaCert(_)) => format!(
                "{of} is a CA certificate used as a server certificate, and it is not in {origin}"
            ),
            _ => format!(
                "{of} is a CA certificate used as a server certificate: to trust it as it is, give it with --cacert"
            ),
        },
        webpki::Error::EndEntityUsedAsCa => {
            format!("{of} was issued by a server certificate, not a CA")
        }
        webpki::Error::PathLenConstraintViolated | webpki::Error::MaximumPathDepthExceeded => {
            format!("{of} comes with a chain of CAs longer than they allow")
        }
        webpki::Error::NameConstraintViolation => {
            format!("{of} names a host its CA may not issue certificates for")
        }
        webpki::Error::CertDistrusted => format!("{of} has an issuer that is distrusted"),
        webpki::Error::UnsupportedCertVersion => format!("{of} is not an X.509 v3 certificate"),
        webpki::Error::UnsupportedCriticalExtension => {
            format!("{of} has a critical extension that cannot be checked")
        }
        webpki::Error::EmptyEkuExtension => {
            format!("{of} is not meant for a server (empty extended key usage)")
        }
        _ => format!("{of} failed the certificate path check"),
    }
}

/// A name as the certificate presents it: webpki lists the names as
/// `DnsName("example.org")` and `IpAddress(127.0.0.1)`; others are left out.
fn presented_name(name: &str) -> Option<String> {
    if let Some(dns) = name
        .strip_prefix("DnsName(\"")
        .and_then(|n| n.strip_suffix("\")"))
    {
        return Some(dns.to_owned());
    }
    name.strip_prefix("IpAddress(")
        .and_then(|n| n.strip_suffix(')'))
        .map(str::to_owned)
}

/// The name the server was expected to have.
fn server_name(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(dns) => dns.as_ref().to_owned(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        _ => "the name asked for".to_owned(),
    }
}

/// The server and sockdemo have no TLS parameters in common.
fn incompatible(why: &PeerIncompatible, host: &str) -> String {
    match why {
        PeerIncompatible::ServerDoesNotSupportTls12Or13
        | PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig
        | PeerIncompatible::SupportedVersionsExtensionRequired => {
            format!("{host} speaks neither TLS 1.2 nor TLS 1.3")
        }
        PeerIncompatible::NoCipherSuitesInCommon => {
            format!("{host} offers no cipher suite in common")
        }
        PeerIncompatible::NoKxGroupsInCommon => {
            format!("{host} offers no key exchange group in common")
        }
        PeerIncompatible::NoSignatureSchemesInCommon => {
            format!("{host} offers no signature scheme in common")
        }
        _ => format!("{host} and sockdemo have no TLS settings in common"),
    }
}

/// What the server's alert says, with its name from RFC 8446 section 6.
fn alert_words(alert: AlertDescription, host: &str) -> String {
    let what = match alert {
        AlertDescription::HandshakeFailure => "no TLS settings in common",
        AlertDescription::ProtocolVersion => "it does not accept TLS 1.2 or 1.3",
        AlertDescription::InsufficientSecurity => "it wants stronger TLS settings",
        AlertDescription::UnrecognisedName => {
            return format!("it does not serve the name {host} (unrecognized_name alert)");
        }
        AlertDescription::CertificateRequired => {
            "it wants a client certificate, which sockdemo does not send"
        }
        AlertDescription::NoApplicationProtocol => "it does not speak HTTP/1.1 over TLS",
        AlertDescription::AccessDenied => "access denied",
        AlertDescription::InternalError => "an internal error on its side",
        AlertDescription::IllegalParameter | AlertDescription::DecodeError => {
            "it could not understand the handshake"
        }
        _ => "an error",
    };
    match alert_name(u8::from(alert)) {
        Some(name) => format!("{what} ({name} alert)"),
        None => format!("{what} (alert {})", u8::from(alert)),
    }
}

/// The names TLS gives its alerts (RFC 8446 section 6, RFC 8446's IANA registry).
fn alert_name(number: u8) -> Option<&'static str> {
    Some(match number {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        22 => "record_overflow",
        40 => "handshake_failure",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => return None,
    })
}

/// A time as its UTC date, `2026-01-02`.
pub(super) fn date(time: UnixTime) -> String {
    let (year, month, day) = civil_date(time.as_secs() / 86_400);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The date of a day counted from 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_date(days: u64) -> (u64, u64, u64) {
    let days = days + 719_468;
    let era = days / 146_097;
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::super::trust::Trust;
    use super::super::trust::tests::self_signed_ca;
    use super::super::verifier::Verifier;
    use super::*;
    use rustls::client::danger::ServerCertVerifier;
    use std::sync::Arc;
    use std::time::Duration;

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(secs))
    }

    /// The error the verifier gives for `cert` presented as `name`, with
    /// `trusted` in the store.
    fn refusal(
        cert: &rcgen::Certificate,
        trusted: &rcgen::Certificate,
        name: &str,
    ) -> rustls::Error {
        let trust = Trust::load(Origin::System, || {
            let mut found = rustls_native_certs::CertificateResult::default();
            found.certs.push(trusted.der().clone());
            found
        })
        .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Verifier::new(&trust, provider).unwrap();
        let name = ServerName::try_from(name.to_owned()).unwrap();
        verifier
            .verify_server_cert(cert.der(), &[], &name, &[], UnixTime::now())
            .unwrap_err()
    }

    fn no_debug(message: &str) {
        for sign in ["(\"", "Context", "Error", "{", "::", "Some("] {
            assert!(
                !message.contains(sign),
                "{message:?} looks like Debug output"
            );
        }
    }

    #[test]
    fn dates_are_plain() {
        assert_eq!(date(at(0)), "1970-01-01");
        assert_eq!(date(at(1_767_312_000)), "2026-01-02");
        assert_eq!(date(at(951_782_400)), "2000-02-29");
        assert_eq!(date(at(4_107_542_399)), "2100-02-28");
    }

    #[test]
    fn expired_and_not_yet_valid_name_the_date() {
        let err = rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
            time: at(1_800_000_000),
            not_after: at(1_767_312_000),
        });
        assert_eq!(
            describe(&err, "localhost", None),
            "certificate of localhost has expired (on 2026-01-02)"
        );
        assert_eq!(code(&err), Code::PeerCertificate);
        let err = rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext {
            time: at(0),
            not_before: at(1_767_312_000),
        });
        assert_eq!(
            describe(&err, "localhost", None),
            "certificate of localhost is not valid yet (from 2026-01-02)"
        );
    }

    #[test]
    fn a_wrong_name_lists_the_names_of_the_certificate() {
        let cert = self_signed_ca(&["example.org", "www.example.org", "10.0.0.1"]);
        let err = refusal(&cert, &cert, "localhost");
        let message = describe(&err, "localhost", Some(&Origin::CaCert("c.pem".into())));
        assert_eq!(
            message,
            "certificate is for example.org, www.example.org, 10.0.0.1, not localhost"
        );
        assert_eq!(code(&err), Code::PeerCertificate);
    }

    #[test]
    fn a_ca_used_as_server_certificate_is_named_so() {
        let cert = self_signed_ca(&["localhost"]);
        let other = self_signed_ca(&["other.test"]);
        let err = refusal(&cert, &other, "localhost");
        let system = describe(&err, "localhost", Some(&Origin::System));
        assert_eq!(
            system,
            "certificate of localhost is a CA certificate used as a server certificate: to trust it as it is, give it with --cacert"
        );
        let given = describe(&err, "localhost", Some(&Origin::CaCert("c.pem".into())));
        assert!(
            given.starts_with(
                "certificate of localhost is a CA certificate used as a server certificate"
            ),
            "{given}"
        );
        assert!(!given.contains("with --cacert"), "{given}");
        no_debug(&system);
        no_debug(&given);
    }

    #[test]
    fn the_unknown_issuer_hint_never_repeats_a_given_flag() {
        let err = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(
            describe(&err, "localhost", Some(&Origin::System)),
            "certificate of localhost has an unknown issuer: add its CA with --cacert or to the system store"
        );
        let given = describe(&err, "localhost", Some(&Origin::CaCert("ca.pem".into())));
        assert_eq!(
            given,
            "certificate of localhost has an unknown issuer: neither it nor its CA is in ca.pem (--cacert)"
        );
        let env = describe(&err, "h", Some(&Origin::CurlCaBundle("b.pem".into())));
        assert!(
            env.contains("b.pem (CURL_CA_BUNDLE)") && env.contains("--cacert"),
            "{env}"
        );
    }

    #[test]
    fn every_error_is_a_plain_sentence_naming_the_host() {
        let errors = [
            rustls::Error::InvalidCertificate(CertificateError::Revoked),
            rustls::Error::InvalidCertificate(CertificateError::BadSignature),
            rustls::Error::InvalidCertificate(CertificateError::BadEncoding),
            rustls::Error::InvalidCertificate(CertificateError::Expired),
            rustls::Error::InvalidCertificate(CertificateError::NotValidForName),
            rustls::Error::InvalidCertificate(CertificateError::InvalidPurpose),
            rustls::Error::InvalidCertificate(CertificateError::UnknownRevocationStatus),
            rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure),
            rustls::Error::AlertReceived(AlertDescription::HandshakeFailure),
            rustls::Error::AlertReceived(AlertDescription::ProtocolVersion),
            rustls::Error::AlertReceived(AlertDescription::UnrecognisedName),
            rustls::Error::AlertReceived(AlertDescription::from(200)),
            rustls::Error::PeerIncompatible(PeerIncompatible::ServerDoesNotSupportTls12Or13),
            rustls::Error::PeerIncompatible(PeerIncompatible::NoCipherSuitesInCommon),
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
            rustls::Error::PeerMisbehaved(rustls::PeerMisbehaved::InvalidKeyShare),
            rustls::Error::NoCertificatesPresented,
            rustls::Error::DecryptError,
            rustls::Error::NoApplicationProtocol,
            rustls::Error::HandshakeNotComplete,
        ];
        for err in &errors {
            let message = describe(err, "host.test", Some(&Origin::System));
            assert!(message.contains("host.test"), "{message}");
            assert!(!message.contains('\n'), "{message}");
            no_debug(&message);
        }
        assert_eq!(
            describe(&errors[8], "h", None),
            "h refused the TLS handshake: no TLS settings in common (handshake_failure alert)"
        );
        assert_eq!(
            describe(&errors[14], "h", None),
            "h did not answer in TLS (is it a plain http:// port?)"
        );
        assert_eq!(code(&errors[8]), Code::TlsHandshake);
        assert_eq!(code(&errors[16]), Code::PeerCertificate);
    }
}
