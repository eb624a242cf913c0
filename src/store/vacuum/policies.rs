//! 'delete' retention policies: mail a policy matches that is older than its
//! days is expunged as a user's EXPUNGE would (tombstones with reason
//! 'retention', counters, change rows, NOTIFY), unless a 'retain' policy
//! still keeps it. Candidates come from one statement per policy; the
//! expunge runs per mailbox in chunks of at most `batch` UIDs, each its own
//! transaction holding the mailbox row lock for one statement's time.

use std::collections::BTreeMap;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, GenericClient};

use super::Options;
use crate::store::StoreError;
use crate::store::changes::{lock_mailbox, notify};
use crate::store::expunge::{Leaving, expunge_locked};
use crate::store::search::{Condition, condition_of};
use crate::uidset::UidSet;

/// One row of retention_policies.
#[derive(Debug, Clone)]
struct Policy {
    id: i64,
    days: Option<i32>,
    user: Option<i64>,
    mailbox: Option<i64>,
    search: Option<String>,
}

async fn policies(client: &impl GenericClient, action: &str) -> Result<Vec<Policy>, StoreError> {
    let rows = client
        .query(
            "SELECT id, days, user_id, mailbox_id, search FROM retention_policies WHERE action = $1 ORDER BY id",
            &[&action],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Policy {
                id: r.try_get(0)?,
                days: r.try_get(1)?,
                user: r.try_get(2)?,
                mailbox: r.try_get(3)?,
                search: r.try_get(4)?,
            })
        })
        .collect()
}

/// An integer from the database as an SQL literal (ids and day counts only:
/// never text, so nothing a client wrote reaches the SQL).
fn literal<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "NULL".to_string(), |v| v.to_string())
}

/// `policy`'s scope and search over entries aliased `e`, its search's
/// parameters numbered from `first`.
fn matches(policy: &Policy, first: usize) -> Result<(String, Option<Condition>), StoreError> {
    let condition = match &policy.search {
        Some(text) => {
            let key = crate::search::from_text(text)
                .map_err(|e| StoreError::Invalid(format!("retention policy {}: {e}", policy.id)))?;
            Some(condition_of(&key, first)?)
        }
        None => None,
    };
    let sql = format!(
        "({u}::bigint IS NULL OR e.user_id = {u}) AND ({m}::bigint IS NULL OR e.mailbox_id = {m}) AND {c}",
        u = literal(policy.user),
        m = literal(policy.mailbox),
        c = condition.as_ref().map_or("true", |c| c.sql.as_str()),
    );
    Ok((sql, condition))
}

/// The statement selecting `(user_id, mailbox_id, uid, message_id)` of the
/// live entries `policy` would expunge now, and its parameters' owners.
fn candidates_sql(
    policy: &Policy,
    retains: &[Policy],
) -> Result<(String, Vec<Condition>), StoreError> {
    let mut conditions = Vec::new();
    let mut next = 1;
    let (own, c) = matches(policy, next)?;
    next += c.as_ref().map_or(0, Condition::len);
    conditions.extend(c);
    let days = policy.days.unwrap_or(0);
    let mut sql = format!(
        "SELECT e.user_id, e.mailbox_id, e.uid, e.message_id FROM mailbox_entries e \
         WHERE e.internaldate < now() - make_interval(days => {days}) AND {own}"
    );
    for r in retains {
        let (kept, c) = matches(r, next)?;
        next += c.as_ref().map_or(0, Condition::len);
        conditions.extend(c);
        let window = match r.days {
            Some(d) => format!("e.internaldate >= now() - make_interval(days => {d})"),
            None => "true".into(),
        };
        sql.push_str(&format!(" AND NOT ({window} AND {kept})"));
    }
    Ok((sql, conditions))
}

/// Every 'delete' policy's candidate statement (a policy whose search no
/// longer parses is reported, not applied).
pub(super) async fn statements(
    client: &impl GenericClient,
) -> Result<(Vec<(String, Vec<Condition>)>, Vec<String>), StoreError> {
    let deletes = policies(client, "delete").await?;
    let retains = policies(client, "retain").await?;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for p in &deletes {
        match candidates_sql(p, &retains) {
            Ok(s) => out.push(s),
            Err(e) => errors.push(e.to_string()),
        }
    }
    Ok((out, errors))
}

/// The parameters of a candidate statement, in order.
pub(super) fn params(conditions: &[Condition]) -> Vec<&(dyn ToSql + Sync)> {
    conditions.iter().flat_map(Condition::params).collect()
}

/// Applies every 'delete' policy; returns how many entries were expunged
/// and the policies that could not be applied.
pub(super) async fn apply(
    client: &mut Client,
    options: &Options,
) -> Result<(u64, Vec<String>), StoreError> {
    let (statements, errors) = statements(client).await?;
    let mut total = 0;
    for (sql, conditions) in &statements {
        let rows = client.query(sql.as_str(), &params(conditions)).await?;
        let mut by_mailbox: BTreeMap<(i64, i64), Vec<u32>> = BTreeMap::new();
        for r in &rows {
            let uid = crate::store::select::to_u32(r.try_get(2)?, "uid")?;
            by_mailbox
                .entry((r.try_get(0)?, r.try_get(1)?))
                .or_default()
                .push(uid);
        }
        let mut expunged = 0;
        for ((user, mailbox), uids) in by_mailbox {
            for chunk in chunks(&UidSet::from_values(uids), options.batch) {
                let started = std::time::Instant::now();
                expunged += expunge_chunk(client, user, mailbox, &chunk).await?;
                options.rest_after(started).await;
            }
        }
        if expunged > 0 {
            client
                .execute(
                    "INSERT INTO audit_log (actor, action, detail) VALUES ($1, 'retention', $2)",
                    &[
                        &options.actor,
                        &format!("delete policies expunged {expunged} message(s)"),
                    ],
                )
                .await?;
        }
        total += expunged;
    }
    Ok((total, errors))
}

/// Expunges `uids` of one mailbox in one short transaction.
async fn expunge_chunk(
    client: &mut Client,
    user: i64,
    mailbox: i64,
    uids: &UidSet,
) -> Result<u64, StoreError> {
    let tx = client.transaction().await?;
    let locked = match lock_mailbox(&tx, user, mailbox).await {
        Ok(l) => l,
        // Deleted since the candidates were read: its mail is tombstones already.
        Err(StoreError::NotFound(_)) => return Ok(0),
        Err(e) => return Err(e),
    };
    let modseq = locked.next_modseq()?;
    // A 'retain' policy still wins over a 'delete' one: expunge_locked
    // keeps what any retain policy covers.
    let gone = expunge_locked(
        &tx,
        user,
        mailbox,
        uids,
        false,
        modseq,
        None::<i64>,
        Leaving::Expunge("retention"),
    )
    .await?
    .gone;
    if gone.is_empty() {
        tx.rollback().await?;
        return Ok(0);
    }
    notify(&tx, user, mailbox, modseq, locked.uidnext).await?;
    tx.commit().await?;
    Ok(gone.len())
}

/// `set` cut into sets of at most `n` UIDs, in order.
fn chunks(set: &UidSet, n: i64) -> Vec<UidSet> {
    let n = u64::try_from(n.max(1)).unwrap_or(1);
    let mut out = Vec::new();
    let mut current: Vec<(u32, u32)> = Vec::new();
    let mut size = 0u64;
    for &(lo, hi) in set.ranges() {
        let mut lo = lo;
        loop {
            let room = n - size;
            let span = u64::from(hi - lo) + 1;
            if span <= room {
                current.push((lo, hi));
                size += span;
                break;
            }
            // room >= 1 here, and room < span <= 2³², so the cut fits u32.
            let cut = lo + u32::try_from(room - 1).unwrap_or(u32::MAX);
            current.push((lo, cut));
            out.push(UidSet::from_ranges(std::mem::take(&mut current)));
            size = 0;
            lo = cut + 1;
        }
        if size == n {
            out.push(UidSet::from_ranges(std::mem::take(&mut current)));
            size = 0;
        }
    }
    if !current.is_empty() {
        out.push(UidSet::from_ranges(current));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_never_exceed_the_batch_and_cover_the_set() {
        let set = UidSet::from_ranges([(1, 7), (10, 10), (20, 24)]);
        let parts = chunks(&set, 4);
        assert!(parts.iter().all(|p| p.len() <= 4 && !p.is_empty()));
        let mut union = UidSet::new();
        for p in &parts {
            union = union.union(p);
        }
        assert_eq!(union, set);
        assert_eq!(parts.iter().map(UidSet::len).sum::<u64>(), set.len());
        assert_eq!(chunks(&UidSet::new(), 4), Vec::<UidSet>::new());
        assert_eq!(chunks(&UidSet::from_ranges([(1, 4)]), 4).len(), 1);
    }
}
