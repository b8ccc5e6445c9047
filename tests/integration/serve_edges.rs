//! `sockdemo serve` at the edges of its resources and of its life: probes
//! that connect and close, idle clients at shutdown, threads that cannot
//! start, long unfinished lines, the address-space limit and the memory
//! control group.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::support::talk::Client;
use crate::support::{STEP, Server, wait_for};

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
