//! The shell completion scripts and the manual page, generated from the
//! same definitions as `--help`, so they cannot drift from it.

use std::io::{self, Write};

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;

use super::Cli;

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
        if sub.get_after_help().is_some() {
            page.section(".SS EXAMPLES", |out| man.render_extra_section(out));
        }
    }
    page.section(".SH \"EXIT STATUS\"", |out| top.render_extra_section(out));
    page.section(".SH VERSION", |out| top.render_version_section(out));
    page.text
}

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
        assert_eq!(sections.len(), 4 + 5 + 2, "{sections:#?}");
        assert!(
            !page.contains("(1)"),
            "a reference to a page of its own: {page}"
        );
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
