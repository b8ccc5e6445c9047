//! Verification of what was saved: `--checksum ALGO=HEX` and `--expect-size N`.
//!
//! The digest is computed as the body streams, over the bytes written to the
//! output (after any content decoding), so no second read of the file is
//! needed; a resumed download first feeds the partial file in. The output is
//! renamed into place only when [`Verifier::finish`] agrees.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256, Sha512};

/// A digest algorithm of `--checksum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// SHA-256 (FIPS 180-4).
    Sha256,
    /// SHA-512 (FIPS 180-4).
    Sha512,
}

impl Algorithm {
    fn named(name: &str) -> Option<Algorithm> {
        match name.to_ascii_lowercase().as_str() {
            "sha256" | "sha-256" => Some(Algorithm::Sha256),
            "sha512" | "sha-512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    /// Its name as `--checksum` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// The digest's length in bytes.
    fn digest_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }
}

/// The digest a download must have: `--checksum ALGO=HEX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The expected digest.
    pub digest: Vec<u8>,
}

impl FromStr for Checksum {
    type Err = String;

    /// Parses `sha256=HEX` or `sha512=HEX` (hex in either case), as on the
    /// command line; the error is the sentence a usage error shows.
    fn from_str(text: &str) -> Result<Checksum, String> {
        let (name, hex) = text
            .split_once('=')
            .ok_or_else(|| format!("expected ALGO=HEX (e.g. sha256=9f86...), not {text}"))?;
        let algorithm = Algorithm::named(name)
            .ok_or_else(|| format!("unknown checksum algorithm {name}: use sha256 or sha512"))?;
        let digest = decode_hex(hex).ok_or_else(|| format!("{hex} is not a hexadecimal digest"))?;
        if digest.len() != algorithm.digest_len() {
            return Err(format!(
                "a {} digest has {} hex digits, not {}",
                algorithm.name(),
                2 * algorithm.digest_len(),
                hex.len()
            ));
        }
        Ok(Checksum { algorithm, digest })
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.is_empty() || !hex.len().is_multiple_of(2) {
        return None;
    }
    hex.as_bytes()
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(text, 16).ok()
        })
        .collect()
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How the saved bytes differ from what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// `--expect-size` does not match.
    Size {
        /// The size given.
        expected: u64,
        /// The size saved.
        actual: u64,
    },
    /// `--checksum` does not match.
    Digest {
        /// The algorithm.
        algorithm: Algorithm,
        /// The digest given, in hex.
        expected: String,
        /// The digest of the saved bytes, in hex.
        actual: String,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Size { expected, actual } => {
                write!(
                    f,
                    "the download has {actual} bytes, not the {expected} expected (--expect-size)"
                )
            }
            Mismatch::Digest {
                algorithm,
                expected,
                actual,
            } => write!(
                f,
                "the {} of the download is {actual}, not the {expected} expected (--checksum)",
                algorithm.name()
            ),
        }
    }
}

impl std::error::Error for Mismatch {}

/// Checks the saved bytes as they are written: their count and digest.
pub struct Verifier {
    checksum: Option<Checksum>,
    expect_size: Option<u64>,
    hasher: Option<Hasher>,
    seen: u64,
}

enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Verifier {
    /// A verifier for what the command line asked; with neither, it only counts.
    pub fn new(checksum: Option<Checksum>, expect_size: Option<u64>) -> Verifier {
        let hasher = checksum.as_ref().map(|c| match c.algorithm {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        });
        Verifier {
            checksum,
            expect_size,
            hasher,
            seen: 0,
        }
    }

    /// Whether there is anything to check: `--checksum` or `--expect-size`.
    pub fn checks_anything(&self) -> bool {
        self.checksum.is_some() || self.expect_size.is_some()
    }

    /// Takes the next saved bytes into account. Fails at once when more than
    /// `--expect-size` bytes arrive: no need to download the rest.
    pub fn update(&mut self, data: &[u8]) -> Result<(), Mismatch> {
        self.seen += data.len() as u64;
        match &mut self.hasher {
            Some(Hasher::Sha256(h)) => h.update(data),
            Some(Hasher::Sha512(h)) => h.update(data),
            None => {}
        }
        match self.expect_size {
            Some(expected) if self.seen > expected => Err(Mismatch::Size {
                expected,
                actual: self.seen,
            }),
            _ => Ok(()),
        }
    }

    /// Forgets everything seen: the download starts over from its first byte.
    pub fn restart(&mut self) {
        *self = Verifier::new(self.checksum.take(), self.expect_size);
    }

    /// At the end of the download: whether the saved bytes are the ones expected.
    pub fn finish(self) -> Result<(), Mismatch> {
        if let Some(expected) = self.expect_size
            && self.seen != expected
        {
            return Err(Mismatch::Size {
                expected,
                actual: self.seen,
            });
        }
        let (Some(checksum), Some(hasher)) = (self.checksum, self.hasher) else {
            return Ok(());
        };
        let actual = match hasher {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        };
        if actual == checksum.digest {
            Ok(())
        } else {
            Err(Mismatch::Digest {
                algorithm: checksum.algorithm,
                expected: encode_hex(&checksum.digest),
                actual: encode_hex(&actual),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // SHA-256 and SHA-512 of "abc" (FIPS 180-2, appendix B.1 and C.1).
    const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const ABC_SHA512: &str = "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";

    fn verify(spec: &str, pieces: &[&[u8]]) -> Result<(), Mismatch> {
        let mut verifier = Verifier::new(Some(spec.parse().unwrap()), None);
        for piece in pieces {
            verifier.update(piece)?;
        }
        verifier.finish()
    }

    #[test]
    fn digests_match_in_any_pieces() {
        assert_eq!(verify(&format!("sha256={ABC_SHA256}"), &[b"abc"]), Ok(()));
        assert_eq!(
            verify(
                &format!("SHA256={}", ABC_SHA256.to_uppercase()),
                &[b"a", b"", b"bc"]
            ),
            Ok(())
        );
        assert_eq!(
            verify(&format!("sha512={ABC_SHA512}"), &[b"ab", b"c"]),
            Ok(())
        );
    }

    #[test]
    fn a_different_digest_is_a_mismatch_naming_both() {
        let err = verify(&format!("sha256={ABC_SHA256}"), &[b"abd"]).unwrap_err();
        let Mismatch::Digest {
            expected, actual, ..
        } = &err
        else {
            panic!("not a digest mismatch");
        };
        assert_eq!(expected, ABC_SHA256);
        assert_ne!(actual, ABC_SHA256);
        assert!(
            err.to_string()
                .starts_with("the sha256 of the download is ")
        );
    }

    #[test]
    fn bad_specs_are_refused_with_a_reason() {
        let err = |spec: &str| spec.parse::<Checksum>().unwrap_err();
        assert!(err("sha256").contains("ALGO=HEX"));
        assert!(err("md5=00").contains("unknown checksum algorithm md5"));
        assert!(err("sha256=xyz").contains("not a hexadecimal digest"));
        assert!(err("sha256=abcd").contains("64 hex digits, not 4"));
        assert!(err(&format!("sha512={ABC_SHA256}")).contains("128 hex digits"));
    }

    #[test]
    fn size_is_checked_early_and_at_the_end() {
        let mut verifier = Verifier::new(None, Some(4));
        assert_eq!(verifier.update(b"abc"), Ok(()));
        assert_eq!(
            verifier.update(b"de"),
            Err(Mismatch::Size {
                expected: 4,
                actual: 5
            })
        );
        let mut short = Verifier::new(None, Some(4));
        short.update(b"abc").unwrap();
        assert_eq!(
            short.finish(),
            Err(Mismatch::Size {
                expected: 4,
                actual: 3
            })
        );
        let mut exact = Verifier::new(None, Some(3));
        exact.update(b"abc").unwrap();
        assert_eq!(exact.finish(), Ok(()));
        assert_eq!(Verifier::new(None, None).finish(), Ok(()));
    }

    #[test]
    fn restart_forgets_what_was_seen() {
        let mut verifier = Verifier::new(
            Some(format!("sha256={ABC_SHA256}").parse().unwrap()),
            Some(3),
        );
        verifier.update(b"xy").unwrap();
        verifier.restart();
        verifier.update(b"abc").unwrap();
        assert_eq!(verifier.finish(), Ok(()));
    }
}
