//! sockdemo against the tutorial's own programs (`bench/tutorial/`, run by
//! python3): the same bytes on the wire in both directions, and the same
//! body saved from the same server.

use std::process::Stdio;

use crate::support::dir::Dir;
use crate::support::scripted::{Scripted, send};
use crate::support::{
    Process, STEP, Server, code, free_addr, lines_of, python_available, run_bounded, sockdemo,
    text, tutorial, wait_for_line,
};

/// What the tutorial's client prints against a correct server, and what
/// `sockdemo client` prints by default.
const TRANSCRIPT: &str = "Welcome!\nHello, Michael!\nHello, Tracy!\nHello, Sarah!\n";

#[test]
fn sockdemo_client_against_the_tutorials_server() {
    if !python_available() {
        return;
    }
    let addr = free_addr();
    let mut server = Process::spawn(
        tutorial("seed_server.py")
            .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
            .args(["--delay", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let log = lines_of(server.stdout());
    wait_for_line(&log, "Waiting for connection...", STEP);
    let output = run_bounded(
        sockdemo().args(["client", "--connect", &addr.to_string()]),
        STEP,
    );
    assert_eq!(text(&output.stdout), TRANSCRIPT);
    assert_eq!(text(&output.stderr), "");
    assert_eq!(code(&output), 0);
    // The server saw the tutorial's `exit`, not an end of stream or a reset.
    wait_for_line(&log, "Accept new connection from 127.0.0.1:", STEP);
    wait_for_line(&log, "Connection from 127.0.0.1:", STEP);
}

#[test]
fn the_tutorials_client_against_sockdemo_serve() {
    if !python_available() {
        return;
    }
    let server = Server::start(&[]);
    let output = run_bounded(
        tutorial("seed_client.py").args([
            "--host",
            "127.0.0.1",
            "--port",
            &server.addr.port().to_string(),
        ]),
        STEP,
    );
    assert_eq!(text(&output.stderr), "");
    assert_eq!(code(&output), 0);
    assert_eq!(text(&output.stdout), TRANSCRIPT);
    server.wait_for_log("closed", STEP);
}

#[test]
fn sockdemo_fetch_and_the_tutorials_fetch_save_the_same_body() {
    if !python_available() {
        return;
    }
    // Every byte value, a CRLF CRLF inside, more than one read's worth.
    let mut body: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    body.splice(1000..1000, b"\r\n\r\n".iter().copied());
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
    let response = [head.as_bytes(), &body].concat();
    let server = Scripted::start(move |_| vec![send(&response)]);
    let dir = Dir::empty();

    let output = dir.fetch(&[&server.url("/file"), "-o", "sockdemo.bin", "-q"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let output = run_bounded(
        tutorial("seed_fetch.py")
            .current_dir(dir.path())
            .arg("127.0.0.1")
            .args(["--port", &server.addr.port().to_string()])
            .args(["--path", "/file", "--out", "tutorial.bin"]),
        STEP,
    );
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));

    assert!(
        dir.read("sockdemo.bin") == body,
        "sockdemo saved another body"
    );
    assert!(
        dir.read("tutorial.bin") == body,
        "the tutorial saved another body"
    );
    assert_eq!(server.requests().len(), 2);
}
