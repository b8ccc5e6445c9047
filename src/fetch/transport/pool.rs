//! Connections kept alive between the requests of a fetch of several URLs
//! (RFC 9112 section 9.3): a connection whose response left it reusable is
//! kept while another URL of its origin is waiting, and the next request to
//! that origin takes it instead of connecting again.
//!
//! A connection is kept for one *route*: the origin (scheme, host, port)
//! when connected directly; the proxy alone for plain http through a proxy,
//! which forwards requests to any origin; the proxy and the origin for a
//! `CONNECT` tunnel, which leads to one origin only.
//!
//! Whether a response left its connection reusable is the pure rule of
//! [`crate::http::reusable`]; the pool only keeps what it is given. It keeps
//! nothing for long: a connection idle for [`IDLE_TIMEOUT`] is closed, and
//! one that no waiting URL will use is closed at once.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use log::debug;
use url::{Host, Url};

use super::proxy::Proxy;
use super::{Connector, Deadline, Stream};
use crate::exit::{Code, fail};
use crate::fetch::attempt::Connect;
use crate::fetch::exchange::{RECEIVE_BUFFER, Wire};

/// An idle connection is closed after this long: servers close theirs
/// after a few seconds too (Apache's default is 5 s), and a connection
/// kept longer would mostly meet a server that has already closed it.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// Where a connection leads, for reuse: see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Route {
    /// Straight to the origin server.
    Direct {
        /// `http` or `https`.
        scheme: String,
        /// The origin's host.
        host: Host<String>,
        /// The origin's port.
        port: u16,
    },
    /// Plain http through a proxy, which forwards to any origin.
    Forward {
        /// The proxy's host.
        proxy: Host<String>,
        /// The proxy's port.
        port: u16,
    },
    /// A `CONNECT` tunnel through a proxy to one origin.
    Tunnel {
        /// The proxy's host and port.
        proxy: (Host<String>, u16),
        /// The origin's host.
        host: Host<String>,
        /// The origin's port.
        port: u16,
    },
}

impl Route {
    /// The route of a request to `url` through `proxy` (`None`: direct).
    /// `None` for a URL without a host, which never connects.
    pub fn of(url: &Url, proxy: Option<&Proxy>) -> Option<Route> {
        let host = url.host()?.to_owned();
        let port = url.port_or_known_default()?;
        Some(match (proxy, url.scheme()) {
            (None, scheme) => Route::Direct {
                scheme: scheme.to_owned(),
                host,
                port,
            },
            (Some(proxy), "http") => Route::Forward {
                proxy: proxy.host.clone(),
                port: proxy.port,
            },
            (Some(proxy), _) => Route::Tunnel {
                proxy: (proxy.host.clone(), proxy.port),
                host,
                port,
            },
        })
    }
}

/// A connection of the pool: new, or kept from an earlier request.
pub struct Pooled {
    stream: Stream,
    reused: bool,
    /// The bytes received by all the pool's connections, for the progress bar.
    received: Arc<AtomicU64>,
    /// Its handle in the pool, for [`Pool::stop`].
    registration: Registration,
}

/// The sockets of the pool's connections, in use or idle, by number,
/// through which [`Pool::stop`] shuts them down.
#[derive(Default)]
struct Sockets {
    next: u64,
    open: HashMap<u64, TcpStream>,
}

/// A connection's place in [`Sockets`], from when it is made to when it is
/// closed: a kept connection keeps its place, so that a request on it costs
/// no second handle.
struct Registration {
    number: Option<u64>,
    sockets: Arc<Mutex<Sockets>>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(number) = self.number {
            lock(&self.sockets).open.remove(&number);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Sockets and counts stay consistent whatever a panicking holder did.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Read for Pooled {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stream.read(buf)?;
        self.received.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl Write for Pooled {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

impl Wire for Pooled {
    fn set_deadline(&mut self, deadline: Option<Deadline>) {
        self.stream.set_deadline(deadline);
    }

    fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }

    fn proxy(&self) -> Option<&Proxy> {
        self.stream.proxy()
    }

    fn reused(&self) -> bool {
        self.reused
    }
}

/// An idle connection and since when.
struct Idle {
    stream: Stream,
    registration: Registration,
    since: Instant,
}

/// What the pool holds: the idle connections of each route, and how many
/// requests are still to come on each.
#[derive(Default)]
struct State {
    idle: HashMap<Route, Vec<Idle>>,
    waiting: HashMap<Route, usize>,
}

impl State {
    /// Closes the connections idle for longer than [`IDLE_TIMEOUT`].
    fn close_expired(&mut self, now: Instant) {
        self.idle.retain(|route, idle| {
            let before = idle.len();
            idle.retain(|kept| now.duration_since(kept.since) < IDLE_TIMEOUT);
            if idle.len() < before {
                debug!(
                    "closed {} idle connection(s) to {route:?}",
                    before - idle.len()
                );
            }
            !idle.is_empty()
        });
    }
}

/// The connections of a fetch of several URLs, shared by its transfers.
pub struct Pool {
    connector: Connector,
    state: Mutex<State>,
    receive_buffer: usize,
    sockets: Arc<Mutex<Sockets>>,
    stopped: AtomicBool,
    received: Arc<AtomicU64>,
}

impl Pool {
    /// An empty pool that makes its connections with `connector`.
    pub fn new(connector: Connector) -> Pool {
        Pool {
            connector,
            state: Mutex::default(),
            receive_buffer: RECEIVE_BUFFER,
            sockets: Arc::default(),
            stopped: AtomicBool::new(false),
            received: Arc::default(),
        }
    }

    /// The count of bytes received by the pool's connections, heads and
    /// framing included: what the progress bar shows moving.
    pub fn received(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.received)
    }

    /// Stops every transfer: the connections in use are shut down (a read
    /// or write blocked on one ends at once), the idle ones closed, and no
    /// new one is made.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.lock().idle.clear();
        for socket in lock(&self.sockets).open.values() {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    /// `stream`, a new connection, registered for [`Pool::stop`].
    fn register(&self, stream: Stream) -> Pooled {
        let mut sockets = lock(&self.sockets);
        let number = match stream.socket() {
            Ok(socket) => {
                sockets.next += 1;
                let number = sockets.next;
                sockets.open.insert(number, socket);
                Some(number)
            }
            Err(err) => {
                debug!("no second handle on a connection: it cannot be stopped early: {err}");
                None
            }
        };
        drop(sockets);
        if self.stopped.load(Ordering::SeqCst) {
            // Stopped meanwhile: this one ends too.
            if let Ok(socket) = stream.socket() {
                let _ = socket.shutdown(Shutdown::Both);
            }
        }
        Pooled {
            stream,
            reused: false,
            received: Arc::clone(&self.received),
            registration: Registration {
                number,
                sockets: Arc::clone(&self.sockets),
            },
        }
    }

    /// The same pool, its exchanges receiving into buffers of `size` bytes.
    pub fn with_receive_buffer(self, size: usize) -> Pool {
        Pool {
            receive_buffer: size,
            ..self
        }
    }

    /// Says that a request to `url` is to come: until it [`begins`](Pool::begin),
    /// a connection of its route is worth keeping.
    pub fn expect(&self, url: &Url) {
        if let Some(route) = self.route(url) {
            *self.lock().waiting.entry(route).or_default() += 1;
        }
    }

    /// Says that the request to `url` announced by [`Pool::expect`] starts.
    pub fn begin(&self, url: &Url) {
        let Some(route) = self.route(url) else {
            return;
        };
        let mut state = self.lock();
        if let Some(waiting) = state.waiting.get_mut(&route) {
            *waiting = waiting.saturating_sub(1);
            if *waiting == 0 {
                // The request starting may still take an idle connection;
                // none is kept after it.
                state.waiting.remove(&route);
            }
        }
    }

    /// The route of `url`, or `None` when its proxy cannot be chosen (the
    /// connection attempt then says why).
    fn route(&self, url: &Url) -> Option<Route> {
        let proxy = self.connector.route(url).ok()?;
        Route::of(url, proxy.as_ref())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The number of idle connections kept, for tests.
    #[cfg(test)]
    pub fn idle(&self) -> usize {
        self.lock().idle.values().map(Vec::len).sum()
    }
}

impl Pool {
    /// Fails once the pool is stopped.
    fn check_stopped(&self) -> anyhow::Result<()> {
        match self.stopped.load(Ordering::SeqCst) {
            true => Err(fail(
                Code::Failure,
                "stopped: another URL failed (--fail-early)",
            )),
            false => Ok(()),
        }
    }
}

impl Connect for Pool {
    type Wire = Pooled;

    fn connect(&self, url: &Url, deadline: Option<Deadline>) -> anyhow::Result<Pooled> {
        self.check_stopped()?;
        if let Some(route) = self.route(url) {
            let mut state = self.lock();
            state.close_expired(Instant::now());
            if let Some(kept) = state.idle.get_mut(&route).and_then(Vec::pop) {
                drop(state);
                debug!("reusing a kept connection to {route:?}");
                let mut stream = kept.stream;
                stream.set_deadline(deadline);
                return Ok(Pooled {
                    stream,
                    reused: true,
                    received: Arc::clone(&self.received),
                    registration: kept.registration,
                });
            }
        }
        self.connect_new(url, deadline)
    }

    fn timeout(&self) -> Option<Duration> {
        self.connector.timeout()
    }

    fn receive_buffer(&self) -> usize {
        self.receive_buffer
    }

    fn keep_alive(&self, url: &Url) -> bool {
        self.route(url)
            .is_some_and(|route| self.lock().waiting.get(&route).is_some_and(|&n| n > 0))
    }

    fn connect_new(&self, url: &Url, deadline: Option<Deadline>) -> anyhow::Result<Pooled> {
        self.check_stopped()?;
        let stream = self.connector.connect(url, deadline)?;
        Ok(self.register(stream))
    }

    fn stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    fn release(&self, url: &Url, wire: Pooled) {
        let Some(route) = self.route(url) else {
            return;
        };
        if self.stopped() {
            return;
        }
        let mut state = self.lock();
        let now = Instant::now();
        state.close_expired(now);
        if state.waiting.get(&route).is_some_and(|&n| n > 0) {
            state.idle.entry(route).or_default().push(Idle {
                stream: wire.stream,
                registration: wire.registration,
                since: now,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn routes_are_origins_the_forwarding_proxy_or_a_tunnel_per_origin() {
        let proxy = Proxy::parse("http://p:3128").unwrap();
        let direct = |u| Route::of(&url(u), None).unwrap();
        let proxied = |u| Route::of(&url(u), Some(&proxy)).unwrap();
        assert_eq!(direct("http://h/a"), direct("http://h:80/b"));
        assert_ne!(direct("http://h/a"), direct("https://h/a"), "scheme");
        assert_ne!(direct("http://h/a"), direct("http://h:81/a"), "port");
        assert_ne!(direct("http://h/a"), direct("http://g/a"), "host");
        assert_eq!(
            proxied("http://h/a"),
            proxied("http://other/b"),
            "a forwarding proxy takes any origin"
        );
        assert_ne!(
            proxied("https://h/a"),
            proxied("https://other/a"),
            "a tunnel leads to one origin"
        );
        assert_eq!(proxied("https://h/a"), proxied("https://h/b"));
        assert_ne!(proxied("https://h/a"), direct("https://h/a"));
    }

    #[test]
    fn a_connection_is_kept_only_while_a_request_of_its_route_waits() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let pool = Pool::new(Connector::new(None, None, None, false));
        let (a, b) = (
            url(&format!("http://127.0.0.1:{port}/a")),
            url(&format!("http://127.0.0.1:{port}/b")),
        );
        pool.expect(&a);
        pool.expect(&b);
        pool.begin(&a);
        assert!(pool.keep_alive(&a), "b waits");
        let first = pool.connect(&a, None).unwrap();
        assert!(!first.reused());
        pool.release(&a, first);
        assert_eq!(pool.idle(), 1);
        pool.begin(&b);
        let second = pool.connect(&b, None).unwrap();
        assert!(second.reused(), "b takes a's connection");
        assert!(!pool.keep_alive(&b), "nothing waits after b");
        pool.release(&b, second);
        assert_eq!(pool.idle(), 0, "no one will use it: closed");
    }

    #[test]
    fn an_expired_connection_is_closed() {
        let mut state = State::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connector = Connector::new(None, None, None, false);
        let u = url(&format!("http://127.0.0.1:{port}/"));
        let stream = connector.connect(&u, None).unwrap();
        let route = Route::of(&u, None).unwrap();
        let since = Instant::now();
        state.idle.entry(route).or_default().push(Idle {
            stream,
            registration: Registration {
                number: None,
                sockets: Arc::default(),
            },
            since,
        });
        state.close_expired(since + IDLE_TIMEOUT / 2);
        assert_eq!(state.idle.len(), 1);
        state.close_expired(since + IDLE_TIMEOUT);
        assert!(state.idle.is_empty());
    }
}
