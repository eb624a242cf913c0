//! Reading mbox (mboxrd and mboxo) one message at a time.
//!
//! The separator rule: a line starting `From ` ends the current message when it follows
//! an empty line (or is the file's first line). Well-formed mboxrd and mboxo writers
//! quote every `From ` at a line start, so in their files every unquoted one is a
//! separator and the rule changes nothing; it matters for sloppy writers that did not
//! quote, whose `From here on` lines inside paragraphs then stay in the body. The price:
//! an unquoted `From ` line right after an empty line in a body does split a message,
//! as it does in every other mbox reader (there is no way to tell it from a separator).

use std::io::BufRead;
use std::path::PathBuf;

use super::date;
use super::{ArchiveError, ArchivedMessage, SystemFlags};

/// An iterator over the messages of an mbox, reading it through any [`BufRead`].
///
/// Holds only the message being assembled: each line is appended straight to it, so
/// memory is bounded by the largest message, not the file. After an I/O error the
/// iterator yields that error once and then ends.
pub struct MboxReader<R> {
    input: R,
    /// The file name, for `origin` and errors.
    name: PathBuf,
    /// Lines read so far (1-based number of the last line read).
    line_no: u64,
    /// The `From ` line that starts the next message: its line number and date. `None`
    /// before the first message has been found.
    next_from: Option<(u64, Option<i64>)>,
    done: bool,
}

impl<R: BufRead> MboxReader<R> {
    /// Reads `input` as an mbox; `name` names it in `origin` and errors (the file path).
    pub fn new(input: R, name: impl Into<PathBuf>) -> Self {
        Self {
            input,
            name: name.into(),
            line_no: 0,
            next_from: None,
            done: false,
        }
    }

    /// Finds the first `From ` line, skipping empty lines before it. `Ok(false)` at the
    /// end of an empty file.
    fn find_first(&mut self) -> Result<bool, ArchiveError> {
        let mut line = Vec::new();
        loop {
            line.clear();
            if self.read_line(&mut line)? == 0 {
                return Ok(false);
            }
            if is_blank(&line) {
                continue;
            }
            if line.starts_with(b"From ") {
                self.next_from = Some((self.line_no, date::parse_from_line(&line)));
                return Ok(true);
            }
            return Err(ArchiveError::NotMbox {
                path: self.name.clone(),
                reason: format!("line {} does not start with \"From \"", self.line_no),
            });
        }
    }

    fn read_line(&mut self, buf: &mut Vec<u8>) -> Result<usize, ArchiveError> {
        // read_until retries reads a signal interrupted, so any error here is real.
        match self.input.read_until(b'\n', buf) {
            Ok(0) => Ok(0),
            Ok(n) => {
                self.line_no += 1;
                Ok(n)
            }
            Err(source) => Err(ArchiveError::Read {
                path: self.name.clone(),
                line: self.line_no,
                source,
            }),
        }
    }

    /// Reads one message, whose `From ` line has been read already.
    fn read_message(
        &mut self,
        from_line: u64,
        internal_date: Option<i64>,
    ) -> Result<ArchivedMessage, ArchiveError> {
        let mut raw = Vec::new();
        let mut flags = SystemFlags::default();
        let mut in_header = true;
        // The length of the previous line if it was empty ("\n" or "\r\n"); the message
        // starts as if after one, so an unquoted From_ line right after a From_ line is
        // body text rather than an empty message.
        let mut prev_blank: Option<usize> = None;
        loop {
            let start = raw.len();
            if self.read_line(&mut raw)? == 0 {
                self.done = true;
                if let Some(len) = prev_blank {
                    raw.truncate(raw.len() - len);
                }
                break;
            }
            let line = &raw[start..];
            if let (Some(len), true) = (prev_blank, line.starts_with(b"From ")) {
                self.next_from = Some((self.line_no, date::parse_from_line(line)));
                raw.truncate(start - len);
                break;
            }
            let blank = is_blank(line);
            if in_header {
                if blank {
                    in_header = false;
                } else {
                    read_status(line, &mut flags);
                }
            }
            if is_quoted_from(line) {
                raw.remove(start);
            }
            prev_blank = blank.then_some(raw.len() - start);
        }
        Ok(ArchivedMessage {
            raw,
            internal_date,
            flags,
            keywords: Vec::new(),
            origin: format!("{}:{from_line}", self.name.display()),
        })
    }
}

impl<R: BufRead> Iterator for MboxReader<R> {
    type Item = Result<ArchivedMessage, ArchiveError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.next_from.is_none() {
            match self.find_first() {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        let (line, date) = self.next_from.take()?;
        let message = self.read_message(line, date);
        if message.is_err() {
            self.done = true;
        }
        Some(message)
    }
}

fn is_blank(line: &[u8]) -> bool {
    line == b"\n" || line == b"\r\n"
}

/// `>From `, `>>From `…: a line an mboxrd (or mboxo) writer quoted.
fn is_quoted_from(line: &[u8]) -> bool {
    let unquoted = line.iter().position(|b| *b != b'>').unwrap_or(line.len());
    unquoted > 0 && line[unquoted..].starts_with(b"From ")
}

/// Reads the flag headers mutt, Thunderbird and Dovecot's mbox code write. Continuation
/// lines are ignored: these headers are single letters or a hex word.
fn read_status(line: &[u8], flags: &mut SystemFlags) {
    let Some(colon) = line.iter().position(|b| *b == b':') else {
        return;
    };
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.eq_ignore_ascii_case(b"Status") {
        // R = read; O ("old", no longer \Recent) has no stored counterpart.
        flags.seen |= value.contains(&b'R');
    } else if name.eq_ignore_ascii_case(b"X-Status") {
        flags.answered |= value.contains(&b'A');
        flags.flagged |= value.contains(&b'F');
        flags.deleted |= value.contains(&b'D');
        flags.draft |= value.contains(&b'T');
    } else if name.eq_ignore_ascii_case(b"X-Mozilla-Status") {
        // Thunderbird's nsMsgMessageFlags: Read 0x1, Replied 0x2, Marked 0x4,
        // Expunged 0x8 (deleted but not yet compacted away).
        let hex = String::from_utf8_lossy(value);
        if let Ok(bits) = u32::from_str_radix(hex.trim(), 16) {
            flags.seen |= bits & 0x1 != 0;
            flags.answered |= bits & 0x2 != 0;
            flags.flagged |= bits & 0x4 != 0;
            flags.deleted |= bits & 0x8 != 0;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::io::{self, BufReader, Read};

    fn read(mbox: &[u8]) -> Vec<ArchivedMessage> {
        MboxReader::new(mbox, "t.mbox")
            .map(|m| m.unwrap())
            .collect()
    }

    fn raws(mbox: &[u8]) -> Vec<String> {
        read(mbox)
            .into_iter()
            .map(|m| String::from_utf8(m.raw).unwrap())
            .collect()
    }

    #[test]
    fn two_messages() {
        let mbox = b"From a@example.com Mon Jan  2 15:04:05 2006\nSubject: one\n\nbody one\n\n\
                     From b@example.com Tue Jan  3 15:04:05 2006\nSubject: two\n\nbody two\n\n";
        let got = read(mbox);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].raw, b"Subject: one\n\nbody one\n");
        assert_eq!(got[1].raw, b"Subject: two\n\nbody two\n");
        assert_eq!(got[0].internal_date, Some(1_136_214_245));
        assert_eq!(got[1].internal_date, Some(1_136_214_245 + 86_400));
        assert_eq!(got[0].origin, "t.mbox:1");
        assert_eq!(got[1].origin, "t.mbox:6");
    }

    #[test]
    fn mboxrd_unquotes_one_level() {
        let mbox = b"From a Mon Jan  2 15:04:05 2006\nS: x\n\n>From me\n>>From you\n>>>From them\n> From not\n>Fromage\n\n";
        assert_eq!(
            raws(mbox),
            ["S: x\n\nFrom me\n>From you\n>>From them\n> From not\n>Fromage\n"]
        );
    }

    #[test]
    fn from_line_inside_paragraph_is_body() {
        // An mboxo writer that did not quote: "From here on" follows a text line.
        let mbox = b"From a Mon Jan  2 15:04:05 2006\nS: x\n\nWell.\nFrom here on it is body.\n\n";
        assert_eq!(raws(mbox), ["S: x\n\nWell.\nFrom here on it is body.\n"]);
    }

    #[test]
    fn from_line_after_empty_line_separates() {
        let mbox = b"From a Mon Jan  2 15:04:05 2006\nS: x\n\nWell.\n\nFrom here on\nS: y\n";
        let got = read(mbox);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].raw, b"S: x\n\nWell.\n");
        assert_eq!(got[1].raw, b"S: y\n");
        assert_eq!(got[1].internal_date, None);
        assert_eq!(got[1].origin, "t.mbox:6");
    }

    #[test]
    fn from_line_right_after_from_line_is_content() {
        let mbox = b"From a Mon Jan  2 15:04:05 2006\nFrom b Mon Jan  2 15:04:05 2006\nS: x\n\nb\n";
        assert_eq!(raws(mbox), ["From b Mon Jan  2 15:04:05 2006\nS: x\n\nb\n"]);
    }

    #[test]
    fn crlf_mbox() {
        let mbox = b"From a Mon Jan  2 15:04:05 2006\r\nS: x\r\n\r\n>From b\r\n\r\nFrom b Mon Jan  2 15:04:05 2006\r\nS: y\r\n\r\nz\r\n\r\n";
        let got = read(mbox);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].raw, b"S: x\r\n\r\nFrom b\r\n");
        assert_eq!(got[1].raw, b"S: y\r\n\r\nz\r\n");
        assert_eq!(got[0].internal_date, Some(1_136_214_245));
    }

    #[test]
    fn last_message_without_final_empty_line_is_kept_whole() {
        assert_eq!(
            raws(b"From a Mon Jan  2 15:04:05 2006\nS: x\n\nno newline"),
            ["S: x\n\nno newline"]
        );
        assert_eq!(
            raws(b"From a Mon Jan  2 15:04:05 2006\nS: x\n\nb\n"),
            ["S: x\n\nb\n"]
        );
    }

    #[test]
    fn message_ending_in_empty_lines_keeps_all_but_one() {
        let mbox = b"From a Mon Jan  2 15:04:05 2006\nS: x\n\nb\n\n\n\nFrom b Mon Jan  2 15:04:05 2006\nS: y\n\n";
        assert_eq!(raws(mbox), ["S: x\n\nb\n\n\n", "S: y\n"]);
    }

    #[test]
    fn garbled_from_line_date_is_none() {
        let got = read(b"From someone who knows\nS: x\n\n");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].internal_date, None);
    }

    #[test]
    fn status_headers_give_flags_and_stay_in_raw() {
        let mbox =
            b"From a Mon Jan  2 15:04:05 2006\nStatus: RO\nX-Status: AF\nS: x\n\nStatus: R\n\n\
                     From b Mon Jan  2 15:04:05 2006\nstatus: O\nX-STATUS: DT\n\nb\n\n\
                     From c Mon Jan  2 15:04:05 2006\nS: z\n\nX-Status: AFDT\n\n\
                     From d Mon Jan  2 15:04:05 2006\nX-Mozilla-Status: 0005\n\nd\n\n";
        let got = read(mbox);
        assert_eq!(got.len(), 4);
        let f = |seen, answered, flagged, deleted, draft| SystemFlags {
            seen,
            answered,
            flagged,
            deleted,
            draft,
        };
        assert_eq!(got[0].flags, f(true, true, true, false, false));
        assert!(got[0].raw.starts_with(b"Status: RO\nX-Status: AF\n"));
        assert_eq!(got[1].flags, f(false, false, false, true, true));
        // A Status line in the body is not a header.
        assert_eq!(got[2].flags, SystemFlags::default());
        assert_eq!(got[3].flags, f(true, false, true, false, false));
    }

    #[test]
    fn empty_file_has_no_messages() {
        assert!(read(b"").is_empty());
        assert!(read(b"\n\n").is_empty());
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        let got = read(b"\n\nFrom a Mon Jan  2 15:04:05 2006\nS: x\n\n");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].origin, "t.mbox:3");
    }

    #[test]
    fn not_an_mbox_is_a_clear_error() {
        let mut it = MboxReader::new(&b"Subject: hi\n\nbody\n"[..], "x.eml");
        let err = it.next().unwrap().unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.eml: not an mbox: line 1 does not start with \"From \""
        );
        assert!(it.next().is_none());
    }

    /// A reader that generates an mbox of `count` small messages on the fly (never the
    /// whole file in memory) and panics if asked for bytes past `limit`: proof that the
    /// iterator does not read ahead.
    struct Endless {
        pos: usize,
        limit: usize,
        pending: Vec<u8>,
        n: usize,
        count: usize,
    }

    impl Endless {
        fn new(count: usize, limit: usize) -> Self {
            Self {
                pos: 0,
                limit,
                pending: Vec::new(),
                n: 0,
                count,
            }
        }
    }

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.pos >= self.limit {
                panic!("read past byte {}: the reader is not streaming", self.limit);
            }
            if self.pending.is_empty() {
                if self.n == self.count {
                    return Ok(0);
                }
                self.pending = format!(
                    "From x Mon Jan  2 15:04:05 2006\nSubject: {}\n\n>From here\n\n",
                    self.n
                )
                .into_bytes();
                self.n += 1;
            }
            let n = buf.len().min(self.pending.len()).min(self.limit - self.pos);
            buf[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            self.pos += n;
            Ok(n)
        }
    }

    #[test]
    fn first_message_arrives_before_the_rest_is_read() {
        let input = Endless::new(usize::MAX, 64 * 1024);
        let mut it = MboxReader::new(BufReader::with_capacity(8192, input), "endless");
        let first = it.next().unwrap().unwrap();
        assert_eq!(first.raw, b"Subject: 0\n\nFrom here\n");
        assert!(it.next().unwrap().is_ok());
    }

    #[test]
    fn twenty_thousand_messages_stream_with_bounded_buffers() {
        const N: usize = 20_000;
        let input = Endless::new(N, usize::MAX);
        let mut count = 0;
        for m in MboxReader::new(BufReader::new(input), "endless") {
            let m = m.unwrap();
            assert_eq!(m.raw, format!("Subject: {count}\n\nFrom here\n").as_bytes());
            // Each message owns only its own bytes: nothing accumulates across messages.
            assert!(
                m.raw.capacity() < 1024,
                "message {count} holds {} bytes",
                m.raw.capacity()
            );
            count += 1;
        }
        assert_eq!(count, N);
    }

    #[test]
    fn read_error_is_reported_with_line_and_ends_iteration() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let data = b"From a Mon Jan  2 15:04:05 2006\nS: x\n\nb\n\n";
                if self.0 >= data.len() {
                    return Err(io::Error::other("disk on fire"));
                }
                let n = buf.len().min(data.len() - self.0);
                buf[..n].copy_from_slice(&data[self.0..self.0 + n]);
                self.0 += n;
                Ok(n)
            }
        }
        let mut it = MboxReader::new(BufReader::new(Failing(0)), "f.mbox");
        let err = it.next().unwrap().unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.mbox: read failed after line 5: disk on fire"
        );
        assert!(it.next().is_none());
    }
}
