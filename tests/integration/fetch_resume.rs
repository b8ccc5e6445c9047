//! `sockdemo fetch` resuming only what the server proves unchanged, both
//! ways: a 206 must carry the validator it was asked with and nothing that
//! contradicts the response it continues, a 206 nobody asked for is taken
//! only whole, and a `.part` the server proves stale is discarded so that
//! `-C` is never stuck. Then the codings curl accepts: zstd frames, gzip
//! members, an empty coded body, `identity` in `Transfer-Encoding`.
//!
//! The servers here ignore `If-Range` on purpose (they send the range of
//! whatever they have now), which is what a client must catch.

use std::io::Write;

use crate::support::dir::{Dir, meta_name, part_name};
use crate::support::ranged::{Ending, FileServer, Reply, Request, answer, content};
use crate::support::scripted::{Scripted, send};
use crate::support::{code, text};

/// A `Last-Modified` date, and a `Date` a day later: a strong validator.
const MODIFIED_A: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
const MODIFIED_B: &str = "Sun, 06 Nov 1994 09:00:00 GMT";
const SENT: &str = "Mon, 07 Nov 1994 08:49:37 GMT";

/// The `Range` field of each request the server received.
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

/// The value of `name` in each request the server received.
fn field(server: &FileServer, name: &str) -> Vec<Option<String>> {
    let prefix = format!("{name}: ");
    server
        .requests()
        .iter()
        .map(|head| {
            head.lines()
                .find_map(|line| line.strip_prefix(&prefix))
                .map(str::to_owned)
        })
        .collect()
}

fn warnings(stderr: &[u8]) -> Vec<String> {
    text(stderr)
        .lines()
        .filter(|line| line.starts_with("sockdemo: warning: "))
        .map(str::to_owned)
        .collect()
}

/// A 200 with all of `file`, its head carrying `fields` (validators).
fn whole(file: &[u8], fields: &str) -> Reply {
    Reply {
        head: format!(
            "HTTP/1.1 200 OK\r\n{fields}Content-Length: {}\r\n\r\n",
            file.len()
        ),
        body: file.to_vec(),
        ending: Ending::Complete,
    }
}

/// What a server that ignores `If-Range` answers: the rest of `file` from
/// the `Range` asked, with `fields`, whatever the condition; all of it
/// without a `Range`.
fn ignoring_if_range(request: &Request, file: &[u8], fields: &str) -> Reply {
    let Some(start) = request.range_start() else {
        return whole(file, fields);
    };
    let total = file.len();
    let rest = &file[start as usize..];
    Reply {
        head: format!(
            "HTTP/1.1 206 Partial Content\r\n{fields}Content-Range: bytes {start}-{}/{total}\r\nContent-Length: {}\r\n\r\n",
            total - 1,
            rest.len()
        ),
        body: rest.to_vec(),
        ending: Ending::Complete,
    }
}

#[test]
fn a_206_with_another_last_modified_starts_over_into_the_new_version() {
    let (a, b) = (content(1000, 31), content(1000, 32));
    let served_b = b.clone();
    let first = format!("Last-Modified: {MODIFIED_A}\r\nDate: {SENT}\r\n");
    let now = format!("Last-Modified: {MODIFIED_B}\r\nDate: {SENT}\r\n");
    let server = FileServer::start(move |request| match request.number {
        0 => whole(&a, &first).ending(Ending::CutAfter(100)),
        _ => ignoring_if_range(request, &served_b, &now),
    });
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin", "--retry-delay", "1ms"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(
        dir.read("out.bin") == b,
        "two versions stitched together, or not the new one"
    );
    assert_eq!(ranges(&server), [None, Some("bytes=100-".to_owned()), None]);
    assert_eq!(field(&server, "If-Range")[1].as_deref(), Some(MODIFIED_A));
    let warnings = warnings(&output.stderr);
    assert!(
        warnings.iter().any(|line| line.contains(&format!(
            "partial content of another version of the file: Last-Modified {MODIFIED_B}, not {MODIFIED_A}: discarding the 100 bytes saved and starting over"
        ))),
        "{warnings:?}"
    );
    assert_eq!(dir.entries(), ["out.bin"]);
}

#[test]
fn a_206_without_the_validator_it_was_asked_with_starts_over() {
    for (validator, said) in [
        ("ETag: \"v1\"\r\n".to_owned(), "ETag \"v1\""),
        (
            format!("Last-Modified: {MODIFIED_A}\r\nDate: {SENT}\r\n"),
            "Last-Modified",
        ),
    ] {
        let (a, b) = (content(5000, 33), content(5000, 34));
        let served_b = b.clone();
        let server = FileServer::start(move |request| match request.number {
            0 => whole(&a, &validator).ending(Ending::CutAfter(2000)),
            // The rest of another version, with no validator at all.
            _ => ignoring_if_range(request, &served_b, ""),
        });
        let dir = Dir::new();
        let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin", "--retry-delay", "1ms"]);
        assert_eq!(code(&output), 0, "{said}: {}", text(&output.stderr));
        assert!(dir.read("out.bin") == b, "{said}: the 206 was appended");
        assert_eq!(
            ranges(&server),
            [None, Some("bytes=2000-".to_owned()), None],
            "{said}"
        );
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains(&format!("partial content without the {said}")),
            "{stderr}"
        );
    }
}

#[test]
fn a_206_with_an_etag_the_file_did_not_have_starts_over() {
    let (a, b) = (content(3000, 35), content(3000, 36));
    let served_b = b.clone();
    let first = format!("Last-Modified: {MODIFIED_A}\r\nDate: {SENT}\r\n");
    // The same date, but a tag the first response did not have: the server
    // now describes its file otherwise, and nothing proves it the same.
    let now = format!("ETag: \"new\"\r\nLast-Modified: {MODIFIED_A}\r\nDate: {SENT}\r\n");
    let server = FileServer::start(move |request| match request.number {
        0 => whole(&a, &first).ending(Ending::CutAfter(1000)),
        _ => ignoring_if_range(request, &served_b, &now),
    });
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin", "--retry-delay", "1ms"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(dir.read("out.bin") == b);
    assert_eq!(
        ranges(&server),
        [None, Some("bytes=1000-".to_owned()), None]
    );
    assert!(
        text(&output.stderr)
            .contains("partial content with ETag \"new\", but the file had no ETag")
    );
}

#[test]
fn a_second_mismatch_in_a_run_exits_8_and_keeps_nothing() {
    let versions = [content(1000, 37), content(1000, 38), content(1000, 39)];
    let server = FileServer::start(move |request| match request.number {
        0 => whole(&versions[0], "ETag: \"v1\"\r\n").ending(Ending::CutAfter(100)),
        1 => ignoring_if_range(request, &versions[1], "ETag: \"v2\"\r\n"),
        2 => whole(&versions[1], "ETag: \"v2\"\r\n").ending(Ending::CutAfter(300)),
        _ => ignoring_if_range(request, &versions[2], "ETag: \"v3\"\r\n"),
    });
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin", "--retry-delay", "1ms"]);
    assert_eq!(code(&output), 8, "{}", text(&output.stderr));
    assert_eq!(
        ranges(&server),
        [
            None,
            Some("bytes=100-".to_owned()),
            None,
            Some("bytes=300-".to_owned())
        ],
        "started over once, then gave up"
    );
    let stderr = text(&output.stderr);
    assert!(
        stderr
            .lines()
            .last()
            .unwrap()
            .ends_with("partial content of another version of the file: ETag \"v3\", not \"v2\""),
        "{stderr}"
    );
    dir.assert_untouched();
}

#[test]
fn into_stdout_a_206_of_another_version_fails_with_the_original_error() {
    let (a, b) = (content(50_000, 43), content(50_000, 44));
    let served_a = a.clone();
    let server = FileServer::start(move |request| match request.number {
        0 => whole(&served_a, "ETag: \"v1\"\r\n").ending(Ending::CutAfter(20_000)),
        _ => ignoring_if_range(request, &b, "ETag: \"v2\"\r\n"),
    });
    let dir = Dir::empty();
    let output = dir.fetch(&[&server.url("/f"), "-o", "-", "--retry-delay", "1ms"]);
    // What went out cannot be taken back, nor followed by another version.
    assert_eq!(code(&output), 18, "{}", text(&output.stderr));
    assert!(output.stdout == a[..20_000]);
    assert_eq!(ranges(&server), [None, Some("bytes=20000-".to_owned())]);
}

#[test]
fn a_206_to_a_request_without_range_is_saved_only_when_it_holds_the_whole_file() {
    let file = content(1000, 40);
    let piece = |file: &[u8]| {
        Reply {
        head: "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-99/1000\r\nContent-Length: 100\r\n\r\n".into(),
        body: file[..100].to_vec(),
        ending: Ending::Complete,
    }
    };

    // Always a piece: asked once more for the whole file, then exit 8.
    let served = file.clone();
    let server = FileServer::start(move |_| piece(&served));
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin"]);
    assert_eq!(code(&output), 8, "{}", text(&output.stderr));
    assert_eq!(ranges(&server), [None, None]);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("partial content to a request for the whole file (Content-Range \"bytes 0-99/1000\"): asking again for the whole file"),
        "{stderr}"
    );
    dir.assert_untouched();

    // A piece, then the whole file.
    let served = file.clone();
    let server = FileServer::start(move |request| match request.number {
        0 => piece(&served),
        _ => whole(&served, ""),
    });
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(dir.read("out.bin") == file);

    // A 206 holding all of it is the file.
    let served = file.clone();
    let server = FileServer::start(move |_| {
        Reply {
        head: "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-999/1000\r\nContent-Length: 1000\r\n\r\n".into(),
        body: served.clone(),
        ending: Ending::Complete,
    }
    });
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(dir.read("out.bin") == file);
    assert_eq!(server.requests().len(), 1);

    // A range the user asked for is theirs, as with curl.
    let served = file.clone();
    let server = FileServer::start(move |_| piece(&served));
    let output = dir.fetch(&[
        &server.url("/f"),
        "-o",
        "out.bin",
        "-H",
        "Range: bytes=0-99",
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(dir.read("out.bin") == file[..100]);
}

#[test]
fn continue_discards_a_part_the_server_proves_stale_so_the_next_continue_works() {
    let (old, new) = (content(100_000, 41), content(100_000, 42));
    let served_new = new.clone();
    let server = FileServer::start(move |request| match request.number {
        0 => answer(request, &old, "\"v1\"").ending(Ending::CutAfter(40_000)),
        // The file changed, and this server ignores If-Range.
        1 => ignoring_if_range(request, &served_new, "ETag: \"v2\"\r\n"),
        2 => whole(&served_new, "ETag: \"v2\"\r\n").ending(Ending::CutAfter(10_000)),
        // Fixed: it honours If-Range again.
        _ => answer(request, &served_new, "\"v2\""),
    });
    let url = server.url("/f");
    let dir = Dir::empty();
    let output = dir.fetch(&["-C", &url, "-o", "out.bin", "--retry", "0"]);
    assert_eq!(code(&output), 18, "{}", text(&output.stderr));
    assert_eq!(dir.entries(), [part_name("out.bin"), meta_name("out.bin")]);

    // The part's version is gone: discarded, said once, started over; the
    // new version is cut in its turn, and kept.
    let output = dir.fetch(&["-C", &url, "-o", "out.bin", "--retry", "0"]);
    assert_eq!(code(&output), 18, "{}", text(&output.stderr));
    let warnings = warnings(&output.stderr);
    let discarded: Vec<_> = warnings
        .iter()
        .filter(|line| line.contains("discarding"))
        .collect();
    assert_eq!(discarded.len(), 1, "{warnings:?}");
    assert!(
        discarded[0].ends_with(
            "partial content of another version of the file: ETag \"v2\", not \"v1\": discarding the 40,000 bytes kept for out.bin and starting over"
        ),
        "{warnings:?}"
    );
    assert!(dir.read(&part_name("out.bin")) == new[..10_000]);

    // And the next -C continues it.
    let output = dir.fetch(&["-C", &url, "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(dir.read("out.bin") == new);
    assert_eq!(dir.entries(), ["out.bin"]);
    assert_eq!(
        ranges(&server),
        [
            None,
            Some("bytes=40000-".to_owned()),
            None,
            Some("bytes=10000-".to_owned())
        ]
    );
}

const TEXT: &[u8] = b"The quick brown fox jumps over the lazy dog, again and again and again.\n";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(data, 3).unwrap()
}

/// A zstd skippable frame (RFC 8878 section 3.1.2) holding `data`.
fn skippable(data: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x5a, 0x2a, 0x4d, 0x18];
    frame.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
    frame.extend_from_slice(data);
    frame
}

/// Fetches, with `--compressed`, a 200 with `Content-Encoding: coding` and
/// this body; returns the exit code and what was saved.
fn fetch_coded(coding: &str, body: &[u8]) -> (i32, Vec<u8>, String) {
    let mut reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    reply.extend_from_slice(body);
    let server = Scripted::start(move |_| vec![send(&reply)]);
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin", "--compressed"]);
    (code(&output), dir.read("out.bin"), text(&output.stderr))
}

#[test]
fn zstd_of_several_frames_and_skippable_frames_is_decoded() {
    // As concatenated `zstd -c` output, or pzstd's, makes it.
    let mut frames = zstd(&TEXT[..20]);
    frames.extend(zstd(&TEXT[20..]));
    let (code, saved, stderr) = fetch_coded("zstd", &frames);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(saved, TEXT);

    let mut skipping = skippable(b"not content");
    skipping.extend(zstd(TEXT));
    skipping.extend(skippable(b""));
    let (code, saved, stderr) = fetch_coded("zstd", &skipping);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(saved, TEXT);
}

#[test]
fn gzip_of_several_members_is_decoded() {
    let mut members = gzip(&TEXT[..10]);
    members.extend(gzip(&TEXT[10..]));
    let (code, saved, stderr) = fetch_coded("gzip", &members);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(saved, TEXT);
}

#[test]
fn an_empty_coded_body_saves_an_empty_file() {
    for coding in ["gzip", "deflate", "br", "zstd"] {
        let (code, saved, stderr) = fetch_coded(coding, b"");
        assert_eq!(code, 0, "{coding}: {stderr}");
        assert_eq!(saved, b"", "{coding}");
    }
    // A transfer coding before chunked, over no chunk at all.
    let server = Scripted::start(|_| {
        vec![send(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        )]
    });
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(dir.read("out.bin"), b"");
}

#[test]
fn identity_in_transfer_encoding_is_ignored() {
    // curl's test 1493.
    for codings in ["identity, chunked", "identity, gzip, chunked"] {
        let body: &[u8] = if codings.contains("gzip") {
            &gzip(b"hello")
        } else {
            b"hello"
        };
        let mut reply = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: {codings}\r\n\r\n{:x}\r\n",
            body.len()
        )
        .into_bytes();
        reply.extend_from_slice(body);
        reply.extend_from_slice(b"\r\n0\r\n\r\n");
        let server = Scripted::start(move |_| vec![send(&reply)]);
        let dir = Dir::new();
        let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin"]);
        assert_eq!(code(&output), 0, "{codings}: {}", text(&output.stderr));
        assert_eq!(dir.read("out.bin"), b"hello", "{codings}");
    }
}
