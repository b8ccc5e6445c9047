//! Credentials in `sockdemo fetch`: `-u`, a URL's `user:password@`, the
//! `.netrc` (`-n`, `--netrc-file`, `--netrc-optional`, `$NETRC`), `-U` for
//! a proxy. The scripted server records each request, so the tests check
//! the `Authorization` field sent, and that it goes to no other origin and
//! never shows in the output, the log or the `.part.meta` file.

use crate::support::dir::Dir;
use crate::support::proxy::Proxy;
use crate::support::scripted::{Act, Scripted, send};
use crate::support::{code, text};

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

/// `Basic` of `alice:s3cret`.
const ALICE: &str = "Authorization: Basic YWxpY2U6czNjcmV0\r\n";

fn serving_ok() -> Scripted {
    Scripted::start(|_| vec![send(OK)])
}

/// The `Authorization` lines of each request the server received.
fn authorizations(server: &Scripted) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|request| {
            text(request)
                .split_inclusive("\r\n")
                .filter(|line| line.to_ascii_lowercase().starts_with("authorization:"))
                .collect()
        })
        .collect()
}

/// Asserts that neither the password nor its Basic encoding is in `bytes`.
fn assert_no_secret(what: &str, bytes: &[u8]) {
    let shown = text(bytes);
    for secret in ["s3cret", "YWxpY2U6czNjcmV0"] {
        assert!(!shown.contains(secret), "{what} shows {secret}: {shown}");
    }
}

#[test]
fn u_sends_basic_credentials_and_v_hides_them() {
    let server = serving_ok();
    let dir = Dir::empty();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out", "-u", "alice:s3cret", "-v"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(authorizations(&server), [ALICE]);
    assert_eq!(dir.read("out"), b"hello");
    let log = text(&output.stderr);
    assert!(log.contains("Authorization: Basic [hidden]"), "{log}");
    assert_no_secret("-v", &output.stderr);
    assert_no_secret("stdout", &output.stdout);
}

#[test]
fn url_credentials_are_sent_percent_decoded_and_never_shown() {
    let server = serving_ok();
    let dir = Dir::empty();
    let url = format!("http://alice:s3%63ret@{}/f", server.addr);
    let output = dir.fetch(&[&url, "-o", "out", "-v", "-w", "%{url_effective}"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(authorizations(&server), [ALICE]);
    assert!(
        text(&output.stdout).ends_with(&server.url("/f")),
        "url_effective without credentials: {}",
        text(&output.stdout)
    );
    assert_no_secret("stderr", &output.stderr);
    assert_no_secret("stdout", &output.stdout);

    // A failure's message names the URL without them too.
    let missing = Scripted::start(|_| vec![send("HTTP/1.1 401 No\r\nContent-Length: 0\r\n\r\n")]);
    let url = format!("http://alice:s3cret@{}/f", missing.addr);
    let output = dir.fetch(&[&url, "-o", "out", "-w", "%{errormsg}"]);
    assert_eq!(code(&output), 22);
    assert!(
        text(&output.stderr).contains("answered 401"),
        "{}",
        text(&output.stderr)
    );
    assert_no_secret("stderr", &output.stderr);
    assert_no_secret("stdout", &output.stdout);
}

#[test]
fn u_wins_over_the_url_and_h_authorization_wins_over_u() {
    let server = serving_ok();
    let dir = Dir::empty();
    let url = format!("http://bob:other@{}/f", server.addr);
    let output = dir.fetch(&[&url, "-o", "out", "-u", "alice:s3cret"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let output = dir.fetch(&[
        &url,
        "-o",
        "out",
        "-u",
        "alice:s3cret",
        "-H",
        "Authorization: Bearer tok",
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(
        authorizations(&server),
        [ALICE, "Authorization: Bearer tok\r\n"]
    );
}

#[test]
fn u_without_a_password_and_no_terminal_is_a_usage_error() {
    let server = serving_ok();
    let dir = Dir::empty();
    // The test's stdin is /dev/null: there is no one to ask.
    let output = dir.fetch(&[&server.url("/f"), "-o", "out", "-u", "alice"]);
    assert_eq!(code(&output), 2, "{}", text(&output.stderr));
    let message = text(&output.stderr);
    assert!(
        message.starts_with("sockdemo: error: -u alice has no password"),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(server.requests().is_empty(), "nothing sent");
    assert_eq!(dir.entries(), Vec::<String>::new());
}

#[test]
fn the_netrc_file_gives_the_hosts_login_and_password() {
    let server = serving_ok();
    let dir = Dir::empty();
    let host = server.addr.ip().to_string();
    dir.write(
        "rc",
        format!("machine other login x password y\nmachine {host}\n  login alice\n  password \"s3cret\"\n"),
    );
    let output = dir.fetch(&[&server.url("/f"), "-o", "out", "--netrc-file", "rc"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));

    // -n reads $NETRC, else ~/.netrc.
    let rc = dir.path().join("rc");
    let rc = rc.to_str().unwrap();
    let output = dir.fetch_with_env(&[&server.url("/f"), "-o", "out", "-n"], &[("NETRC", rc)]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let home = Dir::empty();
    home.write(".netrc", "default login alice password s3cret\n");
    let home = home.path().to_str().unwrap();
    let output = dir.fetch_with_env(&[&server.url("/f"), "-o", "out", "-n"], &[("HOME", home)]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(authorizations(&server), [ALICE, ALICE, ALICE]);

    // Without -n, the file is not read.
    let output = dir.fetch_with_env(&[&server.url("/f"), "-o", "out"], &[("HOME", home)]);
    assert_eq!(code(&output), 0);
    assert_eq!(authorizations(&server)[3], "");
}

#[test]
fn n_wins_over_the_url_and_netrc_optional_lets_the_url_win() {
    let server = serving_ok();
    let dir = Dir::empty();
    let host = server.addr.ip();
    dir.write(
        "rc",
        format!("machine {host} login alice password s3cret\n"),
    );
    let url = format!("http://alice:fromurl@{}/f", server.addr);
    let output = dir.fetch(&[&url, "-o", "out", "--netrc-file", "rc"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let output = dir.fetch(&[&url, "-o", "out", "--netrc-file", "rc", "--netrc-optional"]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    // A user alone in the URL takes the password from the file.
    let alone = format!("http://alice@{}/f", server.addr);
    let output = dir.fetch(&[
        &alone,
        "-o",
        "out",
        "--netrc-file",
        "rc",
        "--netrc-optional",
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(
        authorizations(&server),
        [
            ALICE,
            "Authorization: Basic YWxpY2U6ZnJvbXVybA==\r\n",
            ALICE
        ]
    );
}

#[test]
fn a_missing_or_broken_netrc_file_exits_26_without_showing_a_password() {
    let server = serving_ok();
    let dir = Dir::empty();
    let output = dir.fetch(&[&server.url("/f"), "-o", "out", "--netrc-file", "none"]);
    assert_eq!(code(&output), 26, "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("reading none"),
        "{}",
        text(&output.stderr)
    );
    let output = dir.fetch(&[
        &server.url("/f"),
        "-o",
        "out",
        "--netrc-file",
        "none",
        "--netrc-optional",
    ]);
    assert_eq!(code(&output), 0, "optional: {}", text(&output.stderr));
    dir.write("rc", "machine h login alice\npassword \"s3cret\n");
    let output = dir.fetch(&[&server.url("/f"), "-o", "out", "--netrc-file", "rc"]);
    assert_eq!(code(&output), 26);
    let message = text(&output.stderr);
    assert!(message.contains("rc: line 2:"), "{message}");
    assert_no_secret("the error", &output.stderr);
    assert_eq!(server.requests().len(), 1, "no request after a broken file");
}

#[test]
fn credentials_are_not_sent_after_a_cross_origin_redirect() {
    let other = serving_ok();
    let elsewhere = other.url("/there");
    let first = Scripted::start(move |target| match target {
        "/start" => vec![send(
            "HTTP/1.1 302 Found\r\nLocation: /same\r\nContent-Length: 0\r\n\r\n",
        )],
        _ => vec![send(format!(
            "HTTP/1.1 302 Found\r\nLocation: {elsewhere}\r\nContent-Length: 0\r\n\r\n"
        ))],
    });
    let dir = Dir::empty();
    let output = dir.fetch(&[
        &first.url("/start"),
        "-o",
        "out",
        "-u",
        "alice:s3cret",
        "-w",
        "%{num_redirects} %{url_effective}",
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(authorizations(&first), [ALICE, ALICE], "same origin: sent");
    assert_eq!(authorizations(&other), [""], "another port: not sent");
    assert!(
        text(&output.stdout).ends_with(&format!("2 {}", other.url("/there"))),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn credentials_are_not_in_the_part_meta_file() {
    // A body cut short, with a validator: -C keeps it and its metadata.
    let server = Scripted::start(|_| {
        vec![
            send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nETag: \"v1\"\r\n\r\nhello"),
            Act::CloseAbruptly,
        ]
    });
    let dir = Dir::empty();
    let url = format!("http://alice:s3cret@{}/f", server.addr);
    let output = dir.fetch(&[&url, "-o", "out", "-C", "--retry", "0"]);
    assert_eq!(code(&output), 18, "{}", text(&output.stderr));
    assert_eq!(authorizations(&server), [ALICE]);
    let meta_name = dir
        .entries()
        .into_iter()
        .find(|name| name.ends_with(".part.meta"))
        .unwrap_or_else(|| panic!("no .part.meta: {:?}", dir.entries()));
    let meta = dir.read(&meta_name);
    assert!(text(&meta).contains(&server.url("/f")), "{}", text(&meta));
    assert_no_secret(".part.meta", &meta);
    assert_no_secret("stderr", &output.stderr);
}

#[test]
fn proxy_user_sends_the_proxys_credentials_and_not_the_origins() {
    let server = serving_ok();
    let proxy = Proxy::start();
    let dir = Dir::empty();
    let output = dir.fetch(&[
        &server.url("/f"),
        "-o",
        "out",
        "-x",
        &proxy.url(),
        "-U",
        "alice:s3cret",
        "-v",
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let requests = proxy.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(
        requests[0].contains("Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n"),
        "{}",
        requests[0]
    );
    assert_no_secret("-v", &output.stderr);
}

/// A fetch asking for alice's password on its terminal (a pseudo-terminal,
/// its controlling terminal), with what the terminal has shown so far.
struct AtThePrompt {
    fetch: crate::support::Process,
    stderr: std::thread::JoinHandle<Vec<u8>>,
    /// The controlling side of the terminal: what the user types.
    typing: std::fs::File,
    shown: Vec<u8>,
    arrived: std::sync::mpsc::Receiver<Vec<u8>>,
    reader: std::thread::JoinHandle<()>,
}

impl AtThePrompt {
    fn start(server: &Scripted, dir: &Dir) -> AtThePrompt {
        use std::io::Read;
        use std::os::unix::process::CommandExt;
        use std::process::Stdio;
        use std::sync::mpsc;

        use crate::fetch::pseudo_terminal;
        use crate::support::{Process, STEP, read_all_of, sockdemo};

        let (mut controller, terminal) = pseudo_terminal();
        let mut command = sockdemo();
        command
            .current_dir(dir.path())
            .args(["fetch", &server.url("/f"), "-o", "out", "-u", "alice"])
            .stdin(terminal)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // The terminal becomes the child's controlling terminal, its /dev/tty.
        #[allow(unsafe_code)]
        // SAFETY: setsid and ioctl are async-signal-safe, and the closure
        // allocates nothing.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut fetch = Process::spawn(&mut command);
        // The parent's copy of the terminal side goes with the command, so
        // that reading the controller ends (EIO) once the child is gone.
        drop(command);
        let stderr = read_all_of(fetch.stderr());
        let typing = controller.try_clone().expect("controller");
        let (chunks, arrived) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            while let Ok(n @ 1..) = controller.read(&mut buf) {
                let _ = chunks.send(buf[..n].to_vec());
            }
        });
        let prompt = "Enter host password for user 'alice': ";
        let mut shown = Vec::new();
        while !text(&shown).contains(prompt) {
            match arrived.recv_timeout(STEP) {
                Ok(chunk) => shown.extend(chunk),
                Err(_) => panic!("no prompt on the terminal: {:?}", text(&shown)),
            }
        }
        AtThePrompt {
            fetch,
            stderr,
            typing,
            shown,
            arrived,
            reader,
        }
    }

    /// Whether the terminal echoes what is typed now.
    fn echoes(&self) -> bool {
        use std::os::fd::AsRawFd;
        let mut settings = std::mem::MaybeUninit::<libc::termios>::zeroed();
        // SAFETY: tcgetattr writes a termios into memory of our own; on a
        // pseudo-terminal's controlling side it reads the terminal's.
        #[allow(unsafe_code)]
        let settings = unsafe {
            assert_eq!(
                libc::tcgetattr(self.typing.as_raw_fd(), settings.as_mut_ptr()),
                0,
                "tcgetattr: {}",
                std::io::Error::last_os_error()
            );
            settings.assume_init()
        };
        settings.c_lflag & libc::ECHO != 0
    }

    /// Waits for the fetch to end; gives its status, its stderr and all the
    /// terminal showed.
    fn end(mut self) -> (std::process::ExitStatus, Vec<u8>, Vec<u8>) {
        let status = self.fetch.wait(crate::support::STEP);
        let stderr = self.stderr.join().expect("stderr");
        drop(self.typing);
        self.reader.join().expect("terminal reader");
        self.shown.extend(self.arrived.try_iter().flatten());
        (status, stderr, self.shown)
    }
}

#[test]
fn u_without_a_password_asks_on_the_terminal_without_echo() {
    use std::io::Write;
    let server = serving_ok();
    let dir = Dir::empty();
    let mut prompt = AtThePrompt::start(&server, &dir);
    assert!(!prompt.echoes(), "the echo is off at the prompt");
    prompt
        .typing
        .write_all(b"s3cret\n")
        .expect("type the password");
    let (status, stderr, shown) = prompt.end();
    assert!(status.success(), "{status:?}: {}", text(&stderr));
    assert_eq!(authorizations(&server), [ALICE]);
    assert!(
        shown.ends_with(b"\r\n"),
        "the newline shows: {:?}",
        text(&shown)
    );
    assert_no_secret("the terminal", &shown);
    assert_no_secret("stderr", &stderr);
}

#[test]
fn ctrl_c_at_the_password_prompt_gives_the_terminal_its_echo_back() {
    use std::io::Write;
    use std::os::unix::process::ExitStatusExt;
    let server = serving_ok();
    let dir = Dir::empty();
    let mut prompt = AtThePrompt::start(&server, &dir);
    assert!(!prompt.echoes(), "the echo is off at the prompt");
    // Ctrl-C, typed: the terminal sends SIGINT to the fetch.
    prompt.typing.write_all(b"s3\x03").expect("type Ctrl-C");
    let status = prompt.fetch.wait(crate::support::STEP);
    assert_eq!(status.signal(), Some(libc::SIGINT), "ends by the signal");
    assert!(prompt.echoes(), "the terminal echoes again");
    let (_, stderr, _) = prompt.end();
    assert!(server.requests().is_empty(), "nothing was sent");
    assert_no_secret("stderr", &stderr);
    assert_eq!(dir.entries(), Vec::<String>::new());
}

#[test]
fn after_a_redirect_another_host_gets_its_own_netrc_machine_entry_only() {
    let other = serving_ok();
    let elsewhere = format!("http://localhost:{}/there", other.addr.port());
    let first = Scripted::start(move |_| {
        vec![send(format!(
            "HTTP/1.1 302 Found\r\nLocation: {elsewhere}\r\nContent-Length: 0\r\n\r\n"
        ))]
    });
    let dir = Dir::empty();
    dir.write(
        "default-only",
        "machine 127.0.0.1 login alice password s3cret\ndefault login any password body\n",
    );
    dir.write(
        "with-machine",
        "machine 127.0.0.1 login alice password s3cret\nmachine localhost login bob password b0b\n",
    );
    for rc in ["default-only", "with-machine"] {
        let output = dir.fetch(&[&first.url("/"), "-o", "out", "--netrc-file", rc]);
        assert_eq!(code(&output), 0, "{rc}: {}", text(&output.stderr));
    }
    assert_eq!(authorizations(&first), [ALICE, ALICE]);
    assert_eq!(
        authorizations(&other),
        ["", "Authorization: Basic Ym9iOmIwYg==\r\n"],
        "a default entry never follows a redirect; a machine entry for the host does"
    );
}
