//! sockdemo: the three programs of a classic socket-programming tutorial,
//! done properly, as one binary.
//!
//! | module | owns | tutorial counterpart |
//! |---|---|---|
//! | [`cli`] | the command line, turned into each module's `Config` | the scripts' arguments |
//! | `greeting` | the greeting protocol's framing: bytes in, replies out (pure) | `tcplink`'s `recv`/`send` loop |
//! | `server` | `sockdemo serve`: listener, accept loop, a thread per connection | `seed_server.py` |
//! | `client` | `sockdemo client`: the tutorial's client, stdin mode, load mode | `seed_client.py` |
//! | [`http`] | HTTP/1.1 for a client (pure, sans-IO): the request head, response parsing, body framing and codings, redirects, ranges, when a connection may be reused | the request string, `data.split(b'\r\n\r\n', 1)` |
//! | `fetch` | `sockdemo fetch`: connect, request, stream the body to a file | `seed_fetch.py` |
//! | [`exit`] | exit codes (curl's numbers) and the error that carries one | — |
//! | `human` | numbers as people read them in messages: counts `15,900`, sizes `1.5 KiB`, durations `1.5s` | — |
//! | `duration` | the DURATION syntax of the command line | — |
//! | `address` | the ADDR syntax of `--listen` and `--connect`: IP, host name, bare port | the scripts' `('127.0.0.1', 9999)` |
//! | [`logging`] | log setup: `-v`/`-q` on top of `RUST_LOG`; a command's plain `sockdemo: warning:` lines or a log's timestamped records | the scripts' `print`s |
//! | `platform` | the Linux-only calls, and the only `unsafe` code: the open-file limit, connecting without blocking, early writeback, the limits of the capacity rule (memory included, and the malloc arena bound), a socket's unacknowledged and unread bytes, file locks, signal handling, the terminal's echo for a password | — |
//! | `capacity` | how many connection threads the process can hold, threads, files, address space and memory counted (pure rule) | — |
//!
//! The library is the binary's, not a general-purpose crate. What is public is what
//! other crates of this repository use: [`cli`], [`logging`], [`exit`] and [`run`] by
//! `main.rs`; [`http`] by the fuzz targets (`fuzz/`); [`open_files`] by the integration
//! tests, which raise their own limit the way the server does. Every other module is
//! `pub(crate)`; `cargo doc --document-private-items` shows them all.

#![deny(missing_docs)]

pub(crate) mod address;
pub(crate) mod capacity;
pub mod cli;
pub(crate) mod client;
pub(crate) mod duration;
pub mod exit;
pub(crate) mod fetch;
pub(crate) mod greeting;
pub mod http;
pub(crate) mod human;
pub mod logging;
pub(crate) mod platform;
pub(crate) mod server;

/// Raising the open-file limit, as the server and load mode do (used by the tests).
pub use platform::open_files;

use cli::{Cli, Command};

/// Runs the subcommand the command line asked for.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Serve(args) => server::run(&args.config()),
        Command::Client(args) => client::run(&args.config()),
        Command::Fetch(args) => fetch::run(args.config(cli.quiet)),
        Command::Completions(args) => cli::write_stdout(&cli::completions(args.shell)),
        Command::Man => cli::write_stdout(&cli::man_page()),
    }
}
