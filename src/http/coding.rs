//! Content and transfer codings (RFC 9110 section 8.4, RFC 9112 section 7):
//! which codings a response applies, and a streaming decoder that undoes them.
//!
//! Two fields name codings. `Transfer-Encoding` is framing: the codings
//! before a final `chunked` (`gzip, chunked`) are always undone, or the saved
//! file would hold bytes the server never meant as content. `Content-Encoding`
//! is the content itself: a client that asked for it (`--compressed`)
//! undoes it; one that did not saves it as sent.
//!
//! The decoder is sans-IO like the rest of this module: bytes go in, decoded
//! bytes come out through a callback, in pieces no larger than
//! [`DECODE_BUFFER`]. Nothing grows with the size of the body: each stage has
//! one fixed output buffer and its codec's own bounded window
//! ([`ZSTD_WINDOW_LOG_MAX`], brotli's 16 MiB at most, deflate's 32 KiB), so a
//! decompression bomb costs time, never memory; the caller bounds the size
//! of what it keeps.

use std::fmt;

use brotli_decompressor::{BrotliDecompressStream, BrotliResult, BrotliState, StandardAlloc};
use flate2::{Decompress, FlushDecompress, Status};

use super::body::BodyDecoder;
use super::framing::{Framing, list_elements};
use super::head::ResponseHead;

/// The output buffer of each decoding stage: large enough that a fast
/// download costs few calls, small enough not to matter.
pub const DECODE_BUFFER: usize = 64 * 1024;

/// Most codings one field may stack (`gzip, br, ...`): curl's limit too. Each
/// is a stage with its own buffer and window, so their number is bounded.
pub const MAX_CODINGS: usize = 5;

/// The largest zstd window accepted, as a power of two: 8 MiB, what RFC 9659
/// section 3 lets a server use for `Content-Encoding: zstd`. A frame asking
/// for more is refused rather than given the memory.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// A coding sockdemo can undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// `gzip` or `x-gzip` (RFC 1952).
    Gzip,
    /// `deflate`: zlib (RFC 1950), or raw deflate as some servers send it.
    Deflate,
    /// `br` (RFC 7932).
    Brotli,
    /// `zstd` (RFC 8878).
    Zstd,
    /// `chunked` when it is not the final transfer coding (`chunked, gzip`):
    /// the framing then runs until close, and the chunks are undone here.
    Chunked,
}

impl Coding {
    /// The coding a list element of `field` names (case-insensitive); `None`
    /// when unknown. `chunked` is a transfer coding only.
    fn named(name: &[u8], field: &str) -> Option<Coding> {
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        if is("chunked") && field == TRANSFER_ENCODING {
            Some(Coding::Chunked)
        } else if is("gzip") || is("x-gzip") {
            Some(Coding::Gzip)
        } else if is("deflate") {
            Some(Coding::Deflate)
        } else if is("br") {
            Some(Coding::Brotli)
        } else if is("zstd") {
            Some(Coding::Zstd)
        } else {
            None
        }
    }

    /// Its name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
            Coding::Chunked => "chunked",
        }
    }
}

impl fmt::Display for Coding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a coding list cannot be used or a coded body cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodingError {
    /// A coding sockdemo does not know (`compress`, a typo...), in the named field.
    Unknown {
        /// `Transfer-Encoding` or `Content-Encoding`.
        field: &'static str,
        /// The coding as received (lossily decoded).
        coding: String,
    },
    /// More than [`MAX_CODINGS`] codings in one field.
    TooMany {
        /// `Transfer-Encoding` or `Content-Encoding`.
        field: &'static str,
    },
    /// The coded data is invalid.
    Corrupt {
        /// The coding whose data is invalid.
        coding: Coding,
        /// What the codec said, or what is wrong.
        detail: String,
    },
    /// The coded data ends before its end of stream.
    Truncated {
        /// The coding whose stream is cut short.
        coding: Coding,
    },
    /// Bytes follow the end of a coded stream that allows nothing after it.
    TrailingData {
        /// The coding whose stream ended.
        coding: Coding,
    },
}

impl fmt::Display for CodingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodingError::Unknown { field, coding } => {
                write!(f, "unrecognized {field} coding \"{coding}\"")
            }
            CodingError::TooMany { field } => {
                write!(f, "{field} stacks more than {MAX_CODINGS} codings")
            }
            CodingError::Corrupt { coding, detail } => {
                write!(f, "invalid {coding} data: {detail}")
            }
            CodingError::Truncated { coding } => {
                write!(f, "the {coding} data ends before its end of stream")
            }
            CodingError::TrailingData { coding } => {
                write!(f, "data follows the end of the {coding} stream")
            }
        }
    }
}

impl std::error::Error for CodingError {}

/// The codings a `Transfer-Encoding` applies before its final `chunked`, in the
/// order applied; every coding when `chunked` is not last (the body then runs
/// until close, RFC 9112 section 6.3). Which framing results is
/// [`framing`](fn@super::framing)'s to say; this is what is left to undo.
pub fn transfer_codings(head: &ResponseHead) -> Result<Vec<Coding>, CodingError> {
    let mut names = coding_names(head, "transfer-encoding");
    if names
        .last()
        .is_some_and(|last| last.eq_ignore_ascii_case(b"chunked"))
    {
        names.pop();
    }
    known_codings(&names, TRANSFER_ENCODING)
}

const TRANSFER_ENCODING: &str = "Transfer-Encoding";

/// The codings a `Content-Encoding` applies, in the order applied; `identity`
/// (no coding) is left out.
pub fn content_codings(head: &ResponseHead) -> Result<Vec<Coding>, CodingError> {
    let mut names = coding_names(head, "content-encoding");
    names.retain(|name| !name.eq_ignore_ascii_case(b"identity"));
    known_codings(&names, "Content-Encoding")
}

/// The non-empty elements of every field of that name, one list, parameters
/// (`;q=...`) dropped.
fn coding_names<'h>(head: &'h ResponseHead, field: &str) -> Vec<&'h [u8]> {
    head.headers_named(field)
        .flat_map(list_elements)
        .map(|element| element.split(|&b| b == b';').next().unwrap_or(element))
        .map(<[u8]>::trim_ascii)
        .filter(|name| !name.is_empty())
        .collect()
}

fn known_codings(names: &[&[u8]], field: &'static str) -> Result<Vec<Coding>, CodingError> {
    if names.len() > MAX_CODINGS {
        return Err(CodingError::TooMany { field });
    }
    names
        .iter()
        .map(|&name| {
            Coding::named(name, field).ok_or_else(|| CodingError::Unknown {
                field,
                coding: String::from_utf8_lossy(name).into_owned(),
            })
        })
        .collect()
}

/// What stopped a [`Decoder`]: the data, or the callback it fed.
#[derive(Debug)]
pub enum DecodeError<E> {
    /// The coded data is invalid or cut short.
    Coding(CodingError),
    /// The callback returned this error; decoding stopped there.
    Sink(E),
}

impl<E> From<CodingError> for DecodeError<E> {
    fn from(err: CodingError) -> Self {
        DecodeError::Coding(err)
    }
}

/// Undoes a list of codings as the body streams: feed it the coded bytes in
/// pieces of any size, and it hands the decoded bytes to a callback.
///
/// ```
/// use sockdemo::http::{Coding, Decoder};
///
/// // "hello" compressed with gzip.
/// let gzip = [
///     0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0, 0x86, 0xa6,
///     0x10, 0x36, 5, 0, 0, 0,
/// ];
/// let mut decoder = Decoder::new(&[Coding::Gzip]);
/// let mut text = Vec::new();
/// let mut sink = |decoded: &[u8]| -> Result<(), ()> { Ok(text.extend_from_slice(decoded)) };
/// for piece in gzip.chunks(4) {
///     decoder.feed(piece, &mut sink).unwrap();
/// }
/// decoder.finish(&mut sink).unwrap();
/// assert_eq!(text, b"hello");
/// ```
pub struct Decoder {
    /// In decoding order: the coding applied last is undone first.
    stages: Vec<Stage>,
}

impl Decoder {
    /// A decoder for codings listed in the order they were applied, as a
    /// field lists them. An empty list decodes nothing: bytes pass through.
    pub fn new(codings: &[Coding]) -> Decoder {
        Decoder {
            stages: codings.iter().rev().map(|&c| Stage::new(c)).collect(),
        }
    }

    /// True when there is nothing to undo.
    pub fn is_identity(&self) -> bool {
        self.stages.is_empty()
    }

    /// Decodes `input`, handing every decoded piece to `sink` as it comes.
    pub fn feed<E, F>(&mut self, input: &[u8], sink: &mut F) -> Result<(), DecodeError<E>>
    where
        F: FnMut(&[u8]) -> Result<(), E>,
    {
        if input.is_empty() {
            return Ok(());
        }
        push(&mut self.stages, input, sink)
    }

    /// At the end of the body: hands over what the stages still hold, then
    /// checks that every coded stream reached its end (a gzip body cut
    /// short is an error, not a shorter file).
    pub fn finish<E, F>(&mut self, sink: &mut F) -> Result<(), DecodeError<E>>
    where
        F: FnMut(&[u8]) -> Result<(), E>,
    {
        push(&mut self.stages, &[], sink)?;
        match self.stages.iter().find(|stage| !stage.ended) {
            Some(stage) => Err(CodingError::Truncated {
                coding: stage.coding,
            }
            .into()),
            None => Ok(()),
        }
    }
}

/// Runs `input` through the first stage and what comes out through the
/// rest, until the first stage has used all of it and holds nothing more.
/// An empty `input` flushes what the stages hold.
fn push<E, F>(stages: &mut [Stage], mut input: &[u8], sink: &mut F) -> Result<(), DecodeError<E>>
where
    F: FnMut(&[u8]) -> Result<(), E>,
{
    let Some((stage, rest)) = stages.split_first_mut() else {
        return if input.is_empty() {
            Ok(())
        } else {
            sink(input).map_err(DecodeError::Sink)
        };
    };
    loop {
        let (used, produced) = stage.step(input)?;
        input = &input[used..];
        if produced > 0 {
            push(rest, &stage.out[..produced], sink)?;
        }
        if used == 0 && produced == 0 {
            break;
        }
    }
    if !input.is_empty() {
        // A codec that takes no input while it has room to write is one
        // that cannot go on (zlib's "buffer error" on garbage).
        return Err(CodingError::Corrupt {
            coding: stage.coding,
            detail: "the decoder makes no progress".into(),
        }
        .into());
    }
    // Flushing: the next stages may still hold output of their own.
    push(rest, &[], sink)
}

/// One coding being undone, with its own output buffer.
struct Stage {
    coding: Coding,
    codec: Codec,
    /// The coded stream has reached its end.
    ended: bool,
    out: Box<[u8]>,
}

enum Codec {
    Inflate(Decompress),
    /// `deflate` before its first byte, which tells zlib from raw deflate.
    DeflateUnsniffed,
    Brotli(Box<BrotliState<StandardAlloc, StandardAlloc, StandardAlloc>>),
    Zstd(Box<zstd::stream::raw::Decoder<'static>>),
    /// The chunk decoder, and the start of a chunk-size line or trailer
    /// that the input so far ends in the middle of (at most
    /// [`MAX_HEAD_BYTES`](super::MAX_HEAD_BYTES), which bounds every line).
    Chunked(BodyDecoder, Vec<u8>),
}

impl Stage {
    fn new(coding: Coding) -> Stage {
        Stage {
            coding,
            codec: Codec::new(coding),
            ended: false,
            out: vec![0; DECODE_BUFFER].into_boxed_slice(),
        }
    }

    /// Decodes from `input` into `self.out`: (bytes used, bytes written).
    fn step(&mut self, input: &[u8]) -> Result<(usize, usize), CodingError> {
        if self.ended {
            if input.is_empty() {
                return Ok((0, 0));
            }
            // RFC 1952 section 2.2: a gzip file is a series of members.
            if self.coding != Coding::Gzip {
                return Err(CodingError::TrailingData {
                    coding: self.coding,
                });
            }
            self.codec = Codec::new(Coding::Gzip);
            self.ended = false;
        }
        let coding = self.coding;
        let corrupt = |detail: String| CodingError::Corrupt { coding, detail };
        if let Codec::DeflateUnsniffed = self.codec {
            let Some(&first) = input.first() else {
                return Ok((0, 0));
            };
            self.codec = Codec::Inflate(Decompress::new(is_zlib_header(first)));
        }
        match &mut self.codec {
            Codec::DeflateUnsniffed => unreachable!("sniffed above"),
            Codec::Inflate(z) => {
                let (in_before, out_before) = (z.total_in(), z.total_out());
                let status = z
                    .decompress(input, &mut self.out, FlushDecompress::None)
                    .map_err(|err| corrupt(err.to_string()))?;
                self.ended = status == Status::StreamEnd;
                Ok((
                    progress(z.total_in(), in_before),
                    progress(z.total_out(), out_before),
                ))
            }
            Codec::Brotli(state) => {
                let (mut available_in, mut input_offset) = (input.len(), 0);
                let (mut available_out, mut output_offset) = (self.out.len(), 0);
                let mut total_out = 0;
                let result = BrotliDecompressStream(
                    &mut available_in,
                    &mut input_offset,
                    input,
                    &mut available_out,
                    &mut output_offset,
                    &mut self.out,
                    &mut total_out,
                    state,
                );
                match result {
                    BrotliResult::ResultFailure => {
                        return Err(corrupt("not a valid stream".into()));
                    }
                    BrotliResult::ResultSuccess => self.ended = true,
                    BrotliResult::NeedsMoreInput | BrotliResult::NeedsMoreOutput => {}
                }
                Ok((input_offset, output_offset))
            }
            Codec::Chunked(decoder, pending) => {
                // Input joins what is pending, if anything, up to the bound.
                let taken = if pending.is_empty() {
                    0
                } else {
                    let room = super::MAX_HEAD_BYTES.saturating_sub(pending.len());
                    let taken = input.len().min(room);
                    pending.extend_from_slice(&input[..taken]);
                    taken
                };
                let source = if pending.is_empty() {
                    input
                } else {
                    &pending[..]
                };
                // At most what fits in the output, so that the data of a
                // step, never longer than its input, fits too.
                let source = &source[..source.len().min(self.out.len())];
                let step = decoder
                    .decode(source)
                    .map_err(|err| corrupt(err.to_string()))?;
                let data = step.data.len();
                self.out[..data].copy_from_slice(&source[step.data]);
                let source_len = source.len();
                self.ended = decoder.is_complete();
                if !pending.is_empty() {
                    pending.drain(..step.consumed);
                    if self.ended && !pending.is_empty() {
                        return Err(CodingError::TrailingData { coding });
                    }
                    return Ok((taken, data));
                }
                if step.consumed == 0 && !self.ended && source_len > 0 {
                    // A line cut between two inputs: kept until its end comes.
                    pending.extend_from_slice(&input[..source_len]);
                    return Ok((source_len, 0));
                }
                Ok((step.consumed, data))
            }
            Codec::Zstd(decoder) => {
                use zstd::stream::raw::Operation;
                let status = decoder
                    .run_on_buffers(input, &mut self.out)
                    .map_err(|err| corrupt(err.to_string()))?;
                // `remaining` is 0 exactly at the end of a frame; another
                // frame may follow (RFC 8878 section 3.1), which starts
                // a new one.
                if status.bytes_read > 0 || status.bytes_written > 0 {
                    self.ended = status.remaining == 0;
                }
                Ok((status.bytes_read, status.bytes_written))
            }
        }
    }
}

impl Codec {
    fn new(coding: Coding) -> Codec {
        match coding {
            // 15: the largest window, which any gzip stream may use.
            Coding::Gzip => Codec::Inflate(Decompress::new_gzip(15)),
            Coding::Deflate => Codec::DeflateUnsniffed,
            Coding::Brotli => Codec::Brotli(Box::new(BrotliState::new(
                StandardAlloc::default(),
                StandardAlloc::default(),
                StandardAlloc::default(),
            ))),
            Coding::Zstd => {
                use zstd::zstd_safe::DParameter;
                let mut decoder =
                    zstd::stream::raw::Decoder::new().expect("a zstd context can be made");
                decoder
                    .set_parameter(DParameter::WindowLogMax(ZSTD_WINDOW_LOG_MAX))
                    .expect("the window limit is within zstd's range");
                Codec::Zstd(Box::new(decoder))
            }
            Coding::Chunked => Codec::Chunked(BodyDecoder::new(Framing::Chunked), Vec::new()),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_head;
    use std::io::Write;

    fn head(fields: &str) -> ResponseHead {
        let raw = format!("HTTP/1.1 200 OK\r\n{fields}\r\n");
        parse_head(raw.as_bytes()).unwrap().unwrap().0
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn brotli(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut encoder = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            encoder.write_all(data).unwrap();
        }
        out
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        zstd::bulk::compress(data, 3).unwrap()
    }

    /// Some text that compresses, and not too regularly.
    fn sample(len: usize) -> Vec<u8> {
        let mut state = 7u32;
        (0..len)
            .map(|i| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                if i % 7 == 0 {
                    b' '
                } else {
                    b'a' + (state >> 16) as u8 % 8
                }
            })
            .collect()
    }

    /// Decodes `coded` fed in pieces of `piece` bytes; the pieces handed to
    /// the sink are checked against the buffer bound.
    fn decode(codings: &[Coding], coded: &[u8], piece: usize) -> Result<Vec<u8>, CodingError> {
        let mut decoder = Decoder::new(codings);
        let mut out = Vec::new();
        let mut sink = |data: &[u8]| -> Result<(), ()> {
            assert!(!data.is_empty() && data.len() <= DECODE_BUFFER);
            out.extend_from_slice(data);
            Ok(())
        };
        let unwrap = |err: DecodeError<()>| match err {
            DecodeError::Coding(err) => err,
            DecodeError::Sink(()) => unreachable!("the sink never fails"),
        };
        for chunk in coded.chunks(piece.max(1)) {
            decoder.feed(chunk, &mut sink).map_err(unwrap)?;
        }
        decoder.finish(&mut sink).map_err(unwrap)?;
        Ok(out)
    }

    #[test]
    fn every_coding_round_trips_in_pieces_of_any_size() {
        let text = sample(200_000);
        let cases: [(Coding, Vec<u8>); 5] = [
            (Coding::Gzip, gzip(&text)),
            (Coding::Deflate, zlib(&text)),
            (Coding::Deflate, raw_deflate(&text)),
            (Coding::Brotli, brotli(&text)),
            (Coding::Zstd, zstd(&text)),
        ];
        for (coding, coded) in &cases {
            for piece in [1, 7, 4096, coded.len()] {
                if piece == 1 && coded.len() > 50_000 {
                    // Byte by byte over the whole body is slow in debug builds;
                    // the first 50 KB cover every header.
                    continue;
                }
                assert_eq!(
                    decode(&[*coding], coded, piece).as_deref(),
                    Ok(text.as_slice()),
                    "{coding} in pieces of {piece}"
                );
            }
        }
        let small = b"hello, world";
        for (coding, coded) in [
            (Coding::Gzip, gzip(small)),
            (Coding::Deflate, zlib(small)),
            (Coding::Brotli, brotli(small)),
            (Coding::Zstd, zstd(small)),
        ] {
            assert_eq!(decode(&[coding], &coded, 1).unwrap(), small, "{coding}");
        }
    }

    #[test]
    fn stacked_codings_are_undone_last_first() {
        let text = sample(100_000);
        // Applied in the order listed: gzip first, then br.
        let coded = brotli(&gzip(&text));
        assert_eq!(
            decode(&[Coding::Gzip, Coding::Brotli], &coded, 1000).unwrap(),
            text
        );
        assert_eq!(decode(&[], b"as is", 2).unwrap(), b"as is");
    }

    #[test]
    fn chunked_before_gzip_is_undone_after_it() {
        // `Transfer-Encoding: chunked, gzip`: chunked first, then gzip.
        let text = sample(20_000);
        let mut chunked = Vec::new();
        for piece in text.chunks(777) {
            chunked.extend_from_slice(format!("{:x};ext=1\r\n", piece.len()).as_bytes());
            chunked.extend_from_slice(piece);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\nTrailer: x\r\n\r\n");
        let coded = gzip(&chunked);
        for piece in [1, 5, 100, coded.len()] {
            assert_eq!(
                decode(&[Coding::Chunked, Coding::Gzip], &coded, piece).as_deref(),
                Ok(text.as_slice()),
                "in pieces of {piece}"
            );
        }
        let cut = gzip(&chunked[..chunked.len() - 5]);
        assert_eq!(
            decode(&[Coding::Chunked, Coding::Gzip], &cut, 100),
            Err(CodingError::Truncated {
                coding: Coding::Chunked
            })
        );
        let mut extra = chunked.clone();
        extra.extend_from_slice(b"more");
        assert_eq!(
            decode(&[Coding::Chunked, Coding::Gzip], &gzip(&extra), 3),
            Err(CodingError::TrailingData {
                coding: Coding::Chunked
            })
        );
        assert_eq!(
            transfer_codings(&head("Transfer-Encoding: chunked, gzip\r\n")),
            Ok(vec![Coding::Chunked, Coding::Gzip])
        );
        assert!(content_codings(&head("Content-Encoding: chunked\r\n")).is_err());
    }

    #[test]
    fn gzip_members_follow_one_another() {
        let mut coded = gzip(b"first ");
        coded.extend(gzip(b"second"));
        assert_eq!(decode(&[Coding::Gzip], &coded, 3).unwrap(), b"first second");
    }

    #[test]
    fn cut_corrupt_and_trailing_data_are_errors() {
        let text = sample(10_000);
        for (coding, coded) in [
            (Coding::Gzip, gzip(&text)),
            (Coding::Deflate, zlib(&text)),
            (Coding::Brotli, brotli(&text)),
            (Coding::Zstd, zstd(&text)),
        ] {
            let cut = &coded[..coded.len() - 3];
            assert_eq!(
                decode(&[coding], cut, 100),
                Err(CodingError::Truncated { coding })
            );
            assert_eq!(
                decode(&[coding], &[], 100),
                Err(CodingError::Truncated { coding }),
                "an empty {coding} body is not a {coding} stream"
            );
            let mut bad = coded.clone();
            bad[coded.len() / 2] ^= 0x55;
            bad[coded.len() / 2 + 1] ^= 0x55;
            assert!(decode(&[coding], &bad, 100).is_err(), "{coding}");
        }
        let mut trailing = zlib(b"abc");
        trailing.extend_from_slice(b"junk");
        assert_eq!(
            decode(&[Coding::Deflate], &trailing, 100),
            Err(CodingError::TrailingData {
                coding: Coding::Deflate
            })
        );
        let mut wrong_crc = gzip(b"abc");
        let at = wrong_crc.len() - 8;
        wrong_crc[at] ^= 1;
        assert!(matches!(
            decode(&[Coding::Gzip], &wrong_crc, 100),
            Err(CodingError::Corrupt { .. })
        ));
        assert!(matches!(
            decode(&[Coding::Gzip], b"plain text, not gzip", 100),
            Err(CodingError::Corrupt { .. })
        ));
    }

    #[test]
    fn a_bomb_streams_through_fixed_buffers() {
        // 8 MiB of zeros in a few KiB of gzip: decoded in pieces, never whole.
        let coded = gzip(&vec![0u8; 8 << 20]);
        assert!(coded.len() < 100_000, "{} bytes", coded.len());
        let mut decoder = Decoder::new(&[Coding::Gzip]);
        let mut total = 0u64;
        let mut largest = 0;
        let mut sink = |data: &[u8]| -> Result<(), &'static str> {
            total += data.len() as u64;
            largest = largest.max(data.len());
            if total > 4 << 20 {
                return Err("over the size limit");
            }
            Ok(())
        };
        let stopped = decoder.feed(&coded, &mut sink);
        assert!(matches!(
            stopped,
            Err(DecodeError::Sink("over the size limit"))
        ));
        assert!(largest <= DECODE_BUFFER);
    }

    #[test]
    fn a_zstd_window_over_the_limit_is_refused() {
        let text = sample(1 << 16);
        let mut encoder = zstd::stream::raw::Encoder::new(3).unwrap();
        use zstd::stream::raw::Operation;
        use zstd::zstd_safe::CParameter;
        encoder
            .set_parameter(CParameter::WindowLog(ZSTD_WINDOW_LOG_MAX + 2))
            .unwrap();
        encoder
            .set_parameter(CParameter::ContentSizeFlag(false))
            .unwrap();
        let mut out = vec![0; 1 << 17];
        let mut written = 0;
        let status = encoder.run_on_buffers(&text, &mut out).unwrap();
        written += status.bytes_written;
        let mut output = zstd::stream::raw::OutBuffer::around(&mut out[written..]);
        encoder.finish(&mut output, true).unwrap();
        written += output.pos();
        let coded = &out[..written];
        assert!(matches!(
            decode(&[Coding::Zstd], coded, 4096),
            Err(CodingError::Corrupt { .. })
        ));
    }

    proptest::proptest! {
        /// Arbitrary bytes under any coding, in one piece or in reads of
        /// any sizes: both succeed with the same bytes or both fail, and
        /// nothing panics (the fuzz target `coding` does the same at length).
        #[test]
        fn arbitrary_bytes_decode_alike_in_any_pieces(
            picks in proptest::collection::vec(0usize..5, 1..3),
            input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            piece in 1usize..40,
        ) {
            let all = [Coding::Gzip, Coding::Deflate, Coding::Brotli, Coding::Zstd, Coding::Chunked];
            let codings: Vec<Coding> = picks.iter().map(|&i| all[i]).collect();
            match (decode(&codings, &input, input.len()), decode(&codings, &input, piece)) {
                (Ok(whole), Ok(pieces)) => proptest::prop_assert_eq!(whole, pieces),
                (Err(_), Err(_)) => {}
                (whole, pieces) => proptest::prop_assert!(false, "{:?} / {:?}", whole, pieces),
            }
        }
    }

    #[test]
    fn lists_name_known_codings_in_order() {
        assert_eq!(
            transfer_codings(&head("Transfer-Encoding: gzip, chunked\r\n")),
            Ok(vec![Coding::Gzip])
        );
        assert_eq!(
            transfer_codings(&head(
                "Transfer-Encoding: x-gzip\r\nTransfer-Encoding: chunked\r\n"
            )),
            Ok(vec![Coding::Gzip])
        );
        assert_eq!(
            transfer_codings(&head("Transfer-Encoding: chunked\r\n")),
            Ok(vec![])
        );
        assert_eq!(
            transfer_codings(&head("Transfer-Encoding: Deflate\r\n")),
            Ok(vec![Coding::Deflate])
        );
        assert_eq!(transfer_codings(&head("")), Ok(vec![]));
        assert_eq!(
            transfer_codings(&head("Transfer-Encoding: compress, chunked\r\n")),
            Err(CodingError::Unknown {
                field: "Transfer-Encoding",
                coding: "compress".into()
            })
        );
        assert_eq!(
            content_codings(&head("Content-Encoding: gzip, identity, BR;q=1, zstd\r\n")),
            Ok(vec![Coding::Gzip, Coding::Brotli, Coding::Zstd])
        );
        assert_eq!(
            content_codings(&head("Content-Encoding: gzip,gzip,gzip,gzip,gzip,gzip\r\n")),
            Err(CodingError::TooMany {
                field: "Content-Encoding"
            })
        );
        assert_eq!(
            content_codings(&head("Content-Encoding: xz\r\n"))
                .unwrap_err()
                .to_string(),
            "unrecognized Content-Encoding coding \"xz\""
        );
    }
}
