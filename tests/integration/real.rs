//! Checks against real components: `sockdemo fetch` against nginx, and
//! through tinyproxy, as Debian packages them, on loopback, with a
//! certificate made by openssl the way most people make one. The scripted servers of the other
//! modules play what the RFCs allow; these check that the common server
//! really is read right.
//!
//! They need programs that a fresh machine with only Rust does not have, so
//! `cargo test` leaves them out (`#[ignore]`); `.ci/run` installs the
//! programs and runs them with `cargo test --test integration real:: --
//! --ignored`. Run that way without the programs, each test fails and says
//! what to install: it never passes without having run.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::support::dir::Dir;
use crate::support::{Process, STEP, code, command, free_addr, text, tool_answers, wait_for};

/// What to install for these tests, as the failure message says it.
const INSTALL: &str = "apt-get install nginx-light tinyproxy-bin openssl";

/// Fails the test, naming the package, unless `program VERSION_FLAG` runs.
fn require(program: &str, version_flag: &str) {
    assert!(
        tool_answers(program, version_flag),
        "this test needs {program} ({INSTALL}); .ci/run installs it"
    );
}

/// An nginx serving the files of its `www` directory on a free loopback
/// port, with a configuration of its own in a temporary directory, and
/// stopped when dropped.
struct Nginx {
    addr: SocketAddr,
    dir: tempfile::TempDir,
    _process: Process,
}

impl Nginx {
    /// Starts nginx with `server` as the body of its one `server` block
    /// (the `listen` and `root` lines are added), once the files have been
    /// written by `files` into the `www` directory.
    fn start(server: &str, files: impl FnOnce(&Path)) -> Nginx {
        require("nginx", "-v");
        let dir = tempfile::tempdir().expect("temporary directory");
        let www = dir.path().join("www");
        fs::create_dir(&www).expect("create www");
        files(&www);
        let addr = free_addr();
        let prefix = dir.path().display();
        let config = format!(
            "daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    types {{ application/octet-stream bin; text/plain txt; }}
    default_type application/octet-stream;
    sendfile on;
    server {{
        listen {addr};
        root {prefix}/www;
        {server}
    }}
}}
"
        );
        let config_path = dir.path().join("nginx.conf");
        fs::write(&config_path, config).expect("write nginx.conf");
        let process = Process::spawn(
            command("nginx")
                .arg("-p")
                .arg(dir.path())
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .arg("-c")
                .arg(&config_path)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        wait_for("nginx to listen", STEP, || TcpStream::connect(addr).ok());
        Nginx {
            addr,
            dir,
            _process: process,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn www(&self) -> PathBuf {
        self.dir.path().join("www")
    }
}

/// Bytes that no two offsets of a file share a pattern in, so a shifted,
/// repeated or dropped block shows.
fn numbered_bytes(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

#[test]
#[ignore = "needs nginx (apt-get install nginx-light): run by .ci/run"]
fn a_file_from_nginx_is_saved_byte_for_byte() {
    let body = numbered_bytes(5 * 1024 * 1024 + 17);
    let nginx = Nginx::start("", |www| {
        fs::write(www.join("file.bin"), &body).expect("write file.bin")
    });
    let dir = Dir::empty();
    let output = dir.fetch(&[&nginx.url("/file.bin"), "-o", "got.bin"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).starts_with("HTTP/1.1 200 OK\r\n"),
        "{}",
        text(&output.stdout)
    );
    assert!(dir.read("got.bin") == body, "got.bin differs from the file");
    assert_eq!(fs::read(nginx.www().join("file.bin")).unwrap(), body);
}

#[test]
#[ignore = "needs nginx (apt-get install nginx-light): run by .ci/run"]
fn a_redirect_from_nginx_is_followed_and_the_name_comes_from_the_url_given() {
    let body = numbered_bytes(70_000);
    let nginx = Nginx::start("location = /latest { return 302 /v2/file.bin; }", |www| {
        fs::create_dir(www.join("v2")).expect("create v2");
        fs::write(www.join("v2/file.bin"), &body).expect("write v2/file.bin");
    });
    let dir = Dir::empty();
    let output = dir.fetch(&[&nginx.url("/latest")]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let heads = text(&output.stdout);
    assert!(
        heads.starts_with("HTTP/1.1 302 Moved Temporarily\r\n"),
        "{heads}"
    );
    assert!(heads.contains("\r\n\r\nHTTP/1.1 200 OK\r\n"), "{heads}");
    assert!(
        dir.read("latest") == body,
        "latest differs from v2/file.bin"
    );
}

/// A self-signed certificate for `localhost` and 127.0.0.1 made as the
/// usual recipe makes it (`openssl req -x509`, which marks it `CA:TRUE`),
/// written as `cert.pem` and `key.pem` into `dir`.
fn openssl_self_signed(dir: &Path) {
    require("openssl", "version");
    let output = crate::support::run_bounded(
        command("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .arg("-keyout")
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem")),
        STEP,
    );
    assert_eq!(code(&output), 0, "openssl: {}", text(&output.stderr));
}

/// nginx serving `www` over plain HTTP and, on a second address, over HTTPS
/// with a certificate made by openssl; the HTTPS address and `cert.pem`.
fn nginx_with_tls(files: impl FnOnce(&Path)) -> (Nginx, SocketAddr, PathBuf) {
    let certs = tempfile::tempdir().expect("temporary directory");
    openssl_self_signed(certs.path());
    let tls_addr = free_addr();
    let dir = certs.path().display();
    let nginx = Nginx::start(
        &format!(
            "listen {tls_addr} ssl; ssl_certificate {dir}/cert.pem; ssl_certificate_key {dir}/key.pem;"
        ),
        files,
    );
    wait_for("nginx to listen for TLS", STEP, || {
        TcpStream::connect(tls_addr).ok()
    });
    let cert = nginx.dir.path().join("cert.pem");
    fs::copy(certs.path().join("cert.pem"), &cert).expect("copy cert.pem");
    (nginx, tls_addr, cert)
}

#[test]
#[ignore = "needs nginx, openssl (apt-get install nginx-light openssl): run by .ci/run"]
fn an_openssl_self_signed_certificate_on_nginx_is_trusted_with_cacert() {
    let body = numbered_bytes(10_000);
    let (_nginx, tls_addr, cert) =
        nginx_with_tls(|www| fs::write(www.join("file.bin"), &body).expect("write file.bin"));
    let dir = Dir::empty();
    let cacert = cert.display().to_string();
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("https://{host}:{}/file.bin", tls_addr.port());
        let output = dir.fetch(&[&url, "-o", "got.bin", "--cacert", &cacert]);
        assert_eq!(code(&output), 0, "{url}: {}", text(&output.stderr));
        assert!(dir.read("got.bin") == body, "got.bin differs from the file");
    }
    // Without it, refused in words that say what to do.
    let url = format!("https://localhost:{}/file.bin", tls_addr.port());
    let output = dir.fetch(&[&url, "-o", "other.bin"]);
    assert_eq!(code(&output), 60, "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stderr),
        "sockdemo: error: certificate of localhost is a CA certificate used as a server certificate: to trust it as it is, give it with --cacert\n"
    );
}

#[test]
#[ignore = "needs nginx (apt-get install nginx-light): run by .ci/run"]
fn nginx_basic_auth_takes_u_the_url_and_the_netrc() {
    let nginx = Nginx::start(
        "location /private/ { auth_basic \"sockdemo\"; auth_basic_user_file www/htpasswd; }",
        |www| {
            fs::write(www.join("htpasswd"), "alice:{PLAIN}s3cret\n").expect("write htpasswd");
            fs::create_dir(www.join("private")).expect("create private");
            fs::write(www.join("private/f.txt"), "secret file\n").expect("write f.txt");
        },
    );
    let dir = Dir::empty();
    let url = nginx.url("/private/f.txt");
    let output = dir.fetch(&[&url, "-o", "out", "-s", "-w", "%{http_code}"]);
    assert_eq!(code(&output), 22);
    assert_eq!(text(&output.stdout), "401");
    let output = dir.fetch(&[&url, "-o", "out", "-u", "alice:wrong", "-q"]);
    assert_eq!(code(&output), 22, "{}", text(&output.stderr));
    let with_user = format!("http://alice:s3cret@{}/private/f.txt", nginx.addr);
    dir.write(
        "rc",
        format!("machine {} login alice password s3cret\n", nginx.addr.ip()),
    );
    for args in [
        vec![url.as_str(), "-u", "alice:s3cret"],
        vec![with_user.as_str()],
        vec![url.as_str(), "--netrc-file", "rc"],
    ] {
        let output = dir.fetch(&[&args[..], &["-o", "out", "-s", "-w", "%{http_code}"]].concat());
        assert_eq!(code(&output), 0, "{args:?}: {}", text(&output.stderr));
        assert_eq!(text(&output.stdout), "200", "{args:?}");
        assert_eq!(dir.read("out"), b"secret file\n", "{args:?}");
    }
}

#[test]
#[ignore = "needs nginx (apt-get install nginx-light): run by .ci/run"]
fn an_error_page_from_nginx_leaves_the_file_alone() {
    let nginx = Nginx::start("", |_| {});
    let dir = Dir::new();
    let output = dir.fetch(&[&nginx.url("/release.tar.gz"), "-o", "out.bin"]);
    assert_eq!(code(&output), 22, "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).starts_with("HTTP/1.1 404 Not Found\r\n"),
        "{}",
        text(&output.stdout)
    );
    assert!(
        text(&output.stderr).contains("404 Not Found"),
        "{}",
        text(&output.stderr)
    );
    dir.assert_untouched();
}

/// A tinyproxy on a free loopback port, in the foreground, allowed to open
/// tunnels to `connect_ports` only (it allows 443 and 563 by default), and
/// stopped when dropped.
struct Tinyproxy {
    addr: SocketAddr,
    _dir: tempfile::TempDir,
    _process: Process,
}

impl Tinyproxy {
    fn start(connect_ports: &[u16]) -> Tinyproxy {
        Tinyproxy::start_with(connect_ports, "")
    }

    /// Starts tinyproxy with `extra` lines added to its configuration.
    fn start_with(connect_ports: &[u16], extra: &str) -> Tinyproxy {
        require("tinyproxy", "-v");
        let dir = tempfile::tempdir().expect("temporary directory");
        let addr = free_addr();
        let mut config = format!(
            "Port {}\nListen 127.0.0.1\nTimeout 30\nMaxClients 10\nAllow 127.0.0.1\nLogLevel Info\nLogFile \"{}/tinyproxy.log\"\n",
            addr.port(),
            dir.path().display()
        );
        for port in connect_ports {
            config.push_str(&format!("ConnectPort {port}\n"));
        }
        config.push_str(extra);
        let path = dir.path().join("tinyproxy.conf");
        fs::write(&path, config).expect("write tinyproxy.conf");
        let process = Process::spawn(
            command("tinyproxy")
                .arg("-d")
                .arg("-c")
                .arg(&path)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        wait_for("tinyproxy to listen", STEP, || {
            TcpStream::connect(addr).ok()
        });
        Tinyproxy {
            addr,
            _dir: dir,
            _process: process,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

#[test]
#[ignore = "needs nginx and tinyproxy (apt-get install nginx-light tinyproxy-bin): run by .ci/run"]
fn tinyproxy_basic_auth_takes_proxy_user() {
    let nginx = Nginx::start("", |www| {
        fs::write(www.join("f.txt"), "through\n").expect("write f.txt")
    });
    let proxy = Tinyproxy::start_with(&[], "BasicAuth alice s3cret\n");
    let dir = Dir::empty();
    let url = nginx.url("/f.txt");
    let output = dir.fetch(&[
        &url,
        "-x",
        &proxy.url(),
        "-o",
        "out",
        "-s",
        "-w",
        "%{http_code}",
    ]);
    assert_eq!(code(&output), 22);
    assert_eq!(
        text(&output.stdout),
        "407",
        "tinyproxy asks for credentials"
    );
    let output = dir.fetch(&[
        &url,
        "-x",
        &proxy.url(),
        "-U",
        "alice:s3cret",
        "-o",
        "out",
        "-s",
        "-w",
        "%{http_code}",
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "200");
    assert_eq!(dir.read("out"), b"through\n");
}

#[test]
#[ignore = "needs nginx, tinyproxy, openssl (apt-get install nginx-light tinyproxy-bin openssl): run by .ci/run"]
fn fetch_goes_through_tinyproxy_for_http_and_https() {
    let body = numbered_bytes(50_000);
    let (nginx, tls_addr, cert) =
        nginx_with_tls(|www| fs::write(www.join("file.bin"), &body).expect("write file.bin"));
    let proxy = Tinyproxy::start(&[tls_addr.port()]);
    let dir = Dir::empty();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = crate::support::sockdemo();
        command
            .current_dir(dir.path())
            .arg("fetch")
            .args(args)
            .envs(env.iter().copied());
        crate::support::run_bounded(&mut command, STEP)
    };
    // Plain http: sent to the proxy, which adds its Via field.
    let output = run(
        &[&nginx.url("/file.bin"), "-o", "plain.bin"],
        &[("http_proxy", &proxy.url())],
    );
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("tinyproxy/"),
        "{}",
        text(&output.stdout)
    );
    assert!(
        dir.read("plain.bin") == body,
        "plain.bin differs from the file"
    );
    // https: a CONNECT tunnel, the certificate checked with the origin.
    let https = format!("https://localhost:{}/file.bin", tls_addr.port());
    let cacert = cert.display().to_string();
    let output = run(
        &[&https, "-o", "tls.bin", "--cacert", &cacert],
        &[("https_proxy", &proxy.url())],
    );
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(dir.read("tls.bin") == body, "tls.bin differs from the file");
    // A port the proxy does not tunnel to: its refusal, with its status.
    let refused = format!("https://localhost:{}/file.bin", nginx.addr.port());
    let output = run(
        &[
            &refused,
            "-o",
            "no.bin",
            "--cacert",
            &cacert,
            "-x",
            &proxy.url(),
        ],
        &[],
    );
    assert_eq!(code(&output), 56, "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("refused the tunnel"),
        "{}",
        text(&output.stderr)
    );
    assert!(!dir.exists("no.bin"));
}

#[test]
#[ignore = "needs nginx (apt-get install nginx-light): run by .ci/run"]
fn compressed_against_nginx_with_gzip_on_saves_the_original_bytes() {
    let page: String = (0..20_000)
        .map(|i| format!("line {i} of a page\n"))
        .collect();
    let nginx = Nginx::start(
        "gzip on; gzip_types text/plain; gzip_min_length 1;",
        |www| fs::write(www.join("page.txt"), &page).expect("write page.txt"),
    );
    let dir = Dir::empty();
    let output = dir.fetch(&[&nginx.url("/page.txt"), "-o", "got.txt", "--compressed"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let head = text(&output.stdout);
    assert!(head.contains("Content-Encoding: gzip\r\n"), "{head}");
    assert!(
        dir.read("got.txt") == page.as_bytes(),
        "got.txt differs from page.txt"
    );
    // Without --compressed, nothing is asked for and the page comes as it is.
    let output = dir.fetch(&[&nginx.url("/page.txt"), "-o", "plain.txt"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(!text(&output.stdout).contains("Content-Encoding"));
    assert!(dir.read("plain.txt") == page.as_bytes());
}

#[test]
#[ignore = "needs nginx (apt-get install nginx-light): run by .ci/run"]
fn continue_against_nginx_after_sigkill_gets_the_rest_with_a_206() {
    use std::os::unix::process::ExitStatusExt;
    let body = numbered_bytes(4 * 1024 * 1024);
    // Slow enough to be killed halfway.
    let nginx = Nginx::start("limit_rate 2m;", |www| {
        fs::write(www.join("big.bin"), &body).expect("write big.bin")
    });
    let dir = Dir::empty();
    let url = nginx.url("/big.bin");
    let mut first = Process::spawn(
        crate::support::sockdemo()
            .current_dir(dir.path())
            .args(["fetch", "-C", "-q", &url, "-o", "big.bin"])
            .stdout(Stdio::null()),
    );
    let part = dir.path().join(crate::support::dir::part_name("big.bin"));
    wait_for("a megabyte in the .part", STEP, || {
        let len = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        (len >= 1024 * 1024).then_some(())
    });
    first.signal(libc::SIGKILL);
    assert_eq!(first.wait(STEP).signal(), Some(libc::SIGKILL));
    let output = dir.fetch(&["-C", &url, "-o", "big.bin"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let head = text(&output.stdout);
    assert!(
        head.starts_with("HTTP/1.1 206 Partial Content\r\n"),
        "{head}"
    );
    assert!(dir.read("big.bin") == body, "big.bin differs from the file");
    assert_eq!(dir.entries(), ["big.bin"]);
}

#[test]
#[ignore = "needs nginx, openssl (apt-get install nginx-light openssl): run by .ci/run"]
fn several_files_from_nginx_share_kept_alive_connections_over_https() {
    let certs = tempfile::tempdir().expect("temporary directory");
    openssl_self_signed(certs.path());
    let tls_addr = free_addr();
    let dir = certs.path().display();
    let names: Vec<String> = (1..=6).map(|n| format!("f{n}.bin")).collect();
    let bodies: Vec<Vec<u8>> = (1..=6).map(|n| numbered_bytes(1000 * n)).collect();
    // nginx names each connection in a field of every response.
    let _nginx = Nginx::start(
        &format!(
            "listen {tls_addr} ssl; ssl_certificate {dir}/cert.pem; ssl_certificate_key {dir}/key.pem; add_header X-Connection $connection always;"
        ),
        |www| {
            for (name, body) in names.iter().zip(&bodies) {
                fs::write(www.join(name), body).expect("write a file");
            }
        },
    );
    wait_for("nginx to listen for TLS", STEP, || {
        TcpStream::connect(tls_addr).ok()
    });
    let cacert = certs.path().join("cert.pem").display().to_string();
    let urls: Vec<String> = names
        .iter()
        .map(|name| format!("https://127.0.0.1:{}/{name}", tls_addr.port()))
        .collect();
    for flags in [&["-i"][..], &["-i", "-Z", "--parallel-max-host", "2"][..]] {
        let out = Dir::empty();
        let mut args: Vec<&str> = urls.iter().map(String::as_str).collect();
        args.extend_from_slice(flags);
        args.extend_from_slice(&["--cacert", &cacert]);
        let output = out.fetch(&args);
        assert_eq!(code(&output), 0, "{flags:?}: {}", text(&output.stderr));
        for (name, body) in names.iter().zip(&bodies) {
            assert!(out.read(name) == *body, "{name} differs from the file");
        }
        let mut connections: Vec<String> = text(&output.stdout)
            .lines()
            .filter_map(|line| line.strip_prefix("X-Connection: "))
            .map(str::to_owned)
            .collect();
        assert_eq!(connections.len(), 6, "{}", text(&output.stdout));
        connections.sort();
        connections.dedup();
        // Sequential: one connection; in parallel: at most the cap of 2.
        let most = if flags.contains(&"-Z") { 2 } else { 1 };
        assert!(
            connections.len() <= most,
            "{flags:?}: connections {connections:?}"
        );
    }
}
