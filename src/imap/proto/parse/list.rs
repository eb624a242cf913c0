//! `LIST` (RFC 9051 §6.3.9, RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS,
//! RFC 6154 SPECIAL-USE), `LSUB` (RFC 3501 §6.3.9) and `STATUS`
//! (RFC 9051 §6.3.11).

use super::lexer::{Cursor, Res, bad, utf8};
use crate::imap::proto::command::{Command, ListCommand, ListReturn, StatusItem};

/// Parses the arguments of LIST after the command name.
pub(super) fn list(c: &mut Cursor<'_>) -> Res<Command> {
    c.sp()?;
    let mut selection = Vec::new();
    if c.eat(b'(') {
        if !c.eat(b')') {
            loop {
                let option = c.keyword()?;
                // RFC 5258 §3: an unrecognised selection option is a BAD.
                if !matches!(
                    option.as_str(),
                    "SUBSCRIBED" | "REMOTE" | "RECURSIVEMATCH" | "SPECIAL-USE"
                ) {
                    return bad(format!("unknown LIST selection option {option}"));
                }
                if !selection.contains(&option) {
                    selection.push(option);
                }
                if c.eat(b')') {
                    break;
                }
                c.sp()?;
            }
        }
        // RFC 5258 §3.1: RECURSIVEMATCH only refines another option.
        if selection.iter().any(|s| s == "RECURSIVEMATCH")
            && !selection
                .iter()
                .any(|s| s == "SUBSCRIBED" || s == "SPECIAL-USE")
        {
            return bad("RECURSIVEMATCH needs another selection option");
        }
        c.sp()?;
    }
    let reference = c.mailbox()?;
    c.sp()?;
    let mut patterns = Vec::new();
    if c.eat(b'(') {
        loop {
            patterns.push(utf8(c.list_mailbox()?, "mailbox pattern")?);
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
    } else {
        patterns.push(utf8(c.list_mailbox()?, "mailbox pattern")?);
    }
    let mut ret = ListReturn::default();
    if c.peek_is(b' ') {
        c.sp()?;
        if !c.try_keyword("RETURN") {
            return bad("expected RETURN (options) after the LIST pattern");
        }
        c.sp()?;
        c.expect(b'(', "( after RETURN")?;
        if !c.eat(b')') {
            loop {
                match c.keyword()?.as_str() {
                    "SUBSCRIBED" => ret.subscribed = true,
                    "CHILDREN" => ret.children = true,
                    "SPECIAL-USE" => ret.special_use = true,
                    "STATUS" => {
                        c.sp()?;
                        ret.status = Some(status_items(c)?);
                    }
                    other => return bad(format!("unknown LIST return option {other}")),
                }
                if c.eat(b')') {
                    break;
                }
                c.sp()?;
            }
        }
    }
    Ok(Command::List(ListCommand {
        selection,
        reference,
        patterns,
        ret,
    }))
}

/// Parses `reference pattern` of LSUB.
pub(super) fn lsub(c: &mut Cursor<'_>) -> Res<Command> {
    c.sp()?;
    let reference = c.mailbox()?;
    c.sp()?;
    let pattern = utf8(c.list_mailbox()?, "mailbox pattern")?;
    Ok(Command::Lsub { reference, pattern })
}

/// Parses `mailbox (items)` of STATUS.
pub(super) fn status(c: &mut Cursor<'_>) -> Res<Command> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    c.sp()?;
    let items = status_items(c)?;
    Ok(Command::Status { mailbox, items })
}

/// `(item item …)`, at least one, duplicates dropped, order kept.
fn status_items(c: &mut Cursor<'_>) -> Res<Vec<StatusItem>> {
    c.expect(b'(', "( before the status items")?;
    let mut items = Vec::new();
    loop {
        let item = match c.keyword()?.as_str() {
            "MESSAGES" => StatusItem::Messages,
            "RECENT" => StatusItem::Recent,
            "UIDNEXT" => StatusItem::UidNext,
            "UIDVALIDITY" => StatusItem::UidValidity,
            "UNSEEN" => StatusItem::Unseen,
            "DELETED" => StatusItem::Deleted,
            "SIZE" => StatusItem::Size,
            "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
            "APPENDLIMIT" => StatusItem::AppendLimit,
            "MAILBOXID" => StatusItem::MailboxId,
            other => return bad(format!("unknown STATUS item {other}")),
        };
        if !items.contains(&item) {
            items.push(item);
        }
        if c.eat(b')') {
            return Ok(items);
        }
        c.sp()?;
    }
}
