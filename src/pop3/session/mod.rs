//! One POP3 session: the state machine of RFC 1939 §3 (AUTHORIZATION →
//! TRANSACTION → UPDATE) over parsed commands. It writes replies into a
//! buffer the connection drains (and, for long listings and messages,
//! flushes to the writer it is lent as the buffer grows); it never sees the
//! socket. Each command family's handler lives in its own file beside this.
//!
//! The maildrop is the user's INBOX as it was at login: its message numbers,
//! sizes and unique-ids do not change during the session (RFC 1939 §5), and
//! mail delivered meanwhile is seen by the next session.
//!
//! Locking: RFC 1939 §4 has the server take an exclusive lock on the
//! maildrop. This server takes none and lets a second session in. A lock
//! would have to live as long as the session (minutes, or forever for a
//! client that never sends QUIT), and a PostgreSQL advisory lock does so
//! only by holding one of the pool's few connections per POP3 session; IMAP
//! sessions on the same INBOX take no such lock either. What the lock
//! protects against cannot go wrong here: message numbers are a private
//! snapshot, unique-ids are UIDs that are never reused, and a message
//! deleted by two sessions (or expunged over IMAP meanwhile) is removed once,
//! the UPDATE state skipping what is already gone. The cost is that two
//! concurrent sessions may both download a message, which a client keeping
//! UIDLs already copes with.

mod auth;
mod maildrop;
mod retrieve;

use std::net::SocketAddr;

use tokio::io::{AsyncWrite, AsyncWriteExt as _};

use super::command::{Command, ParseError, parse};
use crate::auth::sasl::Mechanism;
use crate::config::PlaintextPasswords;
use crate::imap::ServerState;

/// The writer a session's long responses go to.
pub type Writer<'a> = dyn AsyncWrite + Unpin + Send + 'a;

/// Flush the reply buffer to the connection once it holds this much, so a
/// large message or a long LIST never sits in memory twice.
const FLUSH_AT: usize = 256 * 1024;

/// What the connection must do after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Read on.
    Continue,
    /// Start TLS now (the `+OK` has been written).
    StartTls,
    /// Close the connection (after QUIT's reply).
    Close,
}

/// The user's INBOX as the session sees it.
#[derive(Debug)]
struct Maildrop {
    /// users.id
    user: i64,
    /// mailboxes.id of the INBOX.
    mailbox: i64,
    /// UIDVALIDITY, for UIDL.
    uidvalidity: u32,
    /// (UID, size) by message number − 1.
    messages: Vec<(u32, u64)>,
    /// Marked by DELE, by message number − 1 (RFC 1939 §5).
    deleted: Vec<bool>,
}

/// Where in RFC 1939 §3's state machine the session is.
#[derive(Debug)]
enum Phase {
    /// AUTHORIZATION; `user` once USER has been accepted, for PASS.
    Authorization { user: Option<String> },
    /// AUTHORIZATION, with AUTH waiting for the client's response line
    /// (RFC 5034 §4).
    Sasl(Box<crate::auth::sasl::Exchange>),
    /// TRANSACTION on the maildrop.
    Transaction(Maildrop),
}

/// One session.
pub struct Session {
    state: ServerState,
    peer: SocketAddr,
    tls: bool,
    phase: Phase,
    out: Vec<u8>,
}

impl Session {
    /// A new session on a connection from `peer`; `tls` when it is already
    /// encrypted (POP3S).
    pub fn new(state: ServerState, peer: SocketAddr, tls: bool) -> Session {
        Session {
            state,
            peer,
            tls,
            phase: Phase::Authorization { user: None },
            out: Vec::with_capacity(4096),
        }
    }

    /// The greeting (RFC 1939 §4). No APOP timestamp: APOP is not offered.
    pub fn greeting(&mut self) {
        self.ok("archiveopteryx POP3 server ready");
    }

    /// Takes what has been written so far.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Notes that TLS is now on (after STLS). RFC 2595 §4: the session is
    /// in AUTHORIZATION as before, and nothing learnt before counts.
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.phase = Phase::Authorization { user: None };
    }

    /// A line the framer refused for its length (RFC 2449 §4 lets a server
    /// set a limit); the session stays as it was.
    pub fn line_too_long(&mut self, limit: usize) {
        if matches!(self.phase, Phase::Sasl(_)) {
            self.phase = Phase::Authorization { user: None };
        }
        self.err(None, &format!("line too long: the limit is {limit} bytes"));
    }

    /// The client may send plaintext passwords now (RFC 2595 §2.3: not
    /// before TLS unless the administrator said so).
    fn plaintext_ok(&self) -> bool {
        self.tls || self.state.config.allow_plaintext_passwords() == PlaintextPasswords::Always
    }

    /// This connection's channel binding for SCRAM-SHA-256-PLUS: only
    /// over TLS, and only with a certificate that defines one.
    fn end_point(&self) -> Option<Vec<u8>> {
        self.state.tls_end_point.clone().filter(|_| self.tls)
    }

    /// A single-line `+OK`.
    fn ok(&mut self, text: &str) {
        self.status("+OK", None, text);
    }

    /// A single-line `-ERR`, with an RFC 2449 §8 / RFC 3206 response code.
    fn err(&mut self, code: Option<&str>, text: &str) {
        self.status("-ERR", code, text);
    }

    fn status(&mut self, status: &str, code: Option<&str>, text: &str) {
        self.out.extend_from_slice(status.as_bytes());
        if let Some(code) = code {
            self.out.extend_from_slice(b" [");
            self.out.extend_from_slice(code.as_bytes());
            self.out.push(b']');
        }
        if !text.is_empty() {
            self.out.push(b' ');
            // A text never carries a line break to the client.
            for c in text.chars() {
                let c = if c == '\r' || c == '\n' { ' ' } else { c };
                let mut b = [0u8; 4];
                self.out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
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

    /// A database connection, or the `-ERR [SYS/TEMP]` that says there is
    /// none (RFC 3206 §4: the client may try again later).
    async fn db(&mut self) -> Option<deadpool_postgres::Object> {
        match self.state.pool.get().await {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(error = %e, "no database connection");
                self.unavailable();
                None
            }
        }
    }

    fn unavailable(&mut self) {
        self.err(Some("SYS/TEMP"), "the database is unavailable; try again");
    }

    /// Handles one line from the framer.
    pub async fn input(&mut self, line: &[u8], w: &mut Writer<'_>) -> std::io::Result<Next> {
        // Only a pending exchange is taken out of the phase.
        if matches!(self.phase, Phase::Sasl(_))
            && let Phase::Sasl(exchange) =
                std::mem::replace(&mut self.phase, Phase::Authorization { user: None })
        {
            self.sasl_response(exchange, line).await;
            return Ok(Next::Continue);
        }
        let command = match parse(line) {
            Ok(c) => c,
            Err(ParseError(text)) => {
                self.err(None, &text);
                return Ok(Next::Continue);
            }
        };
        if matches!(self.phase, Phase::Transaction(_)) {
            self.transaction(command, w).await
        } else {
            Ok(self.authorization(command).await)
        }
    }

    /// RFC 1939 §4: the AUTHORIZATION state's commands.
    async fn authorization(&mut self, command: Command) -> Next {
        // RFC 1939 §7: PASS only directly after a successful USER.
        let user = match &mut self.phase {
            Phase::Authorization { user } => user.take(),
            _ => None,
        };
        match command {
            Command::Capa => self.capa(),
            Command::Quit => {
                self.ok("archiveopteryx POP3 server signing off");
                return Next::Close;
            }
            Command::Stls => return self.stls(),
            Command::User(name) => self.user(name),
            Command::Pass(password) => match user {
                Some(login) => self.pass(&login, password).await,
                None => self.err(None, "send USER first"),
            },
            Command::Auth { mechanism, initial } => self.auth(mechanism, initial).await,
            Command::Apop => self.err(None, "APOP is not supported; use AUTH or USER/PASS"),
            Command::Stat
            | Command::List(_)
            | Command::Retr(_)
            | Command::Dele(_)
            | Command::Noop
            | Command::Rset
            | Command::Top(..)
            | Command::Uidl(_) => self.err(None, "log in first"),
        }
        Next::Continue
    }

    /// RFC 2449 §5 CAPA: exactly what works in the current state.
    fn capa(&mut self) {
        self.ok("capability list follows");
        let authorization = !matches!(self.phase, Phase::Transaction(_));
        let sasl;
        let mut caps: Vec<&str> = vec!["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"];
        if authorization {
            if self.plaintext_ok() {
                caps.push("USER");
            }
            // RFC 5034 §5: SCRAM sends no password, so it is listed even
            // before TLS.
            let mechanisms: Vec<&str> =
                Mechanism::offered(self.plaintext_ok(), self.end_point().is_some()).collect();
            sasl = format!("SASL {}", mechanisms.join(" "));
            caps.push(&sasl);
            if !self.tls && self.state.tls.is_some() {
                caps.push("STLS");
            }
        }
        caps.push("IMPLEMENTATION archiveopteryx");
        for c in caps {
            self.out.extend_from_slice(c.as_bytes());
            self.out.extend_from_slice(b"\r\n");
        }
        self.out.extend_from_slice(b".\r\n");
    }

    /// RFC 1939 §5: the TRANSACTION state's commands.
    async fn transaction(&mut self, command: Command, w: &mut Writer<'_>) -> std::io::Result<Next> {
        match command {
            Command::Capa => self.capa(),
            Command::Quit => {
                self.update().await;
                return Ok(Next::Close);
            }
            Command::Stat => self.stat(),
            Command::List(n) => self.list(n, w).await?,
            Command::Uidl(n) => self.uidl(n, w).await?,
            Command::Retr(n) => self.retrieve(n, None, w).await?,
            Command::Top(n, lines) => self.retrieve(n, Some(lines), w).await?,
            Command::Dele(n) => self.dele(n),
            Command::Noop => self.ok(""),
            Command::Rset => self.rset(),
            Command::User(_) | Command::Pass(_) | Command::Auth { .. } | Command::Apop => {
                self.err(None, "already logged in");
            }
            Command::Stls => self.err(None, "STLS is only allowed before login"),
        }
        Ok(Next::Continue)
    }
}
