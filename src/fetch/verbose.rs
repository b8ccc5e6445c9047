//! `-v`'s view of an exchange, as curl shows it: each line of the request
//! head as sent, after `> `, and of each response head as received (1xx
//! interim heads included), after `< `, a proxy's `CONNECT` exchange
//! among them, on stderr with no log prefix (the
//! log target [`WIRE`]). The heads are shown only when that target logs at
//! debug level: with `-v`, or a `RUST_LOG` that asks for it.
//!
//! Credentials never show: an `Authorization` or `Proxy-Authorization`
//! field keeps its scheme only (`Authorization: Basic [hidden]`). A
//! server's control bytes are shown escaped (`\u{1b}`), so that a hostile
//! head cannot drive the terminal.

use log::Level;

use crate::logging::WIRE;

/// The fields whose values are credentials.
const CREDENTIALS: [&str; 2] = ["authorization", "proxy-authorization"];

/// Shows a request head as it is sent.
pub fn sent(head: &[u8]) {
    show('>', head);
}

/// Shows a response head as it was received.
pub fn received(head: &[u8]) {
    show('<', head);
}

/// Whether heads are being shown as `> ` and `< ` lines on stderr (`-v`).
pub fn shows_heads() -> bool {
    log::log_enabled!(target: WIRE, Level::Debug)
}

fn show(mark: char, head: &[u8]) {
    if log::log_enabled!(target: WIRE, Level::Debug) {
        log::debug!(target: WIRE, "{}", lines(mark, head));
    }
}

/// The lines of `head` as `-v` shows them, each after `mark` and a space,
/// the blank line that ends the head included (`> `), joined by line feeds.
pub fn lines(mark: char, head: &[u8]) -> String {
    let text = String::from_utf8_lossy(head);
    let body = text.strip_suffix('\n').unwrap_or(&text);
    body.split('\n')
        .map(|line| {
            let line = line.strip_suffix('\r').unwrap_or(line);
            format!("{mark} {}", printable(&hidden(line)))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A credentials field with its value hidden but for the scheme; any other
/// line as it is.
fn hidden(line: &str) -> std::borrow::Cow<'_, str> {
    let Some((name, value)) = line.split_once(':') else {
        return line.into();
    };
    if !CREDENTIALS.contains(&name.trim().to_ascii_lowercase().as_str()) {
        return line.into();
    }
    match value.split_whitespace().next() {
        Some(scheme) => format!("{name}: {scheme} [hidden]").into(),
        None => format!("{name}: [hidden]").into(),
    }
}

/// `line` with its control characters (but tab) escaped.
fn printable(line: &str) -> String {
    let mut shown = String::with_capacity(line.len());
    for c in line.chars() {
        if c.is_control() && c != '\t' {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_is_shown_line_by_line_with_its_blank_line() {
        assert_eq!(
            lines('>', b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            "> GET / HTTP/1.1\n> Host: a\n> "
        );
        assert_eq!(
            lines('<', b"HTTP/1.1 200 OK\nContent-Length: 0\n\n"),
            "< HTTP/1.1 200 OK\n< Content-Length: 0\n< ",
            "bare line feeds"
        );
    }

    #[test]
    fn credentials_keep_their_scheme_only() {
        let head = b"GET / HTTP/1.1\r\nAuthorization: Basic YWxpY2U6czNjcmV0\r\n\
            proxy-authorization:Bearer t0ken\r\nAuthorization:\r\nX-Authorization: kept\r\n\r\n";
        assert_eq!(
            lines('>', head),
            "> GET / HTTP/1.1\n> Authorization: Basic [hidden]\n\
             > proxy-authorization: Bearer [hidden]\n> Authorization: [hidden]\n\
             > X-Authorization: kept\n> "
        );
    }

    #[test]
    fn control_bytes_and_invalid_utf8_are_escaped() {
        let head = b"HTTP/1.1 200 OK\r\nX-A: \x1b[2J\tb\rc\r\nX-B: caf\xc3\xa9 \xff\r\n\r\n";
        assert_eq!(
            lines('<', head),
            "< HTTP/1.1 200 OK\n< X-A: \\u{1b}[2J\tb\\rc\n< X-B: caf\u{e9} \u{fffd}\n< "
        );
    }
}
