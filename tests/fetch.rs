//! `sockdemo fetch` end to end: the real binary against a scripted in-test
//! HTTP server, on loopback. Every failure case checks its exit code and
//! that a file already at the output path is left untouched, with no
//! temporary file beside it.

mod common;
mod scripted;

use std::fs;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::{STEP, run_bounded, sockdemo};
use scripted::{Act, Scripted, send};

/// What the output file holds before each download.
const PRECIOUS: &[u8] = b"precious data that must survive a failed download\n";

/// A working directory with `out.bin` already in it.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        let dir = tempfile::tempdir().expect("temporary directory");
        fs::write(dir.path().join("out.bin"), PRECIOUS).expect("write out.bin");
        Dir(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    /// Runs `sockdemo fetch ARGS` in this directory.
    fn fetch(&self, args: &[&str]) -> Output {
        run_bounded(
            sockdemo().current_dir(self.path()).arg("fetch").args(args),
            STEP,
        )
    }

    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.path())
            .expect("read_dir")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    fn read(&self, name: &str) -> Vec<u8> {
        fs::read(self.path().join(name)).unwrap_or_else(|err| panic!("{name}: {err}"))
    }

    /// `out.bin` holds what it held before, and nothing else is there.
    fn assert_untouched(&self) {
        assert_eq!(self.read("out.bin"), PRECIOUS, "out.bin was modified");
        assert_eq!(self.entries(), ["out.bin"], "a file was left behind");
    }
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited normally")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Serves one scripted response to every request.
fn serving(acts: Vec<Act>) -> Scripted {
    Scripted::start(move |_| acts.clone())
}

/// Plays `acts` to a download into an existing `out.bin` and expects `code`,
/// with the file untouched.
fn fails_with(acts: Vec<Act>, expected: i32, args: &[&str]) -> Output {
    let server = serving(acts);
    let dir = Dir::new();
    let url = server.url("/file");
    let mut all = vec![url.as_str(), "-o", "out.bin"];
    all.extend_from_slice(args);
    let output = dir.fetch(&all);
    assert_eq!(code(&output), expected, "stderr: {}", stderr(&output));
    let message = stderr(&output);
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
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    assert_eq!(output.stdout, head, "printed head");
    assert_eq!(dir.read("out.bin"), body, "saved body");
    assert_eq!(dir.entries(), ["out.bin"]);
    // Stderr is no terminal here: no progress bar, only the line saying what was saved.
    let logged = stderr(&output);
    let lines: Vec<&str> = logged.lines().collect();
    assert_eq!(lines.len(), 1, "{logged}");
    assert!(
        lines[0].ends_with(&format!(" saved {} bytes to out.bin", body.len())),
        "{logged}"
    );
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
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    let expected = format!(
        "GET /a%20b/c?x=1&y HTTP/1.1\r\nHost: {}\r\nUser-Agent: sockdemo/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        server.addr,
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(server.requests(), [expected.into_bytes()]);
}

#[test]
fn ipv6_literals_are_bracketed() {
    let Ok(probe) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback here: nothing to test");
        return;
    };
    drop(probe);
    let server = Scripted::start_on("[::1]:0", None, |_| {
        vec![send(OK_HEAD), send("hello world")]
    });
    let dir = Dir::new();
    let port = server.addr.port();
    let output = dir.fetch(&[&format!("[::1]:{port}/x"), "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
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
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    assert_eq!(dir.read("name one.txt"), b"hello world");
    assert!(
        stderr(&output).contains("saved 11 bytes to name one.txt"),
        "{}",
        stderr(&output)
    );
    let output = dir.fetch(&[&server.url("/")]);
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    assert_eq!(dir.read("index.html"), b"hello world");
    let output = dir.fetch(&[&server.url("/..%2F..%2Fescape")]);
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
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
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    assert_eq!(output.stdout, body);
    assert!(
        output.stderr.starts_with(head.as_bytes()),
        "{}",
        stderr(&output)
    );
    dir.assert_untouched();
    let output = dir.fetch(&[&server.url("/x"), "-o", "-", "-q"]);
    assert_eq!(code(&output), 0);
    assert_eq!(output.stdout, body);
    assert_eq!(stderr(&output), "", "-q prints nothing on stderr");
}

#[test]
fn quiet_prints_nothing_on_stderr() {
    let server = serving(vec![send(OK_HEAD), send("hello world")]);
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/x"), "-o", "out.bin", "-q"]);
    assert_eq!(code(&output), 0);
    assert_eq!(stderr(&output), "");
    assert_eq!(output.stdout, OK_HEAD.as_bytes());
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

#[test]
fn status_204_with_stray_bytes_is_an_empty_success() {
    let head = "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n";
    saves(vec![send(head), send("stray")], head.as_bytes(), b"");
}

#[test]
fn status_304_with_stray_bytes_is_an_empty_success() {
    let head = "HTTP/1.1 304 Not Modified\r\n\r\n";
    saves(vec![send(head), send("stray bytes")], head.as_bytes(), b"");
}

#[test]
fn bare_lf_line_endings_are_accepted() {
    let head = "HTTP/1.1 200 OK\nContent-Length: 5\n\n";
    saves(vec![send(head), send("hello")], head.as_bytes(), b"hello");
}

#[test]
fn a_404_is_saved_without_fail_and_exits_22_with_it() {
    let head = "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n";
    saves(
        vec![send(head), send("not found")],
        head.as_bytes(),
        b"not found",
    );
    let output = fails_with(vec![send(head), send("not found")], 22, &["--fail"]);
    assert_eq!(output.stdout, head.as_bytes());
    assert!(stderr(&output).contains("404"), "{}", stderr(&output));
}

#[test]
fn fail_keeps_no_new_file() {
    let server = serving(vec![send(
        "HTTP/1.1 500 Oops\r\nContent-Length: 4\r\n\r\noops",
    )]);
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/new.txt"), "--fail"]);
    assert_eq!(code(&output), 22, "stderr: {}", stderr(&output));
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
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
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
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
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
    assert_eq!(code(&output), 47, "stderr: {}", stderr(&output));
    assert!(stderr(&output).contains("loop"), "{}", stderr(&output));
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
    assert_eq!(code(&output), 47, "stderr: {}", stderr(&output));
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
        stderr(&output).contains("larger than"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_head_with_too_many_fields_exits_8() {
    let mut head = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..2000 {
        head.push_str(&format!("X-Filler-{i}: y\r\n"));
    }
    head.push_str("Content-Length: 0\r\n\r\n");
    fails_with(vec![send(head)], 8, &[]);
}

#[test]
fn a_stalling_server_times_out_with_28() {
    let started = std::time::Instant::now();
    fails_with(
        vec![send(OK_HEAD), send("hel"), Act::Stall],
        28,
        &["--timeout", "300ms"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

/// `bytes` sent one by one, `every` apart.
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
    let started = std::time::Instant::now();
    let output = fails_with(
        trickle(head.as_bytes(), Duration::from_millis(50)),
        28,
        &["--timeout", "300ms"],
    );
    assert!(
        stderr(&output).contains("the response head did not complete within 300ms"),
        "{}",
        stderr(&output)
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
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
        stderr(&output).contains("response head"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn max_time_bounds_a_trickled_body() {
    let mut acts = vec![send(OK_HEAD)];
    acts.extend(trickle(b"hello world", Duration::from_millis(200)));
    let started = std::time::Instant::now();
    let output = fails_with(acts, 28, &["--max-time", "500ms", "--timeout", "5s"]);
    assert!(
        stderr(&output).contains("--max-time"),
        "{}",
        stderr(&output)
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_trickled_tls_handshake_times_out_with_28() {
    // A TLS record header announcing 64 bytes of handshake, then those bytes
    // one by one: never idle, never done.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut stream, _) = listener.accept().expect("accept");
        let mut hello = [0u8; 512];
        let _ = stream.read(&mut hello);
        let mut record = vec![0x16, 0x03, 0x03, 0x00, 0x40];
        record.extend([0u8; 0x40]);
        for byte in record {
            if stream.write_all(&[byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let dir = Dir::new();
    let url = format!("https://127.0.0.1:{port}/x");
    let output = dir.fetch(&[&url, "-o", "out.bin", "--timeout", "300ms"]);
    assert_eq!(code(&output), 28, "stderr: {}", stderr(&output));
    assert!(
        stderr(&output).contains("the TLS handshake did not complete within 300ms"),
        "{}",
        stderr(&output)
    );
    dir.assert_untouched();
    server.join().expect("server thread");
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
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let dir = Dir::new();
    let output = dir.fetch(&[&format!("127.0.0.1:{port}/x"), "-o", "out.bin"]);
    assert_eq!(code(&output), 7, "stderr: {}", stderr(&output));
    dir.assert_untouched();
}

#[test]
fn malformed_targets_exit_3() {
    let dir = Dir::new();
    for target in ["http://", "localhost:99999", "[::1", "host:port/x"] {
        let output = dir.fetch(&[target, "-o", "out.bin"]);
        assert_eq!(code(&output), 3, "{target}: {}", stderr(&output));
    }
    dir.assert_untouched();
}

#[test]
fn an_unwritable_output_exits_23() {
    let server = serving(vec![send(OK_HEAD), send("hello world")]);
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/x"), "-o", "missing/dir/file"]);
    assert_eq!(code(&output), 23, "stderr: {}", stderr(&output));
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
    assert_eq!(code(&output), 23, "stderr: {}", stderr(&output));
    assert!(
        stderr(&output).contains("writing out.bin"),
        "{}",
        stderr(&output)
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
    let mut child = sockdemo()
        .current_dir(dir.path())
        .args(["fetch", &server.url("/x"), "-o", "-", "-q"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let status = common::wait_child(&mut child, STEP).expect("fetch finished");
    let mut message = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut message)
        .expect("read stderr");
    assert_eq!(status.code(), Some(23), "{message}");
    assert!(message.contains("Broken pipe"), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
    dir.assert_untouched();
}

#[test]
fn a_directory_that_cannot_be_read_still_gets_its_file() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    // Root may do anything; an unprivileged user may create and rename files
    // in a directory with mode 0333, but not open it to fsync it.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: cannot run the download as another user");
        return;
    }
    let server = serving(vec![send(OK_HEAD), send("hello world")]);
    let dir = Dir::new();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o333)).expect("chmod");
    let output = run_bounded(
        sockdemo()
            .current_dir(dir.path())
            .args(["fetch", &server.url("/x"), "-o", "out.bin"])
            .uid(65534)
            .gid(65534),
        STEP,
    );
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).expect("chmod");
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    assert_eq!(dir.read("out.bin"), b"hello world");
    assert_eq!(dir.entries(), ["out.bin"]);
}

#[test]
fn a_non_regular_output_is_written_in_place() {
    let server = serving(vec![send(OK_HEAD), send("hello world")]);
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/x"), "-o", "/dev/null"]);
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
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
        let mut child = sockdemo()
            .current_dir(dir.path())
            .args(["fetch", &server.url("/x"), "-o", "out.bin", "-q"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        // Wait for the temporary file: the download is under way.
        let deadline = std::time::Instant::now() + STEP;
        while dir.entries().len() < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "no temporary file appeared"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // SAFETY: kill only sends a signal to the child we started.
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
        let status = common::wait_child(&mut child, STEP).expect("exits on the signal");
        assert_eq!(status.signal(), Some(signal), "{status:?}");
        dir.assert_untouched();
    }
}

/// A pseudo-terminal: `(controller, terminal)`; what is written to the
/// terminal side is read from the controller side.
fn pseudo_terminal() -> (fs::File, fs::File) {
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

/// Runs a download with stderr on a terminal, the server pausing after the
/// first 1000 bytes of the body; returns what the terminal showed.
fn fetch_on_a_terminal(args: &[&str], pause: Duration) -> String {
    use std::io::Read;
    let body = vec![b'x'; 1 << 20];
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
    let server = serving(vec![
        send(head),
        send(&body[..1000]),
        Act::Pause(pause),
        send(&body[1000..]),
    ]);
    let dir = Dir::new();
    let (mut controller, terminal) = pseudo_terminal();
    let mut child = sockdemo()
        .current_dir(dir.path())
        .args(["fetch", &server.url("/x"), "-o", "out.bin"])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(terminal)
        .spawn()
        .expect("spawn");
    // Read as it comes, so the child never blocks on a full terminal. Once the
    // child is gone (it holds the only terminal side), reading fails (EIO).
    let reader = std::thread::spawn(move || {
        let mut shown = Vec::new();
        let _ = controller.read_to_end(&mut shown);
        shown
    });
    let status = common::wait_child(&mut child, STEP).expect("fetch finished");
    assert!(status.success(), "{status:?}");
    assert_eq!(dir.read("out.bin"), body);
    let shown = reader.join().expect("terminal reader");
    String::from_utf8_lossy(&shown).into_owned()
}

#[test]
fn a_progress_bar_shows_on_a_terminal_but_not_with_quiet() {
    // The pause leaves the bar time to be drawn.
    let shown = fetch_on_a_terminal(&[], Duration::from_millis(400));
    assert!(
        shown.contains("1000 B / 1.00 MiB"),
        "no progress bar: {shown:?}"
    );
    assert!(
        shown.contains("saved 1048576 bytes to out.bin"),
        "{shown:?}"
    );
    let shown = fetch_on_a_terminal(&["-q"], Duration::ZERO);
    assert_eq!(shown, "", "-q shows nothing");
}
