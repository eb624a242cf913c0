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
/// - a body part or message this transaction found and reused was deleted by
///   `aox vacuum` before the reference was checked (a foreign-key
///   violation). Vacuum deletes only rows it can lock exclusively, and a
///   reference this transaction has written holds its row `FOR KEY SHARE`
///   until commit, so the window is the one between looking a row up and
///   referring to it;
/// - a body part this transaction found missing was stored by another one
///   before this one's COPY wrote it (a unique violation on its hash).
fn lost_a_race<T>(result: &Result<T, StoreError>, attempt: usize) -> bool {
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
    let (new_bodyparts, new_bodypart_bytes) = store_bodyparts(&tx, batch).await?;
    let message_ids = store_messages(&tx, user, batch).await?;
    let keyword_ids = keyword_ids(&tx, user, batch).await?;

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
    let locked = Locked {
        mailbox,
        uidnext: row.get(0),
        highest_modseq: row.get(1),
    };
    let uidvalidity: i64 = row.get(2);
    let (uids, modseq) = add_entries(&tx, user, &locked, batch, &message_ids, &keyword_ids).await?;
    match audit {
        Audit::PerMessage => {
            let placed: Vec<(i64, i64, i64, i64)> = uids
                .iter()
                .zip(&message_ids)
                .map(|(&uid, &message)| (user, mailbox, uid, message))
                .collect();
            super::audit::entries(&tx, None, "append", &placed).await?;
        }
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

/// Where one copy of a multi-mailbox injection went.
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

/// Stores `message` into every `(user, mailbox)` of `targets` in one
/// transaction (LMTP's one message for many recipients): the body parts
/// once, one messages row per distinct user (every key leads with the user,
/// DESIGN.md §4.9), and one entry per distinct mailbox. The mailbox rows are
/// locked last, by one statement in id order, so two deliveries to
/// overlapping mailboxes wait for each other in one direction, never in a
/// cycle.
///
/// The answer has one element per target, in order: `None` for a mailbox
/// that no longer exists (deleted since it was looked up), which gets
/// nothing. When no target exists, nothing at all is committed, so content
/// is never stored without an entry referring to it. Any database error
/// rolls the whole transaction back.
pub async fn inject_many(
    client: &mut Client,
    targets: &[(i64, i64)],
    message: &NewMessage,
) -> Result<Vec<Option<Placed>>, StoreError> {
    let mut attempt = 0;
    loop {
        let result = inject_many_once(client, targets, message).await;
        if !lost_a_race(&result, attempt) {
            return result;
        }
        attempt += 1;
    }
}

async fn inject_many_once(
    client: &mut Client,
    targets: &[(i64, i64)],
    message: &NewMessage,
) -> Result<Vec<Option<Placed>>, StoreError> {
    let batch = std::slice::from_ref(message);
    let mut users: Vec<i64> = targets.iter().map(|t| t.0).collect();
    users.sort_unstable();
    users.dedup();
    let mut mailboxes: Vec<(i64, i64)> = targets.to_vec();
    mailboxes.sort_unstable_by_key(|&(u, m)| (m, u));
    mailboxes.dedup();
    if mailboxes.is_empty() {
        return Ok(Vec::new());
    }

    let tx = client.transaction().await?;
    store_bodyparts(&tx, batch).await?;
    let mut message_ids: HashMap<i64, (i64, HashMap<String, i32>)> = HashMap::new();
    for &user in &users {
        let ids = store_messages(&tx, user, batch).await?;
        let id = ids
            .first()
            .copied()
            .ok_or_else(|| StoreError::Invalid("a message id was not allocated".into()))?;
        message_ids.insert(user, (id, keyword_ids(&tx, user, batch).await?));
    }

    // The mailbox rows last, all in one statement; ORDER BY runs below the
    // row locking, so the rows are locked in id order.
    let user_list: Vec<i64> = mailboxes.iter().map(|t| t.0).collect();
    let mailbox_list: Vec<i64> = mailboxes.iter().map(|t| t.1).collect();
    let rows = tx
        .query(
            "SELECT m.user_id, m.id, m.uidnext, m.highest_modseq, m.uidvalidity FROM mailboxes m \
             JOIN unnest($1::int8[], $2::int8[]) AS t(u, b) ON m.user_id = t.u AND m.id = t.b \
             WHERE NOT m.deleted ORDER BY m.id FOR UPDATE OF m",
            &[&user_list, &mailbox_list],
        )
        .await?;
    if rows.is_empty() {
        tx.rollback().await?;
        return Ok(vec![None; targets.len()]);
    }
    let mut placed: HashMap<(i64, i64), Placed> = HashMap::new();
    for row in &rows {
        let user: i64 = row.get(0);
        let locked = Locked {
            mailbox: row.get(1),
            uidnext: row.get(2),
            highest_modseq: row.get(3),
        };
        let Some((message_id, keywords)) = message_ids.get(&user) else {
            continue;
        };
        let (uids, modseq) = add_entries(
            &tx,
            user,
            &locked,
            batch,
            std::slice::from_ref(message_id),
            keywords,
        )
        .await?;
        if let Some(&uid) = uids.first() {
            placed.insert(
                (user, locked.mailbox),
                Placed {
                    user,
                    mailbox: locked.mailbox,
                    uid,
                    uidvalidity: row.get(4),
                    modseq,
                },
            );
        }
    }
    let audited: Vec<(i64, i64, i64, i64)> = placed
        .values()
        .filter_map(|p| Some((p.user, p.mailbox, p.uid, message_ids.get(&p.user)?.0)))
        .collect();
    super::audit::entries(&tx, Some("lmtp"), "deliver", &audited).await?;
    tx.commit().await?;
    Ok(targets.iter().map(|t| placed.get(t).cloned()).collect())
}

/// A mailbox row locked FOR UPDATE by the current transaction.
struct Locked {
    mailbox: i64,
    uidnext: i64,
    highest_modseq: i64,
}

/// The per-mailbox half of an injection, run with the mailbox row already
/// locked: entries with consecutive UIDs and one new modseq, the counters,
/// the change-log row and the NOTIFY (sent by PostgreSQL at commit, so
/// listeners never hear of a batch that rolled back). Returns the UIDs and
/// the modseq.
async fn add_entries(
    tx: &tokio_postgres::Transaction<'_>,
    user: i64,
    locked: &Locked,
    batch: &[NewMessage],
    message_ids: &[i64],
    keyword_ids: &HashMap<String, i32>,
) -> Result<(Vec<i64>, i64), StoreError> {
    let (mailbox, uidnext) = (locked.mailbox, locked.uidnext);
    let modseq = locked.highest_modseq + 1;
    let n = batch.len() as i64;
    if uidnext + n > 4_294_967_296 {
        return Err(StoreError::Conflict(format!(
            "mailbox {mailbox} has run out of UIDs"
        )));
    }
    let uids: Vec<i64> = (uidnext..uidnext + n).collect();

    let sink = tx
        .copy_in(
            "COPY mailbox_entries (user_id, mailbox_id, uid, message_id, modseq, seen, answered, flagged, \
             deleted, draft, keywords, internaldate, rfc822_size) FROM STDIN (FORMAT binary)",
        )
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
    let (mut unseen, mut deleted, mut size) = (0i64, 0i64, 0i64);
    for ((m, uid), message_id) in batch.iter().zip(&uids).zip(message_ids) {
        let keywords: Vec<i32> = m
            .keywords
            .iter()
            .filter_map(|k| keyword_ids.get(&k.to_lowercase()).copied())
            .collect();
        let rfc822_size = m.ingested.wire.len() as i64;
        let date = timestamp(m.internal_date);
        let f = m.flags;
        unseen += i64::from(!f.seen);
        deleted += i64::from(f.deleted);
        size += rfc822_size;
        let row: [&(dyn ToSql + Sync); 13] = [
            &user,
            &mailbox,
            uid,
            message_id,
            &modseq,
            &f.seen,
            &f.answered,
            &f.flagged,
            &f.deleted,
            &f.draft,
            &keywords,
            &date,
            &rfc822_size,
        ];
        writer.as_mut().write(&row).await?;
    }
    writer.finish().await?;

    tx.execute(
        "UPDATE mailboxes SET uidnext = uidnext + $3, highest_modseq = $4, message_count = message_count + $3, \
         unseen_count = unseen_count + $5, deleted_count = deleted_count + $6, total_size = total_size + $7 \
         WHERE user_id = $1 AND id = $2",
        &[&user, &mailbox, &n, &modseq, &unseen, &deleted, &size],
    )
    .await?;
    if let (Some(low), Some(high)) = (uids.first(), uids.last()) {
        tx.execute(
            "INSERT INTO mailbox_changes (user_id, mailbox_id, modseq, kind, uid_low, uid_high) \
             VALUES ($1, $2, $3, 'new', $4, $5)",
            &[&user, &mailbox, &modseq, low, high],
        )
        .await?;
    }
    let payload = format!("{user}:{mailbox}:{modseq}:{}", uidnext + n);
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANGE_CHANNEL, &payload])
        .await?;
    Ok((uids, modseq))
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
async fn store_bodyparts(
    tx: &tokio_postgres::Transaction<'_>,
    batch: &[NewMessage],
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
    let present: HashSet<Vec<u8>> = tx
        .query(
            "SELECT hash FROM bodyparts WHERE hash = ANY($1)",
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
        .copy_in("COPY bodyparts (hash, bytes, data, text) FROM STDIN (FORMAT binary)")
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

/// Writes a messages row (and its parts and search row) for every message
/// the user does not already have byte for byte; returns each message's id
/// in batch order. COPY within a user never duplicates content.
async fn store_messages(
    tx: &tokio_postgres::Transaction<'_>,
    user: i64,
    batch: &[NewMessage],
) -> Result<Vec<i64>, StoreError> {
    let hashes: Vec<&[u8]> = batch.iter().map(|m| &m.ingested.raw_sha256[..]).collect();
    let mut known: HashMap<Vec<u8>, i64> = tx
        .query(
            "SELECT DISTINCT ON (raw_sha256) raw_sha256, id FROM messages \
             WHERE user_id = $1 AND raw_sha256 = ANY($2) ORDER BY raw_sha256, id",
            &[&user, &hashes],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();

    // Fresh ids for the rest, from the identity sequence, so parts and
    // search rows can be COPYed in the same pass.
    let mut fresh: Vec<usize> = Vec::new();
    for (i, m) in batch.iter().enumerate() {
        if !known.contains_key(&m.ingested.raw_sha256[..])
            && !fresh
                .iter()
                .any(|&j| batch[j].ingested.raw_sha256 == m.ingested.raw_sha256)
        {
            fresh.push(i);
        }
    }
    if !fresh.is_empty() {
        let ids: Vec<i64> = tx
            .query(
                "SELECT nextval(pg_get_serial_sequence('messages', 'id')) FROM generate_series(1, $1::int8)",
                &[&(fresh.len() as i64)],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for (&i, &id) in fresh.iter().zip(&ids) {
            known.insert(batch[i].ingested.raw_sha256.to_vec(), id);
        }
        copy_messages(tx, user, batch, &fresh, &known).await?;
    }
    batch
        .iter()
        .map(|m| {
            known
                .get(&m.ingested.raw_sha256[..])
                .copied()
                .ok_or_else(|| StoreError::Invalid("a message id was not allocated".into()))
        })
        .collect()
}

async fn copy_messages(
    tx: &tokio_postgres::Transaction<'_>,
    user: i64,
    batch: &[NewMessage],
    fresh: &[usize],
    ids: &HashMap<Vec<u8>, i64>,
) -> Result<(), StoreError> {
    let id_of = |i: usize| {
        ids.get(&batch[i].ingested.raw_sha256[..])
            .copied()
            .unwrap_or_default()
    };

    let sink = tx
        .copy_in(
            "COPY messages (user_id, id, raw_sha256, original_hash, original_delta, rfc822_size, header_date, \
             message_id_header, envelope, bodystructure, body, wrapped) FROM STDIN (FORMAT binary)",
        )
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
        let g = &batch[i].ingested;
        let original: Option<&[u8]> = keeps_original_bytes(&batch[i]).then_some(&g.raw_sha256[..]);

        let size = g.wire.len() as i64;
        let date = g.header_date.map(timestamp);
        let wrapped = g.wrapped.is_some();
        let row: [&(dyn ToSql + Sync); 12] = [
            &user,
            &id_of(i),
            &&g.raw_sha256[..],
            &original,
            &batch[i].original_delta,
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
        .copy_in(
            "COPY message_parts (user_id, message_id, part, position, header, bodypart_hash, content_type, \
             transfer_encoding, encoded_bytes, lines) FROM STDIN (FORMAT binary)",
        )
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
        let id = id_of(i);
        for p in &batch[i].ingested.parts {
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
        .copy_in(
            "COPY message_search (user_id, message_id, subject, from_text, to_text, cc_text, bcc_text, headers) \
             FROM STDIN (FORMAT binary)",
        )
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
        let s = &batch[i].ingested.search;
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

    let wrapped: Vec<(i64, &str)> = fresh
        .iter()
        .filter_map(|&i| batch[i].ingested.wrapped.as_deref().map(|r| (id_of(i), r)))
        .collect();
    if !wrapped.is_empty() {
        let ids: Vec<i64> = wrapped.iter().map(|(id, _)| *id).collect();
        let reasons: Vec<&str> = wrapped.iter().map(|(_, r)| *r).collect();
        tx.execute(
            "INSERT INTO unparsed_messages (user_id, message_id, error) SELECT $1, * FROM unnest($2::int8[], $3::text[])",
            &[&user, &ids, &reasons],
        )
        .await?;
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
async fn keyword_ids(
    tx: &tokio_postgres::Transaction<'_>,
    user: i64,
    batch: &[NewMessage],
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
