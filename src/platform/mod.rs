//! What sockdemo asks of the operating system beyond the standard library,
//! gathered here because it is Linux's own, so that a port to another
//! system starts with this module and nothing else.
//!
//! | item | what it does | Linux call |
//! |---|---|---|
//! | [`open_files::raise_to_hard_limit`] | raises the open-file limit for many connections | `getrlimit`/`setrlimit(RLIMIT_NOFILE)` |
//! | [`start_writeback`] | starts writing a downloaded file to disk early | `sync_file_range` |
//!
//! Readings of the system's limits, from `/proc` and the resource limits,
//! belong here too.
//!
//! The rest of the code is portable Rust plus `std::os::unix` (file modes,
//! owners, symbolic links), so a port to another Unix needs an equivalent of
//! each item above; where the system has none, an equivalent may do nothing
//! (writeback is only a speed-up). Until one exists, other targets stop at
//! the `compile_error!` below, which names what is missing.

#[cfg(not(target_os = "linux"))]
compile_error!(
    "sockdemo runs on Linux only: src/platform/ has no port to this target yet \
     (needed: open_files::raise_to_hard_limit, the RLIMIT_NOFILE raise; \
     start_writeback, sync_file_range)"
);

#[cfg(target_os = "linux")]
pub mod open_files;
#[cfg(target_os = "linux")]
mod writeback;

#[cfg(target_os = "linux")]
pub use writeback::start_writeback;
