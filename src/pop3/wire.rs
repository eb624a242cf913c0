//! The multi-line response body of RETR and TOP (RFC 1939 §3): lines that
//! begin with `.` get one more, the last line ends in CRLF, and `.` CRLF
//! ends the response. Pure, and incremental, so a message is sent in pieces
//! as it is stuffed.

/// Byte-stuffs a message handed in any number of pieces.
#[derive(Debug)]
pub struct Stuffer {
    at_line_start: bool,
}

impl Default for Stuffer {
    fn default() -> Self {
        Stuffer::new()
    }
}

impl Stuffer {
    /// A stuffer at the start of a message.
    pub fn new() -> Stuffer {
        Stuffer {
            at_line_start: true,
        }
    }

    /// Appends `piece`, stuffed, to `out`.
    pub fn push(&mut self, piece: &[u8], out: &mut Vec<u8>) {
        let mut rest = piece;
        while !rest.is_empty() {
            if self.at_line_start && rest[0] == b'.' {
                out.push(b'.');
            }
            match memchr::memchr(b'\n', rest) {
                Some(nl) => {
                    out.extend_from_slice(&rest[..=nl]);
                    rest = &rest[nl + 1..];
                    self.at_line_start = true;
                }
                None => {
                    out.extend_from_slice(rest);
                    self.at_line_start = false;
                    rest = &[];
                }
            }
        }
    }

    /// Ends the response: a CRLF if the message did not end with one, then
    /// the terminating `.` line.
    pub fn finish(self, out: &mut Vec<u8>) {
        if !self.at_line_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }
}

/// RFC 1939 §7 TOP: the header, the blank line after it, and the first
/// `lines` lines of the body. A message without a blank line is all header.
pub fn top(message: &[u8], lines: u64) -> &[u8] {
    let body_start = if message.starts_with(b"\r\n") {
        2
    } else {
        match memchr::memmem::find(message, b"\r\n\r\n") {
            Some(i) => i + 4,
            None => return message,
        }
    };
    let mut end = body_start;
    for _ in 0..lines {
        match memchr::memchr(b'\n', &message[end..]) {
            Some(nl) => end += nl + 1,
            None => return message,
        }
    }
    &message[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stuffed(pieces: &[&[u8]]) -> Vec<u8> {
        let mut s = Stuffer::new();
        let mut out = Vec::new();
        for p in pieces {
            s.push(p, &mut out);
        }
        s.finish(&mut out);
        out
    }

    #[test]
    fn rfc1939_3_lines_starting_with_a_dot_are_stuffed() {
        assert_eq!(
            stuffed(&[b".start\r\nmid.dle\r\n..two\r\n.\r\n"]),
            b"..start\r\nmid.dle\r\n...two\r\n..\r\n.\r\n"
        );
    }

    #[test]
    fn stuffing_does_not_depend_on_where_the_pieces_break() {
        let message = b"a\r\n.b\r\n\r\n.\r\n..c\r\nend.\r\n";
        let whole = stuffed(&[message]);
        for cut in 0..=message.len() {
            let (x, y) = message.split_at(cut);
            assert_eq!(stuffed(&[x, y]), whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = message.chunks(1).collect();
        assert_eq!(stuffed(&bytes), whole, "byte by byte");
    }

    #[test]
    fn rfc1939_3_the_response_ends_with_crlf_dot_crlf() {
        assert_eq!(
            stuffed(&[b"no final newline"]),
            b"no final newline\r\n.\r\n"
        );
        assert_eq!(stuffed(&[]), b".\r\n");
    }

    #[test]
    fn rfc1939_7_top_sends_header_blank_line_and_n_body_lines() {
        let m = b"Subject: x\r\nFrom: y\r\n\r\none\r\ntwo\r\nthree\r\n";
        assert_eq!(top(m, 0), b"Subject: x\r\nFrom: y\r\n\r\n");
        assert_eq!(top(m, 2), b"Subject: x\r\nFrom: y\r\n\r\none\r\ntwo\r\n");
        assert_eq!(top(m, 3), m);
        assert_eq!(top(m, u64::MAX), m);
        assert_eq!(top(b"Subject: x\r\n", 5), b"Subject: x\r\n");
        assert_eq!(top(b"\r\nbody\r\n", 0), b"\r\n");
        assert_eq!(
            top(b"H: v\r\n\r\nlast line without end", 5),
            b"H: v\r\n\r\nlast line without end"
        );
    }

    proptest::proptest! {
        #[test]
        fn unstuffing_gives_the_message_back(message in proptest::collection::vec(proptest::sample::select(b"a.\r\n".to_vec()), 0..64)) {
            // Normalised messages use CRLF line ends and end with one.
            let mut message: Vec<u8> = String::from_utf8_lossy(&message).replace('\r', "").replace('\n', "\r\n").into_bytes();
            if !message.ends_with(b"\r\n") {
                message.extend_from_slice(b"\r\n");
            }
            let out = stuffed(&[&message]);
            let body = out.strip_suffix(b".\r\n").unwrap_or(&out);
            let mut back = Vec::new();
            for line in body.split_inclusive(|&b| b == b'\n') {
                back.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
            }
            proptest::prop_assert_eq!(back, message);
        }
    }
}
