//! A file server for the retry and resume tests: each connection carries one
//! request, and a rule chosen by the test answers it from the request head
//! and its number (0 for the first), usually with [`answer`], which serves a
//! file as RFC 9110 says (`ETag`, `Range`, `If-Range`), then ends the
//! connection as the rule says: complete, cut short, reset, or stalled.
//! It records every request head. Dropping it stops it.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::acceptor::Acceptor;

/// How long any connection of the server may live: a bound on every test.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(20);

/// A request as the rule sees it.
pub struct Request {
    /// 0 for the first request the server received.
    pub number: usize,
    /// The request head as received.
    pub head: String,
}

impl Request {
    /// The value of a request field, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (field, value) = line.split_once(':')?;
            field.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// The N of `Range: bytes=N-`.
    pub fn range_start(&self) -> Option<u64> {
        let spec = self.header("range")?.strip_prefix("bytes=")?;
        spec.strip_suffix('-')?.parse().ok()
    }
}

/// How a reply ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The whole body, then a clean close.
    Complete,
    /// This many body bytes, then a clean close: a body cut short.
    CutAfter(usize),
    /// This many body bytes, then a TCP reset.
    ResetAfter(usize),
    /// This many body bytes, then nothing until the server is dropped.
    StallAfter(usize),
}

/// A reply: a head, a body, and how it ends.
pub struct Reply {
    pub head: String,
    pub body: Vec<u8>,
    pub ending: Ending,
}

impl Reply {
    /// The same reply, ended another way.
    pub fn ending(self, ending: Ending) -> Reply {
        Reply { ending, ..self }
    }
}

/// Answers a GET of `file`, whose ETag is `etag`, as a server that honours
/// ranges does: a 206 with the rest when the request has `Range: bytes=N-`
/// and its `If-Range` names this ETag (416 when N is past the end), a 200
/// with the whole file otherwise.
pub fn answer(request: &Request, file: &[u8], etag: &str) -> Reply {
    let total = file.len() as u64;
    match request.range_start() {
        Some(start) if request.header("if-range") == Some(etag) => {
            if start >= total {
                return Reply {
                    head: format!(
                        "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{total}\r\nContent-Length: 0\r\n\r\n"
                    ),
                    body: Vec::new(),
                    ending: Ending::Complete,
                };
            }
            let rest = &file[start as usize..];
            Reply {
                head: format!(
                    "HTTP/1.1 206 Partial Content\r\nETag: {etag}\r\nContent-Range: bytes {start}-{}/{total}\r\nContent-Length: {}\r\n\r\n",
                    total - 1,
                    rest.len()
                ),
                body: rest.to_vec(),
                ending: Ending::Complete,
            }
        }
        _ => whole(file, etag),
    }
}

/// A 200 with the whole file, whatever the request asked for.
pub fn whole(file: &[u8], etag: &str) -> Reply {
    Reply {
        head: format!(
            "HTTP/1.1 200 OK\r\nETag: {etag}\r\nAccept-Ranges: bytes\r\nContent-Length: {}\r\n\r\n",
            file.len()
        ),
        body: file.to_vec(),
        ending: Ending::Complete,
    }
}

/// `len` bytes that differ from one `seed` to another, reproducibly.
pub fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut random = Random(seed);
    (0..len).map(|_| random.next() as u8).collect()
}

/// SplitMix64: reproducible numbers from a fixed seed, so that a failing
/// fault test fails the same way again.
pub struct Random(pub u64);

impl Random {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `range`.
    pub fn within(&mut self, range: std::ops::Range<usize>) -> usize {
        range.start + (self.next() % (range.end - range.start) as u64) as usize
    }
}

type Rule = dyn Fn(&Request) -> Reply + Send + Sync;

/// A running file server.
pub struct FileServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    _acceptor: Acceptor,
}

impl FileServer {
    /// Serves on 127.0.0.1, port 0, answering each request by `rule`.
    pub fn start(rule: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the file server");
        let addr = listener.local_addr().expect("local address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let counter = AtomicUsize::new(0);
        let acceptor = {
            let requests = Arc::clone(&requests);
            Acceptor::start(listener, move |stream, stop| {
                let _ = serve(stream, stop, &requests, &rule, &counter);
            })
        };
        FileServer {
            addr,
            requests,
            _acceptor: acceptor,
        }
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The request heads received so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("requests").clone()
    }
}

fn serve(
    mut stream: TcpStream,
    stop: &AtomicBool,
    requests: &Mutex<Vec<String>>,
    rule: &Rule,
    counter: &AtomicUsize,
) -> io::Result<()> {
    stream.set_read_timeout(Some(CONNECTION_LIFETIME))?;
    let head = read_request_head(&mut stream)?;
    let request = {
        // Numbered in the order recorded, under the same lock.
        let mut requests = requests.lock().expect("requests");
        requests.push(head.clone());
        Request {
            number: counter.fetch_add(1, Ordering::SeqCst),
            head,
        }
    };
    let reply = rule(&request);
    stream.write_all(reply.head.as_bytes())?;
    let sent = match reply.ending {
        Ending::Complete => reply.body.len(),
        Ending::CutAfter(n) | Ending::ResetAfter(n) | Ending::StallAfter(n) => {
            n.min(reply.body.len())
        }
    };
    stream.write_all(&reply.body[..sent])?;
    stream.flush()?;
    match reply.ending {
        Ending::Complete | Ending::CutAfter(_) => {}
        Ending::ResetAfter(_) => {
            socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO))?
        }
        Ending::StallAfter(_) => {
            // Polls `stop`: the drop of the server ends the stall.
            let deadline = Instant::now() + CONNECTION_LIFETIME;
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
    Ok(())
}

fn read_request_head(stream: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}
