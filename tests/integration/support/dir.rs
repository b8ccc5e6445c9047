//! A working directory for `sockdemo fetch`, and the checks a download
//! must pass: what was saved, and that a failure leaves an existing file
//! untouched with no temporary file beside it.

use std::fs;
use std::path::Path;
use std::process::Output;

use super::{STEP, run_bounded, sockdemo};

/// What `out.bin` holds before each download into a [`Dir::new`].
pub const PRECIOUS: &[u8] = b"precious data that must survive a failed download\n";

/// The name of the `.part` that `fetch -C` keeps for the target `name`:
/// `.sockdemo-` and 16 hex digits of the SHA-256 of the name.
pub fn part_name(name: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(name.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!(".sockdemo-{hex}.part")
}

/// The name of the metadata beside [`part_name`].
pub fn meta_name(name: &str) -> String {
    format!("{}.meta", part_name(name))
}

/// A temporary working directory, removed when dropped.
pub struct Dir(tempfile::TempDir);

impl Dir {
    /// A directory with `out.bin` already in it, holding [`PRECIOUS`].
    pub fn new() -> Dir {
        let dir = Dir::empty();
        dir.write("out.bin", PRECIOUS);
        dir
    }

    pub fn empty() -> Dir {
        Dir(tempfile::tempdir().expect("temporary directory"))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) {
        fs::write(self.path().join(name), bytes).unwrap_or_else(|err| panic!("{name}: {err}"));
    }

    /// Runs `sockdemo fetch ARGS` in this directory.
    pub fn fetch(&self, args: &[&str]) -> Output {
        self.fetch_with_env(args, &[])
    }

    /// Runs `sockdemo fetch ARGS` in this directory with these environment
    /// variables set (the proxy and CA ones are cleared otherwise).
    pub fn fetch_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        run_bounded(
            sockdemo()
                .current_dir(self.path())
                .arg("fetch")
                .args(args)
                .envs(env.iter().copied()),
            STEP,
        )
    }

    /// The names in the directory, sorted.
    pub fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.path())
            .expect("read_dir")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        fs::read(self.path().join(name)).unwrap_or_else(|err| panic!("{name}: {err}"))
    }

    pub fn exists(&self, name: &str) -> bool {
        self.path().join(name).exists()
    }

    /// Whether the process `pid` has a file in this directory open.
    pub fn open_by(&self, pid: u32) -> bool {
        files_open_in(pid, self.path()) > 0
    }

    /// `out.bin` holds what it held before, and nothing else is there.
    pub fn assert_untouched(&self) {
        assert_eq!(self.read("out.bin"), PRECIOUS, "out.bin was modified");
        assert_eq!(self.entries(), ["out.bin"], "a file was left behind");
    }
}

/// How many files in `dir` (not below it) the process `pid` has open, an
/// unnamed temporary file included: `/proc/PID/fd` shows it as
/// `DIR/#INODE (deleted)`.
pub fn files_open_in(pid: u32, dir: &Path) -> usize {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    let dir = dir.canonicalize().expect("canonicalize");
    fds.filter_map(Result::ok)
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .filter(|target| target.parent() == Some(dir.as_path()))
        .count()
}
