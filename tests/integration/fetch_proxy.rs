//! `sockdemo fetch` through an HTTP proxy: the real binary, a proxy written
//! here (`support::proxy`) and the scripted servers, on loopback. The proxy
//! variables are set on purpose in each test; every other test runs with
//! them cleared.

use std::process::Output;
use std::sync::Arc;

use crate::support::dir::Dir;
use crate::support::proxy::Proxy;
use crate::support::scripted::{Act, Scripted, send};
use crate::support::tls::Pki;
use crate::support::{code, free_addr, text};

const BODY: &[u8] = b"through the proxy\n";

fn ok_response() -> Vec<Act> {
    vec![
        send(format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            BODY.len()
        )),
        send(BODY),
    ]
}

/// Runs `sockdemo fetch -o out.bin ARGS` in `dir` with these variables set.
fn fetch(dir: &Dir, args: &[&str], env: &[(&str, &str)]) -> Output {
    dir.fetch_with_env(&[&["-o", "out.bin"], args].concat(), env)
}

/// An address where nothing listens: a proxy that is down.
fn dead_proxy() -> String {
    format!("http://{}", free_addr())
}

#[test]
fn plain_http_goes_to_http_proxy_in_absolute_form() {
    let origin = Scripted::start(|_| ok_response());
    let proxy = Proxy::start();
    let dir = Dir::empty();
    let url = origin.url("/f?q=1");
    let output = fetch(&dir, &[&url], &[("http_proxy", &proxy.url())]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(dir.read("out.bin"), BODY);
    let requests = proxy.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(
        requests[0].starts_with(&format!("GET {url} HTTP/1.1\r\nHost: {}\r\n", origin.addr)),
        "{}",
        requests[0]
    );
}

#[test]
fn upper_case_http_proxy_is_ignored_as_curl_does() {
    // HTTP_PROXY can be set by a CGI request's Proxy header ("httpoxy").
    let origin = Scripted::start(|_| ok_response());
    let dir = Dir::empty();
    let output = fetch(&dir, &[&origin.url("/f")], &[("HTTP_PROXY", &dead_proxy())]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(dir.read("out.bin"), BODY);
}

#[test]
fn https_goes_through_a_connect_tunnel_with_tls_to_the_origin() {
    let pki = Pki::new(&["localhost"]);
    let acts = ok_response();
    let origin = Scripted::start_tls(Arc::clone(&pki.server), move |_| acts.clone());
    let proxy = Proxy::start();
    let dir = Dir::empty();
    dir.write("ca.pem", &pki.ca_pem);
    let url = format!("https://localhost:{}/secret", origin.addr.port());
    for variable in ["https_proxy", "HTTPS_PROXY", "all_proxy"] {
        let output = fetch(
            &dir,
            &[&url, "--cacert", "ca.pem", "-H", "Authorization: Bearer t"],
            &[(variable, &proxy.url())],
        );
        assert_eq!(code(&output), 0, "{variable}: {}", text(&output.stderr));
        assert_eq!(dir.read("out.bin"), BODY);
    }
    let port = origin.addr.port();
    for request in proxy.requests() {
        // The proxy sees the host and port, and nothing meant for the origin.
        assert_eq!(
            request,
            format!(
                "CONNECT localhost:{port} HTTP/1.1\r\nHost: localhost:{port}\r\nUser-Agent: sockdemo/{}\r\n\r\n",
                env!("CARGO_PKG_VERSION")
            )
        );
    }
    // The handshake is with the origin: its name in SNI, its certificate checked.
    let hellos = pki.hellos.seen.lock().expect("hellos");
    assert_eq!(hellos.len(), 3);
    assert!(
        hellos
            .iter()
            .all(|(name, _)| name.as_deref() == Some("localhost"))
    );
    let received = origin.requests();
    assert!(
        text(&received[0]).starts_with(&format!(
            "GET /secret HTTP/1.1\r\nHost: localhost:{port}\r\n"
        )),
        "{}",
        text(&received[0])
    );
    assert!(text(&received[0]).contains("Authorization: Bearer t\r\n"));
}

#[test]
fn proxy_credentials_come_from_the_proxy_url() {
    let pki = Pki::new(&["localhost"]);
    let acts = ok_response();
    let origin = Scripted::start_tls(Arc::clone(&pki.server), move |_| acts.clone());
    let plain = Scripted::start(|_| ok_response());
    let proxy = Proxy::start();
    let dir = Dir::empty();
    dir.write("ca.pem", &pki.ca_pem);
    let with_credentials = format!("http://al%40ice:s3cret@{}", proxy.addr);
    let https = format!("https://localhost:{}/f", origin.addr.port());
    for url in [https.as_str(), &plain.url("/f")] {
        // -v logs the request and the proxy, never its credentials.
        let output = fetch(
            &dir,
            &[url, "--cacert", "ca.pem", "-x", &with_credentials, "-v"],
            &[],
        );
        assert_eq!(code(&output), 0, "{url}: {}", text(&output.stderr));
        let logged = text(&output.stderr);
        assert!(logged.contains("\n> GET "), "{logged}");
        if url.starts_with("https") {
            // The tunnel's own exchange, its credentials hidden.
            assert!(logged.contains("\n> CONNECT localhost:"), "{logged}");
            assert!(
                logged.contains("\n> Proxy-Authorization: Basic [hidden]\n"),
                "{logged}"
            );
            assert!(logged.contains("\n< HTTP/1.1 200"), "{logged}");
        }
        assert!(
            !logged.contains("s3cret") && !logged.contains("YWxAaWNlOnMzY3JldA=="),
            "{logged}"
        );
    }
    // al@ice:s3cret
    for request in proxy.requests() {
        assert!(
            request.contains("\r\nProxy-Authorization: Basic YWxAaWNlOnMzY3JldA==\r\n"),
            "{request}"
        );
    }
    assert_eq!(proxy.requests().len(), 2);
}

#[test]
fn a_dead_proxy_exits_7_and_is_named() {
    let origin = Scripted::start(|_| ok_response());
    let dir = Dir::new();
    let dead = dead_proxy();
    let output = fetch(&dir, &[&origin.url("/f")], &[("http_proxy", &dead)]);
    assert_eq!(code(&output), 7, "{}", text(&output.stderr));
    let message = text(&output.stderr);
    assert!(
        message.ends_with(&format!(
            "could not connect to proxy {}: Connection refused\n",
            dead.trim_start_matches("http://")
        )),
        "{message}"
    );
    dir.assert_untouched();
    assert!(origin.requests().is_empty(), "went around the proxy");
}

#[test]
fn a_refused_tunnel_exits_56_with_the_status() {
    let dir = Dir::new();
    for (status, words) in [
        ("403 Forbidden", "403 Forbidden"),
        ("407 Proxy Authentication Required", "credentials"),
    ] {
        let proxy = Proxy::refusing(status);
        let output = fetch(
            &dir,
            &["https://localhost:1/f"],
            &[("https_proxy", &proxy.url())],
        );
        assert_eq!(code(&output), 56, "{}", text(&output.stderr));
        let message = text(&output.stderr);
        assert!(
            message.starts_with(&format!(
                "sockdemo: error: proxy {} refused the tunnel to localhost:1: {status}",
                proxy.addr
            )),
            "{message}"
        );
        assert!(message.contains(words), "{message}");
        dir.assert_untouched();
    }
}

#[test]
fn no_proxy_and_the_flags_decide_who_goes_direct() {
    let origin = Scripted::start(|_| ok_response());
    let dir = Dir::empty();
    let url = origin.url("/f");
    let dead = dead_proxy();
    let direct = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec![url.as_str()];
        all.extend_from_slice(args);
        let output = fetch(&dir, &all, env);
        assert_eq!(
            code(&output),
            0,
            "{args:?} {env:?}: {}",
            text(&output.stderr)
        );
    };
    direct(
        &[],
        &[("http_proxy", &dead), ("no_proxy", "localhost,127.0.0.1")],
    );
    direct(&[], &[("http_proxy", &dead), ("NO_PROXY", "127.0.0.0/8")]);
    direct(&[], &[("http_proxy", &dead), ("no_proxy", "*")]);
    direct(&["--noproxy", "127.0.0.1"], &[("http_proxy", &dead)]);
    direct(&["-x", ""], &[("http_proxy", &dead), ("all_proxy", &dead)]);
    // --noproxy replaces no_proxy; -x replaces http_proxy.
    let output = fetch(
        &dir,
        &[&url, "--noproxy", "other.test"],
        &[("http_proxy", &dead), ("no_proxy", "*")],
    );
    assert_eq!(code(&output), 7, "{}", text(&output.stderr));
    let output = fetch(&dir, &[&url, "-x", &dead], &[]);
    assert_eq!(code(&output), 7, "{}", text(&output.stderr));
}

#[test]
fn https_and_socks_proxies_are_refused_clearly() {
    let dir = Dir::empty();
    for proxy in ["https://127.0.0.1:1", "socks5://127.0.0.1:1"] {
        let output = fetch(&dir, &["http://127.0.0.1:1/f", "-x", proxy], &[]);
        assert_eq!(code(&output), 1, "{proxy}: {}", text(&output.stderr));
        assert!(
            text(&output.stderr).contains("proxies are not supported"),
            "{}",
            text(&output.stderr)
        );
    }
}
