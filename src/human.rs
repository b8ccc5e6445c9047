//! Numbers as people read them in messages and logs: counts grouped by
//! thousands (`15,900`), byte counts (`312.0 MiB`), durations (`1.5s`).

use std::time::Duration;

/// A count with thousands separators, as people read large numbers: `15,900`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

/// A byte count as people read it: `312.0 MiB`, `512 bytes`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Writes a duration the way a person would: in the largest unit that keeps
/// it readable, with at most three significant digits (`300ms`, `1.5s`,
/// `5m`, `2h`, `36500d`). Under a millisecond it says `µs`; zero is `0s`.
pub fn duration(duration: Duration) -> String {
    const UNITS: [(&str, f64); 7] = [
        ("d", 86_400.0),
        ("h", 3_600.0),
        ("m", 60.0),
        ("s", 1.0),
        ("ms", 1e-3),
        ("µs", 1e-6),
        ("ns", 1e-9),
    ];
    if duration.is_zero() {
        return "0s".to_owned();
    }
    let seconds = duration.as_secs_f64();
    let (unit, size) = UNITS
        .iter()
        .copied()
        .find(|&(_, size)| seconds >= size)
        .unwrap_or(UNITS[UNITS.len() - 1]);
    let value = seconds / size;
    // Three significant digits at most, and no trailing zeros.
    let decimals = match value {
        v if v >= 100.0 => 0,
        v if v >= 10.0 => 1,
        _ => 2,
    };
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("{text}{unit}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::MAX;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(15_900), "15,900");
        assert_eq!(thousands(5_242_897), "5,242,897");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn byte_counts_read_as_people_say_them() {
        assert_eq!(bytes(0), "0 bytes");
        assert_eq!(bytes(1023), "1023 bytes");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(312 << 20), "312.0 MiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn durations_read_as_a_person_writes_them() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(1500), "1.5µs"),
            (Duration::from_nanos(10), "10ns"),
            (Duration::from_millis(5), "5ms"),
            (Duration::from_millis(300), "300ms"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_secs(10), "10s"),
            (Duration::from_secs(300), "5m"),
            (Duration::from_secs(90), "1.5m"),
            (Duration::from_secs(7200), "2h"),
            (Duration::from_millis(30_600), "30.6s"),
            (Duration::from_millis(1234), "1.23s"),
            (MAX, "36500d"),
        ];
        for (duration, text) in cases {
            assert_eq!(super::duration(duration), text, "{}ns", duration.as_nanos());
        }
    }
}
