//! `sockdemo serve` at the edges of its resources and of its life: probes
//! that connect and close, idle clients at shutdown, threads that cannot
//! start, long unfinished lines, the address-space limit and the memory
//! control group.

use std::fs;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::talk::Client;
use crate::support::{STEP, Server, lowered_to, precondition, wait_for};

/// Connects until a client is welcomed rather than told `Busy`; returns how
/// long that took.
fn time_until_welcomed(addr: SocketAddr) -> Duration {
    let start = Instant::now();
    wait_for("a client to be welcomed", STEP, || {
        let mut client = Client::connect(addr);
        let mut first = [0u8; 8];
        client.stream.read_exact(&mut first).ok()?;
        (&first == b"Welcome!").then_some(())
    });
    start.elapsed()
}

#[test]
fn a_probe_that_connects_and_closes_frees_its_place_at_once() {
    let server = Server::start(&["--max-connections", "1"]);
    for reset in [false, true, false, true] {
        // As `nc -z` or a load balancer's TCP check: connect, close, never
        // read; half of them with a reset (SO_LINGER 0).
        let probe = TcpStream::connect_timeout(&server.addr, STEP).expect("connect");
        if reset {
            socket2::SockRef::from(&probe)
                .set_linger(Some(Duration::ZERO))
                .expect("SO_LINGER");
        }
        drop(probe);
        // The lingering close used to hold the place for its full 2 s.
        let waited = time_until_welcomed(server.addr);
        assert!(
            waited < Duration::from_millis(1000),
            "a probe held the only place for {waited:?}"
        );
    }
}

#[test]
fn idle_clients_close_at_once_at_the_end_of_the_grace_period() {
    let mut server = Server::start(&["--grace", "1s"]);
    let mut idle: Vec<Client> = (0..3).map(|_| Client::greeted(server.addr)).collect();
    // One that has talked and gone quiet, as a kept-alive client does.
    idle[0].ask(b"Ann\n", b"Hello, Ann!\n");
    server.process.signal(libc::SIGTERM);
    server.wait_for_log("grace period over; closing live connections: 3", STEP);
    let over = Instant::now();
    for client in &mut idle {
        client.expect_closed();
    }
    let status = server.wait_exit(STEP);
    let took = over.elapsed();
    assert!(status.success(), "{status:?}");
    // Idle connections used to stay blocked in their read until the main
    // thread gave up on them, 3 s after the grace period.
    assert!(
        took < Duration::from_millis(1500),
        "exited {took:?} after the grace period"
    );
    let rest: Vec<String> = server.stderr.try_iter().collect();
    assert!(
        !rest.iter().any(|line| line.contains("still closing")),
        "{rest:#?}"
    );
}

/// A control group of our own in a cgroup v1 hierarchy, removed when
/// dropped (after the processes in it are gone: declare it before them).
struct Cgroup {
    dir: PathBuf,
}

impl Cgroup {
    /// Makes `/sys/fs/cgroup/CONTROLLER/sockdemo-test-PID-NAME`. False if
    /// the test is to be skipped.
    fn new(controller: &str, name: &str) -> Option<Cgroup> {
        let root = PathBuf::from(format!("/sys/fs/cgroup/{controller}"));
        let dir = root.join(format!("sockdemo-test-{}-{name}", std::process::id()));
        let needs =
            format!("a cgroup v1 {controller} hierarchy at {root:?} to make groups in (root)");
        if !precondition("cgroup", &needs, || fs::create_dir(&dir).is_ok()) {
            return None;
        }
        Some(Cgroup { dir })
    }

    fn write(&self, file: &str, value: &str) {
        let path = self.dir.join(file);
        fs::write(&path, value).unwrap_or_else(|err| panic!("writing {value} to {path:?}: {err}"));
    }

    fn read(&self, file: &str) -> String {
        let path = self.dir.join(file);
        fs::read_to_string(&path).unwrap_or_else(|err| panic!("reading {path:?}: {err}"))
    }

    /// `sockdemo ARGS`, moved into this group before it starts.
    fn sockdemo(&self, args: &[&str]) -> Command {
        let mut command = crate::support::command("sh");
        command
            .arg("-c")
            .arg(r#"echo $$ > "$1/cgroup.procs" && shift && exec "$@""#)
            .arg("sh")
            .arg(&self.dir)
            .arg(env!("CARGO_BIN_EXE_sockdemo"))
            .args(args);
        command
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // The group is removed once its last process is reaped; the kernel
        // may take a moment after that.
        let deadline = Instant::now() + STEP;
        while fs::remove_dir(&self.dir).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn a_client_whose_thread_cannot_start_is_told_busy_and_counted() {
    let Some(group) = Cgroup::new("pids", "threads") else {
        return;
    };
    let mut server = Server::start_with(&mut group.sockdemo(&["serve", "--listen", "127.0.0.1:0"]));
    let mut served = Client::greeted(server.addr);
    // No thread more: the capacity rule read no limit at start, so only the
    // failed start can turn the next clients away.
    let current = group.read("pids.current");
    group.write("pids.max", current.trim());
    for _ in 0..3 {
        let mut turned_away = Client::connect(server.addr);
        turned_away.expect(b"Busy, try again later\n");
        turned_away.expect_closed();
    }
    server.wait_for_log("cannot start a thread for 127.0.0.1:", STEP);
    served.ask(b"Ann\n", b"Hello, Ann!\n");
    group.write("pids.max", "max");
    drop(served);
    server.process.signal(libc::SIGTERM);
    server.wait_for_log(
        "could not start a thread for 2 more connections since the last report",
        STEP,
    );
    server.wait_for_log("connections served: 1, refused: 3, most at once: 1", STEP);
    assert!(server.wait_exit(STEP).success());
}

/// `sockdemo ARGS` under `ulimit -v KIB` (what RLIMIT_AS is set with in a
/// shell; `prlimit --as` is not used, as the brief for these tests has it).
fn under_address_space_limit(kib: u64, args: &[&str]) -> Command {
    let mut command = crate::support::command("sh");
    command
        .arg("-c")
        .arg(format!(r#"ulimit -v {kib} && exec "$@""#))
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_sockdemo"))
        .args(args);
    command
}

/// About 200 MB: room for a few hundred connection threads, where the
/// server used to abort after a few hundred (glibc's arenas alone reserved
/// most of it).
const LOW_ADDRESS_SPACE_KIB: u64 = 200_000;

#[test]
fn under_an_address_space_limit_the_server_lowers_its_capacity_and_says_busy() {
    let server = Server::start_with(&mut under_address_space_limit(
        LOW_ADDRESS_SPACE_KIB,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--max-connections",
            "30000",
        ],
    ));
    let warning = server.wait_for_log("--max-connections 30,000 lowered to ", STEP);
    assert!(
        warning.contains(": the address-space limit (ulimit -v) allows about "),
        "{warning}"
    );
    let allowed = lowered_to(&warning);
    assert!((50..1000).contains(&allowed), "{warning}");

    let mut served: Vec<Client> = (0..allowed).map(|_| Client::greeted(server.addr)).collect();
    for _ in 0..20 {
        let mut extra = Client::connect(server.addr);
        extra.expect(b"Busy, try again later\n");
        extra.expect_closed();
    }
    // Every admitted client has its thread, and each holds a long line of
    // invalid UTF-8 at once, whose reply is three times as long: each gets
    // its reply, or, if no memory is left for it, the error line; the
    // server goes on either way.
    let line = vec![0xff_u8; 60_000];
    for client in &mut served {
        client.send(b"\n");
        client.send(&line);
    }
    let mut reply = b"Hello, !\n".to_vec();
    for _ in 0..line.len() {
        reply.splice(7..7, "\u{FFFD}".bytes());
    }
    let (mut answered, mut refused) = (0, 0);
    for client in &mut served {
        client.expect(b"Hello, !\n");
        client.send(b"\n");
        let mut first = [0u8; 7];
        client.stream.read_exact(&mut first).expect("a reply");
        if &first == b"Error: " {
            client.expect(b"out of memory\n");
            refused += 1;
        } else {
            client.expect(&reply[7..]);
            answered += 1;
        }
    }
    assert!(answered > 0, "answered {answered}, refused {refused}");
    drop(served);
    time_until_welcomed(server.addr);
}

#[test]
fn load_mode_under_an_address_space_limit_exits_1_naming_it() {
    let output = crate::support::run_bounded(
        &mut under_address_space_limit(
            LOW_ADDRESS_SPACE_KIB,
            &[
                "client",
                "--connect",
                "127.0.0.1:9",
                "--connections",
                "2000",
            ],
        ),
        STEP,
    );
    let stderr = crate::support::text(&output.stderr);
    assert_eq!(crate::support::code(&output), 1, "{stderr}");
    assert!(
        stderr.starts_with(
            "sockdemo: error: 2,000 connections need a thread and a socket each, more than this process can hold: the address-space limit (ulimit -v) allows about "
        ),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn in_a_memory_group_the_server_says_busy_instead_of_being_killed() {
    let Some(group) = Cgroup::new("memory", "limit") else {
        return;
    };
    group.write("memory.limit_in_bytes", &(30 << 20).to_string());
    let server = Server::start_with(&mut group.sockdemo(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--max-connections",
        "30000",
    ]));
    let warning = server.wait_for_log("--max-connections 30,000 lowered to ", STEP);
    assert!(
        warning.contains(": the control group's memory limit allows about "),
        "{warning}"
    );
    let allowed = lowered_to(&warning);
    assert!((50..1000).contains(&allowed), "{warning}");
    // About 1,000 clients, where 30 MB used to be enough for some 600
    // before the kernel killed the server, and every client with it.
    let mut served = Vec::new();
    let mut busy = 0;
    for _ in 0..1000 {
        let mut client = Client::connect(server.addr);
        let mut first = [0u8; 8];
        client.stream.read_exact(&mut first).expect("a first line");
        match &first {
            b"Welcome!" => served.push(client),
            b"Busy, tr" => busy += 1,
            other => panic!("{:?}", String::from_utf8_lossy(other)),
        }
    }
    assert_eq!((served.len(), busy), (allowed, 1000 - allowed));
    for client in &mut served {
        client.ask(b"Ann\n", b"Hello, Ann!\n");
    }
    let oom = group.read("memory.oom_control");
    assert!(oom.lines().any(|line| line == "oom_kill 0"), "{oom}");
    drop(served);
    time_until_welcomed(server.addr);
}

#[test]
fn in_a_memory_group_nearly_full_of_long_lines_new_clients_are_told_busy() {
    let Some(group) = Cgroup::new("memory", "pressure") else {
        return;
    };
    group.write("memory.limit_in_bytes", &(30 << 20).to_string());
    let server = Server::start_with(&mut group.sockdemo(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--max-connections",
        "30000",
    ]));
    let warning = server.wait_for_log("--max-connections 30,000 lowered to ", STEP);
    let allowed = lowered_to(&warning);
    // Clients that each hold an unfinished line of 64,000 bytes, which the
    // capacity rule does not count, until a new client is told busy.
    let line = [b"\n".as_slice(), &[b'a'; 64_000]].concat();
    let mut holding = Vec::new();
    let turned_away = loop {
        assert!(
            holding.len() < allowed,
            "all {allowed} places taken by long lines, and nobody told busy"
        );
        let mut client = Client::connect(server.addr);
        let mut first = [0u8; 8];
        client.stream.read_exact(&mut first).expect("a first line");
        match &first {
            b"Welcome!" => {
                client.send(&line);
                client.expect(b"Hello, !\n");
                holding.push(client);
            }
            b"Busy, tr" => break holding.len(),
            other => panic!("{:?}", String::from_utf8_lossy(other)),
        }
    };
    assert!(turned_away > 50, "told busy after only {turned_away}");
    server.wait_for_log("the control group's memory is nearly used up", STEP);
    let oom = group.read("memory.oom_control");
    assert!(oom.lines().any(|line| line == "oom_kill 0"), "{oom}");
    // Once the lines are gone, there is room again.
    drop(holding);
    time_until_welcomed(server.addr);
}
