//! The open-file limit. Every connection costs a file descriptor, on the
//! server's side and on a load-generating client's, and the usual soft limit
//! of 1024 would cap both far below what the system allows.
//!
//! Also reachable as `sockdemo::open_files`, the path the integration tests
//! use; the crate itself calls it here.

use std::io;

/// Raises the soft limit on open files to the hard limit, as Go's runtime
/// does. Returns the soft limit before and after.
#[allow(unsafe_code)]
pub fn raise_to_hard_limit() -> io::Result<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes to the struct we pass, which outlives the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let before = limit.rlim_cur;
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit only reads the struct we pass, which outlives the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok((before, limit.rlim_cur))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(unsafe_code)]
    fn the_soft_limit_reaches_the_hard_limit() {
        let (before, now) = raise_to_hard_limit().expect("raise the open file limit");
        assert!(now >= before);
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as above.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        assert_eq!(limit.rlim_cur, limit.rlim_max);
        assert_eq!(now, limit.rlim_cur);
    }
}
