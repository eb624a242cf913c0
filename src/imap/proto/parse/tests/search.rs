//! Known-answer tests for `[UID] SEARCH` and for the text form of the same
//! keys (`parse_search_text`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

// --- SEARCH -------------------------------------------------------------

fn search_key(input: &str) -> SearchKey {
    match parse(input) {
        Command::Search { key, .. } => key,
        other => panic!("{other:?}"),
    }
}

#[test]
fn rfc9051_6_4_4_search_example_keys_are_anded() {
    assert_eq!(
        search_key("A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n"),
        SearchKey::And(vec![
            SearchKey::Flag(Flag::Flagged),
            SearchKey::Since(date(1994, 2, 1)),
            SearchKey::Not(Box::new(SearchKey::From("Smith".into()))),
        ])
    );
    assert_eq!(search_key("a SEARCH all\r\n"), SearchKey::All);
}

#[test]
fn rfc9051_6_4_4_every_search_key() {
    use SearchKey as K;
    let cases: Vec<(&str, SearchKey)> = vec![
        ("ANSWERED", K::Flag(Flag::Answered)),
        ("DELETED", K::Flag(Flag::Deleted)),
        ("DRAFT", K::Flag(Flag::Draft)),
        ("FLAGGED", K::Flag(Flag::Flagged)),
        ("SEEN", K::Flag(Flag::Seen)),
        ("UNANSWERED", K::NotFlag(Flag::Answered)),
        ("UNDELETED", K::NotFlag(Flag::Deleted)),
        ("UNDRAFT", K::NotFlag(Flag::Draft)),
        ("UNFLAGGED", K::NotFlag(Flag::Flagged)),
        ("UNSEEN", K::NotFlag(Flag::Seen)),
        ("KEYWORD $Junk", K::Flag(Flag::Keyword("$Junk".into()))),
        ("UNKEYWORD foo", K::NotFlag(Flag::Keyword("foo".into()))),
        ("RECENT", K::Recent),
        ("NEW", K::New),
        ("OLD", K::Old),
        ("BCC b", K::Bcc("b".into())),
        ("CC \"c d\"", K::Cc("c d".into())),
        ("FROM {3}\r\nf\"g", K::From("f\"g".into())),
        ("TO t", K::To("t".into())),
        ("SUBJECT \"\"", K::Subject(String::new())),
        ("BODY b", K::Body("b".into())),
        ("TEXT t", K::Text("t".into())),
        (
            "HEADER Message-ID <x@y>",
            K::Header("Message-ID".into(), "<x@y>".into()),
        ),
        ("BEFORE 1-Jan-2020", K::Before(date(2020, 1, 1))),
        ("ON \"09-Mar-2021\"", K::On(date(2021, 3, 9))),
        ("SINCE 31-dec-1999", K::Since(date(1999, 12, 31))),
        ("SENTBEFORE 2-Feb-2002", K::SentBefore(date(2002, 2, 2))),
        ("SENTON 3-Mar-2003", K::SentOn(date(2003, 3, 3))),
        ("SENTSINCE 4-Apr-2004", K::SentSince(date(2004, 4, 4))),
        ("LARGER 10000", K::Larger(10_000)),
        ("SMALLER 9223372036854775807", K::Smaller(i64::MAX as u64)),
        ("UID 1:*", K::Uid(seq("1:*"))),
        ("2,4:*", K::Seq(seq("2,4:*"))),
        (
            "OR SEEN DRAFT",
            K::Or(
                Box::new(K::Flag(Flag::Seen)),
                Box::new(K::Flag(Flag::Draft)),
            ),
        ),
        ("(SEEN)", K::And(vec![K::Flag(Flag::Seen)])),
        ("MODSEQ 620162338", K::ModSeq(620_162_338)),
        (
            "MODSEQ \"/flags/\\\\draft\" all 620162338",
            K::ModSeq(620_162_338),
        ),
        (
            "EMAILID M6d99ac3275bb4e",
            K::EmailId("M6d99ac3275bb4e".into()),
        ),
        (
            "THREADID T64b478a75b7ea9",
            K::ThreadId("T64b478a75b7ea9".into()),
        ),
    ];
    for (keys, expected) in cases {
        assert_eq!(
            search_key(&format!("a SEARCH {keys}\r\n")),
            expected,
            "{keys}"
        );
    }
}

#[test]
fn rfc9051_6_4_4_nested_parentheses_or_and_not() {
    use SearchKey as K;
    assert_eq!(
        search_key("a UID SEARCH OR (FROM a TO b) NOT (SEEN (UID 5)) 1:3\r\n"),
        K::And(vec![
            K::Or(
                Box::new(K::And(vec![K::From("a".into()), K::To("b".into())])),
                Box::new(K::Not(Box::new(K::And(vec![
                    K::Flag(Flag::Seen),
                    K::And(vec![K::Uid(seq("5"))])
                ])))),
            ),
            K::Seq(seq("1:3")),
        ])
    );
}

#[test]
fn search_nesting_is_limited_with_a_clear_error() {
    let deep = format!("a SEARCH {}ALL{}\r\n", "(".repeat(100), ")".repeat(100));
    bad(&deep, "a", "nested too deeply");
    let nots = format!("a SEARCH {}ALL\r\n", "NOT ".repeat(100));
    bad(&nots, "a", "nested too deeply");
    let fine = format!("a SEARCH {}ALL{}\r\n", "(".repeat(60), ")".repeat(60));
    assert!(matches!(parse(&fine), Command::Search { .. }));
    // A hostile million levels neither overflows the stack nor panics.
    let huge = format!("a SEARCH {}\r\n", "(".repeat(1_000_000));
    bad(&huge, "a", "nested too deeply");
}

#[test]
fn rfc4731_search_return_options() {
    let Command::Search { ret, uid, .. } =
        parse("a UID SEARCH RETURN (MIN max COUNT ALL) UNSEEN\r\n")
    else {
        panic!()
    };
    assert!(uid);
    assert_eq!(
        ret,
        Some(vec![
            SearchReturn::Min,
            SearchReturn::Max,
            SearchReturn::Count,
            SearchReturn::All
        ])
    );
    let Command::Search { ret, .. } = parse("a SEARCH RETURN () ALL\r\n") else {
        panic!()
    };
    assert_eq!(ret, Some(vec![]));
    bad(
        "a SEARCH RETURN (SAVE) ALL\r\n",
        "a",
        "unknown SEARCH return option SAVE",
    );
}

#[test]
fn rfc9051_6_4_4_charset_decodes_strings_and_unknown_is_badcharset() {
    let Command::Search { charset, key, .. } =
        parse_bytes(b"a SEARCH CHARSET iso-8859-1 SUBJECT {4}\r\ncaf\xe9\r\n")
    else {
        panic!()
    };
    assert_eq!(charset.as_deref(), Some("ISO-8859-1"));
    assert_eq!(key, SearchKey::Subject("café".into()));
    let Command::Search { key, .. } = parse("a SEARCH CHARSET UTF-8 TEXT \"日本\"\r\n") else {
        panic!()
    };
    assert_eq!(key, SearchKey::Text("日本".into()));
    let e = err("a SEARCH CHARSET X-KLINGON TEXT x\r\n");
    assert_eq!(e.tag.as_deref(), Some("a"));
    assert!(
        e.text.starts_with("[BADCHARSET (US-ASCII UTF-8)]"),
        "{}",
        e.text
    );
    let e = parse_command(b"a SEARCH TEXT {1}\r\n\xff\r\n").unwrap_err();
    assert_eq!(e.text, "SEARCH: search string is not UTF-8");
}

#[test]
fn search_errors_say_what_was_expected() {
    bad("a SEARCH\r\n", "a", "expected more arguments");
    bad("a SEARCH BOGUS\r\n", "a", "unknown search key BOGUS");
    bad(
        "a SEARCH SINCE 32-Jan-2020\r\n",
        "a",
        "expected a date like 1-Feb-2024",
    );
    bad("a SEARCH SINCE 1-Jan-20\r\n", "a", "expected a date");
    bad(
        "a SEARCH LARGER 99999999999999999999\r\n",
        "a",
        "number too large",
    );
    bad("a SEARCH OR SEEN\r\n", "a", "expected more arguments");
    bad("a SEARCH (SEEN\r\n", "a", "expected a space or )");
    bad("a SEARCH SEEN)\r\n", "a", "unexpected \")\"");
    bad("a SEARCH MODSEQ \"/foo\" all 1\r\n", "a", "/flags/");
    bad(
        "a SEARCH MODSEQ \"/flags/x\" mine 1\r\n",
        "a",
        "priv, shared or all",
    );
    bad("a SEARCH EMAILID a.b\r\n", "a", "object id");
    bad("a SEARCH KEYWORD \\Recent\r\n", "a", "use RECENT");
}

// --- parse_search_text --------------------------------------------------

#[test]
fn search_text_is_the_imap_key_grammar_without_tag_or_crlf() {
    use SearchKey as K;
    assert_eq!(
        parse_search_text("from alice since 1-Jan-2020 body invoice").unwrap(),
        K::And(vec![
            K::From("alice".into()),
            K::Since(date(2020, 1, 1)),
            K::Body("invoice".into()),
        ])
    );
    assert_eq!(
        parse_search_text("  Subject \"annual report\"\t ").unwrap(),
        K::Subject("annual report".into())
    );
    assert_eq!(
        parse_search_text("or ( from jösé  to bob ) not seen").unwrap(),
        K::Or(
            Box::new(K::And(vec![K::From("jösé".into()), K::To("bob".into())])),
            Box::new(K::Not(Box::new(K::Flag(Flag::Seen)))),
        )
    );
    assert_eq!(
        parse_search_text("uid 1:5,9").unwrap(),
        K::Uid(seq("1:5,9"))
    );
}

#[test]
fn search_text_errors_have_no_tag() {
    let e = parse_search_text("").unwrap_err();
    assert_eq!((e.tag, e.text.as_str()), (None, "expected a search key"));
    assert!(
        parse_search_text("from")
            .unwrap_err()
            .text
            .contains("expected more")
    );
    assert!(
        parse_search_text("since yesterday")
            .unwrap_err()
            .text
            .contains("expected a date")
    );
    assert!(
        parse_search_text("seen )")
            .unwrap_err()
            .text
            .contains("unexpected")
    );
}
