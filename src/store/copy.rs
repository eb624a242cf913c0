//! COPY (RFC 9051 §6.4.7) and MOVE (RFC 6851): new entries for the same
//! message rows (no content is copied), in one INSERT … SELECT whatever the
//! number of messages, with COPYUID data (RFC 4315 §3).

use tokio_postgres::{Client, Transaction};

use super::StoreError;
use super::changes::{Locked, lock_mailboxes, notify, record};
use super::expunge::{Leaving, expunge_locked};
use super::select::{UidFilter, islands, islands_sql, to_u32, to_u64};
use crate::uidset::UidSet;

/// What a COPY did: `source`'s i-th UID became `dest`'s i-th, in ascending
/// order (RFC 4315 COPYUID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOutcome {
    /// The target's UIDVALIDITY.
    pub uidvalidity: u32,
    /// The source UIDs copied (those of the requested set that exist).
    pub source: UidSet,
    /// The UIDs they got in the target: consecutive, in source order.
    pub dest: UidSet,
    /// The target's new modseq, or its old highest if nothing was copied.
    pub modseq: u64,
}

/// What a MOVE did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveOutcome {
    /// The copy into the target.
    pub copy: CopyOutcome,
    /// The modseq of the source's expunge (its old highest if nothing moved).
    pub expunged_modseq: u64,
}

fn find(locked: &[Locked], id: i64) -> Result<Locked, StoreError> {
    locked
        .iter()
        .find(|l| l.id == id)
        .copied()
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {id} does not exist")))
}

/// The copy itself, in the caller's transaction: locks both mailbox rows
/// (in id order), inserts the entries and updates the target's counters,
/// change log and NOTIFY. Returns the outcome and the source row as locked.
async fn copy_locked(
    tx: &Transaction<'_>,
    user: i64,
    from: i64,
    uids: &UidSet,
    to: i64,
) -> Result<(CopyOutcome, Locked), StoreError> {
    let locked = lock_mailboxes(tx, user, &[from, to]).await?;
    let (source_row, target) = (find(&locked, from)?, find(&locked, to)?);
    let uidvalidity = to_u32(target.uidvalidity, "uidvalidity")?;

    // $1 user, $2 source, then the ranges.
    let filter = UidFilter::new(uids, "o", 3);
    let inner = format!(
        "SELECT o.uid FROM mailbox_entries o{} WHERE o.user_id = $1 AND o.mailbox_id = $2",
        filter.join()
    );
    let rows = tx
        .query(&islands_sql(&inner), &filter.params(&[&user, &from]))
        .await?;
    let source = islands(&rows)?;
    let n = i64::try_from(source.len()).unwrap_or(i64::MAX);
    if n == 0 {
        let outcome = CopyOutcome {
            uidvalidity,
            source,
            dest: UidSet::new(),
            modseq: to_u64(target.highest_modseq, "highest_modseq")?,
        };
        return Ok((outcome, source_row));
    }
    let first = target.uidnext;
    let last = first.saturating_add(n - 1);
    let (first_uid, last_uid) = match (u32::try_from(first), u32::try_from(last)) {
        (Ok(a), Ok(b)) => (a, b),
        _ => {
            return Err(StoreError::Conflict(format!(
                "mailbox {to} has run out of UIDs"
            )));
        }
    };
    let modseq = target.next_modseq()?;

    // The new UIDs follow the source UIDs' order (row_number), so the
    // i-th source UID maps to the i-th target UID, as COPYUID says.
    // $1 user, $2 source, $3 target, $4 first new UID, $5 modseq, then the ranges.
    let filter = UidFilter::new(uids, "o", 6);
    let sql = format!(
        "WITH src AS ( \
           SELECT o.*, row_number() OVER (ORDER BY o.uid) AS n \
           FROM mailbox_entries o{} WHERE o.user_id = $1 AND o.mailbox_id = $2), \
         ins AS ( \
           INSERT INTO mailbox_entries (user_id, mailbox_id, uid, message_id, modseq, seen, answered, \
                                        flagged, deleted, draft, keywords, internaldate, rfc822_size) \
           SELECT $1, $3, $4::bigint - 1 + n, message_id, $5::bigint, seen, answered, flagged, deleted, draft, \
                  keywords, internaldate, rfc822_size FROM src \
           RETURNING seen, deleted, rfc822_size) \
         SELECT count(*), count(*) FILTER (WHERE NOT seen), count(*) FILTER (WHERE deleted), \
                coalesce(sum(rfc822_size), 0)::bigint FROM ins",
        filter.join()
    );
    let counts = tx
        .query_one(&sql, &filter.params(&[&user, &from, &to, &first, &modseq]))
        .await?;
    let (count, unseen, deleted, size): (i64, i64, i64, i64) = (
        counts.try_get(0)?,
        counts.try_get(1)?,
        counts.try_get(2)?,
        counts.try_get(3)?,
    );
    if count != n {
        // The source row lock should make this impossible; never leave counters wrong.
        return Err(StoreError::Conflict(format!(
            "mailbox {from} changed during a copy"
        )));
    }
    tx.execute(
        "UPDATE mailboxes SET uidnext = uidnext + $3, highest_modseq = $4, message_count = message_count + $3, \
         unseen_count = unseen_count + $5, deleted_count = deleted_count + $6, total_size = total_size + $7 \
         WHERE user_id = $1 AND id = $2",
        &[&user, &to, &n, &modseq, &unseen, &deleted, &size],
    )
    .await?;
    let dest = UidSet::from_ranges([(first_uid, last_uid)]);
    record(tx, user, to, modseq, "new", &dest).await?;
    notify(tx, user, to, modseq, last + 1).await?;
    let outcome = CopyOutcome {
        uidvalidity,
        source,
        dest,
        modseq: to_u64(modseq, "modseq")?,
    };
    // When source and target are one mailbox the copy moved its row on.
    let source_row = if from == to {
        Locked {
            uidnext: last + 1,
            highest_modseq: modseq,
            ..source_row
        }
    } else {
        source_row
    };
    Ok((outcome, source_row))
}

/// RFC 9051 §6.4.7 COPY: copies the entries of `uids` in `from` to `to`
/// (the same message rows, no content copied) with their flags and
/// keywords; they get new consecutive UIDs in the target, in source-UID
/// order, under one new target modseq and one 'new' change row.
pub async fn copy(
    client: &mut Client,
    user: i64,
    from: i64,
    uids: &UidSet,
    to: i64,
) -> Result<CopyOutcome, StoreError> {
    let tx = client.transaction().await?;
    let (outcome, _) = copy_locked(&tx, user, from, uids, to).await?;
    if outcome.source.is_empty() {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(outcome)
}

/// RFC 6851 MOVE: the copy and the expunge of the copied source entries
/// (all of them, not only `\Deleted` ones; reason 'move', expunged by `by`)
/// in ONE transaction, so no other session ever sees the messages in both
/// mailboxes or in neither.
pub async fn move_messages(
    client: &mut Client,
    user: i64,
    from: i64,
    uids: &UidSet,
    to: i64,
    by: i64,
) -> Result<MoveOutcome, StoreError> {
    let tx = client.transaction().await?;
    let (copy, source_row) = copy_locked(&tx, user, from, uids, to).await?;
    if copy.source.is_empty() {
        tx.rollback().await?;
        return Ok(MoveOutcome {
            copy,
            expunged_modseq: to_u64(source_row.highest_modseq, "highest_modseq")?,
        });
    }
    let modseq = source_row.next_modseq()?;
    let first_uid = copy.dest.first().map_or(0, i64::from);
    let gone = expunge_locked(
        &tx,
        user,
        from,
        &copy.source,
        false,
        modseq,
        by,
        Leaving::Move { to, first_uid },
    )
    .await?
    .gone;
    if gone != copy.source {
        return Err(StoreError::Conflict(format!(
            "mailbox {from} changed during a move"
        )));
    }
    notify(&tx, user, from, modseq, source_row.uidnext).await?;
    tx.commit().await?;
    Ok(MoveOutcome {
        copy,
        expunged_modseq: to_u64(modseq, "modseq")?,
    })
}
