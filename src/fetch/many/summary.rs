//! The outcome of a run of several URLs: how many files were fetched, how
//! many bytes, how many failed, and the exit code (that of the first URL in
//! input order that failed). Each finished URL leaves only its entry here.

use std::time::Duration;

use crate::exit::Code;
use crate::human;

/// What became of one URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Fetched: its file saved (with its size), or heads only.
    Fetched(u64),
    /// Not fetched: its file exists (`--skip-existing`).
    Skipped,
    /// Failed, with its exit code and the error's line.
    Failed(Code, String),
    /// Not tried: its host could not be reached earlier in the run.
    Unreachable(Code),
    /// Stopped under way, when another URL failed (`--fail-early`).
    Stopped,
}

/// A failure, for the lines after the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Failure {
    index: usize,
    url: String,
    code: Code,
    line: String,
}

/// The counts of a run, as its URLs end.
#[derive(Debug, Default)]
pub struct Summary {
    total: usize,
    fetched: usize,
    bytes: u64,
    skipped: usize,
    stopped: usize,
    failures: Vec<Failure>,
    /// The URLs of unreachable hosts not tried, by host: said once each.
    unreachable: Vec<(String, usize)>,
}

impl Summary {
    /// A summary of a run of `total` URLs.
    pub fn new(total: usize) -> Summary {
        Summary {
            total,
            ..Summary::default()
        }
    }

    /// Counts what became of the URL at `index`.
    pub fn record(&mut self, index: usize, url: &url::Url, outcome: Outcome) {
        match outcome {
            Outcome::Fetched(bytes) => {
                self.fetched += 1;
                self.bytes += bytes;
            }
            Outcome::Skipped => self.skipped += 1,
            Outcome::Stopped => self.stopped += 1,
            Outcome::Failed(code, line) => self.failures.push(Failure {
                index,
                url: url.to_string(),
                code,
                line,
            }),
            Outcome::Unreachable(code) => {
                let host = super::server(url);
                match self.unreachable.iter_mut().find(|(seen, _)| *seen == host) {
                    Some((_, count)) => *count += 1,
                    None => self.unreachable.push((host, 1)),
                }
                self.failures.push(Failure {
                    index,
                    url: url.to_string(),
                    code,
                    line: String::new(),
                });
            }
        }
    }

    /// The failed URLs.
    pub fn failed(&self) -> usize {
        self.failures.len()
    }

    /// The exit code of the first failed URL in input order, if any.
    pub fn code(&self) -> Option<Code> {
        self.failures
            .iter()
            .min_by_key(|failure| failure.index)
            .map(|failure| failure.code)
    }

    /// The summary line: `fetched 198 of 200 files, 1.1 GiB in 3.4 s; 2 failed`.
    pub fn line(&self, elapsed: Duration) -> String {
        let mut line = format!(
            "fetched {} of {} files, {} in {:.1} s",
            self.fetched,
            self.total,
            human::bytes(self.bytes),
            elapsed.as_secs_f64()
        );
        let not_tried =
            self.total - self.fetched - self.skipped - self.stopped - self.failures.len();
        for (count, what) in [
            (self.failures.len(), "failed"),
            (self.skipped, "skipped"),
            (self.stopped, "stopped"),
            (not_tried, "not tried"),
        ] {
            if count > 0 {
                line.push_str(&format!("; {count} {what}"));
            }
        }
        line
    }

    /// One line per failure, in input order, naming its URL; the URLs of
    /// a host not tried again are said once for the host.
    pub fn failure_lines(&self) -> Vec<String> {
        let mut failures: Vec<&Failure> = self.failures.iter().collect();
        failures.sort_by_key(|failure| failure.index);
        let mut lines: Vec<String> = failures
            .iter()
            .filter(|failure| !failure.line.is_empty())
            .map(|failure| format!("failed: {}: {}", failure.url, failure.line))
            .collect();
        for (host, count) in &self.unreachable {
            lines.push(format!(
                "failed: {count} more URL(s) of {host}: not tried, {host} could not be reached"
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> url::Url {
        url::Url::parse(text).unwrap()
    }

    #[test]
    fn the_line_counts_files_bytes_and_failures() {
        let mut summary = Summary::new(4);
        summary.record(0, &url("http://h/a"), Outcome::Fetched(1024 * 1024));
        summary.record(1, &url("http://h/b"), Outcome::Fetched(1024 * 1024));
        summary.record(3, &url("http://h/d"), Outcome::Skipped);
        assert_eq!(
            summary.line(Duration::from_millis(3400)),
            "fetched 2 of 4 files, 2.0 MiB in 3.4 s; 1 skipped; 1 not tried"
        );
        summary.record(2, &url("http://h/c"), Outcome::Stopped);
        assert!(
            summary
                .line(Duration::ZERO)
                .ends_with("; 1 skipped; 1 stopped")
        );
        assert_eq!(summary.code(), None);
    }

    #[test]
    fn the_code_is_that_of_the_first_failed_url_in_input_order() {
        let mut summary = Summary::new(3);
        summary.record(
            2,
            &url("http://h/c"),
            Outcome::Failed(Code::HttpError, "404".into()),
        );
        summary.record(
            0,
            &url("http://g/a"),
            Outcome::Failed(Code::CouldntConnect, "no".into()),
        );
        summary.record(
            1,
            &url("http://g/b"),
            Outcome::Unreachable(Code::CouldntConnect),
        );
        assert_eq!(summary.code(), Some(Code::CouldntConnect));
        assert_eq!(
            summary.failure_lines(),
            [
                "failed: http://g/a: no",
                "failed: http://h/c: 404",
                "failed: 1 more URL(s) of g:80: not tried, g:80 could not be reached"
            ]
        );
        assert!(summary.line(Duration::ZERO).ends_with("; 3 failed"));
    }
}
