//! COPY (RFC 9051 §6.4.7) and MOVE (RFC 6851): new entries for the same
//! message rows (no content is copied), in one INSERT … SELECT whatever the
//! number of messages, with COPYUID data (RFC 4315 §3).

use tokio_postgres::{Client, Transaction};

use super::StoreError;
use super::changes::{Locked, lock_mailboxes, notify, record};
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

/// Whether a transfer leaves the entries in the source too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transfer {
    /// New entries in the target for the same messages.
    Copy,
    /// The entries themselves move to the target under their new UIDs.
    Move,
}

/// The counters the transferred entries carry.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    count: i64,
    unseen: i64,
    deleted: i64,
    size: i64,
}

/// The transfer itself, in the caller's transaction: locks both mailbox
/// rows (in id order), copies or moves the entries, and updates the
/// target's counters, change log and NOTIFY. Returns the outcome, the
/// source row as locked (moved on when source and target are one mailbox)
/// and what was transferred.
async fn transfer_locked(
    tx: &Transaction<'_>,
    user: i64,
    from: i64,
    uids: &UidSet,
    to: i64,
    how: Transfer,
) -> Result<(CopyOutcome, Locked, Totals), StoreError> {
    let locked = lock_mailboxes(tx, user, &[from, to]).await?;
    let (source_row, target) = (find(&locked, from)?, find(&locked, to)?);
    let uidvalidity = to_u32(target.uidvalidity, "uidvalidity")?;

    // $1 user, $2 source, then the ranges.
    let filter = UidFilter::new(uids, "o", 3);
    let inner = format!(
        "SELECT o.uid FROM {} WHERE o.user_id = $1 AND o.mailbox_id = $2",
        filter.entries()
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
        return Ok((outcome, source_row, Totals::default()));
    }
    let first = target.uidnext;
    let last = first.saturating_add(n - 1);
    let (first_uid, last_uid) = match (u32::try_from(first), u32::try_from(last)) {
        (Ok(a), Ok(b)) => (a, b),
        _ => {
            return Err(StoreError::Limit(format!(
                "mailbox {to} has run out of UIDs"
            )));
        }
    };
    let modseq = target.next_modseq()?;

    // The source's runs of UIDs, each with the target UID its first one
    // gets: the i-th source UID maps to the i-th target UID, as COPYUID
    // says, and each entry's new UID is arithmetic on its own row, so no
    // statement joins the entries to themselves.
    let (lows, highs) = source.bounds();
    let mut bases = Vec::with_capacity(lows.len());
    let mut next = first;
    for (lo, hi) in lows.iter().zip(&highs) {
        bases.push(next);
        next += hi - lo + 1;
    }
    // $1 user, $2 source, $3 target, $4 modseq, $5/$6/$7 runs and bases.
    let runs = "unnest($5::bigint[], $6::bigint[], $7::bigint[]) AS r(lo, hi, base)";
    let transfer = match how {
        Transfer::Copy => format!(
            "INSERT INTO mailbox_entries (user_id, mailbox_id, uid, message_id, modseq, seen, answered, \
                                          flagged, deleted, draft, keywords, internaldate, rfc822_size) \
             SELECT $1, $3, r.base + (o.uid - r.lo), o.message_id, $4::bigint, o.seen, o.answered, \
                    o.flagged, o.deleted, o.draft, o.keywords, o.internaldate, o.rfc822_size \
             FROM {runs} CROSS JOIN LATERAL ( \
               SELECT * FROM mailbox_entries \
               WHERE user_id = $1 AND mailbox_id = $2 AND uid BETWEEN r.lo AND r.hi OFFSET 0) o \
             RETURNING seen, deleted, rfc822_size"
        ),
        // The rows themselves change mailbox: no second copy of the entry
        // and no tombstone (the message lives on in the target, so there
        // is nothing to undelete), which makes MOVE about one write per
        // message instead of three.
        Transfer::Move => format!(
            "UPDATE mailbox_entries o SET mailbox_id = $3, uid = r.base + (o.uid - r.lo), modseq = $4 \
             FROM {runs} \
             WHERE o.user_id = $1 AND o.mailbox_id = $2 AND o.uid BETWEEN r.lo AND r.hi \
             RETURNING o.seen, o.deleted, o.rfc822_size"
        ),
    };
    // A move is audited per run of source UIDs (src/store/audit.rs), as
    // the change log records it: the user moved source UIDs lo:hi to the
    // target's base:base+(hi-lo). The mapping is exact, so each message's
    // way is traced from the row that named its content on arrival
    // (append, deliver, import) without a read of every message here.
    let audit = match how {
        Transfer::Copy => "",
        Transfer::Move => {
            ", a AS ( \
               INSERT INTO audit_log (actor, action, user_id, mailbox_id, uid, detail) \
               SELECT (SELECT u.login::text FROM users u WHERE u.id = $1), 'move', $1, $2, r.lo, \
                      CASE WHEN r.lo = r.hi \
                        THEN 'uid ' || r.lo || ' to mailbox ' || $3::bigint || ' as uid ' || r.base \
                        ELSE 'uids ' || r.lo || ':' || r.hi || ' to mailbox ' || $3::bigint \
                             || ' as uids ' || r.base || ':' || (r.base + r.hi - r.lo) END \
               FROM unnest($5::bigint[], $6::bigint[], $7::bigint[]) AS r(lo, hi, base))"
        }
    };
    let sql = format!(
        "WITH t AS ({transfer}){audit} \
         SELECT count(*), count(*) FILTER (WHERE NOT seen), count(*) FILTER (WHERE deleted), \
                coalesce(sum(rfc822_size), 0)::bigint FROM t"
    );
    let counts = tx
        .query_one(&sql, &[&user, &from, &to, &modseq, &lows, &highs, &bases])
        .await?;
    let totals = Totals {
        count: counts.try_get(0)?,
        unseen: counts.try_get(1)?,
        deleted: counts.try_get(2)?,
        size: counts.try_get(3)?,
    };
    if totals.count != n {
        // The source row lock should make this impossible; never leave counters wrong.
        return Err(StoreError::InUse(format!(
            "mailbox {from} changed during a copy"
        )));
    }
    tx.execute(
        "UPDATE mailboxes SET uidnext = uidnext + $3, highest_modseq = $4, message_count = message_count + $3, \
         unseen_count = unseen_count + $5, deleted_count = deleted_count + $6, total_size = total_size + $7 \
         WHERE user_id = $1 AND id = $2",
        &[&user, &to, &n, &modseq, &totals.unseen, &totals.deleted, &totals.size],
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
    // When source and target are one mailbox the transfer moved its row on.
    let source_row = if from == to {
        Locked {
            uidnext: last + 1,
            highest_modseq: modseq,
            ..source_row
        }
    } else {
        source_row
    };
    Ok((outcome, source_row, totals))
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
    let (outcome, _, _) = transfer_locked(&tx, user, from, uids, to, Transfer::Copy).await?;
    if outcome.source.is_empty() {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(outcome)
}

/// RFC 6851 MOVE: the entries leave `from` for `to` under new UIDs, with
/// their flags, keywords and message, in ONE transaction, so no other
/// session ever sees the messages in both mailboxes or in neither. The
/// source logs them as expunged (VANISHED/EXPUNGE for its sessions) but
/// keeps no tombstones: undelete has nothing to bring back.
pub async fn move_messages(
    client: &mut Client,
    user: i64,
    from: i64,
    uids: &UidSet,
    to: i64,
) -> Result<MoveOutcome, StoreError> {
    let tx = client.transaction().await?;
    let (copy, source_row, totals) =
        transfer_locked(&tx, user, from, uids, to, Transfer::Move).await?;
    if copy.source.is_empty() {
        tx.rollback().await?;
        return Ok(MoveOutcome {
            copy,
            expunged_modseq: to_u64(source_row.highest_modseq, "highest_modseq")?,
        });
    }
    let modseq = source_row.next_modseq()?;
    tx.execute(
        "UPDATE mailboxes SET message_count = message_count - $3, unseen_count = unseen_count - $4, \
         deleted_count = deleted_count - $5, total_size = total_size - $6, highest_modseq = $7 \
         WHERE user_id = $1 AND id = $2",
        &[
            &user,
            &from,
            &totals.count,
            &totals.unseen,
            &totals.deleted,
            &totals.size,
            &modseq,
        ],
    )
    .await?;
    record(&tx, user, from, modseq, "expunged", &copy.source).await?;
    notify(&tx, user, from, modseq, source_row.uidnext).await?;
    tx.commit().await?;
    Ok(MoveOutcome {
        copy,
        expunged_modseq: to_u64(modseq, "modseq")?,
    })
}
