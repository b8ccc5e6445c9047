//! Asking for a password at the terminal: the prompt and the answer go
//! through `/dev/tty`, never stdin or stdout, which may carry data, and the
//! terminal's echo is off while it is typed.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};

use rustix::termios::{self, LocalModes, OptionalActions, Termios};

/// The terminal's settings as found, put back when dropped, so that an
/// error while reading never leaves the echo off.
struct EchoOff<'a> {
    tty: &'a File,
    saved: Termios,
}

impl<'a> EchoOff<'a> {
    fn new(tty: &'a File) -> io::Result<EchoOff<'a>> {
        let saved = termios::tcgetattr(tty)?;
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        // The newline typed at the end still shows, so the next line starts afresh.
        quiet.local_modes.insert(LocalModes::ECHONL);
        termios::tcsetattr(tty, OptionalActions::Flush, &quiet)?;
        Ok(EchoOff { tty, saved })
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
