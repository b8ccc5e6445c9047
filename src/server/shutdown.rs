//! Graceful shutdown on SIGINT and SIGTERM.
//!
//! No work happens in a signal handler: signal-hook's handler only writes to
//! a pipe, and a thread of ours reads it and does the rest in ordinary code.
//! (signal-hook is used instead of hand-written `sigaction` calls because
//! what a handler may safely do is easy to get wrong, and it gets it right.)
//! The accept loop is blocked in `accept`, which the kernel restarts after a
//! signal, so that thread wakes it by shutting the listening socket down:
//! on Linux, `accept` then fails at once, and new clients are refused.

use std::net::{Shutdown, TcpListener};
use std::sync::Arc;
use std::thread;

use anyhow::Context;
use log::{info, warn};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use socket2::SockRef;

use super::registry::{Registry, Stage};

/// Starts the thread that turns the first SIGINT or SIGTERM into
/// [`Stage::Draining`] (and wakes the accept loop), and a second one into
/// [`Stage::Hurrying`].
pub fn watch_signals(listener: Arc<TcpListener>, registry: Arc<Registry>) -> anyhow::Result<()> {
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
                match listener.take() {
                    Some(listener) => {
                        info!("{name} received: shutting down");
                        registry.advance(Stage::Draining);
                        if let Err(err) = SockRef::from(&*listener).shutdown(Shutdown::Read) {
                            warn!("cannot wake the accept loop: {err}");
                        }
                    }
                    None => {
                        info!("{name} received again: no more grace");
                        registry.advance(Stage::Hurrying);
                    }
                }
            }
        })
        .context("starting the signal thread")?;
    Ok(())
}
