//! PLACEHOLDER: `sockdemo fetch`.
use std::path::PathBuf;
use std::time::Duration;

/// The fetcher's settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub target: String,
    pub output: Option<PathBuf>,
    pub connect_timeout: Option<Duration>,
    pub timeout: Option<Duration>,
    pub max_redirects: Option<usize>,
    pub fail: bool,
    pub cacert: Option<PathBuf>,
    pub insecure: bool,
    pub quiet: bool,
}

pub fn run(_config: &Config) -> anyhow::Result<()> {
    todo!()
}
