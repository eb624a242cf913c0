//! The purge proper, in batches of `options.batch` rows, each batch its own
//! transaction: tombstones past undelete-time, then messages nothing refers
//! to, then body parts nothing refers to. Every batch walks forward by its
//! key, so one vacuum reads each table once, and selects `FOR UPDATE SKIP
//! LOCKED`, so it never waits for (or on) a delivery that holds a row.

use std::time::Instant;

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use super::{Options, Report, held};
use crate::store::StoreError;

/// Purges tombstones older than `undelete_days` whose message no standing
/// hold keeps, with one 'purge' audit row each.
pub(super) async fn tombstones(
    client: &mut Client,
    options: &Options,
    report: &mut Report,
) -> Result<(), StoreError> {
    let days = i32::try_from(options.undelete_days).unwrap_or(i32::MAX);
    let sql = format!(
        "WITH doomed AS ( \
           SELECT t.user_id, t.mailbox_id, t.uid FROM expunged_entries t \
           WHERE (t.user_id, t.mailbox_id, t.uid) > ($1, $2, $3) \
             AND t.expunged_at < now() - make_interval(days => $4) AND NOT {held} \
           ORDER BY t.user_id, t.mailbox_id, t.uid LIMIT $5 FOR UPDATE OF t SKIP LOCKED), \
         gone AS ( \
           DELETE FROM expunged_entries t USING doomed d \
           WHERE t.user_id = d.user_id AND t.mailbox_id = d.mailbox_id AND t.uid = d.uid \
           RETURNING t.user_id, t.mailbox_id, t.uid, t.message_id, t.reason), \
         logged AS ( \
           INSERT INTO audit_log (actor, action, user_id, mailbox_id, uid, raw_sha256, detail) \
           SELECT $6, 'purge', g.user_id, g.mailbox_id, g.uid, m.raw_sha256, \
                  'tombstone (' || g.reason || ') past undelete-time' \
           FROM gone g JOIN messages m ON m.user_id = g.user_id AND m.id = g.message_id \
           RETURNING 1) \
         SELECT (SELECT count(*) FROM logged), d.user_id, d.mailbox_id, d.uid FROM doomed d \
         ORDER BY d.user_id DESC, d.mailbox_id DESC, d.uid DESC LIMIT 1",
        held = held("t", "message_id")
    );
    let mut after = (0i64, 0i64, 0i64);
    loop {
        let started = Instant::now();
        let row = client
            .query_opt(
                sql.as_str(),
                &[
                    &after.0,
                    &after.1,
                    &after.2,
                    &days,
                    &options.batch,
                    &options.actor,
                ],
            )
            .await?;
        let Some(row) = row else { break };
        report.tombstones += row.try_get::<_, i64>(0)?.unsigned_abs();
        after = (row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
        options.rest_after(started).await;
    }
    Ok(())
}

/// Whether a batch failed because something came to refer to its rows
/// (a new entry, part or hold): then it is left for the next vacuum.
fn newly_referenced(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION || *c == SqlState::INTEGRITY_CONSTRAINT_VIOLATION
    )
}

/// Deletes messages no live entry, tombstone or standing hold refers to.
pub(super) async fn messages(
    client: &mut Client,
    options: &Options,
    report: &mut Report,
) -> Result<(), StoreError> {
    let unreferenced = format!(
        "NOT EXISTS (SELECT 1 FROM mailbox_entries e WHERE e.user_id = m.user_id AND e.message_id = m.id) \
         AND NOT EXISTS (SELECT 1 FROM expunged_entries t WHERE t.user_id = m.user_id AND t.message_id = m.id) \
         AND NOT {}",
        held("m", "id")
    );
    let select = format!(
        "SELECT m.user_id, m.id FROM messages m WHERE (m.user_id, m.id) > ($1, $2) AND {unreferenced} \
         ORDER BY m.user_id, m.id LIMIT $3 FOR UPDATE OF m SKIP LOCKED"
    );
    // Its own statement, so its snapshot sees references committed after
    // the rows were chosen; the rows' locks keep new ones out until commit.
    let delete = format!(
        "DELETE FROM messages m USING unnest($1::bigint[], $2::bigint[]) AS d(u, i) \
         WHERE m.user_id = d.u AND m.id = d.i AND {unreferenced} RETURNING m.id"
    );
    let mut after = (0i64, 0i64);
    loop {
        let started = Instant::now();
        let tx = client.transaction().await?;
        let rows = tx
            .query(select.as_str(), &[&after.0, &after.1, &options.batch])
            .await?;
        let Some(last) = rows.last() else {
            tx.rollback().await?;
            break;
        };
        after = (last.try_get(0)?, last.try_get(1)?);
        let users: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        let ids: Vec<i64> = rows.iter().map(|r| r.get(1)).collect();
        match tx.execute(delete.as_str(), &[&users, &ids]).await {
            Ok(n) => {
                tx.commit().await?;
                report.messages += n;
            }
            Err(e) if newly_referenced(&e) => {
                tx.rollback().await?;
                report.skipped_batches += 1;
            }
            Err(e) => return Err(e.into()),
        }
        options.rest_after(started).await;
    }
    Ok(())
}

/// Deletes body parts no message part and no kept original refers to.
pub(super) async fn bodyparts(
    client: &mut Client,
    options: &Options,
    report: &mut Report,
) -> Result<(), StoreError> {
    const UNREFERENCED: &str = "NOT EXISTS (SELECT 1 FROM message_parts p WHERE p.bodypart_hash = b.hash) \
         AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.original_hash = b.hash)";
    let select = format!(
        "SELECT b.hash FROM bodyparts b WHERE b.hash > $1 AND {UNREFERENCED} \
         ORDER BY b.hash LIMIT $2 FOR UPDATE OF b SKIP LOCKED"
    );
    let delete = format!(
        "WITH gone AS (DELETE FROM bodyparts b WHERE b.hash = ANY($1) AND {UNREFERENCED} RETURNING b.bytes) \
         SELECT count(*), coalesce(sum(bytes), 0)::bigint FROM gone"
    );
    let mut after: Vec<u8> = Vec::new();
    loop {
        let started = Instant::now();
        let tx = client.transaction().await?;
        let rows = tx.query(select.as_str(), &[&after, &options.batch]).await?;
        let Some(last) = rows.last() else {
            tx.rollback().await?;
            break;
        };
        after = last.try_get(0)?;
        let hashes: Vec<Vec<u8>> = rows.iter().map(|r| r.get(0)).collect();
        match tx.query_one(delete.as_str(), &[&hashes]).await {
            Ok(row) => {
                tx.commit().await?;
                report.parts += row.try_get::<_, i64>(0)?.unsigned_abs();
                report.bytes += row.try_get::<_, i64>(1)?.unsigned_abs();
            }
            Err(e) if newly_referenced(&e) => {
                tx.rollback().await?;
                report.skipped_batches += 1;
            }
            Err(e) => return Err(e.into()),
        }
        options.rest_after(started).await;
    }
    Ok(())
}
