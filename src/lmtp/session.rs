//! The LMTP session state machine (RFC 2033): commands in, replies into a
//! buffer, and an [`Action`] when the connection must do something the
//! session cannot (look an address up, switch the framer to message data,
//! deliver, close). No I/O, no database: the connection does those and
//! reports back.

use std::fmt::Write as _;

use super::command::{self, Command};
use crate::store::delivery::Target;

/// What the session needs the connection to do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing; go on reading.
    Continue,
    /// Look up this recipient and call [`Session::resolved`].
    Resolve(String),
    /// A 354 was written: read message data next.
    StartData,
    /// Close the connection after writing the output.
    Close,
}

/// How delivery went for one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Committed to the database.
    Delivered,
    /// Not stored; the client should try again later.
    TemporaryFailure,
}

/// A recipient accepted by RCPT TO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The address as the client gave it.
    pub address: String,
    /// Where it delivers to.
    pub target: Target,
}

/// The limits the session enforces (the framer enforces the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest message, bytes (advertised as SIZE).
    pub max_message: u64,
    /// Most recipients per transaction.
    pub max_recipients: usize,
}

/// A mail transaction: from MAIL to the end of DATA (RFC 5321 §3.3).
#[derive(Debug)]
struct Transaction {
    from: String,
    smtputf8: bool,
    recipients: Vec<Recipient>,
}

/// One LMTP session.
#[derive(Debug)]
pub struct Session {
    hostname: String,
    limits: Limits,
    out: String,
    greeted: bool,
    transaction: Option<Transaction>,
}

impl Session {
    /// A session for a server called `hostname`.
    pub fn new(hostname: String, limits: Limits) -> Session {
        Session {
            hostname,
            limits,
            out: String::new(),
            greeted: false,
            transaction: None,
        }
    }

    fn reply(&mut self, code: u16, enhanced: &str, text: &str) {
        let _ = write!(self.out, "{code} {enhanced} {text}\r\n");
    }

    /// RFC 2033 §4: the greeting names the server and LMTP.
    pub fn greeting(&mut self) {
        let _ = write!(self.out, "220 {} LMTP ready\r\n", self.hostname);
    }

    /// Takes what has been written so far.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out).into_bytes()
    }

    /// The reverse path of the current transaction.
    pub fn sender(&self) -> Option<&str> {
        self.transaction.as_ref().map(|t| t.from.as_str())
    }

    /// The recipients accepted so far, in order.
    pub fn recipients(&self) -> &[Recipient] {
        self.transaction
            .as_ref()
            .map_or(&[][..], |t| t.recipients.as_slice())
    }

    /// Handles one command line.
    pub fn line(&mut self, line: &[u8]) -> Action {
        let command = match command::parse(line) {
            Ok(c) => c,
            Err(r) => {
                self.reply(r.code, r.enhanced, &r.text);
                return Action::Continue;
            }
        };
        match command {
            Command::Lhlo(_) => {
                // RFC 5321 §4.1.4: a new greeting resets the transaction.
                self.transaction = None;
                self.greeted = true;
                let _ = write!(
                    self.out,
                    "250-{}\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n\
                     250-SMTPUTF8\r\n250 SIZE {}\r\n",
                    self.hostname, self.limits.max_message
                );
            }
            Command::HeloOrEhlo => {
                // RFC 2033 §4.1: LMTP replaces HELO and EHLO with LHLO.
                self.reply(500, "5.5.1", "this is LMTP; use LHLO");
            }
            Command::Mail { from, params } => {
                if !self.greeted {
                    self.reply(503, "5.5.1", "LHLO first");
                } else if self.transaction.is_some() {
                    self.reply(503, "5.5.1", "nested MAIL command");
                } else if params.size.is_some_and(|s| s > self.limits.max_message) {
                    // RFC 1870 §6.2: a declared size over the limit is 552.
                    let text = format!(
                        "message exceeds the size limit of {} bytes",
                        self.limits.max_message
                    );
                    self.reply(552, "5.3.4", &text);
                } else {
                    self.transaction = Some(Transaction {
                        from,
                        smtputf8: params.smtputf8,
                        recipients: Vec::new(),
                    });
                    self.reply(250, "2.1.0", "sender ok");
                }
            }
            Command::Rcpt(to) => {
                let max = self.limits.max_recipients;
                match &self.transaction {
                    None => self.reply(503, "5.5.1", "MAIL first"),
                    Some(t) if !t.smtputf8 && !to.is_ascii() => {
                        // RFC 6531 §3.5.
                        self.reply(553, "5.6.7", "a non-ASCII address needs SMTPUTF8");
                    }
                    Some(t) if t.recipients.len() >= max => {
                        // RFC 5321 §4.5.3.1.10: the client sends the rest later.
                        let text = format!("too many recipients; at most {max} per message");
                        self.reply(452, "4.5.3", &text);
                    }
                    Some(_) => return Action::Resolve(to),
                }
            }
            Command::Data => {
                if self.transaction.is_none() {
                    self.reply(503, "5.5.1", "MAIL first");
                } else if self.recipients().is_empty() {
                    // RFC 2033 §4.2: DATA with no valid recipient is 503.
                    self.reply(503, "5.5.1", "no valid recipients");
                } else {
                    let _ = write!(self.out, "354 go ahead; end with <CRLF>.<CRLF>\r\n");
                    return Action::StartData;
                }
            }
            Command::Rset => {
                self.transaction = None;
                self.reply(250, "2.0.0", "reset");
            }
            Command::Noop => self.reply(250, "2.0.0", "ok"),
            Command::Vrfy => {
                // RFC 5321 §3.5.3: 252 says neither yes nor no.
                self.reply(252, "2.0.0", "cannot verify; send a message and see");
            }
            Command::NotImplemented => self.reply(502, "5.5.1", "command not implemented"),
            Command::Quit => {
                let text = format!("{} closing connection", self.hostname);
                self.reply(221, "2.0.0", &text);
                return Action::Close;
            }
        }
        Action::Continue
    }

    /// A command line was longer than the limit.
    pub fn line_too_long(&mut self, max: usize) {
        // RFC 5321 §4.5.3.1.4 / §4.2.2: 500 for a line too long.
        let text = format!("line too long; at most {max} bytes");
        self.reply(500, "5.5.2", &text);
    }

    /// The outcome of [`Action::Resolve`]: `Ok(Some)` accepted, `Ok(None)`
    /// unknown, `Err` when the lookup itself failed.
    pub fn resolved(&mut self, address: String, target: Result<Option<Target>, ()>) {
        match (target, self.transaction.as_mut()) {
            (Ok(Some(target)), Some(t)) => {
                t.recipients.push(Recipient { address, target });
                self.reply(250, "2.1.5", "recipient ok");
            }
            (Ok(None), _) => {
                let text = format!("<{address}>: no such user here");
                self.reply(550, "5.1.1", &text);
            }
            (Err(()), _) | (_, None) => {
                self.reply(451, "4.3.0", "temporary failure looking up the recipient");
            }
        }
    }

    /// The message was over the size limit: RFC 2033 §4.2, one reply per
    /// recipient, each 552 (RFC 1870 §6.3).
    pub fn message_too_big(&mut self) {
        let recipients: Vec<String> = self
            .recipients()
            .iter()
            .map(|r| r.address.clone())
            .collect();
        let max = self.limits.max_message;
        for a in recipients {
            let text = format!("<{a}>: message exceeds the size limit of {max} bytes");
            self.reply(552, "5.3.4", &text);
        }
        self.transaction = None;
    }

    /// Delivery is done: RFC 2033 §4.2, one reply per recipient in RCPT
    /// order. `outcomes` has one element per [`Session::recipients`].
    pub fn delivered(&mut self, outcomes: &[Outcome]) {
        let recipients: Vec<String> = self
            .recipients()
            .iter()
            .map(|r| r.address.clone())
            .collect();
        for (i, a) in recipients.iter().enumerate() {
            match outcomes.get(i) {
                Some(Outcome::Delivered) => {
                    let text = format!("<{a}> delivered");
                    self.reply(250, "2.1.5", &text);
                }
                _ => {
                    let text = format!("<{a}>: temporary failure storing the message");
                    self.reply(451, "4.3.0", &text);
                }
            }
        }
        self.transaction = None;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn session(max_recipients: usize) -> Session {
        let mut s = Session::new(
            "mx.example.org".into(),
            Limits {
                max_message: 1000,
                max_recipients,
            },
        );
        s.greeting();
        s
    }

    fn said(s: &mut Session) -> String {
        String::from_utf8(s.take_output()).unwrap()
    }

    fn target(n: i64) -> Target {
        Target {
            user: 1,
            mailbox: n,
        }
    }

    #[test]
    fn rfc2033_4_greeting_and_lhlo_capabilities() {
        let mut s = session(10);
        assert_eq!(said(&mut s), "220 mx.example.org LMTP ready\r\n");
        assert_eq!(s.line(b"LHLO client"), Action::Continue);
        assert_eq!(
            said(&mut s),
            "250-mx.example.org\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n\
             250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 1000\r\n"
        );
    }

    #[test]
    fn rfc2033_4_2_replies_follow_rcpt_order_and_reset_the_transaction() {
        let mut s = session(10);
        s.line(b"LHLO c");
        s.take_output();
        assert_eq!(s.line(b"DATA"), Action::Continue);
        assert!(said(&mut s).starts_with("503 5.5.1"));
        s.line(b"MAIL FROM:<x@y>");
        assert_eq!(s.line(b"RCPT TO:<a@b>"), Action::Resolve("a@b".into()));
        s.resolved("a@b".into(), Ok(Some(target(1))));
        assert_eq!(s.line(b"RCPT TO:<u@b>"), Action::Resolve("u@b".into()));
        s.resolved("u@b".into(), Ok(None));
        s.line(b"RCPT TO:<c@b>");
        s.resolved("c@b".into(), Ok(Some(target(2))));
        assert_eq!(
            said(&mut s),
            "250 2.1.0 sender ok\r\n250 2.1.5 recipient ok\r\n\
             550 5.1.1 <u@b>: no such user here\r\n250 2.1.5 recipient ok\r\n"
        );
        assert_eq!(s.line(b"DATA"), Action::StartData);
        assert!(said(&mut s).starts_with("354 "));
        s.delivered(&[Outcome::Delivered, Outcome::TemporaryFailure]);
        assert_eq!(
            said(&mut s),
            "250 2.1.5 <a@b> delivered\r\n451 4.3.0 <c@b>: temporary failure storing the message\r\n"
        );
        assert!(s.recipients().is_empty());
        s.line(b"RCPT TO:<a@b>");
        assert!(said(&mut s).starts_with("503 5.5.1"));
    }

    #[test]
    fn rfc5321_4_5_3_1_10_recipients_over_the_limit_get_452() {
        let mut s = session(2);
        s.line(b"LHLO c");
        s.line(b"MAIL FROM:<>");
        for a in ["a@b", "c@b"] {
            s.line(format!("RCPT TO:<{a}>").as_bytes());
            s.resolved(a.into(), Ok(Some(target(1))));
        }
        s.take_output();
        assert_eq!(s.line(b"RCPT TO:<d@b>"), Action::Continue);
        assert!(said(&mut s).starts_with("452 4.5.3 "));
        assert_eq!(s.recipients().len(), 2);
    }

    #[test]
    fn mail_needs_lhlo_and_declared_size_over_the_limit_is_552() {
        let mut s = session(10);
        s.take_output();
        s.line(b"MAIL FROM:<>");
        assert!(said(&mut s).starts_with("503 5.5.1"));
        s.line(b"EHLO c");
        assert!(said(&mut s).starts_with("500 5.5.1"));
        s.line(b"LHLO c");
        s.take_output();
        s.line(b"MAIL FROM:<> SIZE=1001");
        assert!(said(&mut s).starts_with("552 5.3.4"));
        s.line(b"MAIL FROM:<> SIZE=1000");
        assert!(said(&mut s).starts_with("250 2.1.0"));
        s.line(b"MAIL FROM:<>");
        assert!(said(&mut s).starts_with("503 5.5.1"));
        s.line(b"RSET");
        s.line(b"VRFY alice");
        s.line(b"NOOP");
        assert_eq!(
            said(&mut s),
            "250 2.0.0 reset\r\n252 2.0.0 cannot verify; send a message and see\r\n250 2.0.0 ok\r\n"
        );
        assert_eq!(s.line(b"QUIT"), Action::Close);
        assert!(said(&mut s).starts_with("221 2.0.0"));
    }

    #[test]
    fn over_size_data_refuses_each_recipient() {
        let mut s = session(10);
        s.line(b"LHLO c");
        s.line(b"MAIL FROM:<>");
        for a in ["a@b", "c@b"] {
            s.line(format!("RCPT TO:<{a}>").as_bytes());
            s.resolved(a.into(), Ok(Some(target(1))));
        }
        s.take_output();
        s.message_too_big();
        let out = said(&mut s);
        assert_eq!(out.matches("552 5.3.4 ").count(), 2, "{out}");
        assert!(s.sender().is_none());
    }
}
