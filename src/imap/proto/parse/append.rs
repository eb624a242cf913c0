//! `APPEND mailbox [flags] [date-time] literal …` (RFC 9051 §6.3.12), with
//! RFC 3502 MULTIAPPEND's further messages and RFC 6855 §4's
//! `UTF8 (~{n}…)` form.

use super::lexer::{Bad, Cursor, FlagToken, Res, bad};
use crate::imap::proto::command::{AppendMessage, Command};
use crate::imap::proto::datetime;

/// Parses the arguments of APPEND after the command name.
pub(super) fn append(c: &mut Cursor<'_>) -> Res<Command> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    let mut messages = Vec::new();
    loop {
        c.sp()?;
        let mut flags = Vec::new();
        if c.eat(b'(') {
            if !c.eat(b')') {
                loop {
                    // \Recent is the server's to set (RFC 3501 §2.3.2).
                    if let FlagToken::Flag(f) = c.flag()? {
                        flags.push(f);
                    }
                    if c.eat(b')') {
                        break;
                    }
                    c.sp()?;
                }
            }
            c.sp()?;
        }
        let date = if c.peek_is(b'"') {
            let text = c.quoted()?;
            let date = datetime::parse_date_time(&text).ok_or_else(|| {
                Bad("expected a date-time like \"17-Jul-1996 02:44:25 -0700\"".into())
            })?;
            c.sp()?;
            Some(date)
        } else {
            None
        };
        let data = match c.peek() {
            Some(b'{') => c.literal()?,
            Some(b'~') => c.literal8()?,
            _ if c.try_keyword("UTF8") => {
                c.sp()?;
                c.expect(b'(', "( after UTF8")?;
                let data = if c.peek_is(b'~') {
                    c.literal8()?
                } else {
                    c.literal()?
                };
                c.expect(b')', ") after the UTF8 literal")?;
                data
            }
            _ if c.try_keyword("CATENATE") => return bad("CATENATE is not supported"),
            _ => return bad("expected the message as a literal"),
        };
        messages.push(AppendMessage {
            flags,
            date,
            data: data.to_vec(),
        });
        // RFC 3502: another message follows after a space.
        if !c.peek_is(b' ') {
            break;
        }
    }
    Ok(Command::Append { mailbox, messages })
}
