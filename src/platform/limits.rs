//! The limits behind [`crate::capacity`], read from `/proc`, `/sys` and
//! `getrlimit`. A limit that cannot be read is taken as absent: the rule
//! then rests on the others, and a thread that still fails to start is
//! handled where it is started.

use std::fs;

use super::memory;
use crate::capacity::Limits;

/// Reads every limit the capacity rule needs, as they stand now, for
/// connection threads with stacks of `thread_stack` bytes and up to
/// `arenas` malloc arenas (see [`memory::limit_malloc_arenas`]). Call it
/// after raising the open-file limit.
pub fn limits(thread_stack: usize, arenas: u64) -> Limits {
    let (user_threads_max, user_threads) = user_threads();
    let (cgroup_pids_max, cgroup_pids) = cgroup_pids().unwrap_or((None, 0));
    let (memory_max, memory_in_use) = memory::memory_cgroup().unwrap_or((None, 0));
    Limits {
        max_map_count: read_number("/proc/sys/vm/max_map_count"),
        maps_in_use: count_lines("/proc/self/maps"),
        threads_max: read_number("/proc/sys/kernel/threads-max"),
        pid_max: read_number("/proc/sys/kernel/pid_max"),
        threads_on_system: threads_on_system(),
        user_threads_max,
        user_threads,
        cgroup_pids_max,
        cgroup_pids,
        open_files_max: soft_limit(libc::RLIMIT_NOFILE),
        open_files: fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count() as u64),
        cores: memory::cores(),
        address_space_max: soft_limit(libc::RLIMIT_AS),
        address_space_in_use: memory::address_space_in_use(),
        address_space_per_connection: memory::reserved_per_thread(thread_stack),
        extra_arenas: arenas.saturating_sub(1),
        memory_max,
        memory_in_use,
    }
}

/// A soft resource limit, `None` when unlimited or unreadable.
#[allow(unsafe_code)]
fn soft_limit(resource: libc::__rlimit_resource_t) -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes to the struct we pass, which outlives the call.
    if unsafe { libc::getrlimit(resource, &mut limit) } != 0 {
        return None;
    }
    (limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// Threads alive on the machine: the fourth field of `/proc/loadavg`
/// (`running/total`).
fn threads_on_system() -> u64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| {
            let field = text.split_whitespace().nth(3)?;
            field.split('/').nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// `RLIMIT_NPROC` and the threads this user runs now. The limit is not
/// enforced for root, and counting costs a walk over `/proc`, so the count
/// is made only when the limit applies.
#[allow(unsafe_code)]
fn user_threads() -> (Option<u64>, u64) {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let Some(limit) = soft_limit(libc::RLIMIT_NPROC).filter(|_| uid != 0) else {
        return (None, 0);
    };
    let Ok(processes) = fs::read_dir("/proc") else {
        return (Some(limit), 0);
    };
    let uid = uid.to_string();
    let mut threads = 0;
    for process in processes.flatten() {
        let Ok(status) = fs::read_to_string(process.path().join("status")) else {
            continue;
        };
        let mine = status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().next())
            == Some(uid.as_str());
        if mine {
            threads += status
                .lines()
                .find_map(|line| line.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or(1);
        }
    }
    (Some(limit), threads)
}

/// The control group's `pids.max` and `pids.current`, cgroup v2 or v1.
fn cgroup_pids() -> Option<(Option<u64>, u64)> {
    let membership = fs::read_to_string("/proc/self/cgroup").ok()?;
    let dir = membership.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        match controllers {
            "" => Some(format!("/sys/fs/cgroup{path}")),
            c if c.split(',').any(|c| c == "pids") => Some(format!("/sys/fs/cgroup/pids{path}")),
            _ => None,
        }
    })?;
    let max = fs::read_to_string(format!("{dir}/pids.max")).ok()?;
    let max = max.trim().parse().ok(); // "max": no limit
    let current = read_number(&format!("{dir}/pids.current")).unwrap_or(0);
    Some((max, current))
}

fn read_number(path: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn count_lines(path: &str) -> u64 {
    fs::read(path).map_or(0, |bytes| {
        bytes.iter().filter(|&&b| b == b'\n').count() as u64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_maps_files_and_threads() {
        let limits = limits(256 * 1024, 2);
        assert!(limits.maps_in_use > 10, "{limits:?}");
        assert!(limits.open_files >= 3, "{limits:?}");
        assert!(limits.threads_on_system >= 1, "{limits:?}");
        assert!(limits.max_map_count.is_some(), "{limits:?}");
        assert!(limits.address_space_in_use > 0, "{limits:?}");
        assert!(
            limits.address_space_per_connection > 256 * 1024,
            "{limits:?}"
        );
    }
}
