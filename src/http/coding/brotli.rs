//! `br` (RFC 7932), undone by the brotli-decompressor crate, whose window
//! is 16 MiB at most.

use brotli_decompressor::{BrotliDecompressStream, BrotliResult, BrotliState, StandardAlloc};

use super::decoder::Progress;
use super::{Coding, CodingError};

/// A brotli stream being decompressed. Its state is large, so it is boxed:
/// a stage moves it only as a pointer.
pub(super) struct Brotli(Box<BrotliState<StandardAlloc, StandardAlloc, StandardAlloc>>);

impl Brotli {
    /// A brotli stream from its start.
    pub(super) fn new() -> Brotli {
        Brotli(Box::new(BrotliState::new(
            StandardAlloc::default(),
            StandardAlloc::default(),
            StandardAlloc::default(),
        )))
    }

    /// Decompresses from `input` into `out`.
    pub(super) fn step(&mut self, input: &[u8], out: &mut [u8]) -> Result<Progress, CodingError> {
        let (mut available_in, mut input_offset) = (input.len(), 0);
        let (mut available_out, mut output_offset) = (out.len(), 0);
        let mut total_out = 0;
        let result = BrotliDecompressStream(
            &mut available_in,
            &mut input_offset,
            input,
            &mut available_out,
            &mut output_offset,
            out,
            &mut total_out,
            &mut self.0,
        );
        let ended = match result {
            BrotliResult::ResultFailure => {
                return Err(CodingError::Corrupt {
                    coding: Coding::Brotli,
                    detail: "not a valid stream".into(),
                });
            }
            BrotliResult::ResultSuccess => true,
            BrotliResult::NeedsMoreInput | BrotliResult::NeedsMoreOutput => false,
        };
        Ok(Progress {
            used: input_offset,
            written: output_offset,
            ended,
        })
    }
}
