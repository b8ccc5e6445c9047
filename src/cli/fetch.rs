//! `sockdemo fetch`'s flags, and the fetcher's configuration made from
//! them once, each part for the module that uses it.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use clap::builder::TypedValueParser;

use crate::cli::{exit_codes_help, fetch_codes};
use crate::duration::{self, limit};
use crate::fetch::transport::Family;
use crate::fetch::{self, credentials, retry, verify::Checksum};
use crate::http::{self, Method, RequestHeaders};

/// `sockdemo fetch`
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// What to fetch: `host`, `host:port`, `host/path`, or an `http://` or `https://` URL.
    /// Several are each saved under their default name.
    #[arg(value_name = "TARGET", required_unless_present = "input_file")]
    pub targets: Vec<String>,

    /// Fetch the URLs of FILE too (`-` for stdin): one a line, blank lines and `#` comments skipped, as wget's -i.
    #[arg(long, value_name = "FILE")]
    pub input_file: Option<PathBuf>,

    /// Save the body to FILE (`-` for stdout; the head then goes to stderr;
    /// `/dev/stdout` is `-`, and `/dev/stderr` or `/dev/fd/N` writes to that
    /// descriptor). A file you may not write is kept (exit 23).
    /// Default: the last segment of the URL's path, or index.html.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Save the files in DIR (created if missing).
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,

    /// Several URLs: transfer them in parallel, each slot on its own connection.
    #[arg(short = 'Z', long)]
    pub parallel: bool,

    /// With -Z: transfers under way at most.
    #[arg(long, value_name = "N", default_value_t = fetch::many::DEFAULT_PARALLEL_MAX, value_parser = clap::value_parser!(u16).range(1..).map(usize::from))]
    pub parallel_max: usize,

    /// With -Z: transfers under way to one host at most.
    #[arg(long, value_name = "N", default_value_t = fetch::many::DEFAULT_PARALLEL_MAX_HOST, value_parser = clap::value_parser!(u16).range(1..).map(usize::from))]
    pub parallel_max_host: usize,

    /// Several URLs: once one has failed, start no other and stop those under way.
    #[arg(long)]
    pub fail_early: bool,

    /// Do not fetch a URL whose file already exists (counted as skipped).
    #[arg(long)]
    pub skip_existing: bool,

    /// Check each saved file listed in this sha256sum/sha512sum file (a path or an http(s) URL) before it is kept (exit 32 otherwise).
    #[arg(long, value_name = "FILE|URL")]
    pub checksum_file: Option<String>,

    /// Name the file after the URL (the default; accepted for curl's sake).
    #[arg(short = 'O', long, conflicts_with = "output")]
    pub remote_name: bool,

    /// Name the file as the server's Content-Disposition says (filename*, then
    /// filename), reduced to a plain name; a missing or unsafe name keeps the
    /// URL's, with a warning. Never replaces another existing file (exit 23),
    /// unless -N.
    #[arg(short = 'J', long, conflicts_with_all = ["output", "continue_partial"])]
    pub remote_header_name: bool,

    /// Give the saved file the server's Last-Modified time.
    #[arg(short = 'R', long)]
    pub remote_time: bool,

    /// Fetch only if the server's file is newer than the existing one (sends
    /// If-Modified-Since with its time); otherwise keep it and exit 0. Implies -R.
    #[arg(short = 'N', long, conflicts_with_all = ["continue_partial", "time_cond"])]
    pub timestamping: bool,

    /// Fetch only if the server's file is newer than DATE, or than FILE's
    /// time; -DATE: only if it is not newer. DATE: an HTTP date or ISO 8601 (UTC).
    #[arg(short = 'z', long, value_name = "DATE|FILE", allow_hyphen_values = true, value_parser = fetch::names::parse_time_cond)]
    pub time_cond: Option<fetch::names::TimeCond>,

    /// Give up when resolving the host and connecting to it (all its
    /// addresses together) take longer than this (0: no limit).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, default_value = "10s", value_parser = duration::parse)]
    pub connect_timeout: Duration,

    /// Connect over IPv4 only.
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    pub ipv4: bool,

    /// Connect over IPv6 only.
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,

    /// Give up when nothing arrives for this long, or when a TLS handshake or
    /// a response head takes longer (0: no limit).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, default_value = "30s", value_parser = duration::parse)]
    pub timeout: Duration,

    /// Give up when the whole fetch, redirects included, takes longer (0: no limit; with several URLs, each URL's).
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

    /// Keep what was downloaded in a .part beside the file on failure, and continue it
    /// (also spelled `-C -`, as in curl).
    #[arg(short = 'C', long = "continue")]
    pub continue_partial: bool,

    /// Save the file only if its digest is this: sha256=HEX or sha512=HEX (exit 32 otherwise).
    #[arg(long, value_name = "ALGO=HEX")]
    pub checksum: Option<Checksum>,

    /// Save the file only if it has exactly N bytes (exit 32 otherwise).
    #[arg(long, value_name = "N")]
    pub expect_size: Option<u64>,

    /// Give up (exit 63) when the file would be larger than SIZE: bytes, or with K, M or G (with several URLs, each file).
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

    /// Print the response heads (always done for one URL; with several, only with -i or -I).
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

    /// Say nothing at all, not even the error line (-S brings it back); the
    /// exit code tells. -o - and -w still write.
    #[arg(short, long)]
    pub silent: bool,

    /// With -s: print the one error line when the fetch fails.
    #[arg(short = 'S', long)]
    pub show_error: bool,

    /// Send Basic authentication to the origin of TARGET (never elsewhere)
    /// as USER with PASSWORD; without ":PASSWORD" it is asked for on the
    /// terminal. Wins over the URL's and the .netrc's; -H Authorization wins over it.
    #[arg(short = 'u', long = "user", value_name = "USER[:PASSWORD]", value_parser = parse_user)]
    pub user: Option<credentials::User>,

    /// Send Basic authentication to the proxy as USER (over the proxy URL's
    /// own); without ":PASSWORD" it is asked for on the terminal.
    #[arg(short = 'U', long = "proxy-user", value_name = "USER[:PASSWORD]", value_parser = parse_user)]
    pub proxy_user: Option<credentials::User>,

    /// Take the login and password for the host from ~/.netrc ($NETRC if set);
    /// its entry wins over the URL's credentials.
    #[arg(short = 'n', long)]
    pub netrc: bool,

    /// Use this .netrc file instead of ~/.netrc (as -n does).
    #[arg(long, value_name = "FILE", conflicts_with = "netrc")]
    pub netrc_file: Option<PathBuf>,

    /// Read the .netrc if there is one; the URL's credentials win over it.
    #[arg(long, conflicts_with = "netrc")]
    pub netrc_optional: bool,

    /// After the transfer and its body, in every mode (-s too), write FORMAT
    /// to stdout, with curl's variables:
    /// %{http_code}, %{size_download}, %{time_total}, %{time_connect},
    /// %{time_starttransfer}, %{speed_download}, %{url_effective},
    /// %{filename_effective}, %{num_redirects}, %{num_retries}, %{exitcode},
    /// %{errormsg}, %{content_type}, %header{NAME}, %{json}; %{stderr} and
    /// %{stdout} switch the stream; \n, %%. @FILE reads FORMAT from FILE.
    #[arg(short = 'w', long, value_name = "FORMAT")]
    pub write_out: Option<String>,

    /// Trust the CA certificates in this PEM file (instead of the system's).
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Do not verify the server's certificate (dangerous: only when asked).
    #[arg(short = 'k', long)]
    pub insecure: bool,
}

impl FetchArgs {
    /// The fetcher's configuration, each part for its owner; `quiet` comes
    /// from the global `-q`.
    pub fn config(&self, quiet: bool) -> fetch::Config {
        fetch::Config {
            targets: self.targets.clone(),
            input_file: self.input_file.clone(),
            output: self.output.clone(),
            output_dir: self.output_dir.clone(),
            many: fetch::many::Options {
                parallel: self.parallel,
                parallel_max: self.parallel_max,
                parallel_max_host: self.parallel_max_host,
                fail_early: self.fail_early,
                skip_existing: self.skip_existing,
                checksum_file: self.checksum_file.clone(),
                include: self.include,
            },
            request: fetch::attempt::Options {
                method: if self.head { Method::Head } else { Method::Get },
                headers: RequestHeaders::new(self.user_agent.clone(), self.headers.clone()),
                max_redirects: (!self.no_follow).then_some(self.max_redirects),
                content_on_error: self.content_on_error,
                compressed: self.compressed,
                credentials: credentials::PerOrigin::default(),
                condition: None,
            },
            transport: fetch::transport::Options {
                connect_timeout: limit(self.connect_timeout),
                family: match (self.ipv4, self.ipv6) {
                    (true, _) => Family::V4,
                    (_, true) => Family::V6,
                    _ => Family::Any,
                },
                timeout: limit(self.timeout),
                cacert: self.cacert.clone(),
                insecure: self.insecure,
                proxy: self.proxy.clone(),
                noproxy: self.noproxy.clone(),
                proxy_authorization: None,
            },
            download: fetch::download::Options {
                continue_partial: self.continue_partial,
                checksum: self.checksum.clone(),
                expect_size: self.expect_size,
                max_filesize: self.max_filesize,
                compressed: self.compressed,
                naming: fetch::names::Naming {
                    header_name: self.remote_header_name,
                    remote_time: self.remote_time || self.timestamping,
                    may_replace: self.timestamping,
                },
                // Set by a run of several URLs.
                saved: None,
            },
            retry: retry::Policy {
                retries: self.retry,
                fixed_delay: limit(self.retry_delay),
                max_time: limit(self.retry_max_time),
                retry_connrefused: self.retry_connrefused,
            },
            max_time: limit(self.max_time),
            verbosity: fetch::Verbosity::new(quiet, self.silent),
            credentials: credentials::Options {
                user: self.user.clone(),
                proxy_user: self.proxy_user.clone(),
                netrc: self.netrc_use(),
            },
            write_out: self.write_out.clone(),
            times: fetch::Times {
                timestamping: self.timestamping,
                time_cond: self.time_cond.clone(),
            },
        }
    }

    /// Whether and which `.netrc` is read: `--netrc-file` names it, and it
    /// is required unless `--netrc-optional`.
    fn netrc_use(&self) -> credentials::NetrcUse {
        if self.netrc || self.netrc_optional || self.netrc_file.is_some() {
            credentials::NetrcUse::On {
                file: self.netrc_file.clone(),
                optional: self.netrc_optional,
            }
        } else {
            credentials::NetrcUse::Off
        }
    }
}

/// Parses a `-u`/`-U` argument: a user name, then `:` and the password.
/// It never fails: a refusal would quote the password in clap's message,
/// and anything is sendable once encoded in base64, as curl sends it.
fn parse_user(text: &str) -> Result<credentials::User, std::convert::Infallible> {
    Ok(credentials::User::parse(text))
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

/// The examples and exit codes after `sockdemo fetch --help`.
pub(super) fn fetch_help() -> String {
    format!(
        "Examples:\n  sockdemo fetch www.example.com\n  sockdemo fetch http://127.0.0.1:8000/file.bin -o copy.bin\n  sockdemo fetch https://example.com/ -o - | less\n  sockdemo fetch -x http://proxy.lan:3128 https://example.com/\n  sockdemo fetch -I -H 'Accept: text/html' example.com\n  sockdemo fetch -u alice https://example.com/private.txt\n  sockdemo fetch -s -o /dev/null -w '%{{http_code}} %{{time_total}}\\n' example.com\n  sockdemo fetch -Z --output-dir dl --input-file urls.txt\n\nOutput: the response heads on stdout and a saved line on stderr; -q: errors only, nothing on stdout;\n-s: nothing at all (-sS: the error line); with -I the heads, with -o - the body, and -w write at every level.\nAuthentication is HTTP Basic only.\n\n{}",
        exit_codes_help(&fetch_codes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

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
    fn contradicting_fetch_flags_are_usage_errors() {
        for pair in [
            ["--fail", "--content-on-error"],
            ["-O", "-o=x"],
            ["-L", "--no-follow"],
            ["-I", "-o=x"],
            ["-4", "-6"],
            ["-n", "--netrc-file=x"],
            ["-n", "--netrc-optional"],
            ["-N", "-C"],
            ["-N", "-z=2024-01-01"],
            ["-J", "-C"],
            ["-J", "-o=x"],
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
        assert_eq!(cli.log_level(), log::LevelFilter::Off);
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
        for (flags, family) in [
            (&[][..], Family::Any),
            (&["-4"], Family::V4),
            (&["--ipv4"], Family::V4),
            (&["-6"], Family::V6),
            (&["--ipv6"], Family::V6),
        ] {
            let mut argv = vec!["sockdemo", "fetch", "example.com"];
            argv.extend(flags);
            let Command::Fetch(args) = Cli::parse_from(&argv).command else {
                panic!("not fetch")
            };
            assert_eq!(args.config(false).transport.family, family, "{flags:?}");
        }
    }
}
