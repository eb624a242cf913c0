//! STATUS (RFC 9051 §6.3.11): read from the counters on the mailbox row, so
//! it costs one indexed lookup whatever the mailbox holds.

use super::{Done, Session};
use crate::imap::proto::command::StatusItem;

impl Session {
    pub(super) async fn status(&mut self, raw: &str, items: &[StatusItem]) -> Done {
        let name = match self.mailbox_arg(raw) {
            Ok(n) => n,
            Err(done) => return done,
        };
        match self.status_of(&name, items).await {
            Ok(()) => Done::ok("STATUS completed"),
            Err(done) => done,
        }
    }

    /// Writes `* STATUS name (…)` for one mailbox.
    pub(super) async fn status_of(&mut self, name: &str, items: &[StatusItem]) -> Result<(), Done> {
        let client = self.db().await?;
        let st = crate::store::select::mailbox_state(&**client, self.user_id(), name)
            .await
            .map_err(|e| super::store_failure(&e))?;
        let recent = if items.contains(&StatusItem::Recent) {
            crate::store::select::recent_count(&**client, self.user_id(), st.mailbox)
                .await
                .map_err(|e| super::store_failure(&e))?
        } else {
            0
        };
        drop(client);
        let mut parts = Vec::new();
        for item in items {
            let (label, value) = match item {
                StatusItem::Messages => ("MESSAGES", st.message_count.to_string()),
                // \Recent belongs to the session that selects first; STATUS
                // does not claim it, but counts what is still unclaimed.
                StatusItem::Recent => ("RECENT", recent.to_string()),
                StatusItem::UidNext => ("UIDNEXT", st.uidnext.to_string()),
                StatusItem::UidValidity => ("UIDVALIDITY", st.uidvalidity.to_string()),
                StatusItem::Unseen => ("UNSEEN", st.unseen_count.to_string()),
                StatusItem::Deleted => ("DELETED", st.deleted_count.to_string()),
                StatusItem::Size => ("SIZE", st.total_size.to_string()),
                StatusItem::HighestModSeq => ("HIGHESTMODSEQ", st.highest_modseq.to_string()),
                StatusItem::AppendLimit => ("APPENDLIMIT", self.append_limit().to_string()),
                StatusItem::MailboxId => ("MAILBOXID", format!("(B{})", st.mailbox)),
            };
            parts.push(format!("{label} {value}"));
        }
        let mut line = b"* STATUS ".to_vec();
        line.extend_from_slice(&self.mailbox_out(&st.name));
        line.extend_from_slice(format!(" ({})\r\n", parts.join(" ")).as_bytes());
        self.out.extend_from_slice(&line);
        Ok(())
    }
}
