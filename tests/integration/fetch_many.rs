//! `sockdemo fetch` with several URLs: kept-alive connections counted at
//! the server, connections that must not be reused, the parallel caps
//! counted at the server, names refused before any request, failures among
//! many, `--fail-early`, `--checksum-file`, lists, and Ctrl-C.
//!
//! The server here speaks HTTP/1.1 with persistent connections: it reads
//! request after request on a connection, answers each as the test's
//! handler says, and counts connections, the most open at once, and the
//! requests of each connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::support::acceptor::Acceptor;
use crate::support::dir::{Dir, files_open_in, meta_name, part_name};
use crate::support::{Process, STEP, code, run_bounded_with_input, sockdemo, text, wait_for};

/// What the server does after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// Keeps the connection for the next request.
    Keep,
    /// Closes it (whether or not the response said so).
    Close,
    /// Holds it open, reading nothing more, until the server stops
    /// (whatever the request said): a body sent in part stays unfinished.
    Hold,
}

/// A response: its bytes, and what the server does after it.
struct Reply {
    bytes: Vec<u8>,
    after: After,
    /// Wait this long before answering (to hold connections open at once).
    delay: Duration,
}

/// A kept-alive `200 OK` with `body`.
fn ok(body: &[u8]) -> Reply {
    let mut bytes =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    bytes.extend_from_slice(body);
    Reply {
        bytes,
        after: After::Keep,
        delay: Duration::ZERO,
    }
}

/// The body served for `path`: the path itself, so each file is told apart.
fn body_of(path: &str) -> Vec<u8> {
    format!("body of {path}\n").into_bytes()
}

#[derive(Default)]
struct Counts {
    /// The request line of each request, with its connection's number and
    /// whether it asked `Connection: close`.
    requests: Vec<(usize, String, bool)>,
    connections: usize,
    open: usize,
    most_open: usize,
}

/// A persistent-connection HTTP server on 127.0.0.1, stopped when dropped.
struct KeepAlive {
    addr: SocketAddr,
    counts: Arc<Mutex<Counts>>,
    _acceptor: Acceptor,
}

impl KeepAlive {
    fn start(handler: impl Fn(&str) -> Reply + Send + Sync + 'static) -> KeepAlive {
        KeepAlive::start_with(None, handler)
    }

    /// The server over TLS with this configuration when `tls` is given.
    fn start_with(
        tls: Option<Arc<rustls::ServerConfig>>,
        handler: impl Fn(&str) -> Reply + Send + Sync + 'static,
    ) -> KeepAlive {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let counts = Arc::new(Mutex::new(Counts::default()));
        let acceptor = {
            let counts = Arc::clone(&counts);
            Acceptor::start(listener, move |stream, stop| {
                let number = {
                    let mut counts = counts.lock().expect("counts");
                    counts.connections += 1;
                    counts.open += 1;
                    counts.most_open = counts.most_open.max(counts.open);
                    counts.connections
                };
                let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
                match &tls {
                    None => serve(stream, stop, number, &counts, &handler),
                    Some(config) => {
                        let connection = rustls::ServerConnection::new(Arc::clone(config))
                            .expect("a TLS connection");
                        let stream = rustls::StreamOwned::new(connection, stream);
                        serve(stream, stop, number, &counts, &handler);
                    }
                }
                counts.lock().expect("counts").open -= 1;
            })
        };
        KeepAlive {
            addr,
            counts,
            _acceptor: acceptor,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn https_url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().expect("counts")
    }

    /// The connection number of each request, in order received.
    fn connection_of_each(&self) -> Vec<usize> {
        self.counts().requests.iter().map(|(c, ..)| *c).collect()
    }
}

/// Serves requests on one connection until it closes or a reply closes it.
fn serve(
    stream: impl Read + Write,
    stop: &AtomicBool,
    number: usize,
    counts: &Mutex<Counts>,
    handler: &(impl Fn(&str) -> Reply + Send + Sync),
) {
    let mut reader = BufReader::new(stream);
    let mut lifetime = 0;
    loop {
        let mut head = String::new();
        // Read one request head, line by line.
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) => return,
                Ok(_) => {
                    head.push_str(&line);
                    if line == "\r\n" {
                        break;
                    }
                }
                Err(_) if !stop.load(Ordering::SeqCst) && lifetime < 200 => {
                    lifetime += 1;
                    continue;
                }
                Err(_) => return,
            }
        }
        let request_line = head.lines().next().unwrap_or_default().to_owned();
        let close = head
            .to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n");
        counts
            .lock()
            .expect("counts")
            .requests
            .push((number, request_line.clone(), close));
        let path = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
        let reply = handler(&path);
        thread::sleep(reply.delay);
        let writer = reader.get_mut();
        let sent = writer.write_all(&reply.bytes).and_then(|()| writer.flush());
        if sent.is_ok() && reply.after == After::Hold {
            while !stop.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(10));
            }
            return;
        }
        if sent.is_err() || reply.after == After::Close || close {
            return;
        }
    }
}

fn urls(server: &KeepAlive, paths: &[&str]) -> Vec<String> {
    paths.iter().map(|path| server.url(path)).collect()
}

fn fetch(dir: &Dir, urls: &[String], flags: &[&str]) -> std::process::Output {
    let mut args: Vec<&str> = urls.iter().map(String::as_str).collect();
    args.extend_from_slice(flags);
    dir.fetch(&args)
}

#[test]
fn sequential_urls_share_one_kept_alive_connection() {
    let server = KeepAlive::start(|path| ok(&body_of(path)));
    let dir = Dir::empty();
    let paths = ["/a", "/b", "/c", "/d", "/e"];
    let output = fetch(&dir, &urls(&server, &paths), &[]);
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    assert_eq!(
        server.connection_of_each(),
        [1, 1, 1, 1, 1],
        "one connection"
    );
    let closes: Vec<bool> = server.counts().requests.iter().map(|r| r.2).collect();
    assert_eq!(
        closes,
        [false, false, false, false, true],
        "only the last request, with nothing waiting, says Connection: close"
    );
    for path in paths {
        assert_eq!(dir.read(&path[1..]), body_of(path));
    }
    let stderr = text(&output.stderr);
    assert!(stderr.contains("saved 11 bytes to a\n"), "{stderr}");
    assert!(
        stderr.contains("fetched 5 of 5 files, 55 bytes in "),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "no heads without -i");
}

#[test]
fn a_redirect_to_the_same_origin_takes_the_kept_connection() {
    let server = KeepAlive::start(|path| {
        match path {
        "/old" => Reply {
            bytes: b"HTTP/1.1 301 Moved Permanently\r\nLocation: /new\r\nContent-Length: 5\r\n\r\nmoved"
                .to_vec(),
            after: After::Keep,
            delay: Duration::ZERO,
        },
        path => ok(&body_of(path)),
    }
    });
    let dir = Dir::empty();
    let output = fetch(&dir, &urls(&server, &["/old", "/b"]), &[]);
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    let requests: Vec<String> = server
        .counts()
        .requests
        .iter()
        .map(|r| r.1.clone())
        .collect();
    assert_eq!(
        requests,
        ["GET /old HTTP/1.1", "GET /new HTTP/1.1", "GET /b HTTP/1.1"]
    );
    assert_eq!(server.connection_of_each(), [1, 1, 1], "one connection");
    assert_eq!(dir.read("old"), body_of("/new"));
}

#[test]
fn a_single_url_still_says_connection_close() {
    let server = KeepAlive::start(|path| ok(&body_of(path)));
    let dir = Dir::empty();
    let output = fetch(&dir, &urls(&server, &["/only"]), &[]);
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    let requests = &server.counts().requests;
    assert_eq!(requests.len(), 1);
    assert!(requests[0].2, "Connection: close");
}

#[test]
fn a_server_closing_after_each_response_unannounced_still_gives_every_file() {
    let server = KeepAlive::start(|path| Reply {
        after: After::Close,
        ..ok(&body_of(path))
    });
    let dir = Dir::empty();
    let paths = ["/a", "/b", "/c", "/d"];
    // --retry 0: resending on a new connection is not a retry.
    let output = fetch(&dir, &urls(&server, &paths), &["--retry", "0"]);
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    for path in paths {
        assert_eq!(dir.read(&path[1..]), body_of(path));
    }
    assert_eq!(server.connection_of_each(), [1, 2, 3, 4]);
    assert!(!text(&output.stderr).contains("retrying"));
}

#[test]
fn a_response_saying_connection_close_ends_the_connection() {
    let server = KeepAlive::start(|path| {
        let body = body_of(path);
        let mut bytes = format!(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(&body);
        Reply {
            bytes,
            // The server would take another request: the client must not send one.
            after: After::Keep,
            delay: Duration::ZERO,
        }
    });
    let dir = Dir::empty();
    let output = fetch(&dir, &urls(&server, &["/a", "/b", "/c"]), &[]);
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    assert_eq!(server.connection_of_each(), [1, 2, 3]);
}

#[test]
fn a_connection_left_unusable_is_never_reused() {
    // /old: HTTP/1.0; /close: framed until close; /missing: a 404 whose
    // body is not read (nothing saved); each kept open by the server.
    let server = KeepAlive::start(|path| match path {
        "/old" => Reply {
            bytes: b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold".to_vec(),
            ..ok(b"")
        },
        "/until-close" => Reply {
            bytes: b"HTTP/1.1 200 OK\r\n\r\nto the end".to_vec(),
            after: After::Close,
            delay: Duration::ZERO,
        },
        "/missing" => Reply {
            bytes: b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found".to_vec(),
            ..ok(b"")
        },
        _ => ok(&body_of(path)),
    });
    let dir = Dir::empty();
    let paths = ["/old", "/a", "/until-close", "/b", "/missing", "/c"];
    let output = fetch(&dir, &urls(&server, &paths), &["--retry", "0"]);
    assert_eq!(code(&output), 22, "stderr: {}", text(&output.stderr));
    // /a reuses nothing after HTTP/1.0, /b nothing after a body read to
    // the close, /c nothing after an unread body; /a's connection is kept
    // for /until-close.
    assert_eq!(server.connection_of_each(), [1, 2, 2, 3, 3, 4]);
    assert_eq!(dir.read("until-close"), b"to the end");
    assert!(!dir.exists("missing"));
}

#[test]
fn parallel_transfers_keep_to_the_caps() {
    let paths: Vec<String> = (0..12).map(|n| format!("/f{n}")).collect();
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    for (flags, cap) in [
        (&["-Z", "--parallel-max-host", "3"][..], 3),
        (
            &["-Z", "--parallel-max", "2", "--parallel-max-host", "10"][..],
            2,
        ),
    ] {
        let server = KeepAlive::start(|path| Reply {
            delay: Duration::from_millis(150),
            ..ok(&body_of(path))
        });
        let dir = Dir::empty();
        let output = fetch(&dir, &urls(&server, &paths), flags);
        assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
        let counts = server.counts();
        assert_eq!(
            counts.most_open, cap,
            "{flags:?}: at most {cap} at once, and that many"
        );
        assert_eq!(
            counts.connections, cap,
            "{flags:?}: each slot keeps its connection"
        );
        assert_eq!(counts.requests.len(), 12);
        assert_eq!(dir.entries().len(), 12);
    }
}

#[test]
fn two_urls_with_one_name_are_refused_before_any_request() {
    let server = KeepAlive::start(|path| ok(&body_of(path)));
    let dir = Dir::empty();
    let list = format!(
        "# two of one name\n{}\n\n{}\n",
        server.url("/x/f"),
        server.url("/y/f")
    );
    dir.write("list.txt", list);
    let output = fetch(&dir, &urls(&server, &["/a"]), &["--input-file", "list.txt"]);
    assert_eq!(code(&output), 2, "stderr: {}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("/x/f (line 2 of the list) and ")
            && stderr.contains("/y/f (line 4 of the list) would both be saved as f"),
        "{stderr}"
    );
    assert_eq!(server.counts().connections, 0, "no request made");
    assert_eq!(dir.entries(), ["list.txt"]);
}

#[test]
fn a_name_given_by_one_response_is_never_replaced_by_another_url_of_the_run() {
    let dir = Dir::empty();
    let saved = dir.path().join("x.bin");
    // /b names x.bin by Content-Disposition and is saved first; /x.bin,
    // in flight meanwhile, would be saved under the same name from its URL.
    let server = KeepAlive::start(move |path| match path {
        "/b" => {
            let body = b"from b\n";
            let mut bytes = format!(
                "HTTP/1.1 200 OK\r\nContent-Disposition: attachment; filename=\"x.bin\"\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            bytes.extend_from_slice(body);
            Reply {
                bytes,
                after: After::Keep,
                delay: Duration::ZERO,
            }
        }
        _ => {
            wait_for("/b to be saved as x.bin", STEP, || {
                saved.exists().then_some(())
            });
            ok(&body_of(path))
        }
    });
    let output = fetch(&dir, &urls(&server, &["/x.bin", "/b"]), &["-Z", "-J"]);
    let stderr = text(&output.stderr);
    assert_eq!(code(&output), 23, "stderr: {stderr}");
    assert!(
        stderr.contains("x.bin") && stderr.contains("saved from another URL of this run"),
        "{stderr}"
    );
    assert_eq!(
        dir.read("x.bin"),
        b"from b\n",
        "the file saved first is kept"
    );
    assert_eq!(dir.entries(), ["x.bin"], "no temporary file left");
}

#[test]
fn the_same_url_twice_is_fetched_once_with_a_warning() {
    let server = KeepAlive::start(|path| ok(&body_of(path)));
    let dir = Dir::empty();
    let output = fetch(&dir, &urls(&server, &["/a", "/b", "/a"]), &[]);
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    assert_eq!(server.counts().requests.len(), 2);
    assert!(
        text(&output.stderr).contains("(argument 3) is also argument 1: fetched once"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_list_line_that_is_no_url_is_a_usage_error_naming_it() {
    let dir = Dir::empty();
    dir.write("list.txt", "http://127.0.0.1:9/a\n\nnot a url\n");
    let output = dir.fetch(&["--input-file", "list.txt"]);
    assert_eq!(code(&output), 2, "stderr: {}", text(&output.stderr));
    assert!(text(&output.stderr).contains("line 3 of the list"));
    let missing = dir.fetch(&["--input-file", "nonexistent.txt"]);
    assert_eq!(code(&missing), 26, "stderr: {}", text(&missing.stderr));
}

#[test]
fn a_list_on_standard_input_goes_into_the_output_dir() {
    let server = KeepAlive::start(|path| ok(&body_of(path)));
    let dir = Dir::empty();
    let list = format!("{}\n{}\n", server.url("/a"), server.url("/b"));
    let output = run_bounded_with_input(
        sockdemo().current_dir(dir.path()).args([
            "fetch",
            "--input-file",
            "-",
            "--output-dir",
            "new/dir",
        ]),
        list.as_bytes(),
        STEP,
    );
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    assert_eq!(dir.read("new/dir/a"), body_of("/a"));
    assert_eq!(dir.read("new/dir/b"), body_of("/b"));
}

#[test]
fn one_failing_url_among_many_fails_alone_and_gives_its_code() {
    let server = KeepAlive::start(|path| match path {
        "/c" => Reply {
            bytes: b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
            ..ok(b"")
        },
        _ => ok(&body_of(path)),
    });
    let dir = Dir::empty();
    for flags in [&[][..], &["-Z"][..]] {
        let output = fetch(&dir, &urls(&server, &["/a", "/b", "/c", "/d", "/e"]), flags);
        assert_eq!(code(&output), 22, "stderr: {}", text(&output.stderr));
        let stderr = text(&output.stderr);
        assert!(stderr.contains("fetched 4 of 5 files"), "{stderr}");
        assert!(
            stderr.contains(&format!("failed: {}: ", server.url("/c"))),
            "{stderr}"
        );
        assert_eq!(dir.entries(), ["a", "b", "d", "e"]);
    }
}

#[test]
fn fail_early_starts_nothing_after_a_failure() {
    let server = KeepAlive::start(|path| match path {
        "/b" => Reply {
            bytes: b"HTTP/1.1 500 Broken\r\nContent-Length: 0\r\n\r\n".to_vec(),
            ..ok(b"")
        },
        _ => ok(&body_of(path)),
    });
    let dir = Dir::empty();
    let output = fetch(
        &dir,
        &urls(&server, &["/a", "/b", "/c", "/d"]),
        &["--fail-early", "--retry", "0"],
    );
    assert_eq!(code(&output), 22, "stderr: {}", text(&output.stderr));
    let requested: Vec<String> = server
        .counts()
        .requests
        .iter()
        .map(|r| r.1.clone())
        .collect();
    assert_eq!(requested, ["GET /a HTTP/1.1", "GET /b HTTP/1.1"]);
    assert!(text(&output.stderr).contains("fetched 1 of 4 files, 11 bytes in "));
    assert!(text(&output.stderr).contains("; 1 failed; 2 not tried"));
}

#[test]
fn an_unreachable_host_is_not_tried_again() {
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let server = KeepAlive::start(|path| ok(&body_of(path)));
    let dead = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let dir = Dir::empty();
    let output = fetch(
        &dir,
        &[dead("/x"), server.url("/a"), dead("/y"), dead("/z")],
        &["--retry", "0"],
    );
    assert_eq!(code(&output), 7, "stderr: {}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("fetched 1 of 4 files"), "{stderr}");
    assert!(
        stderr.contains(&format!("2 more URL(s) of 127.0.0.1:{port}: not tried")),
        "{stderr}"
    );
    assert_eq!(dir.entries(), ["a"]);
}

#[test]
fn skip_existing_leaves_a_file_alone_and_counts_it() {
    let server = KeepAlive::start(|path| ok(&body_of(path)));
    let dir = Dir::empty();
    dir.write("a", "mine");
    let output = fetch(&dir, &urls(&server, &["/a", "/b"]), &["--skip-existing"]);
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    assert_eq!(dir.read("a"), b"mine");
    assert_eq!(dir.read("b"), body_of("/b"));
    assert!(text(&output.stderr).contains("fetched 1 of 2 files, 11 bytes in "));
    assert!(text(&output.stderr).contains("; 1 skipped"));
    assert_eq!(server.counts().requests.len(), 1);
}

#[test]
fn heads_are_printed_only_with_i_each_after_its_url() {
    let server = KeepAlive::start(|path| ok(&body_of(path)));
    let dir = Dir::empty();
    let output = fetch(&dir, &urls(&server, &["/a", "/b"]), &["-i", "-Z"]);
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    let stdout = text(&output.stdout);
    for path in ["/a", "/b"] {
        let block = format!(
            "==> {} <==\nHTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n",
            server.url(path)
        );
        assert!(stdout.contains(&block), "{stdout:?}");
    }
    assert_eq!(stdout.matches("==> ").count(), 2);
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_checksum_file_lets_a_matching_file_in_and_keeps_a_wrong_one_out() {
    let server = KeepAlive::start(|path| ok(&body_of(path)));
    let dir = Dir::empty();
    let sums = format!(
        "{}  a\n{} *b\n{}  not-fetched\n",
        sha256_hex(&body_of("/a")),
        sha256_hex(b"something else"),
        sha256_hex(b"x")
    );
    dir.write("SHA256SUMS", &sums);
    let output = fetch(
        &dir,
        &urls(&server, &["/a", "/b", "/c"]),
        &["--checksum-file", "SHA256SUMS"],
    );
    assert_eq!(code(&output), 32, "stderr: {}", text(&output.stderr));
    assert_eq!(dir.entries(), ["SHA256SUMS", "a", "c"], "b is not saved");
    // One URL, and the file fetched from a URL.
    let remote = KeepAlive::start(move |path| match path {
        "/SHA256SUMS" => ok(sums.as_bytes()),
        _ => ok(&body_of(path)),
    });
    let one = Dir::empty();
    let output = one.fetch(&[
        &remote.url("/a"),
        "--checksum-file",
        &remote.url("/SHA256SUMS"),
    ]);
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    assert_eq!(one.read("a"), body_of("/a"));
    let wrong = one.fetch(&[
        &remote.url("/b"),
        "--checksum-file",
        &remote.url("/SHA256SUMS"),
    ]);
    assert_eq!(code(&wrong), 32, "stderr: {}", text(&wrong.stderr));
    assert_eq!(one.entries(), ["a"]);
}

#[test]
fn ctrl_c_during_a_parallel_run_leaves_no_temporary_file() {
    let dir = interrupted(&["-Z"]);
    assert_eq!(dir.entries(), Vec::<String>::new(), "nothing left behind");
}

#[test]
fn ctrl_c_keeps_the_part_of_each_download_with_c() {
    for (flags, under_way) in [(&["-C"][..], 1), (&["-Z", "-C"][..], 4)] {
        let dir = interrupted(flags);
        let mut expected: Vec<String> = (0..under_way)
            .flat_map(|n| {
                let name = format!("f{n}");
                [part_name(&name), meta_name(&name)]
            })
            .collect();
        expected.sort();
        assert_eq!(
            dir.entries(),
            expected,
            "{flags:?}: the parts kept, nothing else"
        );
    }
}

/// Runs a fetch of four URLs with `flags`, each body partly sent and then
/// held, and sends Ctrl-C once the files are being written; checks that
/// the process ended by the signal after printing its summary, and gives
/// back the directory as it was left.
fn interrupted(flags: &[&str]) -> Dir {
    let held = Arc::new(AtomicBool::new(true));
    let server = {
        let held = Arc::clone(&held);
        KeepAlive::start(move |_| {
            let mut bytes =
                b"HTTP/1.1 200 OK\r\nContent-Length: 400000\r\nETag: \"v1\"\r\n\r\n".to_vec();
            bytes.extend_from_slice(&[b'x'; 300_000]);
            while held.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(10));
            }
            // Kept open with part of the body sent, even after a request
            // that said `Connection: close`: the client waits for the rest.
            Reply {
                bytes,
                after: After::Hold,
                delay: Duration::ZERO,
            }
        })
    };
    let sequential = !flags.contains(&"-Z");
    let dir = Dir::empty();
    let paths: Vec<String> = (0..4).map(|n| server.url(&format!("/f{n}"))).collect();
    let mut child = Process::spawn(
        sockdemo()
            .current_dir(dir.path())
            .arg("fetch")
            .args(flags)
            .args(&paths)
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let stderr = crate::support::read_all_of(child.stderr());
    // One after another, only the first is under way.
    let under_way = if sequential { 1 } else { 4 };
    wait_for("the requests", STEP, || {
        (server.counts().requests.len() == under_way).then_some(())
    });
    // Let the heads and part of each body through, then wait for the
    // files being written (named or not: the process holds them open).
    held.store(false, Ordering::SeqCst);
    if flags.contains(&"-C") {
        // A part is kept once it holds something to continue; what is
        // received is written in blocks of up to 128 KiB.
        wait_for("the parts to fill up", STEP, || {
            (0..under_way)
                .all(|n| {
                    let part = dir.path().join(part_name(&format!("f{n}")));
                    let len = std::fs::metadata(part).map_or(0, |meta| meta.len());
                    len >= 300_000 - 128 * 1024
                })
                .then_some(())
        });
    } else {
        wait_for("the files being written", STEP, || {
            (files_open_in(child.id(), dir.path()) == under_way).then_some(())
        });
    }
    child.signal(libc::SIGINT);
    let status = child.wait(STEP);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(libc::SIGINT),
        "{flags:?}: ends by the signal"
    );
    let stderr = text(&stderr.join().expect("stderr"));
    assert!(
        stderr.contains("fetched 0 of 4 files"),
        "{flags:?}: {stderr}"
    );
    dir
}

#[test]
fn plain_http_through_a_proxy_reuses_the_connection_to_the_proxy() {
    let server = KeepAlive::start(|path| ok(&body_of(path)));
    let proxy = crate::support::proxy::Proxy::start();
    let dir = Dir::empty();
    let output = fetch(
        &dir,
        &urls(&server, &["/a", "/b", "/c"]),
        &["-x", &proxy.url()],
    );
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    // The test proxy forwards a connection's first request and pipes the
    // rest of it to the same origin: one request head at the proxy, one
    // connection at the server, three requests in absolute form on it.
    assert_eq!(proxy.requests().len(), 1, "{:?}", proxy.requests());
    assert_eq!(server.connection_of_each(), [1, 1, 1]);
    let lines: Vec<String> = server
        .counts()
        .requests
        .iter()
        .map(|r| r.1.clone())
        .collect();
    assert_eq!(lines[2], format!("GET {} HTTP/1.1", server.url("/c")));
    assert_eq!(dir.entries(), ["a", "b", "c"]);
}

#[test]
fn flags_of_one_file_are_usage_errors_with_several_urls_and_one_url_skips_too() {
    let server = KeepAlive::start(|path| ok(&body_of(path)));
    let dir = Dir::empty();
    let two = urls(&server, &["/a", "/b"]);
    for flags in [
        &["-o", "x"][..],
        &[
            "--checksum",
            "sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ][..],
        &["--expect-size", "3"][..],
    ] {
        let output = fetch(&dir, &two, flags);
        assert_eq!(code(&output), 2, "{flags:?}: {}", text(&output.stderr));
    }
    assert_eq!(server.counts().connections, 0, "no request made");
    // One URL: --skip-existing and --output-dir work as well.
    dir.write("a", "mine");
    let skipped = fetch(&dir, &urls(&server, &["/a"]), &["--skip-existing"]);
    assert_eq!(code(&skipped), 0, "stderr: {}", text(&skipped.stderr));
    assert_eq!(
        text(&skipped.stderr),
        "skipped a: it exists (--skip-existing)\n"
    );
    assert_eq!(server.counts().connections, 0);
    let into = fetch(
        &dir,
        &urls(&server, &["/a"]),
        &["--output-dir", "sub", "-o", "named"],
    );
    assert_eq!(code(&into), 0, "stderr: {}", text(&into.stderr));
    assert_eq!(dir.read("sub/named"), body_of("/a"));
    assert_eq!(dir.read("a"), b"mine");
}

#[test]
fn a_connect_tunnel_is_reused_for_its_origin_only() {
    let pki = crate::support::tls::Pki::new(&["localhost"]);
    let a = KeepAlive::start_with(Some(Arc::clone(&pki.server)), |path| ok(&body_of(path)));
    let b = KeepAlive::start_with(Some(Arc::clone(&pki.server)), |path| ok(&body_of(path)));
    let proxy = crate::support::proxy::Proxy::start();
    let dir = Dir::empty();
    dir.write("ca.pem", &pki.ca_pem);
    let urls = [
        a.https_url("/a"),
        b.https_url("/b"),
        a.https_url("/c"),
        b.https_url("/d"),
    ];
    let output = fetch(&dir, &urls, &["-x", &proxy.url(), "--cacert", "ca.pem"]);
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    let connects: Vec<String> = proxy
        .requests()
        .iter()
        .map(|head| head.lines().next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        connects,
        [
            format!("CONNECT localhost:{} HTTP/1.1", a.addr.port()),
            format!("CONNECT localhost:{} HTTP/1.1", b.addr.port()),
        ],
        "one tunnel for each origin"
    );
    assert_eq!(a.connection_of_each(), [1, 1]);
    assert_eq!(b.connection_of_each(), [1, 1]);
    assert_eq!(dir.entries(), ["a", "b", "c", "ca.pem", "d"]);
}

#[test]
fn fail_early_in_parallel_stops_the_transfers_under_way() {
    let server = KeepAlive::start(|path| match path {
        "/bad" => Reply {
            bytes: b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
            after: After::Keep,
            // The slow one is under way by then.
            delay: Duration::from_millis(300),
        },
        _ => Reply {
            delay: Duration::from_secs(10),
            ..ok(&body_of(path))
        },
    });
    let dir = Dir::empty();
    let started = std::time::Instant::now();
    let output = fetch(
        &dir,
        &urls(&server, &["/slow", "/bad", "/later"]),
        &["-Z", "--parallel-max-host", "2", "--fail-early"],
    );
    let took = started.elapsed();
    assert_eq!(code(&output), 22, "stderr: {}", text(&output.stderr));
    assert!(
        took < Duration::from_secs(5),
        "took {took:?}: the slow transfer was not stopped"
    );
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("fetched 0 of 3 files, 0 bytes in ")
            && stderr.contains("; 1 failed; 1 stopped; 1 not tried"),
        "{stderr}"
    );
    assert_eq!(dir.entries(), Vec::<String>::new());
}
