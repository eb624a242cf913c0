//! Writing an eDiscovery bundle: one `.eml` per message under `messages/`
//! (the bytes exactly as they arrived) and `manifest.jsonl`, one JSON object
//! per line naming the file, its user, mailbox, UID, internal date and the
//! SHA-256 recorded when the message arrived, so a reviewer can check every
//! file with `sha256sum` against the manifest. The directory must be new or
//! empty, so a bundle never mixes two exports.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::ArchiveError;

/// Where one message came from, for its manifest line.
#[derive(Debug, Clone)]
pub struct BundleEntry<'a> {
    /// The owner's login.
    pub user: &'a str,
    /// The mailbox's name.
    pub mailbox: &'a str,
    /// The UID.
    pub uid: i64,
    /// INTERNALDATE, Unix seconds.
    pub internal_date: i64,
    /// The SHA-256 of the bytes as they arrived, as the store recorded it.
    pub sha256: [u8; 32],
}

/// Writes a bundle.
pub struct BundleWriter {
    dir: PathBuf,
    manifest: BufWriter<File>,
    count: u64,
    mismatched: u64,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl BundleWriter {
    /// Creates `dir` (or uses it when empty) with `messages/` and the manifest.
    pub fn create(dir: &Path) -> Result<Self, ArchiveError> {
        let io = |p: &Path, e: io::Error| ArchiveError::io(p, e);
        fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        if fs::read_dir(dir).map_err(|e| io(dir, e))?.next().is_some() {
            return Err(io(
                dir,
                io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "not empty: a bundle goes into a new or empty directory",
                ),
            ));
        }
        let messages = dir.join("messages");
        fs::create_dir(&messages).map_err(|e| io(&messages, e))?;
        let path = dir.join("manifest.jsonl");
        let manifest = BufWriter::new(File::create(&path).map_err(|e| io(&path, e))?);
        Ok(BundleWriter {
            dir: dir.to_path_buf(),
            manifest,
            count: 0,
            mismatched: 0,
        })
    }

    /// Writes one message and its manifest line; returns the file's path.
    /// When `bytes` do not hash to the recorded SHA-256 (the original could
    /// not be rebuilt exactly), the line says so with `"verified": false`
    /// and the file's own hash, and [`BundleWriter::mismatched`] counts it.
    pub fn write(
        &mut self,
        bytes: &[u8],
        entry: &BundleEntry<'_>,
    ) -> Result<PathBuf, ArchiveError> {
        self.count += 1;
        let name = format!("messages/{:07}.eml", self.count);
        let path = self.dir.join(&name);
        fs::write(&path, bytes).map_err(|e| ArchiveError::io(&path, e))?;
        let actual: [u8; 32] = Sha256::digest(bytes).into();
        let verified = actual == entry.sha256;
        if !verified {
            self.mismatched += 1;
        }
        let mut line = serde_json::json!({
            "file": name,
            "user": entry.user,
            "mailbox": entry.mailbox,
            "uid": entry.uid,
            "internal_date": super::date::rfc3339(entry.internal_date),
            "sha256": hex(&entry.sha256),
            "size": bytes.len(),
            "verified": verified,
        });
        if !verified && let Some(o) = line.as_object_mut() {
            o.insert("file_sha256".into(), hex(&actual).into());
        }
        writeln!(self.manifest, "{line}")
            .map_err(|e| ArchiveError::io(self.dir.join("manifest.jsonl"), e))?;
        Ok(path)
    }

    /// How many files did not hash to their recorded SHA-256.
    pub fn mismatched(&self) -> u64 {
        self.mismatched
    }

    /// Flushes the manifest; returns how many messages were written.
    pub fn finish(mut self) -> Result<u64, ArchiveError> {
        self.manifest
            .flush()
            .map_err(|e| ArchiveError::io(self.dir.join("manifest.jsonl"), e))?;
        Ok(self.count)
    }
}
