//! The command line: every subcommand, flag and default, in one place.
//!
//! The clap types stop here. Each subcommand's arguments are turned once into
//! the plain `Config` of the module that does the work, so the rest of the
//! code never sees clap. The shell completion scripts and the man page are
//! generated from the same definitions, so they cannot drift from `--help`.

use std::ffi::OsString;
use std::io::{self, Write};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};
use clap_complete::Shell;
use clap_mangen::Man;

use crate::address::{self, Address};
use crate::duration::{self, limit};
use crate::exit::{Code, fail_with};
use crate::fetch::{retry, verify::Checksum};
use crate::http::{self, Method, RequestHeaders};
use crate::{client, fetch, server};

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

    /// Log less: warnings and errors only (for fetch: errors only, no progress).
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

/// `sockdemo fetch`
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// What to fetch: `host`, `host:port`, `host/path`, or an `http://` or `https://` URL.
    #[arg(value_name = "TARGET")]
    pub target: String,

    /// Save the body to FILE (`-` for stdout; the head then goes to stderr).
    /// Default: the last segment of the URL's path, or index.html.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Name the file after the URL (the default; accepted for curl's sake).
    #[arg(short = 'O', long, conflicts_with = "output")]
    pub remote_name: bool,

    /// Give up on connecting to an address after this long (0: no limit).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, default_value = "10s", value_parser = duration::parse)]
    pub connect_timeout: Duration,

    /// Give up when nothing arrives for this long, or when a TLS handshake or
    /// a response head takes longer (0: no limit).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, default_value = "30s", value_parser = duration::parse)]
    pub timeout: Duration,

    /// Give up when the whole fetch, redirects included, takes longer (0: no limit).
    #[arg(short, long, value_name = "DURATION", allow_hyphen_values = true, default_value = "0", value_parser = duration::parse)]
    pub max_time: Duration,

    /// Retry a transient failure up to N times in a row (0: never). An attempt
    /// that gets further than any before it starts the count afresh.
    #[arg(long, value_name = "N", default_value_t = retry::DEFAULT_RETRIES)]
    pub retry: u32,

    /// Wait this long before each retry, instead of backing off from 1s to 60s (0: back off).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, default_value = "0", value_parser = duration::parse)]
    pub retry_delay: Duration,

    /// Start no retry this long after the first attempt, or after the last one that got further (0: no limit).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, default_value = "10m", value_parser = duration::parse)]
    pub retry_max_time: Duration,

    /// Retry a refused connection too (otherwise only once an attempt has connected).
    #[arg(long)]
    pub retry_connrefused: bool,

    /// Keep what was downloaded in .NAME.part on failure, and continue it
    /// (also spelled `-C -`, as in curl).
    #[arg(short = 'C', long = "continue")]
    pub continue_partial: bool,

    /// Save the file only if its digest is this: sha256=HEX or sha512=HEX (exit 32 otherwise).
    #[arg(long, value_name = "ALGO=HEX")]
    pub checksum: Option<Checksum>,

    /// Save the file only if it has exactly N bytes (exit 32 otherwise).
    #[arg(long, value_name = "N")]
    pub expect_size: Option<u64>,

    /// Give up (exit 63) when the file would be larger than SIZE: bytes, or with K, M or G.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_filesize: Option<u64>,

    /// Ask for a compressed body (gzip, deflate, br, zstd) and save it decoded.
    #[arg(long)]
    pub compressed: bool,

    /// Follow at most this many redirects.
    #[arg(long, value_name = "N", default_value = "10")]
    pub max_redirects: usize,

    /// Do not follow redirects: stop at the first response.
    #[arg(long)]
    pub no_follow: bool,

    /// Follow redirects (the default; accepted for curl's sake).
    #[arg(short = 'L', long, conflicts_with = "no_follow")]
    pub location: bool,

    /// Exit 22 and save nothing when the final status is 400 or more (the default).
    #[arg(short, long)]
    pub fail: bool,

    /// Save the body even when the final status is 400 or more, and exit 0.
    #[arg(long, conflicts_with = "fail")]
    pub content_on_error: bool,

    /// Send HEAD: print the response heads, save nothing.
    #[arg(short = 'I', long, conflicts_with_all = ["output", "remote_name"])]
    pub head: bool,

    /// Print the response heads (always done; accepted for curl's sake).
    #[arg(short = 'i', long)]
    pub include: bool,

    /// Add a header field ("Name: value"), replace a default one, or remove it ("Name:"). Repeatable.
    #[arg(short = 'H', long = "header", value_name = "FIELD", value_parser = http::parse_custom)]
    pub headers: Vec<http::Custom>,

    /// Send this User-Agent.
    #[arg(short = 'A', long, value_name = "TEXT", value_parser = http::parse_user_agent)]
    pub user_agent: Option<String>,

    /// Go through this HTTP proxy (`http://[user:password@]host[:port]`); "" for none, whatever the environment says.
    #[arg(short = 'x', long, value_name = "URL")]
    pub proxy: Option<String>,

    /// Reach these hosts directly, not through the proxy (comma-separated; "*" for all); replaces no_proxy.
    #[arg(long, value_name = "LIST")]
    pub noproxy: Option<String>,

    /// No response heads, no progress, no line saying what was saved: errors only.
    #[arg(short, long)]
    pub silent: bool,

    /// Trust the CA certificates in this PEM file (instead of the system's).
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Do not verify the server's certificate (dangerous: only when asked).
    #[arg(short = 'k', long)]
    pub insecure: bool,
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

/// Parses a SIZE: bytes, or a number followed by K, M or G (powers of 1024, as curl).
fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, shift) = match text.char_indices().last() {
        Some((at, 'k' | 'K')) => (&text[..at], 10),
        Some((at, 'm' | 'M')) => (&text[..at], 20),
        Some((at, 'g' | 'G')) => (&text[..at], 30),
        _ => (text, 0),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text} is not a size (e.g. 1000, 500K, 2G)"))?;
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text} is too large"))
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
            (true, _, Command::Fetch(_)) => log::LevelFilter::Error,
            (_, _, Command::Fetch(args)) if args.silent => log::LevelFilter::Error,
            (true, _, _) => log::LevelFilter::Warn,
            (false, 0, _) => log::LevelFilter::Info,
            (false, 1, _) => log::LevelFilter::Debug,
            (false, _, _) => log::LevelFilter::Trace,
        }
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

impl FetchArgs {
    /// The fetcher's configuration, each part for its owner; `quiet` comes
    /// from the global `-q`.
    pub fn config(&self, quiet: bool) -> fetch::Config {
        fetch::Config {
            target: self.target.clone(),
            output: self.output.clone(),
            request: fetch::attempt::Options {
                method: if self.head { Method::Head } else { Method::Get },
                headers: RequestHeaders::new(self.user_agent.clone(), self.headers.clone()),
                max_redirects: (!self.no_follow).then_some(self.max_redirects),
                content_on_error: self.content_on_error,
                compressed: self.compressed,
            },
            transport: fetch::transport::Options {
                connect_timeout: limit(self.connect_timeout),
                timeout: limit(self.timeout),
                cacert: self.cacert.clone(),
                insecure: self.insecure,
                proxy: self.proxy.clone(),
                noproxy: self.noproxy.clone(),
            },
            download: fetch::download::Options {
                continue_partial: self.continue_partial,
                checksum: self.checksum.clone(),
                expect_size: self.expect_size,
                max_filesize: self.max_filesize,
                compressed: self.compressed,
            },
            retry: retry::Policy {
                retries: self.retry,
                fixed_delay: limit(self.retry_delay),
                max_time: limit(self.retry_max_time),
                retry_connrefused: self.retry_connrefused,
            },
            max_time: limit(self.max_time),
            verbosity: fetch::Verbosity::new(quiet, self.silent),
        }
    }
}

/// The completion script of the whole command line for `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "sockdemo", &mut script);
    script
}

/// The manual page, in roff: one page for the whole program (`sockdemo.1`).
/// Its top sections describe the command line as `sockdemo --help` does;
/// then each subcommand has a section of its own, with what its `--help`
/// shows (description, synopsis, options, examples) as subsections.
pub fn man_page() -> Vec<u8> {
    let mut command = Cli::command();
    command.build();
    let top = Man::new(command.clone());
    let mut page = ManPage::new(&top);
    page.section(".SH NAME", |out| top.render_name_section(out));
    page.section(".SH SYNOPSIS", |out| top.render_synopsis_section(out));
    page.section(".SH DESCRIPTION", |out| top.render_description_section(out));
    page.section(".SH OPTIONS", |out| top.render_options_section(out));
    for sub in command
        .get_subcommands()
        .filter(|sub| sub.get_name() != "help")
    {
        let man = Man::new(sub.clone());
        page.line(&format!(
            ".SH \"SOCKDEMO {}\"",
            sub.get_name().to_uppercase()
        ));
        page.section(".SS DESCRIPTION", |out| man.render_description_section(out));
        page.section(".SS SYNOPSIS", |out| man.render_synopsis_section(out));
        page.section(".SS OPTIONS", |out| man.render_options_section(out));
        if sub.get_after_help().is_some() {
            page.section(".SS EXAMPLES", |out| man.render_extra_section(out));
        }
    }
    page.section(".SH \"EXIT STATUS\"", |out| top.render_extra_section(out));
    page.section(".SH VERSION", |out| top.render_version_section(out));
    page.text
}

/// A man page put together from clap_mangen's sections, under headings of
/// its own: clap_mangen's one-page `render` would refer to a page per
/// subcommand (`sockdemo-serve(1)`) that nobody installs.
struct ManPage {
    text: Vec<u8>,
    /// The string definitions every rendering starts with; the page needs
    /// them once, before its title.
    preamble: Vec<u8>,
}

impl ManPage {
    /// A page that starts with the title of `man`.
    fn new(man: &Man) -> ManPage {
        let text = render(|out| man.render_title(out));
        let title = text
            .windows(4)
            .position(|bytes| bytes == b".TH ")
            .expect("clap_mangen renders a title line");
        ManPage {
            preamble: text[..title].to_vec(),
            text,
        }
    }

    fn line(&mut self, line: &str) {
        self.text.extend_from_slice(line.as_bytes());
        self.text.push(b'\n');
    }

    /// Adds the section `renderer` renders, under `heading` instead of its own.
    fn section(&mut self, heading: &str, renderer: impl FnOnce(&mut dyn Write) -> io::Result<()>) {
        let text = render(renderer);
        let section = text.strip_prefix(self.preamble.as_slice()).unwrap_or(&text);
        let body = section
            .splitn(2, |&byte| byte == b'\n')
            .nth(1)
            .unwrap_or_default();
        self.line(heading);
        self.text.extend_from_slice(body);
    }
}

/// Runs one of clap_mangen's renderers into a buffer, which cannot fail.
fn render(renderer: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Vec<u8> {
    let mut text = Vec::new();
    renderer(&mut text).expect("writing to a Vec cannot fail");
    text
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

fn exit_codes_help() -> String {
    let mut text = String::from("Exit codes (curl's numbers where the meaning is the same):\n");
    for code in Code::ALL {
        text.push_str(&format!("  {:>2}  {}\n", code as u8, code.meaning()));
    }
    text
}

fn fetch_help() -> String {
    format!(
        "Examples:\n  sockdemo fetch www.example.com\n  sockdemo fetch http://127.0.0.1:8000/file.bin -o copy.bin\n  sockdemo fetch https://example.com/ -o - | less\n  sockdemo fetch -x http://proxy.lan:3128 https://example.com/\n  sockdemo fetch -I -H 'Accept: text/html' example.com\n\n{}",
        exit_codes_help()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The subcommands `--help` lists, `help` aside.
    fn subcommands() -> Vec<String> {
        let names: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|sub| sub.get_name().to_owned())
            .collect();
        assert_eq!(names, ["serve", "client", "fetch", "completions", "man"]);
        names
    }

    #[test]
    fn every_shell_completes_every_subcommand() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let script = String::from_utf8(completions(shell)).expect("a script is UTF-8");
            assert!(!script.is_empty(), "no {shell} script");
            for name in subcommands() {
                assert!(
                    mentions(&script, &name),
                    "the {shell} script does not mention {name}"
                );
            }
            // A flag of each kind of subcommand: the scripts go below the top level.
            for flag in ["max-connections", "rounds", "connect-timeout"] {
                assert!(script.contains(flag), "the {shell} script lacks {flag}");
            }
        }
    }

    /// Whether `word` occurs in `text` as a word of its own (`man`, not in
    /// `command`).
    fn mentions(text: &str, word: &str) -> bool {
        let part_of_a_word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
        text.match_indices(word).any(|(at, _)| {
            let before = text[..at].chars().next_back();
            let after = text[at + word.len()..].chars().next();
            !before.is_some_and(part_of_a_word) && !after.is_some_and(part_of_a_word)
        })
    }

    #[test]
    fn a_word_is_not_part_of_another() {
        assert!(mentions("opts=\"serve man help\"", "man"));
        assert!(mentions("sockdemo,man)", "man"));
        assert!(!mentions("a command, the manual", "man"));
        assert!(!mentions("--max-connections-x", "max-connections"));
    }

    #[test]
    fn the_man_page_documents_every_subcommand() {
        let page = String::from_utf8(man_page()).expect("the page is UTF-8");
        assert!(page.contains("\n.TH sockdemo 1 "), "no title: {page}");
        for name in subcommands() {
            let heading = format!(".SH \"SOCKDEMO {}\"", name.to_uppercase());
            assert_eq!(page.matches(&heading).count(), 1, "{heading} once");
        }
        for flag in ["max\\-connections", "rounds", "connect\\-timeout", "cacert"] {
            assert!(page.contains(flag), "the page lacks {flag}");
        }
        let exit_status = &page[page.find(".SH \"EXIT STATUS\"").expect("an exit status")..];
        for code in Code::ALL {
            // roff escapes a hyphen as `\-` and names the apostrophe `\*(Aq`.
            let meaning = code.meaning().replace('-', "\\-").replace('\'', "\\*(Aq");
            assert!(exit_status.contains(&meaning), "{} is missing", code as u8);
        }
        let sections: Vec<&str> = page
            .lines()
            .filter(|line| line.starts_with(".SH "))
            .collect();
        assert_eq!(sections.len(), 4 + 5 + 2, "{sections:#?}");
        assert!(
            !page.contains("(1)"),
            "a reference to a page of its own: {page}"
        );
        assert_eq!(page.matches(".ds Aq").count(), 2, "one preamble, two lines");
    }

    #[test]
    fn completions_name_a_shell() {
        let cli = Cli::parse_from(["sockdemo", "completions", "zsh"]);
        let Command::Completions(args) = cli.command else {
            panic!("not completions")
        };
        assert_eq!(args.shell, Shell::Zsh);
        assert!(Cli::try_parse_from(["sockdemo", "completions", "tcsh"]).is_err());
        assert!(Cli::try_parse_from(["sockdemo", "completions"]).is_err());
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
    fn fetch_defaults_retry_and_sizes_parse() {
        let cli = Cli::parse_from(["sockdemo", "fetch", "example.com"]);
        let Command::Fetch(args) = cli.command else {
            panic!("not fetch")
        };
        let config = args.config(false);
        assert_eq!(config.retry, retry::Policy::default());
        assert!(!config.download.continue_partial && !config.download.compressed);
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("500K"), Ok(500 << 10));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("x").is_err() && parse_size("").is_err());
        assert!(parse_size("99999999999G").is_err());
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
    fn contradicting_fetch_flags_are_usage_errors() {
        for pair in [
            ["--fail", "--content-on-error"],
            ["-O", "-o=x"],
            ["-L", "--no-follow"],
            ["-I", "-o=x"],
        ] {
            let mut argv = vec!["sockdemo", "fetch", "example.com"];
            argv.extend(pair);
            let err = Cli::try_parse_from(&argv).unwrap_err();
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{pair:?}"
            );
            assert_eq!(err.exit_code(), 2);
        }
        for bad in ["Connection: keep-alive", "X: a\r\nY: b", "no colon"] {
            let err =
                Cli::try_parse_from(["sockdemo", "fetch", "example.com", "-H", bad]).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn curls_habits_are_accepted() {
        let cli = Cli::parse_from([
            "sockdemo",
            "fetch",
            "-s",
            "-i",
            "-L",
            "-O",
            "-A",
            "ua/1",
            "-H",
            "X-A: 1",
            "-H",
            "Accept:",
            "-x",
            "p:3128",
            "--noproxy",
            "h",
            "example.com",
        ]);
        assert_eq!(cli.log_level(), log::LevelFilter::Error);
        let Command::Fetch(args) = &cli.command else {
            panic!("not fetch")
        };
        let config = args.config(cli.quiet);
        assert_eq!(config.verbosity, fetch::Verbosity::Silent);
        assert_eq!(config.request.headers.user_agent(), "ua/1");
        assert_eq!(config.transport.proxy.as_deref(), Some("p:3128"));
        assert_eq!(config.transport.noproxy.as_deref(), Some("h"));
        assert_eq!(config.request.max_redirects, Some(10));
        let cli = Cli::parse_from(["sockdemo", "fetch", "-I", "-f", "example.com"]);
        let Command::Fetch(args) = &cli.command else {
            panic!("not fetch")
        };
        assert_eq!(args.config(false).request.method, Method::Head);
    }

    #[test]
    fn quiet_fetch_logs_errors_only() {
        let cli = Cli::parse_from(["sockdemo", "fetch", "-q", "example.com"]);
        assert_eq!(cli.log_level(), log::LevelFilter::Error);
        let cli = Cli::parse_from(["sockdemo", "-q", "serve"]);
        assert_eq!(cli.log_level(), log::LevelFilter::Warn);
        let cli = Cli::parse_from(["sockdemo", "serve", "-vv"]);
        assert_eq!(cli.log_level(), log::LevelFilter::Trace);
    }
}
