//! A download's name and times: `-J` (Content-Disposition, hostile names
//! included), `-R`, `-N` with a 304, `-z`; the DURATION syntax on the
//! command line; the progress bar on a terminal, the progress lines in a
//! log, and the line a Ctrl-C leaves.

use std::fs::{self, File};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use crate::support::dir::{Dir, PRECIOUS};
use crate::support::pty::{Pty, frames};
use crate::support::scripted::{Act, Cue, Scripted, send};
use crate::support::{Process, STEP, code, run_bounded, sockdemo, text, wait_for};

/// The time of the RFC's example date, `Sun, 06 Nov 1994 08:49:37 GMT`.
const RFC_DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
const RFC_SECONDS: u64 = 784_111_777;

fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
}

fn set_mtime(path: &Path, time: SystemTime) {
    File::options()
        .write(true)
        .open(path)
        .and_then(|file| file.set_modified(time))
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
}

fn mtime(path: &Path) -> SystemTime {
    fs::metadata(path)
        .and_then(|meta| meta.modified())
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// A 200 with `body` and these extra fields.
fn ok(fields: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{fields}\r\n{body}",
        body.len()
    )
}

/// The value of a field in a request head, if sent.
fn field(request: &[u8], name: &str) -> Option<String> {
    text(request).lines().find_map(|line| {
        let (field, value) = line.split_once(':')?;
        field
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

#[test]
fn timestamping_keeps_an_up_to_date_file_on_a_304_and_fetches_a_newer_one() {
    let mine = RFC_SECONDS + 1000;
    let server = Scripted::start(move |target| match target {
        "/old/out.bin" => vec![send("HTTP/1.1 304 Not Modified\r\n\r\n")],
        _ => vec![send(ok(
            "Last-Modified: Sun, 06 Nov 1994 09:49:37 GMT\r\n",
            "newer",
        ))],
    });
    let dir = Dir::new();
    set_mtime(&dir.path().join("out.bin"), at(mine));

    let output = dir.fetch(&[&server.url("/old/out.bin"), "-N"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    dir.assert_untouched();
    assert_eq!(mtime(&dir.path().join("out.bin")), at(mine));
    assert_eq!(
        text(&output.stderr),
        format!(
            "nothing saved: {} answered 304 Not Modified: not newer than out.bin, which is kept as it is\n",
            server.url("/old/out.bin")
        )
    );
    assert_eq!(
        field(&server.requests()[0], "If-Modified-Since").as_deref(),
        Some("Sun, 06 Nov 1994 09:06:17 GMT"),
        "the file's own time"
    );

    // Newer on the server: fetched, and given the server's time (-N implies -R).
    let output = dir.fetch(&[&server.url("/new/out.bin"), "-N"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(dir.read("out.bin"), b"newer");
    assert_eq!(mtime(&dir.path().join("out.bin")), at(RFC_SECONDS + 3600));

    // Nothing to compare with: a plain request.
    let empty = Dir::empty();
    let output = empty.fetch(&[&server.url("/new/out.bin"), "-N"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(empty.read("out.bin"), b"newer");
    assert_eq!(field(&server.requests()[2], "If-Modified-Since"), None);
}

#[test]
fn timestamping_trusts_last_modified_when_the_server_ignores_the_condition() {
    let server =
        Scripted::start(|_| vec![send(ok(&format!("Last-Modified: {RFC_DATE}\r\n"), "stale"))]);
    let dir = Dir::new();
    set_mtime(&dir.path().join("out.bin"), at(RFC_SECONDS));
    let output = dir.fetch(&[&server.url("/out.bin"), "-N"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    dir.assert_untouched();
    assert!(
        text(&output.stderr).contains(&format!(
            "was last modified {RFC_DATE}: not newer than out.bin"
        )),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn remote_time_gives_the_file_the_servers_time() {
    let server =
        Scripted::start(|_| vec![send(ok(&format!("Last-Modified: {RFC_DATE}\r\n"), "hello"))]);
    let dir = Dir::empty();
    let output = dir.fetch(&[&server.url("/f"), "-R", "-o", "stamped"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(mtime(&dir.path().join("stamped")), at(RFC_SECONDS));
    let output = dir.fetch(&[&server.url("/f"), "-o", "plain"]);
    assert_eq!(code(&output), 0);
    let age = SystemTime::now()
        .duration_since(mtime(&dir.path().join("plain")))
        .unwrap_or_default();
    assert!(
        age < Duration::from_secs(3600),
        "without -R, the download's time"
    );
}

#[test]
fn time_cond_takes_a_date_a_file_or_older_than() {
    let server = Scripted::start(|target| match target {
        "/gone" => vec![send(
            "HTTP/1.1 412 Precondition Failed\r\nContent-Length: 4\r\n\r\nnope",
        )],
        "/unchanged" => vec![send("HTTP/1.1 304 Not Modified\r\n\r\n")],
        _ => vec![send(ok(&format!("Last-Modified: {RFC_DATE}\r\n"), "hello"))],
    });
    let dir = Dir::new();

    // -z DATE: If-Modified-Since with that date.
    let output = dir.fetch(&[
        &server.url("/unchanged"),
        "-z",
        "1994-11-06T08:49:37Z",
        "-o",
        "out.bin",
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    dir.assert_untouched();
    assert_eq!(
        field(&server.requests()[0], "If-Modified-Since").as_deref(),
        Some(RFC_DATE)
    );

    // -z -DATE: If-Unmodified-Since; a 412 saves nothing and is no error.
    let output = dir.fetch(&[&server.url("/gone"), "-z", "-1994-11-06", "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    dir.assert_untouched();
    assert_eq!(
        field(&server.requests()[1], "If-Unmodified-Since").as_deref(),
        Some("Sun, 06 Nov 1994 00:00:00 GMT")
    );
    assert!(
        text(&output.stderr).contains("412 Precondition Failed: not older than 1994-11-06"),
        "{}",
        text(&output.stderr)
    );

    // -z FILE: that file's time; a server file as old is not fetched.
    dir.write("ref", "x");
    set_mtime(&dir.path().join("ref"), at(RFC_SECONDS));
    let output = dir.fetch(&[&server.url("/f"), "-z", "ref", "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(dir.read("out.bin"), PRECIOUS);
    assert_eq!(
        field(&server.requests()[2], "If-Modified-Since").as_deref(),
        Some(RFC_DATE)
    );

    // Neither a date nor a file: fetched without a condition, with a warning.
    let output = dir.fetch(&[&server.url("/f"), "-z", "no-such-file", "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(dir.read("out.bin"), b"hello");
    assert_eq!(field(&server.requests()[3], "If-Modified-Since"), None);
    assert!(
        text(&output.stderr).contains("neither a date nor an existing file"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn contradicting_name_and_time_flags_are_usage_errors() {
    let dir = Dir::new();
    for args in [
        ["-N", "-C"],
        ["-N", "-z=2024-01-01"],
        ["-J", "-C"],
        ["-J", "-o=x"],
        ["-N", "-o=-"],
        ["-z", "-"],
    ] {
        let mut argv = vec!["http://127.0.0.1:9/f"];
        argv.extend(args);
        let output = dir.fetch(&argv);
        assert_eq!(code(&output), 2, "{args:?}: {}", text(&output.stderr));
    }
    dir.assert_untouched();
}

/// What `-J` saves a response with this Content-Disposition as, in a
/// directory that already holds `out.bin`; the server's path is `/download`.
fn saved_as(disposition: &str) -> (Dir, std::process::Output) {
    let response = ok(&format!("Content-Disposition: {disposition}\r\n"), "hello");
    let server = Scripted::start(move |_| vec![send(response.clone())]);
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/download?id=7"), "-J"]);
    (dir, output)
}

#[test]
fn remote_header_name_takes_the_servers_name_reduced_to_a_plain_one() {
    let cases = [
        ("attachment; filename=\"report.pdf\"", "report.pdf"),
        (
            "attachment; filename=\"a.txt\"; filename*=UTF-8''%E2%82%AC%20rates.txt",
            "€ rates.txt",
        ),
        ("attachment; filename=\"../../escaped.txt\"", "escaped.txt"),
        ("attachment; filename=\"/etc/passwd\"", "passwd"),
        ("attachment; filename*=UTF-8''..%2F..%2Fup.txt", "up.txt"),
        (
            "attachment; filename=\"C:\\\\Windows\\\\win.ini\"",
            "win.ini",
        ),
        ("attachment; filename=\".profile\"", "profile"),
    ];
    for (disposition, name) in cases {
        let (dir, output) = saved_as(disposition);
        assert_eq!(code(&output), 0, "{disposition}: {}", text(&output.stderr));
        assert_eq!(dir.read(name), b"hello", "{disposition}");
        let mut expected = vec!["out.bin".to_owned(), name.to_owned()];
        expected.sort();
        assert_eq!(dir.entries(), expected, "{disposition}");
        assert!(
            text(&output.stderr).ends_with(&format!("saved 5 bytes to {name}\n")),
            "{}",
            text(&output.stderr)
        );
        // Nothing was written above the directory.
        let parent = dir.path().parent().expect("parent");
        assert!(!parent.join("escaped.txt").exists() && !parent.join("up.txt").exists());
    }
}

#[test]
fn remote_header_name_refuses_hostile_names_for_the_urls_own() {
    for (disposition, why) in [
        ("attachment; filename=\"..\"", "is . or .."),
        ("attachment; filename=\"\"", "is empty"),
        (
            "attachment; filename*=UTF-8''evil%0Aname",
            "holds a control character",
        ),
        (
            "attachment; filename*=UTF-8''%1B%5D0%3Btitle%07",
            "holds a control character",
        ),
        ("inline", "no file name in Content-Disposition"),
    ] {
        let (dir, output) = saved_as(disposition);
        assert_eq!(code(&output), 0, "{disposition}: {}", text(&output.stderr));
        assert_eq!(dir.read("download"), b"hello", "{disposition}");
        assert_eq!(dir.entries(), ["download", "out.bin"], "{disposition}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains(why) && stderr.contains("saving as download"),
            "{disposition}: {stderr}"
        );
        assert!(
            !stderr.contains('\u{1b}'),
            "an escape reached the terminal: {stderr:?}"
        );
    }
    let long = format!("attachment; filename=\"{}\"", "x".repeat(300));
    let (dir, output) = saved_as(&long);
    assert_eq!(code(&output), 0);
    assert_eq!(dir.entries(), ["download", "out.bin"]);
    assert!(text(&output.stderr).contains("300 bytes long"));
}

#[test]
fn remote_header_name_never_replaces_a_file_it_did_not_name() {
    let (dir, output) = saved_as("attachment; filename=\"out.bin\"");
    assert_eq!(code(&output), 23, "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("out.bin exists"), "{stderr}");
    dir.assert_untouched();

    // Its own name (the URL's) may be replaced, as without -J.
    let response = ok(
        "Content-Disposition: attachment; filename=\"out.bin\"\r\n",
        "hello",
    );
    let server = Scripted::start(move |_| vec![send(response.clone())]);
    let output = dir.fetch(&[&server.url("/out.bin"), "-J"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(dir.read("out.bin"), b"hello");

    // -N keeps its copy up to date.
    let dir = Dir::new();
    let output = dir.fetch(&[&server.url("/download"), "-J", "-N"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(dir.read("out.bin"), b"hello");
}

#[test]
fn remote_header_name_keeps_a_file_that_appears_during_the_download() {
    let cue = Cue::default();
    let server = {
        let cue = cue.clone();
        Scripted::start(move |_| {
            vec![
                send(
                    "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nContent-Disposition: attachment; filename=\"report.txt\"\r\n\r\nhello",
                ),
                Act::Await(cue.clone()),
                send(" world"),
            ]
        })
    };
    let dir = Dir::empty();
    let mut fetch = Process::spawn(
        sockdemo()
            .current_dir(dir.path())
            .args(["fetch", &server.url("/download"), "-J"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let stderr = crate::support::read_all_of(fetch.stderr());
    wait_for("the download to be under way", STEP, || {
        dir.open_by(fetch.id()).then_some(())
    });
    // The name was free when the head came; now another program takes it.
    fs::write(dir.path().join("report.txt"), b"mine").expect("write");
    cue.give();
    let status = fetch.wait(STEP);
    let stderr = text(&stderr.join().expect("stderr"));
    assert_eq!(status.code(), Some(23), "{stderr}");
    assert!(
        stderr.contains("report.txt") && stderr.contains("appeared during the download"),
        "{stderr}"
    );
    assert_eq!(dir.read("report.txt"), b"mine", "the other file is kept");
    assert_eq!(dir.entries(), ["report.txt"], "no temporary file left");
}

#[test]
fn compound_durations_and_days_are_accepted_everywhere() {
    let server = Scripted::start(|_| vec![send(ok("", "hello"))]);
    let dir = Dir::empty();
    let output = dir.fetch(&[
        &server.url("/f"),
        "-o",
        "f",
        "--max-time",
        "1m30s",
        "--connect-timeout",
        "1h15m",
        "--timeout",
        "2d",
        "--retry-delay",
        "1.5s",
        "--retry-max-time",
        "36500d",
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    for (value, message) in [
        ("30s1m", "give each unit once, the largest first"),
        ("36500d1ns", "longer than the maximum, 36500d"),
        ("-1m", "is negative"),
        ("5x", "unknown unit \"x\""),
    ] {
        let output = dir.fetch(&[&server.url("/f"), "--max-time", value]);
        assert_eq!(code(&output), 2, "{value}");
        assert!(
            text(&output.stderr).contains(message),
            "{value}: {}",
            text(&output.stderr)
        );
    }
}

/// Starts `sockdemo fetch ARGS` in `dir` with its stderr on a terminal.
fn on_a_terminal(dir: &Dir, args: &[&str]) -> (Process, Pty) {
    let pty = Pty::open();
    let mut command = sockdemo();
    command
        .current_dir(dir.path())
        .arg("fetch")
        .args(args)
        .env("TERM", "xterm")
        .stdout(Stdio::null())
        .stderr(pty.stdio());
    let process = Process::spawn(&mut command);
    // The command holds a copy of the terminal until dropped.
    drop(command);
    (process, pty)
}

#[test]
fn the_bar_on_a_terminal_has_its_style_from_the_first_frame() {
    let body = "x".repeat(4000);
    let server = Scripted::start(move |_| {
        vec![
            send(format!(
                "HTTP/1.1 200 OK\r\nContent-Length: 8000\r\n\r\n{body}"
            )),
            Act::Pause(Duration::from_millis(1500)),
            send(&body),
        ]
    });
    let dir = Dir::empty();
    let (mut process, pty) = on_a_terminal(&dir, &[&server.url("/f"), "-o", "f"]);
    let mut seen = Vec::new();
    pty.wait_for(&mut seen, "saved 8,000 bytes to f", STEP);
    let status = process.wait(STEP);
    pty.rest(&mut seen, STEP);
    assert!(status.success(), "{:?}", String::from_utf8_lossy(&seen));
    let frames = frames(&seen);
    let bars: Vec<&String> = frames.iter().filter(|f| !f.starts_with("saved")).collect();
    assert!(!bars.is_empty(), "no frame: {frames:?}");
    for frame in &bars {
        // `3.91 KiB / 7.81 KiB [=====>     ] 2.60 KiB/s ETA 1s`
        let (sizes, rest) = frame
            .split_once(" [")
            .unwrap_or_else(|| panic!("{frame:?}"));
        let (bar, after) = rest.split_once("] ").unwrap_or_else(|| panic!("{frame:?}"));
        assert!(sizes.trim_start().contains(" / 7.81 KiB"), "{frame:?}");
        assert!(bar.chars().all(|c| "=> ".contains(c)), "{frame:?}");
        let (rate, eta) = after
            .trim()
            .split_once(" ETA ")
            .unwrap_or_else(|| panic!("{frame:?}"));
        assert!(rate == "-" || rate.ends_with("/s"), "{frame:?}");
        let eta = eta.trim();
        assert!(
            eta == "-"
                || (eta.ends_with('s') && eta[..eta.len() - 1].bytes().all(|b| b.is_ascii_digit())),
            "{frame:?}"
        );
    }
    assert_eq!(
        frames.last().map(String::as_str),
        Some("saved 8,000 bytes to f"),
        "the bar is cleared"
    );
}

/// Starts a download on a terminal of a 1000-byte file whose server sends
/// 400 bytes and stalls, waits for the bar to show them, and sends SIGINT;
/// returns what the terminal showed and the process.
fn interrupted_on_a_terminal(dir: &Dir, args: &[&str]) -> (Vec<String>, Process, String) {
    let server = Scripted::start(|_| {
        vec![
            send(format!(
                "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nETag: \"v1\"\r\n\r\n{}",
                "y".repeat(400)
            )),
            Act::Stall,
        ]
    });
    let url = server.url("/big.iso");
    let mut argv = vec![url.as_str()];
    argv.extend(args);
    let (mut process, pty) = on_a_terminal(dir, &argv);
    let mut seen = Vec::new();
    pty.wait_for(&mut seen, "400 B / 1000 B", STEP);
    process.signal(libc::SIGINT);
    let status = process.wait(STEP);
    pty.rest(&mut seen, STEP);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(libc::SIGINT),
        "ended as Ctrl-C ends it"
    );
    let raw = String::from_utf8_lossy(&seen).into_owned();
    (frames(&seen), process, raw)
}

#[test]
fn ctrl_c_clears_the_bar_and_says_what_is_kept() {
    let dir = Dir::empty();
    let (frames, _process, raw) = interrupted_on_a_terminal(&dir, &["-o", "big.iso"]);
    let last = frames.last().expect("a line");
    assert_eq!(
        last,
        "interrupted at 400 bytes of 1000 bytes; nothing kept (sockdemo fetch -C keeps partial data)"
    );
    // The line starts a clean line and ends it.
    let line = raw.rfind("interrupted at").expect("the line");
    let before = &raw[..line];
    let since_line_start = &before[before.rfind(['\r', '\n']).map_or(0, |i| i + 1)..];
    assert!(
        since_line_start
            .chars()
            .all(|c| c == '\u{1b}' || c == '[' || c.is_ascii_digit() || c.is_ascii_uppercase()),
        "the bar was left on the line: {since_line_start:?}"
    );
    assert!(raw.ends_with('\n'), "{raw:?}");
    assert_eq!(dir.entries(), Vec::<String>::new(), "nothing left behind");

    let dir = Dir::empty();
    let (frames, _process, _) = interrupted_on_a_terminal(&dir, &["-C"]);
    let last = frames.last().expect("a line");
    let entries = dir.entries();
    let part = entries
        .iter()
        .find(|name| name.ends_with(".part"))
        .unwrap_or_else(|| panic!("no .part kept: {entries:?}"));
    let kept = format!(
        "interrupted at 400 bytes of 1000 bytes; kept in {part}: sockdemo fetch -C http://127.0.0.1:"
    );
    assert!(
        last.starts_with(&kept) && last.ends_with("/big.iso continues"),
        "{last}"
    );
}

#[test]
fn ctrl_c_without_a_terminal_says_it_in_one_line() {
    let server = Scripted::start(|_| {
        vec![
            send("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nabc"),
            Act::Stall,
        ]
    });
    let dir = Dir::new();
    let mut process = Process::spawn(
        sockdemo()
            .current_dir(dir.path())
            .args(["fetch", &server.url("/f"), "-o", "out.bin"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let stdout = crate::support::lines_of(process.stdout());
    // The head is printed once it has come, the body's first bytes with it.
    crate::support::wait_for_line(&stdout, "Content-Length: 1000", STEP);
    let stderr = crate::support::read_all_of(process.stderr());
    process.signal(libc::SIGINT);
    process.wait(STEP);
    let stderr = text(&stderr.join().expect("stderr"));
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("interrupted at "), "{stderr}");
    assert!(
        lines[0].ends_with("; nothing kept (sockdemo fetch -C keeps partial data)"),
        "{stderr}"
    );
    dir.assert_untouched();
}

#[test]
fn a_log_gets_a_progress_line_every_ten_seconds_or_tenth() {
    // 120 bytes over 12 seconds: a tenth every second, so a line every 10 s.
    let server = Scripted::start(|_| {
        let mut acts = vec![send("HTTP/1.1 200 OK\r\nContent-Length: 120\r\n\r\n")];
        for _ in 0..12 {
            acts.push(Act::Pause(Duration::from_secs(1)));
            acts.push(send("z".repeat(10)));
        }
        acts
    });
    let dir = Dir::empty();
    let output = run_bounded(
        sockdemo()
            .current_dir(dir.path())
            .args(["fetch", &server.url("/f"), "-o", "f"]),
        Duration::from_secs(30),
    );
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    let progress: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .collect();
    assert_eq!(progress.len(), 1, "{stderr}");
    let line = progress[0];
    // `progress: 100 bytes of 120 bytes (83%), 10 bytes/s, 2s left`
    assert!(line.contains(" bytes of 120 bytes ("), "{line}");
    assert!(
        line.contains("%), ") && line.contains(" bytes/s, ") && line.ends_with(" left"),
        "{line}"
    );
    assert!(stderr.ends_with("saved 120 bytes to f\n"), "{stderr}");
    // -q: no line.
    let output = run_bounded(
        sockdemo()
            .current_dir(dir.path())
            .args(["-q", "fetch", &server.url("/f"), "-o", "g"]),
        Duration::from_secs(30),
    );
    assert_eq!(code(&output), 0);
    assert_eq!(text(&output.stderr), "");
}

#[test]
fn after_a_resume_the_time_left_is_that_of_the_bytes_still_to_come() {
    // 980,000 of 1,000,000 bytes, then a close; the rest comes at 8 kB/s.
    const TOTAL: usize = 1_000_000;
    const FIRST: usize = 980_000;
    let requests = std::sync::atomic::AtomicUsize::new(0);
    let server = Scripted::start(move |_| {
        if requests.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            return vec![
                send(format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {TOTAL}\r\nETag: \"v1\"\r\n\r\n{}",
                    "a".repeat(FIRST)
                )),
                Act::CloseAbruptly,
            ];
        }
        let mut acts = vec![send(format!(
            "HTTP/1.1 206 Partial Content\r\nETag: \"v1\"\r\nContent-Range: bytes {FIRST}-{}/{TOTAL}\r\nContent-Length: {}\r\n\r\n",
            TOTAL - 1,
            TOTAL - FIRST
        ))];
        for _ in 0..10 {
            acts.push(send("a".repeat(2000)));
            acts.push(Act::Pause(Duration::from_millis(250)));
        }
        acts
    });
    let dir = Dir::empty();
    let (mut process, pty) = on_a_terminal(&dir, &[&server.url("/f"), "-o", "f"]);
    let mut seen = Vec::new();
    pty.wait_for(
        &mut seen,
        "saved 1,000,000 bytes to f",
        Duration::from_secs(20),
    );
    assert!(process.wait(STEP).success());
    pty.rest(&mut seen, STEP);
    let frames = frames(&seen);
    let resumed: Vec<&String> = frames
        .iter()
        .filter(|frame| frame.contains("resuming at"))
        .collect();
    assert!(!resumed.is_empty(), "{frames:?}");
    // At 8 kB/s, 20 kB take seconds: counting the resumed part as speed
    // would say 0s all along.
    assert!(
        resumed
            .iter()
            .any(|frame| frame.contains("ETA 1s") || frame.contains("ETA 2s")),
        "{resumed:#?}"
    );
}
