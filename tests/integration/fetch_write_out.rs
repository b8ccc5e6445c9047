//! `-w/--write-out` in `sockdemo fetch`: curl's variables after the body,
//! in every output mode and whatever the outcome, `%{json}`, `@FILE`, and
//! `%{stderr}`/`%{stdout}` switching the stream.

use crate::support::dir::Dir;
use crate::support::scripted::{Scripted, send};
use crate::support::{code, text};

const OK: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Id: 42\r\nContent-Length: 5\r\n\r\nhello";

fn serving_ok() -> Scripted {
    Scripted::start(|_| vec![send(OK)])
}

#[test]
fn the_variables_follow_the_body_even_with_s() {
    let server = serving_ok();
    let dir = Dir::empty();
    let output = dir.fetch(&[
        &server.url("/f"),
        "-o",
        "-",
        "-s",
        "-w",
        "\\n%{http_code} %{size_download} %{content_type} %{header{x-id}}/%header{X-ID} %{num_redirects} %{num_retries} %{exitcode} [%{errormsg}] [%{filename_effective}] %{url_effective}\\n",
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        format!(
            "hello\n200 5 text/plain 42/42 0 0 0 [] [] {}\n",
            server.url("/f")
        )
    );
    assert_eq!(text(&output.stderr), "");
}

#[test]
fn times_and_speed_are_seconds_and_bytes_per_second() {
    let server = serving_ok();
    let dir = Dir::empty();
    let output = dir.fetch(&[
        &server.url("/f"),
        "-o",
        "out",
        "-q",
        "-w",
        "%{time_connect} %{time_starttransfer} %{time_total} %{speed_download} %{filename_effective}",
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let shown = text(&output.stdout);
    let fields: Vec<&str> = shown.split(' ').collect();
    assert_eq!(fields.len(), 5, "{shown}");
    let seconds: Vec<f64> = fields[..3]
        .iter()
        .map(|field| {
            assert_eq!(field.split('.').nth(1).map(str::len), Some(6), "{shown}");
            field.parse().unwrap()
        })
        .collect();
    assert!(
        0.0 < seconds[0] && seconds[0] <= seconds[1] && seconds[1] <= seconds[2],
        "connect, first byte, total in order: {shown}"
    );
    assert!(seconds[2] < 30.0, "{shown}");
    let speed: f64 = fields[3].parse().unwrap();
    assert!(
        (speed - 5.0 / seconds[2]).abs() <= 5.0 / seconds[2] * 0.01 + 1.0,
        "{shown}"
    );
    assert_eq!(fields[4], "out");
}

#[test]
fn a_failure_is_written_out_with_its_code_and_message() {
    let missing =
        Scripted::start(|_| vec![send("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")]);
    let dir = Dir::empty();
    let output = dir.fetch(&[
        &missing.url("/f"),
        "-o",
        "out",
        "-s",
        "-w",
        "%{http_code} %{exitcode} %{errormsg}",
    ]);
    assert_eq!(code(&output), 22);
    assert_eq!(
        text(&output.stdout),
        format!(
            "404 22 {} answered 404 Not Found: nothing saved (--content-on-error saves the body)",
            missing.url("/f")
        )
    );
    assert_eq!(text(&output.stderr), "", "-s: no error line");

    // No server at all: no status.
    let gone = crate::support::free_addr();
    let output = dir.fetch(&[
        &format!("http://{gone}/f"),
        "-o",
        "out",
        "-s",
        "--retry",
        "0",
        "-w",
        "%{http_code} %{exitcode}",
    ]);
    assert_eq!(code(&output), 7);
    assert_eq!(text(&output.stdout), "000 7");
    let output = dir.fetch(&[
        &format!("http://{gone}/f"),
        "-o",
        "out",
        "-s",
        "-w",
        "%{url_effective}",
    ]);
    assert_eq!(
        text(&output.stdout),
        format!("http://{gone}/f"),
        "the URL tried"
    );
    let output = dir.fetch(&[
        &format!("http://{gone}/f"),
        "-o",
        "-",
        "-C",
        "-w",
        "%{exitcode} %{url_effective}",
    ]);
    assert_eq!(code(&output), 2, "-C with -o -");
    assert_eq!(text(&output.stdout), format!("2 http://{gone}/f"));
}

#[test]
fn json_holds_every_variable() {
    let server = serving_ok();
    let dir = Dir::empty();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out", "-q", "-w", "%{json}"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}", text(&output.stdout)));
    assert_eq!(json["http_code"], 200);
    assert_eq!(json["size_download"], 5);
    assert_eq!(json["exitcode"], 0);
    assert_eq!(json["errormsg"], "");
    assert_eq!(json["content_type"], "text/plain");
    assert_eq!(json["filename_effective"], "out");
    assert_eq!(json["url_effective"], server.url("/f"));
    assert!(json["time_total"].as_f64().unwrap() > 0.0);
    for name in [
        "time_connect",
        "time_starttransfer",
        "speed_download",
        "num_redirects",
        "num_retries",
    ] {
        assert!(json[name].is_number(), "{name}: {json}");
    }
}

#[test]
fn stderr_and_stdout_switch_and_at_file_reads_the_format() {
    let server = serving_ok();
    let dir = Dir::empty();
    dir.write("format", "%{stderr}code %{http_code}\\n%{stdout}100%%\\n");
    let output = dir.fetch(&[&server.url("/f"), "-o", "out", "-q", "-w", "@format"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(text(&output.stderr), "code 200\n");
    assert_eq!(text(&output.stdout), "100%\n");

    let output = dir.fetch(&[&server.url("/f"), "-o", "out", "-w", "@missing"]);
    assert_eq!(code(&output), 26, "{}", text(&output.stderr));
    let output = dir.fetch(&[&server.url("/f"), "-o", "out", "-w", "%{http_cod}"]);
    assert_eq!(code(&output), 2);
    let message = text(&output.stderr);
    assert!(
        message.contains("unknown variable %{http_cod}"),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");
    assert_eq!(server.requests().len(), 1, "a bad format fetches nothing");
}

#[test]
fn the_heads_come_before_and_the_format_after_in_the_default_mode() {
    let server = serving_ok();
    let dir = Dir::empty();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out", "-w", "[%{http_code}]"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let head = OK.strip_suffix("hello").unwrap();
    assert_eq!(text(&output.stdout), format!("{head}[200]"));
    assert_eq!(text(&output.stderr), "saved 5 bytes to out\n");
}

#[test]
fn retries_and_redirects_are_counted() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let served = AtomicUsize::new(0);
    let server = Scripted::start(move |target| match target {
        "/start" => vec![send(
            "HTTP/1.1 301 Moved\r\nLocation: /f\r\nContent-Length: 0\r\n\r\n",
        )],
        _ if served.fetch_add(1, Ordering::SeqCst) == 0 => {
            vec![send("HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n")]
        }
        _ => vec![send(OK)],
    });
    let dir = Dir::empty();
    let output = dir.fetch(&[
        &server.url("/start"),
        "-o",
        "out",
        "-s",
        "--retry-delay",
        "1ms",
        "-w",
        "%{num_redirects} %{num_retries} %{http_code} %{url_effective}",
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        format!("1 1 200 {}", server.url("/f"))
    );
}

#[test]
fn size_download_counts_what_this_run_received() {
    use crate::support::ranged::{Ending, FileServer, answer, content};
    let file = content(10_000, 7);
    let served = file.clone();
    let server = FileServer::start(move |request| match request.number {
        0 => answer(request, &served, "\"v1\"").ending(Ending::CutAfter(4_000)),
        _ => answer(request, &served, "\"v1\""),
    });
    let dir = Dir::empty();
    let first = dir.fetch(&[
        &server.url("/f"),
        "-o",
        "out",
        "-C",
        "--retry",
        "0",
        "-s",
        "-w",
        "%{size_download} %{exitcode}",
    ]);
    assert_eq!(text(&first.stdout), "4000 18", "{}", text(&first.stderr));
    let rest = dir.fetch(&[
        &server.url("/f"),
        "-o",
        "out",
        "-C",
        "-s",
        "-w",
        "%{size_download} %{http_code}",
    ]);
    assert_eq!(code(&rest), 0, "{}", text(&rest.stderr));
    assert_eq!(text(&rest.stdout), "6000 206", "the rest only");
    assert_eq!(dir.read("out"), file);
}
