//! Credentials: which user name and password a fetch sends, and how.
//!
//! They come from `-u/--user`, from the URL (`http://user:pass@host/`), or
//! from a `.netrc` ([`netrc`](super::netrc)), and are sent with HTTP Basic
//! authentication (RFC 7617), the only scheme sockdemo speaks: the
//! `Authorization` field of every request to the origin the fetch started
//! at, and to no other (the redirect rule, [`crate::http::goes_to`]); after
//! a redirect to another host, only that host's own `.netrc` `machine`
//! entry ([`PerOrigin`]). A `-H Authorization` the user writes wins over
//! them, as in curl.
//!
//! Which one applies ([`choose`]), as curl decides it:
//!
//! 1. `-u` wins over everything.
//! 2. With `-n/--netrc` (or `--netrc-file`), the `.netrc` entry for the
//!    host wins over the URL's credentials.
//! 3. With `--netrc-optional`, the URL's credentials win; a URL with a user
//!    name but no password takes the password from the `.netrc` entry of
//!    that login.
//! 4. Otherwise the URL's credentials (a user alone has an empty password).
//!
//! Credentials never appear in a message, a log line, `-v` (which shows
//! `Authorization: Basic [hidden]`), `--write-out` or the `.part.meta`
//! file: the URL they came with is stripped of them when it is parsed, and
//! [`Credentials`] has no `Display` and a `Debug` that hides them. What is
//! here is pure but for [`read_netrc`] and [`ask_password`].

use std::fmt;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use log::warn;
use url::Url;

use super::netrc::Netrc;
use crate::exit::{Code, fail, fail_with};
use crate::http::same_origin;
use crate::platform::tty;

/// A user name and password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    user: String,
    password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Written by hand so that a password never reaches a log.
        f.write_str("Credentials([hidden])")
    }
}

impl Credentials {
    /// A user name and its password.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            user: user.into(),
            password: password.into(),
        }
    }

    /// The value of an `Authorization` (or `Proxy-Authorization`) field for
    /// Basic authentication: `Basic ` and base64 of `user:password`.
    pub fn basic(&self) -> String {
        format!(
            "Basic {}",
            BASE64.encode(format!("{}:{}", self.user, self.password))
        )
    }
}

/// A user name, with the password if one was given (`-u USER:PASSWORD`, a
/// URL's `user:pass@`).
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The user name.
    pub name: String,
    /// The password; `None` when only a user name was given.
    pub password: Option<String>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("password", &self.password.as_ref().map(|_| "[hidden]"))
            .finish()
    }
}

impl User {
    /// Splits a `-u`/`-U` argument at its first colon, as curl does: a
    /// password may hold colons, a user name cannot.
    pub fn parse(argument: &str) -> User {
        match argument.split_once(':') {
            Some((name, password)) => User {
                name: name.to_owned(),
                password: Some(password.to_owned()),
            },
            None => User {
                name: argument.to_owned(),
                password: None,
            },
        }
    }

    /// The credentials, when the password is known.
    fn complete(&self) -> Option<Credentials> {
        self.password
            .as_ref()
            .map(|password| Credentials::new(&self.name, password))
    }
}

/// The credentials each request of a fetch sends: those chosen for the
/// origin it started at, and, after a redirect to another origin, the
/// `.netrc` `machine` entry of that host if the file was read (its
/// credentials are given for that host), else none.
#[derive(Debug, Clone, Default)]
pub struct PerOrigin {
    /// For the origin the fetch started at.
    pub first: Option<Credentials>,
    /// The `.netrc` (`-n`, `--netrc-file`, `--netrc-optional`), for other hosts.
    pub netrc: Option<Netrc>,
}

impl PerOrigin {
    /// The credentials for a request to `url`, in a fetch that started at
    /// `first_url`.
    pub fn for_url(&self, url: &Url, first_url: &Url) -> Option<Credentials> {
        if same_origin(url, first_url) {
            return self.first.clone();
        }
        // A machine entry only: `default` serves the hosts the user named,
        // not every host a server redirects to.
        let entry = self.netrc.as_ref()?.machine(url.host_str()?, None)?;
        Some(Credentials::new(
            entry.login.clone()?,
            entry.password.clone().unwrap_or_default(),
        ))
    }
}

/// Whether and how the `.netrc` is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetrcUse {
    /// Not read (the default).
    #[default]
    Off,
    /// Read: `file` is `--netrc-file`, or `None` for `$NETRC` or
    /// `~/.netrc`. `optional` (`--netrc-optional`): a missing file is no
    /// error, and the URL's credentials win over it.
    On {
        /// `--netrc-file`.
        file: Option<PathBuf>,
        /// `--netrc-optional`.
        optional: bool,
    },
}

/// What the command line says about credentials.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-u/--user`.
    pub user: Option<User>,
    /// `-U/--proxy-user`.
    pub proxy_user: Option<User>,
    /// `-n`, `--netrc-file`, `--netrc-optional`.
    pub netrc: NetrcUse,
}

/// The credentials for a fetch of `host`: from `-u` (`flag`), the URL
/// (`url`) or the `.netrc` (`netrc`, read with `netrc_first` for `-n`), in
/// the order the module documentation gives.
pub fn choose(
    flag: Option<&Credentials>,
    url: Option<&User>,
    netrc: Option<&Netrc>,
    netrc_first: bool,
    host: &str,
) -> Option<Credentials> {
    if let Some(flag) = flag {
        return Some(flag.clone());
    }
    let login = url.map(|user| user.name.as_str());
    let from_netrc = netrc
        .and_then(|netrc| netrc.lookup(host, login))
        .and_then(|entry| {
            let user = entry.login.as_deref().or(login)?;
            Some(Credentials::new(
                user,
                entry.password.clone().unwrap_or_default(),
            ))
        });
    let complete = url.and_then(User::complete);
    let user_alone = url.map(|user| Credentials::new(&user.name, ""));
    if netrc_first {
        from_netrc.or(complete).or(user_alone)
    } else {
        complete.or(from_netrc).or(user_alone)
    }
}

/// The credentials a fetch of `first_url` sends, with `url` the user name
/// and password its TARGET held: [`choose`] over `-u` (its password asked
/// for if missing) and the `.netrc` the options name, which also serves the
/// hosts redirects lead to.
pub fn resolve(
    options: &Options,
    url: Option<&User>,
    first_url: &Url,
) -> anyhow::Result<PerOrigin> {
    Ok(Settled::new(options)?.for_target(url, first_url))
}

/// What the command line's credentials come to once settled: `-u` with
/// its password (asked for at most once in a run), or the `.netrc` read.
#[derive(Debug, Clone, Default)]
pub struct Settled {
    flag: Option<Credentials>,
    netrc: Option<Netrc>,
    netrc_first: bool,
}

impl Settled {
    /// Completes `-u` and reads the `.netrc`, as `options` say.
    pub fn new(options: &Options) -> anyhow::Result<Settled> {
        if let Some(user) = &options.user {
            return Ok(Settled {
                flag: Some(complete(user, "-u", "host")?),
                ..Settled::default()
            });
        }
        Ok(Settled {
            flag: None,
            netrc: read_netrc(&options.netrc, |name| std::env::var(name).ok())?,
            netrc_first: matches!(
                options.netrc,
                NetrcUse::On {
                    optional: false,
                    ..
                }
            ),
        })
    }

    /// The credentials of a fetch of `first_url`, whose TARGET held `url`.
    pub fn for_target(&self, url: Option<&User>, first_url: &Url) -> PerOrigin {
        if let Some(flag) = &self.flag {
            return PerOrigin {
                first: Some(flag.clone()),
                netrc: None,
            };
        }
        let host = first_url.host_str().unwrap_or_default();
        PerOrigin {
            first: choose(None, url, self.netrc.as_ref(), self.netrc_first, host),
            netrc: self.netrc.clone(),
        }
    }
}

/// The `Proxy-Authorization` value of `-U/--proxy-user`, if given: it
/// replaces the credentials of the proxy URL.
pub fn resolve_proxy(options: &Options) -> anyhow::Result<Option<String>> {
    options
        .proxy_user
        .as_ref()
        .map(|user| complete(user, "-U", "proxy").map(|credentials| credentials.basic()))
        .transpose()
}

/// Completes a `-u`/`-U` argument (`flag`): with its password as given,
/// or, when it has none, the password of the `whose` ("host", "proxy")
/// typed at the terminal, without echo. Without a terminal on stdin it is
/// a usage error, since nothing could be typed.
pub fn complete(user: &User, flag: &str, whose: &str) -> anyhow::Result<Credentials> {
    if let Some(credentials) = user.complete() {
        return Ok(credentials);
    }
    if !io::stdin().is_terminal() {
        return Err(fail(
            Code::Usage,
            format!(
                "{flag} {} has no password, and there is no terminal to ask for one: write {flag} USER:PASSWORD",
                user.name
            ),
        ));
    }
    ask_password(&user.name, whose).map(|password| Credentials::new(&user.name, password))
}

/// Asks for the password of `user` on the terminal (`/dev/tty`, never
/// stdin, which may be the input of something else), as curl asks.
fn ask_password(user: &str, whose: &str) -> anyhow::Result<String> {
    tty::read_password(&format!("Enter {whose} password for user '{user}': "))
        .map_err(|err| fail_with(Code::Usage, "asking for a password on /dev/tty", err))
}

/// Reads the `.netrc` that `netrc` names (`$NETRC` or `~/.netrc` by
/// default); `None` when it is not to be read, or when it is missing and
/// that is allowed. `env` gives the process's variables.
pub fn read_netrc(
    netrc: &NetrcUse,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<Netrc>> {
    let NetrcUse::On { file, optional } = netrc else {
        return Ok(None);
    };
    let (path, named) = match file {
        Some(file) => (file.clone(), true),
        None => match default_netrc(&env) {
            Some(path) => (path, false),
            None => {
                if !optional {
                    warn!("no .netrc to read: neither $NETRC nor $HOME is set");
                }
                return Ok(None);
            }
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound && (*optional || !named) => {
            if !optional {
                warn!("{} does not exist: no credentials from it", path.display());
            }
            return Ok(None);
        }
        Err(err) => {
            return Err(fail_with(
                Code::ReadError,
                format!("reading {}", path.display()),
                err,
            ));
        }
    };
    Netrc::parse(&text)
        .map(Some)
        .map_err(|err| fail_with(Code::ReadError, format!("reading {}", path.display()), err))
}

/// `$NETRC`, or `.netrc` in `$HOME`.
fn default_netrc(env: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    env("NETRC")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|home| Path::new(&home).join(".netrc")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(argument: &str) -> User {
        User::parse(argument)
    }

    #[test]
    fn basic_is_base64_of_user_colon_password() {
        // RFC 7617 section 2's example.
        assert_eq!(
            Credentials::new("Aladdin", "open sesame").basic(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(Credentials::new("u", "").basic(), "Basic dTo=");
        assert_eq!(
            format!("{:?}", Credentials::new("u", "s3cret")),
            "Credentials([hidden])"
        );
        assert!(!format!("{:?}", user("u:s3cret")).contains("s3cret"));
    }

    #[test]
    fn a_user_argument_splits_at_its_first_colon() {
        let split = user("alice:pa:ss");
        assert_eq!(split.name, "alice");
        assert_eq!(split.password.as_deref(), Some("pa:ss"));
        assert_eq!(user("alice:").password.as_deref(), Some(""));
        assert_eq!(user("alice").password, None);
    }

    #[test]
    fn u_wins_then_netrc_with_n_then_the_url() {
        let netrc =
            Netrc::parse("machine h login n password np\nmachine h login url password fromrc")
                .unwrap();
        let flag = Credentials::new("flag", "fp");
        let url = user("url:up");
        fn pick(
            flag: Option<&Credentials>,
            url: Option<&User>,
            netrc: Option<&Netrc>,
            first: bool,
        ) -> Option<Credentials> {
            choose(flag, url, netrc, first, "h")
        }
        assert_eq!(
            pick(Some(&flag), Some(&url), Some(&netrc), true),
            Some(flag)
        );
        assert_eq!(
            pick(None, Some(&url), Some(&netrc), true),
            Some(Credentials::new("url", "fromrc")),
            "-n: the netrc entry of the URL's login"
        );
        assert_eq!(
            pick(None, Some(&url), Some(&netrc), false),
            Some(Credentials::new("url", "up")),
            "--netrc-optional: the URL's"
        );
        assert_eq!(
            pick(None, Some(&user("url")), Some(&netrc), false),
            Some(Credentials::new("url", "fromrc")),
            "a user alone takes its password from the netrc"
        );
        assert_eq!(
            pick(None, None, Some(&netrc), true),
            Some(Credentials::new("n", "np"))
        );
        assert_eq!(
            pick(None, Some(&user("someone")), None, false),
            Some(Credentials::new("someone", "")),
            "a user alone has an empty password, as in curl"
        );
        assert_eq!(pick(None, None, None, false), None);
        assert_eq!(choose(None, None, Some(&netrc), true, "other"), None);
    }

    #[test]
    fn another_origin_gets_its_own_netrc_entry_or_nothing() {
        let url = |text: &str| Url::parse(text).unwrap();
        let netrc =
            Netrc::parse("machine cdn login c password cp\nmachine first login f password fp")
                .unwrap();
        let per = PerOrigin {
            first: Some(Credentials::new("u", "p")),
            netrc: Some(netrc),
        };
        let first = url("http://first/a");
        assert_eq!(
            per.for_url(&url("http://first/b"), &first),
            Some(Credentials::new("u", "p"))
        );
        assert_eq!(
            per.for_url(&url("https://cdn/x"), &first),
            Some(Credentials::new("c", "cp"))
        );
        assert_eq!(
            per.for_url(&url("http://first:8080/"), &first),
            Some(Credentials::new("f", "fp")),
            "the file names hosts, not ports"
        );
        assert_eq!(
            per.for_url(&url("http://other/"), &first),
            None,
            "no default entry"
        );
        let without = PerOrigin { netrc: None, ..per };
        assert_eq!(
            without.for_url(&url("https://cdn/x"), &first),
            None,
            "-u goes to its origin alone"
        );
    }

    #[test]
    fn the_netrc_is_netrc_then_home_and_a_missing_default_is_no_error() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_str().unwrap().to_owned();
        let on = |file: Option<PathBuf>, optional| NetrcUse::On { file, optional };
        assert_eq!(read_netrc(&NetrcUse::Off, |_| None).unwrap(), None);
        let env_home = |name: &str| (name == "HOME").then(|| home.clone());
        assert_eq!(read_netrc(&on(None, false), env_home).unwrap(), None);
        std::fs::write(dir.path().join(".netrc"), "machine h login a password b").unwrap();
        let read = read_netrc(&on(None, false), env_home).unwrap().unwrap();
        assert!(read.lookup("h", None).is_some());
        let other = dir.path().join("other");
        std::fs::write(&other, "machine o login a password b").unwrap();
        let env_netrc = |name: &str| match name {
            "NETRC" => Some(other.to_str().unwrap().to_owned()),
            "HOME" => Some(home.clone()),
            _ => None,
        };
        let read = read_netrc(&on(None, false), env_netrc).unwrap().unwrap();
        assert!(read.lookup("o", None).is_some(), "$NETRC first");
        let missing = dir.path().join("missing");
        let err = read_netrc(&on(Some(missing.clone()), false), |_| None).unwrap_err();
        assert_eq!(Code::of(&err), Code::ReadError, "a file named must exist");
        assert_eq!(
            read_netrc(&on(Some(missing), true), |_| None).unwrap(),
            None
        );
        std::fs::write(&other, "machine o password \"s3cret").unwrap();
        let err = read_netrc(&on(Some(other), true), |_| None).unwrap_err();
        assert_eq!(Code::of(&err), Code::ReadError);
        assert!(!format!("{err:#}").contains("s3cret"), "{err:#}");
    }
}
