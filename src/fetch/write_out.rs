//! `-w/--write-out FORMAT`: a line for scripts after a transfer, in curl's
//! syntax.
//!
//! The format is text with `%{variable}` in it, `%header{NAME}` (curl's
//! spelling) or `%{header{NAME}}` for a field of the final response, `%{json}` for every variable as one JSON
//! object, `%%` for a `%`, and the escapes `\n`, `\r`, `\t` and `\\`.
//! `%{stdout}` and `%{stderr}` send what follows to that stream (stdout at
//! first). An unknown variable is refused when the format is parsed, so a
//! typo is a usage error rather than a silent blank.
//!
//! Pure: [`Format::parse`] reads the format once, and [`Format::render`]
//! turns the [`Record`] of one transfer into text for each stream; the
//! caller writes it. With several transfers, each has its record and the
//! format is rendered once for each.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Map, Value, json};

/// What `--write-out` knows of one transfer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// The final response's status; 0 when none came.
    pub http_code: u16,
    /// Bytes of bodies received, as sent (before a content coding is undone).
    pub size_download: u64,
    /// From the start to the end of the transfer.
    pub time_total: Duration,
    /// From the start until the final request's connection was made.
    pub time_connect: Duration,
    /// From the start until the final response's head arrived.
    pub time_starttransfer: Duration,
    /// The last URL requested, without credentials.
    pub url_effective: String,
    /// The file the body went to; empty for stdout or when none.
    pub filename_effective: String,
    /// Redirects followed.
    pub num_redirects: usize,
    /// Attempts after the first.
    pub num_retries: u32,
    /// The exit code.
    pub exitcode: u8,
    /// The error message, empty on success.
    pub errormsg: String,
    /// The final response's `Content-Type`, empty when none.
    pub content_type: String,
    /// The final response's header fields, in order.
    pub headers: Vec<(String, String)>,
}

impl Record {
    /// Bytes per second over the whole transfer (curl's `speed_download`).
    fn speed_download(&self) -> u64 {
        let secs = self.time_total.as_secs_f64();
        if secs > 0.0 {
            (self.size_download as f64 / secs) as u64
        } else {
            0
        }
    }

    /// The value of a variable as text, or `None` for a name that is not one.
    fn value(&self, name: &str) -> Option<String> {
        let time = |d: Duration| format!("{:.6}", d.as_secs_f64());
        Some(match name {
            "http_code" | "response_code" => format!("{:03}", self.http_code),
            "size_download" => self.size_download.to_string(),
            "time_total" => time(self.time_total),
            "time_connect" => time(self.time_connect),
            "time_starttransfer" => time(self.time_starttransfer),
            "speed_download" => self.speed_download().to_string(),
            "url_effective" => self.url_effective.clone(),
            "filename_effective" => self.filename_effective.clone(),
            "num_redirects" => self.num_redirects.to_string(),
            "num_retries" => self.num_retries.to_string(),
            "exitcode" => self.exitcode.to_string(),
            "errormsg" => self.errormsg.clone(),
            "content_type" => self.content_type.clone(),
            _ => return None,
        })
    }

    /// Every variable as one JSON object, numbers as numbers.
    fn json(&self) -> String {
        let secs = |d: Duration| json!(d.as_secs_f64());
        let mut map = Map::new();
        for (name, value) in [
            ("content_type", json!(self.content_type)),
            ("errormsg", json!(self.errormsg)),
            ("exitcode", json!(self.exitcode)),
            ("filename_effective", json!(self.filename_effective)),
            ("http_code", json!(self.http_code)),
            ("num_redirects", json!(self.num_redirects)),
            ("num_retries", json!(self.num_retries)),
            ("response_code", json!(self.http_code)),
            ("size_download", json!(self.size_download)),
            ("speed_download", json!(self.speed_download())),
            ("time_connect", secs(self.time_connect)),
            ("time_starttransfer", secs(self.time_starttransfer)),
            ("time_total", secs(self.time_total)),
            ("url_effective", json!(self.url_effective)),
        ] {
            map.insert(name.to_owned(), value);
        }
        Value::Object(map).to_string()
    }

    /// The first field `name` of the final response, empty when absent.
    fn header(&self, name: &str) -> String {
        self.headers
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    }
}

/// A stream `--write-out` writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output, where it starts.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One piece of a parsed format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Variable(String),
    Header(String),
    Json,
    Switch(Stream),
}

/// A parsed `--write-out` format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    pieces: Vec<Piece>,
}

impl Format {
    /// Parses a format; an unknown variable, or a `%{` never closed, is an
    /// error naming it.
    pub fn parse(text: &str) -> Result<Format, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            match (c, rest.as_bytes().get(1)) {
                ('%', Some(b'%')) => {
                    literal.push('%');
                    rest = &rest[2..];
                }
                ('%', Some(b'h')) if rest.starts_with("%header{") => {
                    // curl's own spelling of a field of the final response.
                    let inner = &rest["%header{".len()..];
                    let end = inner
                        .find('}')
                        .ok_or("--write-out: %header{ is not closed with }")?;
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Header(inner[..end].to_owned()));
                    rest = &inner[end + 1..];
                }
                ('%', Some(b'{')) => {
                    let (piece, after) = variable(&rest[2..])?;
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(piece);
                    rest = after;
                }
                ('\\', Some(&escaped @ (b'n' | b'r' | b't' | b'\\'))) => {
                    literal.push(match escaped {
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        _ => '\\',
                    });
                    rest = &rest[2..];
                }
                _ => {
                    literal.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Format { pieces })
    }

    /// The text for each stream, in order: what goes to stdout and stderr,
    /// one run after the other as the format switches.
    pub fn render(&self, record: &Record) -> Vec<(Stream, String)> {
        let mut out: Vec<(Stream, String)> = Vec::new();
        let mut stream = Stream::Stdout;
        for piece in &self.pieces {
            let text = match piece {
                Piece::Switch(to) => {
                    stream = *to;
                    continue;
                }
                Piece::Text(text) => text.clone(),
                Piece::Variable(name) => record.value(name).unwrap_or_default(),
                Piece::Header(name) => record.header(name),
                Piece::Json => record.json(),
            };
            match out.last_mut() {
                Some((last, run)) if *last == stream => run.push_str(&text),
                _ => out.push((stream, text)),
            }
        }
        out
    }
}

/// The variable after `%{`: its piece, and the text after its `}`.
fn variable(text: &str) -> Result<(Piece, &str), String> {
    if let Some(inner) = text.strip_prefix("header{") {
        let end = inner
            .find("}}")
            .ok_or("--write-out: %{header{ is not closed with }}")?;
        return Ok((Piece::Header(inner[..end].to_owned()), &inner[end + 2..]));
    }
    let end = text
        .find('}')
        .ok_or("--write-out: %{ is not closed with }")?;
    let name = &text[..end];
    let piece = match name {
        "json" => Piece::Json,
        "stdout" => Piece::Switch(Stream::Stdout),
        "stderr" => Piece::Switch(Stream::Stderr),
        name if Record::default().value(name).is_some() => Piece::Variable(name.to_owned()),
        name => {
            let mut message = format!("--write-out: unknown variable %{{{name}}}; known:");
            for known in VARIABLES {
                let _ = write!(message, " {known}");
            }
            return Err(message);
        }
    };
    Ok((piece, &text[end + 1..]))
}

/// The variables, as `--help` and the README list them.
pub const VARIABLES: [&str; 16] = [
    "http_code",
    "size_download",
    "time_total",
    "time_connect",
    "time_starttransfer",
    "speed_download",
    "url_effective",
    "filename_effective",
    "num_redirects",
    "num_retries",
    "exitcode",
    "errormsg",
    "content_type",
    "header{NAME}",
    "json",
    "stdout/stderr",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            http_code: 200,
            size_download: 2000,
            time_total: Duration::from_millis(500),
            time_connect: Duration::from_micros(1500),
            time_starttransfer: Duration::from_millis(20),
            url_effective: "http://h/f".into(),
            filename_effective: "f".into(),
            num_redirects: 1,
            num_retries: 2,
            exitcode: 0,
            errormsg: String::new(),
            content_type: "text/plain".into(),
            headers: vec![("ETag".into(), "\"x\"".into())],
        }
    }

    fn render(format: &str, record: &Record) -> Vec<(Stream, String)> {
        Format::parse(format).unwrap().render(record)
    }

    fn stdout(format: &str) -> String {
        let out = render(format, &record());
        assert!(out.iter().all(|(stream, _)| *stream == Stream::Stdout));
        out.into_iter().map(|(_, text)| text).collect()
    }

    #[test]
    fn variables_are_written_as_curl_writes_them() {
        assert_eq!(
            stdout(
                "%{http_code} %{size_download} %{speed_download} %{num_redirects}/%{num_retries}\\n"
            ),
            "200 2000 4000 1/2\n"
        );
        assert_eq!(
            stdout("%{time_total} %{time_connect} %{time_starttransfer}"),
            "0.500000 0.001500 0.020000"
        );
        assert_eq!(
            stdout(
                "%{url_effective} %{filename_effective} %{content_type} [%{errormsg}] %{exitcode}"
            ),
            "http://h/f f text/plain [] 0"
        );
        assert_eq!(stdout("%{header{etag}}|%{header{missing}}|"), "\"x\"||");
        assert_eq!(
            stdout("%header{ETag}|%headers|"),
            "\"x\"|%headers|",
            "curl's spelling"
        );
        assert_eq!(stdout("100%% \\t\\\\ 50% x"), "100% \t\\ 50% x");
    }

    #[test]
    fn no_status_is_000_and_no_time_is_no_speed() {
        let none = Record::default();
        assert_eq!(
            render("%{http_code} %{speed_download}", &none),
            [(Stream::Stdout, "000 0".to_owned())]
        );
    }

    #[test]
    fn stderr_and_stdout_switch_the_stream() {
        assert_eq!(
            render("a%{stderr}b%{http_code}%{stdout}c\\n", &record()),
            [
                (Stream::Stdout, "a".to_owned()),
                (Stream::Stderr, "b200".to_owned()),
                (Stream::Stdout, "c\n".to_owned()),
            ]
        );
    }

    #[test]
    fn json_holds_every_variable_with_numbers_as_numbers() {
        let text = stdout("%{json}");
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["http_code"], 200);
        assert_eq!(value["size_download"], 2000);
        assert_eq!(value["time_total"], 0.5);
        assert_eq!(value["url_effective"], "http://h/f");
        assert_eq!(value["errormsg"], "");
        let mut quoted = record();
        quoted.errormsg = "a \"quoted\"\nline".into();
        let text = render("%{json}", &quoted).remove(0).1;
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["errormsg"], "a \"quoted\"\nline");
    }

    #[test]
    fn an_unknown_or_unclosed_variable_is_refused() {
        let err = Format::parse("%{http_cod}").unwrap_err();
        assert!(
            err.starts_with("--write-out: unknown variable %{http_cod}"),
            "{err}"
        );
        assert!(err.contains("http_code"), "{err}");
        assert!(Format::parse("%{http_code").is_err());
        assert!(Format::parse("%{header{x}").is_err());
        assert!(Format::parse("%header{x").is_err());
        assert_eq!(Format::parse("").unwrap().render(&record()), []);
    }
}
