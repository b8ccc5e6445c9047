//! `sockdemo serve` end to end: the greeting protocol as clients see it, in
//! raw mode (the tutorial's client) and in line mode (a person at `nc`).

use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::talk::Client;
use crate::support::{STEP, Server, ipv6_loopback, precondition, run_bounded, sockdemo};

#[test]
fn the_tutorials_client_gets_the_tutorials_transcript() {
    let server = Server::start(&[]);
    let mut client = Client::greeted(server.addr);
    let peer = client.stream.local_addr().expect("local addr");
    server.wait_for_log(&format!("accepted a connection from {peer}"), STEP);
    client.ask(b"Michael", b"Hello, Michael!");
    client.ask(b"Tracy", b"Hello, Tracy!");
    client.ask(b"Sarah", b"Hello, Sarah!");
    client.send(b"exit");
    client.expect_closed();
    server.wait_for_log(&format!("connection from {peer} closed"), STEP);
}

#[test]
fn the_server_says_where_it_listens_and_that_it_waits() {
    let server = Server::start(&[]);
    assert!(server.addr.ip().is_loopback());
    assert_ne!(server.addr.port(), 0);
    let line = server.wait_for_log("waiting for connections", STEP);
    assert!(
        line.contains(&format!("INFO  waiting for connections on {}", server.addr)),
        "{line}"
    );
}

#[test]
fn ipv6_loopback_is_served() {
    if !precondition("ipv6", "an IPv6 loopback address (::1)", ipv6_loopback) {
        return;
    }
    let server = Server::start_with(sockdemo().args(["serve", "--listen", "[::1]:0"]));
    assert_eq!(server.addr.ip().to_string(), "::1");
    let mut client = Client::greeted(server.addr);
    client.ask(b"Bob\n", b"Hello, Bob!\n");
}

#[test]
fn raw_mode_exit_is_exact() {
    let server = Server::start(&[]);
    let mut client = Client::greeted(server.addr);
    client.ask(b"exit ", b"Hello, exit !");
    client.ask(b"EXIT", b"Hello, EXIT!");
    client.send(b"exit");
    client.expect_closed();
}

#[test]
fn raw_mode_end_of_stream_closes() {
    let server = Server::start(&[]);
    let mut client = Client::greeted(server.addr);
    client.ask(b"Ann", b"Hello, Ann!");
    client.finish_sending();
    client.expect_closed();
}

#[test]
fn a_line_keeps_its_crlf_ending() {
    let server = Server::start(&[]);
    let mut client = Client::greeted(server.addr);
    client.ask(b"Bob\r\n", b"Hello, Bob!\r\n");
    client.ask(b"Ann\r\n", b"Hello, Ann!\r\n");
}

#[test]
fn a_line_keeps_its_lf_ending() {
    let server = Server::start(&[]);
    let mut client = Client::greeted(server.addr);
    client.ask(b"Bob\n", b"Hello, Bob!\n");
    // Once in line mode, a message without its newline waits for it: a
    // reply sent early would arrive during the pause, and be read instead
    // of the one expected below. The pause is the behaviour under test.
    client.send(b"Ann");
    thread::sleep(Duration::from_millis(100));
    client.ask(b"\n", b"Hello, Ann!\n");
}

#[test]
fn two_lines_in_one_write_get_two_replies() {
    let server = Server::start(&[]);
    let mut client = Client::greeted(server.addr);
    client.ask(b"Ann\nBob\r\n", b"Hello, Ann!\nHello, Bob!\r\n");
}

#[test]
fn a_line_split_across_writes_is_one_message() {
    let server = Server::start(&[]);
    let mut client = Client::greeted(server.addr);
    client.send(b"Ann\nBo");
    client.expect(b"Hello, Ann!\n");
    for piece in [&b"b"[..], b" Sm", b"ith\r"] {
        client.send(piece);
        // The pause is the behaviour under test: the pieces arrive apart.
        thread::sleep(Duration::from_millis(50));
    }
    client.ask(b"\n", b"Hello, Bob Smith!\r\n");
}

#[test]
fn an_empty_line_is_a_message() {
    let server = Server::start(&[]);
    let mut client = Client::greeted(server.addr);
    client.ask(b"\n", b"Hello, !\n");
    client.ask(b"\r\n", b"Hello, !\r\n");
}

#[test]
fn line_mode_exit_closes_after_the_replies_before_it() {
    let server = Server::start(&[]);
    let mut client = Client::greeted(server.addr);
    client.send(b"Ann\nexit\r\nBob\n");
    client.expect(b"Hello, Ann!\n");
    client.expect_closed();
}

#[test]
fn an_unterminated_tail_is_answered_at_end_of_stream() {
    let server = Server::start(&[]);
    let mut client = Client::greeted(server.addr);
    client.send(b"Ann\nBob");
    client.expect(b"Hello, Ann!\n");
    client.finish_sending();
    client.expect(b"Hello, Bob!");
    client.expect_closed();
}

#[test]
fn invalid_utf8_is_replaced_and_the_connection_goes_on() {
    let server = Server::start(&[]);
    let mut client = Client::greeted(server.addr);
    client.ask(b"B\xffb", "Hello, B\u{FFFD}b!".as_bytes());
    client.ask(b"\xc3\x28\n", "Hello, \u{FFFD}(!\n".as_bytes());
    client.ask("Zo\u{eb}\n".as_bytes(), "Hello, Zo\u{eb}!\n".as_bytes());
}

#[test]
fn a_line_too_long_gets_one_error_line_and_the_connection_closes() {
    let server = Server::start(&[]);
    let mut client = Client::greeted(server.addr);
    client.ask(b"x\n", b"Hello, x!\n");
    // 64 KiB and a CR are allowed to wait for their LF; one byte more is not.
    let mut long = vec![b'a'; 64 * 1024 + 2];
    client.send(&long);
    client.expect(b"Error: line too long\n");
    client.expect_closed();
    let peer = client.stream.local_addr().expect("local addr");
    server.wait_for_log(
        &format!("connection from {peer} closed: line too long"),
        STEP,
    );

    // The longest line allowed is answered.
    let mut client = Client::greeted(server.addr);
    long.truncate(64 * 1024);
    long.extend_from_slice(b"\r\n");
    client.send(b"\n");
    client.expect(b"Hello, !\n");
    client.send(&long);
    let mut reply = b"Hello, ".to_vec();
    reply.extend_from_slice(&long[..64 * 1024]);
    reply.extend_from_slice(b"!\r\n");
    client.expect(&reply);
}

#[test]
fn delay_sleeps_after_each_read_like_the_tutorial() {
    let server = Server::start(&["--delay", "300ms"]);
    let mut client = Client::greeted(server.addr);
    let start = Instant::now();
    client.ask(b"Ann", b"Hello, Ann!");
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_port_in_use_is_one_clear_error() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let output = run_bounded(sockdemo().args(["serve", "--listen", &addr]), STEP);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(output.stdout, b"");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("sockdemo: error: cannot listen on {addr}: Address already in use (os error 98)\n")
    );
}
