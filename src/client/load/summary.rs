//! What load mode reports: the one-line summary (text or JSON), the verdict
//! that becomes the exit code, and the latency distribution written for
//! `--histogram`. Everything here works on the measurements once the run is
//! over; none of it touches a socket.

use std::fmt::Write as _;
use std::fs;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::{Load, Shared, lock};
use crate::client::print_line;
use crate::exit::{Code, WithCode, fail, fail_with};

/// Prints the summary (text or JSON) and writes the histogram file.
pub(super) fn report(summary: &Summary, load: &Load) -> anyhow::Result<()> {
    if let Some(path) = &load.histogram {
        fs::write(path, summary.percentile_distribution())
            .with_code(Code::WriteError, || format!("writing {}", path.display()))?;
    }
    let line = if load.json {
        summary.json().to_string()
    } else {
        summary.to_string()
    };
    match print_line(&mut std::io::stdout().lock(), line.as_bytes()) {
        // With nobody reading the summary, the exit code still tells the outcome.
        Err(err) if !crate::client::stdout_closed(&err) => Err(err),
        _ => Ok(()),
    }
}

/// What load mode reports.
pub(super) struct Summary {
    connections: usize,
    failed: usize,
    first_failure: Option<anyhow::Error>,
    elapsed: Duration,
    latency: Histogram<u64>,
    interrupted: bool,
}

impl Summary {
    pub(super) fn of(
        shared: &Shared,
        connections: usize,
        elapsed: Duration,
        interrupted: bool,
    ) -> Summary {
        let mut failures = lock(&shared.failures);
        Summary {
            connections,
            failed: failures.count,
            first_failure: failures.first.take().map(|(_, err)| err),
            elapsed,
            latency: lock(&shared.latency).clone(),
            interrupted,
        }
    }

    fn round_trips(&self) -> u64 {
        self.latency.len()
    }

    fn per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.round_trips() as f64 / seconds
        } else {
            0.0
        }
    }

    /// A latency quantile in microseconds.
    fn micros(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1e3
    }

    /// Exit 0 only when every connection succeeded; otherwise the first
    /// failure's message and exit code, with the count; 130 after Ctrl-C.
    pub(super) fn verdict(self) -> anyhow::Result<()> {
        if self.interrupted {
            return Err(fail(
                Code::Interrupted,
                "interrupted: the summary covers the round trips done until then",
            ));
        }
        let Some(first) = self.first_failure else {
            return Ok(());
        };
        Err(fail_with(
            Code::of(&first),
            format!(
                "{} of {} connections failed; the first",
                self.failed, self.connections
            ),
            first,
        ))
    }

    /// The summary as one JSON object, for scripts and plots.
    fn json(&self) -> serde_json::Value {
        let latency = (!self.latency.is_empty()).then(|| {
            serde_json::json!({
                "p50": self.micros(0.50),
                "p90": self.micros(0.90),
                "p99": self.micros(0.99),
                "p99_9": self.micros(0.999),
                "max": self.latency.max() as f64 / 1e3,
                "mean": self.latency.mean() / 1e3,
            })
        });
        serde_json::json!({
            "connections_ok": self.connections - self.failed,
            "connections_failed": self.failed,
            "round_trips": self.round_trips(),
            "elapsed_s": self.elapsed.as_secs_f64(),
            "round_trips_per_s": self.per_second(),
            "latency_us": latency,
            "first_failure": self.first_failure.as_ref().map(|err| format!("{err:#}")),
            "interrupted": self.interrupted,
        })
    }

    /// The latency distribution in HdrHistogram's percentile text format,
    /// values in microseconds: what wrk2 prints, and what HdrHistogram's
    /// plotter reads.
    fn percentile_distribution(&self) -> String {
        const SCALE: f64 = 1e3;
        let mut text = format!(
            "{:>12} {:>14} {:>10} {:>14}\n\n",
            "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
        );
        let mut total = 0u64;
        for step in self.latency.iter_quantiles(5) {
            total += step.count_since_last_iteration();
            let value = step.value_iterated_to() as f64 / SCALE;
            let quantile = step.quantile_iterated_to();
            let _ = if quantile < 1.0 {
                writeln!(
                    text,
                    "{value:12.3} {quantile:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - quantile)
                )
            } else {
                writeln!(text, "{value:12.3} {quantile:2.12} {total:10}")
            };
        }
        let _ = writeln!(
            text,
            "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
            self.latency.mean() / SCALE,
            self.latency.stdev() / SCALE
        );
        let _ = writeln!(
            text,
            "#[Max     = {:12.3}, Total count    = {:12}]",
            self.latency.max() as f64 / SCALE,
            self.latency.len()
        );
        let _ = writeln!(
            text,
            "#[Buckets = {:12}, SubBuckets     = {:12}]",
            self.latency.buckets(),
            self.latency.distinct_values()
        );
        text
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "connections: {} ok, {} failed; round trips: {} in {:.3} s, {:.0}/s",
            self.connections - self.failed,
            self.failed,
            self.round_trips(),
            self.elapsed.as_secs_f64(),
            self.per_second()
        )?;
        if self.latency.is_empty() {
            return f.write_str("; latency: none measured");
        }
        write!(
            f,
            "; latency p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            self.micros(0.50) / 1e3,
            self.micros(0.90) / 1e3,
            self.micros(0.99) / 1e3,
            self.latency.max() as f64 / 1e6
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::load::LATENCY_MAX_NS;

    fn summary(latencies_ns: &[u64]) -> Summary {
        let mut latency = Histogram::new_with_bounds(1, LATENCY_MAX_NS, 3).expect("bounds");
        for &ns in latencies_ns {
            latency.record(ns).expect("record");
        }
        Summary {
            connections: 4,
            failed: 1,
            first_failure: Some(fail(Code::RecvError, "127.0.0.1:1 closed the connection")),
            elapsed: Duration::from_secs(2),
            latency,
            interrupted: false,
        }
    }

    #[test]
    fn the_json_summary_has_every_documented_field_in_its_unit() {
        let json = summary(&[1_000_000, 2_000_000, 3_000_000]).json();
        assert_eq!(json["connections_ok"], 3);
        assert_eq!(json["connections_failed"], 1);
        assert_eq!(json["round_trips"], 3);
        assert_eq!(json["elapsed_s"], 2.0);
        assert_eq!(json["round_trips_per_s"], 1.5);
        let p50 = json["latency_us"]["p50"].as_f64().expect("p50");
        assert!((p50 - 2000.0).abs() < 2.0, "{p50}");
        let max = json["latency_us"]["max"].as_f64().expect("max");
        assert!((max - 3000.0).abs() < 3.0, "{max}");
        assert!(json["latency_us"]["p90"].is_f64() && json["latency_us"]["p99_9"].is_f64());
        assert_eq!(json["first_failure"], "127.0.0.1:1 closed the connection");
        assert_eq!(json["interrupted"], false);
        assert!(summary(&[]).json()["latency_us"].is_null());
    }

    #[test]
    fn the_distribution_is_in_hdrhistograms_text_format_in_microseconds() {
        let latencies: Vec<u64> = (1..=1000).map(|i| i * 1000).collect();
        let text = summary(&latencies).percentile_distribution();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("       Value     Percentile TotalCount 1/(1-Percentile)")
        );
        assert_eq!(lines.next(), Some(""));
        let first = lines.next().expect("first row");
        let fields: Vec<&str> = first.split_whitespace().collect();
        assert_eq!(fields, ["1.000", "0.000000000000", "1", "1.00"]);
        let rows: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        let last: Vec<&str> = rows.last().expect("last row").split_whitespace().collect();
        assert_eq!(last.len(), 3, "{last:?}");
        assert_eq!(last[1], "1.000000000000");
        assert_eq!(last[2], "1000");
        assert!(
            text.contains("#[Max     =     1000.447, Total count    =         1000]"),
            "{text}"
        );
    }

    #[test]
    fn the_text_summary_keeps_its_shape() {
        let text = summary(&[1_500_000]).to_string();
        assert!(
            text.starts_with(
                "connections: 3 ok, 1 failed; round trips: 1 in 2.000 s, 0/s; latency p50 1.500 ms"
            ),
            "{text}"
        );
    }
}
