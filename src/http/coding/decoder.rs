//! The [`Decoder`]: a chain of stages, one per coding, each with its own
//! fixed output buffer, through which the coded bytes flow as they arrive.
//! What each codec does in a step is its family's file.

use super::brotli::Brotli;
use super::chunked::Chunked;
use super::flate::Inflate;
use super::zstd::Zstd;
use super::{Coding, CodingError};

/// The output buffer of each decoding stage: large enough that a fast
/// download costs few calls, small enough not to matter.
pub const DECODE_BUFFER: usize = 64 * 1024;

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
    /// Some input has come: the body is not empty.
    fed: bool,
}

impl Decoder {
    /// A decoder for codings listed in the order they were applied, as a
    /// field lists them. An empty list decodes nothing: bytes pass through.
    pub fn new(codings: &[Coding]) -> Decoder {
        Decoder {
            stages: codings.iter().rev().map(|&c| Stage::new(c)).collect(),
            fed: false,
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
        self.fed = true;
        push(&mut self.stages, input, sink)
    }

    /// At the end of the body: hands over what the stages still hold, then
    /// checks that every coded stream reached its end (a gzip body cut
    /// short is an error, not a shorter file). An empty body is an empty
    /// content, whatever its codings: nothing was coded (servers send
    /// `Content-Encoding: gzip` with `Content-Length: 0`, and curl saves an
    /// empty file).
    pub fn finish<E, F>(&mut self, sink: &mut F) -> Result<(), DecodeError<E>>
    where
        F: FnMut(&[u8]) -> Result<(), E>,
    {
        if !self.fed {
            return Ok(());
        }
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

/// The codec of a stage, one per family of codings.
enum Codec {
    Inflate(Inflate),
    Brotli(Brotli),
    Zstd(Zstd),
    Chunked(Chunked),
}

/// What one step of a codec did.
pub(super) struct Progress {
    /// Bytes of input used.
    pub used: usize,
    /// Bytes of output written.
    pub written: usize,
    /// The coded stream has reached its end.
    pub ended: bool,
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
            match self.coding {
                // RFC 1952 section 2.2: a gzip file is a series of members,
                // each inflated afresh.
                Coding::Gzip => self.codec = Codec::new(Coding::Gzip),
                // RFC 8878 section 3.1: a zstd stream is a series of frames,
                // skippable ones among them; the codec goes on to the next.
                Coding::Zstd => {}
                Coding::Deflate | Coding::Brotli | Coding::Chunked => {
                    return Err(CodingError::TrailingData {
                        coding: self.coding,
                    });
                }
            }
            self.ended = false;
        }
        let out = &mut self.out[..];
        let progress = match &mut self.codec {
            Codec::Inflate(codec) => codec.step(input, out),
            Codec::Brotli(codec) => codec.step(input, out),
            Codec::Zstd(codec) => codec.step(input, out),
            Codec::Chunked(codec) => codec.step(input, out),
        }?;
        self.ended = progress.ended;
        Ok((progress.used, progress.written))
    }
}

impl Codec {
    fn new(coding: Coding) -> Codec {
        match coding {
            Coding::Gzip => Codec::Inflate(Inflate::gzip()),
            Coding::Deflate => Codec::Inflate(Inflate::deflate()),
            Coding::Brotli => Codec::Brotli(Brotli::new()),
            Coding::Zstd => Codec::Zstd(Zstd::new()),
            Coding::Chunked => Codec::Chunked(Chunked::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ZSTD_WINDOW_LOG_MAX;
    use std::io::Write;

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
    }

    #[test]
    fn gzip_members_follow_one_another() {
        let mut coded = gzip(b"first ");
        coded.extend(gzip(b"second"));
        assert_eq!(decode(&[Coding::Gzip], &coded, 3).unwrap(), b"first second");
    }

    #[test]
    fn zstd_frames_follow_one_another_and_skippable_ones_are_skipped() {
        /// A skippable frame (RFC 8878 section 3.1.2) holding `data`.
        fn skippable(magic_low: u8, data: &[u8]) -> Vec<u8> {
            let mut frame = vec![0x50 | magic_low, 0x2a, 0x4d, 0x18];
            frame.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
            frame.extend_from_slice(data);
            frame
        }
        let (first, second) = (sample(70_000), sample(3_000));
        let mut coded = zstd(&first);
        coded.extend(zstd(&second));
        let mut whole = first.clone();
        whole.extend_from_slice(&second);
        for piece in [3, 4096, coded.len()] {
            assert_eq!(
                decode(&[Coding::Zstd], &coded, piece).as_deref(),
                Ok(whole.as_slice()),
                "two frames in pieces of {piece}"
            );
        }
        let mut skipping = skippable(0, b"metadata, not content");
        skipping.extend(zstd(&second));
        skipping.extend(skippable(0xf, b""));
        skipping.extend(zstd(b""));
        for piece in [1, 5, skipping.len()] {
            assert_eq!(
                decode(&[Coding::Zstd], &skipping, piece).as_deref(),
                Ok(second.as_slice()),
                "skippable frames in pieces of {piece}"
            );
        }
        // A second frame cut short is a cut stream, not a shorter file.
        let cut = &coded[..coded.len() - 2];
        assert_eq!(
            decode(&[Coding::Zstd], cut, 1000),
            Err(CodingError::Truncated {
                coding: Coding::Zstd
            })
        );
        let mut junk = zstd(&second);
        junk.extend_from_slice(b"junk after the frame");
        assert!(matches!(
            decode(&[Coding::Zstd], &junk, 7),
            Err(CodingError::Corrupt { .. })
        ));
    }

    #[test]
    fn an_empty_body_is_empty_content_whatever_its_codings() {
        for codings in [
            &[Coding::Gzip][..],
            &[Coding::Deflate],
            &[Coding::Brotli],
            &[Coding::Zstd],
            &[Coding::Chunked, Coding::Gzip],
        ] {
            assert_eq!(decode(codings, b"", 1), Ok(Vec::new()), "{codings:?}");
        }
        // Fed nothing but empty pieces: still nothing.
        let mut decoder = Decoder::new(&[Coding::Gzip]);
        let mut sink = |_: &[u8]| -> Result<(), ()> { panic!("nothing to hand over") };
        decoder.feed(b"", &mut sink).unwrap();
        decoder.finish(&mut sink).unwrap();
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
                decode(&[coding], &coded[..1], 100),
                Err(CodingError::Truncated { coding }),
                "one byte of {coding} is not a {coding} stream"
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
}
