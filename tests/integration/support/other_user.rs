//! Another user on the machine, for the tests of what the kernel protects:
//! `nobody` running a copy of the binary ([`Nobody`]), `nobody` watching a
//! directory and opening every name that appears in it ([`Watcher`]),
//! `fs.protected_symlinks` turned on for the length of a test
//! ([`ProtectedSymlinks`]), and a sticky world-writable directory of the
//! test's own ([`sticky_dir`]).

use std::ffi::CString;
use std::fs::{self, File};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::thread;

use super::{STEP, command, precondition, tool_runs};

/// `nobody`'s user and group ids (and `nogroup`'s), as Debian and its
/// descendants number them.
pub const NOBODY: u32 = 65534;
pub const NOGROUP: u32 = 65534;

/// Whether the tests run as root, which they need to act as another user.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    #[allow(unsafe_code)]
    let euid = unsafe { libc::geteuid() };
    euid == 0
}

/// Checks that the test runs as root with `setpriv` at hand (opt-out word:
/// `root`); false when skipped.
pub fn root() -> bool {
    precondition(
        "root",
        "root and the setpriv tool (util-linux), to act as another user and set fs.protected_symlinks",
        || is_root() && tool_runs("setpriv"),
    )
}

/// A sticky world-writable directory (mode 1777, owned by root) of the
/// test's own, as /tmp is.
pub fn sticky_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o1777)).expect("chmod 1777");
    dir
}

/// `nobody`, running a copy of the binary under test from a directory of
/// mode 0755 (the build's own directory may be closed to other users).
pub struct Nobody {
    dir: tempfile::TempDir,
}

impl Nobody {
    pub fn new() -> Nobody {
        let dir = tempfile::tempdir().expect("temporary directory");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
        fs::copy(env!("CARGO_BIN_EXE_sockdemo"), dir.path().join("sockdemo"))
            .expect("copying the binary");
        Nobody { dir }
    }

    /// `setpriv --reuid nobody --regid nogroup --clear-groups sockdemo`.
    pub fn sockdemo(&self) -> Command {
        let mut setpriv = command("setpriv");
        setpriv
            .args(["--reuid", "nobody", "--regid", "nogroup", "--clear-groups"])
            .arg(self.dir.path().join("sockdemo"));
        setpriv
    }
}

/// Serialises the tests that change `fs.protected_symlinks`, in this
/// process and across processes (two test runs at once).
static SYSCTL: Mutex<()> = Mutex::new(());

const PROTECTED_SYMLINKS: &str = "/proc/sys/fs/protected_symlinks";

/// `fs.protected_symlinks` set to 1 (as most distributions have it) while
/// this lives, then set back to what it was.
pub struct ProtectedSymlinks {
    before: String,
    _lock: File,
    _guard: MutexGuard<'static, ()>,
}

impl ProtectedSymlinks {
    pub fn on() -> ProtectedSymlinks {
        let guard = SYSCTL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let lock = File::create("/tmp/sockdemo-tests-protected-symlinks.lock").expect("lock file");
        // SAFETY: flock reads only its integer arguments; the descriptor
        // is valid for the call, borrowed from `lock`.
        #[allow(unsafe_code)]
        let locked = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(locked, 0, "flock: {}", std::io::Error::last_os_error());
        let before = fs::read_to_string(PROTECTED_SYMLINKS).expect("reading the sysctl");
        fs::write(PROTECTED_SYMLINKS, "1").expect("setting fs.protected_symlinks (needs root)");
        ProtectedSymlinks {
            before,
            _lock: lock,
            _guard: guard,
        }
    }
}

impl Drop for ProtectedSymlinks {
    fn drop(&mut self) {
        if let Err(err) = fs::write(PROTECTED_SYMLINKS, self.before.trim()) {
            eprintln!("restoring fs.protected_symlinks: {err}");
        }
    }
}

/// What a [`Watcher`] saw.
#[derive(Debug, Default)]
pub struct Watched {
    /// Every name that appeared, in order.
    pub appeared: Vec<String>,
    /// The names it could open, with what it read through them.
    pub opened: Vec<(String, Vec<u8>)>,
}

/// A thread acting as `nobody` (its own credentials only: Linux keeps them
/// per thread) that watches a directory with inotify and opens every name
/// as soon as it appears there, keeping the descriptor to read what is
/// written through it later: another user trying to catch a download.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    marks: mpsc::Receiver<String>,
    dir: PathBuf,
    thread: Option<thread::JoinHandle<Watched>>,
}

/// Names a test creates to know that the watcher has seen everything
/// before them.
const MARK: &str = "zz-mark-";

impl Watcher {
    /// Starts watching `dir`; returns once the watch is in place.
    pub fn start(dir: &Path) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready) = mpsc::channel();
        let (marks_tx, marks) = mpsc::channel();
        let thread = {
            let (stop, dir) = (stop.clone(), dir.to_path_buf());
            thread::spawn(move || watch(&dir, &stop, &ready_tx, &marks_tx))
        };
        ready.recv_timeout(STEP).expect("the watcher to start");
        Watcher {
            stop,
            marks,
            dir: dir.to_path_buf(),
            thread: Some(thread),
        }
    }

    /// Returns once the watcher has handled every name that appeared
    /// before this call (it sees a mark the test creates now).
    pub fn catch_up(&self, n: usize) {
        let mark = format!("{MARK}{n}");
        fs::write(self.dir.join(&mark), b"").expect("writing a mark");
        loop {
            let seen = self
                .marks
                .recv_timeout(STEP)
                .expect("the watcher to catch up");
            if seen == mark {
                fs::remove_file(self.dir.join(&mark)).expect("removing the mark");
                return;
            }
        }
    }

    /// Stops watching and says what was seen and opened (marks left out).
    pub fn finish(mut self) -> Watched {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread.take().expect("running");
        thread.join().expect("the watcher panicked")
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The watcher's thread: becomes `nobody`, watches, opens, reads.
#[allow(unsafe_code)]
fn watch(
    dir: &Path,
    stop: &AtomicBool,
    ready: &mpsc::Sender<()>,
    marks: &mpsc::Sender<String>,
) -> Watched {
    // SAFETY: raw system calls with integer arguments (and a null list of
    // groups of length 0); unlike glibc's wrappers, which change every
    // thread of the process, they change this thread's credentials only.
    unsafe {
        assert_eq!(
            libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()),
            0
        );
        assert_eq!(
            libc::syscall(libc::SYS_setresgid, NOGROUP, NOGROUP, NOGROUP),
            0
        );
        assert_eq!(
            libc::syscall(libc::SYS_setresuid, NOBODY, NOBODY, NOBODY),
            0
        );
    }
    // SAFETY: inotify_init1 takes flags only; the result is a new
    // descriptor owned by `inotify` alone.
    let inotify = unsafe {
        let fd = libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK);
        assert!(
            fd >= 0,
            "inotify_init1: {}",
            std::io::Error::last_os_error()
        );
        OwnedFd::from_raw_fd(fd)
    };
    let path = CString::new(dir.as_os_str().as_bytes()).expect("path");
    // SAFETY: the path is a NUL-terminated string alive for the call.
    let watching = unsafe {
        libc::inotify_add_watch(
            inotify.as_raw_fd(),
            path.as_ptr(),
            libc::IN_CREATE | libc::IN_MOVED_TO,
        )
    };
    assert!(
        watching >= 0,
        "inotify_add_watch: {}",
        std::io::Error::last_os_error()
    );
    ready.send(()).expect("the test to wait");
    let mut watched = Watched::default();
    let mut held: Vec<(String, File)> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let mut poll = libc::pollfd {
            fd: inotify.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, alive for the call.
        let ready = unsafe { libc::poll(&mut poll, 1, 20) };
        if ready <= 0 {
            continue;
        }
        // SAFETY: the buffer is alive and as long as the length given.
        let n = unsafe { libc::read(inotify.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        let Ok(n) = usize::try_from(n) else { continue };
        let mut at = 0;
        while at + std::mem::size_of::<libc::inotify_event>() <= n {
            // SAFETY: the kernel wrote a whole event at `at`; read unaligned.
            let event: libc::inotify_event =
                unsafe { std::ptr::read_unaligned(buf[at..].as_ptr().cast()) };
            let start = at + std::mem::size_of::<libc::inotify_event>();
            let name_bytes = &buf[start..start + event.len as usize];
            let end = name_bytes
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(name_bytes.len());
            let name = String::from_utf8_lossy(&name_bytes[..end]).into_owned();
            at = start + event.len as usize;
            if name.starts_with(MARK) {
                let _ = marks.send(name);
                continue;
            }
            // Opened at once, as an attacker would.
            if let Ok(file) = File::open(dir.join(&name)) {
                held.push((name.clone(), file));
            }
            watched.appeared.push(name);
        }
    }
    for (name, mut file) in held {
        let mut read = Vec::new();
        let _ = file.read_to_end(&mut read);
        watched.opened.push((name, read));
    }
    watched
}
