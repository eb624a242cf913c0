//! SELECT and EXAMINE (RFC 9051 §6.3.2–3) with CONDSTORE and QRESYNC
//! (RFC 7162 §3.1.8, §3.2.5), CLOSE and UNSELECT (RFC 9051 §6.4.1, RFC 3691).

use super::{Done, Selected, Session};
use crate::imap::proto::command::QresyncParams;
use crate::imap::proto::mutf7;
use crate::store::mailboxes::canonical_name;
use crate::uidset::{MsnMap, UidSet};

impl Session {
    /// A mailbox argument as the store names it: decoded from modified
    /// UTF-7 unless the client enabled UTF8=ACCEPT, and canonical.
    pub(super) fn mailbox_arg(&self, raw: &str) -> Result<String, Done> {
        let decoded = if self.enabled.utf8 {
            raw.to_owned()
        } else {
            mutf7::decode(raw)
                .map_err(|_| Done::bad("the mailbox name is not valid modified UTF-7"))?
        };
        canonical_name(&decoded).map_err(|e| Done::no("CANNOT", e.to_string()))
    }

    /// The name as the client reads it.
    pub(super) fn mailbox_out(&self, name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        crate::imap::proto::write::mailbox(&mut out, name, self.enabled.utf8);
        out
    }

    pub(super) async fn select(
        &mut self,
        raw: &str,
        read_only: bool,
        condstore: bool,
        qresync: Option<QresyncParams>,
    ) -> Done {
        // RFC 7162 §3.2.11: a client that enabled QRESYNC learns that the
        // old mailbox is closed before anything about the new one.
        if self.selected.take().is_some() && self.enabled.qresync {
            self.untagged("OK [CLOSED] previous mailbox closed");
        }
        if qresync.is_some() && !self.enabled.qresync {
            return Done::bad("QRESYNC must be enabled first (RFC 7162 §3.2.3)");
        }
        if condstore {
            self.enabled.condstore = true;
        }
        let name = match self.mailbox_arg(raw) {
            Ok(n) => n,
            Err(done) => return done,
        };
        let mut client = match self.db().await {
            Ok(c) => c,
            Err(done) => return done,
        };
        let snap = match crate::store::select::select(
            &mut client,
            self.user_id(),
            &name,
            !read_only,
        )
        .await
        {
            Ok(s) => s,
            Err(e) => return super::store_failure(&e),
        };
        let mut keywords = snap.keywords.clone();
        keywords.sort();
        let system = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";
        let kw = keywords.join(" ");
        let sep = if kw.is_empty() { "" } else { " " };
        self.untagged(&format!("FLAGS ({system}{sep}{kw})"));
        if read_only {
            self.untagged("OK [PERMANENTFLAGS ()] read-only mailbox");
        } else {
            self.untagged(&format!(
                "OK [PERMANENTFLAGS ({system}{sep}{kw} \\*)] flags permitted"
            ));
        }
        let msns = MsnMap::new(snap.uids.clone());
        self.untagged(&format!("{} EXISTS", msns.len()));
        self.untagged(&format!("{} RECENT", snap.recent.len()));
        if let Some(msn) = snap.first_unseen.and_then(|uid| msns.msn(uid)) {
            self.untagged(&format!("OK [UNSEEN {msn}] first unseen"));
        }
        let st = &snap.state;
        self.untagged(&format!("OK [UIDVALIDITY {}] UIDs valid", st.uidvalidity));
        self.untagged(&format!("OK [UIDNEXT {}] predicted next UID", st.uidnext));
        self.untagged(&format!("OK [HIGHESTMODSEQ {}] highest", st.highest_modseq));
        self.untagged(&format!("OK [MAILBOXID (B{})] mailbox id", st.mailbox));
        self.keywords.clear();
        self.selected = Some(Selected {
            id: st.mailbox,
            name: st.name.clone(),
            read_only,
            uidvalidity: st.uidvalidity,
            uidnext: st.uidnext,
            modseq: st.highest_modseq,
            msns,
            recent: snap.recent.clone(),
            dirty: false,
        });
        if let Some(q) = qresync
            && q.uidvalidity == st.uidvalidity
        {
            let known = match &q.known_uids {
                Some(set) => set.resolve(st.uidnext.saturating_sub(1)),
                None => UidSet::from_ranges([(1, st.uidnext.saturating_sub(1))]),
            };
            let known =
                known.intersection(&UidSet::from_ranges([(1, st.uidnext.saturating_sub(1))]));
            match crate::store::changes::changes_since(
                &**client,
                self.user_id(),
                st.mailbox,
                q.modseq,
                &known,
                st.uidnext,
            )
            .await
            {
                Ok(changes) => {
                    if !changes.expunged.is_empty() {
                        self.untagged(&format!(
                            "VANISHED (EARLIER) {}",
                            changes.expunged.to_imap()
                        ));
                    }
                    for entry in &changes.flags {
                        self.flags_update(entry, true).await;
                    }
                }
                Err(e) => return super::store_failure(&e),
            }
        }
        if read_only {
            Done::ok_code("READ-ONLY", "EXAMINE completed")
        } else {
            Done::ok_code("READ-WRITE", "SELECT completed")
        }
    }

    /// CLOSE (expunge first, silently, unless read-only) or UNSELECT.
    pub(super) async fn close(&mut self, expunge: bool) -> Done {
        let Some(sel) = self.selected.take() else {
            return Done::bad("no mailbox is selected");
        };
        if expunge && !sel.read_only {
            let mut client = match self.db().await {
                Ok(c) => c,
                Err(done) => return done,
            };
            let user = self.user_id();
            match crate::store::expunge::expunge(&mut client, user, sel.id, None, user, "expunge")
                .await
            {
                // RFC 9051 §6.4.1: CLOSE sends no EXPUNGE responses, but a
                // warning that some messages stayed is an untagged NO, which
                // is allowed at any time (§7.1.2).
                Ok(done) => self.retention_warning(done.retained.len()),
                Err(e) => return super::store_failure(&e),
            }
        }
        Done::ok("closed")
    }
}
