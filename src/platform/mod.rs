//! What sockdemo asks of the operating system beyond the standard library,
//! gathered here because it is Linux's own, so that a port to another
//! system starts with this module and nothing else. It is also the only
//! place with `unsafe` code (the crate denies it elsewhere): each call is
//! wrapped in a safe function, its SAFETY comment beside it.
//!
//! | item | what it does | Linux call |
//! |---|---|---|
//! | [`open_files::raise_to_hard_limit`] | raises the open-file limit for many connections | `getrlimit`/`setrlimit(RLIMIT_NOFILE)` |
//! | [`start_writeback`] | starts writing a downloaded file to disk early | `sync_file_range` |
//! | [`limits::limits`] | reads the limits on threads, mappings and files for the capacity rule | `/proc/sys/vm/max_map_count`, `/proc/self/maps`, `kernel.threads-max`, `pid_max`, `/proc/loadavg`, `getrlimit(RLIMIT_NPROC, RLIMIT_NOFILE)`, the cgroup's `pids.max` |
//! | [`send_queue::unacknowledged`] | bytes sent that the peer has not acknowledged, for the lingering close | `ioctl(SIOCOUTQ)` |
//! | [`fs::create_unnamed`], [`fs::link_unnamed`] | a download's temporary file, unnamed until complete, then linked in | `open(O_TMPFILE)`, `linkat(AT_SYMLINK_FOLLOW)` through `/proc/self/fd` |
//! | [`fs::open_location`], [`fs::resolved_path`], [`fs::open_directory`], [`fs::path_in`], [`fs::reopen_for_writing`] | the output path opened by the kernel's rules (`fs.protected_symlinks`), where it led, and its directory held open | `open(O_PATH)`, `/proc/self/fd` |
//! | [`fs::may_write`] | whether a replaced file is write-protected for this user | `faccessat(W_OK, AT_EACCESS)` |
//! | [`fs::duplicate`], [`fs::descriptor_metadata`] | `-o /dev/fd/N`: writing to a descriptor the user named | `fcntl(F_DUPFD_CLOEXEC)`, `/proc/self/fd` |
//! | [`fs::effective_uid`], [`fs::umask`] | whose a `-C` part is; the mode of a new file | `geteuid`, `/proc/self/status` |
//! | [`lock::try_lock_exclusive`] | locks a partial download so that two runs cannot write into it | `flock(LOCK_EX \| LOCK_NB)` |
//! | [`signals::watch`] | runs a closure on a thread of its own for each SIGINT, SIGTERM or SIGHUP | `sigaction` (through signal-hook), a self-pipe |
//! | [`signals::count`] | counts signals in the handler itself, and raises a level on the second | `sigaction` (through signal-hook), atomics |
//! | [`signals::flag_then_exit`] | load mode's Ctrl-C: the first sets a flag, the second exits at once | `sigaction` (through signal-hook), `_exit` |
//! | [`signals::end_as`] | ends the process as a handled signal would have | `sigaction(SIG_DFL)`, `raise` (signal-hook's default emulation) |
//!
//! The rest of the code is portable Rust plus `std::os::unix` (file modes,
//! owners, symbolic links) and libc's constants that every Unix has (error
//! numbers, `O_NOFOLLOW`), so a port to another Unix needs an equivalent of
//! each item above; where the system has none, an equivalent may do nothing
//! (writeback is only a speed-up). Until one exists, other targets stop at
//! the `compile_error!` below, which names what is missing.

#[cfg(not(target_os = "linux"))]
compile_error!(
    "sockdemo runs on Linux only: src/platform/ has no port to this target yet \
     (needed: open_files::raise_to_hard_limit, the RLIMIT_NOFILE raise; \
     start_writeback, sync_file_range; limits::limits, the limits on threads, \
     mappings and files; send_queue::unacknowledged, SIOCOUTQ; \
     lock::try_lock_exclusive, flock; fs, O_TMPFILE, linkat, O_PATH, faccessat; signals, SIGINT/SIGTERM/SIGHUP handling)"
);

#[cfg(target_os = "linux")]
pub mod fs;
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
