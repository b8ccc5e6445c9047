//! `sockdemo fetch` on a flaky network: retries, resuming with `Range` and
//! `If-Range`, `-C` across runs, `--checksum` and `--expect-size`, and the
//! codings. The file server of `support::ranged` cuts, resets or stalls
//! where the test says; random cut points come from a fixed seed, so that a
//! failure happens again the same way.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::support::dir::{Dir, meta_name, part_name};
use crate::support::ranged::{Ending, FileServer, Random, Reply, answer, content, whole};
use crate::support::scripted::{Act, Scripted, send};
use crate::support::{Process, STEP, code, sockdemo, text, wait_for};

const ETAG: &str = "\"v1\"";

/// The request heads of a server, as text, for assertions.
fn ranges(server: &FileServer) -> Vec<Option<String>> {
    server
        .requests()
        .iter()
        .map(|head| {
            head.lines()
                .find_map(|line| line.strip_prefix("Range: "))
                .map(str::to_owned)
        })
        .collect()
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn warnings(stderr: &[u8]) -> Vec<String> {
    text(stderr)
        .lines()
        .filter(|line| line.starts_with("sockdemo: warning: "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn random_cuts_are_resumed_with_range_and_if_range_into_an_identical_file() {
    let file = content(1 << 20, 1);
    // Five cuts, each at a random point of what is left (seed 42).
    let cuts: Vec<usize> = {
        let mut random = Random(42);
        (0..5).map(|_| random.within(1..100_000)).collect()
    };
    let expected_cuts = cuts.clone();
    let served = file.clone();
    let server = FileServer::start(move |request| {
        let reply = answer(request, &served, ETAG);
        match cuts.get(request.number) {
            Some(&cut) => reply.ending(Ending::CutAfter(cut)),
            None => reply,
        }
    });
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/big.bin"), "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(dir.read("out.bin") == file, "the saved file differs");
    assert_eq!(dir.entries(), ["out.bin"]);
    // Each retry asks for the rest, on the condition of the ETag.
    let mut offset = 0;
    let mut expected = vec![None];
    for cut in expected_cuts {
        offset += cut;
        expected.push(Some(format!("bytes={offset}-")));
    }
    assert_eq!(ranges(&server), expected);
    for head in &server.requests()[1..] {
        assert!(head.contains(&format!("If-Range: {ETAG}\r\n")), "{head}");
    }
    // Every cut went further: each retry is at once, none counted against --retry.
    let warned = warnings(&output.stderr);
    assert_eq!(warned.len(), 5, "{warned:?}");
    assert!(
        warned.iter().all(|line| line.contains("retrying at once")),
        "{warned:?}"
    );
    // Only the final response of each attempt is printed: a 200, then 206s.
    let printed = text(&output.stdout);
    assert_eq!(printed.matches("HTTP/1.1 200 OK").count(), 1, "{printed}");
    assert_eq!(printed.matches("HTTP/1.1 206").count(), 5, "{printed}");
}

#[test]
fn a_server_that_resets_the_connection_is_resumed() {
    let file = content(512 << 10, 2);
    let served = file.clone();
    let server = FileServer::start(move |request| {
        let reply = answer(request, &served, ETAG);
        match request.number {
            0..3 => reply.ending(Ending::ResetAfter(50_000)),
            _ => reply,
        }
    });
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin", "--retry-delay", "10ms"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(dir.read("out.bin") == file, "the saved file differs");
    assert!(
        ranges(&server)[1..].iter().all(Option::is_some),
        "{:?}",
        ranges(&server)
    );
    assert!(
        text(&output.stderr).contains("reset"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_changed_etag_starts_over_and_saves_the_new_version_entire() {
    let (old, new) = (content(300_000, 3), content(200_000, 4));
    let served_new = new.clone();
    let server = FileServer::start(move |request| match request.number {
        0 => answer(request, &old, ETAG).ending(Ending::CutAfter(150_000)),
        _ => answer(request, &served_new, "\"v2\""),
    });
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(dir.read("out.bin") == new, "not the new version entire");
    assert_eq!(ranges(&server), [None, Some("bytes=150000-".to_owned())]);
}

#[test]
fn a_server_that_ignores_range_works() {
    let file = content(300_000, 5);
    let served = file.clone();
    let server = FileServer::start(move |request| match request.number {
        0 => whole(&served, ETAG).ending(Ending::CutAfter(100_000)),
        1 => whole(&served, ETAG).ending(Ending::CutAfter(200_000)),
        _ => whole(&served, ETAG),
    });
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(dir.read("out.bin") == file, "the saved file differs");
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn a_server_that_ignores_range_and_cuts_at_one_point_runs_out_of_retries() {
    let file = content(10_000, 6);
    let server = FileServer::start(move |_| whole(&file, ETAG).ending(Ending::CutAfter(1000)));
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin", "--retry-delay", "1ms"]);
    assert_eq!(code(&output), 18, "{}", text(&output.stderr));
    // The first cut is progress (a retry at once, not counted), then
    // three retries that get no further.
    assert_eq!(server.requests().len(), 5, "two attempts and three retries");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("gave up after 5 attempts; the furthest got 1,000 bytes of 10,000"),
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .last()
            .unwrap()
            .starts_with("sockdemo: error: ")
    );
    dir.assert_untouched();
}

#[test]
fn max_time_bounds_all_the_attempts() {
    let file = content(10_000, 13);
    let server = FileServer::start(move |_| whole(&file, ETAG).ending(Ending::CutAfter(10)));
    let dir = Dir::new();
    let started = Instant::now();
    let output = dir.fetch(&[
        &server.url("/f"),
        "-o",
        "out.bin",
        "--retry",
        "1000",
        "--retry-delay",
        "100ms",
        "--max-time",
        "1s",
    ]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The last attempt's failure: cut short, or out of time.
    assert!(
        [18, 28].contains(&code(&output)),
        "{}",
        text(&output.stderr)
    );
    assert!(server.requests().len() < 100, "{}", server.requests().len());
    dir.assert_untouched();
}

#[test]
fn continue_after_sigkill_resumes_into_an_identical_file() {
    use std::os::unix::process::ExitStatusExt;
    let file = content(1 << 20, 7);
    let served = file.clone();
    let server = FileServer::start(move |request| match request.number {
        0 => answer(request, &served, ETAG).ending(Ending::StallAfter(600_000)),
        _ => answer(request, &served, ETAG),
    });
    let dir = Dir::empty();
    let url = server.url("/big.bin");
    let mut first = Process::spawn(
        sockdemo()
            .current_dir(dir.path())
            .args(["fetch", "-C", &url, "-o", "out.bin", "-q"])
            .stdout(Stdio::null()),
    );
    let part = dir.path().join(part_name("out.bin"));
    // The writes of at most one block may still be buffered when it stalls.
    wait_for("the .part to fill up", STEP, || {
        let len = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        (len >= 600_000 - 64 * 1024).then_some(())
    });
    first.signal(libc::SIGKILL);
    assert_eq!(first.wait(STEP).signal(), Some(libc::SIGKILL));
    assert!(dir.exists(&meta_name("out.bin")), "{:?}", dir.entries());
    let kept = std::fs::metadata(&part).unwrap().len();

    let output = dir.fetch(&["-C", "-", &url, "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(dir.read("out.bin") == file, "the resumed file differs");
    assert_eq!(dir.entries(), ["out.bin"], "the .part and its metadata go");
    assert_eq!(ranges(&server)[1], Some(format!("bytes={kept}-")));
}

#[test]
fn continue_keeps_its_part_on_sigterm_and_ctrl_c() {
    use std::os::unix::process::ExitStatusExt;
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let file = content(300_000, 14);
        let server = FileServer::start(move |request| {
            answer(request, &file, ETAG).ending(Ending::StallAfter(200_000))
        });
        let dir = Dir::empty();
        let mut fetch = Process::spawn(
            sockdemo()
                .current_dir(dir.path())
                .args(["fetch", "-C", &server.url("/f"), "-o", "out.bin", "-q"])
                .stdout(Stdio::null()),
        );
        let part = dir.path().join(part_name("out.bin"));
        wait_for("the .part to fill up", STEP, || {
            let len = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
            (len >= 200_000 - 64 * 1024).then_some(())
        });
        fetch.signal(signal);
        assert_eq!(fetch.wait(STEP).signal(), Some(signal));
        assert_eq!(dir.entries(), [part_name("out.bin"), meta_name("out.bin")]);
    }
}

#[test]
fn continue_fails_by_keeping_its_part_and_a_stale_part_is_not_ours() {
    let file = content(100_000, 8);
    let served = file.clone();
    let server = FileServer::start(move |request| match request.number {
        0 => answer(request, &served, ETAG).ending(Ending::CutAfter(40_000)),
        _ => answer(request, &served, ETAG),
    });
    let url = server.url("/f");
    let dir = Dir::empty();
    // Left by something else: no metadata of ours. Never continued.
    dir.write(&part_name("out.bin"), b"stale bytes of something else");
    let output = dir.fetch(&["-C", &url, "-o", "out.bin", "--retry", "0"]);
    assert_eq!(code(&output), 18, "{}", text(&output.stderr));
    assert_eq!(ranges(&server), [None]);
    assert_eq!(
        dir.entries(),
        [part_name("out.bin"), meta_name("out.bin")],
        "-C keeps what it got"
    );
    assert!(dir.read(&part_name("out.bin")) == file[..40_000]);
    let output = dir.fetch(&["-C", &url, "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(ranges(&server)[1], Some("bytes=40000-".to_owned()));
    assert!(dir.read("out.bin") == file);
    assert_eq!(dir.entries(), ["out.bin"]);
}

#[test]
fn continue_with_stdout_is_a_usage_error() {
    let dir = Dir::empty();
    let output = dir.fetch(&["-C", "127.0.0.1:9/f", "-o", "-"]);
    assert_eq!(code(&output), 2, "{}", text(&output.stderr));
}

#[test]
fn a_checksum_that_matches_saves_and_one_that_does_not_keeps_the_old_file() {
    let file = content(200_000, 9);
    let good = format!("sha256={}", sha256_hex(&file));
    let bad = format!("sha256={}", sha256_hex(b"something else"));
    let served = file.clone();
    let server = FileServer::start(move |request| answer(request, &served, ETAG));
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin", "--checksum", &bad]);
    assert_eq!(code(&output), 32, "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("expected (--checksum)"));
    assert_eq!(server.requests().len(), 1, "a mismatch is not retried");
    dir.assert_untouched();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin", "--checksum", &good]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(dir.read("out.bin") == file);
}

#[test]
fn expect_size_must_match() {
    let file = content(5000, 10);
    let served = file.clone();
    let server = FileServer::start(move |request| answer(request, &served, ETAG));
    let dir = Dir::new();
    for wrong in ["4999", "5001"] {
        let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin", "--expect-size", wrong]);
        assert_eq!(code(&output), 32, "{wrong}: {}", text(&output.stderr));
        dir.assert_untouched();
    }
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin", "--expect-size", "5000"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(dir.read("out.bin") == file);
}

#[test]
fn retry_after_is_waited_for_and_the_503_not_printed() {
    let server = FileServer::start(|request| match request.number {
        0 => Reply {
            head: "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"
                .into(),
            body: Vec::new(),
            ending: Ending::Complete,
        },
        _ => answer(request, b"finally", ETAG),
    });
    let dir = Dir::new();
    let started = Instant::now();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After ignored"
    );
    assert_eq!(dir.read("out.bin"), b"finally");
    let warned = warnings(&output.stderr);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains("503 Service Unavailable: retrying in 1s"),
        "{warned:?}"
    );
    assert!(
        !text(&output.stdout).contains("503"),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn a_503_to_the_last_attempt_is_the_final_answer() {
    let server = FileServer::start(|_| Reply {
        head: "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\n".into(),
        body: b"busy".to_vec(),
        ending: Ending::Complete,
    });
    let dir = Dir::new();
    let output = dir.fetch(&[
        &server.url("/f"),
        "-o",
        "out.bin",
        "--retry",
        "2",
        "--retry-delay",
        "1ms",
        "--fail",
    ]);
    assert_eq!(code(&output), 22, "{}", text(&output.stderr));
    assert_eq!(server.requests().len(), 3);
    assert_eq!(
        text(&output.stdout).matches("503").count(),
        1,
        "only the final head"
    );
    assert!(text(&output.stderr).contains("gave up after 3 attempts"));
    dir.assert_untouched();
}

#[test]
fn head_only_is_retried_too_and_saves_nothing() {
    let server = FileServer::start(|request| match request.number {
        0 => Reply {
            head: "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n".into(),
            body: Vec::new(),
            ending: Ending::Complete,
        },
        _ => Reply {
            head: format!("HTTP/1.1 200 OK\r\nETag: {ETAG}\r\nContent-Length: 5\r\n\r\n"),
            body: Vec::new(),
            ending: Ending::Complete,
        },
    });
    let dir = Dir::empty();
    let output = dir.fetch(&[&server.url("/f"), "-I", "--retry-delay", "1ms"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(dir.entries().is_empty(), "{:?}", dir.entries());
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[1].starts_with("HEAD /f "), "{}", requests[1]);
    assert!(text(&output.stdout).starts_with("HTTP/1.1 200 OK\r\n"));
    let output = dir.fetch(&[&server.url("/f"), "-I", "-C"]);
    assert_eq!(code(&output), 2, "{}", text(&output.stderr));
}

#[test]
fn a_416_to_a_resume_starts_over_once_without_range() {
    let file = content(50_000, 11);
    let served = file.clone();
    let server = FileServer::start(move |request| {
        match request.number {
        0 => whole(&served, ETAG).ending(Ending::CutAfter(20_000)),
        1 => Reply {
            head: "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */10\r\nContent-Length: 0\r\n\r\n"
                .into(),
            body: Vec::new(),
            ending: Ending::Complete,
        },
        _ => whole(&served, ETAG),
    }
    });
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin", "--fail"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(
        ranges(&server),
        [None, Some("bytes=20000-".to_owned()), None]
    );
    assert!(dir.read("out.bin") == file);
}

#[test]
fn the_same_resume_into_stdout_needs_a_matching_206() {
    let file = content(50_000, 12);
    let served = file.clone();
    let server = FileServer::start(move |request| match request.number {
        0 => whole(&served, ETAG).ending(Ending::CutAfter(20_000)),
        _ => whole(&served, ETAG),
    });
    let dir = Dir::empty();
    let output = dir.fetch(&[&server.url("/f"), "-o", "-"]);
    // Stdout cannot be emptied: the original failure stands, and nothing
    // of the second version follows the first 20,000 bytes.
    assert_eq!(code(&output), 18, "{}", text(&output.stderr));
    assert!(output.stdout == file[..20_000]);
}

#[test]
fn status_999_is_taken_as_a_server_error() {
    let server =
        Scripted::start(|_| vec![send("HTTP/1.1 999 OK\r\nContent-Length: 6\r\n\r\nabcdef")]);
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin", "--retry", "0", "--fail"]);
    assert_eq!(code(&output), 22, "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("answered 500"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        text(&output.stdout),
        "HTTP/1.1 999 OK\r\nContent-Length: 6\r\n\r\n"
    );
    dir.assert_untouched();
}

#[test]
fn a_head_of_300_set_cookie_fields_is_accepted() {
    let mut head = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..300 {
        head.push_str(&format!("Set-Cookie: c{i}=v{i}; Path=/\r\n"));
    }
    head.push_str("Content-Length: 2\r\n\r\n");
    let reply = format!("{head}ok");
    let server = Scripted::start(move |_| vec![send(&reply)]);
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(dir.read("out.bin"), b"ok");
    assert_eq!(output.stdout, head.as_bytes());
}

// --- codings ------------------------------------------------------------

const TEXT: &[u8] = b"The quick brown fox jumps over the lazy dog, again and again and again.\n";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn encoded(coding: &str, data: &[u8]) -> Vec<u8> {
    match coding {
        "gzip" => gzip(data),
        "deflate" => {
            let mut encoder =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(data).unwrap();
            encoder.finish().unwrap()
        }
        "br" => {
            let mut out = Vec::new();
            brotli::CompressorWriter::new(&mut out, 4096, 5, 22)
                .write_all(data)
                .unwrap();
            out
        }
        "zstd" => zstd::bulk::compress(data, 3).unwrap(),
        other => panic!("no encoder for {other}"),
    }
}

fn serving_coded(coding: &str, body: &[u8]) -> Scripted {
    let mut reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    reply.extend_from_slice(body);
    Scripted::start(move |_| vec![Act::Send(reply.clone())])
}

#[test]
fn compressed_decodes_gzip_deflate_br_and_zstd() {
    for coding in ["gzip", "deflate", "br", "zstd"] {
        let body = encoded(coding, TEXT);
        let server = serving_coded(coding, &body);
        let dir = Dir::new();
        let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin", "--compressed"]);
        assert_eq!(code(&output), 0, "{coding}: {}", text(&output.stderr));
        assert_eq!(dir.read("out.bin"), TEXT, "{coding}");
        let request = text(&server.requests()[0]);
        assert!(
            request.contains("Accept-Encoding: gzip, deflate, br, zstd\r\n"),
            "{request}"
        );
    }
}

#[test]
fn without_compressed_a_coded_body_is_saved_as_sent() {
    let body = gzip(TEXT);
    let server = serving_coded("gzip", &body);
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(dir.read("out.bin"), body);
    assert!(!text(&server.requests()[0]).contains("Accept-Encoding"));
}

#[test]
fn a_transfer_coding_before_chunked_is_always_decoded() {
    let coded = gzip(TEXT);
    let mut reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec();
    for piece in coded.chunks(10) {
        reply.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        reply.extend_from_slice(piece);
        reply.extend_from_slice(b"\r\n");
    }
    reply.extend_from_slice(b"0\r\n\r\n");
    let server = Scripted::start(move |_| vec![Act::Send(reply.clone())]);
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(dir.read("out.bin"), TEXT);
}

#[test]
fn a_final_coding_other_than_chunked_runs_until_close_then_is_decoded() {
    // `gzip` alone, and `chunked, gzip`: chunked first, then gzip, until close.
    let mut chunked = format!("{:x}\r\n", TEXT.len()).into_bytes();
    chunked.extend_from_slice(TEXT);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    for (codings, body) in [("gzip", gzip(TEXT)), ("chunked, gzip", gzip(&chunked))] {
        let mut reply =
            format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: {codings}\r\n\r\n").into_bytes();
        reply.extend_from_slice(&body);
        let server = Scripted::start(move |_| vec![Act::Send(reply.clone())]);
        let dir = Dir::new();
        let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin"]);
        assert_eq!(code(&output), 0, "{codings}: {}", text(&output.stderr));
        assert_eq!(dir.read("out.bin"), TEXT, "{codings}");
    }
}

#[test]
fn an_unknown_transfer_coding_or_bad_gzip_exits_61_and_saves_nothing() {
    let unknown =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: compress, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    let server = Scripted::start(move |_| vec![send(unknown)]);
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin"]);
    assert_eq!(code(&output), 61, "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("unrecognized Transfer-Encoding coding \"compress\""));
    dir.assert_untouched();

    let server = serving_coded("gzip", b"this is not gzip at all");
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin", "--compressed"]);
    assert_eq!(code(&output), 61, "{}", text(&output.stderr));
    dir.assert_untouched();
}

#[test]
fn max_filesize_bounds_the_saved_bytes_decoded_ones_included() {
    let server = Scripted::start(|_| {
        vec![send(
            "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
        )]
    });
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin", "--max-filesize", "10"]);
    assert_eq!(code(&output), 63, "{}", text(&output.stderr));
    dir.assert_untouched();

    // 16 MiB of zeros in a few KiB of gzip (16 members of 1 MiB each, which
    // is quicker to make): stopped at the limit.
    let member = gzip(&vec![0; 1 << 20]);
    let bomb = member.repeat(16);
    let server = serving_coded("gzip", &bomb);
    let output = dir.fetch(&[
        &server.url("/f"),
        "-o",
        "out.bin",
        "--compressed",
        "--max-filesize",
        "1M",
    ]);
    assert_eq!(code(&output), 63, "{}", text(&output.stderr));
    dir.assert_untouched();
}

#[test]
fn a_refused_connection_is_retried_only_when_asked() {
    let addr = crate::support::free_addr();
    let dir = Dir::new();
    let url = format!("{addr}/f");
    let output = dir.fetch(&[&url, "-o", "out.bin"]);
    assert_eq!(code(&output), 7, "{}", text(&output.stderr));
    assert!(
        warnings(&output.stderr).is_empty(),
        "{}",
        text(&output.stderr)
    );
    let output = dir.fetch(&[
        &url,
        "-o",
        "out.bin",
        "--retry-connrefused",
        "--retry",
        "2",
        "--retry-delay",
        "1ms",
    ]);
    assert_eq!(code(&output), 7, "{}", text(&output.stderr));
    assert_eq!(
        warnings(&output.stderr).len(),
        3,
        "two retries and the summary"
    );
    dir.assert_untouched();
}

#[test]
fn a_206_that_ends_before_its_content_range_is_resumed_not_saved() {
    let file = content(50_000, 13);
    let served = file.clone();
    let server = FileServer::start(move |request| match request.number {
        0 => whole(&served, ETAG).ending(Ending::CutAfter(20_000)),
        // Framed until close, and closed 10,000 bytes into the 30,000 its
        // Content-Range announces: a clean end, but not the file's.
        1 => Reply {
            head: format!(
                "HTTP/1.1 206 Partial Content\r\nETag: {ETAG}\r\nContent-Range: bytes 20000-49999/50000\r\n\r\n"
            ),
            body: served[20_000..30_000].to_vec(),
            ending: Ending::Complete,
        },
        _ => answer(request, &served, ETAG),
    });
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin", "--retry-delay", "1ms"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(
        ranges(&server),
        [
            None,
            Some("bytes=20000-".to_owned()),
            Some("bytes=30000-".to_owned())
        ]
    );
    assert!(dir.read("out.bin") == file, "out.bin differs from the file");
}

#[test]
fn a_206_whose_length_disagrees_with_its_content_range_is_refused() {
    let file = content(50_000, 14);
    let served = file.clone();
    let server = FileServer::start(move |request| match request.number {
        0 => whole(&served, ETAG).ending(Ending::CutAfter(20_000)),
        _ => Reply {
            head: format!(
                "HTTP/1.1 206 Partial Content\r\nETag: {ETAG}\r\nContent-Range: bytes 20000-49999/50000\r\nContent-Length: 10000\r\n\r\n"
            ),
            body: served[20_000..30_000].to_vec(),
            ending: Ending::Complete,
        },
    });
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin", "--retry-delay", "1ms"]);
    assert_eq!(code(&output), 8, "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("does not match its Content-Range"),
        "{}",
        text(&output.stderr)
    );
    dir.assert_untouched();
}
