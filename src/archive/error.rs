//! What can go wrong reading an archive, and in which file (and line) it went wrong.

use std::io;
use std::path::PathBuf;

/// A problem reading an archive. Every variant names the file, so a failure list printed by
/// `aox import` can be acted on without guessing which of several sources it came from.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A file or directory could not be opened, listed or read as a whole.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: io::Error,
    },

    /// Reading an mbox failed part-way; `line` is the last line read successfully, so the
    /// messages before it were delivered and a re-run can be compared with that point.
    #[error("{}: read failed after line {line}: {source}", path.display())]
    Read {
        /// The mbox file.
        path: PathBuf,
        /// The 1-based number of the last line read before the failure.
        line: u64,
        /// Why it failed.
        #[source]
        source: io::Error,
    },

    /// A regular file given as an mbox that is not one; `reason` says what it is instead
    /// when that can be told (compressed, a single message, MMDF…).
    #[error("{}: not an mbox: {reason}", path.display())]
    NotMbox {
        /// The file.
        path: PathBuf,
        /// What was found instead of a `From ` line.
        reason: String,
    },

    /// A path that is neither a regular file nor a directory (a socket, a device…).
    #[error("{}: neither a file nor a directory, so not an mbox, a maildir or a directory of messages", path.display())]
    NotArchive {
        /// The path.
        path: PathBuf,
    },
}

impl ArchiveError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
