//! Connections in memory, for the tests of a fetch: a server's answer as
//! the pieces it arrives in, and a connector handing out one such answer per
//! connection, keeping what each request sent. Model: ureq's test transport.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::Duration;

use url::Url;

use super::attempt::Connect;
use super::exchange::Wire;
use super::transport::Deadline;

/// One connection: each read returns the next piece of the script, then
/// the end; every write is kept.
pub struct Scripted {
    pieces: VecDeque<Vec<u8>>,
    /// The script ends as a TLS stream does without close_notify.
    tls: bool,
    /// The connection plays one kept from an earlier request.
    reused: bool,
    sent: Sent,
}

/// What a connection was sent, shared with the test that reads it.
pub type Sent = Rc<RefCell<Vec<u8>>>;

impl Scripted {
    /// A connection whose reads bring these pieces, in order.
    pub fn new(pieces: &[&[u8]]) -> Scripted {
        Scripted {
            pieces: pieces.iter().map(|piece| piece.to_vec()).collect(),
            tls: false,
            reused: false,
            sent: Rc::default(),
        }
    }

    /// A connection whose reads bring `wire` cut after each offset in `cuts`.
    pub fn cut(wire: &[u8], cuts: &[usize]) -> Scripted {
        let mut pieces = Vec::new();
        let mut from = 0;
        for &at in cuts.iter().chain([&wire.len()]) {
            pieces.push(&wire[from..at]);
            from = at;
        }
        Scripted::new(&pieces)
    }

    /// The same connection, over TLS, ending without close_notify.
    pub fn ending_without_close_notify(mut self) -> Scripted {
        self.tls = true;
        self
    }

    /// What the connection has been sent, shared: readable after the
    /// connection is gone.
    pub fn sent(&self) -> Sent {
        Rc::clone(&self.sent)
    }
}

impl Read for Scripted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(mut piece) = self.pieces.pop_front() else {
            return match self.tls {
                true => Err(io::ErrorKind::UnexpectedEof.into()),
                false => Ok(0),
            };
        };
        let n = piece.len().min(buf.len());
        buf[..n].copy_from_slice(&piece[..n]);
        if n < piece.len() {
            self.pieces.push_front(piece.split_off(n));
        }
        Ok(n)
    }
}

impl Write for Scripted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sent.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Wire for Scripted {
    fn set_deadline(&mut self, _: Option<Deadline>) {}

    fn is_tls(&self) -> bool {
        self.tls
    }

    fn reused(&self) -> bool {
        self.reused
    }
}

/// A server's answers, one per connection, in order; and the requests
/// each connection carried, with the URL it was made for.
#[derive(Default)]
pub struct Script {
    answers: RefCell<VecDeque<Scripted>>,
    connections: RefCell<Vec<(Url, Sent)>>,
    /// Requests may leave out `Connection: close`.
    keep_alive: bool,
    /// The connections handed back for another request.
    released: RefCell<Vec<Scripted>>,
}

impl Script {
    /// A server answering each connection with one of `answers`, whole.
    pub fn new(answers: &[&[u8]]) -> Script {
        let script = Script::default();
        script
            .answers
            .borrow_mut()
            .extend(answers.iter().map(|answer| Scripted::new(&[answer])));
        script
    }

    /// The same script, its first connection playing a kept one that the
    /// server closed while it was idle (it answers nothing), and every
    /// request leaving out `Connection: close`.
    pub fn kept_alive(self, first_closed: bool) -> Script {
        if first_closed {
            self.answers.borrow_mut().push_front(Scripted {
                reused: true,
                ..Scripted::new(&[])
            });
        }
        Script {
            keep_alive: true,
            ..self
        }
    }

    /// How many connections were handed back for another request.
    pub fn released(&self) -> usize {
        self.released.borrow().len()
    }

    /// Each connection made: the URL it was for, and what it was sent.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.connections
            .borrow()
            .iter()
            .map(|(url, sent)| {
                let sent = String::from_utf8_lossy(&sent.borrow()).into_owned();
                (url.to_string(), sent)
            })
            .collect()
    }
}

impl Connect for Script {
    type Wire = Scripted;

    fn connect(&self, url: &Url, _: Option<Deadline>) -> anyhow::Result<Scripted> {
        let wire = self
            .answers
            .borrow_mut()
            .pop_front()
            .ok_or_else(|| anyhow::anyhow!("the script has no answer left for {url}"))?;
        self.connections
            .borrow_mut()
            .push((url.clone(), wire.sent()));
        Ok(wire)
    }

    fn timeout(&self) -> Option<Duration> {
        None
    }

    fn keep_alive(&self, _: &Url) -> bool {
        self.keep_alive
    }

    fn release(&self, _: &Url, wire: Scripted) {
        self.released.borrow_mut().push(wire);
    }
}
