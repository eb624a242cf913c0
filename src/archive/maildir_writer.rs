//! Writing a Maildir that Dovecot, mutt and [`MaildirReader`](super::MaildirReader) read.
//!
//! Each message is written to `tmp/` and then linked into `cur/` under the name
//! `<time>.<counter>_<hash8>.<host>:2,<flags>`: the internal date (so readers that sort
//! by name keep date order), a per-writer counter, the first 8 hex digits of the
//! message's SHA-256 and the host name, which together make the name unique; flag
//! letters in ASCII order as the Maildir specification requires (D F R S T, then
//! keyword letters). Keywords get letters through a `dovecot-keywords` file the writer
//! keeps; Maildir has only 26, so keywords beyond that are left out of the names and
//! listed by [`MaildirWriter::dropped_keywords`]. The file's mtime is set to the
//! internal date, which is where Dovecot keeps it. The message bytes are written as
//! given, line ends included.

use std::collections::BTreeSet;
use std::fs::{self, FileTimes};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::date::{now, system_time};
use super::keywords::KeywordTable;
use super::{ArchiveError, ArchivedMessage, SystemFlags};

/// Writes messages into a Maildir, creating it if need be.
pub struct MaildirWriter {
    dir: PathBuf,
    host: String,
    counter: u64,
    keywords: KeywordTable,
    dropped: BTreeSet<String>,
}

impl MaildirWriter {
    /// Creates `dir` with `cur/`, `new/` and `tmp/` (or opens an existing Maildir, whose
    /// `dovecot-keywords` letters are then reused).
    pub fn create(dir: &Path) -> Result<Self, ArchiveError> {
        for sub in ["cur", "new", "tmp"] {
            let path = dir.join(sub);
            fs::create_dir_all(&path).map_err(|e| ArchiveError::io(&path, e))?;
        }
        let keywords = KeywordTable::read(dir)
            .map_err(|e| ArchiveError::io(dir.join(super::keywords::FILE_NAME), e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            host: host_name(),
            counter: 0,
            keywords,
            dropped: BTreeSet::new(),
        })
    }

    /// Writes one message into `cur/` and returns its path. Without an internal date the
    /// current time is used (and is what a reader will see).
    pub fn write(
        &mut self,
        raw: &[u8],
        internal_date: Option<i64>,
        flags: SystemFlags,
        keywords: &[String],
    ) -> Result<PathBuf, ArchiveError> {
        let date = internal_date.unwrap_or_else(now);
        let info = self.info(flags, keywords)?;
        let hash = Sha256::digest(raw);
        let hash8: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
        // Negative dates cannot lead a name (readers expect digits); the mtime still
        // carries them.
        let stamp = date.max(0);
        loop {
            self.counter += 1;
            let base = format!("{stamp}.{}_{hash8}.{}", self.counter, self.host);
            let tmp = self.dir.join("tmp").join(&base);
            let mut file = match fs::File::options().write(true).create_new(true).open(&tmp) {
                Ok(f) => f,
                // Another writer in the same directory got here first; take the next number.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(ArchiveError::io(&tmp, e)),
            };
            let written = file
                .write_all(raw)
                .and_then(|()| file.set_times(FileTimes::new().set_modified(system_time(date))));
            drop(file);
            if let Err(e) = written {
                let _ = fs::remove_file(&tmp);
                return Err(ArchiveError::io(&tmp, e));
            }
            let target = self.dir.join("cur").join(format!("{base}:2,{info}"));
            match publish(&tmp, &target) {
                Ok(()) => return Ok(target),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let _ = fs::remove_file(&tmp);
                }
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    return Err(ArchiveError::io(&target, e));
                }
            }
        }
    }

    /// Writes an [`ArchivedMessage`] with its date, flags and keywords.
    pub fn write_message(&mut self, message: &ArchivedMessage) -> Result<PathBuf, ArchiveError> {
        self.write(
            &message.raw,
            message.internal_date,
            message.flags,
            &message.keywords,
        )
    }

    /// Keywords that could not be written: past the 26 letters Maildir has, or not
    /// storable in `dovecot-keywords` (empty, or containing spaces or control characters).
    pub fn dropped_keywords(&self) -> impl Iterator<Item = &str> {
        self.dropped.iter().map(String::as_str)
    }

    /// The info letters for `flags` and `keywords`, assigning keyword letters (and
    /// rewriting `dovecot-keywords`) as needed.
    fn info(&mut self, flags: SystemFlags, keywords: &[String]) -> Result<String, ArchiveError> {
        let mut letters = BTreeSet::new();
        for (on, letter) in [
            (flags.draft, b'D'),
            (flags.flagged, b'F'),
            (flags.answered, b'R'),
            (flags.seen, b'S'),
            (flags.deleted, b'T'),
        ] {
            if on {
                letters.insert(letter);
            }
        }
        let mut changed = false;
        for k in keywords {
            let storable = !k.is_empty() && !k.chars().any(|c| c.is_whitespace() || c.is_control());
            match storable
                .then(|| self.keywords.letter_or_assign(k))
                .flatten()
            {
                Some((letter, new)) => {
                    letters.insert(letter);
                    changed |= new;
                }
                None => {
                    self.dropped.insert(k.clone());
                }
            }
        }
        if changed {
            self.keywords
                .write(&self.dir)
                .map_err(|e| ArchiveError::io(self.dir.join(super::keywords::FILE_NAME), e))?;
        }
        // BTreeSet iterates in byte order: upper-case flags, then keyword letters.
        Ok(letters.into_iter().map(char::from).collect())
    }
}

/// Moves a finished file from `tmp/` into `cur/` without replacing an existing file:
/// link(2) as the Maildir specification describes, or, on file systems without hard
/// links (FAT, some network mounts), a rename after checking the name is free.
fn publish(tmp: &Path, target: &Path) -> io::Result<()> {
    match fs::hard_link(tmp, target) {
        Ok(()) => fs::remove_file(tmp),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Err(_) => {
            if fs::symlink_metadata(target).is_ok() {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            fs::rename(tmp, target)
        }
    }
}

/// The host name as the Maildir specification wants it in file names: `/` and `:`
/// would break the name, so they become `\057` and `\072`.
fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is valid for buf.len() bytes; gethostname writes at most that many.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let len = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let name = if rc == 0 && len > 0 {
        String::from_utf8_lossy(&buf[..len]).into_owned()
    } else {
        "localhost".to_string()
    };
    name.replace('/', "\\057").replace(':', "\\072")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::archive::MaildirReader;

    fn flags(seen: bool, answered: bool, flagged: bool, deleted: bool, draft: bool) -> SystemFlags {
        SystemFlags {
            seen,
            answered,
            flagged,
            deleted,
            draft,
        }
    }

    #[test]
    fn name_has_sorted_flags_and_keyword_letters() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = MaildirWriter::create(dir.path()).unwrap();
        let kw = ["Work".to_string(), "$Forwarded".to_string()];
        let path = w
            .write(
                b"S: x\n\n",
                Some(1_136_214_245),
                flags(true, true, true, true, true),
                &kw,
            )
            .unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("1136214245.1_"), "{name}");
        assert!(name.ends_with(":2,DFRSTab"), "{name}");
        assert_eq!(path.parent().unwrap(), dir.path().join("cur"));
        assert_eq!(
            fs::read_to_string(dir.path().join("dovecot-keywords")).unwrap(),
            "0 Work\n1 $Forwarded\n"
        );
        assert!(
            fs::read_dir(dir.path().join("tmp"))
                .unwrap()
                .next()
                .is_none()
        );
    }

    #[test]
    fn round_trip_through_reader() {
        let dir = tempfile::tempdir().unwrap();
        let messages = vec![
            ArchivedMessage {
                raw: b"Subject: a\r\n\r\nFrom CRLF\r\n".to_vec(),
                internal_date: Some(1_136_214_245),
                flags: flags(true, false, true, false, false),
                keywords: vec!["$Forwarded".into(), "Work".into()],
                origin: String::new(),
            },
            ArchivedMessage {
                raw: b"Subject: b\n\n>From lf".to_vec(),
                internal_date: Some(1_136_214_246),
                flags: flags(false, true, false, true, true),
                keywords: vec!["Work".into()],
                origin: String::new(),
            },
            ArchivedMessage {
                raw: Vec::new(),
                internal_date: Some(-86_400),
                flags: SystemFlags::default(),
                keywords: Vec::new(),
                origin: String::new(),
            },
        ];
        let mut w = MaildirWriter::create(dir.path()).unwrap();
        for m in &messages {
            w.write_message(m).unwrap();
        }
        // The pre-1970 message has no usable name stamp, so it sorts last, where it was written.
        let got: Vec<_> = MaildirReader::open(dir.path())
            .unwrap()
            .map(|m| m.unwrap())
            .collect();
        assert_eq!(got.len(), messages.len());
        for (want, got) in messages.iter().zip(&got) {
            assert_eq!(got.raw, want.raw);
            assert_eq!(got.internal_date, want.internal_date);
            assert_eq!(got.flags, want.flags);
            assert_eq!(got.keywords, want.keywords);
        }
    }

    #[test]
    fn existing_keyword_letters_are_reused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("dovecot-keywords"), "3 Work\n").unwrap();
        let mut w = MaildirWriter::create(dir.path()).unwrap();
        let path = w
            .write(
                b"x",
                Some(1_136_214_245),
                SystemFlags::default(),
                &["work".into()],
            )
            .unwrap();
        assert!(path.to_string_lossy().ends_with(":2,d"));
    }

    #[test]
    fn keywords_past_26_or_unstorable_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = MaildirWriter::create(dir.path()).unwrap();
        let mut kw: Vec<String> = (0..27).map(|i| format!("k{i:02}")).collect();
        kw.push("has space".into());
        kw.push(String::new());
        let path = w
            .write(b"x", Some(1_136_214_245), SystemFlags::default(), &kw)
            .unwrap();
        assert!(
            path.to_string_lossy()
                .ends_with(":2,abcdefghijklmnopqrstuvwxyz")
        );
        assert_eq!(
            w.dropped_keywords().collect::<Vec<_>>(),
            ["", "has space", "k26"]
        );
    }

    #[test]
    fn same_message_twice_gets_two_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = MaildirWriter::create(dir.path()).unwrap();
        let a = w.write(b"x", Some(5), SystemFlags::default(), &[]).unwrap();
        let b = w.write(b"x", Some(5), SystemFlags::default(), &[]).unwrap();
        assert_ne!(a, b);
        assert_eq!(fs::read_dir(dir.path().join("cur")).unwrap().count(), 2);
    }

    #[test]
    fn host_name_is_safe_in_a_file_name() {
        let h = host_name();
        assert!(!h.is_empty());
        assert!(!h.contains('/') && !h.contains(':'));
    }
}
