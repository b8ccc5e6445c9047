//! `sockdemo fetch` end to end: the real binary against a scripted in-test
//! HTTP server, on loopback. Every failure case checks its exit code and
//! that a file already at the output path is left untouched, with no
//! temporary file beside it.

use std::fs;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::dir::Dir;
use crate::support::scripted::{Act, Cue, Scripted, send};
use crate::support::{
    Process, STEP, code, free_addr, ipv6_loopback, precondition, read_all_of, run_bounded,
    sockdemo, text, wait_for,
};

/// Serves one scripted response to every request.
fn serving(acts: Vec<Act>) -> Scripted {
    Scripted::start(move |_| acts.clone())
}

/// Plays `acts` to a download into an existing `out.bin` and expects `code`,
/// with the file untouched. With `--retry 0`: the failure must be the first
/// attempt's (retrying is tested in `fetch_retry`).
fn fails_with(acts: Vec<Act>, expected: i32, args: &[&str]) -> Output {
    let server = serving(acts);
    let dir = Dir::new();
    let url = server.url("/file");
    let mut all = vec![url.as_str(), "-o", "out.bin", "--retry", "0"];
    all.extend_from_slice(args);
    let output = dir.fetch(&all);
    assert_eq!(code(&output), expected, "stderr: {}", text(&output.stderr));
    let message = text(&output.stderr);
    assert!(
        message.starts_with("sockdemo: error: "),
        "stderr: {message}"
    );
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    dir.assert_untouched();
    output
}

/// Plays `acts` to a download into an existing `out.bin` and expects
/// success with exactly `body` saved and `head` printed.
fn saves(acts: Vec<Act>, head: &[u8], body: &[u8]) {
    let server = serving(acts);
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/file"), "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    assert_eq!(output.stdout, head, "printed head");
    assert_eq!(dir.read("out.bin"), body, "saved body");
    assert_eq!(dir.entries(), ["out.bin"]);
    // Stderr is no terminal here: no progress bar, only the sentence saying what was saved.
    assert_eq!(
        text(&output.stderr),
        format!("saved {} bytes to out.bin\n", thousands(body.len()))
    );
}

/// A count as the success line shows it: `300,000`.
fn thousands(count: usize) -> String {
    let digits = count.to_string();
    let mut text = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

const OK_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n";

// --- what works ----------------------------------------------------------

#[test]
fn content_length_body_is_saved_byte_exact() {
    let body: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-A: b\r\n\r\n",
        body.len()
    );
    let mut response = head.as_bytes().to_vec();
    response.extend(&body);
    saves(vec![send(&response)], head.as_bytes(), &body);
}

#[test]
fn chunked_body_is_decoded() {
    let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let acts = vec![
        send(head),
        send("5\r\nhello\r\n"),
        Act::Pause(Duration::from_millis(50)),
        send("1;ext=1\r\n \r\n"),
        send("6\r\nwor"),
        Act::Pause(Duration::from_millis(50)),
        send("ld\n\r\n0\r\nTrailer: x\r\n\r\n"),
    ];
    saves(acts, head.as_bytes(), b"hello world\n");
}

#[test]
fn a_body_until_close_is_saved() {
    let head = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n";
    let acts = vec![
        send(head),
        send("line 1\r\n"),
        Act::Pause(Duration::from_millis(50)),
        send("line 2"),
    ];
    saves(acts, head.as_bytes(), b"line 1\r\nline 2");
}

#[test]
fn the_request_is_a_proper_http_1_1_get() {
    let server = serving(vec![send(OK_HEAD), send("hello world")]);
    let dir = Dir::new();
    let target = format!("{}/a%20b/c?x=1&y#fragment", server.addr);
    let output = dir.fetch(&[&target, "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    let expected = format!(
        "GET /a%20b/c?x=1&y HTTP/1.1\r\nHost: {}\r\nUser-Agent: sockdemo/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        server.addr,
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(server.requests(), [expected.into_bytes()]);
}

#[test]
fn ipv6_literals_are_bracketed() {
    if !precondition("ipv6", "an IPv6 loopback address (::1)", ipv6_loopback) {
        return;
    }
    let server = Scripted::start_on("[::1]:0", None, |_| {
        vec![send(OK_HEAD), send("hello world")]
    });
    let dir = Dir::new();
    let port = server.addr.port();
    let output = dir.fetch(&[&format!("[::1]:{port}/x"), "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    let request = String::from_utf8(server.requests().remove(0)).unwrap();
    assert!(
        request.contains(&format!("\r\nHost: [::1]:{port}\r\n")),
        "{request}"
    );
    assert_eq!(dir.read("out.bin"), b"hello world");
}

#[test]
fn the_default_file_name_comes_from_the_url() {
    let server = serving(vec![send(OK_HEAD), send("hello world")]);
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/dir/name%20one.txt?q=/x")]);
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    assert_eq!(dir.read("name one.txt"), b"hello world");
    assert!(
        text(&output.stderr).contains("saved 11 bytes to name one.txt"),
        "{}",
        text(&output.stderr)
    );
    let output = dir.fetch(&[&server.url("/")]);
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    assert_eq!(dir.read("index.html"), b"hello world");
    let output = dir.fetch(&[&server.url("/..%2F..%2Fescape")]);
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    assert_eq!(dir.read("escape"), b"hello world");
    assert_eq!(
        dir.entries(),
        ["escape", "index.html", "name one.txt", "out.bin"]
    );
}

#[test]
fn dash_o_dash_streams_the_body_to_stdout_and_the_head_to_stderr() {
    let body: Vec<u8> = b"line\n".repeat(50_000);
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
    let mut response = head.as_bytes().to_vec();
    response.extend(&body);
    let server = serving(vec![send(&response)]);
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/x"), "-o", "-"]);
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    assert_eq!(output.stdout, body);
    assert!(
        output.stderr.starts_with(head.as_bytes()),
        "{}",
        text(&output.stderr)
    );
    dir.assert_untouched();
    let output = dir.fetch(&[&server.url("/x"), "-o", "-", "-q"]);
    assert_eq!(code(&output), 0);
    assert_eq!(output.stdout, body);
    assert_eq!(text(&output.stderr), "", "-q prints nothing on stderr");
}

#[test]
fn quiet_prints_nothing_on_stderr_nor_stdout() {
    let server = serving(vec![send(OK_HEAD), send("hello world")]);
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/x"), "-o", "out.bin", "-q"]);
    assert_eq!(code(&output), 0);
    assert_eq!(text(&output.stderr), "");
    assert_eq!(text(&output.stdout), "", "-q: errors only, no heads");
    assert_eq!(dir.read("out.bin"), b"hello world");
}

#[test]
fn interim_100_continue_is_skipped() {
    let acts = vec![
        send("HTTP/1.1 100 Continue\r\n\r\n"),
        send(OK_HEAD),
        send("hello world"),
    ];
    saves(acts, OK_HEAD.as_bytes(), b"hello world");
}

/// A status that has no body by definition saves nothing: the file already
/// there stays as it is (a 304 answers a conditional request, so replacing
/// the file with nothing would lose it), and no new file appears.
fn saves_nothing(head: &str, stray: &str, status: &str) {
    let server = serving(vec![send(head), send(stray)]);
    let dir = Dir::new();
    let url = server.url("/file");
    let output = dir.fetch(&[&url, "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    assert_eq!(output.stdout, head.as_bytes(), "printed head");
    dir.assert_untouched();
    assert_eq!(
        text(&output.stderr),
        format!("nothing saved: {url} answered {status}, which has no body\n")
    );
    let empty = Dir::empty();
    let output = empty.fetch(&[&server.url("/file"), "-q"]);
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    assert_eq!(empty.entries(), Vec::<String>::new(), "a file was created");
}

#[test]
fn status_204_with_stray_bytes_saves_nothing() {
    let head = "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n";
    saves_nothing(head, "stray", "204 No Content");
}

#[test]
fn status_304_with_stray_bytes_saves_nothing() {
    let head = "HTTP/1.1 304 Not Modified\r\n\r\n";
    saves_nothing(head, "stray bytes", "304 Not Modified");
}

#[test]
fn bare_lf_line_endings_are_accepted() {
    let head = "HTTP/1.1 200 OK\nContent-Length: 5\n\n";
    saves(vec![send(head), send("hello")], head.as_bytes(), b"hello");
}

#[test]
fn an_error_page_exits_22_and_never_touches_the_file() {
    let head = "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n";
    // With and without -f, which names the default.
    for args in [&[][..], &["-f"], &["--fail"]] {
        let output = fails_with(vec![send(head), send("not found")], 22, args);
        assert_eq!(
            output.stdout,
            head.as_bytes(),
            "the head is printed as usual"
        );
        assert!(
            text(&output.stderr).contains("answered 404 Not Found: nothing saved"),
            "{}",
            text(&output.stderr)
        );
    }
}

#[test]
fn content_on_error_saves_the_error_page_and_succeeds() {
    let head = "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n";
    let server = serving(vec![send(head), send("not found")]);
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/file"), "-o", "out.bin", "--content-on-error"]);
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    assert_eq!(output.stdout, head.as_bytes());
    assert_eq!(dir.read("out.bin"), b"not found");
}

#[test]
fn an_error_page_writes_nothing_to_stdout_and_makes_no_new_file() {
    let server = serving(vec![send(
        "HTTP/1.1 500 Oops\r\nContent-Length: 4\r\n\r\noops",
    )]);
    let dir = Dir::new();
    // A 500 is retried first: --retry 0 makes this one the final answer.
    let output = dir.fetch(&[&server.url("/new.txt"), "--retry", "0"]);
    assert_eq!(code(&output), 22, "stderr: {}", text(&output.stderr));
    dir.assert_untouched();
    let output = dir.fetch(&[&server.url("/x"), "-o", "-", "--retry", "0"]);
    assert_eq!(code(&output), 22, "stderr: {}", text(&output.stderr));
    assert_eq!(output.stdout, b"", "nothing on stdout");
    let shown = text(&output.stderr);
    assert!(shown.starts_with("HTTP/1.1 500 Oops\r\n"), "{shown}");
    assert!(
        shown.ends_with(&format!(
            "sockdemo: error: {} answered 500 Oops: nothing saved (--content-on-error saves the body)\n",
            server.url("/x")
        )),
        "{shown}"
    );
    dir.assert_untouched();
}

// --- redirects -----------------------------------------------------------

#[test]
fn redirects_are_followed_and_every_head_printed() {
    let server = Scripted::start(|target| match target {
        "/start" => vec![send(
            "HTTP/1.1 301 Moved\r\nLocation: /a/next\r\nContent-Length: 5\r\n\r\nmoved",
        )],
        "/a/next" => vec![send(
            "HTTP/1.1 302 Found\r\nLocation: last?x=1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        )],
        "/a/last?x=1" => vec![send("HTTP/1.1 307 Temp\r\nLocation: /final\r\n\r\n")],
        "/final" => vec![send(OK_HEAD), send("hello world")],
        _ => vec![send("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")],
    });
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/start")]);
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    let expected = [
        "HTTP/1.1 301 Moved\r\nLocation: /a/next\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.1 302 Found\r\nLocation: last?x=1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 307 Temp\r\nLocation: /final\r\n\r\n",
        OK_HEAD,
    ]
    .concat();
    assert_eq!(String::from_utf8_lossy(&output.stdout), expected);
    // Saved under the name of the URL given, not of the last one.
    assert_eq!(dir.read("start"), b"hello world");
    assert_eq!(dir.entries(), ["out.bin", "start"]);
}

#[test]
fn no_follow_saves_the_redirect_itself() {
    let head = "HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 5\r\n\r\n";
    let server = serving(vec![send(head), send("moved")]);
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/x"), "-o", "out.bin", "--no-follow"]);
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    assert_eq!(output.stdout, head.as_bytes());
    assert_eq!(dir.read("out.bin"), b"moved");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_redirect_loop_exits_47() {
    let server = Scripted::start(|target| {
        // Through several URLs, each with its own path and query.
        let next = match target {
            "/a" => "/b?x",
            "/b?x" => "c",
            _ => "/a",
        };
        vec![send(format!(
            "HTTP/1.1 302 Found\r\nLocation: {next}\r\nContent-Length: 0\r\n\r\n"
        ))]
    });
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/a"), "-o", "out.bin"]);
    assert_eq!(code(&output), 47, "stderr: {}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("loop"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(server.requests().len(), 3);
    dir.assert_untouched();
}

#[test]
fn an_empty_location_is_a_final_response() {
    let head = "HTTP/1.1 302 Found\r\nLocation:\r\nContent-Length: 5\r\n\r\n";
    saves(vec![send(head), send("moved")], head.as_bytes(), b"moved");
}

#[test]
fn too_many_redirects_exit_47() {
    let server = Scripted::start(|target| {
        let n: u32 = target.trim_start_matches('/').parse().unwrap_or(0);
        vec![send(format!(
            "HTTP/1.1 301 Moved\r\nLocation: /{}\r\nContent-Length: 0\r\n\r\n",
            n + 1
        ))]
    });
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/0"), "-o", "out.bin", "--max-redirects", "3"]);
    assert_eq!(code(&output), 47, "stderr: {}", text(&output.stderr));
    assert_eq!(
        server.requests().len(),
        4,
        "the first request and 3 redirects"
    );
    dir.assert_untouched();
}

// --- the adversarial server ----------------------------------------------

#[test]
fn a_content_length_body_cut_short_exits_18() {
    fails_with(vec![send(OK_HEAD), send("hello")], 18, &[]);
}

#[test]
fn eof_inside_the_head_exits_8() {
    let output = fails_with(vec![send("HTTP/1.1 200 OK\r\nContent-Len")], 8, &[]);
    assert_eq!(output.stdout, b"", "no head printed");
}

#[test]
fn eof_inside_a_chunk_exits_18() {
    let acts = vec![send(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nhello",
    )];
    fails_with(acts, 18, &[]);
}

#[test]
fn a_missing_last_chunk_exits_18() {
    let acts = vec![send(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    )];
    fails_with(acts, 18, &[]);
}

#[test]
fn conflicting_content_lengths_exit_8() {
    let acts = vec![send(
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    )];
    fails_with(acts, 8, &[]);
}

#[test]
fn content_length_with_chunked_exits_8() {
    let acts = vec![send(
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    )];
    fails_with(acts, 8, &[]);
}

#[test]
fn an_oversized_chunk_size_exits_8() {
    let acts = vec![send(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffffffff\r\nhello",
    )];
    fails_with(acts, 8, &[]);
}

#[test]
fn an_oversized_chunk_extension_exits_8() {
    let mut line = format!("5;{}", "x".repeat(10_000));
    line.push_str("\r\nhello\r\n0\r\n\r\n");
    let acts = vec![
        send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
        send(line),
    ];
    fails_with(acts, 8, &[]);
}

#[test]
fn an_oversized_trailer_section_exits_8() {
    let mut wire =
        String::from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n");
    for i in 0..1000 {
        wire.push_str(&format!("X-Trailer-{i}: {}\r\n", "z".repeat(40)));
    }
    wire.push_str("\r\n");
    fails_with(vec![send(wire)], 8, &[]);
}

#[test]
fn an_oversized_head_exits_8() {
    // 40 fields of 2 KiB: few fields, but more bytes than a head may have.
    let mut head = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..40 {
        head.push_str(&format!("X-Filler-{i}: {}\r\n", "y".repeat(2048)));
    }
    head.push_str("Content-Length: 0\r\n\r\n");
    let output = fails_with(vec![send(head)], 8, &[]);
    assert!(
        text(&output.stderr).contains("larger than"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_head_of_2000_fields_is_accepted() {
    // No cap on fields but the one on the head's bytes (curl takes 5,000).
    let mut head = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..2000 {
        head.push_str(&format!("X-Filler-{i}: y\r\n"));
    }
    head.push_str("Content-Length: 11\r\n\r\n");
    saves(
        vec![send(&head), send("hello world")],
        head.as_bytes(),
        b"hello world",
    );
}

#[test]
fn a_stalling_server_times_out_with_28() {
    let started = Instant::now();
    fails_with(
        vec![send(OK_HEAD), send("hel"), Act::Stall],
        28,
        &["--timeout", "300ms"],
    );
    // Generous for a busy machine; without the timeout the stall would
    // last until the server is dropped, and the download until `STEP`.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
}

/// `bytes` sent one by one, `every` apart: a slow server, the behaviour
/// under test.
fn trickle(bytes: &[u8], every: Duration) -> Vec<Act> {
    bytes
        .iter()
        .flat_map(|&b| [Act::Pause(every), send([b])])
        .collect()
}

#[test]
fn a_trickled_head_times_out_with_28() {
    // A byte every 50 ms is never idle for --timeout, but the head must be
    // whole within it.
    let mut head = "HTTP/1.1 200 OK\r\nX: ".to_string();
    head.push_str(&"y".repeat(100));
    head.push_str("\r\nContent-Length: 0\r\n\r\n");
    let started = Instant::now();
    let output = fails_with(
        trickle(head.as_bytes(), Duration::from_millis(50)),
        28,
        &["--timeout", "300ms"],
    );
    assert!(
        text(&output.stderr).contains("the response head did not complete within 300ms"),
        "{}",
        text(&output.stderr)
    );
    // Generous for a busy machine, and still below the 7 s the 143 bytes
    // of the head take to trickle in.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn endless_interim_responses_time_out_with_28() {
    let mut acts = Vec::new();
    for _ in 0..200 {
        acts.push(send("HTTP/1.1 102 Processing\r\n\r\n"));
        acts.push(Act::Pause(Duration::from_millis(20)));
    }
    acts.push(send(OK_HEAD));
    acts.push(send("hello world"));
    let output = fails_with(acts, 28, &["--timeout", "300ms"]);
    assert!(
        text(&output.stderr).contains("response head"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn max_time_bounds_a_trickled_body() {
    let mut acts = vec![send(OK_HEAD)];
    acts.extend(trickle(b"hello world", Duration::from_millis(500)));
    let started = Instant::now();
    let output = fails_with(acts, 28, &["--max-time", "500ms", "--timeout", "5s"]);
    assert!(
        text(&output.stderr).contains("--max-time"),
        "{}",
        text(&output.stderr)
    );
    // Generous for a busy machine, and still below the 5.5 s the body
    // takes to trickle in.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_trickled_tls_handshake_times_out_with_28() {
    // A TLS record header announcing 64 bytes of handshake, then those bytes
    // one by one: never idle, never done.
    let mut record = vec![0x16, 0x03, 0x03, 0x00, 0x40];
    record.extend([0u8; 0x40]);
    let server = Scripted::start_unprompted(trickle(&record, Duration::from_millis(50)));
    let dir = Dir::new();
    let url = format!("https://{}/x", server.addr);
    let output = dir.fetch(&[&url, "-o", "out.bin", "--timeout", "300ms"]);
    assert_eq!(code(&output), 28, "stderr: {}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("the TLS handshake did not complete within 300ms"),
        "{}",
        text(&output.stderr)
    );
    dir.assert_untouched();
}

#[test]
fn a_server_that_sends_nothing_exits_52() {
    fails_with(vec![], 52, &[]);
}

#[test]
fn a_reset_inside_the_body_exits_56() {
    fails_with(
        vec![
            send(OK_HEAD),
            send("hel"),
            Act::Pause(Duration::from_millis(50)),
            Act::Reset,
        ],
        56,
        &[],
    );
}

#[test]
fn a_reset_before_any_reply_exits_56() {
    fails_with(vec![Act::Reset], 56, &[]);
}

#[test]
fn a_redirect_to_another_scheme_exits_1() {
    let head = "HTTP/1.1 302 Found\r\nLocation: ftp://127.0.0.1/file\r\nContent-Length: 0\r\n\r\n";
    fails_with(vec![send(head)], 1, &[]);
}

#[test]
fn connection_refused_exits_7() {
    let dir = Dir::new();
    let output = dir.fetch(&[&format!("{}/x", free_addr()), "-o", "out.bin"]);
    assert_eq!(code(&output), 7, "stderr: {}", text(&output.stderr));
    dir.assert_untouched();
}

#[test]
fn malformed_targets_exit_3() {
    let dir = Dir::new();
    for target in ["http://", "localhost:99999", "[::1", "host:port/x"] {
        let output = dir.fetch(&[target, "-o", "out.bin"]);
        assert_eq!(code(&output), 3, "{target}: {}", text(&output.stderr));
    }
    dir.assert_untouched();
}

#[test]
fn an_unwritable_output_exits_23() {
    let server = serving(vec![send(OK_HEAD), send("hello world")]);
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/x"), "-o", "missing/dir/file"]);
    assert_eq!(code(&output), 23, "stderr: {}", text(&output.stderr));
    dir.assert_untouched();
}

#[test]
fn a_write_error_midway_exits_23_and_leaves_no_temporary() {
    use std::os::unix::process::CommandExt;
    let body = vec![b'x'; 300_000];
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
    let server = serving(vec![send(head), send(&body)]);
    let dir = Dir::new();
    let mut command = sockdemo();
    command
        .current_dir(dir.path())
        .args(["fetch", &server.url("/x"), "-o", "out.bin"]);
    // SAFETY: between fork and exec, only async-signal-safe calls. A file
    // size limit makes a write fail midway as a full disk would (EFBIG
    // rather than ENOSPC, once SIGXFSZ no longer kills the process).
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 100_000,
                rlim_max: 100_000,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = run_bounded(&mut command, STEP);
    assert_eq!(code(&output), 23, "stderr: {}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("writing out.bin"),
        "{}",
        text(&output.stderr)
    );
    dir.assert_untouched();
}

#[test]
fn a_closed_stdout_pipe_exits_23() {
    // `sockdemo fetch URL -o - | head -c1`: the reader goes away, as with curl the
    // body could not be delivered: exit 23, one line, no SIGPIPE death.
    let body = vec![b'x'; 1 << 20];
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
    let server = serving(vec![send(head), send(&body)]);
    let dir = Dir::new();
    let mut fetch = Process::spawn(
        sockdemo()
            .current_dir(dir.path())
            .args(["fetch", &server.url("/x"), "-o", "-", "-q"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    fetch.close_stdout();
    let stderr = read_all_of(fetch.stderr());
    let status = fetch.wait(STEP);
    let message = text(&stderr.join().expect("stderr reader"));
    assert_eq!(status.code(), Some(23), "{message}");
    assert!(message.contains("Broken pipe"), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
    dir.assert_untouched();
}

#[test]
fn a_directory_that_cannot_be_read_still_gets_its_file() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    // A user other than root may create and rename files in a directory with
    // mode 0333, but not open it to fsync it. Root may do anything, so as
    // root the download runs as nobody.
    // A new file: a file the user may not write is not replaced.
    let server = serving(vec![send(OK_HEAD), send("hello world")]);
    let dir = Dir::empty();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o333)).expect("chmod");
    let mut command = sockdemo();
    command
        .current_dir(dir.path())
        .args(["fetch", &server.url("/x"), "-o", "out.bin"]);
    // SAFETY: geteuid has no preconditions.
    #[allow(unsafe_code)]
    let euid = unsafe { libc::geteuid() };
    if euid == 0 {
        command.uid(65534).gid(65534);
    }
    let output = run_bounded(&mut command, STEP);
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).expect("chmod");
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    assert_eq!(dir.read("out.bin"), b"hello world");
    assert_eq!(dir.entries(), ["out.bin"]);
}

#[test]
fn a_non_regular_output_is_written_in_place() {
    let server = serving(vec![send(OK_HEAD), send("hello world")]);
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/x"), "-o", "/dev/null"]);
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    use std::os::unix::fs::FileTypeExt;
    assert!(
        fs::metadata("/dev/null")
            .expect("/dev/null")
            .file_type()
            .is_char_device()
    );
    dir.assert_untouched();
}

#[test]
fn interrupting_a_download_leaves_the_old_file_and_no_temporary() {
    use std::os::unix::process::ExitStatusExt;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let server = serving(vec![
            send("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n"),
            send([b'x'; 1000]),
            Act::Stall,
        ]);
        let dir = Dir::new();
        let mut fetch = Process::spawn(
            sockdemo()
                .current_dir(dir.path())
                .args(["fetch", &server.url("/x"), "-o", "out.bin", "-q"])
                .stdout(Stdio::null()),
        );
        // Unnamed: it shows only among the process's open files.
        wait_for("the temporary file of a download under way", STEP, || {
            dir.open_by(fetch.id()).then_some(())
        });
        fetch.signal(signal);
        let status = fetch.wait(STEP);
        assert_eq!(status.signal(), Some(signal), "{status:?}");
        dir.assert_untouched();
    }
}

/// A pseudo-terminal: `(controller, terminal)`; what is written to the
/// terminal side is read from the controller side.
#[allow(unsafe_code)]
pub(crate) fn pseudo_terminal() -> (fs::File, fs::File) {
    use std::os::fd::FromRawFd;
    let (mut controller, mut terminal) = (0, 0);
    // SAFETY: openpty writes two new file descriptors, which are then owned
    // by the returned files and nothing else.
    unsafe {
        let made = libc::openpty(
            &mut controller,
            &mut terminal,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        );
        assert_eq!(made, 0, "openpty: {}", std::io::Error::last_os_error());
        (
            fs::File::from_raw_fd(controller),
            fs::File::from_raw_fd(terminal),
        )
    }
}

/// What the progress bar shows once the first 1000 bytes have come.
const FIRST_BAR: &str = "1000 B / 1.00 MiB";

/// Runs a download with stderr on a terminal; returns what the terminal
/// showed. With `wait_for_bar`, the server stops after the first 1000
/// bytes of the body until the terminal shows [`FIRST_BAR`].
fn fetch_on_a_terminal(args: &[&str], wait_for_bar: bool) -> String {
    use std::io::Read;
    let body = vec![b'x'; 1 << 20];
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
    let bar_shown = Cue::default();
    let mut acts = vec![send(head), send(&body[..1000])];
    if wait_for_bar {
        acts.push(Act::Await(bar_shown.clone()));
    }
    acts.push(send(&body[1000..]));
    let server = serving(acts);
    let dir = Dir::new();
    let (mut controller, terminal) = pseudo_terminal();
    let mut fetch = Process::spawn(
        sockdemo()
            .current_dir(dir.path())
            .args(["fetch", &server.url("/x"), "-o", "out.bin"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(terminal),
    );
    // Read as it comes, so the child never blocks on a full terminal. Once the
    // child is gone (it holds the only terminal side), reading fails (EIO).
    let reader = std::thread::spawn(move || {
        let mut shown = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = controller.read(&mut buf) {
            shown.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&shown).contains(FIRST_BAR) {
                bar_shown.give();
            }
        }
        shown
    });
    let status = fetch.wait(STEP);
    assert!(status.success(), "{status:?}");
    assert_eq!(dir.read("out.bin"), body);
    let shown = reader.join().expect("terminal reader");
    String::from_utf8_lossy(&shown).into_owned()
}

#[test]
fn a_progress_bar_shows_on_a_terminal_but_not_with_quiet() {
    let shown = fetch_on_a_terminal(&[], true);
    assert!(shown.contains(FIRST_BAR), "no progress bar: {shown:?}");
    assert!(
        shown.contains("saved 1,048,576 bytes to out.bin"),
        "{shown:?}"
    );
    let shown = fetch_on_a_terminal(&["-q"], false);
    assert_eq!(shown, "", "-q shows nothing");
}
