//! The shell completion scripts and the manual page, generated from the
//! same definitions as `--help`, so they cannot drift from it.

use std::io::{self, Write};

use clap::{Command, CommandFactory};
use clap_complete::Shell;
use clap_mangen::Man;

use super::{Cli, EXIT_CODES_HEADING};

/// The completion script of the whole command line for `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "sockdemo", &mut script);
    script
}

/// The manual page, in roff: one page for the whole program (`sockdemo.1`).
/// Its top sections describe the command line as `sockdemo --help` does;
/// then each subcommand has a section of its own, with what its `--help`
/// shows (description, synopsis, options, examples) as subsections.
pub fn man_page() -> Vec<u8> {
    let mut command = Cli::command();
    command.build();
    let top = Man::new(command.clone());
    let mut page = ManPage::new(&top);
    page.section(".SH NAME", |out| top.render_name_section(out));
    page.section(".SH SYNOPSIS", |out| top.render_synopsis_section(out));
    page.section(".SH DESCRIPTION", |out| top.render_description_section(out));
    page.section(".SH OPTIONS", |out| top.render_options_section(out));
    for sub in command
        .get_subcommands()
        .filter(|sub| sub.get_name() != "help")
    {
        let man = Man::new(sub.clone());
        page.line(&format!(
            ".SH \"SOCKDEMO {}\"",
            sub.get_name().to_uppercase()
        ));
        page.section(".SS DESCRIPTION", |out| man.render_description_section(out));
        page.section(".SS SYNOPSIS", |out| man.render_synopsis_section(out));
        page.section(".SS OPTIONS", |out| man.render_options_section(out));
        let Some(after_help) = sub.get_after_help().map(ToString::to_string) else {
            continue;
        };
        // `--help` ends with the examples, then the exit codes: two sections here.
        let (examples, exit_codes) = match after_help.find(&format!("\n\n{EXIT_CODES_HEADING}")) {
            Some(at) => (&after_help[..at], Some(&after_help[at + 2..])),
            None => (after_help.as_str(), None),
        };
        let man = Man::new(sub.clone().after_help(examples.to_owned()));
        page.section(".SS EXAMPLES", |out| man.render_extra_section(out));
        if let Some(exit_codes) = exit_codes {
            let man = Man::new(Command::new("sockdemo").after_help(exit_codes.to_owned()));
            page.section(".SS \"EXIT STATUS\"", |out| man.render_extra_section(out));
        }
    }
    page.section(".SH \"EXIT STATUS\"", |out| top.render_extra_section(out));
    page.line(".SH ENVIRONMENT");
    page.tagged(ENVIRONMENT);
    page.line(".SH FILES");
    page.tagged(FILES);
    page.section(".SH VERSION", |out| top.render_version_section(out));
    page.line(".SH \"SEE ALSO\"");
    page.line(SEE_ALSO);
    page.text
}

/// The environment variables sockdemo reads, and what each does.
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "http_proxy",
        "fetch: the proxy for http URLs, unless -x is given (lower case only, as in curl: a CGI program gets a request's Proxy header as HTTP_PROXY)",
    ),
    (
        "https_proxy, HTTPS_PROXY",
        "fetch: the proxy for https URLs, reached with a CONNECT tunnel, unless -x is given",
    ),
    (
        "all_proxy, ALL_PROXY",
        "fetch: the proxy for either scheme when the variable of its own is not set",
    ),
    (
        "no_proxy, NO_PROXY",
        "fetch: the hosts reached directly, unless --noproxy is given: * for all, a domain and the names under it, an IP address or a CIDR block, each optionally with :PORT",
    ),
    (
        "CURL_CA_BUNDLE",
        "fetch: the file of CA certificates to trust, unless --cacert is given",
    ),
    (
        "SSL_CERT_FILE, SSL_CERT_DIR",
        "fetch: the file and the directories (separated by colons) of CA certificates to trust, unless --cacert or CURL_CA_BUNDLE is given; with none of these, the system's store",
    ),
    (
        "NETRC",
        "fetch: the .netrc file that -n and --netrc-optional read, instead of ~/.netrc",
    ),
    ("HOME", "fetch: where ~/.netrc is"),
    (
        "MALLOC_ARENA_MAX, GLIBC_TUNABLES",
        "serve, client's load mode: glibc's limit on malloc arenas (or glibc.malloc.arena_max among the tunables); when set, it is kept instead of sockdemo's own of one a core, at most 4, and counted in the capacity rule",
    ),
    (
        "RUST_LOG",
        "the log filter, which overrides -v and -q: a level (debug) or per module (sockdemo=trace,rustls=debug); log lines are then timestamped. Without it, -v and -vv raise sockdemo's own level only",
    ),
    (
        "NO_COLOR",
        "when set and not empty, --help is printed without colour (it is coloured on a terminal); nothing else sockdemo writes has colour",
    ),
];

/// The files sockdemo reads of its own accord.
const FILES: &[(&str, &str)] = &[
    (
        "~/.netrc",
        "fetch: the user names and passwords of hosts (machine, login, password), read with -n or --netrc-optional unless NETRC names another file; Basic authentication only",
    ),
    (
        "/etc/ssl/certs",
        "fetch: the system's CA certificates (where OpenSSL keeps them: on Debian, /etc/ssl/certs/ca-certificates.crt), trusted when neither --cacert nor a variable above names others",
    ),
];

/// Related manual pages.
const SEE_ALSO: &str = ".BR curl (1),\n.BR wget (1),\n.BR nc (1)";

/// A man page put together from clap_mangen's sections, under headings of
/// its own: clap_mangen's one-page `render` would refer to a page per
/// subcommand (`sockdemo-serve(1)`) that nobody installs.
struct ManPage {
    text: Vec<u8>,
    /// The string definitions every rendering starts with; the page needs
    /// them once, before its title.
    preamble: Vec<u8>,
}

impl ManPage {
    /// A page that starts with the title of `man`.
    fn new(man: &Man) -> ManPage {
        let text = render(|out| man.render_title(out));
        let title = text
            .windows(4)
            .position(|bytes| bytes == b".TH ")
            .expect("clap_mangen renders a title line");
        ManPage {
            preamble: text[..title].to_vec(),
            text,
        }
    }

    /// Adds a paragraph for each `(tag, text)`, the tag in bold above it.
    fn tagged(&mut self, entries: &[(&str, &str)]) {
        for (tag, text) in entries {
            self.line(".TP");
            self.line(&format!("\\fB{}\\fR", escape(tag)));
            self.line(&escape(text));
        }
    }

    fn line(&mut self, line: &str) {
        self.text.extend_from_slice(line.as_bytes());
        self.text.push(b'\n');
    }

    /// Adds the section `renderer` renders, under `heading` instead of its own.
    fn section(&mut self, heading: &str, renderer: impl FnOnce(&mut dyn Write) -> io::Result<()>) {
        let text = render(renderer);
        let section = text.strip_prefix(self.preamble.as_slice()).unwrap_or(&text);
        let body = section
            .splitn(2, |&byte| byte == b'\n')
            .nth(1)
            .unwrap_or_default();
        self.line(heading);
        self.text.extend_from_slice(body);
    }
}

/// Text as roff prints it: a backslash and a hyphen spelt out, and a
/// line that would start with a control character made plain text.
fn escape(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// Runs one of clap_mangen's renderers into a buffer, which cannot fail.
fn render(renderer: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Vec<u8> {
    let mut text = Vec::new();
    renderer(&mut text).expect("writing to a Vec cannot fail");
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Command;
    use crate::exit::Code;
    use clap::Parser;

    /// The subcommands `--help` lists, `help` aside.
    fn subcommands() -> Vec<String> {
        let names: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|sub| sub.get_name().to_owned())
            .collect();
        assert_eq!(names, ["serve", "client", "fetch", "completions", "man"]);
        names
    }

    #[test]
    fn every_shell_completes_every_subcommand() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let script = String::from_utf8(completions(shell)).expect("a script is UTF-8");
            assert!(!script.is_empty(), "no {shell} script");
            for name in subcommands() {
                assert!(
                    mentions(&script, &name),
                    "the {shell} script does not mention {name}"
                );
            }
            // A flag of each kind of subcommand: the scripts go below the top level.
            for flag in ["max-connections", "rounds", "connect-timeout"] {
                assert!(script.contains(flag), "the {shell} script lacks {flag}");
            }
        }
    }

    /// Whether `word` occurs in `text` as a word of its own (`man`, not in
    /// `command`).
    fn mentions(text: &str, word: &str) -> bool {
        let part_of_a_word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
        text.match_indices(word).any(|(at, _)| {
            let before = text[..at].chars().next_back();
            let after = text[at + word.len()..].chars().next();
            !before.is_some_and(part_of_a_word) && !after.is_some_and(part_of_a_word)
        })
    }

    #[test]
    fn a_word_is_not_part_of_another() {
        assert!(mentions("opts=\"serve man help\"", "man"));
        assert!(mentions("sockdemo,man)", "man"));
        assert!(!mentions("a command, the manual", "man"));
        assert!(!mentions("--max-connections-x", "max-connections"));
    }

    #[test]
    fn the_man_page_documents_every_subcommand() {
        let page = String::from_utf8(man_page()).expect("the page is UTF-8");
        assert!(page.contains("\n.TH sockdemo 1 "), "no title: {page}");
        for name in subcommands() {
            let heading = format!(".SH \"SOCKDEMO {}\"", name.to_uppercase());
            assert_eq!(page.matches(&heading).count(), 1, "{heading} once");
        }
        for flag in ["max\\-connections", "rounds", "connect\\-timeout", "cacert"] {
            assert!(page.contains(flag), "the page lacks {flag}");
        }
        let exit_status = &page[page.find(".SH \"EXIT STATUS\"").expect("an exit status")..];
        for code in Code::ALL {
            // roff escapes a hyphen as `\-` and names the apostrophe `\*(Aq`.
            let meaning = code.meaning().replace('-', "\\-").replace('\'', "\\*(Aq");
            assert!(exit_status.contains(&meaning), "{} is missing", code as u8);
        }
        let sections: Vec<&str> = page
            .lines()
            .filter(|line| line.starts_with(".SH "))
            .collect();
        assert_eq!(
            sections[sections.len() - 5..],
            [
                ".SH \"EXIT STATUS\"",
                ".SH ENVIRONMENT",
                ".SH FILES",
                ".SH VERSION",
                ".SH \"SEE ALSO\""
            ]
        );
        assert_eq!(sections.len(), 4 + 5 + 5, "{sections:#?}");
        assert!(
            !page.contains("sockdemo\\-") && !page.contains(".BR sockdemo"),
            "a reference to a page of its own: {page}"
        );
        let see_also = &page[page.find(".SH \"SEE ALSO\"").expect("see also")..];
        for other in ["curl", "wget", "nc"] {
            assert!(see_also.contains(&format!(".BR {other} (1)")), "{other}");
        }
    }

    /// The text of the part of `page` that starts at `heading`, up to the
    /// next heading of the same or a higher level.
    fn part<'a>(page: &'a str, heading: &str) -> &'a str {
        let start = page.find(heading).unwrap_or_else(|| panic!("no {heading}"));
        let rest = &page[start + heading.len()..];
        let end = rest.find("\n.SH ").unwrap_or(rest.len());
        let end = if heading.starts_with(".SS") {
            end.min(rest.find("\n.SS ").unwrap_or(rest.len()))
        } else {
            end
        };
        &rest[..end]
    }

    #[test]
    fn each_subcommand_has_its_exit_status_apart_from_its_examples() {
        let page = String::from_utf8(man_page()).expect("the page is UTF-8");
        let codes_of = |name: &str| {
            let section = part(&page, &format!(".SH \"SOCKDEMO {}\"", name.to_uppercase()));
            let examples = part(section, ".SS EXAMPLES");
            assert!(!examples.contains("Exit codes"), "{name}: {examples}");
            let status = part(section, ".SS \"EXIT STATUS\"");
            status
                .lines()
                .filter_map(|line| line.split_whitespace().next()?.parse::<u8>().ok())
                .collect::<Vec<u8>>()
        };
        assert_eq!(codes_of("serve"), [0, 1, 2]);
        assert_eq!(codes_of("man"), [0, 2, 23]);
        assert_eq!(codes_of("completions"), [0, 2, 23]);
        assert!(codes_of("client").contains(&130));
        let fetch = codes_of("fetch");
        assert!(fetch.contains(&22) && fetch.contains(&77) && !fetch.contains(&130));
    }

    #[test]
    fn the_environment_section_lists_the_variables() {
        let page = String::from_utf8(man_page()).expect("the page is UTF-8");
        let environment = part(&page, ".SH ENVIRONMENT");
        for (names, _) in ENVIRONMENT {
            for name in names.split(", ") {
                assert!(environment.contains(name), "{name}");
            }
        }
        for name in [
            "http_proxy",
            "https_proxy",
            "HTTPS_PROXY",
            "all_proxy",
            "no_proxy",
            "CURL_CA_BUNDLE",
            "SSL_CERT_FILE",
            "SSL_CERT_DIR",
            "NETRC",
            "RUST_LOG",
            "NO_COLOR",
        ] {
            assert!(
                environment.contains(&format!("\\fB{name}"))
                    || environment.contains(&format!(", {name}")),
                "{name} is missing"
            );
        }
        assert!(part(&page, ".SH FILES").contains("/etc/ssl/certs"));
        assert!(part(&page, ".SH FILES").contains(".netrc"));
        assert_eq!(page.matches(".ds Aq").count(), 2, "one preamble, two lines");
    }

    #[test]
    fn completions_name_a_shell() {
        let cli = Cli::parse_from(["sockdemo", "completions", "zsh"]);
        let Command::Completions(args) = cli.command else {
            panic!("not completions")
        };
        assert_eq!(args.shell, Shell::Zsh);
        assert!(Cli::try_parse_from(["sockdemo", "completions", "tcsh"]).is_err());
        assert!(Cli::try_parse_from(["sockdemo", "completions"]).is_err());
    }
}
