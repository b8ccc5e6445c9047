//! Fuzzes the response head parser and the framing decision.
//!
//! - Arbitrary bytes: never a panic; a head found is a prefix of the input,
//!   parses the same on its own, needs more bytes one byte shorter, keeps its
//!   promises (no control bytes in values, status 100-599, within the size
//!   limit), and parses back to itself once written out again.
//! - Round trip: a head built from the input (status, reason, fields with
//!   values folded across lines, CRLF or bare LF) parses back to what was
//!   built, and none of its proper prefixes is taken for a head.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use sockdemo::http::{MAX_HEAD_BYTES, ResponseHead, framing, is_forbidden_in_value, parse_head};

/// A head to write out and parse back.
#[derive(Debug, Arbitrary)]
struct Built {
    minor: bool,
    status: u16,
    reason: Vec<u8>,
    fields: Vec<(Vec<u8>, Vec<(Vec<u8>, bool)>)>,
    bare_lf: bool,
    body: Vec<u8>,
}

fuzz_target!(|data: &[u8]| {
    arbitrary_input(data);
    if let Ok(built) = Built::arbitrary(&mut Unstructured::new(data)) {
        round_trip(&built);
    }
});

fn arbitrary_input(data: &[u8]) {
    let Ok(Some((head, n))) = parse_head(data) else {
        return;
    };
    assert!(n <= data.len() && n <= MAX_HEAD_BYTES);
    assert!(data[..n].ends_with(&head.raw));
    assert!((100..=599).contains(&head.status));
    assert_eq!(parse_head(&data[..n]), Ok(Some((head.clone(), n))));
    assert_eq!(parse_head(&data[..n - 1]), Ok(None));
    for field in &head.headers {
        assert!(!field.name.is_empty());
        assert!(!field.value.iter().copied().any(is_forbidden_in_value));
        assert_eq!(field.value.trim_ascii(), &field.value[..]);
    }
    let _ = framing(&head, false);
    let _ = framing(&head, true);
    // Written out again, canonically, it reads the same.
    let (again, m) = parse_head(&write(&head))
        .expect("a rewritten head parses")
        .expect("whole");
    assert_eq!(m, again.raw.len());
    assert_eq!(
        (again.version, again.status, &again.reason, &again.headers),
        (head.version, head.status, &head.reason, &head.headers)
    );
}

/// A head in canonical form: CRLF, no folds.
fn write(head: &ResponseHead) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.{} {:03} {}\r\n",
        head.version, head.status, head.reason
    )
    .into_bytes();
    for field in &head.headers {
        out.extend_from_slice(field.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(&field.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Keeps the bytes `keep` allows, mapping the rest into that set, so that any
/// input makes a legal element.
fn legal(bytes: &[u8], keep: impl Fn(u8) -> bool, fallback: u8) -> Vec<u8> {
    bytes
        .iter()
        .map(|&b| if keep(b) { b } else { fallback })
        .collect()
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_visible(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) || b >= 0x80
}

fn round_trip(built: &Built) {
    let eol: &[u8] = if built.bare_lf { b"\n" } else { b"\r\n" };
    let status = 100 + built.status % 500;
    let reason = legal(
        &built.reason,
        |b| b == b' ' || b == b'\t' || is_visible(b),
        b'r',
    );
    let mut wire = format!("HTTP/1.{} {status} ", u8::from(built.minor)).into_bytes();
    wire.extend_from_slice(&reason);
    wire.extend_from_slice(eol);
    let mut expected = Vec::new();
    for (name, words) in built.fields.iter().take(100) {
        let mut name = legal(name, is_token, b'n');
        if name.is_empty() {
            name.push(b'n');
        }
        let words: Vec<(Vec<u8>, bool)> = words
            .iter()
            .map(|(word, folded)| (legal(word, is_visible, b'w'), *folded))
            .filter(|(word, _)| !word.is_empty())
            .collect();
        wire.extend_from_slice(&name);
        wire.push(b':');
        for (i, (word, folded)) in words.iter().enumerate() {
            if *folded {
                wire.extend_from_slice(eol);
                wire.extend_from_slice(b" \t");
            } else if i > 0 {
                wire.push(b' ');
            }
            wire.extend_from_slice(word);
        }
        wire.extend_from_slice(eol);
        let value = words
            .iter()
            .map(|(w, _)| w.as_slice())
            .collect::<Vec<_>>()
            .join(&b' ');
        expected.push((String::from_utf8(name).expect("a token is ASCII"), value));
    }
    wire.extend_from_slice(eol);
    if wire.len() > MAX_HEAD_BYTES {
        return;
    }
    let head_len = wire.len();
    wire.extend_from_slice(&built.body);

    let (head, n) = parse_head(&wire)
        .expect("a built head is valid")
        .expect("and whole");
    assert_eq!(n, head_len);
    assert_eq!(head.raw, &wire[..n]);
    assert_eq!((head.version, head.status), (u8::from(built.minor), status));
    // The whitespace between the code and the phrase is not part of it.
    let phrase = reason
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .map_or(&[][..], |start| &reason[start..]);
    assert_eq!(head.reason, String::from_utf8_lossy(phrase));
    let got: Vec<(String, Vec<u8>)> = head
        .headers
        .iter()
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect();
    assert_eq!(got, expected);
    for cut in [0, n / 2, n - 1] {
        assert_eq!(
            parse_head(&wire[..cut]),
            Ok(None),
            "a prefix of {cut} bytes"
        );
    }
}
