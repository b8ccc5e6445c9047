//! The DURATION values of the command line.
//!
//! Everywhere in sockdemo a DURATION is plain seconds (`1`, `0.5`) or a
//! number with a unit (`250ms`, `2s`, `5m`, `1h`), at most [`MAX`]. Zero
//! means "none" or "no limit", depending on the flag; [`limit`] turns that
//! convention into an `Option` once, so the rest of the code never compares
//! with zero. Every message and log line writes a duration with
//! [`crate::human::duration`].

use std::time::Duration;

/// The longest DURATION any flag accepts: 100 years (of 365 days). Far beyond
/// any timeout a person means, yet small enough that adding it to the clock
/// can never overflow, which an unbounded value would.
pub const MAX: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Parses a DURATION: seconds, or a number followed by `ms`, `s`, `m` or `h`;
/// at most [`MAX`].
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.starts_with('-') {
        return Err(format!("\"{text}\" is negative: a duration is 0 or more"));
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let seconds_per_unit = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("unknown unit \"{other}\" (use ms, s, m or h)")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("\"{text}\" is not a duration (e.g. 0.5, 500ms, 2s, 5m)"))?;
    let too_long = || {
        format!(
            "\"{text}\" is longer than the maximum, {}",
            crate::human::duration(MAX)
        )
    };
    let duration = Duration::try_from_secs_f64(value * seconds_per_unit).map_err(|_| too_long())?;
    if duration > MAX {
        return Err(too_long());
    }
    Ok(duration)
}

/// Turns the command line's "zero means none" into an `Option`.
pub fn limit(duration: Duration) -> Option<Duration> {
    (!duration.is_zero()).then_some(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_seconds_and_units() {
        assert_eq!(parse("1"), Ok(Duration::from_secs(1)));
        assert_eq!(parse("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "s", "abc", "1x", "1.2.3", "1e999999"] {
            assert!(parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn a_negative_duration_says_it_is_negative() {
        for negative in ["-1", "-0.5s", " -3m"] {
            let err = parse(negative).expect_err("negative accepted");
            assert!(err.contains("is negative"), "{err}");
        }
    }

    #[test]
    fn the_maximum_is_a_hundred_years() {
        assert_eq!(parse("876000h"), Ok(MAX));
        for too_long in ["876000.001h", "10000000000000000000", "3153600001"] {
            let err = parse(too_long).expect_err("too long accepted");
            assert_eq!(
                err,
                format!("\"{too_long}\" is longer than the maximum, 36500d")
            );
        }
        // The maximum can be added to the clock.
        assert!(std::time::Instant::now().checked_add(MAX).is_some());
    }

    #[test]
    fn zero_is_no_limit() {
        assert_eq!(limit(Duration::ZERO), None);
        assert_eq!(limit(Duration::from_secs(3)), Some(Duration::from_secs(3)));
    }

    #[test]
    fn the_documented_examples() {
        use std::time::Duration;
        assert_eq!(
            crate::duration::parse("1.5"),
            Ok(Duration::from_millis(1500))
        );
        assert_eq!(crate::duration::parse("5m"), Ok(Duration::from_secs(300)));
    }
}
