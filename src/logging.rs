//! Logging: info by default (the tutorial prints its server's events), `-q`
//! and `-v` move the level, and `RUST_LOG`, when set, overrides both.
//! Logs go to stderr; program output goes to stdout.

use std::io::Write;

/// Installs the global logger.
pub fn init(level: log::LevelFilter) {
    env_logger::Builder::new()
        .filter_level(level)
        .parse_env("RUST_LOG")
        .format(|buf, record| {
            writeln!(
                buf,
                "{} {:<5} {}",
                buf.timestamp_millis(),
                record.level(),
                record.args()
            )
        })
        .init();
}
