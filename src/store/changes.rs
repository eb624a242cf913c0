//! The change log, both ways: the writers' side (lock the mailbox row, take
//! the next modseq, record UID ranges, NOTIFY) shared by STORE, EXPUNGE,
//! COPY and MOVE, and the readers' side, [`changes_since`], which feeds IDLE
//! and NOOP updates and QRESYNC VANISHED (RFC 7162 §3.2.5.1).

use tokio_postgres::{GenericClient, Transaction};

use super::StoreError;
use super::flags::EntryFlags;
use super::inject::{CHANGE_CHANNEL, SystemFlags};
use super::select::{UidFilter, islands, islands_sql, to_i64, to_u32, to_u64, uidnext_u32};
use crate::uidset::UidSet;

/// A mailbox row as a writer sees it once it holds the row lock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Locked {
    pub(crate) id: i64,
    pub(crate) uidnext: i64,
    pub(crate) highest_modseq: i64,
    pub(crate) uidvalidity: i64,
}

impl Locked {
    /// The modseq this transaction's change takes: one more than the
    /// highest, which the row lock makes ours alone (RFC 7162 §3.1.1).
    pub(crate) fn next_modseq(&self) -> Result<i64, StoreError> {
        self.highest_modseq
            .checked_add(1)
            .ok_or_else(|| StoreError::Limit(format!("mailbox {} has run out of modseqs", self.id)))
    }
}

/// Locks the rows of `mailboxes` (one or two) in id order and returns them
/// in that order. Every writer locks a mailbox row before touching its
/// entries, and COPY/MOVE lock two in id order, so two writers never wait
/// for each other in a cycle. NotFound unless all exist and are not deleted.
pub(crate) async fn lock_mailboxes(
    tx: &Transaction<'_>,
    user: i64,
    mailboxes: &[i64],
) -> Result<Vec<Locked>, StoreError> {
    let mut ids = mailboxes.to_vec();
    ids.sort_unstable();
    ids.dedup();
    // LockRows sits above the sort, so the rows are locked in id order.
    let rows = tx
        .query(
            "SELECT id, uidnext, highest_modseq, uidvalidity FROM mailboxes \
             WHERE user_id = $1 AND id = ANY($2) AND NOT deleted ORDER BY id FOR UPDATE",
            &[&user, &ids],
        )
        .await?;
    if rows.len() != ids.len() {
        return Err(StoreError::NotFound(format!(
            "a mailbox of user {user} among {ids:?} does not exist"
        )));
    }
    rows.iter()
        .map(|r| {
            Ok(Locked {
                id: r.try_get(0)?,
                uidnext: r.try_get(1)?,
                highest_modseq: r.try_get(2)?,
                uidvalidity: r.try_get(3)?,
            })
        })
        .collect()
}

/// Locks one mailbox row; see [`lock_mailboxes`].
pub(crate) async fn lock_mailbox(
    tx: &Transaction<'_>,
    user: i64,
    mailbox: i64,
) -> Result<Locked, StoreError> {
    lock_mailboxes(tx, user, &[mailbox])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox} does not exist")))
}

/// Writes one change-log row per range of `uids` (one statement), the kind
/// being 'new', 'flags' or 'expunged'.
pub(crate) async fn record(
    tx: &Transaction<'_>,
    user: i64,
    mailbox: i64,
    modseq: i64,
    kind: &str,
    uids: &UidSet,
) -> Result<(), StoreError> {
    if uids.is_empty() {
        return Ok(());
    }
    let (lows, highs) = uids.bounds();
    tx.execute(
        "INSERT INTO mailbox_changes (user_id, mailbox_id, modseq, kind, uid_low, uid_high) \
         SELECT $1, $2, $3, $4, lo, hi FROM unnest($5::bigint[], $6::bigint[]) AS r(lo, hi)",
        &[&user, &mailbox, &modseq, &kind, &lows, &highs],
    )
    .await?;
    Ok(())
}

/// NOTIFY on the change channel, payload `user:mailbox:modseq:uidnext` as
/// the injector sends it; delivered when (and only if) the transaction commits.
pub(crate) async fn notify(
    tx: &Transaction<'_>,
    user: i64,
    mailbox: i64,
    modseq: i64,
    uidnext: i64,
) -> Result<(), StoreError> {
    let payload = format!("{user}:{mailbox}:{modseq}:{uidnext}");
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANGE_CHANNEL, &payload])
        .await?;
    Ok(())
}

/// What changed in a mailbox since a session last looked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// The mailbox's highest modseq when read: the session's next `since`.
    pub highest_modseq: u64,
    /// The mailbox's uidnext when read: the session's next `uidnext`.
    pub uidnext: u32,
    /// UIDs that arrived at or after the session's uidnext (EXISTS).
    pub new_uids: UidSet,
    /// UIDs the session knows that are gone (EXPUNGE / VANISHED).
    pub expunged: UidSet,
    /// Known, still-present entries whose flags changed (FETCH FLAGS), in UID order.
    pub flags: Vec<EntryFlags>,
}

/// What changed in the mailbox since `since` modseq, for a session whose
/// view is `known` (its current UIDs): the IDLE/NOOP untagged updates and
/// QRESYNC VANISHED.
///
/// `new_uids`: entries with uid >= the session's `uidnext`. `expunged`:
/// known UIDs gone, from the 'expunged' change rows with modseq > since, or,
/// when since < changes_pruned_to (the log no longer reaches back), as
/// known − present: never a silent miss (RFC 7162 §3.2.5.2 allows a full
/// answer). `flags`: known, still-present entries with modseq > since; the
/// log's 'flags' ranges restrict the scan first, since entries have no
/// index on modseq.
///
/// The statements run on `client` as given: pass a REPEATABLE READ
/// transaction for one snapshot. Each part is bounded by what the first
/// statement read, and anything later is reported again next time.
pub async fn changes_since(
    client: &impl GenericClient,
    user: i64,
    mailbox: i64,
    since: u64,
    known: &UidSet,
    uidnext: u32,
) -> Result<Changes, StoreError> {
    let row = client
        .query_opt(
            "SELECT highest_modseq, uidnext, changes_pruned_to FROM mailboxes \
             WHERE user_id = $1 AND id = $2 AND NOT deleted",
            &[&user, &mailbox],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox} does not exist")))?;
    let highest: i64 = row.try_get(0)?;
    let now_uidnext: i64 = row.try_get(1)?;
    let pruned_to: i64 = row.try_get(2)?;
    let since_db = to_i64(since, "modseq")?;

    // Entries below the row's uidnext are all committed (the injector
    // writes them and uidnext in one transaction).
    let new_uids = if i64::from(uidnext) < now_uidnext {
        let rows = client
            .query(
                &islands_sql(
                    "SELECT uid FROM mailbox_entries WHERE user_id = $1 AND mailbox_id = $2 \
                     AND uid >= $3 AND uid < $4",
                ),
                &[&user, &mailbox, &i64::from(uidnext), &now_uidnext],
            )
            .await?;
        islands(&rows)?
    } else {
        UidSet::new()
    };

    let complete_log = since_db >= pruned_to;
    let expunged = if known.is_empty() || since_db >= highest {
        UidSet::new()
    } else if complete_log {
        let ranges = logged_ranges(client, user, mailbox, "expunged", since_db).await?;
        known.intersection(&ranges)
    } else {
        let filter = UidFilter::new(known, "e", 3);
        let inner = format!(
            "SELECT e.uid FROM {} WHERE e.user_id = $1 AND e.mailbox_id = $2",
            filter.entries()
        );
        let rows = client
            .query(&islands_sql(&inner), &filter.params(&[&user, &mailbox]))
            .await?;
        known.difference(&islands(&rows)?)
    };

    let flags = if known.is_empty() || since_db >= highest {
        Vec::new()
    } else {
        let candidates = if complete_log {
            known.intersection(&logged_ranges(client, user, mailbox, "flags", since_db).await?)
        } else {
            known.clone()
        };
        if candidates.is_empty() {
            Vec::new()
        } else {
            let filter = UidFilter::new(&candidates, "e", 4);
            let sql = format!(
                "SELECT e.uid, e.modseq, e.seen, e.answered, e.flagged, e.deleted, e.draft, e.keywords \
                 FROM {} WHERE e.user_id = $1 AND e.mailbox_id = $2 AND e.modseq > $3 \
                 ORDER BY e.uid",
                filter.entries()
            );
            let rows = client
                .query(&sql, &filter.params(&[&user, &mailbox, &since_db]))
                .await?;
            rows.iter().map(entry_flags).collect::<Result<_, _>>()?
        }
    };

    Ok(Changes {
        highest_modseq: to_u64(highest, "highest_modseq")?,
        uidnext: uidnext_u32(now_uidnext),
        new_uids,
        expunged,
        flags,
    })
}

/// The union of the log's `kind` ranges with modseq > since.
async fn logged_ranges(
    client: &impl GenericClient,
    user: i64,
    mailbox: i64,
    kind: &str,
    since: i64,
) -> Result<UidSet, StoreError> {
    let rows = client
        .query(
            "SELECT uid_low, uid_high FROM mailbox_changes \
             WHERE user_id = $1 AND mailbox_id = $2 AND modseq > $3 AND kind = $4",
            &[&user, &mailbox, &since, &kind],
        )
        .await?;
    let ranges = rows
        .iter()
        .map(|r| Ok((to_u32(r.try_get(0)?, "uid")?, to_u32(r.try_get(1)?, "uid")?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(UidSet::from_ranges(ranges))
}

/// An entry's flags from columns uid, modseq, seen, answered, flagged,
/// deleted, draft, keywords.
pub(crate) fn entry_flags(r: &tokio_postgres::Row) -> Result<EntryFlags, StoreError> {
    Ok(EntryFlags {
        uid: to_u32(r.try_get(0)?, "uid")?,
        modseq: to_u64(r.try_get(1)?, "modseq")?,
        flags: SystemFlags {
            seen: r.try_get(2)?,
            answered: r.try_get(3)?,
            flagged: r.try_get(4)?,
            deleted: r.try_get(5)?,
            draft: r.try_get(6)?,
        },
        keywords: r.try_get(7)?,
    })
}
