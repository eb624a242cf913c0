//! `SELECT`/`EXAMINE` with RFC 7162 select parameters (§3.1.8 CONDSTORE,
//! §3.2.5 QRESYNC), and `CREATE` with RFC 6154 §3 `USE`.

use super::lexer::{Cursor, Res, bad};
use crate::imap::proto::command::{Command, QresyncParams};

/// Parses the arguments of SELECT (`read_only` false) or EXAMINE.
pub(super) fn select(c: &mut Cursor<'_>, read_only: bool) -> Res<Command> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    let (mut condstore, mut qresync) = (false, None);
    if c.peek_is(b' ') {
        c.sp()?;
        c.expect(b'(', "( before the select parameters")?;
        loop {
            match c.keyword()?.as_str() {
                "CONDSTORE" => condstore = true,
                "QRESYNC" => {
                    c.sp()?;
                    qresync = Some(qresync_params(c)?);
                }
                other => return bad(format!("unknown select parameter {other}")),
            }
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
    }
    Ok(Command::Select {
        mailbox,
        read_only,
        condstore,
        qresync,
    })
}

/// `(uidvalidity modseq [known-uids] [(known-seqs known-uids)])`.
fn qresync_params(c: &mut Cursor<'_>) -> Res<QresyncParams> {
    c.expect(b'(', "( after QRESYNC")?;
    let uidvalidity = c.nz_number()?;
    c.sp()?;
    let modseq = c.number64()?;
    if modseq == 0 {
        return bad("the QRESYNC modseq must be non-zero");
    }
    let mut params = QresyncParams {
        uidvalidity,
        modseq,
        known_uids: None,
        seq_match: None,
    };
    if c.eat(b' ') && !c.peek_is(b'(') {
        params.known_uids = Some(c.sequence_set()?);
        let _ = c.eat(b' ');
    }
    if c.eat(b'(') {
        let seqs = c.sequence_set()?;
        c.sp()?;
        let uids = c.sequence_set()?;
        c.expect(b')', ") after the sequence match data")?;
        params.seq_match = Some((seqs, uids));
    }
    c.expect(b')', ") after the QRESYNC parameters")?;
    Ok(params)
}

/// Parses the arguments of CREATE.
pub(super) fn create(c: &mut Cursor<'_>) -> Res<Command> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    let mut special_use = Vec::new();
    if c.peek_is(b' ') {
        c.sp()?;
        c.expect(b'(', "( before the CREATE parameters")?;
        loop {
            match c.keyword()?.as_str() {
                "USE" => {
                    c.sp()?;
                    c.expect(b'(', "( after USE")?;
                    loop {
                        c.expect(b'\\', "a special-use attribute like \\Sent")?;
                        let name = c.atom()?;
                        special_use.push(special_use_name(name));
                        if c.eat(b')') {
                            break;
                        }
                        c.sp()?;
                    }
                }
                other => return bad(format!("unknown CREATE parameter {other}")),
            }
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
    }
    Ok(Command::Create {
        mailbox,
        special_use,
    })
}

/// The RFC 6154 §2 spelling of a known attribute, else as sent (with its
/// backslash), for the session to refuse with USEATTR.
fn special_use_name(name: &[u8]) -> String {
    const KNOWN: [&str; 7] = [
        "\\All",
        "\\Archive",
        "\\Drafts",
        "\\Flagged",
        "\\Junk",
        "\\Sent",
        "\\Trash",
    ];
    KNOWN
        .iter()
        .find(|k| {
            k.as_bytes()
                .get(1..)
                .is_some_and(|k| k.eq_ignore_ascii_case(name))
        })
        .map(|k| (*k).to_owned())
        .unwrap_or_else(|| format!("\\{}", String::from_utf8_lossy(name)))
}
