//! Cuts the client's byte stream into command lines and, after a 354, into
//! the message that DATA carries (RFC 5321 §4.1.1.4, used unchanged by RFC
//! 2033): lines up to `<CRLF>.<CRLF>`, with the leading dot of a stuffed
//! line removed (§4.5.2). Sans I/O: the connection pushes bytes in and acts
//! on the frames that come out.
//!
//! Limits: a command line longer than `max_line` is refused and skipped, and
//! message data beyond `max_message` is read to its end but not kept, so the
//! session can refuse each recipient (552) and stay usable.

/// The limits a framer enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest command line, CRLF excluded, in bytes.
    pub max_line: usize,
    /// Largest message (after dot-unstuffing), in bytes.
    pub max_message: u64,
}

/// What the framer has for the session.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A command line, without its line ending.
    Line(Vec<u8>),
    /// A command line was longer than the limit; it has been skipped.
    LineTooLong,
    /// The whole message, unstuffed, without the final `.` line.
    Message(Vec<u8>),
    /// The message was larger than the limit; it has been read and dropped.
    MessageTooBig,
}

#[derive(Debug)]
enum Mode {
    Line,
    /// Skipping the rest of an overlong command line.
    SkipLine,
    Data {
        body: Vec<u8>,
        size: u64,
        /// True when the next byte starts a line (where a dot matters).
        line_start: bool,
        over: bool,
    },
}

/// The framer.
#[derive(Debug)]
pub struct Framer {
    limits: Limits,
    input: Vec<u8>,
    pos: usize,
    mode: Mode,
}

impl Framer {
    /// A framer reading commands, with these limits.
    pub fn new(limits: Limits) -> Framer {
        Framer {
            limits,
            input: Vec::new(),
            pos: 0,
            mode: Mode::Line,
        }
    }

    /// Adds bytes from the client.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos * 2 >= self.input.len() {
            self.input.drain(..self.pos);
            self.pos = 0;
        }
        self.input.extend_from_slice(bytes);
    }

    /// Reads message data from here on (after the session answered 354).
    pub fn start_data(&mut self) {
        self.mode = Mode::Data {
            body: Vec::new(),
            size: 0,
            line_start: true,
            over: false,
        };
    }

    /// True when no partial line or message is buffered.
    pub fn is_idle(&self) -> bool {
        matches!(self.mode, Mode::Line) && self.pos == self.input.len()
    }

    /// The next whole frame, if the input holds one.
    pub fn next_frame(&mut self) -> Option<Frame> {
        loop {
            match self.mode {
                Mode::Line => return self.line(),
                Mode::SkipLine => {
                    let rest = &self.input[self.pos..];
                    match memchr::memchr(b'\n', rest) {
                        Some(i) => {
                            self.pos += i + 1;
                            self.mode = Mode::Line;
                        }
                        None => {
                            self.pos = self.input.len();
                            return None;
                        }
                    }
                }
                Mode::Data { .. } => return self.data(),
            }
        }
    }

    fn line(&mut self) -> Option<Frame> {
        let rest = &self.input[self.pos..];
        match memchr::memchr(b'\n', rest) {
            Some(i) => {
                let line = &rest[..i];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let frame = if line.len() > self.limits.max_line {
                    Frame::LineTooLong
                } else {
                    Frame::Line(line.to_vec())
                };
                self.pos += i + 1;
                Some(frame)
            }
            // +1: the CR of a line of exactly max_line bytes may be here
            // while its LF is not.
            None if rest.len() > self.limits.max_line + 1 => {
                self.pos = self.input.len();
                self.mode = Mode::SkipLine;
                Some(Frame::LineTooLong)
            }
            None => None,
        }
    }

    fn data(&mut self) -> Option<Frame> {
        let max = self.limits.max_message;
        let Mode::Data {
            body,
            size,
            line_start,
            over,
        } = &mut self.mode
        else {
            return None;
        };
        loop {
            let rest = &self.input[self.pos..];
            if rest.is_empty() {
                return None;
            }
            if *line_start {
                if rest[0] == b'.' {
                    // RFC 5321 §4.5.2: a line of one dot ends the data;
                    // otherwise the first dot of a line was added by the
                    // client and is removed. A bare LF is taken as CRLF.
                    let end = match (rest.get(1), rest.get(2)) {
                        (None, _) | (Some(b'\r'), None) => return None,
                        (Some(b'\n'), _) => Some(2),
                        (Some(b'\r'), Some(b'\n')) => Some(3),
                        _ => None,
                    };
                    if let Some(n) = end {
                        self.pos += n;
                        let frame = if *over {
                            Frame::MessageTooBig
                        } else {
                            Frame::Message(std::mem::take(body))
                        };
                        self.mode = Mode::Line;
                        return Some(frame);
                    }
                    self.pos += 1;
                }
                *line_start = false;
                continue;
            }
            let (chunk_len, ends_line) = match memchr::memchr(b'\n', rest) {
                Some(i) => (i + 1, true),
                None => (rest.len(), false),
            };
            let chunk = &rest[..chunk_len];
            *size = size.saturating_add(chunk.len() as u64);
            if *size > max {
                if !*over {
                    *over = true;
                    *body = Vec::new();
                }
            } else {
                body.extend_from_slice(chunk);
            }
            self.pos += chunk_len;
            *line_start = ends_line;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn framer(max_line: usize, max_message: u64) -> Framer {
        Framer::new(Limits {
            max_line,
            max_message,
        })
    }

    fn frames(f: &mut Framer) -> Vec<Frame> {
        std::iter::from_fn(|| f.next_frame()).collect()
    }

    #[test]
    fn rfc5321_2_3_8_lines_end_in_crlf_and_partial_lines_wait() {
        let mut f = framer(100, 1000);
        f.push(b"LHLO a\r\nNOOP\r\nQU");
        assert_eq!(
            frames(&mut f),
            vec![
                Frame::Line(b"LHLO a".to_vec()),
                Frame::Line(b"NOOP".to_vec())
            ]
        );
        assert!(!f.is_idle());
        f.push(b"IT\r\n");
        assert_eq!(frames(&mut f), vec![Frame::Line(b"QUIT".to_vec())]);
        assert!(f.is_idle());
    }

    #[test]
    fn an_overlong_line_is_refused_once_and_skipped_to_its_end() {
        let mut f = framer(10, 1000);
        f.push(&[b'x'; 30]);
        assert_eq!(frames(&mut f), vec![Frame::LineTooLong]);
        f.push(&[b'x'; 30]);
        f.push(b"\r\nNOOP\r\n");
        assert_eq!(frames(&mut f), vec![Frame::Line(b"NOOP".to_vec())]);
        f.push(b"01234567890\r\n0123456789\r\n");
        assert_eq!(
            frames(&mut f),
            vec![Frame::LineTooLong, Frame::Line(b"0123456789".to_vec())]
        );
    }

    #[test]
    fn rfc5321_4_5_2_data_is_unstuffed_and_ends_at_a_lone_dot() {
        let mut f = framer(100, 1000);
        f.start_data();
        f.push(b"Subject: x\r\n\r\n..leading dot\r\na.b\r\n.\r\nNOOP\r\n");
        assert_eq!(
            frames(&mut f),
            vec![
                Frame::Message(b"Subject: x\r\n\r\n.leading dot\r\na.b\r\n".to_vec()),
                Frame::Line(b"NOOP".to_vec())
            ]
        );
    }

    #[test]
    fn data_split_at_every_byte_gives_the_same_message() {
        let input = b"A: b\r\n\r\n..x\r\n.\r\n\r\n.y\r\n.\r\nQUIT\r\n";
        let mut whole = framer(100, 1000);
        whole.start_data();
        whole.push(input);
        let expected = frames(&mut whole);
        assert_eq!(
            expected,
            vec![
                Frame::Message(b"A: b\r\n\r\n.x\r\n".to_vec()),
                Frame::Line(b"".to_vec()),
                Frame::Line(b".y".to_vec()),
                Frame::Line(b".".to_vec()),
                Frame::Line(b"QUIT".to_vec())
            ]
        );
        let mut f = framer(100, 1000);
        f.start_data();
        let mut got = Vec::new();
        for b in input {
            f.push(&[*b]);
            got.extend(frames(&mut f));
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn data_over_the_limit_is_read_to_its_end_and_dropped() {
        let mut f = framer(100, 20);
        f.start_data();
        f.push(b"0123456789\r\n0123456789\r\n.\r\nNOOP\r\n");
        assert_eq!(
            frames(&mut f),
            vec![Frame::MessageTooBig, Frame::Line(b"NOOP".to_vec())]
        );
        f.start_data();
        f.push(b"012345678901234567\r\n.\r\n");
        assert_eq!(
            frames(&mut f),
            vec![Frame::Message(b"012345678901234567\r\n".to_vec())]
        );
    }

    #[test]
    fn a_bare_lf_ends_lines_and_data_too() {
        let mut f = framer(100, 1000);
        f.push(b"NOOP\n");
        assert_eq!(frames(&mut f), vec![Frame::Line(b"NOOP".to_vec())]);
        f.start_data();
        f.push(b"x\n.\n");
        assert_eq!(frames(&mut f), vec![Frame::Message(b"x\n".to_vec())]);
    }

    proptest::proptest! {
        /// However the input is cut into reads, the frames are the same,
        /// and nothing the client sends panics the framer.
        #[test]
        fn frames_do_not_depend_on_how_reads_split_the_input(
            input in proptest::collection::vec(
                proptest::sample::select(vec![b'.', b'\r', b'\n', b'a', b'D']), 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..10),
            data_first: bool,
        ) {
            let run = |pieces: &[&[u8]]| {
                let mut f = framer(8, 40);
                if data_first {
                    f.start_data();
                }
                let mut out = Vec::new();
                for p in pieces {
                    f.push(p);
                    while let Some(frame) = f.next_frame() {
                        // A DATA line starts message data, as the session would.
                        let data = frame == Frame::Line(b"D".to_vec());
                        out.push(frame);
                        if data {
                            f.start_data();
                        }
                    }
                }
                out
            };
            let whole = run(&[&input]);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
            cuts.sort_unstable();
            let mut pieces: Vec<&[u8]> = Vec::new();
            let mut at = 0;
            for c in cuts {
                pieces.push(&input[at..c]);
                at = c;
            }
            pieces.push(&input[at..]);
            proptest::prop_assert_eq!(run(&pieces), whole);
        }
    }
}
