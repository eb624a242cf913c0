//! APPEND (RFC 9051 §6.3.12) with MULTIAPPEND (RFC 3502: all or nothing, in
//! one transaction), UIDPLUS's APPENDUID (RFC 4315) and APPENDLIMIT (RFC
//! 7889). Every message goes through the same ingestion as LMTP and import.

use std::time::{SystemTime, UNIX_EPOCH};

use super::{Done, Session, Writer};
use crate::imap::proto::command::AppendMessage;
use crate::search::Flag;
use crate::store::inject::{NewMessage, SystemFlags};
use crate::uidset::UidSet;

/// System flags and keywords of a flag list.
pub(super) fn split_flags(flags: &[Flag]) -> (SystemFlags, Vec<String>) {
    let mut system = SystemFlags::default();
    let mut keywords = Vec::new();
    for f in flags {
        match f {
            Flag::Seen => system.seen = true,
            Flag::Answered => system.answered = true,
            Flag::Flagged => system.flagged = true,
            Flag::Deleted => system.deleted = true,
            Flag::Draft => system.draft = true,
            Flag::Keyword(k) => keywords.push(k.clone()),
        }
    }
    (system, keywords)
}

impl Session {
    pub(super) async fn append(
        &mut self,
        raw: &str,
        messages: Vec<AppendMessage>,
        w: &mut Writer<'_>,
    ) -> std::io::Result<Done> {
        let name = match self.mailbox_arg(raw) {
            Ok(n) => n,
            Err(done) => return Ok(done),
        };
        let limit = self.append_limit();
        if messages.iter().any(|m| m.data.len() as u64 > limit) {
            return Ok(Done::no("TOOBIG", format!("the limit is {limit} bytes")));
        }
        if messages.iter().any(|m| m.data.is_empty()) {
            return Ok(Done::bad("an empty message cannot be appended"));
        }
        let mut client = match self.db().await {
            Ok(c) => c,
            Err(done) => return Ok(done),
        };
        let user = self.user_id();
        let mailbox = match crate::store::select::mailbox_state(&**client, user, &name).await {
            Ok(st) => st.mailbox,
            Err(crate::store::StoreError::NotFound(_)) => {
                return Ok(Done::no("TRYCREATE", "no such mailbox; create it first"));
            }
            Err(e) => return Ok(super::store_failure(&e)),
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        // Parsing is CPU work: off the async threads.
        let batch = tokio::task::spawn_blocking(move || {
            messages
                .into_iter()
                .map(|m| {
                    let (flags, keywords) = split_flags(&m.flags);
                    let ingested = crate::mime::ingest(&m.data);
                    NewMessage::new(ingested, m.data, m.date.unwrap_or(now), flags, keywords)
                })
                .collect::<Vec<_>>()
        })
        .await;
        let Ok(batch) = batch else {
            return Ok(Done::no("SERVERBUG", "the message could not be processed"));
        };
        let injected = match crate::store::inject::inject(&mut client, user, mailbox, &batch).await
        {
            Ok(i) => i,
            Err(e) => return Ok(super::store_failure(&e)),
        };
        drop(client);
        let uids = UidSet::from_values(injected.uids.iter().filter_map(|u| u32::try_from(*u).ok()));
        if let Some(sel) = self.selected.as_mut()
            && sel.id == mailbox
        {
            sel.dirty = true;
            self.sync(w, true).await?;
        }
        Ok(Done::ok_code(
            format!("APPENDUID {} {}", injected.uidvalidity, uids.to_imap()),
            "APPEND completed",
        ))
    }
}
