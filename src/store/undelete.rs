//! `aox list deleted` and `aox undelete`: the tombstones (expunged_entries)
//! searched with the one search language, and restored as new entries.
//!
//! A tombstone can be restored while it is younger than `undelete-time`
//! days, or at any age while an unreleased legal hold covers its message.
//! Tombstones left by MOVE (reason `move`) and RENAME INBOX (`rename
//! INBOX`) are never restored: the message lives on in the other mailbox,
//! and restoring it would make a second copy.
//!
//! A restore keeps every flag and keyword but `\Deleted`: that flag is what
//! the expunge acted on, and keeping it would let the client's next EXPUNGE
//! (or CLOSE) remove the message again.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, GenericClient};

use super::StoreError;
use super::changes::{lock_mailbox, notify, record};
use super::search::{Compiled, Param};
use super::select::to_u32;
use crate::search::SearchKey;
use crate::uidset::UidSet;

/// Reasons whose tombstones are never restored (the message lives on).
const MOVED: &str = "e.reason IN ('move', 'rename INBOX')";

/// The message of tombstone `e` is under a legal hold that stands.
const HELD: &str = "EXISTS (SELECT 1 FROM held_messages h JOIN legal_holds l ON l.id = h.hold_id \
                    WHERE h.user_id = e.user_id AND h.message_id = e.message_id AND l.released_at IS NULL)";

/// Whether a tombstone can be restored, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restorable {
    /// Expunged within undelete-time.
    Yes,
    /// Older than undelete-time, but a legal hold keeps it restorable.
    Held,
    /// Left by MOVE or RENAME INBOX: the message is in another mailbox.
    Moved,
}

/// One tombstone as `aox list deleted` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    /// The mailbox it was expunged from.
    pub mailbox: String,
    /// Its UID there.
    pub uid: u32,
    /// When, Unix seconds.
    pub expunged_at: i64,
    /// Who: the user's login, or None (the command line).
    pub by: Option<String>,
    /// Why: `expunge`, `pop3`, `delete mailbox`, `move`, …
    pub reason: String,
    /// The Subject, decoded.
    pub subject: String,
    /// Whether `aox undelete` would restore it.
    pub restorable: Restorable,
}

/// One restored (or, with dry run, restorable) message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The tombstone's UID.
    pub old_uid: u32,
    /// The entry's new UID (with dry run: the UID it would get now).
    pub new_uid: u32,
    /// The Subject, decoded.
    pub subject: String,
}

/// A mailbox row of `user` named `name`, live or deleted (tombstones of a
/// deleted mailbox stay under its row): (id, deleted).
pub async fn mailbox_row(
    client: &impl GenericClient,
    user: i64,
    name: &str,
) -> Result<Option<(i64, bool)>, StoreError> {
    let name = super::mailboxes::canonical_name(name)?;
    let row = client
        .query_opt(
            "SELECT id, deleted FROM mailboxes WHERE user_id = $1 AND name = $2",
            &[&user, &name],
        )
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

fn unix(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// The tombstones of `user` (in `mailbox` only, when given) that match
/// `key` and are still within reach: expunged within `window_days`, or
/// held. Moved ones are listed too, marked [`Restorable::Moved`], so the
/// listing says why they will not come back. One statement.
pub async fn list(
    client: &impl GenericClient,
    user: i64,
    mailbox: Option<i64>,
    key: &SearchKey,
    window_days: u32,
) -> Result<Vec<Tombstone>, StoreError> {
    let mut c = Compiled::default();
    let condition = c.condition(key)?;
    let window = c.bind(Param::Int(i64::from(window_days)));
    let sql = format!(
        "SELECT b.name, e.uid, e.expunged_at, u.login::text, e.reason, coalesce(s.subject, ''), \
                {MOVED}, e.expunged_at > now() - {window} * interval '1 day' \
         FROM expunged_entries e \
         JOIN mailboxes b ON b.user_id = e.user_id AND b.id = e.mailbox_id \
         LEFT JOIN users u ON u.id = e.expunged_by \
         LEFT JOIN message_search s ON s.user_id = e.user_id AND s.message_id = e.message_id \
         WHERE e.user_id = $1 AND ($2::bigint IS NULL OR e.mailbox_id = $2) \
           AND (e.expunged_at > now() - {window} * interval '1 day' OR {HELD}) AND {condition} \
         ORDER BY b.name, e.uid"
    );
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&user, &mailbox];
    params.extend(c.params());
    let rows = client.query(&sql, &params).await?;
    rows.iter()
        .map(|r| {
            let moved: bool = r.try_get(6)?;
            let recent: bool = r.try_get(7)?;
            Ok(Tombstone {
                mailbox: r.try_get(0)?,
                uid: to_u32(r.try_get(1)?, "uid")?,
                expunged_at: unix(r.try_get(2)?),
                by: r.try_get(3)?,
                reason: r.try_get(4)?,
                subject: r.try_get(5)?,
                restorable: if moved {
                    Restorable::Moved
                } else if recent {
                    Restorable::Yes
                } else {
                    Restorable::Held
                },
            })
        })
        .collect()
}

/// Restores the tombstones of `mailbox` that match `key` and are
/// restorable (see the module comment) as new entries, in ONE transaction:
/// the mailbox row locked, consecutive new UIDs from uidnext in old-UID
/// order under one new modseq, the counters, one 'new' change row, one
/// audit row per message (`undelete`, by `actor`), the tombstones removed,
/// and a NOTIFY so sessions with the mailbox selected see EXISTS. With
/// `dry_run` nothing changes and the new UIDs are the ones they would get.
/// The restore itself is one set-based statement whatever the number.
#[allow(clippy::too_many_arguments)]
pub async fn undelete(
    client: &mut Client,
    user: i64,
    mailbox: i64,
    key: &SearchKey,
    window_days: u32,
    dry_run: bool,
    actor: &str,
) -> Result<Vec<Restored>, StoreError> {
    let tx = client.transaction().await?;
    let locked = lock_mailbox(&tx, user, mailbox).await?;

    let mut c = Compiled::default();
    let condition = c.condition(key)?;
    let window = c.bind(Param::Int(i64::from(window_days)));
    let sql = format!(
        "SELECT e.uid, coalesce(s.subject, '') FROM expunged_entries e \
         LEFT JOIN message_search s ON s.user_id = e.user_id AND s.message_id = e.message_id \
         WHERE e.user_id = $1 AND e.mailbox_id = $2 AND NOT {MOVED} \
           AND (e.expunged_at > now() - {window} * interval '1 day' OR {HELD}) AND {condition} \
         ORDER BY e.uid"
    );
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&user, &mailbox];
    params.extend(c.params());
    let rows = tx.query(&sql, &params).await?;
    let n = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let first = locked.uidnext;
    if first.saturating_add(n) > 4_294_967_296 {
        return Err(StoreError::Limit(format!(
            "mailbox {mailbox} has run out of UIDs"
        )));
    }
    let mut restored = Vec::with_capacity(rows.len());
    for (i, r) in (0i64..).zip(&rows) {
        restored.push(Restored {
            old_uid: to_u32(r.try_get(0)?, "uid")?,
            new_uid: to_u32(first + i, "uid")?,
            subject: r.try_get(1)?,
        });
    }
    if dry_run || restored.is_empty() {
        tx.rollback().await?;
        return Ok(restored);
    }

    let modseq = locked.next_modseq()?;
    let (lows, highs) = UidSet::from_values(restored.iter().map(|r| r.old_uid)).bounds();
    // The ranges are islands of exactly the UIDs chosen above, and the
    // mailbox lock keeps other expunges out, so src is that set again; the
    // counts below check it. Data-modifying CTEs all run, referenced or not.
    let counts = tx
        .query_one(
            "WITH src AS ( \
               SELECT x.*, row_number() OVER (ORDER BY x.uid) AS n \
               FROM unnest($3::bigint[], $4::bigint[]) AS r(lo, hi) \
               JOIN expunged_entries x ON x.user_id = $1 AND x.mailbox_id = $2 AND x.uid BETWEEN r.lo AND r.hi), \
             gone AS ( \
               DELETE FROM expunged_entries x USING src \
               WHERE x.user_id = $1 AND x.mailbox_id = $2 AND x.uid = src.uid RETURNING x.uid), \
             ins AS ( \
               INSERT INTO mailbox_entries (user_id, mailbox_id, uid, message_id, modseq, seen, answered, \
                                            flagged, deleted, draft, keywords, internaldate, rfc822_size) \
               SELECT $1, $2, $5::bigint - 1 + n, message_id, $6::bigint, seen, answered, flagged, false, draft, \
                      keywords, internaldate, rfc822_size FROM src \
               RETURNING seen, rfc822_size), \
             audit AS ( \
               INSERT INTO audit_log (actor, action, user_id, mailbox_id, uid, raw_sha256, detail) \
               SELECT $7, 'undelete', $1, $2, $5::bigint - 1 + src.n, m.raw_sha256, \
                      'restored from uid ' || src.uid || ' (' || src.reason || ')' \
               FROM src JOIN messages m ON m.user_id = $1 AND m.id = src.message_id) \
             SELECT count(*), count(*) FILTER (WHERE NOT seen), coalesce(sum(rfc822_size), 0)::bigint, \
                    (SELECT count(*) FROM gone) FROM ins",
            &[&user, &mailbox, &lows, &highs, &first, &modseq, &actor],
        )
        .await?;
    let (count, unseen, size, removed): (i64, i64, i64, i64) = (
        counts.try_get(0)?,
        counts.try_get(1)?,
        counts.try_get(2)?,
        counts.try_get(3)?,
    );
    if count != n || removed != n {
        // A tombstone vanished (vacuum) between the two statements.
        return Err(StoreError::InUse(format!(
            "the tombstones of mailbox {mailbox} changed during the undelete; try again"
        )));
    }
    tx.execute(
        "UPDATE mailboxes SET uidnext = uidnext + $3, highest_modseq = $4, message_count = message_count + $3, \
         unseen_count = unseen_count + $5, total_size = total_size + $6 WHERE user_id = $1 AND id = $2",
        &[&user, &mailbox, &n, &modseq, &unseen, &size],
    )
    .await?;
    let last = first + n - 1;
    let dest = UidSet::from_ranges([(to_u32(first, "uid")?, to_u32(last, "uid")?)]);
    record(&tx, user, mailbox, modseq, "new", &dest).await?;
    notify(&tx, user, mailbox, modseq, last + 1).await?;
    tx.commit().await?;
    Ok(restored)
}
