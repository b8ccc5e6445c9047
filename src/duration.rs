//! The DURATION values of the command line.
//!
//! Everywhere in sockdemo a DURATION is plain seconds (`1`, `0.5`), or
//! numbers with units from the largest to the smallest (`250ms`, `2s`,
//! `1m30s`, `1h15m`, `2d`, `1.5m`), at most [`MAX`]. The units are `d`,
//! `h`, `m`, `s`, `ms`, `us` (or `µs`) and `ns`, so whatever
//! [`crate::human::duration`] writes in a message or log line can be given
//! back on the command line. Zero means "none" or "no limit", depending on
//! the flag; [`limit`] turns that convention into an `Option` once, so the
//! rest of the code never compares with zero.

use std::time::Duration;

/// The longest DURATION any flag accepts: 100 years (of 365 days). Far beyond
/// any timeout a person means, yet small enough that adding it to the clock
/// can never overflow, which an unbounded value would.
pub const MAX: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The units of a DURATION, from the largest, with their length in
/// nanoseconds.
const UNITS: [(&str, u128); 9] = [
    ("d", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    // The Greek letter mu, which looks the same as the micro sign above.
    ("\u{3bc}s", 1_000),
    ("ns", 1),
];

/// Digits after the decimal point that count: a nanosecond of a day is
/// 1e-14 of it, so more digits could not change the value.
const MAX_DECIMALS: usize = 15;

/// Parses a DURATION: seconds, or numbers each followed by a unit (`d`,
/// `h`, `m`, `s`, `ms`, `us`/`µs`, `ns`), largest first; at most [`MAX`].
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.starts_with('-') {
        return Err(format!("\"{text}\" is negative: a duration is 0 or more"));
    }
    let not_a_duration =
        || format!("\"{text}\" is not a duration (e.g. 0.5, 500ms, 2s, 1m30s, 2d)");
    let mut rest = text;
    let mut nanos: u128 = 0;
    // The size of the last unit given: the next must be smaller.
    let mut previous: Option<u128> = None;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(split);
        let after = after.trim_start();
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.' || c.is_whitespace())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let size = match unit {
            // A bare number is seconds, and only when it stands alone.
            "" if previous.is_none() && after.is_empty() => 1_000_000_000,
            "" => return Err(not_a_duration()),
            unit => match UNITS.iter().find(|&&(name, _)| name == unit) {
                Some(&(_, size)) => size,
                None => {
                    return Err(format!(
                        "unknown unit \"{unit}\" (use d, h, m, s, ms, us or ns)"
                    ));
                }
            },
        };
        if previous.is_some_and(|previous| size >= previous) {
            return Err(format!(
                "\"{text}\": give each unit once, the largest first (e.g. 1h15m)"
            ));
        }
        previous = Some(size);
        let value = scaled(number, size).ok_or_else(not_a_duration)?;
        nanos = nanos.saturating_add(value);
        rest = after.trim_start();
    }
    if previous.is_none() {
        return Err(not_a_duration());
    }
    if nanos > MAX.as_nanos() {
        return Err(format!(
            "\"{text}\" is longer than the maximum, {}",
            crate::human::duration(MAX)
        ));
    }
    let seconds = (nanos / 1_000_000_000) as u64;
    Ok(Duration::new(seconds, (nanos % 1_000_000_000) as u32))
}

/// `number` (digits, at most one `.`) times `size` nanoseconds, exactly to
/// the nanosecond (rounded down); saturating, since anything that large is
/// over the maximum anyway. `None` when `number` is not a number.
fn scaled(number: &str, size: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return None;
    }
    let digits = |text: &str| text.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        // Too many digits for u128: far over the maximum.
        whole.parse().unwrap_or(u128::MAX)
    };
    let fraction = &fraction[..fraction.len().min(MAX_DECIMALS)];
    let mut fraction_nanos = 0;
    if !fraction.is_empty() {
        let numerator: u128 = fraction.parse().ok()?;
        fraction_nanos = numerator * size / 10u128.pow(fraction.len() as u32);
    }
    Some(whole.saturating_mul(size).saturating_add(fraction_nanos))
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
    fn compound_values_and_days() {
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1h15m"), Ok(Duration::from_secs(4500)));
        assert_eq!(parse("2d"), Ok(Duration::from_secs(2 * 86_400)));
        assert_eq!(parse("1d 2h 3m 4s"), Ok(Duration::from_secs(93_784)));
        assert_eq!(parse("1s500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("1.5\u{b5}s"), Ok(Duration::from_nanos(1500)));
        assert_eq!(parse("1.5\u{3bc}s"), Ok(Duration::from_nanos(1500)));
        assert_eq!(parse("10ns"), Ok(Duration::from_nanos(10)));
        assert_eq!(parse(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("0.1"), Ok(Duration::from_millis(100)));
    }

    #[test]
    fn units_go_once_and_from_the_largest() {
        for bad in ["30s1m", "1s1s", "1m 2", "5 5s", "1h15", "1us1\u{b5}s"] {
            let err = parse(bad).expect_err(bad);
            assert!(!err.is_empty(), "{bad}");
        }
        assert_eq!(
            parse("30s1m"),
            Err("\"30s1m\": give each unit once, the largest first (e.g. 1h15m)".to_owned())
        );
        assert_eq!(
            parse("1x"),
            Err("unknown unit \"x\" (use d, h, m, s, ms, us or ns)".to_owned())
        );
    }

    #[test]
    fn what_sockdemo_prints_parses_back() {
        let mut nanos: u64 = 1;
        // Every order of magnitude from a nanosecond to the maximum, and
        // values between them.
        while nanos < MAX.as_nanos() as u64 {
            for factor in [1, 3, 7] {
                let duration = Duration::from_nanos(nanos * factor).min(MAX);
                let text = crate::human::duration(duration);
                let back = parse(&text).unwrap_or_else(|err| panic!("{text}: {err}"));
                // Three significant digits: within half a percent.
                let (a, b) = (duration.as_secs_f64(), back.as_secs_f64());
                assert!((a - b).abs() <= a * 0.005, "{text}: {a} became {b}");
            }
            nanos *= 10;
        }
        assert_eq!(parse(&crate::human::duration(MAX)), Ok(MAX));
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
