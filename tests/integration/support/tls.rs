//! A private PKI for the HTTPS tests: a CA made here with rcgen, and a
//! rustls server configuration with a certificate it signed, for the
//! [scripted server](super::scripted::Scripted::start_tls).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA, and a server configuration with a certificate it signed.
pub struct Pki {
    /// The CA certificate, for `--cacert`.
    pub ca_pem: String,
    /// The server's own certificate, for pinning it with `--cacert`.
    pub leaf_pem: String,
    pub server: Arc<rustls::ServerConfig>,
    pub hellos: Arc<Hellos>,
}

/// Serves the one certificate, and records what each ClientHello asked for.
#[derive(Debug)]
pub struct Hellos {
    key: Arc<rustls::sign::CertifiedKey>,
    pub seen: Mutex<Vec<Hello>>,
}

/// What a ClientHello asked for: a server name (SNI), ALPN protocols.
pub type Hello = (Option<String>, Vec<Vec<u8>>);

impl rustls::server::ResolvesServerCert for Hellos {
    fn resolve(
        &self,
        hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let alpn = hello
            .alpn()
            .map(|protocols| protocols.map(<[u8]>::to_vec).collect())
            .unwrap_or_default();
        let name = hello.server_name().map(str::to_owned);
        self.seen.lock().expect("hellos").push((name, alpn));
        Some(Arc::clone(&self.key))
    }
}

impl Pki {
    /// A new CA, and a server certificate for these names and addresses.
    pub fn new(names: &[&str]) -> Pki {
        Pki::issue(names, |_| {})
    }

    /// Like [`Pki::new`], with the server certificate's parameters changed
    /// by `adjust` first (its dates, say).
    pub fn issue(names: &[&str], adjust: impl FnOnce(&mut rcgen::CertificateParams)) -> Pki {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::new()).expect("CA params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        // A name of its own, as distinct CAs have: two test CAs of one name
        // would pass for each other's issuer, and fail on the signature.
        static CAS: AtomicUsize = AtomicUsize::new(0);
        let number = CAS.fetch_add(1, Ordering::Relaxed);
        ca_params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("sockdemo test CA {number}"),
        );
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");

        let key = rcgen::KeyPair::generate().expect("server key");
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = rcgen::CertificateParams::new(names).expect("server params");
        adjust(&mut params);
        let cert = params.signed_by(&key, &ca).expect("server certificate");
        let chain = vec![cert.der().clone(), CertificateDer::from(ca.der().to_vec())];
        Pki::serving(ca.pem(), cert.pem(), chain, &key)
    }

    /// A self-signed certificate used as the server's own, marked `CA:TRUE`
    /// as `openssl req -x509` makes it; `ca_pem` and `leaf_pem` are both it.
    pub fn self_signed(names: &[&str]) -> Pki {
        let key = rcgen::KeyPair::generate().expect("key");
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = rcgen::CertificateParams::new(names).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        let cert = params.self_signed(&key).expect("self-signed certificate");
        Pki::serving(cert.pem(), cert.pem(), vec![cert.der().clone()], &key)
    }

    /// A server configuration that sends `chain`, signing with `key`.
    fn serving(
        ca_pem: String,
        leaf_pem: String,
        chain: Vec<CertificateDer<'static>>,
        key: &rcgen::KeyPair,
    ) -> Pki {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let signing_key = provider
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                key.serialize_der(),
            )))
            .expect("server key");
        let hellos = Arc::new(Hellos {
            key: Arc::new(rustls::sign::CertifiedKey::new(chain, signing_key)),
            seen: Mutex::new(Vec::new()),
        });
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&hellos) as Arc<dyn rustls::server::ResolvesServerCert>);
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Pki {
            ca_pem,
            leaf_pem,
            server: Arc::new(server),
            hellos,
        }
    }
}
