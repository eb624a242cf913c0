//! Storing new messages: the one write path for IMAP APPEND, LMTP and
//! `aox import`. A batch is one transaction: content first (body parts,
//! messages, parts, search rows), then the mailbox row is locked — last, so
//! the lock is held for milliseconds — UIDs and one modseq are assigned, the
//! entries, counters and change-log row are written, and a NOTIFY tells other
//! processes. Bulk rows go by binary COPY, body parts too: the ones the
//! database lacks are looked up first, and one another writer stores in the
//! meantime makes the transaction start again.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::StoreError;
use crate::mime::Ingested;

/// The NOTIFY channel; the payload is `user:mailbox:modseq:uidnext`.
pub const CHANGE_CHANNEL: &str = "aox_mailbox";

/// The system flags a message arrives with (the archive formats carry the same five).
pub use crate::archive::SystemFlags;

/// One message to store.
#[derive(Debug)]
pub struct NewMessage {
    /// What the message layer made of it.
    pub ingested: Ingested,
    /// The bytes as they arrived; kept as a body part when normalisation
    /// changed anything (`ingested.original_kept`).
    pub raw: Vec<u8>,
    /// INTERNALDATE, Unix seconds.
    pub internal_date: i64,
    /// Flags to set.
    pub flags: SystemFlags,
    /// Keywords to set (created for the user when new).
    pub keywords: Vec<String>,
    /// The arriving bytes as an edit of the served form, when normalisation
    /// changed them and a small edit exists ([`crate::mime::delta`]).
    pub original_delta: Option<Vec<u8>>,
}

impl NewMessage {
    /// A message to store, with its original worked out: nothing when
    /// normalisation changed nothing, else a delta when one is at most a
    /// quarter of the message, else (in `inject`) a copy of the bytes. CPU
    /// work: call it where parsing runs, not on the async runtime.
    pub fn new(
        ingested: Ingested,
        raw: Vec<u8>,
        internal_date: i64,
        flags: SystemFlags,
        keywords: Vec<String>,
    ) -> NewMessage {
        let original_delta = if ingested.original_kept {
            crate::mime::delta::delta(&raw, &ingested.wire, raw.len() / 4)
        } else {
            None
        };
        NewMessage {
            ingested,
            raw,
            internal_date,
            flags,
            keywords,
            original_delta,
        }
    }
}

/// What a batch became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    /// The UIDs assigned, in batch order (consecutive).
    pub uids: Vec<i64>,
    /// The mailbox's UIDVALIDITY (for APPENDUID).
    pub uidvalidity: i64,
    /// The modseq of the batch.
    pub modseq: i64,
    /// Body parts this batch added (the rest were already stored).
    pub new_bodyparts: u64,
    /// Bytes of decoded content this batch added.
    pub new_bodypart_bytes: u64,
}

fn timestamp(seconds: i64) -> SystemTime {
    if seconds >= 0 {
        UNIX_EPOCH + Duration::from_secs(seconds.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs())
    }
}

/// Of `hashes`, the raw SHA-256s already in `mailbox` (import idempotence:
/// a message is "already imported" when its exact bytes are in the mailbox).
pub async fn raw_hashes_present(
    client: &Client,
    user: i64,
    mailbox: i64,
    hashes: &[[u8; 32]],
) -> Result<HashSet<[u8; 32]>, StoreError> {
    let list: Vec<&[u8]> = hashes.iter().map(|h| &h[..]).collect();
    // The messages with these hashes first, then whether each is in the
    // mailbox. As a join, a mailbox the statistics do not know yet (one being
    // imported into) looked like a handful of rows, so the plan walked all of
    // its entries for every batch, each batch slower than the last. OFFSET 0
    // keeps the EXISTS a per-message probe the planner cannot turn around.
    let rows = client
        .query(
            "SELECT DISTINCT m.raw_sha256 FROM messages m \
             WHERE m.user_id = $1 AND m.raw_sha256 = ANY($3) AND EXISTS \
               (SELECT 1 FROM mailbox_entries e \
                WHERE e.user_id = m.user_id AND e.message_id = m.id AND e.mailbox_id = $2 OFFSET 0)",
            &[&user, &mailbox, &list],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| <[u8; 32]>::try_from(r.get::<_, &[u8]>(0)).ok())
        .collect())
}

/// How often a batch is tried when another transaction changed what it
/// looked up (see [`lost_a_race`]).
const ATTEMPTS: usize = 5;

/// Whether `result` failed because another transaction changed, between this
/// one's lookup and its write, what the lookup found; the retry looks again
/// and sees the change. Two such races:
/// - a message this transaction found and reused was deleted by `aox
///   vacuum` before the entry's foreign key was checked. Vacuum deletes only
///   rows it can lock exclusively, and the checked reference holds its row
///   `FOR KEY SHARE` until commit, so the window is the one between looking
///   a row up and referring to it. (Reused body parts are locked by the
///   lookup itself: see [`store_bodyparts`].)
/// - a body part this transaction found missing was stored by another one
///   before this one's COPY wrote it (a unique violation on its hash).
pub(super) fn lost_a_race<T>(result: &Result<T, StoreError>, attempt: usize) -> bool {
    use tokio_postgres::error::SqlState;
    let Err(StoreError::Db(e)) = result else {
        return false;
    };
    let raced = match e.code() {
        Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => true,
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => {
            e.as_db_error().and_then(|d| d.constraint()) == Some("bodyparts_pkey")
        }
        _ => false,
    };
    raced && attempt + 1 < ATTEMPTS
}

/// The connection's cache of prepared statements, when the caller has one
/// (deadpool's, on the delivery path): a cached statement costs no Parse
/// round trip, and PostgreSQL plans it generically once it has run a few
/// times, so a busy path pays parsing and planning once per connection.
pub(crate) type Cache<'a> = Option<&'a deadpool_postgres::StatementCache>;

/// `sql` as a statement of `tx`, from `cache` when there is one.
pub(crate) async fn stmt(
    tx: &tokio_postgres::Transaction<'_>,
    cache: Cache<'_>,
    sql: &str,
) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
    prepare(tx.client(), cache, sql).await
}

/// `sql` prepared on `client`, from `cache` when there is one.
pub(crate) async fn prepare(
    client: &tokio_postgres::Client,
    cache: Cache<'_>,
    sql: &str,
) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
    match cache {
        Some(c) => c.prepare(client, sql).await,
        None => client.prepare(sql).await,
    }
}

/// How a batch is recorded in the audit trail.
#[derive(Clone, Copy)]
enum Audit<'a> {
    /// One `append` row per message, by the mailbox's owner.
    PerMessage,
    /// One `import` row for the batch, by `actor`, with `detail` and the counts.
    Batch { actor: &'a str, detail: &'a str },
}

/// Stores `batch` into `mailbox` of `user` in one transaction (IMAP
/// APPEND): one `append` audit row per message, by the user.
pub async fn inject(
    client: &mut Client,
    user: i64,
    mailbox: i64,
    batch: &[NewMessage],
) -> Result<Injected, StoreError> {
    inject_audited(client, user, mailbox, batch, Audit::PerMessage).await
}

/// Stores `batch` as [`inject`] does, for `aox import`: the audit trail
/// gets one `import` row for the whole batch (by `actor`, with `detail`
/// and the UIDs and count), not one per message.
pub async fn import(
    client: &mut Client,
    user: i64,
    mailbox: i64,
    batch: &[NewMessage],
    actor: &str,
    detail: &str,
) -> Result<Injected, StoreError> {
    inject_audited(client, user, mailbox, batch, Audit::Batch { actor, detail }).await
}

async fn inject_audited(
    client: &mut Client,
    user: i64,
    mailbox: i64,
    batch: &[NewMessage],
    audit: Audit<'_>,
) -> Result<Injected, StoreError> {
    let mut attempt = 0;
    loop {
        let result = inject_audited_once(client, user, mailbox, batch, audit).await;
        if !lost_a_race(&result, attempt) {
            return result;
        }
        attempt += 1;
    }
}

async fn inject_audited_once(
    client: &mut Client,
    user: i64,
    mailbox: i64,
    batch: &[NewMessage],
    audit: Audit<'_>,
) -> Result<Injected, StoreError> {
    let tx = client.transaction().await?;
    let messages: Vec<&NewMessage> = batch.iter().collect();
    let (new_bodyparts, new_bodypart_bytes) = store_bodyparts(&tx, None, &messages).await?;
    let owned: Vec<(i64, &NewMessage)> = batch.iter().map(|m| (user, m)).collect();
    let message_ids = store_messages(&tx, None, &owned).await?;
    let keyword_ids = keyword_ids(&tx, user, &messages).await?;

    // The mailbox row last: everything above ran without it.
    let row = tx
        .query_opt(
            "SELECT uidnext, highest_modseq, uidvalidity FROM mailboxes \
             WHERE user_id = $1 AND id = $2 AND NOT deleted FOR UPDATE",
            &[&user, &mailbox],
        )
        .await?
        .ok_or_else(|| {
            StoreError::NotFound(format!("mailbox {mailbox} of user {user} does not exist"))
        })?;
    let uidvalidity: i64 = row.get(2);
    let group = EntryGroup {
        user,
        locked: Locked {
            mailbox,
            uidnext: row.get(0),
            highest_modseq: row.get(1),
        },
        entries: batch
            .iter()
            .zip(&message_ids)
            .map(|(m, &id)| Entry {
                message: m,
                message_id: id,
                keywords: keyword_list(m, &keyword_ids),
            })
            .collect(),
    };
    let per_message = matches!(audit, Audit::PerMessage).then_some(EntryAudit {
        actor: None,
        action: "append",
    });
    let mut added = add_entries(&tx, None, std::slice::from_ref(&group), per_message).await?;
    let (uids, modseq) = added
        .pop()
        .ok_or_else(|| StoreError::Invalid("no entries were added".into()))?;
    match audit {
        Audit::PerMessage => {}
        Audit::Batch { actor, detail } => {
            let range = match (uids.first(), uids.last()) {
                (Some(a), Some(b)) => format!("uids {a}:{b}"),
                _ => "no uids".to_string(),
            };
            let text = format!("{detail}; {} stored as {range}", uids.len());
            super::audit::note(&tx, actor, "import", user, Some(mailbox), &text).await?;
        }
    }
    tx.commit().await?;
    Ok(Injected {
        uids,
        uidvalidity,
        modseq,
        new_bodyparts,
        new_bodypart_bytes,
    })
}

/// Stores the body parts `batch` needs ahead of the transaction that will
/// store the messages, in a transaction of its own (for a bulk writer's
/// second connection: content work then overlaps the ordered work of UIDs
/// and entries). Returns the parts added and their bytes.
///
/// The later transaction's lookup locks these parts and stores again any
/// that vacuum deleted in between, and parts that no transaction came to
/// refer to (the writer stopped first) are what vacuum sweeps. So nothing
/// here needs to be durable on its own: it commits without waiting for the
/// log flush, which the later transaction's commit covers (its commit
/// record comes after these parts' records).
pub async fn store_bodyparts_ahead(
    client: &mut Client,
    batch: &[NewMessage],
) -> Result<(u64, u64), StoreError> {
    let mut attempt = 0;
    loop {
        let result = store_bodyparts_ahead_once(client, batch).await;
        if !lost_a_race(&result, attempt) {
            return result;
        }
        attempt += 1;
    }
}

async fn store_bodyparts_ahead_once(
    client: &mut Client,
    batch: &[NewMessage],
) -> Result<(u64, u64), StoreError> {
    let tx = client.transaction().await?;
    tx.batch_execute("SET LOCAL synchronous_commit = off")
        .await?;
    let messages: Vec<&NewMessage> = batch.iter().collect();
    let stored = store_bodyparts(&tx, None, &messages).await?;
    tx.commit().await?;
    Ok(stored)
}

/// A mailbox row locked FOR UPDATE by the current transaction.
pub(super) struct Locked {
    pub(super) mailbox: i64,
    pub(super) uidnext: i64,
    pub(super) highest_modseq: i64,
}

/// One new entry: the message, its messages row and its keyword ids.
pub(super) struct Entry<'a> {
    pub(super) message: &'a NewMessage,
    pub(super) message_id: i64,
    pub(super) keywords: Vec<i32>,
}

/// The entries one locked mailbox receives, in UID order.
pub(super) struct EntryGroup<'a> {
    pub(super) user: i64,
    pub(super) locked: Locked,
    pub(super) entries: Vec<Entry<'a>>,
}

/// The ids of `m`'s keywords, from the user's `keyword_ids`.
pub(super) fn keyword_list(m: &NewMessage, keyword_ids: &HashMap<String, i32>) -> Vec<i32> {
    m.keywords
        .iter()
        .filter_map(|k| keyword_ids.get(&k.to_lowercase()).copied())
        .collect()
}

/// How [`add_entries`] audits the entries it adds: one row per entry, by
/// `actor` (None: the mailbox owner's login), as `action`.
#[derive(Clone, Copy)]
pub(super) struct EntryAudit<'a> {
    pub(super) actor: Option<&'a str>,
    pub(super) action: &'a str,
}

/// The per-mailbox half of an injection, run with every group's mailbox
/// row already locked: for each group, entries with consecutive UIDs and
/// one new modseq, its counters, one change-log row and one NOTIFY (sent by
/// PostgreSQL at commit, so listeners never hear of a batch that rolled
/// back), and with `audit` one audit row per entry. One statement of each
/// kind for all groups, and the statements after the COPY go out together
/// (pipelined: they depend on nothing but the COPY), so a batch for many
/// mailboxes costs the round trips of one. Returns each group's UIDs and
/// modseq, in group order.
pub(super) async fn add_entries(
    tx: &tokio_postgres::Transaction<'_>,
    cache: Cache<'_>,
    groups: &[EntryGroup<'_>],
    audit: Option<EntryAudit<'_>>,
) -> Result<Vec<(Vec<i64>, i64)>, StoreError> {
    let mut added = Vec::with_capacity(groups.len());
    for g in groups {
        let n = g.entries.len() as i64;
        if g.locked.uidnext + n > 4_294_967_296 {
            return Err(StoreError::Limit(format!(
                "mailbox {} has run out of UIDs",
                g.locked.mailbox
            )));
        }
        let uids: Vec<i64> = (g.locked.uidnext..g.locked.uidnext + n).collect();
        added.push((uids, g.locked.highest_modseq + 1));
    }

    let sink = tx
        .copy_in(&stmt(tx, cache, "COPY mailbox_entries (user_id, mailbox_id, uid, message_id, modseq, seen, answered, flagged, \
             deleted, draft, keywords, internaldate, rfc822_size) FROM STDIN (FORMAT binary)").await?)
        .await?;
    let types = [
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::BOOL,
        Type::BOOL,
        Type::BOOL,
        Type::BOOL,
        Type::BOOL,
        Type::INT4_ARRAY,
        Type::TIMESTAMPTZ,
        Type::INT8,
    ];
    let writer = BinaryCopyInWriter::new(sink, &types);
    tokio::pin!(writer);
    // Per group: count, unseen, deleted, size.
    let mut counters: Vec<[i64; 4]> = Vec::with_capacity(groups.len());
    for (g, (uids, modseq)) in groups.iter().zip(&added) {
        let mut c = [g.entries.len() as i64, 0, 0, 0];
        for (e, uid) in g.entries.iter().zip(uids) {
            let m = e.message;
            let rfc822_size = m.ingested.wire.len() as i64;
            let date = timestamp(m.internal_date);
            let f = m.flags;
            c[1] += i64::from(!f.seen);
            c[2] += i64::from(f.deleted);
            c[3] += rfc822_size;
            let row: [&(dyn ToSql + Sync); 13] = [
                &g.user,
                &g.locked.mailbox,
                uid,
                &e.message_id,
                modseq,
                &f.seen,
                &f.answered,
                &f.flagged,
                &f.deleted,
                &f.draft,
                &e.keywords,
                &date,
                &rfc822_size,
            ];
            writer.as_mut().write(&row).await?;
        }
        counters.push(c);
    }
    writer.finish().await?;

    let users: Vec<i64> = groups.iter().map(|g| g.user).collect();
    let mailboxes: Vec<i64> = groups.iter().map(|g| g.locked.mailbox).collect();
    let modseqs: Vec<i64> = added.iter().map(|a| a.1).collect();
    let column = |i: usize| -> Vec<i64> { counters.iter().map(|c| c[i]).collect() };
    let (n, unseen, deleted, size) = (column(0), column(1), column(2), column(3));
    // A group with no entries has nothing to log (uid_low would be 0).
    let lows: Vec<i64> = added
        .iter()
        .map(|a| a.0.first().copied().unwrap_or_default())
        .collect();
    let highs: Vec<i64> = added
        .iter()
        .map(|a| a.0.last().copied().unwrap_or_default())
        .collect();
    let payloads: Vec<String> = groups
        .iter()
        .zip(&added)
        .map(|(g, (uids, modseq))| {
            format!(
                "{}:{}:{modseq}:{}",
                g.user,
                g.locked.mailbox,
                g.locked.uidnext + uids.len() as i64
            )
        })
        .collect();
    let counting = async {
        let update = stmt(
            tx,
            cache,
            "UPDATE mailboxes m SET uidnext = m.uidnext + t.n, highest_modseq = t.modseq, \
             message_count = m.message_count + t.n, unseen_count = m.unseen_count + t.unseen, \
             deleted_count = m.deleted_count + t.deleted, total_size = m.total_size + t.size \
             FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[]) \
                  AS t(u, b, n, modseq, unseen, deleted, size) \
             WHERE m.user_id = t.u AND m.id = t.b",
        )
        .await?;
        tx.execute(
            &update,
            &[&users, &mailboxes, &n, &modseqs, &unseen, &deleted, &size],
        )
        .await
    };
    let changes = async {
        let insert = stmt(
            tx,
            cache,
            "INSERT INTO mailbox_changes (user_id, mailbox_id, modseq, kind, uid_low, uid_high) \
             SELECT u, b, modseq, 'new', lo, hi \
             FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::int8[], $5::int8[]) AS t(u, b, modseq, lo, hi) \
             WHERE lo > 0",
        )
        .await?;
        tx.execute(&insert, &[&users, &mailboxes, &modseqs, &lows, &highs])
            .await
    };
    let notify = async {
        let notify = stmt(
            tx,
            cache,
            "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p",
        )
        .await?;
        tx.execute(&notify, &[&CHANGE_CHANNEL, &payloads]).await
    };
    let audited = async {
        let Some(audit) = audit else {
            return Ok(());
        };
        let placed: Vec<(i64, i64, i64, i64)> = groups
            .iter()
            .zip(&added)
            .flat_map(|(g, (uids, _))| {
                g.entries
                    .iter()
                    .zip(uids)
                    .map(|(e, &uid)| (g.user, g.locked.mailbox, uid, e.message_id))
            })
            .collect();
        super::audit::entries(tx, cache, audit.actor, audit.action, &placed).await
    };
    let (counted, logged, notified, audited) = tokio::join!(counting, changes, notify, audited);
    counted?;
    logged?;
    notified?;
    audited?;
    Ok(added)
}

/// Whether the store must keep `m`'s arriving bytes as a body part of their
/// own: when normalisation changed them and no small delta reproduces them.
fn keeps_original_bytes(m: &NewMessage) -> bool {
    m.ingested.original_kept && m.original_delta.is_none()
}

/// A body part's decoded bytes and, for text, its searchable text.
type Content<'a> = (&'a [u8], Option<&'a str>);

/// Inserts the body parts the batch needs and the database lacks. Asking
/// first keeps repeated multi-megabyte attachments off the wire entirely.
pub(super) async fn store_bodyparts(
    tx: &tokio_postgres::Transaction<'_>,
    cache: Cache<'_>,
    batch: &[&NewMessage],
) -> Result<(u64, u64), StoreError> {
    let mut wanted: HashMap<[u8; 32], Content<'_>> = HashMap::new();
    for m in batch {
        for leaf in &m.ingested.leaves {
            wanted
                .entry(leaf.hash)
                .or_insert((&leaf.decoded, leaf.text.as_deref()));
        }
        if keeps_original_bytes(m) {
            wanted
                .entry(m.ingested.raw_sha256)
                .or_insert((&m.raw, None));
        }
    }
    if wanted.is_empty() {
        return Ok((0, 0));
    }
    let hashes: Vec<&[u8]> = wanted.keys().map(|h| &h[..]).collect();
    // lock_bodyparts holds each part found FOR KEY SHARE until commit: a
    // part this batch reuses must outlive the batch, and no foreign key
    // guards message_parts (schema revision 5). Vacuum deletes only parts
    // it can lock FOR UPDATE, so it passes these by; a part vacuum has
    // locked already is waited for, and when vacuum deletes it the lookup
    // does not return it, so it is stored below.
    let present: HashSet<Vec<u8>> = tx
        .query(
            &stmt(tx, cache, "SELECT lock_bodyparts($1::bytea[])").await?,
            &[&hashes],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut missing: Vec<(&[u8; 32], &Content<'_>)> = wanted
        .iter()
        .filter(|(h, _)| !present.contains(&h[..]))
        .collect();
    // One order for every writer: two transactions inserting overlapping
    // parts then wait for each other in the same direction, never in a cycle.
    missing.sort_unstable_by_key(|(h, _)| **h);
    if missing.is_empty() {
        return Ok((0, 0));
    }
    // Binary COPY rather than INSERT … ON CONFLICT over unnested arrays: for
    // an import that was a third of the database's time, most of it building
    // and unpacking the arrays. A part another transaction stores between the
    // lookup above and this COPY is a unique violation, which the caller's
    // retry resolves (lost_a_race).
    let sink = tx
        .copy_in(
            &stmt(
                tx,
                cache,
                "COPY bodyparts (hash, bytes, data, text) FROM STDIN (FORMAT binary)",
            )
            .await?,
        )
        .await?;
    let writer = BinaryCopyInWriter::new(sink, &[Type::BYTEA, Type::INT8, Type::BYTEA, Type::TEXT]);
    tokio::pin!(writer);
    let mut total = 0u64;
    for (hash, (data, text)) in &missing {
        let bytes = data.len() as i64;
        total += bytes.unsigned_abs();
        let row: [&(dyn ToSql + Sync); 4] = [&&hash[..], &bytes, data, text];
        writer.as_mut().write(&row).await?;
    }
    let inserted = writer.finish().await?;
    Ok((inserted, total))
}

/// Writes a messages row (and its parts and search row) for every
/// `(user, message)` the user does not already have byte for byte; returns
/// each item's message id in order. Items of one user with the same bytes
/// share one row, so COPY never duplicates content within a user.
pub(super) async fn store_messages(
    tx: &tokio_postgres::Transaction<'_>,
    cache: Cache<'_>,
    items: &[(i64, &NewMessage)],
) -> Result<Vec<i64>, StoreError> {
    let users: Vec<i64> = items.iter().map(|(u, _)| *u).collect();
    let hashes: Vec<&[u8]> = items
        .iter()
        .map(|(_, m)| &m.ingested.raw_sha256[..])
        .collect();
    let lookup = stmt(
        tx,
        cache,
        "SELECT DISTINCT ON (m.user_id, m.raw_sha256) m.user_id, m.raw_sha256, m.id \
         FROM unnest($1::int8[], $2::bytea[]) AS t(u, h) \
         JOIN messages m ON m.user_id = t.u AND m.raw_sha256 = t.h \
         ORDER BY m.user_id, m.raw_sha256, m.id",
    )
    .await?;
    let mut known: HashMap<(i64, [u8; 32]), i64> = tx
        .query(&lookup, &[&users, &hashes])
        .await?
        .iter()
        .filter_map(|r| {
            Some((
                (r.get(0), <[u8; 32]>::try_from(r.get::<_, &[u8]>(1)).ok()?),
                r.get(2),
            ))
        })
        .collect();
    let key = |i: usize| (items[i].0, items[i].1.ingested.raw_sha256);

    // Fresh ids for the rest, from the identity sequence, so parts and
    // search rows can be COPYed in the same pass.
    let mut fresh: Vec<usize> = Vec::new();
    let mut seen: HashSet<(i64, [u8; 32])> = HashSet::new();
    for i in 0..items.len() {
        if !known.contains_key(&key(i)) && seen.insert(key(i)) {
            fresh.push(i);
        }
    }
    if !fresh.is_empty() {
        let next = stmt(
            tx,
            cache,
            "SELECT nextval(pg_get_serial_sequence('messages', 'id')) FROM generate_series(1, $1::int8)",
        )
        .await?;
        let ids: Vec<i64> = tx
            .query(&next, &[&(fresh.len() as i64)])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for (&i, &id) in fresh.iter().zip(&ids) {
            known.insert(key(i), id);
        }
        copy_messages(tx, cache, items, &fresh, &known).await?;
    }
    (0..items.len())
        .map(|i| {
            known
                .get(&key(i))
                .copied()
                .ok_or_else(|| StoreError::Invalid("a message id was not allocated".into()))
        })
        .collect()
}

async fn copy_messages(
    tx: &tokio_postgres::Transaction<'_>,
    cache: Cache<'_>,
    items: &[(i64, &NewMessage)],
    fresh: &[usize],
    ids: &HashMap<(i64, [u8; 32]), i64>,
) -> Result<(), StoreError> {
    let id_of = |i: usize| {
        ids.get(&(items[i].0, items[i].1.ingested.raw_sha256))
            .copied()
            .unwrap_or_default()
    };
    let user_of = |i: usize| items[i].0;

    let sink = tx
        .copy_in(&stmt(tx, cache, "COPY messages (user_id, id, raw_sha256, original_hash, original_delta, rfc822_size, header_date, \
             message_id_header, envelope, bodystructure, body, wrapped) FROM STDIN (FORMAT binary)").await?)
        .await?;
    let types = [
        Type::INT8,
        Type::INT8,
        Type::BYTEA,
        Type::BYTEA,
        Type::BYTEA,
        Type::INT8,
        Type::TIMESTAMPTZ,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::BOOL,
    ];
    let writer = BinaryCopyInWriter::new(sink, &types);
    tokio::pin!(writer);
    for &i in fresh {
        let g = &items[i].1.ingested;
        let user = user_of(i);
        let original: Option<&[u8]> = keeps_original_bytes(items[i].1).then_some(&g.raw_sha256[..]);

        let size = g.wire.len() as i64;
        let date = g.header_date.map(timestamp);
        let wrapped = g.wrapped.is_some();
        let row: [&(dyn ToSql + Sync); 12] = [
            &user,
            &id_of(i),
            &&g.raw_sha256[..],
            &original,
            &items[i].1.original_delta,
            &size,
            &date,
            &g.message_id,
            &g.envelope,
            &g.bodystructure,
            &g.body,
            &wrapped,
        ];
        writer.as_mut().write(&row).await?;
    }
    writer.finish().await?;

    let sink = tx
        .copy_in(&stmt(tx, cache, "COPY message_parts (user_id, message_id, part, position, header, bodypart_hash, content_type, \
             transfer_encoding, encoded_bytes, lines) FROM STDIN (FORMAT binary)").await?)
        .await?;
    let types = [
        Type::INT8,
        Type::INT8,
        Type::TEXT,
        Type::INT4,
        Type::BYTEA,
        Type::BYTEA,
        Type::TEXT,
        Type::TEXT,
        Type::INT8,
        Type::INT8,
    ];
    let writer = BinaryCopyInWriter::new(sink, &types);
    tokio::pin!(writer);
    for &i in fresh {
        let (user, id) = (user_of(i), id_of(i));
        for p in &items[i].1.ingested.parts {
            let hash: Option<&[u8]> = p.bodypart.as_ref().map(|h| &h[..]);
            let encoded = i64::try_from(p.encoded_bytes).unwrap_or(i64::MAX);
            let lines = i64::try_from(p.lines).unwrap_or(i64::MAX);
            let row: [&(dyn ToSql + Sync); 10] = [
                &user,
                &id,
                &p.part,
                &p.position,
                &p.header,
                &hash,
                &p.content_type,
                &p.transfer_encoding,
                &encoded,
                &lines,
            ];
            writer.as_mut().write(&row).await?;
        }
    }
    writer.finish().await?;

    let sink = tx
        .copy_in(&stmt(tx, cache, "COPY message_search (user_id, message_id, subject, from_text, to_text, cc_text, bcc_text, headers) \
             FROM STDIN (FORMAT binary)").await?)
        .await?;
    let types = [
        Type::INT8,
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
    ];
    let writer = BinaryCopyInWriter::new(sink, &types);
    tokio::pin!(writer);
    for &i in fresh {
        let s = &items[i].1.ingested.search;
        let user = user_of(i);
        let row: [&(dyn ToSql + Sync); 8] = [
            &user,
            &id_of(i),
            &s.subject,
            &s.from_text,
            &s.to_text,
            &s.cc_text,
            &s.bcc_text,
            &s.headers,
        ];
        writer.as_mut().write(&row).await?;
    }
    writer.finish().await?;

    let wrapped: Vec<(i64, i64, &str)> = fresh
        .iter()
        .filter_map(|&i| {
            let reason = items[i].1.ingested.wrapped.as_deref()?;
            Some((user_of(i), id_of(i), reason))
        })
        .collect();
    if !wrapped.is_empty() {
        let users: Vec<i64> = wrapped.iter().map(|w| w.0).collect();
        let ids: Vec<i64> = wrapped.iter().map(|w| w.1).collect();
        let reasons: Vec<&str> = wrapped.iter().map(|w| w.2).collect();
        let insert = stmt(
            tx,
            cache,
            "INSERT INTO unparsed_messages (user_id, message_id, error) \
             SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[])",
        )
        .await?;
        tx.execute(&insert, &[&users, &ids, &reasons]).await?;
    }
    Ok(())
}

/// Creates the keywords named (those that exist already are skipped).
/// Creation for one user is serialised by a transaction-level advisory lock
/// (key 7), since ids are allocated per user as max + 1. Every path that
/// creates keywords (delivery, STORE) goes through here.
pub(crate) async fn create_keywords(
    tx: &tokio_postgres::Transaction<'_>,
    user: i64,
    names: &[&str],
) -> Result<(), StoreError> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(7, $1::int8::bit(32)::int4)",
        &[&user],
    )
    .await?;
    tx.execute(
        "INSERT INTO keywords (user_id, id, name) \
         SELECT $1, coalesce((SELECT max(id) FROM keywords WHERE user_id = $1), 0) + ord, n::citext \
         FROM unnest($2::text[]) WITH ORDINALITY AS u(n, ord) \
         WHERE NOT EXISTS (SELECT 1 FROM keywords k WHERE k.user_id = $1 AND k.name = n::citext) \
         ON CONFLICT (user_id, name) DO NOTHING",
        &[&user, &names],
    )
    .await?;
    Ok(())
}

/// Ids for the batch's keywords, creating the new ones. Keyword creation
/// for one user is serialised by a transaction-level advisory lock, since
/// ids are allocated per user as max + 1.
pub(super) async fn keyword_ids(
    tx: &tokio_postgres::Transaction<'_>,
    user: i64,
    batch: &[&NewMessage],
) -> Result<HashMap<String, i32>, StoreError> {
    // Keywords compare case-insensitively (citext), but are stored as first spelt.
    let mut spelling: HashMap<String, &str> = HashMap::new();
    for k in batch.iter().flat_map(|m| m.keywords.iter()) {
        spelling.entry(k.to_lowercase()).or_insert(k);
    }
    let names: Vec<String> = spelling.keys().cloned().collect();
    if names.is_empty() {
        return Ok(HashMap::new());
    }
    let lookup = "SELECT lower(name::text), id FROM keywords WHERE user_id = $1 AND name = ANY($2::text[]::citext[])";
    let mut ids: HashMap<String, i32> = tx
        .query(lookup, &[&user, &names])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut missing: Vec<&str> = spelling
        .iter()
        .filter(|(lower, _)| !ids.contains_key(*lower))
        .map(|(_, spelt)| *spelt)
        .collect();
    missing.sort_unstable();
    if !missing.is_empty() {
        create_keywords(tx, user, &missing).await?;
        ids = tx
            .query(lookup, &[&user, &names])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
    }
    Ok(ids)
}
