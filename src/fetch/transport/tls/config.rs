//! The TLS client settings: rustls with the ring provider only, TLS 1.2
//! and 1.3, ALPN `http/1.1`, and what to trust: the Mozilla roots of
//! webpki-roots, the CAs of `--cacert`, or (`--insecure`) anything. Another
//! source of trust anchors (the system's store) would be added here.

use std::path::Path;
use std::sync::Arc;

use log::debug;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

use super::verifier::AnyCertificate;
use crate::exit::{Code, WithCode, fail};

/// The only application protocol sockdemo speaks over TLS.
const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// The client settings for trusting the CAs of `cacert` (`None`: the
/// built-in roots), or, when `insecure`, any certificate.
pub fn client_config(cacert: Option<&Path>, insecure: bool) -> anyhow::Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .with_code(Code::TlsHandshake, || "TLS setup")?;
    let mut config = if insecure {
        let verifier = AnyCertificate {
            algorithms: provider.signature_verification_algorithms,
        };
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(trust_anchors(cacert)?)
            .with_no_client_auth()
    };
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    Ok(config)
}

/// The CAs to trust: those of the PEM file given, or the built-in webpki roots.
fn trust_anchors(cacert: Option<&Path>) -> anyhow::Result<RootCertStore> {
    let Some(path) = cacert else {
        return Ok(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        });
    };
    let reading = || format!("CA file {}", path.display());
    let certs = CertificateDer::pem_file_iter(path)
        .with_code(Code::CaCertFile, reading)?
        .collect::<Result<Vec<_>, _>>()
        .with_code(Code::CaCertFile, reading)?;
    let mut store = RootCertStore::empty();
    let (added, rejected) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(fail(
            Code::CaCertFile,
            format!(
                "{}: no usable CA certificate ({rejected} rejected)",
                reading()
            ),
        ));
    }
    debug!("trusting {added} CA certificate(s) from {}", path.display());
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_or_empty_cacert_exits_77() {
        let err = client_config(Some(Path::new("/nonexistent/ca.pem")), false).unwrap_err();
        assert_eq!(Code::of(&err), Code::CaCertFile);
        assert!(
            format!("{err:#}").starts_with("CA file /nonexistent/ca.pem: "),
            "{err:#}"
        );
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = client_config(Some(&empty), false).unwrap_err();
        assert_eq!(Code::of(&err), Code::CaCertFile);
    }

    #[test]
    fn tls_offers_http_1_1_only() {
        let config = client_config(None, false).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let config = client_config(None, true).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }
}
