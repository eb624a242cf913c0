//! SELECT, EXAMINE and STATUS: a mailbox's counters from its row (O(1)), and
//! for SELECT its UIDs as ranges computed in SQL, so opening a mailbox of a
//! million messages sends a handful of rows, not a million.
//!
//! Also the small helpers the other IMAP store operations share: reading
//! UID sets back from SQL as ranges, and binding them as range predicates.

use std::collections::HashMap;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, GenericClient, IsolationLevel, Row};

use super::StoreError;
use super::mailboxes::canonical_name;
use crate::uidset::UidSet;

/// A mailbox's row: everything STATUS and SELECT report without a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxState {
    /// The owner's user id.
    pub user: i64,
    /// The mailbox id.
    pub mailbox: i64,
    /// The canonical name.
    pub name: String,
    /// UIDVALIDITY (RFC 9051 §2.3.1.1).
    pub uidvalidity: u32,
    /// UIDNEXT. A mailbox whose UIDs are used up (uidnext 2³²) reports
    /// `u32::MAX`, the largest value IMAP can carry.
    pub uidnext: u32,
    /// HIGHESTMODSEQ (RFC 7162 §3.1.1).
    pub highest_modseq: u64,
    /// Changes with modseq at or below this are gone from the change log.
    pub changes_pruned_to: u64,
    /// MESSAGES.
    pub message_count: u64,
    /// UNSEEN.
    pub unseen_count: u64,
    /// Messages with `\Deleted` (RFC 9051 STATUS DELETED).
    pub deleted_count: u64,
    /// Sum of RFC822.SIZE (RFC 8438 STATUS SIZE).
    pub total_size: u64,
    /// The RFC 6154 special-use attribute, e.g. `\Sent`.
    pub special_use: Option<String>,
    /// Whether the owner is subscribed.
    pub subscribed: bool,
}

/// What SELECT/EXAMINE needs to open a session on a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The counters, read in the same snapshot as `uids`.
    pub state: MailboxState,
    /// Every UID in the mailbox.
    pub uids: UidSet,
    /// The UIDs this session sees as `\Recent` (IMAP4rev1).
    pub recent: UidSet,
    /// The UID of the first message without `\Seen`, if any.
    pub first_unseen: Option<u32>,
    /// The names of the user's keywords, for the FLAGS response.
    pub keywords: Vec<String>,
}

const STATE_COLUMNS: &str = "user_id, id, name, uidvalidity, uidnext, highest_modseq, changes_pruned_to, \
     message_count, unseen_count, deleted_count, total_size, special_use, subscribed, first_recent";

/// A database integer that must fit `u32` (a UID, UIDVALIDITY).
pub(crate) fn to_u32(v: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Invalid(format!("{what} {v} is out of range")))
}

/// A database integer that must not be negative (a count, a modseq).
pub(crate) fn to_u64(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Invalid(format!("{what} {v} is negative")))
}

/// A modseq as PostgreSQL stores it (bigint).
pub(crate) fn to_i64(v: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Invalid(format!("{what} {v} is out of range")))
}

/// uidnext is 1..=2³² in the schema; 2³² (a full mailbox) saturates.
pub(crate) fn uidnext_u32(v: i64) -> u32 {
    u32::try_from(v.max(1)).unwrap_or(u32::MAX)
}

fn state_from_row(row: &Row) -> Result<MailboxState, StoreError> {
    Ok(MailboxState {
        user: row.try_get(0)?,
        mailbox: row.try_get(1)?,
        name: row.try_get(2)?,
        uidvalidity: to_u32(row.try_get(3)?, "uidvalidity")?,
        uidnext: uidnext_u32(row.try_get(4)?),
        highest_modseq: to_u64(row.try_get(5)?, "highest_modseq")?,
        changes_pruned_to: to_u64(row.try_get(6)?, "changes_pruned_to")?,
        message_count: to_u64(row.try_get(7)?, "message_count")?,
        unseen_count: to_u64(row.try_get(8)?, "unseen_count")?,
        deleted_count: to_u64(row.try_get(9)?, "deleted_count")?,
        total_size: to_u64(row.try_get(10)?, "total_size")?,
        special_use: row.try_get(11)?,
        subscribed: row.try_get(12)?,
    })
}

/// Reads the row of `name` and its first_recent.
async fn state_row(
    client: &impl GenericClient,
    user: i64,
    name: &str,
) -> Result<(MailboxState, i64), StoreError> {
    let name = canonical_name(name)?;
    let row = client
        .query_opt(
            &format!(
                "SELECT {STATE_COLUMNS} FROM mailboxes WHERE user_id = $1 AND name = $2 AND NOT deleted"
            ),
            &[&user, &name],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no mailbox named {name:?}")))?;
    Ok((state_from_row(&row)?, row.try_get(13)?))
}

/// By canonical name (see [`canonical_name`]); NotFound for a missing or
/// deleted mailbox. One SELECT of one row: STATUS is O(1).
pub async fn mailbox_state(
    client: &impl GenericClient,
    user: i64,
    name: &str,
) -> Result<MailboxState, StoreError> {
    Ok(state_row(client, user, name).await?.0)
}

/// How many messages of `mailbox` no session has claimed as `\Recent` yet
/// (UIDs from `first_recent` on): the next session to select it will see
/// them as `\Recent`, so STATUS RECENT counts them (RFC 3501 §6.3.10). A
/// range scan on the entries' primary key, run only when RECENT is asked.
pub async fn recent_count(
    client: &impl GenericClient,
    user: i64,
    mailbox: i64,
) -> Result<u64, StoreError> {
    let row = client
        .query_one(
            "SELECT count(*) FROM mailboxes m JOIN mailbox_entries e \
             ON e.user_id = m.user_id AND e.mailbox_id = m.id AND e.uid >= m.first_recent \
             WHERE m.user_id = $1 AND m.id = $2",
            &[&user, &mailbox],
        )
        .await?;
    to_u64(row.try_get(0)?, "recent count")
}

/// Wraps a query yielding a `uid` column so that it returns only the UIDs
/// that start or end a run of consecutive UIDs (gaps and islands), in order,
/// as `(uid, starts, ends)`; [`islands`] turns them into a [`UidSet`]. A
/// contiguous mailbox of any size comes back as two rows.
pub(crate) fn islands_sql(inner: &str) -> String {
    format!(
        "SELECT uid, starts, ends FROM ( \
           SELECT uid, lag(uid) OVER w IS DISTINCT FROM uid - 1 AS starts, \
                  lead(uid) OVER w IS DISTINCT FROM uid + 1 AS ends \
           FROM ({inner}) AS members WINDOW w AS (ORDER BY uid)) AS b \
         WHERE starts OR ends ORDER BY uid"
    )
}

/// The set of the rows of an [`islands_sql`] query.
pub(crate) fn islands(rows: &[Row]) -> Result<UidSet, StoreError> {
    let mut ranges = Vec::with_capacity(rows.len() / 2 + 1);
    let mut low = None;
    for row in rows {
        let uid = to_u32(row.try_get(0)?, "uid")?;
        if row.try_get(1)? {
            low = Some(uid);
        }
        if row.try_get(2)? {
            let lo = low
                .take()
                .ok_or_else(|| StoreError::Invalid("a UID range ended before it started".into()))?;
            ranges.push((lo, uid));
        }
    }
    Ok(UidSet::from_ranges(ranges))
}

/// True for the set `1:*` names once resolved: no UID predicate at all.
pub(crate) fn is_everything(uids: &UidSet) -> bool {
    uids.ranges() == [(1, u32::MAX)]
}

/// A mailbox's entries restricted to a UID set, binding the bounds as
/// parameters `$n` and `$n+1` (which the caller appends last), with nothing
/// bound when the set is everything (DESIGN.md §4.4: `1:*` is no predicate).
/// The statements using it have the user as `$1` and the mailbox as `$2`.
pub(crate) struct UidFilter {
    bounds: Option<(Vec<i64>, Vec<i64>)>,
    alias: String,
    first_param: usize,
}

impl UidFilter {
    pub(crate) fn new(uids: &UidSet, alias: &str, first_param: usize) -> UidFilter {
        UidFilter {
            bounds: (!is_everything(uids)).then(|| uids.bounds()),
            alias: alias.to_string(),
            first_param,
        }
    }

    /// A FROM item: the entries of mailbox `$2` of user `$1` within the
    /// set, named by the alias. Each range drives an index range scan on
    /// the primary key, in a LATERAL subquery fenced with OFFSET 0 so it is
    /// not flattened into a join: with a join, a mailbox whose statistics
    /// predate its contents (just copied or imported, estimated at a row)
    /// can be planned as a loop over its entries rescanning the ranges'
    /// entries for each, quadratic in the mailbox size.
    pub(crate) fn entries(&self) -> String {
        let alias = &self.alias;
        if self.bounds.is_none() {
            return format!("mailbox_entries {alias}");
        }
        let (a, b) = (self.first_param, self.first_param + 1);
        format!(
            "unnest(${a}::bigint[], ${b}::bigint[]) AS r(lo, hi) \
             CROSS JOIN LATERAL (SELECT * FROM mailbox_entries \
               WHERE user_id = $1 AND mailbox_id = $2 AND uid BETWEEN r.lo AND r.hi \
               OFFSET 0) {alias}"
        )
    }

    /// For an UPDATE, whose target cannot be a LATERAL subquery: a FROM
    /// item (with a leading comma) and a condition (with a leading AND) on
    /// the target alias, both empty for everything. The target is joined
    /// to the ranges alone, never to another scan of the entries, so the
    /// worst plan costs entries × ranges, not entries².
    pub(crate) fn update_ranges(&self) -> (String, String) {
        if self.bounds.is_none() {
            return (String::new(), String::new());
        }
        let (a, b) = (self.first_param, self.first_param + 1);
        (
            format!(", unnest(${a}::bigint[], ${b}::bigint[]) AS r(lo, hi)"),
            format!(" AND {}.uid BETWEEN r.lo AND r.hi", self.alias),
        )
    }

    /// `params` followed by the bounds, when there are any.
    pub(crate) fn params<'a>(
        &'a self,
        params: &[&'a (dyn ToSql + Sync)],
    ) -> Vec<&'a (dyn ToSql + Sync)> {
        let mut v = params.to_vec();
        if let Some((lows, highs)) = &self.bounds {
            v.push(lows);
            v.push(highs);
        }
        v
    }
}

/// Most 'expunged' ranges worth reading instead of every UID.
const EXPUNGED_RANGES_UP_TO: i64 = 100_000;

/// The mailbox's UIDs as `[low, high]` minus the ranges its change log
/// says were removed: UIDs are consecutive and never reused, and every
/// removal logs what it removed, so no present UID is in such a range.
/// Trusted only when it has exactly `message_count` UIDs (then the sets
/// are equal); None otherwise (a UID was skipped, or the log is too long
/// to be worth it), and the caller reads every UID.
async fn span_less_expunged(
    tx: &tokio_postgres::Transaction<'_>,
    user: i64,
    state: &MailboxState,
    low: i64,
    high: i64,
) -> Result<Option<UidSet>, StoreError> {
    let rows = tx
        .query(
            "SELECT uid_low, uid_high FROM mailbox_changes \
             WHERE user_id = $1 AND mailbox_id = $2 AND kind = 'expunged' \
               AND uid_low <= $4 AND uid_high >= $3 \
             LIMIT $5",
            &[
                &user,
                &state.mailbox,
                &low,
                &high,
                &(EXPUNGED_RANGES_UP_TO + 1),
            ],
        )
        .await?;
    if i64::try_from(rows.len()).unwrap_or(i64::MAX) > EXPUNGED_RANGES_UP_TO {
        return Ok(None);
    }
    let clip = |v: i64| u32::try_from(v.clamp(1, i64::from(u32::MAX))).unwrap_or(u32::MAX);
    let mut gone = Vec::with_capacity(rows.len());
    for r in &rows {
        gone.push((clip(r.try_get(0)?), clip(r.try_get(1)?)));
    }
    let uids = UidSet::from_ranges([(to_u32(low, "uid")?, to_u32(high, "uid")?)])
        .difference(&UidSet::from_ranges(gone));
    Ok((uids.len() == state.message_count).then_some(uids))
}

/// Opens `name` for a session (RFC 9051 §6.3.2 SELECT, §6.3.3 EXAMINE).
///
/// Counters, UIDs, the first unseen UID and the keywords are read in one
/// read-only REPEATABLE READ transaction, so the UIDs and counters agree
/// (every writer changes entries and counters in one transaction).
///
/// With `claim_recent` (a read-write SELECT, RFC 3501 §2.3.2) the session
/// takes `\Recent` for the UIDs from `first_recent` up to the snapshot's
/// uidnext, and `first_recent` moves up to that uidnext. The claim is a short
/// transaction of its own after the snapshot: holding the mailbox row lock
/// through the UID scan would stall delivery, and taking it inside the
/// REPEATABLE READ transaction fails whenever a writer commits first. Each
/// UID is still claimed by at most one session, since first_recent only
/// grows under the row lock; messages that arrive in between stay recent
/// for the next session. Without `claim_recent` (EXAMINE) the recent set is
/// reported but not taken (RFC 3501 §6.3.2: EXAMINE must not clear it).
pub async fn select(
    client: &mut Client,
    user: i64,
    name: &str,
    claim_recent: bool,
) -> Result<Snapshot, StoreError> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let (state, first_recent) = state_row(&tx, user, name).await?;
    // A mailbox without holes is one range, found by two index probes; only
    // a mailbox with holes pays for reading every UID (as ranges).
    let bounds = tx
        .query_one(
            "SELECT min(uid), max(uid) FROM mailbox_entries WHERE user_id = $1 AND mailbox_id = $2",
            &[&user, &state.mailbox],
        )
        .await?;
    let (low, high): (Option<i64>, Option<i64>) = (bounds.try_get(0)?, bounds.try_get(1)?);
    let uids = match (low, high) {
        (None, _) | (_, None) => UidSet::new(),
        (Some(low), Some(high))
            if u64::try_from(high - low + 1).ok() == Some(state.message_count) =>
        {
            UidSet::from_ranges([(to_u32(low, "uid")?, to_u32(high, "uid")?)])
        }
        (Some(low), Some(high)) => match span_less_expunged(&tx, user, &state, low, high).await? {
            Some(uids) => uids,
            None => {
                let rows = tx
                        .query(
                            &islands_sql(
                                "SELECT uid FROM mailbox_entries WHERE user_id = $1 AND mailbox_id = $2",
                            ),
                            &[&user, &state.mailbox],
                        )
                        .await?;
                islands(&rows)?
            }
        },
    };
    // The counter says whether looking is worth it; the primary key walk
    // stops at the first unseen entry.
    let first_unseen = if state.unseen_count > 0 {
        tx.query_opt(
            "SELECT uid FROM mailbox_entries WHERE user_id = $1 AND mailbox_id = $2 AND NOT seen \
             ORDER BY uid LIMIT 1",
            &[&user, &state.mailbox],
        )
        .await?
        .map(|r| to_u32(r.try_get(0)?, "uid"))
        .transpose()?
    } else {
        None
    };
    let keywords = tx
        .query(
            "SELECT name::text FROM keywords WHERE user_id = $1 ORDER BY id",
            &[&user],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<Vec<String>, _>>()?;
    tx.commit().await?;

    let snapshot_uidnext = i64::from(state.uidnext);
    let from = if claim_recent {
        claim_recent_uids(client, user, state.mailbox, snapshot_uidnext).await?
    } else {
        first_recent
    };
    let recent = match u32::try_from(from.max(1)) {
        Ok(low) if from < snapshot_uidnext => {
            uids.intersection(&UidSet::from_ranges([(low, state.uidnext - 1)]))
        }
        _ => UidSet::new(),
    };
    Ok(Snapshot {
        state,
        uids,
        recent,
        first_unseen,
        keywords,
    })
}

/// Moves first_recent up to `uidnext` under the mailbox row lock and
/// returns where it was: this session's recent UIDs start there.
async fn claim_recent_uids(
    client: &mut Client,
    user: i64,
    mailbox: i64,
    uidnext: i64,
) -> Result<i64, StoreError> {
    let tx = client.transaction().await?;
    let before: i64 = tx
        .query_opt(
            "SELECT first_recent FROM mailboxes WHERE user_id = $1 AND id = $2 FOR UPDATE",
            &[&user, &mailbox],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox} does not exist")))?
        .try_get(0)?;
    if before < uidnext {
        tx.execute(
            "UPDATE mailboxes SET first_recent = $3 WHERE user_id = $1 AND id = $2",
            &[&user, &mailbox, &uidnext],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(before)
}

/// The user's keywords by id (FETCH FLAGS turns entries' ids into names).
pub async fn keyword_names(
    client: &impl GenericClient,
    user: i64,
) -> Result<HashMap<i32, String>, StoreError> {
    client
        .query(
            "SELECT id, name::text FROM keywords WHERE user_id = $1",
            &[&user],
        )
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}
