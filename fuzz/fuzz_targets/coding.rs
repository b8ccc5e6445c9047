//! Fuzzes the coding decoders with arbitrary bytes: for each coding and for
//! a stack of two, decoding the input in one piece and in pieces of sizes
//! drawn from the input must both succeed with the same bytes or both fail,
//! hand over no piece larger than the decoding buffer, and never panic.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use sockdemo::http::{Coding, DECODE_BUFFER, DecodeError, Decoder};

/// Decoded bytes beyond this are not needed to compare two runs; the limit
/// keeps a decompression bomb in the input from making a run slow.
const MAX_DECODED: usize = 4 << 20;

#[derive(Debug, Arbitrary)]
struct Case {
    codings: Vec<u8>,
    reads: Vec<u16>,
    input: Vec<u8>,
}

fuzz_target!(|data: &[u8]| {
    let Ok(case) = Case::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };
    let all = [
        Coding::Gzip,
        Coding::Deflate,
        Coding::Brotli,
        Coding::Zstd,
        Coding::Chunked,
    ];
    let codings: Vec<Coding> = case
        .codings
        .iter()
        .take(2)
        .map(|&pick| all[usize::from(pick) % all.len()])
        .collect();
    let whole = decode(&codings, &case.input, &[]);
    let in_reads = decode(&codings, &case.input, &case.reads);
    match (&whole, &in_reads) {
        ((bytes, Ok(())), (same, Ok(()))) => assert_eq!(bytes, same, "{codings:?}"),
        // Where a failure shows depends on how much came before it.
        ((_, Err(_)), (_, Err(_))) => {}
        _ => panic!("{codings:?}: in one piece {:?}, in reads {:?}", whole.1, in_reads.1),
    }
});

/// The decoded bytes (up to the limit) and whether decoding succeeded.
fn decode(codings: &[Coding], input: &[u8], reads: &[u16]) -> (Vec<u8>, Result<(), String>) {
    let mut decoder = Decoder::new(codings);
    let mut out = Vec::new();
    let mut sink = |piece: &[u8]| -> Result<(), ()> {
        assert!(!piece.is_empty() && piece.len() <= DECODE_BUFFER);
        if out.len() + piece.len() > MAX_DECODED {
            return Err(());
        }
        out.extend_from_slice(piece);
        Ok(())
    };
    let outcome = |err: DecodeError<()>| match err {
        DecodeError::Coding(err) => err.to_string(),
        DecodeError::Sink(()) => "over the limit".to_owned(),
    };
    let mut rest = input;
    let mut sizes = reads.iter().map(|&n| usize::from(n).max(1));
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
        if let Err(err) = decoder.feed(&rest[..n], &mut sink) {
            return (out, Err(outcome(err)));
        }
        rest = &rest[n..];
    }
    let finished = decoder.finish(&mut sink).map_err(outcome);
    (out, finished)
}
