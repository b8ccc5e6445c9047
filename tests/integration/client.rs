//! `sockdemo client` end to end: the real binary against small servers
//! written here, each doing one thing a real server may do (split its
//! replies, close early, never answer, answer wrong), and against
//! `sockdemo serve` itself.

use std::collections::HashSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{
    Process, STEP, Server, free_addr, read_all_of, run_bounded, run_bounded_with_input, sockdemo,
    text, wait_for,
};

/// Accepts one connection within `STEP`, or panics.
fn accept_within(listener: &TcpListener) -> TcpStream {
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let stream = wait_for("a client to connect", STEP, || match listener.accept() {
        Ok((stream, _)) => Some(stream),
        Err(err) if err.kind() == ErrorKind::WouldBlock => None,
        Err(err) => panic!("accept: {err}"),
    });
    stream.set_nonblocking(false).expect("blocking stream");
    stream.set_read_timeout(Some(STEP)).expect("read timeout");
    stream.set_write_timeout(Some(STEP)).expect("write timeout");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// Runs `script` on the first connection to a fresh loopback port, in a
/// thread; its result comes back on the channel.
fn serve_one<T: Send + 'static>(
    script: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (SocketAddr, mpsc::Receiver<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let stream = accept_within(&listener);
        let _ = tx.send(script(stream));
    });
    (addr, rx)
}

/// Writes `pieces` one at a time with a pause between, so that the client
/// sees them in separate reads.
fn send_in_pieces(stream: &mut TcpStream, pieces: &[&str]) {
    for piece in pieces {
        stream.write_all(piece.as_bytes()).expect("write piece");
        // The pause is the behaviour under test: a reply in several reads.
        thread::sleep(Duration::from_millis(15));
    }
}

/// Reads exactly `expected.len()` bytes and checks they are `expected`.
fn receive_exactly(stream: &mut TcpStream, expected: &str) {
    let mut got = vec![0; expected.len()];
    stream.read_exact(&mut got).expect("read message");
    assert_eq!(String::from_utf8_lossy(&got), expected);
}

/// Reads until the client closes; returns what came.
fn receive_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("read to end");
    rest
}

fn client(addr: SocketAddr, args: &[&str]) -> Output {
    run_bounded(
        sockdemo()
            .args(["client", "--connect", &addr.to_string()])
            .args(args),
        STEP,
    )
}

/// The one error line the client prints, checked to name the address.
fn error_line(output: &Output, addr: SocketAddr) -> String {
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "one error line: {stderr:?}");
    assert!(stderr.starts_with("sockdemo: error: "), "{stderr:?}");
    assert!(stderr.contains(&addr.to_string()), "{stderr:?}");
    stderr
}

#[test]
fn tutorial_session_with_replies_split_into_odd_pieces() {
    let (addr, done) = serve_one(|mut stream| {
        send_in_pieces(&mut stream, &["W", "elcom", "e!"]);
        receive_exactly(&mut stream, "Michael");
        send_in_pieces(&mut stream, &["Hel", "lo, Mich", "ael", "!"]);
        receive_exactly(&mut stream, "Tracy");
        send_in_pieces(&mut stream, &["Hello, Tracy!"]);
        receive_exactly(&mut stream, "Sarah");
        send_in_pieces(&mut stream, &["H", "e", "llo, Sarah", "!"]);
        receive_to_end(&mut stream)
    });
    let output = client(addr, &[]);
    assert_eq!(
        text(&output.stdout),
        "Welcome!\nHello, Michael!\nHello, Tracy!\nHello, Sarah!\n"
    );
    assert_eq!(text(&output.stderr), "");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(done.recv_timeout(STEP).expect("server done"), b"exit");
}

#[test]
fn names_from_the_command_line() {
    let (addr, done) = serve_one(|mut stream| {
        stream.write_all(b"Welcome!").expect("welcome");
        receive_exactly(&mut stream, "Zoë Ann");
        stream
            .write_all("Hello, Zoë Ann!".as_bytes())
            .expect("reply");
        receive_to_end(&mut stream)
    });
    let output = client(addr, &["Zoë Ann"]);
    assert_eq!(text(&output.stdout), "Welcome!\nHello, Zoë Ann!\n");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(done.recv_timeout(STEP).expect("server done"), b"exit");
}

#[test]
fn server_closing_before_the_reply_is_a_receive_failure() {
    let (addr, done) = serve_one(|mut stream| {
        stream.write_all(b"Welcome!").expect("welcome");
        receive_exactly(&mut stream, "Michael");
        stream.write_all(b"Hello, Mi").expect("part of a reply");
    });
    let output = client(addr, &[]);
    done.recv_timeout(STEP).expect("server done");
    assert_eq!(output.status.code(), Some(56));
    assert_eq!(text(&output.stdout), "Welcome!\n");
    let error = error_line(&output, addr);
    assert!(error.contains("closed the connection"), "{error}");
}

#[test]
fn server_closing_inside_the_welcome_is_a_receive_failure() {
    let (addr, done) = serve_one(|mut stream| {
        stream.write_all(b"Welc").expect("part of the welcome");
    });
    let output = client(addr, &[]);
    done.recv_timeout(STEP).expect("server done");
    assert_eq!(output.status.code(), Some(56));
    assert_eq!(text(&output.stdout), "");
    error_line(&output, addr);
}

#[test]
fn nothing_listening_is_cannot_connect() {
    let addr = free_addr();
    let output = client(addr, &[]);
    assert_eq!(output.status.code(), Some(7));
    assert_eq!(text(&output.stdout), "");
    let error = error_line(&output, addr);
    assert!(error.contains("cannot connect"), "{error}");
}

#[test]
fn a_server_that_never_replies_times_out() {
    let (addr, done) = serve_one(|mut stream| {
        stream.write_all(b"Welcome!").expect("welcome");
        receive_exactly(&mut stream, "Michael");
        // Then silence, until the client gives up and closes.
        receive_to_end(&mut stream)
    });
    let started = Instant::now();
    let output = client(addr, &["--timeout", "300ms"]);
    let took = started.elapsed();
    assert_eq!(output.status.code(), Some(28));
    assert_eq!(text(&output.stdout), "Welcome!\n");
    error_line(&output, addr);
    assert!(took >= Duration::from_millis(300), "gave up after {took:?}");
    assert_eq!(done.recv_timeout(STEP).expect("server done"), b"");
}

#[test]
fn a_trickling_reply_gets_one_timeout_in_all() {
    let (addr, done) = serve_one(|mut stream| {
        let accepted = Instant::now();
        // Each byte comes well within the timeout, the whole welcome never:
        // a timeout per read would wait for all six bytes, 5 x 900 ms, and
        // then one timeout more, 5.5 s in all. The trickle is the behaviour
        // under test. Once the client has given up, a write fails: that is
        // the end.
        for byte in b"Welcom" {
            if stream.write_all(&[*byte]).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(900));
        }
        accepted
    });
    let output = client(addr, &["--timeout", "1s"]);
    let ended = Instant::now();
    assert_eq!(output.status.code(), Some(28));
    error_line(&output, addr);
    // Timed from the accept, so that starting the client does not count.
    let accepted = done.recv_timeout(STEP).expect("server done");
    let took = ended - accepted;
    // One timeout is 1 s; 4 s leaves room for a busy machine and stays
    // well below the 5.5 s of a timeout per read.
    assert!(took < Duration::from_secs(4), "gave up after {took:?}");
}

#[test]
fn an_unexpected_reply_is_reported_as_sent() {
    let (addr, done) = serve_one(|mut stream| {
        stream
            .write_all(b"Busy, try again later\n")
            .expect("busy line");
    });
    let output = client(addr, &[]);
    done.recv_timeout(STEP).expect("server done");
    assert_eq!(output.status.code(), Some(8));
    let error = error_line(&output, addr);
    assert!(
        error.contains(r#"sent "Busy, try again later\n" where "Welcome!" was expected"#),
        "{error}"
    );
}

#[test]
fn names_the_server_cannot_tell_apart_are_usage_errors() {
    let unused: SocketAddr = "127.0.0.1:9".parse().expect("address");
    for name in ["", "exit"] {
        let output = client(unused, &[name]);
        assert_eq!(output.status.code(), Some(2), "name {name:?}");
        assert_eq!(text(&output.stdout), "");
    }
}

/// A line-mode server for one connection: welcome, then `Hello, <line>!`
/// with the line's own ending, split in two; it records what it received.
fn line_server() -> (SocketAddr, mpsc::Receiver<Vec<u8>>) {
    serve_one(|mut stream| {
        stream.write_all(b"Welcome!").expect("welcome");
        let mut received = Vec::new();
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            match stream.read(&mut byte).expect("read") {
                0 => return received,
                _ => {
                    received.push(byte[0]);
                    line.push(byte[0]);
                }
            }
            if byte[0] != b'\n' {
                continue;
            }
            let ending = if line.ends_with(b"\r\n") { 2 } else { 1 };
            let (body, end) = line.split_at(line.len() - ending);
            if body == b"exit" {
                return received;
            }
            let mut reply = b"Hello, ".to_vec();
            reply.extend_from_slice(body);
            reply.push(b'!');
            // In two pieces, the second ending inside the line ending; the
            // pause is the behaviour under test (a reply in two reads).
            stream.write_all(&reply[..3]).expect("reply's start");
            thread::sleep(Duration::from_millis(15));
            stream
                .write_all(&[&reply[3..], end].concat())
                .expect("reply's rest");
            line.clear();
        }
    })
}

fn client_with_stdin(addr: SocketAddr, input: &[u8]) -> Output {
    run_bounded_with_input(
        sockdemo().args(["client", "--stdin", "--connect", &addr.to_string()]),
        input,
        STEP,
    )
}

#[test]
fn stdin_lines_go_out_with_their_endings_until_exit() {
    let (addr, done) = line_server();
    let output = client_with_stdin(addr, b"Bob\nAlice\r\n\nexit\nnever sent\n");
    assert_eq!(
        text(&output.stdout),
        "Welcome!\nHello, Bob!\nHello, Alice!\r\nHello, !\n"
    );
    assert_eq!(text(&output.stderr), "");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        done.recv_timeout(STEP).expect("server done"),
        b"Bob\nAlice\r\n\nexit\n"
    );
}

#[test]
fn stdin_end_of_input_ends_it_and_a_last_line_gets_its_ending() {
    let (addr, done) = line_server();
    let output = client_with_stdin(addr, b"Bob\nCarol");
    assert_eq!(
        text(&output.stdout),
        "Welcome!\nHello, Bob!\nHello, Carol!\n"
    );
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        done.recv_timeout(STEP).expect("server done"),
        b"Bob\nCarol\n"
    );
}

/// A thread-per-connection raw-mode greeting server run by the test: each
/// read is one message, answered by `answer`. It records every message.
struct RawServer {
    addr: SocketAddr,
    messages: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
}

impl RawServer {
    fn start(answer: fn(&[u8]) -> Vec<u8>) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("local addr");
        let messages = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (record, stopped) = (Arc::clone(&messages), Arc::clone(&stop));
        thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                // Polled, so that the loop sees `stop`.
                let Ok((mut stream, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(2));
                    continue;
                };
                let record = Arc::clone(&record);
                thread::spawn(move || {
                    stream.set_nonblocking(false).expect("blocking stream");
                    stream.set_read_timeout(Some(STEP)).expect("read timeout");
                    stream.set_nodelay(true).expect("nodelay");
                    stream.write_all(b"Welcome!").expect("welcome");
                    let mut buf = [0u8; 1024];
                    loop {
                        let n = stream.read(&mut buf).unwrap_or(0);
                        if n == 0 || &buf[..n] == b"exit" {
                            return;
                        }
                        record.lock().expect("messages").push(buf[..n].to_vec());
                        if stream.write_all(&answer(&buf[..n])).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        RawServer {
            addr,
            messages,
            stop,
        }
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn hello(message: &[u8]) -> Vec<u8> {
    [b"Hello, ", message, b"!"].concat()
}

/// Checks the summary line's fixed parts and returns it.
fn summary(output: &Output, ok: usize, failed: usize, round_trips: usize) -> String {
    let stdout = text(&output.stdout);
    assert_eq!(stdout.lines().count(), 1, "one summary line: {stdout:?}");
    let prefix = format!("connections: {ok} ok, {failed} failed; round trips: {round_trips} in ");
    assert!(stdout.starts_with(&prefix), "{stdout:?}");
    assert!(stdout.contains("/s; latency p50 "), "{stdout:?}");
    assert!(
        stdout.contains(" ms, p90 ") && stdout.contains(" ms, p99 "),
        "{stdout:?}"
    );
    assert!(stdout.trim_end().ends_with(" ms"), "{stdout:?}");
    stdout.to_owned()
}

#[test]
fn load_mode_checks_every_reply_of_every_connection() {
    let server = RawServer::start(hello);
    let output = client(server.addr, &["--connections", "40", "--rounds", "25"]);
    assert_eq!(text(&output.stderr), "");
    assert_eq!(output.status.code(), Some(0));
    summary(&output, 40, 0, 1000);
    let messages = server.messages.lock().expect("messages");
    let unique: HashSet<&Vec<u8>> = messages.iter().collect();
    assert_eq!(messages.len(), 1000);
    assert_eq!(unique.len(), 1000, "every name is unique");
}

#[test]
fn load_mode_fails_when_one_reply_is_wrong() {
    let server = RawServer::start(|message| {
        if message == b"c3r5" {
            b"Hello, c3r5?".to_vec()
        } else {
            hello(message)
        }
    });
    let output = client(server.addr, &["--connections", "8", "--rounds", "10"]);
    assert_eq!(output.status.code(), Some(8));
    summary(&output, 7, 1, 75);
    let stderr = text(&output.stderr);
    assert_eq!(
        stderr,
        format!(
            "sockdemo: error: 1 of 8 connections failed; the first: connection 3: {} sent \"Hello, c3r5?\" where \"Hello, c3r5!\" was expected\n",
            server.addr
        )
    );
}

#[test]
fn load_mode_with_nothing_listening_fails_every_connection() {
    let addr = free_addr();
    let output = client(addr, &["--connections", "3", "--rounds", "2"]);
    assert_eq!(output.status.code(), Some(7));
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with("connections: 0 ok, 3 failed; round trips: 0 in "),
        "{stdout:?}"
    );
    assert!(
        stdout.ends_with(", 0/s; latency: none measured\n"),
        "{stdout:?}"
    );
    let error = error_line(&output, addr);
    assert!(error.contains("3 of 3 connections failed"), "{error}");
}

#[test]
fn tutorial_session_against_sockdemo_serve() {
    let server = Server::start(&[]);
    let output = client(server.addr, &[]);
    assert_eq!(
        text(&output.stdout),
        "Welcome!\nHello, Michael!\nHello, Tracy!\nHello, Sarah!\n"
    );
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn stdin_against_sockdemo_serve_is_answered_in_line_mode() {
    let server = Server::start(&[]);
    let output = client_with_stdin(server.addr, b"Bob\nAlice\r\nexit\n");
    assert_eq!(
        text(&output.stdout),
        "Welcome!\nHello, Bob!\nHello, Alice!\r\n"
    );
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn stdin_exit_as_an_unterminated_last_line_ends_it_cleanly() {
    // The last line gets its ending, so `exit` there is the line `exit`:
    // the server closes without a reply, and that is the end, not a failure.
    let server = Server::start(&[]);
    for input in [&b"Bob\nexit"[..], b"Bob\nexit\r"] {
        let output = client_with_stdin(server.addr, input);
        assert_eq!(text(&output.stdout), "Welcome!\nHello, Bob!\n");
        assert_eq!(text(&output.stderr), "");
        assert_eq!(output.status.code(), Some(0));
    }
}

#[test]
fn load_mode_against_sockdemo_serve() {
    let server = Server::start(&["-q"]);
    let output = client(server.addr, &["--connections", "300", "--rounds", "10"]);
    assert_eq!(text(&output.stderr), "");
    assert_eq!(output.status.code(), Some(0));
    summary(&output, 300, 0, 3000);
}

#[test]
fn load_mode_reports_the_servers_busy_reply() {
    let server = Server::start(&["-q", "--max-connections", "5"]);
    let output = client(server.addr, &["--connections", "8", "--rounds", "3"]);
    assert_eq!(output.status.code(), Some(8));
    summary(&output, 5, 3, 15);
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("sockdemo: error: 3 of 8 connections failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains(r#"sent "Busy, try again later\n" where "Welcome!" was expected"#),
        "{stderr}"
    );
}

#[test]
fn a_closed_stdout_ends_the_session_quietly() {
    // The welcome goes out once the reader of the client's stdout is gone.
    let (reader_gone, wait_for_reader) = mpsc::channel();
    let (addr, done) = serve_one(move |mut stream| {
        wait_for_reader
            .recv_timeout(STEP)
            .expect("the reader went away");
        stream.write_all(b"Welcome!").expect("welcome");
        receive_to_end(&mut stream)
    });
    let mut client = Process::spawn(
        sockdemo()
            .args(["client", "--connect", &addr.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    client.close_stdout();
    reader_gone.send(()).expect("server thread");
    let stderr = read_all_of(client.stderr());
    let status = client.wait(STEP);
    assert_eq!(text(&stderr.join().expect("stderr reader")), "");
    assert_eq!(status.code(), Some(0));
    done.recv_timeout(STEP).expect("server done");
}
