//! Telling the client what other sessions changed (RFC 9051 §5.2, §7.5):
//! EXPUNGE (or VANISHED under QRESYNC), EXISTS and FETCH FLAGS, read from the
//! change log when a notification said the mailbox moved on.

use std::fmt::Write as _;

use super::{Session, Writer};
use crate::store::flags::EntryFlags;
use crate::store::inject::SystemFlags;

impl Session {
    /// Brings the client up to date. `allow_expunge` is false after FETCH,
    /// STORE and SEARCH by sequence number, where RFC 9051 §7.5.1 forbids
    /// EXPUNGE: the expunges then wait, and so does the modseq they carry.
    pub(super) async fn sync(
        &mut self,
        w: &mut Writer<'_>,
        allow_expunge: bool,
    ) -> std::io::Result<()> {
        let Some(sel) = self.selected.as_ref() else {
            return Ok(());
        };
        if !sel.dirty {
            return Ok(());
        }
        let (mailbox, since, uidnext) = (sel.id, sel.modseq, sel.uidnext);
        let known = sel.msns.uids().clone();
        let Ok(client) = self.state.pool.get().await else {
            return Ok(());
        };
        let changes = match crate::store::changes::changes_since(
            &**client,
            self.user_id(),
            mailbox,
            since,
            &known,
            uidnext,
        )
        .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read mailbox changes");
                return Ok(());
            }
        };
        drop(client);
        let qresync = self.enabled.qresync;
        let expunged = !changes.expunged.is_empty();
        if expunged && allow_expunge {
            if qresync {
                let line = format!("VANISHED {}", changes.expunged.to_imap());
                self.untagged(&line);
            } else {
                // Highest first, so each number is still right when sent.
                let msns: Vec<u32> = match self.selected.as_ref() {
                    Some(sel) => changes
                        .expunged
                        .iter()
                        .filter_map(|uid| sel.msns.msn(uid))
                        .collect(),
                    None => Vec::new(),
                };
                for msn in msns.iter().rev() {
                    self.untagged(&format!("{msn} EXPUNGE"));
                    self.flush_some(w).await?;
                }
            }
            if let Some(sel) = self.selected.as_mut() {
                sel.msns.remove(&changes.expunged);
                sel.recent = sel.recent.difference(&changes.expunged);
            }
        }
        if !changes.new_uids.is_empty() {
            let exists = match self.selected.as_mut() {
                Some(sel) => {
                    sel.msns.append(&changes.new_uids);
                    sel.uidnext = sel.uidnext.max(changes.uidnext);
                    sel.msns.len()
                }
                None => 0,
            };
            self.untagged(&format!("{exists} EXISTS"));
        }
        for entry in &changes.flags {
            self.flags_update(entry, true).await;
            self.flush_some(w).await?;
        }
        if let Some(sel) = self.selected.as_mut()
            && (allow_expunge || !expunged)
        {
            sel.modseq = sel.modseq.max(changes.highest_modseq);
            sel.dirty = false;
        }
        Ok(())
    }

    /// `* n FETCH (UID u FLAGS (…) MODSEQ (m))` for one changed entry.
    pub(super) async fn flags_update(&mut self, entry: &EntryFlags, with_uid: bool) {
        let Some(msn) = self.selected.as_ref().and_then(|s| s.msns.msn(entry.uid)) else {
            return;
        };
        let flags = self
            .flag_list(entry.uid, entry.flags, &entry.keywords)
            .await;
        let mut line = format!("{msn} FETCH (");
        if with_uid {
            let _ = write!(line, "UID {} ", entry.uid);
        }
        let _ = write!(line, "FLAGS {flags}");
        if self.enabled.condstore {
            let _ = write!(line, " MODSEQ ({})", entry.modseq);
        }
        line.push(')');
        self.untagged(&line);
    }

    /// A parenthesised flag list, `\Recent` included where it applies.
    pub(super) async fn flag_list(
        &mut self,
        uid: u32,
        flags: SystemFlags,
        keywords: &[i32],
    ) -> String {
        let mut names: Vec<String> = Vec::new();
        for (on, name) in [
            (flags.seen, "\\Seen"),
            (flags.answered, "\\Answered"),
            (flags.flagged, "\\Flagged"),
            (flags.deleted, "\\Deleted"),
            (flags.draft, "\\Draft"),
        ] {
            if on {
                names.push(name.to_owned());
            }
        }
        if self
            .selected
            .as_ref()
            .is_some_and(|s| s.recent.contains(uid))
        {
            names.push("\\Recent".to_owned());
        }
        for id in keywords {
            if let Some(name) = self.keyword_name(*id).await {
                names.push(name);
            }
        }
        format!("({})", names.join(" "))
    }
}
