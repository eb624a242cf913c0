//! Reading a Maildir: `cur/` and `new/`, flags and keywords from the file names.
//!
//! The order is the leading timestamp of each name (the delivery time every Maildir
//! writer puts first), then the name, over both directories together: stable, so an
//! interrupted import that is re-run sees the same sequence, and close to delivery
//! order. Names without a leading timestamp come last. The listing is taken once when
//! the reader is opened (a few dozen bytes per message); messages are read one at a
//! time. Maildir++ subfolders (`.Name/`) and `tmp/` are not read.
//!
//! The internal date is the earlier of the file's mtime and that name timestamp, when
//! the timestamp is plausible (after 1973, i.e. nine digits or more). Dovecot sets the
//! mtime to the received date when it saves, and a later `doveadm import` names the file
//! after the import, so the mtime is earlier and right; a Maildir copied without
//! preserving times has fresh mtimes but its original names, so the name is earlier and
//! right. Either way the older of the two is the better guess.

use std::cmp::Ordering;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::date::unix_seconds;
use super::keywords::KeywordTable;
use super::{ArchiveError, ArchivedMessage, SystemFlags};

/// Name timestamps below this (1973-03-03) are not dates: some tools number files.
const MIN_PLAUSIBLE_STAMP: i64 = 100_000_000;

/// An iterator over the messages of a Maildir. A file that cannot be read yields an
/// error naming it, and iteration goes on with the next file.
pub struct MaildirReader {
    entries: std::vec::IntoIter<Entry>,
    keywords: KeywordTable,
}

struct Entry {
    path: PathBuf,
    name: OsString,
    stamp: Option<i64>,
}

impl MaildirReader {
    /// Lists `dir/cur` and `dir/new` (either may be missing) and reads `dovecot-keywords`.
    pub fn open(dir: &Path) -> Result<Self, ArchiveError> {
        let keywords = KeywordTable::read(dir)
            .map_err(|e| ArchiveError::io(dir.join(super::keywords::FILE_NAME), e))?;
        let mut entries = Vec::new();
        for sub in ["cur", "new"] {
            list(&dir.join(sub), &mut entries)?;
        }
        entries.sort_by(order);
        Ok(Self {
            entries: entries.into_iter(),
            keywords,
        })
    }

    fn read(&self, entry: &Entry) -> Result<ArchivedMessage, ArchiveError> {
        let fail = |e| ArchiveError::io(&entry.path, e);
        let mut file = fs::File::open(&entry.path).map_err(fail)?;
        let meta = file.metadata().map_err(fail)?;
        let mut raw = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.read_to_end(&mut raw).map_err(fail)?;
        let mtime = meta.modified().ok().map(unix_seconds);
        let internal_date = match (mtime, entry.stamp) {
            (Some(m), Some(s)) => Some(m.min(s)),
            (m, s) => m.or(s),
        };
        let name = entry.name.to_string_lossy();
        let (flags, letters) = parse_info(&name);
        let mut keywords: Vec<String> = Vec::new();
        for letter in letters {
            if let Some(k) = self.keywords.name(letter)
                && !keywords.iter().any(|have| have == k)
            {
                keywords.push(k.to_string());
            }
        }
        Ok(ArchivedMessage {
            raw,
            internal_date,
            flags,
            keywords,
            origin: entry.path.display().to_string(),
        })
    }
}

impl Iterator for MaildirReader {
    type Item = Result<ArchivedMessage, ArchiveError>;

    fn next(&mut self) -> Option<Self::Item> {
        let entry = self.entries.next()?;
        Some(self.read(&entry))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

/// Adds the regular files of `dir` to `entries`, skipping dot files (editor and
/// Dovecot temporaries). A missing directory adds nothing.
fn list(dir: &Path, entries: &mut Vec<Entry>) -> Result<(), ArchiveError> {
    let reader = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ArchiveError::io(dir, e)),
    };
    for entry in reader {
        let entry = entry.map_err(|e| ArchiveError::io(dir, e))?;
        let name = entry.file_name();
        if name.as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let path = entry.path();
        // Follows symlinks: a link to a message is a message.
        let is_file = fs::metadata(&path)
            .map_err(|e| ArchiveError::io(&path, e))?
            .is_file();
        if is_file {
            entries.push(Entry {
                stamp: name_stamp(&name.to_string_lossy()),
                path,
                name,
            });
        }
    }
    Ok(())
}

fn order(a: &Entry, b: &Entry) -> Ordering {
    let key = |e: &Entry| e.stamp.unwrap_or(i64::MAX);
    key(a)
        .cmp(&key(b))
        .then_with(|| a.name.cmp(&b.name))
        .then_with(|| a.path.cmp(&b.path))
}

/// The unix time a Maildir name starts with (`1136214245.M1P2.host:2,S`), if plausible.
fn name_stamp(name: &str) -> Option<i64> {
    let digits = name.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || name.as_bytes().get(digits) != Some(&b'.') {
        return None;
    }
    name[..digits]
        .parse()
        .ok()
        .filter(|t| *t >= MIN_PLAUSIBLE_STAMP)
}

/// Flags and keyword letters from the info suffix `:2,<letters>`. Dovecot and isync on
/// file systems that forbid `:` use `;` or `!` instead, so those are accepted too.
pub(crate) fn parse_info(name: &str) -> (SystemFlags, Vec<u8>) {
    let mut flags = SystemFlags::default();
    let mut keywords = Vec::new();
    let Some(sep) = name.rfind([':', ';', '!']) else {
        return (flags, keywords);
    };
    let Some(letters) = name[sep + 1..].strip_prefix("2,") else {
        return (flags, keywords);
    };
    for b in letters.bytes() {
        match b {
            b'S' => flags.seen = true,
            b'R' => flags.answered = true,
            b'F' => flags.flagged = true,
            b'T' => flags.deleted = true,
            b'D' => flags.draft = true,
            b'a'..=b'z' => keywords.push(b),
            // P (passed, i.e. forwarded) has no IMAP system flag; others are unknown.
            _ => {}
        }
    }
    (flags, keywords)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::fs::FileTimes;
    use std::time::UNIX_EPOCH;

    fn put(dir: &Path, rel: &str, body: &str, mtime: Option<i64>) {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, body).unwrap();
        if let Some(t) = mtime {
            let f = fs::File::options().write(true).open(&path).unwrap();
            let when = UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(t).unwrap());
            f.set_times(FileTimes::new().set_modified(when)).unwrap();
        }
    }

    fn maildir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        dir
    }

    #[test]
    fn info_suffix_flags_and_keywords() {
        let (f, k) = parse_info("1136214245.M1P2.host,S=12:2,DFPRSTac");
        assert!(f.seen && f.answered && f.flagged && f.deleted && f.draft);
        assert_eq!(k, b"ac");
        let (f, k) = parse_info("1136214245.M1P2.host:2,");
        assert_eq!(f, SystemFlags::default());
        assert!(k.is_empty());
        let (f, _) = parse_info("1136214245.M1P2.host!2,S");
        assert!(f.seen);
        // An experimental "1," info or no info at all carries no flags.
        assert_eq!(parse_info("1136214245.host:1,S").0, SystemFlags::default());
        assert_eq!(parse_info("1136214245.host").0, SystemFlags::default());
    }

    #[test]
    fn name_stamps() {
        assert_eq!(name_stamp("1136214245.M1P2.host:2,S"), Some(1_136_214_245));
        assert_eq!(name_stamp("17.eml"), None);
        assert_eq!(name_stamp("host.1136214245"), None);
        assert_eq!(name_stamp("1136214245"), None);
    }

    #[test]
    fn new_is_unseen_cur_has_flags_and_keywords_resolve() {
        let dir = maildir();
        let d = dir.path();
        fs::write(d.join("dovecot-keywords"), "0 $Forwarded\n2 Work\n").unwrap();
        put(d, "new/1136214246.M2P1.h", "S: new\n\n", None);
        put(d, "cur/1136214245.M1P1.h:2,RSacb", "S: cur\n\n", None);
        let got: Vec<_> = MaildirReader::open(d)
            .unwrap()
            .map(|m| m.unwrap())
            .collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].raw, b"S: cur\n\n");
        assert!(got[0].flags.seen && got[0].flags.answered && !got[0].flags.flagged);
        // b has no name in dovecot-keywords, so it is dropped.
        assert_eq!(got[0].keywords, ["$Forwarded", "Work"]);
        assert_eq!(got[1].raw, b"S: new\n\n");
        assert_eq!(got[1].flags, SystemFlags::default());
        assert!(got[1].origin.ends_with("new/1136214246.M2P1.h"));
    }

    #[test]
    fn order_is_timestamp_then_name_across_cur_and_new() {
        let dir = maildir();
        let d = dir.path();
        put(d, "cur/1200000000.b.h:2,S", "3", None);
        put(d, "new/1100000000.z.h", "1", None);
        put(d, "cur/1200000000.a.h:2,S", "2", None);
        put(d, "cur/1300000000.a.h:2,S", "4", None);
        put(d, "cur/zz-no-stamp", "6", None);
        put(d, "cur/aa-no-stamp", "5", None);
        put(d, "cur/.hidden", "x", None);
        fs::create_dir_all(d.join("cur/subdir")).unwrap();
        fs::create_dir_all(d.join(".Sub.Folder/cur")).unwrap();
        put(d, ".Sub.Folder/cur/1000000000.s.h:2,S", "x", None);
        put(d, "tmp/1000000000.t.h", "x", None);
        let order: Vec<_> = MaildirReader::open(d)
            .unwrap()
            .map(|m| m.unwrap().raw)
            .collect();
        assert_eq!(order, [b"1", b"2", b"3", b"4", b"5", b"6"]);
        // A second listing gives the same sequence.
        let again: Vec<_> = MaildirReader::open(d)
            .unwrap()
            .map(|m| m.unwrap().raw)
            .collect();
        assert_eq!(order, again);
    }

    #[test]
    fn internal_date_is_earlier_of_mtime_and_name() {
        let dir = maildir();
        let d = dir.path();
        // Copied without times: mtime is now, the name is right.
        put(d, "cur/1136214245.a.h:2,S", "a", None);
        // Imported later: the name is the import time, the mtime the received date.
        put(d, "cur/1600000000.b.h:2,S", "b", Some(1_136_214_000));
        // No timestamp in the name: the mtime.
        put(d, "cur/message-c", "c", Some(1_000_000_000));
        let got: Vec<_> = MaildirReader::open(d)
            .unwrap()
            .map(|m| m.unwrap())
            .collect();
        assert_eq!(got[0].internal_date, Some(1_136_214_245));
        assert_eq!(got[1].internal_date, Some(1_136_214_000));
        assert_eq!(got[2].internal_date, Some(1_000_000_000));
    }

    #[test]
    fn vanished_file_is_an_error_and_iteration_goes_on() {
        let dir = maildir();
        let d = dir.path();
        put(d, "cur/1136214245.a.h:2,S", "a", None);
        put(d, "cur/1136214246.b.h:2,S", "b", None);
        let mut it = MaildirReader::open(d).unwrap();
        fs::remove_file(d.join("cur/1136214245.a.h:2,S")).unwrap();
        let err = it.next().unwrap().unwrap_err();
        assert!(err.to_string().contains("cur/1136214245.a.h:2,S"), "{err}");
        assert_eq!(it.next().unwrap().unwrap().raw, b"b");
        assert!(it.next().is_none());
    }
}
