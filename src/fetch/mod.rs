//! `sockdemo fetch TARGET`: the tutorial's raw HTTP fetch, done properly.
//!
//! One GET per connection (`Connection: close`; several URLs share kept-alive
//! connections, [`many`]), following redirects: each
//! response head is printed as received, the final body is streamed through
//! a fixed buffer into an output that replaces the user's file only once the
//! download is complete, and only when the final status is below 400: an
//! error page never replaces a file. The protocol itself (the request head,
//! parsing, framing, redirects, ranges) is the pure [`crate::http`] module;
//! this module drives it over a socket.
//!
//! [`run`] reads as the tutorial's steps: one attempt ([`attempt`]) connects,
//! sends the request and reads the head, follows or stops, and saves the
//! body ([`download::Download::save`]). Around it, [`One`] decides in one
//! place whether to try again after a transient failure ([`retry`]),
//! continuing the body where it stopped when the server proves it has the
//! same file. Several URLs go to [`many`], each its own [`One`].
//!
//! The command line is turned once into the parts of [`Config`], and each
//! part goes only where it is used: the request's [`attempt::Options`],
//! [`transport::Options`], [`download::Options`], [`retry::Policy`], the
//! [`Verbosity`], and the [`credentials::Options`], which become the
//! request's and the proxy's credentials once the URL is known. What
//! `--write-out` reports is noted on the way ([`observed`]) and rendered
//! at the end ([`write_out`]).
//!
//! | part | owns | tutorial |
//! |---|---|---|
//! | [`target`] | TARGET to URL, default file name | `a.host`, `a.path`, `a.out` |
//! | [`attempt`] | one attempt: the request for each URL, redirects, the error-page rule | the request string, `split(b'\r\n\r\n')` |
//! | [`transport`] | resolve, connect, proxies, time limits, TLS | `s.connect((a.host, a.port))` |
//! | [`exchange`] | one request and its response over one connection | `s.send(...)`, the `recv` loop |
//! | [`output`] | atomic file output, stdout | `open(a.out, 'wb')` |
//! | [`report`] | the heads as received, the closing line | `print(header)` |
//! | [`signals`] | removing the temporary file on SIGINT, SIGTERM, SIGHUP, and the line saying what is kept | — |
//! | [`download`] | the saved bytes across attempts, the body plan, codings, checks | — |
//! | [`retry`] | which failures are retried, and when | — |
//! | [`failure`] | what a failure means: exit codes, and whether to retry | — |
//! | [`names`] | `-J`, `-R`, `-N`, `-z`: the file's name and time, fetching only a newer file | — |
//! | [`partial`] | `-C`: the `.part` file and its metadata | — |
//! | [`verify`] | `--checksum`, `--expect-size` | — |
//! | [`progress`] | the progress bar, progress lines in a log, how far the download is | — |
//! | [`verbose`] | `-v`'s `> ` and `< ` lines: the heads as sent and received, credentials hidden | — |
//! | [`credentials`] | `-u`, the URL's user and password, `-U`: which apply, Basic | — |
//! | [`netrc`] | the `.netrc` file (pure) | — |
//! | [`write_out`] | `-w/--write-out`: the format and its variables (pure) | — |
//! | [`observed`] | what `--write-out` reports, noted on the way | — |
//! | [`many`] | several URLs: lists, names, kept-alive connections, parallel transfers, the summary | — |
//! | [`one`] | one URL's download: its attempts, and the one decision to retry or give up | — |
//! | this file | the steps in order for one URL, or the URLs handed to [`many`] | — |

pub mod attempt;
pub mod credentials;
pub mod download;
pub mod exchange;
pub mod failure;
pub mod many;
pub mod names;
pub mod netrc;
pub mod observed;
pub mod one;
pub mod output;
pub mod partial;
pub mod progress;
pub mod report;
pub mod retry;
#[cfg(test)]
mod scripted;
pub mod signals;
pub mod target;
pub mod transport;
pub mod verbose;
pub mod verify;
pub mod write_out;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use url::Url;

use crate::exit::{Code, fail};
use crate::http::Method;
use attempt::Attempts;
use observed::Observed;
pub use one::One;
use output::Destination;
use report::Report;
pub use report::Verbosity;
use signals::PartialFile;
use transport::Deadline;

/// The fetcher's settings: what to fetch and where to, then one part for
/// each owner.
#[derive(Debug, Clone)]
pub struct Config {
    /// What to fetch, each as typed: `host`, `host:port`, `host/path`, or a URL.
    pub targets: Vec<String>,
    /// `--input-file`: more URLs, one a line (`-`: standard input).
    pub input_file: Option<PathBuf>,
    /// `-o`: a file, `-` for stdout, or `None` for the URL's file name.
    pub output: Option<PathBuf>,
    /// `--output-dir`: the directory the files go in, created if missing.
    pub output_dir: Option<PathBuf>,
    /// What only a fetch of several URLs uses.
    pub many: many::Options,
    /// What each request asks for.
    pub request: attempt::Options,
    /// How to connect.
    pub transport: transport::Options,
    /// What to check and keep of the saved bytes.
    pub download: download::Options,
    /// When to try again.
    pub retry: retry::Policy,
    /// Limit on the whole fetch, redirects and retries included (`None`: none).
    pub max_time: Option<Duration>,
    /// How much is said.
    pub verbosity: Verbosity,
    /// Who the fetch says it is: `-u`, `-U`, the `.netrc`.
    pub credentials: credentials::Options,
    /// `-w/--write-out`: the format, or `@FILE` to read it from.
    pub write_out: Option<String>,
    /// `-N` and `-z`: fetch only a newer (or older) file.
    pub times: Times,
}

/// `-N` and `-z`, turned into the condition of the requests once the
/// target is known.
#[derive(Debug, Clone, Default)]
pub struct Times {
    /// `-N`: only if newer than the target.
    pub timestamping: bool,
    /// `-z DATE|FILE`.
    pub time_cond: Option<names::TimeCond>,
}

/// Fetches `config.target` ([`fetch`]), then writes what `--write-out`
/// asks, whatever the outcome, after the body and before the error line.
pub fn run(config: Config) -> anyhow::Result<()> {
    if config.is_several() {
        return many::run(config);
    }
    let format = config
        .write_out
        .as_deref()
        .map(report::load_format)
        .transpose()?;
    let (outcome, record) = run_recorded(config);
    if let Some(format) = format {
        let written = report::write_out(&format.render(&record));
        // When both failed, the fetch's error is the one to tell.
        outcome?;
        return written;
    }
    outcome
}

/// Fetches `config.target` ([`fetch`]), and returns with the outcome the
/// record `--write-out` renders: a caller fetching several URLs renders
/// its format once for each.
pub fn run_recorded(config: Config) -> (anyhow::Result<()>, write_out::Record) {
    let observed = Observed::new(Instant::now());
    let outcome = fetch(config, &observed);
    let (code, message) = match &outcome {
        Ok(()) => (Code::Success, String::new()),
        Err(err) => (Code::of(err), format!("{err:#}")),
    };
    let record = observed.record(code as u8, message);
    (outcome, record)
}

/// Fetches `config.target`: prints the response heads, and saves the final
/// body unless its status is 400 or more (the error-page rule) or `-I` asked
/// for heads only; after a transient failure, tries again. What it sees
/// goes into `observed`.
fn fetch(config: Config, observed: &Observed) -> anyhow::Result<()> {
    let Config {
        targets,
        output,
        output_dir,
        mut request,
        mut transport,
        download,
        many,
        retry,
        max_time,
        verbosity,
        credentials,
        times,
        ..
    } = config;
    let (first_url, url_user) =
        target::parse_with_user(targets.first().map_or("", String::as_str))?;
    observed.request(&first_url);
    let destination = destination(output.as_deref(), &first_url);
    let destination = many::names::in_dir(destination, output_dir.as_deref())?;
    if let Destination::File(path) = &destination {
        observed.file(path.to_string_lossy().into_owned());
    }
    let method = request.method;
    let into_file = matches!(destination, Destination::File(_));
    let target_file = match &destination {
        Destination::File(path) => Some(path.as_path()),
        Destination::Stdout | Destination::Descriptor { .. } => None,
    };
    request.condition =
        names::condition(times.timestamping, times.time_cond.as_ref(), target_file)?;
    if download.continue_partial && (!into_file || method == Method::Head) {
        return Err(fail(
            Code::Usage,
            "-C continues a file beside the target: it cannot be used with -o -, a descriptor, or -I",
        ));
    }
    // Before --max-time starts: a password may be asked for.
    request.credentials = credentials::resolve(&credentials, url_user.as_ref(), &first_url)?;
    transport.proxy_authorization = credentials::resolve_proxy(&credentials)?;
    let connector = transport.connector(request.headers.user_agent());
    let one_url = many::OneUrl {
        options: &many,
        destination: &destination,
        quiet: verbosity.is_quiet(),
        retry: &retry,
    };
    let Some(download) = one_url.prepare(download, &connector, &request)? else {
        return Ok(());
    };
    let report = Report::new(verbosity, destination == Destination::Stdout)
        .heads_asked(method == Method::Head);
    // --max-time counts from here: opening and checking a kept part is in it.
    let attempts = Attempts {
        connector,
        options: request,
        total: Deadline::after(max_time, "the whole transfer (--max-time)"),
        first_url,
        report,
        observed: observed.clone(),
    };
    let partial = PartialFile::default();
    let story = signals::Interruption {
        silent: verbosity == Verbosity::Silent,
        target: target_file.map(Path::to_path_buf),
        written_to: match &destination {
            Destination::Stdout => "stdout".to_owned(),
            Destination::File(path) | Destination::Descriptor { path, .. } => {
                path.display().to_string()
            }
        },
        resume_command: download
            .continue_partial
            .then(|| signals::resume_command(&attempts.first_url, output.as_deref())),
    };
    signals::remove_on_signal(&partial, story)?;
    let one = One {
        destination,
        partial: &partial,
        options: download,
        retry,
        quiet: verbosity.is_quiet(),
    };
    one.fetch(&attempts)
        .map(drop)
        .map_err(|gave_up| gave_up.err)
}

impl Config {
    /// True for a fetch of several URLs: two or more, or any list.
    pub fn is_several(&self) -> bool {
        self.targets.len() > 1 || self.input_file.is_some()
    }
}

/// Where the body goes: `-o -` is stdout, `-o FILE` that file, and by
/// default a name from the URL the user gave, whatever the redirects say.
fn destination(output: Option<&Path>, first_url: &Url) -> Destination {
    match output {
        Some(path) => Destination::of_path(path),
        None => Destination::File(target::default_file_name(first_url)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_goes_where_o_says_or_to_the_first_urls_name() {
        let first = target::parse("example.com/dir/file.txt").unwrap();
        assert_eq!(
            destination(Some(Path::new("-")), &first),
            Destination::Stdout
        );
        assert_eq!(
            destination(Some(Path::new("out.bin")), &first),
            Destination::File("out.bin".into())
        );
        assert_eq!(
            destination(None, &first),
            Destination::File("file.txt".into())
        );
    }
}
