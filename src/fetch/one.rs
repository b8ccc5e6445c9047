//! One URL's download: its attempts, and the one decision after each that
//! fails, to try again or to give up. A fetch of one URL and each URL of
//! several run it alike.

use std::thread;
use std::time::{Duration, Instant, SystemTime};

use log::warn;

use super::attempt::{AttemptFailed, Attempts, Connect};
use super::download::{self, Body, Download, Finished};
use super::failure::{Failed, cannot_start_over, classify};
use super::observed::Observed;
use super::output::Destination;
use super::report::Report;
use super::retry::{self, Decision, Failure, Retrier};
use super::signals::PartialFile;
use super::transport::Deadline;
use crate::exit::Code;
use crate::http::Method;
use crate::human::{self, thousands};

/// One URL's download, as a fetch of one URL and each URL of several make
/// it: where its body goes, and the settings of its own.
pub struct One<'a> {
    /// Where the body goes.
    pub destination: Destination,
    /// The temporary file a signal removes.
    pub partial: &'a PartialFile,
    /// What to check and keep of the saved bytes.
    pub options: download::Options,
    /// When to try again.
    pub retry: retry::Policy,
    /// No progress bar.
    pub quiet: bool,
}

/// A download given up: its error, and whether its last attempt connected.
#[derive(Debug)]
pub struct GaveUp {
    /// The error, with its exit code.
    pub err: anyhow::Error,
    /// False when the last attempt could not connect at all.
    pub connected: bool,
}

impl From<anyhow::Error> for GaveUp {
    fn from(err: anyhow::Error) -> Self {
        GaveUp {
            err,
            connected: true,
        }
    }
}

impl One<'_> {
    /// Runs the attempts of the download, retrying a transient failure as
    /// the policy says, and returns what it saved (`None` with `-I`).
    pub fn fetch<C: Connect>(self, attempts: &Attempts<C>) -> Result<Option<Finished>, GaveUp> {
        let method = attempts.options.method;
        let mut download = Download::new(
            self.destination,
            self.partial,
            self.options,
            self.quiet,
            attempts.first_url.as_str(),
        )?;
        let mut retrier = Retrier::new(self.retry, retry::jitter_seed());
        let started = Instant::now();
        let mut previous: Option<anyhow::Error> = None;
        loop {
            let failed = match attempts.download(&mut download) {
                Ok(()) => {
                    return Ok(finish(
                        download,
                        method,
                        &attempts.report,
                        &attempts.observed,
                    )?);
                }
                Err(Failed::Error { err, .. }) if cannot_start_over(&err) && previous.is_some() => {
                    // The output could not take a new version: the error is
                    // the one that made this attempt necessary.
                    attempts.observed.received(download.received());
                    return Err(abandon(download, previous.take().unwrap_or(err)).into());
                }
                Err(failed) => failed,
            };
            // The one decision: try again, or give up with this failure.
            let attempt = as_retried::<C>(&failed, download.saved());
            match retrier.decide(&attempt, started.elapsed()) {
                Decision::Retry { delay }
                    if !attempts.connector.stopped()
                        && wait_to_retry(
                            &reason::<C>(&failed),
                            delay,
                            attempts.total,
                            &retrier,
                            &download,
                        ) =>
                {
                    attempts.observed.retried();
                    if let Failed::Error { err, .. } = failed {
                        previous = Some(err);
                    }
                }
                _ => {
                    gave_up(&retrier, &download);
                    attempts.observed.received(download.received());
                    let connected = attempt.connected;
                    return give_up(failed, attempts, download)
                        .map_err(|err| GaveUp { err, connected });
                }
            }
        }
    }
}

/// A failed attempt as retrying sees it: its kind (a status saying "try
/// again later", with its `Retry-After`; or an error), how far it got, and
/// whether it connected.
fn as_retried<C: Connect>(failed: &AttemptFailed<C>, saved: u64) -> retry::Attempt {
    match failed {
        Failed::Status(response, ..) => retry::Attempt {
            failure: Failure::Status(response.head.status),
            reached: saved,
            connected: true,
            retry_after: response
                .head
                .header("retry-after")
                .and_then(|value| retry::retry_after(value, SystemTime::now())),
        },
        Failed::Error { err, connected } => retry::Attempt {
            failure: classify(err),
            reached: saved,
            connected: *connected,
            retry_after: None,
        },
    }
}

/// Why another attempt is needed, in words.
fn reason<C: Connect>(failed: &AttemptFailed<C>) -> String {
    match failed {
        Failed::Status(response, url, _) => format!(
            "{url} returned HTTP status {} {}",
            response.head.status, response.head.reason
        ),
        Failed::Error { err, .. } => format!("{err:#}"),
    }
}

/// Ends the download with its last failure: a status saying "try again
/// later" is a final answer then (its heads printed, then the error-page
/// rule), an error is the outcome.
fn give_up<C: Connect>(
    failed: AttemptFailed<C>,
    attempts: &Attempts<C>,
    mut download: Download,
) -> anyhow::Result<Option<Finished>> {
    match failed {
        Failed::Status(mut response, url, heads) => {
            let saved = attempts.report.heads(&heads).and_then(|()| {
                attempts.take_final(&mut response, &url, Body::Whole, &mut download)
            });
            match saved {
                Ok(()) => finish(
                    download,
                    attempts.options.method,
                    &attempts.report,
                    &attempts.observed,
                ),
                Err(err) => Err(abandon(download, err)),
            }
        }
        Failed::Error { err, .. } => Err(abandon(download, err)),
    }
}

/// Completes the download and says so; `-I` saves nothing.
fn finish(
    download: Download,
    method: Method,
    report: &Report,
    observed: &Observed,
) -> anyhow::Result<Option<Finished>> {
    observed.received(download.received());
    if method == Method::Head {
        return Ok(None);
    }
    let finished = download.finish()?;
    report.finished(&finished);
    Ok(Some(finished))
}

/// Says why and when the next attempt comes, then waits for it. False,
/// with nothing said, when `--max-time` has passed: no attempt is left.
fn wait_to_retry(
    reason: &str,
    delay: Duration,
    total: Option<Deadline>,
    retrier: &Retrier,
    download: &Download,
) -> bool {
    let Ok(wait) = Deadline::cap(total, Some(delay)) else {
        return false;
    };
    // The wait as it will be: --max-time may cut it short.
    let delay = wait.unwrap_or(delay);
    let when = if delay.is_zero() {
        "at once".to_owned()
    } else {
        format!("in {}", human::duration(delay))
    };
    let how = match download.resume() {
        Some(resume) => format!(", resuming at byte {}", thousands(resume.offset)),
        None if download.saved() > 0 => ", from the start".to_owned(),
        None => String::new(),
    };
    warn!(
        "{reason}: retrying {when} (attempt {}){how}",
        retrier.attempts() + 1
    );
    thread::sleep(delay);
    true
}

/// After the last attempt, when there was more than one: how far they got.
fn gave_up(retrier: &Retrier, download: &Download) {
    if retrier.attempts() > 1 {
        let of = download
            .total()
            .map(|total| format!(" of {}", thousands(total)))
            .unwrap_or_default();
        warn!(
            "gave up after {} attempts; the furthest got {} bytes{of}",
            retrier.attempts(),
            thousands(retrier.best().max(download.saved()))
        );
    }
}

/// Gives up the download with `err`: partial data goes (with `-C` it stays,
/// unless the error says it is wrong or too large).
fn abandon(download: Download, err: anyhow::Error) -> anyhow::Error {
    let discard = matches!(Code::of(&err), Code::Mismatch | Code::TooLarge);
    download.abandon(discard);
    err
}
