//! Signals: the server's graceful stop on SIGINT and SIGTERM, a download's
//! cleanup on SIGINT, SIGTERM and SIGHUP, and load mode's Ctrl-C.
//!
//! Almost no work happens in a signal handler: signal-hook's handler writes
//! to a pipe, and a thread of ours reads it and does the rest in ordinary
//! code ([`watch`]). (signal-hook is used instead of hand-written
//! `sigaction` calls because what a handler may safely do is easy to get
//! wrong, and it gets it right.)
//!
//! The exceptions are what must happen before any thread of ours gets to
//! run, and each is one atomic operation, which a handler may do: counting
//! signals ([`count`]; two that arrive before the thread runs would reach
//! it as one), and setting a flag that a second Ctrl-C turns into an
//! immediate exit ([`flag_then_exit`]). They take atomics, not a closure,
//! so that no caller can put code in a handler that a handler must not run.
//!
//! A signal that was ignored when sockdemo started stays ignored: a shell
//! starts a background job of a script, and `nohup` its command, with
//! SIGINT (or SIGHUP) ignored, so that the Ctrl-C meant for the job in the
//! foreground does not reach it. Each function here leaves such a signal
//! alone ([`is_ignored`]), as curl does, instead of installing a handler
//! that would undo the caller's choice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::thread;

use anyhow::Context;
use log::debug;
use signal_hook::iterator::Signals;
use signal_hook::low_level::{emulate_default_handler, signal_name};

pub use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// Starts a thread called `thread` that runs `action` for each of
/// `signals` as it arrives, in ordinary code, where it may lock, allocate
/// and log. Two signals that arrive close together may reach it as one.
/// Signals that were ignored when the process started are left ignored,
/// and with none left no thread is started.
pub fn watch(
    thread: &str,
    signals: &[libc::c_int],
    mut action: impl FnMut(libc::c_int) + Send + 'static,
) -> anyhow::Result<()> {
    let signals = not_ignored(signals);
    if signals.is_empty() {
        return Ok(());
    }
    let mut arrivals =
        Signals::new(&signals).with_context(|| format!("handling {}", names(&signals)))?;
    thread::Builder::new()
        .name(thread.into())
        .spawn(move || {
            for signal in arrivals.forever() {
                action(signal);
            }
        })
        .context("starting the signal thread")?;
    Ok(())
}

/// Counts each of `signals` in its handler, as it arrives: one is added to
/// `received`, and from the second signal on, `level` is raised to at least
/// `raise_to` (it never goes down). Call it before [`watch`] for the same
/// signals, so that the count already includes a signal when the watching
/// thread is told of it.
#[allow(unsafe_code)]
pub fn count(
    signals: &[libc::c_int],
    received: &Arc<AtomicUsize>,
    level: &Arc<AtomicU8>,
    raise_to: u8,
) -> anyhow::Result<()> {
    for signal in not_ignored(signals) {
        let (received, level) = (Arc::clone(received), Arc::clone(level));
        let action = move || {
            if received.fetch_add(1, Ordering::SeqCst) >= 1 {
                level.fetch_max(raise_to, Ordering::AcqRel);
            }
        };
        // SAFETY: the action runs inside a signal handler, where only
        // async-signal-safe operations are allowed: it does two atomic
        // operations on atomics it owns a share of, and nothing else (no
        // allocation, no lock, no I/O).
        unsafe { signal_hook::low_level::register(signal, action) }
            .with_context(|| format!("counting {}", names(signals)))?;
    }
    Ok(())
}

/// On the first `signal`, sets `flag`, for the program to stop in its own
/// time; on the next one (the flag already set), ends the process at once
/// with exit status `status`.
pub fn flag_then_exit(
    signal: libc::c_int,
    flag: &Arc<AtomicBool>,
    status: libc::c_int,
) -> std::io::Result<()> {
    if not_ignored(&[signal]).is_empty() {
        return Ok(());
    }
    // In this order: the exit sees the flag as it was before this signal.
    signal_hook::flag::register_conditional_shutdown(signal, status, Arc::clone(flag))?;
    signal_hook::flag::register(signal, Arc::clone(flag))?;
    Ok(())
}

/// Whether `signal` is ignored (`SIG_IGN`). sockdemo never ignores a
/// signal itself, so an ignored one was ignored when the process started.
#[allow(unsafe_code)]
pub fn is_ignored(signal: libc::c_int) -> bool {
    let mut current = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: with a null new action, sigaction only writes the current
    // action into `current`, a properly aligned sigaction that we own; it
    // changes nothing. On success `current` is initialised (it was zeroed
    // before, so it is a valid sigaction either way).
    let current = unsafe {
        libc::sigaction(signal, std::ptr::null(), current.as_mut_ptr());
        current.assume_init()
    };
    current.sa_sigaction == libc::SIG_IGN
}

/// `signals` but those that are ignored, which stay so.
fn not_ignored(signals: &[libc::c_int]) -> Vec<libc::c_int> {
    signals
        .iter()
        .copied()
        .filter(|&signal| {
            let ignored = is_ignored(signal);
            if ignored {
                debug!(
                    "{} was ignored when sockdemo started: it stays ignored",
                    name(signal)
                );
            }
            !ignored
        })
        .collect()
}

/// Ends the process the way `signal` would have, had it not been handled:
/// its default action runs, so the parent sees the process killed by it
/// (a shell prints exit status 130 for SIGINT). Should that fail, the
/// process exits with the status a shell would report, 128 + the signal.
pub fn end_as(signal: libc::c_int) -> ! {
    if let Err(err) = emulate_default_handler(signal) {
        debug!("ending the process as signal {signal} would: {err}");
    }
    // Not reached for signals whose default is to terminate.
    std::process::exit(128 + signal);
}

/// The name of a signal, for messages: `SIGINT`.
pub fn name(signal: libc::c_int) -> &'static str {
    signal_name(signal).unwrap_or("a signal")
}

/// Signals named as a list for messages: `SIGINT, SIGTERM and SIGHUP`.
fn names(signals: &[libc::c_int]) -> String {
    let names: Vec<&str> = signals.iter().map(|&signal| name(signal)).collect();
    match names.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ignored_signal_is_told_from_one_with_its_default_action() {
        // The Rust runtime ignores SIGPIPE before main (and before a test
        // harness's main); nothing in this crate's tests touches SIGUSR2.
        assert!(is_ignored(libc::SIGPIPE));
        assert!(!is_ignored(libc::SIGUSR2));
        assert_eq!(
            not_ignored(&[libc::SIGPIPE, libc::SIGUSR2]),
            [libc::SIGUSR2]
        );
    }

    #[test]
    fn signals_are_named_as_messages_list_them() {
        assert_eq!(name(SIGINT), "SIGINT");
        assert_eq!(names(&[SIGINT]), "SIGINT");
        assert_eq!(names(&[SIGINT, SIGTERM]), "SIGINT and SIGTERM");
        assert_eq!(
            names(&[SIGINT, SIGTERM, SIGHUP]),
            "SIGINT, SIGTERM and SIGHUP"
        );
    }
}
