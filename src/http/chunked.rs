//! The chunked transfer coding (RFC 9112 section 7.1), decoded incrementally
//! and without copying: chunk data is handed back as ranges of the input.
//!
//! Chunk-size lines are parsed by `httparse::parse_chunk_size`, after this
//! module has found the whole line within [`MAX_CHUNK_LINE_BYTES`], checked
//! that it starts with a hex digit (httparse reads an empty size as 0) and
//! dropped leading zeros (`1*HEXDIG` allows any number; httparse counts them
//! against its 16 digits). Trailer fields are checked with httparse and
//! discarded, obsolete line folds included. Like the head, the framing lines
//! may end in a bare LF (RFC 9112 section 2.2).

use super::{HttpError, Step, Truncation, is_forbidden_in_value};

/// Longest chunk-size line, extensions and line ending included. A size has
/// at most 16 significant hex digits; extensions are rarely used and ignored
/// here, so 4 KiB is generous while bounding what a server can make us buffer.
pub const MAX_CHUNK_LINE_BYTES: usize = 4 * 1024;

/// Most significant hex digits in a chunk size (leading zeros aside): 16
/// fill a u64, and httparse takes no more.
pub const MAX_CHUNK_SIZE_DIGITS: usize = 16;

/// Largest trailer section after the last chunk, blank line included: the
/// few fields servers send (checksums, timing) fit many times over.
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// Where the decoder is in the chunked framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes to go.
    Data(u64),
    /// Expecting the line ending after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer field lines until a blank line; `bytes`
    /// of them so far (0: no field yet, so a fold has nothing to continue).
    Trailers { bytes: usize },
    /// The blank line after the trailers has been read.
    Done,
}

/// A state machine over a chunked body.
#[derive(Debug, Clone)]
pub(super) struct ChunkedDecoder {
    state: State,
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        ChunkedDecoder { state: State::Size }
    }

    /// Reads framing from the start of `input` up to and including the next
    /// run of chunk data (at most one chunk's worth, so that it is one range),
    /// or until the input runs out or the body ends.
    pub fn decode(&mut self, input: &[u8]) -> Result<Step, HttpError> {
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            match self.state {
                State::Size => {
                    let Some(len) = line(rest, MAX_CHUNK_LINE_BYTES)
                        .map_err(|TooLong| HttpError::ChunkLineTooLong)?
                    else {
                        return Ok(framing_only(pos));
                    };
                    let size = chunk_size(&rest[..len])?;
                    pos += len;
                    self.state = if size == 0 {
                        State::Trailers { bytes: 0 }
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(remaining) => {
                    // The hot path: one range over as much data as is here.
                    let n = usize::try_from(remaining).map_or(rest.len(), |r| r.min(rest.len()));
                    if n == 0 {
                        return Ok(framing_only(pos));
                    }
                    let left = remaining - n as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                    return Ok(Step {
                        consumed: pos + n,
                        data: pos..pos + n,
                    });
                }
                State::DataEnd => {
                    let len = match rest {
                        [] | [b'\r'] => return Ok(framing_only(pos)),
                        [b'\r', b'\n', ..] => 2,
                        [b'\n', ..] => 1,
                        _ => return Err(HttpError::ChunkDataTooLong),
                    };
                    pos += len;
                    self.state = State::Size;
                }
                State::Trailers { bytes } => {
                    let Some(len) = line(rest, MAX_TRAILER_BYTES - bytes)
                        .map_err(|TooLong| HttpError::TrailersTooLarge)?
                    else {
                        return Ok(framing_only(pos));
                    };
                    let field = &rest[..len];
                    pos += len;
                    if field == b"\r\n" || field == b"\n" {
                        self.state = State::Done;
                        return Ok(framing_only(pos));
                    }
                    check_trailer_line(field, bytes > 0)?;
                    self.state = State::Trailers { bytes: bytes + len };
                }
                State::Done => return Ok(framing_only(pos)),
            }
        }
    }

    /// True once the last chunk and the trailer section have been read.
    pub fn is_complete(&self) -> bool {
        self.state == State::Done
    }

    /// The stream ended: an error unless the body was complete.
    pub fn finish(&self) -> Result<(), HttpError> {
        let cut = match self.state {
            State::Done => return Ok(()),
            State::Size => Truncation::BeforeLastChunk,
            State::Data(_) | State::DataEnd => Truncation::InsideChunk,
            State::Trailers { .. } => Truncation::InsideTrailers,
        };
        Err(HttpError::Truncated(cut))
    }
}

/// A step that used `consumed` bytes of framing and carried no data.
fn framing_only(consumed: usize) -> Step {
    Step {
        consumed,
        data: consumed..consumed,
    }
}

/// A line that cannot end within its limit.
struct TooLong;

/// The length of the line at the start of `input`, LF included: `None` when
/// it is not all there yet, [`TooLong`] when it cannot end within `max` bytes.
fn line(input: &[u8], max: usize) -> Result<Option<usize>, TooLong> {
    let window = &input[..input.len().min(max)];
    match window.iter().position(|&b| b == b'\n') {
        Some(lf) => Ok(Some(lf + 1)),
        None if input.len() >= max => Err(TooLong),
        None => Ok(None),
    }
}

/// The size from one whole chunk-size line (`line` ends with LF).
fn chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(HttpError::ChunkSizeNotHex(line.trim_ascii_end().to_vec()));
    }
    // Keep one digit of an all-zero size: "0" is the last chunk.
    let zeros = line[..digits - 1]
        .iter()
        .take_while(|&&b| b == b'0')
        .count();
    if digits - zeros > MAX_CHUNK_SIZE_DIGITS {
        return Err(HttpError::ChunkSizeTooLarge);
    }
    let significant = &line[zeros..];
    // httparse wants CRLF; give it one for a bare-LF line (rare, and short).
    let crlf_line;
    let significant = if significant.ends_with(b"\r\n") {
        significant
    } else {
        crlf_line = [&significant[..significant.len() - 1], b"\r\n"].concat();
        &crlf_line
    };
    match httparse::parse_chunk_size(significant) {
        Ok(httparse::Status::Complete((len, size))) if len == significant.len() => Ok(size),
        _ => Err(HttpError::MalformedChunkLine(
            line.trim_ascii_end().to_vec(),
        )),
    }
}

/// Checks one trailer line (`name: value` and its line ending), or, after a
/// field (`after_field`), an obsolete fold continuing its value: trailers are
/// discarded, but the head accepts folds, so the trailer section does too.
fn check_trailer_line(line: &[u8], after_field: bool) -> Result<(), HttpError> {
    let well_formed = if after_field && matches!(line.first(), Some(b' ' | b'\t')) {
        // The rest of a value: a line ending as the only controls (RFC 9112
        // section 5.2 and RFC 9110 section 5.5).
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        !text.iter().copied().any(is_forbidden_in_value)
    } else {
        // A single field line is a header section missing its blank line:
        // httparse says Partial when the line is well formed.
        let mut field = [httparse::EMPTY_HEADER; 1];
        matches!(
            httparse::parse_headers(line, &mut field),
            Ok(httparse::Status::Partial)
        )
    };
    if well_formed {
        Ok(())
    } else {
        Err(HttpError::MalformedTrailer(line.trim_ascii_end().to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{BodyDecoder, Framing};

    /// Decodes `wire` fed in pieces of `read` bytes (the caller keeps what
    /// was not consumed), returning the body and whether it completed.
    fn decode_in_reads(wire: &[u8], read: usize) -> Result<(Vec<u8>, bool), HttpError> {
        let mut decoder = BodyDecoder::new(Framing::Chunked);
        let mut body = Vec::new();
        let mut buffer = Vec::new();
        let mut fed = 0;
        loop {
            let used = decoder.decode_into(&buffer, &mut body)?;
            buffer.drain(..used);
            if decoder.is_complete() || fed == wire.len() {
                return Ok((body, decoder.is_complete()));
            }
            let next = (fed + read).min(wire.len());
            buffer.extend_from_slice(&wire[fed..next]);
            fed = next;
        }
    }

    fn decode_all(wire: &[u8]) -> Result<Vec<u8>, HttpError> {
        // Every small read size, where the splits fall everywhere, and one read.
        let reads = (1..=wire.len().min(64)).chain([wire.len().max(1)]);
        let mut results = reads.map(|read| decode_in_reads(wire, read));
        let first = results.next().unwrap();
        for other in results {
            assert_eq!(other, first, "every read size decodes alike");
        }
        let (body, complete) = first?;
        assert!(complete, "the body should be complete");
        Ok(body)
    }

    fn bad_chunk(wire: &[u8]) -> HttpError {
        decode_in_reads(wire, wire.len()).expect_err("a malformed chunked body")
    }

    #[test]
    fn decodes_chunks_and_trailers() {
        let wire =
            b"5\r\nhello\r\n1;name=value\r\n \r\nA\r\n0123456789\r\n0\r\nChecksum: x\r\n\r\n";
        assert_eq!(decode_all(wire).unwrap(), b"hello 0123456789");
    }

    #[test]
    fn data_comes_as_one_range_per_chunk() {
        let wire = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        let mut decoder = ChunkedDecoder::new();
        let first = decoder.decode(wire).unwrap();
        assert_eq!((first.consumed, first.data.clone()), (8, 3..8));
        let second = decoder.decode(&wire[8..]).unwrap();
        assert_eq!((second.consumed, second.data), (11, 5..11));
        let last = decoder.decode(&wire[19..]).unwrap();
        assert_eq!(
            (last.consumed, last.data.is_empty()),
            (wire.len() - 19, true)
        );
        assert!(decoder.is_complete());
        assert_eq!(decoder.finish(), Ok(()));
        // Bytes after the body are left alone.
        assert_eq!(decoder.decode(b"extra").unwrap().consumed, 0);
    }

    #[test]
    fn bare_lf_framing_is_accepted() {
        assert_eq!(
            decode_all(b"5\nhello\n3;x\nabc\n0\nT: 1\n\n").unwrap(),
            b"helloabc"
        );
    }

    #[test]
    fn large_sizes_and_hex_case() {
        let mut decoder = ChunkedDecoder::new();
        let step = decoder.decode(b"FFFFFFFFFFFFFFFF\r\nab").unwrap();
        assert_eq!(step.data, 18..20);
        assert_eq!(decoder.state, State::Data(u64::MAX - 2));
        assert_eq!(
            decode_all(b"a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n")
                .unwrap()
                .len(),
            20
        );
    }

    #[test]
    fn leading_zeros_do_not_count_against_the_size_limit() {
        assert_eq!(
            decode_all(b"00000000000000005\r\nhello\r\n0000000000000000000\r\n\r\n").unwrap(),
            b"hello"
        );
        let mut decoder = ChunkedDecoder::new();
        decoder.decode(b"0000FFFFFFFFFFFFFFFF;x\n").unwrap();
        assert_eq!(decoder.state, State::Data(u64::MAX));
        // A line of zeros is still bounded by the line limit.
        let mut zeros = vec![b'0'; MAX_CHUNK_LINE_BYTES - 3];
        zeros.extend_from_slice(b"5\r\nhello\r\n0\r\n\r\n");
        assert_eq!(decode_all(&zeros).unwrap(), b"hello");
        zeros.insert(0, b'0');
        assert_eq!(bad_chunk(&zeros), HttpError::ChunkLineTooLong);
    }

    #[test]
    fn invalid_sizes_are_rejected() {
        let not_hex = |line: &[u8]| HttpError::ChunkSizeNotHex(line.to_vec());
        let malformed = |line: &[u8]| HttpError::MalformedChunkLine(line.to_vec());
        assert_eq!(
            bad_chunk(b"10000000000000000\r\n"),
            HttpError::ChunkSizeTooLarge
        );
        assert_eq!(
            bad_chunk(b"0010000000000000000\r\n"),
            HttpError::ChunkSizeTooLarge
        );
        assert_eq!(bad_chunk(b"zz\r\n"), not_hex(b"zz"));
        assert_eq!(bad_chunk(b"\r\n"), not_hex(b""));
        assert_eq!(bad_chunk(b";ext\r\n"), not_hex(b";ext"));
        assert_eq!(bad_chunk(b" 5\r\nhello\r\n"), not_hex(b" 5"));
        assert_eq!(bad_chunk(b"-5\r\n"), not_hex(b"-5"));
        assert_eq!(bad_chunk(b"0x5\r\nhello\r\n"), malformed(b"0x5"));
        assert_eq!(bad_chunk(b"5 5\r\n"), malformed(b"5 5"));
        assert_eq!(bad_chunk(b"5\r\r\n"), malformed(b"5"));
        assert_eq!(bad_chunk(b"5;a\rb\n"), malformed(b"5;a\rb"));
        assert_eq!(bad_chunk(b"005 5\r\n"), malformed(b"005 5"));
    }

    #[test]
    fn whitespace_and_extensions_after_the_size_are_accepted() {
        assert_eq!(
            decode_all(b"5 \t\r\nhello\r\n5 ; a=\"b c\"\r\nworld\r\n0\r\n\r\n").unwrap(),
            b"helloworld"
        );
    }

    #[test]
    fn chunk_line_length_is_bounded() {
        let mut line = b"5;".to_vec();
        line.resize(MAX_CHUNK_LINE_BYTES - 2, b'x');
        line.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
        assert_eq!(decode_all(&line).unwrap(), b"hello");
        let mut long = b"5;".to_vec();
        long.resize(MAX_CHUNK_LINE_BYTES - 1, b'x');
        long.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
        assert_eq!(bad_chunk(&long), HttpError::ChunkLineTooLong);
        // Without its end in sight, the line is refused as soon as it is too long.
        let endless = vec![b'1'; MAX_CHUNK_LINE_BYTES];
        assert_eq!(bad_chunk(&endless), HttpError::ChunkLineTooLong);
        assert!(decode_in_reads(&endless[..MAX_CHUNK_LINE_BYTES - 1], 100).is_ok());
    }

    #[test]
    fn data_longer_than_its_size_is_rejected() {
        assert_eq!(
            bad_chunk(b"3\r\nhello\r\n0\r\n\r\n"),
            HttpError::ChunkDataTooLong
        );
        assert_eq!(bad_chunk(b"3\r\nhel\rlo"), HttpError::ChunkDataTooLong);
    }

    #[test]
    fn trailers_are_checked_and_bounded() {
        let malformed = |line: &[u8]| HttpError::MalformedTrailer(line.to_vec());
        assert_eq!(
            bad_chunk(b"0\r\nnot a field\r\n\r\n"),
            malformed(b"not a field")
        );
        assert_eq!(bad_chunk(b"0\r\nX: a\0b\r\n\r\n"), malformed(b"X: a\0b"));
        assert_eq!(bad_chunk(b"0\r\n folded\r\n\r\n"), malformed(b" folded"));
        assert_eq!(
            bad_chunk(b"0\r\nX: a\r\n b\0c\r\n\r\n"),
            malformed(b" b\0c")
        );
        assert_eq!(
            bad_chunk(b"0\r\nX: a\r\n b\rc\r\n\r\n"),
            malformed(b" b\rc")
        );
        let mut wire = b"0\r\n".to_vec();
        while wire.len() < 3 + MAX_TRAILER_BYTES - 2 - 100 {
            wire.extend_from_slice(b"X-Padding: 0123456789012345678901234567890123456789\r\n");
        }
        wire.extend_from_slice(b"\r\n");
        assert_eq!(decode_all(&wire).unwrap(), b"");
        let mut big = b"0\r\n".to_vec();
        while big.len() < 3 + MAX_TRAILER_BYTES {
            big.extend_from_slice(b"X-Padding: 0123456789012345678901234567890123456789\r\n");
        }
        big.extend_from_slice(b"\r\n");
        assert_eq!(bad_chunk(&big), HttpError::TrailersTooLarge);
    }

    #[test]
    fn folded_trailers_are_accepted() {
        assert_eq!(
            decode_all(b"5\r\nhello\r\n0\r\nX: a\r\n b\r\n\tc\r\nY: 1\r\n\r\n").unwrap(),
            b"hello"
        );
        assert_eq!(decode_all(b"0\nX: a\n b\n\n").unwrap(), b"");
    }

    #[test]
    fn the_trailer_limit_error_names_the_limit() {
        let field = b"X-Padding: 0123456789012345678901234567890123456789\r\n";
        let mut wire = b"0\r\n".to_vec();
        while wire.len() - 3 + field.len() <= MAX_TRAILER_BYTES {
            wire.extend_from_slice(field);
        }
        // Fill the section exactly with one more field, then add a line.
        let fill = MAX_TRAILER_BYTES - (wire.len() - 3);
        wire.extend_from_slice(b"X: ");
        wire.resize(wire.len() + fill - 5, b'x');
        wire.extend_from_slice(b"\r\n");
        assert_eq!(wire.len() - 3, MAX_TRAILER_BYTES);
        wire.extend_from_slice(b"\r\n");
        assert_eq!(bad_chunk(&wire), HttpError::TrailersTooLarge);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let wire = b"5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n";
        for cut in 0..wire.len() {
            let (_, complete) = decode_in_reads(&wire[..cut], 3).unwrap();
            assert!(!complete, "cut at {cut}");
            let decoded = BodyDecoder::new(Framing::Chunked).decode_all(&wire[..cut]);
            assert!(
                matches!(decoded, Err(HttpError::Truncated(_))),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn truncations_say_where() {
        let cut = |wire: &[u8]| BodyDecoder::new(Framing::Chunked).decode_all(wire);
        let truncated = |at| Err(HttpError::Truncated(at));
        assert_eq!(
            cut(b"5\r\nhello\r\n"),
            truncated(Truncation::BeforeLastChunk)
        );
        assert_eq!(cut(b"5\r\nhel"), truncated(Truncation::InsideChunk));
        assert_eq!(cut(b"5\r\nhello\r"), truncated(Truncation::InsideChunk));
        assert_eq!(cut(b"0\r\nX: 1\r\n"), truncated(Truncation::InsideTrailers));
    }
}
