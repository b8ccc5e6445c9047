//! `--checksum-file`: the digests of a `sha256sum` or `sha512sum` file
//! (`HEX  NAME`, or `HEX *NAME` for binary mode; a name with a newline or a
//! backslash written escaped after a leading `\`, as coreutils writes it).
//! The algorithm is known from the digest's length. Every saved file whose
//! name is listed must match before it is renamed into place; names not
//! fetched are ignored. The file may be a local path or an http(s) URL,
//! fetched first.

use crate::fetch::observed::Observed;
use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Instant;

use url::Url;

use crate::exit::{Code, WithCode, fail};
use crate::fetch::attempt::{self, Attempts, Connect};
use crate::fetch::output::Destination;
use crate::fetch::report::{Report, Verbosity};
use crate::fetch::signals::PartialFile;
use crate::fetch::verify::Checksum;
use crate::fetch::{One, download, retry};

/// A checksum file fetched from a URL is read up to this size: a list of
/// digests for thousands of files is far smaller.
pub const MAX_CHECKSUM_FILE: u64 = 1024 * 1024;

/// The digests of a checksum file, by file name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Checksums(HashMap<String, Checksum>);

impl Checksums {
    /// The digest listed for a file saved at `path`, matched by its name.
    pub fn of(&self, path: &Path) -> Option<Checksum> {
        let name = path.file_name()?.to_str()?;
        self.0.get(name).cloned()
    }
}

/// Parses a checksum file's text; a line that is not `HEX  NAME` or
/// `HEX *NAME` with a sha256 or sha512 digest is a usage error naming its
/// line number.
pub fn parse(text: &str) -> anyhow::Result<Checksums> {
    let mut sums = HashMap::new();
    for (at, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| {
            fail(
                Code::Usage,
                format!("line {} of the checksum file: {why}", at + 1),
            )
        };
        let (escaped, line) = match line.strip_prefix('\\') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let (hex, rest) = line
            .split_once(' ')
            .ok_or_else(|| bad("expected HEX  NAME, as sha256sum writes"))?;
        let name = rest
            .strip_prefix(' ')
            .or_else(|| rest.strip_prefix('*'))
            .ok_or_else(|| bad("expected two spaces or \" *\" between the digest and the name"))?;
        let algorithm = match hex.len() {
            64 => "sha256",
            128 => "sha512",
            n => {
                return Err(bad(&format!(
                    "a digest of {n} hex digits is neither sha256 nor sha512"
                )));
            }
        };
        let checksum =
            Checksum::from_str(&format!("{algorithm}={hex}")).map_err(|why| bad(&why))?;
        let name = if escaped {
            unescape(name)
        } else {
            name.to_owned()
        };
        let name = name.strip_prefix("./").unwrap_or(&name).to_owned();
        sums.insert(name, checksum);
    }
    Ok(Checksums(sums))
}

/// A name as coreutils escapes it: `\\` for a backslash, `\n` for a
/// newline, `\r` for a carriage return.
fn unescape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Loads `--checksum-file`: a local file (exit 26 when unreadable), or an
/// http(s) URL fetched first with `connector`, retried as `retry` says, at
/// most [`MAX_CHECKSUM_FILE`] bytes.
pub fn load<C: Connect>(
    source: &str,
    connector: C,
    request: &attempt::Options,
    retry: &retry::Policy,
) -> anyhow::Result<Checksums> {
    let is_url = source.starts_with("http://") || source.starts_with("https://");
    let text = if is_url {
        fetch(source, connector, request, retry)?
    } else {
        std::fs::read_to_string(source).with_code(Code::ReadError, || {
            format!("reading the checksum file {source}")
        })?
    };
    parse(&text)
}

/// The checksum file at `source`, fetched into a temporary file and read.
fn fetch<C: Connect>(
    source: &str,
    connector: C,
    request: &attempt::Options,
    retry: &retry::Policy,
) -> anyhow::Result<String> {
    let url = Url::parse(source).with_code(Code::UrlMalformed, || "the checksum file's URL")?;
    let dir = tempfile::tempdir().with_code(Code::WriteError, || "making a temporary directory")?;
    let path = dir.path().join("checksums");
    let attempts = Attempts {
        options: attempt::Options {
            method: crate::http::Method::Get,
            ..request.clone()
        },
        connector,
        total: None,
        first_url: url,
        report: Report::new(Verbosity::Silent, false),
        observed: Observed::new(Instant::now()),
    };
    let one = One {
        destination: Destination::File(path.clone()),
        partial: &PartialFile::default(),
        options: download::Options {
            max_filesize: Some(MAX_CHECKSUM_FILE),
            ..download::Options::default()
        },
        retry: retry.clone(),
        quiet: true,
    };
    one.fetch(&attempts).map_err(|gave_up| {
        gave_up
            .err
            .context(format!("fetching the checksum file {source}"))
    })?;
    std::fs::read_to_string(&path).with_code(Code::ReadError, || {
        format!("reading the checksum file {source}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn text_and_binary_lines_and_escaped_names_are_read() {
        let long = "a".repeat(128);
        let text = format!("{A}  a.txt\n{long} *./b.bin\n\\{A}  new\\nline\\\\x\n\n");
        let sums = parse(&text).unwrap();
        let a = sums.of(Path::new("dir/a.txt")).unwrap();
        assert_eq!(a.algorithm.name(), "sha256");
        assert_eq!(
            sums.of(Path::new("b.bin")).unwrap().algorithm.name(),
            "sha512"
        );
        assert!(sums.of(Path::new("new\nline\\x")).is_some());
        assert!(
            sums.of(Path::new("c")).is_none(),
            "names not listed are ignored"
        );
    }

    #[test]
    fn a_bad_line_is_a_usage_error_naming_its_number() {
        for (text, line) in [
            (format!("{A}  a\nxyz\n"), 2),
            (format!("{}  a\n", &A[2..]), 1),
            (format!("{A} a\n"), 1),
            (format!("{}zz  a\n", &A[2..]), 1),
        ] {
            let err = parse(&text).unwrap_err();
            assert_eq!(Code::of(&err), Code::Usage, "{text:?}");
            assert!(
                err.to_string().starts_with(&format!("line {line} of")),
                "{err:#}"
            );
        }
    }

    #[test]
    fn an_unreadable_file_exits_26() {
        let connector = crate::fetch::transport::Connector::new(None, None, None, false);
        let request = attempt::Options {
            method: crate::http::Method::Get,
            headers: crate::http::RequestHeaders::default(),
            max_redirects: None,
            content_on_error: false,
            compressed: false,
            credentials: Default::default(),
            condition: None,
        };
        let err = load(
            "/nonexistent/SHA256SUMS",
            &connector,
            &request,
            &retry::Policy::default(),
        )
        .unwrap_err();
        assert_eq!(Code::of(&err), Code::ReadError);
    }
}
