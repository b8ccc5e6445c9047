//! What every test module uses: the binary under test and the tutorial's
//! Python programs started with a clean environment, run with a deadline and
//! killed when dropped; free loopback addresses; the open-file limit;
//! preconditions that fail loudly.
//!
//! Rust's test harness has no per-test timeout, so every blocking step here
//! takes its own.

pub mod acceptor;
pub mod dir;
pub mod other_user;
pub mod proxy;
pub mod pty;
pub mod ranged;
pub mod scripted;
pub mod talk;
pub mod tls;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long any single step of a test may block before the test fails.
pub const STEP: Duration = Duration::from_secs(10);

/// Variables that would let the developer's environment change a result:
/// logging, proxies (curl reads both cases) and trust stores.
const CLEARED_ENV: &[&str] = &[
    "RUST_LOG",
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CURL_CA_BUNDLE",
    "NETRC",
];

/// Lists the preconditions to skip, as comma-separated words.
const SKIP_VARIABLE: &str = "SOCKDEMO_TEST_SKIP";

/// A command for `program` with stdin closed and [`CLEARED_ENV`] removed; a
/// test that needs one of those variables sets it on purpose.
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(program);
    for name in CLEARED_ENV {
        command.env_remove(name);
    }
    command.stdin(Stdio::null());
    command
}

/// The binary under test.
pub fn sockdemo() -> Command {
    command(env!("CARGO_BIN_EXE_sockdemo"))
}

/// One of the tutorial's programs (`bench/tutorial/SCRIPT`) run by python3.
/// Call [`python_available`] first.
pub fn tutorial(script: &str) -> Command {
    let mut command = command("python3");
    command.arg(format!(
        "{}/bench/tutorial/{script}",
        env!("CARGO_MANIFEST_DIR")
    ));
    command
}

/// A started process, killed and reaped when dropped, so that a failing
/// test leaves nothing behind.
pub struct Process {
    child: Child,
}

impl Process {
    /// Starts a command as it is configured (the caller chooses the pipes).
    pub fn spawn(command: &mut Command) -> Process {
        let child = command
            .spawn()
            .unwrap_or_else(|err| panic!("starting {command:?}: {err}"));
        Process { child }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child's stdout, stdin or stderr pipe, taken once.
    pub fn stdout(&mut self) -> impl Read + Send + 'static {
        self.child.stdout.take().expect("stdout is piped")
    }

    pub fn stderr(&mut self) -> impl Read + Send + 'static {
        self.child.stderr.take().expect("stderr is piped")
    }

    pub fn stdin(&mut self) -> impl Write + Send + 'static {
        self.child.stdin.take().expect("stdin is piped")
    }

    /// Closes our end of the child's stdout, as a reader that goes away does.
    pub fn close_stdout(&mut self) {
        drop(self.child.stdout.take());
    }

    /// Sends a signal to the process.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: kill has no memory effects. The pid is our own child's;
        // tests signal a process before they wait for it, so it is not yet
        // reaped and the pid not yet reused.
        #[allow(unsafe_code)]
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "kill");
    }

    /// Waits up to `timeout` for the process to exit, or panics.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let child = &mut self.child;
        wait_for("the process to exit", timeout, || {
            child.try_wait().expect("try_wait")
        })
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `sockdemo serve`, killed when dropped.
pub struct Server {
    pub process: Process,
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
        let mut process = Process::spawn(command.stdout(Stdio::piped()).stderr(Stdio::piped()));
        let lines = lines_of(process.stdout());
        let stderr = lines_of(process.stderr());
        let Ok(first) = lines.recv_timeout(STEP) else {
            drop(process);
            let logged: Vec<String> = stderr.try_iter().collect();
            panic!("server printed no listening line; stderr: {logged:?}");
        };
        let addr = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .parse()
            .expect("address in the listening line");
        Server {
            process,
            addr,
            stderr,
        }
    }

    /// Waits up to `timeout` for a logged line containing `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        wait_for_line(&self.stderr, needle, timeout)
    }

    /// Waits up to `timeout` for the server to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        self.process.wait(timeout)
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

/// The number a server's warning says `--max-connections` was lowered to
/// (`--max-connections 30,000 lowered to 1,234: ...`).
pub fn lowered_to(warning: &str) -> usize {
    warning
        .split("lowered to ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("no number in {warning:?}"))
}

/// Waits up to `timeout` for a line containing `needle`, or panics.
pub fn wait_for_line(lines: &mpsc::Receiver<String>, needle: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(_) => panic!("no line containing {needle:?} within {timeout:?}"),
        }
    }
}

/// Polls `ready` until it gives a value, or panics naming `what` after
/// `timeout`. For states that announce themselves by no event we could
/// wait on (a file appearing, a process exiting, a listener's queue).
pub fn wait_for<T>(what: &str, timeout: Duration, mut ready: impl FnMut() -> Option<T>) -> T {
    /// Often enough not to slow a test, seldom enough not to load the machine.
    const POLL: Duration = Duration::from_millis(10);
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "waited {timeout:?} for {what} in vain"
        );
        thread::sleep(POLL);
    }
}

/// Runs a command to completion with a deadline, collecting its output.
/// Panics (after killing it) if it does not finish in time.
pub fn run_bounded(command: &mut Command, timeout: Duration) -> Output {
    run(command, None, timeout)
}

/// As [`run_bounded`], with `input` written to the command's stdin.
pub fn run_bounded_with_input(command: &mut Command, input: &[u8], timeout: Duration) -> Output {
    run(command, Some(input), timeout)
}

fn run(command: &mut Command, input: Option<&[u8]>, timeout: Duration) -> Output {
    if input.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut process = Process::spawn(command.stdout(Stdio::piped()).stderr(Stdio::piped()));
    // Written from a thread of its own, so that a command which does not
    // read all of it cannot block the test.
    let writer = input.map(|input| {
        let (mut stdin, input) = (process.stdin(), input.to_vec());
        thread::spawn(move || {
            let _ = stdin.write_all(&input);
        })
    });
    let stdout = read_all_of(process.stdout());
    let stderr = read_all_of(process.stderr());
    let status = process.wait(timeout);
    if let Some(writer) = writer {
        writer.join().expect("stdin writer");
    }
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Reads everything a pipe gives, in a thread of its own.
pub fn read_all_of(mut reader: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = reader.read_to_end(&mut bytes);
        bytes
    })
}

/// The exit code of a process that exited normally.
pub fn code(output: &Output) -> i32 {
    output.status.code().expect("exited normally")
}

/// Output as text, for messages and comparisons; it must be UTF-8.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// A loopback address on which nothing listens: a port the system just
/// handed out and took back. Another process could take it in between;
/// a test that starts a server there sees that as a bind error.
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port on 127.0.0.1")
}

/// Raises this test process's own open-file limit the way the server does,
/// for tests that hold `needed` sockets at once. False if the test is to
/// be skipped (see [`precondition`]).
pub fn open_files_at_least(needed: u64) -> bool {
    let (_, now) =
        sockdemo::open_files::raise_to_hard_limit().expect("raising the open-file limit");
    precondition(
        "nofile",
        &format!("a hard open-file limit of at least {needed} (ulimit -Hn)"),
        || now >= needed,
    )
}

/// Whether the system has an IPv6 loopback address to listen on.
pub fn ipv6_loopback() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

/// Whether `program --version` runs, and succeeds within [`STEP`].
pub fn tool_runs(program: &str) -> bool {
    tool_answers(program, "--version")
}

/// Whether `program ARG` runs, and succeeds within [`STEP`], for a tool
/// whose version flag is not `--version` (`nginx -v`).
pub fn tool_answers(program: &str, arg: &str) -> bool {
    let started = command(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    started.is_ok_and(|child| Process { child }.wait(STEP).success())
}

/// The tutorial's programs need python3. False if skipped.
pub fn python_available() -> bool {
    precondition("python", "python3 on the PATH", || tool_runs("python3"))
}

/// Checks a test's precondition, `needs`, named `word` for the opt-out.
///
/// True: run the test. A missing precondition fails the test, naming it and
/// the opt-out; when `SOCKDEMO_TEST_SKIP` (comma-separated words) names
/// `word`, the test says it is skipped and the caller returns (false).
pub fn precondition(word: &str, needs: &str, holds: impl FnOnce() -> bool) -> bool {
    let skipped = std::env::var(SKIP_VARIABLE)
        .unwrap_or_default()
        .split(',')
        .any(|named| named.trim() == word);
    if skipped {
        eprintln!("skipped: this test needs {needs}, and {SKIP_VARIABLE} names {word}");
        return false;
    }
    assert!(
        holds(),
        "this test needs {needs}; to skip such tests, set {SKIP_VARIABLE}={word}"
    );
    true
}
