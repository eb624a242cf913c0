//! The one search language: IMAP SEARCH keys (RFC 9051 §6.4.4, RFC 3501
//! §6.4.4, RFC 7162 MODSEQ, RFC 8474 EMAILID/THREADID) as a tree. The IMAP
//! parser produces it, `aox search`, retention policies and legal holds
//! parse the same text form, and the store compiles it into one SQL statement.

mod text;

pub use text::{TextSearchError, everything, from_text, from_words, outside_session, quote_words};

use crate::uidset::{SequenceSet, UidSet};

/// A calendar date as IMAP writes one (`1-Feb-2024`). Date keys compare
/// against the date part of a timestamp in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// The year, e.g. 2024.
    pub year: i32,
    /// 1..=12.
    pub month: u32,
    /// 1..=31, valid for the month.
    pub day: u32,
}

/// A flag a message can carry or be searched for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Flag {
    /// `\Seen`
    Seen,
    /// `\Answered`
    Answered,
    /// `\Flagged`
    Flagged,
    /// `\Deleted`
    Deleted,
    /// `\Draft`
    Draft,
    /// A keyword (an atom without a backslash), as the client spelled it.
    Keyword(String),
}

/// One search key; a SEARCH command's keys together are an [`SearchKey::And`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    /// `ALL`
    All,
    /// `ANSWERED`, `DELETED`, `DRAFT`, `FLAGGED`, `SEEN`, `KEYWORD k`.
    Flag(Flag),
    /// `UNANSWERED`, `UNDELETED`, `UNDRAFT`, `UNFLAGGED`, `UNSEEN`, `UNKEYWORD k`.
    NotFlag(Flag),
    /// `RECENT` (IMAP4rev1 only; the session resolves it to a UID set).
    Recent,
    /// `NEW` = RECENT UNSEEN.
    New,
    /// `OLD` = NOT RECENT.
    Old,
    /// `BCC s`: substring of the Bcc addresses.
    Bcc(String),
    /// `CC s`
    Cc(String),
    /// `FROM s`
    From(String),
    /// `TO s`
    To(String),
    /// `SUBJECT s`
    Subject(String),
    /// `BODY s`: substring of the text of any body part.
    Body(String),
    /// `TEXT s`: substring of the header or any body part.
    Text(String),
    /// `HEADER name s`: a header field named `name` whose value contains
    /// `s`; an empty `s` matches any message that has the field.
    Header(String, String),
    /// `BEFORE d`: internal date earlier than `d`.
    Before(Date),
    /// `ON d`
    On(Date),
    /// `SINCE d`: internal date `d` or later.
    Since(Date),
    /// `SENTBEFORE d`: Date header.
    SentBefore(Date),
    /// `SENTON d`
    SentOn(Date),
    /// `SENTSINCE d`
    SentSince(Date),
    /// `LARGER n`: RFC822.SIZE larger than n.
    Larger(u64),
    /// `SMALLER n`
    Smaller(u64),
    /// `UID set`, as written.
    Uid(SequenceSet),
    /// A bare sequence set: message sequence numbers, as written.
    Seq(SequenceSet),
    /// UIDs already resolved by the session (from `UID`, a sequence set,
    /// `RECENT`): what the store compiles instead of `Uid`/`Seq`/`Recent`.
    UidRanges(UidSet),
    /// `MODSEQ [entry type] n`: modseq at least n (the entry name is ignored:
    /// flags have no per-flag modseq here).
    ModSeq(u64),
    /// `EMAILID id` (RFC 8474).
    EmailId(String),
    /// `THREADID id` (RFC 8474).
    ThreadId(String),
    /// `NOT key`
    Not(Box<SearchKey>),
    /// `OR a b`
    Or(Box<SearchKey>, Box<SearchKey>),
    /// A parenthesised list, or the top-level list of keys: all must match.
    And(Vec<SearchKey>),
}

impl SearchKey {
    /// Visits every key in the tree, parents before children.
    pub fn walk(&self, f: &mut dyn FnMut(&SearchKey)) {
        f(self);
        match self {
            SearchKey::Not(k) => k.walk(f),
            SearchKey::Or(a, b) => {
                a.walk(f);
                b.walk(f);
            }
            SearchKey::And(keys) => keys.iter().for_each(|k| k.walk(f)),
            _ => {}
        }
    }

    /// Rewrites every key bottom-up with `f` (the session uses it to turn
    /// `Seq`, `Uid` and `Recent` into `UidRanges`).
    pub fn map(self, f: &mut dyn FnMut(SearchKey) -> SearchKey) -> SearchKey {
        let mapped = match self {
            SearchKey::Not(k) => SearchKey::Not(Box::new(k.map(f))),
            SearchKey::Or(a, b) => SearchKey::Or(Box::new(a.map(f)), Box::new(b.map(f))),
            SearchKey::And(keys) => SearchKey::And(keys.into_iter().map(|k| k.map(f)).collect()),
            other => other,
        };
        f(mapped)
    }
}
