//! Schema revisions: the numbered steps in `schema/`, the single revision row
//! in `mailstore`, the check the server makes at startup, and the upgrade.

use tokio_postgres::Client;

use super::StoreError;

/// One numbered step of `schema/`.
#[derive(Debug)]
pub struct Step {
    /// The revision the database has after this step.
    pub revision: i32,
    /// The file the step came from.
    pub file: &'static str,
    /// The SQL, run as the owner role.
    pub sql: &'static str,
}

/// Every step, in order. A schema change adds one here; old steps never change.
pub const STEPS: &[Step] = &[
    Step {
        revision: 1,
        file: "0001-initial.sql",
        sql: include_str!("../../schema/0001-initial.sql"),
    },
    Step {
        revision: 2,
        file: "0002-entries-for-bulk-work.sql",
        sql: include_str!("../../schema/0002-entries-for-bulk-work.sql"),
    },
    Step {
        revision: 3,
        file: "0003-search-vectors-after-storing.sql",
        sql: include_str!("../../schema/0003-search-vectors-after-storing.sql"),
    },
    Step {
        revision: 4,
        file: "0004-expunged-ranges-for-select.sql",
        sql: include_str!("../../schema/0004-expunged-ranges-for-select.sql"),
    },
    Step {
        revision: 5,
        file: "0005-no-per-row-checks-on-new-content.sql",
        sql: include_str!("../../schema/0005-no-per-row-checks-on-new-content.sql"),
    },
];

/// The revision this build of the programs speaks.
pub const REVISION: i32 = 5;

/// A step whose first line is this runs outside a transaction, statement by
/// statement (for CREATE INDEX CONCURRENTLY).
const NO_TRANSACTION: &str = "-- no-transaction";

/// Key of the advisory lock that serialises upgrades ("aox-schema").
const UPGRADE_LOCK: i64 = 0x616f_782d_7363_6865;

/// The database's revision, or None when it has no schema at all.
pub async fn current_revision(client: &Client) -> Result<Option<i32>, StoreError> {
    let exists = client
        .query_one("SELECT to_regclass('public.mailstore') IS NOT NULL", &[])
        .await?
        .get::<_, bool>(0);
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_opt("SELECT revision FROM mailstore", &[])
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Refuses a database whose revision is not [`REVISION`], saying what to do.
pub async fn check(client: &Client) -> Result<i32, StoreError> {
    match current_revision(client).await? {
        None => Err(StoreError::Schema(
            "the database has no archiveopteryx schema: run aox-installer (or `aox upgrade schema`)".into(),
        )),
        Some(r) if r == REVISION => Ok(r),
        Some(r) if r < REVISION => Err(StoreError::Schema(format!(
            "the database schema is at revision {r}, this program needs {REVISION}: run `aox upgrade schema`"
        ))),
        Some(r) => Err(StoreError::Schema(format!(
            "the database schema is at revision {r}, newer than this program's {REVISION}: \
             install a newer archiveopteryx"
        ))),
    }
}

/// The steps an upgrade would run, given the current revision.
pub fn pending(current: Option<i32>) -> Result<Vec<&'static Step>, StoreError> {
    let from = current.unwrap_or(0);
    if from > REVISION {
        return Err(StoreError::Schema(format!(
            "the database schema is at revision {from}, newer than this program's {REVISION}: \
             install a newer archiveopteryx"
        )));
    }
    Ok(STEPS.iter().filter(|s| s.revision > from).collect())
}

/// Brings the schema to [`REVISION`]. Must run as the owner role (objects it
/// creates are owned by whoever runs it). Each step commits on its own, under
/// an advisory lock so two upgrades cannot interleave, and under a lock
/// timeout so a busy server makes the upgrade fail rather than hang.
/// Returns the steps applied (with `dry_run`, the steps that would be).
pub async fn upgrade(client: &mut Client, dry_run: bool) -> Result<Vec<&'static Step>, StoreError> {
    if dry_run {
        return pending(current_revision(client).await?);
    }
    client
        .execute("SELECT pg_advisory_lock($1)", &[&UPGRADE_LOCK])
        .await?;
    let result = upgrade_locked(client).await;
    // The lock is session-level; release it whatever happened.
    let unlock = client
        .execute("SELECT pg_advisory_unlock($1)", &[&UPGRADE_LOCK])
        .await;
    let applied = result?;
    unlock?;
    Ok(applied)
}

async fn upgrade_locked(client: &mut Client) -> Result<Vec<&'static Step>, StoreError> {
    // Re-read under the lock: another upgrade may have finished meanwhile.
    let steps = pending(current_revision(client).await?)?;
    for step in &steps {
        tracing::info!(
            revision = step.revision,
            file = step.file,
            "applying schema step"
        );
        if step.sql.starts_with(NO_TRANSACTION) {
            for statement in step.sql.split(";\n").filter(|s| !is_blank_sql(s)) {
                client.batch_execute(statement).await?;
            }
            client
                .execute("UPDATE mailstore SET revision = $1", &[&step.revision])
                .await?;
        } else {
            let tx = client.transaction().await?;
            tx.batch_execute("SET LOCAL lock_timeout = '30s'").await?;
            tx.batch_execute(step.sql).await?;
            tx.execute("UPDATE mailstore SET revision = $1", &[&step.revision])
                .await?;
            tx.commit().await?;
        }
    }
    Ok(steps)
}

fn is_blank_sql(s: &str) -> bool {
    s.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with("--")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_numbered_consecutively_and_end_at_revision() {
        for (i, step) in STEPS.iter().enumerate() {
            assert_eq!(step.revision as usize, i + 1, "{}", step.file);
            assert!(
                step.file.starts_with(&format!("{:04}-", step.revision)),
                "{}",
                step.file
            );
        }
        assert_eq!(STEPS.last().map(|s| s.revision), Some(REVISION));
    }

    #[test]
    fn pending_from_nothing_is_every_step_and_newer_is_refused() {
        assert_eq!(pending(None).map(|v| v.len()).ok(), Some(STEPS.len()));
        assert_eq!(pending(Some(REVISION)).map(|v| v.len()).ok(), Some(0));
        assert!(pending(Some(REVISION + 1)).is_err());
    }
}
