//! The body decoder: one incremental, zero-copy interface over every framing,
//! so that the transport's read loop is the same for all of them.

use std::ops::Range;

use super::HttpError;
use super::chunked::ChunkedDecoder;
use super::framing::Framing;

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
            Kind::Chunked(chunked) => {
                let decoded = chunked.decode(input)?;
                Ok(Step {
                    consumed: decoded.consumed,
                    data: decoded.data,
                })
            }
            Kind::UntilClose => Ok(Step {
                consumed: input.len(),
                data: 0..input.len(),
            }),
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
            Kind::Length { remaining, total } => Err(HttpError::Truncated(format!(
                "the body ended early: got {} of {total} bytes",
                total - remaining
            ))),
            Kind::Chunked(chunked) => chunked.finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `input` through the decoder as the transport does, returning the
    /// body and how many bytes were left unconsumed.
    fn drain(decoder: &mut BodyDecoder, mut input: &[u8]) -> (Vec<u8>, usize) {
        let mut body = Vec::new();
        loop {
            let step = decoder.decode(input).unwrap();
            body.extend_from_slice(&input[step.data]);
            input = &input[step.consumed..];
            if step.consumed == 0 {
                return (body, input.len());
            }
        }
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
        let err = decoder.finish().unwrap_err();
        assert_eq!(
            err,
            HttpError::Truncated("the body ended early: got 4 of 10 bytes".into())
        );
        assert_eq!(err.code() as u8, 18);
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
        assert!(matches!(err, HttpError::BadChunk(_)));
        assert_eq!(err.code() as u8, 8);
    }
}
