//! `sockdemo client` against `sockdemo serve` where it used to go wrong:
//! `--stdin` with a line in one write, long lines, the server's line-too-long
//! refusal; names too long; load mode's `--duration`, `--json`,
//! `--histogram`, bounds and Ctrl-C.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use crate::support::scripted::{Act, Scripted, send};
use crate::support::{
    Process, STEP, Server, code, lines_of, read_all_of, run_bounded, run_bounded_with_input,
    sockdemo, text, wait_for_line,
};

fn stdin_client(server: &Server, input: &[u8]) -> std::process::Output {
    run_bounded_with_input(
        sockdemo().args(["client", "--stdin", "--connect", &server.addr.to_string()]),
        input,
        STEP,
    )
}

#[test]
fn a_line_without_a_newline_is_one_message_every_time() {
    let server = Server::start(&["-q"]);
    for _ in 0..20 {
        let output = stdin_client(&server, b"Bob");
        assert_eq!(text(&output.stdout), "Welcome!\nHello, Bob!\n");
        assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    }
}

#[test]
fn a_huge_first_line_streams_both_ways_without_a_deadlock() {
    let server = Server::start(&["-q"]);
    let line = vec![b'a'; 10 * 1024 * 1024];
    let output = stdin_client(&server, &line);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    // Raw-mode replies to the pieces read before the line feed, then one line.
    let stdout = &output.stdout;
    assert!(stdout.starts_with(b"Welcome!\nHello, aaa"));
    assert!(stdout.ends_with(b"!\n"));
    assert_eq!(stdout.iter().filter(|&&b| b == b'\n').count(), 2);
    let letters = stdout.iter().filter(|&&b| b == b'a').count();
    assert_eq!(letters, line.len());
}

#[test]
fn the_servers_line_too_long_is_printed_and_exits_8_every_time() {
    let server = Server::start(&["-q"]);
    let mut input = b"Bob\n".to_vec();
    input.extend(vec![b'x'; 200 * 1024]);
    input.extend_from_slice(b"\nAnn\n");
    for _ in 0..10 {
        let output = stdin_client(&server, &input);
        assert_eq!(
            text(&output.stdout),
            "Welcome!\nHello, Bob!\nError: line too long\n"
        );
        assert_eq!(code(&output), 8, "{}", text(&output.stderr));
        assert_eq!(
            text(&output.stderr),
            format!(
                "sockdemo: error: {} refused a line longer than 65536 bytes and closed\n",
                server.addr
            )
        );
    }
}

#[test]
fn a_name_longer_than_one_read_is_a_usage_error() {
    let name = "n".repeat(1025);
    let output = run_bounded(
        sockdemo().args(["client", "--connect", "127.0.0.1:9", &name]),
        STEP,
    );
    assert_eq!(code(&output), 2);
    assert!(
        text(&output.stderr).contains("a name is at most 1024 bytes, this one has 1025"),
        "{}",
        text(&output.stderr)
    );
}

fn load(server: &Server, args: &[&str]) -> std::process::Output {
    run_bounded(
        sockdemo()
            .args(["client", "--connect", &server.addr.to_string()])
            .args(args),
        STEP,
    )
}

#[test]
fn load_mode_prints_json_and_writes_the_histogram() {
    let server = Server::start(&["-q"]);
    let dir = tempfile::tempdir().expect("temporary directory");
    let histogram = dir.path().join("latency.hgrm");
    let output = load(
        &server,
        &[
            "--connections",
            "4",
            "--rounds",
            "25",
            "--json",
            "--histogram",
            histogram.to_str().expect("UTF-8 path"),
        ],
    );
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(json["connections_ok"], 4);
    assert_eq!(json["connections_failed"], 0);
    assert_eq!(json["round_trips"], 100);
    assert!(json["elapsed_s"].as_f64().is_some_and(|s| s > 0.0));
    assert!(json["round_trips_per_s"].as_f64().is_some_and(|r| r > 0.0));
    for field in ["p50", "p90", "p99", "p99_9", "max", "mean"] {
        assert!(
            json["latency_us"][field]
                .as_f64()
                .is_some_and(|us| us > 0.0),
            "{field}"
        );
    }
    assert!(json["first_failure"].is_null());
    assert_eq!(json["interrupted"], false);
    let distribution = std::fs::read_to_string(&histogram).expect("histogram file");
    assert!(
        distribution.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"),
        "{distribution}"
    );
    assert!(
        distribution.contains("Total count    =          100]"),
        "{distribution}"
    );
}

#[test]
fn load_mode_json_on_failure_names_the_first_failure() {
    let server = Server::start(&["-q", "--max-connections", "2"]);
    let output = load(&server, &["--connections", "5", "--rounds", "3", "--json"]);
    assert_eq!(code(&output), 8, "{}", text(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(json["connections_ok"], 2);
    assert_eq!(json["connections_failed"], 3);
    let first = json["first_failure"].as_str().expect("first failure");
    assert!(
        first.contains("sent \"Busy, try again later\\n\" where \"Welcome!\" was expected"),
        "{first}"
    );
}

#[test]
fn load_mode_runs_for_a_duration() {
    let server = Server::start(&["-q"]);
    let output = load(&server, &["--connections", "2", "--duration", "300ms"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with("connections: 2 ok, 0 failed; round trips: "),
        "{stdout}"
    );
    let seconds: f64 = stdout
        .split(" in ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|s| s.parse().ok())
        .expect("elapsed seconds");
    assert!(seconds >= 0.3, "{stdout}");
}

#[test]
fn load_mode_bounds_are_usage_errors() {
    for args in [
        &["--connections", "1", "--rounds", "100000000000000"][..],
        &["--connections", "1", "--rounds", "5", "--duration", "1s"],
    ] {
        let output = run_bounded(
            sockdemo()
                .args(["client", "--connect", "127.0.0.1:9"])
                .args(args),
            STEP,
        );
        assert_eq!(code(&output), 2, "{args:?}");
    }
}

#[test]
fn ctrl_c_in_load_mode_prints_the_summary_and_exits_130() {
    let server = Server::start(&[]);
    let mut client = Process::spawn(
        sockdemo()
            .args(["client", "--connect", &server.addr.to_string()])
            .args(["--connections", "2", "--duration", "1h", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let stdout = read_all_of(client.stdout());
    let stderr = lines_of(client.stderr());
    // Both connections are in: the timed phase has begun or is about to.
    server.wait_for_log("accepted a connection", STEP);
    server.wait_for_log("accepted a connection", STEP);
    client.signal(libc::SIGINT);
    let status = client.wait(STEP);
    assert_eq!(status.code(), Some(130));
    let json: serde_json::Value =
        serde_json::from_slice(&stdout.join().expect("stdout")).expect("one JSON object");
    assert_eq!(json["interrupted"], true);
    assert_eq!(json["connections_failed"], 0);
    wait_for_line(&stderr, "sockdemo: error: interrupted", STEP);
}

#[test]
fn unreadable_input_ends_the_session_with_its_own_error() {
    let server = Server::start(&["-q"]);
    let directory = std::fs::File::open(env!("CARGO_MANIFEST_DIR")).expect("open a directory");
    let output = run_bounded(
        sockdemo()
            .args(["client", "--stdin", "--connect", &server.addr.to_string()])
            .stdin(directory),
        STEP,
    );
    assert_eq!(code(&output), 1, "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stderr),
        "sockdemo: error: reading standard input: Is a directory (os error 21)\n"
    );
}

#[test]
fn a_send_that_times_out_exits_28_naming_the_timeout() {
    // Welcomes, then reads nothing: the client's sending fills the
    // socket's buffers and waits for the server to take more.
    let server =
        Scripted::start_unprompted(vec![send("Welcome!"), Act::Pause(Duration::from_secs(15))]);
    let input: Vec<u8> = (0..3_000_000)
        .flat_map(|i| format!("name{i:07}\n").into_bytes())
        .collect();
    let output = run_bounded_with_input(
        sockdemo().args([
            "client",
            "--stdin",
            "--timeout",
            "1s",
            "--connect",
            &server.addr.to_string(),
        ]),
        &input,
        STEP,
    );
    // Whichever side notices first, the session timed out: never a
    // "connection closed" (56) made by the client's own shutdown.
    assert_eq!(code(&output), 28, "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("1s"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_line_typed_late_gets_the_whole_timeout_for_its_reply() {
    // The server answers after 1.2 s; the line comes 1.5 s into the
    // client's wait for input, so its reply arrives 2.7 s into that wait,
    // later than the 2 s timeout but only 1.2 s after the line was sent.
    let server = Server::start(&["-q", "--delay", "1200ms"]);
    let mut process = Process::spawn(
        sockdemo()
            .args([
                "client",
                "--stdin",
                "--timeout",
                "2s",
                "--connect",
                &server.addr.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let stdout = read_all_of(process.stdout());
    let stderr = read_all_of(process.stderr());
    let mut stdin = process.stdin();
    // The pause is the behaviour under test: a person typing late.
    std::thread::sleep(Duration::from_millis(1500));
    stdin.write_all(b"Bob\n").expect("write the line");
    drop(stdin);
    let status = process.wait(STEP);
    let stderr = text(&stderr.join().expect("stderr"));
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(
        text(&stdout.join().expect("stdout")),
        "Welcome!\nHello, Bob!\n"
    );
}

#[test]
fn stdin_bounds_a_trickled_reply_by_one_timeout_in_all() {
    // Each byte of the reply comes well within the timeout, the whole reply
    // never: 12 bytes every 500 ms take 6 s, where one timeout is 1 s. The
    // trickle is the behaviour under test.
    let mut acts = vec![send("Welcome!")];
    for byte in b"Hello, Bob!\n" {
        acts.push(Act::Pause(Duration::from_millis(500)));
        acts.push(Act::Send(vec![*byte]));
    }
    let server = Scripted::start_unprompted(acts);
    let started = std::time::Instant::now();
    let output = run_bounded_with_input(
        sockdemo().args([
            "client",
            "--stdin",
            "--timeout",
            "1s",
            "--connect",
            &server.addr.to_string(),
        ]),
        b"Bob\n",
        STEP,
    );
    let took = started.elapsed();
    let stderr = text(&output.stderr);
    assert_eq!(code(&output), 28, "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "sockdemo: error: timed out after 1s waiting for a reply from {} (1 lines unanswered)\n",
            server.addr
        )
    );
    // One timeout and the start of the process; 3.5 s leaves room for a
    // busy machine and stays well below the 6 s of the trickle.
    assert!(took < Duration::from_millis(3500), "gave up after {took:?}");
}
