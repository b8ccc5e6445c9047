//! The transport under an HTTP exchange: it moves bytes and classifies
//! failures into exit codes; it knows nothing of HTTP. Split by job, as
//! ureq splits its own:
//!
//! | module | owns |
//! |---|---|
//! | [`time`] | the timeout and the deadlines on every read and write |
//! | [`resolve`] | the run's one resolver thread, and its cache of answers |
//! | [`eyeballs`] | Happy Eyeballs' rules: the order of the addresses, when each attempt starts |
//! | [`tcp`] | resolving the host, racing connections to its addresses |
//! | [`proxy`] | which proxy a URL goes through, reaching it, the `CONNECT` tunnel |
//! | [`tls`] | wrapping a connection in TLS; its settings, what it trusts, its errors in words |
//! | [`pool`] | connections kept alive between the requests of several URLs |
//!
//! [`Connector::connect`] chains the steps: [`tcp::Dialer::connect`] (or
//! [`proxy::connect`], then [`proxy::open_tunnel`] for `https`) returns a
//! connected stream, [`tls::wrap`] wraps it for `https`.
//!
//! One [`Connector`] serves a whole run: its clones share the resolver
//! (one thread, one cache of answers) and the TLS settings, whose session
//! cache lets a new connection to a host already met resume its TLS
//! session. Several threads connecting at once share it, by reference or
//! by clones.
//!
//! The tutorial's counterpart is `s.connect((host, 80))`.

pub mod eyeballs;
pub mod pool;
pub mod proxy;
pub mod resolve;
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
pub use eyeballs::Family;
use proxy::Proxy;
use tcp::Dialer;
pub use time::Deadline;
use time::TimedStream;
use tls::TlsStream;
use tls::trust::Origin;

/// How a fetch connects, as the command line says: the time limits (`None`:
/// none), the TLS trust settings and the proxy.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Limit on resolving and connecting, all addresses together.
    pub connect_timeout: Option<Duration>,
    /// `-4`, `-6`: the address families allowed.
    pub family: Family,
    /// Limit on waiting for data, and on each step of bounded size: the TLS
    /// handshake, a response head, a redirect's body.
    pub timeout: Option<Duration>,
    /// `--cacert`: a PEM file of CAs to trust instead of the system's.
    pub cacert: Option<PathBuf>,
    /// `--insecure`: do not verify the server's certificate.
    pub insecure: bool,
    /// `-x/--proxy`: the proxy for every URL (`Some("")`: none at all).
    pub proxy: Option<String>,
    /// `--noproxy`: the hosts reached directly, instead of `no_proxy`.
    pub noproxy: Option<String>,
    /// `-U/--proxy-user`: the proxy's `Proxy-Authorization`, over the
    /// credentials of the proxy URL. Never logged.
    pub proxy_authorization: Option<String>,
}

impl Options {
    /// The connector these options describe, choosing proxies from the
    /// process environment too; `user_agent` goes with a `CONNECT`.
    ///
    /// Make one for a run, and give each connecting thread a clone: a
    /// second call would start a second resolver and a second TLS session
    /// cache.
    pub fn connector(self, user_agent: &str) -> Connector {
        Connector::new(
            self.connect_timeout,
            self.timeout,
            self.cacert.as_deref(),
            self.insecure,
        )
        .with_family(self.family)
        .with_proxies(Proxies {
            proxy: self.proxy,
            noproxy: self.noproxy,
            authorization: self.proxy_authorization,
            user_agent: user_agent.to_owned(),
            ..Proxies::default()
        })
    }
}

/// How to connect: the resolver, the address families, the time limits,
/// the TLS trust settings and the proxy.
///
/// Made once for a run, and `Send + Sync`: the threads of a run that
/// connects in parallel share it by reference, or each take a clone. Clones
/// share the resolver (one thread and its cache) and the TLS settings
/// (built once, with one cache of TLS sessions), so every connection of the
/// run resumes what an earlier one to its host established.
#[derive(Debug, Clone)]
pub struct Connector {
    dialer: Dialer,
    timeout: Option<Duration>,
    cacert: Option<PathBuf>,
    insecure: bool,
    proxies: Proxies,
    /// Built on the first `https` connection only, so that a plain-http
    /// fetch never reads a trust store; shared by the clones.
    tls: Arc<OnceLock<Tls>>,
}

/// How a fetch chooses its proxy (see [`proxy::choose`]).
#[derive(Debug, Clone)]
pub struct Proxies {
    /// `-x/--proxy` (`Some("")`: no proxy, whatever the environment says).
    pub proxy: Option<String>,
    /// `--noproxy`: the hosts reached directly, instead of `no_proxy`.
    pub noproxy: Option<String>,
    /// `-U/--proxy-user`: the `Proxy-Authorization` for any proxy chosen.
    pub authorization: Option<String>,
    /// Sent as `User-Agent` on a `CONNECT`.
    pub user_agent: String,
    /// Where the proxy variables are read: the process environment, or a
    /// test's own.
    pub env: fn(&str) -> Option<String>,
}

impl Default for Proxies {
    fn default() -> Self {
        Proxies {
            proxy: None,
            noproxy: None,
            authorization: None,
            user_agent: String::new(),
            env: proxy::process_env,
        }
    }
}

/// The TLS settings and where their trusted certificates came from (`None`
/// with `--insecure`), for the words of a rejected certificate.
#[derive(Debug)]
struct Tls {
    config: Arc<ClientConfig>,
    trust: Option<Origin>,
}

impl Connector {
    /// A connector with these limits (`None`: no limit) and trust settings:
    /// `connect_timeout` for resolving and connecting (all addresses
    /// together), `timeout` for waiting on data and for the TLS handshake
    /// as a whole. It connects directly, over either IP family, unless
    /// [`Connector::with_proxies`] and [`Connector::with_family`] say
    /// otherwise.
    pub fn new(
        connect_timeout: Option<Duration>,
        timeout: Option<Duration>,
        cacert: Option<&Path>,
        insecure: bool,
    ) -> Connector {
        Connector {
            dialer: Dialer {
                connect_timeout,
                ..Dialer::default()
            },
            timeout,
            cacert: cacert.map(Path::to_path_buf),
            insecure,
            proxies: Proxies {
                env: |_| None,
                ..Proxies::default()
            },
            tls: Arc::default(),
        }
    }

    /// The same connector, with only the addresses of `family`.
    pub fn with_family(self, family: Family) -> Connector {
        Connector {
            dialer: Dialer {
                family,
                ..self.dialer
            },
            ..self
        }
    }

    /// The same connector, choosing a proxy for each URL as `proxies` says.
    pub fn with_proxies(self, proxies: Proxies) -> Connector {
        Connector { proxies, ..self }
    }

    /// The limit on waiting for data, which also bounds each step of
    /// bounded size.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Connects to the URL's host and port, through its proxy if it has
    /// one, with TLS for `https`, all before `deadline`, which the stream
    /// then keeps.
    ///
    /// Through a proxy, `https` goes in a `CONNECT` tunnel, with the TLS
    /// handshake, its server name and the certificate check all with the
    /// URL's host, never the proxy; plain `http` is sent to the proxy,
    /// which [`Stream::proxy`] tells the request.
    pub fn connect(&self, url: &Url, deadline: Option<Deadline>) -> anyhow::Result<Stream> {
        let port = url.port_or_known_default().unwrap_or(80);
        let host = url
            .host()
            .ok_or_else(|| fail(Code::UrlMalformed, format!("no host in URL {url}")))?;
        // TLS settings first: an unusable --cacert is reported before any connection.
        let tls = match url.scheme() {
            "https" => Some(self.tls()?),
            _ => None,
        };
        let Proxies {
            proxy,
            noproxy,
            authorization,
            user_agent,
            env,
        } = &self.proxies;
        let proxy = proxy::choose(url, proxy.as_deref(), noproxy.as_deref(), env)?.map(|proxy| {
            match authorization {
                Some(authorization) => proxy.with_authorization(authorization.clone()),
                None => proxy,
            }
        });
        let tcp = match &proxy {
            Some(proxy) => proxy::connect(proxy, &self.dialer, deadline)?,
            None => self.dialer.connect(&host, port, deadline)?,
        };
        let mut stream = TimedStream::new(tcp, self.timeout, deadline);
        let Some(tls) = tls else {
            return Ok(Stream {
                inner: Inner::Plain(stream),
                proxy,
            });
        };
        if let Some(proxy) = &proxy {
            // The proxy's answer is one small head: the timeout bounds it as a whole.
            stream.set_deadline(Deadline::within(
                deadline,
                self.timeout,
                "the proxy's answer to CONNECT",
            ));
            proxy::open_tunnel(&mut stream, proxy, url, user_agent)?;
            stream.set_deadline(deadline);
        }
        let tls = tls::wrap(
            Arc::clone(&tls.config),
            tls.trust.as_ref(),
            &host,
            stream,
            self.timeout,
        )?;
        Ok(Stream {
            inner: Inner::Tls(Box::new(tls)),
            proxy: None,
        })
    }

    /// The proxy a request to `url` goes through, if any, as
    /// [`Connector::connect`] chooses it.
    pub fn route(&self, url: &Url) -> anyhow::Result<Option<Proxy>> {
        let Proxies {
            proxy,
            noproxy,
            env,
            ..
        } = &self.proxies;
        proxy::choose(url, proxy.as_deref(), noproxy.as_deref(), env)
    }

    fn tls(&self) -> anyhow::Result<&Tls> {
        if let Some(tls) = self.tls.get() {
            return Ok(tls);
        }
        let trust = match self.insecure {
            true => None,
            false => Some(tls::config::load_trust(self.cacert.as_deref())?),
        };
        let config = Arc::new(tls::config::client_config(trust.as_ref())?);
        Ok(self.tls.get_or_init(|| Tls {
            config,
            trust: trust.map(|trust| trust.origin),
        }))
    }
}

/// An open connection, plain or TLS, with its time limits.
pub struct Stream {
    inner: Inner,
    /// The proxy a plain-http request goes to, in absolute form.
    proxy: Option<Proxy>,
}

enum Inner {
    Plain(TimedStream),
    Tls(Box<TlsStream>),
}

impl Stream {
    /// The proxy the request goes to, for plain http through one: the
    /// request then names the whole URL (absolute form) and carries the
    /// proxy's credentials.
    pub fn proxy(&self) -> Option<&Proxy> {
        self.proxy.as_ref()
    }

    /// True for TLS, where an end of stream without close_notify can be a
    /// truncation by an attacker.
    pub fn is_tls(&self) -> bool {
        matches!(self.inner, Inner::Tls(_))
    }

    /// Another handle on the socket, through which another thread can shut
    /// the connection down, ending a read or write blocked on it.
    pub fn socket(&self) -> io::Result<std::net::TcpStream> {
        match &self.inner {
            Inner::Plain(stream) => stream.socket().try_clone(),
            Inner::Tls(tls) => tls.sock.socket().try_clone(),
        }
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
    fn clones_share_the_tls_settings_across_threads() {
        fn shareable<T: Clone + Send + Sync>() {}
        shareable::<Connector>();
        let connector = Connector::new(None, None, None, true);
        let clone = connector.clone();
        let theirs = std::thread::spawn(move || Arc::clone(&clone.tls().unwrap().config))
            .join()
            .unwrap();
        let ours = &connector.tls().unwrap().config;
        assert!(
            Arc::ptr_eq(ours, &theirs),
            "two TLS settings, two session caches"
        );
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
