//! `aox vacuum -n`: the same decisions as a real vacuum, worked out in one
//! REPEATABLE READ transaction over temporary tables and rolled back, so it
//! changes nothing and takes no row locks. Mail the retention policies would
//! expunge counts as purged too when undelete-time is 0, as in a real run.

use tokio_postgres::Client;
use tokio_postgres::types::ToSql;

use super::{Options, Report, policies};
use crate::store::StoreError;
use crate::store::holds::{covered_sql, standing};

/// Works out the report of a vacuum with `options` without making it.
pub(super) async fn run(client: &mut Client, options: &Options) -> Result<Report, StoreError> {
    let days = i32::try_from(options.undelete_days).unwrap_or(i32::MAX);
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .start()
        .await?;
    let mut report = Report::default();

    // What the standing holds would cover after materialising them again.
    tx.batch_execute(
        "CREATE TEMP TABLE vacuum_held (user_id bigint, message_id bigint, PRIMARY KEY (user_id, message_id)) \
           ON COMMIT DROP; \
         INSERT INTO vacuum_held SELECT DISTINCT h.user_id, h.message_id FROM held_messages h \
           JOIN legal_holds l ON l.id = h.hold_id WHERE l.released_at IS NULL",
    )
    .await?;
    for (_, scope) in standing(&tx).await? {
        let (select, condition) = covered_sql(&scope)?;
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&scope.user, &scope.mailbox];
        if let Some(c) = &condition {
            params.extend(c.params());
        }
        report.newly_held += tx
            .execute(
                &format!("INSERT INTO vacuum_held {select} ON CONFLICT DO NOTHING"),
                &params,
            )
            .await?;
    }

    // What the retention policies would expunge.
    tx.batch_execute(
        "CREATE TEMP TABLE vacuum_expunge (user_id bigint, mailbox_id bigint, uid bigint, message_id bigint, \
           PRIMARY KEY (user_id, mailbox_id, uid)) ON COMMIT DROP",
    )
    .await?;
    let (statements, errors) = policies::statements(&tx).await?;
    report.policy_errors = errors;
    for (sql, conditions) in &statements {
        tx.execute(
            &format!("INSERT INTO vacuum_expunge {sql} ON CONFLICT DO NOTHING"),
            &policies::params(conditions),
        )
        .await?;
    }
    report.retention_expunged = count(&tx, "SELECT count(*) FROM vacuum_expunge", &[]).await?;

    let purged_now = days == 0;
    report.tombstones = count(
        &tx,
        "SELECT (SELECT count(*) FROM expunged_entries t \
                 WHERE t.expunged_at < now() - make_interval(days => $1) \
                   AND NOT EXISTS (SELECT 1 FROM vacuum_held v WHERE v.user_id = t.user_id AND v.message_id = t.message_id)) \
              + CASE WHEN $2 THEN (SELECT count(*) FROM vacuum_expunge x WHERE NOT EXISTS \
                    (SELECT 1 FROM vacuum_held v WHERE v.user_id = x.user_id AND v.message_id = x.message_id)) ELSE 0 END",
        &[&days, &purged_now],
    )
    .await?;

    // Messages left with no entry, no surviving tombstone and no hold.
    tx.execute(
        "CREATE TEMP TABLE vacuum_doomed ON COMMIT DROP AS \
         SELECT m.user_id, m.id FROM messages m \
         WHERE NOT EXISTS (SELECT 1 FROM vacuum_held v WHERE v.user_id = m.user_id AND v.message_id = m.id) \
           AND NOT EXISTS (SELECT 1 FROM mailbox_entries e WHERE e.user_id = m.user_id AND e.message_id = m.id \
                 AND NOT ($2 AND EXISTS (SELECT 1 FROM vacuum_expunge x \
                      WHERE x.user_id = e.user_id AND x.mailbox_id = e.mailbox_id AND x.uid = e.uid))) \
           AND NOT EXISTS (SELECT 1 FROM expunged_entries t WHERE t.user_id = m.user_id AND t.message_id = m.id \
                 AND t.expunged_at >= now() - make_interval(days => $1))",
        &[&days, &purged_now],
    )
    .await?;
    tx.batch_execute("ALTER TABLE vacuum_doomed ADD PRIMARY KEY (user_id, id)")
        .await?;
    report.messages = count(&tx, "SELECT count(*) FROM vacuum_doomed", &[]).await?;

    let row = tx
        .query_one(
            "SELECT count(*), coalesce(sum(b.bytes), 0)::bigint FROM bodyparts b \
             WHERE NOT EXISTS (SELECT 1 FROM message_parts p WHERE p.bodypart_hash = b.hash \
                   AND NOT EXISTS (SELECT 1 FROM vacuum_doomed d WHERE d.user_id = p.user_id AND d.id = p.message_id)) \
               AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.original_hash = b.hash \
                   AND NOT EXISTS (SELECT 1 FROM vacuum_doomed d WHERE d.user_id = m.user_id AND d.id = m.id))",
            &[],
        )
        .await?;
    report.parts = row.try_get::<_, i64>(0)?.unsigned_abs();
    report.bytes = row.try_get::<_, i64>(1)?.unsigned_abs();
    tx.rollback().await?;
    Ok(report)
}

async fn count(
    tx: &tokio_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StoreError> {
    Ok(tx
        .query_one(sql, params)
        .await?
        .try_get::<_, i64>(0)?
        .unsigned_abs())
}
