//! The two ways a server's certificate is checked.
//!
//! [`Verifier`] checks it against a [`Trust`] as curl with OpenSSL does:
//! the usual path validation up to a trusted certificate (rustls's webpki
//! verifier), and besides it, a server certificate that is itself in the
//! trust store, byte for byte, is trusted as it is, its name and dates still
//! checked. That is how `--cacert` accepts a self-signed certificate made by
//! `openssl req -x509` (which marks it `CA:TRUE`, so path validation refuses
//! it as a server certificate) and a pinned server certificate.
//!
//! [`AnyCertificate`], for `--insecure`, accepts any certificate, but still
//! checks that the server holds the key of the certificate it sent (that
//! costs nothing and keeps the handshake itself sound).

use std::sync::Arc;
use std::time::Duration;

use log::debug;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use super::trust::Trust;
use crate::exit::{Code, fail_with};

/// Checks a server's certificate against a [`Trust`]: a certificate that is
/// in the trust store is trusted as it is (name and dates checked), any
/// other must chain to one of its certificates (rustls's webpki verifier).
#[derive(Debug)]
pub struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    certificates: Vec<CertificateDer<'static>>,
}

impl Verifier {
    /// A verifier for `trust`, with the signature algorithms of `provider`.
    pub fn new(trust: &Trust, provider: Arc<CryptoProvider>) -> anyhow::Result<Verifier> {
        let webpki = WebPkiServerVerifier::builder_with_provider(trust.roots(), provider)
            .build()
            // Only possible with no roots, which a loaded Trust never has.
            .map_err(|err| fail_with(Code::CaCertFile, "setting up the certificate check", err))?;
        Ok(Verifier {
            webpki,
            certificates: trust.certificates().to_vec(),
        })
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let pinned = self
            .certificates
            .binary_search_by(|trusted| trusted.as_ref().cmp(end_entity.as_ref()))
            .is_ok();
        if !pinned {
            return self.webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            );
        }
        // Trusted as it is: what path validation would still check of it.
        let parsed = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_name(&parsed, server_name)?;
        let (not_before, not_after) = validity(end_entity).ok_or(CertificateError::BadEncoding)?;
        if now < not_before {
            return Err(CertificateError::NotValidYetContext {
                time: now,
                not_before,
            }
            .into());
        }
        if now > not_after {
            return Err(CertificateError::ExpiredContext {
                time: now,
                not_after,
            }
            .into());
        }
        debug!("the server's certificate is itself trusted");
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// The DER tags read below (X.690).
const SEQUENCE: u8 = 0x30;
const VERSION: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// A certificate's validity period, `notBefore` and `notAfter` (RFC 5280
/// section 4.1.2.5), read from its DER: webpki checks them only during path
/// validation, which a certificate trusted as it is does not go through.
///
/// ```text
/// Certificate  ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
///     serialNumber, signature, issuer, validity SEQUENCE { notBefore, notAfter }, ... } ... }
/// ```
fn validity(certificate: &[u8]) -> Option<(UnixTime, UnixTime)> {
    let (SEQUENCE, certificate, _) = element(certificate)? else {
        return None;
    };
    let (SEQUENCE, mut fields, _) = element(certificate)? else {
        return None;
    };
    if let (VERSION, _, rest) = element(fields)? {
        fields = rest;
    }
    // serialNumber, signature, issuer.
    for _ in 0..3 {
        fields = element(fields)?.2;
    }
    let (SEQUENCE, validity, _) = element(fields)? else {
        return None;
    };
    let (tag, not_before, rest) = element(validity)?;
    let not_before = time(tag, not_before)?;
    let (tag, not_after, _) = element(rest)?;
    Some((not_before, time(tag, not_after)?))
}

/// The first DER element of `input`: its tag, its contents, and what follows it.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        // Long form: the low bits count the length's bytes (at most 4 here:
        // a certificate is never near 4 GiB).
        let count = usize::from(first & 0x7f);
        if !(1..=4).contains(&count) || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let length = bytes
            .iter()
            .fold(0usize, |length, &b| (length << 8) | usize::from(b));
        (length, rest)
    };
    (rest.len() >= length).then(|| (tag, &rest[..length], &rest[length..]))
}

/// A certificate time: UTCTime `YYMMDDHHMMSSZ` (years 1950 to 2049) or
/// GeneralizedTime `YYYYMMDDHHMMSSZ`, as RFC 5280 section 4.1.2.5 allows them.
fn time(tag: u8, text: &[u8]) -> Option<UnixTime> {
    let (year, rest) = match tag {
        UTC_TIME => {
            let (year, rest) = text.split_at_checked(2)?;
            let year = digits(year)?;
            (if year >= 50 { 1900 + year } else { 2000 + year }, rest)
        }
        GENERALIZED_TIME => {
            let (year, rest) = text.split_at_checked(4)?;
            (digits(year)?, rest)
        }
        _ => return None,
    };
    let [mo0, mo1, d0, d1, h0, h1, mi0, mi1, s0, s1, b'Z'] = *rest else {
        return None;
    };
    let (month, day) = (digits(&[mo0, mo1])?, digits(&[d0, d1])?);
    let (hour, minute, second) = (digits(&[h0, h1])?, digits(&[mi0, mi1])?, digits(&[s0, s1])?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_since_epoch(year, month, day);
    let seconds = days.checked_mul(86_400)? + hour * 3600 + minute * 60 + second;
    Some(UnixTime::since_unix_epoch(Duration::from_secs(seconds)))
}

/// ASCII digits as a number; `None` for anything else.
fn digits(text: &[u8]) -> Option<u64> {
    text.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
    })
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar, from
/// 1970 on (Howard Hinnant's `days_from_civil`).
fn days_since_epoch(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    (era * 146_097 + day_of_era).saturating_sub(719_468)
}

/// Accepts any certificate; checks the handshake's signatures with
/// `algorithms`, those of the crypto provider in use.
#[derive(Debug)]
pub struct AnyCertificate {
    pub algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::super::trust::Origin;
    use super::super::trust::tests::self_signed_ca;
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn verify(
        trust: &Trust,
        chain: &[&CertificateDer<'static>],
        name: &str,
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let verifier = Verifier::new(trust, provider()).unwrap();
        let name = ServerName::try_from(name.to_owned()).unwrap();
        let intermediates: Vec<CertificateDer<'static>> =
            chain[1..].iter().map(|c| (*c).clone()).collect();
        verifier
            .verify_server_cert(chain[0], &intermediates, &name, &[], now)
            .map(|_| ())
    }

    fn trusting(certs: &[&rcgen::Certificate]) -> Trust {
        Trust::load(Origin::System, || {
            let mut found = rustls_native_certs::CertificateResult::default();
            found.certs.extend(certs.iter().map(|c| c.der().clone()));
            found
        })
        .unwrap()
    }

    #[test]
    fn a_self_signed_ca_certificate_is_trusted_as_the_server_certificate() {
        let cert = self_signed_ca(&["localhost", "127.0.0.1"]);
        let now = UnixTime::now();
        verify(&trusting(&[&cert]), &[cert.der()], "localhost", now).unwrap();
        verify(&trusting(&[&cert]), &[cert.der()], "127.0.0.1", now).unwrap();
        // Its name is still checked.
        let err = verify(&trusting(&[&cert]), &[cert.der()], "example.org", now).unwrap_err();
        assert!(
            matches!(
                err,
                rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })
            ),
            "{err}"
        );
        // Not in the store: path validation, which refuses a CA as server certificate.
        let other = self_signed_ca(&["other.test"]);
        let err = verify(&trusting(&[&other]), &[cert.der()], "localhost", now).unwrap_err();
        assert!(matches!(err, rustls::Error::InvalidCertificate(_)), "{err}");
    }

    #[test]
    fn a_pinned_leaf_is_trusted_with_its_dates_checked() {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sockdemo test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2025, 1, 1);
        params.not_after = rcgen::date_time_ymd(2026, 1, 2);
        let leaf = params
            .signed_by(&KeyPair::generate().unwrap(), &ca)
            .unwrap();

        let during = UnixTime::since_unix_epoch(Duration::from_secs(1_750_000_000)); // 2025-06
        let before = UnixTime::since_unix_epoch(Duration::from_secs(1_700_000_000)); // 2023-11
        let after = UnixTime::since_unix_epoch(Duration::from_secs(1_800_000_000)); // 2027-01
        let pinned = trusting(&[&leaf]);
        verify(&pinned, &[leaf.der()], "localhost", during).unwrap();
        let err = verify(&pinned, &[leaf.der()], "localhost", after).unwrap_err();
        let rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
            not_after, ..
        }) = err
        else {
            panic!("{err}")
        };
        assert_eq!(not_after.as_secs(), days_since_epoch(2026, 1, 2) * 86_400);
        let err = verify(&pinned, &[leaf.der()], "localhost", before).unwrap_err();
        assert!(
            matches!(
                err,
                rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext { .. })
            ),
            "{err}"
        );
        let err = verify(&pinned, &[leaf.der()], "example.org", during).unwrap_err();
        assert!(matches!(err, rustls::Error::InvalidCertificate(_)), "{err}");

        // The usual path: the leaf is trusted through its CA.
        let ca_cert: &rcgen::Certificate = ca.as_ref();
        verify(&trusting(&[ca_cert]), &[leaf.der()], "localhost", during).unwrap();
        // Neither the leaf nor its CA trusted: unknown issuer.
        let other = self_signed_ca(&["other.test"]);
        let err = verify(&trusting(&[&other]), &[leaf.der()], "localhost", during).unwrap_err();
        assert!(
            matches!(
                err,
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
            ),
            "{err}"
        );
    }

    #[test]
    fn validity_is_read_from_der() {
        let mut params = CertificateParams::new(vec!["a.test".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(1999, 12, 31);
        params.not_after = rcgen::date_time_ymd(2060, 2, 29);
        let cert = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
        let (not_before, not_after) = validity(cert.der()).unwrap();
        assert_eq!(not_before.as_secs(), 946_598_400);
        assert_eq!(not_after.as_secs(), 2_845_238_400);
        assert_eq!(time(UTC_TIME, b"700101000000Z").unwrap().as_secs(), 0);
        assert_eq!(
            time(UTC_TIME, b"491231235959Z").unwrap().as_secs(),
            2_524_607_999
        );
        assert_eq!(
            time(GENERALIZED_TIME, b"20380119031408Z")
                .unwrap()
                .as_secs(),
            2_147_483_648
        );
        for bad in [
            &b"7001010000Z"[..],
            b"700101000000",
            b"701301000000Z",
            b"70010100000+Z",
        ] {
            assert!(time(UTC_TIME, bad).is_none(), "{bad:?}");
        }
        assert!(validity(b"\x30\x03\x02\x01").is_none());
        assert!(validity(&cert.der()[..40]).is_none());
    }
}
