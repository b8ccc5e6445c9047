//! Where each URL of a run is saved: under its default name (as
//! `curl --remote-name-all` and wget do), in `--output-dir` if given. All
//! names are decided before any request: the same URL twice is fetched
//! once, and two URLs that would save to one name are refused, naming both.

use std::collections::HashMap;
use std::collections::hash_map::Entry as Slot;
use std::path::{Path, PathBuf};

use log::warn;

use super::list::Entry;
use crate::exit::{Code, WithCode, fail};
use crate::fetch::output::Destination;
use crate::fetch::target;

/// A URL to fetch, and where its body goes (`None` with `-I`, which saves
/// nothing).
#[derive(Debug, Clone)]
pub struct Job {
    /// The URL and where it was given.
    pub entry: Entry,
    /// The file the body goes to.
    pub path: Option<PathBuf>,
}

/// The jobs of `entries`: each URL once (a repeated one is warned of and
/// dropped), each with its file in `dir` unless `heads_only`. Two URLs with
/// one file name are a usage error naming both.
pub fn jobs(entries: Vec<Entry>, dir: Option<&Path>, heads_only: bool) -> anyhow::Result<Vec<Job>> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut names: HashMap<PathBuf, usize> = HashMap::new();
    let mut jobs: Vec<Job> = Vec::with_capacity(entries.len());
    for entry in entries {
        match seen.entry(entry.url.as_str().to_owned()) {
            Slot::Occupied(first) => {
                warn!(
                    "{} ({}) is also {}: fetched once",
                    entry.url,
                    entry.place,
                    jobs[*first.get()].entry.place
                );
                continue;
            }
            Slot::Vacant(slot) => {
                slot.insert(jobs.len());
            }
        }
        let path = (!heads_only).then(|| join(dir, target::default_file_name(&entry.url)));
        if let Some(path) = &path {
            if let Some(&other) = names.get(path) {
                let other = &jobs[other].entry;
                return Err(fail(
                    Code::Usage,
                    format!(
                        "{} ({}) and {} ({}) would both be saved as {}: fetch them in two runs, or with -o each",
                        other.url,
                        other.place,
                        entry.url,
                        entry.place,
                        path.display()
                    ),
                ));
            }
            names.insert(path.clone(), jobs.len());
        }
        jobs.push(Job { entry, path });
    }
    Ok(jobs)
}

/// `name` in `dir`, or as it is without one.
fn join(dir: Option<&Path>, name: PathBuf) -> PathBuf {
    match dir {
        Some(dir) => dir.join(name),
        None => name,
    }
}

/// Creates `--output-dir` if it is missing (exit 23 when it cannot be).
pub fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_code(Code::WriteError, || {
        format!("creating the output directory {}", dir.display())
    })
}

/// A single URL's destination in `--output-dir`: a relative file goes in
/// it (curl does the same with `-o`), stdout and an absolute path stay.
pub fn in_dir(destination: Destination, dir: Option<&Path>) -> anyhow::Result<Destination> {
    let Some(dir) = dir else {
        return Ok(destination);
    };
    match destination {
        Destination::File(path) if path.is_relative() => {
            create_dir(dir)?;
            Ok(Destination::File(dir.join(path)))
        }
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::many::list::{Place, parse};

    fn entries(text: &str) -> Vec<Entry> {
        parse(text).unwrap()
    }

    #[test]
    fn each_url_gets_its_default_name_in_the_directory() {
        let jobs = jobs(
            entries("http://h/a.txt\nhttp://h/dir/\n"),
            Some(Path::new("out")),
            false,
        )
        .unwrap();
        let paths: Vec<PathBuf> = jobs.into_iter().filter_map(|job| job.path).collect();
        assert_eq!(
            paths,
            [PathBuf::from("out/a.txt"), PathBuf::from("out/index.html")]
        );
    }

    #[test]
    fn the_same_url_twice_is_fetched_once() {
        let jobs = jobs(entries("http://h/a\nhttp://h/b\nhttp://h/a\n"), None, false).unwrap();
        let places: Vec<Place> = jobs.into_iter().map(|job| job.entry.place).collect();
        assert_eq!(places, [Place::Line(1), Place::Line(2)]);
    }

    #[test]
    fn two_urls_with_one_name_are_refused_naming_both() {
        let err = jobs(entries("http://h/x/f\n\nhttp://g/y/f\n"), None, false).unwrap_err();
        assert_eq!(Code::of(&err), Code::Usage);
        assert_eq!(
            err.to_string(),
            "http://h/x/f (line 1 of the list) and http://g/y/f (line 3 of the list) would both be saved as f: fetch them in two runs, or with -o each"
        );
        let heads = jobs(entries("http://h/x/f\nhttp://g/y/f\n"), None, true).unwrap();
        assert!(
            heads.iter().all(|job| job.path.is_none()),
            "-I saves nothing"
        );
    }

    #[test]
    fn a_relative_file_goes_in_the_output_dir() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("new");
        let got = in_dir(Destination::File("f".into()), Some(&out)).unwrap();
        assert_eq!(got, Destination::File(out.join("f")));
        assert!(out.is_dir(), "created");
        let stdout = in_dir(Destination::Stdout, Some(&out)).unwrap();
        assert_eq!(stdout, Destination::Stdout);
    }
}
