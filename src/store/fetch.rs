//! What FETCH reads: the entries of a mailbox for a chunk of UIDs, with the
//! message data the command asks for. Body-part content is loaded
//! separately, by hash, with [`super::messages::bodypart_data`], for just
//! the hashes `mime::section::needed` names.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio_postgres::GenericClient;

use super::StoreError;
use super::inject::SystemFlags;
use crate::mime::Part;
use crate::uidset::UidSet;

/// What a FETCH needs beyond the entry itself (flags, dates and size always
/// come, being in the entry row).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchWanted {
    /// ENVELOPE.
    pub envelope: bool,
    /// BODYSTRUCTURE.
    pub bodystructure: bool,
    /// BODY (the structure without extension data).
    pub body: bool,
    /// The `message_parts` rows, for BODY[…], RFC822*, BINARY*.
    pub parts: bool,
    /// THREADID (RFC 8474); without it (and without ENVELOPE, BODY and
    /// BODYSTRUCTURE) the `messages` rows are not read at all, which is
    /// most of the cost of a FLAGS-only FETCH.
    pub thread: bool,
    /// CHANGEDSINCE (RFC 7162 §3.1.4.1): only entries whose modseq is
    /// greater than this.
    pub modseq_filter: Option<u64>,
}

/// One entry, with what [`FetchWanted`] asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRow {
    /// Its UID.
    pub uid: u32,
    /// Its modseq (RFC 7162 MODSEQ).
    pub modseq: u64,
    /// System flags.
    pub flags: SystemFlags,
    /// Keyword ids (the user's `keywords` table names them).
    pub keywords: Vec<i32>,
    /// INTERNALDATE, Unix seconds.
    pub internal_date: i64,
    /// RFC822.SIZE: the length of the served message.
    pub rfc822_size: u64,
    /// The `messages` row (EMAILID, RFC 8474).
    pub message_id: i64,
    /// The thread (THREADID, RFC 8474), when known.
    pub thread_id: Option<i64>,
    /// ENVELOPE, when asked for.
    pub envelope: Option<String>,
    /// BODYSTRUCTURE, when asked for.
    pub bodystructure: Option<String>,
    /// BODY, when asked for.
    pub body: Option<String>,
    /// The MIME parts in order, when asked for; else empty.
    pub parts: Vec<Part>,
}

/// The entries of `mailbox` whose UIDs are in `uids` (and whose modseq >
/// changed_since when given), in UID order, with what `wanted` asks for: at
/// most three statements (entries ⋈ messages; message_parts for those
/// message ids; nothing else). The caller passes bounded chunks (it splits a
/// 1:* FETCH into chunks of a few hundred UIDs, see [`chunks`]), so this
/// returns a Vec. UIDs not in the mailbox are skipped.
pub async fn fetch(
    client: &impl GenericClient,
    user: i64,
    mailbox: i64,
    uids: &UidSet,
    wanted: &FetchWanted,
) -> Result<Vec<FetchRow>, StoreError> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let (lows, highs) = uids.bounds();
    let changed_since = wanted
        .modseq_filter
        .map(|m| i64::try_from(m).unwrap_or(i64::MAX));
    // The ranges drive an index range scan each on the entries' primary key
    // (DESIGN §4.4). A LATERAL subquery fenced with OFFSET 0 (so it is not
    // flattened back into a join) makes that the only plan: with a plain
    // join, a mailbox not yet analysed (just imported) is estimated at one
    // row, and the planner scans all its entries against the ranges — every
    // FETCH of one UID then costs the whole mailbox. The large texts are read only
    // when asked for, since CASE keeps PostgreSQL from detoasting the others.
    let needs_message = wanted.envelope || wanted.bodystructure || wanted.body || wanted.thread;
    let (message_columns, message_join) = if needs_message {
        (
            "m.thread_id, CASE WHEN $6 THEN m.envelope END, CASE WHEN $7 THEN m.bodystructure END, \
             CASE WHEN $8 THEN m.body END",
            "JOIN messages m ON m.user_id = e.user_id AND m.id = e.message_id",
        )
    } else {
        (
            "NULL::bigint, CASE WHEN $6 THEN NULL::text END, CASE WHEN $7 THEN NULL::text END, \
             CASE WHEN $8 THEN NULL::text END",
            "",
        )
    };
    let sql = format!(
        "SELECT e.uid, e.modseq, e.seen, e.answered, e.flagged, e.deleted, e.draft, \
                e.keywords, e.internaldate, e.rfc822_size, e.message_id, {message_columns} \
         FROM unnest($3::bigint[], $4::bigint[]) AS r(lo, hi) \
         CROSS JOIN LATERAL ( \
             SELECT * FROM mailbox_entries \
             WHERE user_id = $1 AND mailbox_id = $2 AND uid BETWEEN r.lo AND r.hi \
             OFFSET 0) e \
         {message_join} \
         WHERE $5::bigint IS NULL OR e.modseq > $5 \
         ORDER BY e.uid"
    );
    let rows = client
        .query(
            &sql,
            &[
                &user,
                &mailbox,
                &lows,
                &highs,
                &changed_since,
                &wanted.envelope,
                &wanted.bodystructure,
                &wanted.body,
            ],
        )
        .await?;
    let mut parts = if wanted.parts && !rows.is_empty() {
        let mut ids: Vec<i64> = rows.iter().map(|r| r.get(10)).collect();
        ids.sort_unstable();
        ids.dedup();
        message_parts(client, user, &ids).await?
    } else {
        HashMap::new()
    };
    // Two entries may share a message (COPY within a mailbox): the last
    // one takes its rows, the others a copy.
    let mut uses: HashMap<i64, usize> = HashMap::new();
    for r in &rows {
        *uses.entry(r.get(10)).or_default() += 1;
    }
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let message_id: i64 = r.get(10);
        let left = uses.entry(message_id).or_default();
        *left = left.saturating_sub(1);
        let parts = if *left > 0 {
            parts.get(&message_id).cloned().unwrap_or_default()
        } else {
            parts.remove(&message_id).unwrap_or_default()
        };
        out.push(FetchRow {
            uid: u32::try_from(r.get::<_, i64>(0))
                .map_err(|_| StoreError::Invalid("a stored UID is out of range".into()))?,
            modseq: r.get::<_, i64>(1).unsigned_abs(),
            flags: SystemFlags {
                seen: r.get(2),
                answered: r.get(3),
                flagged: r.get(4),
                deleted: r.get(5),
                draft: r.get(6),
            },
            keywords: r.get(7),
            internal_date: unix_seconds(r.get(8)),
            rfc822_size: r.get::<_, i64>(9).unsigned_abs(),
            message_id,
            thread_id: r.get(11),
            envelope: r.get(12),
            bodystructure: r.get(13),
            body: r.get(14),
            parts,
        });
    }
    Ok(out)
}

/// The parts of the messages named, each message's in position order.
async fn message_parts(
    client: &impl GenericClient,
    user: i64,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<Part>>, StoreError> {
    let mut parts: HashMap<i64, Vec<Part>> = HashMap::with_capacity(ids.len());
    for r in client
        .query(
            "SELECT message_id, part, position, header, bodypart_hash, content_type, \
                    transfer_encoding, encoded_bytes, lines \
             FROM message_parts WHERE user_id = $1 AND message_id = ANY($2) \
             ORDER BY message_id, position",
            &[&user, &ids],
        )
        .await?
    {
        let bodypart = match r.get::<_, Option<&[u8]>>(4) {
            Some(h) => Some(<[u8; 32]>::try_from(h).map_err(|_| {
                StoreError::Invalid("a stored body part hash is not 32 bytes".into())
            })?),
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
    Ok(parts)
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Splits `uids` into consecutive chunks of at most `n` UIDs *present in
/// the mailbox*, using the session's view (the caller passes its known
/// UIDs), so that `1:*` over a sparse mailbox costs as many chunks as it has
/// messages, not as its UID range is wide. Pure; `n` of 0 counts as 1.
pub fn chunks(uids: &UidSet, known: &UidSet, n: u64) -> Vec<UidSet> {
    let n = n.max(1);
    let mut out = Vec::new();
    let mut current: Vec<(u32, u32)> = Vec::new();
    let mut room = n;
    for &(a, b) in uids.intersection(known).ranges() {
        let mut lo = u64::from(a);
        let hi = u64::from(b);
        while lo <= hi {
            let take = (hi - lo + 1).min(room);
            let end = lo + take - 1;
            // Both ends lie within (a, b), so they fit in u32.
            current.push((lo as u32, end as u32));
            room -= take;
            lo = end + 1;
            if room == 0 {
                out.push(UidSet::from_ranges(std::mem::take(&mut current)));
                room = n;
            }
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

    fn sizes(c: &[UidSet]) -> Vec<u64> {
        c.iter().map(UidSet::len).collect()
    }

    #[test]
    fn chunks_count_only_known_uids() {
        // A sparse mailbox: 1:3, 1000, 5000:5004; the client asked for 2:*.
        let known = UidSet::from_ranges([(1, 3), (1000, 1000), (5000, 5004)]);
        let asked = UidSet::from_ranges([(2, u32::MAX)]);
        let c = chunks(&asked, &known, 3);
        assert_eq!(
            c.iter().map(UidSet::to_imap).collect::<Vec<_>>(),
            vec!["2:3,1000", "5000:5002", "5003:5004"]
        );
        assert_eq!(sizes(&c), vec![3, 3, 2]);
        assert_eq!(chunks(&asked, &known, 100).len(), 1);
        assert!(chunks(&UidSet::new(), &known, 3).is_empty());
        assert!(chunks(&asked, &UidSet::new(), 3).is_empty());
        // Nothing asked for outside the view comes back.
        assert!(chunks(&UidSet::from_values([4, 6]), &known, 3).is_empty());
    }

    #[test]
    fn chunks_of_zero_are_chunks_of_one() {
        let known = UidSet::from_ranges([(1, 3)]);
        assert_eq!(sizes(&chunks(&known, &known, 0)), vec![1, 1, 1]);
    }

    #[test]
    fn chunks_reach_the_top_uid() {
        let known = UidSet::from_ranges([(u32::MAX - 4, u32::MAX)]);
        let c = chunks(&UidSet::everything(), &known, 2);
        assert_eq!(sizes(&c), vec![2, 2, 1]);
        assert_eq!(c[2].last(), Some(u32::MAX));
    }
}
