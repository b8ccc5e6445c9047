//! A download's file name and times: `-J` names the file as the server's
//! `Content-Disposition` says, `-R` gives it the server's `Last-Modified`,
//! `-N` and `-z` fetch it only when the server's copy is newer (or older)
//! than a file or a date.
//!
//! The protocol's part (the field's syntax, the conditional request and
//! what its answer means) is pure, in [`crate::http`]; this module reads
//! the user's files and sets their times.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use log::{info, warn};
use url::Url;

use crate::exit::{Code, fail};
use crate::http::{self, Answer, NameRefusal, ResponseHead, TimeCondition};

/// What the command line asks of a download's name and time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Naming {
    /// `-J`: the name from `Content-Disposition`.
    pub header_name: bool,
    /// `-R` (and `-N`): the file's time from `Last-Modified`.
    pub remote_time: bool,
    /// `-N`: `-J` may replace an existing file of the name it chose (it is
    /// the copy `-N` keeps up to date).
    pub may_replace: bool,
}

/// `-z DATE|FILE` as given, before the file (if any) is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeCond {
    /// The date or the file's name, without the `-`.
    pub text: String,
    /// `-DATE`: only if older.
    pub older: bool,
}

/// Parses `-z`'s value: `-` first means "older than".
pub fn parse_time_cond(text: &str) -> Result<TimeCond, String> {
    let (older, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if text.trim().is_empty() {
        return Err("a date or a file is needed".to_owned());
    }
    Ok(TimeCond {
        text: text.to_owned(),
        older,
    })
}

/// A condition a request carries, with what it compares with, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conditional {
    /// The condition.
    pub condition: TimeCondition,
    /// The file or date compared with, as the user knows it.
    pub against: String,
    /// `-N`: the compared file is the one the download would replace.
    pub keeps_target: bool,
}

impl Conditional {
    /// Why the final response `head` to `url` saves nothing, when it does
    /// not meet the condition; `None` when it does.
    pub fn unmet(&self, head: &ResponseHead, url: &Url) -> Option<String> {
        if self.condition.judge(head) == Answer::Met {
            return None;
        }
        let than = match self.condition {
            TimeCondition::NewerThan(_) => "newer",
            TimeCondition::OlderThan(_) => "older",
        };
        let how = match head.status {
            304 | 412 => format!("answered {} {}", head.status, head.reason),
            _ => match head.header("last-modified") {
                Some(date) => format!("was last modified {}", String::from_utf8_lossy(date)),
                None => "answered".to_owned(),
            },
        };
        let kept = if self.keeps_target {
            ", which is kept as it is".to_owned()
        } else {
            String::new()
        };
        Some(format!(
            "{url} {how}: not {than} than {}{kept}",
            self.against
        ))
    }
}

/// The condition of `-N` (the target's time, when it exists) or `-z` (a
/// date, or a file's time). `-z` with neither a date nor an existing file
/// fetches without a condition, with a warning (as curl does).
pub fn condition(
    timestamping: bool,
    time_cond: Option<&TimeCond>,
    target: Option<&Path>,
) -> anyhow::Result<Option<Conditional>> {
    if timestamping {
        let Some(target) = target else {
            return Err(fail(
                Code::Usage,
                "-N compares with the file it would replace: it cannot be used with -o - or a descriptor",
            ));
        };
        return Ok(modified(target).map(|time| Conditional {
            condition: TimeCondition::NewerThan(time),
            against: target.display().to_string(),
            keeps_target: true,
        }));
    }
    let Some(cond) = time_cond else {
        return Ok(None);
    };
    let (time, against) = match http::parse_date(&cond.text) {
        Some(date) => (date, cond.text.trim().to_owned()),
        None => match modified(Path::new(&cond.text)) {
            Some(time) => (time, cond.text.clone()),
            None => {
                warn!(
                    "-z: \"{}\" is neither a date nor an existing file: fetching without the condition",
                    cond.text.escape_debug()
                );
                return Ok(None);
            }
        },
    };
    let condition = if cond.older {
        TimeCondition::OlderThan(time)
    } else {
        TimeCondition::NewerThan(time)
    };
    Ok(Some(Conditional {
        condition,
        against,
        keeps_target: false,
    }))
}

/// The modification time of a regular file, if there is one at `path`.
fn modified(path: &Path) -> Option<SystemTime> {
    let meta = fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    meta.modified().ok()
}

/// `-J`: the path to save to, beside `url_named` (the name from the URL),
/// as the final response's `Content-Disposition` names it. A refused or
/// missing name keeps the URL's, with a warning. A name other than the
/// URL's that exists already fails with exit 23, naming it, unless
/// `may_replace`: `-J` never replaces a file it did not name itself.
pub fn header_name(
    url_named: &Path,
    head: &ResponseHead,
    may_replace: bool,
) -> anyhow::Result<PathBuf> {
    let suggested = match head.header("content-disposition") {
        Some(value) => http::disposition_name(value),
        None => Err(NameRefusal::Missing),
    };
    let name = match suggested {
        Ok(name) => name,
        Err(refusal) => {
            warn!("{refusal}: saving as {}", url_named.display());
            return Ok(url_named.to_path_buf());
        }
    };
    let path = url_named.with_file_name(&name);
    if path == url_named {
        return Ok(path);
    }
    if !may_replace && fs::symlink_metadata(&path).is_ok() {
        return Err(fail(
            Code::WriteError,
            format!(
                "{} exists: -J replaces no file but the one the URL names (-o chooses the name)",
                path.display()
            ),
        ));
    }
    info!("saving as {} (Content-Disposition)", path.display());
    Ok(path)
}

/// The time of the file `head` brings, from its `Last-Modified`.
pub fn last_modified(head: &ResponseHead) -> Option<SystemTime> {
    let text = std::str::from_utf8(head.header("last-modified")?).ok()?;
    httpdate::parse_http_date(text.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::time::Duration;

    fn head(wire: &str) -> ResponseHead {
        http::parse_head(wire.as_bytes()).unwrap().unwrap().0
    }

    #[test]
    fn time_cond_older_with_a_dash() {
        assert_eq!(
            parse_time_cond("-2024-01-01"),
            Ok(TimeCond {
                text: "2024-01-01".into(),
                older: true
            })
        );
        assert!(!parse_time_cond("file").unwrap().older);
        assert!(parse_time_cond("-").is_err() && parse_time_cond("").is_err());
    }

    #[test]
    fn conditions_from_a_file_a_date_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("have");
        fs::write(&file, b"x").unwrap();
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(time)
            .unwrap();
        let by_n = condition(true, None, Some(&file)).unwrap().unwrap();
        assert_eq!(by_n.condition, TimeCondition::NewerThan(time));
        assert!(by_n.keeps_target);
        // Nothing to compare with: a plain download.
        let missing = dir.path().join("missing");
        assert_eq!(condition(true, None, Some(&missing)).unwrap(), None);
        let err = condition(true, None, None).unwrap_err();
        assert_eq!(Code::of(&err), Code::Usage);
        let by_file = TimeCond {
            text: file.display().to_string(),
            older: true,
        };
        let by_file = condition(false, Some(&by_file), None).unwrap().unwrap();
        assert_eq!(by_file.condition, TimeCondition::OlderThan(time));
        let by_date = TimeCond {
            text: "2001-09-09T01:46:40Z".into(),
            older: false,
        };
        let by_date = condition(false, Some(&by_date), None).unwrap().unwrap();
        assert_eq!(by_date.condition, TimeCondition::NewerThan(time));
        assert_eq!(by_date.against, "2001-09-09T01:46:40Z");
        let neither = TimeCond {
            text: missing.display().to_string(),
            older: false,
        };
        assert_eq!(condition(false, Some(&neither), None).unwrap(), None);
    }

    #[test]
    fn an_unmet_condition_says_why_and_what_is_kept() {
        let url = Url::parse("http://h/f").unwrap();
        let time = http::parse_date("1994-11-06T08:49:37Z").unwrap();
        let n = Conditional {
            condition: TimeCondition::NewerThan(time),
            against: "f".into(),
            keeps_target: true,
        };
        assert_eq!(
            n.unmet(&head("HTTP/1.1 304 Not Modified\r\n\r\n"), &url),
            Some(
                "http://h/f answered 304 Not Modified: not newer than f, which is kept as it is"
                    .into()
            )
        );
        let old = head("HTTP/1.1 200 OK\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
        assert_eq!(
            n.unmet(&old, &url),
            Some("http://h/f was last modified Sun, 06 Nov 1994 08:49:37 GMT: not newer than f, which is kept as it is".into())
        );
        assert_eq!(n.unmet(&head("HTTP/1.1 200 OK\r\n\r\n"), &url), None);
        let z = Conditional {
            condition: TimeCondition::OlderThan(time),
            against: "1994-11-06T08:49:37Z".into(),
            keeps_target: false,
        };
        assert_eq!(
            z.unmet(&head("HTTP/1.1 412 Precondition Failed\r\n\r\n"), &url),
            Some(
                "http://h/f answered 412 Precondition Failed: not older than 1994-11-06T08:49:37Z"
                    .into()
            )
        );
    }

    #[test]
    fn the_header_name_never_replaces_a_file_it_did_not_name() {
        let dir = tempfile::tempdir().unwrap();
        let url_named = dir.path().join("download");
        let named = head(
            "HTTP/1.1 200 OK\r\nContent-Disposition: attachment; filename=\"../report.pdf\"\r\n\r\n",
        );
        assert_eq!(
            header_name(&url_named, &named, false).unwrap(),
            dir.path().join("report.pdf")
        );
        fs::write(dir.path().join("report.pdf"), b"mine").unwrap();
        let err = header_name(&url_named, &named, false).unwrap_err();
        assert_eq!(Code::of(&err), Code::WriteError);
        assert!(err.to_string().contains("report.pdf exists"), "{err}");
        assert_eq!(
            header_name(&url_named, &named, true).unwrap(),
            dir.path().join("report.pdf"),
            "-N keeps its copy up to date"
        );
        // The URL's own name may be replaced, as without -J.
        fs::write(&url_named, b"old").unwrap();
        let same =
            head("HTTP/1.1 200 OK\r\nContent-Disposition: attachment; filename=download\r\n\r\n");
        assert_eq!(header_name(&url_named, &same, false).unwrap(), url_named);
        // A refused name falls back to the URL's.
        let hostile =
            head("HTTP/1.1 200 OK\r\nContent-Disposition: attachment; filename=\"..\"\r\n\r\n");
        assert_eq!(header_name(&url_named, &hostile, false).unwrap(), url_named);
        let none = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(header_name(&url_named, &none, false).unwrap(), url_named);
    }

    #[test]
    fn the_time_comes_from_last_modified() {
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        let stamped =
            head("HTTP/1.1 200 OK\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
        assert_eq!(last_modified(&stamped), Some(time));
    }
}
