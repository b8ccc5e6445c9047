//! The transfer slots of a run: each takes the next URL the schedule allows,
//! fetches it as a download of its own, and hands what it said to the one
//! writer.

use std::time::{Duration, Instant};

use super::checksums::Checksums;
use super::names::Job;
use super::schedule::{Schedule, Task};
use super::skipped_line;
use super::summary::Outcome;
use crate::exit::Code;
use crate::fetch::attempt::{self, Attempts, Connect};
use crate::fetch::credentials;
use crate::fetch::download::{self, Finished};
use crate::fetch::names as fetch_names;
use crate::fetch::observed::Observed;
use crate::fetch::output::Destination;
use crate::fetch::report::{self, Block, Report, Verbosity};
use crate::fetch::signals::PartialFiles;
use crate::fetch::transport::Deadline;
use crate::fetch::transport::pool::Pool;
use crate::fetch::write_out::{Format, Stream};
use crate::fetch::{One, Times, retry};

/// What a slot sends the writer when a URL ends.
pub(super) struct Done {
    pub(super) index: usize,
    pub(super) outcome: Outcome,
    pub(super) block: Block,
    /// What `--write-out` rendered for the URL.
    pub(super) written_out: Vec<(Stream, String)>,
}

/// What every slot of a run shares.
pub(super) struct Run<'a> {
    pub(super) jobs: &'a [Job],
    pub(super) pool: &'a Pool,
    pub(super) schedule: Schedule,
    pub(super) files: PartialFiles,
    pub(super) request: attempt::Options,
    pub(super) download: download::Options,
    pub(super) checksums: Checksums,
    pub(super) retry: retry::Policy,
    pub(super) max_time: Option<Duration>,
    pub(super) verbosity: Verbosity,
    pub(super) show_heads: bool,
    pub(super) skip_existing: bool,
    pub(super) fail_early: bool,
    pub(super) credentials: credentials::Settled,
    pub(super) times: Times,
    pub(super) write_out: Option<Format>,
}

impl Run<'_> {
    /// A transfer slot: takes URLs until none is left, handing each to
    /// `writer` as it ends (false from it: the writer is gone).
    pub(super) fn slot(&self, mut writer: impl FnMut(Done) -> bool) {
        while let Some(task) = self.schedule.take() {
            let done = match task {
                Task::Unreachable(index, code) => {
                    self.pool.begin(&self.jobs[index].entry.url);
                    Done {
                        index,
                        outcome: Outcome::Unreachable(code),
                        block: Block::default(),
                        written_out: Vec::new(),
                    }
                }
                Task::Fetch(index) => {
                    let (done, unreachable) = self.fetch(index);
                    self.schedule.done(index, unreachable);
                    done
                }
            };
            let mut done = done;
            if self.fail_early && matches!(done.outcome, Outcome::Failed(..)) {
                if self.pool.stopped() {
                    // Ended by the stop that another failure made.
                    done.outcome = Outcome::Stopped;
                } else {
                    // Before the slot looks for its next URL; the other
                    // transfers end now.
                    self.schedule.stop();
                    self.pool.stop();
                }
            }
            if !writer(done) {
                return;
            }
        }
    }

    /// Fetches the URL at `index`; the code as well when its host could
    /// not be reached at all.
    fn fetch(&self, index: usize) -> (Done, Option<Code>) {
        let job = &self.jobs[index];
        let url = &job.entry.url;
        self.pool.begin(url);
        if let (true, Some(path)) = (self.skip_existing, &job.path)
            && path.exists()
        {
            let block = Block {
                stderr: skipped_line(path).into_bytes(),
                ..Block::default()
            };
            let outcome = Outcome::Skipped;
            return (
                Done {
                    index,
                    outcome,
                    block,
                    written_out: Vec::new(),
                },
                None,
            );
        }
        let (report, block) = Report::collecting(self.verbosity, self.show_heads);
        let observed = Observed::new(Instant::now());
        observed.request(url);
        if let Some(path) = &job.path {
            observed.file(path.to_string_lossy().into_owned());
        }
        let mut request = self.request.clone();
        request.credentials = self.credentials.for_target(job.entry.user.as_ref(), url);
        let condition = fetch_names::condition(
            self.times.timestamping,
            self.times.time_cond.as_ref(),
            job.path.as_deref(),
        );
        request.condition = match condition {
            Ok(condition) => condition,
            Err(err) => {
                let outcome = Outcome::Failed(Code::of(&err), format!("{err:#}"));
                let block = Block::default();
                let written_out = Vec::new();
                return (
                    Done {
                        index,
                        outcome,
                        block,
                        written_out,
                    },
                    None,
                );
            }
        };
        let attempts = Attempts {
            options: request,
            connector: self.pool,
            total: Deadline::after(self.max_time, "the whole transfer (--max-time)"),
            first_url: url.clone(),
            report,
            observed: observed.clone(),
        };
        let partial = self.files.add(index);
        let mut options = self.download.clone();
        options.checksum = job.path.as_deref().and_then(|path| self.checksums.of(path));
        let one = One {
            // -I saves nothing: no file is named.
            destination: job
                .path
                .clone()
                .map_or(Destination::Stdout, Destination::File),
            partial: &partial,
            options,
            retry: self.retry.clone(),
            quiet: true,
        };
        let result = one.fetch(&attempts);
        self.files.forget(index);
        drop(attempts);
        let block = std::mem::take(&mut *report::lock(&block));
        let written_out = match &self.write_out {
            Some(format) => {
                let (code, message) = match &result {
                    Ok(_) => (Code::Success, String::new()),
                    Err(gave_up) => (Code::of(&gave_up.err), format!("{:#}", gave_up.err)),
                };
                format.render(&observed.record(code as u8, message))
            }
            None => Vec::new(),
        };
        let (outcome, unreachable) = match result {
            Ok(Some(Finished::Saved { bytes, .. })) => (Outcome::Fetched(bytes), None),
            Ok(_) => (Outcome::Fetched(0), None),
            Err(gave_up) => {
                let code = Code::of(&gave_up.err);
                let unreachable = (!gave_up.connected).then_some(code);
                (
                    Outcome::Failed(code, format!("{:#}", gave_up.err)),
                    unreachable,
                )
            }
        };
        (
            Done {
                index,
                outcome,
                block,
                written_out,
            },
            unreachable,
        )
    }
}
