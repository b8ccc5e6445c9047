//! curl's habits in `sockdemo fetch`: `-s`, `-S`, `-q`, `-i`, `-I`, `-H`, `-A`,
//! `-L`, `-O`, the flags that contradict each other, and the success line.
//! The scripted server records each request, so the tests check the bytes
//! sent.

use crate::support::dir::Dir;
use crate::support::scripted::{Scripted, send};
use crate::support::{code, text};

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
const OK_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";

fn serving(response: &'static str) -> Scripted {
    Scripted::start(move |_| vec![send(response)])
}

/// The one request a server received, as text.
fn only_request(server: &Scripted) -> String {
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    text(&requests[0])
}

#[test]
fn silent_prints_nothing_and_show_error_brings_back_the_error_line() {
    let server = serving(OK);
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin", "-s"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(dir.read("out.bin"), b"hello");
    assert_eq!(output.stdout, b"", "no head with -s");
    assert_eq!(text(&output.stderr), "", "no success line with -s");

    let output = dir.fetch(&[&server.url("/f"), "-o", "-", "-s"]);
    assert_eq!(output.stdout, b"hello");
    assert_eq!(text(&output.stderr), "");

    let missing = serving("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    let output = dir.fetch(&[&missing.url("/f"), "-o", "out.bin", "-s"]);
    assert_eq!(code(&output), 22);
    assert_eq!(output.stdout, b"");
    assert_eq!(text(&output.stderr), "", "-s: not even the error");
    let output = dir.fetch(&[&missing.url("/f"), "-o", "out.bin", "-sS"]);
    assert_eq!(code(&output), 22);
    assert_eq!(output.stdout, b"");
    let message = text(&output.stderr);
    assert!(message.starts_with("sockdemo: error: "), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
    assert_eq!(dir.read("out.bin"), b"hello");
}

#[test]
fn quiet_drops_the_heads_and_the_success_line_but_not_the_error() {
    let server = serving(OK);
    let dir = Dir::empty();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin", "-q"]);
    assert_eq!(code(&output), 0);
    assert_eq!(text(&output.stdout), "", "-q: nothing on stdout");
    assert_eq!(text(&output.stderr), "");
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin"]);
    assert_eq!(text(&output.stderr), "saved 5 bytes to out.bin\n");
    let missing = serving("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    let output = dir.fetch(&[&missing.url("/f"), "-o", "out.bin", "-q"]);
    assert_eq!(code(&output), 22);
    assert_eq!(text(&output.stdout), "");
    assert_eq!(
        text(&output.stderr).lines().count(),
        1,
        "{}",
        text(&output.stderr)
    );
    // With -I the heads are the output asked for, as curl -sI prints them.
    for level in ["-q", "-s"] {
        let output = dir.fetch(&[&server.url("/f"), "-I", level]);
        assert_eq!(code(&output), 0, "{level}");
        assert_eq!(output.stdout, OK_HEAD.as_bytes(), "{level}");
        assert_eq!(text(&output.stderr), "", "{level}");
    }
}

#[test]
fn include_location_and_remote_name_are_the_defaults() {
    let server = serving(OK);
    let dir = Dir::empty();
    let output = dir.fetch(&[&server.url("/name.txt"), "-i", "-L", "-O"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(output.stdout, OK_HEAD.as_bytes());
    assert_eq!(dir.read("name.txt"), b"hello");
    assert_eq!(text(&output.stderr), "saved 5 bytes to name.txt\n");
}

#[test]
fn head_sends_head_prints_every_head_and_saves_nothing() {
    let server = Scripted::start(|target| match target {
        "/start" => vec![send("HTTP/1.1 302 Found\r\nLocation: /end\r\n\r\n")],
        _ => vec![send(OK_HEAD)],
    });
    let dir = Dir::empty();
    let output = dir.fetch(&[&server.url("/start"), "-I"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        format!("HTTP/1.1 302 Found\r\nLocation: /end\r\n\r\n{OK_HEAD}")
    );
    assert_eq!(dir.entries(), Vec::<String>::new(), "nothing saved");
    assert_eq!(text(&output.stderr), "");
    let requests = server.requests();
    assert!(text(&requests[0]).starts_with("HEAD /start HTTP/1.1\r\n"));
    assert!(text(&requests[1]).starts_with("HEAD /end HTTP/1.1\r\n"));

    // The error-page rule applies to the final status.
    let missing = serving("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n");
    let output = dir.fetch(&[&missing.url("/f"), "-I"]);
    assert_eq!(code(&output), 22, "{}", text(&output.stderr));
    assert_eq!(
        output.stdout,
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n"
    );
}

#[test]
fn custom_headers_add_replace_and_remove_defaults() {
    let server = serving(OK);
    let dir = Dir::empty();
    let output = dir.fetch(&[
        &server.url("/f"),
        "-o",
        "out.bin",
        "-A",
        "agent/7",
        "-H",
        "Accept: text/plain",
        "-H",
        "Host: alias.test",
        "-H",
        "X-Trace: 1",
        "-H",
        "X-Empty;",
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(
        only_request(&server),
        "GET /f HTTP/1.1\r\nHost: alias.test\r\nUser-Agent: agent/7\r\nAccept: text/plain\r\nX-Trace: 1\r\nX-Empty: \r\nConnection: close\r\n\r\n"
    );
    let server = serving(OK);
    let output = dir.fetch(&[
        &server.url("/f"),
        "-o",
        "out.bin",
        "-H",
        "User-Agent:",
        "-H",
        "Accept:",
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(
        only_request(&server),
        format!(
            "GET /f HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            server.addr
        )
    );
}

#[test]
fn credentials_are_dropped_when_a_redirect_leaves_the_origin() {
    let elsewhere = serving(OK);
    let location = elsewhere.url("/there");
    let start = Scripted::start(move |target| match target {
        "/start" => vec![send("HTTP/1.1 302 Found\r\nLocation: /again\r\n\r\n")],
        _ => vec![send(format!(
            "HTTP/1.1 307 Moved\r\nLocation: {location}\r\n\r\n"
        ))],
    });
    let dir = Dir::empty();
    let output = dir.fetch(&[
        &start.url("/start"),
        "-o",
        "out.bin",
        "-H",
        "Authorization: Bearer secret",
        "-H",
        "Cookie: id=1",
        "-H",
        "X-Keep: yes",
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    for request in start.requests() {
        let request = text(&request);
        assert!(
            request.contains("\r\nAuthorization: Bearer secret\r\n"),
            "{request}"
        );
        assert!(request.contains("\r\nCookie: id=1\r\n"), "{request}");
    }
    let moved = only_request(&elsewhere);
    assert!(
        !moved.contains("Authorization") && !moved.contains("Cookie"),
        "{moved}"
    );
    assert!(moved.contains("\r\nX-Keep: yes\r\n"), "{moved}");
}

#[test]
fn contradicting_or_unsafe_flags_are_usage_errors() {
    let dir = Dir::empty();
    for args in [
        &["--fail", "--content-on-error"][..],
        &["-O", "-o", "x"],
        &["-L", "--no-follow"],
        &["-I", "-o", "x"],
        &["-H", "Connection: keep-alive"],
        &["-H", "Content-Length: 1"],
        &["-H", "Transfer-Encoding: chunked"],
        &["-H", "X: a\r\nInjected: 1"],
        &["-H", "X: a\nb"],
        &["-A", "agent\r\nInjected: 1"],
    ] {
        let mut all = vec!["http://127.0.0.1:1/"];
        all.extend_from_slice(args);
        let output = dir.fetch(&all);
        assert_eq!(code(&output), 2, "{args:?}: {}", text(&output.stderr));
    }
    assert_eq!(dir.entries(), Vec::<String>::new());
}
