//! `chunked` as a transfer coding that is not the final one (`chunked,
//! gzip`): the framing then runs until close, and the chunks are undone
//! here, by the same decoder that undoes chunked framing
//! ([`BodyDecoder`]).

use super::decoder::Progress;
use super::{Coding, CodingError};
use crate::http::MAX_HEAD_BYTES;
use crate::http::body::BodyDecoder;
use crate::http::framing::Framing;

/// A chunked stream being undone.
pub(super) struct Chunked {
    decoder: BodyDecoder,
    /// The start of a chunk-size line or trailer that the input so far ends
    /// in the middle of (at most [`MAX_HEAD_BYTES`], which bounds every line).
    pending: Vec<u8>,
}

impl Chunked {
    /// A chunked stream from its first chunk.
    pub(super) fn new() -> Chunked {
        Chunked {
            decoder: BodyDecoder::new(Framing::Chunked),
            pending: Vec::new(),
        }
    }

    /// Undoes the chunks of `input` into `out`.
    pub(super) fn step(&mut self, input: &[u8], out: &mut [u8]) -> Result<Progress, CodingError> {
        let coding = Coding::Chunked;
        let pending = &mut self.pending;
        // Input joins what is pending, if anything, up to the bound.
        let taken = if pending.is_empty() {
            0
        } else {
            let room = MAX_HEAD_BYTES.saturating_sub(pending.len());
            let taken = input.len().min(room);
            pending.extend_from_slice(&input[..taken]);
            taken
        };
        let source = if pending.is_empty() {
            input
        } else {
            &pending[..]
        };
        // At most what fits in the output, so that the data of a step,
        // never longer than its input, fits too.
        let source = &source[..source.len().min(out.len())];
        let step = self
            .decoder
            .decode(source)
            .map_err(|err| CodingError::Corrupt {
                coding,
                detail: err.to_string(),
            })?;
        let data = step.data.len();
        out[..data].copy_from_slice(&source[step.data]);
        let source_len = source.len();
        let ended = self.decoder.is_complete();
        if !pending.is_empty() {
            pending.drain(..step.consumed);
            if ended && !pending.is_empty() {
                return Err(CodingError::TrailingData { coding });
            }
            return Ok(Progress {
                used: taken,
                written: data,
                ended,
            });
        }
        if step.consumed == 0 && !ended && source_len > 0 {
            // A line cut between two inputs: kept until its end comes.
            pending.extend_from_slice(&input[..source_len]);
            return Ok(Progress {
                used: source_len,
                written: 0,
                ended,
            });
        }
        Ok(Progress {
            used: step.consumed,
            written: data,
            ended,
        })
    }
}
