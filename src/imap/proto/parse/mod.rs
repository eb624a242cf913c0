//! The IMAP command parser: one complete command, as the framer hands it
//! over (literals inline, final CRLF included), into a [`Tagged`] command.
//! Hand-written recursive descent over RFC 9051 §9's grammar and the
//! extensions the server announces; one file per command family.

mod append;
mod fetch;
pub(crate) mod lexer;
mod list;
mod misc;
mod search;
mod select;
mod store;
#[cfg(test)]
mod tests;

use lexer::{Bad, Cursor, Res, bad};

use crate::imap::proto::command::{Command, Tagged};
use crate::search::SearchKey;

/// Why a command could not be parsed. The session answers `tag BAD text`
/// (or an untagged `* BAD text` when no tag could be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The command's tag, when it could be read.
    pub tag: Option<String>,
    /// What was wrong, short; a response code in brackets may lead it
    /// (`[BADCHARSET (US-ASCII UTF-8)] …`).
    pub text: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for ParseError {}

/// Parses one complete command: tag, name, arguments with literals inline,
/// and the final CRLF.
pub fn parse_command(input: &[u8]) -> Result<Tagged, ParseError> {
    let mut c = Cursor::new(input);
    let tag = c
        .tag()
        .map_err(|Bad(text)| ParseError { tag: None, text })?;
    match command(&mut c) {
        Ok(command) => Ok(Tagged { tag, command }),
        Err(Bad(text)) => Err(ParseError {
            tag: Some(tag),
            text,
        }),
    }
}

/// Parses search keys written as text, as `aox search`, retention policies
/// and holds take them: `from alice since 1-Jan-2020 body invoice`, key
/// names in any case, strings quoted or bare, no tag, no CHARSET (the text
/// is UTF-8), the keys implicitly ANDed.
pub fn parse_search_text(text: &str) -> Result<SearchKey, ParseError> {
    let mut c = Cursor::text(text.as_bytes());
    let parsed = (|| {
        c.ws();
        if c.at_line_end() {
            return bad("expected a search key");
        }
        let key = search::keys(&mut c, None)?;
        c.end()?;
        Ok(key)
    })();
    parsed.map_err(|Bad(text)| ParseError { tag: None, text })
}

/// How the error for a command name this parser does not know begins.
const UNKNOWN_COMMAND: &str = "unknown command";

/// The command after the tag, through the final CRLF.
fn command(c: &mut Cursor<'_>) -> Res<Command> {
    c.expect(b' ', "a space after the tag")?;
    let name = c
        .keyword()
        .map_err(|_| Bad("expected a command name".into()))?;
    let parsed = arguments(c, &name).and_then(|command| c.end().map(|()| command));
    // Name the command in the error, unless a response code must lead or
    // the name itself is the problem.
    parsed.map_err(|Bad(text)| {
        if text.starts_with('[') || text.starts_with(UNKNOWN_COMMAND) {
            Bad(text)
        } else {
            Bad(format!("{name}: {text}"))
        }
    })
}

/// The arguments of the command called `name`.
fn arguments(c: &mut Cursor<'_>, name: &str) -> Res<Command> {
    Ok(match name {
        "CAPABILITY" => Command::Capability,
        "NOOP" => Command::Noop,
        "LOGOUT" => Command::Logout,
        "STARTTLS" => Command::StartTls,
        "AUTHENTICATE" => misc::authenticate(c)?,
        "LOGIN" => misc::login(c)?,
        "ENABLE" => misc::enable(c)?,
        "SELECT" => select::select(c, false)?,
        "EXAMINE" => select::select(c, true)?,
        "CREATE" => select::create(c)?,
        "DELETE" => {
            c.sp()?;
            Command::Delete(c.mailbox()?)
        }
        "RENAME" => {
            c.sp()?;
            let from = c.mailbox()?;
            c.sp()?;
            Command::Rename {
                from,
                to: c.mailbox()?,
            }
        }
        "SUBSCRIBE" => {
            c.sp()?;
            Command::Subscribe(c.mailbox()?)
        }
        "UNSUBSCRIBE" => {
            c.sp()?;
            Command::Unsubscribe(c.mailbox()?)
        }
        "LIST" => list::list(c)?,
        "LSUB" => list::lsub(c)?,
        "NAMESPACE" => Command::Namespace,
        "STATUS" => list::status(c)?,
        "APPEND" => append::append(c)?,
        "IDLE" => Command::Idle,
        "CHECK" => Command::Check,
        "CLOSE" => Command::Close,
        "UNSELECT" => Command::Unselect,
        "EXPUNGE" => Command::Expunge { uids: None },
        "SEARCH" => search::search(c, false)?,
        "FETCH" => fetch::fetch(c, false)?,
        "STORE" => store::store(c, false)?,
        "COPY" => store::copy(c, false, false)?,
        "MOVE" => store::copy(c, false, true)?,
        "ID" => misc::id(c)?,
        "UID" => {
            c.sp()?;
            let sub = c.keyword()?;
            match sub.as_str() {
                "SEARCH" => search::search(c, true)?,
                "FETCH" => fetch::fetch(c, true)?,
                "STORE" => store::store(c, true)?,
                "COPY" => store::copy(c, true, false)?,
                "MOVE" => store::copy(c, true, true)?,
                // RFC 4315 §2.1 UID EXPUNGE.
                "EXPUNGE" => {
                    c.sp()?;
                    Command::Expunge {
                        uids: Some(c.sequence_set()?),
                    }
                }
                other => {
                    return bad(format!(
                        "expected COPY, EXPUNGE, FETCH, MOVE, SEARCH or STORE, not {other}"
                    ));
                }
            }
        }
        other => return bad(format!("{UNKNOWN_COMMAND} {other}")),
    })
}
