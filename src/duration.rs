//! The DURATION values of the command line.
//!
//! Everywhere in sockdemo a DURATION is plain seconds (`1`, `0.5`) or a
//! number with a unit (`250ms`, `2s`, `5m`, `1h`). Zero means "none" or "no
//! limit", depending on the flag; [`limit`] turns that convention into an
//! `Option` once, so the rest of the code never compares with zero.

use std::time::Duration;

/// Parses a DURATION: seconds, or a number followed by `ms`, `s`, `m` or `h`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(sockdemo::duration::parse("1.5"), Ok(Duration::from_millis(1500)));
/// assert_eq!(sockdemo::duration::parse("5m"), Ok(Duration::from_secs(300)));
/// ```
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let seconds_per_unit = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("unknown unit {other:?} (use ms, s, m or h)")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 0.5, 500ms, 2s, 5m)"))?;
    Duration::try_from_secs_f64(value * seconds_per_unit)
        .map_err(|_| format!("{text:?} is out of range"))
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
        for bad in ["", "s", "abc", "1x", "-1", "1.2.3", "1e999999"] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn zero_is_no_limit() {
        assert_eq!(limit(Duration::ZERO), None);
        assert_eq!(limit(Duration::from_secs(3)), Some(Duration::from_secs(3)));
    }
}
