//! `sockdemo fetch` establishing its connection: Happy Eyeballs between the
//! addresses of a name, `--connect-timeout` over the whole race, `-4` and
//! `-6`, TLS sessions resumed within a run, and the words of a refusal.
//!
//! A name with a black-holed IPv6 address needs a network of its own: those
//! tests run in a network and mount namespace made here (`unshare -nm`, as
//! root), with loopback up, a tun device that no process reads (packets to
//! 2001:db8::2 vanish) and `/etc/hosts` bind-mounted to give the test name
//! both addresses. The test re-runs itself inside, where its HTTP server
//! and `sockdemo` see only that network: nothing leaves it, and the name is
//! found in the hosts file, with no DNS query.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::dir::Dir;
use crate::support::scripted::{Act, Scripted, send};
use crate::support::tls::Pki;
use crate::support::{STEP, code, command, free_addr, precondition, run_bounded, text};

const BODY: &str = "hello over the first connection\n";

fn ok_response() -> Vec<Act> {
    vec![send(format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    ))]
}

#[test]
fn a_refused_connection_names_the_address_once() {
    let closed = free_addr();
    let dir = Dir::new();
    let output = dir.fetch(&[&format!("http://{closed}/x"), "--retry", "0"]);
    assert_eq!(code(&output), 7, "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.ends_with(&format!(
            "could not connect to 127.0.0.1 port {}: Connection refused\n",
            closed.port()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains(&closed.to_string()), "{stderr}");
    assert!(!stderr.contains("os error"), "{stderr}");
    dir.assert_untouched();
}

/// A listener on 127.0.0.1 whose queue is full and which never accepts:
/// the kernel drops further SYNs, as a black hole does. Kept with the
/// connections that fill it.
fn black_hole() -> (socket2::Socket, Vec<TcpStream>) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket
        .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .expect("bind");
    socket.listen(0).expect("listen");
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut filling = Vec::new();
    while filling.len() < 8 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(stream) => filling.push(stream),
            Err(err) if err.kind() == io::ErrorKind::TimedOut => return (socket, filling),
            Err(err) => panic!("filling the listener's queue: {err}"),
        }
    }
    panic!("the listener's queue never filled");
}

#[test]
fn the_connect_timeout_ends_a_connection_that_is_never_answered() {
    let (hole, _filling) = black_hole();
    let addr = hole.local_addr().unwrap().as_socket().unwrap();
    let dir = Dir::new();
    let started = Instant::now();
    let output = dir.fetch(&[
        &format!("http://{addr}/x"),
        "--connect-timeout",
        "1s",
        "--retry",
        "0",
    ]);
    let took = started.elapsed();
    assert_eq!(code(&output), 28, "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).ends_with(&format!(
            "timed out connecting to 127.0.0.1 port {}: connecting (--connect-timeout) did not complete within 1s\n",
            addr.port()
        )),
        "{}",
        text(&output.stderr)
    );
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    dir.assert_untouched();
}

#[test]
fn an_address_of_the_wrong_family_is_refused_before_connecting() {
    let server = Scripted::start(|_| ok_response());
    let port = server.addr.port();
    let dir = Dir::empty();
    let v4 = format!("http://127.0.0.1:{port}/f");
    let output = dir.fetch(&["-6", &v4]);
    assert_eq!(code(&output), 6, "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).ends_with("127.0.0.1 is not an IPv6 (-6) address\n"),
        "{}",
        text(&output.stderr)
    );
    let output = dir.fetch(&["--ipv4", &format!("http://[::1]:{port}/f")]);
    assert_eq!(code(&output), 6, "{}", text(&output.stderr));
    assert!(server.requests().is_empty());
    let output = dir.fetch(&["-4", &v4, "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(dir.read("out.bin"), BODY.as_bytes());
    let output = dir.fetch(&["-4", "-6", &v4]);
    assert_eq!(code(&output), 2, "{}", text(&output.stderr));
}

#[test]
fn a_second_connection_to_a_host_resumes_the_tls_session() {
    let pki = Pki::new(&["localhost"]);
    let server = Scripted::start_tls(Arc::clone(&pki.server), |target| match target {
        // Each response closes its connection: the redirect's target needs a new one.
        "/a" => vec![send(
            "HTTP/1.1 302 Found\r\nLocation: /b\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )],
        _ => ok_response(),
    });
    let dir = Dir::empty();
    dir.write("ca.pem", &pki.ca_pem);
    let url = format!("https://localhost:{}/a", server.addr.port());
    let output = dir.fetch(&["-v", &url, "--cacert", "ca.pem", "-o", "out.bin"]);
    let stderr = text(&output.stderr);
    assert_eq!(code(&output), 0, "{stderr}");
    assert_eq!(dir.read("out.bin"), BODY.as_bytes());
    assert_eq!(server.requests().len(), 2);
    let handshakes: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains(" with localhost: "))
        .collect();
    let [first, second] = handshakes[..] else {
        panic!("not two handshake lines: {stderr}")
    };
    for line in [first, second] {
        assert!(line.contains("TLS 1.3 with localhost: TLS13_"), "{line}");
        assert!(line.contains(", ALPN http/1.1; certificate "), "{line}");
        assert!(line.contains(" issued by CN=sockdemo test CA "), "{line}");
        assert!(line.contains(", expires "), "{line}");
    }
    assert!(first.ends_with("; new session"), "{first}");
    assert!(second.ends_with("; session resumed"), "{second}");
    // The name too was resolved once for the run.
    assert_eq!(
        stderr.matches("localhost resolves to ").count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains("localhost: answered from the cache"),
        "{stderr}"
    );
}

// --- In a network namespace of the test's own ---

/// The name the namespace's hosts file gives two black-holed IPv6
/// addresses (2001:db8::2 and ::3) and 127.0.0.1; the system's resolver
/// puts IPv6 first.
const NAME: &str = "eyeballs.test";

/// Set in the environment of the test re-run inside the namespace.
const INSIDE: &str = "SOCKDEMO_TEST_IN_NETNS";

/// Sets the namespace up (loopback, the tun device and its address, the
/// hosts file), then runs the command given after it.
const SETUP: &str = r#"set -e
ip link set lo up
ip tuntap add dev t0 mode tun
ip link set t0 up
ip addr add 2001:db8::1/64 dev t0 nodad
mount --bind "$HOSTS_FILE" /etc/hosts
exec "$@""#;

/// Runs the test `name` of this module (the calling test) inside a new
/// network namespace and returns true there; outside, returns false after
/// that run has passed, or panics with its output. Skipped (false) when the
/// `netns` precondition is named in `SOCKDEMO_TEST_SKIP`.
fn inside_namespace(name: &str) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        return true;
    }
    let can = precondition(
        "netns",
        "root, unshare(1) and ip(8) to make a network namespace with a tun device",
        || {
            run_bounded(
                command("unshare").args([
                    "-nm", "--", "ip", "tuntap", "add", "dev", "t0", "mode", "tun",
                ]),
                STEP,
            )
            .status
            .success()
        },
    );
    if !can {
        return false;
    }
    let dir = Dir::empty();
    dir.write(
        "hosts",
        format!("127.0.0.1 localhost\n2001:db8::2 {NAME}\n127.0.0.1 {NAME}\n2001:db8::3 {NAME}\n"),
    );
    let me = std::env::current_exe().expect("the test binary");
    let output = run_bounded(
        command("unshare")
            .args(["-nm", "--", "sh", "-c", SETUP, "sh"])
            .arg(me)
            .args(["--exact", &format!("fetch_connect::{name}"), "--nocapture"])
            .env(INSIDE, "1")
            .env("HOSTS_FILE", dir.path().join("hosts")),
        STEP * 3,
    );
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "inside the namespace: {all}");
    assert!(
        all.contains("1 passed"),
        "the test did not run inside: {all}"
    );
    false
}

/// Runs `sockdemo -v fetch ARGS` in `dir` and says how long it took.
fn timed_fetch(dir: &Dir, args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let mut all = vec!["-v"];
    all.extend(args);
    let output = dir.fetch(&all);
    (output, started.elapsed())
}

/// The lines of `-v` that start a connection, in order.
fn attempts(output: &Output) -> Vec<String> {
    text(&output.stderr)
        .lines()
        .filter_map(|line| line.rsplit_once("connecting to "))
        .filter(|(_, addr)| addr.parse::<SocketAddr>().is_ok())
        .map(|(_, addr)| addr.to_owned())
        .collect()
}

#[test]
fn a_black_holed_ipv6_address_costs_a_quarter_second_not_the_timeout() {
    if !inside_namespace("a_black_holed_ipv6_address_costs_a_quarter_second_not_the_timeout") {
        return;
    }
    let server = Scripted::start(|_| ok_response());
    let url = format!("http://{NAME}:{}/f", server.addr.port());
    let dir = Dir::empty();
    // Default timeouts: before Happy Eyeballs, this waited out the 10 s
    // connect timeout on the IPv6 address.
    let (output, took) = timed_fetch(&dir, &[&url, "-o", "out.bin"]);
    let stderr = text(&output.stderr);
    assert_eq!(code(&output), 0, "{stderr}");
    assert_eq!(dir.read("out.bin"), BODY.as_bytes());
    let port = server.addr.port();
    assert_eq!(
        attempts(&output),
        [format!("[2001:db8::2]:{port}"), format!("127.0.0.1:{port}")],
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("connected to 127.0.0.1:{port}")),
        "{stderr}"
    );
    eprintln!("fetched past a black-holed IPv6 address in {took:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}: {stderr}");
}

#[test]
fn ipv4_only_never_tries_the_ipv6_address() {
    if !inside_namespace("ipv4_only_never_tries_the_ipv6_address") {
        return;
    }
    let server = Scripted::start(|_| ok_response());
    let port = server.addr.port();
    let url = format!("http://{NAME}:{port}/f");
    let dir = Dir::empty();
    let (output, _) = timed_fetch(&dir, &["-4", &url, "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(attempts(&output), [format!("127.0.0.1:{port}")]);
}

#[test]
fn ipv6_only_races_the_ipv6_addresses_within_one_connect_timeout() {
    if !inside_namespace("ipv6_only_races_the_ipv6_addresses_within_one_connect_timeout") {
        return;
    }
    let server = Scripted::start(|_| ok_response());
    let port = server.addr.port();
    let url = format!("http://{NAME}:{port}/f");
    let dir = Dir::empty();
    let (output, took) = timed_fetch(
        &dir,
        &["-6", &url, "--connect-timeout", "2s", "--retry", "0"],
    );
    let stderr = text(&output.stderr);
    assert_eq!(code(&output), 28, "{stderr}");
    assert_eq!(
        attempts(&output),
        [
            format!("[2001:db8::2]:{port}"),
            format!("[2001:db8::3]:{port}")
        ],
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "timed out connecting to {NAME} port {port}: connecting (--connect-timeout) did not complete within 2s"
        )),
        "{stderr}"
    );
    // One limit for the race: a limit for each address would take 4 s.
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(took < Duration::from_millis(3500), "{took:?}");
    assert!(server.requests().is_empty());
}
