//! The small commands: AUTHENTICATE (RFC 9051 §6.2.2, RFC 4959 SASL-IR),
//! LOGIN, ENABLE (RFC 5161), ID (RFC 2971).

use super::lexer::{Cursor, Res, bad, utf8};
use crate::imap::proto::command::Command;

/// Parses `mechanism [initial-response]` of AUTHENTICATE.
pub(super) fn authenticate(c: &mut Cursor<'_>) -> Res<Command> {
    c.sp()?;
    let mechanism = String::from_utf8_lossy(c.atom()?).to_ascii_uppercase();
    let mut initial = None;
    if c.peek_is(b' ') {
        c.sp()?;
        // RFC 4959 §7: `initial-response = base64 / "="`, `=` for empty.
        let mut text = String::new();
        while let Some(b) = c.peek() {
            if !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')) {
                break;
            }
            text.push(char::from(b));
            c.eat(b);
        }
        let padding = text.bytes().rev().take_while(|&b| b == b'=').count();
        let body = text.len() - padding;
        let valid = text == "="
            || (!text.is_empty()
                && text.len().is_multiple_of(4)
                && padding <= 2
                && !text
                    .as_bytes()
                    .get(..body)
                    .is_some_and(|b| b.contains(&b'=')));
        if !valid {
            return bad("the initial response must be base64 or =");
        }
        initial = Some(text);
    }
    Ok(Command::Authenticate { mechanism, initial })
}

/// Parses `user password` of LOGIN.
pub(super) fn login(c: &mut Cursor<'_>) -> Res<Command> {
    c.sp()?;
    let user = utf8(c.astring()?, "user name")?;
    c.sp()?;
    let password = utf8(c.astring()?, "password")?;
    Ok(Command::Login { user, password })
}

/// Parses the capability names of ENABLE, upper-cased.
pub(super) fn enable(c: &mut Cursor<'_>) -> Res<Command> {
    let mut caps = Vec::new();
    c.sp()?;
    loop {
        caps.push(String::from_utf8_lossy(c.atom()?).to_ascii_uppercase());
        if !c.more() {
            return Ok(Command::Enable(caps));
        }
    }
}

/// Parses `(field value …)` or `NIL` of ID. Field and value texts are
/// informational only, so bytes that are not UTF-8 are replaced, not refused.
pub(super) fn id(c: &mut Cursor<'_>) -> Res<Command> {
    c.sp()?;
    if c.try_keyword("NIL") {
        return Ok(Command::Id(None));
    }
    c.expect(b'(', "( or NIL after ID")?;
    let mut params = Vec::new();
    if c.eat(b')') {
        return Ok(Command::Id(Some(params)));
    }
    loop {
        let field = String::from_utf8_lossy(&c.string()?).into_owned();
        c.sp()?;
        let value = c
            .nstring()?
            .map(|v| String::from_utf8_lossy(&v).into_owned());
        params.push((field, value));
        if c.eat(b')') {
            return Ok(Command::Id(Some(params)));
        }
        c.sp()?;
    }
}
