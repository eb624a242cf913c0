//! `[UID] SEARCH [RETURN (…)] [CHARSET c] keys` (RFC 9051 §6.4.4, RFC 4731
//! ESEARCH, RFC 7162 §3.1.5 MODSEQ, RFC 8474 §5 EMAILID/THREADID), and the
//! same keys as human-typed text for `aox search` and retention policies.

use std::borrow::Cow;

use encoding_rs::Encoding;

use super::lexer::{Bad, Cursor, FlagToken, Res, bad, utf8};
use crate::imap::proto::command::{Command, SearchReturn};
use crate::imap::proto::datetime;
use crate::search::{Date, Flag, SearchKey};

/// How deep parentheses, NOT and OR may nest: deeper trees are no real
/// query, and the recursion must stay far from the stack's end.
pub(crate) const MAX_DEPTH: usize = 64;

/// The text every unknown CHARSET gets (RFC 9051 §6.4.4: the server
/// answers NO [BADCHARSET] with the charsets it does support).
const BADCHARSET: &str = "[BADCHARSET (US-ASCII UTF-8)]";

/// Parses the arguments of SEARCH after the command name.
pub(super) fn search(c: &mut Cursor<'_>, uid: bool) -> Res<Command> {
    c.sp()?;
    let ret = if c.try_keyword("RETURN") {
        c.sp()?;
        let options = return_options(c)?;
        c.sp()?;
        Some(options)
    } else {
        None
    };
    let (charset, encoding) = if c.try_keyword("CHARSET") {
        c.sp()?;
        let name = utf8(c.astring()?, "charset")?.to_ascii_uppercase();
        let encoding = charset(&name)?;
        c.sp()?;
        (Some(name), Some(encoding))
    } else {
        (None, None)
    };
    let key = keys(c, encoding)?;
    Ok(Command::Search {
        uid,
        ret,
        charset,
        key,
    })
}

/// The encoding a CHARSET names, or BADCHARSET.
fn charset(name: &str) -> Res<&'static Encoding> {
    match Encoding::for_label(name.as_bytes()) {
        // encoding_rs maps some labels to the "replacement" encoding,
        // which decodes everything to U+FFFD: as good as unknown.
        Some(e) if e != encoding_rs::REPLACEMENT => Ok(e),
        _ => bad(format!("{BADCHARSET} unknown charset {name}")),
    }
}

/// `RETURN (…)` options of RFC 4731 §3.1.
fn return_options(c: &mut Cursor<'_>) -> Res<Vec<SearchReturn>> {
    c.expect(b'(', "( after RETURN")?;
    let mut options = Vec::new();
    if c.eat(b')') {
        return Ok(options);
    }
    loop {
        let option = match c.keyword()?.as_str() {
            "MIN" => SearchReturn::Min,
            "MAX" => SearchReturn::Max,
            "ALL" => SearchReturn::All,
            "COUNT" => SearchReturn::Count,
            other => return bad(format!("unknown SEARCH return option {other}")),
        };
        if !options.contains(&option) {
            options.push(option);
        }
        if c.eat(b')') {
            return Ok(options);
        }
        c.sp()?;
    }
}

/// One or more keys up to the end of the line: their AND, or the single key.
pub(crate) fn keys(c: &mut Cursor<'_>, encoding: Option<&'static Encoding>) -> Res<SearchKey> {
    let mut keys = vec![key(c, encoding, 0)?];
    while c.more() {
        keys.push(key(c, encoding, 0)?);
    }
    Ok(match keys.len() {
        1 => keys.pop().unwrap_or(SearchKey::All),
        _ => SearchKey::And(keys),
    })
}

/// A string argument, decoded from the CHARSET (UTF-8 when none was given:
/// US-ASCII is a subset, and UTF8=ACCEPT clients send UTF-8).
fn text(c: &mut Cursor<'_>, encoding: Option<&'static Encoding>) -> Res<String> {
    let bytes = c.astring()?;
    decode(bytes, encoding)
}

fn decode(bytes: Cow<'_, [u8]>, encoding: Option<&'static Encoding>) -> Res<String> {
    match encoding {
        None => utf8(bytes, "search string"),
        Some(e) if e == encoding_rs::UTF_8 => utf8(bytes, "search string"),
        Some(e) => e
            .decode_without_bom_handling_and_without_replacement(&bytes)
            .map(Cow::into_owned)
            .ok_or_else(|| Bad(format!("search string is not valid {}", e.name()))),
    }
}

/// A `date`: `d-Mon-yyyy`, quoted or not.
fn date(c: &mut Cursor<'_>) -> Res<Date> {
    let text = if c.peek_is(b'"') {
        c.quoted()?
    } else {
        Cow::Borrowed(c.atom()?)
    };
    datetime::parse_date(&text).ok_or_else(|| {
        Bad(format!(
            "expected a date like 1-Feb-2024, not \"{}\"",
            String::from_utf8_lossy(&text).escape_default()
        ))
    })
}

/// RFC 8474 `objectid`: 1 to 255 of letters, digits, `_` and `-`.
fn object_id(c: &mut Cursor<'_>) -> Res<String> {
    let id = c.astring()?;
    if id.is_empty()
        || id.len() > 255
        || !id
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return bad("expected an object id (letters, digits, _ and -)");
    }
    utf8(id, "object id")
}

fn keyword_flag(c: &mut Cursor<'_>) -> Res<Flag> {
    match c.flag()? {
        FlagToken::Flag(f) => Ok(f),
        FlagToken::Recent => bad("use RECENT, not KEYWORD \\Recent"),
    }
}

/// One `search-key`.
fn key(c: &mut Cursor<'_>, encoding: Option<&'static Encoding>, depth: usize) -> Res<SearchKey> {
    if depth >= MAX_DEPTH {
        return bad(format!(
            "search keys are nested too deeply (at most {MAX_DEPTH} levels)"
        ));
    }
    match c.peek() {
        Some(b'(') => {
            c.eat(b'(');
            c.ws();
            let mut keys = vec![key(c, encoding, depth + 1)?];
            loop {
                let spaced = c.separator();
                if c.eat(b')') {
                    return Ok(SearchKey::And(keys));
                }
                if !spaced {
                    return bad("expected a space or ) in a search list");
                }
                keys.push(key(c, encoding, depth + 1)?);
            }
        }
        Some(b'0'..=b'9' | b'*' | b'$') => return c.sequence_set().map(SearchKey::Seq),
        _ => {}
    }
    if !c.at_atom_char() {
        return bad("expected a search key");
    }
    let name = c.keyword()?;
    let key = match name.as_str() {
        "ALL" => SearchKey::All,
        "ANSWERED" => SearchKey::Flag(Flag::Answered),
        "DELETED" => SearchKey::Flag(Flag::Deleted),
        "DRAFT" => SearchKey::Flag(Flag::Draft),
        "FLAGGED" => SearchKey::Flag(Flag::Flagged),
        "SEEN" => SearchKey::Flag(Flag::Seen),
        "UNANSWERED" => SearchKey::NotFlag(Flag::Answered),
        "UNDELETED" => SearchKey::NotFlag(Flag::Deleted),
        "UNDRAFT" => SearchKey::NotFlag(Flag::Draft),
        "UNFLAGGED" => SearchKey::NotFlag(Flag::Flagged),
        "UNSEEN" => SearchKey::NotFlag(Flag::Seen),
        "KEYWORD" => {
            c.sp()?;
            SearchKey::Flag(keyword_flag(c)?)
        }
        "UNKEYWORD" => {
            c.sp()?;
            SearchKey::NotFlag(keyword_flag(c)?)
        }
        "RECENT" => SearchKey::Recent,
        "NEW" => SearchKey::New,
        "OLD" => SearchKey::Old,
        "BCC" | "CC" | "FROM" | "TO" | "SUBJECT" | "BODY" | "TEXT" => {
            c.sp()?;
            let s = text(c, encoding)?;
            match name.as_str() {
                "BCC" => SearchKey::Bcc(s),
                "CC" => SearchKey::Cc(s),
                "FROM" => SearchKey::From(s),
                "TO" => SearchKey::To(s),
                "SUBJECT" => SearchKey::Subject(s),
                "BODY" => SearchKey::Body(s),
                _ => SearchKey::Text(s),
            }
        }
        "HEADER" => {
            c.sp()?;
            let field = utf8(c.astring()?, "header field name")?;
            c.sp()?;
            SearchKey::Header(field, text(c, encoding)?)
        }
        "BEFORE" | "ON" | "SINCE" | "SENTBEFORE" | "SENTON" | "SENTSINCE" => {
            c.sp()?;
            let d = date(c)?;
            match name.as_str() {
                "BEFORE" => SearchKey::Before(d),
                "ON" => SearchKey::On(d),
                "SINCE" => SearchKey::Since(d),
                "SENTBEFORE" => SearchKey::SentBefore(d),
                "SENTON" => SearchKey::SentOn(d),
                _ => SearchKey::SentSince(d),
            }
        }
        "LARGER" => {
            c.sp()?;
            SearchKey::Larger(c.number64()?)
        }
        "SMALLER" => {
            c.sp()?;
            SearchKey::Smaller(c.number64()?)
        }
        "UID" => {
            c.sp()?;
            SearchKey::Uid(c.sequence_set()?)
        }
        "NOT" => {
            c.sp()?;
            SearchKey::Not(Box::new(key(c, encoding, depth + 1)?))
        }
        "OR" => {
            c.sp()?;
            let a = key(c, encoding, depth + 1)?;
            c.sp()?;
            let b = key(c, encoding, depth + 1)?;
            SearchKey::Or(Box::new(a), Box::new(b))
        }
        "MODSEQ" => {
            c.sp()?;
            // RFC 7162 §3.1.5: an optional entry name and type, which only
            // per-flag modseqs would use; this store has one per message.
            if c.peek_is(b'"') {
                let entry = c.quoted()?;
                if !entry
                    .get(..7)
                    .is_some_and(|p| p.eq_ignore_ascii_case(b"/flags/"))
                {
                    return bad("MODSEQ entry name must start with /flags/");
                }
                c.sp()?;
                let kind = c.keyword()?;
                if !matches!(kind.as_str(), "PRIV" | "SHARED" | "ALL") {
                    return bad("MODSEQ entry type must be priv, shared or all");
                }
                c.sp()?;
            }
            SearchKey::ModSeq(c.number64()?)
        }
        "EMAILID" => {
            c.sp()?;
            SearchKey::EmailId(object_id(c)?)
        }
        "THREADID" => {
            c.sp()?;
            SearchKey::ThreadId(object_id(c)?)
        }
        other => return bad(format!("unknown search key {other}")),
    };
    Ok(key)
}
