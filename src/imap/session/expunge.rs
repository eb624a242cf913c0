//! EXPUNGE and UID EXPUNGE (RFC 9051 §6.4.3, RFC 4315 §2.1): one set-based
//! statement into the tombstones, then the client is told like any change.

use super::{Done, Session, Writer};
use crate::uidset::SequenceSet;

impl Session {
    pub(super) async fn expunge(
        &mut self,
        uids: Option<SequenceSet>,
        w: &mut Writer<'_>,
    ) -> std::io::Result<Done> {
        let Some(sel) = self.selected.as_ref() else {
            return Ok(Done::bad("select a mailbox first"));
        };
        if sel.read_only {
            return Ok(Done::no("READ-ONLY", "the mailbox is read-only"));
        }
        let mailbox = sel.id;
        let set = match uids.as_ref().map(|s| self.resolve(true, s)).transpose() {
            Ok(s) => s,
            Err(done) => return Ok(done),
        };
        if set.as_ref().is_some_and(|s| s.is_empty()) {
            return Ok(Done::ok("EXPUNGE completed (nothing to do)"));
        }
        let mut client = match self.db().await {
            Ok(c) => c,
            Err(done) => return Ok(done),
        };
        let user = self.user_id();
        let done = match crate::store::expunge::expunge(
            &mut client,
            user,
            mailbox,
            set.as_ref(),
            user,
            "expunge",
        )
        .await
        {
            Ok(done) => done,
            Err(e) => return Ok(super::store_failure(&e)),
        };
        drop(client);
        self.retention_warning(done.retained.len());
        if let Some(sel) = self.selected.as_mut() {
            sel.dirty = true;
        }
        self.sync(w, true).await?;
        Ok(Done::ok("EXPUNGE completed"))
    }

    /// What a client is told when a retention policy kept some of the
    /// messages an expunge would have removed: an untagged NO before the
    /// tagged OK for the rest. CANNOT (RFC 5530) because no retry or other
    /// right can make it succeed while the policy stands; NOPERM would send
    /// the user after ACL rights that do not exist, and EXPUNGEISSUED is
    /// about other sessions' expunges.
    pub(super) fn retention_warning(&mut self, kept: u64) {
        if kept > 0 {
            let noun = if kept == 1 { "message" } else { "messages" };
            self.untagged(&format!(
                "NO [CANNOT] {kept} {noun} kept by retention policy"
            ));
        }
    }
}
