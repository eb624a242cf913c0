//! imap-codec (pinned dev-dependency) as an independent oracle
//! (deps-and-style.md §A.1): the commands of our known-answer tests must be
//! valid IMAP to it too, the bytes its *encoder* writes for them must parse
//! with ours to the same command, and responses built with our writers must
//! decode with its `ResponseCodec` to the values we wrote.

use imap_codec::decode::Decoder as _;
use imap_codec::encode::Encoder as _;
use imap_codec::imap_types::command::{Command as TheirCommand, CommandBody};
use imap_codec::imap_types::core::NString;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::flag::FlagFetch;
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::{Data, Response};
use imap_codec::{CommandCodec, ResponseCodec};
use proptest::prelude::*;

use super::super::parse_command;
use crate::imap::proto::command::{Command, Tagged};
use crate::imap::proto::{mutf7, write};

/// Commands both parsers support, from the RFC examples and our tests.
const SAMPLE: &[&str] = &[
    "a CAPABILITY",
    "a NOOP",
    "a LOGOUT",
    "a AUTHENTICATE PLAIN",
    "a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==",
    "a AUTHENTICATE EXTERNAL =",
    "a LOGIN alice \"pass \\\"word\\\\\"",
    "a LOGIN {5}\r\nalice {6}\r\nsecret",
    "a LOGIN {5+}\r\nalice secret",
    "a ENABLE CONDSTORE QRESYNC",
    "a SELECT INBOX",
    "a EXAMINE \"Sent Items\"",
    "a SELECT INBOX (CONDSTORE)",
    "A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
    "a CREATE foo/bar",
    "a DELETE foo",
    "a RENAME a \"b c\"",
    "a SUBSCRIBE &AOk-t&AOk-",
    "a UNSUBSCRIBE x",
    "a LIST \"\" *",
    "a LIST ~/Mail/ %",
    "a LSUB \"#news.\" \"comp.mail.*\"",
    "a STATUS blurdybloop (MESSAGES UIDNEXT UIDVALIDITY UNSEEN RECENT)",
    "a STATUS x (HIGHESTMODSEQ)",
    "a APPEND saved-messages (\\Seen $Work) \" 7-Feb-1994 21:52:25 -0800\" {5}\r\nhello",
    "a APPEND x {4+}\r\n\r\nab",
    "a IDLE",
    "a CHECK",
    "a CLOSE",
    "a UNSELECT",
    "a EXPUNGE",
    "a UID EXPUNGE 3000:3002,4",
    "A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
    "a UID SEARCH OR (FROM a TO b) NOT (SEEN UID 5) 1:3",
    "a SEARCH CHARSET UTF-8 TEXT \"x\"",
    "a SEARCH HEADER Message-ID <x@y> LARGER 5 SMALLER 9 BCC b CC c BODY d",
    "a SEARCH KEYWORD $Junk UNKEYWORD foo NEW OLD RECENT ALL ANSWERED DELETED DRAFT",
    "a SEARCH UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN SEEN SUBJECT {3}\r\nx y",
    "a SEARCH SENTBEFORE 2-Feb-2002 SENTON 3-Mar-2003 SENTSINCE 4-Apr-2004 ON 5-May-2005 BEFORE 6-Jun-2006",
    "a SEARCH MODSEQ 620162338",
    "a FETCH 1:* ALL",
    "a FETCH 1 FAST",
    "a FETCH 1 FULL",
    "a UID FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY INTERNALDATE)",
    "a FETCH 1 (BODY.PEEK[HEADER.FIELDS (From Subject)] BODY[1.2.TEXT] BODY[1.MIME] BODY[]<0.100>)",
    "a FETCH 2,4 (BODY[HEADER.FIELDS.NOT (Received)] BODY.PEEK[3.HEADER] BODY[TEXT] BODY[1.2.3])",
    "a FETCH 1 (RFC822 RFC822.HEADER RFC822.TEXT)",
    "a UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345)",
    "a UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)",
    "a FETCH 1 MODSEQ",
    "a STORE 2:4 +FLAGS (\\Deleted)",
    "a UID STORE 1 -FLAGS.SILENT (\\Seen $Junk)",
    "a STORE 1 FLAGS ()",
    "a STORE 1 FLAGS \\Seen \\Draft",
    "d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)",
    "a COPY 2:4 MEETING",
    "a UID COPY 1:* x",
    "a MOVE 1 y",
    "a UID MOVE 42 Trash",
    "a ID (\"name\" \"sodr\" \"version\" NIL)",
    "a ID NIL",
];

fn ours(bytes: &[u8]) -> Tagged {
    parse_command(bytes)
        .unwrap_or_else(|e| panic!("we refused {:?}: {e:?}", String::from_utf8_lossy(bytes)))
}

#[test]
fn our_sample_commands_are_valid_imap_to_imap_codec_and_its_encoding_means_the_same() {
    for line in SAMPLE {
        let input = format!("{line}\r\n");
        let (rest, theirs) = CommandCodec::default()
            .decode(input.as_bytes())
            .unwrap_or_else(|e| panic!("imap-codec refused {line:?}: {e:?}"));
        assert!(rest.is_empty(), "{line:?}: imap-codec left {rest:?}");
        let reencoded = CommandCodec::default().encode(&theirs).dump();
        assert_eq!(
            ours(input.as_bytes()),
            ours(&reencoded),
            "{line:?} re-encoded by imap-codec as {:?}",
            String::from_utf8_lossy(&reencoded)
        );
    }
}

#[test]
fn commands_built_with_imap_types_parse_with_ours() {
    // The encoder picks a literal for a password with CRLF and quotes for a
    // space: both must reach us as the same strings.
    let login = TheirCommand::new("t1", CommandBody::login("jo hn", "pa\r\nss").unwrap()).unwrap();
    let bytes = CommandCodec::default().encode(&login).dump();
    assert_eq!(
        ours(&bytes),
        Tagged {
            tag: "t1".into(),
            command: Command::Login {
                user: "jo hn".into(),
                password: "pa\r\nss".into()
            }
        }
    );
    let append = TheirCommand::new(
        "t2",
        CommandBody::append(
            "Archive/2024",
            vec![],
            None,
            b"Subject: x\r\n\r\nbody\r\n".as_slice(),
        )
        .unwrap(),
    )
    .unwrap();
    let bytes = CommandCodec::default().encode(&append).dump();
    let Command::Append { mailbox, messages } = ours(&bytes).command else {
        panic!()
    };
    assert_eq!(mailbox, "Archive/2024");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].data, b"Subject: x\r\n\r\nbody\r\n");
}

#[test]
fn both_parsers_refuse_the_same_malformed_commands() {
    for line in [
        "a FETCH 0 FLAGS",
        "a FETCH 1 (FLAGS ALL)",
        "a NOOP extra",
        "a LOGIN alice",
        "a SEARCH",
        "a STORE 1 +FLAGS (\\Seen",
        "a SELECT",
        "a FETCH 1 BODY[MIME]",
        "a FETCH 1 BODY[]<0.0>",
        "+ NOOP",
    ] {
        let input = format!("{line}\r\n");
        assert!(
            parse_command(input.as_bytes()).is_err(),
            "we accepted {line:?}"
        );
        assert!(
            CommandCodec::default().decode(input.as_bytes()).is_err(),
            "imap-codec accepted {line:?}"
        );
    }
}

/// Decodes one response with imap-codec, insisting nothing is left over.
fn decode_response(bytes: &[u8]) -> Response<'_> {
    let (rest, response) = ResponseCodec::default().decode(bytes).unwrap_or_else(|e| {
        panic!(
            "imap-codec refused {:?}: {e:?}",
            String::from_utf8_lossy(bytes)
        )
    });
    assert!(rest.is_empty(), "left over: {rest:?}");
    response
}

fn listed_name(name: &str, utf8: bool) -> Vec<u8> {
    let mut out = b"* LIST (\\HasNoChildren) \"/\" ".to_vec();
    write::mailbox(&mut out, name, utf8);
    out.extend_from_slice(b"\r\n");
    match decode_response(&out) {
        Response::Data(Data::List { mailbox, .. }) => match mailbox {
            Mailbox::Inbox => b"INBOX".to_vec(),
            Mailbox::Other(other) => other.as_ref().to_vec(),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn rfc3501_5_1_3_mailbox_names_we_write_decode_with_imap_codec() {
    for name in [
        "INBOX",
        "Sent Items",
        "Entwürfe",
        "a&b",
        "[Gmail]/All Mail",
        "\"q\\",
        "日本語/x",
        "nil",
        "",
    ] {
        let sent = listed_name(name, false);
        assert_eq!(
            mutf7::decode(&String::from_utf8_lossy(&sent)).as_deref(),
            Ok(name),
            "{name:?}"
        );
    }
}

#[test]
fn fetch_responses_we_write_decode_with_imap_codec() {
    // 8-bit and CRLF force a literal. (No NUL: IMAP4rev1 `literal` cannot
    // carry one, and imap-codec rightly refuses it.)
    let body = b"Subject: hi\r\n\r\n\xe9t\xe9\r\n";
    let mut out = b"* 7 FETCH (FLAGS ".to_vec();
    write::flag_list(&mut out, &["\\Seen", "\\Answered", "$Label"]);
    out.extend_from_slice(b" INTERNALDATE ");
    write::date_time(&mut out, 837_596_665);
    out.extend_from_slice(b" BODY[] ");
    write::nstring(&mut out, Some(body), false);
    out.extend_from_slice(b" BODY[1] ");
    write::nstring(&mut out, None, false);
    out.extend_from_slice(b")\r\n");
    let Response::Data(Data::Fetch { seq, items }) = decode_response(&out) else {
        panic!()
    };
    assert_eq!(seq.get(), 7);
    let items = items.into_inner();
    let MessageDataItem::Flags(flags) = &items[0] else {
        panic!("{:?}", items[0])
    };
    let flags: Vec<String> = flags
        .iter()
        .map(|f| match f {
            FlagFetch::Flag(f) => f.to_string(),
            FlagFetch::Recent => "\\Recent".into(),
        })
        .collect();
    assert_eq!(flags, ["\\Seen", "\\Answered", "$Label"]);
    let MessageDataItem::InternalDate(date) = &items[1] else {
        panic!("{:?}", items[1])
    };
    assert_eq!(date.as_ref().timestamp(), 837_596_665);
    let MessageDataItem::BodyExt { data, .. } = &items[2] else {
        panic!("{:?}", items[2])
    };
    assert_eq!(data.clone().into_option().as_deref(), Some(&body[..]));
    let MessageDataItem::BodyExt { data, .. } = &items[3] else {
        panic!("{:?}", items[3])
    };
    assert_eq!(*data, NString(None));
}

proptest! {
    #[test]
    fn any_mailbox_name_we_write_decodes_with_imap_codec(name in any::<String>()) {
        let sent = listed_name(&name, false);
        prop_assert_eq!(mutf7::decode(&String::from_utf8_lossy(&sent)), Ok(name));
    }

    #[test]
    fn any_string_we_write_decodes_with_imap_codec(s in proptest::collection::vec(1u8..=255, 0..48)) {
        // NUL is left out: IMAP4rev1 `literal` cannot carry it (only
        // literal8 can), and no response of ours writes one there.
        let mut out = b"* 1 FETCH (BODY[] ".to_vec();
        write::string(&mut out, &s, false);
        out.extend_from_slice(b")\r\n");
        let Response::Data(Data::Fetch { items, .. }) = decode_response(&out) else {
            panic!()
        };
        let MessageDataItem::BodyExt { data, .. } = &items.into_inner()[0] else {
            panic!()
        };
        prop_assert_eq!(data.clone().into_option().map(|d| d.into_owned()), Some(s));
    }

    #[test]
    fn any_astring_we_write_is_an_astring_to_imap_codec(s in "[ -~]{0,32}") {
        // An astring in a command position: SELECT's mailbox.
        let mut out = b"a SELECT ".to_vec();
        write::astring(&mut out, s.as_bytes(), false);
        out.extend_from_slice(b"\r\n");
        let (_, cmd) = CommandCodec::default().decode(&out).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let CommandBody::Select { mailbox, .. } = cmd.body else { panic!() };
        let name: Vec<u8> = match mailbox {
            Mailbox::Inbox => b"INBOX".to_vec(),
            Mailbox::Other(o) => o.as_ref().to_vec(),
        };
        if s.eq_ignore_ascii_case("inbox") {
            prop_assert_eq!(name, b"INBOX".to_vec());
        } else {
            prop_assert_eq!(name, s.into_bytes());
        }
    }
}
