//! What sockdemo asks of the operating system beyond the standard library,
//! gathered here because it is Linux's own, so that a port to another
//! system starts with this module and nothing else. It is also the only
//! place with `unsafe` code (the crate denies it elsewhere): each call is
//! wrapped in a safe function, its SAFETY comment beside it.
//!
//! | item | what it does | Linux call |
//! |---|---|---|
//! | [`connect::Connecting`], [`connect::wait_any`] | connects without blocking, and waits on several connections at once | `connect` on a non-blocking socket (through socket2), `poll` |
//! | [`open_files::raise_to_hard_limit`] | raises the open-file limit for many connections | `getrlimit`/`setrlimit(RLIMIT_NOFILE)` |
//! | [`start_writeback`] | starts writing a downloaded file to disk early | `sync_file_range` |
//! | [`limits::limits`] | reads the limits on threads, mappings, files and memory for the capacity rule | `/proc/sys/vm/max_map_count`, `/proc/self/maps`, `kernel.threads-max`, `pid_max`, `/proc/loadavg`, `getrlimit(RLIMIT_NPROC, RLIMIT_NOFILE, RLIMIT_AS)`, the cgroup's `pids.max`, and [`memory`]'s |
//! | [`memory::limit_malloc_arenas`] | bounds glibc's malloc arenas, each of which reserves 64 MiB of address space, unless the environment does | `mallopt(M_ARENA_MAX)`; `MALLOC_ARENA_MAX`, `GLIBC_TUNABLES` |
//! | [`memory::reserved_per_thread`], [`memory::address_space_in_use`] | the address space a connection thread reserves, and the process has reserved, for the capacity rule under `RLIMIT_AS` | `sysconf(_SC_PAGESIZE)`, `getauxval(AT_MINSIGSTKSZ)`, `VmSize` in `/proc/self/status` |
//! | [`memory::memory_cgroup`] | the memory control group's limit and use, for the capacity rule | v1 `memory.stat` (`hierarchical_memory_limit`, `total_cache`), `memory.usage_in_bytes`; v2 `memory.max` up to the root, `memory.current`, `memory.stat` (`file`) |
//! | [`send_queue::unacknowledged`] | bytes sent that the peer has not acknowledged, for the lingering close | `ioctl(SIOCOUTQ)` |
//! | [`send_queue::unread`], [`send_queue::idle`] | bytes received and not read; a socket idle both ways, closed at once at the end of the grace period | `ioctl(FIONREAD)`, `ioctl(SIOCOUTQ)` |
//! | [`fs::create_unnamed`], [`fs::link_unnamed`] | a download's temporary file, unnamed until complete, then linked in | `open(O_TMPFILE)`, `linkat(AT_SYMLINK_FOLLOW)` through `/proc/self/fd` |
//! | [`fs::open_location`], [`fs::resolved_path`], [`fs::open_directory`], [`fs::path_in`], [`fs::reopen_for_writing`] | the output path opened by the kernel's rules (`fs.protected_symlinks`), where it led, and its directory held open | `open(O_PATH)`, `/proc/self/fd` |
//! | [`fs::may_write`] | whether a replaced file is write-protected for this user | `faccessat(W_OK, AT_EACCESS)` |
//! | [`fs::duplicate`], [`fs::descriptor_metadata`] | `-o /dev/fd/N`: writing to a descriptor the user named | `fcntl(F_DUPFD_CLOEXEC)`, `/proc/self/fd` |
//! | [`fs::effective_uid`], [`fs::umask`] | whose a `-C` part is; the mode of a new file | `geteuid`, `/proc/self/status` |
//! | [`lock::try_lock_exclusive`] | locks a partial download so that two runs cannot write into it | `flock(LOCK_EX \| LOCK_NB)` |
//! | [`signals::watch`] | runs a closure on a thread of its own for each SIGINT, SIGTERM or SIGHUP | `sigaction` (through signal-hook), a self-pipe |
//! | [`signals::count`] | counts signals in the handler itself, and raises a level on the second | `sigaction` (through signal-hook), atomics |
//! | [`signals::flag_then_exit`] | load mode's Ctrl-C: the first sets a flag, the second exits at once | `sigaction` (through signal-hook), `_exit` |
//! | [`signals::is_ignored`] | whether a signal was ignored when the process started, so that it stays so | `sigaction` with no new action |
//! | [`tty::read_password`] | asks for a password on the terminal, without echo, which a signal meanwhile gives back | `open("/dev/tty")`, `tcgetattr`/`tcsetattr` (through rustix); a handler that puts the terminal back on a signal: `sigaction`, `tcsetattr`, `raise` |
//! | [`signals::end_as`] | ends the process as a handled signal would have | `sigaction(SIG_DFL)`, `raise` (signal-hook's default emulation) |
//!
//! The rest of the code is portable Rust plus `std::os::unix` (file modes,
//! owners, symbolic links) and libc's constants that every Unix has (error
//! numbers, `O_NOFOLLOW`), so a port to another Unix needs an equivalent of
//! each item above; where the system has none, an equivalent may do nothing
//! (writeback is only a speed-up). Until one exists, other targets stop at
//! the `compile_error!` below, which names what is missing.
//!
//! For the unit tests only, `alloc_limit` is the test build's allocator:
//! the system's, with a ceiling a test may set on its thread, so that a
//! failed allocation can be tested without a limit on the whole process.

#[cfg(not(target_os = "linux"))]
compile_error!(
    "sockdemo runs on Linux only: src/platform/ has no port to this target yet \
     (needed: open_files::raise_to_hard_limit, the RLIMIT_NOFILE raise; \
     start_writeback, sync_file_range; limits::limits, the limits on threads, \
     mappings, files and memory; memory, the address space a thread reserves, \
     the malloc arena bound and the memory cgroup; send_queue, SIOCOUTQ and FIONREAD; \
     lock::try_lock_exclusive, flock; fs, O_TMPFILE, linkat, O_PATH, faccessat; \
     connect, non-blocking connect and poll; signals, SIGINT/SIGTERM/SIGHUP handling)"
);

#[cfg(test)]
pub mod alloc_limit;
#[cfg(target_os = "linux")]
pub mod connect;
#[cfg(target_os = "linux")]
pub mod fs;
#[cfg(target_os = "linux")]
pub mod limits;
#[cfg(target_os = "linux")]
pub mod lock;
#[cfg(target_os = "linux")]
pub mod memory;
#[cfg(target_os = "linux")]
pub mod open_files;
#[cfg(target_os = "linux")]
pub mod send_queue;
#[cfg(target_os = "linux")]
pub mod signals;
#[cfg(target_os = "linux")]
pub mod tty;
#[cfg(target_os = "linux")]
mod writeback;

#[cfg(target_os = "linux")]
pub use writeback::start_writeback;
