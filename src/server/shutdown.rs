//! Stopping the server: the [`Stopper`] that any thread may hold, and the
//! signal thread that uses it on SIGINT and SIGTERM.
//!
//! The accept loop is blocked in `accept`, which the kernel restarts after
//! a signal, so stopping wakes it by shutting the listening socket down: on
//! Linux, `accept` then fails at once, and new clients are refused.
//!
//! The signal thread does its work in ordinary code (see
//! [`platform::signals`](crate::platform::signals)), with one exception:
//! counting the signals. With thousands of busy connection threads, the
//! signal thread can wait seconds for its turn on a core, and two signals
//! that arrive before it runs reach it as one. So the handler counts them,
//! and on the second moves the server's stage to [`Stage::Hurrying`]
//! itself: busy connections see it before their next read and end at once;
//! the signal thread shuts the blocked ones down when it runs.

use std::net::{Shutdown, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use log::{debug, info, warn};
use socket2::SockRef;

use super::registry::{Registry, Stage};
use crate::platform::signals::{self, SIGINT, SIGTERM};

/// Stops a server that [`Server::serve`](super::Server::serve) runs, from
/// any thread: the signal thread, or a test. Clones stop the same server.
#[derive(Debug, Clone)]
pub struct Stopper {
    /// Not kept alive by the stopper: once the accept loop has ended, the
    /// server closes it, and there is nothing left to wake.
    listener: Weak<TcpListener>,
    registry: Arc<Registry>,
    /// The listening socket has been shut down: a second shutdown would fail.
    woken: Arc<AtomicBool>,
}

impl Stopper {
    /// A stopper for the server accepting on `listener`, with `registry`.
    pub fn new(listener: &Arc<TcpListener>, registry: &Arc<Registry>) -> Stopper {
        Stopper {
            listener: Arc::downgrade(listener),
            registry: Arc::clone(registry),
            woken: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Begins a graceful stop ([`Stage::Draining`]): new clients are refused
    /// and the accept loop ends; live connections get the grace period.
    /// Calling it again does nothing more.
    pub fn drain(&self) {
        self.registry.advance(Stage::Draining);
        if self.woken.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(listener) = self.listener.upgrade()
            && let Err(err) = SockRef::from(&*listener).shutdown(Shutdown::Read)
        {
            warn!("cannot wake the accept loop: {err}");
        }
    }

    /// Stops at once ([`Stage::Hurrying`]): as [`Stopper::drain`], and every
    /// live connection is shut down now, without the grace period or the
    /// lingering close. Returns how many were.
    pub fn hurry(&self) -> usize {
        self.drain();
        self.registry.advance(Stage::Hurrying);
        self.registry.shut_down_all(Shutdown::Both)
    }
}

/// Starts the thread that turns the first SIGINT or SIGTERM into
/// [`Stopper::drain`], and a second one into [`Stopper::hurry`].
pub fn watch_signals(stopper: Stopper) -> anyhow::Result<()> {
    let received = Arc::new(AtomicUsize::new(0));
    signals::count(
        &[SIGINT, SIGTERM],
        &received,
        &stopper.registry.stage_level(),
        Stage::Hurrying as u8,
    )?;
    let mut first = true;
    signals::watch("signals", &[SIGINT, SIGTERM], move |signal| {
        let name = signals::name(signal);
        if first {
            first = false;
            info!("{name} received: shutting down");
            stopper.drain();
        }
        // Two signals may come as one: the count decides.
        if received.load(Ordering::SeqCst) >= 2 {
            // Done here, not by the main thread, which would be one more
            // thread waiting for its turn on a busy machine; the main
            // thread logs it.
            let live = stopper.hurry();
            debug!("{name} received again: {live} live connections shut down");
        }
    })
}
