//! `sockdemo fetch` over HTTPS: the real binary against an in-test rustls
//! server whose certificate is signed by a CA made here with rcgen.

use std::process::Output;
use std::sync::Arc;

use crate::support::dir::Dir;
use crate::support::scripted::{Act, Scripted, send};
use crate::support::tls::Pki;
use crate::support::{code, text};

const BODY: &[u8] = b"secret body\n";

/// A CA, and a certificate it signed for `localhost` and 127.0.0.1.
fn pki() -> Pki {
    Pki::new(&["localhost", "127.0.0.1"])
}

fn https_server(pki: &Pki, acts: Vec<Act>) -> Scripted {
    Scripted::start_tls(Arc::clone(&pki.server), move |_| acts.clone())
}

fn ok_response() -> Vec<Act> {
    vec![
        send(format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            BODY.len()
        )),
        send(BODY),
    ]
}

/// Runs `sockdemo fetch` in a fresh directory with `-o out.bin` and `ca.pem` written there.
fn fetch(pki: &Pki, args: &[&str]) -> (Output, Dir) {
    let dir = Dir::empty();
    dir.write("ca.pem", &pki.ca_pem);
    let mut all = vec!["-o", "out.bin"];
    all.extend_from_slice(args);
    (dir.fetch(&all), dir)
}

#[test]
fn https_with_a_trusted_private_ca_works_by_name_and_by_address() {
    let pki = pki();
    let server = https_server(&pki, ok_response());
    let port = server.addr.port();
    for url in [
        format!("https://localhost:{port}/f"),
        format!("https://127.0.0.1:{port}/f"),
    ] {
        let (output, dir) = fetch(&pki, &[&url, "--cacert", "ca.pem"]);
        assert_eq!(code(&output), 0, "{url}: {}", text(&output.stderr));
        assert_eq!(dir.read("out.bin"), BODY);
    }
    let request = String::from_utf8(server.requests().remove(0)).expect("UTF-8 request");
    assert!(
        request.starts_with(&format!("GET /f HTTP/1.1\r\nHost: localhost:{port}\r\n")),
        "{request}"
    );
    // A name is sent as SNI, an address is not (RFC 6066 forbids it); both offer http/1.1.
    let http_1_1 = vec![b"http/1.1".to_vec()];
    assert_eq!(
        *pki.hellos.seen.lock().expect("hellos"),
        [
            (Some("localhost".to_owned()), http_1_1.clone()),
            (None, http_1_1)
        ]
    );
}

#[test]
fn an_untrusted_certificate_exits_60_and_keeps_no_file() {
    let pki = pki();
    let server = https_server(&pki, ok_response());
    // The built-in roots do not know the test CA.
    let (output, dir) = fetch(
        &pki,
        &[&format!("https://localhost:{}/f", server.addr.port())],
    );
    assert_eq!(code(&output), 60, "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("certificate"),
        "{}",
        text(&output.stderr)
    );
    assert!(!dir.exists("out.bin"));
    assert!(
        server.requests().is_empty(),
        "no request sent over an untrusted connection"
    );
}

#[test]
fn a_certificate_for_another_name_exits_60() {
    // Each certificate names one of the two ways to reach the server; the
    // other way is refused.
    for (named, other) in [("localhost", "127.0.0.1"), ("127.0.0.1", "localhost")] {
        let pki = Pki::new(&[named]);
        let server = https_server(&pki, ok_response());
        let url = format!("https://{other}:{}/f", server.addr.port());
        let (output, dir) = fetch(&pki, &[&url, "--cacert", "ca.pem"]);
        assert_eq!(code(&output), 60, "{url}: {}", text(&output.stderr));
        assert!(!dir.exists("out.bin"));
        assert!(server.requests().is_empty(), "{url}: a request was sent");
        let url = format!("https://{named}:{}/f", server.addr.port());
        let (output, _dir) = fetch(&pki, &[&url, "--cacert", "ca.pem"]);
        assert_eq!(code(&output), 0, "{url}: {}", text(&output.stderr));
    }
}

#[test]
fn insecure_skips_the_certificate_check() {
    let pki = pki();
    let server = https_server(&pki, ok_response());
    let url = format!("https://localhost:{}/f", server.addr.port());
    let (output, dir) = fetch(&pki, &[&url, "--insecure"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(dir.read("out.bin"), BODY);
}

#[test]
fn an_unreadable_cacert_exits_77() {
    let pki = pki();
    let server = https_server(&pki, ok_response());
    let url = format!("https://localhost:{}/f", server.addr.port());
    let (output, _dir) = fetch(&pki, &[&url, "--cacert", "missing.pem"]);
    assert_eq!(code(&output), 77, "{}", text(&output.stderr));
}

#[test]
fn plain_http_against_a_tls_server_is_a_bad_response() {
    let pki = pki();
    let server = https_server(&pki, ok_response());
    let (output, _dir) = fetch(
        &pki,
        &[&format!("http://127.0.0.1:{}/f", server.addr.port())],
    );
    // The TLS alert it gets back is no HTTP status line.
    assert_eq!(code(&output), 8, "{}", text(&output.stderr));
}

#[test]
fn tls_to_a_plain_server_is_a_handshake_failure() {
    let pki = pki();
    // A plain HTTP server answers the ClientHello as a bad request, at once.
    let server = Scripted::start_unprompted(vec![send(
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
    )]);
    let url = format!("https://{}/f", server.addr);
    let (output, _dir) = fetch(&pki, &[&url, "--cacert", "ca.pem"]);
    assert_eq!(code(&output), 35, "{}", text(&output.stderr));
}

#[test]
fn a_missing_close_notify_is_harmless_with_a_length_or_chunks() {
    let pki = pki();
    let mut with_length = ok_response();
    with_length.push(Act::CloseAbruptly);
    let chunked = vec![
        send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
        send(format!("{:x}\r\n", BODY.len())),
        send(BODY),
        send("\r\n0\r\n\r\n"),
        Act::CloseAbruptly,
    ];
    for acts in [with_length, chunked] {
        let server = https_server(&pki, acts);
        let url = format!("https://localhost:{}/f", server.addr.port());
        let (output, dir) = fetch(&pki, &[&url, "--cacert", "ca.pem"]);
        assert_eq!(code(&output), 0, "{}", text(&output.stderr));
        assert_eq!(dir.read("out.bin"), BODY);
    }
}

#[test]
fn a_body_until_close_without_close_notify_is_partial() {
    let pki = pki();
    let acts = vec![
        send("HTTP/1.1 200 OK\r\n\r\n"),
        send(BODY),
        Act::CloseAbruptly,
    ];
    let server = https_server(&pki, acts);
    let url = format!("https://localhost:{}/f", server.addr.port());
    let (output, dir) = fetch(&pki, &[&url, "--cacert", "ca.pem"]);
    assert_eq!(code(&output), 18, "{}", text(&output.stderr));
    assert!(!dir.exists("out.bin"));
    // With close_notify, the same body is complete.
    let server = https_server(&pki, vec![send("HTTP/1.1 200 OK\r\n\r\n"), send(BODY)]);
    let url = format!("https://localhost:{}/f", server.addr.port());
    let (output, dir) = fetch(&pki, &[&url, "--cacert", "ca.pem"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(dir.read("out.bin"), BODY);
}

#[test]
fn a_redirect_from_http_to_https_is_followed() {
    let pki = pki();
    let secure = https_server(&pki, ok_response());
    let location = format!("https://localhost:{}/secure", secure.addr.port());
    let plain = Scripted::start(move |_| {
        vec![send(format!(
            "HTTP/1.1 301 Moved\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
        ))]
    });
    let (output, dir) = fetch(&pki, &[&plain.url("/f"), "--cacert", "ca.pem"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(dir.read("out.bin"), BODY);
}

#[test]
fn a_redirect_from_https_to_http_is_followed_with_a_warning() {
    let pki = pki();
    let plain = Scripted::start(|_| ok_response());
    let location = plain.url("/plain");
    let secure = https_server(
        &pki,
        vec![send(format!(
            "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
        ))],
    );
    let url = format!("https://localhost:{}/f", secure.addr.port());
    let (output, dir) = fetch(&pki, &[&url, "--cacert", "ca.pem"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(dir.read("out.bin"), BODY);
    assert!(
        text(&output.stderr).contains("sockdemo: warning: redirected from https to plain http"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_stalled_tls_body_times_out_with_28() {
    let pki = pki();
    let server = https_server(
        &pki,
        vec![
            send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"),
            send("partial"),
            Act::Stall,
        ],
    );
    let url = format!("https://localhost:{}/f", server.addr.port());
    let (output, dir) = fetch(
        &pki,
        &[
            &url,
            "--cacert",
            "ca.pem",
            "--timeout",
            "300ms",
            "--retry",
            "0",
        ],
    );
    assert_eq!(code(&output), 28, "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("nothing received for 300ms"),
        "{}",
        text(&output.stderr)
    );
    assert!(!dir.exists("out.bin"));
}

/// Runs `sockdemo fetch -o out.bin ARGS` in `dir` with these environment variables.
fn fetch_with_env(dir: &Dir, args: &[&str], env: &[(&str, &str)]) -> Output {
    dir.fetch_with_env(&[&["-o", "out.bin"], args].concat(), env)
}

#[test]
fn a_private_ca_in_the_system_store_is_trusted() {
    // The system store, as update-ca-certificates leaves it, pointed at by
    // SSL_CERT_FILE or SSL_CERT_DIR (which rustls-native-certs honours).
    let pki = pki();
    let server = https_server(&pki, ok_response());
    let url = format!("https://localhost:{}/f", server.addr.port());
    let dir = Dir::empty();
    dir.write("bundle.pem", &pki.ca_pem);
    std::fs::create_dir(dir.path().join("certs")).expect("mkdir certs");
    dir.write("certs/private-ca.pem", &pki.ca_pem);
    for env in [
        [("SSL_CERT_FILE", "bundle.pem")],
        [("SSL_CERT_DIR", "certs")],
        [("CURL_CA_BUNDLE", "bundle.pem")],
    ] {
        let output = fetch_with_env(&dir, &[&url], &env);
        assert_eq!(code(&output), 0, "{env:?}: {}", text(&output.stderr));
        assert_eq!(dir.read("out.bin"), BODY);
    }
}

#[test]
fn trust_sources_follow_curls_precedence_without_falling_back() {
    let pki = pki();
    let other = Pki::new(&["localhost"]);
    let server = https_server(&pki, ok_response());
    let url = format!("https://localhost:{}/f", server.addr.port());
    let dir = Dir::empty();
    dir.write("good.pem", &pki.ca_pem);
    dir.write("other.pem", &other.ca_pem);
    // --cacert wins over every variable, CURL_CA_BUNDLE over SSL_CERT_FILE.
    let output = fetch_with_env(
        &dir,
        &[&url, "--cacert", "other.pem"],
        &[
            ("SSL_CERT_FILE", "good.pem"),
            ("CURL_CA_BUNDLE", "good.pem"),
        ],
    );
    assert_eq!(code(&output), 60, "{}", text(&output.stderr));
    let output = fetch_with_env(
        &dir,
        &[&url],
        &[
            ("SSL_CERT_FILE", "good.pem"),
            ("CURL_CA_BUNDLE", "other.pem"),
        ],
    );
    assert_eq!(code(&output), 60, "{}", text(&output.stderr));
    // A named file that is missing or holds no certificate is an error, not a reason to try the next.
    dir.write("empty.pem", "no certificate here\n");
    for env in [
        [
            ("CURL_CA_BUNDLE", "missing.pem"),
            ("SSL_CERT_FILE", "good.pem"),
        ],
        [("SSL_CERT_FILE", "empty.pem"), ("CURL_CA_BUNDLE", "")],
    ] {
        let output = fetch_with_env(&dir, &[&url], &env);
        assert_eq!(code(&output), 77, "{env:?}: {}", text(&output.stderr));
    }
    assert!(!dir.exists("out.bin"));
}

#[test]
fn a_self_signed_certificate_made_by_openssl_req_is_accepted_with_cacert() {
    let pki = Pki::self_signed(&["localhost", "127.0.0.1"]);
    let server = https_server(&pki, ok_response());
    let url = format!("https://localhost:{}/f", server.addr.port());
    let (output, dir) = fetch(&pki, &[&url, "--cacert", "ca.pem"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(dir.read("out.bin"), BODY);
    // Without it: refused, in words, with the flag to use.
    let (output, dir) = fetch(&pki, &[&url]);
    assert_eq!(code(&output), 60, "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stderr),
        "sockdemo: error: certificate of localhost is a CA certificate used as a server certificate: to trust it as it is, give it with --cacert\n"
    );
    assert!(!dir.exists("out.bin"));
}

#[test]
fn a_pinned_server_certificate_is_trusted_and_its_name_still_checked() {
    let pki = pki();
    let server = https_server(&pki, ok_response());
    let dir = Dir::empty();
    dir.write("leaf.pem", &pki.leaf_pem);
    let url = format!("https://localhost:{}/f", server.addr.port());
    let output = dir.fetch(&["-o", "out.bin", &url, "--cacert", "leaf.pem"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(dir.read("out.bin"), BODY);

    let named = Pki::new(&["localhost"]);
    let server = https_server(&named, ok_response());
    dir.write("leaf.pem", &named.leaf_pem);
    let url = format!("https://127.0.0.1:{}/f", server.addr.port());
    let output = dir.fetch(&["-o", "other.bin", &url, "--cacert", "leaf.pem"]);
    assert_eq!(code(&output), 60, "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stderr),
        "sockdemo: error: certificate is for localhost, not 127.0.0.1\n"
    );
}

#[test]
fn an_expired_certificate_says_when() {
    let pki = Pki::issue(&["localhost"], |params| {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 2);
    });
    let server = https_server(&pki, ok_response());
    let url = format!("https://localhost:{}/f", server.addr.port());
    let (output, _dir) = fetch(&pki, &[&url, "--cacert", "ca.pem"]);
    assert_eq!(code(&output), 60, "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stderr),
        "sockdemo: error: certificate of localhost has expired (on 2021-01-02)\n"
    );
}

#[test]
fn an_unknown_issuer_hint_never_suggests_the_flag_given() {
    let pki = pki();
    let other = Pki::new(&["localhost"]);
    let server = https_server(&pki, ok_response());
    let url = format!("https://localhost:{}/f", server.addr.port());
    let dir = Dir::empty();
    dir.write("other.pem", &other.ca_pem);
    let output = dir.fetch(&["-o", "out.bin", &url, "--cacert", "other.pem"]);
    assert_eq!(code(&output), 60, "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stderr),
        "sockdemo: error: certificate of localhost has an unknown issuer: neither it nor its CA is in other.pem (--cacert)\n"
    );
    let output = dir.fetch(&["-o", "out.bin", &url]);
    assert_eq!(code(&output), 60, "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stderr),
        "sockdemo: error: certificate of localhost has an unknown issuer: add its CA with --cacert or to the system store\n"
    );
}
