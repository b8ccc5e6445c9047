//! `-C/--continue`: a download's partial data, kept across runs.
//!
//! The data is in `.sockdemo-HASH.part` beside the target `NAME`; what the
//! next run needs to continue it (the target's name, the URL given, the URL
//! it led to, the validator and the length of the file) is in
//! `.sockdemo-HASH.part.meta`. HASH is 16 hex digits of the SHA-256 of
//! NAME: the names have a fixed length, so that any legal target name
//! leaves room for them, and the metadata keeps the full name, so that a
//! part of another target is never taken for this one's. Only a run with `-C`
//! writes these names (an ordinary download uses a temporary file with a
//! random name, removed on failure), and only a `.part` whose metadata names
//! the same URL is continued, so a stale file of another run or program is
//! never taken for ours: it is started over.
//!
//! Why a sidecar file and not an extended attribute: extended attributes are
//! missing on some file systems (FAT and exFAT on USB sticks, some network
//! mounts) and silently lost by tools that copy or move the file; a small
//! text file works everywhere and a user can read it with `cat`.
//!
//! The `.part` is locked (`flock`) while a run uses it, so two runs cannot
//! write into it at once: the second one fails at the start.
//!
//! The `.part` is created with mode 0600 and a `.part` this user does not
//! own is never written into (its owner could read what is downloaded), so
//! it is readable by no one else until it is renamed over the target with
//! the target's mode. The metadata is read only when it is small
//! ([`MAX_META_BYTES`]); a larger one is not ours.
//!
//! Crash safety comes from the order of the steps: the metadata of a version
//! is written (atomically: a temporary file renamed) only once the file holds
//! nothing of another version, and before any byte of it; after the last
//! byte, the `.part` is renamed over the target, then the metadata removed.
//! Whenever the process dies, the `.part` holds a prefix of the version its
//! metadata names, or the metadata is missing and nothing is continued.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use log::warn;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, percent_encode};
use sha2::{Digest, Sha256};

use crate::http::{Resume, Validator};
use crate::platform;

/// The first line of a metadata file: what it is, and its format's version.
const MAGIC: &str = "sockdemo partial download 1";

/// The most a metadata file holds: two URLs of a few hundred bytes, a
/// validator, a length and a name fit with room to spare. A larger file is
/// not ours, and is not read.
pub const MAX_META_BYTES: u64 = 8 * 1024;

/// Mode of a `.part`: readable by no one else while it fills.
const PART_MODE: u32 = 0o600;

/// Hex digits of the target name's hash in the `.part` name: 64 bits.
const NAME_HASH_DIGITS: usize = 16;

/// The first line after the metadata proper: the target's file name,
/// percent-encoded where it is not printable ASCII (and `%` itself).
const TARGET_KEY: &str = "target ";

/// What is percent-encoded in the target's name in the metadata.
const NAME_ESCAPED: &AsciiSet = &CONTROLS.add(b'%');

/// Read size when hashing a partial file before continuing it.
const READ_BLOCK: usize = 256 * 1024;

/// What the next run needs to continue a download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// The URL as given on the command line (redirects are followed again).
    pub url: String,
    /// The URL the data came from, after redirects.
    pub final_url: String,
    /// The validator of the response the data came from.
    pub validator: Validator,
    /// The length of the whole file, when that response announced one.
    pub total: Option<u64>,
}

impl Meta {
    fn to_text(&self) -> String {
        let (kind, value) = match &self.validator {
            Validator::ETag(tag) => ("etag", tag),
            Validator::LastModified(date) => ("last-modified", date),
        };
        let mut text = format!(
            "{MAGIC}\nurl {}\nfinal-url {}\n{kind} {value}\n",
            self.url, self.final_url
        );
        if let Some(total) = self.total {
            text.push_str(&format!("length {total}\n"));
        }
        text
    }

    /// Parses what [`Meta::to_text`] wrote; `None` for anything else.
    fn parse(text: &str) -> Option<Meta> {
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let (mut url, mut final_url, mut validator, mut total) = (None, None, None, None);
        for line in lines {
            let (key, value) = line.split_once(' ')?;
            match key {
                "url" => url = Some(value.to_owned()),
                "final-url" => final_url = Some(value.to_owned()),
                "etag" => validator = Some(Validator::ETag(value.to_owned())),
                "last-modified" => validator = Some(Validator::LastModified(value.to_owned())),
                "length" => total = Some(value.parse().ok()?),
                _ => return None,
            }
        }
        Some(Meta {
            url: url?,
            final_url: final_url?,
            validator: validator?,
            total,
        })
    }
}

/// The `.part` file of a download, locked, with the metadata that makes it ours.
#[derive(Debug)]
pub struct Partial {
    file: File,
    path: PathBuf,
    meta_path: PathBuf,
    /// The target, whose name the metadata records.
    target: PathBuf,
    /// The metadata, when the file is ours to continue.
    meta: Option<Meta>,
    /// Bytes in the file that belong to the version `meta` names.
    len: u64,
}

/// `.sockdemo-HASH.part` beside `target`, HASH from the target's name.
pub fn part_path(target: &Path) -> PathBuf {
    let name = target.file_name().unwrap_or(target.as_os_str());
    let digest = Sha256::digest(name.as_bytes());
    let hex: String = digest[..NAME_HASH_DIGITS / 2]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    target.with_file_name(format!(".sockdemo-{hex}.part"))
}

/// The metadata as written: [`Meta`]'s text, then the target's name.
fn meta_text(meta: &Meta, target: &Path) -> String {
    let name = target.file_name().unwrap_or(target.as_os_str()).as_bytes();
    format!(
        "{}{TARGET_KEY}{}\n",
        meta.to_text(),
        percent_encode(name, NAME_ESCAPED)
    )
}

/// Reads the metadata at `path` when it describes a part of `target`.
/// `None` when there is none, or it is larger than [`MAX_META_BYTES`] (with
/// a warning: it is not ours, and is replaced), or it is for another target.
fn read_meta(path: &Path, target: &Path) -> Option<Meta> {
    // Not through a link, and without waiting on a FIFO planted there.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let size = file.metadata().ok()?;
    let mut text = String::new();
    if !size.is_file()
        || size.len() > MAX_META_BYTES
        || file
            .take(MAX_META_BYTES + 1)
            .read_to_string(&mut text)
            .ok()? as u64
            > MAX_META_BYTES
    {
        warn!(
            "ignoring {}: not a metadata file of at most {MAX_META_BYTES} bytes",
            file_name(path)
        );
        return None;
    }
    let (meta, name) = text.trim_end_matches('\n').rsplit_once('\n')?;
    let name = name.strip_prefix(TARGET_KEY)?;
    let wanted = target.file_name().unwrap_or(target.as_os_str()).as_bytes();
    if percent_decode_str(name).collect::<Vec<u8>>() != wanted {
        return None;
    }
    Meta::parse(meta)
}

fn meta_path(part: &Path) -> PathBuf {
    let mut name = part.as_os_str().to_owned();
    name.push(".meta");
    PathBuf::from(name)
}

impl Partial {
    /// Opens (or creates) the `.part` of `target` and locks it. What it holds
    /// is continued only if its metadata names the URL `url`; otherwise it
    /// holds nothing of ours, and is emptied.
    ///
    /// Fails with [`io::ErrorKind::WouldBlock`] when another run holds the lock.
    pub fn open(target: &Path, url: &str) -> io::Result<Partial> {
        let path = part_path(target);
        // Never through a symbolic link: one planted at the `.part` would
        // get its target emptied, and then renamed over the user's file.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(PART_MODE)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)?;
        let found = file.metadata()?;
        if !found.is_file() {
            return Err(io::Error::other("it is not a regular file"));
        }
        // Another user's file (planted in a shared directory) would let
        // that user read the download.
        if found.uid() != platform::fs::effective_uid() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{} belongs to another user", file_name(&path)),
            ));
        }
        if found.mode() & 0o077 != 0 {
            file.set_permissions(Permissions::from_mode(PART_MODE))?;
        }
        if !crate::platform::lock::try_lock_exclusive(&file)? {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "another run is downloading into it",
            ));
        }
        // Another run may have renamed this very file into place between our
        // open and our lock: then the path names another file, or none, and
        // what we hold is the user's finished download, not to be touched.
        let ours = file.metadata()?;
        let now = fs::symlink_metadata(&path).ok();
        if now.is_none_or(|now| (now.dev(), now.ino()) != (ours.dev(), ours.ino())) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "another run finished with it meanwhile",
            ));
        }
        let meta_path = meta_path(&path);
        let meta = read_meta(&meta_path, target).filter(|meta| meta.url == url);
        let mut partial = Partial {
            len: file.metadata()?.len(),
            file,
            path,
            meta_path,
            target: target.to_path_buf(),
            meta,
        };
        let fits = match &partial.meta {
            Some(meta) => meta.total.is_none_or(|total| partial.len <= total),
            None => false,
        };
        if !fits {
            partial.start_over(None)?;
        }
        partial.file.seek(SeekFrom::End(0))?;
        Ok(partial)
    }

    /// The path of the `.part` file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bytes kept from an earlier run, when there are some to continue.
    pub fn kept(&self) -> u64 {
        self.len
    }

    /// How to continue what an earlier run left, if anything.
    pub fn resume(&self) -> Option<Resume> {
        let meta = self.meta.as_ref()?;
        (self.len > 0).then(|| Resume {
            offset: self.len,
            validator: meta.validator.clone(),
            total: meta.total,
        })
    }

    /// The metadata of what the file holds.
    pub fn meta(&self) -> Option<&Meta> {
        self.meta.as_ref()
    }

    /// Empties the file, then records that it now holds (a prefix of) the
    /// version `meta` names, or that it holds nothing resumable (`None`).
    pub fn start_over(&mut self, meta: Option<Meta>) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.len = 0;
        self.record(meta)
    }

    /// Records the metadata of the version the file holds a prefix of,
    /// atomically (a new file renamed over the old one).
    pub fn record(&mut self, meta: Option<Meta>) -> io::Result<()> {
        match &meta {
            Some(meta) => {
                let mut next = tempfile::Builder::new()
                    .prefix(".meta")
                    .tempfile_in(self.path.parent().unwrap_or(Path::new(".")))?;
                next.write_all(meta_text(meta, &self.target).as_bytes())?;
                next.as_file().sync_all()?;
                next.persist(&self.meta_path).map_err(|err| err.error)?;
            }
            None => remove_if_present(&self.meta_path)?,
        }
        self.meta = meta;
        Ok(())
    }

    /// The file, positioned at its end, to append to.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Hands what the file holds to `sink`, from its first byte: to hash
    /// what an earlier run saved before continuing it. Leaves the file
    /// positioned at its end.
    pub fn read_kept(&mut self, mut sink: impl FnMut(&[u8])) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(0))?;
        let mut buf = vec![0; READ_BLOCK];
        let mut left = self.len;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = self.file.read(&mut buf[..want])?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            sink(&buf[..n]);
            left -= n as u64;
        }
        self.file.seek(SeekFrom::End(0))?;
        Ok(())
    }

    /// Removes the file and its metadata: the download is abandoned.
    pub fn remove(self) -> io::Result<()> {
        remove_if_present(&self.path)?;
        remove_if_present(&self.meta_path)
    }

    /// The metadata file's path, removed once the `.part` is renamed into place.
    pub fn meta_path(&self) -> &Path {
        &self.meta_path
    }
}

/// The last part of `path`, for messages: the directory may be reached
/// through `/proc/self/fd`, which says nothing to the user.
pub fn file_name(path: &Path) -> std::borrow::Cow<'_, str> {
    path.file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy()
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://127.0.0.1:8000/big.bin";

    fn meta(total: Option<u64>) -> Meta {
        Meta {
            url: URL.into(),
            final_url: "http://127.0.0.1:8000/files/big.bin".into(),
            validator: Validator::ETag("\"v1\"".into()),
            total,
        }
    }

    #[test]
    fn names_sit_beside_the_target_with_a_fixed_length() {
        // printf big.bin | sha256sum: 2ef32caa6d2a8676...
        assert_eq!(
            part_path(Path::new("dir/big.bin")),
            Path::new("dir/.sockdemo-2ef32caa6d2a8676.part")
        );
        let long = "a".repeat(255);
        let part = part_path(Path::new(&long));
        let meta = meta_path(&part);
        assert_eq!(part.as_os_str().len(), ".sockdemo-.part".len() + 16);
        assert_eq!(meta.as_os_str().len(), part.as_os_str().len() + 5);
        assert_ne!(part, part_path(Path::new(&"a".repeat(254))));
    }

    #[test]
    fn the_metadata_names_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("odd\nname%");
        let part = part_path(&target);
        fs::write(meta_path(&part), meta_text(&meta(Some(9)), &target)).unwrap();
        assert_eq!(read_meta(&meta_path(&part), &target), Some(meta(Some(9))));
        assert_eq!(
            read_meta(&meta_path(&part), &dir.path().join("other")),
            None
        );
        // Larger than any metadata of ours: not read.
        let big = File::create(meta_path(&part)).unwrap();
        big.set_len(1 << 30).unwrap();
        assert_eq!(read_meta(&meta_path(&part), &target), None);
    }

    #[test]
    fn metadata_round_trips_and_rejects_anything_else() {
        for m in [
            meta(Some(1000)),
            meta(None),
            Meta {
                validator: Validator::LastModified("Sun, 06 Nov 1994 08:49:37 GMT".into()),
                ..meta(None)
            },
        ] {
            assert_eq!(Meta::parse(&m.to_text()), Some(m));
        }
        assert_eq!(Meta::parse(""), None);
        assert_eq!(Meta::parse("some other file\nurl x\n"), None);
        let text = meta(Some(5)).to_text();
        assert_eq!(Meta::parse(&text.replace("length 5", "length five")), None);
        assert_eq!(Meta::parse(&text.replace("etag", "color")), None);
        assert_eq!(Meta::parse(&format!("{MAGIC}\nurl {URL}\n")), None);
    }

    #[test]
    fn a_link_planted_as_the_part_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("big.bin");
        let precious = dir.path().join("precious");
        fs::write(&precious, b"keep me").unwrap();
        std::os::unix::fs::symlink(&precious, part_path(&target)).unwrap();
        assert!(Partial::open(&target, URL).is_err());
        assert_eq!(fs::read(&precious).unwrap(), b"keep me");
    }

    #[test]
    fn a_part_of_ours_is_continued() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("big.bin");
        {
            let mut partial = Partial::open(&target, URL).unwrap();
            assert_eq!(partial.resume(), None);
            partial.start_over(Some(meta(Some(1000)))).unwrap();
            partial.file().write_all(b"first part").unwrap();
        }
        let mut partial = Partial::open(&target, URL).unwrap();
        assert_eq!(
            partial.resume(),
            Some(Resume {
                offset: 10,
                validator: Validator::ETag("\"v1\"".into()),
                total: Some(1000)
            })
        );
        let mut kept = Vec::new();
        partial
            .read_kept(|data| kept.extend_from_slice(data))
            .unwrap();
        assert_eq!(kept, b"first part");
        partial.file().write_all(b", second").unwrap();
        drop(partial);
        assert_eq!(fs::read(part_path(&target)).unwrap(), b"first part, second");
    }

    #[test]
    fn a_part_that_is_not_ours_is_started_over() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("big.bin");
        let part = part_path(&target);
        // No metadata: left by something else.
        fs::write(&part, b"stale").unwrap();
        let partial = Partial::open(&target, URL).unwrap();
        assert_eq!(partial.resume(), None);
        assert_eq!(fs::read(&part).unwrap(), b"");
        drop(partial);
        // Metadata for another URL.
        fs::write(&part, b"stale").unwrap();
        fs::write(meta_path(&part), meta_text(&meta(None), &target)).unwrap();
        let partial = Partial::open(&target, "http://127.0.0.1:8000/other.bin").unwrap();
        assert_eq!(partial.resume(), None);
        assert!(!meta_path(&part).exists());
        drop(partial);
        // Longer than the file it claims to be part of.
        fs::write(&part, b"too long").unwrap();
        fs::write(meta_path(&part), meta_text(&meta(Some(3)), &target)).unwrap();
        assert_eq!(Partial::open(&target, URL).unwrap().resume(), None);
    }

    #[test]
    fn a_second_run_cannot_take_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("big.bin");
        let first = Partial::open(&target, URL).unwrap();
        let second = Partial::open(&target, URL).unwrap_err();
        assert_eq!(second.kind(), io::ErrorKind::WouldBlock);
        first.remove().unwrap();
        assert!(!part_path(&target).exists());
    }
}
