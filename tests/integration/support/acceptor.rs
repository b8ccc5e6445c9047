//! The accept loop every test server shares: a listener served on a thread
//! of its own, each connection on a thread of its own, until the server is
//! dropped.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How often the accept loop looks at its stop flag.
const POLL: Duration = Duration::from_millis(5);

/// A running accept loop; dropping it stops the loop and waits for it.
pub struct Acceptor {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Acceptor {
    /// Accepts on `listener` and serves each connection with `serve`, which
    /// also gets the stop flag, so that a connection left waiting (a stall)
    /// can end when the server is dropped.
    pub fn start(
        listener: TcpListener,
        serve: impl Fn(TcpStream, &AtomicBool) + Send + Sync + 'static,
    ) -> Acceptor {
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let serve = Arc::new(serve);
        let thread = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (stop, serve) = (Arc::clone(&stop), Arc::clone(&serve));
                            thread::spawn(move || {
                                // Accepted sockets inherit non-blocking mode on some systems.
                                if stream.set_nonblocking(false).is_ok() {
                                    serve(stream, &stop);
                                }
                            });
                        }
                        // Polled, so that the loop sees `stop` in time.
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => thread::sleep(POLL),
                        Err(_) => return,
                    }
                }
            })
        };
        Acceptor {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
