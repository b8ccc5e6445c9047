//! The command line: every subcommand, flag and default. This file holds the
//! subcommands and the flags of `serve` and `client`; `fetch`'s many flags
//! have a module of their own, and so do the completion scripts and the
//! manual page (`manual`).
//!
//! The clap types stop here. Each subcommand's arguments are turned once into
//! the plain `Config` of the module that does the work (for `fetch`, one part
//! for each module that uses it), so the rest of the code never sees clap.
//! The shell completion scripts and the man page are generated from the same
//! definitions, so they cannot drift from `--help`.

mod fetch;
mod manual;

use std::ffi::OsString;
use std::io::{self, Write};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;

use crate::address::{self, Address};
use crate::duration::{self, limit};
use crate::exit::{Code, fail_with};
use crate::{client, server};
pub use fetch::FetchArgs;
use fetch::fetch_help;
pub use manual::{completions, man_page};

/// The three programs of a classic socket-programming tutorial, done properly:
/// a thread-per-connection greeting server, its client, and a raw HTTP fetcher.
#[derive(Debug, Parser)]
#[command(name = "sockdemo", version, about, propagate_version = true)]
#[command(after_help = exit_codes_help())]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,

    /// Log more: -v for debug, -vv for trace (RUST_LOG overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Log less: warnings and errors only (for fetch: errors only, nothing on stdout).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the greeting server: "Welcome!", then "Hello, NAME!" for each message NAME.
    #[command(
        after_help = "Examples:\n  sockdemo serve\n  sockdemo serve --listen [::]:9999 --delay 1\n  sockdemo serve --listen localhost:0 --max-connections 100 --idle-timeout 30s"
    )]
    Serve(ServeArgs),
    /// Talk to a greeting server like the tutorial's client, from stdin, or as a load generator.
    #[command(
        after_help = "Examples:\n  sockdemo client\n  sockdemo client --connect localhost:9999 Alice Bob\n  sockdemo client --stdin < names.txt\n  sockdemo client --connections 1000 --rounds 10\n  sockdemo client --connections 100 --duration 30s --json --histogram latency.hgrm"
    )]
    Client(ClientArgs),
    /// Download a page over HTTP/1.1 or HTTPS: print the response head, save the body.
    #[command(after_help = fetch_help())]
    Fetch(Box<FetchArgs>),
    /// Print the completion script for a shell.
    #[command(
        after_help = "Examples:\n  sockdemo completions bash > ~/.local/share/bash-completion/completions/sockdemo\n  sockdemo completions zsh > ~/.zfunc/_sockdemo\n  sockdemo completions fish > ~/.config/fish/completions/sockdemo.fish"
    )]
    Completions(CompletionsArgs),
    /// Print the manual page, in roff.
    #[command(after_help = "Example:\n  sockdemo man > ~/.local/share/man/man1/sockdemo.1")]
    Man,
}

/// `sockdemo serve`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on: IP:PORT (`[::]:9999` for IPv6), HOST:PORT, or a
    /// port alone (on 127.0.0.1); port 0 picks a free port.
    #[arg(short, long, value_name = "ADDR", default_value = "127.0.0.1:9999", value_parser = address::parse)]
    pub listen: Address,

    /// Sleep this long after each read, like the tutorial's server (0: none).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, default_value = "0", value_parser = duration::parse)]
    pub delay: Duration,

    /// Length of the listen queue (the kernel caps it at net.core.somaxconn).
    #[arg(long, value_name = "N", default_value = "4096")]
    pub backlog: NonZeroUsize,

    /// Clients served at once; one more gets "Busy, try again later" and is
    /// closed. Lowered at start to what the process can hold (a warning says so).
    #[arg(long, value_name = "N", default_value_t = NonZeroUsize::new(server::DEFAULT_MAX_CONNECTIONS).expect("not zero"))]
    pub max_connections: NonZeroUsize,

    /// Close a client that sends nothing, or reads nothing, for this long (0: never).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, default_value = "5m", value_parser = duration::parse)]
    pub idle_timeout: Duration,

    /// On SIGINT or SIGTERM, let live connections finish for this long, then close them.
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, default_value = "5s", value_parser = duration::parse)]
    pub grace: Duration,
}

/// `sockdemo client`
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Server to connect to: IP:PORT, HOST:PORT (each address tried in turn),
    /// or a port alone (on 127.0.0.1).
    #[arg(short, long, value_name = "ADDR", default_value = "127.0.0.1:9999", value_parser = address::parse)]
    pub connect: Address,

    /// Names to send, one message each, as the tutorial's client does.
    #[arg(value_name = "NAME", default_values = ["Michael", "Tracy", "Sarah"], conflicts_with = "stdin")]
    pub names: Vec<String>,

    /// Give up on a reply after this long (0: wait forever).
    #[arg(short, long, value_name = "DURATION", allow_hyphen_values = true, default_value = "10s", value_parser = duration::parse)]
    pub timeout: Duration,

    /// Send each line of standard input and print each reply; `exit` or end of input ends it.
    #[arg(long)]
    pub stdin: bool,

    /// Load mode: open this many connections at once.
    #[arg(long, value_name = "N", conflicts_with = "stdin")]
    pub connections: Option<NonZeroUsize>,

    /// Load mode: round trips per connection (at most 1000000000).
    #[arg(long, value_name = "M", default_value = "10", requires = "connections",
          value_parser = clap::value_parser!(u64).range(1..=client::MAX_ROUNDS))]
    pub rounds: u64,

    /// Load mode: do round trips for this long instead of a number of rounds.
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, requires = "connections", conflicts_with = "rounds", value_parser = duration::parse)]
    pub duration: Option<Duration>,

    /// Load mode: print the summary as one JSON object (fields in the README).
    #[arg(long, requires = "connections")]
    pub json: bool,

    /// Load mode: write the latency distribution to FILE, in microseconds, in
    /// HdrHistogram's percentile text format.
    #[arg(long, value_name = "FILE", requires = "connections")]
    pub histogram: Option<PathBuf>,
}

/// Parses the process's command line, accepting curl's spelling `-C -`.
pub fn parse() -> Cli {
    Cli::parse_from(curl_spellings(std::env::args_os()))
}

/// curl's `-C -` ("continue from where the file ends") is sockdemo's `-C`:
/// the `-` is dropped before clap sees the arguments. An optional value of
/// `-C` would not do: `-C URL` would take the URL as its value.
fn curl_spellings(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut kept = Vec::new();
    let mut after_continue = false;
    for arg in args {
        if after_continue && arg == "-" {
            after_continue = false;
            continue;
        }
        after_continue = arg == "-C" || arg == "--continue";
        kept.push(arg);
    }
    kept
}

/// `sockdemo completions`
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_name = "SHELL")]
    pub shell: Shell,
}

impl Cli {
    /// The log level the flags ask for, before `RUST_LOG` has its say.
    pub fn log_level(&self) -> log::LevelFilter {
        match (self.quiet, self.verbose, &self.command) {
            // -v asks for the logs, -s for no messages: -sv logs, as curl -sv does.
            (_, 0, Command::Fetch(args)) if args.silent && !args.show_error => {
                log::LevelFilter::Off
            }
            (true, _, Command::Fetch(_)) => log::LevelFilter::Error,
            (_, 0, Command::Fetch(args)) if args.silent => log::LevelFilter::Error,
            (true, _, _) => log::LevelFilter::Warn,
            (false, 0, _) => log::LevelFilter::Info,
            (false, 1, _) => log::LevelFilter::Debug,
            (false, _, _) => log::LevelFilter::Trace,
        }
    }
}

impl Cli {
    /// Whether a failure is told in its one error line: always, but for
    /// `fetch -s` without `-S`, which says nothing at all.
    pub fn shows_errors(&self) -> bool {
        !matches!(&self.command, Command::Fetch(args) if args.silent && !args.show_error)
    }
}

impl ServeArgs {
    /// The server's configuration.
    pub fn config(&self) -> server::Config {
        server::Config {
            listen: self.listen.clone(),
            delay: limit(self.delay),
            backlog: self.backlog.get(),
            max_connections: self.max_connections.get(),
            idle_timeout: limit(self.idle_timeout),
            grace: self.grace,
        }
    }
}

impl ClientArgs {
    /// The client's configuration.
    pub fn config(&self) -> client::Config {
        let mode = if self.stdin {
            client::Mode::Stdin
        } else if let Some(connections) = self.connections {
            client::Mode::Load(client::Load {
                connections: connections.get(),
                run: match self.duration {
                    Some(duration) => client::Run::For(duration),
                    None => client::Run::Rounds(self.rounds),
                },
                json: self.json,
                histogram: self.histogram.clone(),
            })
        } else {
            client::Mode::Names(self.names.clone())
        };
        client::Config {
            connect: self.connect.clone(),
            timeout: limit(self.timeout),
            mode,
        }
    }
}

/// Prints generated text on stdout. A reader that has gone (`| head`) is a
/// quiet end, as for the client.
pub fn write_stdout(text: &[u8]) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(text).and_then(|()| stdout.flush()) {
        Err(err) if err.kind() != io::ErrorKind::BrokenPipe => Err(fail_with(
            Code::WriteError,
            "writing to standard output",
            err,
        )),
        _ => Ok(()),
    }
}

pub(crate) fn exit_codes_help() -> String {
    let mut text = String::from("Exit codes (curl's numbers where the meaning is the same):\n");
    for code in Code::ALL {
        text.push_str(&format!("  {:>2}  {}\n", code as u8, code.meaning()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_match_the_tutorial() {
        let cli = Cli::parse_from(["sockdemo", "client"]);
        let Command::Client(args) = cli.command else {
            panic!("not client")
        };
        assert_eq!(args.names, ["Michael", "Tracy", "Sarah"]);
        assert_eq!(
            args.connect,
            Address::Ip("127.0.0.1:9999".parse().expect("address"))
        );
        let cli = Cli::parse_from(["sockdemo", "serve"]);
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        let config = args.config();
        assert_eq!(config.delay, None);
        assert_eq!(config.idle_timeout, Some(Duration::from_secs(300)));
    }

    #[test]
    fn curls_continue_spelling_is_accepted() {
        let args = |list: &[&str]| {
            curl_spellings(list.iter().map(OsString::from))
                .into_iter()
                .map(|arg| arg.into_string().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            args(&["s", "fetch", "-C", "-", "u"]),
            ["s", "fetch", "-C", "u"]
        );
        assert_eq!(args(&["s", "fetch", "-C", "u"]), ["s", "fetch", "-C", "u"]);
        assert_eq!(
            args(&["s", "fetch", "u", "-o", "-"]),
            ["s", "fetch", "u", "-o", "-"]
        );
        let cli = Cli::parse_from(curl_spellings(
            ["sockdemo", "fetch", "--continue", "-", "example.com"].map(OsString::from),
        ));
        let Command::Fetch(args) = cli.command else {
            panic!("not fetch")
        };
        assert!(args.continue_partial);
        assert_eq!(args.target, "example.com");
    }

    #[test]
    fn load_mode_flags_are_checked() {
        let parse = |args: &[&str]| Cli::try_parse_from([&["sockdemo", "client"], args].concat());
        assert!(parse(&["--connections", "2", "--duration", "1s"]).is_ok());
        let both = parse(&["--connections", "2", "--rounds", "3", "--duration", "1s"]);
        assert_eq!(both.expect_err("both").exit_code(), 2);
        let too_many = parse(&["--connections", "1", "--rounds", "1000000001"]);
        assert_eq!(too_many.expect_err("rounds").exit_code(), 2);
        assert!(parse(&["--connections", "1", "--rounds", "1000000000"]).is_ok());
        assert_eq!(parse(&["--json"]).expect_err("needs load").exit_code(), 2);
        let long = parse(&["--timeout", "10000000000000000000"]);
        assert_eq!(long.expect_err("too long").exit_code(), 2);
        assert_eq!(
            parse(&["--connect", ":9999"])
                .expect_err("no host")
                .exit_code(),
            2
        );
    }

    #[test]
    fn quiet_fetch_logs_errors_only() {
        let cli = Cli::parse_from(["sockdemo", "fetch", "-q", "example.com"]);
        assert_eq!(cli.log_level(), log::LevelFilter::Error);
        let cli = Cli::parse_from(["sockdemo", "-q", "serve"]);
        assert_eq!(cli.log_level(), log::LevelFilter::Warn);
        let cli = Cli::parse_from(["sockdemo", "serve", "-vv"]);
        assert_eq!(cli.log_level(), log::LevelFilter::Trace);
        assert!(cli.shows_errors());
        let cli = Cli::parse_from(["sockdemo", "fetch", "-s", "example.com"]);
        assert_eq!(cli.log_level(), log::LevelFilter::Off);
        assert!(!cli.shows_errors());
        let cli = Cli::parse_from(["sockdemo", "fetch", "-sS", "example.com"]);
        assert_eq!(cli.log_level(), log::LevelFilter::Error);
        assert!(cli.shows_errors());
        let cli = Cli::parse_from(["sockdemo", "fetch", "-sv", "example.com"]);
        assert_eq!(cli.log_level(), log::LevelFilter::Debug, "as curl -sv");
        assert!(
            !cli.shows_errors(),
            "the log tells, the error line does not"
        );
    }
}
