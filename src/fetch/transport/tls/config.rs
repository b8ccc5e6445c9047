//! The TLS client settings: rustls with the ring provider only, TLS 1.2
//! and 1.3, ALPN `http/1.1`, and what to trust: the certificates of a
//! [`Trust`] (`--cacert`, the environment, the system's store or the
//! built-in roots, see [`super::trust`]) checked by its [`Verifier`], or
//! (`--insecure`) anything.

use std::path::Path;
use std::sync::Arc;

use rustls::ClientConfig;

use super::trust::{self, Origin, Trust};
use super::verifier::{AnyCertificate, Verifier};
use crate::exit::{Code, WithCode};

/// The only application protocol sockdemo speaks over TLS.
const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// The trusted certificates for `--cacert` (`None`: the environment's or
/// the system's), read from the process environment and the system.
pub fn load_trust(cacert: Option<&Path>) -> anyhow::Result<Trust> {
    let origin = Origin::choose(cacert, &trust::process_env);
    Trust::load(origin, rustls_native_certs::load_native_certs)
}

/// The client settings for checking certificates against `trust`, or, with
/// `None` (`--insecure`), for accepting any certificate.
pub fn client_config(trust: Option<&Trust>) -> anyhow::Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .with_code(Code::TlsHandshake, || "TLS setup")?;
    let mut config = match trust {
        Some(trust) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier::new(trust, provider)?))
            .with_no_client_auth(),
        None => {
            let verifier = AnyCertificate {
                algorithms: provider.signature_verification_algorithms,
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth()
        }
    };
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_or_empty_cacert_exits_77() {
        let err = load_trust(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert_eq!(Code::of(&err), Code::CaCertFile);
        assert!(
            format!("{err:#}")
                .starts_with("reading the CA certificates of /nonexistent/ca.pem (--cacert): "),
            "{err:#}"
        );
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = load_trust(Some(&empty)).unwrap_err();
        assert_eq!(Code::of(&err), Code::CaCertFile);
    }

    #[test]
    fn tls_offers_http_1_1_only() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(
            &ca,
            super::super::trust::tests::self_signed_ca(&["a.test"]).pem(),
        )
        .unwrap();
        let trust = load_trust(Some(&ca)).unwrap();
        let config = client_config(Some(&trust)).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let config = client_config(None).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }
}
