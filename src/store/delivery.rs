//! Delivery: which mailbox an address delivers to, and storing messages
//! for their recipients (LMTP, RFC 2033): one message for many recipients,
//! and many such deliveries together (group commit), in one transaction.

use std::collections::HashMap;

use super::StoreError;
use super::inject::{
    Cache, Entry, EntryAudit, EntryGroup, Locked, NewMessage, add_entries, keyword_ids,
    keyword_list, lost_a_race, prepare, stmt, store_bodyparts, store_messages,
};

/// Where an address delivers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    /// The user.
    pub user: i64,
    /// The mailbox.
    pub mailbox: i64,
}

/// `user+tag@domain` without its tag (`user@domain`), when the local part
/// has a `+` after at least one character; `None` otherwise.
pub fn without_subaddress(address: &str) -> Option<String> {
    let (local, domain) = address.rsplit_once('@')?;
    let (user, _tag) = local.split_once('+')?;
    (!user.is_empty()).then(|| format!("{user}@{domain}"))
}

/// The mailbox `address` delivers to: an alias (addresses compare
/// case-insensitively, as citext) whose user is enabled and whose mailbox
/// exists. With `subaddressing`, an address that is not an alias itself is
/// tried again without its `+tag`, so an explicit alias `a+b@x` wins over
/// `a@x`. `None` when nothing matches.
///
/// LMTP asks this once per recipient, so with a `cache` the statement is
/// prepared once per connection: planning its four-way join on every call
/// was a fifth of PostgreSQL's CPU in the delivery benchmark.
pub async fn resolve(
    client: &tokio_postgres::Client,
    cache: Cache<'_>,
    address: &str,
    subaddressing: bool,
) -> Result<Option<Target>, StoreError> {
    let mut candidates = vec![address.to_string()];
    if subaddressing && let Some(plain) = without_subaddress(address) {
        candidates.push(plain);
    }
    let sql = "SELECT a.user_id, a.mailbox_id FROM unnest($1::text[]) WITH ORDINALITY AS c(address, ord) \
               JOIN aliases a ON a.address = c.address::citext \
               JOIN users u ON u.id = a.user_id AND NOT u.disabled \
               JOIN mailboxes m ON m.user_id = a.user_id AND m.id = a.mailbox_id AND NOT m.deleted \
               ORDER BY c.ord LIMIT 1";
    let statement = prepare(client, cache, sql).await?;
    let row = client.query_opt(&statement, &[&candidates]).await?;
    Ok(row.map(|r| Target {
        user: r.get(0),
        mailbox: r.get(1),
    }))
}

/// Where one copy of a delivered message went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// The user.
    pub user: i64,
    /// The mailbox.
    pub mailbox: i64,
    /// The UID it got.
    pub uid: i64,
    /// The mailbox's UIDVALIDITY.
    pub uidvalidity: i64,
    /// The mailbox's new highest modseq.
    pub modseq: i64,
}

/// One message for its recipients' mailboxes.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// Where it goes, in recipient order (a mailbox may repeat).
    pub targets: &'a [Target],
    /// What goes there.
    pub message: &'a NewMessage,
}

/// Stores `message` once for all `targets` in one transaction: see
/// [`deliver_batch`]. One answer per target, in order.
pub async fn deliver(
    client: &mut tokio_postgres::Client,
    targets: &[Target],
    message: &NewMessage,
) -> Result<Vec<Option<Placed>>, StoreError> {
    let mut answers = deliver_batch(client, None, &[Delivery { targets, message }]).await?;
    Ok(answers.pop().unwrap_or_default())
}

/// Stores every delivery of `batch` in ONE transaction (LMTP's group
/// commit): the body parts once for the batch, one messages row per
/// distinct (user, bytes) and one entry per distinct mailbox of each
/// delivery. The mailbox rows are locked last, by one statement in
/// (user, mailbox) order, so two batches to overlapping mailboxes wait for
/// each other in one direction, never in a cycle; each mailbox gets one
/// modseq, one change-log row and one NOTIFY for the whole batch.
///
/// The answer has one list per delivery, with one element per target, in
/// order: `None` for a mailbox that no longer exists (deleted since it was
/// looked up), which gets nothing. A delivery none of whose mailboxes
/// exists stores nothing at all (the transaction is redone without it), so
/// content is never committed without an entry referring to it. Any
/// database error rolls the whole batch back; the caller decides whether to
/// retry its deliveries one by one.
pub async fn deliver_batch(
    client: &mut tokio_postgres::Client,
    cache: Cache<'_>,
    batch: &[Delivery<'_>],
) -> Result<Vec<Vec<Option<Placed>>>, StoreError> {
    let mut answers: Vec<Option<Vec<Option<Placed>>>> = vec![None; batch.len()];
    let mut live: Vec<usize> = (0..batch.len()).collect();
    let mut attempt = 0;
    while !live.is_empty() {
        let subset: Vec<Delivery<'_>> = live.iter().map(|&i| batch[i]).collect();
        let result = deliver_once(client, cache, &subset).await;
        if lost_a_race(&result, attempt) {
            attempt += 1;
            continue;
        }
        match result? {
            Once::Committed(placed) => {
                for (&i, p) in live.iter().zip(placed) {
                    answers[i] = Some(p);
                }
                live.clear();
            }
            Once::Orphans(orphans) => {
                // Their mailboxes are gone: nothing is stored for them.
                let mut k = 0;
                live.retain(|&i| {
                    let orphan = orphans.contains(&k);
                    k += 1;
                    if orphan {
                        answers[i] = Some(vec![None; batch[i].targets.len()]);
                    }
                    !orphan
                });
            }
        }
    }
    Ok(answers
        .into_iter()
        .zip(batch)
        .map(|(a, d)| a.unwrap_or_else(|| vec![None; d.targets.len()]))
        .collect())
}

/// What one attempt at a batch came to.
enum Once {
    /// Committed: one answer per delivery.
    Committed(Vec<Vec<Option<Placed>>>),
    /// Rolled back because these deliveries (indexes into the batch) have
    /// no mailbox left; the rest must be tried again without them.
    Orphans(Vec<usize>),
}

async fn deliver_once(
    client: &mut tokio_postgres::Client,
    cache: Cache<'_>,
    batch: &[Delivery<'_>],
) -> Result<Once, StoreError> {
    // Each delivery's distinct users, and one messages row per (delivery, user).
    let mut items: Vec<(i64, &NewMessage)> = Vec::new();
    let mut item_of: HashMap<(usize, i64), usize> = HashMap::new();
    for (d, delivery) in batch.iter().enumerate() {
        for t in delivery.targets {
            item_of.entry((d, t.user)).or_insert_with(|| {
                items.push((t.user, delivery.message));
                items.len() - 1
            });
        }
    }
    let mut mailboxes: Vec<(i64, i64)> = batch
        .iter()
        .flat_map(|d| d.targets.iter().map(|t| (t.user, t.mailbox)))
        .collect();
    mailboxes.sort_unstable();
    mailboxes.dedup();
    if mailboxes.is_empty() {
        return Ok(Once::Committed(vec![Vec::new(); batch.len()]));
    }

    let tx = client.transaction().await?;
    // The statements below are prepared once per connection and take
    // arrays. Left to choose, PostgreSQL replans most of them on every
    // execution for the arrays' lengths (pg_stat_statements: 7 of 8
    // executions planned, about 6% of a delivery's database time), though
    // each is key lookups driven by an unnest, which the plan made without
    // the values does as well at any table size.
    tx.batch_execute("SET LOCAL plan_cache_mode = force_generic_plan")
        .await?;
    let messages: Vec<&NewMessage> = batch.iter().map(|d| d.message).collect();
    store_bodyparts(&tx, cache, &messages).await?;
    let message_ids = store_messages(&tx, cache, &items).await?;
    let mut keywords: HashMap<i64, HashMap<String, i32>> = HashMap::new();
    for &(user, m) in &items {
        if !m.keywords.is_empty() && !keywords.contains_key(&user) {
            let of_user: Vec<&NewMessage> = items
                .iter()
                .filter(|(u, _)| *u == user)
                .map(|(_, m)| *m)
                .collect();
            keywords.insert(user, keyword_ids(&tx, user, &of_user).await?);
        }
    }

    // The mailbox rows last, all in one statement; ORDER BY runs below the
    // row locking, so the rows are locked in (user, mailbox) order.
    let user_list: Vec<i64> = mailboxes.iter().map(|t| t.0).collect();
    let mailbox_list: Vec<i64> = mailboxes.iter().map(|t| t.1).collect();
    let lock = stmt(
        &tx,
        cache,
        "SELECT m.user_id, m.id, m.uidnext, m.highest_modseq, m.uidvalidity FROM mailboxes m \
         JOIN unnest($1::int8[], $2::int8[]) AS t(u, b) ON m.user_id = t.u AND m.id = t.b \
         WHERE NOT m.deleted ORDER BY m.user_id, m.id FOR UPDATE OF m",
    )
    .await?;
    let rows = tx.query(&lock, &[&user_list, &mailbox_list]).await?;
    let uidvalidity: HashMap<(i64, i64), i64> = rows
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(4)))
        .collect();
    let orphans: Vec<usize> = batch
        .iter()
        .enumerate()
        .filter(|(_, d)| {
            !d.targets
                .iter()
                .any(|t| uidvalidity.contains_key(&(t.user, t.mailbox)))
        })
        .map(|(i, _)| i)
        .collect();
    if !orphans.is_empty() {
        tx.rollback().await?;
        return Ok(Once::Orphans(orphans));
    }

    // One group per locked mailbox; its entries in batch order, each
    // delivery at most once per mailbox.
    let no_keywords = HashMap::new();
    let mut groups: Vec<EntryGroup<'_>> = Vec::with_capacity(rows.len());
    let mut sources: Vec<Vec<usize>> = Vec::with_capacity(rows.len());
    for row in &rows {
        let (user, mailbox): (i64, i64) = (row.get(0), row.get(1));
        let mut entries = Vec::new();
        let mut from = Vec::new();
        for (d, delivery) in batch.iter().enumerate() {
            if !delivery
                .targets
                .iter()
                .any(|t| t.user == user && t.mailbox == mailbox)
            {
                continue;
            }
            let item = item_of
                .get(&(d, user))
                .copied()
                .ok_or_else(|| StoreError::Invalid("a delivery lost its message".into()))?;
            let ids = keywords.get(&user).unwrap_or(&no_keywords);
            entries.push(Entry {
                message: delivery.message,
                message_id: message_ids[item],
                keywords: keyword_list(delivery.message, ids),
            });
            from.push(d);
        }
        groups.push(EntryGroup {
            user,
            locked: Locked {
                mailbox,
                uidnext: row.get(2),
                highest_modseq: row.get(3),
            },
            entries,
        });
        sources.push(from);
    }
    let audit = EntryAudit {
        actor: Some("lmtp"),
        action: "deliver",
    };
    let added = add_entries(&tx, cache, &groups, Some(audit)).await?;

    let mut placed: HashMap<(usize, i64, i64), Placed> = HashMap::new();
    for ((g, from), (uids, modseq)) in groups.iter().zip(&sources).zip(&added) {
        let key = (g.user, g.locked.mailbox);
        for (&d, &uid) in from.iter().zip(uids) {
            placed.insert(
                (d, key.0, key.1),
                Placed {
                    user: g.user,
                    mailbox: g.locked.mailbox,
                    uid,
                    uidvalidity: uidvalidity.get(&key).copied().unwrap_or_default(),
                    modseq: *modseq,
                },
            );
        }
    }
    tx.commit().await?;
    Ok(Once::Committed(
        batch
            .iter()
            .enumerate()
            .map(|(d, delivery)| {
                delivery
                    .targets
                    .iter()
                    .map(|t| placed.get(&(d, t.user, t.mailbox)).cloned())
                    .collect()
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subaddress_tag_is_dropped_from_the_local_part() {
        assert_eq!(
            without_subaddress("alice+lists@example.org").as_deref(),
            Some("alice@example.org")
        );
        assert_eq!(
            without_subaddress("alice+a+b@example.org").as_deref(),
            Some("alice@example.org")
        );
        assert_eq!(without_subaddress("alice@example.org"), None);
        assert_eq!(without_subaddress("+tag@example.org"), None);
        assert_eq!(without_subaddress("no-at-sign+x"), None);
    }
}
