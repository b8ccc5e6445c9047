//! A scripted HTTP server for the fetch tests: for each request it plays a
//! list of actions chosen by the test (send these bytes, pause, reset the
//! connection, stall), over plain TCP or TLS, on 127.0.0.1 port 0. It
//! records every request head it receives. Dropping it stops it.
//!
//! It also plays a server that answers without reading a request (what a
//! plain HTTP server does with a TLS ClientHello, or a TLS peer's bytes).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::acceptor::Acceptor;

/// How long any connection of the server may live: a bound on every test.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(20);

/// One step of a scripted response.
#[derive(Debug, Clone)]
pub enum Act {
    /// Send these bytes.
    Send(Vec<u8>),
    /// Wait this long.
    Pause(Duration),
    /// Wait until the test gives this cue (at most [`CUE_PATIENCE`]).
    Await(Cue),
    /// Close with a TCP reset instead of a clean close.
    Reset,
    /// Keep the connection open, sending nothing, until the server is dropped.
    Stall,
    /// Close without a TLS close_notify (for plain TCP, a normal close).
    CloseAbruptly,
}

/// How long an [`Act::Await`] waits for its cue before it goes on: long
/// enough for a busy machine, shorter than [`STEP`](super::STEP), so that
/// the test's own assertion reports what did not happen.
const CUE_PATIENCE: Duration = Duration::from_secs(5);

/// An event the test signals and a script waits for.
#[derive(Clone, Default)]
pub struct Cue(Arc<(Mutex<bool>, Condvar)>);

impl Cue {
    /// Lets every script waiting for the cue go on.
    pub fn give(&self) {
        let (given, changed) = &*self.0;
        *given.lock().expect("cue") = true;
        changed.notify_all();
    }

    fn wait(&self) {
        let (given, changed) = &*self.0;
        let given = given.lock().expect("cue");
        let _ = changed
            .wait_timeout_while(given, CUE_PATIENCE, |given| !*given)
            .expect("cue");
    }
}

impl fmt::Debug for Cue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cue")
    }
}

/// Shorthand for `Act::Send`.
pub fn send(bytes: impl AsRef<[u8]>) -> Act {
    Act::Send(bytes.as_ref().to_vec())
}

type Handler = dyn Fn(&str) -> Vec<Act> + Send + Sync;

/// What the server waits for before it plays its actions.
#[derive(Clone, Copy)]
enum Prompt {
    /// A whole request head, whose target picks the actions.
    Request,
    /// Nothing: the actions start as soon as the connection is accepted.
    Connection,
}

/// A running scripted server.
pub struct Scripted {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
    _acceptor: Acceptor,
}

impl Scripted {
    /// Serves plain HTTP: `handler` maps a request's target (`/path?query`)
    /// to the actions that answer it.
    pub fn start(handler: impl Fn(&str) -> Vec<Act> + Send + Sync + 'static) -> Scripted {
        Scripted::start_on("127.0.0.1:0", None, handler)
    }

    /// Plays `acts` to every connection as soon as it is accepted, over
    /// plain TCP, reading nothing.
    pub fn start_unprompted(acts: Vec<Act>) -> Scripted {
        Scripted::listen(
            "127.0.0.1:0",
            None,
            Prompt::Connection,
            Arc::new(move |_| acts.clone()),
        )
    }

    /// Serves HTTPS with this TLS configuration.
    pub fn start_tls(
        tls: Arc<rustls::ServerConfig>,
        handler: impl Fn(&str) -> Vec<Act> + Send + Sync + 'static,
    ) -> Scripted {
        Scripted::start_on("127.0.0.1:0", Some(tls), handler)
    }

    /// Serves plain HTTP on the given loopback address (port 0).
    pub fn start_on(
        listen: &str,
        tls: Option<Arc<rustls::ServerConfig>>,
        handler: impl Fn(&str) -> Vec<Act> + Send + Sync + 'static,
    ) -> Scripted {
        Scripted::listen(listen, tls, Prompt::Request, Arc::new(handler))
    }

    fn listen(
        listen: &str,
        tls: Option<Arc<rustls::ServerConfig>>,
        prompt: Prompt,
        handler: Arc<Handler>,
    ) -> Scripted {
        let listener = TcpListener::bind(listen).expect("bind the scripted server");
        let addr = listener.local_addr().expect("local address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let requests = Arc::clone(&requests);
            Acceptor::start(listener, move |stream, stop| {
                let _ = serve(stream, stop, &requests, &*handler, tls.clone(), prompt);
            })
        };
        Scripted {
            addr,
            requests,
            _acceptor: acceptor,
        }
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The request heads received so far.
    pub fn requests(&self) -> Vec<Vec<u8>> {
        self.requests.lock().expect("requests").clone()
    }
}

fn serve(
    tcp: TcpStream,
    stop: &AtomicBool,
    requests: &Mutex<Vec<Vec<u8>>>,
    handler: &Handler,
    tls: Option<Arc<rustls::ServerConfig>>,
    prompt: Prompt,
) -> io::Result<()> {
    tcp.set_read_timeout(Some(CONNECTION_LIFETIME))?;
    let raw = tcp.try_clone()?;
    let mut stream: Box<dyn ReadWrite> = match tls {
        Some(config) => {
            let connection = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
            Box::new(rustls::StreamOwned::new(connection, tcp))
        }
        None => Box::new(tcp),
    };
    let target = match prompt {
        Prompt::Request => {
            let head = read_request_head(&mut stream)?;
            let target = String::from_utf8_lossy(&head)
                .split(' ')
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            requests.lock().expect("requests").push(head);
            target
        }
        Prompt::Connection => String::new(),
    };
    for act in handler(&target) {
        match act {
            Act::Send(bytes) => {
                stream.write_all(&bytes)?;
                stream.flush()?;
            }
            // The pause is the behaviour under test (a slow server).
            Act::Pause(duration) => thread::sleep(duration),
            Act::Await(cue) => cue.wait(),
            Act::Reset => {
                socket2::SockRef::from(&raw).set_linger(Some(Duration::ZERO))?;
                return Ok(());
            }
            Act::CloseAbruptly => return Ok(()),
            Act::Stall => {
                // Polls `stop`: the drop of the server ends the stall.
                let deadline = Instant::now() + CONNECTION_LIFETIME;
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(10));
                }
                return Ok(());
            }
        }
    }
    stream.close();
    Ok(())
}

fn read_request_head(stream: &mut Box<dyn ReadWrite>) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(head)
}

/// A connection the scripts write to: plain TCP or TLS.
trait ReadWrite: Read + Write + Send {
    /// Ends the response: a TLS close_notify, then the TCP close.
    fn close(&mut self);
}

impl ReadWrite for TcpStream {
    fn close(&mut self) {}
}

impl ReadWrite for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    fn close(&mut self) {
        self.conn.send_close_notify();
        let _ = self.conn.complete_io(&mut self.sock);
    }
}
