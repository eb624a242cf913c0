//! RETR and TOP (RFC 1939 §5, §7): the message is served from the same rows
//! and by the same code as IMAP's BODY[] (so the two protocols give the
//! same bytes), byte-stuffed and sent in pieces as the buffer fills.

use std::borrow::Cow;

use super::{Session, Writer};
use crate::mime::section::{self as msection, SectionSpec};
use crate::pop3::wire::{Stuffer, top};
use crate::store::fetch::{FetchWanted, fetch};
use crate::uidset::UidSet;

/// Bytes of the message stuffed at a time.
const PIECE: usize = 64 * 1024;

impl Session {
    /// RETR n (`lines` None) or TOP n lines.
    pub(super) async fn retrieve(
        &mut self,
        n: u32,
        lines: Option<u64>,
        w: &mut Writer<'_>,
    ) -> std::io::Result<()> {
        let Some(m) = self.maildrop() else {
            return Ok(());
        };
        let (user, mailbox) = (m.user, m.mailbox);
        let uid = match m.index(n) {
            Ok(i) => m.messages[i].0,
            Err(text) => {
                self.err(None, &text);
                return Ok(());
            }
        };
        let Some(message) = self.message_bytes(user, mailbox, uid, n).await else {
            return Ok(());
        };
        let body = match lines {
            Some(k) => {
                self.ok("top of message follows");
                top(&message, k)
            }
            None => {
                self.ok(&format!("{} octets", message.len()));
                &message[..]
            }
        };
        let mut stuffer = Stuffer::new();
        for piece in body.chunks(PIECE) {
            stuffer.push(piece, &mut self.out);
            self.flush_some(w).await?;
        }
        stuffer.finish(&mut self.out);
        Ok(())
    }

    /// The message as IMAP serves BODY[], or None with an `-ERR` written.
    async fn message_bytes(
        &mut self,
        user: i64,
        mailbox: i64,
        uid: u32,
        n: u32,
    ) -> Option<Vec<u8>> {
        let client = self.db().await?;
        let wanted = FetchWanted {
            parts: true,
            ..FetchWanted::default()
        };
        let rows = match fetch(
            &**client,
            user,
            mailbox,
            &UidSet::from_values([uid]),
            &wanted,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, uid, "fetch failed");
                self.unavailable();
                return None;
            }
        };
        let Some(row) = rows.into_iter().next() else {
            // Expunged meanwhile, by IMAP or another POP3 session.
            self.err(
                None,
                &format!("message {n} has been removed by another session"),
            );
            return None;
        };
        let whole = SectionSpec {
            part: &[],
            text: None,
        };
        let hashes = msection::needed(&row.parts, &whole);
        let data = match crate::store::messages::bodypart_data(&**client, &hashes).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, uid, "body part fetch failed");
                self.unavailable();
                return None;
            }
        };
        drop(client);
        let leaves = |h: &[u8; 32]| data.get(h).map(|v| Cow::Borrowed(v.as_slice()));
        match msection::section(&row.parts, &leaves, &whole) {
            Ok(Some(bytes)) => Some(bytes),
            Ok(None) => {
                tracing::warn!(uid, "a stored message has no top-level part");
                self.err(Some("SYS/PERM"), &format!("message {n} cannot be served"));
                None
            }
            Err(e) => {
                tracing::warn!(uid, error = %e, "cannot render a stored message");
                self.err(Some("SYS/PERM"), &format!("message {n} cannot be served"));
                None
            }
        }
    }
}
