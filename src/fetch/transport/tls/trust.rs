//! Whom a TLS connection trusts, and how the server's certificate is checked
//! against it.
//!
//! The trust store is the first of these that is set, as in curl:
//!
//! 1. `--cacert FILE`;
//! 2. the file named by `CURL_CA_BUNDLE`;
//! 3. the file named by `SSL_CERT_FILE` and the directories named by
//!    `SSL_CERT_DIR` (OpenSSL's variables);
//! 4. the system's store (`/etc/ssl/certs`, where `update-ca-certificates`
//!    installs a private CA), read by the rustls-native-certs crate;
//! 5. the built-in webpki roots, only when the system has no store at all.
//!
//! A file or directory the user named that cannot be read or holds no
//! certificate is an error (exit 77), never a reason to fall back to the next
//! source: trusting something other than what was asked for is worse than
//! failing.
//!
//! The server's certificate is checked against the store by
//! [`super::verifier::Verifier`].

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use log::debug;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;

use crate::exit::{Code, fail, fail_with};

/// Where the environment comes from: a function, so that tests need not
/// change the process's own.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// The process environment, for [`Origin::choose`].
pub fn process_env(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

/// Where the trusted certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `--cacert FILE`.
    CaCert(PathBuf),
    /// The file named by `CURL_CA_BUNDLE`.
    CurlCaBundle(PathBuf),
    /// The file named by `SSL_CERT_FILE` and the directories named by
    /// `SSL_CERT_DIR` (colon-separated).
    SslCert {
        /// `SSL_CERT_FILE`, if set.
        file: Option<PathBuf>,
        /// `SSL_CERT_DIR`, split at its colons.
        dirs: Vec<PathBuf>,
    },
    /// The operating system's store.
    System,
    /// The webpki roots built into sockdemo.
    BuiltIn,
}

impl Origin {
    /// The source of trust: `--cacert`, then the environment, then the system.
    pub fn choose(cacert: Option<&Path>, env: Env<'_>) -> Origin {
        // An empty variable is as good as unset.
        let var = |name: &str| env(name).filter(|value| !value.is_empty());
        if let Some(path) = cacert {
            return Origin::CaCert(path.to_path_buf());
        }
        if let Some(path) = var("CURL_CA_BUNDLE") {
            return Origin::CurlCaBundle(path.into());
        }
        let file = var("SSL_CERT_FILE").map(PathBuf::from);
        let dirs: Vec<PathBuf> = var("SSL_CERT_DIR")
            .map(|dirs| {
                std::env::split_paths(&dirs)
                    .filter(|dir| !dir.as_os_str().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if file.is_some() || !dirs.is_empty() {
            return Origin::SslCert { file, dirs };
        }
        Origin::System
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::CaCert(path) => write!(f, "{} (--cacert)", path.display()),
            Origin::CurlCaBundle(path) => write!(f, "{} (CURL_CA_BUNDLE)", path.display()),
            Origin::SslCert { file, dirs } => {
                let mut named = Vec::new();
                if let Some(file) = file {
                    named.push(format!("{} (SSL_CERT_FILE)", file.display()));
                }
                for dir in dirs {
                    named.push(format!("{} (SSL_CERT_DIR)", dir.display()));
                }
                f.write_str(&named.join(" and "))
            }
            Origin::System => f.write_str("the system's CA store"),
            Origin::BuiltIn => f.write_str("the built-in roots"),
        }
    }
}

/// The trusted certificates, and where they came from.
#[derive(Debug)]
pub struct Trust {
    /// Where the certificates came from (the built-in roots when the system
    /// had none).
    pub origin: Origin,
    roots: Arc<RootCertStore>,
    /// Every certificate of the store as loaded, sorted, so that a server
    /// certificate found among them is trusted as it is. Empty for the
    /// built-in roots, which are not certificates but their essentials.
    certificates: Vec<CertificateDer<'static>>,
}

impl Trust {
    /// Loads the certificates of `origin`; `system` reads the system's store
    /// (in a real run, [`rustls_native_certs::load_native_certs`]).
    pub fn load(
        origin: Origin,
        system: impl FnOnce() -> rustls_native_certs::CertificateResult,
    ) -> anyhow::Result<Trust> {
        let certificates = match &origin {
            Origin::CaCert(path) | Origin::CurlCaBundle(path) => {
                read_named(&origin, Some(path), &[])?
            }
            Origin::SslCert { file, dirs } => read_named(&origin, file.as_deref(), dirs)?,
            Origin::System => {
                let found = system();
                for err in &found.errors {
                    debug!("reading the system's CA store: {err}");
                }
                // A store that is there but cannot be read (a set but empty
                // SSL_CERT_FILE makes rustls-native-certs read the path "")
                // is no reason to trust other certificates instead.
                if found.certs.is_empty()
                    && let Some(err) = found.errors.into_iter().next()
                {
                    return Err(fail_with(
                        Code::CaCertFile,
                        "reading the system's CA store",
                        err,
                    ));
                }
                if found.certs.is_empty() {
                    debug!("the system has no CA certificates: trusting the built-in roots");
                    return Ok(Trust::built_in());
                }
                found.certs
            }
            Origin::BuiltIn => return Ok(Trust::built_in()),
        };
        let mut roots = RootCertStore::empty();
        let (added, rejected) = roots.add_parsable_certificates(certificates.iter().cloned());
        if added == 0 {
            return Err(fail(
                Code::CaCertFile,
                format!("{origin}: none of its {rejected} certificates could be parsed"),
            ));
        }
        debug!("trusting {added} certificates from {origin} ({rejected} could not be parsed)");
        let mut certificates = certificates;
        certificates.sort_unstable_by(|a, b| a.as_ref().cmp(b.as_ref()));
        certificates.dedup();
        Ok(Trust {
            origin,
            roots: Arc::new(roots),
            certificates,
        })
    }

    /// The webpki roots built into sockdemo.
    fn built_in() -> Trust {
        Trust {
            origin: Origin::BuiltIn,
            roots: Arc::new(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            }),
            certificates: Vec::new(),
        }
    }

    /// The trust anchors, for path validation.
    pub fn roots(&self) -> Arc<RootCertStore> {
        Arc::clone(&self.roots)
    }

    /// Every certificate of the store as loaded, sorted by their bytes
    /// (none for the built-in roots).
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certificates
    }
}

/// The certificates of a file and directories the user named: each one
/// must be readable and hold a certificate (exit 77), so that a wrong name
/// is never passed over for the others.
fn read_named(
    origin: &Origin,
    file: Option<&Path>,
    dirs: &[PathBuf],
) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let named = |path: &Path, variable: &str| match origin {
        Origin::SslCert { .. } => format!("{} ({variable})", path.display()),
        _ => origin.to_string(),
    };
    let places = file
        .into_iter()
        .map(|file| (named(file, "SSL_CERT_FILE"), Some(file), None))
        .chain(
            dirs.iter()
                .map(|dir| (named(dir, "SSL_CERT_DIR"), None, Some(dir.as_path()))),
        );
    let mut certificates = Vec::new();
    for (place, file, dir) in places {
        let found = rustls_native_certs::load_certs_from_paths(file, dir);
        if let Some(err) = found.errors.into_iter().next() {
            return Err(fail_with(
                Code::CaCertFile,
                format!("reading the CA certificates of {place}"),
                err,
            ));
        }
        if found.certs.is_empty() {
            return Err(fail(
                Code::CaCertFile,
                format!("{place} holds no certificate (PEM, -----BEGIN CERTIFICATE-----)"),
            ));
        }
        certificates.extend(found.certs);
    }
    Ok(certificates)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use std::collections::HashMap;

    /// A self-signed certificate for `names`, `CA:TRUE` as `openssl req -x509` makes it.
    pub(crate) fn self_signed_ca(names: &[&str]) -> rcgen::Certificate {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Distinct subjects, so that no certificate passes for another's issuer.
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names.join(" "));
        params.self_signed(&KeyPair::generate().unwrap()).unwrap()
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn no_system() -> rustls_native_certs::CertificateResult {
        rustls_native_certs::CertificateResult::default()
    }

    #[test]
    fn precedence_is_cacert_curl_ssl_cert_system() {
        let all = [
            ("CURL_CA_BUNDLE", "/curl.pem"),
            ("SSL_CERT_FILE", "/file.pem"),
            ("SSL_CERT_DIR", "/a:/b"),
        ];
        let cacert = Some(Path::new("/flag.pem"));
        assert_eq!(
            Origin::choose(cacert, &env_of(&all)),
            Origin::CaCert("/flag.pem".into())
        );
        assert_eq!(
            Origin::choose(None, &env_of(&all)),
            Origin::CurlCaBundle("/curl.pem".into())
        );
        assert_eq!(
            Origin::choose(None, &env_of(&all[1..])),
            Origin::SslCert {
                file: Some("/file.pem".into()),
                dirs: vec!["/a".into(), "/b".into()]
            }
        );
        assert_eq!(
            Origin::choose(None, &env_of(&all[2..])),
            Origin::SslCert {
                file: None,
                dirs: vec!["/a".into(), "/b".into()]
            }
        );
        assert_eq!(
            Origin::choose(None, &env_of(&[("CURL_CA_BUNDLE", "")])),
            Origin::System
        );
        assert_eq!(Origin::choose(None, &env_of(&[])), Origin::System);
    }

    #[test]
    fn a_named_file_that_is_missing_or_empty_exits_77() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let missing = dir.path().join("missing.pem");
        let good_dir = tempfile::tempdir().unwrap();
        let ca = self_signed_ca(&["private.test"]);
        std::fs::write(good_dir.path().join("ca.pem"), ca.pem()).unwrap();
        let empty_dir = tempfile::tempdir().unwrap();
        for origin in [
            Origin::CaCert(missing.clone()),
            Origin::CaCert(empty.clone()),
            Origin::CurlCaBundle(missing.clone()),
            Origin::SslCert {
                file: Some(empty.clone()),
                dirs: vec![],
            },
            Origin::SslCert {
                file: None,
                dirs: vec![missing.clone()],
            },
            // A good directory does not excuse a bad file, nor the reverse.
            Origin::SslCert {
                file: Some(missing.clone()),
                dirs: vec![good_dir.path().into()],
            },
            Origin::SslCert {
                file: Some(empty.clone()),
                dirs: vec![good_dir.path().into()],
            },
            Origin::SslCert {
                file: Some(good_dir.path().join("ca.pem")),
                dirs: vec![empty_dir.path().into()],
            },
        ] {
            let system_read = std::cell::Cell::new(false);
            let err = Trust::load(origin.clone(), || {
                system_read.set(true);
                no_system()
            })
            .unwrap_err();
            assert_eq!(Code::of(&err), Code::CaCertFile, "{origin}: {err:#}");
            assert!(
                !system_read.get(),
                "{origin}: fell back to the system store"
            );
        }
    }

    #[test]
    fn named_files_and_directories_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let one = self_signed_ca(&["one.test"]);
        let two = self_signed_ca(&["two.test"]);
        let file = dir.path().join("one.pem");
        std::fs::write(&file, one.pem()).unwrap();
        let certs = dir.path().join("certs");
        std::fs::create_dir(&certs).unwrap();
        std::fs::write(certs.join("two.pem"), two.pem()).unwrap();

        let trust = Trust::load(Origin::CaCert(file.clone()), no_system).unwrap();
        assert_eq!(trust.roots().len(), 1);
        let trust = Trust::load(
            Origin::SslCert {
                file: Some(file),
                dirs: vec![certs],
            },
            no_system,
        )
        .unwrap();
        assert_eq!(trust.roots().len(), 2);
    }

    #[test]
    fn the_built_in_roots_only_when_the_system_has_none() {
        let trust = Trust::load(Origin::System, no_system).unwrap();
        assert_eq!(trust.origin, Origin::BuiltIn);
        assert_eq!(trust.roots().len(), webpki_roots::TLS_SERVER_ROOTS.len());

        let private = self_signed_ca(&["private.test"]);
        let trust = Trust::load(Origin::System, || {
            let mut found = rustls_native_certs::CertificateResult::default();
            found.certs.push(private.der().clone());
            found
        })
        .unwrap();
        assert_eq!(trust.origin, Origin::System);
        assert_eq!(trust.roots().len(), 1);

        // A store that is there but unreadable is an error, not a reason to
        // trust the built-in roots instead.
        let err = Trust::load(Origin::System, || {
            rustls_native_certs::load_certs_from_paths(Some(Path::new("")), None)
        })
        .unwrap_err();
        assert_eq!(Code::of(&err), Code::CaCertFile, "{err:#}");
    }
}
