//! The file name a server suggests in `Content-Disposition` (RFC 6266),
//! for `-J`: `filename*` (RFC 8187: `UTF-8''%e2%82%ac.txt`) when it can be
//! decoded, otherwise `filename`; then reduced to a plain name in the
//! directory the user chose, or refused.
//!
//! The name comes from the server, so it is treated as hostile: only its
//! last path component is kept (`../../.bashrc` is `bashrc`, `C:\x\y` is
//! `y`), leading dots are dropped (no hidden file appears unasked), and a
//! name that is empty, `.` or `..`, holds a control character, or is longer
//! than a file name may be is refused rather than repaired: the caller falls
//! back to the URL's name and says why.

use std::fmt;

/// Longest file name accepted: Linux's NAME_MAX.
pub const MAX_NAME_BYTES: usize = 255;

/// Why a `Content-Disposition` gives no usable file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameRefusal {
    /// No `filename` or `filename*` parameter.
    Missing,
    /// The name is empty once reduced to its last component.
    Empty,
    /// The name is `.` or `..`.
    Dots,
    /// The name holds a control character (escaped in the message).
    Control(String),
    /// The name is longer than [`MAX_NAME_BYTES`].
    TooLong(usize),
}

impl fmt::Display for NameRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameRefusal::Missing => write!(f, "no file name in Content-Disposition"),
            NameRefusal::Empty => write!(f, "the Content-Disposition file name is empty"),
            NameRefusal::Dots => write!(f, "the Content-Disposition file name is . or .."),
            NameRefusal::Control(name) => write!(
                f,
                "the Content-Disposition file name \"{name}\" holds a control character"
            ),
            NameRefusal::TooLong(bytes) => write!(
                f,
                "the Content-Disposition file name is {bytes} bytes long (at most {MAX_NAME_BYTES})"
            ),
        }
    }
}

/// The file name `value` (a `Content-Disposition` field value) suggests,
/// as a plain name safe to create in the current directory, or why there is
/// none.
///
/// ```
/// use sockdemo::http::disposition_name;
///
/// let value = b"attachment; filename=\"report.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf";
/// assert_eq!(disposition_name(value).unwrap(), "r\u{e9}sum\u{e9}.pdf");
/// assert_eq!(disposition_name(b"attachment; filename=\"../../.ssh/id\"").unwrap(), "id");
/// ```
pub fn disposition_name(value: &[u8]) -> Result<String, NameRefusal> {
    let mut plain = None;
    let mut extended = None;
    for (name, value) in parameters(value) {
        if name.eq_ignore_ascii_case(b"filename") && plain.is_none() {
            plain = Some(text_of(&value));
        } else if name.eq_ignore_ascii_case(b"filename*") && extended.is_none() {
            extended = ext_value(&value);
        }
    }
    let name = extended.or(plain).ok_or(NameRefusal::Missing)?;
    safe_name(&name)
}

/// Reduces a suggested name to its last path component, without leading
/// dots, or refuses it.
fn safe_name(name: &str) -> Result<String, NameRefusal> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    if last == "." || last == ".." {
        return Err(NameRefusal::Dots);
    }
    if last.chars().any(char::is_control) {
        return Err(NameRefusal::Control(last.escape_debug().to_string()));
    }
    let plain = last.trim_start_matches('.');
    if plain.is_empty() {
        return Err(NameRefusal::Empty);
    }
    if plain.len() > MAX_NAME_BYTES {
        return Err(NameRefusal::TooLong(plain.len()));
    }
    Ok(plain.to_owned())
}

/// The parameters after the disposition type, as (name, value) pairs, the
/// value unquoted. A parameter that does not parse ends the list: what
/// follows it cannot be trusted to be split right.
fn parameters(value: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut params = Vec::new();
    let Some(start) = value.iter().position(|&b| b == b';') else {
        return params;
    };
    let mut rest = &value[start..];
    loop {
        rest = trim_start(rest);
        while let [b';', tail @ ..] = rest {
            rest = trim_start(tail);
        }
        if rest.is_empty() {
            return params;
        }
        let Some(eq) = rest.iter().position(|&b| b == b'=' || b == b';') else {
            return params;
        };
        if rest[eq] != b'=' {
            return params;
        }
        let name = trim_end(&rest[..eq]).to_vec();
        rest = trim_start(&rest[eq + 1..]);
        let value = if let [b'"', tail @ ..] = rest {
            let Some((value, after)) = quoted(tail) else {
                return params;
            };
            rest = after;
            value
        } else {
            let end = rest.iter().position(|&b| b == b';').unwrap_or(rest.len());
            let value = trim_end(&rest[..end]).to_vec();
            rest = &rest[end..];
            value
        };
        params.push((name, value));
    }
}

/// The content of a quoted string whose opening quote is already read,
/// with its quoted pairs undone, and what follows its closing quote; `None`
/// when it is never closed.
fn quoted(bytes: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut value = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Some((value, &bytes[i + 1..])),
            b'\\' if i + 1 < bytes.len() => {
                value.push(bytes[i + 1]);
                i += 2;
            }
            b => {
                value.push(b);
                i += 1;
            }
        }
    }
    None
}

/// A `filename*` value (RFC 8187): `charset'language'percent-encoded`, in
/// UTF-8 or ISO-8859-1; `None` for any other charset or a bad encoding.
fn ext_value(value: &[u8]) -> Option<String> {
    let mut parts = value.splitn(3, |&b| b == b'\'');
    let (charset, _language, encoded) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes: Vec<u8> = percent_encoding::percent_decode(encoded).collect();
    if charset.eq_ignore_ascii_case(b"utf-8") {
        String::from_utf8(bytes).ok()
    } else if charset.eq_ignore_ascii_case(b"iso-8859-1") {
        Some(latin1(&bytes))
    } else {
        None
    }
}

/// A plain `filename` as text: UTF-8 when it is valid UTF-8 (as many
/// servers send), otherwise ISO-8859-1 (as the field's syntax says).
fn text_of(value: &[u8]) -> String {
    match std::str::from_utf8(value) {
        Ok(text) => text.to_owned(),
        Err(_) => latin1(value),
    }
}

/// ISO-8859-1 bytes as text: each byte is the code point of the same value.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(bytes.len());
    &bytes[start..]
}

fn trim_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(value: &str) -> Result<String, NameRefusal> {
        disposition_name(value.as_bytes())
    }

    #[test]
    fn the_plain_and_the_extended_name() {
        assert_eq!(name("attachment; filename=a.txt"), Ok("a.txt".into()));
        assert_eq!(
            name("attachment;filename=\"a b.txt\""),
            Ok("a b.txt".into())
        );
        assert_eq!(name("inline; FILENAME = \"x\\\"y\""), Ok("x\"y".into()));
        assert_eq!(
            name("attachment; filename*=UTF-8''%E2%82%AC%20rates.txt"),
            Ok("€ rates.txt".into())
        );
        // filename* wins, wherever it stands.
        assert_eq!(
            name("attachment; filename*=utf-8'en'%C3%A9.txt; filename=\"e.txt\""),
            Ok("é.txt".into())
        );
        assert_eq!(
            name("attachment; filename*=iso-8859-1''%E9.txt"),
            Ok("é.txt".into())
        );
        // An extended name that cannot be decoded gives way to the plain one.
        assert_eq!(
            name("attachment; filename*=UTF-8''%FF.txt; filename=plain.txt"),
            Ok("plain.txt".into())
        );
        assert_eq!(
            name("attachment; filename*=KOI8-R''%C1.txt; filename=plain.txt"),
            Ok("plain.txt".into())
        );
        assert_eq!(
            disposition_name(b"attachment; filename=\"caf\xe9.txt\""),
            Ok("café.txt".into())
        );
        // Percent signs in the plain name are kept as they are (RFC 6266 section 4.3).
        assert_eq!(
            name("attachment; filename=\"100%25.txt\""),
            Ok("100%25.txt".into())
        );
    }

    #[test]
    fn hostile_names_are_reduced_or_refused() {
        assert_eq!(
            name("attachment; filename=\"../../etc/passwd\""),
            Ok("passwd".into())
        );
        assert_eq!(
            name("attachment; filename=\"/etc/cron.d/x\""),
            Ok("x".into())
        );
        assert_eq!(
            name("attachment; filename=\"C:\\\\dir\\\\f.exe\""),
            Ok("f.exe".into())
        );
        assert_eq!(
            name("attachment; filename*=UTF-8''..%2F..%2Fx"),
            Ok("x".into())
        );
        assert_eq!(
            name("attachment; filename=\".bashrc\""),
            Ok("bashrc".into())
        );
        assert_eq!(name("attachment; filename=\"..\""), Err(NameRefusal::Dots));
        assert_eq!(
            name("attachment; filename=\"a/..\""),
            Err(NameRefusal::Dots)
        );
        assert_eq!(name("attachment; filename=\".\""), Err(NameRefusal::Dots));
        assert_eq!(name("attachment; filename=\"\""), Err(NameRefusal::Empty));
        assert_eq!(
            name("attachment; filename=\"dir/\""),
            Err(NameRefusal::Empty)
        );
        assert_eq!(
            name("attachment; filename=\"...\""),
            Err(NameRefusal::Empty)
        );
        assert_eq!(
            name("attachment; filename*=UTF-8''a%0Ab"),
            Err(NameRefusal::Control("a\\nb".into()))
        );
        assert_eq!(
            name("attachment; filename*=UTF-8''a%1B%5B2Jb"),
            Err(NameRefusal::Control("a\\u{1b}[2Jb".into()))
        );
        assert_eq!(
            name("attachment; filename*=UTF-8''a%C2%85b"),
            Err(NameRefusal::Control("a\\u{85}b".into())),
            "a C1 control"
        );
        assert_eq!(
            name("attachment; filename*=UTF-8''a%00b"),
            Err(NameRefusal::Control("a\\0b".into()))
        );
        let long = format!("attachment; filename=\"{}\"", "x".repeat(256));
        assert_eq!(name(&long), Err(NameRefusal::TooLong(256)));
        let longest = format!("attachment; filename=\"{}\"", "é".repeat(127));
        assert_eq!(name(&longest), Ok("é".repeat(127)));
    }

    #[test]
    fn fields_without_a_name_or_broken_ones() {
        for value in [
            "attachment",
            "inline",
            "",
            "attachment; size=3",
            "attachment; filename",
            "attachment; filename=\"never closed",
            "attachment; name=\"x\"; filename",
            "attachment; filename*=UTF-8",
            "attachment; filename*=UTF-8'%41",
        ] {
            assert_eq!(name(value), Err(NameRefusal::Missing), "{value:?}");
        }
        // A parameter that looks like the name inside a quoted string is not it.
        assert_eq!(
            name("attachment; note=\"; filename=evil\"; filename=good"),
            Ok("good".into())
        );
    }

    #[test]
    fn refusals_read_as_messages() {
        assert_eq!(
            NameRefusal::Control("a\\nb".into()).to_string(),
            "the Content-Disposition file name \"a\\nb\" holds a control character"
        );
        assert_eq!(
            NameRefusal::TooLong(300).to_string(),
            "the Content-Disposition file name is 300 bytes long (at most 255)"
        );
    }
}
