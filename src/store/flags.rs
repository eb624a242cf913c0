//! STORE (RFC 9051 §6.4.6) with CONDSTORE's UNCHANGEDSINCE (RFC 7162
//! §3.1.3): one set-based UPDATE whatever the number of messages, writing
//! only the entries whose flags change, under one new modseq.

use std::collections::HashMap;

use tokio_postgres::{Client, Transaction};

use super::StoreError;
use super::changes::{entry_flags, lock_mailbox, notify, record};
use super::inject::SystemFlags;
use super::select::{UidFilter, islands, islands_sql, to_i64, to_u32, to_u64};
use crate::search::Flag;
use crate::uidset::UidSet;

/// How a STORE combines its flags with the ones a message has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    /// `+FLAGS`: add these.
    Add,
    /// `-FLAGS`: remove these.
    Remove,
    /// `FLAGS`: exactly these.
    Replace,
}

/// An entry's flags after a change, with the modseq of that change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFlags {
    /// The entry's UID.
    pub uid: u32,
    /// Its modseq (RFC 7162 MODSEQ).
    pub modseq: u64,
    /// Its system flags.
    pub flags: SystemFlags,
    /// Its keyword ids (names from [`super::select::keyword_names`]).
    pub keywords: Vec<i32>,
}

/// What a STORE did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOutcome {
    /// The new modseq, or the old highest modseq if nothing changed.
    pub modseq: u64,
    /// Entries whose flags actually changed, in UID order, with their new flags.
    pub changed: Vec<EntryFlags>,
    /// Entries that failed the UNCHANGEDSINCE test (RFC 7162 §3.1.3 `[MODIFIED]`).
    pub modified: UidSet,
}

/// The keyword ids named by `flags`: created for the user when `create`
/// (STORE +FLAGS/FLAGS), else only the existing ones (a keyword nobody has
/// cannot be removed from anything). Runs before the mailbox row is locked,
/// as the injector does; new ids come from the same per-user advisory lock
/// (key 7) and the same max + 1 rule as `inject::keyword_ids`.
async fn keyword_ids(
    tx: &Transaction<'_>,
    user: i64,
    flags: &[Flag],
    create: bool,
) -> Result<Vec<i32>, StoreError> {
    // Keywords compare case-insensitively (citext) and keep their first spelling.
    let mut spelling: HashMap<String, &str> = HashMap::new();
    for f in flags {
        if let Flag::Keyword(k) = f {
            spelling.entry(k.to_lowercase()).or_insert(k);
        }
    }
    if spelling.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = spelling.values().copied().collect();
    let lookup = "SELECT id FROM keywords WHERE user_id = $1 AND name = ANY($2::text[]::citext[])";
    let mut ids: Vec<i32> = tx
        .query(lookup, &[&user, &names])
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    if create && ids.len() < names.len() {
        let mut missing = names.clone();
        missing.sort_unstable();
        super::inject::create_keywords(tx, user, &missing).await?;
        ids = tx
            .query(lookup, &[&user, &names])
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// The runs of consecutive UIDs in the CTE `u`, as one flat array of
/// `low, high` pairs in order (read by [`run_bounds`]).
const RUNS_OF_U: &str = "SELECT array_agg(v ORDER BY run, side) FROM ( \
       SELECT run, min(uid) AS low, max(uid) AS high FROM ( \
         SELECT uid, uid - row_number() OVER (ORDER BY uid) AS run FROM u) x \
       GROUP BY run) AS runs \
     CROSS JOIN LATERAL (VALUES (0, runs.low), (1, runs.high)) AS b(side, v)";

/// How many written UIDs a one-flag STORE always sorts into exact runs
/// for the change log: a sort of this many takes tens of milliseconds.
const SORTED_RUNS_UP_TO: i64 = 100_000;

/// For a STORE that adds or removes exactly one system flag: its column and
/// the value it sets. Only names and literals, never client text.
fn one_system_flag(op: FlagOp, flags: &[Flag]) -> Option<(&'static str, bool)> {
    let [flag] = flags else { return None };
    let column = match flag {
        Flag::Seen => "seen",
        Flag::Answered => "answered",
        Flag::Flagged => "flagged",
        Flag::Deleted => "deleted",
        Flag::Draft => "draft",
        _ => return None,
    };
    match op {
        FlagOp::Add => Some((column, true)),
        FlagOp::Remove => Some((column, false)),
        FlagOp::Replace => None,
    }
}

/// The runs of a flat array of `low, high` pairs.
fn run_bounds(flat: &[i64]) -> Result<UidSet, StoreError> {
    if !flat.len().is_multiple_of(2) {
        return Err(StoreError::Invalid("a UID run without its end".into()));
    }
    let ranges = flat
        .chunks_exact(2)
        .map(|p| Ok((to_u32(p[0], "uid")?, to_u32(p[1], "uid")?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(UidSet::from_ranges(ranges))
}

/// The system flags' columns, in the order of [`SystemFlags`].
const FLAG_COLUMNS: [&str; 5] = ["seen", "answered", "flagged", "deleted", "draft"];

/// The SQL for a system flag's new value: a constant when the STORE names
/// it (or replaces all flags), else the entry's old value. Only literals
/// and column names come from here; nothing a client wrote reaches SQL text.
fn flag_expr(op: FlagOp, named: bool, column: &str) -> String {
    match (op, named) {
        (FlagOp::Add, true) | (FlagOp::Replace, true) => "true".into(),
        (FlagOp::Remove, true) | (FlagOp::Replace, false) => "false".into(),
        (_, false) => format!("o.{column}"),
    }
}

/// The SQL for the new keyword array, the STORE's ids being `kw.ids`. Add keeps
/// the old order and appends what is missing, Remove keeps the order of
/// what stays, Replace keeps the old array when it is the same set: so a
/// repeated STORE compares equal and writes nothing.
fn keywords_expr(op: FlagOp, any: bool) -> &'static str {
    match (op, any) {
        (FlagOp::Add | FlagOp::Remove, false) => "o.keywords",
        (FlagOp::Add, true) => {
            "o.keywords || ARRAY(SELECT k FROM unnest(kw.ids) AS k WHERE k <> ALL(o.keywords) ORDER BY k)"
        }
        (FlagOp::Remove, true) => {
            "CASE WHEN o.keywords && kw.ids THEN \
             ARRAY(SELECT k FROM unnest(o.keywords) WITH ORDINALITY AS u(k, n) WHERE k <> ALL(kw.ids) ORDER BY n) \
             ELSE o.keywords END"
        }
        (FlagOp::Replace, _) => {
            "CASE WHEN o.keywords @> kw.ids AND kw.ids @> o.keywords THEN o.keywords ELSE kw.ids END"
        }
    }
}

/// RFC 9051 §6.4.6 STORE / RFC 7162 §3.1.3 UNCHANGEDSINCE on `uids` of
/// `mailbox`.
///
/// One statement: an UPDATE joined only to the UID ranges (never to a
/// second scan of the entries, see `UidFilter`), beside a read of the old
/// rows that sums the counter deltas; only rows whose flags change are
/// written, so a repeated `+FLAGS \Seen` writes nothing and does
/// not bump the modseq. Changed rows get one new modseq, one 'flags' change
/// row per UID range, and the unseen/deleted counters move by what changed.
/// With `unchanged_since`, entries whose modseq is above it are left alone
/// and reported in `modified`.
pub async fn store_flags(
    client: &mut Client,
    user: i64,
    mailbox: i64,
    uids: &UidSet,
    op: FlagOp,
    flags: &[Flag],
    unchanged_since: Option<u64>,
) -> Result<StoreOutcome, StoreError> {
    store_flags_reporting(
        client,
        user,
        mailbox,
        uids,
        op,
        flags,
        unchanged_since,
        true,
    )
    .await
}

/// [`store_flags`] for STORE .SILENT without UNCHANGEDSINCE: the same
/// change, but PostgreSQL sums up the changed rows into UID ranges and
/// counter deltas instead of sending every row back, so `changed` is empty.
pub async fn store_flags_silent(
    client: &mut Client,
    user: i64,
    mailbox: i64,
    uids: &UidSet,
    op: FlagOp,
    flags: &[Flag],
) -> Result<StoreOutcome, StoreError> {
    store_flags_reporting(client, user, mailbox, uids, op, flags, None, false).await
}

#[allow(clippy::too_many_arguments)]
async fn store_flags_reporting(
    client: &mut Client,
    user: i64,
    mailbox: i64,
    uids: &UidSet,
    op: FlagOp,
    flags: &[Flag],
    unchanged_since: Option<u64>,
    rows_wanted: bool,
) -> Result<StoreOutcome, StoreError> {
    let tx = client.transaction().await?;
    let keywords = keyword_ids(&tx, user, flags, op != FlagOp::Remove).await?;
    let locked = lock_mailbox(&tx, user, mailbox).await?;
    let modseq = locked.next_modseq()?;
    let since = unchanged_since
        .map(|s| to_i64(s, "UNCHANGEDSINCE"))
        .transpose()?;

    // $1 user, $2 mailbox, $3 keyword ids, $4 modseq, $5 unchangedsince, $6/$7 ranges.
    let filter = UidFilter::new(uids, "o", 6);
    let modified = match since {
        None => UidSet::new(),
        Some(_) => {
            // Before the UPDATE: afterwards every changed row has a modseq above it.
            let failed = UidFilter::new(uids, "o", 4);
            let inner = format!(
                "SELECT o.uid FROM {} \
                 WHERE o.user_id = $1 AND o.mailbox_id = $2 AND o.modseq > $3",
                failed.entries()
            );
            let rows = tx
                .query(
                    &islands_sql(&inner),
                    &failed.params(&[&user, &mailbox, &since]),
                )
                .await?;
            islands(&rows)?
        }
    };

    let named = |f: Flag| flags.contains(&f);
    let named_flags = [
        Flag::Seen,
        Flag::Answered,
        Flag::Flagged,
        Flag::Deleted,
        Flag::Draft,
    ];
    let set = FLAG_COLUMNS
        .iter()
        .zip(named_flags)
        .map(|(c, f)| flag_expr(op, named(f), c))
        .collect::<Vec<_>>()
        .join(", ");
    let keyword_sql = keywords_expr(op, !keywords.is_empty());
    let new_seen = flag_expr(op, named(Flag::Seen), "seen");
    let new_deleted = flag_expr(op, named(Flag::Deleted), "deleted");
    // Two parts of one statement, both over the same snapshot and never
    // joined to each other: `old` sums the counter deltas from the rows as
    // they were (the same expressions give their new values), and `u`
    // updates the rows that change. A self-join to get the old values back
    // can be planned as a rescan per entry (see UidFilter::entries).
    let (ranges, in_ranges) = filter.update_ranges();
    // `present`/`changing` count the entries in the set and those the
    // UPDATE writes, and `low`/`high` bound the latter: when every entry
    // present changes, the change log can take the STORE's own ranges
    // clipped to those bounds, without sorting the written UIDs into runs.
    let changes = format!(
        "({columns}, o.keywords) IS DISTINCT FROM ({set}, {keyword_sql})",
        columns = FLAG_COLUMNS.join(", "),
    );
    let old = format!(
        "old AS ( \
           SELECT coalesce(sum(o.seen::int - ({new_seen})::int), 0)::bigint AS unseen, \
                  coalesce(sum(({new_deleted})::int - o.deleted::int), 0)::bigint AS deleted, \
                  count(*) AS present, count(*) FILTER (WHERE {changes}) AS changing, \
                  min(o.uid) FILTER (WHERE {changes}) AS low, \
                  max(o.uid) FILTER (WHERE {changes}) AS high \
           FROM (SELECT $3::int[] AS ids) AS kw CROSS JOIN {entries} \
           WHERE o.user_id = $1 AND o.mailbox_id = $2 AND ($5::bigint IS NULL OR o.modseq <= $5))",
        entries = filter.entries()
    );
    let update = format!(
        "u AS ( \
           UPDATE mailbox_entries o \
           SET ({columns}, keywords, modseq) = ({set}, {keyword_sql}, $4) \
           FROM (SELECT $3::int[] AS ids) AS kw{ranges} \
           WHERE o.user_id = $1 AND o.mailbox_id = $2{in_ranges} \
             AND ($5::bigint IS NULL OR o.modseq <= $5) \
             AND {changes} \
           RETURNING o.uid, o.modseq, o.seen, o.answered, o.flagged, o.deleted, o.draft, o.keywords)",
        columns = FLAG_COLUMNS.join(", "),
    );
    let params = filter.params(&[&user, &mailbox, &keywords, &modseq, &since]);
    let mut changed = Vec::new();
    let (unseen, deleted, changed_uids) = if rows_wanted {
        let sql = format!(
            "WITH {old}, {update} \
             SELECT u.*, old.unseen, old.deleted FROM old LEFT JOIN u ON true ORDER BY u.uid"
        );
        let (mut unseen, mut deleted) = (0i64, 0i64);
        for r in &tx.query(&sql, &params).await? {
            (unseen, deleted) = (r.try_get(8)?, r.try_get(9)?);
            if r.try_get::<_, Option<i64>>(0)?.is_some() {
                changed.push(entry_flags(r)?);
            }
        }
        let uids = UidSet::from_values(changed.iter().map(|e| e.uid));
        (unseen, deleted, uids)
    } else if let (None, Some((column, value))) = (since, one_system_flag(op, flags)) {
        // One system flag added or removed (mark read, delete): the
        // counters move by the number of rows written, so the old rows need
        // no read of their own. The written UIDs are sorted into runs only
        // when they are few or sparse; otherwise the log takes the STORE's
        // ranges clipped to their span, which is exact when every entry
        // changed and costs a reader at most twice the entries that did
        // (readers keep only entries with a newer modseq).
        let filter = UidFilter::new(uids, "o", 4);
        let (ranges, in_ranges) = filter.update_ranges();
        let span = match u32::try_from(locked.uidnext - 1) {
            Ok(0) => UidSet::new(),
            last => uids.intersection(&UidSet::from_ranges(vec![(1, last.unwrap_or(u32::MAX))])),
        };
        let update = format!(
            "UPDATE mailbox_entries o SET {column} = {value}, modseq = $3 \
             FROM (SELECT 1) AS one{ranges} \
             WHERE o.user_id = $1 AND o.mailbox_id = $2{in_ranges} AND o.{column} <> {value}"
        );
        let (written, changed_uids) = if span.len() >= SORTED_RUNS_UP_TO.unsigned_abs() {
            // Many: a plain UPDATE, its count from the command tag. Handing
            // a million written UIDs back through RETURNING to count them
            // and find their bounds cost up to a second. The log takes the
            // set clipped to the mailbox's UIDs when at least half of it
            // was written (a reader keeps only newer modseqs); otherwise
            // the written rows, which alone carry this modseq, are found
            // again and sorted into runs.
            let written = tx
                .execute(&update, &filter.params(&[&user, &mailbox, &modseq]))
                .await?;
            let changed = if written == 0 {
                UidSet::new()
            } else if 2 * written >= span.len() {
                span
            } else {
                let runs = format!(
                    "WITH u AS (SELECT o.uid FROM mailbox_entries o{ranges} \
                     WHERE o.user_id = $1 AND o.mailbox_id = $2{in_ranges} AND o.modseq = $3) \
                     {RUNS_OF_U}"
                );
                let row = tx
                    .query_one(&runs, &filter.params(&[&user, &mailbox, &modseq]))
                    .await?;
                run_bounds(&row.try_get::<_, Option<Vec<i64>>>(0)?.unwrap_or_default())?
            };
            (i64::try_from(written).unwrap_or(i64::MAX), changed)
        } else {
            let sql = format!(
                "WITH u AS ({update} RETURNING o.uid) \
                 SELECT c.n, c.low, c.high, \
                        CASE WHEN c.n > 0 AND (c.n < {SORTED_RUNS_UP_TO} OR 2 * c.n < c.high - c.low + 1) \
                          THEN ({RUNS_OF_U}) END \
                 FROM (SELECT count(*) AS n, min(uid) AS low, max(uid) AS high FROM u) AS c"
            );
            let row = tx
                .query_one(&sql, &filter.params(&[&user, &mailbox, &modseq]))
                .await?;
            let written: i64 = row.try_get(0)?;
            let bounds: (Option<i64>, Option<i64>) = (row.try_get(1)?, row.try_get(2)?);
            let runs: Option<Vec<i64>> = row.try_get(3)?;
            let changed = match (runs, bounds) {
                (Some(runs), _) => run_bounds(&runs)?,
                (None, (Some(low), Some(high))) => uids.intersection(&UidSet::from_ranges(vec![(
                    to_u32(low, "uid")?,
                    to_u32(high, "uid")?,
                )])),
                _ => UidSet::new(),
            };
            (written, changed)
        };
        let sign = if value { 1 } else { -1 };
        let (unseen, deleted) = match column {
            "seen" => (-sign * written, 0),
            "deleted" => (0, sign * written),
            _ => (0, 0),
        };
        (unseen, deleted, changed_uids)
    } else {
        // The runs of written UIDs are computed (a sort of every written
        // UID) only when some entry in the set keeps its flags: a CASE
        // evaluates its subquery only when its branch is taken. The
        // first row says how many entries changed and their bounds.
        let sql = format!(
            "WITH {old}, {update} \
             SELECT old.unseen, old.deleted, old.present, old.changing, old.low, old.high, \
                    CASE WHEN old.changing > 0 AND old.changing < old.present THEN ({RUNS_OF_U}) \
                    END AS runs \
             FROM old"
        );
        let row = tx.query_one(&sql, &params).await?;
        let (unseen, deleted): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        let (present, changing): (i64, i64) = (row.try_get(2)?, row.try_get(3)?);
        let bounds: (Option<i64>, Option<i64>) = (row.try_get(4)?, row.try_get(5)?);
        let runs: Option<Vec<i64>> = row.try_get(6)?;
        let changed_uids = match (runs, bounds) {
            (Some(runs), _) => run_bounds(&runs)?,
            (None, (Some(low), Some(high))) if changing == present => uids.intersection(
                &UidSet::from_ranges(vec![(to_u32(low, "uid")?, to_u32(high, "uid")?)]),
            ),
            _ => UidSet::new(),
        };
        (unseen, deleted, changed_uids)
    };
    if changed_uids.is_empty() {
        // Nothing written: no modseq is used up, nothing to tell anyone.
        tx.rollback().await?;
        return Ok(StoreOutcome {
            modseq: to_u64(locked.highest_modseq, "highest_modseq")?,
            changed: Vec::new(),
            modified,
        });
    }

    tx.execute(
        "UPDATE mailboxes SET highest_modseq = $3, unseen_count = unseen_count + $4, \
         deleted_count = deleted_count + $5 WHERE user_id = $1 AND id = $2",
        &[&user, &mailbox, &modseq, &unseen, &deleted],
    )
    .await?;
    record(&tx, user, mailbox, modseq, "flags", &changed_uids).await?;
    notify(&tx, user, mailbox, modseq, locked.uidnext).await?;
    tx.commit().await?;
    Ok(StoreOutcome {
        modseq: to_u64(modseq, "modseq")?,
        changed,
        modified,
    })
}
