//! Parsed IMAP commands: what the parser produces and the session consumes.
//! Names follow RFC 9051's grammar; extensions cite their RFC.

use crate::search::{Flag, SearchKey};
use crate::uidset::SequenceSet;

/// A command with its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    /// The client's tag, as sent.
    pub tag: String,
    /// The command.
    pub command: Command,
}

/// A mailbox name as sent: an astring, not yet decoded from modified UTF-7
/// (the session decodes it unless the client enabled UTF8=ACCEPT). The
/// parser leaves case alone, including `INBOX`.
pub type MailboxArg = String;

/// One IMAP command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `CAPABILITY`
    Capability,
    /// `NOOP`
    Noop,
    /// `LOGOUT`
    Logout,
    /// `STARTTLS`
    StartTls,
    /// `AUTHENTICATE mech [initial-response]` (RFC 4959 SASL-IR). The initial
    /// response is the base64 text as sent; `=` means an empty response.
    Authenticate {
        /// Mechanism name, upper-cased.
        mechanism: String,
        /// The base64 initial response, if given.
        initial: Option<String>,
    },
    /// `LOGIN user password`
    Login {
        /// The user name.
        user: String,
        /// The password (kept out of Debug by the session, not here).
        password: String,
    },
    /// `ENABLE cap…` (RFC 5161), capability names upper-cased.
    Enable(Vec<String>),
    /// `SELECT` or `EXAMINE`.
    Select {
        /// The mailbox.
        mailbox: MailboxArg,
        /// True for EXAMINE.
        read_only: bool,
        /// `(CONDSTORE)` select parameter (RFC 7162 §3.1.8).
        condstore: bool,
        /// `(QRESYNC (…))` select parameter (RFC 7162 §3.2.5).
        qresync: Option<QresyncParams>,
    },
    /// `CREATE name [(USE (\Special…))]` (RFC 6154 §3).
    Create {
        /// The mailbox.
        mailbox: MailboxArg,
        /// Special-use attributes asked for, e.g. `\Sent`.
        special_use: Vec<String>,
    },
    /// `DELETE name`
    Delete(MailboxArg),
    /// `RENAME from to`
    Rename {
        /// Existing name.
        from: MailboxArg,
        /// New name.
        to: MailboxArg,
    },
    /// `SUBSCRIBE name`
    Subscribe(MailboxArg),
    /// `UNSUBSCRIBE name`
    Unsubscribe(MailboxArg),
    /// `LIST` in all its forms (RFC 9051 §6.3.9, RFC 5258, RFC 5819, RFC 6154).
    List(ListCommand),
    /// `LSUB reference pattern`
    Lsub {
        /// The reference name.
        reference: MailboxArg,
        /// The pattern.
        pattern: String,
    },
    /// `NAMESPACE`
    Namespace,
    /// `STATUS name (items)`
    Status {
        /// The mailbox.
        mailbox: MailboxArg,
        /// The items, in the order asked.
        items: Vec<StatusItem>,
    },
    /// `APPEND name [flags] [date] literal` and MULTIAPPEND's further
    /// messages (RFC 3502).
    Append {
        /// The mailbox.
        mailbox: MailboxArg,
        /// One or more messages.
        messages: Vec<AppendMessage>,
    },
    /// `IDLE` (RFC 2177)
    Idle,
    /// `CHECK` (IMAP4rev1)
    Check,
    /// `CLOSE`
    Close,
    /// `UNSELECT` (RFC 3691)
    Unselect,
    /// `EXPUNGE`, or `UID EXPUNGE set` (RFC 4315).
    Expunge {
        /// The UIDs for UID EXPUNGE.
        uids: Option<SequenceSet>,
    },
    /// `[UID] SEARCH [RETURN (…)] [CHARSET c] keys`
    Search {
        /// UID SEARCH.
        uid: bool,
        /// `RETURN (…)` options (RFC 4731 ESEARCH); None when absent, an
        /// empty list for `RETURN ()`.
        ret: Option<Vec<SearchReturn>>,
        /// The charset named, upper-cased; the parser has already decoded
        /// strings from it if it is one encoding_rs knows.
        charset: Option<String>,
        /// The keys, as one `And` (or the single key).
        key: SearchKey,
    },
    /// `[UID] FETCH set items [(CHANGEDSINCE n [VANISHED])]`
    Fetch {
        /// UID FETCH.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// The items, macros (ALL, FAST, FULL) expanded.
        items: Vec<FetchItem>,
        /// `CHANGEDSINCE n` (RFC 7162 §3.1.4).
        changed_since: Option<u64>,
        /// `VANISHED` (RFC 7162 §3.2.6), only valid with UID FETCH.
        vanished: bool,
    },
    /// `[UID] STORE set [(UNCHANGEDSINCE n)] (+|-)FLAGS[.SILENT] (flags)`
    Store {
        /// UID STORE.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// `UNCHANGEDSINCE n` (RFC 7162 §3.1.3).
        unchanged_since: Option<u64>,
        /// Add, remove or replace.
        mode: StoreMode,
        /// `.SILENT`
        silent: bool,
        /// The flags; `\Recent` is dropped by the parser, unknown `\Xxx`
        /// system-looking flags are a BAD.
        flags: Vec<Flag>,
    },
    /// `[UID] COPY set mailbox`
    Copy {
        /// UID COPY.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// Target mailbox.
        mailbox: MailboxArg,
    },
    /// `[UID] MOVE set mailbox` (RFC 6851)
    Move {
        /// UID MOVE.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// Target mailbox.
        mailbox: MailboxArg,
    },
    /// `ID (k v …)` or `ID NIL` (RFC 2971).
    Id(Option<Vec<(String, Option<String>)>>),
}

/// RFC 7162 §3.2.5 `QRESYNC (uidvalidity modseq [known-uids [(seq uids)]])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QresyncParams {
    /// The UIDVALIDITY the client last saw.
    pub uidvalidity: u32,
    /// The highest modseq the client last saw.
    pub modseq: u64,
    /// The UIDs the client knows, if sent.
    pub known_uids: Option<SequenceSet>,
    /// Sequence-number/UID pairs (`seq-match-data`), if sent.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// LIST arguments (RFC 5258 extended form included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCommand {
    /// Selection options, upper-cased (`SUBSCRIBED`, `REMOTE`,
    /// `RECURSIVEMATCH`, `SPECIAL-USE`).
    pub selection: Vec<String>,
    /// The reference name.
    pub reference: MailboxArg,
    /// One or more patterns (`%` and `*` wildcards).
    pub patterns: Vec<String>,
    /// Return options.
    pub ret: ListReturn,
}

/// LIST RETURN options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListReturn {
    /// `SUBSCRIBED`
    pub subscribed: bool,
    /// `CHILDREN`
    pub children: bool,
    /// `SPECIAL-USE`
    pub special_use: bool,
    /// `STATUS (items)` (RFC 5819).
    pub status: Option<Vec<StatusItem>>,
}

/// A STATUS data item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusItem {
    /// `MESSAGES`
    Messages,
    /// `RECENT` (IMAP4rev1)
    Recent,
    /// `UIDNEXT`
    UidNext,
    /// `UIDVALIDITY`
    UidValidity,
    /// `UNSEEN`
    Unseen,
    /// `DELETED` (RFC 9051)
    Deleted,
    /// `SIZE` (RFC 8438)
    Size,
    /// `HIGHESTMODSEQ` (RFC 7162)
    HighestModSeq,
    /// `APPENDLIMIT` (RFC 7889)
    AppendLimit,
    /// `MAILBOXID` (RFC 8474)
    MailboxId,
}

/// One message of an APPEND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    /// Flags to set.
    pub flags: Vec<Flag>,
    /// The internal date, as Unix seconds, if given.
    pub date: Option<i64>,
    /// The message bytes (a literal; `literal8` `~{n}` also accepted, RFC 3516
    /// syntax, as UTF8=ACCEPT's `UTF8 (literal)` form).
    pub data: Vec<u8>,
}

/// `RETURN` options of SEARCH (RFC 4731).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchReturn {
    /// `MIN`
    Min,
    /// `MAX`
    Max,
    /// `ALL`
    All,
    /// `COUNT`
    Count,
}

/// How STORE changes flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreMode {
    /// `FLAGS`
    Replace,
    /// `+FLAGS`
    Add,
    /// `-FLAGS`
    Remove,
}

/// A FETCH data item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchItem {
    /// `ENVELOPE`
    Envelope,
    /// `FLAGS`
    Flags,
    /// `INTERNALDATE`
    InternalDate,
    /// `RFC822.SIZE`
    Rfc822Size,
    /// `RFC822` (= BODY[], sets \Seen)
    Rfc822,
    /// `RFC822.HEADER` (= BODY.PEEK[HEADER])
    Rfc822Header,
    /// `RFC822.TEXT` (= BODY[TEXT], sets \Seen)
    Rfc822Text,
    /// `BODY` (BODYSTRUCTURE without extension data)
    Body,
    /// `BODYSTRUCTURE`
    BodyStructure,
    /// `UID`
    Uid,
    /// `MODSEQ` (RFC 7162)
    ModSeq,
    /// `EMAILID` (RFC 8474)
    EmailId,
    /// `THREADID` (RFC 8474)
    ThreadId,
    /// `BODY[section]<partial>` or `BODY.PEEK[…]`.
    BodySection {
        /// `.PEEK`: do not set \Seen.
        peek: bool,
        /// The section.
        section: Section,
        /// `<offset.length>`
        partial: Option<(u32, u32)>,
    },
}

/// A body section specification (RFC 9051 §6.4.5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Section {
    /// Part numbers, e.g. `[1, 2]` for `1.2`; empty for the whole message.
    pub part: Vec<u32>,
    /// What of the part; None for the part's content (or the whole message).
    pub text: Option<SectionText>,
}

/// The text part of a section specification.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SectionText {
    /// `HEADER`
    Header,
    /// `HEADER.FIELDS (names)`, names as sent.
    HeaderFields(Vec<String>),
    /// `HEADER.FIELDS.NOT (names)`
    HeaderFieldsNot(Vec<String>),
    /// `TEXT`
    Text,
    /// `MIME` (only after a part number)
    Mime,
}
