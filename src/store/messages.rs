//! Reading stored messages back: the entries of a mailbox in UID order with
//! their parts, and body-part content by hash. Export uses it now; FETCH
//! will serve from the same rows.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio_postgres::GenericClient;

use super::StoreError;
use super::inject::SystemFlags;
use crate::mime::Part;

/// One message of a mailbox, as stored.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    /// Its UID.
    pub uid: i64,
    /// INTERNALDATE, Unix seconds.
    pub internal_date: i64,
    /// System flags.
    pub flags: SystemFlags,
    /// Keyword names.
    pub keywords: Vec<String>,
    /// The MIME parts, in order, for `mime::render`.
    pub parts: Vec<Part>,
    /// The hash of the original bytes, when normalisation changed more than line endings.
    pub original_hash: Option<[u8; 32]>,
    /// The original as an edit of the served form ([`crate::mime::delta`]).
    pub original_delta: Option<Vec<u8>>,
    /// SHA-256 of the bytes as they arrived.
    pub raw_sha256: [u8; 32],
}

fn hash32(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map_err(|_| StoreError::Invalid("a stored hash is not 32 bytes".into()))
}

/// Up to `limit` messages of `mailbox` with UIDs above `after_uid` (and in
/// `within`, when given), in UID order: three statements whatever the count.
pub async fn after_uid(
    client: &impl GenericClient,
    user: i64,
    mailbox: i64,
    after_uid: i64,
    limit: i64,
    within: Option<&crate::uidset::UidSet>,
) -> Result<Vec<StoredMessage>, StoreError> {
    let (lows, highs) = match within {
        Some(set) => {
            let (l, h) = set.bounds();
            (Some(l), Some(h))
        }
        None => (None, None),
    };
    let rows = client
        .query(
            "SELECT e.uid, e.internaldate, e.seen, e.answered, e.flagged, e.deleted, e.draft, \
                    coalesce((SELECT array_agg(k.name::text ORDER BY k.id) FROM keywords k \
                              WHERE k.user_id = e.user_id AND k.id = ANY(e.keywords)), '{}'), \
                    e.message_id, m.original_hash, m.raw_sha256, m.original_delta \
             FROM mailbox_entries e JOIN messages m ON m.user_id = e.user_id AND m.id = e.message_id \
             WHERE e.user_id = $1 AND e.mailbox_id = $2 AND e.uid > $3 \
               AND ($5::bigint[] IS NULL OR EXISTS (SELECT 1 FROM unnest($5::bigint[], $6::bigint[]) r(lo, hi) \
                                                    WHERE e.uid BETWEEN r.lo AND r.hi)) \
             ORDER BY e.uid LIMIT $4",
            &[&user, &mailbox, &after_uid, &limit, &lows, &highs],
        )
        .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.get(8)).collect();
    let mut parts: HashMap<i64, Vec<Part>> = HashMap::new();
    for r in client
        .query(
            "SELECT message_id, part, position, header, bodypart_hash, content_type, transfer_encoding, \
                    encoded_bytes, lines \
             FROM message_parts WHERE user_id = $1 AND message_id = ANY($2) ORDER BY message_id, position",
            &[&user, &ids],
        )
        .await?
    {
        let bodypart = match r.get::<_, Option<&[u8]>>(4) {
            Some(h) => Some(hash32(h)?),
            None => None,
        };
        parts.entry(r.get(0)).or_default().push(Part {
            part: r.get(1),
            position: r.get(2),
            header: r.get(3),
            bodypart,
            content_type: r.get(5),
            transfer_encoding: r.get(6),
            encoded_bytes: r.get::<_, i64>(7).unsigned_abs(),
            lines: r.get::<_, i64>(8).unsigned_abs(),
        });
    }
    rows.iter()
        .map(|r| {
            let date: SystemTime = r.get(1);
            let internal_date = match date.duration_since(UNIX_EPOCH) {
                Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
            };
            let message_id: i64 = r.get(8);
            Ok(StoredMessage {
                uid: r.get(0),
                internal_date,
                flags: SystemFlags {
                    seen: r.get(2),
                    answered: r.get(3),
                    flagged: r.get(4),
                    deleted: r.get(5),
                    draft: r.get(6),
                },
                keywords: r.get(7),
                // Two entries may share a message (COPY within a mailbox).
                parts: parts.get(&message_id).cloned().unwrap_or_default(),
                original_hash: r.get::<_, Option<&[u8]>>(9).map(hash32).transpose()?,
                raw_sha256: hash32(r.get(10))?,
                original_delta: r.get(11),
            })
        })
        .collect()
}

/// The content of the body parts named, by hash.
pub async fn bodypart_data(
    client: &impl GenericClient,
    hashes: &[[u8; 32]],
) -> Result<HashMap<[u8; 32], Vec<u8>>, StoreError> {
    let list: Vec<&[u8]> = hashes.iter().map(|h| &h[..]).collect();
    client
        .query(
            "SELECT hash, data FROM bodyparts WHERE hash = ANY($1)",
            &[&list],
        )
        .await?
        .iter()
        .map(|r| Ok((hash32(r.get(0))?, r.get(1))))
        .collect()
}
