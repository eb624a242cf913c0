//! EXPUNGE and UID EXPUNGE (RFC 9051 §6.4.3, §6.4.9): entries move to the
//! tombstones through the SECURITY DEFINER function `expunge_entries` (the
//! runtime role has no DELETE), in one statement whatever their number.

use tokio_postgres::{Client, Transaction};

use super::StoreError;
use super::changes::{lock_mailbox, notify, record};
use super::select::{islands, islands_sql, to_u64};
use crate::uidset::UidSet;

/// What an expunge removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpungeOutcome {
    /// The UIDs expunged.
    pub uids: UidSet,
    /// The modseq of the expunge, or the old highest modseq if nothing went.
    pub modseq: u64,
}

/// Moves entries of `mailbox` within `lows`/`highs` (only the `\Deleted` ones
/// when `only_deleted`) to the tombstones with `modseq`, adjusts the
/// counters and writes the 'expunged' change rows. The caller holds the
/// mailbox row lock, so the counting statement and the expunge see the same
/// entries. Sets highest_modseq to `modseq` when anything went. `by` is the
/// user who expunged, or None for the system (a retention policy).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn expunge_locked(
    tx: &Transaction<'_>,
    user: i64,
    mailbox: i64,
    bounds: &(Vec<i64>, Vec<i64>),
    only_deleted: bool,
    modseq: i64,
    by: impl Into<Option<i64>>,
    reason: &str,
) -> Result<UidSet, StoreError> {
    let by: Option<i64> = by.into();
    let (lows, highs) = bounds;
    let counts = tx
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE NOT e.seen), count(*) FILTER (WHERE e.deleted), \
                    coalesce(sum(e.rfc822_size), 0)::bigint \
             FROM mailbox_entries e JOIN unnest($3::bigint[], $4::bigint[]) AS r(lo, hi) \
               ON e.uid BETWEEN r.lo AND r.hi \
             WHERE e.user_id = $1 AND e.mailbox_id = $2 AND (NOT $5 OR e.deleted)",
            &[&user, &mailbox, lows, highs, &only_deleted],
        )
        .await?;
    let (count, unseen, deleted, size): (i64, i64, i64, i64) = (
        counts.try_get(0)?,
        counts.try_get(1)?,
        counts.try_get(2)?,
        counts.try_get(3)?,
    );
    if count == 0 {
        return Ok(UidSet::new());
    }
    let rows = tx
        .query(
            &islands_sql(
                "SELECT uid FROM expunge_entries($1, $2, $3::bigint[], $4::bigint[], $5, $6, $7, $8) AS uid",
            ),
            &[
                &user,
                &mailbox,
                lows,
                highs,
                &only_deleted,
                &modseq,
                &by,
                &reason,
            ],
        )
        .await?;
    let gone = islands(&rows)?;
    if i64::try_from(gone.len()).ok() != Some(count) {
        // The row lock should make this impossible; never leave counters wrong.
        return Err(StoreError::Conflict(format!(
            "mailbox {mailbox} changed during an expunge"
        )));
    }
    tx.execute(
        "UPDATE mailboxes SET message_count = message_count - $3, unseen_count = unseen_count - $4, \
         deleted_count = deleted_count - $5, total_size = total_size - $6, highest_modseq = $7 \
         WHERE user_id = $1 AND id = $2",
        &[&user, &mailbox, &count, &unseen, &deleted, &size, &modseq],
    )
    .await?;
    record(tx, user, mailbox, modseq, "expunged", &gone).await?;
    Ok(gone)
}

/// RFC 9051 §6.4.3 EXPUNGE (and §6.4.9 UID EXPUNGE when `uids` is given):
/// moves the `\Deleted` entries to expunged_entries via `expunge_entries()`,
/// with the new modseq, who (`by`, a user id) and `reason` ('expunge',
/// 'pop3', …), keeping their flags and keywords for undelete; adjusts the
/// counters and writes one 'expunged' change row per UID range.
pub async fn expunge(
    client: &mut Client,
    user: i64,
    mailbox: i64,
    uids: Option<&UidSet>,
    by: i64,
    reason: &str,
) -> Result<ExpungeOutcome, StoreError> {
    let tx = client.transaction().await?;
    let locked = lock_mailbox(&tx, user, mailbox).await?;
    let modseq = locked.next_modseq()?;
    let bounds = uids.map_or_else(|| UidSet::everything().bounds(), UidSet::bounds);
    let gone = expunge_locked(&tx, user, mailbox, &bounds, true, modseq, by, reason).await?;
    if gone.is_empty() {
        tx.rollback().await?;
        return Ok(ExpungeOutcome {
            uids: gone,
            modseq: to_u64(locked.highest_modseq, "highest_modseq")?,
        });
    }
    notify(&tx, user, mailbox, modseq, locked.uidnext).await?;
    tx.commit().await?;
    Ok(ExpungeOutcome {
        uids: gone,
        modseq: to_u64(modseq, "modseq")?,
    })
}
