//! What a fetch saw on its way, for `--write-out`: when the final
//! request's connection was made and its head arrived, the final URL and
//! response, the redirects and retries, the bytes received. The attempts note
//! it as they go; at the end it becomes a [`Record`].

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use url::Url;

use super::write_out::Record;
use crate::http::ResponseHead;

/// What has been seen so far; clones share it, so the attempts and the
/// driver see the same notes.
#[derive(Debug, Clone)]
pub struct Observed(Rc<RefCell<Seen>>);

#[derive(Debug)]
struct Seen {
    started: Instant,
    connected: Option<Instant>,
    head_arrived: Option<Instant>,
    url: Option<Url>,
    head: Option<ResponseHead>,
    redirects: usize,
    retries: u32,
    file: String,
    received: u64,
}

impl Default for Observed {
    fn default() -> Self {
        Observed::new(Instant::now())
    }
}

impl Observed {
    /// Nothing seen yet of a fetch that started at `started`.
    pub fn new(started: Instant) -> Observed {
        Observed(Rc::new(RefCell::new(Seen {
            started,
            connected: None,
            head_arrived: None,
            url: None,
            head: None,
            redirects: 0,
            retries: 0,
            file: String::new(),
            received: 0,
        })))
    }

    /// An attempt starts from the URL given: no redirect followed yet.
    pub fn attempt_started(&self) {
        self.0.borrow_mut().redirects = 0;
    }

    /// A request to `url` starts: it is the effective URL from now on.
    pub fn request(&self, url: &Url) {
        self.0.borrow_mut().url = Some(url.clone());
    }

    /// The request has its connection.
    pub fn connected(&self) {
        self.0.borrow_mut().connected = Some(Instant::now());
    }

    /// The response head to the last request arrived.
    pub fn head(&self, head: &ResponseHead) {
        let mut seen = self.0.borrow_mut();
        seen.head_arrived = Some(Instant::now());
        seen.head = Some(head.clone());
    }

    /// A redirect was followed.
    pub fn redirected(&self) {
        self.0.borrow_mut().redirects += 1;
    }

    /// Another attempt is to come.
    pub fn retried(&self) {
        self.0.borrow_mut().retries += 1;
    }

    /// The body goes to `file` (empty: stdout).
    pub fn file(&self, file: String) {
        self.0.borrow_mut().file = file;
    }

    /// The bodies received came to `bytes`.
    pub fn received(&self, bytes: u64) {
        self.0.borrow_mut().received = bytes;
    }

    /// The record of the fetch, which ends now with `exitcode` and
    /// `errormsg`.
    pub fn record(&self, exitcode: u8, errormsg: String) -> Record {
        let seen = self.0.borrow();
        let since = |at: Option<Instant>| {
            at.map(|at| at.duration_since(seen.started))
                .unwrap_or_default()
        };
        let head = seen.head.as_ref();
        let headers: Vec<(String, String)> = head
            .map(|head| {
                head.headers
                    .iter()
                    .map(|field| {
                        let value = String::from_utf8_lossy(&field.value).into_owned();
                        (field.name.clone(), value)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let content_type = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map(|(_, value)| value.clone())
            .unwrap_or_default();
        Record {
            http_code: head.map_or(0, |head| head.status),
            size_download: seen.received,
            time_total: seen.started.elapsed(),
            time_connect: since(seen.connected),
            time_starttransfer: since(seen.head_arrived),
            url_effective: seen.url.as_ref().map(Url::to_string).unwrap_or_default(),
            filename_effective: seen.file.clone(),
            num_redirects: seen.redirects,
            num_retries: seen.retries,
            exitcode,
            errormsg,
            content_type,
            headers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http;

    #[test]
    fn the_record_holds_the_last_response_and_the_counts() {
        let observed = Observed::default();
        assert_eq!(observed.record(7, "no".into()).http_code, 0);
        let shared = observed.clone();
        shared.attempt_started();
        shared.request(&Url::parse("http://h/a").unwrap());
        shared.connected();
        shared.redirected();
        shared.request(&Url::parse("http://h/b").unwrap());
        shared.connected();
        let (head, _) =
            http::parse_head(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-A: 1\r\n\r\n")
                .unwrap()
                .unwrap();
        shared.head(&head);
        shared.retried();
        shared.file("b".into());
        shared.received(5);
        let record = observed.record(0, String::new());
        assert_eq!(record.http_code, 200);
        assert_eq!(record.url_effective, "http://h/b");
        assert_eq!(record.content_type, "text/html");
        assert_eq!((record.num_redirects, record.num_retries), (1, 1));
        assert_eq!(
            (record.filename_effective.as_str(), record.size_download),
            ("b", 5)
        );
        assert!(record.time_connect <= record.time_starttransfer);
        assert!(record.time_starttransfer <= record.time_total);
        assert_eq!(record.headers[1], ("X-A".to_owned(), "1".to_owned()));
    }
}
