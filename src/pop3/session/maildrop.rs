//! STAT, LIST, UIDL, DELE and RSET (RFC 1939 §5, §7) over the session's
//! snapshot, and the UPDATE state QUIT enters (RFC 1939 §6).

use super::{Maildrop, Phase, Session, Writer};
use crate::uidset::UidSet;

impl Maildrop {
    /// Messages not marked as deleted, and their octets (RFC 1939 §5 STAT:
    /// deleted messages are not counted).
    pub(super) fn totals(&self) -> (usize, u64) {
        self.live()
            .fold((0, 0), |(n, s), (_, size)| (n + 1, s + size))
    }

    /// (UID, size) of each message not marked as deleted.
    fn live(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.messages
            .iter()
            .zip(&self.deleted)
            .filter(|(_, deleted)| !**deleted)
            .map(|(m, _)| *m)
    }

    /// The index of message `n`, or the `-ERR` text RFC 1939 §5 asks for
    /// when it does not exist or is marked as deleted.
    pub(super) fn index(&self, n: u32) -> Result<usize, String> {
        let i = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .filter(|&i| i < self.messages.len())
            .ok_or_else(|| format!("no such message: {n}"))?;
        if self.deleted.get(i).copied().unwrap_or(true) {
            return Err(format!("message {n} is deleted"));
        }
        Ok(i)
    }

    /// RFC 1939 §7 UIDL's unique-id: UIDVALIDITY and UID, which together
    /// name one message for ever (a UID is never reused in a mailbox, and a
    /// mailbox that renumbers gets a new UIDVALIDITY).
    fn unique_id(&self, uid: u32) -> String {
        format!("{}.{uid}", self.uidvalidity)
    }
}

impl Session {
    pub(super) fn maildrop(&self) -> Option<&Maildrop> {
        match &self.phase {
            Phase::Transaction(m) => Some(m),
            _ => None,
        }
    }

    pub(super) fn stat(&mut self) {
        let Some(m) = self.maildrop() else { return };
        let (count, size) = m.totals();
        self.ok(&format!("{count} {size}"));
    }

    /// RFC 1939 §5 LIST: one message's size, or a scan listing of all.
    pub(super) async fn list(&mut self, n: Option<u32>, w: &mut Writer<'_>) -> std::io::Result<()> {
        self.listing(n, w, false).await
    }

    /// RFC 1939 §7 UIDL: one message's unique-id, or all of them.
    pub(super) async fn uidl(&mut self, n: Option<u32>, w: &mut Writer<'_>) -> std::io::Result<()> {
        self.listing(n, w, true).await
    }

    async fn listing(
        &mut self,
        n: Option<u32>,
        w: &mut Writer<'_>,
        uidl: bool,
    ) -> std::io::Result<()> {
        let Some(m) = self.maildrop() else {
            return Ok(());
        };
        let line = |m: &Maildrop, number: usize| {
            let (uid, size) = m.messages[number - 1];
            if uidl {
                format!("{number} {}", m.unique_id(uid))
            } else {
                format!("{number} {size}")
            }
        };
        if let Some(n) = n {
            match m.index(n) {
                Ok(i) => {
                    let reply = line(m, i + 1);
                    self.ok(&reply);
                }
                Err(text) => self.err(None, &text),
            }
            return Ok(());
        }
        let head = if uidl {
            "unique-id listing follows".to_owned()
        } else {
            let (count, size) = m.totals();
            format!("{count} messages ({size} octets)")
        };
        let count = m.messages.len();
        self.ok(&head);
        for number in 1..=count {
            let Some(m) = self.maildrop() else { break };
            if m.deleted[number - 1] {
                continue;
            }
            let mut text = line(m, number);
            text.push_str("\r\n");
            self.out.extend_from_slice(text.as_bytes());
            self.flush_some(w).await?;
        }
        self.out.extend_from_slice(b".\r\n");
        Ok(())
    }

    /// RFC 1939 §5 DELE: marks the message; it goes at QUIT.
    pub(super) fn dele(&mut self, n: u32) {
        let Phase::Transaction(m) = &mut self.phase else {
            return;
        };
        let reply = match m.index(n) {
            Ok(i) => {
                m.deleted[i] = true;
                Ok(format!("message {n} deleted"))
            }
            Err(text) => Err(text),
        };
        match reply {
            Ok(text) => self.ok(&text),
            Err(text) => self.err(None, &text),
        }
    }

    /// RFC 1939 §5 RSET: unmarks every message.
    pub(super) fn rset(&mut self) {
        let Phase::Transaction(m) = &mut self.phase else {
            return;
        };
        m.deleted.iter_mut().for_each(|d| *d = false);
        let (count, size) = m.totals();
        self.ok(&format!("maildrop has {count} messages ({size} octets)"));
    }

    /// RFC 1939 §6: QUIT in TRANSACTION removes the messages marked as
    /// deleted, as an IMAP EXPUNGE would (tombstones, so `aox undelete` can
    /// restore them), in one transaction: all of them or none.
    pub(super) async fn update(&mut self) {
        let Some(m) = self.maildrop() else { return };
        let (user, mailbox) = (m.user, m.mailbox);
        let uids = UidSet::from_values(
            m.messages
                .iter()
                .zip(&m.deleted)
                .filter(|(_, deleted)| **deleted)
                .map(|((uid, _), _)| *uid),
        );
        if uids.is_empty() {
            self.ok("archiveopteryx POP3 server signing off");
            return;
        }
        let Some(mut client) = self.db().await else {
            return;
        };
        match crate::store::pop3::remove(&mut client, user, mailbox, &uids, user).await {
            Ok(done) => {
                tracing::info!(
                    removed = done.gone.len(),
                    retained = done.retained.len(),
                    "maildrop updated"
                );
                // RFC 1939 §6 lets QUIT's +OK say what happened; messages a
                // retention policy keeps were not removed and are counted apart.
                let deleted = uids.len().saturating_sub(done.retained.len());
                let text = if done.retained.is_empty() {
                    format!("archiveopteryx POP3 server signing off ({deleted} messages deleted)")
                } else {
                    format!(
                        "archiveopteryx POP3 server signing off ({deleted} messages deleted, {} kept by retention policy)",
                        done.retained.len()
                    )
                };
                self.ok(&text);
            }
            Err(e) => {
                tracing::warn!(error = %e, "maildrop update failed");
                // RFC 1939 §6 gives this very reply for a failed update.
                self.err(Some("SYS/TEMP"), "some deleted messages not removed");
            }
        }
    }
}
