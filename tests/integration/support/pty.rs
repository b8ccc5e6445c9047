//! A pseudo-terminal for a child's stderr, so that a test sees what a
//! person at a terminal sees (the progress bar), and the screen's text
//! without its control sequences.

use std::fs::File;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use std::io::Read;

/// The terminal's size: wide enough for the whole bar.
const COLUMNS: u16 = 120;
const ROWS: u16 = 40;

/// The two ends of a pseudo-terminal.
pub struct Pty {
    /// What a child's stderr is given.
    pub terminal: OwnedFd,
    /// What the child writes, as it comes.
    pub chunks: mpsc::Receiver<Vec<u8>>,
}

impl Pty {
    /// Opens a pseudo-terminal, and a thread that reads what is written to it.
    pub fn open() -> Pty {
        let (mut controller, mut terminal) = (-1, -1);
        let size = libc::winsize {
            ws_row: ROWS,
            ws_col: COLUMNS,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two descriptors into the integers it is
        // given and reads the size; the name pointer and the termios are
        // null, which it allows. Each descriptor is owned once, below.
        #[allow(unsafe_code)]
        let opened = unsafe {
            libc::openpty(
                &mut controller,
                &mut terminal,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened by openpty and nothing
        // else owns them.
        #[allow(unsafe_code)]
        let (controller, terminal) = unsafe {
            (
                File::from_raw_fd(controller),
                OwnedFd::from_raw_fd(terminal),
            )
        };
        let (tx, chunks) = mpsc::channel();
        thread::spawn(move || {
            let mut controller = controller;
            let mut buf = [0u8; 4096];
            // Ends with EIO once no process holds the terminal end open.
            while let Ok(n @ 1..) = controller.read(&mut buf) {
                if tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Pty { terminal, chunks }
    }

    /// A `Stdio` of the terminal end, for a child.
    pub fn stdio(&self) -> Stdio {
        Stdio::from(self.terminal.try_clone().expect("dup the terminal"))
    }

    /// Adds what is written to `seen` until it holds `needle`, for at most
    /// `timeout`.
    pub fn wait_for(&self, seen: &mut Vec<u8>, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !String::from_utf8_lossy(seen).contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => seen.extend(chunk),
                Err(_) => panic!(
                    "no {needle:?} on the terminal within {timeout:?}: {:?}",
                    String::from_utf8_lossy(seen)
                ),
            }
        }
    }

    /// Everything written until every holder of the terminal end is gone
    /// (the test must have dropped its own copies), or `timeout`.
    pub fn rest(self, seen: &mut Vec<u8>, timeout: Duration) {
        drop(self.terminal);
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => seen.extend(chunk),
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("the terminal stayed open"),
            }
        }
    }
}

/// The lines of terminal output as they were drawn: split at each carriage
/// return and newline, control sequences (`ESC [ ... letter`) removed,
/// blank ones dropped.
pub fn frames(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // Parameters and intermediates, up to the final letter.
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() || c == '~' {
                        break;
                    }
                }
            }
            continue;
        }
        plain.push(c);
    }
    plain
        .split(['\r', '\n'])
        .map(str::trim_end)
        .filter(|line| !line.trim().is_empty())
        .map(str::to_owned)
        .collect()
}
