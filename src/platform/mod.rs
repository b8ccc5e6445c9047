//! What sockdemo asks of the operating system beyond the standard library,
//! gathered here because it is Linux's own, so that a port to another
//! system starts with this module and nothing else.
//!
//! | item | what it does | Linux call |
//! |---|---|---|
//! | [`open_files::raise_to_hard_limit`] | raises the open-file limit for many connections | `getrlimit`/`setrlimit(RLIMIT_NOFILE)` |
//! | [`start_writeback`] | starts writing a downloaded file to disk early | `sync_file_range` |
//! | [`limits::limits`] | reads the limits on threads, mappings and files for the capacity rule | `/proc/sys/vm/max_map_count`, `/proc/self/maps`, `kernel.threads-max`, `pid_max`, `/proc/loadavg`, `getrlimit(RLIMIT_NPROC, RLIMIT_NOFILE)`, the cgroup's `pids.max` |
//! | [`send_queue::unacknowledged`] | bytes sent that the peer has not acknowledged, for the lingering close | `ioctl(SIOCOUTQ)` |
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
     start_writeback, sync_file_range; limits::limits, the limits on threads, \
     mappings and files; send_queue::unacknowledged, SIOCOUTQ)"
);

#[cfg(target_os = "linux")]
pub mod limits;
#[cfg(target_os = "linux")]
pub mod lock;
#[cfg(target_os = "linux")]
pub mod open_files;
#[cfg(target_os = "linux")]
pub mod send_queue;
#[cfg(target_os = "linux")]
pub mod signals;
#[cfg(target_os = "linux")]
mod writeback;

#[cfg(target_os = "linux")]
pub use writeback::start_writeback;
