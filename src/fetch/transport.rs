//! The transport under an HTTP exchange: resolving the host, connecting with
//! a time limit to each address in turn, the idle-read time limit, and TLS
//! (rustls with the ring provider, webpki roots or `--cacert`, ALPN
//! `http/1.1`). It moves bytes and classifies failures into exit codes; it
//! knows nothing of HTTP.
//!
//! The tutorial's counterpart is `s.connect((host, 80))`.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::{Arc, OnceLock, mpsc};
use std::thread;
use std::time::Duration;

use log::debug;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use url::{Host, Url};

use crate::exit::{Code, fail};

/// The only application protocol sockdemo speaks over TLS.
const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// How to connect: the time limits and the TLS trust settings.
#[derive(Debug)]
pub struct Connector {
    connect_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    cacert: Option<std::path::PathBuf>,
    insecure: bool,
    /// Built on the first `https` connection only, so that a plain-http
    /// fetch never reads `--cacert`.
    tls: OnceLock<Arc<ClientConfig>>,
}

/// An open connection, plain or TLS, with the idle-read limit set.
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP, the handshake done.
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Connector {
    /// A connector with these limits (`None`: no limit) and trust settings.
    pub fn new(
        connect_timeout: Option<Duration>,
        read_timeout: Option<Duration>,
        cacert: Option<&Path>,
        insecure: bool,
    ) -> Connector {
        Connector {
            connect_timeout,
            read_timeout,
            cacert: cacert.map(Path::to_path_buf),
            insecure,
            tls: OnceLock::new(),
        }
    }

    /// The idle-read limit, for messages.
    pub fn read_timeout(&self) -> Option<Duration> {
        self.read_timeout
    }

    /// Connects to the URL's host and port, with TLS for `https`.
    pub fn connect(&self, url: &Url) -> anyhow::Result<Stream> {
        let port = url.port_or_known_default().unwrap_or(80);
        let host = url
            .host()
            .ok_or_else(|| fail(Code::UrlMalformed, format!("no host in URL {url}")))?;
        // TLS settings first: an unusable --cacert is reported before any connection.
        let tls_config = match url.scheme() {
            "https" => Some(self.tls_config()?),
            _ => None,
        };
        let tcp = self.connect_tcp(&host, port)?;
        let set_limits = tcp
            .set_read_timeout(self.read_timeout)
            .and_then(|()| tcp.set_write_timeout(self.read_timeout));
        set_limits.map_err(|err| {
            fail(
                Code::CouldntConnect,
                format!("setting up the socket: {err}"),
            )
        })?;
        let Some(config) = tls_config else {
            return Ok(Stream::Plain(tcp));
        };
        let tls = self.handshake(config, &host, tcp)?;
        Ok(Stream::Tls(Box::new(tls)))
    }

    fn connect_tcp(&self, host: &Host<&str>, port: u16) -> anyhow::Result<TcpStream> {
        let addrs = resolve(host, port, self.connect_timeout)?;
        let mut failures = Vec::new();
        let mut all_timed_out = true;
        for addr in &addrs {
            debug!("connecting to {addr}");
            let attempt = match self.connect_timeout {
                Some(limit) => TcpStream::connect_timeout(addr, limit),
                None => TcpStream::connect(addr),
            };
            match attempt {
                Ok(stream) => {
                    debug!("connected to {addr}");
                    return Ok(stream);
                }
                Err(err) => {
                    debug!("connecting to {addr}: {err}");
                    all_timed_out &= err.kind() == io::ErrorKind::TimedOut;
                    failures.push(format!("{addr}: {err}"));
                }
            }
        }
        let (code, what) = if all_timed_out {
            (Code::Timeout, "timed out connecting to")
        } else {
            (Code::CouldntConnect, "could not connect to")
        };
        Err(fail(
            code,
            format!("{what} {host} port {port} ({})", failures.join("; ")),
        ))
    }

    fn tls_config(&self) -> anyhow::Result<Arc<ClientConfig>> {
        if let Some(config) = self.tls.get() {
            return Ok(Arc::clone(config));
        }
        let config = Arc::new(tls_config(self.cacert.as_deref(), self.insecure)?);
        Ok(Arc::clone(self.tls.get_or_init(|| config)))
    }

    fn handshake(
        &self,
        config: Arc<ClientConfig>,
        host: &Host<&str>,
        mut tcp: TcpStream,
    ) -> anyhow::Result<StreamOwned<ClientConnection, TcpStream>> {
        let name = match *host {
            Host::Domain(domain) => ServerName::try_from(domain.to_owned())
                .map_err(|err| fail(Code::UrlMalformed, format!("{domain}: {err}")))?,
            Host::Ipv4(ip) => ServerName::IpAddress(IpAddr::V4(ip).into()),
            Host::Ipv6(ip) => ServerName::IpAddress(IpAddr::V6(ip).into()),
        };
        let mut tls = ClientConnection::new(config, name)
            .map_err(|err| fail(Code::TlsHandshake, format!("TLS setup for {host}: {err}")))?;
        while tls.is_handshaking() {
            tls.complete_io(&mut tcp)
                .map_err(|err| handshake_error(err, host, self.read_timeout))?;
        }
        debug!(
            "TLS with {host}: {:?}, {:?}",
            tls.protocol_version(),
            tls.negotiated_cipher_suite().map(|suite| suite.suite())
        );
        Ok(StreamOwned::new(tls, tcp))
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            Stream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}

impl Stream {
    /// True for TLS, where an end of stream without close_notify can be a
    /// truncation by an attacker.
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }
}

/// Resolves a host to its addresses (an IP literal is its own address),
/// within `limit`: the system resolver has no time limit of its own, so it
/// runs on a thread of its own that is left behind if it does not answer.
fn resolve(
    host: &Host<&str>,
    port: u16,
    limit: Option<Duration>,
) -> anyhow::Result<Vec<SocketAddr>> {
    let domain = match *host {
        Host::Ipv4(ip) => return Ok(vec![SocketAddr::from((ip, port))]),
        Host::Ipv6(ip) => return Ok(vec![SocketAddr::from((ip, port))]),
        Host::Domain(domain) => domain.to_owned(),
    };
    let (tx, rx) = mpsc::channel();
    let lookup = {
        let domain = domain.clone();
        move || {
            let result = (domain.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect::<Vec<_>>);
            // The receiver is gone only if it gave up waiting.
            let _ = tx.send(result);
        }
    };
    thread::Builder::new()
        .name("resolve".into())
        .spawn(lookup)
        .map_err(|err| fail(Code::CouldntResolve, format!("resolving {domain}: {err}")))?;
    let answer = match limit {
        Some(limit) => rx.recv_timeout(limit).map_err(|_| {
            fail(
                Code::Timeout,
                format!("resolving {domain}: no answer within {limit:?}"),
            )
        })?,
        None => rx.recv().map_err(|_| {
            fail(
                Code::CouldntResolve,
                format!("resolving {domain}: no answer"),
            )
        })?,
    };
    let addrs = answer.map_err(|err| {
        fail(
            Code::CouldntResolve,
            format!("could not resolve host {domain}: {err}"),
        )
    })?;
    if addrs.is_empty() {
        return Err(fail(
            Code::CouldntResolve,
            format!("host {domain} has no address"),
        ));
    }
    Ok(addrs)
}

/// The TLS client settings: ring only, TLS 1.2 and 1.3, ALPN `http/1.1`,
/// and either the webpki roots, the CAs of `--cacert`, or (`--insecure`) no
/// certificate check at all.
fn tls_config(cacert: Option<&Path>, insecure: bool) -> anyhow::Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|err| fail(Code::TlsHandshake, format!("TLS setup: {err}")))?;
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
    let unreadable = |why: String| {
        fail(
            Code::CaCertFile,
            format!("CA file {}: {why}", path.display()),
        )
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|err| unreadable(err.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| unreadable(err.to_string()))?;
    let mut store = RootCertStore::empty();
    let (added, rejected) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(unreadable(format!(
            "no usable CA certificate ({rejected} rejected)"
        )));
    }
    debug!("trusting {added} CA certificate(s) from {}", path.display());
    Ok(store)
}

/// The exit code and message of a failed handshake: a rejected certificate
/// (60) is told apart from other TLS failures (35) and from a timeout (28).
fn handshake_error(err: io::Error, host: &Host<&str>, limit: Option<Duration>) -> anyhow::Error {
    if matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) {
        let limit = limit.unwrap_or_default();
        return fail(
            Code::Timeout,
            format!("TLS handshake with {host}: nothing received for {limit:?}"),
        );
    }
    let tls_error = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls_error {
        Some(rustls::Error::InvalidCertificate(why)) => fail(
            Code::PeerCertificate,
            format!("certificate of {host} rejected: {why:?} (use --cacert to trust a private CA)"),
        ),
        _ => fail(
            Code::TlsHandshake,
            format!("TLS handshake with {host} failed: {err}"),
        ),
    }
}

/// `--insecure`: accepts any certificate, but still checks that the server
/// holds the key of the certificate it sent (that costs nothing and keeps
/// the handshake itself sound).
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
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
    use super::*;

    #[test]
    fn an_unreadable_or_empty_cacert_exits_77() {
        let err = tls_config(Some(Path::new("/nonexistent/ca.pem")), false).unwrap_err();
        assert_eq!(Code::of(&err), Code::CaCertFile);
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = tls_config(Some(&empty), false).unwrap_err();
        assert_eq!(Code::of(&err), Code::CaCertFile);
    }

    #[test]
    fn tls_offers_http_1_1_only() {
        let config = tls_config(None, false).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let config = tls_config(None, true).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn literal_addresses_need_no_lookup() {
        let v6 = Host::Ipv6("::1".parse().unwrap());
        assert_eq!(
            resolve(&v6, 8080, None).unwrap(),
            vec!["[::1]:8080".parse().unwrap()]
        );
    }

    #[test]
    fn a_refused_connection_exits_7() {
        // Bind then drop: the port is very likely closed right after.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let connector = Connector::new(Some(Duration::from_secs(5)), None, None, false);
        let url = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let Err(err) = connector.connect(&url) else {
            panic!("connected to a closed port")
        };
        assert_eq!(Code::of(&err), Code::CouldntConnect);
    }
}
