//! `sockdemo fetch` and the file it writes, under the kernel's protections:
//! symbolic links followed only where open(2) follows them, a download
//! no other user can open while it fills, write-protected files kept,
//! owners and groups, hard links, names of up to 255 bytes, and paths that
//! name an open descriptor.
//!
//! The tests that act as another user need root (they run as `nobody`
//! through `setpriv`, or in a thread with `nobody`'s credentials); the ones
//! about symbolic links turn `fs.protected_symlinks` on for their length.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Stdio;

use crate::support::dir::{Dir, files_open_in, meta_name, part_name};
use crate::support::other_user::{
    NOBODY, NOGROUP, Nobody, ProtectedSymlinks, Watcher, root, sticky_dir,
};
use crate::support::ranged::{Ending, FileServer, answer, content, whole};
use crate::support::scripted::{Act, Cue, Scripted, send};
use crate::support::{Process, STEP, code, command, run_bounded, sockdemo, text, wait_for};

const ETAG: &str = "\"v1\"";

/// A server answering every request with `body`, whole.
fn serving(body: &'static [u8]) -> FileServer {
    FileServer::start(move |_| whole(body, ETAG))
}

/// The names in `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
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

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("stat").mode() & 0o7777
}

#[test]
fn a_link_planted_in_a_sticky_directory_is_not_followed_by_root() {
    if !root() {
        return;
    }
    let _protected = ProtectedSymlinks::on();
    let server = serving(b"the attacker's choice");
    let shared = sticky_dir();
    let private = tempfile::tempdir().expect("temporary directory");
    let precious = private.path().join("precious");
    fs::write(&precious, b"root's secret").expect("write");
    fs::set_permissions(&precious, fs::Permissions::from_mode(0o600)).expect("chmod");
    // nobody plants file.txt -> precious, and new.txt -> a file to create.
    let planted = shared.path().join("file.txt");
    std::os::unix::fs::symlink(&precious, &planted).expect("symlink");
    std::os::unix::fs::lchown(&planted, Some(NOBODY), Some(NOGROUP)).expect("lchown");
    let created = private.path().join("created");
    let dangling = shared.path().join("new.txt");
    std::os::unix::fs::symlink(&created, &dangling).expect("symlink");
    std::os::unix::fs::lchown(&dangling, Some(NOBODY), Some(NOGROUP)).expect("lchown");

    for name in ["file.txt", "new.txt"] {
        let output = run_bounded(
            sockdemo()
                .current_dir(shared.path())
                .args(["fetch", &server.url("/x"), "-o", name]),
            STEP,
        );
        let message = text(&output.stderr);
        assert_eq!(code(&output), 23, "{name}: {message}");
        assert_eq!(
            message,
            format!("sockdemo: error: writing {name}: Permission denied (os error 13)\n")
        );
    }
    assert_eq!(fs::read(&precious).expect("read"), b"root's secret");
    assert_eq!(mode(&precious), 0o600);
    assert!(!created.exists(), "a file was created through the link");
    assert_eq!(entries(shared.path()), ["file.txt", "new.txt"]);
    assert_eq!(entries(private.path()), ["precious"]);

    // A link owned by the directory's owner is followed, as open(2) does.
    let own = shared.path().join("own.txt");
    std::os::unix::fs::symlink(&precious, &own).expect("symlink");
    let output = run_bounded(
        sockdemo()
            .current_dir(shared.path())
            .args(["fetch", &server.url("/x"), "-o", "own.txt"]),
        STEP,
    );
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(fs::read(&precious).expect("read"), b"the attacker's choice");
    assert_eq!(mode(&precious), 0o600, "the replaced file keeps its mode");
    assert!(
        fs::symlink_metadata(&own)
            .expect("lstat")
            .file_type()
            .is_symlink()
    );

    // The same for any user: nobody does not follow daemon's link (uid 1)
    // to nobody's own file.
    let nobody = Nobody::new();
    let mine = tempfile::tempdir().expect("temporary directory");
    std::os::unix::fs::chown(mine.path(), Some(NOBODY), Some(NOGROUP)).expect("chown");
    let notes = mine.path().join("notes");
    fs::write(&notes, b"nobody's notes").expect("write");
    std::os::unix::fs::chown(&notes, Some(NOBODY), Some(NOGROUP)).expect("chown");
    let daemons = shared.path().join("daemons.txt");
    std::os::unix::fs::symlink(&notes, &daemons).expect("symlink");
    std::os::unix::fs::lchown(&daemons, Some(1), Some(1)).expect("lchown");
    let output = run_bounded(
        nobody.sockdemo().current_dir(shared.path()).args([
            "fetch",
            &server.url("/x"),
            "-o",
            "daemons.txt",
        ]),
        STEP,
    );
    assert_eq!(code(&output), 23, "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stderr),
        "sockdemo: error: writing daemons.txt: Permission denied (os error 13)\n"
    );
    assert_eq!(fs::read(&notes).expect("read"), b"nobody's notes");
    assert_eq!(
        entries(shared.path()),
        ["daemons.txt", "file.txt", "new.txt", "own.txt"]
    );
}

/// Plays a download of `secret` by root into `secret.txt` (mode 0600) in a
/// sticky directory that `nobody` watches, with `args`; the body is held
/// back until the watcher has seen whatever the download created.
fn watched_download(args: &[&str]) -> (crate::support::other_user::Watched, Vec<String>) {
    let secret = content(300_000, 16);
    let cue = Cue::default();
    let server = {
        let (secret, cue) = (secret.clone(), cue.clone());
        Scripted::start(move |_| {
            vec![
                send(format!(
                    "HTTP/1.1 200 OK\r\nETag: {ETAG}\r\nContent-Length: {}\r\n\r\n",
                    secret.len()
                )),
                send(&secret[..100_000]),
                Act::Await(cue.clone()),
                send(&secret[100_000..]),
            ]
        })
    };
    let shared = sticky_dir();
    let target = shared.path().join("secret.txt");
    fs::write(&target, b"old secret").expect("write");
    fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).expect("chmod");
    let watcher = Watcher::start(shared.path());
    let mut fetch = Process::spawn(
        sockdemo()
            .current_dir(shared.path())
            .args(["fetch", &server.url("/secret"), "-o", "secret.txt", "-q"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_for("the download to be under way", STEP, || {
        (files_open_in(fetch.id(), shared.path()) > 0).then_some(())
    });
    watcher.catch_up(1);
    cue.give();
    let status = fetch.wait(STEP);
    assert_eq!(status.code(), Some(0), "{status:?}");
    watcher.catch_up(2);
    let watched = watcher.finish();
    assert!(fs::read(&target).expect("read") == secret, "the download");
    assert_eq!(mode(&target), 0o600);
    (watched, entries(shared.path()))
}

#[test]
fn another_user_cannot_open_a_download_while_it_fills() {
    if !root() {
        return;
    }
    let (watched, left) = watched_download(&[]);
    let opened: Vec<&String> = watched.opened.iter().map(|(name, _)| name).collect();
    assert_eq!(opened, Vec::<&String>::new(), "{watched:?}");
    // It watched: the file appeared under a temporary name, then the target's.
    assert_eq!(watched.appeared.len(), 2, "{:?}", watched.appeared);
    assert!(
        watched.appeared[0].starts_with(".sockdemo-") && watched.appeared[0].len() == 26,
        "{:?}",
        watched.appeared
    );
    assert_eq!(watched.appeared[1], "secret.txt");
    assert_eq!(left, ["secret.txt"]);
}

#[test]
fn another_user_cannot_open_a_continued_part() {
    if !root() {
        return;
    }
    let (watched, left) = watched_download(&["-C"]);
    let opened: Vec<&String> = watched.opened.iter().map(|(name, _)| name).collect();
    assert_eq!(opened, Vec::<&String>::new(), "{watched:?}");
    assert!(
        watched.appeared.contains(&part_name("secret.txt")),
        "{:?}",
        watched.appeared
    );
    assert_eq!(left, ["secret.txt"]);
}

#[test]
fn a_part_of_another_user_is_not_written_into() {
    if !root() {
        return;
    }
    let server = serving(b"root's download");
    let shared = sticky_dir();
    // nobody prepares the part root's -C will use, readable by nobody.
    let part = shared.path().join(part_name("out.bin"));
    fs::write(&part, b"").expect("write");
    fs::set_permissions(&part, fs::Permissions::from_mode(0o666)).expect("chmod");
    std::os::unix::fs::chown(&part, Some(NOBODY), Some(NOGROUP)).expect("chown");
    let output = run_bounded(
        sockdemo().current_dir(shared.path()).args([
            "fetch",
            "-C",
            &server.url("/x"),
            "-o",
            "out.bin",
        ]),
        STEP,
    );
    assert_eq!(code(&output), 23, "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("belongs to another user"));
    assert_eq!(fs::read(&part).expect("read"), b"");
    assert_eq!(entries(shared.path()), [part_name("out.bin")]);
}

#[test]
fn a_large_part_meta_is_not_read() {
    let file = content(50_000, 17);
    let served = file.clone();
    let server = FileServer::start(move |request| answer(request, &served, ETAG));
    let dir = Dir::empty();
    dir.write(&part_name("out.bin"), &file[..10_000]);
    // Sparse: 2 GiB that cost no disk, and more memory than the process may take.
    let meta = fs::File::create(dir.path().join(meta_name("out.bin"))).expect("create");
    meta.set_len(2 << 30).expect("set_len");
    let output = run_bounded(
        command("sh")
            .current_dir(dir.path())
            .args(["-c", "ulimit -v 1000000; exec \"$0\" \"$@\""])
            .arg(env!("CARGO_BIN_EXE_sockdemo"))
            .args(["fetch", "-C", &server.url("/f"), "-o", "out.bin"]),
        STEP,
    );
    let message = text(&output.stderr);
    assert_eq!(code(&output), 0, "{message}");
    assert!(
        message.contains(&format!(
            "ignoring {}: not a metadata file of at most 8192 bytes",
            meta_name("out.bin")
        )),
        "{message}"
    );
    assert!(dir.read("out.bin") == file, "started over, whole");
    assert_eq!(server.requests().len(), 1, "no range asked");
    assert_eq!(dir.entries(), ["out.bin"]);
}

#[test]
fn a_write_protected_file_is_kept_except_for_root() {
    if !root() {
        return;
    }
    let server = serving(b"new contents");
    let nobody = Nobody::new();
    let dir = Dir::empty();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOGROUP)).expect("chown");
    dir.write("out.bin", b"read-only");
    let out = dir.path().join("out.bin");
    std::os::unix::fs::chown(&out, Some(NOBODY), Some(NOGROUP)).expect("chown");
    fs::set_permissions(&out, fs::Permissions::from_mode(0o444)).expect("chmod");
    let output = run_bounded(
        nobody.sockdemo().current_dir(dir.path()).args([
            "fetch",
            &server.url("/x"),
            "-o",
            "out.bin",
        ]),
        STEP,
    );
    assert_eq!(code(&output), 23, "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stderr),
        "sockdemo: error: writing out.bin: it is write-protected\n"
    );
    assert_eq!(dir.read("out.bin"), b"read-only");
    assert_eq!(dir.entries(), ["out.bin"]);

    // Root may write it, so root replaces it, as the kernel lets it.
    let output = dir.fetch(&[&server.url("/x"), "-o", "out.bin"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(dir.read("out.bin"), b"new contents");
    assert_eq!(mode(&out), 0o444);
    let meta = fs::metadata(&out).expect("stat");
    assert_eq!((meta.uid(), meta.gid()), (NOBODY, NOGROUP), "owner kept");
    assert_eq!(dir.entries(), ["out.bin"]);
}

#[test]
fn a_group_that_cannot_be_kept_takes_its_permissions_with_it() {
    if !root() {
        return;
    }
    let server = serving(b"new contents");
    let nobody = Nobody::new();
    let dir = Dir::empty();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOGROUP)).expect("chown");
    dir.write("out.bin", b"old");
    let out = dir.path().join("out.bin");
    // nobody's file, in root's group, which nobody cannot give a file.
    std::os::unix::fs::chown(&out, Some(NOBODY), Some(0)).expect("chown");
    fs::set_permissions(&out, fs::Permissions::from_mode(0o640)).expect("chmod");
    let output = run_bounded(
        nobody.sockdemo().current_dir(dir.path()).args([
            "fetch",
            &server.url("/x"),
            "-o",
            "out.bin",
        ]),
        STEP,
    );
    let message = text(&output.stderr);
    assert_eq!(code(&output), 0, "{message}");
    assert_eq!(dir.read("out.bin"), b"new contents");
    let meta = fs::metadata(&out).expect("stat");
    assert_eq!((meta.uid(), meta.gid()), (NOBODY, NOGROUP));
    assert_eq!(
        mode(&out),
        0o600,
        "the group's read permission went to nogroup"
    );
    assert!(
        message
            .contains("the group of the replaced file cannot be kept: the new file gets mode 0600"),
        "{message}"
    );

    // root's set-user-ID file that nogroup may write: nobody's copy must not
    // be set-user-ID nobody.
    std::os::unix::fs::chown(&out, Some(0), Some(NOGROUP)).expect("chown");
    fs::set_permissions(&out, fs::Permissions::from_mode(0o4775)).expect("chmod");
    let output = run_bounded(
        nobody.sockdemo().current_dir(dir.path()).args([
            "fetch",
            &server.url("/x"),
            "-o",
            "out.bin",
        ]),
        STEP,
    );
    let message = text(&output.stderr);
    assert_eq!(code(&output), 0, "{message}");
    let meta = fs::metadata(&out).expect("stat");
    assert_eq!((meta.uid(), meta.gid()), (NOBODY, NOGROUP));
    assert_eq!(mode(&out), 0o775, "set-user-ID dropped");
    assert!(
        message
            .contains("the owner of the replaced file cannot be kept: the new file gets mode 0775"),
        "{message}"
    );
}

#[test]
fn other_hard_links_are_named_in_a_warning() {
    let server = serving(b"new contents");
    let dir = Dir::new();
    fs::hard_link(dir.path().join("out.bin"), dir.path().join("other.bin")).expect("link");
    let output = dir.fetch(&[&server.url("/x"), "-o", "out.bin"]);
    let message = text(&output.stderr);
    assert_eq!(code(&output), 0, "{message}");
    assert!(
        message.contains("has 1 other hard link(s): they will keep the previous version"),
        "{message}"
    );
    assert_eq!(dir.read("out.bin"), b"new contents");
    assert_eq!(dir.read("other.bin"), crate::support::dir::PRECIOUS);
}

#[test]
fn names_of_255_bytes_are_saved_and_continued() {
    let file = content(100_000, 18);
    let served = file.clone();
    let server = FileServer::start(move |request| match request.number {
        0 => answer(request, &served, ETAG).ending(Ending::CutAfter(40_000)),
        _ => answer(request, &served, ETAG),
    });
    let dir = Dir::empty();
    // The default name from the URL, 250 bytes.
    let name = "a".repeat(250);
    let output = dir.fetch(&[
        &server.url(&format!("/{name}")),
        "-q",
        "--retry",
        "1",
        "--retry-delay",
        "0s",
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(dir.read(&name) == file);
    assert_eq!(dir.entries(), std::slice::from_ref(&name));

    // -C into a name of 255 bytes: the part and its metadata fit beside it.
    let long = "b".repeat(255);
    let server = {
        let served = file.clone();
        FileServer::start(move |request| match request.number {
            0 => answer(request, &served, ETAG).ending(Ending::CutAfter(40_000)),
            _ => answer(request, &served, ETAG),
        })
    };
    let url = server.url("/f");
    let output = dir.fetch(&["-C", &url, "-o", &long, "--retry", "0"]);
    assert_eq!(code(&output), 18, "{}", text(&output.stderr));
    assert!(dir.exists(&part_name(&long)) && dir.exists(&meta_name(&long)));
    let output = dir.fetch(&["-C", &url, "-o", &long]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(dir.read(&long) == file);
    assert_eq!(dir.entries(), [name, long]);
}

const HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n";

fn hello() -> Scripted {
    Scripted::start(|_| vec![send(HEAD), send("hello world")])
}

#[test]
fn dev_stdout_into_a_pipe_is_dash_o_dash() {
    let server = hello();
    let fetch = |path: &str| {
        run_bounded(
            sockdemo().args(["fetch", &server.url("/x"), "-o", path]),
            STEP,
        )
    };
    let dash = fetch("-");
    assert_eq!(dash.stdout, b"hello world");
    assert!(
        text(&dash.stderr).starts_with(HEAD),
        "{}",
        text(&dash.stderr)
    );
    for path in ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"] {
        let output = fetch(path);
        assert_eq!(code(&output), 0, "{path}: {}", text(&output.stderr));
        assert_eq!(output.stdout, dash.stdout, "{path}: the body alone");
        assert_eq!(text(&output.stderr), text(&dash.stderr), "{path}: as -o -");
    }
}

#[test]
fn dev_stderr_and_other_descriptors_are_written_directly() {
    let server = hello();
    let output = run_bounded(
        sockdemo().args(["fetch", &server.url("/x"), "-o", "/dev/stderr", "-q"]),
        STEP,
    );
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "", "-q prints no heads");
    assert_eq!(text(&output.stderr), "hello world");
    for path in ["/dev/fd/3", "/proc/self/fd/3"] {
        // Descriptor 3 is the test's stdout pipe, 1 its stderr pipe.
        let output = run_bounded(
            command("sh")
                .args(["-c", "exec \"$0\" \"$@\" 3>&1 1>&2"])
                .arg(env!("CARGO_BIN_EXE_sockdemo"))
                .args(["fetch", &server.url("/x"), "-o", path, "-q"]),
            STEP,
        );
        assert_eq!(code(&output), 0, "{path}: {}", text(&output.stderr));
        assert_eq!(output.stdout, b"hello world", "{path}");
        assert_eq!(text(&output.stderr), "", "{path}: -q prints no heads");
    }
    // -C has nothing to continue in a pipe.
    let output = run_bounded(
        sockdemo().args(["fetch", "-C", &server.url("/x"), "-o", "/dev/stderr"]),
        STEP,
    );
    assert_eq!(code(&output), 2, "{}", text(&output.stderr));
}

#[test]
fn a_directory_swapped_during_the_download_does_not_move_the_file() {
    let root = Dir::empty();
    for existing in [false, true] {
        let cue = Cue::default();
        let server = {
            let cue = cue.clone();
            Scripted::start(move |_| {
                vec![
                    send("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello"),
                    Act::Await(cue.clone()),
                    send(" world"),
                ]
            })
        };
        for name in ["a", "b", "elsewhere"] {
            let _ = fs::remove_dir_all(root.path().join(name));
            let _ = fs::remove_file(root.path().join(name));
        }
        fs::create_dir(root.path().join("a")).expect("mkdir");
        fs::create_dir(root.path().join("elsewhere")).expect("mkdir");
        if existing {
            fs::write(root.path().join("a/out.bin"), b"old").expect("write");
        }
        let mut fetch = Process::spawn(
            sockdemo()
                .current_dir(root.path())
                .args(["fetch", &server.url("/x"), "-o", "a/out.bin", "-q"])
                .stdout(Stdio::null()),
        );
        wait_for("the download to be under way", STEP, || {
            (files_open_in(fetch.id(), &root.path().join("a")) > 0).then_some(())
        });
        // a/ becomes b/, and a is now a link to elsewhere/.
        fs::rename(root.path().join("a"), root.path().join("b")).expect("rename");
        std::os::unix::fs::symlink("elsewhere", root.path().join("a")).expect("symlink");
        cue.give();
        assert_eq!(fetch.wait(STEP).code(), Some(0));
        assert_eq!(
            fs::read(root.path().join("b/out.bin")).expect("read"),
            b"hello world"
        );
        assert_eq!(entries(&root.path().join("b")), ["out.bin"]);
        assert_eq!(
            entries(&root.path().join("elsewhere")),
            Vec::<String>::new()
        );
    }
}
