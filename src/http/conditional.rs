//! Fetching only a newer (or an older) file: `If-Modified-Since` and
//! `If-Unmodified-Since` (RFC 9110 sections 13.1.3 and 13.1.4), for `-N`
//! and `-z`, and the check of `Last-Modified` that stands in for them when
//! a server ignores the condition and sends the file anyway (curl and wget
//! check it too).
//!
//! Also the dates `-z` takes: an HTTP date, or an ISO 8601 date and time
//! (UTC).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::http::ResponseHead;

/// A condition on the time the server's file was last modified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeCondition {
    /// Only if modified after this time (`If-Modified-Since`).
    NewerThan(SystemTime),
    /// Only if not modified after this time (`If-Unmodified-Since`).
    OlderThan(SystemTime),
}

/// What the answer to a conditional request means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The condition holds (or cannot be told): the body is the file.
    Met,
    /// The server's file does not meet the condition: keep what is there.
    NotMet,
}

impl TimeCondition {
    /// The request field that carries the condition, its time in whole
    /// seconds as HTTP dates have them.
    pub fn request_field(&self) -> (&'static str, String) {
        match *self {
            TimeCondition::NewerThan(time) => ("If-Modified-Since", httpdate::fmt_http_date(time)),
            TimeCondition::OlderThan(time) => {
                ("If-Unmodified-Since", httpdate::fmt_http_date(time))
            }
        }
    }

    /// Whether `head`, the final response to a request carrying the
    /// condition, brings a file that meets it: a 304 answers "not newer", a
    /// 412 "not older"; any other status is judged by its `Last-Modified`
    /// (a response without one is taken as meeting it, as the server chose
    /// to send it).
    pub fn judge(&self, head: &ResponseHead) -> Answer {
        match (self, head.status) {
            (TimeCondition::NewerThan(_), 304) | (TimeCondition::OlderThan(_), 412) => {
                return Answer::NotMet;
            }
            (_, status) if !(200..300).contains(&status) => return Answer::Met,
            _ => {}
        }
        let Some(modified) = head
            .header("last-modified")
            .and_then(|value| std::str::from_utf8(value).ok())
            .and_then(|text| httpdate::parse_http_date(text.trim()).ok())
        else {
            return Answer::Met;
        };
        let met = match *self {
            TimeCondition::NewerThan(time) => modified > whole_seconds(time),
            TimeCondition::OlderThan(time) => modified <= whole_seconds(time),
        };
        if met { Answer::Met } else { Answer::NotMet }
    }
}

/// The time as an HTTP date holds it: rounded down to the second.
fn whole_seconds(time: SystemTime) -> SystemTime {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => UNIX_EPOCH + Duration::from_secs(since.as_secs()),
        Err(_) => UNIX_EPOCH,
    }
}

/// Parses a date as `-z` takes it: an HTTP date (`Sun, 06 Nov 1994
/// 08:49:37 GMT`, or its two obsolete forms), or ISO 8601 in UTC
/// (`1994-11-06`, `1994-11-06T08:49:37Z`, `1994-11-06 08:49`).
pub fn parse_date(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    httpdate::parse_http_date(text)
        .ok()
        .or_else(|| iso_date(text))
}

/// `YYYY-MM-DD`, optionally followed by `T` or a space, `HH:MM` and `:SS`,
/// and `Z`; from 1970 on.
fn iso_date(text: &str) -> Option<SystemTime> {
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let number = |part: &str, digits: usize| -> Option<u64> {
        (part.len() == digits && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse().ok())
            .flatten()
    };
    let mut fields = date.split('-');
    let year = number(fields.next()?, 4)?;
    let month = number(fields.next()?, 2)?;
    let day = number(fields.next()?, 2)?;
    if fields.next().is_some() || year < 1970 || !(1..=12).contains(&month) {
        return None;
    }
    if day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let (mut hour, mut minute, mut second) = (0, 0, 0);
    if let Some(time) = time {
        let mut fields = time.split(':');
        hour = number(fields.next()?, 2)?;
        minute = number(fields.next()?, 2)?;
        if let Some(s) = fields.next() {
            second = number(s, 2)?;
        }
        if fields.next().is_some() || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
    }
    let days = days_since_epoch(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(UNIX_EPOCH + Duration::from_secs(seconds))
}

fn is_leap(year: u64) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given date (from 1970 on).
fn days_since_epoch(year: u64, month: u64, day: u64) -> u64 {
    let years: u64 = (1970..year)
        .map(|y| if is_leap(y) { 366 } else { 365 })
        .sum();
    let months: u64 = (1..month).map(|m| days_in_month(year, m)).sum();
    years + months + day - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(wire: &str) -> ResponseHead {
        crate::http::parse_head(wire.as_bytes()).unwrap().unwrap().0
    }

    fn date(text: &str) -> SystemTime {
        parse_date(text).unwrap_or_else(|| panic!("{text}"))
    }

    #[test]
    fn dates_as_http_and_iso_8601_write_them() {
        let day = date("Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(date("1994-11-06T08:49:37Z"), day);
        assert_eq!(date("1994-11-06 08:49:37"), day);
        assert_eq!(date("Sunday, 06-Nov-94 08:49:37 GMT"), day);
        assert_eq!(date("Sun Nov  6 08:49:37 1994"), day);
        assert_eq!(
            date("1994-11-06T08:49"),
            day - Duration::from_secs(37),
            "seconds are optional"
        );
        assert_eq!(date("1970-01-01"), UNIX_EPOCH);
        assert_eq!(
            date("2024-02-29"),
            UNIX_EPOCH + Duration::from_secs(1_709_164_800)
        );
        for bad in [
            "",
            "yesterday",
            "2023-02-29",
            "1994-13-01",
            "1994-11-06T25:00",
            "94-11-06",
            "1969-12-31",
            "1994-11-06T08:49:37+02:00",
            "file.txt",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_request_fields_carry_whole_seconds() {
        let time = date("1994-11-06T08:49:37Z") + Duration::from_millis(900);
        assert_eq!(
            TimeCondition::NewerThan(time).request_field(),
            (
                "If-Modified-Since",
                "Sun, 06 Nov 1994 08:49:37 GMT".to_owned()
            )
        );
        assert_eq!(
            TimeCondition::OlderThan(time).request_field().0,
            "If-Unmodified-Since"
        );
    }

    #[test]
    fn statuses_and_last_modified_judge_the_condition() {
        let mine = date("1994-11-06T08:49:37Z") + Duration::from_millis(500);
        let newer = TimeCondition::NewerThan(mine);
        let older = TimeCondition::OlderThan(mine);
        let not_modified = head("HTTP/1.1 304 Not Modified\r\n\r\n");
        let failed = head("HTTP/1.1 412 Precondition Failed\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(newer.judge(&not_modified), Answer::NotMet);
        assert_eq!(older.judge(&failed), Answer::NotMet);
        // The same second is not newer, one later is.
        let same = head("HTTP/1.1 200 OK\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
        let later = head("HTTP/1.1 200 OK\r\nLast-Modified: Sun, 06 Nov 1994 08:49:38 GMT\r\n\r\n");
        assert_eq!(newer.judge(&same), Answer::NotMet);
        assert_eq!(newer.judge(&later), Answer::Met);
        assert_eq!(older.judge(&same), Answer::Met);
        assert_eq!(older.judge(&later), Answer::NotMet);
        // Without a date to go by, or a status that is not a file, the
        // response stands as it is.
        let undated = head("HTTP/1.1 200 OK\r\nLast-Modified: yesterday\r\n\r\n");
        assert_eq!(newer.judge(&undated), Answer::Met);
        assert_eq!(newer.judge(&head("HTTP/1.1 200 OK\r\n\r\n")), Answer::Met);
        let missing =
            head("HTTP/1.1 404 Not Found\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
        assert_eq!(newer.judge(&missing), Answer::Met);
        assert_eq!(older.judge(&not_modified), Answer::Met);
    }
}
