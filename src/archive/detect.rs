//! Telling what kind of archive a path is, and opening it as a stream of messages.

use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::Path;

use super::{ArchiveError, EmlReader, MaildirReader, MboxReader, Messages};

/// Large enough that reading a big mbox costs few system calls, small enough not to
/// matter beside the message being assembled.
const MBOX_BUFFER: usize = 256 * 1024;

/// The archive formats [`open`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A single file of messages separated by `From ` lines (mboxrd or mboxo).
    Mbox,
    /// A directory with `cur/` and/or `new/`.
    Maildir,
    /// A directory of single-message files, `*.eml` or otherwise.
    EmlDirectory,
}

/// Says what `path` holds: a regular file is an mbox, and must start with a `From ` line
/// (after any empty lines; an empty file is an empty mbox); a directory with `cur/` or
/// `new/` is a Maildir; any other directory holds one message per file.
pub fn detect(path: &Path) -> Result<SourceKind, ArchiveError> {
    let meta = fs::metadata(path).map_err(|e| ArchiveError::io(path, e))?;
    if meta.is_dir() {
        if path.join("cur").is_dir() || path.join("new").is_dir() {
            Ok(SourceKind::Maildir)
        } else {
            Ok(SourceKind::EmlDirectory)
        }
    } else if meta.is_file() {
        check_mbox_start(path)?;
        Ok(SourceKind::Mbox)
    } else {
        Err(ArchiveError::NotArchive {
            path: path.to_path_buf(),
        })
    }
}

/// Opens `path` as whatever [`detect`] says it is and returns its messages, read one at
/// a time. The iterator is `Send` so the importer can drive it from a blocking thread.
pub fn open(path: &Path) -> Result<Messages, ArchiveError> {
    Ok(match detect(path)? {
        SourceKind::Mbox => {
            let file = File::open(path).map_err(|e| ArchiveError::io(path, e))?;
            Box::new(MboxReader::new(
                BufReader::with_capacity(MBOX_BUFFER, file),
                path,
            ))
        }
        SourceKind::Maildir => Box::new(MaildirReader::open(path)?),
        SourceKind::EmlDirectory => Box::new(EmlReader::open(path)?),
    })
}

fn check_mbox_start(path: &Path) -> Result<(), ArchiveError> {
    let mut head = Vec::with_capacity(1024);
    File::open(path)
        .and_then(|f| f.take(1024).read_to_end(&mut head))
        .map_err(|e| ArchiveError::io(path, e))?;
    let start = head
        .iter()
        .position(|b| *b != b'\n' && *b != b'\r')
        .unwrap_or(head.len());
    let head = &head[start..];
    if head.is_empty() || head.starts_with(b"From ") {
        return Ok(());
    }
    Err(ArchiveError::NotMbox {
        path: path.to_path_buf(),
        reason: what_it_is(head),
    })
}

/// A short description of a file that does not start like an mbox, so the error tells
/// the user what to do rather than only what is wrong.
fn what_it_is(head: &[u8]) -> String {
    let compressed = [
        (&b"\x1f\x8b"[..], "gzip"),
        (b"BZh", "bzip2"),
        (b"\xfd7zXZ\x00", "xz"),
        (b"\x28\xb5\x2f\xfd", "zstd"),
    ];
    for (magic, name) in compressed {
        if head.starts_with(magic) {
            return format!("it is {name}-compressed; uncompress it first");
        }
    }
    if head.starts_with(b"PK\x03\x04") {
        return "it is a zip archive; unpack it and import the files".to_string();
    }
    if head.starts_with(b"\x01\x01\x01\x01") {
        return "it is an MMDF mailbox (^A^A^A^A separators), which is not supported".to_string();
    }
    let first_line = head.split(|b| *b == b'\n').next().unwrap_or(head);
    if looks_like_header_field(first_line) {
        return "it starts with a header field, so it looks like a single message; \
                put it in a directory and import the directory"
            .to_string();
    }
    let shown: String = String::from_utf8_lossy(first_line)
        .trim_end()
        .chars()
        .take(40)
        .flat_map(char::escape_debug)
        .collect();
    format!("the first line does not start with \"From \" (it is \"{shown}\")")
}

/// `Name: value`, the field name being printable ASCII without a colon (RFC 5322 §2.2).
fn looks_like_header_field(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|b| *b == b':') else {
        return false;
    };
    colon > 0 && line[..colon].iter().all(|b| (33..=126).contains(b))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn file_starting_with_from_is_mbox() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.mbox");
        fs::write(&p, "\nFrom a Mon Jan  2 15:04:05 2006\nS: x\n\n").unwrap();
        assert_eq!(detect(&p).unwrap(), SourceKind::Mbox);
        assert_eq!(open(&p).unwrap().count(), 1);
    }

    #[test]
    fn empty_file_is_an_empty_mbox() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("empty");
        fs::write(&p, "").unwrap();
        assert_eq!(detect(&p).unwrap(), SourceKind::Mbox);
        assert_eq!(open(&p).unwrap().count(), 0);
    }

    #[test]
    fn not_an_mbox_says_what_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&[u8], &str); 4] = [
            (b"Subject: hi\n\nbody\n", "looks like a single message"),
            (b"\x1f\x8b\x08\x00rest", "gzip-compressed"),
            (b"\x01\x01\x01\x01\nS: x\n", "MMDF"),
            (b"hello world\n", "(it is \"hello world\")"),
        ];
        for (i, (bytes, says)) in cases.iter().enumerate() {
            let p = dir.path().join(format!("f{i}"));
            fs::write(&p, bytes).unwrap();
            let err = detect(&p).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("{}: not an mbox: ", p.display())),
                "{err}"
            );
            assert!(err.contains(says), "{err}");
            assert!(open(&p).is_err());
        }
    }

    #[test]
    fn directories() {
        let dir = tempfile::tempdir().unwrap();
        let md = dir.path().join("md");
        fs::create_dir_all(md.join("new")).unwrap();
        assert_eq!(detect(&md).unwrap(), SourceKind::Maildir);
        let eml = dir.path().join("eml");
        fs::create_dir_all(&eml).unwrap();
        fs::write(eml.join("1.eml"), "S: x\n\n").unwrap();
        assert_eq!(detect(&eml).unwrap(), SourceKind::EmlDirectory);
        assert_eq!(open(&eml).unwrap().count(), 1);
    }

    #[test]
    fn missing_path_names_it() {
        let err = detect(Path::new("/nonexistent/aox-archive"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/nonexistent/aox-archive: "), "{err}");
    }
}
