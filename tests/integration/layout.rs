//! The layout the code keeps: each source file short enough to read in one
//! sitting (new work lands in modules of its own), and the README's map
//! from the tutorial to the code pointing at names that exist.

use std::fs;
use std::path::{Path, PathBuf};

/// Most lines a file under `src/` may have before its tests.
const MAX_LINES: usize = 500;

/// Most lines `src/fetch/mod.rs` may have before its tests: it holds the
/// steps of a fetch in order, and the rest goes to the modules it names.
const MAX_FETCH_LINES: usize = 400;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, sorted.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// The lines of a source file before its `#[cfg(test)]` module.
/// The lines of a source file before its `#[cfg(test)] mod tests`: other
/// items under `#[cfg(test)]` (a test fixture module, say) count.
fn lines_before_tests(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .windows(2)
        .position(|pair| pair[0].trim() == "#[cfg(test)]" && pair[1].starts_with("mod tests"))
        .unwrap_or(lines.len())
}

#[test]
fn no_source_file_is_longer_than_one_sitting() {
    let src = root().join("src");
    let files = sources(&src);
    assert!(files.len() > 20, "src/ has {} files", files.len());
    let too_long: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let text = fs::read_to_string(path).expect("a source file");
            let lines = lines_before_tests(&text);
            let max = match path.strip_prefix(&src) {
                Ok(relative) if relative == Path::new("fetch/mod.rs") => MAX_FETCH_LINES,
                _ => MAX_LINES,
            };
            (lines > max).then(|| format!("{}: {lines} lines (at most {max})", path.display()))
        })
        .collect();
    assert!(too_long.is_empty(), "split these by job: {too_long:#?}");
}

#[test]
fn lines_before_tests_stop_at_the_test_module() {
    assert_eq!(lines_before_tests("a\nb\n#[cfg(test)]\nmod tests {}\n"), 2);
    assert_eq!(lines_before_tests("a\nb\n"), 2);
    let fixture = "a\n#[cfg(test)]\nmod scripted;\nb\n#[cfg(test)]\nmod tests {}\n";
    assert_eq!(lines_before_tests(fixture), 4, "a fixture module counts");
}

/// Modules of the standard library that the README's table names beside
/// this crate's code (`thread::Builder`).
const STD_MODULES: [&str; 4] = ["std", "thread", "io", "net"];

/// The `a::b::c` paths into this crate in the README's table from the
/// tutorial to the code.
fn readme_paths() -> Vec<String> {
    let readme = fs::read_to_string(root().join("README.md")).expect("README.md");
    let start = readme
        .find("## From the tutorial to the code")
        .expect("the README maps the tutorial to the code");
    let section = &readme[start..];
    let section = &section[..section[3..]
        .find("\n## ")
        .map_or(section.len(), |end| end + 3)];
    let mut paths = Vec::new();
    for line in section.lines().filter(|line| line.starts_with('|')) {
        let Some(code) = line.trim_end_matches('|').rsplit('|').next() else {
            continue;
        };
        for span in code.split('`').skip(1).step_by(2) {
            // Paths into this crate: every path but the standard library's
            // few named beside them, so that a misspelt module is caught.
            let first = span.split("::").next().unwrap_or_default();
            if span.contains("::")
                && span.split("::").all(is_identifier)
                && !STD_MODULES.contains(&first)
            {
                paths.push(span.to_owned());
            }
        }
    }
    paths
}

fn is_identifier(word: &str) -> bool {
    !word.is_empty()
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !word.starts_with(|c: char| c.is_ascii_digit())
}

/// The file of the module at `segments` (`src/a/b.rs` or `src/a/b/mod.rs`),
/// or `None` when there is no such module.
fn module_file(segments: &[&str]) -> Option<PathBuf> {
    let mut dir = root().join("src");
    let mut file = dir.join("lib.rs");
    for segment in segments {
        let single = dir.join(format!("{segment}.rs"));
        dir = dir.join(segment);
        file = if dir.join("mod.rs").is_file() {
            dir.join("mod.rs")
        } else if single.is_file() {
            single
        } else {
            return None;
        };
    }
    Some(file)
}

/// True when the module in `file` has an item called `name`: a function,
/// a type, a trait, a constant or a module defined there, or a name it
/// re-exports (`pub use`).
fn defines(file: &Path, name: &str) -> bool {
    let kinds = [
        "fn", "struct", "enum", "trait", "const", "type", "mod", "static",
    ];
    let text = fs::read_to_string(file).expect("a source file");
    let words = |text: &str| -> Vec<String> {
        text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| !word.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let defined = text.lines().any(|line| {
        words(line)
            .windows(2)
            .any(|pair| kinds.contains(&pair[0].as_str()) && pair[1] == name)
    });
    let reexported = text.match_indices("pub use ").any(|(at, _)| {
        let statement = &text[at..];
        let statement = &statement[..statement.find(';').unwrap_or(statement.len())];
        words(statement).iter().any(|word| word == name)
    });
    defined || reexported
}

/// True when `path` names a method: `Type::method` where the module of
/// `Type` defines the method (in any of its files: an `impl` may be apart).
fn defines_method(file: &Path, method: &str) -> bool {
    defines(file, method)
        || file.file_name().is_some_and(|name| name == "mod.rs")
            && file
                .parent()
                .is_some_and(|dir| sources(dir).iter().any(|file| defines(file, method)))
}

/// True when `path` names a module, or an item (and maybe its method) of a
/// module, of this crate.
fn resolves(path: &str) -> bool {
    let segments: Vec<&str> = path.split("::").collect();
    // The longest prefix that is a module; the rest are an item and its method.
    (1..=segments.len()).rev().any(|split| {
        let (module, items) = segments.split_at(split);
        let Some(file) = module_file(module) else {
            return false;
        };
        match items {
            [] => true,
            [item] => defines(&file, item),
            [item, method] => defines(&file, item) && defines_method(&file, method),
            _ => false,
        }
    })
}

#[test]
fn the_readme_maps_the_tutorial_to_names_that_exist() {
    let paths = readme_paths();
    assert!(paths.len() >= 15, "too few paths found: {paths:?}");
    let missing: Vec<&String> = paths.iter().filter(|path| !resolves(path)).collect();
    assert!(
        missing.is_empty(),
        "the README names code that does not exist: {missing:?}"
    );
}

#[test]
fn a_name_that_is_not_there_does_not_resolve() {
    assert!(resolves("fetch::exchange::Exchange::body"));
    assert!(resolves("http::parse_head"));
    assert!(resolves("greeting"));
    assert!(!resolves("fetch::exchange::Exchange::no_such_method"));
    assert!(!resolves("fetch::no_such_module::run"));
    assert!(!resolves("http::NoSuchType"));
    assert!(
        !resolves("fetch::request_head"),
        "defined in a submodule of fetch, not in fetch"
    );
}
