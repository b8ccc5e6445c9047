//! An HTTP proxy for the fetch tests, on 127.0.0.1 port 0: it opens
//! `CONNECT` tunnels and forwards absolute-form requests, as tinyproxy or
//! squid do, to loopback addresses only, and records the head of every
//! request it receives. It can also refuse every request with a status.
//! Dropping it stops it.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::acceptor::Acceptor;

/// How long a proxied connection may stay silent: a bound on every test.
const IDLE_LIMIT: Duration = Duration::from_secs(20);

/// A running test proxy.
pub struct Proxy {
    pub addr: std::net::SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    _acceptor: Acceptor,
}

impl Proxy {
    /// A proxy that does its job.
    pub fn start() -> Proxy {
        Proxy::listen(None)
    }

    /// A proxy that answers every request with this status
    /// (`403 Forbidden`) and a small error page.
    pub fn refusing(status: &'static str) -> Proxy {
        Proxy::listen(Some(status))
    }

    fn listen(refusal: Option<&'static str>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("local address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let requests = Arc::clone(&requests);
            Acceptor::start(listener, move |client, _| {
                let _ = serve(client, &requests, refusal);
            })
        };
        Proxy {
            addr,
            requests,
            _acceptor: acceptor,
        }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The request heads received so far, as text.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("requests").clone()
    }
}

fn serve(
    mut client: TcpStream,
    requests: &Mutex<Vec<String>>,
    refusal: Option<&'static str>,
) -> io::Result<()> {
    client.set_read_timeout(Some(IDLE_LIMIT))?;
    let head = read_head(&mut client)?;
    let text = String::from_utf8_lossy(&head).into_owned();
    requests.lock().expect("requests").push(text.clone());
    if let Some(status) = refusal {
        // With an error page, as tinyproxy and squid send one.
        let page = format!("<html><body>{status}</body></html>\n");
        client.write_all(
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{page}",
                page.len()
            )
            .as_bytes(),
        )?;
        return Ok(());
    }
    let mut words = text.split(' ');
    let (method, target) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    let authority = match method {
        "CONNECT" => target.to_owned(),
        _ => match target.strip_prefix("http://") {
            Some(rest) => rest.split('/').next().unwrap_or_default().to_owned(),
            None => return bad_request(&mut client),
        },
    };
    // Loopback only: a test never reaches anything else, even by mistake.
    let loopback = ["127.0.0.1:", "localhost:", "[::1]:"]
        .iter()
        .any(|prefix| authority.starts_with(prefix));
    if !loopback {
        return bad_request(&mut client);
    }
    let origin = match TcpStream::connect(authority.replace("localhost", "127.0.0.1")) {
        Ok(origin) => origin,
        Err(_) => {
            client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")?;
            return Ok(());
        }
    };
    origin.set_read_timeout(Some(IDLE_LIMIT))?;
    let mut origin_out = origin.try_clone()?;
    if method == "CONNECT" {
        client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    } else {
        origin_out.write_all(&head)?;
    }
    let mut client_in = client.try_clone()?;
    let upstream = thread::spawn(move || {
        let _ = io::copy(&mut client_in, &mut origin_out);
        let _ = origin_out.shutdown(Shutdown::Write);
    });
    let mut origin_in = origin;
    let _ = io::copy(&mut origin_in, &mut client);
    let _ = client.shutdown(Shutdown::Write);
    let _ = upstream.join();
    Ok(())
}

fn bad_request(client: &mut TcpStream) -> io::Result<()> {
    client.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
}

fn read_head(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(head)
}
