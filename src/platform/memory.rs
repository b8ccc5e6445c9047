//! Memory as the capacity rule counts it: the address space a thread
//! reserves, malloc's arenas, and the memory control group's limit.
//!
//! Under `ulimit -v` (`RLIMIT_AS`) what runs out is address space reserved,
//! not memory used: each connection thread reserves its stack, the stack's
//! guard page and the alternate signal stack the Rust runtime maps for it
//! (with a guard page of its own), and glibc's malloc reserves 64 MiB of
//! address space for each arena it makes, up to 8 per core, as threads
//! appear. The arenas are bounded at start ([`limit_malloc_arenas`]), so
//! that the rule can count them.
//!
//! Under a memory control group what counts is memory touched, charged to
//! the group, kernel memory included; past the limit the kernel kills the
//! process, so the rule reads the limit ([`memory_cgroup`]) and keeps the
//! connections below it.

use std::fs;

/// Address space glibc reserves for one arena besides the main one
/// (`HEAP_MAX_SIZE`, twice the largest mmap threshold on 64-bit systems).
pub const ARENA_RESERVATION: u64 = 64 * 1024 * 1024;

/// Heap that a connection takes besides its thread, measured: its socket's
/// handle, its place in the registry, its reply buffer, its thread's
/// bookkeeping (1,000 idle connections of a debug build add 277 KiB each to
/// `VmSize`, 272 KiB of which are the thread's mappings).
const HEAP_PER_CONNECTION: u64 = 8 * 1024;

/// Bounds the number of malloc arenas to `arenas` (the main one included)
/// and returns how many may exist. glibc makes up to 8 arenas per core as
/// threads contend for memory, each reserving [`ARENA_RESERVATION`] of
/// address space: 1 GiB on 2 cores, which `ulimit -v` counts although
/// almost none of it is used. Connection threads allocate seldom (a reply
/// buffer, a long line), and each thread keeps a cache of small blocks of
/// its own, so a few arenas are enough. Elsewhere than glibc nothing is
/// done, and the default is returned as the count. A limit the user set
/// (`MALLOC_ARENA_MAX`, or `glibc.malloc.arena_max` in `GLIBC_TUNABLES`)
/// is theirs: it is kept, and returned.
#[allow(unsafe_code)]
pub fn limit_malloc_arenas(arenas: u64) -> u64 {
    #[cfg(target_env = "gnu")]
    {
        let set = std::env::var("MALLOC_ARENA_MAX").ok();
        let tunables = std::env::var("GLIBC_TUNABLES").ok();
        if let Some(theirs) = arenas_set_by_user(set.as_deref(), tunables.as_deref()) {
            return theirs;
        }
        let value = libc::c_int::try_from(arenas).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only sets a tuning parameter of the allocator; it
        // is called before the connection threads exist.
        if unsafe { libc::mallopt(libc::M_ARENA_MAX, value) } == 1 {
            return arenas;
        }
    }
    8 * cores()
}

/// The arena limit given in the environment, as glibc reads it:
/// `MALLOC_ARENA_MAX=N`, or `glibc.malloc.arena_max=N` among the
/// colon-separated `GLIBC_TUNABLES`. Zero means no limit to glibc.
fn arenas_set_by_user(malloc_arena_max: Option<&str>, tunables: Option<&str>) -> Option<u64> {
    // The last of several settings is the one glibc keeps.
    let from_tunables = tunables.and_then(|tunables| {
        tunables
            .rsplit(':')
            .find_map(|tunable| tunable.strip_prefix("glibc.malloc.arena_max="))
    });
    [from_tunables, malloc_arena_max]
        .into_iter()
        .flatten()
        .find_map(|value| glibc_number(value.trim()).filter(|&n| n > 0))
}

/// A number as glibc reads one from the environment (strtoul with base 0):
/// decimal, `0x` hexadecimal, or `0` octal.
fn glibc_number(text: &str) -> Option<u64> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if text.len() > 1
        && let Some(octal) = text.strip_prefix('0')
    {
        u64::from_str_radix(octal, 8).ok()
    } else {
        text.parse().ok()
    }
}

/// The cores the process may run on.
pub fn cores() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

/// The address space one connection reserves when its thread has a stack of
/// `stack` bytes: the stack and its guard page, the alternate signal stack
/// Rust's runtime maps for each thread (`max(SIGSTKSZ,
/// getauxval(AT_MINSIGSTKSZ))`) and its guard page, and the connection's
/// heap.
#[allow(unsafe_code)]
pub fn reserved_per_thread(stack: usize) -> u64 {
    // SAFETY: sysconf and getauxval only read values the kernel gave the process.
    let (page, min_signal_stack) = unsafe {
        (
            libc::sysconf(libc::_SC_PAGESIZE),
            libc::getauxval(libc::AT_MINSIGSTKSZ),
        )
    };
    let page = u64::try_from(page).unwrap_or(4096).max(4096);
    let round = |bytes: u64| bytes.div_ceil(page) * page;
    let signal_stack = (libc::SIGSTKSZ as u64).max(min_signal_stack);
    round(stack as u64) + page + round(signal_stack) + page + HEAP_PER_CONNECTION
}

/// The address space the process has reserved now (`VmSize`), in bytes.
pub fn address_space_in_use() -> u64 {
    status_field("VmSize:").unwrap_or(0)
}

/// The memory control group's limit, the smallest of the group's and its
/// ancestors' (`None`: no limit), and the memory the group uses now, in
/// bytes, less the file cache, which the kernel reclaims before it kills
/// (the binary's own pages may be charged to the group; those it runs are
/// few, and [`crate::capacity::MEMORY_MARGIN`] covers them). cgroup v2: `memory.max` of each group up to the root, and
/// `memory.current`; v1: `hierarchical_memory_limit` in `memory.stat`,
/// which already takes the ancestors into account, and
/// `memory.usage_in_bytes`.
pub fn memory_cgroup() -> Option<(Option<u64>, u64)> {
    let membership = fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in membership.lines() {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        if controllers.split(',').any(|c| c == "memory") {
            return Some(memory_cgroup_v1(&format!("{CGROUP_ROOT}/memory{path}")));
        }
    }
    let path = membership
        .lines()
        .find_map(|line| line.strip_prefix("0::"))?;
    memory_cgroup_v2(CGROUP_ROOT, path)
}

/// Where the control groups are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

fn memory_cgroup_v1(dir: &str) -> (Option<u64>, u64) {
    let stat = fs::read_to_string(format!("{dir}/memory.stat")).unwrap_or_default();
    let limit = stat
        .lines()
        .find_map(|line| line.strip_prefix("hierarchical_memory_limit "))
        .and_then(|n| n.trim().parse().ok())
        .or_else(|| read_number(&format!("{dir}/memory.limit_in_bytes")))
        .filter(|&limit| limit < UNLIMITED_V1);
    let usage = read_number(&format!("{dir}/memory.usage_in_bytes")).unwrap_or(0);
    (
        limit,
        usage.saturating_sub(stat_field(&stat, "total_cache")),
    )
}

/// A field of a `memory.stat` file.
fn stat_field(stat: &str, name: &str) -> u64 {
    stat.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// cgroup v1 says "no limit" with the largest page-aligned `i64`.
const UNLIMITED_V1: u64 = 1 << 62;

fn memory_cgroup_v2(root: &str, path: &str) -> Option<(Option<u64>, u64)> {
    let own = format!("{root}{}", path.trim_end_matches('/'));
    let stat = fs::read_to_string(format!("{own}/memory.stat")).unwrap_or_default();
    let usage =
        read_number(&format!("{own}/memory.current"))?.saturating_sub(stat_field(&stat, "file"));
    let mut limit: Option<u64> = None;
    let mut dir = own.as_str();
    while dir.len() > root.len() {
        // "max" (no limit) does not parse, and does not lower the limit.
        if let Some(max) = read_number(&format!("{dir}/memory.max")) {
            limit = Some(limit.map_or(max, |limit| limit.min(max)));
        }
        dir = &dir[..dir.rfind('/').unwrap_or(0)];
    }
    Some((limit, usage))
}

/// A field of `/proc/self/status` given in kB, in bytes.
fn status_field(name: &str) -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix(name))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

fn read_number(path: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_reserves_what_the_rule_counts() {
        use std::sync::{Arc, Barrier};
        // Measured on threads that allocate nothing (a barrier takes no
        // memory), so that only their mappings count. Each try asks for a
        // larger stack than any before, as glibc would otherwise reuse the
        // cached stack of a thread that ended. Other tests' threads come and
        // go meanwhile, so one try in a few must match exactly.
        let mut measured = Vec::new();
        for page in 0..8 {
            let stack = 300 * 1024 + page * 4096;
            let mappings = reserved_per_thread(stack) - HEAP_PER_CONNECTION;
            let (started, done) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
            let before = address_space_in_use();
            let thread = {
                let (started, done) = (Arc::clone(&started), Arc::clone(&done));
                std::thread::Builder::new()
                    .stack_size(stack)
                    .spawn(move || {
                        started.wait();
                        done.wait();
                    })
                    .expect("a thread")
            };
            started.wait();
            let during = address_space_in_use();
            done.wait();
            thread.join().expect("joined");
            let reserved = during.saturating_sub(before);
            if reserved == mappings {
                return;
            }
            measured.push((reserved, mappings));
        }
        panic!("no thread reserved what the rule counts: (reserved, counted) {measured:?}");
    }

    #[test]
    fn cgroup_v2_takes_the_smallest_limit_of_the_ancestors_and_v1_the_hierarchical_one() {
        let root = std::env::temp_dir().join(format!("sockdemo-cgroup-{}", std::process::id()));
        let own = root.join("outer/inner");
        fs::create_dir_all(&own).expect("dirs");
        fs::write(root.join("outer/memory.max"), "104857600\n").expect("outer");
        fs::write(own.join("memory.max"), "max\n").expect("inner");
        fs::write(own.join("memory.current"), "50000000\n").expect("current");
        fs::write(own.join("memory.stat"), "anon 1\nfile 20000000\n").expect("stat");
        let root_text = root.to_str().expect("UTF-8");
        assert_eq!(
            memory_cgroup_v2(root_text, "/outer/inner/"),
            Some((Some(104_857_600), 30_000_000))
        );
        fs::write(own.join("memory.max"), "1000\n").expect("inner");
        assert_eq!(
            memory_cgroup_v2(root_text, "/outer/inner"),
            Some((Some(1000), 30_000_000))
        );

        fs::write(
            own.join("memory.stat"),
            "cache 5\nhierarchical_memory_limit 31457280\ntotal_cache 1000000\n",
        )
        .expect("v1 stat");
        fs::write(own.join("memory.usage_in_bytes"), "3000000\n").expect("v1 usage");
        let own_text = own.to_str().expect("UTF-8");
        assert_eq!(memory_cgroup_v1(own_text), (Some(31_457_280), 2_000_000));
        fs::write(
            own.join("memory.stat"),
            "hierarchical_memory_limit 9223372036854771712\n",
        )
        .expect("v1 stat");
        assert_eq!(memory_cgroup_v1(own_text), (None, 3_000_000));
        fs::remove_dir_all(&root).expect("cleaned up");
    }

    #[test]
    fn an_arena_limit_the_user_set_is_read_as_glibc_reads_it() {
        assert_eq!(arenas_set_by_user(None, None), None);
        assert_eq!(arenas_set_by_user(Some("1"), None), Some(1));
        assert_eq!(arenas_set_by_user(Some("0"), None), None, "no limit");
        assert_eq!(arenas_set_by_user(Some("x"), None), None);
        let tunables = "glibc.malloc.tcache_count=0:glibc.malloc.arena_max=2";
        assert_eq!(arenas_set_by_user(Some("1"), Some(tunables)), Some(2));
        assert_eq!(arenas_set_by_user(None, Some("glibc.malloc.check=0")), None);
        let twice = "glibc.malloc.arena_max=2:glibc.malloc.arena_max=3";
        assert_eq!(arenas_set_by_user(None, Some(twice)), Some(3), "the last");
        assert_eq!(arenas_set_by_user(Some("0x10"), None), Some(16));
        assert_eq!(arenas_set_by_user(Some("010"), None), Some(8));
    }

    #[test]
    fn this_process_has_an_address_space() {
        assert!(address_space_in_use() > 1024 * 1024);
    }

    #[test]
    fn the_memory_group_is_read_if_there_is_one() {
        if let Some((limit, usage)) = memory_cgroup() {
            assert!(usage > 0 || limit.is_none(), "{limit:?} {usage}");
        }
    }
}
