//! The `.netrc` file (`-n/--netrc`, `--netrc-file`): which login and
//! password go with a host, as curl and wget read it.
//!
//! The file is a list of words separated by blanks and line ends:
//! `machine HOST` starts an entry, `default` starts the entry for any
//! other host (it is looked at last, wherever it stands), and within an
//! entry `login NAME`, `password SECRET` and `account X` (read, not used)
//! give its parts. `macdef NAME` defines an ftp macro, which runs to the
//! next empty line and is skipped. A word may be written in double quotes,
//! with `\"` and `\\` inside, so that it can hold blanks; a `#` at the
//! start of a word comments out the rest of its line.
//!
//! Everything here is pure: the caller reads the file, and no message
//! ever holds a password.

use std::fmt;

/// One entry of the file: a host's login and password.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// The login (`None` when the entry gives none).
    pub login: Option<String>,
    /// The password (`None` when the entry gives none).
    pub password: Option<String>,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Written by hand so that a password never reaches a log.
        f.debug_struct("Entry")
            .field("login", &self.login)
            .field("password", &self.password.as_ref().map(|_| "[hidden]"))
            .finish()
    }
}

/// A parsed `.netrc`: the entries of named hosts in order, and the
/// `default` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Netrc {
    machines: Vec<(String, Entry)>,
    default: Option<Entry>,
}

/// Why a `.netrc` cannot be read: a word that needs a value ends the file,
/// or a quoted word is not closed. Never shows a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetrcError {
    /// The line the problem is on, from 1.
    pub line: usize,
    /// What is wrong.
    pub what: &'static str,
}

impl fmt::Display for NetrcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

impl std::error::Error for NetrcError {}

/// Where the next value goes.
enum Slot {
    Machine,
    Login,
    Password,
    Account,
    Macdef,
}

/// The entry being read.
enum Current {
    None,
    Machine(String, Entry),
    Default(Entry),
}

impl Netrc {
    /// Parses the text of a `.netrc`.
    pub fn parse(text: &str) -> Result<Netrc, NetrcError> {
        let mut netrc = Netrc::default();
        let mut current = Current::None;
        let mut words = Words::new(text);
        while let Some(word) = words.next_word()? {
            let slot = match word.as_str() {
                "machine" => Slot::Machine,
                "default" => {
                    netrc.close(std::mem::replace(
                        &mut current,
                        Current::Default(Entry::empty()),
                    ));
                    continue;
                }
                "login" => Slot::Login,
                "password" => Slot::Password,
                "account" => Slot::Account,
                "macdef" => Slot::Macdef,
                // An unknown word is skipped, as curl does.
                _ => continue,
            };
            let line = words.line;
            let value = words.next_word()?.ok_or(NetrcError {
                line,
                what: match slot {
                    Slot::Machine => "\"machine\" without a host name",
                    Slot::Login => "\"login\" without a name",
                    Slot::Password => "\"password\" without a value",
                    Slot::Account => "\"account\" without a value",
                    Slot::Macdef => "\"macdef\" without a name",
                },
            })?;
            let entry = match &mut current {
                Current::Machine(_, entry) | Current::Default(entry) => Some(entry),
                Current::None => None,
            };
            match (slot, entry) {
                (Slot::Machine, _) => netrc.close(std::mem::replace(
                    &mut current,
                    Current::Machine(value.to_ascii_lowercase(), Entry::empty()),
                )),
                (Slot::Login, Some(entry)) => entry.login = Some(value),
                (Slot::Password, Some(entry)) => entry.password = Some(value),
                (Slot::Macdef, _) => words.skip_macro(),
                // Outside an entry, or an account: nothing to keep.
                _ => {}
            }
        }
        netrc.close(current);
        Ok(netrc)
    }

    /// Keeps a finished entry.
    fn close(&mut self, entry: Current) {
        match entry {
            Current::None => {}
            Current::Machine(host, entry) => self.machines.push((host, entry)),
            // The first `default` counts, as in curl.
            Current::Default(entry) => {
                self.default.get_or_insert(entry);
            }
        }
    }

    /// The entry for `host` (any case): the first `machine` of that name,
    /// or else `default`. With `login` (a user name given in the URL) only
    /// an entry with that login, or none, will do.
    pub fn lookup(&self, host: &str, login: Option<&str>) -> Option<&Entry> {
        self.machine(host, login)
            .or(self.default.as_ref().filter(|entry| fits(entry, login)))
    }

    /// The first `machine` entry for `host` (any case), never `default`:
    /// with `login`, only one with that login, or none, will do.
    pub fn machine(&self, host: &str, login: Option<&str>) -> Option<&Entry> {
        self.machines
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(host))
            .map(|(_, entry)| entry)
            .find(|entry| fits(entry, login))
    }
}

/// Whether an entry may serve a URL that names `login`.
fn fits(entry: &Entry, login: Option<&str>) -> bool {
    match (login, &entry.login) {
        (Some(wanted), Some(has)) => wanted == has,
        _ => true,
    }
}

impl Entry {
    fn empty() -> Entry {
        Entry {
            login: None,
            password: None,
        }
    }
}

/// The words of a `.netrc`, with the line each is on.
struct Words<'a> {
    rest: &'a str,
    line: usize,
}

impl<'a> Words<'a> {
    fn new(text: &'a str) -> Words<'a> {
        Words {
            rest: text,
            line: 1,
        }
    }

    /// The next word, unquoted; `None` at the end of the file.
    fn next_word(&mut self) -> Result<Option<String>, NetrcError> {
        loop {
            let Some(first) = self.rest.chars().next() else {
                return Ok(None);
            };
            match first {
                '\n' => {
                    self.line += 1;
                    self.advance(1);
                }
                c if c.is_whitespace() => self.advance(c.len_utf8()),
                '#' => {
                    let end = self.rest.find('\n').unwrap_or(self.rest.len());
                    self.advance(end);
                }
                '"' => return self.quoted().map(Some),
                _ => {
                    let end = self
                        .rest
                        .find(char::is_whitespace)
                        .unwrap_or(self.rest.len());
                    let word = self.rest[..end].to_owned();
                    self.advance(end);
                    return Ok(Some(word));
                }
            }
        }
    }

    /// A word in double quotes, the opening quote next.
    fn quoted(&mut self) -> Result<String, NetrcError> {
        let mut word = String::new();
        let mut chars = self.rest.char_indices().skip(1);
        while let Some((at, c)) = chars.next() {
            match c {
                '"' => {
                    self.advance(at + 1);
                    return Ok(word);
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => word.push('\n'),
                    Some((_, 'r')) => word.push('\r'),
                    Some((_, 't')) => word.push('\t'),
                    Some((_, escaped)) => word.push(escaped),
                    None => break,
                },
                '\n' => break,
                c => word.push(c),
            }
        }
        Err(NetrcError {
            line: self.line,
            what: "a quoted word is not closed on its line",
        })
    }

    /// Skips a macro definition: up to the next empty line.
    fn skip_macro(&mut self) {
        match self.rest.find("\n\n") {
            Some(end) => {
                self.line += self.rest[..end].matches('\n').count();
                self.advance(end);
            }
            None => self.rest = "",
        }
    }

    fn advance(&mut self, bytes: usize) {
        self.rest = &self.rest[bytes..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(login: &str, password: &str) -> Entry {
        Entry {
            login: Some(login.to_owned()),
            password: Some(password.to_owned()),
        }
    }

    #[test]
    fn a_host_gets_its_machine_entry_or_the_default() {
        let netrc = Netrc::parse(
            "# my hosts\nmachine example.com login alice password s3cret\n\
             default login anon password guest\n\
             machine other.test\n  login bob\n  password \"two words\"\n",
        )
        .unwrap();
        assert_eq!(
            netrc.lookup("Example.COM", None),
            Some(&entry("alice", "s3cret"))
        );
        assert_eq!(
            netrc.lookup("other.test", None),
            Some(&entry("bob", "two words"))
        );
        assert_eq!(
            netrc.lookup("elsewhere", None),
            Some(&entry("anon", "guest"))
        );
        assert_eq!(
            Netrc::parse("machine a login b").unwrap().lookup("c", None),
            None
        );
        assert_eq!(netrc.machine("elsewhere", None), None, "never the default");
        assert_eq!(
            netrc.machine("other.test", None),
            Some(&entry("bob", "two words"))
        );
    }

    #[test]
    fn a_login_from_the_url_chooses_among_entries() {
        let netrc =
            Netrc::parse("machine h login alice password a\nmachine h login bob password b\n")
                .unwrap();
        assert_eq!(netrc.lookup("h", Some("bob")), Some(&entry("bob", "b")));
        assert_eq!(netrc.lookup("h", Some("alice")), Some(&entry("alice", "a")));
        assert_eq!(netrc.lookup("h", Some("carol")), None);
        assert_eq!(netrc.lookup("h", None), Some(&entry("alice", "a")));
    }

    #[test]
    fn quotes_comments_macros_and_accounts_are_read_as_curl_does() {
        let netrc = Netrc::parse(
            "macdef init\ncd /pub\nmachine fake login x password y\n\n\
             machine h account acc login \"a \\\"b\\\"\" password p\\w # not a comment\n",
        )
        .unwrap();
        assert_eq!(netrc.lookup("fake", None), None, "inside the macro");
        assert_eq!(netrc.lookup("h", None), Some(&entry("a \"b\"", "p\\w")));
        assert_eq!(Netrc::parse("").unwrap(), Netrc::default());
        assert_eq!(
            Netrc::parse("   # only a comment\n").unwrap(),
            Netrc::default()
        );
    }

    #[test]
    fn a_missing_value_names_its_line_and_never_a_password() {
        let err = Netrc::parse("machine h\nlogin alice\npassword").unwrap_err();
        assert_eq!(err.to_string(), "line 3: \"password\" without a value");
        let err = Netrc::parse("machine h password \"s3cret\nlogin x").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert!(!format!("{:?}", entry("u", "s3cret")).contains("s3cret"));
    }
}
