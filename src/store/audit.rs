//! The audit trail (table `audit_log`): who delivered, expunged, moved,
//! undeleted, purged or held what, and when. The runtime role may only
//! INSERT into it. Every writer adds its rows with ONE set-based statement in
//! the transaction that made the change, so a rolled-back change leaves no
//! row and a committed one always has its rows.
//!
//! Columns as every writer fills them (the vacuum and hold commands too):
//! `actor` is who acted — a user's login for IMAP and POP3, `lmtp` for
//! delivery, `aox` (with the operating-system user, `aox:root`) for the
//! command line; `action` is one of `append`, `deliver`, `import`,
//! `expunge`, `move`, `undelete`, `purge`, `hold`; `user_id`, `mailbox_id`
//! and `uid` name the entry (for `move`, the first source UID of a run;
//! for `undelete`, the restored entry's new UID); `raw_sha256` is the
//! message's hash as it arrived; `detail` says the rest in words (an
//! expunge's reason, a move's run and target, an import batch's counts).
//!
//! Rows that stand for many messages, like the change log's ranges: an
//! import batch is one row, and a MOVE one row per run of consecutive
//! source UIDs (`uids 10:19 to mailbox 7 as uids 300:309`, no hash, since
//! the mapping is exact and the content is named where it arrived). A
//! message's content is always named per message: on arrival (append,
//! deliver) and on every way out (expunge, purge).

use std::time::SystemTime;

use tokio_postgres::{GenericClient, Transaction};

use super::StoreError;
use crate::uidset::UidSet;

/// The audit INSERT for entries an expunge removes, as a CTE body over
/// `c(uid, message_id)`: `$1` user, `$2` mailbox, `$6` the acting user id
/// (NULL: the command line), `$7` the reason. Used by the expunge's
/// counting statement, so auditing costs it no statement. (MOVE writes its
/// own rows beside its UPDATE: `store::copy`.)
pub(crate) const LEAVING_SQL: &str = "INSERT INTO audit_log (actor, action, user_id, mailbox_id, uid, raw_sha256, detail) \
     SELECT coalesce((SELECT u.login::text FROM users u WHERE u.id = $6), 'aox'), 'expunge', $1, $2, c.uid, \
            m.raw_sha256, $7 \
     FROM c JOIN messages m ON m.user_id = $1 AND m.id = c.message_id";

/// One row per tombstone that `modseq` wrote in `mailbox` within `uids`
/// (a whole mailbox emptied by DELETE or RENAME INBOX), as `action` by user
/// `by` (None: the command line), with `reason` as the detail. Tombstone
/// UIDs are unique in a mailbox, so the ranges and the modseq find exactly
/// this transaction's rows by the key.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn tombstones(
    tx: &Transaction<'_>,
    user: i64,
    mailbox: i64,
    by: Option<i64>,
    modseq: i64,
    uids: &UidSet,
    action: &str,
    reason: &str,
) -> Result<(), StoreError> {
    if uids.is_empty() {
        return Ok(());
    }
    let (lows, highs) = uids.bounds();
    tx.execute(
        "INSERT INTO audit_log (actor, action, user_id, mailbox_id, uid, raw_sha256, detail) \
         SELECT coalesce((SELECT u.login::text FROM users u WHERE u.id = $3), 'aox'), $5, \
                x.user_id, x.mailbox_id, x.uid, m.raw_sha256, $6 \
         FROM unnest($7::bigint[], $8::bigint[]) AS r(lo, hi) \
         JOIN expunged_entries x ON x.user_id = $1 AND x.mailbox_id = $2 AND x.uid BETWEEN r.lo AND r.hi \
                                AND x.modseq = $4 \
         JOIN messages m ON m.user_id = x.user_id AND m.id = x.message_id",
        &[&user, &mailbox, &by, &modseq, &action, &reason, &lows, &highs],
    )
    .await?;
    Ok(())
}

/// One row per stored entry (`uids[i]` in `mailbox` of `user` holds
/// `message_ids[i]`), as `action` by `actor`, or by the user's own login
/// when `actor` is None (IMAP APPEND). The hashes come from the messages
/// rows, which this transaction wrote.
pub(crate) async fn entries(
    tx: &Transaction<'_>,
    cache: super::inject::Cache<'_>,
    actor: Option<&str>,
    action: &str,
    placed: &[(i64, i64, i64, i64)],
) -> Result<(), StoreError> {
    if placed.is_empty() {
        return Ok(());
    }
    let users: Vec<i64> = placed.iter().map(|p| p.0).collect();
    let mailboxes: Vec<i64> = placed.iter().map(|p| p.1).collect();
    let uids: Vec<i64> = placed.iter().map(|p| p.2).collect();
    let messages: Vec<i64> = placed.iter().map(|p| p.3).collect();
    let insert = super::inject::stmt(
        tx,
        cache,
        "INSERT INTO audit_log (actor, action, user_id, mailbox_id, uid, raw_sha256) \
         SELECT coalesce($1::text, (SELECT u.login::text FROM users u WHERE u.id = t.u), 'unknown'), $2, \
                t.u, t.b, t.uid, m.raw_sha256 \
         FROM unnest($3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[]) AS t(u, b, uid, msg) \
         JOIN messages m ON m.user_id = t.u AND m.id = t.msg",
    )
    .await?;
    tx.execute(
        &insert,
        &[&actor, &action, &users, &mailboxes, &uids, &messages],
    )
    .await?;
    Ok(())
}

/// One row for a whole operation (an `aox import` batch): no UID, no hash,
/// the counts in `detail`.
pub(crate) async fn note(
    client: &impl GenericClient,
    actor: &str,
    action: &str,
    user: i64,
    mailbox: Option<i64>,
    detail: &str,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO audit_log (actor, action, user_id, mailbox_id, detail) VALUES ($1, $2, $3, $4, $5)",
            &[&actor, &action, &user, &mailbox, &detail],
        )
        .await?;
    Ok(())
}

/// One audit row as `aox show audit` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// audit_log.id
    pub id: i64,
    /// When, Unix seconds.
    pub at: i64,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// The user's login (or the id when the user is gone).
    pub user: Option<String>,
    /// The mailbox's name (or the id when it is gone).
    pub mailbox: Option<String>,
    /// The UID.
    pub uid: Option<i64>,
    /// The message's SHA-256 as it arrived, in hex.
    pub raw_sha256: Option<String>,
    /// The rest.
    pub detail: Option<String>,
}

/// The audit rows of `user` (everyone's when None) at or after `since`
/// (a date or timestamp as PostgreSQL reads one, e.g. `2026-01-31` or
/// `2026-01-31 12:00+00`), oldest first. Invalid when `since` is no date.
pub async fn list(
    client: &impl GenericClient,
    user: Option<i64>,
    since: Option<&str>,
) -> Result<Vec<AuditRow>, StoreError> {
    let since: Option<SystemTime> = match since {
        None => None,
        Some(text) => Some(
            client
                .query_one("SELECT $1::text::timestamptz", &[&text])
                .await
                .map_err(|_| {
                    StoreError::Invalid(format!(
                        "{text:?} is not a date (try 2026-01-31 or \"2026-01-31 12:00+00\")"
                    ))
                })?
                .try_get(0)?,
        ),
    };
    let rows = client
        .query(
            "SELECT a.id, extract(epoch FROM a.at)::bigint, a.actor, a.action, \
                    coalesce(u.login::text, a.user_id::text), coalesce(b.name, a.mailbox_id::text), \
                    a.uid, encode(a.raw_sha256, 'hex'), a.detail \
             FROM audit_log a \
             LEFT JOIN users u ON u.id = a.user_id \
             LEFT JOIN mailboxes b ON b.id = a.mailbox_id \
             WHERE ($1::bigint IS NULL OR a.user_id = $1) AND ($2::timestamptz IS NULL OR a.at >= $2) \
             ORDER BY a.at, a.id",
            &[&user, &since],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(AuditRow {
                id: r.try_get(0)?,
                at: r.try_get(1)?,
                actor: r.try_get(2)?,
                action: r.try_get(3)?,
                user: r.try_get(4)?,
                mailbox: r.try_get(5)?,
                uid: r.try_get(6)?,
                raw_sha256: r.try_get(7)?,
                detail: r.try_get(8)?,
            })
        })
        .collect()
}
