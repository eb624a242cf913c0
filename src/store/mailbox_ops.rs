//! The mailbox operations behind IMAP LIST, DELETE, RENAME, SUBSCRIBE and
//! UNSUBSCRIBE, as the runtime role: rows are never removed (the schema
//! keeps uidnext/uidvalidity for a name that comes back), entries leave only
//! through `expunge_entries` (tombstones), and everything else is UPDATE.
//!
//! Names are canonical IMAP names ([`canonical_name`]): `/` separates levels
//! and `INBOX` is spelled so in any case. Names starting with `/` can never be
//! canonical; [`ASIDE_PREFIX`] uses that to move deleted rows out of the way.

use std::collections::HashSet;

use tokio_postgres::{Client, GenericClient, Transaction};

use super::StoreError;
use super::inject::CHANGE_CHANNEL;
use super::mailboxes::canonical_name;

/// A deleted mailbox row whose name a RENAME needs is renamed to this
/// prefix and its id (`/aside/42`): a name no client can create, list or
/// collide with, so the row keeps its tombstones and counters under its id
/// without blocking the name. (Re-using the deleted row instead would hand
/// the renamed mailbox someone else's id and UIDVALIDITY.)
pub const ASIDE_PREFIX: &str = "/aside/";

/// Tombstone reason for entries expunged by IMAP DELETE.
const DELETE_REASON: &str = "delete mailbox";
/// Tombstone reason for INBOX entries moved away by RENAME INBOX.
const RENAME_INBOX_REASON: &str = "rename INBOX";

/// One mailbox row as LIST needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapMailbox {
    /// The mailbox id (MAILBOXID, RFC 8474, is derived from it).
    pub id: i64,
    /// The canonical name.
    pub name: String,
    /// The RFC 6154 special-use attribute, e.g. `\Sent`.
    pub special_use: Option<String>,
    /// Whether the user is subscribed to the name.
    pub subscribed: bool,
    /// The name is no mailbox (deleted): `\NonExistent` (RFC 9051 §7.3.1).
    pub deleted: bool,
    /// A live mailbox exists below it (`\HasChildren`).
    pub has_children: bool,
}

/// Every mailbox row of the user that LIST can show, ordered by name (byte
/// order): live mailboxes, and deleted rows that are subscribed or have a
/// live mailbox below them (so LIST can show `\NonExistent`/`\Noselect`
/// parents and LIST (SUBSCRIBED) subscribed names that do not exist).
pub async fn imap_mailboxes(
    client: &impl GenericClient,
    user: i64,
) -> Result<Vec<ImapMailbox>, StoreError> {
    let rows = client
        .query(
            "SELECT id, name, special_use, subscribed, deleted FROM mailboxes \
             WHERE user_id = $1 AND NOT starts_with(name, '/')",
            &[&user],
        )
        .await?;
    let mut all: Vec<ImapMailbox> = rows
        .iter()
        .map(|r| ImapMailbox {
            id: r.get(0),
            name: r.get(1),
            special_use: r.get(2),
            subscribed: r.get(3),
            deleted: r.get(4),
            has_children: false,
        })
        .collect();
    // Every proper ancestor of a live mailbox has a live child: one pass over
    // the names instead of a correlated prefix query per row.
    let mut parents: HashSet<String> = HashSet::new();
    for m in all.iter().filter(|m| !m.deleted) {
        for (i, _) in m.name.match_indices('/') {
            parents.insert(m.name[..i].to_string());
        }
    }
    for m in &mut all {
        m.has_children = parents.contains(&m.name);
    }
    all.retain(|m| !m.deleted || m.subscribed || m.has_children);
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(all)
}

/// RFC 9051 §6.3.5 DELETE: expunges every entry of mailbox `name` (to the
/// tombstones via `expunge_entries`, reason `delete mailbox`, expunged by
/// `by`), sets its counters to zero and marks it deleted. INBOX cannot be
/// deleted (Invalid). A mailbox with children may be deleted; its children
/// stay, and it stays in the hierarchy as a `\NonExistent` parent. A mailbox
/// an alias delivers to is refused (Conflict): mail for it would bounce.
pub async fn delete(client: &mut Client, user: i64, name: &str, by: i64) -> Result<(), StoreError> {
    let name = canonical_name(name)?;
    if name == "INBOX" {
        return Err(StoreError::Invalid("INBOX cannot be deleted".into()));
    }
    let tx = client.transaction().await?;
    // The mailbox row is the lock deliveries and expunges take: holding it,
    // no entry arrives between here and the expunge.
    let id: i64 = tx
        .query_opt(
            "SELECT id FROM mailboxes WHERE user_id = $1 AND name = $2 AND NOT deleted FOR UPDATE",
            &[&user, &name],
        )
        .await?
        .map(|r| r.get(0))
        .ok_or_else(|| no_mailbox(&name))?;
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
        return Err(StoreError::InUse(format!(
            "mailbox {name:?} receives mail for {}",
            aliases.join(", ")
        )));
    }
    // Under the row lock no entry arrives or leaves before expunge_all.
    let retained =
        super::retention::retained(&tx, user, id, &crate::uidset::UidSet::everything(), false)
            .await?;
    if !retained.is_empty() {
        let n = retained.len();
        return Err(StoreError::Refused(format!(
            "mailbox {name:?} holds {n} {} kept by retention policy",
            if n == 1 { "message" } else { "messages" }
        )));
    }
    expunge_all(&tx, user, id, Some(by), DELETE_REASON).await?;
    tx.execute(
        "UPDATE mailboxes SET deleted = true WHERE user_id = $1 AND id = $2",
        &[&user, &id],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// RFC 9051 §6.3.6 RENAME: renames mailbox `from` and every row below it
/// (`a/b` → `x/b`), creating missing parents of the new name. The renamed
/// mailboxes keep their ids, UIDVALIDITY and UIDs. Conflict when a live
/// mailbox has the new name or any of its children's new names; deleted rows
/// in the way are set aside (see [`ASIDE_PREFIX`]), and a subscription they
/// carried stays with the name. Renaming a mailbox below itself is Invalid.
///
/// Renaming INBOX (RFC 9051 §6.3.6: "all messages in INBOX MUST be moved to
/// a new mailbox with the given name, leaving INBOX empty") creates a new
/// mailbox with a fresh UIDVALIDITY, copies the entries there with their
/// UIDs and flags, and expunges them from INBOX (as tombstones, reason
/// `rename INBOX`); INBOX's children are not renamed.
pub async fn rename(
    client: &mut Client,
    user: i64,
    from: &str,
    to: &str,
) -> Result<(), StoreError> {
    let from = canonical_name(from)?;
    let to = canonical_name(to)?;
    if from == to {
        return Err(exists(&to));
    }
    let tx = client.transaction().await?;
    if from == "INBOX" {
        rename_inbox(&tx, user, &to).await?;
    } else {
        if to.starts_with(&format!("{from}/")) {
            return Err(StoreError::Invalid(format!(
                "{from:?} cannot be renamed into itself ({to:?})"
            )));
        }
        rename_tree(&tx, user, &from, &to).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// RFC 9051 §6.3.7/§6.3.8 SUBSCRIBE/UNSUBSCRIBE. Subscribing to a name no
/// mailbox has is allowed and recorded as a deleted row (the schema's way);
/// unsubscribing from a name that has no row at all is NotFound.
pub async fn set_subscribed(
    client: &impl GenericClient,
    user: i64,
    name: &str,
    subscribed: bool,
) -> Result<(), StoreError> {
    let name = canonical_name(name)?;
    if subscribed {
        client
            .execute(
                "INSERT INTO mailboxes (user_id, name, deleted, subscribed) VALUES ($1, $2, true, true) \
                 ON CONFLICT (user_id, name) DO UPDATE SET subscribed = true",
                &[&user, &name],
            )
            .await?;
    } else {
        let n = client
            .execute(
                "UPDATE mailboxes SET subscribed = false WHERE user_id = $1 AND name = $2",
                &[&user, &name],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("{name:?} is not subscribed")));
        }
    }
    Ok(())
}

fn no_mailbox(name: &str) -> StoreError {
    StoreError::NotFound(format!("no mailbox named {name:?}"))
}

fn exists(name: &str) -> StoreError {
    StoreError::Conflict(format!("mailbox {name:?} already exists"))
}

/// Moves every entry of locked mailbox `id` to the tombstones under one new
/// modseq, records the expunge in the change log (so a QRESYNC client learns
/// of it even if the name is re-created with the same UIDVALIDITY), zeroes
/// the counters and notifies other sessions. The caller holds the row lock.
async fn expunge_all(
    tx: &Transaction<'_>,
    user: i64,
    id: i64,
    by: Option<i64>,
    reason: &str,
) -> Result<(), StoreError> {
    let row = tx
        .query_one(
            "UPDATE mailboxes SET highest_modseq = highest_modseq + 1, message_count = 0, unseen_count = 0, \
             deleted_count = 0, total_size = 0 WHERE user_id = $1 AND id = $2 RETURNING highest_modseq, uidnext",
            &[&user, &id],
        )
        .await?;
    let modseq: i64 = row.get(0);
    let uidnext: i64 = row.get(1);
    let gone = tx
        .query_one(
            "SELECT min(uid), max(uid) FROM expunge_entries($1, $2, ARRAY[1]::bigint[], \
             ARRAY[4294967295]::bigint[], false, $3, $4, $5) AS gone(uid)",
            &[&user, &id, &modseq, &by, &reason],
        )
        .await?;
    if let (Some(low), Some(high)) = (gone.get::<_, Option<i64>>(0), gone.get::<_, Option<i64>>(1))
    {
        tx.execute(
            "INSERT INTO mailbox_changes (user_id, mailbox_id, modseq, kind, uid_low, uid_high) \
             VALUES ($1, $2, $3, 'expunged', $4, $5)",
            &[&user, &id, &modseq, &low, &high],
        )
        .await?;
        let (low, high) = (
            super::select::to_u32(low, "uid")?,
            super::select::to_u32(high, "uid")?,
        );
        super::audit::tombstones(
            tx,
            user,
            id,
            by,
            modseq,
            &crate::uidset::UidSet::from_ranges([(low, high)]),
            // RENAME INBOX's entries live on in the new mailbox.
            if reason == RENAME_INBOX_REASON {
                "move"
            } else {
                "expunge"
            },
            reason,
        )
        .await?;
    }
    // The same payload the injector sends: user:mailbox:modseq:uidnext.
    let payload = format!("{user}:{id}:{modseq}:{uidnext}");
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANGE_CHANNEL, &payload])
        .await?;
    Ok(())
}

/// Makes room for `names`: Conflict if a live mailbox (other than the rows
/// in `moving`) has one of them; deleted rows with them are renamed aside.
/// Returns the names whose set-aside row was subscribed.
async fn clear_names(
    tx: &Transaction<'_>,
    user: i64,
    names: &[String],
    moving: &[i64],
) -> Result<HashSet<String>, StoreError> {
    let rows = tx
        .query(
            "SELECT id, name, deleted, subscribed FROM mailboxes \
             WHERE user_id = $1 AND name = ANY($2) AND NOT id = ANY($3) ORDER BY name FOR UPDATE",
            &[&user, &names, &moving],
        )
        .await?;
    if let Some(live) = rows.iter().find(|r| !r.get::<_, bool>(2)) {
        return Err(exists(live.get(1)));
    }
    let aside: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    tx.execute(
        "UPDATE mailboxes SET name = $3::text || id::text, subscribed = false WHERE user_id = $1 AND id = ANY($2)",
        &[&user, &aside, &ASIDE_PREFIX],
    )
    .await?;
    Ok(rows
        .iter()
        .filter(|r| r.get::<_, bool>(3))
        .map(|r| r.get(1))
        .collect())
}

/// Creates (or re-activates) every missing parent of `name`, as CREATE
/// would (RFC 9051 §6.3.6: "the server SHOULD create any superior
/// hierarchical names that are needed").
async fn create_parents(tx: &Transaction<'_>, user: i64, name: &str) -> Result<(), StoreError> {
    for (i, _) in name.match_indices('/') {
        let parent = &name[..i];
        tx.execute(
            "INSERT INTO mailboxes (user_id, name) VALUES ($1, $2) \
             ON CONFLICT (user_id, name) DO UPDATE SET deleted = false, special_use = NULL WHERE mailboxes.deleted",
            &[&user, &parent],
        )
        .await?;
    }
    Ok(())
}

async fn rename_tree(
    tx: &Transaction<'_>,
    user: i64,
    from: &str,
    to: &str,
) -> Result<(), StoreError> {
    // Every row at or below `from`, live or deleted, moves with it, so
    // subscriptions and \NonExistent levels keep their place in the tree.
    // Locked in name order, the order any other rename of an overlapping
    // tree takes them in.
    let rows = tx
        .query(
            "SELECT id, name, deleted FROM mailboxes \
             WHERE user_id = $1 AND (name = $2 OR starts_with(name, $2 || '/')) ORDER BY name FOR UPDATE",
            &[&user, &from],
        )
        .await?;
    if !rows
        .iter()
        .any(|r| r.get::<_, &str>(1) == from && !r.get::<_, bool>(2))
    {
        return Err(no_mailbox(from));
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    let new_names = rows
        .iter()
        .map(|r| {
            let name: &str = r.get(1);
            name.strip_prefix(from)
                .map(|below| format!("{to}{below}"))
                .ok_or_else(|| StoreError::Invalid(format!("{name:?} is not below {from:?}")))
        })
        .collect::<Result<Vec<String>, StoreError>>()?;
    let subscribed_names = clear_names(tx, user, &new_names, &ids).await?;
    let keep_subscribed: Vec<bool> = new_names
        .iter()
        .map(|n| subscribed_names.contains(n))
        .collect();
    // Two steps: new names may equal old names of other moving rows
    // (`a/b` → `a` moves `a/b/b/c` to `a/b/c`), and the unique index is
    // checked row by row.
    tx.execute(
        "UPDATE mailboxes SET name = '/moving/' || id::text WHERE user_id = $1 AND id = ANY($2)",
        &[&user, &ids],
    )
    .await?;
    tx.execute(
        "UPDATE mailboxes m SET name = n.name, subscribed = m.subscribed OR n.keep \
         FROM unnest($2::bigint[], $3::text[], $4::bool[]) AS n(id, name, keep) \
         WHERE m.user_id = $1 AND m.id = n.id",
        &[&user, &ids, &new_names, &keep_subscribed],
    )
    .await?;
    create_parents(tx, user, to).await
}

async fn rename_inbox(tx: &Transaction<'_>, user: i64, to: &str) -> Result<(), StoreError> {
    let target = [to.to_string()];
    let subscribed = !clear_names(tx, user, &target, &[]).await?.is_empty();
    create_parents(tx, user, to).await?;
    let new_id: i64 = tx
        .query_one(
            "INSERT INTO mailboxes (user_id, name, subscribed) VALUES ($1, $2, $3) RETURNING id",
            &[&user, &to, &subscribed],
        )
        .await?
        .get(0);
    // INBOX's row last: the new mailbox's content is in place before it.
    let (inbox, uidnext): (i64, i64) = tx
        .query_opt(
            "SELECT id, uidnext FROM mailboxes WHERE user_id = $1 AND name = 'INBOX' AND NOT deleted FOR UPDATE",
            &[&user],
        )
        .await?
        .map(|r| (r.get(0), r.get(1)))
        .ok_or_else(|| no_mailbox("INBOX"))?;
    // The new mailbox has a fresh UIDVALIDITY, so keeping the UIDs is
    // allowed and keeps uidnext simple; modseq 2 is the one change its log
    // records (the 'new' row), as for an injected batch.
    let moved = tx
        .query_one(
            "WITH moved AS (
                 INSERT INTO mailbox_entries (user_id, mailbox_id, uid, message_id, modseq, seen, answered,
                                              flagged, deleted, draft, keywords, internaldate, rfc822_size)
                 SELECT user_id, $3, uid, message_id, 2, seen, answered, flagged, deleted, draft, keywords,
                        internaldate, rfc822_size
                 FROM mailbox_entries WHERE user_id = $1 AND mailbox_id = $2
                 RETURNING uid, seen, deleted, rfc822_size)
             SELECT count(*), count(*) FILTER (WHERE NOT seen), count(*) FILTER (WHERE deleted),
                    coalesce(sum(rfc822_size), 0)::bigint, min(uid), max(uid) FROM moved",
            &[&user, &inbox, &new_id],
        )
        .await?;
    let (count, unseen, deleted, size): (i64, i64, i64, i64) =
        (moved.get(0), moved.get(1), moved.get(2), moved.get(3));
    tx.execute(
        "UPDATE mailboxes SET uidnext = $3, highest_modseq = 2, message_count = $4, unseen_count = $5, \
         deleted_count = $6, total_size = $7 WHERE user_id = $1 AND id = $2",
        &[&user, &new_id, &uidnext, &count, &unseen, &deleted, &size],
    )
    .await?;
    if let (Some(low), Some(high)) = (
        moved.get::<_, Option<i64>>(4),
        moved.get::<_, Option<i64>>(5),
    ) {
        tx.execute(
            "INSERT INTO mailbox_changes (user_id, mailbox_id, modseq, kind, uid_low, uid_high) \
             VALUES ($1, $2, 2, 'new', $3, $4)",
            &[&user, &new_id, &low, &high],
        )
        .await?;
    }
    expunge_all(tx, user, inbox, Some(user), RENAME_INBOX_REASON).await
}
