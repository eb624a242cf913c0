//! Mail archives on disk: read mbox, Maildir and directories of `.eml` files for
//! `aox import`, write mbox and Maildir for `aox export`.
//!
//! This layer only moves message bytes and their envelope (internal date, flags,
//! keywords) between files and [`ArchivedMessage`]s. It does not parse MIME (that is
//! [`crate::mime`]) and knows nothing of the store. Everything is synchronous std I/O:
//! the importer runs it on a blocking thread, and every reader streams, holding one
//! message at a time, so memory does not grow with the archive (a 1.5 GB mbox is read
//! line by line through a `BufReader`).
//!
//! What each reader takes from its format:
//!
//! - **mbox** ([`MboxReader`]): mboxrd and mboxo. A line beginning `From ` is a message
//!   separator when it is the first line of the file or follows an empty line; any other
//!   `From ` line is body text an unquoting writer left behind. `>From `, `>>From `… lose
//!   one `>` (mboxrd; right for mboxo too, which only ever adds one). `Content-Length:`
//!   (mboxcl2) is not trusted. The empty line before each separator, and at the end of
//!   the file, belongs to the format and is removed. Line ends are kept as found (CRLF
//!   mboxes work). Flags come from `Status:` (R = seen), `X-Status:` (A answered,
//!   F flagged, D deleted, T draft) and `X-Mozilla-Status:` as mutt and Thunderbird
//!   write them; the headers stay in the message.
//! - **Maildir** ([`MaildirReader`]): files in `cur/` and `new/`, in a stable order (the
//!   leading timestamp of the name, then the name), so a re-run sees the same sequence.
//!   Flags from the `:2,` info suffix (S seen, R answered, F flagged, T deleted, D draft);
//!   lower-case letters are keywords named by Dovecot's `dovecot-keywords` file. Files
//!   in `new/` carry no suffix, so they come out unseen. Maildir++ subfolders
//!   (`.Sub.Folder/`) are separate mailboxes and are *not* descended into: import each
//!   one as its own source.
//! - **Directory of messages** ([`EmlReader`]): every `*.eml` file below the directory,
//!   or every regular file if there is no `.eml` among them, in path order; one message
//!   per file, bytes as they are.
//!
//! The writers never change a message's header: [`MboxWriter`] writes mboxrd with a
//! `From MAILER-DAEMON <date>` line and LF line ends, and has nowhere to put flags;
//! [`MaildirWriter`] keeps flags and keywords in the file names as Dovecot does.

mod bundle_writer;
mod date;
mod detect;
mod eml;
mod error;
mod keywords;
mod maildir_reader;
mod maildir_writer;
mod mbox_reader;
mod mbox_writer;

#[cfg(test)]
mod corpus_tests;

pub use bundle_writer::{BundleEntry, BundleWriter};
pub use detect::{SourceKind, detect, open};
pub use eml::EmlReader;
pub use error::ArchiveError;
pub use maildir_reader::MaildirReader;
pub use maildir_writer::MaildirWriter;
pub use mbox_reader::MboxReader;
pub use mbox_writer::MboxWriter;

/// One message as an archive holds it, with the envelope data the archive format keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedMessage {
    /// The message bytes as stored: mbox `>From ` quoting undone and the separating
    /// empty line removed, line endings as found.
    pub raw: Vec<u8>,
    /// Unix seconds: the mbox `From ` line's date; for Maildir the earlier of the file's
    /// mtime and the timestamp leading its name; for a `.eml` file its `From ` line's
    /// date if it has one, else its mtime. `None` when the archive has no usable date.
    pub internal_date: Option<i64>,
    /// The IMAP system flags the archive recorded.
    pub flags: SystemFlags,
    /// IMAP keywords (Maildir: Dovecot's keyword letters resolved by name).
    pub keywords: Vec<String>,
    /// Where the message came from, for error messages and failure lists: `file.mbox:1234`
    /// (the line of its `From ` line) or the Maildir/`.eml` file's path.
    pub origin: String,
}

/// The IMAP system flags an archive can carry (RFC 3501 §2.3.2; `\Recent` is not stored).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SystemFlags {
    /// `\Seen`.
    pub seen: bool,
    /// `\Answered`.
    pub answered: bool,
    /// `\Flagged`.
    pub flagged: bool,
    /// `\Deleted`.
    pub deleted: bool,
    /// `\Draft`.
    pub draft: bool,
}

/// A stream of messages from an archive, as [`open`] returns it.
pub type Messages = Box<dyn Iterator<Item = Result<ArchivedMessage, ArchiveError>> + Send>;
