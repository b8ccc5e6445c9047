//! A raw-socket client for the server tests: every step bounded by
//! [`STEP`], every reply checked byte for byte.

use super::STEP;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};

/// One connection to the server under test.
pub struct Client {
    pub stream: TcpStream,
}

impl Client {
    /// Connects, with every later read and write bounded by `STEP`.
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, STEP)
            .unwrap_or_else(|err| panic!("connecting to {addr}: {err}"));
        Client::from_stream(stream)
    }

    /// Wraps a connected socket, bounding its reads and writes by `STEP`.
    pub fn from_stream(stream: TcpStream) -> Client {
        stream.set_read_timeout(Some(STEP)).expect("read timeout");
        stream.set_write_timeout(Some(STEP)).expect("write timeout");
        Client { stream }
    }

    /// Connects and checks the welcome.
    pub fn greeted(addr: SocketAddr) -> Client {
        let mut client = Client::connect(addr);
        client.expect(b"Welcome!");
        client
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("sending to the server");
    }

    /// Reads exactly as many bytes as `expected` has, and compares.
    pub fn expect(&mut self, expected: &[u8]) {
        let mut got = vec![0u8; expected.len()];
        let mut filled = 0;
        while filled < got.len() {
            match self.stream.read(&mut got[filled..]) {
                Ok(0) => panic!(
                    "server closed after {:?}, expected {:?}",
                    String::from_utf8_lossy(&got[..filled]),
                    String::from_utf8_lossy(expected)
                ),
                Ok(n) => filled += n,
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => panic!(
                    "reading {:?} (got {:?}): {err}",
                    String::from_utf8_lossy(expected),
                    String::from_utf8_lossy(&got[..filled])
                ),
            }
        }
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected)
        );
        assert_eq!(got, expected);
    }

    /// Sends `message` and checks the reply.
    pub fn ask(&mut self, message: &[u8], reply: &[u8]) {
        self.send(message);
        self.expect(reply);
    }

    /// Checks that the server closes the connection with nothing more to say.
    pub fn expect_closed(&mut self) {
        let mut rest = Vec::new();
        match self.stream.read_to_end(&mut rest) {
            Ok(_) => assert_eq!(String::from_utf8_lossy(&rest), "", "bytes before the close"),
            Err(err) => panic!("waiting for the server to close: {err}"),
        }
    }

    /// Ends our side of the stream (the server sees end of stream).
    pub fn finish_sending(&mut self) {
        self.stream.shutdown(Shutdown::Write).expect("shutdown");
    }
}
