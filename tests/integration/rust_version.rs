//! `rust-version` in Cargo.toml is the true minimum: the highest
//! `rust-version` among the locked dependencies. A dependency update that
//! needs a newer compiler fails here, instead of failing for a user whose
//! compiler Cargo.toml claims is new enough.
//!
//! The crate's own code is held to the same version by clippy's
//! `incompatible_msrv` lint, which reads `rust-version` and flags any use of
//! a standard library item stabilised later.

use std::process::Command;
use std::time::Duration;

use crate::support::run_bounded;

/// How long `cargo metadata` may take: it reads the lock file and the
/// registry's cached manifests, and may have to download a few of them.
const METADATA_TIMEOUT: Duration = Duration::from_secs(120);

/// A `major.minor.patch` version, missing parts being 0 (`1.88` is `1.88.0`),
/// ordered as versions are, not as strings (`1.9` < `1.88`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Version(u64, u64, u64);

impl Version {
    fn parse(text: &str) -> Version {
        let mut parts = text.split('.').map(|part| {
            part.parse::<u64>()
                .unwrap_or_else(|_| panic!("rust-version {text} is not a version"))
        });
        let version = Version(
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
        );
        assert!(
            parts.next().is_none(),
            "rust-version {text} has more than three parts"
        );
        version
    }
}

/// `cargo metadata --locked --format-version 1` for this package, run by the
/// cargo that runs the tests, killed if it outlives `METADATA_TIMEOUT`.
fn metadata() -> serde_json::Value {
    let output = run_bounded(
        Command::new(env!("CARGO"))
            .args(["metadata", "--locked", "--format-version", "1"])
            .arg("--manifest-path")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")),
        METADATA_TIMEOUT,
    );
    assert!(
        output.status.success(),
        "cargo metadata failed: {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
}

#[test]
fn rust_version_is_the_highest_of_the_locked_dependencies() {
    let metadata = metadata();
    let packages = metadata["packages"].as_array().expect("a package list");
    let rust_version =
        |package: &serde_json::Value| package["rust_version"].as_str().map(Version::parse);
    let ours = packages
        .iter()
        .find(|package| package["name"] == env!("CARGO_PKG_NAME"))
        .expect("this package in cargo metadata");
    let declared = rust_version(ours).expect("Cargo.toml sets rust-version");
    let (needed, by) = packages
        .iter()
        .filter(|package| package["name"] != env!("CARGO_PKG_NAME"))
        .filter_map(|package| Some((rust_version(package)?, package)))
        .max_by_key(|(version, _)| *version)
        .expect("some locked dependency declares a rust-version");
    let Version(major, minor, patch) = needed;
    assert_eq!(
        declared,
        needed,
        "Cargo.toml's rust-version is not the highest among the locked dependencies: {} {} needs {major}.{minor}.{patch}",
        by["name"].as_str().unwrap_or_default(),
        by["version"].as_str().unwrap_or_default()
    );
}

#[test]
fn versions_compare_as_numbers() {
    assert!(Version::parse("1.9") < Version::parse("1.88"));
    assert_eq!(Version::parse("1.88"), Version::parse("1.88.0"));
    assert!(Version::parse("1.88.1") > Version::parse("1.88"));
}
