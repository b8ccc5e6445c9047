//! How many connection threads this process can really hold.
//!
//! Each connection, on the server and in the load client, is one thread and
//! one socket. The machine bounds both in several places at once, and some of
//! them cannot be met gracefully: when the process runs out of memory
//! mappings (`vm.max_map_count`), a new thread's start-up fails inside the
//! standard library, after `thread::Builder::spawn` has already returned
//! `Ok`, and the whole process aborts. So the number of threads is decided
//! up front, from every limit the process is under, with a margin for the
//! process's own threads, mappings and files; the server then turns the rest
//! away as busy, and the load client refuses to start.
//!
//! Memory is bounded in two more ways that end the same way: under
//! `ulimit -v` (`RLIMIT_AS`) a thread's start-up fails inside the standard
//! library when the address space is used up, and in a memory control group
//! the kernel kills the whole process when the group's memory runs out. So
//! the rule counts the address space each connection reserves (its thread's
//! stack and guard page, its signal stack and guard page, a little heap:
//! see [`crate::platform::memory`]) with room kept for malloc's arenas,
//! whose number the server and the load client bound at start; and the
//! memory an idle connection costs its control group, measured.
//!
//! The memory rule counts an idle connection ([`MEMORY_PER_CONNECTION`]),
//! not the worst case (a 64 KiB line and a reply of up to 192 KiB), which
//! would hold five times fewer clients to guard against what few clients
//! do; [`MEMORY_MARGIN`] covers some of them. Under `ulimit -v`, a line or a
//! reply that finds no memory ends its connection with an error line
//! instead (the buffers are allocated with `try_reserve`); in a control
//! group, the kernel does not fail an allocation, so the server also turns
//! new clients away while the group is nearly full (`server::pressure`).
//!
//! The rule is pure arithmetic over [`Limits`], so that it is tested without
//! the machine's own numbers; [`crate::platform::limits::limits`] reads them.

use crate::human::{self, thousands};
use std::fmt;

/// Memory mappings one more thread costs: its stack, the stack's guard page,
/// the alternate signal stack the runtime gives each thread, and that
/// stack's guard page (2,000 connections were measured to add 8,028 lines to
/// `/proc/PID/maps`).
pub const MAPS_PER_THREAD: u64 = 4;

/// Mappings kept free for everything else the process maps as it runs: the
/// buffers of long lines, libraries; malloc's arenas come on top, see
/// [`map_margin`].
const MAP_MARGIN: u64 = 1024;

/// Mappings glibc's malloc may add per core: up to 8 arenas a core, each
/// at least two mappings (its reservation, split into usable and reserved).
const ARENA_MAPS_PER_CORE: u64 = 16;

/// The mappings kept free on a machine with `cores` cores.
pub fn map_margin(cores: u64) -> u64 {
    MAP_MARGIN + ARENA_MAPS_PER_CORE * cores
}

/// The malloc arenas a process of many threads is given on `cores` cores
/// (the main one included): each reserves 64 MiB of address space, and
/// glibc's default of 8 a core would reserve 1 GiB on 2 cores.
pub fn malloc_arenas(cores: u64) -> u64 {
    cores.clamp(1, 4)
}

/// Threads (and process IDs) kept free: the process's own few threads, and
/// room for whatever else on the machine starts one meanwhile.
const THREAD_MARGIN: u64 = 64;

/// Address space kept free for everything else the process reserves as it
/// runs besides its arenas: the buffers of long lines from the main arena,
/// the registry's growth, a library loaded late.
const ADDRESS_SPACE_MARGIN: u64 = 32 * 1024 * 1024;

/// Memory an idle connection costs its control group, measured: 1,000
/// connections that each had one round trip added 43 KiB each to
/// `memory.usage_in_bytes` (the kernel's stack for the thread, 16 KiB; the
/// touched pages of its stack; its socket; its reply buffer). Rounded up.
pub const MEMORY_PER_CONNECTION: u64 = 48 * 1024;

/// Memory of the control group kept free: for the process's own needs, and
/// for the few clients that hold a long line (each up to 64 KiB more) or
/// get a long reply.
pub const MEMORY_MARGIN: u64 = 8 * 1024 * 1024;

/// File descriptors kept free besides one per connection: standard streams,
/// the listening socket, the signal pipe, and the one a busy client is
/// accepted on to be told so.
const FILE_MARGIN: u64 = 32;

/// The limits the process is under, as read from the system. `None` means
/// the limit does not exist (or is unlimited) here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// `vm.max_map_count`: memory mappings per process.
    pub max_map_count: Option<u64>,
    /// Mappings the process holds now.
    pub maps_in_use: u64,
    /// `kernel.threads-max`: threads on the whole machine.
    pub threads_max: Option<u64>,
    /// `kernel.pid_max`: each thread takes a process ID too.
    pub pid_max: Option<u64>,
    /// Threads alive on the machine now.
    pub threads_on_system: u64,
    /// `RLIMIT_NPROC` (`ulimit -u`): threads of this user, where it is enforced.
    pub user_threads_max: Option<u64>,
    /// Threads this user runs now.
    pub user_threads: u64,
    /// The control group's `pids.max`, where there is one.
    pub cgroup_pids_max: Option<u64>,
    /// The control group's `pids.current`.
    pub cgroup_pids: u64,
    /// `RLIMIT_NOFILE` (`ulimit -n`), the soft limit after raising it.
    pub open_files_max: Option<u64>,
    /// Descriptors the process holds now.
    pub open_files: u64,
    /// The cores the process may run on: malloc makes arenas by them.
    pub cores: u64,
    /// `RLIMIT_AS` (`ulimit -v`), in bytes.
    pub address_space_max: Option<u64>,
    /// Address space the process has reserved now (`VmSize`), in bytes.
    pub address_space_in_use: u64,
    /// Address space one more connection reserves, in bytes.
    pub address_space_per_connection: u64,
    /// malloc arenas that may exist besides the main one, each reserving
    /// [`crate::platform::memory::ARENA_RESERVATION`].
    pub extra_arenas: u64,
    /// The memory control group's limit, the smallest of its ancestors'
    /// included, in bytes.
    pub memory_max: Option<u64>,
    /// Memory the group uses now, less the file cache it may reclaim.
    pub memory_in_use: u64,
}

/// The limit that decides the capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `vm.max_map_count`.
    MaxMapCount,
    /// `kernel.threads-max`.
    ThreadsMax,
    /// `kernel.pid_max`.
    PidMax,
    /// `RLIMIT_NPROC`.
    UserThreads,
    /// The cgroup's `pids.max`.
    CgroupPids,
    /// `RLIMIT_NOFILE`.
    OpenFiles,
    /// `RLIMIT_AS`.
    AddressSpace,
    /// The memory control group's limit.
    Memory,
}

/// How many connections fit, and which limit says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Connections (threads and sockets) the process can hold at once.
    pub connections: u64,
    /// The tightest limit; `None` when no limit applies at all.
    pub limit: Option<Limit>,
    /// That limit's value.
    pub of: u64,
    /// How much of the limit is in use already.
    pub in_use: u64,
    /// How much of the limit one connection costs.
    pub per: u64,
}

/// The connections the process can hold under `limits`, each costing one
/// thread and one descriptor, with the margins above kept free.
pub fn connections(limits: &Limits) -> Capacity {
    let candidates = [
        (
            Limit::MaxMapCount,
            limits.max_map_count,
            limits.maps_in_use,
            map_margin(limits.cores),
            MAPS_PER_THREAD,
        ),
        (
            Limit::ThreadsMax,
            limits.threads_max,
            limits.threads_on_system,
            THREAD_MARGIN,
            1,
        ),
        (
            Limit::PidMax,
            limits.pid_max,
            limits.threads_on_system,
            THREAD_MARGIN,
            1,
        ),
        (
            Limit::UserThreads,
            limits.user_threads_max,
            limits.user_threads,
            THREAD_MARGIN,
            1,
        ),
        (
            Limit::CgroupPids,
            limits.cgroup_pids_max,
            limits.cgroup_pids,
            THREAD_MARGIN,
            1,
        ),
        (
            Limit::OpenFiles,
            limits.open_files_max,
            limits.open_files,
            FILE_MARGIN,
            1,
        ),
        (
            Limit::AddressSpace,
            limits.address_space_max,
            limits.address_space_in_use,
            ADDRESS_SPACE_MARGIN + limits.extra_arenas * crate::platform::memory::ARENA_RESERVATION,
            limits.address_space_per_connection.max(1),
        ),
        (
            Limit::Memory,
            limits.memory_max,
            limits.memory_in_use,
            MEMORY_MARGIN,
            MEMORY_PER_CONNECTION,
        ),
    ];
    let mut best = Capacity {
        connections: u64::MAX,
        limit: None,
        of: 0,
        in_use: 0,
        per: 0,
    };
    for (limit, max, in_use, margin, cost) in candidates {
        let Some(max) = max else { continue };
        let fits = max.saturating_sub(in_use.saturating_add(margin)) / cost;
        if fits < best.connections {
            best = Capacity {
                connections: fits,
                limit: Some(limit),
                of: max,
                in_use,
                per: cost,
            };
        }
    }
    best
}

impl Capacity {
    /// The capacity as a `usize`, for comparing with a count of connections.
    pub fn get(&self) -> usize {
        usize::try_from(self.connections).unwrap_or(usize::MAX)
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::MaxMapCount => "vm.max_map_count",
            Limit::ThreadsMax => "kernel.threads-max",
            Limit::PidMax => "kernel.pid_max",
            Limit::UserThreads => "the user's process limit (ulimit -u)",
            Limit::CgroupPids => "the control group's pids.max",
            Limit::OpenFiles => "the open-file limit (ulimit -n)",
            Limit::AddressSpace => "the address-space limit (ulimit -v)",
            Limit::Memory => "the control group's memory limit",
        })
    }
}

/// Says why: `vm.max_map_count allows about 15,300 (65,530 mappings, 3,200
/// in use, 4 per thread)`.
impl fmt::Display for Capacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(limit) = self.limit else {
            return f.write_str("no limit applies");
        };
        let connections = thousands(self.connections);
        let (of, in_use, per) = (self.of, self.in_use, self.per);
        match limit {
            Limit::AddressSpace | Limit::Memory => write!(
                f,
                "{limit} allows about {connections} ({} of {}, {} in use, {} per connection)",
                human::bytes(of),
                if limit == Limit::Memory {
                    "memory"
                } else {
                    "address space"
                },
                human::bytes(in_use),
                human::bytes(per),
            ),
            _ => {
                let (what, per) = match limit {
                    Limit::MaxMapCount => ("memory mappings", "4 per thread"),
                    Limit::OpenFiles => ("open files", "1 per connection"),
                    _ => ("threads", "1 per connection"),
                };
                write!(
                    f,
                    "{limit} allows about {connections} ({} {what}, {} in use, {per})",
                    thousands(of),
                    thousands(in_use),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A machine with the limits seen where the server used to abort.
    fn lab() -> Limits {
        Limits {
            max_map_count: Some(65_530),
            maps_in_use: 300,
            threads_max: Some(192_726),
            pid_max: Some(4_194_304),
            threads_on_system: 110,
            user_threads_max: None,
            user_threads: 0,
            cgroup_pids_max: None,
            cgroup_pids: 0,
            open_files_max: Some(20_000),
            open_files: 10,
            cores: 2,
            address_space_max: None,
            address_space_in_use: 80 << 20,
            address_space_per_connection: 280 << 10,
            extra_arenas: 1,
            memory_max: None,
            memory_in_use: 4 << 20,
        }
    }

    #[test]
    fn memory_mappings_bound_the_lab_machine() {
        let capacity = connections(&lab());
        assert_eq!(capacity.limit, Some(Limit::MaxMapCount));
        assert_eq!(capacity.connections, (65_530 - 300 - map_margin(2)) / 4);
        assert_eq!(
            capacity.to_string(),
            "vm.max_map_count allows about 16,043 (65,530 memory mappings, 300 in use, 4 per thread)"
        );
        // A machine with many cores keeps more mappings free for malloc.
        let many = connections(&Limits {
            cores: 128,
            ..lab()
        });
        assert_eq!(many.connections, (65_530 - 300 - 1024 - 16 * 128) / 4);
    }

    #[test]
    fn the_tightest_limit_wins() {
        let mut limits = lab();
        limits.open_files_max = Some(1024);
        let capacity = connections(&limits);
        assert_eq!(capacity.limit, Some(Limit::OpenFiles));
        assert_eq!(capacity.connections, 1024 - 10 - FILE_MARGIN);

        limits.cgroup_pids_max = Some(500);
        limits.cgroup_pids = 20;
        assert_eq!(
            connections(&limits),
            Capacity {
                connections: 500 - 20 - THREAD_MARGIN,
                limit: Some(Limit::CgroupPids),
                of: 500,
                in_use: 20,
                per: 1,
            }
        );

        limits.user_threads_max = Some(200);
        limits.user_threads = 100;
        assert_eq!(connections(&limits).limit, Some(Limit::UserThreads));
        assert_eq!(connections(&limits).connections, 36);

        limits.pid_max = Some(150);
        assert_eq!(connections(&limits).limit, Some(Limit::PidMax));
        assert_eq!(connections(&limits).connections, 0);
    }

    #[test]
    fn the_address_space_counts_each_thread_and_the_arenas() {
        // `ulimit -v 1500000`: 1,464.8 MiB.
        let limits = Limits {
            address_space_max: Some(1_500_000 << 10),
            ..lab()
        };
        let capacity = connections(&limits);
        assert_eq!(capacity.limit, Some(Limit::AddressSpace));
        let free = (1_500_000 << 10) - (80 << 20) - ADDRESS_SPACE_MARGIN - (64 << 20);
        assert_eq!(capacity.connections, free / (280 << 10));
        assert_eq!(
            capacity.to_string(),
            "the address-space limit (ulimit -v) allows about 4,713 (1.4 GiB of address space, 80.0 MiB in use, 280.0 KiB per connection)"
        );
        // Each arena that may come is kept free.
        let more = connections(&Limits {
            extra_arenas: 3,
            ..limits.clone()
        });
        assert_eq!(more.connections, (free - (128 << 20)) / (280 << 10));
    }

    #[test]
    fn a_memory_group_counts_an_idle_connection() {
        let limits = Limits {
            memory_max: Some(100 << 20),
            ..lab()
        };
        let capacity = connections(&limits);
        assert_eq!(capacity.limit, Some(Limit::Memory));
        assert_eq!(
            capacity.connections,
            ((100 << 20) - (4 << 20) - MEMORY_MARGIN) / MEMORY_PER_CONNECTION
        );
        assert_eq!(
            capacity.to_string(),
            "the control group's memory limit allows about 1,877 (100.0 MiB of memory, 4.0 MiB in use, 48.0 KiB per connection)"
        );
    }

    #[test]
    fn arenas_follow_the_cores_up_to_four() {
        assert_eq!(malloc_arenas(1), 1);
        assert_eq!(malloc_arenas(2), 2);
        assert_eq!(malloc_arenas(64), 4);
    }

    #[test]
    fn a_limit_already_exceeded_leaves_none_and_does_not_underflow() {
        let mut limits = lab();
        limits.threads_max = Some(100);
        limits.threads_on_system = 5_000;
        let capacity = connections(&limits);
        assert_eq!(capacity.connections, 0);
        assert_eq!(capacity.limit, Some(Limit::ThreadsMax));
    }

    #[test]
    fn no_limit_at_all_is_unbounded() {
        let capacity = connections(&Limits::default());
        assert_eq!(capacity.connections, u64::MAX);
        assert_eq!(capacity.limit, None);
        assert_eq!(capacity.get(), usize::MAX);
    }

    #[test]
    fn large_numbers_get_separators() {
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(15_900), "15,900");
    }
}
