//! A fetch of several URLs: those given as arguments and those of
//! `--input-file`, each its own download (its own retries, resume and
//! error-page rule, [`One`](crate::fetch::One)) over connections kept alive between them
//! ([`Pool`]), one after another or, with `-Z`, in parallel.
//!
//! Everything is checked before the first request: every URL, every line
//! of the list, every file name ([`names`]). Then transfer slots, one
//! blocking thread each, take URLs from the [`schedule`]. There is one
//! writer, which a slot takes in turn as its URL ends (a mutex): it prints
//! the URL's block of output whole and counts it in the [`summary`], so
//! blocks come in completion order and never interleave.
//!
//! | part | owns |
//! |---|---|
//! | [`list`] | the URLs of the arguments and of `--input-file`, checked |
//! | [`names`] | the file of each URL, repeated URLs, names that clash |
//! | [`schedule`] | which URL a slot takes next: `--parallel-max-host`, hosts not tried again |
//! | [`summary`] | what became of each URL, the summary line, the exit code |
//! | [`checksums`] | `--checksum-file` |
//! | [`bar`] | the one progress bar of the run: files, bytes received, rate |
//! | this file | the slots, the writer, Ctrl-C |

pub mod bar;
pub mod checksums;
pub mod list;
pub mod names;
mod run;
pub mod schedule;
pub mod summary;

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::attempt::{self};
use super::credentials;
use super::download::{self};
use super::exchange::PARALLEL_RECEIVE_BUFFER;
use super::output::Destination;
use super::report::{self, Block, Verbosity};
use super::signals::{self, PartialFiles};
use super::transport::pool::Pool;
use super::{Config, retry};
use crate::exit::{Code, fail};
use crate::http::Method;
use bar::RunBar;
use checksums::Checksums;
use names::Job;
use run::{Done, Run};
use schedule::Schedule;
use summary::Summary;

/// `--parallel-max` by default: curl's.
pub const DEFAULT_PARALLEL_MAX: usize = 50;

/// `--parallel-max-host` by default: six connections to a host, as
/// browsers open, where curl's default is no limit.
pub const DEFAULT_PARALLEL_MAX_HOST: usize = 6;

/// What the command line asks of a fetch of several URLs (and, for
/// `--skip-existing` and `--checksum-file`, of one URL too).
#[derive(Debug, Clone)]
pub struct Options {
    /// `-Z`: transfers in parallel.
    pub parallel: bool,
    /// `--parallel-max`: transfers under way at most.
    pub parallel_max: usize,
    /// `--parallel-max-host`: transfers under way to one host at most.
    pub parallel_max_host: usize,
    /// `--fail-early`: start no other URL once one has failed.
    pub fail_early: bool,
    /// `--skip-existing`: a URL whose file exists is not fetched.
    pub skip_existing: bool,
    /// `--checksum-file`: a file or URL of `sha256sum` lines.
    pub checksum_file: Option<String>,
    /// `-i`: print the response heads (with several URLs, only then).
    pub include: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            parallel: false,
            parallel_max: DEFAULT_PARALLEL_MAX,
            parallel_max_host: DEFAULT_PARALLEL_MAX_HOST,
            fail_early: false,
            skip_existing: false,
            checksum_file: None,
            include: false,
        }
    }
}

/// Fetches every URL of `config`: see the module documentation. The exit
/// code is that of the first URL in input order that failed.
pub fn run(config: Config) -> anyhow::Result<()> {
    let Config {
        targets,
        input_file,
        output,
        output_dir,
        many,
        request,
        transport,
        download,
        retry,
        max_time,
        verbosity,
        credentials,
        write_out,
        times,
    } = config;
    check_flags(output.is_some(), &download, request.method)?;
    let mut download = download;
    // No URL of the run replaces a file another saved (two -J names alike).
    download.saved = Some(Arc::default());
    let mut entries = list::arguments(&targets)?;
    if let Some(path) = &input_file {
        let text = list::read(path)?;
        let listed = list::parse(&text).with_context(|| format!("in {}", path.display()))?;
        entries.extend(listed);
    }
    let heads_only = request.method == Method::Head;
    let jobs = names::jobs(entries, output_dir.as_deref(), heads_only)?;
    if let (Some(dir), false) = (&output_dir, heads_only) {
        names::create_dir(dir)?;
    }
    let write_out = write_out.as_deref().map(report::load_format).transpose()?;
    // Asked once for the run: a password, the .netrc.
    let credentials_of_run = credentials::Settled::new(&credentials)?;
    let mut transport = transport;
    transport.proxy_authorization = credentials::resolve_proxy(&credentials)?;
    let mut pool = Pool::new(transport.connector(request.headers.user_agent()));
    if many.parallel {
        pool = pool.with_receive_buffer(PARALLEL_RECEIVE_BUFFER);
    }
    let checksums = match &many.checksum_file {
        Some(source) => checksums::load(source, &pool, &request, &retry)?,
        None => Checksums::default(),
    };
    for job in &jobs {
        pool.expect(&job.entry.url);
    }
    let hosts: Vec<String> = jobs.iter().map(|job| server(&job.entry.url)).collect();
    let (slots, per_host) = match many.parallel {
        true => (
            slots(&hosts, many.parallel_max, many.parallel_max_host),
            many.parallel_max_host,
        ),
        false => (1, 1),
    };
    let run = Run {
        jobs: &jobs,
        pool: &pool,
        schedule: Schedule::new(hosts, per_host),
        files: PartialFiles::default(),
        request,
        download,
        checksums,
        retry,
        max_time,
        verbosity,
        show_heads: many.include || heads_only,
        skip_existing: many.skip_existing,
        fail_early: many.fail_early,
        credentials: credentials_of_run,
        times,
        write_out,
    };
    let summary = Arc::new(Mutex::new(Summary::new(jobs.len())));
    let started = Instant::now();
    let on_signal = Arc::clone(&summary);
    signals::remove_all_on_signal(&run.files, move || {
        eprintln!("{}", lock(&on_signal).line(started.elapsed()));
    })?;
    let bar = RunBar::start(jobs.len(), verbosity.is_quiet(), pool.received());
    let write = |done: Done| {
        write_block(&jobs[done.index], &done.block, verbosity, &bar);
        if let Err(err) = report::write_out(&done.written_out) {
            log::debug!("writing the --write-out text: {err:#}");
        }
        bar.done();
        lock(&summary).record(done.index, &jobs[done.index].entry.url, done.outcome);
    };
    if slots == 1 {
        // One after another: the one slot is this thread, and writes too.
        run.slot(|done| {
            write(done);
            true
        });
    } else {
        // One writer, taken in turn: each URL's block is written whole, in
        // the order the URLs end, by the slot that ended it (no thread is
        // woken just to write).
        let writer = Mutex::new(write);
        thread::scope(|scope| -> anyhow::Result<()> {
            for slot in 0..slots {
                let (run, writer) = (&run, &writer);
                thread::Builder::new()
                    .name(format!("fetch-{slot}"))
                    .spawn_scoped(scope, move || {
                        run.slot(|done| {
                            (*lock(writer))(done);
                            true
                        });
                    })
                    .context("starting a transfer thread")?;
            }
            Ok(())
        })?;
    }
    drop(bar);
    let summary = lock(&summary);
    finish(&summary, started.elapsed(), verbosity)
}

/// The transfer slots worth starting: at most `max`, and no more than the
/// servers' caps let work at once (a slot that could only wait is a thread
/// for nothing).
fn slots(servers: &[String], max: usize, per_server: usize) -> usize {
    let mut urls: HashMap<&str, usize> = HashMap::new();
    for server in servers {
        *urls.entry(server).or_default() += 1;
    }
    let busy: usize = urls.values().map(|&n| n.min(per_server)).sum();
    busy.clamp(1, max.max(1))
}

/// The flags that name one file or one size cannot go with several URLs.
fn check_flags(output: bool, download: &download::Options, method: Method) -> anyhow::Result<()> {
    let refused = if output {
        Some(
            "-o names one file: with several URLs each is saved under its own name (--output-dir DIR puts them in DIR)",
        )
    } else if download.checksum.is_some() || download.expect_size.is_some() {
        Some(
            "--checksum and --expect-size describe one file: with several URLs use --checksum-file",
        )
    } else if download.continue_partial && method == Method::Head {
        Some("-C continues a file beside the target: it cannot be used with -I")
    } else {
        None
    };
    refused.map_or(Ok(()), |why| Err(fail(Code::Usage, why)))
}

/// Prints the summary (unless `-q` or `-s` and nothing failed) and the
/// failures, and ends with the code of the first failed URL.
fn finish(summary: &Summary, elapsed: Duration, verbosity: Verbosity) -> anyhow::Result<()> {
    let Some(code) = summary.code() else {
        if !verbosity.is_quiet() {
            eprintln!("{}", summary.line(elapsed));
        }
        return Ok(());
    };
    eprintln!("{}", summary.line(elapsed));
    for line in summary.failure_lines() {
        eprintln!("{line}");
    }
    Err(fail(
        code,
        format!(
            "{} URL(s) failed; the exit code is that of the first",
            summary.failed()
        ),
    ))
}

/// Writes a URL's block whole: its heads after a line naming it, on
/// stdout; its closing line on stderr unless `-q` or `-s`.
fn write_block(job: &Job, block: &Block, verbosity: Verbosity, bar: &RunBar) {
    if !block.stdout.is_empty() {
        let mut stdout = io::stdout().lock();
        let written = writeln!(stdout, "==> {} <==", job.entry.url)
            .and_then(|()| stdout.write_all(&block.stdout))
            .and_then(|()| stdout.flush());
        if let Err(err) = written {
            log::debug!("printing the heads of {}: {err}", job.entry.url);
        }
    }
    if !verbosity.is_quiet() && !block.stderr.is_empty() {
        bar.print(&block.stderr);
    }
}

/// The server a URL is fetched from, `host:port`: the per-host cap counts
/// its transfers, and one that cannot be reached is not tried again.
pub(super) fn server(url: &url::Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or_default()
    )
}

/// What `--skip-existing` and `--checksum-file` ask of a fetch of one URL.
pub struct OneUrl<'a> {
    /// The options of the command line.
    pub options: &'a Options,
    /// Where the body goes.
    pub destination: &'a Destination,
    /// No line saying the file was skipped.
    pub quiet: bool,
    /// How a checksum file at a URL is retried.
    pub retry: &'a retry::Policy,
}

impl OneUrl<'_> {
    /// The download's options with the digest `--checksum-file` lists for
    /// its file; `None` when `--skip-existing` finds the file there.
    pub fn prepare(
        &self,
        mut download: download::Options,
        connector: impl attempt::Connect,
        request: &attempt::Options,
    ) -> anyhow::Result<Option<download::Options>> {
        let Destination::File(path) = self.destination else {
            return Ok(Some(download));
        };
        if self.options.skip_existing && path.exists() {
            if !self.quiet {
                eprint!("{}", skipped_line(path));
            }
            return Ok(None);
        }
        if let Some(source) = &self.options.checksum_file {
            let listed = checksums::load(source, connector, request, self.retry)?.of(path);
            download.checksum = listed.or(download.checksum);
        }
        Ok(Some(download))
    }
}

/// The line of a file `--skip-existing` leaves alone.
fn skipped_line(path: &std::path::Path) -> String {
    format!("skipped {}: it exists (--skip-existing)\n", path.display())
}

/// The summary, or the writer, locked.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Counts updated whole, blocks written whole: valid whatever a
    // panicking holder was doing.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_more_slots_start_than_the_caps_let_work() {
        let servers: Vec<String> = ["a:80", "a:80", "a:80", "b:80"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(slots(&servers, 50, 6), 4);
        assert_eq!(slots(&servers, 50, 1), 2);
        assert_eq!(slots(&servers, 3, 6), 3);
        assert_eq!(slots(&[], 50, 6), 1);
    }

    #[test]
    fn flags_of_one_file_are_refused_with_several_urls() {
        let plain = download::Options::default();
        assert!(check_flags(false, &plain, Method::Get).is_ok());
        let err = check_flags(true, &plain, Method::Get).unwrap_err();
        assert_eq!(Code::of(&err), Code::Usage);
        let sized = download::Options {
            expect_size: Some(1),
            ..download::Options::default()
        };
        assert_eq!(
            Code::of(&check_flags(false, &sized, Method::Get).unwrap_err()),
            Code::Usage
        );
    }
}
