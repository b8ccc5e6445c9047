//! `zstd` (RFC 8878), undone by the zstd crate with its window bounded.

use zstd::stream::raw::{Decoder, Operation};
use zstd::zstd_safe::DParameter;

use super::decoder::Progress;
use super::{Coding, CodingError};

/// The largest zstd window accepted, as a power of two: 8 MiB, what RFC 9659
/// section 3 lets a server use for `Content-Encoding: zstd`. A frame asking
/// for more is refused rather than given the memory.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// A zstd stream being decompressed, frame after frame.
pub(super) struct Zstd(Box<Decoder<'static>>);

impl Zstd {
    /// A zstd stream from its start, its window limited to [`ZSTD_WINDOW_LOG_MAX`].
    pub(super) fn new() -> Zstd {
        let mut decoder = Decoder::new().expect("a zstd context can be made");
        decoder
            .set_parameter(DParameter::WindowLogMax(ZSTD_WINDOW_LOG_MAX))
            .expect("the window limit is within zstd's range");
        Zstd(Box::new(decoder))
    }

    /// Decompresses from `input` into `out`.
    pub(super) fn step(&mut self, input: &[u8], out: &mut [u8]) -> Result<Progress, CodingError> {
        let status = self
            .0
            .run_on_buffers(input, out)
            .map_err(|err| CodingError::Corrupt {
                coding: Coding::Zstd,
                detail: err.to_string(),
            })?;
        // `remaining` is 0 exactly at the end of a frame; another frame may
        // follow (RFC 8878 section 3.1), which starts a new one. A step that
        // moved nothing says nothing about where the stream stands.
        let moved = status.bytes_read > 0 || status.bytes_written > 0;
        Ok(Progress {
            used: status.bytes_read,
            written: status.bytes_written,
            ended: moved && status.remaining == 0,
        })
    }
}
