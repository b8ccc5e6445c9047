//! Asking for a password at the terminal: the prompt and the answer go
//! through `/dev/tty`, never stdin or stdout, which may carry data, and the
//! terminal's echo is off while it is typed.
//!
//! The signals that end a process at a prompt (Ctrl-C, Ctrl-\\, SIGTERM,
//! SIGHUP) must not leave the user's terminal without echo, as a process
//! killed at a password prompt otherwise does: while the echo is off, a
//! handler of ours puts the terminal's settings back, then gives the signal
//! to whatever handled it before (the default: the process ends by it, as
//! the shell expects). `tcsetattr`, `sigaction`, `signal` and `raise` are
//! among the calls a signal handler may make. Stopping (Ctrl-Z) is not
//! handled: the shell has the terminal while the job is stopped, and once
//! it goes on, what is typed may show.

use std::cell::UnsafeCell;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, PoisonError};

use rustix::termios::{self, LocalModes, OptionalActions, Termios};

use super::signals::is_ignored;

/// The signals that end a process at a prompt: typed at the terminal
/// (Ctrl-C, Ctrl-\\) or sent to it.
const ENDING: [libc::c_int; 4] = [libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGHUP];

/// What the handler needs, where a handler can read it without a lock:
/// written before the handler is installed; read by it, and by the end
/// of the prompt.
struct Restore {
    /// The terminal whose echo is off, while it is; else -1.
    fd: AtomicI32,
    /// Its settings as found.
    termios: UnsafeCell<MaybeUninit<libc::termios>>,
    /// What each of [`ENDING`] did before the prompt, `None` for a signal
    /// left alone (ignored since the process started).
    previous: UnsafeCell<[Option<libc::sigaction>; 4]>,
}

// SAFETY: the cells are written only by the one prompt at a time (under
// PROMPT), before `fd` is stored with Release ordering and before the
// handler is installed; the handler reads them only after loading `fd`
// with Acquire ordering.
#[allow(unsafe_code)]
unsafe impl Sync for Restore {}

static RESTORE: Restore = Restore {
    fd: AtomicI32::new(-1),
    termios: UnsafeCell::new(MaybeUninit::uninit()),
    previous: UnsafeCell::new([None; 4]),
};

/// One prompt at a time owns [`RESTORE`].
static PROMPT: Mutex<()> = Mutex::new(());

/// The handler of [`ENDING`] while the echo is off: the terminal as it was,
/// then the signal to its previous handler, which gets it as this returns.
#[allow(unsafe_code)]
extern "C" fn put_back_then_resend(signal: libc::c_int) {
    // SAFETY: errno is this thread's; it is put back as it was, since the
    // interrupted code may be about to read it.
    let errno = unsafe { *libc::__errno_location() };
    let fd = RESTORE.fd.load(Ordering::Acquire);
    // SAFETY: tcsetattr, sigaction and raise are async-signal-safe. With
    // `fd` set, the cells were written before it was (see `Restore`). The
    // signal is blocked while its handler runs, so the one raised here is
    // delivered once this returns, to the action put back: the previous
    // one, or the default where there was none to read, never this handler.
    // With `fd` cleared, the prompt's end has already put the previous
    // actions back, and the signal only needs sending again.
    unsafe {
        if fd >= 0 {
            // TCSANOW: a handler must not wait for output to drain.
            libc::tcsetattr(fd, libc::TCSANOW, (*RESTORE.termios.get()).as_ptr());
            let at = ENDING.iter().position(|&ending| ending == signal);
            match at.and_then(|at| (*RESTORE.previous.get())[at].as_ref()) {
                Some(previous) => {
                    libc::sigaction(signal, previous, std::ptr::null_mut());
                }
                None => {
                    libc::signal(signal, libc::SIG_DFL);
                }
            }
        }
        libc::raise(signal);
        *libc::__errno_location() = errno;
    }
}

/// While it lives, [`ENDING`] signals put the terminal `fd` back as it is
/// now before they take effect.
struct SignalsPutBack {
    _prompt: std::sync::MutexGuard<'static, ()>,
}

impl SignalsPutBack {
    #[allow(unsafe_code)]
    fn new(fd: libc::c_int) -> io::Result<SignalsPutBack> {
        let prompt = PROMPT.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: under PROMPT, with no handler of ours installed (fd is
        // -1), this is the only access to the cells: every one is written
        // (the settings, then each previous action, read without changing
        // it) before `fd` is stored and before the handler is installed.
        // tcgetattr writes a termios into the cell; sigaction reads `ours`
        // and writes actions into zeroed sigactions of our own.
        unsafe {
            if libc::tcgetattr(fd, (*RESTORE.termios.get()).as_mut_ptr()) != 0 {
                return Err(io::Error::last_os_error());
            }
            let previous = &mut *RESTORE.previous.get();
            for (at, signal) in ENDING.into_iter().enumerate() {
                previous[at] = None;
                if is_ignored(signal) {
                    continue;
                }
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, std::ptr::null(), &mut old) == 0 {
                    previous[at] = Some(old);
                }
            }
            RESTORE.fd.store(fd, Ordering::Release);
            let mut ours: libc::sigaction = std::mem::zeroed();
            ours.sa_sigaction = put_back_then_resend as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut ours.sa_mask);
            for signal in ENDING {
                libc::sigaddset(&mut ours.sa_mask, signal);
            }
            for (at, signal) in ENDING.into_iter().enumerate() {
                if previous[at].is_some() {
                    libc::sigaction(signal, &ours, std::ptr::null_mut());
                }
            }
        }
        Ok(SignalsPutBack { _prompt: prompt })
    }
}

impl Drop for SignalsPutBack {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: under PROMPT; sigaction reads an action saved by `new`. A
        // signal arriving meanwhile still finds `fd` set and the cells as
        // written, so it restores the terminal too.
        unsafe {
            for (at, signal) in ENDING.into_iter().enumerate() {
                if let Some(previous) = &(*RESTORE.previous.get())[at] {
                    libc::sigaction(signal, previous, std::ptr::null_mut());
                }
            }
        }
        RESTORE.fd.store(-1, Ordering::Release);
    }
}

/// The terminal's settings as found, put back when dropped, so that an
/// error while reading never leaves the echo off, nor a signal.
struct EchoOff<'a> {
    tty: &'a File,
    saved: Termios,
    /// Dropped after the settings are put back.
    _signals: SignalsPutBack,
}

impl<'a> EchoOff<'a> {
    fn new(tty: &'a File) -> io::Result<EchoOff<'a>> {
        let saved = termios::tcgetattr(tty)?;
        let signals = SignalsPutBack::new(tty.as_raw_fd())?;
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        // The newline typed at the end still shows, so the next line starts afresh.
        quiet.local_modes.insert(LocalModes::ECHONL);
        termios::tcsetattr(tty, OptionalActions::Flush, &quiet)?;
        Ok(EchoOff {
            tty,
            saved,
            _signals: signals,
        })
    }
}

impl Drop for EchoOff<'_> {
    fn drop(&mut self) {
        // Nothing better to do if this fails: the terminal is gone.
        let _ = termios::tcsetattr(self.tty, OptionalActions::Flush, &self.saved);
    }
}

/// Writes `prompt` to the terminal and reads one line from it without
/// echo, the line end removed.
pub fn read_password(prompt: &str) -> io::Result<String> {
    let tty = OpenOptions::new().read(true).write(true).open("/dev/tty")?;
    // Echo off before the prompt: nothing typed after it can show.
    let echo_off = EchoOff::new(&tty)?;
    (&tty).write_all(prompt.as_bytes())?;
    let mut line = String::new();
    BufReader::new(&tty).read_line(&mut line)?;
    drop(echo_off);
    if !line.ends_with('\n') {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the terminal closed before a line was typed",
        ));
    }
    line.pop();
    if line.ends_with('\r') {
        line.pop();
    }
    Ok(line)
}
