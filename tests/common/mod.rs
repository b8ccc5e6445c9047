//! Test support shared by the integration tests: run the real binary, read
//! what it prints with a deadline, and never leave a process behind.
//!
//! Rust's test harness has no per-test timeout, so every blocking step here
//! takes its own.

#![allow(dead_code)] // each test crate uses a different part of this module

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long any single step of a test may block before the test fails.
pub const STEP: Duration = Duration::from_secs(10);

/// The binary under test.
pub fn sockdemo() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sockdemo"));
    command.env_remove("RUST_LOG").stdin(Stdio::null());
    command
}

/// A running `sockdemo serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// Lines the server logged on stderr, as they arrive.
    pub stderr: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `sockdemo serve --listen 127.0.0.1:0 ARGS` and waits for its
    /// `listening on ADDR` line.
    pub fn start(args: &[&str]) -> Server {
        Server::start_with(
            sockdemo()
                .args(["serve", "--listen", "127.0.0.1:0"])
                .args(args),
        )
    }

    /// Starts a prepared `serve` command and waits for its `listening on ADDR` line.
    pub fn start_with(command: &mut Command) -> Server {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sockdemo serve");
        let stdout = child.stdout.take().expect("stdout");
        let lines = lines_of(stdout);
        let stderr = lines_of(child.stderr.take().expect("stderr"));
        let first = match lines.recv_timeout(STEP) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let logged: Vec<String> = stderr.try_iter().collect();
                panic!("server printed no listening line; stderr: {logged:?}");
            }
        };
        let addr = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .parse()
            .expect("address in the listening line");
        Server {
            child,
            addr,
            stderr,
        }
    }

    /// Waits up to `timeout` for a logged line containing `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no log line containing {needle:?} within {timeout:?}"),
            }
        }
    }

    /// Waits up to `timeout` for the server to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        wait_child(&mut self.child, timeout).expect("server did not exit in time")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends each line a reader produces down a channel, from a thread of its own.
pub fn lines_of(reader: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Polls a child until it exits or `timeout` passes (then kills it and returns `None`).
pub fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Runs a command to completion with a deadline, collecting its output.
/// Panics (after killing it) if it does not finish in time.
pub fn run_bounded(command: &mut Command, timeout: Duration) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = read_all_of(child.stdout.take().expect("stdout"));
    let stderr = read_all_of(child.stderr.take().expect("stderr"));
    let status = wait_child(&mut child, timeout)
        .unwrap_or_else(|| panic!("command did not finish within {timeout:?}: {command:?}"));
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

fn read_all_of(mut reader: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = reader.read_to_end(&mut bytes);
        bytes
    })
}
