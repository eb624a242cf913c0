//! Mailboxes as the administrator sees them: create (with parents), delete
//! (optionally expunging what is inside to the tombstones), list.
//!
//! Names are IMAP names with `/` as the hierarchy separator. `INBOX` is
//! case-insensitive (RFC 9051 §5.1) and always stored as `INBOX`, also as the
//! first component of a child's name. Rows are never removed (see the schema):
//! deleting sets `deleted`, creating again clears it and keeps the row's
//! uidnext and uidvalidity, so a UID is never reused under one name.

use tokio_postgres::GenericClient;

use crate::uidset::UidSet;

use super::StoreError;
use super::select::to_u32;
use super::users::{counted, is_unique_violation, like_literal, like_pattern, no_user, user_id};

/// The RFC 6154 special-use attributes the schema accepts, as stored.
pub const SPECIAL_USES: [&str; 7] = [
    "\\All",
    "\\Archive",
    "\\Drafts",
    "\\Flagged",
    "\\Junk",
    "\\Sent",
    "\\Trash",
];

/// The reason recorded on entries that `delete_mailbox` with force tombstones.
const FORCED_DELETE_REASON: &str = "aox delete mailbox -f";

/// One row of `aox list mailboxes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    /// The owner's login.
    pub owner: String,
    /// The full name, e.g. `INBOX/Lists/rust`.
    pub name: String,
    /// The special-use attribute, e.g. `\Sent`.
    pub special_use: Option<String>,
    /// Whether the owner is subscribed.
    pub subscribed: bool,
    /// Messages in the mailbox (the maintained counter).
    pub message_count: i64,
    /// Messages without \Seen (the maintained counter).
    pub unseen_count: i64,
    /// Sum of the messages' RFC 822 sizes (the maintained counter).
    pub total_size: i64,
    /// The next UID to be assigned.
    pub uidnext: i64,
    /// The mailbox's UIDVALIDITY.
    pub uidvalidity: i64,
    /// The highest modseq (RFC 7162).
    pub highest_modseq: i64,
}

/// What `add_mailbox` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedMailbox {
    /// The canonical name of the mailbox asked for.
    pub name: String,
    /// Every mailbox created or re-activated, parents first, ending with `name`.
    pub created: Vec<String>,
}

/// What `delete_mailbox` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedMailbox {
    /// The canonical name of the deleted mailbox.
    pub name: String,
    /// Entries moved to expunged_entries (only with force).
    pub expunged: u64,
}

/// Validates `name` and returns its canonical spelling (`inbox/x` → `INBOX/x`).
pub fn canonical_name(name: &str) -> Result<String, StoreError> {
    let bad = |why: &str| StoreError::Invalid(format!("mailbox name {name:?} {why}"));
    if name.is_empty() {
        return Err(bad("is empty"));
    }
    if name.starts_with('/') || name.ends_with('/') {
        return Err(bad("starts or ends with the hierarchy separator \"/\""));
    }
    if name.contains("//") {
        return Err(bad("contains an empty level (\"//\")"));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("contains control characters"));
    }
    // LIST wildcards: a mailbox with one in its name could not be listed alone.
    if name.contains(['*', '%']) {
        return Err(bad("contains a LIST wildcard (\"*\" or \"%\")"));
    }
    Ok(inbox_first(name))
}

/// Spells a first component of `inbox` (any case) as `INBOX`.
fn inbox_first(name: &str) -> String {
    let (first, rest) = match name.split_once('/') {
        Some((first, rest)) => (first, Some(rest)),
        None => (name, None),
    };
    if !first.eq_ignore_ascii_case("INBOX") {
        return name.to_string();
    }
    match rest {
        Some(rest) => format!("INBOX/{rest}"),
        None => "INBOX".to_string(),
    }
}

/// Spells a leading `inbox` (any case) in a listing pattern as `INBOX` when
/// it is a whole first component or is followed by a wildcard, so `inbox*`
/// finds INBOX and its children as the name `inbox` would find INBOX.
fn pattern_inbox_first(pattern: &str) -> String {
    match pattern.get(..5) {
        Some(head) if head.eq_ignore_ascii_case("INBOX") => {
            let rest = &pattern[5..];
            if rest.is_empty() || rest.starts_with(['/', '*', '?']) {
                format!("INBOX{rest}")
            } else {
                pattern.to_string()
            }
        }
        _ => pattern.to_string(),
    }
}

/// Validates a special-use attribute, with or without its backslash and in
/// any case, and returns it as stored (`sent` → `\Sent`).
pub fn canonical_special_use(attribute: &str) -> Result<String, StoreError> {
    let bare = attribute.strip_prefix('\\').unwrap_or(attribute);
    SPECIAL_USES
        .iter()
        .find(|s| s[1..].eq_ignore_ascii_case(bare))
        .map(|s| s.to_string())
        .ok_or_else(|| {
            StoreError::Invalid(format!(
                "{attribute:?} is not a special-use attribute (one of {})",
                SPECIAL_USES.join(" ")
            ))
        })
}

/// Creates mailbox `name` for `login`, and any missing parents (RFC 9051
/// §6.3.4 CREATE). A deleted row of the same name is re-activated, keeping its
/// uidnext and uidvalidity. Conflict if the mailbox already exists.
pub async fn add_mailbox(
    client: &mut impl GenericClient,
    login: &str,
    name: &str,
    special_use: Option<&str>,
) -> Result<AddedMailbox, StoreError> {
    let name = canonical_name(name)?;
    let special_use = special_use.map(canonical_special_use).transpose()?;
    let tx = client.transaction().await?;
    // No row lock on the user: the runtime role (IMAP CREATE) may not take
    // one, and the foreign key from mailboxes already stops a concurrent
    // `delete user` from removing the user under the new rows.
    let user: i64 = tx
        .query_opt("SELECT id FROM users WHERE login = $1", &[&login])
        .await?
        .map(|r| r.get(0))
        .ok_or_else(|| no_user(login))?;
    let exists = || StoreError::Conflict(format!("mailbox {name:?} of {login} already exists"));
    let levels: Vec<usize> = name
        .match_indices('/')
        .map(|(i, _)| i)
        .chain([name.len()])
        .collect();
    let mut created = Vec::new();
    for (n, end) in levels.iter().enumerate() {
        let path = &name[..*end];
        let last = n + 1 == levels.len();
        // Parents get no attribute, even when re-activating a row that had one.
        let attribute = if last { special_use.as_deref() } else { None };
        let row = tx
            .query_opt(
                "SELECT id, deleted FROM mailboxes WHERE user_id = $1 AND name = $2 FOR UPDATE",
                &[&user, &path],
            )
            .await?;
        match row {
            Some(row) if !row.get::<_, bool>(1) => {
                if last {
                    return Err(exists());
                }
            }
            Some(row) => {
                let id: i64 = row.get(0);
                tx.execute(
                    "UPDATE mailboxes SET deleted = false, special_use = $3 WHERE user_id = $1 AND id = $2",
                    &[&user, &id, &attribute],
                )
                .await?;
                created.push(path.to_string());
            }
            None => {
                tx.execute(
                    "INSERT INTO mailboxes (user_id, name, special_use) VALUES ($1, $2, $3)",
                    &[&user, &path, &attribute],
                )
                .await
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        exists()
                    } else {
                        e.into()
                    }
                })?;
                created.push(path.to_string());
            }
        }
    }
    tx.commit().await?;
    Ok(AddedMailbox { name, created })
}

/// Deletes mailbox `name` of `login`. INBOX cannot be deleted, nor a mailbox
/// with children or one an alias delivers to. A mailbox with messages is
/// refused unless `force`, which moves them to expunged_entries (where
/// undelete can still find them) before marking the mailbox deleted.
pub async fn delete_mailbox(
    client: &mut impl GenericClient,
    login: &str,
    name: &str,
    force: bool,
) -> Result<DeletedMailbox, StoreError> {
    let name = canonical_name(name)?;
    if name == "INBOX" {
        return Err(StoreError::Invalid("INBOX cannot be deleted".into()));
    }
    let tx = client.transaction().await?;
    let user = user_id(&tx, login).await?;
    // The mailbox row is the lock deliveries and expunges take; holding it
    // means no entry arrives between the count and the expunge.
    let id: i64 = tx
        .query_opt(
            "SELECT id FROM mailboxes WHERE user_id = $1 AND name = $2 AND NOT deleted FOR UPDATE",
            &[&user, &name],
        )
        .await?
        .map(|r| r.get(0))
        .ok_or_else(|| StoreError::NotFound(format!("{login} has no mailbox named {name:?}")))?;

    let children: i64 = tx
        .query_one(
            "SELECT count(*) FROM mailboxes WHERE user_id = $1 AND name LIKE $2 AND NOT deleted",
            &[&user, &format!("{}/%", like_literal(&name))],
        )
        .await?
        .get(0);
    if children > 0 {
        return Err(StoreError::Conflict(format!(
            "mailbox {name:?} of {login} has {}; delete them first",
            counted(children, "child mailbox", "child mailboxes")
        )));
    }
    let aliases: Vec<String> = tx
        .query(
            "SELECT address::text FROM aliases WHERE user_id = $1 AND mailbox_id = $2 ORDER BY 1",
            &[&user, &id],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !aliases.is_empty() {
        return Err(StoreError::Conflict(format!(
            "mailbox {name:?} of {login} receives mail for {}; delete or move the aliases first",
            aliases.join(", ")
        )));
    }

    // Exact, not the counter: a drifted counter must not let mail be hidden
    // in a deleted mailbox. One mailbox, under its lock, is cheap enough.
    let entries: i64 = tx
        .query_one(
            "SELECT count(*) FROM mailbox_entries WHERE user_id = $1 AND mailbox_id = $2",
            &[&user, &id],
        )
        .await?
        .get(0);
    let mut expunged = 0;
    if entries > 0 {
        if !force {
            return Err(StoreError::Conflict(format!(
                "mailbox {name:?} of {login} has {}",
                counted(entries, "message", "messages")
            )));
        }
        let modseq: i64 = tx
            .query_one(
                "UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE user_id = $1 AND id = $2 \
                 RETURNING highest_modseq",
                &[&user, &id],
            )
            .await?
            .get(0);
        let range = tx
            .query_one(
                "SELECT count(*), min(uid), max(uid) FROM expunge_entries($1, $2, ARRAY[1]::bigint[], \
                 ARRAY[4294967295]::bigint[], false, $3, NULL, $4) AS gone(uid)",
                &[&user, &id, &modseq, &FORCED_DELETE_REASON],
            )
            .await?;
        let count: i64 = range.get(0);
        // The mailbox keeps its uidvalidity if it is created again, so a
        // QRESYNC client must still learn that these UIDs went away.
        if let (Some(low), Some(high)) = (
            range.get::<_, Option<i64>>(1),
            range.get::<_, Option<i64>>(2),
        ) {
            tx.execute(
                "INSERT INTO mailbox_changes (user_id, mailbox_id, modseq, kind, uid_low, uid_high) \
                 VALUES ($1, $2, $3, 'expunged', $4, $5)",
                &[&user, &id, &modseq, &low, &high],
            )
            .await?;
            let uids = UidSet::from_ranges([(to_u32(low, "uid")?, to_u32(high, "uid")?)]);
            super::audit::tombstones(
                &tx,
                user,
                id,
                None,
                modseq,
                &uids,
                "expunge",
                FORCED_DELETE_REASON,
            )
            .await?;
        }
        expunged = u64::try_from(count).unwrap_or(0);
    }
    tx.execute(
        "UPDATE mailboxes SET deleted = true, message_count = 0, unseen_count = 0, deleted_count = 0, \
         total_size = 0 WHERE user_id = $1 AND id = $2",
        &[&user, &id],
    )
    .await?;
    tx.commit().await?;
    Ok(DeletedMailbox { name, expunged })
}

/// Mailboxes that exist, of `owner` (None: everyone's), whose names match
/// `pattern` (aox wildcards; None: all), ordered by owner and name. The
/// counts are the maintained counters on the mailbox row, never a count(*).
pub async fn list_mailboxes(
    client: &impl GenericClient,
    owner: Option<&str>,
    pattern: Option<&str>,
) -> Result<Vec<MailboxInfo>, StoreError> {
    let owner_id = match owner {
        Some(login) => Some(user_id(client, login).await?),
        None => None,
    };
    let like = like_pattern(&pattern_inbox_first(pattern.unwrap_or("*")));
    let rows = client
        .query(
            "SELECT u.login::text, m.name, m.special_use, m.subscribed, m.message_count, m.unseen_count, \
                    m.total_size, m.uidnext, m.uidvalidity, m.highest_modseq \
             FROM mailboxes m JOIN users u ON u.id = m.user_id \
             WHERE NOT m.deleted AND ($1::bigint IS NULL OR m.user_id = $1) AND m.name LIKE $2 \
             ORDER BY lower(u.login::text), m.name",
            &[&owner_id, &like],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| MailboxInfo {
            owner: r.get(0),
            name: r.get(1),
            special_use: r.get(2),
            subscribed: r.get(3),
            message_count: r.get(4),
            unseen_count: r.get(5),
            total_size: r.get(6),
            uidnext: r.get(7),
            uidvalidity: r.get(8),
            highest_modseq: r.get(9),
        })
        .collect())
}

/// The id of `login`'s live mailbox `name`, or NotFound naming both.
pub async fn mailbox_id(
    client: &impl GenericClient,
    login: &str,
    name: &str,
) -> Result<(i64, i64), StoreError> {
    let user = user_id(client, login).await?;
    let name = canonical_name(name)?;
    client
        .query_opt(
            "SELECT id FROM mailboxes WHERE user_id = $1 AND name = $2 AND NOT deleted",
            &[&user, &name],
        )
        .await?
        .map(|r| (user, r.get(0)))
        .ok_or_else(|| StoreError::NotFound(format!("{login} has no mailbox named {name:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(name: &str) -> String {
        canonical_name(name).unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn inbox_is_case_insensitive_also_as_a_parent() {
        assert_eq!(ok("inbox"), "INBOX");
        assert_eq!(ok("InBoX/Lists"), "INBOX/Lists");
        assert_eq!(ok("Lists/inbox"), "Lists/inbox");
        assert_eq!(ok("inboxes"), "inboxes");
    }

    #[test]
    fn inbox_patterns_find_inbox() {
        assert_eq!(pattern_inbox_first("inbox*"), "INBOX*");
        assert_eq!(pattern_inbox_first("Inbox/a?"), "INBOX/a?");
        assert_eq!(pattern_inbox_first("inbox"), "INBOX");
        assert_eq!(pattern_inbox_first("inboxes"), "inboxes");
        assert_eq!(pattern_inbox_first("in"), "in");
        assert_eq!(pattern_inbox_first("*"), "*");
    }

    #[test]
    fn malformed_names_are_refused() {
        for bad in ["", "/a", "a/", "a//b", "a*", "a%b", "a\u{1}b"] {
            assert!(canonical_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(ok("Sent Items/2024"), "Sent Items/2024");
    }

    #[test]
    fn special_use_is_canonicalised() {
        assert_eq!(
            canonical_special_use("\\sent").ok().as_deref(),
            Some("\\Sent")
        );
        assert_eq!(
            canonical_special_use("Trash").ok().as_deref(),
            Some("\\Trash")
        );
        assert!(canonical_special_use("\\Inbox").is_err());
    }
}
