//! `[UID] FETCH set items [(CHANGEDSINCE n [VANISHED])]` (RFC 9051 §6.4.5,
//! RFC 7162 §3.1.4 and §3.2.6, RFC 8474 §5).

use super::lexer::{Bad, Cursor, Res, bad, utf8};
use crate::imap::proto::command::{Command, FetchItem, Section, SectionText};

/// Parses the arguments of FETCH after the command name.
pub(super) fn fetch(c: &mut Cursor<'_>, uid: bool) -> Res<Command> {
    c.sp()?;
    let set = c.sequence_set()?;
    c.sp()?;
    let items = items(c)?;
    let (mut changed_since, mut vanished) = (None, false);
    if c.peek_is(b' ') && c.peek_at(1) == Some(b'(') {
        c.sp()?;
        c.eat(b'(');
        loop {
            match c.keyword()?.as_str() {
                "CHANGEDSINCE" => {
                    c.sp()?;
                    changed_since = Some(c.number64()?);
                }
                "VANISHED" => vanished = true,
                other => return bad(format!("unknown FETCH modifier {other}")),
            }
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
    }
    // RFC 7162 §3.2.6: VANISHED only with UID FETCH and CHANGEDSINCE, else BAD.
    if vanished && !uid {
        return bad("VANISHED is only allowed with UID FETCH");
    }
    if vanished && changed_since.is_none() {
        return bad("VANISHED needs CHANGEDSINCE");
    }
    Ok(Command::Fetch {
        uid,
        set,
        items,
        changed_since,
        vanished,
    })
}

/// A macro, one item, or a parenthesised list of items.
fn items(c: &mut Cursor<'_>) -> Res<Vec<FetchItem>> {
    use FetchItem::{Body, Envelope, Flags, InternalDate, Rfc822Size};
    // RFC 9051 §6.4.5: the macros stand alone, never inside a list.
    if c.try_keyword("ALL") {
        return Ok(vec![Flags, InternalDate, Rfc822Size, Envelope]);
    }
    if c.try_keyword("FAST") {
        return Ok(vec![Flags, InternalDate, Rfc822Size]);
    }
    if c.try_keyword("FULL") {
        return Ok(vec![Flags, InternalDate, Rfc822Size, Envelope, Body]);
    }
    if !c.eat(b'(') {
        return Ok(vec![item(c)?]);
    }
    let mut items = vec![item(c)?];
    while !c.eat(b')') {
        c.sp()
            .map_err(|_| Bad("expected a space or ) in the FETCH item list".into()))?;
        items.push(item(c)?);
    }
    Ok(items)
}

/// One `fetch-att`.
fn item(c: &mut Cursor<'_>) -> Res<FetchItem> {
    let name = c.keyword()?;
    Ok(match name.as_str() {
        "ENVELOPE" => FetchItem::Envelope,
        "FLAGS" => FetchItem::Flags,
        "INTERNALDATE" => FetchItem::InternalDate,
        "RFC822.SIZE" => FetchItem::Rfc822Size,
        "RFC822" => FetchItem::Rfc822,
        "RFC822.HEADER" => FetchItem::Rfc822Header,
        "RFC822.TEXT" => FetchItem::Rfc822Text,
        "BODYSTRUCTURE" => FetchItem::BodyStructure,
        "UID" => FetchItem::Uid,
        "MODSEQ" => FetchItem::ModSeq,
        "EMAILID" => FetchItem::EmailId,
        "THREADID" => FetchItem::ThreadId,
        "BODY" if !c.peek_is(b'[') => FetchItem::Body,
        "BODY" | "BODY.PEEK" => {
            let section = section(c)?;
            let partial = partial(c)?;
            FetchItem::BodySection {
                peek: name == "BODY.PEEK",
                section,
                partial,
            }
        }
        "BINARY" | "BINARY.PEEK" | "BINARY.SIZE" => {
            return bad(format!("{name} is not supported"));
        }
        "ALL" | "FAST" | "FULL" => {
            return bad(format!("the {name} macro cannot be part of a list"));
        }
        other => return bad(format!("unknown FETCH item {other}")),
    })
}

/// `[section]`: part numbers, then HEADER, HEADER.FIELDS[.NOT] (names),
/// TEXT or (after a part number) MIME.
fn section(c: &mut Cursor<'_>) -> Res<Section> {
    c.expect(b'[', "[ after BODY.PEEK")?;
    let mut section = Section::default();
    if c.eat(b']') {
        return Ok(section);
    }
    if c.peek().is_some_and(|b| b.is_ascii_digit()) {
        loop {
            section.part.push(
                c.nz_number()
                    .map_err(|Bad(t)| Bad(format!("section part: {t}")))?,
            );
            if c.peek_is(b'.') && c.peek_at(1).is_some_and(|b| b.is_ascii_digit()) {
                c.eat(b'.');
                continue;
            }
            break;
        }
        if c.eat(b'.') {
            section.text = Some(section_text(c, true)?);
        }
    } else {
        section.text = Some(section_text(c, false)?);
    }
    c.expect(b']', "] at the end of the section")?;
    Ok(section)
}

fn section_text(c: &mut Cursor<'_>, after_part: bool) -> Res<SectionText> {
    let name = c.keyword()?;
    Ok(match name.as_str() {
        "HEADER" => SectionText::Header,
        "TEXT" => SectionText::Text,
        "MIME" if after_part => SectionText::Mime,
        "MIME" => return bad("MIME needs a part number, as in 1.MIME"),
        "HEADER.FIELDS" => SectionText::HeaderFields(header_list(c)?),
        "HEADER.FIELDS.NOT" => SectionText::HeaderFieldsNot(header_list(c)?),
        other => return bad(format!("unknown section {other}")),
    })
}

/// ` (name name …)`: at least one header field name.
fn header_list(c: &mut Cursor<'_>) -> Res<Vec<String>> {
    c.sp()?;
    c.expect(b'(', "( before the header field names")?;
    let mut names = Vec::new();
    loop {
        names.push(utf8(c.astring()?, "header field name")?);
        if c.eat(b')') {
            return Ok(names);
        }
        c.sp()?;
    }
}

/// `<offset.length>`, the length non-zero.
fn partial(c: &mut Cursor<'_>) -> Res<Option<(u32, u32)>> {
    if !c.eat(b'<') {
        return Ok(None);
    }
    let offset = c.number()?;
    c.expect(b'.', ". between the partial offset and length")?;
    let length = c
        .nz_number()
        .map_err(|_| Bad("the partial length must be a non-zero number".into()))?;
    c.expect(b'>', "> after the partial range")?;
    Ok(Some((offset, length)))
}
