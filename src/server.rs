//! PLACEHOLDER: `sockdemo serve`.
use std::net::SocketAddr;
use std::time::Duration;

/// The server's settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub delay: Option<Duration>,
    pub backlog: usize,
    pub max_connections: usize,
    pub idle_timeout: Option<Duration>,
    pub grace: Duration,
}

pub fn run(_config: &Config) -> anyhow::Result<()> {
    todo!()
}
