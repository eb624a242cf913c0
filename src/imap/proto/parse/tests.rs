//! Known-answer tests: command bytes → [`Tagged`], and bad input → a BAD
//! with its tag recovered and a text that says what was expected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod oracle;
mod props;
mod search;

use super::lexer::Cursor;
use super::{ParseError, parse_command, parse_search_text};
use crate::imap::proto::command::*;
use crate::search::{Date, Flag, SearchKey};
use crate::uidset::{SeqNum, SequenceSet};

fn parse(input: &str) -> Command {
    parse_bytes(input.as_bytes())
}

fn parse_bytes(input: &[u8]) -> Command {
    match parse_command(input) {
        Ok(t) => t.command,
        Err(e) => panic!("{:?} did not parse: {e:?}", String::from_utf8_lossy(input)),
    }
}

fn err(input: &str) -> ParseError {
    match parse_command(input.as_bytes()) {
        Ok(t) => panic!("{input:?} parsed as {t:?}"),
        Err(e) => e,
    }
}

/// Asserts a BAD whose tag was recovered and whose text contains `needle`.
fn bad(input: &str, tag: &str, needle: &str) {
    let e = err(input);
    assert_eq!(e.tag.as_deref(), Some(tag), "{input:?}: {e:?}");
    assert!(
        e.text.contains(needle),
        "{input:?}: {:?} lacks {needle:?}",
        e.text
    );
}

fn seq(s: &str) -> SequenceSet {
    Cursor::new(s.as_bytes()).sequence_set().unwrap()
}

fn date(year: i32, month: u32, day: u32) -> Date {
    Date { year, month, day }
}

// --- tags and framing ---------------------------------------------------

#[test]
fn rfc9051_9_tag_is_any_astring_char_but_plus_and_command_names_ignore_case() {
    let t = parse_command(b"a.b-1]x noop\r\n").unwrap();
    assert_eq!(t.tag, "a.b-1]x");
    assert_eq!(t.command, Command::Noop);
    for (line, cmd) in [
        ("t CAPABILITY\r\n", Command::Capability),
        ("t Logout\r\n", Command::Logout),
        ("t starttls\r\n", Command::StartTls),
        ("t NAMESPACE\r\n", Command::Namespace),
        ("t idle\r\n", Command::Idle),
        ("t CHECK\r\n", Command::Check),
        ("t close\r\n", Command::Close),
        ("t UNSELECT\r\n", Command::Unselect),
        ("t EXPUNGE\r\n", Command::Expunge { uids: None }),
    ] {
        assert_eq!(parse(line), cmd, "{line:?}");
    }
}

#[test]
fn rfc9051_9_a_plus_or_missing_tag_is_an_untagged_bad() {
    assert_eq!(err("+ NOOP\r\n").tag, None);
    assert_eq!(err(" NOOP\r\n").tag, None);
    assert_eq!(err("\r\n").tag, None);
    assert_eq!(err("a+b NOOP\r\n").tag.as_deref(), Some("a"));
}

#[test]
fn unknown_commands_and_trailing_garbage_keep_the_tag() {
    bad("a1 FROB\r\n", "a1", "unknown command FROB");
    bad("a1 NOOP extra\r\n", "a1", "unexpected \"extra\"");
    bad("a1 NOOP \r\n", "a1", "NOOP: unexpected");
    bad("a1 NOOP", "a1", "expected CRLF");
    bad("a1 UID FROB 1\r\n", "a1", "UID: expected COPY");
    bad("a1\r\n", "a1", "expected a space after the tag");
}

#[test]
fn a_bare_lf_ends_a_command_too() {
    assert_eq!(parse("a NOOP\n"), Command::Noop);
}

// --- authentication -----------------------------------------------------

#[test]
fn rfc4959_authenticate_with_and_without_initial_response() {
    assert_eq!(
        parse("a AUTHENTICATE plain\r\n"),
        Command::Authenticate {
            mechanism: "PLAIN".into(),
            initial: None
        }
    );
    assert_eq!(
        parse("a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
        Command::Authenticate {
            mechanism: "PLAIN".into(),
            initial: Some("AGFsaWNlAHNlY3JldA==".into())
        }
    );
    assert_eq!(
        parse("a AUTHENTICATE EXTERNAL =\r\n"),
        Command::Authenticate {
            mechanism: "EXTERNAL".into(),
            initial: Some("=".into())
        }
    );
    bad("a AUTHENTICATE PLAIN abc\r\n", "a", "base64");
    bad("a AUTHENTICATE PLAIN a=bc\r\n", "a", "base64");
}

#[test]
fn rfc9051_6_2_3_login_takes_atoms_quoted_strings_and_literals() {
    let login = |user: &str, password: &str| Command::Login {
        user: user.into(),
        password: password.into(),
    };
    assert_eq!(parse("a LOGIN alice secret\r\n"), login("alice", "secret"));
    assert_eq!(
        parse("a LOGIN \"alice\" \"se\\\"cr\\\\et\"\r\n"),
        login("alice", "se\"cr\\et")
    );
    assert_eq!(
        parse("a2 LOGIN {5}\r\nalice {6}\r\nsecret\r\n"),
        login("alice", "secret")
    );
    assert_eq!(parse("a2 LOGIN {5+}\r\nalice \"\"\r\n"), login("alice", ""));
    // RFC 6855 §3: UTF-8 inside quotes.
    assert_eq!(parse("a LOGIN \"jösé\" pw\r\n"), login("jösé", "pw"));
    bad("a LOGIN alice\r\n", "a", "LOGIN: expected more arguments");
    bad("a LOGIN \"a\\b\" c\r\n", "a", "may be escaped");
    bad("a LOGIN \"abc\r\n", "a", "CR, LF and NUL");
    bad(
        "a LOGIN {10}\r\nalice\r\n",
        "a",
        "shorter than its announced length",
    );
    bad(
        "a LOGIN {99999999999}\r\nalice\r\n",
        "a",
        "number too large",
    );
    let e = parse_command(b"a LOGIN \"\xff\" pw\r\n").unwrap_err();
    assert_eq!(e.text, "LOGIN: user name is not UTF-8");
}

#[test]
fn rfc5161_enable_upper_cases_capability_names() {
    assert_eq!(
        parse("a ENABLE condstore Utf8=Accept\r\n"),
        Command::Enable(vec!["CONDSTORE".into(), "UTF8=ACCEPT".into()])
    );
    bad("a ENABLE\r\n", "a", "expected more arguments");
}

// --- mailboxes ----------------------------------------------------------

#[test]
fn rfc9051_6_3_1_select_and_examine_leave_mailbox_case_alone() {
    assert_eq!(
        parse("a SELECT inbox\r\n"),
        Command::Select {
            mailbox: "inbox".into(),
            read_only: false,
            condstore: false,
            qresync: None
        }
    );
    assert_eq!(
        parse("a EXAMINE \"Sent Items\" (CONDSTORE)\r\n"),
        Command::Select {
            mailbox: "Sent Items".into(),
            read_only: true,
            condstore: true,
            qresync: None
        }
    );
    bad(
        "a SELECT INBOX (FOO)\r\n",
        "a",
        "unknown select parameter FOO",
    );
}

#[test]
fn rfc7162_3_2_5_qresync_select_parameters() {
    let Command::Select { qresync, .. } =
        parse("A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n")
    else {
        panic!()
    };
    assert_eq!(
        qresync,
        Some(QresyncParams {
            uidvalidity: 67_890_007,
            modseq: 20_050_715_194_045_000,
            known_uids: Some(seq("41,43:211,214:541")),
            seq_match: None,
        })
    );
    let Command::Select { qresync, .. } = parse(
        "B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541 (1:10,15 2:11,16)))\r\n",
    ) else {
        panic!()
    };
    let q = qresync.unwrap();
    assert_eq!(q.known_uids, Some(seq("41:211,214:541")));
    assert_eq!(q.seq_match, Some((seq("1:10,15"), seq("2:11,16"))));
    let Command::Select { qresync, .. } =
        parse("a SELECT INBOX (QRESYNC (1 2 (1 3)) CONDSTORE)\r\n")
    else {
        panic!()
    };
    let q = qresync.unwrap();
    assert_eq!(
        (q.known_uids, q.seq_match),
        (None, Some((seq("1"), seq("3"))))
    );
    bad("a SELECT INBOX (QRESYNC (0 5))\r\n", "a", "0 is not");
    bad("a SELECT INBOX (QRESYNC (1 0))\r\n", "a", "non-zero");
    bad(
        "a SELECT INBOX (QRESYNC (1 99999999999999999999))\r\n",
        "a",
        "number too large",
    );
}

#[test]
fn rfc6154_3_create_with_use_canonicalises_known_attributes() {
    assert_eq!(
        parse("a CREATE Sent (USE (\\sent \\Archive \\X-Odd))\r\n"),
        Command::Create {
            mailbox: "Sent".into(),
            special_use: vec!["\\Sent".into(), "\\Archive".into(), "\\X-Odd".into()]
        }
    );
    assert_eq!(
        parse("a CREATE foo/bar\r\n"),
        Command::Create {
            mailbox: "foo/bar".into(),
            special_use: vec![]
        }
    );
    bad("a CREATE x (USE (Sent))\r\n", "a", "special-use attribute");
}

#[test]
fn rfc9051_6_3_delete_rename_subscribe_unsubscribe() {
    assert_eq!(parse("a DELETE \"a b\"\r\n"), Command::Delete("a b".into()));
    assert_eq!(
        parse("a RENAME old {3}\r\nnew\r\n"),
        Command::Rename {
            from: "old".into(),
            to: "new".into()
        }
    );
    assert_eq!(
        parse("a SUBSCRIBE &AOk-t&AOk-\r\n"),
        Command::Subscribe("&AOk-t&AOk-".into())
    );
    assert_eq!(
        parse("a UNSUBSCRIBE [Gmail]/x\r\n"),
        Command::Unsubscribe("[Gmail]/x".into())
    );
    bad("a DELETE (x)\r\n", "a", "expected an atom or a string");
}

#[test]
fn rfc9051_6_3_9_basic_list_and_lsub() {
    assert_eq!(
        parse("a LIST \"\" *\r\n"),
        Command::List(ListCommand {
            selection: vec![],
            reference: String::new(),
            patterns: vec!["*".into()],
            ret: ListReturn::default(),
        })
    );
    let Command::List(l) = parse("a list ~/Mail/ %/foo]*\r\n") else {
        panic!()
    };
    assert_eq!(
        (l.reference.as_str(), l.patterns),
        ("~/Mail/", vec!["%/foo]*".to_string()])
    );
    assert_eq!(
        parse("a LSUB \"#news.\" \"comp.mail.*\"\r\n"),
        Command::Lsub {
            reference: "#news.".into(),
            pattern: "comp.mail.*".into()
        }
    );
}

#[test]
fn rfc5258_rfc5819_extended_list_with_selection_patterns_and_return() {
    assert_eq!(
        parse(
            "a LIST (subscribed) \"\" (pat1 \"pat 2\") RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES UNSEEN))\r\n"
        ),
        Command::List(ListCommand {
            selection: vec!["SUBSCRIBED".into()],
            reference: String::new(),
            patterns: vec!["pat1".into(), "pat 2".into()],
            ret: ListReturn {
                subscribed: false,
                children: true,
                special_use: true,
                status: Some(vec![StatusItem::Messages, StatusItem::Unseen]),
            },
        })
    );
    let Command::List(l) = parse("a LIST () \"\" % RETURN ()\r\n") else {
        panic!()
    };
    assert_eq!((l.selection.len(), l.ret), (0, ListReturn::default()));
    let Command::List(l) =
        parse("a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" % RETURN (SUBSCRIBED)\r\n")
    else {
        panic!()
    };
    assert!(l.ret.subscribed);
    bad(
        "a LIST (RECURSIVEMATCH) \"\" %\r\n",
        "a",
        "needs another selection option",
    );
    bad(
        "a LIST (FOO) \"\" %\r\n",
        "a",
        "unknown LIST selection option FOO",
    );
    bad("a LIST \"\" % (CHILDREN)\r\n", "a", "expected RETURN");
    bad(
        "a LIST \"\" % RETURN (BAR)\r\n",
        "a",
        "unknown LIST return option BAR",
    );
}

#[test]
fn rfc9051_6_3_11_status_items_in_order() {
    assert_eq!(
        parse(
            "a STATUS blurdybloop (UIDNEXT messages HIGHESTMODSEQ SIZE DELETED APPENDLIMIT MAILBOXID RECENT UIDVALIDITY UNSEEN)\r\n"
        ),
        Command::Status {
            mailbox: "blurdybloop".into(),
            items: vec![
                StatusItem::UidNext,
                StatusItem::Messages,
                StatusItem::HighestModSeq,
                StatusItem::Size,
                StatusItem::Deleted,
                StatusItem::AppendLimit,
                StatusItem::MailboxId,
                StatusItem::Recent,
                StatusItem::UidValidity,
                StatusItem::Unseen,
            ]
        }
    );
    bad("a STATUS x ()\r\n", "a", "expected a keyword");
    bad(
        "a STATUS x (MESSAGES FOO)\r\n",
        "a",
        "unknown STATUS item FOO",
    );
}

// --- APPEND -------------------------------------------------------------

#[test]
fn rfc9051_6_3_12_append_with_flags_date_and_literal() {
    assert_eq!(
        parse("a1 APPEND INBOX (\\Seen) {5+}\r\nhello\r\n"),
        Command::Append {
            mailbox: "INBOX".into(),
            messages: vec![AppendMessage {
                flags: vec![Flag::Seen],
                date: None,
                data: b"hello".to_vec()
            }]
        }
    );
    assert_eq!(
        parse(
            "a APPEND saved-messages (\\Seen $Work \\Recent) \" 7-Feb-1994 21:52:25 -0800\" {3}\r\nabc\r\n"
        ),
        Command::Append {
            mailbox: "saved-messages".into(),
            messages: vec![AppendMessage {
                flags: vec![Flag::Seen, Flag::Keyword("$Work".into())],
                date: Some(760_686_745),
                data: b"abc".to_vec()
            }]
        }
    );
    // A literal may carry CRLF, NUL and 8-bit bytes.
    let Command::Append { messages, .. } = parse_bytes(b"a APPEND x {4}\r\n\r\n\0\xff\r\n") else {
        panic!()
    };
    assert_eq!(messages[0].data, b"\r\n\0\xff");
}

#[test]
fn rfc3502_multiappend_and_rfc6855_utf8_literal() {
    let Command::Append { messages, .. } = parse(
        "a APPEND x {1}\r\nA () {1+}\r\nB \"01-Jan-2000 00:00:00 +0000\" ~{1}\r\nC UTF8 (~{1}\r\nD) (\\Draft) UTF8 ({1}\r\nE)\r\n",
    ) else {
        panic!()
    };
    let datas: Vec<&[u8]> = messages.iter().map(|m| m.data.as_slice()).collect();
    assert_eq!(datas, [b"A", b"B", b"C", b"D", b"E"]);
    assert_eq!(messages[2].date, Some(946_684_800));
    assert_eq!(messages[4].flags, vec![Flag::Draft]);
}

#[test]
fn append_errors_say_what_was_expected() {
    bad("a APPEND x (\\Seen)\r\n", "a", "expected more arguments");
    bad(
        "a APPEND x \"7-Feb-1994\" {1}\r\na\r\n",
        "a",
        "expected a date-time",
    );
    bad(
        "a APPEND x hello\r\n",
        "a",
        "expected the message as a literal",
    );
    bad(
        "a APPEND x (\\Bogus) {1}\r\na\r\n",
        "a",
        "unknown system flag \\Bogus",
    );
    bad(
        "a APPEND x CATENATE (TEXT {1}\r\na)\r\n",
        "a",
        "CATENATE is not supported",
    );
    bad(
        "a APPEND x {1}\r\na garbage\r\n",
        "a",
        "expected the message",
    );
}

// --- EXPUNGE, COPY, MOVE, ID --------------------------------------------

#[test]
fn rfc4315_2_1_uid_expunge_takes_a_set() {
    assert_eq!(
        parse("a UID EXPUNGE 3000:3002,4\r\n"),
        Command::Expunge {
            uids: Some(SequenceSet(vec![
                (SeqNum::Value(3000), SeqNum::Value(3002)),
                (SeqNum::Value(4), SeqNum::Value(4))
            ]))
        }
    );
    bad("a UID EXPUNGE\r\n", "a", "expected more arguments");
}

#[test]
fn rfc9051_sequence_sets_star_zero_and_overflow() {
    assert_eq!(
        seq("1:*,*,5:2"),
        SequenceSet(vec![
            (SeqNum::Value(1), SeqNum::Star),
            (SeqNum::Star, SeqNum::Star),
            (SeqNum::Value(5), SeqNum::Value(2))
        ])
    );
    bad("a COPY 0 x\r\n", "a", "0 is not a valid message number");
    bad("a COPY 1:0 x\r\n", "a", "0 is not");
    bad("a COPY 4294967296 x\r\n", "a", "number too large");
    bad("a COPY 1, x\r\n", "a", "expected a sequence set");
    bad("a COPY $ x\r\n", "a", "SEARCHRES");
}

#[test]
fn rfc9051_6_4_7_copy_and_rfc6851_move_with_and_without_uid() {
    assert_eq!(
        parse("a COPY 2:4 MEETING\r\n"),
        Command::Copy {
            uid: false,
            set: seq("2:4"),
            mailbox: "MEETING".into()
        }
    );
    assert_eq!(
        parse("a uid move 42 \"Trash\"\r\n"),
        Command::Move {
            uid: true,
            set: seq("42"),
            mailbox: "Trash".into()
        }
    );
    assert_eq!(
        parse("a UID COPY 1:* x\r\n"),
        Command::Copy {
            uid: true,
            set: seq("1:*"),
            mailbox: "x".into()
        }
    );
}

#[test]
fn rfc2971_id_with_parameters_or_nil() {
    assert_eq!(
        parse("a ID (\"name\" \"sodr\" \"version\" NIL)\r\n"),
        Command::Id(Some(vec![
            ("name".into(), Some("sodr".into())),
            ("version".into(), None)
        ]))
    );
    assert_eq!(parse("a ID nil\r\n"), Command::Id(None));
    assert_eq!(parse("a ID ()\r\n"), Command::Id(Some(vec![])));
    bad("a ID (\"name\")\r\n", "a", "expected a space");
}

// --- STORE --------------------------------------------------------------

#[test]
fn rfc9051_6_4_6_store_modes_silent_and_flag_forms() {
    assert_eq!(
        parse("a STORE 2:4 +FLAGS (\\Deleted)\r\n"),
        Command::Store {
            uid: false,
            set: seq("2:4"),
            unchanged_since: None,
            mode: StoreMode::Add,
            silent: false,
            flags: vec![Flag::Deleted]
        }
    );
    assert_eq!(
        parse("a UID STORE 1 -flags.silent \\seen $Junk\r\n"),
        Command::Store {
            uid: true,
            set: seq("1"),
            unchanged_since: None,
            mode: StoreMode::Remove,
            silent: true,
            flags: vec![Flag::Seen, Flag::Keyword("$Junk".into())]
        }
    );
    let Command::Store { mode, flags, .. } = parse("a STORE * FLAGS ()\r\n") else {
        panic!()
    };
    assert_eq!((mode, flags), (StoreMode::Replace, vec![]));
}

#[test]
fn rfc7162_3_1_3_store_unchangedsince() {
    let Command::Store {
        unchanged_since,
        silent,
        flags,
        ..
    } = parse("d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)\r\n")
    else {
        panic!()
    };
    assert_eq!(
        (unchanged_since, silent, flags),
        (Some(320_162_338), true, vec![Flag::Deleted])
    );
    bad(
        "a STORE 1 (UNCHANGEDSINCE x) FLAGS ()\r\n",
        "a",
        "expected a number",
    );
    bad(
        "a STORE 1 (FOO 1) FLAGS ()\r\n",
        "a",
        "unknown STORE modifier FOO",
    );
}

#[test]
fn rfc3501_2_3_2_store_drops_recent_and_refuses_unknown_system_flags() {
    let Command::Store { flags, .. } = parse("a STORE 1 +FLAGS (\\Recent \\Flagged)\r\n") else {
        panic!()
    };
    assert_eq!(flags, vec![Flag::Flagged]);
    bad(
        "a STORE 1 +FLAGS (\\Important)\r\n",
        "a",
        "unknown system flag \\Important",
    );
    bad(
        "a STORE 1 FLAG (\\Seen)\r\n",
        "a",
        "expected FLAGS, +FLAGS or -FLAGS",
    );
    bad("a STORE 1 +FLAGS\r\n", "a", "expected more arguments");
    bad("a STORE 1 +FLAGS (\\Seen\r\n", "a", "expected ) or a space");
}

// --- FETCH --------------------------------------------------------------

fn fetch_items(input: &str) -> Vec<FetchItem> {
    match parse(input) {
        Command::Fetch { items, .. } => items,
        other => panic!("{other:?}"),
    }
}

fn section(
    peek: bool,
    part: &[u32],
    text: Option<SectionText>,
    partial: Option<(u32, u32)>,
) -> FetchItem {
    FetchItem::BodySection {
        peek,
        section: Section {
            part: part.to_vec(),
            text,
        },
        partial,
    }
}

#[test]
fn rfc9051_6_4_5_fetch_macros_expand() {
    use FetchItem::*;
    assert_eq!(
        fetch_items("a FETCH 1 all\r\n"),
        [Flags, InternalDate, Rfc822Size, Envelope]
    );
    assert_eq!(
        fetch_items("a FETCH 1 FAST\r\n"),
        [Flags, InternalDate, Rfc822Size]
    );
    assert_eq!(
        fetch_items("a FETCH 1 FULL\r\n"),
        [Flags, InternalDate, Rfc822Size, Envelope, Body]
    );
    bad(
        "a FETCH 1 (FLAGS ALL)\r\n",
        "a",
        "macro cannot be part of a list",
    );
}

#[test]
fn rfc9051_6_4_5_fetch_every_simple_item() {
    use FetchItem::*;
    assert_eq!(
        fetch_items(
            "a FETCH 1:* (ENVELOPE FLAGS INTERNALDATE RFC822.SIZE RFC822 RFC822.HEADER RFC822.TEXT BODY BODYSTRUCTURE UID MODSEQ EMAILID THREADID)\r\n"
        ),
        [
            Envelope,
            Flags,
            InternalDate,
            Rfc822Size,
            Rfc822,
            Rfc822Header,
            Rfc822Text,
            Body,
            BodyStructure,
            Uid,
            ModSeq,
            EmailId,
            ThreadId
        ]
    );
    assert_eq!(fetch_items("a UID FETCH 1 uid\r\n"), [Uid]);
}

#[test]
fn rfc9051_6_4_5_fetch_body_sections_and_partials() {
    use SectionText::*;
    assert_eq!(
        fetch_items(
            "a FETCH 1 (BODY[] BODY.PEEK[HEADER] body[1.2.3] BODY[1.2.TEXT] BODY.PEEK[1.MIME] BODY[3.HEADER] BODY[TEXT]<0.2048>)\r\n"
        ),
        [
            section(false, &[], None, None),
            section(true, &[], Some(Header), None),
            section(false, &[1, 2, 3], None, None),
            section(false, &[1, 2], Some(Text), None),
            section(true, &[1], Some(Mime), None),
            section(false, &[3], Some(Header), None),
            section(false, &[], Some(Text), Some((0, 2048))),
        ]
    );
    assert_eq!(
        fetch_items("a FETCH 1 BODY.PEEK[HEADER.FIELDS (From \"Subject\" x-spam)]\r\n"),
        [section(
            true,
            &[],
            Some(HeaderFields(vec![
                "From".into(),
                "Subject".into(),
                "x-spam".into()
            ])),
            None
        )]
    );
    assert_eq!(
        fetch_items("a FETCH 1 BODY[2.header.fields.not (Received)]<10.5>\r\n"),
        [section(
            false,
            &[2],
            Some(HeaderFieldsNot(vec!["Received".into()])),
            Some((10, 5))
        )]
    );
}

#[test]
fn rfc9051_6_4_5_bad_sections_are_refused() {
    bad("a FETCH 1 BODY.PEEK\r\n", "a", "expected [");
    bad("a FETCH 1 BODY[MIME]\r\n", "a", "MIME needs a part number");
    bad("a FETCH 1 BODY[0]\r\n", "a", "section part");
    bad("a FETCH 1 BODY[1.FOO]\r\n", "a", "unknown section FOO");
    bad(
        "a FETCH 1 BODY[HEADER.FIELDS ()]\r\n",
        "a",
        "expected an atom or a string",
    );
    bad("a FETCH 1 BODY[HEADER.FIELDS]\r\n", "a", "expected a space");
    bad("a FETCH 1 BODY[]<0.0>\r\n", "a", "partial length");
    bad("a FETCH 1 BODY[]<5>\r\n", "a", "expected .");
    bad("a FETCH 1 BODY[TEXT\r\n", "a", "expected ]");
    bad("a FETCH 1 (FLAGS\r\n", "a", "expected a space or )");
    bad(
        "a FETCH 1 (FLAGS BOGUS)\r\n",
        "a",
        "unknown FETCH item BOGUS",
    );
    bad("a FETCH 1 BINARY[1]\r\n", "a", "not supported");
    bad("a FETCH 1\r\n", "a", "expected more arguments");
}

#[test]
fn rfc7162_fetch_changedsince_and_vanished() {
    let Command::Fetch {
        uid,
        changed_since,
        vanished,
        ..
    } = parse("s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n")
    else {
        panic!()
    };
    assert_eq!((uid, changed_since, vanished), (true, Some(12345), true));
    let Command::Fetch {
        changed_since,
        vanished,
        ..
    } = parse("s FETCH 1:* FLAGS (CHANGEDSINCE 0)\r\n")
    else {
        panic!()
    };
    assert_eq!((changed_since, vanished), (Some(0), false));
    bad(
        "s FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)\r\n",
        "s",
        "only allowed with UID FETCH",
    );
    bad(
        "s UID FETCH 1 FLAGS (VANISHED)\r\n",
        "s",
        "VANISHED needs CHANGEDSINCE",
    );
    bad(
        "s FETCH 1 FLAGS (FOO)\r\n",
        "s",
        "unknown FETCH modifier FOO",
    );
    bad(
        "s FETCH 1 FLAGS (CHANGEDSINCE 9223372036854775808)\r\n",
        "s",
        "number too large",
    );
}
