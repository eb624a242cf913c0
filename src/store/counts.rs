//! `aox show counts`: how big the store is.

use tokio_postgres::GenericClient;

use super::StoreError;

/// Row counts and byte totals across the whole store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Rows in users.
    pub users: i64,
    /// Mailboxes that exist (deleted rows excluded).
    pub mailboxes: i64,
    /// Rows in messages (stored contents, one per user per message).
    pub messages: i64,
    /// Rows in mailbox_entries (what IMAP sees).
    pub mailbox_entries: i64,
    /// Rows in expunged_entries (tombstones).
    pub expunged_entries: i64,
    /// Rows in bodyparts (deduplicated MIME leaves).
    pub bodyparts: i64,
    /// Decoded bytes across bodyparts.
    pub bodypart_bytes: i64,
    /// RFC 822 bytes across messages, as delivered (before deduplication).
    pub message_bytes: i64,
    /// Body parts that are kept originals (arriving bytes that no small
    /// delta of the served form reproduces), and their bytes: evidence, not
    /// content, so counted apart from the MIME leaves above them.
    pub original_copies: i64,
    /// Bytes of those.
    pub original_copy_bytes: i64,
    /// Messages whose original is kept as a delta, and the deltas' bytes.
    pub original_deltas: i64,
    /// Bytes of those.
    pub original_delta_bytes: i64,
}

/// Exact counts. These are full count(*) scans: fine for an administrator's
/// occasional command, and exact numbers are what people compare against an
/// import. Never call this from a protocol path.
pub async fn show_counts(client: &impl GenericClient) -> Result<Counts, StoreError> {
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM users), \
                    (SELECT count(*) FROM mailboxes WHERE NOT deleted), \
                    (SELECT count(*) FROM messages), \
                    (SELECT count(*) FROM mailbox_entries), \
                    (SELECT count(*) FROM expunged_entries), \
                    (SELECT count(*) FROM bodyparts), \
                    (SELECT coalesce(sum(bytes), 0)::bigint FROM bodyparts), \
                    (SELECT coalesce(sum(rfc822_size), 0)::bigint FROM messages), \
                    (SELECT count(*) FROM bodyparts b WHERE EXISTS \
                        (SELECT 1 FROM messages m WHERE m.original_hash = b.hash)), \
                    (SELECT coalesce(sum(bytes), 0)::bigint FROM bodyparts b WHERE EXISTS \
                        (SELECT 1 FROM messages m WHERE m.original_hash = b.hash)), \
                    (SELECT count(*) FROM messages WHERE original_delta IS NOT NULL), \
                    (SELECT coalesce(sum(octet_length(original_delta)), 0)::bigint FROM messages)",
            &[],
        )
        .await?;
    Ok(Counts {
        users: row.get(0),
        mailboxes: row.get(1),
        messages: row.get(2),
        mailbox_entries: row.get(3),
        expunged_entries: row.get(4),
        bodyparts: row.get(5),
        bodypart_bytes: row.get(6),
        message_bytes: row.get(7),
        original_copies: row.get(8),
        original_copy_bytes: row.get(9),
        original_deltas: row.get(10),
        original_delta_bytes: row.get(11),
    })
}
