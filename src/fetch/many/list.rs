//! The URLs of a run: those given as arguments, then those of
//! `--input-file`, in wget's format (one URL a line; blank lines and lines
//! starting with `#` skipped). Every line is checked before anything is
//! fetched: a bad one is a usage error naming its line number.

use std::fmt;
use std::io::Read;
use std::path::Path;

use url::Url;

use crate::exit::{Code, WithCode, fail};
use crate::fetch::credentials::User;
use crate::fetch::target;

/// Where a URL of the run was given, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The Nth URL argument, from 1.
    Argument(usize),
    /// Line N, from 1, of the list.
    Line(usize),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Argument(n) => write!(f, "argument {n}"),
            Place::Line(n) => write!(f, "line {n} of the list"),
        }
    }
}

/// A URL of the run, and where it was given.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The URL, as parsed.
    pub url: Url,
    /// Where it was given.
    pub place: Place,
    /// The user name and password the URL held, taken out of it.
    pub user: Option<User>,
}

/// The URLs given as arguments, each checked: a malformed one ends the run
/// with its exit code before anything is fetched.
pub fn arguments(targets: &[String]) -> anyhow::Result<Vec<Entry>> {
    targets
        .iter()
        .enumerate()
        .map(|(at, text)| {
            let place = Place::Argument(at + 1);
            target::parse_with_user(text)
                .map(|(url, user)| Entry { url, place, user })
                .map_err(|err| err.context(format!("{}", Place::Argument(at + 1))))
        })
        .collect()
}

/// Reads the list at `path` (`-`: standard input): exit 26 when it cannot
/// be read.
pub fn read(path: &Path) -> anyhow::Result<String> {
    let mut text = String::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin().lock().read_to_string(&mut text)
    } else {
        std::fs::File::open(path).and_then(|mut file| file.read_to_string(&mut text))
    };
    read.with_code(Code::ReadError, || {
        format!("reading the URL list {}", path.display())
    })?;
    Ok(text)
}

/// The URLs of a list's text, every line checked: a line that is not a URL
/// is a usage error naming its line number.
pub fn parse(text: &str) -> anyhow::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for (at, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let place = Place::Line(at + 1);
        if line.contains(char::is_whitespace) {
            return Err(fail(
                Code::Usage,
                format!("{place}: one URL a line, not {line:?}"),
            ));
        }
        let (url, user) = target::parse_with_user(line).map_err(|err| {
            fail(
                Code::Usage,
                format!("{place}: {line:?} is not a URL: {err:#}"),
            )
        })?;
        entries.push(Entry { url, place, user });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_skips_blank_lines_and_comments_and_knows_its_line_numbers() {
        let entries = parse("# release\n\nhttp://h/a\n  http://h/b  \r\n#x\nh/c\n").unwrap();
        let got: Vec<(String, Place)> = entries
            .into_iter()
            .map(|entry| (entry.url.to_string(), entry.place))
            .collect();
        assert_eq!(
            got,
            [
                ("http://h/a".to_owned(), Place::Line(3)),
                ("http://h/b".to_owned(), Place::Line(4)),
                ("http://h/c".to_owned(), Place::Line(6)),
            ]
        );
    }

    #[test]
    fn a_bad_line_is_a_usage_error_naming_its_number() {
        for (text, line) in [
            ("http://h/a\nhttp://h/b c\n", 2),
            ("http://h/a\n\nftp://h/x\n", 3),
            ("http://[::1\n", 1),
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(Code::of(&err), Code::Usage, "{text:?}");
            assert!(
                err.to_string()
                    .starts_with(&format!("line {line} of the list")),
                "{err:#}"
            );
        }
    }

    #[test]
    fn an_unreadable_list_exits_26() {
        let err = read(Path::new("/nonexistent/list.txt")).unwrap_err();
        assert_eq!(Code::of(&err), Code::ReadError);
    }
}
