//! The transport under an HTTP exchange: it moves bytes and classifies
//! failures into exit codes; it knows nothing of HTTP. Split by job, as
//! ureq splits its own:
//!
//! | module | owns |
//! |---|---|
//! | [`time`] | the timeout and the deadlines on every read and write |
//! | [`tcp`] | resolving the host, connecting to each address in turn |
//! | [`tls`] | wrapping a connection in TLS; its settings and the `--insecure` verifier |
//!
//! [`Connector::connect`] chains the steps: [`tcp::connect`] returns a
//! connected stream, [`tls::wrap`] wraps it for `https`. A proxy would
//! slot in as another step that returns a stream.
//!
//! The tutorial's counterpart is `s.connect((host, 80))`.

pub mod tcp;
pub mod time;
pub mod tls;

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::ClientConfig;
use url::Url;

use crate::exit::{Code, fail};
pub use time::Deadline;
use time::TimedStream;
use tls::TlsStream;

/// How to connect: the time limits and the TLS trust settings.
#[derive(Debug)]
pub struct Connector {
    connect_timeout: Option<Duration>,
    timeout: Option<Duration>,
    cacert: Option<PathBuf>,
    insecure: bool,
    /// Built on the first `https` connection only, so that a plain-http
    /// fetch never reads `--cacert`.
    tls: OnceLock<Arc<ClientConfig>>,
}

impl Connector {
    /// A connector with these limits (`None`: no limit) and trust settings:
    /// `connect_timeout` for resolving and for each address, `timeout` for
    /// waiting on data and for the TLS handshake as a whole.
    pub fn new(
        connect_timeout: Option<Duration>,
        timeout: Option<Duration>,
        cacert: Option<&Path>,
        insecure: bool,
    ) -> Connector {
        Connector {
            connect_timeout,
            timeout,
            cacert: cacert.map(Path::to_path_buf),
            insecure,
            tls: OnceLock::new(),
        }
    }

    /// The limit on waiting for data, which also bounds each step of
    /// bounded size.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
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
        let tcp = tcp::connect(&host, port, self.connect_timeout, deadline)?;
        let stream = TimedStream::new(tcp, self.timeout, deadline);
        let inner = match tls_config {
            None => Inner::Plain(stream),
            Some(config) => Inner::Tls(Box::new(tls::wrap(config, &host, stream, self.timeout)?)),
        };
        Ok(Stream { inner })
    }

    fn tls_config(&self) -> anyhow::Result<Arc<ClientConfig>> {
        if let Some(config) = self.tls.get() {
            return Ok(Arc::clone(config));
        }
        let config = Arc::new(tls::config::client_config(
            self.cacert.as_deref(),
            self.insecure,
        )?);
        Ok(Arc::clone(self.tls.get_or_init(|| config)))
    }
}

/// An open connection, plain or TLS, with its time limits.
pub struct Stream {
    inner: Inner,
}

enum Inner {
    Plain(TimedStream),
    Tls(Box<TlsStream>),
}

impl Stream {
    /// True for TLS, where an end of stream without close_notify can be a
    /// truncation by an attacker.
    pub fn is_tls(&self) -> bool {
        matches!(self.inner, Inner::Tls(_))
    }

    /// From now on, every read and write must be done by `deadline` (`None`:
    /// only the timeout applies). A read or write that runs into a limit
    /// fails with [`io::ErrorKind::TimedOut`] and a message naming it.
    pub fn set_deadline(&mut self, deadline: Option<Deadline>) {
        match &mut self.inner {
            Inner::Plain(stream) => stream.set_deadline(deadline),
            Inner::Tls(tls) => tls.sock.set_deadline(deadline),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Plain(stream) => stream.read(buf),
            Inner::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Plain(stream) => stream.write(buf),
            Inner::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Plain(stream) => stream.flush(),
            Inner::Tls(tls) => tls.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_connection_exits_7() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let connector = Connector::new(Some(Duration::from_secs(5)), None, None, false);
        let url = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let Err(err) = connector.connect(&url, None) else {
            panic!("connected to a closed port")
        };
        assert_eq!(Code::of(&err), Code::CouldntConnect);
    }

    #[test]
    fn a_plain_url_never_reads_the_cacert() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let missing = Path::new("/nonexistent/ca.pem");
        let connector = Connector::new(None, None, Some(missing), false);
        let plain = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let stream = connector.connect(&plain, None).unwrap();
        assert!(!stream.is_tls());
        let https = Url::parse(&format!("https://127.0.0.1:{port}/")).unwrap();
        let Err(err) = connector.connect(&https, None) else {
            panic!("an unreadable --cacert was accepted")
        };
        assert_eq!(Code::of(&err), Code::CaCertFile);
    }
}
