//! The greeting protocol's framing: bytes in, replies out. No sockets here.
//!
//! The tutorial's server treats the bytes of one `recv` as one message and
//! answers `Hello, <message>!` with no line ending. TCP has no message
//! boundaries, so that only works for a client that, like the tutorial's,
//! sends one message and waits for the reply. A person at `nc` or a script
//! sends lines instead. [`Framer`] serves both:
//!
//! - A connection starts in **raw mode**: the bytes of one read are one
//!   message, and the reply has no line ending.
//! - The first read that contains a line feed switches the connection to
//!   **line mode** for good, starting with that read: each LF-terminated line
//!   is one message (a CR right before the LF belongs to the line ending), and
//!   its reply ends with that line's own ending. A line may arrive in pieces,
//!   and one read may hold several lines.
//! - The message `exit` (after its line ending is removed) closes the
//!   connection. At end of stream, an unterminated last line is answered.
//! - Invalid UTF-8 becomes U+FFFD in the reply. A line longer than
//!   [`MAX_LINE`] bytes is answered with [`LINE_TOO_LONG`] and the connection
//!   is closed, so no client can make the server buffer without bound.

use std::collections::TryReserveError;

/// What the server sends first on every connection, exactly as the tutorial does.
pub const WELCOME: &[u8] = b"Welcome!";

/// The one line a client gets when the server is full.
pub const BUSY: &[u8] = b"Busy, try again later\n";

/// The one line a client gets before it is closed for sending a line longer than [`MAX_LINE`].
pub const LINE_TOO_LONG: &[u8] = b"Error: line too long\n";

/// The longest message, in bytes without its line ending, that line mode accepts.
/// 64 KiB is far beyond any name or chat line, yet small enough that a client
/// streaming bytes without a newline holds at most this much of the server's memory.
pub const MAX_LINE: usize = 64 * 1024;

/// The message that ends a conversation.
pub const EXIT: &[u8] = b"exit";

/// The most bytes the server takes in one read: the tutorial's `recv(1024)`.
/// In raw mode one read is one message, so a longer message is answered in
/// pieces of this size; a client that wants one reply per message keeps its
/// messages this short.
pub const RAW_MESSAGE_MAX: usize = 1024;

/// The one line a client gets before it is closed because the server could
/// not allocate the memory its message needs.
pub const OUT_OF_MEMORY: &[u8] = b"Error: out of memory\n";

/// The longest reply to one message: each byte of invalid UTF-8 may become
/// U+FFFD (3 bytes), around `Hello, ` and `!` and a CRLF. A reply buffer
/// never grows beyond this much more than it holds.
pub const MAX_REPLY: usize = 3 * MAX_LINE + 10;

/// What the connection should do after the replies produced so far are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading.
    Continue,
    /// Send the replies, then close the connection: `exit`, or end of stream.
    Close,
    /// Send the replies, which end with [`LINE_TOO_LONG`], then close the connection.
    LineTooLong,
    /// The memory for a line or a reply could not be allocated: send the
    /// replies so far, then [`OUT_OF_MEMORY`], then close the connection.
    OutOfMemory,
}

/// The framing state of one connection.
#[derive(Debug, Default)]
pub struct Framer {
    line_mode: bool,
    /// The start of a line whose LF has not arrived yet (line mode only),
    /// without a CR that ends it: at most [`MAX_LINE`] bytes, allocated to
    /// no more than that.
    partial: Vec<u8>,
    /// The held line ended in a CR: part of the line ending if the LF comes
    /// next, of the message otherwise. Kept aside so that a message of
    /// exactly [`MAX_LINE`] bytes and its CR fit the buffer.
    cr: bool,
}

impl Framer {
    /// A framer in raw mode, as every connection starts.
    pub fn new() -> Framer {
        Framer::default()
    }

    /// Takes the bytes of one read (never empty: an empty read is end of
    /// stream, see [`Framer::finish`]) and appends the replies they call for
    /// to `replies`.
    pub fn feed(&mut self, input: &[u8], replies: &mut Vec<u8>) -> Flow {
        if !self.line_mode {
            if !input.contains(&b'\n') {
                return answer(input, b"", replies);
            }
            self.line_mode = true;
        }
        self.feed_lines(input, replies)
    }

    /// Ends the stream: answers an unterminated last line, if any.
    pub fn finish(&mut self, replies: &mut Vec<u8>) -> Flow {
        let mut line = std::mem::take(&mut self.partial);
        if std::mem::take(&mut self.cr) {
            if line.len() >= MAX_LINE {
                return refuse(replies);
            }
            if line.try_reserve_exact(1).is_err() {
                return Flow::OutOfMemory;
            }
            line.push(b'\r');
        }
        if line.is_empty() {
            return Flow::Close;
        }
        match answer(&line, b"", replies) {
            Flow::Continue => Flow::Close,
            other => other,
        }
    }

    /// Bytes of memory the framer holds for an unfinished line.
    #[cfg(test)]
    fn buffered(&self) -> usize {
        self.partial.capacity()
    }

    fn feed_lines(&mut self, mut input: &[u8], replies: &mut Vec<u8>) -> Flow {
        while let Some(lf) = input.iter().position(|&b| b == b'\n') {
            let (piece, rest) = (&input[..lf], &input[lf + 1..]);
            input = rest;
            let flow = self.end_line(piece, replies);
            if flow != Flow::Continue {
                return flow;
            }
        }
        if input.is_empty() {
            return Flow::Continue;
        }
        // A CR last may still belong to the line ending; a CR held from
        // before is now part of the message.
        let (body, cr) = match input.strip_suffix(b"\r") {
            Some(body) => (body, true),
            None => (input, false),
        };
        let held_cr = usize::from(self.cr);
        if self.partial.len() + held_cr + body.len() > MAX_LINE {
            self.partial = Vec::new();
            self.cr = false;
            return refuse(replies);
        }
        if try_grow(&mut self.partial, held_cr + body.len(), MAX_LINE).is_err() {
            return Flow::OutOfMemory;
        }
        if self.cr {
            self.partial.push(b'\r');
        }
        self.partial.extend_from_slice(body);
        self.cr = cr;
        Flow::Continue
    }

    /// Answers the line that `piece` (given without its LF) ends.
    fn end_line(&mut self, piece: &[u8], replies: &mut Vec<u8>) -> Flow {
        let held_cr = std::mem::take(&mut self.cr);
        let (body, ending): (&[u8], &[u8]) = match piece.strip_suffix(b"\r") {
            Some(body) => (body, b"\r\n"),
            None if piece.is_empty() && held_cr => (piece, b"\r\n"),
            None => (piece, b"\n"),
        };
        // A held CR followed by more than the LF is part of the message.
        let cr_in_message = held_cr && !piece.is_empty();
        if self.partial.is_empty() && !cr_in_message {
            if body.len() > MAX_LINE {
                return refuse(replies);
            }
            return answer(body, ending, replies);
        }
        let mut line = std::mem::take(&mut self.partial);
        let more = usize::from(cr_in_message) + body.len();
        if line.len() + more > MAX_LINE {
            return refuse(replies);
        }
        if line.try_reserve_exact(more).is_err() {
            return Flow::OutOfMemory;
        }
        if cr_in_message {
            line.push(b'\r');
        }
        line.extend_from_slice(body);
        answer(&line, ending, replies)
    }
}

/// Appends [`LINE_TOO_LONG`]; the connection is to close. Its 21 bytes are
/// not asked for with `try_reserve`: a process that cannot allocate that
/// much fails everywhere, as the capacity rule's margins are there to
/// prevent.
fn refuse(replies: &mut Vec<u8>) -> Flow {
    replies.extend_from_slice(LINE_TOO_LONG);
    Flow::LineTooLong
}

/// Makes room in `buffer` for `additional` more bytes. The capacity grows
/// by doubling, for few copies, but never beyond `ceiling` (or, if more is
/// needed, beyond exactly what is needed): a buffer of at most `ceiling`
/// bytes never costs more than that. Failing, it leaves `buffer` as it was.
pub fn try_grow(
    buffer: &mut Vec<u8>,
    additional: usize,
    ceiling: usize,
) -> Result<(), TryReserveError> {
    let needed = buffer.len().saturating_add(additional);
    if needed <= buffer.capacity() {
        return Ok(());
    }
    let target = buffer
        .capacity()
        .saturating_mul(2)
        .max(GROW_FIRST)
        .min(ceiling)
        .max(needed);
    buffer.try_reserve_exact(target - buffer.len())
}

/// The first allocation of a growing buffer: one read's worth.
const GROW_FIRST: usize = RAW_MESSAGE_MAX;

/// Appends `Hello, <message>!<ending>`, or asks to close on `exit`.
fn answer(message: &[u8], ending: &[u8], replies: &mut Vec<u8>) -> Flow {
    if message == EXIT {
        return Flow::Close;
    }
    let room = reply_len(message) + ending.len();
    if try_grow(replies, room, MAX_REPLY).is_err() {
        return Flow::OutOfMemory;
    }
    push_reply(message, replies);
    replies.extend_from_slice(ending);
    Flow::Continue
}

/// Appends the reply to one message, without a line ending: `Hello, <message>!`,
/// invalid UTF-8 replaced by U+FFFD. The server, the client and load mode
/// all build or check replies this way.
pub fn write_reply(message: &[u8], replies: &mut Vec<u8>) {
    replies.reserve(reply_len(message));
    push_reply(message, replies);
}

/// The length of the reply to `message`, without a line ending.
fn reply_len(message: &[u8]) -> usize {
    let text: usize = message
        .utf8_chunks()
        .map(|chunk| chunk.valid().len() + if chunk.invalid().is_empty() { 0 } else { 3 })
        .sum();
    b"Hello, !".len() + text
}

/// Writes the reply into room already made: each invalid sequence becomes
/// one U+FFFD, as `String::from_utf8_lossy` does, without its copy.
fn push_reply(message: &[u8], replies: &mut Vec<u8>) {
    replies.extend_from_slice(b"Hello, ");
    for chunk in message.utf8_chunks() {
        replies.extend_from_slice(chunk.valid().as_bytes());
        if !chunk.invalid().is_empty() {
            replies.extend_from_slice(
                char::REPLACEMENT_CHARACTER
                    .encode_utf8(&mut [0; 4])
                    .as_bytes(),
            );
        }
    }
    replies.push(b'!');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Just;

    /// Feeds each read in turn, then the end of stream; returns everything sent
    /// and the flow that ended the conversation.
    fn feed_all(reads: &[&[u8]]) -> (Vec<u8>, Flow) {
        let mut framer = Framer::new();
        let mut replies = Vec::new();
        for read in reads {
            let flow = framer.feed(read, &mut replies);
            if flow != Flow::Continue {
                return (replies, flow);
            }
        }
        let flow = framer.finish(&mut replies);
        (replies, flow)
    }

    fn replies(reads: &[&[u8]]) -> Vec<u8> {
        feed_all(reads).0
    }

    #[test]
    fn raw_mode_is_the_tutorials_transcript() {
        let (sent, flow) = feed_all(&[b"Michael", b"Tracy", b"Sarah", b"exit", b"more"]);
        assert_eq!(sent, b"Hello, Michael!Hello, Tracy!Hello, Sarah!");
        assert_eq!(flow, Flow::Close);
    }

    #[test]
    fn raw_mode_answers_each_read_whole() {
        assert_eq!(replies(&[b"a b\rc"]), b"Hello, a b\rc!");
        assert_eq!(replies(&[b"exit "]), b"Hello, exit !");
    }

    #[test]
    fn line_endings_are_kept() {
        assert_eq!(replies(&[b"Bob\r\n"]), b"Hello, Bob!\r\n");
        assert_eq!(replies(&[b"Bob\n"]), b"Hello, Bob!\n");
        assert_eq!(replies(&[b"A\nB\r\n"]), b"Hello, A!\nHello, B!\r\n");
    }

    #[test]
    fn two_lines_in_one_read_get_two_replies() {
        assert_eq!(replies(&[b"Ann\nBob\n"]), b"Hello, Ann!\nHello, Bob!\n");
    }

    #[test]
    fn a_line_split_across_reads_is_one_message() {
        assert_eq!(
            replies(&[b"x\n", b"Bo", b"b", b"\r", b"\n"]),
            b"Hello, x!\nHello, Bob!\r\n"
        );
    }

    #[test]
    fn the_first_fragment_before_any_newline_is_raw() {
        // The documented cost of serving raw clients: the first read has no LF yet.
        assert_eq!(replies(&[b"Bo", b"b\n"]), b"Hello, Bo!Hello, b!\n");
    }

    #[test]
    fn line_mode_is_for_good() {
        let mut framer = Framer::new();
        let mut sent = Vec::new();
        assert_eq!(framer.feed(b"a\n", &mut sent), Flow::Continue);
        // In line mode, `b` is the start of a line, held until its LF: raw
        // mode would have answered it at once.
        assert_eq!(framer.feed(b"b", &mut sent), Flow::Continue);
        assert_eq!(sent, b"Hello, a!\n");
    }

    #[test]
    fn an_empty_line_is_a_message() {
        assert_eq!(replies(&[b"\n\r\n"]), b"Hello, !\nHello, !\r\n");
    }

    #[test]
    fn exit_closes_after_earlier_replies() {
        let (sent, flow) = feed_all(&[b"Ann\nexit\r\nBob\n", b"more\n"]);
        assert_eq!(sent, b"Hello, Ann!\n");
        assert_eq!(flow, Flow::Close);
        assert_eq!(feed_all(&[b"exit\n", b"more\n"]), (Vec::new(), Flow::Close));
    }

    #[test]
    fn exit_must_be_exact() {
        assert_eq!(
            replies(&[b"exit \nExit\n exit\n"]),
            b"Hello, exit !\nHello, Exit!\nHello,  exit!\n"
        );
    }

    #[test]
    fn unterminated_tail_is_answered_at_end_of_stream() {
        assert_eq!(replies(&[b"Ann\nBo", b"b"]), b"Hello, Ann!\nHello, Bob!");
        // A CR without an LF is not a line ending.
        assert_eq!(replies(&[b"Ann\nBob\r"]), b"Hello, Ann!\nHello, Bob\r!");
        // `exit` as the tail ends the stream with nothing to say.
        assert_eq!(replies(&[b"Ann\nexit"]), b"Hello, Ann!\n");
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        assert_eq!(replies(&[b"B\xffb"]), "Hello, B\u{FFFD}b!".as_bytes());
        assert_eq!(
            replies(&[b"\xc3\n", b"\xc3\xa9\n"]),
            "Hello, \u{FFFD}!\nHello, \u{e9}!\n".as_bytes()
        );
    }

    #[test]
    fn a_line_of_max_length_is_answered() {
        let line = vec![b'a'; MAX_LINE];
        let mut input = b"x\n".to_vec();
        input.extend_from_slice(&line);
        input.extend_from_slice(b"\r\n");
        let mut expected = b"Hello, x!\nHello, ".to_vec();
        expected.extend_from_slice(&line);
        expected.extend_from_slice(b"!\r\n");
        // In pieces, so that it is buffered on the way.
        let pieces: Vec<&[u8]> = input.chunks(1000).collect();
        assert_eq!(feed_all(&pieces), (expected, Flow::Close));
    }

    #[test]
    fn a_line_too_long_is_refused_and_closes() {
        let mut input = b"x\n".to_vec();
        input.extend_from_slice(&vec![b'a'; MAX_LINE + 1]);
        input.push(b'\n');
        assert_eq!(
            feed_all(&[&input]),
            (
                b"Hello, x!\nError: line too long\n".to_vec(),
                Flow::LineTooLong
            )
        );
    }

    #[test]
    fn an_endless_line_is_refused_without_waiting_for_its_end() {
        let mut framer = Framer::new();
        let mut sent = Vec::new();
        let chunk = [b'a'; 1024];
        assert_eq!(framer.feed(b"x\n", &mut sent), Flow::Continue);
        let mut flow = Flow::Continue;
        let mut fed = 0;
        while flow == Flow::Continue {
            flow = framer.feed(&chunk, &mut sent);
            fed += chunk.len();
            assert!(fed <= MAX_LINE + chunk.len() + 1, "buffered without bound");
        }
        assert_eq!(sent, b"Hello, x!\nError: line too long\n");
        assert!(framer.partial.capacity() == 0, "the buffer was kept");
    }

    #[test]
    fn one_byte_over_the_limit_is_refused_at_once_unless_it_is_a_cr() {
        let mut framer = Framer::new();
        let mut sent = Vec::new();
        assert_eq!(framer.feed(b"x\n", &mut sent), Flow::Continue);
        let mut line = vec![b'a'; MAX_LINE];
        line.push(b'\r');
        assert_eq!(framer.feed(&line, &mut sent), Flow::Continue);
        assert_eq!(framer.feed(b"\n", &mut sent), Flow::Continue);

        // The same length ending in anything but a CR cannot become a line
        // short enough, so the client is not left waiting for a reply.
        *line.last_mut().expect("not empty") = b'a';
        for (head, tail) in [
            (&line[..], &b""[..]),
            (&line[..MAX_LINE], &line[MAX_LINE..]),
        ] {
            let mut framer = Framer::new();
            let mut sent = Vec::new();
            assert_eq!(framer.feed(b"x\n", &mut sent), Flow::Continue);
            let mut flow = framer.feed(head, &mut sent);
            if !tail.is_empty() {
                assert_eq!(flow, Flow::Continue);
                flow = framer.feed(tail, &mut sent);
            }
            assert_eq!(flow, Flow::LineTooLong);
            assert_eq!(sent, b"Hello, x!\nError: line too long\n");
        }
    }

    #[test]
    fn a_too_long_tail_at_end_of_stream_is_refused() {
        let mut tail = b"x\n".to_vec();
        tail.extend_from_slice(&vec![b'a'; MAX_LINE + 1]);
        assert_eq!(
            feed_all(&[&tail]),
            (
                b"Hello, x!\nError: line too long\n".to_vec(),
                Flow::LineTooLong
            )
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(128))]

        /// The reply is `Hello, ` and the message as `from_utf8_lossy`
        /// reads it, in exactly the room reserved for it.
        #[test]
        fn replies_read_invalid_utf8_as_from_utf8_lossy_does(
            message in proptest::collection::vec(
                proptest::prop_oneof![Just(0xff_u8), Just(0xe2), Just(0x82), proptest::num::u8::ANY],
                0..64,
            ),
        ) {
            let mut reply = Vec::new();
            write_reply(&message, &mut reply);
            let expected = format!("Hello, {}!", String::from_utf8_lossy(&message));
            proptest::prop_assert_eq!(reply_len(&message), expected.len());
            proptest::prop_assert_eq!(reply, expected.into_bytes());
        }

        /// Once in line mode, how the bytes are cut into reads never changes the replies.
        #[test]
        fn reads_do_not_matter_in_line_mode(
            body in proptest::collection::vec(
                proptest::prop_oneof![
                    Just(b'\n'), Just(b'\r'), Just(0xff_u8), Just(b'e'), Just(b'x'), Just(b'i'), Just(b't'),
                    proptest::num::u8::ANY,
                ],
                0..400,
            ),
            cuts in proptest::collection::vec(0usize..400, 0..20),
        ) {
            let mut input = b"\n".to_vec();
            input.extend_from_slice(&body);
            let whole = feed_all(&[&input]);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| 1 + c % input.len()).collect();
            cuts.push(input.len());
            cuts.sort_unstable();
            cuts.dedup();
            let mut reads = Vec::new();
            let mut start = 0;
            for cut in cuts {
                reads.push(&input[start..cut]);
                start = cut;
            }
            proptest::prop_assert_eq!(feed_all(&reads), whole);
        }
    }

    #[test]
    fn any_split_after_the_first_newline_gives_the_same_replies() {
        // Any split of a line-mode conversation after the first LF gives the same replies.
        let input = b"a\nBob\r\nC\xffd\n\nend";
        let whole = replies(&[input]);
        for cut in 2..input.len() {
            let (a, b) = input.split_at(cut);
            assert_eq!(replies(&[a, b]), whole, "cut at {cut}");
        }
    }

    #[test]
    fn an_unfinished_line_never_holds_more_than_max_line() {
        let mut framer = Framer::new();
        let mut sent = Vec::new();
        assert_eq!(framer.feed(b"x\n", &mut sent), Flow::Continue);
        for _ in 0..MAX_LINE / RAW_MESSAGE_MAX {
            assert_eq!(
                framer.feed(&[b'a'; RAW_MESSAGE_MAX], &mut sent),
                Flow::Continue
            );
            assert!(framer.buffered() <= MAX_LINE, "{}", framer.buffered());
        }
        // Exactly MAX_LINE bytes, then the CR and the LF in reads of their own.
        assert_eq!(framer.feed(b"\r", &mut sent), Flow::Continue);
        assert_eq!(framer.buffered(), MAX_LINE);
        assert_eq!(framer.feed(b"\n", &mut sent), Flow::Continue);
        let mut expected = b"Hello, x!\nHello, ".to_vec();
        expected.extend_from_slice(&[b'a'; MAX_LINE]);
        expected.extend_from_slice(b"!\r\n");
        assert_eq!(sent, expected);
        assert_eq!(framer.buffered(), 0);

        // 65,000 bytes held cost 65,000 bytes, not the next power of two.
        let mut framer = Framer::new();
        framer.feed(b"\n", &mut Vec::new());
        for _ in 0..65 {
            framer.feed(&[b'b'; 1000], &mut Vec::new());
        }
        assert!(framer.buffered() <= MAX_LINE, "{}", framer.buffered());
    }

    #[test]
    fn a_held_cr_followed_by_more_than_the_lf_is_part_of_the_message() {
        assert_eq!(
            replies(&[b"\n", b"a\r", b"b\n"]),
            b"Hello, !\nHello, a\rb!\n"
        );
        assert_eq!(replies(&[b"\n", b"a\r", b"b"]), b"Hello, !\nHello, a\rb!");
        assert_eq!(replies(&[b"\n", b"a\r"]), b"Hello, !\nHello, a\r!");
        assert_eq!(
            replies(&[b"\n", b"a\r", b"\r\n"]),
            b"Hello, !\nHello, a\r!\r\n"
        );
        // At the limit, the held CR followed by a byte makes the line too long.
        let full = vec![b'a'; MAX_LINE];
        let (sent, flow) = feed_all(&[b"\n", &full, b"\r", b"b"]);
        assert_eq!(flow, Flow::LineTooLong);
        assert_eq!(sent, [b"Hello, !\n", LINE_TOO_LONG].concat());
        let (_, flow) = feed_all(&[b"\n", &full, b"\r"]);
        assert_eq!(flow, Flow::LineTooLong);
    }

    #[test]
    fn buffers_grow_by_doubling_up_to_their_ceiling_and_no_further() {
        let mut buffer = Vec::new();
        try_grow(&mut buffer, 10, 5000).expect("room");
        assert_eq!(buffer.capacity(), GROW_FIRST);
        buffer.resize(GROW_FIRST, 0);
        try_grow(&mut buffer, 1, 5000).expect("room");
        assert_eq!(buffer.capacity(), 2 * GROW_FIRST);
        buffer.resize(2 * GROW_FIRST, 0);
        try_grow(&mut buffer, 1, 3000).expect("room");
        assert_eq!(buffer.capacity(), 3000);
        buffer.resize(3000, 0);
        try_grow(&mut buffer, 500, 3000).expect("room");
        assert_eq!(buffer.capacity(), 3500);
        // A reservation no allocator can meet fails, and leaves the buffer.
        assert!(try_grow(&mut buffer, usize::MAX / 2, usize::MAX).is_err());
        assert_eq!(buffer.len(), 3000);
    }

    #[test]
    fn the_documented_reply() {
        let mut reply = Vec::new();
        crate::greeting::write_reply(b"Bob", &mut reply);
        assert_eq!(reply, b"Hello, Bob!");
    }
}
