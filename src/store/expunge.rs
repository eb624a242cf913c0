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
    /// The UIDs a retention policy kept (still there, still `\Deleted`).
    pub retained: UidSet,
    /// The modseq of the expunge, or the old highest modseq if nothing went.
    pub modseq: u64,
}

/// Why entries leave a mailbox, which decides what retention and the
/// audit trail make of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leaving<'a> {
    /// An expunge (IMAP EXPUNGE, CLOSE, POP3 QUIT, DELETE): retention
    /// policies keep what they cover; audited as `expunge` with the reason.
    Expunge(&'a str),
}

/// What [`expunge_locked`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expunged {
    /// The UIDs moved to the tombstones.
    pub(crate) gone: UidSet,
    /// The candidates a retention policy kept.
    pub(crate) retained: UidSet,
}

/// Moves entries of `mailbox` in `uids` (only the `\Deleted` ones when
/// `only_deleted`) to the tombstones with `modseq`, except what a retention
/// policy keeps (for [`Leaving::Expunge`]), adjusts the counters, writes the
/// 'expunged' change rows and the audit rows. The caller holds the mailbox
/// row lock, so the policy check, the counting statement and the expunge
/// see the same entries. Sets highest_modseq to `modseq` when anything went.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn expunge_locked(
    tx: &Transaction<'_>,
    user: i64,
    mailbox: i64,
    uids: &UidSet,
    only_deleted: bool,
    modseq: i64,
    by: impl Into<Option<i64>>,
    leaving: Leaving<'_>,
) -> Result<Expunged, StoreError> {
    // None: the system (a retention policy applied by vacuum).
    let by: Option<i64> = by.into();
    let (retained, reason) = match leaving {
        Leaving::Expunge(reason) => (
            super::retention::retained(tx, user, mailbox, uids, only_deleted).await?,
            reason,
        ),
    };
    let candidates = if retained.is_empty() {
        uids.clone()
    } else {
        uids.difference(&retained)
    };
    let nothing = Expunged {
        gone: UidSet::new(),
        retained: retained.clone(),
    };
    if candidates.is_empty() {
        return Ok(nothing);
    }
    let (lows, highs) = candidates.bounds();
    // The audit rows ride on the counting statement (the one extra cost
    // the audit trail may add, here none): under the row lock it reads
    // exactly the entries expunge_entries removes next, and if the two
    // ever differed the check below rolls everything back.
    let counts = tx
        .query_one(
            &format!(
                "WITH c AS ( \
                   SELECT e.uid, e.message_id, e.seen, e.deleted, e.rfc822_size \
                   FROM mailbox_entries e JOIN unnest($3::bigint[], $4::bigint[]) AS r(lo, hi) \
                     ON e.uid BETWEEN r.lo AND r.hi \
                   WHERE e.user_id = $1 AND e.mailbox_id = $2 AND (NOT $5 OR e.deleted)), \
                 audit AS ({}) \
                 SELECT count(*), count(*) FILTER (WHERE NOT c.seen), count(*) FILTER (WHERE c.deleted), \
                        coalesce(sum(c.rfc822_size), 0)::bigint FROM c",
                super::audit::LEAVING_SQL
            ),
            &[
                &user,
                &mailbox,
                &lows,
                &highs,
                &only_deleted,
                &by,
                &reason,
            ],
        )
        .await?;
    let (count, unseen, deleted, size): (i64, i64, i64, i64) = (
        counts.try_get(0)?,
        counts.try_get(1)?,
        counts.try_get(2)?,
        counts.try_get(3)?,
    );
    if count == 0 {
        return Ok(nothing);
    }
    let rows = tx
        .query(
            &islands_sql(
                "SELECT uid FROM expunge_entries($1, $2, $3::bigint[], $4::bigint[], $5, $6, $7, $8) AS uid",
            ),
            &[
                &user,
                &mailbox,
                &lows,
                &highs,
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
        return Err(StoreError::InUse(format!(
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
    Ok(Expunged { gone, retained })
}

/// RFC 9051 §6.4.3 EXPUNGE (and §6.4.9 UID EXPUNGE when `uids` is given):
/// moves the `\Deleted` entries to expunged_entries via `expunge_entries()`,
/// with the new modseq, who (`by`, a user id) and `reason` ('expunge',
/// 'pop3', …), keeping their flags and keywords for undelete; adjusts the
/// counters and writes one 'expunged' change row per UID range and one
/// audit row per message. Entries a retention policy covers stay (still
/// `\Deleted`) and are reported in `retained`.
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
    let everything = UidSet::everything();
    let done = expunge_locked(
        &tx,
        user,
        mailbox,
        uids.unwrap_or(&everything),
        true,
        modseq,
        by,
        Leaving::Expunge(reason),
    )
    .await?;
    if done.gone.is_empty() {
        tx.rollback().await?;
        return Ok(ExpungeOutcome {
            uids: done.gone,
            retained: done.retained,
            modseq: to_u64(locked.highest_modseq, "highest_modseq")?,
        });
    }
    notify(&tx, user, mailbox, modseq, locked.uidnext).await?;
    tx.commit().await?;
    Ok(ExpungeOutcome {
        uids: done.gone,
        retained: done.retained,
        modseq: to_u64(modseq, "modseq")?,
    })
}
