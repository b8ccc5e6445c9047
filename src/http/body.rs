//! The body decoder: one incremental, zero-copy interface over every framing,
//! so that the transport's read loop is the same for all of them.

use std::ops::Range;

use super::chunked::ChunkedDecoder;
use super::framing::Framing;
use super::{HttpError, Truncation};

/// What [`BodyDecoder::decode_in_reads`] made of a body arriving in reads.
#[derive(Debug)]
pub struct Arrival {
    /// The decoded body, or the error that ended decoding (a body cut short
    /// when the input ran out first).
    pub body: Result<Vec<u8>, HttpError>,
    /// Whether the body ended where its framing says it ends.
    pub complete: bool,
    /// Bytes received but not consumed: those after the end of the body.
    pub left: Vec<u8>,
}

/// One step of [`BodyDecoder::decode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Bytes of the input used up; the caller drops them.
    pub consumed: usize,
    /// Where in the input the body bytes of this step are (within `..consumed`);
    /// empty when the step used only framing bytes.
    pub data: Range<usize>,
}

/// Decodes a body incrementally, over input split in any way, without copying.
///
/// A step hands back as many body bytes as the input holds, as one range:
/// a whole buffer for a length-delimited or until-close body, the rest of the
/// current chunk for a chunked one. No byte of the body is looked at.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// The body is complete (or there is none).
    Done,
    /// A Content-Length body: `remaining` of `total` bytes still to come.
    Length {
        remaining: u64,
        total: u64,
    },
    Chunked(ChunkedDecoder),
    UntilClose,
}

impl BodyDecoder {
    /// A decoder for a body of the given framing.
    pub fn new(framing: Framing) -> Self {
        let kind = match framing {
            Framing::NoBody | Framing::Length(0) => Kind::Done,
            Framing::Length(total) => Kind::Length {
                remaining: total,
                total,
            },
            Framing::Chunked => Kind::Chunked(ChunkedDecoder::new()),
            Framing::UntilClose => Kind::UntilClose,
        };
        BodyDecoder { kind }
    }

    /// Decodes from the start of `input`. Call again with the rest while
    /// `consumed > 0`; when it is 0 and the body is not complete, read more.
    ///
    /// Bytes after the end of the body are never consumed. An error is final:
    /// the body is malformed, and the decoder is not to be used again.
    pub fn decode(&mut self, input: &[u8]) -> Result<Step, HttpError> {
        match &mut self.kind {
            Kind::Done => Ok(Step {
                consumed: 0,
                data: 0..0,
            }),
            Kind::Length { remaining, .. } => {
                let n = usize::try_from(*remaining).map_or(input.len(), |r| r.min(input.len()));
                *remaining -= n as u64;
                if *remaining == 0 {
                    self.kind = Kind::Done;
                }
                Ok(Step {
                    consumed: n,
                    data: 0..n,
                })
            }
            Kind::Chunked(chunked) => chunked.decode(input),
            Kind::UntilClose => Ok(Step {
                consumed: input.len(),
                data: 0..input.len(),
            }),
        }
    }

    /// Decodes as much of `input` as it can, step after step, appending the
    /// body bytes to `body`; returns how many bytes of `input` were used.
    ///
    /// What is left is either after the end of the body or the start of a
    /// framing line that needs more input: call again with it and more bytes.
    /// This is the loop every caller of [`decode`](Self::decode) writes,
    /// for a caller that wants the body in memory.
    pub fn decode_into(&mut self, input: &[u8], body: &mut Vec<u8>) -> Result<usize, HttpError> {
        let mut used = 0;
        loop {
            let step = self.decode(&input[used..])?;
            debug_assert!(step.data.start <= step.data.end && step.data.end <= step.consumed);
            body.extend_from_slice(&input[used..][step.data]);
            used += step.consumed;
            if step.consumed == 0 {
                return Ok(used);
            }
        }
    }

    /// Decodes a whole response body held in one buffer: `input` ends where
    /// the stream ends, so a body cut short is [`HttpError::Truncated`], as
    /// with [`finish`](Self::finish). Bytes after the end of the body are
    /// ignored.
    ///
    /// ```
    /// use sockdemo::http::{BodyDecoder, Framing, HttpError};
    ///
    /// let body = BodyDecoder::new(Framing::Chunked).decode_all(b"2\r\nhi\r\n0\r\n\r\n");
    /// assert_eq!(body, Ok(b"hi".to_vec()));
    /// let cut = BodyDecoder::new(Framing::Length(10)).decode_all(b"hi");
    /// assert!(matches!(cut, Err(HttpError::Truncated(_))));
    /// ```
    pub fn decode_all(&mut self, input: &[u8]) -> Result<Vec<u8>, HttpError> {
        let mut body = Vec::new();
        self.decode_into(input, &mut body)?;
        self.finish()?;
        Ok(body)
    }

    /// Decodes `wire` as a transport sees it arrive: in reads of the given
    /// sizes (cycled; a size of 0 counts as 1), each appended to a buffer
    /// that the decoder is run over until it consumes nothing more. Tests
    /// and fuzz targets use it to check that how a body is split across
    /// reads never changes what it decodes to.
    pub fn decode_in_reads(framing: Framing, wire: &[u8], reads: &[usize]) -> Arrival {
        let mut decoder = BodyDecoder::new(framing);
        let mut body = Vec::new();
        let mut buffer = Vec::new();
        let mut sizes = reads.iter().copied().cycle();
        let mut fed = 0;
        loop {
            match decoder.decode_into(&buffer, &mut body) {
                Err(err) => {
                    return Arrival {
                        body: Err(err),
                        complete: false,
                        left: buffer,
                    };
                }
                Ok(used) => {
                    buffer.drain(..used);
                }
            }
            if fed == wire.len() || decoder.is_complete() {
                return Arrival {
                    body: decoder.finish().map(|()| body),
                    complete: decoder.is_complete(),
                    left: buffer,
                };
            }
            let next = (fed + sizes.next().unwrap_or(1).max(1)).min(wire.len());
            buffer.extend_from_slice(&wire[fed..next]);
            fed = next;
        }
    }

    /// True once the whole body (and any trailers) has been decoded.
    pub fn is_complete(&self) -> bool {
        match &self.kind {
            Kind::Done => true,
            Kind::Chunked(chunked) => chunked.is_complete(),
            Kind::Length { .. } | Kind::UntilClose => false,
        }
    }

    /// The stream ended: fine if the body is complete or runs until close,
    /// [`HttpError::Truncated`] otherwise.
    pub fn finish(&self) -> Result<(), HttpError> {
        match &self.kind {
            Kind::Done | Kind::UntilClose => Ok(()),
            Kind::Length { remaining, total } => Err(HttpError::Truncated(Truncation::Length {
                received: total - remaining,
                expected: *total,
            })),
            Kind::Chunked(chunked) => chunked.finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `input` through the decoder, returning the body and how many
    /// bytes were left unconsumed.
    fn drain(decoder: &mut BodyDecoder, input: &[u8]) -> (Vec<u8>, usize) {
        let mut body = Vec::new();
        let used = decoder.decode_into(input, &mut body).unwrap();
        (body, input.len() - used)
    }

    #[test]
    fn no_body_consumes_nothing() {
        let mut decoder = BodyDecoder::new(Framing::NoBody);
        assert!(decoder.is_complete());
        assert_eq!(drain(&mut decoder, b"stray bytes"), (vec![], 11));
        assert_eq!(decoder.finish(), Ok(()));
        assert!(BodyDecoder::new(Framing::Length(0)).is_complete());
    }

    #[test]
    fn length_takes_exactly_its_bytes_in_one_range() {
        let mut decoder = BodyDecoder::new(Framing::Length(10));
        let step = decoder.decode(b"0123").unwrap();
        assert_eq!(
            step,
            Step {
                consumed: 4,
                data: 0..4
            }
        );
        assert!(!decoder.is_complete());
        let step = decoder.decode(b"456789extra").unwrap();
        assert_eq!(
            step,
            Step {
                consumed: 6,
                data: 0..6
            }
        );
        assert!(decoder.is_complete());
        assert_eq!(decoder.decode(b"extra").unwrap().consumed, 0);
        assert_eq!(decoder.finish(), Ok(()));
    }

    #[test]
    fn short_length_body_is_truncated() {
        let mut decoder = BodyDecoder::new(Framing::Length(10));
        drain(&mut decoder, b"0123");
        assert_eq!(
            decoder.finish(),
            Err(HttpError::Truncated(Truncation::Length {
                received: 4,
                expected: 10
            }))
        );
        let huge = BodyDecoder::new(Framing::Length(u64::MAX));
        assert!(matches!(huge.finish(), Err(HttpError::Truncated(_))));
    }

    #[test]
    fn until_close_takes_everything() {
        let mut decoder = BodyDecoder::new(Framing::UntilClose);
        assert_eq!(
            drain(&mut decoder, b"all of it"),
            (b"all of it".to_vec(), 0)
        );
        assert!(!decoder.is_complete());
        assert_eq!(decoder.finish(), Ok(()));
    }

    #[test]
    fn chunked_through_the_common_interface() {
        let mut decoder = BodyDecoder::new(Framing::Chunked);
        let (body, left) = drain(&mut decoder, b"3\r\nabc\r\n0\r\n\r\nnext");
        assert_eq!((body.as_slice(), left), (&b"abc"[..], 4));
        assert!(decoder.is_complete());
        assert_eq!(decoder.finish(), Ok(()));
        let mut cut = BodyDecoder::new(Framing::Chunked);
        drain(&mut cut, b"3\r\nab");
        assert!(matches!(cut.finish(), Err(HttpError::Truncated(_))));
    }

    #[test]
    fn malformed_chunks_are_errors() {
        let mut decoder = BodyDecoder::new(Framing::Chunked);
        let err = decoder.decode(b"xyz\r\n").unwrap_err();
        assert_eq!(err, HttpError::ChunkSizeNotHex(b"xyz".to_vec()));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// A chunked encoding of `body`, cut into chunks of the given sizes
        /// (cycled), in the framing's legal variants.
        #[derive(Debug, Clone)]
        struct Encoding {
            cuts: Vec<usize>,
            bare_lf: bool,
            upper_hex: bool,
            zeros: usize,
            extension: Option<String>,
            trailers: Vec<(String, String)>,
        }

        fn encoding() -> impl Strategy<Value = Encoding> {
            (
                prop::collection::vec(1usize..700, 1..8),
                any::<bool>(),
                any::<bool>(),
                0usize..3,
                prop::option::of(";[a-z]{1,5}(=[a-z0-9]{0,5}|=\"[ a-z]{0,5}\")?"),
                prop::collection::vec(
                    ("[A-Za-z][A-Za-z0-9-]{0,10}", "[!-~]([ -~]{0,20}[!-~])?"),
                    0..3,
                ),
            )
                .prop_map(|(cuts, bare_lf, upper_hex, zeros, extension, trailers)| {
                    Encoding {
                        cuts,
                        bare_lf,
                        upper_hex,
                        zeros,
                        extension,
                        trailers,
                    }
                })
        }

        fn encode(body: &[u8], how: &Encoding) -> Vec<u8> {
            let eol: &[u8] = if how.bare_lf { b"\n" } else { b"\r\n" };
            let size_line = |size: usize| {
                let hex = if how.upper_hex {
                    format!("{size:X}")
                } else {
                    format!("{size:x}")
                };
                let mut line = "0".repeat(how.zeros).into_bytes();
                line.extend_from_slice(hex.as_bytes());
                line.extend_from_slice(how.extension.as_deref().unwrap_or("").as_bytes());
                line.extend_from_slice(eol);
                line
            };
            let mut wire = Vec::new();
            let mut rest = body;
            let mut cuts = how.cuts.iter().cycle();
            while !rest.is_empty() {
                let (chunk, tail) = rest.split_at((*cuts.next().unwrap()).min(rest.len()));
                wire.extend_from_slice(&size_line(chunk.len()));
                wire.extend_from_slice(chunk);
                wire.extend_from_slice(eol);
                rest = tail;
            }
            wire.extend_from_slice(&size_line(0));
            for (name, value) in &how.trailers {
                wire.extend_from_slice(format!("{name}: {value}").as_bytes());
                wire.extend_from_slice(eol);
            }
            wire.extend_from_slice(eol);
            wire
        }

        fn reads() -> impl Strategy<Value = Vec<usize>> {
            prop::collection::vec(1usize..1000, 1..10)
        }

        proptest! {
            #[test]
            fn any_chunked_body_in_any_reads_decodes_to_itself(
                body in prop::collection::vec(any::<u8>(), 0..3000),
                how in encoding(),
                reads in reads(),
                after in prop::collection::vec(any::<u8>(), 0..10),
            ) {
                let mut wire = encode(&body, &how);
                wire.extend_from_slice(&after);
                let Arrival { body: decoded, complete, left } = BodyDecoder::decode_in_reads(Framing::Chunked, &wire, &reads);
                prop_assert_eq!(decoded, Ok(body));
                prop_assert!(complete);
                // What follows the body is never taken (it may be partly unread).
                prop_assert!(after.starts_with(&left));
            }

            #[test]
            fn every_chunked_truncation_is_detected(
                body in prop::collection::vec(any::<u8>(), 0..2000),
                how in encoding(),
                reads in reads(),
                cut in any::<prop::sample::Index>(),
            ) {
                let wire = encode(&body, &how);
                let cut = cut.index(wire.len());
                let Arrival { body: decoded, complete, .. } = BodyDecoder::decode_in_reads(Framing::Chunked, &wire[..cut], &reads);
                prop_assert!(!complete);
                prop_assert!(
                    matches!(decoded, Err(HttpError::Truncated(_)) | Err(HttpError::ChunkDataTooLong)),
                    "a cut at {} of {} passed: {:?}", cut, wire.len(), decoded
                );
            }

            #[test]
            fn any_length_body_in_any_reads_decodes_to_itself(
                body in prop::collection::vec(any::<u8>(), 0..5000),
                reads in reads(),
                after in prop::collection::vec(any::<u8>(), 0..10),
            ) {
                let mut wire = body.clone();
                wire.extend_from_slice(&after);
                let Arrival { body: decoded, complete, left } = BodyDecoder::decode_in_reads(Framing::Length(body.len() as u64), &wire, &reads);
                prop_assert_eq!(decoded, Ok(body));
                prop_assert!(complete);
                prop_assert!(after.starts_with(&left));
            }

            #[test]
            fn every_length_truncation_is_detected(
                len in 1usize..5000,
                reads in reads(),
                cut in any::<prop::sample::Index>(),
            ) {
                let wire = vec![b'x'; cut.index(len)];
                let Arrival { body: decoded, complete, .. } = BodyDecoder::decode_in_reads(Framing::Length(len as u64), &wire, &reads);
                prop_assert!(!complete);
                prop_assert!(matches!(decoded, Err(HttpError::Truncated(_))));
            }

            /// Whatever the bytes, how they are split into reads does not
            /// change the outcome: the same body, the same end, the same error.
            #[test]
            fn arbitrary_input_decodes_alike_however_split(
                wire in prop::collection::vec(
                    prop_oneof![any::<u8>(), Just(b'\r'), Just(b'\n'), Just(b'0'), Just(b'5'), Just(b';')],
                    0..300,
                ),
                reads in prop::collection::vec(1usize..20, 1..10),
            ) {
                let whole = BodyDecoder::decode_in_reads(Framing::Chunked, &wire, &[wire.len().max(1)]);
                let split = BodyDecoder::decode_in_reads(Framing::Chunked, &wire, &reads);
                prop_assert_eq!(whole.body, split.body);
                prop_assert_eq!(whole.complete, split.complete);
            }
        }
    }
}
