//! CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST and LSUB (RFC 9051
//! §6.3.4–9, RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154
//! SPECIAL-USE, RFC 3348 CHILDREN).

use super::{Done, Session};
use crate::imap::listmatch;
use crate::imap::proto::command::ListCommand;
use crate::store::mailbox_ops::{self, ImapMailbox};

impl Session {
    pub(super) async fn create(&mut self, raw: &str, special_use: &[String]) -> Done {
        // RFC 9051 §6.3.4: a trailing delimiter only says a child will follow.
        let trimmed = raw.strip_suffix('/').unwrap_or(raw);
        let name = match self.mailbox_arg(trimmed) {
            Ok(n) => n,
            Err(done) => return done,
        };
        if special_use.len() > 1 {
            return Done::no("USEATTR", "one special-use attribute per mailbox");
        }
        let use_attr = special_use.first().map(String::as_str);
        let mut client = match self.db().await {
            Ok(c) => c,
            Err(done) => return done,
        };
        let login = self
            .user
            .as_ref()
            .map(|u| u.login.clone())
            .unwrap_or_default();
        match crate::store::mailboxes::add_mailbox(&mut **client, &login, &name, use_attr).await {
            Ok(_) => Done::ok("CREATE completed"),
            Err(crate::store::StoreError::Invalid(why))
                if use_attr.is_some() && why.contains("special") =>
            {
                Done::no("USEATTR", why)
            }
            Err(e) => super::store_failure(&e),
        }
    }

    pub(super) async fn delete(&mut self, raw: &str) -> Done {
        let name = match self.mailbox_arg(raw) {
            Ok(n) => n,
            Err(done) => return done,
        };
        let mut client = match self.db().await {
            Ok(c) => c,
            Err(done) => return done,
        };
        let user = self.user_id();
        match mailbox_ops::delete(&mut client, user, &name, user).await {
            Ok(()) => {
                if self.selected.as_ref().is_some_and(|s| s.name == name) {
                    self.selected = None;
                }
                Done::ok("DELETE completed")
            }
            Err(e) => super::store_failure(&e),
        }
    }

    pub(super) async fn rename(&mut self, from: &str, to: &str) -> Done {
        let (from, to) = match (self.mailbox_arg(from), self.mailbox_arg(to)) {
            (Ok(f), Ok(t)) => (f, t),
            (Err(done), _) | (_, Err(done)) => return done,
        };
        let mut client = match self.db().await {
            Ok(c) => c,
            Err(done) => return done,
        };
        match mailbox_ops::rename(&mut client, self.user_id(), &from, &to).await {
            Ok(()) => Done::ok("RENAME completed"),
            Err(e) => super::store_failure(&e),
        }
    }

    pub(super) async fn subscribe(&mut self, raw: &str, on: bool) -> Done {
        let name = match self.mailbox_arg(raw) {
            Ok(n) => n,
            Err(done) => return done,
        };
        let client = match self.db().await {
            Ok(c) => c,
            Err(done) => return done,
        };
        // RFC 9051 §6.3.7: a server MAY check that the mailbox exists. We
        // do, so a typo is caught (as Dovecot and Archiveopteryx do); a
        // subscription already held stays when its mailbox is deleted.
        if on
            && let Err(e) =
                crate::store::select::mailbox_state(&**client, self.user_id(), &name).await
        {
            return super::store_failure(&e);
        }
        match mailbox_ops::set_subscribed(&**client, self.user_id(), &name, on).await {
            Ok(()) if on => Done::ok("SUBSCRIBE completed"),
            Ok(()) => Done::ok("UNSUBSCRIBE completed"),
            Err(e) => super::store_failure(&e),
        }
    }

    pub(super) async fn list(&mut self, cmd: &ListCommand) -> Done {
        let decoded: Result<Vec<String>, Done> =
            cmd.patterns.iter().map(|p| self.pattern_arg(p)).collect();
        let (patterns, reference) = match (decoded, self.pattern_arg(&cmd.reference)) {
            (Ok(p), Ok(r)) => (p, r),
            (Err(done), _) | (_, Err(done)) => return done,
        };
        // RFC 9051 §6.3.9: an empty pattern asks for the delimiter.
        if patterns.len() == 1 && patterns[0].is_empty() {
            self.untagged("LIST (\\Noselect) \"/\" \"\"");
            return Done::ok("LIST completed");
        }
        let selection: Vec<String> = cmd
            .selection
            .iter()
            .map(|s| s.to_ascii_uppercase())
            .collect();
        let only_subscribed = selection.iter().any(|s| s == "SUBSCRIBED");
        let only_special = selection.iter().any(|s| s == "SPECIAL-USE");
        let extended =
            !selection.is_empty() || cmd.ret != Default::default() || cmd.patterns.len() > 1;
        let client = match self.db().await {
            Ok(c) => c,
            Err(done) => return done,
        };
        let boxes = match mailbox_ops::imap_mailboxes(&**client, self.user_id()).await {
            Ok(b) => b,
            Err(e) => return super::store_failure(&e),
        };
        drop(client);
        let mut matched: Vec<&ImapMailbox> = boxes
            .iter()
            .filter(|m| {
                patterns
                    .iter()
                    .any(|p| listmatch::matches(&reference, p, &m.name))
            })
            .filter(|m| !only_subscribed || m.subscribed)
            .filter(|m| !only_special || m.special_use.is_some())
            .filter(|m| !m.deleted || m.has_children || (only_subscribed && m.subscribed))
            .collect();
        matched.sort_by(|a, b| a.name.cmp(&b.name));
        let mut status_for = Vec::new();
        for m in matched {
            let mut attrs: Vec<&str> = Vec::new();
            if m.deleted {
                attrs.push(if extended {
                    "\\NonExistent"
                } else {
                    "\\Noselect"
                });
            }
            attrs.push(if m.has_children {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            });
            if m.subscribed && (only_subscribed || cmd.ret.subscribed) {
                attrs.push("\\Subscribed");
            }
            if let Some(su) = &m.special_use {
                attrs.push(su);
            }
            let mut line = format!("* LIST ({}) \"/\" ", attrs.join(" ")).into_bytes();
            line.extend_from_slice(&self.mailbox_out(&m.name));
            line.extend_from_slice(b"\r\n");
            self.out.extend_from_slice(&line);
            if cmd.ret.status.is_some() && !m.deleted {
                status_for.push(m.name.clone());
            }
        }
        if let Some(items) = &cmd.ret.status {
            for name in status_for {
                // RFC 5819: a mailbox whose STATUS fails is simply skipped.
                let _ = self.status_of(&name, items).await;
            }
        }
        Done::ok("LIST completed")
    }

    pub(super) async fn lsub(&mut self, reference: &str, pattern: &str) -> Done {
        let (reference, pattern) = match (self.pattern_arg(reference), self.pattern_arg(pattern)) {
            (Ok(r), Ok(p)) => (r, p),
            (Err(done), _) | (_, Err(done)) => return done,
        };
        let client = match self.db().await {
            Ok(c) => c,
            Err(done) => return done,
        };
        let boxes = match mailbox_ops::imap_mailboxes(&**client, self.user_id()).await {
            Ok(b) => b,
            Err(e) => return super::store_failure(&e),
        };
        for m in boxes
            .iter()
            .filter(|m| m.subscribed && listmatch::matches(&reference, &pattern, &m.name))
        {
            let attrs = if m.deleted { "\\Noselect" } else { "" };
            let mut line = format!("* LSUB ({attrs}) \"/\" ").into_bytes();
            line.extend_from_slice(&self.mailbox_out(&m.name));
            line.extend_from_slice(b"\r\n");
            self.out.extend_from_slice(&line);
        }
        Done::ok("LSUB completed")
    }

    /// A LIST reference or pattern, decoded like a mailbox name but not made
    /// canonical (wildcards stay).
    fn pattern_arg(&self, raw: &str) -> Result<String, Done> {
        if self.enabled.utf8 {
            return Ok(raw.to_owned());
        }
        crate::imap::proto::mutf7::decode(raw)
            .map_err(|_| Done::bad("the pattern is not valid modified UTF-7"))
    }
}
