//! `sockdemo serve` under load and faults: bursts beyond std's backlog of
//! 128, running out of descriptors, threads the system refuses, idle and
//! non-reading clients, resets, a full server, and shutdown on SIGTERM / SIGINT.

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use crate::support::talk::Client;
use crate::support::{
    STEP, Server, command, open_files_at_least, precondition, run_bounded, sockdemo, text,
    tool_runs, wait_for,
};

/// A full conversation, proof that the server still serves.
fn still_serves(addr: SocketAddr) {
    let mut client = Client::greeted(addr);
    client.ask(b"still there?\n", b"Hello, still there?!\n");
}

/// The prlimit tool (util-linux) sets a process's limits. False if skipped.
fn prlimit_available() -> bool {
    precondition("prlimit", "the prlimit tool (util-linux)", || {
        tool_runs("prlimit")
    })
}

#[test]
fn a_burst_far_beyond_128_is_all_greeted() {
    const CLIENTS: usize = 1000;
    if !open_files_at_least(CLIENTS as u64 + 256) {
        return;
    }
    let server = Server::start(&[]);
    // With the server stopped, every client waits in the listen queue at
    // once: with std's backlog of 128 most of them would never get in.
    server.process.signal(libc::SIGSTOP);
    let connected: Vec<TcpStream> = (0..CLIENTS)
        .map(|i| {
            TcpStream::connect_timeout(&server.addr, Duration::from_secs(3))
                .unwrap_or_else(|err| panic!("client {i} could not connect: {err}"))
        })
        .collect();
    server.process.signal(libc::SIGCONT);
    let deadline = Instant::now() + STEP;
    for (i, stream) in connected.into_iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("timeout");
        let mut client = Client { stream };
        let mut welcome = [0u8; 8];
        match std::io::Read::read_exact(&mut client.stream, &mut welcome) {
            Ok(()) => assert_eq!(&welcome, b"Welcome!", "client {i}"),
            Err(err) => panic!("client {i} of {CLIENTS} was not greeted in time: {err}"),
        }
    }
    still_serves(server.addr);
}

#[test]
fn out_of_descriptors_the_server_waits_and_recovers() {
    if !prlimit_available() {
        return;
    }
    // Lowered under the running server (soft and hard), after it sized
    // itself: under a limit it starts with, it would tell extra clients it
    // is busy instead.
    let server = Server::start(&[]);
    let prlimit = run_bounded(
        command("prlimit").args([
            format!("--pid={}", server.process.id()),
            "--nofile=24:24".to_owned(),
        ]),
        STEP,
    );
    assert!(prlimit.status.success(), "{}", text(&prlimit.stderr));

    // More clients than descriptors: the first ones are served, the others
    // wait in the listen queue while accept fails with EMFILE.
    let mut clients: Vec<Client> = (0..30).map(|_| Client::connect(server.addr)).collect();
    server.wait_for_log("cannot accept a connection: Too many open files", STEP);
    let mut greeted = Vec::new();
    let mut waiting = Vec::new();
    for mut client in clients.drain(..) {
        // The first in the queue is served for sure: wait for it generously.
        // Once one is, a client not greeted within 300 ms is taken to wait.
        let patience = if greeted.is_empty() {
            STEP
        } else {
            Duration::from_millis(300)
        };
        client
            .stream
            .set_read_timeout(Some(patience))
            .expect("timeout");
        let mut welcome = [0u8; 8];
        match std::io::Read::read_exact(&mut client.stream, &mut welcome) {
            Ok(()) => {
                assert_eq!(&welcome, b"Welcome!");
                greeted.push(client);
            }
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                waiting.push(client);
            }
            Err(err) => panic!("a client failed while the server was out of descriptors: {err}"),
        }
    }
    assert!(!greeted.is_empty(), "nobody was served");
    assert!(
        !waiting.is_empty(),
        "the descriptor limit was never reached"
    );

    // Once the first clients leave, the waiting ones get in by themselves.
    for mut client in greeted {
        client.send(b"exit");
    }
    for mut client in waiting {
        client.stream.set_read_timeout(Some(STEP)).expect("timeout");
        client.expect(b"Welcome!");
        client.ask(b"late\n", b"Hello, late!\n");
        client.send(b"exit\n");
        client.expect_closed();
    }
    server.wait_for_log("accepting again; failed attempts in a row: ", STEP);
    still_serves(server.addr);
}

#[test]
fn a_thread_the_system_refuses_turns_only_that_client_away_as_busy() {
    if !prlimit_available() {
        return;
    }
    // One malloc arena, so that address space goes to thread stacks only.
    let mut server = Server::start_with(
        sockdemo()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("MALLOC_ARENA_MAX", "1"),
    );
    // Leave room for a few 256 KiB connection stacks, not for ten.
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.process.id()))
        .expect("/proc/PID/status");
    let size_kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmSize:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmSize");
    let limit = (size_kib + 1024) * 1024;
    let prlimit = run_bounded(
        command("prlimit")
            .arg(format!("--pid={}", server.process.id()))
            .arg(format!("--as={limit}:{limit}")),
        STEP,
    );
    assert!(prlimit.status.success(), "{}", text(&prlimit.stderr));

    let mut greeted = Vec::new();
    let mut turned_away = Vec::new();
    for _ in 0..10 {
        let mut client = Client::connect(server.addr);
        let mut first = [0u8; 1];
        match std::io::Read::read(&mut client.stream, &mut first) {
            // Told, as when the server is full, not closed without a word.
            Ok(1) if first[0] == b'B' => {
                client.expect(&b"Busy, try again later\n"[1..]);
                client.expect_closed();
                turned_away.push(client.stream.local_addr().expect("local addr"));
            }
            Ok(1) => {
                client.expect(&b"Welcome!"[1..]);
                greeted.push(client);
            }
            other => panic!("a client got {other:?}"),
        }
    }
    assert!(!greeted.is_empty(), "nobody was served");
    let Some(peer) = turned_away.first() else {
        panic!("every thread was created: the address space limit did not bite");
    };
    server.wait_for_log(&format!("cannot start a thread for {peer}"), STEP);
    for client in &mut greeted {
        client.ask(b"Ann\n", b"Hello, Ann!\n");
    }
    let served = greeted.len() + 1;
    drop(greeted);
    // Once their threads have ended, their stacks are free again and the
    // server serves as before.
    let mut client = wait_for("a thread to be started again", STEP, || {
        let mut client = Client::connect(server.addr);
        let mut first = [0u8; 1];
        let read = std::io::Read::read(&mut client.stream, &mut first).expect("read");
        (read == 1 && first[0] == b'W').then_some(client)
    });
    client.expect(&b"Welcome!"[1..]);
    client.ask(b"Bob\n", b"Hello, Bob!\n");
    // The clients turned away were never served, and are counted as
    // refused (with those turned away while the stacks were freed).
    server.process.signal(libc::SIGTERM);
    assert!(server.wait_exit(STEP).success());
    let summary = server.wait_for_log(
        &format!("stopped; connections served: {served}, refused: "),
        STEP,
    );
    let refused: usize = summary
        .split("refused: ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {summary:?}"));
    assert!(refused >= turned_away.len(), "{summary}");
}

#[test]
fn a_silent_client_is_closed_after_the_idle_timeout() {
    let server = Server::start(&["--idle-timeout", "1s"]);
    // Talking more often than the timeout keeps a client in, however long
    // (a pause of a fifth of it leaves room for a slow machine). The pauses
    // are the behaviour under test.
    let mut chatty = Client::greeted(server.addr);
    for _ in 0..8 {
        thread::sleep(Duration::from_millis(200));
        chatty.ask(b"Ann\n", b"Hello, Ann!\n");
    }
    let start = Instant::now();
    chatty.expect_closed();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}"
    );
    let peer = chatty.stream.local_addr().expect("local addr");
    server.wait_for_log(
        &format!("connection from {peer} closed: sent nothing for 1s"),
        STEP,
    );
    still_serves(server.addr);
}

#[test]
fn a_client_that_never_reads_is_closed_after_the_idle_timeout() {
    let server = Server::start(&["--idle-timeout", "1s"]);
    // A small receive buffer, so that unread replies pile up quickly.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket
        .connect_timeout(&server.addr.into(), STEP)
        .expect("connect");
    let mut stream: TcpStream = socket.into();
    let peer = stream.local_addr().expect("local addr");
    stream
        .set_write_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    // Send lines until the server stops taking them (it blocks writing
    // replies nobody reads), without ever reading one.
    let line = [b"x".repeat(999), b"\n".to_vec()].concat();
    let started = Instant::now();
    let mut sent = 0usize;
    while started.elapsed() < STEP && sent < 256 * 1024 * 1024 {
        match stream.write(&line) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    server.wait_for_log(
        &format!("connection from {peer} closed: read no reply for 1s"),
        STEP,
    );
    drop(stream);
    still_serves(server.addr);
}

#[test]
fn a_reset_mid_conversation_ends_only_that_connection() {
    let server = Server::start(&[]);
    let mut bystander = Client::greeted(server.addr);
    bystander.ask(b"Ann\n", b"Hello, Ann!\n");

    for unanswered in [&b""[..], b"Bob\nCarl\n"] {
        let mut client = Client::greeted(server.addr);
        client.ask(b"Bob\n", b"Hello, Bob!\n");
        client.send(unanswered);
        let peer = client.stream.local_addr().expect("local addr");
        // Linger zero: closing sends a reset instead of an orderly end.
        socket2::SockRef::from(&client.stream)
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER");
        drop(client);
        server.wait_for_log(&format!("connection from {peer} closed"), STEP);
    }
    bystander.ask(b"Ann\n", b"Hello, Ann!\n");
    still_serves(server.addr);
}

#[test]
fn beyond_max_connections_a_client_is_told_to_come_back() {
    let server = Server::start(&["--max-connections", "2"]);
    let first = Client::greeted(server.addr);
    let mut second = Client::greeted(server.addr);
    let mut third = Client::connect(server.addr);
    third.expect(b"Busy, try again later\n");
    third.expect_closed();
    let peer = third.stream.local_addr().expect("local addr");
    server.wait_for_log(
        &format!("refused a connection from {peer}: 2 connections already"),
        STEP,
    );
    second.ask(b"Bob\n", b"Hello, Bob!\n");

    let leaving = first.stream.local_addr().expect("local addr");
    drop(first);
    server.wait_for_log(&format!("connection from {leaving} closed"), STEP);
    still_serves(server.addr);
}

#[test]
fn sigterm_lets_a_live_client_finish_within_the_grace_then_exits_0() {
    let mut server = Server::start(&["--grace", "2s"]);
    let mut client = Client::greeted(server.addr);
    client.ask(b"Ann\n", b"Hello, Ann!\n");

    let signalled = Instant::now();
    server.process.signal(libc::SIGTERM);
    server.wait_for_log("SIGTERM received", STEP);
    server.wait_for_log("refusing new connections", STEP);
    // No newcomers...
    let refused = TcpStream::connect_timeout(&server.addr, STEP).map_err(|e| e.kind());
    assert_eq!(refused.err(), Some(ErrorKind::ConnectionRefused));
    // ...but the live client is still served during the grace period...
    client.ask(b"Bob\n", b"Hello, Bob!\n");
    // ...and closed at its end.
    client.expect_closed();
    let status = server.wait_exit(STEP);
    let took = signalled.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(took >= Duration::from_millis(1900), "exited after {took:?}");
    // Generous for a busy machine; without the grace period's end the
    // server would wait for the client, which waits `STEP` (10 s).
    assert!(took < Duration::from_secs(8), "exited after {took:?}");
    server.wait_for_log("grace period over; closing live connections: 1", STEP);
    server.wait_for_log(
        "stopped; connections served: 1, refused: 0, most at once: 1",
        STEP,
    );
    // The port is free again.
    TcpListener::bind(server.addr).expect("the port was released");
}

#[test]
fn shutdown_ends_as_soon_as_the_last_client_leaves() {
    let mut server = Server::start(&["--grace", "1m"]);
    let mut client = Client::greeted(server.addr);
    server.process.signal(libc::SIGINT);
    server.wait_for_log("SIGINT received", STEP);
    server.wait_for_log("refusing new connections", STEP);
    let left = Instant::now();
    client.ask(b"bye\nexit\n", b"Hello, bye!\n");
    client.expect_closed();
    let status = server.wait_exit(STEP);
    assert!(status.success(), "{status:?}");
    // Generous for a busy machine, far below the grace period of a minute.
    assert!(
        left.elapsed() < Duration::from_secs(8),
        "{:?}",
        left.elapsed()
    );
    server.wait_for_log("stopped; connections served: 1, refused: 0", STEP);
}

#[test]
fn a_second_signal_closes_live_clients_at_once() {
    let mut server = Server::start(&["--grace", "1m"]);
    let mut client = Client::greeted(server.addr);
    server.process.signal(libc::SIGINT);
    server.wait_for_log("SIGINT received", STEP);
    server.wait_for_log("refusing new connections", STEP);
    let hurried = Instant::now();
    server.process.signal(libc::SIGTERM);
    client.expect_closed();
    let status = server.wait_exit(STEP);
    assert!(status.success(), "{status:?}");
    // Generous for a busy machine, far below the grace period of a minute.
    assert!(
        hurried.elapsed() < Duration::from_secs(8),
        "{:?}",
        hurried.elapsed()
    );
}
