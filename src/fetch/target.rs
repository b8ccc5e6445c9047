//! What to fetch: the TARGET of the command line turned into a URL, and the
//! file name a download gets when `-o` is not given.
//!
//! The tutorial hard-codes a host and the path `/`; here any `host`,
//! `host:port`, `host/path`, `[v6]:port` or `http(s)://` URL is accepted.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use percent_encoding::percent_decode_str;
use url::Url;

use super::credentials::User;
use super::failure::url_failure;
use crate::exit::{Code, WithCode};
use crate::http;

/// The file name used when the URL's path names no file (`/`, `/dir/`).
pub const DEFAULT_FILE_NAME: &str = "index.html";

/// Longest file name made from a URL: Linux's NAME_MAX, so that a long last
/// segment gives a shortened name instead of a failed download.
const MAX_FILE_NAME_BYTES: usize = 255;

/// Turns a TARGET into an `http` or `https` URL, without the user name and
/// password it may hold (see [`parse_with_user`]): the tests' shorthand.
#[cfg(test)]
pub fn parse(target: &str) -> anyhow::Result<Url> {
    parse_with_user(target).map(|(url, _)| url)
}

/// Turns a TARGET into an `http` or `https` URL, and the user name and
/// password it held, percent-decoded, taken out of it: the URL that goes
/// into messages, logs and `--write-out` has none.
///
/// Anything without `://` is taken as an http URL without its scheme. This
/// matters because the URL syntax reads `localhost:8080` as the scheme
/// `localhost` followed by the path `8080`.
pub fn parse_with_user(target: &str) -> anyhow::Result<(Url, Option<User>)> {
    let text = if target.contains("://") {
        target.to_owned()
    } else {
        format!("http://{target}")
    };
    let url = Url::parse(&text).with_code(Code::UrlMalformed, || {
        format!(
            "invalid URL \"{}\"",
            without_userinfo(target).escape_debug()
        )
    })?;
    let decode = |part: &str| percent_decode_str(part).decode_utf8_lossy().into_owned();
    let user = (!url.username().is_empty() || url.password().is_some()).then(|| User {
        name: decode(url.username()),
        password: url.password().map(decode),
    });
    let (url, _) = http::sendable(url).map_err(|err| url_failure(&err))?;
    Ok((url, user))
}

/// A TARGET as a message may quote it: a user name and password before
/// the host are replaced by `***`.
fn without_userinfo(target: &str) -> String {
    let start = target.find("://").map_or(0, |at| at + 3);
    let end = target[start..]
        .find(['/', '?', '#'])
        .map_or(target.len(), |at| start + at);
    match target[start..end].rfind('@') {
        Some(at) => format!("{}***{}", &target[..start], &target[start + at..]),
        None => target.to_owned(),
    }
}

/// Says that the user name and password of a redirect's `Location` are not
/// sent: credentials go only where the user sent them.
pub fn warn_credentials_dropped() {
    log::warn!("the user name and password in a redirect's Location are not sent");
}

/// The name a download is saved under when `-o` is not given: the last
/// segment of the URL's path, percent-decoded, without the query, reduced to
/// a plain name in the current directory (no `/`, `\`, NUL or control
/// character, no leading dot), or [`DEFAULT_FILE_NAME`] when nothing is left.
pub fn default_file_name(url: &Url) -> PathBuf {
    let last = url.path().rsplit('/').next().unwrap_or_default();
    let decoded: Vec<u8> = percent_decode_str(last).collect();
    // A decoded `%2F` or `\` must not lead anywhere but the current directory:
    // keep only what follows the last separator.
    let base = decoded
        .rsplit(|&b| b == b'/' || b == b'\\')
        .next()
        .unwrap_or_default();
    let mut name: Vec<u8> = base
        .iter()
        .map(|&b| if b.is_ascii_control() { b'_' } else { b })
        .skip_while(|&b| b == b'.')
        .collect();
    truncate_name(&mut name);
    if name.is_empty() {
        return PathBuf::from(DEFAULT_FILE_NAME);
    }
    PathBuf::from(OsString::from_vec(name))
}

/// Shortens a name to [`MAX_FILE_NAME_BYTES`], keeping a UTF-8 name valid.
fn truncate_name(name: &mut Vec<u8>) {
    if name.len() <= MAX_FILE_NAME_BYTES {
        return;
    }
    let mut end = MAX_FILE_NAME_BYTES;
    if std::str::from_utf8(name).is_ok() {
        // Back up to a character boundary: continuation bytes are 0b10xxxxxx.
        while end > 0 && (name[end] & 0xC0) == 0x80 {
            end -= 1;
        }
    }
    name.truncate(end);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(target: &str) -> Url {
        parse(target).unwrap_or_else(|err| panic!("{target:?}: {err:#}"))
    }

    fn code(target: &str) -> Code {
        Code::of(&parse(target).expect_err(target))
    }

    #[test]
    fn targets_without_a_scheme_are_http() {
        assert_eq!(url("www.sina.com.cn").as_str(), "http://www.sina.com.cn/");
        assert_eq!(url("localhost:8080").as_str(), "http://localhost:8080/");
        assert_eq!(url("host/a/b").as_str(), "http://host/a/b");
        assert_eq!(url("127.0.0.1:81/x?y").as_str(), "http://127.0.0.1:81/x?y");
        assert_eq!(url("[::1]:8080/p").as_str(), "http://[::1]:8080/p");
        assert_eq!(url("HTTPS://Example.COM/").as_str(), "https://example.com/");
    }

    #[test]
    fn credentials_are_taken_out_of_the_url_and_never_shown() {
        assert_eq!(url("http://user:secret@h/p").as_str(), "http://h/p");
        assert_eq!(url("user@h:81").as_str(), "http://h:81/");
        let (url, user) = parse_with_user("http://al%40ice:s%3Acr%C3%A9t@h/p").unwrap();
        assert_eq!(url.as_str(), "http://h/p");
        let user = user.unwrap();
        assert_eq!(
            (user.name.as_str(), user.password.as_deref()),
            ("al@ice", Some("s:crét"))
        );
        let (_, user) = parse_with_user("bob@h").unwrap();
        assert_eq!(user.unwrap().password, None);
        assert!(parse_with_user("h/p").unwrap().1.is_none());
        for malformed in [
            "http://u:s3cret@h:99999/",
            "u:s3cret@h:99999",
            "u:s3c@ret@[::1",
        ] {
            let err = parse(malformed).unwrap_err();
            assert_eq!(Code::of(&err), Code::UrlMalformed);
            assert!(!format!("{err:#}").contains("s3c"), "{err:#}");
        }
        assert_eq!(without_userinfo("http://u:p@h/a@b"), "http://***@h/a@b");
        assert_eq!(without_userinfo("h:1/x"), "h:1/x");
        let err = parse("ftp://u:secret@h/").unwrap_err();
        assert!(!format!("{err:#}").contains("secret"), "{err:#}");
    }

    #[test]
    fn malformed_targets_exit_3_and_other_schemes_exit_1() {
        for bad in [
            "",
            "http://",
            "host:99999",
            "[::1",
            "a b:1",
            "http://[::1]x/",
            "host:port",
        ] {
            assert_eq!(code(bad), Code::UrlMalformed, "{bad:?}");
        }
        assert_eq!(code("ftp://example.com/f"), Code::Failure);
        assert_eq!(code("file:///etc/passwd"), Code::Failure);
    }

    #[test]
    fn a_malformed_target_is_quoted_with_the_parsers_reason() {
        let err = parse("a b:1\n").unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "invalid URL \"a b:1\\n\": invalid international domain name"
        );
        let err = parse("ftp://h/").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported scheme \"ftp\" in ftp://h/ (only http and https)"
        );
    }

    #[test]
    fn default_file_names_stay_in_the_current_directory() {
        let name = |t: &str| default_file_name(&url(t));
        assert_eq!(name("example.com"), PathBuf::from("index.html"));
        assert_eq!(name("example.com/"), PathBuf::from("index.html"));
        assert_eq!(name("example.com/a/file.bin"), PathBuf::from("file.bin"));
        assert_eq!(
            name("example.com/a/file.bin?x=/y"),
            PathBuf::from("file.bin")
        );
        assert_eq!(name("example.com/%2e%2e"), PathBuf::from("index.html"));
        assert_eq!(name("example.com/.."), PathBuf::from("index.html"));
        assert_eq!(name("example.com/.bashrc"), PathBuf::from("bashrc"));
        assert_eq!(name("example.com/a%5Cb"), PathBuf::from("b"));
        assert_eq!(name("example.com/a%00b"), PathBuf::from("a_b"));
        assert_eq!(name("example.com/%E2%82%AC.txt"), PathBuf::from("€.txt"));
        assert_eq!(
            name("example.com/%FF"),
            PathBuf::from(OsString::from_vec(vec![0xFF]))
        );
        let long = format!("example.com/{}", "é".repeat(200));
        let long = name(&long);
        assert!(long.as_os_str().len() <= MAX_FILE_NAME_BYTES);
        assert!(long.to_str().is_some(), "still UTF-8");
    }

    #[test]
    fn the_documented_examples() {
        let url = crate::fetch::target::parse("localhost:8080/a").unwrap();
        assert_eq!(url.as_str(), "http://localhost:8080/a");
        use crate::fetch::target::{default_file_name, parse};
        let name = |t| default_file_name(&parse(t).unwrap());
        assert_eq!(
            name("example.com/a/b%20c.txt?x=1"),
            std::path::PathBuf::from("b c.txt")
        );
        assert_eq!(
            name("example.com/..%2F..%2Fetc%2Fpasswd"),
            std::path::PathBuf::from("passwd")
        );
        assert_eq!(
            name("example.com/dir/"),
            std::path::PathBuf::from("index.html")
        );
    }
}
