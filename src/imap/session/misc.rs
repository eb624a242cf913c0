//! ENABLE (RFC 5161) and resolving sequence sets against the selected
//! mailbox.

use super::{Done, Session};
use crate::uidset::{SequenceSet, UidSet};

impl Session {
    pub(super) fn enable(&mut self, caps: &[String]) -> Done {
        let mut enabled = Vec::new();
        for cap in caps {
            match cap.to_ascii_uppercase().as_str() {
                "CONDSTORE" => {
                    self.enabled.condstore = true;
                    enabled.push("CONDSTORE");
                }
                // RFC 7162 §3.2.3: QRESYNC implies CONDSTORE.
                "QRESYNC" => {
                    self.enabled.qresync = true;
                    self.enabled.condstore = true;
                    enabled.push("QRESYNC");
                }
                "UTF8=ACCEPT" => {
                    self.enabled.utf8 = true;
                    enabled.push("UTF8=ACCEPT");
                }
                // Anything else (IMAP4rev2 among them) is not enabled, and
                // RFC 5161 §3.1 says to leave it out of the ENABLED list.
                _ => {}
            }
        }
        self.untagged(format!("ENABLED {}", enabled.join(" ")).trim_end());
        Done::ok("ENABLE completed")
    }

    /// The UIDs a command's set names among the messages the client knows.
    /// A sequence number beyond the last message is a BAD (RFC 9051 §6.4.8
    /// says the set must be valid); a UID set simply skips absent UIDs.
    pub(super) fn resolve(&self, uid: bool, set: &SequenceSet) -> Result<UidSet, Done> {
        let Some(sel) = self.selected.as_ref() else {
            return Err(Done::bad("select a mailbox first"));
        };
        if uid {
            let largest = sel.msns.uids().last().unwrap_or(0);
            Ok(set.resolve(largest).intersection(sel.msns.uids()))
        } else {
            let msns = set.resolve(sel.msns.len());
            if msns.last().is_some_and(|m| m > sel.msns.len()) {
                return Err(Done::bad(
                    "no such message: the sequence set goes beyond the last message",
                ));
            }
            Ok(sel.msns.uids_of(&msns))
        }
    }
}
