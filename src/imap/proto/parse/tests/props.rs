//! Property tests: what the writers produce re-parses to the same bytes
//! through our own lexer, and no input makes the parser panic.

use proptest::prelude::*;

use super::super::lexer::Cursor;
use super::super::{parse_command, parse_search_text};
use crate::imap::proto::{mutf7, write};

/// Parses `bytes` + CRLF with `f` and insists the whole input was used.
fn reparse(
    bytes: &[u8],
    f: impl for<'a> Fn(&mut Cursor<'a>) -> super::super::lexer::Res<std::borrow::Cow<'a, [u8]>>,
) -> Option<Vec<u8>> {
    let mut line = bytes.to_vec();
    line.extend_from_slice(b"\r\n");
    let mut c = Cursor::new(&line);
    let value = f(&mut c).ok()?.into_owned();
    c.end().ok()?;
    Some(value)
}

/// Tokens that steer random commands into the parser's deeper paths.
const TOKENS: &[&str] = &[
    "FETCH",
    "UID",
    "SEARCH",
    "STORE",
    "APPEND",
    "LIST",
    "SELECT",
    "STATUS",
    "BODY[",
    "BODY.PEEK[",
    "]",
    "HEADER.FIELDS",
    "(",
    ")",
    "<0.10>",
    "1:*",
    "*",
    "0",
    "4294967296",
    "\"",
    "\\",
    "{3}\r\n",
    "{0+}\r\n",
    "~{2}\r\n",
    "\r\n",
    " ",
    "NOT",
    "OR",
    "CHARSET",
    "RETURN",
    "MODSEQ",
    "FLAGS",
    "+FLAGS.SILENT",
    "\\Seen",
    "\\Recent",
    "\\Bogus",
    "UNCHANGEDSINCE",
    "CHANGEDSINCE",
    "VANISHED",
    "QRESYNC",
    "CONDSTORE",
    "USE",
    "1-Jan-2020",
    "\"17-Jul-1996 02:44:25 -0700\"",
    "UTF8",
    "NIL",
    "é",
    "\u{0}",
    "%",
    "1.2.MIME",
    "ALL",
];

proptest! {
    #[test]
    fn written_strings_reparse_to_the_same_bytes(
        s in proptest::collection::vec(any::<u8>(), 0..64),
        utf8 in any::<bool>(),
    ) {
        let mut out = Vec::new();
        write::string(&mut out, &s, utf8);
        prop_assert_eq!(reparse(&out, |c| c.string()), Some(s.clone()));
        let mut out = Vec::new();
        write::astring(&mut out, &s, utf8);
        prop_assert_eq!(reparse(&out, |c| c.astring()), Some(s.clone()));
        let mut out = Vec::new();
        write::nstring(&mut out, Some(&s), utf8);
        prop_assert_eq!(reparse(&out, |c| c.string()), Some(s));
    }

    #[test]
    fn written_mailbox_names_decode_to_the_same_name(name in any::<String>()) {
        let mut out = Vec::new();
        write::mailbox(&mut out, &name, false);
        prop_assert!(out.is_ascii());
        let sent = reparse(&out, |c| c.astring()).unwrap_or_default();
        prop_assert_eq!(mutf7::decode(&String::from_utf8_lossy(&sent)), Ok(name.clone()));
        let mut out = Vec::new();
        write::mailbox(&mut out, &name, true);
        prop_assert_eq!(reparse(&out, |c| c.astring()), Some(name.into_bytes()));
    }

    #[test]
    fn the_parser_never_panics_on_arbitrary_bytes(
        input in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let _ = parse_command(&input);
        let _ = parse_search_text(&String::from_utf8_lossy(&input));
    }

    #[test]
    fn the_parser_never_panics_on_token_soup(
        tokens in proptest::collection::vec(proptest::sample::select(TOKENS), 0..24),
    ) {
        let body: String = tokens.concat();
        let line = format!("a {body}\r\n");
        if let Err(e) = parse_command(line.as_bytes()) {
            // The tag is always recovered once it and a space were read.
            prop_assert_eq!(e.tag.as_deref(), Some("a"));
            prop_assert!(!e.text.is_empty());
        }
        let _ = parse_search_text(&body);
    }
}
