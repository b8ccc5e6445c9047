//! PLACEHOLDER: `sockdemo client`.
use std::net::SocketAddr;
use std::time::Duration;

/// The client's settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub connect: SocketAddr,
    pub timeout: Option<Duration>,
    pub mode: Mode,
}

/// What the client does once connected.
#[derive(Debug, Clone)]
pub enum Mode {
    Names(Vec<String>),
    Stdin,
    Load { connections: usize, rounds: usize },
}

pub fn run(_config: &Config) -> anyhow::Result<()> {
    todo!()
}
