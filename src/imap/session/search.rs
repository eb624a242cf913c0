//! SEARCH and UID SEARCH (RFC 9051 §6.4.4) with ESEARCH's RETURN options
//! (RFC 4731): the session turns sequence numbers and \Recent into UID
//! ranges, and the store compiles the whole tree into one statement.

use super::{Done, Session, Writer};
use crate::imap::proto::command::SearchReturn;
use crate::search::{Flag, SearchKey};
use crate::uidset::UidSet;

impl Session {
    /// The tree with every session-relative key made absolute.
    fn absolute(&self, key: SearchKey) -> SearchKey {
        let Some(sel) = self.selected.as_ref() else {
            return key;
        };
        key.map(&mut |k| match k {
            SearchKey::Seq(set) => {
                SearchKey::UidRanges(sel.msns.uids_of(&set.resolve(sel.msns.len())))
            }
            SearchKey::Uid(set) => {
                let largest = sel.msns.uids().last().unwrap_or(0);
                SearchKey::UidRanges(set.resolve(largest))
            }
            SearchKey::Recent => SearchKey::UidRanges(sel.recent.clone()),
            SearchKey::New => SearchKey::And(vec![
                SearchKey::UidRanges(sel.recent.clone()),
                SearchKey::NotFlag(Flag::Seen),
            ]),
            SearchKey::Old => SearchKey::Not(Box::new(SearchKey::UidRanges(sel.recent.clone()))),
            other => other,
        })
    }

    pub(super) async fn search(
        &mut self,
        tag: &str,
        uid: bool,
        ret: Option<Vec<SearchReturn>>,
        key: SearchKey,
        w: &mut Writer<'_>,
    ) -> std::io::Result<Done> {
        let mut uses_modseq = false;
        key.walk(&mut |k| uses_modseq |= matches!(k, SearchKey::ModSeq(_)));
        if uses_modseq {
            self.enabled.condstore = true;
        }
        let key = self.absolute(key);
        let Some(sel) = self.selected.as_ref() else {
            return Ok(Done::bad("select a mailbox first"));
        };
        let mailbox = sel.id;
        let client = match self.db().await {
            Ok(c) => c,
            Err(done) => return Ok(done),
        };
        let found = if uses_modseq {
            crate::store::search::search_with_modseq(&**client, self.user_id(), mailbox, &key).await
        } else {
            crate::store::search::search(&**client, self.user_id(), mailbox, &key)
                .await
                .map(|uids| uids.into_iter().map(|u| (u, 0)).collect())
        };
        let found = match found {
            Ok(f) => f,
            Err(e) => return Ok(super::store_failure(&e)),
        };
        drop(client);
        let Some(sel) = self.selected.as_ref() else {
            return Ok(Done::bad("select a mailbox first"));
        };
        // Messages the client has not been told of yet are left out.
        let found: Vec<(u32, u64)> = found
            .into_iter()
            .filter(|(u, _)| sel.msns.uids().contains(*u))
            .collect();
        // RFC 7162 §3.1.5: a search with a MODSEQ key answers with the
        // highest modseq of the messages it returns (none when none match).
        let modseq = found.iter().map(|(_, m)| *m).max().filter(|_| uses_modseq);
        let numbers: Vec<u32> = if uid {
            found.into_iter().map(|(u, _)| u).collect()
        } else {
            found
                .into_iter()
                .filter_map(|(u, _)| sel.msns.msn(u))
                .collect()
        };
        match ret {
            None => {
                let mut line = String::from("SEARCH");
                for n in &numbers {
                    line.push(' ');
                    line.push_str(&n.to_string());
                }
                if let Some(m) = modseq {
                    line.push_str(&format!(" (MODSEQ {m})"));
                }
                self.untagged(&line);
            }
            Some(options) => {
                let options = if options.is_empty() {
                    vec![SearchReturn::All]
                } else {
                    options
                };
                let mut line = format!("ESEARCH (TAG \"{tag}\")");
                if uid {
                    line.push_str(" UID");
                }
                if !numbers.is_empty() {
                    for o in &options {
                        match o {
                            SearchReturn::Min => line.push_str(&format!(" MIN {}", numbers[0])),
                            SearchReturn::Max => {
                                line.push_str(&format!(" MAX {}", numbers[numbers.len() - 1]));
                            }
                            SearchReturn::Count => {
                                line.push_str(&format!(" COUNT {}", numbers.len()))
                            }
                            SearchReturn::All => line.push_str(&format!(
                                " ALL {}",
                                UidSet::from_values(numbers.iter().copied()).to_imap()
                            )),
                        }
                    }
                } else if options.contains(&SearchReturn::Count) {
                    line.push_str(" COUNT 0");
                }
                if let Some(m) = modseq {
                    line.push_str(&format!(" MODSEQ {m}"));
                }
                self.untagged(&line);
            }
        }
        self.sync(w, uid).await?;
        Ok(Done::ok("SEARCH completed"))
    }
}
