//! What sockdemo says and how: messages at the default level and with
//! `-v`, `-v`'s `> `/`< ` view of a fetch, `-vv` without other crates'
//! structures, usage errors, each `--help`'s exit codes, the manual's
//! sections, and signals that stay ignored when they were at start.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::dir::Dir;
use crate::support::scripted::{Act, Cue, Scripted, send};
use crate::support::talk::Client;
use crate::support::tls::Pki;
use crate::support::{
    Process, STEP, Server, code, free_addr, run_bounded, sockdemo, text, wait_for,
};

const BODY: &[u8] = b"hello, body\n";

fn ok_response() -> Vec<Act> {
    vec![
        send(format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Note: plain\r\n\r\n",
            BODY.len()
        )),
        send(BODY),
    ]
}

/// A server that answers 503 to its first request and serves [`BODY`] after.
fn busy_once() -> Scripted {
    let served = AtomicUsize::new(0);
    Scripted::start(move |_| match served.fetch_add(1, Ordering::SeqCst) {
        0 => vec![send(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
        )],
        _ => ok_response(),
    })
}

/// Whether `line` starts as a timestamped log record does:
/// `2026-12-05T06:56:31.701Z`.
fn timestamped(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.len() > 24
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && bytes[4] == b'-'
        && bytes[10] == b'T'
        && bytes[23] == b'Z'
}

#[test]
fn at_the_default_level_warnings_and_errors_are_plain_lines() {
    let server = busy_once();
    let dir = Dir::empty();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out.bin", "--retry-delay", "1ms"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(dir.read("out.bin"), BODY);
    let stderr = text(&output.stderr);
    let warning = stderr
        .lines()
        .find(|line| line.contains("retrying"))
        .unwrap_or_else(|| panic!("no retry warning: {stderr}"));
    assert!(
        warning.starts_with("sockdemo: warning: ") && warning.contains("503"),
        "{warning}"
    );
    for line in stderr.lines() {
        assert!(
            !timestamped(line),
            "a timestamp at the default level: {line}"
        );
    }
    // An error, after a warning: the same form.
    let gone = Scripted::start(|_| {
        vec![send(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
        )]
    });
    let output = dir.fetch(&[
        &gone.url("/f"),
        "-o",
        "x",
        "--retry",
        "1",
        "--retry-delay",
        "1ms",
    ]);
    assert_eq!(code(&output), 22, "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() >= 2, "{stderr}");
    assert!(
        lines[..lines.len() - 1]
            .iter()
            .all(|line| line.starts_with("sockdemo: warning: ")),
        "{stderr}"
    );
    assert!(
        lines[lines.len() - 1].starts_with("sockdemo: error: "),
        "{stderr}"
    );
}

#[test]
fn with_v_log_lines_are_timestamped_records() {
    let server = busy_once();
    let dir = Dir::empty();
    let output = dir.fetch(&[
        &server.url("/f"),
        "-o",
        "out.bin",
        "--retry-delay",
        "1ms",
        "-v",
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    let warning = stderr
        .lines()
        .find(|line| line.contains("retrying"))
        .unwrap_or_else(|| panic!("no retry warning: {stderr}"));
    assert!(timestamped(warning), "{warning}");
    assert!(warning.contains(" WARN  "), "{warning}");
    assert!(
        stderr
            .lines()
            .any(|line| timestamped(line) && line.contains(" DEBUG ")),
        "no debug record: {stderr}"
    );
}

#[test]
fn v_with_the_body_on_stdout_shows_the_heads_once() {
    let server = Scripted::start(|_| ok_response());
    let dir = Dir::empty();
    let url = server.url("/f");
    let output = dir.fetch(&[&url, "-o", "-", "-v"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(output.stdout, BODY, "the body alone on stdout");
    let stderr = text(&output.stderr);
    assert_eq!(
        stderr.matches("HTTP/1.1 200 OK").count(),
        1,
        "as `< ` lines only: {stderr}"
    );
    assert!(stderr.contains("< HTTP/1.1 200 OK\n"), "{stderr}");
    // Without -v the head is printed on stderr as received.
    let output = dir.fetch(&[&url, "-o", "-"]);
    let stderr = text(&output.stderr);
    assert!(stderr.starts_with("HTTP/1.1 200 OK\r\n"), "{stderr}");
}

#[test]
fn serve_logs_with_timestamps_at_every_level() {
    let server = Server::start(&[]);
    let line = server.wait_for_log("waiting for connections", STEP);
    assert!(timestamped(&line) && line.contains(" INFO  "), "{line}");
    // -q keeps the warnings, a server's log still: a refused client is one.
    let server = Server::start(&["-q", "--max-connections", "1"]);
    let _first = Client::greeted(server.addr);
    let mut second = Client::connect(server.addr);
    second.expect(b"Busy, try again later\n");
    let line = server.wait_for_log("refused a connection", STEP);
    assert!(timestamped(&line) && line.contains(" WARN  "), "{line}");
}

#[test]
fn v_shows_the_heads_as_curl_does_and_hides_credentials() {
    let server = Scripted::start(|_| ok_response());
    let dir = Dir::empty();
    let url = server.url("/f");
    let output = dir.fetch(&[
        &url,
        "-o",
        "out.bin",
        "-H",
        "Authorization: Bearer s3cret-t0ken",
        "-v",
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    let host = format!("> Host: {}\n", server.addr);
    let expected_request = [
        "> GET /f HTTP/1.1\n",
        &host,
        "> Authorization: Bearer [hidden]\n",
    ];
    for line in expected_request {
        assert!(stderr.contains(line), "{line:?} missing: {stderr}");
    }
    assert!(
        stderr.contains(&format!(
            "< HTTP/1.1 200 OK\n< Content-Length: {}\n< X-Note: plain\n< \n",
            BODY.len()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("\n> \n"),
        "the request's blank line: {stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
    // The request really carried it.
    let sent = text(&server.requests()[0]);
    assert!(
        sent.contains("Authorization: Bearer s3cret-t0ken\r\n"),
        "{sent}"
    );
    // Without -v, none of it.
    let output = dir.fetch(&[&url, "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        !stderr
            .lines()
            .any(|line| line.starts_with("> ") || line.starts_with("< ")),
        "{stderr}"
    );
}

#[test]
fn vv_over_tls_shows_no_structures_of_other_crates() {
    let pki = Pki::new(&["localhost"]);
    let server = Scripted::start_tls(Arc::clone(&pki.server), |_| ok_response());
    let dir = Dir::empty();
    dir.write("ca.pem", &pki.ca_pem);
    let url = format!("https://localhost:{}/f", server.addr.port());
    let args = [url.as_str(), "-o", "out.bin", "--cacert", "ca.pem", "-vv"];
    let output = dir.fetch(&args);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("> GET /f HTTP/1.1"), "{stderr}");
    assert!(
        stderr.contains(" TRACE ") || stderr.contains(" DEBUG "),
        "{stderr}"
    );
    for dump in ["ClientHello", "Message {", "payload", "rustls"] {
        assert!(!stderr.contains(dump), "{dump:?} in -vv: {stderr}");
    }
    // RUST_LOG reaches them: the filter, not a silent crate, kept them out.
    let output = dir.fetch_with_env(&args, &[("RUST_LOG", "rustls=trace,sockdemo=debug")]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("ClientHello"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_client_error_is_one_plain_line() {
    let output = run_bounded(
        sockdemo().args(["client", "--connect", &free_addr().to_string()]),
        STEP,
    );
    assert_eq!(code(&output), 7, "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("sockdemo: error: "), "{stderr}");
}

#[test]
fn a_usage_error_is_one_line_and_a_pointer_to_help() {
    for (args, command) in [
        (&["fetch"][..], "sockdemo fetch"),
        (&["serve", "--bogus"], "sockdemo serve"),
        (&["client", "--json"], "sockdemo client"),
        (&["serve", "--delay", "-1"], "sockdemo serve"),
        (&["clinet"], "sockdemo"),
    ] {
        let output = run_bounded(sockdemo().args(args), STEP);
        assert_eq!(code(&output), 2, "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        let stderr = text(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{args:?}: {stderr}");
        assert!(lines[0].starts_with("sockdemo: error: "), "{stderr}");
        assert_eq!(
            lines[1],
            format!("sockdemo: try '{command} --help' for more information")
        );
    }
    // Help and the version are not errors.
    let output = run_bounded(sockdemo().args(["fetch", "--help"]), STEP);
    assert_eq!(code(&output), 0);
    assert!(text(&output.stdout).contains("Usage: sockdemo fetch"));
}

#[test]
fn every_help_lists_the_exit_codes_of_its_subcommand() {
    for (subcommand, codes) in [
        ("serve", &[0, 1, 2][..]),
        ("client", &[0, 1, 2, 6, 7, 8, 23, 28, 55, 56, 130]),
        ("fetch", &[0, 1, 2, 3, 6, 7, 22, 23, 28, 35, 60, 77]),
        ("completions", &[0, 2, 23]),
        ("man", &[0, 2, 23]),
    ] {
        let output = run_bounded(sockdemo().args([subcommand, "--help"]), STEP);
        assert_eq!(code(&output), 0, "{subcommand}");
        let help = text(&output.stdout);
        let table = &help[help
            .find("\nExit codes")
            .unwrap_or_else(|| panic!("{subcommand} --help lists no exit codes: {help}"))..];
        let listed: Vec<u8> = table
            .lines()
            .skip(1)
            .filter_map(|line| line.split_whitespace().next()?.parse().ok())
            .collect();
        for code in codes {
            assert!(
                listed.contains(code),
                "{subcommand} --help lacks {code}: {table}"
            );
        }
        if subcommand != "client" {
            assert!(!listed.contains(&130), "{subcommand}: {table}");
        }
    }
}

#[test]
fn the_manual_has_its_sections_and_names_variables_the_code_reads() {
    let output = run_bounded(sockdemo().arg("man"), STEP);
    assert_eq!(code(&output), 0);
    let page = text(&output.stdout);
    for heading in [
        ".SH \"EXIT STATUS\"",
        ".SH ENVIRONMENT",
        ".SH FILES",
        ".SH \"SEE ALSO\"",
    ] {
        assert_eq!(page.matches(heading).count(), 1, "{heading}");
    }
    assert_eq!(
        page.matches(".SS \"EXIT STATUS\"").count(),
        5,
        "one a subcommand"
    );
    let environment = &page[page.find(".SH ENVIRONMENT").expect("environment")..];
    let environment = &environment[..environment.find(".SH FILES").expect("files")];
    let names: Vec<&str> = environment
        .lines()
        .filter_map(|line| line.strip_prefix("\\fB")?.strip_suffix("\\fR"))
        .flat_map(|names| names.split(", "))
        .collect();
    assert!(names.len() >= 10, "{names:?}");
    let sources = source_text(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    for name in names {
        // NO_COLOR is read by clap's terminal output (anstream), not here.
        if name != "NO_COLOR" {
            assert!(
                sources.contains(&format!("\"{name}\"")),
                "the manual names {name}, which no code reads"
            );
        }
    }
}

/// All the Rust source under `dir`, concatenated.
fn source_text(dir: &Path) -> String {
    let mut all = String::new();
    for entry in fs::read_dir(dir).expect("src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            all.push_str(&source_text(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            all.push_str(&fs::read_to_string(&path).expect("a source file"));
        }
    }
    all
}

/// The signals a process ignores and catches, from /proc/PID/status.
fn dispositions(pid: u32) -> (u64, u64) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    let mask = |field: &str| {
        let line = status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .unwrap_or_else(|| panic!("no {field} in {status}"));
        u64::from_str_radix(line.trim(), 16).expect("a hexadecimal mask")
    };
    (mask("SigIgn:"), mask("SigCgt:"))
}

/// The bit of `signal` in a /proc signal mask.
fn bit(signal: libc::c_int) -> u64 {
    1 << (signal - 1)
}

/// `sockdemo ARGS` started by a shell that ignores SIGINT first, as a
/// shell starts a background job of a script.
fn with_sigint_ignored(args: &[&str]) -> Command {
    let mut command = crate::support::command("sh");
    command
        .arg("-c")
        .arg("trap '' INT; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_sockdemo"))
        .args(args);
    command
}

#[test]
fn fetch_started_with_sigint_ignored_keeps_it_ignored_and_completes() {
    let half = BODY.len() / 2;
    let go_on = Cue::default();
    let acts = {
        let go_on = go_on.clone();
        vec![
            send(format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                BODY.len()
            )),
            send(&BODY[..half]),
            Act::Await(go_on),
            send(&BODY[half..]),
        ]
    };
    let server = Scripted::start(move |_| acts.clone());
    let dir = Dir::empty();
    let mut fetch = Process::spawn(
        with_sigint_ignored(&["fetch", &server.url("/f"), "-o", "out.bin"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let stderr = crate::support::read_all_of(fetch.stderr());
    // The request has arrived: the handlers are installed by now.
    wait_for("the request", STEP, || {
        (!server.requests().is_empty()).then_some(())
    });
    let (ignored, caught) = dispositions(fetch.id());
    assert_ne!(
        ignored & bit(libc::SIGINT),
        0,
        "SIGINT is no longer ignored"
    );
    assert_eq!(caught & bit(libc::SIGINT), 0, "SIGINT has a handler");
    assert_ne!(
        caught & bit(libc::SIGTERM),
        0,
        "SIGTERM still removes the file"
    );
    fetch.signal(libc::SIGINT);
    go_on.give();
    let status = fetch.wait(STEP);
    let stderr = text(&stderr.join().expect("stderr"));
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(dir.read("out.bin"), BODY);
}

#[test]
fn serve_started_with_sigint_ignored_keeps_serving_and_stops_on_sigterm() {
    let mut server = Server::start_with(&mut with_sigint_ignored(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
    ]));
    let (ignored, caught) = dispositions(server.process.id());
    assert_ne!(
        ignored & bit(libc::SIGINT),
        0,
        "SIGINT is no longer ignored"
    );
    assert_eq!(caught & bit(libc::SIGINT), 0, "SIGINT has a handler");
    assert_ne!(caught & bit(libc::SIGTERM), 0, "SIGTERM no longer stops it");
    server.process.signal(libc::SIGINT);
    // Still serving after it.
    let mut client = Client::greeted(server.addr);
    client.ask(b"Michael", b"Hello, Michael!");
    client.send(b"exit");
    client.expect_closed();
    server.process.signal(libc::SIGTERM);
    server.wait_for_log("SIGTERM", STEP);
    assert_eq!(server.wait_exit(STEP).code(), Some(0));
}

#[test]
fn the_readmes_completion_and_manual_lines_work_on_a_new_account() {
    let readme = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let after = &readme[readme.find("For one user:").expect("the install lines")..];
    let lines: Vec<&str> = after
        .lines()
        .skip(1)
        .skip_while(|line| line.is_empty())
        .take_while(|line| line.starts_with("    "))
        .map(str::trim)
        .collect();
    assert!(lines.len() >= 4, "{lines:?}");
    let home = Dir::empty();
    let binary = Path::new(env!("CARGO_BIN_EXE_sockdemo"));
    let path = format!(
        "{}:/usr/bin:/bin",
        binary.parent().expect("the binary's directory").display()
    );
    for line in &lines {
        let output = run_bounded(
            crate::support::command("sh")
                .args(["-ec", line])
                .env("HOME", home.path())
                .env("PATH", &path),
            STEP,
        );
        assert_eq!(code(&output), 0, "{line}: {}", text(&output.stderr));
    }
    for installed in [
        ".local/share/bash-completion/completions/sockdemo",
        ".zfunc/_sockdemo",
        ".config/fish/completions/sockdemo.fish",
        ".local/share/man/man1/sockdemo.1",
    ] {
        let written = fs::metadata(home.path().join(installed))
            .unwrap_or_else(|err| panic!("{installed}: {err}"));
        assert!(written.len() > 100, "{installed} is nearly empty");
    }
}
