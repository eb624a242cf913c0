//! Reading a directory of single-message files (`*.eml`, or one message per file).
//!
//! The directory is walked recursively (so a tree such as `corpus/real/<source>/*.eml`
//! imports in one go), skipping dot files and dot directories and not following
//! symlinked directories (a link loop must not hang an import). If any `*.eml` file is
//! found, only `*.eml` files are read, so a stray `MANIFEST.tsv` or `README` beside them
//! is not taken for a message; otherwise every regular file is. Files come in path
//! order, stable across runs.
//!
//! Each file's bytes are the message as they are. A file that starts with an mbox
//! `From ` line (common in test suites that split mboxes) keeps it — it is part of what
//! was stored, and the message layer drops it — but its date becomes the internal date;
//! otherwise the file's mtime does.

use std::fs;
use std::path::{Path, PathBuf};

use super::date::{self, unix_seconds};
use super::{ArchiveError, ArchivedMessage, SystemFlags};

/// An iterator over the message files below a directory. A file that cannot be read
/// yields an error naming it, and iteration goes on.
pub struct EmlReader {
    files: std::vec::IntoIter<PathBuf>,
}

impl EmlReader {
    /// Lists the files below `dir`.
    pub fn open(dir: &Path) -> Result<Self, ArchiveError> {
        let mut files = Vec::new();
        walk(dir, &mut files)?;
        if files.iter().any(|p| is_eml(p)) {
            files.retain(|p| is_eml(p));
        }
        files.sort();
        Ok(Self {
            files: files.into_iter(),
        })
    }
}

impl Iterator for EmlReader {
    type Item = Result<ArchivedMessage, ArchiveError>;

    fn next(&mut self) -> Option<Self::Item> {
        let path = self.files.next()?;
        Some(read(&path))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.files.size_hint()
    }
}

fn read(path: &Path) -> Result<ArchivedMessage, ArchiveError> {
    let raw = fs::read(path).map_err(|e| ArchiveError::io(path, e))?;
    let from_line_date = raw
        .starts_with(b"From ")
        .then(|| {
            let end = raw.iter().position(|b| *b == b'\n').unwrap_or(raw.len());
            date::parse_from_line(&raw[..end])
        })
        .flatten();
    let internal_date = match from_line_date {
        Some(d) => Some(d),
        None => fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .map(unix_seconds),
    };
    Ok(ArchivedMessage {
        raw,
        internal_date,
        flags: SystemFlags::default(),
        keywords: Vec::new(),
        origin: path.display().to_string(),
    })
}

fn is_eml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("eml"))
}

/// Collects the regular files below `dir`, depth first.
fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), ArchiveError> {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = fs::read_dir(&dir).map_err(|e| ArchiveError::io(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| ArchiveError::io(&dir, e))?;
            if entry.file_name().as_encoded_bytes().starts_with(b".") {
                continue;
            }
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| ArchiveError::io(&path, e))?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file()
                || (kind.is_symlink() && fs::metadata(&path).is_ok_and(|m| m.is_file()))
            {
                files.push(path);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn reads_eml_files_recursively_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join("b")).unwrap();
        fs::create_dir_all(d.join(".git")).unwrap();
        fs::write(d.join("b/2.eml"), "S: 2\n\n").unwrap();
        fs::write(d.join("a.EML"), "S: 1\n\n").unwrap();
        fs::write(d.join("MANIFEST.tsv"), "not a message").unwrap();
        fs::write(d.join(".git/x.eml"), "hidden").unwrap();
        let got: Vec<_> = EmlReader::open(d).unwrap().map(|m| m.unwrap()).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].raw, b"S: 1\n\n");
        assert_eq!(got[1].raw, b"S: 2\n\n");
        assert!(got[1].origin.ends_with("b/2.eml"));
        assert!(got[0].internal_date.is_some());
    }

    #[test]
    fn without_eml_files_every_file_is_a_message() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("1"), "S: 1\n\n").unwrap();
        fs::write(dir.path().join("2.msg"), "S: 2\n\n").unwrap();
        assert_eq!(EmlReader::open(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn leading_from_line_is_kept_and_gives_the_date() {
        let dir = tempfile::tempdir().unwrap();
        let raw = b"From a@b Mon Jan  2 15:04:05 2006\nS: 1\n\n";
        fs::write(dir.path().join("m.eml"), raw).unwrap();
        let m = EmlReader::open(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(m.raw, raw);
        assert_eq!(m.internal_date, Some(1_136_214_245));
    }
}
