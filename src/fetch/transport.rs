//! The transport under an HTTP exchange: resolving the host, connecting with
//! a time limit to each address in turn, the time limits on reading and
//! writing, and TLS (rustls with the ring provider, webpki roots or
//! `--cacert`, ALPN `http/1.1`). It moves bytes and classifies failures into
//! exit codes; it knows nothing of HTTP.
//!
//! Two kinds of time limit apply to every read and write. The idle limit
//! (`--timeout`) ends a wait on a silent peer. A [`Deadline`] ends a step
//! that must finish by a given time however the bytes trickle in: the whole
//! fetch (`--max-time`), and each step of bounded size (the TLS handshake
//! here, the response head for the caller), which a peer sending one byte
//! just before each idle limit could otherwise stretch for days.
//!
//! The tutorial's counterpart is `s.connect((host, 80))`.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::{Arc, OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

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

/// A time by which a step must be done, and the words that say it was not.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    limit: Duration,
    step: &'static str,
}

impl Deadline {
    /// The deadline of a `step` that starts now and may take `limit`
    /// (`None`: no limit, no deadline).
    pub fn after(limit: Option<Duration>, step: &'static str) -> Option<Deadline> {
        let limit = limit?;
        Some(Deadline {
            at: Instant::now() + limit,
            limit,
            step,
        })
    }

    /// The deadline of a `step` that starts now and may take `limit`, within
    /// an `outer` deadline: whichever comes first.
    pub fn within(
        outer: Option<Deadline>,
        limit: Option<Duration>,
        step: &'static str,
    ) -> Option<Deadline> {
        match (outer, Deadline::after(limit, step)) {
            (Some(outer), Some(own)) if outer.at <= own.at => Some(outer),
            (outer, own) => own.or(outer),
        }
    }

    /// The time left, zero once passed.
    fn left(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// The time a wait may take: `limit` (`None`: none) cut to what is left.
    /// The error, a timeout saying so, once the deadline has passed.
    fn cap(deadline: Option<Deadline>, limit: Option<Duration>) -> io::Result<Option<Duration>> {
        let Some(deadline) = deadline else {
            return Ok(limit);
        };
        let left = deadline.left();
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                deadline.to_string(),
            ));
        }
        Ok(Some(limit.map_or(left, |limit| limit.min(left))))
    }
}

impl std::fmt::Display for Deadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} did not complete within {:?}", self.step, self.limit)
    }
}

/// An open connection, plain or TLS, with its time limits.
pub struct Stream {
    inner: Inner,
}

enum Inner {
    Plain(Timed),
    Tls(Box<StreamOwned<ClientConnection, Timed>>),
}

/// A TCP connection whose every read and write waits at most the idle
/// limit, and never past the deadline.
struct Timed {
    tcp: TcpStream,
    idle: Option<Duration>,
    deadline: Option<Deadline>,
    /// The limit the socket has now, so that it is set again only when it
    /// changes: not at all while the deadline is further off than the idle limit.
    applied: Option<Duration>,
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

    /// The idle limit, which also bounds each step of bounded size.
    pub fn read_timeout(&self) -> Option<Duration> {
        self.read_timeout
    }

    /// Connects to the URL's host and port, with TLS for `https`, all
    /// before `deadline`, which the stream then keeps.
    pub fn connect(&self, url: &Url, deadline: Option<Deadline>) -> anyhow::Result<Stream> {
        let port = url.port_or_known_default().unwrap_or(80);
        let host = url
            .host()
            .ok_or_else(|| fail(Code::UrlMalformed, format!("no host in URL {url}")))?;
        // TLS settings first: an unusable --cacert is reported before any connection.
        let tls_config = match url.scheme() {
            "https" => Some(self.tls_config()?),
            _ => None,
        };
        let tcp = self.connect_tcp(&host, port, deadline)?;
        let timed = Timed {
            tcp,
            idle: self.read_timeout,
            deadline,
            applied: None,
        };
        let Some(config) = tls_config else {
            return Ok(Stream {
                inner: Inner::Plain(timed),
            });
        };
        let tls = self.handshake(config, &host, timed)?;
        Ok(Stream {
            inner: Inner::Tls(Box::new(tls)),
        })
    }

    /// How long resolving, or connecting to one address, may take.
    fn connect_limit(&self, deadline: Option<Deadline>) -> anyhow::Result<Option<Duration>> {
        Deadline::cap(deadline, self.connect_timeout)
            .map_err(|err| fail(Code::Timeout, err.to_string()))
    }

    fn connect_tcp(
        &self,
        host: &Host<&str>,
        port: u16,
        deadline: Option<Deadline>,
    ) -> anyhow::Result<TcpStream> {
        let addrs = resolve(host, port, self.connect_limit(deadline)?)?;
        self.connect_first(&addrs, &format!("{host} port {port}"), deadline)
    }

    /// Connects to the first of `addrs` that accepts, trying each in turn
    /// with its own time limit; `name` says what they are in the error.
    fn connect_first(
        &self,
        addrs: &[SocketAddr],
        name: &str,
        deadline: Option<Deadline>,
    ) -> anyhow::Result<TcpStream> {
        let mut failures = Vec::new();
        let mut all_timed_out = true;
        for addr in addrs {
            debug!("connecting to {addr}");
            let attempt = match self.connect_limit(deadline)? {
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
            format!("{what} {name} ({})", failures.join("; ")),
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
        mut timed: Timed,
    ) -> anyhow::Result<StreamOwned<ClientConnection, Timed>> {
        let name = match *host {
            Host::Domain(domain) => ServerName::try_from(domain.to_owned())
                .map_err(|err| fail(Code::UrlMalformed, format!("{domain}: {err}")))?,
            Host::Ipv4(ip) => ServerName::IpAddress(IpAddr::V4(ip).into()),
            Host::Ipv6(ip) => ServerName::IpAddress(IpAddr::V6(ip).into()),
        };
        let mut tls = ClientConnection::new(config, name)
            .map_err(|err| fail(Code::TlsHandshake, format!("TLS setup for {host}: {err}")))?;
        // A handshake is a few KiB: it gets the idle limit as a whole.
        let later = timed.deadline;
        timed.deadline = Deadline::within(later, self.read_timeout, "the TLS handshake");
        while tls.is_handshaking() {
            tls.complete_io(&mut timed)
                .map_err(|err| handshake_error(err, host))?;
        }
        timed.deadline = later;
        debug!(
            "TLS with {host}: {:?}, {:?}",
            tls.protocol_version(),
            tls.negotiated_cipher_suite().map(|suite| suite.suite())
        );
        Ok(StreamOwned::new(tls, timed))
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Plain(tcp) => tcp.read(buf),
            Inner::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Plain(tcp) => tcp.write(buf),
            Inner::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Plain(tcp) => tcp.flush(),
            Inner::Tls(tls) => tls.flush(),
        }
    }
}

impl Stream {
    /// True for TLS, where an end of stream without close_notify can be a
    /// truncation by an attacker.
    pub fn is_tls(&self) -> bool {
        matches!(self.inner, Inner::Tls(_))
    }

    /// From now on, every read and write must be done by `deadline` (`None`:
    /// only the idle limit applies). A read or write that runs into a limit
    /// fails with [`io::ErrorKind::TimedOut`] and a message naming it.
    pub fn set_deadline(&mut self, deadline: Option<Deadline>) {
        match &mut self.inner {
            Inner::Plain(tcp) => tcp.deadline = deadline,
            Inner::Tls(tls) => tls.sock.deadline = deadline,
        }
    }
}

impl Timed {
    /// Gives the socket the limit the next wait may take.
    fn arm(&mut self) -> io::Result<()> {
        let limit = Deadline::cap(self.deadline, self.idle)?;
        if limit != self.applied {
            self.tcp.set_read_timeout(limit)?;
            self.tcp.set_write_timeout(limit)?;
            self.applied = limit;
        }
        Ok(())
    }

    /// A timeout of the socket, told as the limit that was reached.
    fn explain(&self, err: io::Error, waiting_for: &str) -> io::Error {
        if !matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            return err;
        }
        let message = match self.deadline {
            // The deadline had cut the socket's limit short of the idle limit.
            Some(deadline) if self.applied != self.idle => deadline.to_string(),
            _ => format!("{waiting_for} for {:?}", self.applied.unwrap_or_default()),
        };
        io::Error::new(io::ErrorKind::TimedOut, message)
    }
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        self.tcp
            .read(buf)
            .map_err(|err| self.explain(err, "nothing received"))
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm()?;
        self.tcp
            .write(buf)
            .map_err(|err| self.explain(err, "nothing could be sent"))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
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
fn handshake_error(err: io::Error, host: &Host<&str>) -> anyhow::Error {
    if err.kind() == io::ErrorKind::TimedOut {
        return fail(Code::Timeout, format!("TLS handshake with {host}: {err}"));
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
    fn a_step_deadline_never_outlives_the_outer_one() {
        let outer = Deadline::after(Some(Duration::from_secs(1)), "outer");
        let step = |limit| Deadline::within(outer, limit, "step").map(|d| d.step);
        assert_eq!(step(Some(Duration::from_secs(60))), Some("outer"));
        assert_eq!(step(Some(Duration::from_millis(10))), Some("step"));
        assert_eq!(step(None), Some("outer"));
        assert!(Deadline::within(None, None, "step").is_none());

        let idle = Some(Duration::from_secs(60));
        assert_eq!(Deadline::cap(None, idle).unwrap(), idle);
        let capped = Deadline::cap(outer, idle).unwrap().unwrap();
        assert!(capped <= Duration::from_secs(1), "{capped:?}");
        let passed = Deadline::after(Some(Duration::from_nanos(1)), "the step");
        thread::sleep(Duration::from_millis(1));
        let err = Deadline::cap(passed, idle).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(err.to_string(), "the step did not complete within 1ns");
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
    fn each_address_is_tried_in_turn() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let closed = closed_port_on_loopback();
        let connector = Connector::new(Some(Duration::from_secs(5)), None, None, false);
        let stream = connector
            .connect_first(&[closed, open], "test", None)
            .unwrap();
        assert_eq!(stream.peer_addr().unwrap(), open);
        let err = connector
            .connect_first(&[closed, closed], "test", None)
            .unwrap_err();
        assert_eq!(Code::of(&err), Code::CouldntConnect);
        assert_eq!(format!("{err}").matches("refused").count(), 2, "{err}");
    }

    /// An address on loopback where nothing listens, very likely: a port
    /// just bound and released.
    fn closed_port_on_loopback() -> SocketAddr {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
    }

    #[test]
    fn a_refused_connection_exits_7() {
        let port = closed_port_on_loopback().port();
        let connector = Connector::new(Some(Duration::from_secs(5)), None, None, false);
        let url = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let Err(err) = connector.connect(&url, None) else {
            panic!("connected to a closed port")
        };
        assert_eq!(Code::of(&err), Code::CouldntConnect);
    }
}
