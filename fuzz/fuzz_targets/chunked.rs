//! Fuzzes the body decoders.
//!
//! - Round trip: a body drawn from the input, encoded as chunks cut at sizes
//!   drawn from the input (extensions, trailers and their folds, hex case,
//!   leading zeros beyond the 16 digits of a u64, and line endings varied), fed in reads of sizes drawn from the input, must
//!   decode to itself and complete, leaving what follows the body unread;
//!   every cut of that encoding must fail, never pass for a whole body.
//! - Arbitrary bytes: decoding the input as a chunked body in one read and
//!   in many reads must give the same outcome, and never panic.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use sockdemo::http::{Arrival, BodyDecoder, Framing, HttpError};

/// How a body is encoded and delivered.
#[derive(Debug, Arbitrary)]
struct Case {
    body: Vec<u8>,
    cuts: Vec<u16>,
    reads: Vec<u16>,
    bare_lf: bool,
    upper_hex: bool,
    zeros: u8,
    extension: Option<Extension>,
    trailers: Vec<(u8, u8, bool)>,
    after: Vec<u8>,
    cut: u32,
}

/// A chunk extension, built only from legal bytes.
#[derive(Debug, Arbitrary)]
struct Extension {
    name_len: u8,
    value: Option<u8>,
}

fuzz_target!(|data: &[u8]| {
    arbitrary_input(data);
    if let Ok(case) = Case::arbitrary(&mut Unstructured::new(data)) {
        round_trip(&case);
    }
});

fn arbitrary_input(data: &[u8]) {
    let whole = BodyDecoder::decode_in_reads(Framing::Chunked, data, &[data.len().max(1)]);
    let split_sizes: Vec<usize> = data
        .iter()
        .take(8)
        .map(|&b| usize::from(b % 16) + 1)
        .collect();
    let split = BodyDecoder::decode_in_reads(Framing::Chunked, data, &split_sizes);
    assert_eq!(
        whole.body, split.body,
        "the outcome depends on how the input is split"
    );
    assert_eq!(whole.complete, split.complete);
    if let (Ok(_), true) = (&whole.body, whole.complete) {
        // A complete body was framed by what it consumed: the rest is untouched.
        assert!(data.ends_with(&whole.left));
    }
}

fn encode(case: &Case) -> Vec<u8> {
    let eol: &[u8] = if case.bare_lf { b"\n" } else { b"\r\n" };
    let extension = case.extension.as_ref().map(|ext| {
        let mut text = format!(";{}", "e".repeat(usize::from(ext.name_len % 20) + 1));
        if let Some(value) = ext.value {
            text.push_str(&format!("=\"{}\"", " v".repeat(usize::from(value % 10))));
        }
        text
    });
    let size_line = |size: usize| {
        // Up to 23 zeros: more than 16 digits in all, which is still legal.
        let mut line = "0".repeat(usize::from(case.zeros % 24));
        line.push_str(&if case.upper_hex {
            format!("{size:X}")
        } else {
            format!("{size:x}")
        });
        line.push_str(extension.as_deref().unwrap_or(""));
        let mut line = line.into_bytes();
        line.extend_from_slice(eol);
        line
    };
    let mut wire = Vec::new();
    let mut rest = case.body.as_slice();
    let mut cuts = case.cuts.iter().map(|&c| usize::from(c).max(1)).cycle();
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(cuts.next().unwrap_or(rest.len()).min(rest.len()));
        wire.extend_from_slice(&size_line(chunk.len()));
        wire.extend_from_slice(chunk);
        wire.extend_from_slice(eol);
        rest = tail;
    }
    wire.extend_from_slice(&size_line(0));
    for &(name, value, folded) in case.trailers.iter().take(20) {
        let field = format!("X-T{name}: v{}", "x".repeat(usize::from(value)));
        wire.extend_from_slice(field.as_bytes());
        if folded {
            wire.extend_from_slice(eol);
            wire.extend_from_slice(b" \tfolded");
        }
        wire.extend_from_slice(eol);
    }
    wire.extend_from_slice(eol);
    wire
}

fn round_trip(case: &Case) {
    let wire = encode(case);
    let reads: Vec<usize> = case.reads.iter().map(|&r| usize::from(r)).collect();
    let mut with_after = wire.clone();
    with_after.extend_from_slice(&case.after);
    let Arrival {
        body: decoded,
        complete,
        left,
    } = BodyDecoder::decode_in_reads(Framing::Chunked, &with_after, &reads);
    assert_eq!(decoded.as_ref(), Ok(&case.body), "chunked round trip");
    assert!(complete);
    assert!(
        case.after.starts_with(&left),
        "bytes after the body were consumed"
    );

    let cut = case.cut as usize % wire.len();
    let Arrival {
        body: decoded,
        complete,
        ..
    } = BodyDecoder::decode_in_reads(Framing::Chunked, &wire[..cut], &reads);
    assert!(!complete, "a cut at {cut} of {} completed", wire.len());
    assert!(
        decoded.is_err(),
        "a cut at {cut} of {} passed: {decoded:?}",
        wire.len()
    );

    // The same body delimited by length: whole, then cut.
    let length = Framing::Length(case.body.len() as u64);
    let Arrival {
        body: decoded,
        complete,
        left,
    } = BodyDecoder::decode_in_reads(length, &[&case.body[..], &case.after].concat(), &reads);
    assert_eq!(decoded.as_ref(), Ok(&case.body), "length round trip");
    assert!(complete && case.after.starts_with(&left));
    if !case.body.is_empty() {
        let cut = case.cut as usize % case.body.len();
        let Arrival { body: decoded, .. } =
            BodyDecoder::decode_in_reads(length, &case.body[..cut], &reads);
        assert!(matches!(decoded, Err(HttpError::Truncated(_))));
    }
}
