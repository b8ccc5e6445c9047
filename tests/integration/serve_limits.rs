//! `sockdemo serve` at the edges: the capacity rule under a lowered limit,
//! no reply lost when the server closes with input unread (slow-reading
//! clients), a second signal with busy connections, addresses and durations
//! on the command line.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::talk::Client;
use crate::support::{
    STEP, Server, code, command, lowered_to, precondition, run_bounded, sockdemo, text, tool_runs,
};

/// The prlimit tool (util-linux) sets a process's limits. False if skipped.
fn prlimit_available() -> bool {
    precondition("prlimit", "the prlimit tool (util-linux)", || {
        tool_runs("prlimit")
    })
}

/// `sockdemo ARGS` run under `prlimit --nofile=N:N`.
fn with_open_files(limit: u64, args: &[&str]) -> std::process::Command {
    let mut command = command("prlimit");
    command
        .arg(format!("--nofile={limit}:{limit}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_sockdemo"))
        .args(args);
    command
}

#[test]
fn under_a_low_limit_max_connections_is_lowered_and_the_rest_are_told_busy() {
    if !prlimit_available() {
        return;
    }
    let server = Server::start_with(&mut with_open_files(
        48,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--max-connections",
            "1000",
        ],
    ));
    let warning = server.wait_for_log("--max-connections 1,000 lowered to ", STEP);
    assert!(
        warning.contains(": the open-file limit (ulimit -n) allows about "),
        "{warning}"
    );
    let allowed = lowered_to(&warning);
    assert!((1..48).contains(&allowed), "{warning}");

    let mut served: Vec<Client> = (0..allowed).map(|_| Client::greeted(server.addr)).collect();
    for client in &mut served {
        client.ask(b"Ann\n", b"Hello, Ann!\n");
    }
    // One more does not wait in the queue for a descriptor: it is told.
    let mut extra = Client::connect(server.addr);
    extra.expect(b"Busy, try again later\n");
    extra.expect_closed();
    server.wait_for_log("refused a connection from ", STEP);
    drop(served);
    crate::support::wait_for("a place to free up", STEP, || {
        let mut client = Client::connect(server.addr);
        let mut first = [0u8; 1];
        (client.stream.read(&mut first).ok()? == 1 && first[0] == b'W').then_some(())
    });
}

#[test]
fn load_mode_beyond_what_the_process_can_hold_exits_1_naming_the_limit() {
    if !prlimit_available() {
        return;
    }
    let output = run_bounded(
        &mut with_open_files(
            64,
            &["client", "--connect", "127.0.0.1:9", "--connections", "100"],
        ),
        STEP,
    );
    assert_eq!(code(&output), 1, "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with(
            "sockdemo: error: 100 connections need a thread and a socket each, more than this process can hold: the open-file limit (ulimit -n) allows about "
        ),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// The replies the server owes `name000000` to `name{n-1}`, as one block.
fn lines_and_replies(n: usize) -> (Vec<u8>, Vec<u8>) {
    let lines = (0..n)
        .flat_map(|i| format!("name{i:06}\n").into_bytes())
        .collect();
    let replies = (0..n)
        .flat_map(|i| format!("Hello, name{i:06}!\n").into_bytes())
        .collect();
    (lines, replies)
}

/// A client that sends `sent` from a thread of its own (ignoring the
/// failure a closed connection brings) and reads at about 4 MB/s, in
/// 4 KiB reads with a pause of a millisecond. Returns what it read, and
/// whether it ended in a reset rather than the end of the stream.
fn slow_reader(addr: SocketAddr, sent: Vec<u8>) -> (Vec<u8>, bool) {
    let mut client = Client::greeted(addr);
    let mut writer = client.stream.try_clone().expect("clone");
    let sending = thread::spawn(move || {
        let _ = writer.write_all(&sent);
    });
    // 4 KiB a millisecond at most, so replies queue up at the server.
    let (received, reset) = read_slowly(&mut client.stream, Duration::from_millis(1));
    sending.join().expect("writer");
    (received, reset)
}

/// Reads everything `stream` gives, 4 KiB at a time with `pause` between
/// reads; returns it, and whether it ended in a reset rather than the end
/// of the stream.
fn read_slowly(stream: &mut TcpStream, pause: Duration) -> (Vec<u8>, bool) {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    let reset = loop {
        match stream.read(&mut chunk) {
            Ok(0) => break false,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == ErrorKind::ConnectionReset => break true,
            Err(err) => panic!("reading replies: {err}"),
        }
        // The pause is the behaviour under test: a client reading slowly.
        thread::sleep(pause);
    };
    (received, reset)
}

#[test]
fn exit_with_more_input_behind_it_loses_no_reply_to_a_slow_reader() {
    let server = Server::start(&["-q"]);
    let (mut sent, replies) = lines_and_replies(100_000);
    sent.extend_from_slice(b"exit\n");
    sent.extend(lines_and_replies(20_000).0);
    let (received, _) = slow_reader(server.addr, sent);
    assert_eq!(received.len(), replies.len(), "replies lost");
    assert!(received == replies, "replies differ");
}

#[test]
fn line_too_long_reaches_a_slow_reader_after_every_reply() {
    let server = Server::start(&["-q"]);
    let (mut sent, mut replies) = lines_and_replies(100_000);
    sent.extend(vec![b'x'; 70_000]);
    sent.extend_from_slice(b"\n");
    sent.extend(lines_and_replies(20_000).0);
    replies.extend_from_slice(b"Error: line too long\n");
    let (received, _) = slow_reader(server.addr, sent);
    assert_eq!(received.len(), replies.len(), "replies lost");
    assert!(received == replies, "replies differ");
}

#[test]
fn the_end_of_the_grace_period_loses_no_reply_to_a_client_still_sending() {
    let mut server = Server::start(&["--grace", "300ms"]);
    let mut client = Client::greeted(server.addr);
    let mut writer = client.stream.try_clone().expect("clone");
    // Sends lines for two seconds, well past the end of the grace period.
    let sending = thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(2);
        let mut sent = 0;
        while Instant::now() < until {
            let batch: Vec<u8> = (sent..sent + 100)
                .flat_map(|i| format!("name{i:06}\n").into_bytes())
                .collect();
            if writer.write_all(&batch).is_err() {
                break;
            }
            sent += 100;
            // The pace is the behaviour under test: a client still talking.
            thread::sleep(Duration::from_millis(2));
        }
    });
    server.wait_for_log("accepted a connection", STEP);
    server.process.signal(libc::SIGTERM);
    // Slower than the replies come (400 KB/s), so that some are still
    // queued at the server when the grace period ends.
    let (received, reset) = read_slowly(&mut client.stream, Duration::from_millis(10));
    sending.join().expect("writer");
    // The replies up to the deadline, then the end of the stream: never a
    // reset, which would destroy the replies still queued.
    assert!(!reset, "reset after {} bytes", received.len());
    let (_, replies) = lines_and_replies(received.len() / 10 + 1);
    assert!(
        !received.is_empty() && replies.starts_with(&received),
        "replies differ"
    );
    server.wait_for_log("grace period over", STEP);
    assert!(server.wait_exit(STEP).success());
}

#[test]
fn a_second_signal_closes_busy_connections_at_once_and_says_so() {
    const BUSY: usize = 50;
    let mut server = Server::start(&["--grace", "1m"]);
    let stop = Arc::new(AtomicBool::new(false));
    let mut talkers = Vec::new();
    for _ in 0..BUSY {
        let mut client = Client::greeted(server.addr);
        let stop = Arc::clone(&stop);
        talkers.push(thread::spawn(move || {
            // Busy until the server closes: every exchange a full round trip.
            while !stop.load(Ordering::Relaxed) {
                if client.stream.write_all(b"busy\n").is_err() {
                    return;
                }
                let mut reply = [0u8; 12];
                if client.stream.read_exact(&mut reply).is_err() {
                    return;
                }
            }
        }));
    }
    server.process.signal(libc::SIGINT);
    server.wait_for_log(
        "refusing new connections; live ones may finish within 1m",
        STEP,
    );
    let hurried = Instant::now();
    server.process.signal(libc::SIGINT);
    let line = server.wait_for_log("second signal", STEP);
    // Busy connections may have ended themselves before the count was taken.
    let closing: usize = line
        .split_once(" INFO  second signal: closing ")
        .and_then(|(_, rest)| rest.strip_suffix(" live connections now"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(closing <= BUSY, "{line}");
    let status = server.wait_exit(STEP);
    let took = hurried.elapsed();
    assert!(status.success(), "{status:?}");
    stop.store(true, Ordering::Relaxed);
    for talker in talkers {
        talker.join().expect("talker");
    }
    let rest: Vec<String> = server.stderr.try_iter().collect();
    assert!(
        !rest.iter().any(|line| line.contains("grace period over")),
        "{rest:?}"
    );
    // Generous for a busy machine, far below the grace period of a minute.
    assert!(took < Duration::from_secs(8), "{took:?}");
}

#[test]
fn a_host_name_or_a_bare_port_is_an_address() {
    let server = Server::start_with(sockdemo().args(["serve", "--listen", "localhost:0"]));
    // The first IPv4 address of the name, so that the default client reaches it.
    assert!(
        server.addr.ip().is_loopback() && server.addr.is_ipv4(),
        "{}",
        server.addr
    );
    server.wait_for_log("localhost resolves to 127.0.0.1; listening there", STEP);
    for connect in [
        format!("localhost:{}", server.addr.port()),
        server.addr.port().to_string(),
    ] {
        let output = run_bounded(
            sockdemo().args(["client", "--connect", &connect, "Ann"]),
            STEP,
        );
        assert_eq!(text(&output.stdout), "Welcome!\nHello, Ann!\n", "{connect}");
        assert_eq!(code(&output), 0);
    }
}

#[test]
fn a_port_without_a_host_is_refused_with_a_hint() {
    for subcommand in [["serve", "--listen"], ["client", "--connect"]] {
        let output = run_bounded(sockdemo().args(subcommand).arg(":9999"), STEP);
        assert_eq!(code(&output), 2);
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("\":9999\" has no host: write 0.0.0.0:9999 or [::]:9999 for every interface, or 9999 for this machine only"),
            "{stderr}"
        );
    }
}

#[test]
fn durations_beyond_the_maximum_or_negative_are_usage_errors() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["serve", "--grace", "10000000000000000000"],
            "is longer than the maximum, 36500d",
        ),
        (
            &["client", "--timeout", "10000000000000000000"],
            "is longer than the maximum, 36500d",
        ),
        (&["serve", "--delay=-1"], "\"-1\" is negative"),
        (&["serve", "--idle-timeout", "-5s"], "\"-5s\" is negative"),
    ];
    for (args, says) in cases {
        let output = run_bounded(sockdemo().args(args), STEP);
        assert_eq!(code(&output), 2, "{args:?}");
        assert!(
            text(&output.stderr).contains(says),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
}

#[test]
fn the_idle_timeout_is_logged_as_a_person_writes_it() {
    let server = Server::start(&["--idle-timeout", "300ms"]);
    let mut client = Client::greeted(server.addr);
    client.expect_closed();
    let line = server.wait_for_log("closed: sent nothing for ", STEP);
    assert!(line.ends_with("closed: sent nothing for 300ms"), "{line}");
}

#[test]
fn a_client_gone_while_the_server_writes_is_not_called_idle() {
    let server = Server::start(&[]);
    let client = Client::greeted(server.addr);
    let mut stream: TcpStream = client.stream;
    // Send lines without reading a reply until the server takes no more: it
    // is then blocked writing replies nobody reads.
    stream.set_nonblocking(true).expect("nonblocking");
    let (lines, _) = lines_and_replies(10_000);
    crate::support::wait_for("the server to stop reading", STEP, || {
        match stream.write(&lines) {
            Err(err) if err.kind() == ErrorKind::WouldBlock => Some(()),
            Ok(_) => None,
            Err(err) => panic!("sending: {err}"),
        }
    });
    // Then a reset, as when a client is killed with replies unread.
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .expect("linger 0");
    drop(stream);
    let line = server.wait_for_log("closed", STEP);
    assert!(
        line.ends_with("closed: Connection reset by peer (os error 104)"),
        "{line}"
    );
}
