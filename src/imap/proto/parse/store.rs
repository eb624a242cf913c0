//! `[UID] STORE`, `[UID] COPY` and `[UID] MOVE` (RFC 9051 §6.4.6–§6.4.8,
//! RFC 7162 §3.1.3 UNCHANGEDSINCE).

use super::lexer::{Cursor, FlagToken, Res, bad};
use crate::imap::proto::command::{Command, StoreMode};

/// Parses the arguments of STORE after the command name.
pub(super) fn store(c: &mut Cursor<'_>, uid: bool) -> Res<Command> {
    c.sp()?;
    let set = c.sequence_set()?;
    c.sp()?;
    let mut unchanged_since = None;
    if c.eat(b'(') {
        loop {
            match c.keyword()?.as_str() {
                "UNCHANGEDSINCE" => {
                    c.sp()?;
                    unchanged_since = Some(c.number64()?);
                }
                other => return bad(format!("unknown STORE modifier {other}")),
            }
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
        c.sp()?;
    }
    let mode = if c.eat(b'+') {
        StoreMode::Add
    } else if c.eat(b'-') {
        StoreMode::Remove
    } else {
        StoreMode::Replace
    };
    let silent = match c.keyword().ok().as_deref() {
        Some("FLAGS") => false,
        Some("FLAGS.SILENT") => true,
        _ => return bad("expected FLAGS, +FLAGS or -FLAGS (optionally .SILENT)"),
    };
    c.sp()?;
    // RFC 9051 `store-att-flags`: a flag list, or flags separated by spaces.
    let flags = if c.peek_is(b'(') {
        c.flag_list()?
    } else {
        let mut flags = Vec::new();
        loop {
            // RFC 3501 §2.3.2: \Recent cannot be set or cleared by a client.
            if let FlagToken::Flag(f) = c.flag()? {
                flags.push(f);
            }
            if !c.more() {
                break;
            }
        }
        flags
    };
    Ok(Command::Store {
        uid,
        set,
        unchanged_since,
        mode,
        silent,
        flags,
    })
}

/// Parses `set mailbox` of COPY (`is_move` false) or MOVE.
pub(super) fn copy(c: &mut Cursor<'_>, uid: bool, is_move: bool) -> Res<Command> {
    c.sp()?;
    let set = c.sequence_set()?;
    c.sp()?;
    let mailbox = c.mailbox()?;
    Ok(if is_move {
        Command::Move { uid, set, mailbox }
    } else {
        Command::Copy { uid, set, mailbox }
    })
}
