//! Dovecot's `dovecot-keywords` file: which keyword each Maildir flag letter `a`–`z` means.
//!
//! The file holds lines `<n> <name>`, n = 0 for `a` up to 25 for `z` (Dovecot's
//! maildir-keywords.c). Lines that are not of that form are skipped rather than fatal:
//! the file is advisory, and an unknown letter only loses a keyword, never a message.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// The file's name inside a Maildir.
pub(crate) const FILE_NAME: &str = "dovecot-keywords";

/// Up to 26 keywords, one per letter.
#[derive(Debug, Default, Clone)]
pub(crate) struct KeywordTable {
    names: [Option<String>; 26],
}

impl KeywordTable {
    /// Reads `dir/dovecot-keywords`; a missing file is an empty table.
    pub(crate) fn read(dir: &Path) -> io::Result<Self> {
        match fs::read(dir.join(FILE_NAME)) {
            Ok(bytes) => Ok(Self::parse(&String::from_utf8_lossy(&bytes))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn parse(text: &str) -> Self {
        let mut table = Self::default();
        for line in text.lines() {
            let Some((n, name)) = line.split_once(' ') else {
                continue;
            };
            let name = name.trim();
            if let (Ok(n), false) = (n.parse::<usize>(), name.is_empty())
                && let Some(slot) = table.names.get_mut(n)
            {
                *slot = Some(name.to_string());
            }
        }
        table
    }

    /// The keyword a letter stands for, if the table names one.
    pub(crate) fn name(&self, letter: u8) -> Option<&str> {
        let index = usize::from(letter.checked_sub(b'a')?);
        self.names.get(index)?.as_deref()
    }

    /// The letter for a keyword, assigning the first free one if it has none yet.
    /// `None` when all 26 are taken. IMAP keywords compare case-insensitively
    /// (RFC 3501 §2.3.2), so `$Junk` and `$junk` share a letter.
    pub(crate) fn letter_or_assign(&mut self, keyword: &str) -> Option<(u8, bool)> {
        if let Some(i) = self.names.iter().position(|n| {
            n.as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(keyword))
        }) {
            return Some((letter(i), false));
        }
        let free = self.names.iter().position(Option::is_none)?;
        self.names[free] = Some(keyword.to_string());
        Some((letter(free), true))
    }

    /// Writes the table as `dir/dovecot-keywords`, replacing it atomically so a reader
    /// never sees half a file.
    pub(crate) fn write(&self, dir: &Path) -> io::Result<()> {
        let tmp = dir.join(format!("{FILE_NAME}.aox-tmp"));
        let mut f = fs::File::create(&tmp)?;
        for (i, name) in self.names.iter().enumerate() {
            if let Some(name) = name {
                writeln!(f, "{i} {name}")?;
            }
        }
        f.sync_all()?;
        fs::rename(&tmp, dir.join(FILE_NAME))
    }
}

fn letter(index: usize) -> u8 {
    // index < 26 by construction of the table.
    b'a' + u8::try_from(index).unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_dovecot_lines_and_skips_junk() {
        let t = KeywordTable::parse("0 $Forwarded\n1 Junk\nbogus\n30 TooFar\n3 NonJunk\n\n");
        assert_eq!(t.name(b'a'), Some("$Forwarded"));
        assert_eq!(t.name(b'b'), Some("Junk"));
        assert_eq!(t.name(b'c'), None);
        assert_eq!(t.name(b'd'), Some("NonJunk"));
        assert_eq!(t.name(b'z'), None);
        assert_eq!(t.name(b'A'), None);
    }

    #[test]
    fn assigns_first_free_letter_case_insensitively() {
        let mut t = KeywordTable::parse("1 Junk\n");
        assert_eq!(t.letter_or_assign("junk"), Some((b'b', false)));
        assert_eq!(t.letter_or_assign("$Label1"), Some((b'a', true)));
        assert_eq!(t.letter_or_assign("x"), Some((b'c', true)));
        for i in 3..26 {
            assert!(t.letter_or_assign(&format!("k{i}")).is_some());
        }
        assert_eq!(t.letter_or_assign("one-too-many"), None);
    }

    #[test]
    fn write_then_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = KeywordTable::default();
        t.letter_or_assign("$Forwarded");
        t.letter_or_assign("Work");
        t.write(dir.path()).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join(FILE_NAME)).unwrap(),
            "0 $Forwarded\n1 Work\n"
        );
        let back = KeywordTable::read(dir.path()).unwrap();
        assert_eq!(back.name(b'b'), Some("Work"));
    }
}
