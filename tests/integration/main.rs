//! The end-to-end tests: the real binary (`CARGO_BIN_EXE_sockdemo`) against
//! servers and clients started here on loopback. One test crate, so one
//! binary to build and link.
//!
//! Layout:
//! - `support/` is what every test uses, and the only place it is written:
//!   [`support::sockdemo`] and [`support::tutorial`] (commands with a
//!   clean environment), [`support::run_bounded`] (run with a deadline),
//!   [`support::Process`] and [`support::Server`] (killed when dropped),
//!   [`support::free_addr`], [`support::wait_for`],
//!   [`support::precondition`]; `support::talk` (a raw greeting client),
//!   `support::scripted` (an HTTP and HTTPS server playing scripted
//!   actions), `support::proxy` (an HTTP proxy: `CONNECT` tunnels and
//!   absolute-form requests), `support::ranged` (a file server honouring
//!   `Range` and `If-Range` that cuts, resets or stalls on cue),
//!   `support::tls` (a private CA), `support::dir` (a working directory for
//!   downloads), `support::pty` (a pseudo-terminal for a child's stderr),
//!   `support::other_user` (`nobody`, a watcher acting as
//!   `nobody`, `fs.protected_symlinks` turned on for a test).
//! - One module per area below. To add one, create `tests/integration/NAME.rs`,
//!   declare it here with `mod NAME;`, and `use crate::support::...`.
//!
//! Every blocking step is bounded (by [`support::STEP`] unless a test says
//! otherwise), and tests synchronise on events: a line read from a child,
//! a channel, a socket's state.
//!
//! A test whose precondition is missing (an IPv6 loopback, python3, the
//! prlimit tool, a high enough open-file limit, root with setpriv, cgroup v1
//! hierarchies to make groups in, root to make a network namespace) fails and
//! says so. To skip such tests instead, name their preconditions in
//! `SOCKDEMO_TEST_SKIP`, comma-separated: `ipv6`, `python`, `prlimit`, `nofile`,
//! `root`, `cgroup`, `netns`.

mod client;
mod client_modes;
mod fetch;
mod fetch_auth;
mod fetch_connect;
mod fetch_files;
mod fetch_habits;
mod fetch_many;
mod fetch_names;
mod fetch_proxy;
mod fetch_resume;
mod fetch_retry;
mod fetch_tls;
mod fetch_write_out;
mod interop;
mod layout;
mod messages;
mod real;
mod rust_version;
mod serve;
mod serve_edges;
mod serve_faults;
mod serve_limits;
mod support;
