//! What the attempts of one download share: the output the body goes into,
//! how many bytes of which version of the file it holds, and the checks on
//! what is saved (`--checksum`, `--expect-size`, `--max-filesize`).
//!
//! An attempt either continues the saved bytes (a 206 that matches) or
//! brings a whole body, which replaces them: two versions of a file are
//! never stitched together. Codings are undone here, as the body streams:
//! the transfer codings always, the content codings with `--compressed`.
//! What a body will be is decided before it streams ([`plan`]).

mod plan;

use std::sync::Arc;

use anyhow::Context;
use log::{debug, info, warn};
use url::Url;

use super::exchange::{Response, Wire};
use super::failure::CannotStartOver;
use super::names::{self, Naming};
use super::output::{Destination, Output, SavedNames};
use super::partial::Meta;
use super::progress::Progress;
use super::signals::PartialFile;
use super::verify::{Checksum, Verifier};
use crate::exit::{Code, WithCode, fail, fail_with};
use crate::http::{self, Coding, DecodeError, Decoder, Framing, RangeMismatch, Resume, Validator};
use crate::human;
pub use plan::Body;
use plan::{Plan, PlanError};

/// What the command line asks of a download.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-C`: keep partial data in a `.part` beside the target, and continue it.
    pub continue_partial: bool,
    /// `--checksum`: the digest the saved bytes must have.
    pub checksum: Option<Checksum>,
    /// `--expect-size`: the size the saved bytes must have.
    pub expect_size: Option<u64>,
    /// `--max-filesize`: the most bytes saved, decoded ones included.
    pub max_filesize: Option<u64>,
    /// `--compressed`: save a compressed body decoded.
    pub compressed: bool,
    /// `-J`, `-R`: the file's name and time from the response.
    pub naming: Naming,
    /// In a run of several URLs, the files saved so far, which no other
    /// URL of the run replaces.
    pub saved: Option<Arc<SavedNames>>,
}

/// The version of the file the saved bytes are a prefix of, when they can
/// be continued.
#[derive(Debug, Clone)]
struct Source {
    validator: Validator,
    /// The length of the whole file, when announced.
    total: Option<u64>,
}

/// The state of a download across its attempts.
pub struct Download {
    destination: Destination,
    partial: PartialFile,
    /// `-C`: the output is the `.part` of the target, kept on failure.
    continued: bool,
    /// The URL as given, recorded with a `.part`.
    url: String,
    /// Opened at the first body, or at the start with `-C`.
    output: Option<Output>,
    /// Bytes of the file in the output.
    saved: u64,
    /// Bytes of bodies received by this run, before content decoding.
    received: u64,
    source: Option<Source>,
    verifier: Verifier,
    max_filesize: Option<u64>,
    compressed: bool,
    quiet: bool,
    /// Why the final response saves nothing (a 304 has no body): the
    /// user's file stays as it is.
    nothing: Option<String>,
    naming: Naming,
    saved_in_run: Option<Arc<SavedNames>>,
    /// `-R`: the time the saved file gets.
    modified: Option<std::time::SystemTime>,
    /// A 206 that did not fit has already made this run start over.
    started_over: bool,
}

/// What a download ended with.
#[derive(Debug, PartialEq, Eq)]
pub enum Finished {
    /// The file, by the name the user knows it by, and its size.
    Saved { name: String, bytes: u64 },
    /// Nothing was written, and why: the final response has no body.
    Nothing { why: String },
}

impl Download {
    /// A download of `url` into `destination`, showing its progress unless
    /// `quiet`. With `-C`, the `.part` of an earlier run is opened now, and
    /// what it holds is hashed for `--checksum`.
    pub fn new(
        destination: Destination,
        partial: &PartialFile,
        options: Options,
        quiet: bool,
        url: &str,
    ) -> anyhow::Result<Download> {
        let mut download = Download {
            partial: partial.clone(),
            continued: options.continue_partial,
            url: url.to_owned(),
            output: None,
            saved: 0,
            received: 0,
            source: None,
            verifier: Verifier::new(options.checksum, options.expect_size),
            max_filesize: options.max_filesize,
            compressed: options.compressed,
            quiet,
            nothing: None,
            naming: options.naming,
            saved_in_run: options.saved,
            modified: None,
            started_over: false,
            destination,
        };
        if let (true, Destination::File(path)) = (download.continued, &download.destination) {
            let mut output = Output::open_continued(path, url, partial)?;
            if let Some(kept) = output.kept() {
                let verifier = &mut download.verifier;
                // Hashed once, and only when there is something to check.
                let mut mismatch = Ok(());
                if verifier.checks_anything() {
                    output.read_kept(|data| {
                        if mismatch.is_ok() {
                            mismatch = verifier.update(data);
                        }
                    })?;
                }
                if let Err(err) = mismatch {
                    // Known to be wrong: the next run must not continue it.
                    let name = output.name().to_owned();
                    output.abandon(true);
                    return Err(fail_with(Code::Mismatch, format!("checking {name}"), err));
                }
                info!(
                    "continuing {} from byte {} ({})",
                    output.name(),
                    kept.offset,
                    kept.validator
                );
                download.saved = kept.offset;
                download.source = Some(Source {
                    validator: kept.validator,
                    total: kept.total,
                });
            }
            download.output = Some(output);
        }
        Ok(download)
    }

    /// Bytes of the file saved so far.
    pub fn saved(&self) -> u64 {
        self.saved
    }

    /// Bytes of bodies received by this run, as sent (before a content
    /// coding is undone): `--write-out`'s `size_download`.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The length of the whole file, when known.
    pub fn total(&self) -> Option<u64> {
        self.source.as_ref().and_then(|source| source.total)
    }

    /// How the next request continues what is saved, if it can.
    pub fn resume(&self) -> Option<Resume> {
        let source = self.source.as_ref()?;
        (self.saved > 0).then(|| Resume {
            offset: self.saved,
            validator: source.validator.clone(),
            total: source.total,
        })
    }

    /// The saved bytes can no longer be continued (the server refused the
    /// range): the next body replaces them.
    pub fn forget_resume(&mut self) {
        self.source = None;
    }

    /// A 206 that does not fit what was asked (another version of the
    /// file, another range; RFC 9110 sections 13.1.5 and 14.4) proves the
    /// saved bytes stale: they go, a kept `.part` with them, and the
    /// download starts over from the first byte in the same output, said in
    /// one line. Once in a run: a second mismatch is the error (8). An
    /// output that cannot be emptied (stdout) cannot start over: the run
    /// fails as with a `200` there ([`CannotStartOver`]).
    pub fn start_over_after(&mut self, mismatch: RangeMismatch, url: &Url) -> anyhow::Result<()> {
        let stale = self.saved;
        if let Some(output) = &mut self.output
            && (stale > 0 || self.continued)
        {
            if !output.can_restart() {
                return Err(anyhow::Error::new(CannotStartOver));
            }
            output.restart(None)?;
        }
        self.saved = 0;
        self.source = None;
        self.verifier.restart();
        if std::mem::replace(&mut self.started_over, true) {
            return Err(fail_with(
                Code::BadResponse,
                format!("fetching {url}"),
                mismatch,
            ));
        }
        let what = match (stale, &self.output) {
            (0, _) => "asking again for the whole file".to_owned(),
            (_, Some(output)) if self.continued => format!(
                "discarding the {} bytes kept for {} and starting over",
                human::thousands(stale),
                output.name()
            ),
            _ => format!(
                "discarding the {} bytes saved and starting over",
                human::thousands(stale)
            ),
        };
        warn!("{url}: {mismatch}: {what}");
        Ok(())
    }

    /// Saves the body of the final response of an attempt, from the
    /// receive buffer through the decoders into the output.
    pub fn save<S: Wire>(
        &mut self,
        response: &mut Response<S>,
        url: &Url,
        body: Body,
    ) -> anyhow::Result<()> {
        let fetching = || format!("fetching {url}");
        let codings = plan::codings(&response.head, self.compressed)
            .map_err(|err| fail_with(Code::BadEncoding, fetching(), err))?;
        if body == Body::Whole {
            self.take_whole(response, url, &codings)?;
        }
        if self.naming.remote_time {
            self.modified = names::last_modified(&response.head);
        }
        let output = match &mut self.output {
            Some(output) => output,
            None => {
                let mut keep_existing = false;
                if let (true, Destination::File(url_named)) =
                    (self.naming.header_name, &self.destination)
                {
                    let path =
                        names::header_name(url_named, &response.head, self.naming.may_replace)?;
                    // A name the server chose replaces no file, not even
                    // one that appears while the body comes.
                    keep_existing = &path != url_named && !self.naming.may_replace;
                    self.destination = Destination::File(path);
                }
                let output = self
                    .output
                    .insert(Output::open(&self.destination, &self.partial)?);
                if keep_existing {
                    output.keep_existing();
                }
                output
            }
        };
        let plan = Plan::new(
            codings,
            response.framing,
            body,
            self.saved,
            self.max_filesize,
        )
        .map_err(|err| plan_failure(&err, Some(url)))?;
        let mut progress =
            Progress::start(plan.total, self.saved, self.quiet, self.partial.meter());
        if plan.end.is_some() {
            progress.note(&format!("resuming at {}", human::bytes(self.saved)));
        }
        let (saved, verifier, received) = (&mut self.saved, &mut self.verifier, &mut self.received);
        let mut write = |data: &[u8]| -> anyhow::Result<()> {
            plan.check_growth(*saved + data.len() as u64)
                .map_err(|err| plan_failure(&err, None))?;
            verifier
                .update(data)
                .with_code(Code::Mismatch, || "checking the download")?;
            output.write_all(data)?;
            *saved += data.len() as u64;
            progress.advance(data.len());
            Ok(())
        };
        let mut decoder = Decoder::new(&plan.codings);
        response
            .exchange
            .body(response.framing, |data| {
                *received += data.len() as u64;
                decoder.feed(data, &mut write).map_err(decoding)
            })
            .and_then(|_| decoder.finish(&mut write).map_err(decoding))
            .with_context(fetching)?;
        plan.check_end(self.saved)
            .map_err(|err| plan_failure(&err, Some(url)))
    }

    /// A whole body is coming: whatever is saved is of another version, and
    /// goes; what the body is a version of is noted, for a later resume.
    fn take_whole<S>(
        &mut self,
        response: &Response<S>,
        url: &Url,
        codings: &[Coding],
    ) -> anyhow::Result<()> {
        // Ranges count the bytes of the content as sent: a decoded content
        // coding cannot be continued (its decoder's state would be gone).
        let decodes_content = self.compressed
            && http::content_codings(&response.head).is_ok_and(|codings| !codings.is_empty());
        self.source = if decodes_content {
            None
        } else {
            Validator::of(&response.head).map(|validator| Source {
                validator,
                total: match response.framing {
                    Framing::Length(length) if codings.is_empty() => Some(length),
                    _ => None,
                },
            })
        };
        let meta = match (&self.source, self.continued) {
            (Some(source), true) => Some(Meta {
                url: self.url.clone(),
                final_url: url.to_string(),
                validator: source.validator.clone(),
                total: source.total,
            }),
            _ => None,
        };
        match &mut self.output {
            Some(output) if self.saved > 0 || self.continued => {
                if !output.can_restart() {
                    return Err(anyhow::Error::new(CannotStartOver));
                }
                debug!("starting over: the saved bytes are of another version");
                output.restart(meta)?;
            }
            _ => {}
        }
        self.saved = 0;
        self.verifier.restart();
        Ok(())
    }

    /// Completes the download: the checks, then the rename into place.
    /// Returns the name written to and the bytes saved.
    pub fn finish(mut self) -> anyhow::Result<Finished> {
        if let Some(why) = self.nothing.take() {
            // Kept with -C: it still holds a prefix of the file.
            if let Some(output) = self.output.take() {
                output.abandon(false);
            }
            return Ok(Finished::Nothing { why });
        }
        let output = match self.output.take() {
            Some(output) => output,
            None => Output::open(&self.destination, &self.partial)?,
        };
        let verifier = std::mem::replace(&mut self.verifier, Verifier::new(None, None));
        if let Err(mismatch) = verifier.finish() {
            output.abandon(true);
            return Err(fail_with(
                Code::Mismatch,
                "checking the download: kept nothing",
                mismatch,
            ));
        }
        let mut output = output;
        if let Some(time) = self.modified {
            output.set_modified(time);
        }
        let name = output.commit(self.saved_in_run.as_deref())?;
        Ok(Finished::Saved {
            name,
            bytes: self.saved,
        })
    }

    /// The final response has no body by definition (a 204, or a 304
    /// answering a conditional `-H`): saving it would replace the user's
    /// file with an empty one, so nothing is written, as with curl.
    pub fn save_nothing(&mut self, why: String) {
        self.nothing = Some(why);
    }

    /// Gives up: the partial data is removed, or kept with `-C` unless
    /// `discard` (it is known to be wrong).
    pub fn abandon(mut self, discard: bool) {
        if let Some(output) = self.output.take() {
            output.abandon(discard);
        }
    }
}

/// A body the plan refuses, with its exit code: too large is 63, a cut
/// continuation 18, any other a malformed reply (8). Said as of `url`
/// when it is decided before the body.
fn plan_failure(err: &PlanError, url: Option<&Url>) -> anyhow::Error {
    let code = match err {
        PlanError::TooLarge { .. } => Code::TooLarge,
        PlanError::Short { .. } => Code::PartialBody,
        PlanError::LengthOverflow
        | PlanError::CodedContinuation
        | PlanError::LengthNotRange
        | PlanError::PastEnd { .. } => Code::BadResponse,
    };
    match (url, err) {
        // The limit is the user's, not the URL's.
        (Some(url), err) if !matches!(err, PlanError::TooLarge { .. }) => {
            fail(code, format!("fetching {url}: {err}"))
        }
        _ => fail(code, err.to_string()),
    }
}

/// A decoding failure: the data (exit 61), or what the decoded bytes were
/// handed to.
fn decoding(err: DecodeError<anyhow::Error>) -> anyhow::Error {
    match err {
        DecodeError::Coding(err) => fail_with(Code::BadEncoding, "decoding the body", err),
        DecodeError::Sink(err) => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_errors_exit_61_and_sink_errors_keep_their_code() {
        let bad = decoding(DecodeError::Coding(http::CodingError::Truncated {
            coding: Coding::Gzip,
        }));
        assert_eq!(Code::of(&bad), Code::BadEncoding);
        let sink = decoding(DecodeError::Sink(plan_failure(
            &PlanError::TooLarge { max: 5 },
            None,
        )));
        assert_eq!(Code::of(&sink), Code::TooLarge);
    }
}
