//! `aox vacuum`: what makes deletion final, in the order that keeps it safe.
//!
//! 1. Every standing legal hold is materialised again, so mail that arrived
//!    (or was undeleted) since the hold was added is protected too.
//! 2. 'delete' retention policies expunge the mail they match that is older
//!    than their days (like a user's EXPUNGE: tombstones, counters, change
//!    rows and NOTIFY), except mail a 'retain' policy still keeps.
//! 3. Tombstones past `undelete-time` are purged, except those of held mail.
//! 4. Messages no entry, tombstone or hold refers to are deleted (their
//!    parts and search rows go with them, by the `messages_delete_children`
//!    trigger).
//! 5. Body parts no message part and no kept original refers to are deleted.
//!
//! Steps 3–5 run in bounded batches, each its own short transaction, and
//! select their rows `FOR UPDATE SKIP LOCKED`. A delivery holds the body
//! parts it reuses `FOR KEY SHARE` from the lookup that finds them
//! (`lock_bodyparts`), and a message it refers to from the entry's
//! foreign-key check, until it commits, so vacuum passes them by instead
//! of waiting. The DELETEs re-check "unreferenced" in a statement of their
//! own, after the rows are locked, so a reference committed in between is
//! seen; a batch that still meets one (a foreign-key or legal-hold error)
//! is rolled back and left for the next vacuum. A part vacuum locked first
//! is waited for, and the delivery's lookup then finds it gone and stores
//! it afresh. What remains is a delivery that looked a message up and has
//! not yet referred to it: if vacuum deletes the message in that window,
//! the entry's foreign-key check fails and `inject` retries the whole
//! transaction, which then stores the message afresh.
//!
//! Between batches the vacuum can rest in proportion to the work the batch
//! took (`duty`, like PostgreSQL's own cost-based vacuum delay), for a
//! server whose sessions' reads suffer from its writes: a client's slowest
//! command during a vacuum was a cold read, not a lock wait.

mod dry_run;
mod policies;
mod sweep;

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::StoreError;
use super::holds::VACUUM_LOCK;

/// How to vacuum.
#[derive(Debug, Clone)]
pub struct Options {
    /// Tombstones older than this many days are purged.
    pub undelete_days: u32,
    /// Report what would be done and change nothing.
    pub dry_run: bool,
    /// Rows per batch (and UIDs per retention expunge).
    pub batch: i64,
    /// The share of its time, in percent (1–100), the vacuum spends working:
    /// after a batch that took `t` it rests `t × (100 − duty) / duty`.
    pub duty: u8,
    /// Who runs it, for the audit log.
    pub actor: String,
}

/// What a vacuum did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Messages newly protected by materialising the standing holds again.
    pub newly_held: u64,
    /// Entries expunged by 'delete' retention policies.
    pub retention_expunged: u64,
    /// Tombstones purged.
    pub tombstones: u64,
    /// Messages deleted.
    pub messages: u64,
    /// Body parts deleted.
    pub parts: u64,
    /// Bytes of body-part content freed.
    pub bytes: u64,
    /// Batches rolled back because something referred to their rows
    /// meanwhile; what they held is retried by the next vacuum.
    pub skipped_batches: u64,
    /// Retention policies that could not be applied, and why.
    pub policy_errors: Vec<String>,
}

impl Options {
    /// Rests after a batch begun at `started`, as `duty` asks.
    pub(super) async fn rest_after(&self, started: Instant) {
        let rest = rest_for(started.elapsed(), self.duty);
        if !rest.is_zero() {
            tokio::time::sleep(rest).await;
        }
    }
}

/// The rest after `worked` that makes the work `duty` percent of the time.
fn rest_for(worked: Duration, duty: u8) -> Duration {
    let duty = u32::from(duty.clamp(1, 100));
    worked * (100 - duty) / duty
}

/// Runs a vacuum. Refuses (Conflict) while another one runs.
pub async fn run(client: &mut Client, options: &Options) -> Result<Report, StoreError> {
    let got: bool = client
        .query_one(
            "SELECT pg_try_advisory_lock($1, $2)",
            &[&VACUUM_LOCK.0, &VACUUM_LOCK.1],
        )
        .await?
        .get(0);
    if !got {
        return Err(StoreError::Conflict(
            "another aox vacuum (or aox hold add) is running".into(),
        ));
    }
    let result = if options.dry_run {
        dry_run::run(client, options).await
    } else {
        run_locked(client, options).await
    };
    let unlocked = client
        .execute(
            "SELECT pg_advisory_unlock($1, $2)",
            &[&VACUUM_LOCK.0, &VACUUM_LOCK.1],
        )
        .await;
    let report = result?;
    unlocked?;
    Ok(report)
}

async fn run_locked(client: &mut Client, options: &Options) -> Result<Report, StoreError> {
    // Counted as distinct messages, not rows: two holds on one message hold it once.
    let before = held_count(client).await?;
    super::holds::refresh_all(client).await?;
    let mut report = Report {
        newly_held: held_count(client).await?.saturating_sub(before),
        ..Report::default()
    };
    let (expunged, errors) = policies::apply(client, options).await?;
    report.retention_expunged = expunged;
    report.policy_errors = errors;
    sweep::tombstones(client, options, &mut report).await?;
    sweep::messages(client, options, &mut report).await?;
    sweep::bodyparts(client, options, &mut report).await?;
    client
        .execute(
            "INSERT INTO audit_log (actor, action, detail) VALUES ($1, 'vacuum', $2)",
            &[&options.actor, &summary(&report, options)],
        )
        .await?;
    Ok(report)
}

async fn held_count(client: &Client) -> Result<u64, StoreError> {
    Ok(client
        .query_one(
            "SELECT count(*) FROM (SELECT DISTINCT h.user_id, h.message_id FROM held_messages h \
             JOIN legal_holds l ON l.id = h.hold_id WHERE l.released_at IS NULL) AS d",
            &[],
        )
        .await?
        .try_get::<_, i64>(0)?
        .unsigned_abs())
}

fn summary(r: &Report, o: &Options) -> String {
    format!(
        "undelete-time {} days: {} newly held, {} expunged by retention, {} tombstones, {} messages, \
         {} parts, {} bytes purged, {} batches skipped",
        o.undelete_days,
        r.newly_held,
        r.retention_expunged,
        r.tombstones,
        r.messages,
        r.parts,
        r.bytes,
        r.skipped_batches
    )
}

/// SQL true when the message `alias.user_id`/`alias.message_id_column` is
/// under a standing legal hold (what the trigger checks).
fn held(alias: &str, message_id: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM held_messages h JOIN legal_holds l ON l.id = h.hold_id \
         WHERE h.user_id = {alias}.user_id AND h.message_id = {alias}.{message_id} AND l.released_at IS NULL)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rest_makes_the_work_its_duty_share_of_the_time() {
        let worked = Duration::from_millis(120);
        assert_eq!(rest_for(worked, 100), Duration::ZERO);
        assert_eq!(rest_for(worked, 50), worked);
        assert_eq!(rest_for(worked, 25), worked * 3);
        assert_eq!(rest_for(worked, 80), Duration::from_millis(30));
        // 0 would divide by zero; it counts as 1 (the CLI refuses it).
        assert_eq!(rest_for(worked, 0), worked * 99);
        assert_eq!(rest_for(Duration::ZERO, 50), Duration::ZERO);
    }
}
