//! `sockdemo fetch` over HTTPS: the real binary against an in-test rustls
//! server whose certificate is signed by a CA made here with rcgen.

mod common;
mod scripted;

use std::fs;
use std::process::Output;
use std::sync::{Arc, Mutex};

use common::{STEP, run_bounded, sockdemo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use scripted::{Act, Scripted, send};

const BODY: &[u8] = b"secret body\n";

/// A CA, and a server configuration with a certificate it signed for
/// `localhost` and 127.0.0.1.
struct Pki {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
    hellos: Arc<Hellos>,
}

/// Serves the one certificate, and records what each ClientHello asked for.
#[derive(Debug)]
struct Hellos {
    key: Arc<rustls::sign::CertifiedKey>,
    seen: Mutex<Vec<Hello>>,
}

/// What a ClientHello asked for: a server name (SNI), ALPN protocols.
type Hello = (Option<String>, Vec<Vec<u8>>);

impl rustls::server::ResolvesServerCert for Hellos {
    fn resolve(
        &self,
        hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let alpn = hello
            .alpn()
            .map(|protocols| protocols.map(<[u8]>::to_vec).collect())
            .unwrap_or_default();
        let name = hello.server_name().map(str::to_owned);
        self.seen.lock().expect("hellos").push((name, alpn));
        Some(Arc::clone(&self.key))
    }
}

fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "sockdemo test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");

    let key = rcgen::KeyPair::generate().expect("server key");
    let params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("server params");
    let cert = params.signed_by(&key, &ca).expect("server certificate");

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signing_key = provider
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            key.serialize_der(),
        )))
        .expect("server key");
    let hellos = Arc::new(Hellos {
        key: Arc::new(rustls::sign::CertifiedKey::new(
            vec![cert.der().clone(), CertificateDer::from(ca.der().to_vec())],
            signing_key,
        )),
        seen: Mutex::new(Vec::new()),
    });
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::clone(&hellos) as Arc<dyn rustls::server::ResolvesServerCert>);
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Pki {
        ca_pem: ca.pem(),
        server: Arc::new(server),
        hellos,
    }
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
fn fetch(pki: &Pki, args: &[&str]) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    fs::write(dir.path().join("ca.pem"), &pki.ca_pem).expect("write ca.pem");
    let output = run_bounded(
        sockdemo()
            .current_dir(dir.path())
            .args(["fetch", "-o", "out.bin"])
            .args(args),
        STEP,
    );
    (output, dir)
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited normally")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
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
        assert_eq!(code(&output), 0, "{url}: {}", stderr(&output));
        assert_eq!(fs::read(dir.path().join("out.bin")).expect("out.bin"), BODY);
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
    assert_eq!(code(&output), 60, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("certificate"),
        "{}",
        stderr(&output)
    );
    assert!(!dir.path().join("out.bin").exists());
    assert!(
        server.requests().is_empty(),
        "no request sent over an untrusted connection"
    );
}

#[test]
fn a_certificate_for_another_name_exits_60() {
    let pki = pki();
    let server = https_server(&pki, ok_response());
    // 127.0.0.2 is loopback too, but not a name in the certificate.
    let url = format!("https://127.0.0.2:{}/f", server.addr.port());
    let (output, _dir) = fetch(&pki, &[&url, "--cacert", "ca.pem"]);
    if code(&output) == 7 {
        eprintln!("127.0.0.2 is not reachable here: nothing to test");
        return;
    }
    assert_eq!(code(&output), 60, "{}", stderr(&output));
}

#[test]
fn insecure_skips_the_certificate_check() {
    let pki = pki();
    let server = https_server(&pki, ok_response());
    let url = format!("https://localhost:{}/f", server.addr.port());
    let (output, dir) = fetch(&pki, &[&url, "--insecure"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(fs::read(dir.path().join("out.bin")).expect("out.bin"), BODY);
}

#[test]
fn an_unreadable_cacert_exits_77() {
    let pki = pki();
    let server = https_server(&pki, ok_response());
    let url = format!("https://localhost:{}/f", server.addr.port());
    let (output, _dir) = fetch(&pki, &[&url, "--cacert", "missing.pem"]);
    assert_eq!(code(&output), 77, "{}", stderr(&output));
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
    assert_eq!(code(&output), 8, "{}", stderr(&output));
}

#[test]
fn tls_to_a_plain_server_is_a_handshake_failure() {
    let pki = pki();
    // A plain HTTP server answers the ClientHello as a bad request, at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let server = std::thread::spawn(move || {
        use std::io::Write;
        let (mut stream, _) = listener.accept().expect("accept");
        let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    });
    let url = format!("https://127.0.0.1:{port}/f");
    let (output, _dir) = fetch(&pki, &[&url, "--cacert", "ca.pem"]);
    assert_eq!(code(&output), 35, "{}", stderr(&output));
    server.join().expect("server thread");
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
        assert_eq!(code(&output), 0, "{}", stderr(&output));
        assert_eq!(fs::read(dir.path().join("out.bin")).expect("out.bin"), BODY);
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
    assert_eq!(code(&output), 18, "{}", stderr(&output));
    assert!(!dir.path().join("out.bin").exists());
    // With close_notify, the same body is complete.
    let server = https_server(&pki, vec![send("HTTP/1.1 200 OK\r\n\r\n"), send(BODY)]);
    let url = format!("https://localhost:{}/f", server.addr.port());
    let (output, dir) = fetch(&pki, &[&url, "--cacert", "ca.pem"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(fs::read(dir.path().join("out.bin")).expect("out.bin"), BODY);
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
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(fs::read(dir.path().join("out.bin")).expect("out.bin"), BODY);
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
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(fs::read(dir.path().join("out.bin")).expect("out.bin"), BODY);
    assert!(
        stderr(&output).contains("WARN  redirected from https to plain http"),
        "{}",
        stderr(&output)
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
    let (output, dir) = fetch(&pki, &[&url, "--cacert", "ca.pem", "--timeout", "300ms"]);
    assert_eq!(code(&output), 28, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("nothing received for 300ms"),
        "{}",
        stderr(&output)
    );
    assert!(!dir.path().join("out.bin").exists());
}
