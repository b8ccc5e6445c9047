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
use crate::{client, logging, server};
pub use fetch::FetchArgs;
use fetch::fetch_help;
pub use manual::{completions, man_page};

/// The three programs of a classic socket-programming tutorial, done properly:
/// a thread-per-connection greeting server, its client, and a raw HTTP fetcher.
#[derive(Debug, Parser)]
#[command(name = "sockdemo", version, about, propagate_version = true)]
#[command(after_help = exit_codes_help(&Code::ALL))]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,

    /// Log more, timestamped: -v for debug (fetch also shows the heads it sends
    /// and receives, as "> " and "< " lines), -vv for trace (RUST_LOG overrides).
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
    #[command(after_help = with_exit_codes(
        "Examples:\n  sockdemo serve\n  sockdemo serve --listen [::]:9999 --delay 1\n  sockdemo serve --listen localhost:0 --max-connections 100 --idle-timeout 30s",
        SERVE_CODES,
    ))]
    Serve(ServeArgs),
    /// Talk to a greeting server like the tutorial's client, from stdin, or as a load generator.
    #[command(after_help = with_exit_codes(
        "Examples:\n  sockdemo client\n  sockdemo client --connect localhost:9999 Alice Bob\n  sockdemo client --stdin < names.txt\n  sockdemo client --connections 1000 --rounds 10\n  sockdemo client --connections 100 --duration 30s --json --histogram latency.hgrm",
        CLIENT_CODES,
    ))]
    Client(ClientArgs),
    /// Download a page over HTTP/1.1 or HTTPS: print the response head, save the body.
    #[command(after_help = fetch_help())]
    Fetch(Box<FetchArgs>),
    /// Print the completion script for a shell.
    #[command(after_help = with_exit_codes(
        "Examples (the directories may not exist yet on a new account):\n  mkdir -p ~/.local/share/bash-completion/completions\n  sockdemo completions bash > ~/.local/share/bash-completion/completions/sockdemo\n  mkdir -p ~/.zfunc  # and fpath+=(~/.zfunc) in ~/.zshrc, before compinit\n  sockdemo completions zsh > ~/.zfunc/_sockdemo\n  mkdir -p ~/.config/fish/completions\n  sockdemo completions fish > ~/.config/fish/completions/sockdemo.fish",
        PRINT_CODES,
    ))]
    Completions(CompletionsArgs),
    /// Print the manual page, in roff.
    #[command(after_help = with_exit_codes(
        "Example:\n  mkdir -p ~/.local/share/man/man1\n  sockdemo man > ~/.local/share/man/man1/sockdemo.1",
        PRINT_CODES,
    ))]
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

    /// On SIGINT or SIGTERM, let live connections finish for this long, then close them (idle
    /// ones at once, the others within 2.5 s).
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
///
/// A usage error is two lines on stderr, as every other error is one:
/// `sockdemo: error: ...`, then where to read more; the process exits 2.
/// `--help`, `--version`, and no subcommand at all (the help, on stderr)
/// are clap's own.
pub fn parse() -> Cli {
    let args = curl_spellings(std::env::args_os());
    match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) if shows_help(&err) => err.exit(),
        Err(err) => {
            let command = subcommand_of(&args);
            eprint!("{}", usage_error(&err.render().to_string(), &command));
            std::process::exit(Code::Usage as i32)
        }
    }
}

/// Whether clap's "error" is help or a version to print, not a mistake.
fn shows_help(err: &clap::Error) -> bool {
    use clap::error::ErrorKind;
    matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    )
}

/// The command whose `--help` tells more: `sockdemo fetch`, or `sockdemo`
/// when no subcommand was named.
fn subcommand_of(args: &[OsString]) -> String {
    let command = <Cli as clap::CommandFactory>::command();
    args.iter()
        .skip(1)
        .find_map(|arg| {
            command
                .get_subcommands()
                .find(|sub| arg.to_str() == Some(sub.get_name()))
        })
        .map_or_else(
            || "sockdemo".to_owned(),
            |sub| format!("sockdemo {}", sub.get_name()),
        )
}

/// clap's rendering of a usage error (`error: ...`, a tip, the usage, a
/// pointer to `--help`, over several lines) as sockdemo's: the error and
/// its tips on one line, then a line saying where to read more.
fn usage_error(rendered: &str, command: &str) -> String {
    let mut paragraphs = rendered.trim_end().split("\n\n");
    let one_line = |paragraph: &str| {
        paragraph
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let first = paragraphs.next().unwrap_or_default();
    let mut message = one_line(first.strip_prefix("error: ").unwrap_or(first));
    for tip in paragraphs.filter_map(|paragraph| paragraph.trim_start().strip_prefix("tip: ")) {
        message.push_str("; ");
        message.push_str(&one_line(tip));
    }
    format!("sockdemo: error: {message}\nsockdemo: try '{command} --help' for more information\n")
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
    /// What the flags ask of the log: the level, and timestamped lines with
    /// `-v` and for `serve`, whose log is a server's log.
    pub fn logging(&self) -> logging::Settings {
        let style = match (&self.command, self.verbose) {
            (Command::Serve(_), _) | (_, 1..) => logging::Style::Timestamped,
            _ => logging::Style::Plain,
        };
        logging::Settings {
            level: self.log_level(),
            style,
        }
    }

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

/// The exit codes of `serve`: it stops cleanly on a signal.
const SERVE_CODES: &[Code] = &[Code::Success, Code::Failure, Code::Usage];

/// The exit codes of `client`, in every mode.
const CLIENT_CODES: &[Code] = &[
    Code::Success,
    Code::Failure,
    Code::Usage,
    Code::CouldntResolve,
    Code::CouldntConnect,
    Code::BadResponse,
    Code::WriteError,
    Code::Timeout,
    Code::SendError,
    Code::RecvError,
    Code::Interrupted,
];

/// The exit codes of `completions` and `man`, which print text.
const PRINT_CODES: &[Code] = &[Code::Success, Code::Usage, Code::WriteError];

/// The exit codes of `fetch`: all but load mode's Ctrl-C (a fetch ends as
/// the signal does, after removing what it must).
pub(crate) fn fetch_codes() -> Vec<Code> {
    Code::ALL
        .into_iter()
        .filter(|&code| code != Code::Interrupted)
        .collect()
}

/// How the exit codes' part of a `--help` starts: the man page finds it
/// there and makes it a section of its own.
pub(crate) const EXIT_CODES_HEADING: &str = "Exit codes";

/// A subcommand's `--help` epilogue: its examples, then its exit codes.
fn with_exit_codes(examples: &str, codes: &[Code]) -> String {
    format!("{examples}\n\n{}", exit_codes_help(codes))
}

/// The table of `codes` with their meanings, as `--help` ends with.
pub(crate) fn exit_codes_help(codes: &[Code]) -> String {
    let mut text = if codes.iter().any(|&code| code as u8 > Code::Usage as u8) {
        format!("{EXIT_CODES_HEADING} (curl's numbers where the meaning is the same):\n")
    } else {
        format!("{EXIT_CODES_HEADING}:\n")
    };
    for &code in codes {
        text.push_str(&format!("  {:>3}  {}\n", code as u8, code.meaning()));
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
        assert_eq!(args.targets, ["example.com"]);
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

    /// The usage error the command line `args` (after `sockdemo`) makes.
    fn usage_error_of(args: &[&str]) -> String {
        let argv: Vec<OsString> = std::iter::once("sockdemo")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        let err = Cli::try_parse_from(&argv).expect_err("a usage error");
        assert!(!shows_help(&err), "{err}");
        usage_error(&err.render().to_string(), &subcommand_of(&argv))
    }

    #[test]
    fn usage_errors_are_one_line_and_a_pointer_to_help() {
        assert_eq!(
            usage_error_of(&["fetch"]),
            "sockdemo: error: the following required arguments were not provided: <TARGET>...\n\
             sockdemo: try 'sockdemo fetch --help' for more information\n"
        );
        assert_eq!(
            usage_error_of(&["-v", "serve", "--dela", "1"]),
            "sockdemo: error: unexpected argument '--dela' found; \
             a similar argument exists: '--delay'\n\
             sockdemo: try 'sockdemo serve --help' for more information\n"
        );
        assert_eq!(
            usage_error_of(&["clinet"]),
            "sockdemo: error: unrecognized subcommand 'clinet'; \
             a similar subcommand exists: 'client'\n\
             sockdemo: try 'sockdemo --help' for more information\n"
        );
        assert_eq!(
            usage_error_of(&["completions", "tcsh"]),
            "sockdemo: error: invalid value 'tcsh' for '<SHELL>' \
             [possible values: bash, elvish, fish, powershell, zsh]; \
             a similar value exists: 'zsh'\n\
             sockdemo: try 'sockdemo completions --help' for more information\n"
        );
        for args in [
            &["serve", "--delay", "-1"][..],
            &["client", "--json"],
            &["fetch", "-O", "-o", "x", "u"],
        ] {
            let text = usage_error_of(args);
            assert_eq!(text.lines().count(), 2, "{text}");
            assert!(text.starts_with("sockdemo: error: "), "{text}");
        }
    }

    #[test]
    fn help_and_version_are_not_usage_errors() {
        for args in [
            &["sockdemo", "--help"][..],
            &["sockdemo", "fetch", "-V"],
            &["sockdemo"],
        ] {
            let err = Cli::try_parse_from(args).expect_err("not a command");
            assert!(shows_help(&err), "{args:?}");
        }
    }

    #[test]
    fn every_code_belongs_to_a_subcommand_and_each_help_lists_its_own() {
        let mut listed: Vec<Code> = [SERVE_CODES, CLIENT_CODES, PRINT_CODES]
            .concat()
            .into_iter()
            .chain(fetch_codes())
            .collect();
        listed.sort_by_key(|&code| code as u8);
        listed.dedup();
        assert_eq!(listed, Code::ALL);
        let help = exit_codes_help(SERVE_CODES);
        assert_eq!(
            help,
            "Exit codes:\n    0  success\n    1  other failure\n    2  usage error on the command line\n"
        );
        assert!(exit_codes_help(CLIENT_CODES).contains("  130  interrupted"));
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

    #[test]
    fn timestamps_come_with_v_and_always_for_serve() {
        let style = |args: &[&str]| Cli::parse_from(args).logging().style;
        assert_eq!(style(&["sockdemo", "fetch", "u"]), logging::Style::Plain);
        assert_eq!(style(&["sockdemo", "client"]), logging::Style::Plain);
        assert_eq!(style(&["sockdemo", "-q", "client"]), logging::Style::Plain);
        assert_eq!(
            style(&["sockdemo", "fetch", "-v", "u"]),
            logging::Style::Timestamped
        );
        assert_eq!(style(&["sockdemo", "serve"]), logging::Style::Timestamped);
        assert_eq!(
            style(&["sockdemo", "-q", "serve"]),
            logging::Style::Timestamped
        );
    }
}
