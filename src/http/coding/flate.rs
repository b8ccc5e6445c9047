//! `gzip` (RFC 1952) and `deflate` (zlib, RFC 1950, or raw deflate, RFC
//! 1951), both inflated by zlib through flate2.

use flate2::{Decompress, FlushDecompress, Status};

use super::decoder::Progress;
use super::{Coding, CodingError};

/// A gzip or deflate stream being inflated.
pub(super) struct Inflate {
    /// `Gzip` or `Deflate`, for errors.
    coding: Coding,
    /// `None` for `deflate` before its first byte, which tells zlib from
    /// raw deflate.
    zlib: Option<Decompress>,
}

impl Inflate {
    /// A gzip member from its start.
    pub(super) fn gzip() -> Inflate {
        Inflate {
            coding: Coding::Gzip,
            // 15: the largest window, which any gzip stream may use.
            zlib: Some(Decompress::new_gzip(15)),
        }
    }

    /// A deflate body, zlib or raw: its first byte will tell.
    pub(super) fn deflate() -> Inflate {
        Inflate {
            coding: Coding::Deflate,
            zlib: None,
        }
    }

    /// Inflates from `input` into `out`.
    pub(super) fn step(&mut self, input: &[u8], out: &mut [u8]) -> Result<Progress, CodingError> {
        let z = match &mut self.zlib {
            Some(z) => z,
            None => {
                let Some(&first) = input.first() else {
                    return Ok(Progress {
                        used: 0,
                        written: 0,
                        ended: false,
                    });
                };
                self.zlib.insert(Decompress::new(is_zlib_header(first)))
            }
        };
        let (in_before, out_before) = (z.total_in(), z.total_out());
        let status = z
            .decompress(input, out, FlushDecompress::None)
            .map_err(|err| CodingError::Corrupt {
                coding: self.coding,
                detail: err.to_string(),
            })?;
        Ok(Progress {
            used: progress(z.total_in(), in_before),
            written: progress(z.total_out(), out_before),
            ended: status == Status::StreamEnd,
        })
    }
}

/// Whether the first byte of a `deflate` body is a zlib header (RFC 1950:
/// method 8, a window of at most 32 KiB). Some servers send raw deflate
/// instead, as curl and browsers accept; raw deflate whose first block is a
/// stored one has zero padding bits, so it never looks like a zlib header.
fn is_zlib_header(first: u8) -> bool {
    first & 0x0f == 8 && first >> 4 <= 7
}

/// The difference of two of zlib's running totals, which never exceeds the
/// buffer the call was given.
fn progress(after: u64, before: u64) -> usize {
    usize::try_from(after - before).expect("one call moves at most one buffer")
}
