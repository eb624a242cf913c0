//! STORE and UID STORE (RFC 9051 §6.4.6) with UNCHANGEDSINCE (RFC 7162
//! §3.1.3): one UPDATE whatever the set, then FETCH responses for the set.

use super::{Done, Session, Writer};
use crate::imap::proto::command::StoreMode;
use crate::search::Flag;
use crate::store::fetch::{FetchWanted, chunks, fetch};
use crate::store::flags::{EntryFlags, FlagOp, store_flags, store_flags_silent};
use crate::uidset::{SequenceSet, UidSet};

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn store(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        unchanged_since: Option<u64>,
        mode: StoreMode,
        silent: bool,
        flags: &[Flag],
        w: &mut Writer<'_>,
    ) -> std::io::Result<Done> {
        let uids = match self.resolve(uid, set) {
            Ok(u) => u,
            Err(done) => return Ok(done),
        };
        let Some(sel) = self.selected.as_ref() else {
            return Ok(Done::bad("select a mailbox first"));
        };
        if sel.read_only {
            return Ok(Done::no("READ-ONLY", "the mailbox is read-only"));
        }
        if unchanged_since.is_some() {
            self.enabled.condstore = true;
        }
        let (mailbox, known_modseq) = (sel.id, sel.modseq);
        let op = match mode {
            StoreMode::Add => FlagOp::Add,
            StoreMode::Remove => FlagOp::Remove,
            StoreMode::Replace => FlagOp::Replace,
        };
        let mut client = match self.db().await {
            Ok(c) => c,
            Err(done) => return Ok(done),
        };
        let user = self.user_id();
        let outcome = if uids.is_empty() {
            None
        } else {
            let stored = if silent && unchanged_since.is_none() {
                store_flags_silent(&mut client, user, mailbox, &uids, op, flags).await
            } else {
                store_flags(
                    &mut client,
                    user,
                    mailbox,
                    &uids,
                    op,
                    flags,
                    unchanged_since,
                )
                .await
            };
            match stored {
                Ok(o) => Some(o),
                Err(e) => return Ok(super::store_failure(&e)),
            }
        };
        let Some(outcome) = outcome else {
            return Ok(Done::ok("STORE completed"));
        };
        // Our own change was the only one since the client was last told:
        // nothing more to tell later. Otherwise the next sync tells all.
        if let Some(sel) = self.selected.as_mut() {
            if outcome.modseq == known_modseq + 1 && !sel.dirty {
                sel.modseq = outcome.modseq;
            } else if outcome.modseq > known_modseq {
                sel.dirty = true;
            }
        }
        // RFC 9051 §6.4.6: without .SILENT the client gets the flags of
        // every message in the set; with UNCHANGEDSINCE (RFC 7162 §3.1.3) it
        // gets them for the changed ones even with .SILENT.
        let changed_set = UidSet::from_values(outcome.changed.iter().map(|e| e.uid));
        if !silent || unchanged_since.is_some() {
            for entry in &outcome.changed {
                self.flags_update(entry, uid).await;
                self.flush_some(w).await?;
            }
        }
        if !silent {
            let rest = uids.difference(&changed_set).difference(&outcome.modified);
            let known = self
                .selected
                .as_ref()
                .map(|s| s.msns.uids().clone())
                .unwrap_or_default();
            let wanted = FetchWanted {
                envelope: false,
                bodystructure: false,
                body: false,
                parts: false,
                thread: false,
                modseq_filter: None,
            };
            for chunk in chunks(&rest, &known, 1000) {
                let rows = match fetch(&**client, user, mailbox, &chunk, &wanted).await {
                    Ok(r) => r,
                    Err(e) => return Ok(super::store_failure(&e)),
                };
                for row in rows {
                    let entry = EntryFlags {
                        uid: row.uid,
                        modseq: row.modseq,
                        flags: row.flags,
                        keywords: row.keywords,
                    };
                    self.flags_update(&entry, uid).await;
                    self.flush_some(w).await?;
                }
            }
        }
        drop(client);
        self.sync(w, uid).await?;
        if outcome.modified.is_empty() {
            return Ok(Done::ok("STORE completed"));
        }
        let modified = if uid {
            outcome.modified.to_imap()
        } else {
            let sel = self.selected.as_ref();
            UidSet::from_values(
                outcome
                    .modified
                    .iter()
                    .filter_map(|u| sel.and_then(|s| s.msns.msn(u))),
            )
            .to_imap()
        };
        Ok(Done::ok_code(
            format!("MODIFIED {modified}"),
            "conditional STORE failed for some messages",
        ))
    }
}
