//! Writing mboxrd.
//!
//! Each message becomes `From MAILER-DAEMON <asctime date>`, the message with CRLF turned
//! into LF (mbox is a Unix format; every Unix reader expects LF) and every line matching
//! `^>*From ` given one more `>` (mboxrd, so [`MboxReader`](super::MboxReader) and any
//! mboxrd reader restore it exactly), a final LF if the message lacked one, and the empty
//! line that separates messages. The message header is never changed: flags have no
//! place in mbox short of rewriting `Status:` headers, which would make the exported
//! message differ from the stored one, so they are not written.

use std::io::{self, Write};

use super::ArchivedMessage;
use super::date::{self, now};

/// Writes messages as mboxrd to any [`Write`]. Writes go straight to `W` a line at a
/// time, so give it a [`std::io::BufWriter`] around a file.
pub struct MboxWriter<W: Write> {
    out: W,
}

impl<W: Write> MboxWriter<W> {
    /// Starts an mbox on `out` (which may already hold messages: appending is fine).
    pub fn new(out: W) -> Self {
        Self { out }
    }

    /// Appends one message. `internal_date` goes on the `From ` line; without one the
    /// current time does, as a delivery agent would write.
    pub fn write(&mut self, raw: &[u8], internal_date: Option<i64>) -> io::Result<()> {
        let date = internal_date.unwrap_or_else(now);
        writeln!(self.out, "From MAILER-DAEMON {}", date::asctime(date))?;
        let mut rest = raw;
        while !rest.is_empty() {
            let (line, next) = match rest.iter().position(|b| *b == b'\n') {
                // Only a CR that ends a line is part of a CRLF; a bare CR stays.
                Some(lf) => (
                    rest[..lf].strip_suffix(b"\r").unwrap_or(&rest[..lf]),
                    &rest[lf + 1..],
                ),
                None => (rest, &rest[rest.len()..]),
            };
            if line
                .iter()
                .position(|b| *b != b'>')
                .is_some_and(|i| line[i..].starts_with(b"From "))
            {
                self.out.write_all(b">")?;
            }
            self.out.write_all(line)?;
            self.out.write_all(b"\n")?;
            rest = next;
        }
        self.out.write_all(b"\n")
    }

    /// Appends an [`ArchivedMessage`]: its bytes and internal date (its flags have nowhere
    /// to go in mbox).
    pub fn write_message(&mut self, message: &ArchivedMessage) -> io::Result<()> {
        self.write(&message.raw, message.internal_date)
    }

    /// Flushes the output.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and gives back the output.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::archive::MboxReader;
    use proptest::prelude::*;

    fn write_all(messages: &[(&[u8], Option<i64>)]) -> Vec<u8> {
        let mut w = MboxWriter::new(Vec::new());
        for (raw, date) in messages {
            w.write(raw, *date).unwrap();
        }
        w.into_inner().unwrap()
    }

    /// What a round trip through mbox is expected to give back: LF line ends, and a final
    /// LF on a non-empty message.
    fn lf_normalised(raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(raw.len() + 1);
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'\r' && raw.get(i + 1) == Some(&b'\n') {
                i += 1;
                continue;
            }
            out.push(raw[i]);
            i += 1;
        }
        if !out.is_empty() && !out.ends_with(b"\n") {
            out.push(b'\n');
        }
        out
    }

    #[test]
    fn writes_from_line_quotes_and_separator() {
        let out = write_all(&[(
            b"S: x\r\n\r\nFrom me\r\n>From you\r\n From not\r\nend",
            Some(1_136_214_245),
        )]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "From MAILER-DAEMON Mon Jan  2 15:04:05 2006\nS: x\n\n>From me\n>>From you\n From not\nend\n\n"
        );
    }

    #[test]
    fn headers_are_never_changed() {
        let raw = b"Status: RO\nX-Status: F\nSubject: s\n\nb\n";
        let out = write_all(&[(raw, Some(0))]);
        assert_eq!(&out[out.len() - raw.len() - 1..out.len() - 1], raw);
    }

    #[test]
    fn round_trip_known_messages() {
        let messages: [(&[u8], Option<i64>); 5] = [
            (
                b"S: a\n\nFrom the start\n\nFrom after a blank\n>From quoted\n",
                Some(1),
            ),
            (b"S: b\r\n\r\nCRLF body\r\n\r\n", Some(1_700_000_000)),
            (b"", Some(2)),
            (b"\n", Some(3)),
            (b"no final newline", Some(-86_400 * 365)),
        ];
        let mbox = write_all(&messages);
        let got: Vec<_> = MboxReader::new(&mbox[..], "rt")
            .map(|m| m.unwrap())
            .collect();
        assert_eq!(got.len(), messages.len());
        for ((raw, date), m) in messages.iter().zip(&got) {
            assert_eq!(
                m.raw,
                lf_normalised(raw),
                "{}",
                String::from_utf8_lossy(raw)
            );
            assert_eq!(m.internal_date, *date);
        }
    }

    /// Lines chosen to hit every quoting and separator case, plus arbitrary bytes.
    fn line() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(b"From here on".to_vec()),
            Just(b">From quoted".to_vec()),
            Just(b">>>From deep".to_vec()),
            Just(b"From MAILER-DAEMON Mon Jan  2 15:04:05 2006".to_vec()),
            Just(Vec::new()),
            Just(b"\r".to_vec()),
            Just(b"Status: RO".to_vec()),
            proptest::collection::vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 0..40),
        ]
    }

    fn message() -> impl Strategy<Value = Vec<u8>> {
        (
            proptest::collection::vec(line(), 0..12),
            prop::sample::select(vec!["\n", "\r\n"]),
            any::<bool>(),
        )
            .prop_map(|(lines, eol, final_eol)| {
                let mut raw = lines.join(eol.as_bytes());
                if final_eol && !lines.is_empty() {
                    raw.extend_from_slice(eol.as_bytes());
                }
                raw
            })
    }

    proptest! {
        #[test]
        fn round_trip_arbitrary_bodies(
            messages in proptest::collection::vec(
                (message(), -2_208_988_800i64..253_402_300_799), 1..8)
        ) {
            let mut w = MboxWriter::new(Vec::new());
            for (raw, date) in &messages {
                w.write(raw, Some(*date)).unwrap();
            }
            let mbox = w.into_inner().unwrap();
            let got: Vec<_> = MboxReader::new(&mbox[..], "rt").map(|m| m.unwrap()).collect();
            prop_assert_eq!(got.len(), messages.len());
            for ((raw, date), m) in messages.iter().zip(&got) {
                prop_assert_eq!(&m.raw, &lf_normalised(raw));
                prop_assert_eq!(m.internal_date, Some(*date));
            }
        }
    }
}
