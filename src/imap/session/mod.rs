//! One IMAP session: the state machine of RFC 9051 §3 (not authenticated →
//! authenticated → selected → logout) over parsed commands. It writes
//! responses into a buffer the connection drains; it never sees the socket,
//! so tests can drive it with a byte vector. Each command family's handler
//! lives in its own file beside this one.

mod append;
mod auth;
mod copy;
mod expunge;
mod fetch;
mod mailbox;
mod misc;
mod search;
mod select;
mod status;
mod store;
mod sync;

use std::collections::HashMap;
use std::net::SocketAddr;

use tokio::io::{AsyncWrite, AsyncWriteExt as _};

use super::ServerState;
use super::proto::command::{Command, Tagged};
use super::proto::parse::{ParseError, parse_command};
use crate::auth::sasl::Mechanism;
use crate::config::PlaintextPasswords;
use crate::store::StoreError;
use crate::store::notify::MailboxEvent;
use crate::uidset::{MsnMap, UidSet};

/// The writer a session's responses go to.
pub type Writer<'a> = dyn AsyncWrite + Unpin + Send + 'a;

/// Flush the response buffer to the connection once it holds this much, so
/// a FETCH of a million messages never sits in memory whole.
const FLUSH_AT: usize = 256 * 1024;

/// The logged-in user.
#[derive(Debug, Clone)]
pub struct User {
    /// users.id
    pub id: i64,
    /// The login as the user typed it.
    pub login: String,
}

/// The selected mailbox, as this session has told the client about it.
#[derive(Debug)]
pub struct Selected {
    /// mailboxes.id
    pub id: i64,
    /// Canonical name.
    pub name: String,
    /// EXAMINE, or SELECT of a mailbox we may not change.
    pub read_only: bool,
    /// UIDVALIDITY.
    pub uidvalidity: u32,
    /// UIDNEXT as last told.
    pub uidnext: u32,
    /// Every change up to this modseq has been told to the client.
    pub modseq: u64,
    /// The UIDs the client knows, in MSN order.
    pub msns: MsnMap,
    /// UIDs that are \Recent in this session (IMAP4rev1).
    pub recent: UidSet,
    /// A notification said the mailbox changed beyond `modseq`.
    pub dirty: bool,
}

/// Extensions the client turned on with ENABLE (RFC 5161) or implied.
#[derive(Debug, Default, Clone, Copy)]
pub struct Enabled {
    /// CONDSTORE (RFC 7162 §3.1): also turned on by any CONDSTORE use.
    pub condstore: bool,
    /// QRESYNC (RFC 7162 §3.2).
    pub qresync: bool,
    /// UTF8=ACCEPT (RFC 6855).
    pub utf8: bool,
}

/// What the connection must do after a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Read on.
    Continue,
    /// Start TLS now (the OK has been written).
    StartTls,
    /// Close the connection (after LOGOUT's OK, or a BYE).
    Close,
}

/// A command that spans several frames.
#[derive(Debug)]
enum Pending {
    /// AUTHENTICATE waiting for the client's response line.
    Authenticate {
        tag: String,
        exchange: Box<crate::auth::sasl::Exchange>,
    },
    /// IDLE waiting for DONE.
    Idle { tag: String },
}

/// One session.
pub struct Session {
    state: ServerState,
    peer: SocketAddr,
    tls: bool,
    user: Option<User>,
    selected: Option<Selected>,
    enabled: Enabled,
    pending: Option<Pending>,
    /// The user's keyword names by id, loaded on demand.
    keywords: HashMap<i32, String>,
    out: Vec<u8>,
}

/// A tagged reply that ends a command.
struct Done {
    status: &'static str,
    code: Option<String>,
    text: String,
}

impl Done {
    fn ok(text: impl Into<String>) -> Done {
        Done {
            status: "OK",
            code: None,
            text: text.into(),
        }
    }
    fn ok_code(code: impl Into<String>, text: impl Into<String>) -> Done {
        Done {
            status: "OK",
            code: Some(code.into()),
            text: text.into(),
        }
    }
    fn no(code: &str, text: impl Into<String>) -> Done {
        Done {
            status: "NO",
            code: (!code.is_empty()).then(|| code.to_owned()),
            text: text.into(),
        }
    }
    fn bad(text: impl Into<String>) -> Done {
        Done {
            status: "BAD",
            code: None,
            text: text.into(),
        }
    }
}

/// The NO a store failure becomes. SQL text never reaches the client.
fn store_failure(e: &StoreError) -> Done {
    match e {
        StoreError::NotFound(_) => Done::no("NONEXISTENT", "no such mailbox"),
        StoreError::Conflict(why) => Done::no("ALREADYEXISTS", why.clone()),
        StoreError::InUse(why) => Done::no("INUSE", why.clone()),
        StoreError::Limit(why) => Done::no("LIMIT", why.clone()),
        StoreError::Invalid(why) | StoreError::Refused(why) => Done::no("CANNOT", why.clone()),
        other => {
            tracing::warn!(error = %other, "store operation failed");
            Done::no("UNAVAILABLE", "the database is unavailable; try again")
        }
    }
}

impl Session {
    /// A new session on a connection from `peer`; `tls` when it is already
    /// encrypted (IMAPS).
    pub fn new(state: ServerState, peer: SocketAddr, tls: bool) -> Session {
        Session {
            state,
            peer,
            tls,
            user: None,
            selected: None,
            enabled: Enabled::default(),
            pending: None,
            keywords: HashMap::new(),
            out: Vec::with_capacity(8192),
        }
    }

    /// The greeting (RFC 9051 §7.1.1).
    pub fn greeting(&mut self) {
        let caps = self.capabilities();
        self.untagged(&format!("OK [CAPABILITY {caps}] archiveopteryx ready"));
    }

    /// Takes what has been written so far.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Notes that TLS is now on (after STARTTLS).
    pub fn tls_started(&mut self) {
        self.tls = true;
    }

    /// True while IDLE runs.
    pub fn idling(&self) -> bool {
        matches!(self.pending, Some(Pending::Idle { .. }))
    }

    /// The user id and mailbox id this session watches for changes.
    pub fn watching(&self) -> Option<(i64, i64)> {
        Some((self.user.as_ref()?.id, self.selected.as_ref()?.id))
    }

    /// The client may send plaintext passwords now.
    fn plaintext_ok(&self) -> bool {
        self.tls || self.state.config.allow_plaintext_passwords() == PlaintextPasswords::Always
    }

    /// This connection's channel binding for SCRAM-SHA-256-PLUS: only
    /// over TLS, and only with a certificate that defines one.
    fn end_point(&self) -> Option<Vec<u8>> {
        self.state.tls_end_point.clone().filter(|_| self.tls)
    }

    /// The CAPABILITY list: exactly what works (RFC 9051 §7.2.2).
    fn capabilities(&self) -> String {
        let mut caps: Vec<String> = vec!["IMAP4rev1".into()];
        // STARTTLS is refused once logged in, so it is not offered then.
        if !self.tls && self.user.is_none() && self.state.tls.is_some() {
            caps.push("STARTTLS".into());
        }
        if self.user.is_none() {
            // RFC 9051 §6.2.3: LOGINDISABLED while LOGIN would be refused;
            // SCRAM sends no password, so it is offered in any case.
            if !self.plaintext_ok() {
                caps.push("LOGINDISABLED".into());
            }
            for m in Mechanism::offered(self.plaintext_ok(), self.end_point().is_some()) {
                caps.push(format!("AUTH={m}"));
            }
        }
        for c in [
            "LITERAL+",
            "SASL-IR",
            "ENABLE",
            "IDLE",
            "ID",
            "NAMESPACE",
            "UNSELECT",
            "UIDPLUS",
            "MOVE",
            "CHILDREN",
            "LIST-EXTENDED",
            "LIST-STATUS",
            "SPECIAL-USE",
            "CONDSTORE",
            "QRESYNC",
            "ESEARCH",
            "STATUS=SIZE",
            "UTF8=ACCEPT",
            "OBJECTID",
        ] {
            caps.push(c.into());
        }
        caps.push(format!("APPENDLIMIT={}", self.append_limit()));
        caps.join(" ")
    }

    /// The largest message APPEND takes (RFC 7889).
    fn append_limit(&self) -> u64 {
        self.state.config.max_message_size()
    }

    fn untagged(&mut self, text: &str) {
        self.out.extend_from_slice(b"* ");
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    fn finish(&mut self, tag: &str, done: Done) {
        self.out.extend_from_slice(tag.as_bytes());
        self.out.push(b' ');
        self.out.extend_from_slice(done.status.as_bytes());
        self.out.push(b' ');
        if let Some(code) = done.code {
            self.out.push(b'[');
            self.out.extend_from_slice(code.as_bytes());
            self.out.extend_from_slice(b"] ");
        }
        // A text never carries a line break to the client.
        let text: String = done
            .text
            .chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect();
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// Writes out what is buffered when there is a lot of it.
    async fn flush_some(&mut self, w: &mut Writer<'_>) -> std::io::Result<()> {
        if self.out.len() >= FLUSH_AT {
            w.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// A frame refused by the framer.
    pub fn rejected(&mut self, tag: Option<&str>, no: bool, code: Option<&str>, text: &str) {
        let done = Done {
            status: if no { "NO" } else { "BAD" },
            code: code.map(str::to_owned),
            text: text.to_owned(),
        };
        // A refused line in answer to a continuation ends the exchange
        // under the AUTHENTICATE's tag (the line itself has no tag).
        if matches!(self.pending, Some(Pending::Authenticate { .. }))
            && let Some(Pending::Authenticate { tag, .. }) = self.pending.take()
        {
            self.finish(&tag, done);
            return;
        }
        match tag {
            Some(t) => self.finish(t, done),
            None => self.finish("*", done),
        }
    }

    /// Handles one frame from the framer: a command, or the line a pending
    /// AUTHENTICATE or IDLE waits for.
    pub async fn input(&mut self, frame: &[u8], w: &mut Writer<'_>) -> std::io::Result<Next> {
        match self.pending.take() {
            Some(Pending::Authenticate { tag, exchange }) => {
                self.authenticate_response(&tag, exchange, frame).await;
                return Ok(Next::Continue);
            }
            Some(Pending::Idle { tag }) => {
                let line = frame.strip_suffix(b"\n").unwrap_or(frame);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.eq_ignore_ascii_case(b"DONE") {
                    self.sync(w, true).await?;
                    self.finish(&tag, Done::ok("IDLE terminated"));
                } else {
                    self.finish(&tag, Done::bad("expected DONE"));
                }
                return Ok(Next::Continue);
            }
            None => {}
        }
        let tagged = match parse_command(frame) {
            Ok(t) => t,
            Err(ParseError { tag, text }) => {
                // RFC 9051 §6.4.4: an unknown charset is a NO with the
                // charsets we do take, not a syntax error.
                let done = match text.strip_prefix("[BADCHARSET ") {
                    Some(rest) => match rest.split_once("] ") {
                        Some((list, why)) => Done::no(&format!("BADCHARSET {list}"), why),
                        None => Done::no("BADCHARSET", text.clone()),
                    },
                    None => Done::bad(text),
                };
                self.finish(tag.as_deref().unwrap_or("*"), done);
                return Ok(Next::Continue);
            }
        };
        self.command(tagged, w).await
    }

    /// A change notification. While idling it is told at once; otherwise it
    /// is remembered for the next command that may tell it.
    pub async fn event(&mut self, ev: MailboxEvent, w: &mut Writer<'_>) -> std::io::Result<()> {
        let Some(sel) = self.selected.as_mut() else {
            return Ok(());
        };
        if Some((ev.user, ev.mailbox)) != self.user.as_ref().map(|u| (u.id, sel.id)) {
            return Ok(());
        }
        if ev.modseq > sel.modseq || ev.uidnext > sel.uidnext {
            sel.dirty = true;
        }
        if self.idling() {
            self.sync(w, true).await?;
        }
        Ok(())
    }

    /// Notifications were lost: look at the mailbox in any case.
    pub async fn lagged(&mut self, w: &mut Writer<'_>) -> std::io::Result<()> {
        if let Some(sel) = self.selected.as_mut() {
            sel.dirty = true;
        }
        if self.idling() {
            self.sync(w, true).await?;
        }
        Ok(())
    }

    async fn command(&mut self, t: Tagged, w: &mut Writer<'_>) -> std::io::Result<Next> {
        let Tagged { tag, command } = t;
        let authed = self.user.is_some();
        let selected = self.selected.is_some();
        let done = match command {
            Command::Capability => {
                let caps = self.capabilities();
                self.untagged(&format!("CAPABILITY {caps}"));
                Done::ok("CAPABILITY completed")
            }
            Command::Noop | Command::Check => {
                self.sync(w, true).await?;
                Done::ok("done")
            }
            Command::Logout => {
                self.untagged("BYE logging out");
                self.finish(&tag, Done::ok("LOGOUT completed"));
                return Ok(Next::Close);
            }
            Command::Id(_) => {
                self.untagged("ID (\"name\" \"archiveopteryx\" \"vendor\" \"archiveopteryx\")");
                Done::ok("ID completed")
            }
            Command::StartTls => {
                if self.tls {
                    Done::bad("TLS is already active")
                } else if self.state.tls.is_none() {
                    Done::no("CANNOT", "no TLS certificate is configured")
                } else if authed {
                    Done::bad("STARTTLS is only allowed before login")
                } else {
                    self.finish(&tag, Done::ok("begin TLS negotiation now"));
                    return Ok(Next::StartTls);
                }
            }
            Command::Login { user, password } if !authed => self.login(&user, password).await,
            Command::Authenticate { mechanism, initial } if !authed => {
                match self.authenticate(&tag, &mechanism, initial).await {
                    Some(done) => done,
                    None => return Ok(Next::Continue),
                }
            }
            Command::Login { .. } | Command::Authenticate { .. } => {
                Done::bad("already authenticated")
            }
            _ if !authed => Done::bad("log in first (LOGIN or AUTHENTICATE)"),
            Command::Enable(caps) => self.enable(&caps),
            Command::Select {
                mailbox,
                read_only,
                condstore,
                qresync,
            } => self.select(&mailbox, read_only, condstore, qresync).await,
            Command::Create {
                mailbox,
                special_use,
            } => self.create(&mailbox, &special_use).await,
            Command::Delete(m) => self.delete(&m).await,
            Command::Rename { from, to } => self.rename(&from, &to).await,
            Command::Subscribe(m) => self.subscribe(&m, true).await,
            Command::Unsubscribe(m) => self.subscribe(&m, false).await,
            Command::List(list) => self.list(&list).await,
            Command::Lsub { reference, pattern } => self.lsub(&reference, &pattern).await,
            Command::Namespace => {
                self.untagged("NAMESPACE ((\"\" \"/\")) NIL NIL");
                Done::ok("NAMESPACE completed")
            }
            Command::Status { mailbox, items } => self.status(&mailbox, &items).await,
            Command::Append { mailbox, messages } => self.append(&mailbox, messages, w).await?,
            Command::Idle => {
                self.sync(w, true).await?;
                self.out.extend_from_slice(b"+ idling\r\n");
                self.pending = Some(Pending::Idle { tag });
                return Ok(Next::Continue);
            }
            _ if !selected => Done::bad("select a mailbox first"),
            Command::Close => self.close(true).await,
            Command::Unselect => self.close(false).await,
            Command::Expunge { uids } => self.expunge(uids, w).await?,
            Command::Search {
                uid,
                ret,
                charset: _,
                key,
            } => self.search(&tag, uid, ret, key, w).await?,
            Command::Fetch {
                uid,
                set,
                items,
                changed_since,
                vanished,
            } => {
                self.fetch(uid, &set, &items, changed_since, vanished, w)
                    .await?
            }
            Command::Store {
                uid,
                set,
                unchanged_since,
                mode,
                silent,
                flags,
            } => {
                self.store(uid, &set, unchanged_since, mode, silent, &flags, w)
                    .await?
            }
            Command::Copy { uid, set, mailbox } => self.copy(uid, &set, &mailbox, false, w).await?,
            Command::Move { uid, set, mailbox } => self.copy(uid, &set, &mailbox, true, w).await?,
        };
        self.finish(&tag, done);
        Ok(Next::Continue)
    }

    /// A database connection, or the NO that says there is none.
    async fn db(&self) -> Result<deadpool_postgres::Object, Done> {
        self.state.pool.get().await.map_err(|e| {
            tracing::warn!(error = %e, "no database connection");
            Done::no("UNAVAILABLE", "the database is unavailable; try again")
        })
    }

    /// The user (only called in authenticated states).
    fn user_id(&self) -> i64 {
        self.user.as_ref().map_or(0, |u| u.id)
    }

    /// The user's keyword names, refreshed when an id is unknown.
    async fn keyword_name(&mut self, id: i32) -> Option<String> {
        if !self.keywords.contains_key(&id)
            && let Ok(client) = self.state.pool.get().await
            && let Ok(names) = crate::store::select::keyword_names(&**client, self.user_id()).await
        {
            self.keywords = names;
        }
        self.keywords.get(&id).cloned()
    }
}
