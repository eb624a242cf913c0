//! Cuts the client's byte stream into command lines (RFC 1939 §3: a command
//! is a line ending in CRLF; a bare LF is taken too, as most servers do).
//! Sans I/O: the connection pushes bytes in and acts on what comes out.
//!
//! A line longer than the limit is refused once and skipped up to its end,
//! so the session stays usable and the buffer never holds more than the
//! limit of one line.

/// What the framer has for the connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A whole line, without its line ending.
    Line(Vec<u8>),
    /// A line passed the limit; what the client still sends of it is skipped.
    TooLong,
}

/// The framer.
#[derive(Debug)]
pub struct Framer {
    max_line: usize,
    input: Vec<u8>,
    /// Where unconsumed input starts.
    pos: usize,
    /// Skipping the rest of an overlong line.
    skipping: bool,
}

impl Framer {
    /// A framer refusing lines longer than `max_line` bytes (line ending not
    /// counted).
    pub fn new(max_line: usize) -> Framer {
        Framer {
            max_line,
            input: Vec::new(),
            pos: 0,
            skipping: false,
        }
    }

    /// Adds bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 {
            self.input.drain(..self.pos);
            self.pos = 0;
        }
        self.input.extend_from_slice(bytes);
    }

    /// True when nothing the client sent is waiting (RFC 2595 §4: nothing
    /// sent in plaintext after STLS may be acted on after the handshake).
    pub fn is_idle(&self) -> bool {
        self.pos == self.input.len() && !self.skipping
    }

    /// The next line, or None until more input comes.
    pub fn next_frame(&mut self) -> Option<Frame> {
        loop {
            let available = &self.input[self.pos..];
            let Some(nl) = memchr::memchr(b'\n', available) else {
                if self.skipping {
                    self.pos = self.input.len();
                    return None;
                }
                if available.len() > self.max_line + 1 {
                    // +1: the CR of a CRLF may be all that is missing.
                    self.pos = self.input.len();
                    self.skipping = true;
                    return Some(Frame::TooLong);
                }
                return None;
            };
            let line = &available[..nl];
            self.pos += nl + 1;
            if self.skipping {
                self.skipping = false;
                continue;
            }
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.len() > self.max_line {
                return Some(Frame::TooLong);
            }
            return Some(Frame::Line(line.to_vec()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(f: &mut Framer) -> Vec<Frame> {
        std::iter::from_fn(|| f.next_frame()).collect()
    }

    #[test]
    fn rfc1939_3_lines_end_in_crlf_and_may_arrive_in_pieces() {
        let mut f = Framer::new(100);
        f.push(b"US");
        assert_eq!(frames(&mut f), vec![]);
        assert!(!f.is_idle());
        f.push(b"ER alice\r\nSTAT\nNOOP\r\n");
        assert_eq!(
            frames(&mut f),
            vec![
                Frame::Line(b"USER alice".to_vec()),
                Frame::Line(b"STAT".to_vec()),
                Frame::Line(b"NOOP".to_vec()),
            ]
        );
        assert!(f.is_idle());
    }

    #[test]
    fn an_overlong_line_is_refused_once_and_skipped() {
        let mut f = Framer::new(10);
        f.push(b"0123456789\r\n");
        assert_eq!(frames(&mut f), vec![Frame::Line(b"0123456789".to_vec())]);
        f.push(b"0123456789a\r\nSTAT\r\n");
        assert_eq!(
            frames(&mut f),
            vec![Frame::TooLong, Frame::Line(b"STAT".to_vec())]
        );
        // Without its end in sight: refused as soon as it is too long, and
        // the rest is dropped as it comes, however much there is.
        f.push(&[b'x'; 50]);
        assert_eq!(frames(&mut f), vec![Frame::TooLong]);
        f.push(&[b'x'; 5000]);
        assert_eq!(frames(&mut f), vec![]);
        assert!(f.input.len() <= 5000);
        f.push(b"xx\r\nNOOP\r\n");
        assert_eq!(frames(&mut f), vec![Frame::Line(b"NOOP".to_vec())]);
    }

    #[test]
    fn a_line_at_the_limit_waiting_for_its_crlf_is_not_refused() {
        let mut f = Framer::new(4);
        f.push(b"STAT\r");
        assert_eq!(frames(&mut f), vec![]);
        f.push(b"\n");
        assert_eq!(frames(&mut f), vec![Frame::Line(b"STAT".to_vec())]);
    }
}
