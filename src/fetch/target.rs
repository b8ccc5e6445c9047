//! What to fetch: the TARGET of the command line turned into a URL, the
//! request line and `Host` header it implies, and the file name a download
//! gets when `-o` is not given.
//!
//! The tutorial hard-codes a host and the path `/`; here any `host`,
//! `host:port`, `host/path`, `[v6]:port` or `http(s)://` URL is accepted.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use percent_encoding::percent_decode_str;
use url::{Position, Url};

use crate::exit::{Code, fail};

/// The file name used when the URL's path names no file (`/`, `/dir/`).
pub const DEFAULT_FILE_NAME: &str = "index.html";

/// Longest file name made from a URL: Linux's NAME_MAX, so that a long last
/// segment gives a shortened name instead of a failed download.
const MAX_FILE_NAME_BYTES: usize = 255;

/// Turns a TARGET into an `http` or `https` URL.
///
/// Anything without `://` is taken as an http URL without its scheme. This
/// matters because the URL syntax reads `localhost:8080` as the scheme
/// `localhost` followed by the path `8080`.
///
/// ```
/// let url = sockdemo::fetch::target::parse("localhost:8080/a").unwrap();
/// assert_eq!(url.as_str(), "http://localhost:8080/a");
/// ```
pub fn parse(target: &str) -> anyhow::Result<Url> {
    let text = if target.contains("://") {
        target.to_owned()
    } else {
        format!("http://{target}")
    };
    let mut url = Url::parse(&text)
        .map_err(|err| fail(Code::UrlMalformed, format!("invalid URL {target:?}: {err}")))?;
    check_scheme(&url)?;
    // A fragment is never sent; without it, URLs compare as the requests they make.
    url.set_fragment(None);
    if !url.username().is_empty() || url.password().is_some() {
        log::warn!(
            "user name and password in the URL are not sent: authentication is not supported"
        );
    }
    Ok(url)
}

/// Rejects a URL whose scheme sockdemo cannot fetch (curl's exit 1 for an
/// unsupported protocol), and one without a host.
pub fn check_scheme(url: &Url) -> anyhow::Result<()> {
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(fail(
                Code::Failure,
                format!("unsupported scheme {other:?} in {url} (only http and https)"),
            ));
        }
    }
    if url.host().is_none() {
        return Err(fail(Code::UrlMalformed, format!("no host in URL {url}")));
    }
    Ok(())
}

/// The request target of the request line: the path and the query, never the fragment.
pub fn request_target(url: &Url) -> &str {
    &url[Position::BeforePath..Position::AfterQuery]
}

/// The value of the `Host` header: the host (IPv6 in brackets), and the port
/// when it is not the scheme's default.
pub fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// The name a download is saved under when `-o` is not given: the last
/// segment of the URL's path, percent-decoded, without the query, reduced to
/// a plain name in the current directory (no `/`, `\`, NUL or control
/// character, no leading dot), or [`DEFAULT_FILE_NAME`] when nothing is left.
///
/// ```
/// use sockdemo::fetch::target::{default_file_name, parse};
/// let name = |t| default_file_name(&parse(t).unwrap());
/// assert_eq!(name("example.com/a/b%20c.txt?x=1"), std::path::PathBuf::from("b c.txt"));
/// assert_eq!(name("example.com/..%2F..%2Fetc%2Fpasswd"), std::path::PathBuf::from("passwd"));
/// assert_eq!(name("example.com/dir/"), std::path::PathBuf::from("index.html"));
/// ```
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
    fn host_header_has_the_port_only_when_not_default() {
        assert_eq!(host_header(&url("example.com")), "example.com");
        assert_eq!(host_header(&url("http://example.com:80/")), "example.com");
        assert_eq!(host_header(&url("https://example.com:443/")), "example.com");
        assert_eq!(
            host_header(&url("https://example.com:80/")),
            "example.com:80"
        );
        assert_eq!(host_header(&url("example.com:8080")), "example.com:8080");
        assert_eq!(host_header(&url("[::1]:8080")), "[::1]:8080");
        assert_eq!(host_header(&url("http://[::1]/")), "[::1]");
    }

    #[test]
    fn request_target_is_path_and_query_without_fragment() {
        assert_eq!(request_target(&url("example.com")), "/");
        assert_eq!(
            request_target(&url("example.com/a%20b?q=1&r#frag")),
            "/a%20b?q=1&r"
        );
        assert_eq!(request_target(&url("example.com/a b")), "/a%20b");
        assert_eq!(request_target(&url("example.com/?")), "/?");
        assert_eq!(request_target(&url("example.com/x#y")), "/x");
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
}
