//! FETCH and UID FETCH (RFC 9051 §6.4.5) with CHANGEDSINCE and VANISHED
//! (RFC 7162 §3.1.4, §3.2.6). The set is served in chunks, each one query
//! for entries and messages, one for parts when a body is wanted, and the
//! body parts a chunk needs; responses are flushed as they grow, so 1:* on a
//! million messages never sits in memory whole.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

use super::{Done, Session, Writer};
use crate::imap::proto::command::{FetchItem, Section, SectionText};
use crate::mime::section::{self as msection, SectionSpec};
use crate::search::Flag;
use crate::store::fetch::{FetchRow, FetchWanted, chunks, fetch};
use crate::store::flags::{FlagOp, store_flags};
use crate::uidset::{SequenceSet, UidSet};

/// Messages per query when bodies are served (their parts come along).
const CHUNK: u64 = 500;
/// Messages per query when only entry data and precomputed texts are asked
/// for: bigger chunks spread the per-query cost thinner on 1:*.
const META_CHUNK: u64 = 5000;
/// Bytes of messages whose body parts are loaded at once.
const BODY_BATCH: u64 = 8 * 1024 * 1024;

fn section_name(section: &Section) -> String {
    let mut s: String = section
        .part
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".");
    if let Some(text) = &section.text {
        if !s.is_empty() {
            s.push('.');
        }
        match text {
            SectionText::Header => s.push_str("HEADER"),
            SectionText::Text => s.push_str("TEXT"),
            SectionText::Mime => s.push_str("MIME"),
            SectionText::HeaderFields(f) => {
                let _ = write!(s, "HEADER.FIELDS ({})", f.join(" "));
            }
            SectionText::HeaderFieldsNot(f) => {
                let _ = write!(s, "HEADER.FIELDS.NOT ({})", f.join(" "));
            }
        }
    }
    s
}

fn spec(section: &Section) -> SectionSpec<'_> {
    SectionSpec {
        part: &section.part,
        text: section.text.as_ref().map(|t| match t {
            SectionText::Header => msection::SectionText::Header,
            SectionText::Text => msection::SectionText::Text,
            SectionText::Mime => msection::SectionText::Mime,
            SectionText::HeaderFields(f) => msection::SectionText::HeaderFields(f),
            SectionText::HeaderFieldsNot(f) => msection::SectionText::HeaderFieldsNot(f),
        }),
    }
}

/// The sections an item serves, with whether it sets \Seen.
fn item_section(item: &FetchItem) -> Option<(Section, bool)> {
    match item {
        FetchItem::Rfc822 => Some((Section::default(), true)),
        FetchItem::Rfc822Header => Some((
            Section {
                part: vec![],
                text: Some(SectionText::Header),
            },
            false,
        )),
        FetchItem::Rfc822Text => Some((
            Section {
                part: vec![],
                text: Some(SectionText::Text),
            },
            true,
        )),
        FetchItem::BodySection { peek, section, .. } => Some((section.clone(), !peek)),
        _ => None,
    }
}

fn literal(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", bytes.len()).as_bytes());
    out.extend_from_slice(bytes);
}

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn fetch(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        items: &[FetchItem],
        changed_since: Option<u64>,
        vanished: bool,
        w: &mut Writer<'_>,
    ) -> std::io::Result<Done> {
        if vanished && !(uid && changed_since.is_some() && self.enabled.qresync) {
            return Ok(Done::bad(
                "VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC enabled (RFC 7162 §3.2.6)",
            ));
        }
        let uids = match self.resolve(uid, set) {
            Ok(u) => u,
            Err(done) => return Ok(done),
        };
        let Some(sel) = self.selected.as_ref() else {
            return Ok(Done::bad("select a mailbox first"));
        };
        let (mailbox, read_only) = (sel.id, sel.read_only);
        let known = sel.msns.uids().clone();
        if changed_since.is_some() {
            self.enabled.condstore = true;
        }
        let mut items: Vec<FetchItem> = items.to_vec();
        if uid && !items.contains(&FetchItem::Uid) {
            items.insert(0, FetchItem::Uid);
        }
        // RFC 7162 §3.1: once CONDSTORE is enabled, every untagged FETCH
        // response carries MODSEQ, asked for or not.
        if self.enabled.condstore && !items.contains(&FetchItem::ModSeq) {
            items.push(FetchItem::ModSeq);
        }
        let sets_seen = !read_only
            && items
                .iter()
                .any(|i| item_section(i).is_some_and(|(_, seen)| seen));
        let user = self.user_id();
        let mut client = match self.db().await {
            Ok(c) => c,
            Err(done) => return Ok(done),
        };
        if vanished && let Some(since) = changed_since {
            let largest = uids.last().unwrap_or(0);
            let asked = set.resolve(largest.max(known.last().unwrap_or(0)));
            match crate::store::changes::changes_since(
                &**client,
                user,
                mailbox,
                since,
                &asked,
                u32::MAX,
            )
            .await
            {
                Ok(c) if !c.expunged.is_empty() => {
                    self.untagged(&format!("VANISHED (EARLIER) {}", c.expunged.to_imap()));
                }
                Ok(_) => {}
                Err(e) => return Ok(super::store_failure(&e)),
            }
        }
        // \Seen is set before the fetch, so the rows carry it (RFC 9051
        // §6.4.5: the FLAGS then go out with the data).
        let mut seen_now = UidSet::new();
        if sets_seen && !uids.is_empty() {
            match store_flags(
                &mut client,
                user,
                mailbox,
                &uids,
                FlagOp::Add,
                &[Flag::Seen],
                None,
            )
            .await
            {
                Ok(o) => {
                    seen_now = UidSet::from_values(o.changed.iter().map(|e| e.uid));
                    if let Some(sel) = self.selected.as_mut() {
                        if o.modseq == sel.modseq + 1 && !sel.dirty {
                            sel.modseq = o.modseq;
                        } else if o.modseq > sel.modseq {
                            sel.dirty = true;
                        }
                    }
                }
                Err(e) => return Ok(super::store_failure(&e)),
            }
        }
        let wants_sections = items.iter().any(|i| item_section(i).is_some());
        let wanted = FetchWanted {
            envelope: items.contains(&FetchItem::Envelope),
            bodystructure: items.contains(&FetchItem::BodyStructure),
            body: items.contains(&FetchItem::Body),
            parts: wants_sections,
            thread: items.contains(&FetchItem::ThreadId),
            modseq_filter: changed_since,
        };
        let chunk_size = if wants_sections { CHUNK } else { META_CHUNK };
        for chunk in chunks(&uids, &known, chunk_size) {
            let rows = match fetch(&**client, user, mailbox, &chunk, &wanted).await {
                Ok(r) => r,
                Err(e) => return Ok(super::store_failure(&e)),
            };
            let mut start = 0;
            while start < rows.len() {
                // A batch of rows whose body parts are loaded together.
                let mut end = start;
                let mut bytes = 0u64;
                while end < rows.len()
                    && (end == start || bytes + rows[end].rfc822_size <= BODY_BATCH)
                {
                    bytes += rows[end].rfc822_size;
                    end += 1;
                }
                let batch = &rows[start..end];
                let data = if wants_sections {
                    let mut hashes: Vec<[u8; 32]> = Vec::new();
                    for row in batch {
                        for item in &items {
                            if let Some((section, _)) = item_section(item) {
                                hashes.extend(msection::needed(&row.parts, &spec(&section)));
                            }
                        }
                    }
                    hashes.sort_unstable();
                    hashes.dedup();
                    match crate::store::messages::bodypart_data(&**client, &hashes).await {
                        Ok(d) => d,
                        Err(e) => return Ok(super::store_failure(&e)),
                    }
                } else {
                    HashMap::new()
                };
                for row in batch {
                    self.fetch_response(row, &items, &data, seen_now.contains(row.uid))
                        .await;
                    self.flush_some(w).await?;
                }
                start = end;
            }
        }
        drop(client);
        self.sync(w, uid).await?;
        Ok(Done::ok("FETCH completed"))
    }

    async fn fetch_response(
        &mut self,
        row: &FetchRow,
        items: &[FetchItem],
        data: &HashMap<[u8; 32], Vec<u8>>,
        flags_changed: bool,
    ) {
        let Some(msn) = self.selected.as_ref().and_then(|s| s.msns.msn(row.uid)) else {
            return;
        };
        let mut out: Vec<u8> = format!("* {msn} FETCH (").into_bytes();
        let mut first = true;
        let mut sent_flags = false;
        let leaves = |h: &[u8; 32]| data.get(h).map(|v| Cow::Borrowed(v.as_slice()));
        for item in items {
            if !first {
                out.push(b' ');
            }
            first = false;
            match item {
                FetchItem::Uid => out.extend_from_slice(format!("UID {}", row.uid).as_bytes()),
                FetchItem::Flags => {
                    let flags = self.flag_list(row.uid, row.flags, &row.keywords).await;
                    out.extend_from_slice(format!("FLAGS {flags}").as_bytes());
                    sent_flags = true;
                }
                FetchItem::InternalDate => {
                    out.extend_from_slice(b"INTERNALDATE ");
                    crate::imap::proto::write::date_time(&mut out, row.internal_date);
                }
                FetchItem::Rfc822Size => {
                    out.extend_from_slice(format!("RFC822.SIZE {}", row.rfc822_size).as_bytes());
                }
                FetchItem::Envelope => {
                    out.extend_from_slice(b"ENVELOPE ");
                    out.extend_from_slice(row.envelope.as_deref().unwrap_or("NIL").as_bytes());
                }
                FetchItem::BodyStructure => {
                    out.extend_from_slice(b"BODYSTRUCTURE ");
                    out.extend_from_slice(row.bodystructure.as_deref().unwrap_or("NIL").as_bytes());
                }
                FetchItem::Body => {
                    out.extend_from_slice(b"BODY ");
                    out.extend_from_slice(row.body.as_deref().unwrap_or("NIL").as_bytes());
                }
                FetchItem::ModSeq => {
                    out.extend_from_slice(format!("MODSEQ ({})", row.modseq).as_bytes())
                }
                FetchItem::EmailId => {
                    out.extend_from_slice(format!("EMAILID (M{})", row.message_id).as_bytes())
                }
                FetchItem::ThreadId => match row.thread_id {
                    Some(t) => out.extend_from_slice(format!("THREADID (T{t})").as_bytes()),
                    None => out.extend_from_slice(b"THREADID NIL"),
                },
                FetchItem::Rfc822 | FetchItem::Rfc822Header | FetchItem::Rfc822Text => {
                    let name = match item {
                        FetchItem::Rfc822 => "RFC822",
                        FetchItem::Rfc822Header => "RFC822.HEADER",
                        _ => "RFC822.TEXT",
                    };
                    let bytes = item_section(item)
                        .and_then(|(s, _)| {
                            msection::section(&row.parts, &leaves, &spec(&s))
                                .ok()
                                .flatten()
                        })
                        .unwrap_or_default();
                    out.extend_from_slice(name.as_bytes());
                    out.push(b' ');
                    literal(&mut out, &bytes);
                }
                FetchItem::BodySection {
                    section, partial, ..
                } => {
                    let bytes = match msection::section(&row.parts, &leaves, &spec(section)) {
                        Ok(b) => b.unwrap_or_default(),
                        Err(e) => {
                            tracing::warn!(uid = row.uid, error = %e, "cannot serve a section");
                            Vec::new()
                        }
                    };
                    out.extend_from_slice(format!("BODY[{}]", section_name(section)).as_bytes());
                    match partial {
                        Some((offset, len)) => {
                            out.extend_from_slice(format!("<{offset}> ").as_bytes());
                            literal(&mut out, msection::partial(&bytes, *offset, *len));
                        }
                        None => {
                            out.push(b' ');
                            literal(&mut out, &bytes);
                        }
                    }
                }
            }
        }
        if flags_changed && !sent_flags {
            let flags = self.flag_list(row.uid, row.flags, &row.keywords).await;
            out.extend_from_slice(format!(" FLAGS {flags}").as_bytes());
        }
        out.extend_from_slice(b")\r\n");
        self.out.extend_from_slice(&out);
    }
}
