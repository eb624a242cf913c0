//! COPY, MOVE and their UID forms (RFC 9051 §6.4.7–8, RFC 6851, RFC 4315
//! COPYUID): entries are copied set-based; no content is copied.

use super::{Done, Session, Writer};
use crate::uidset::SequenceSet;

impl Session {
    pub(super) async fn copy(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        raw: &str,
        is_move: bool,
        w: &mut Writer<'_>,
    ) -> std::io::Result<Done> {
        let uids = match self.resolve(uid, set) {
            Ok(u) => u,
            Err(done) => return Ok(done),
        };
        let Some(sel) = self.selected.as_ref() else {
            return Ok(Done::bad("select a mailbox first"));
        };
        if is_move && sel.read_only {
            return Ok(Done::no("READ-ONLY", "the mailbox is read-only"));
        }
        let from = sel.id;
        let name = match self.mailbox_arg(raw) {
            Ok(n) => n,
            Err(done) => return Ok(done),
        };
        let mut client = match self.db().await {
            Ok(c) => c,
            Err(done) => return Ok(done),
        };
        let user = self.user_id();
        let to = match crate::store::select::mailbox_state(&**client, user, &name).await {
            Ok(st) => st.mailbox,
            Err(crate::store::StoreError::NotFound(_)) => {
                return Ok(Done::no("TRYCREATE", "no such mailbox; create it first"));
            }
            Err(e) => return Ok(super::store_failure(&e)),
        };
        if uids.is_empty() {
            return Ok(Done::ok("nothing to do"));
        }
        if is_move && to == from {
            return Ok(Done::no(
                "CANNOT",
                "the source and target mailbox are the same",
            ));
        }
        let copied = if is_move {
            crate::store::copy::move_messages(&mut client, user, from, &uids, to)
                .await
                .map(|m| m.copy)
        } else {
            crate::store::copy::copy(&mut client, user, from, &uids, to).await
        };
        drop(client);
        let copied = match copied {
            Ok(c) => c,
            Err(e) => return Ok(super::store_failure(&e)),
        };
        let copyuid = format!(
            "COPYUID {} {} {}",
            copied.uidvalidity,
            copied.source.to_imap(),
            copied.dest.to_imap()
        );
        if (is_move || to == from)
            && let Some(sel) = self.selected.as_mut()
        {
            sel.dirty = true;
        }
        if is_move {
            // RFC 6851 §4.3: COPYUID goes in an untagged OK before the
            // expunges.
            self.untagged(&format!("OK [{copyuid}] moved"));
            self.sync(w, true).await?;
            return Ok(Done::ok("MOVE completed"));
        }
        self.sync(w, uid).await?;
        Ok(Done::ok_code(copyuid, "COPY completed"))
    }
}
