//! Graceful shutdown on SIGINT and SIGTERM.
//!
//! Almost no work happens in a signal handler: signal-hook's handler writes
//! to a pipe, and a thread of ours reads it and does the rest in ordinary
//! code. (signal-hook is used instead of hand-written `sigaction` calls
//! because what a handler may safely do is easy to get wrong, and it gets it
//! right.) The accept loop is blocked in `accept`, which the kernel restarts
//! after a signal, so that thread wakes it by shutting the listening socket
//! down: on Linux, `accept` then fails at once, and new clients are refused.
//!
//! The one exception is counting the signals. With thousands of busy
//! connection threads, the signal thread can wait seconds for its turn on a
//! core, and two signals that arrive before it runs reach it as one. So a
//! handler of our own counts them, and on the second moves the server's
//! stage to [`Stage::Hurrying`] itself: one atomic operation, which a
//! handler may do. Busy connections see it before their next read and end
//! at once; the signal thread shuts the blocked ones down when it runs.

use std::net::{Shutdown, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use anyhow::Context;
use log::{debug, info, warn};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use socket2::SockRef;

use super::registry::{Registry, Stage};

/// Starts the thread that turns the first SIGINT or SIGTERM into
/// [`Stage::Draining`] (and wakes the accept loop), and a second one into
/// [`Stage::Hurrying`], shutting every live connection down at once.
pub fn watch_signals(listener: Arc<TcpListener>, registry: Arc<Registry>) -> anyhow::Result<()> {
    let received = Arc::new(AtomicUsize::new(0));
    for signal in [SIGINT, SIGTERM] {
        let (received, registry) = (Arc::clone(&received), Arc::clone(&registry));
        let count = move || {
            if received.fetch_add(1, Ordering::SeqCst) >= 1 {
                registry.hurry_from_signal_handler();
            }
        };
        // SAFETY: the action runs inside a signal handler, where only
        // async-signal-safe operations are allowed: it does two atomic
        // operations and nothing else (no allocation, no lock, no I/O).
        unsafe { signal_hook::low_level::register(signal, count) }
            .context("counting SIGINT and SIGTERM")?;
    }
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("handling SIGINT and SIGTERM")?;
    let mut listener = Some(listener);
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let name = if signal == SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                };
                if let Some(listener) = listener.take() {
                    info!("{name} received: shutting down");
                    registry.advance(Stage::Draining);
                    if let Err(err) = SockRef::from(&*listener).shutdown(Shutdown::Read) {
                        warn!("cannot wake the accept loop: {err}");
                    }
                }
                // Two signals may come as one: the count decides.
                if received.load(Ordering::SeqCst) >= 2 {
                    // Done here, not by the main thread, which would be one
                    // more thread waiting for its turn on a busy machine;
                    // the main thread logs it.
                    registry.advance(Stage::Hurrying);
                    let live = registry.shut_down_all(Shutdown::Both);
                    debug!("{name} received again: {live} live connections shut down");
                }
            }
        })
        .context("starting the signal thread")?;
    Ok(())
}
