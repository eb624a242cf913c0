//! `aox tune database`: for a big import, stop the work only reads need —
//! the search indexes, and with the full-text index gone the servers'
//! filling of full-text vectors (see [`super::vectors`]) — and afterwards
//! fill every missing vector and rebuild without blocking writers.

use tokio_postgres::Client;

use super::StoreError;

/// The read-only indexes, with their definitions exactly as in schema step 1.
/// Every other index serves writes (uniqueness, import idempotence, vacuum's
/// anti-joins) and stays.
pub const READ_INDEXES: [(&str, &str); 5] = [
    (
        "message_search_subject",
        "ON message_search USING gin (subject gin_trgm_ops)",
    ),
    (
        "message_search_from",
        "ON message_search USING gin (from_text gin_trgm_ops)",
    ),
    (
        "message_search_to",
        "ON message_search USING gin (to_text gin_trgm_ops)",
    ),
    (
        "message_search_cc",
        "ON message_search USING gin (cc_text gin_trgm_ops)",
    ),
    ("bodyparts_search", "ON bodyparts USING gin (search_tsv)"),
];

/// Body parts stored without a vector get it here in batches
/// of this many, each its own statement, so no lock is held for long.
const BACKFILL_BATCH: i64 = 5_000;

/// The batches walk the primary key from the last hash done (`$2`), so
/// each row is looked at once: a batch that searched for gaps from the
/// start of the table would step over every row filled before it, and a
/// million-message backfill took most of an hour that way.
const BACKFILL: &str = "WITH done AS ( \
       UPDATE bodyparts SET search_tsv = bodypart_tsvector(text) WHERE hash IN \
         (SELECT hash FROM bodyparts WHERE hash > $2 AND search_tsv IS NULL AND text IS NOT NULL \
          ORDER BY hash LIMIT $1) \
       RETURNING hash) \
     SELECT hash FROM done ORDER BY hash DESC LIMIT 1";

/// What a tuning is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A big import: no search indexes, so no vectors filled meanwhile.
    MostlyWriting,
    /// Normal service: every missing vector filled, indexes built.
    MostlyReading,
}

/// One step of a tuning.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// A statement run on its own (CREATE INDEX CONCURRENTLY cannot run in a transaction).
    Sql(String),
    /// Fill in missing full-text vectors, batch by batch.
    Backfill,
}

impl Step {
    fn describe(&self) -> String {
        match self {
            Step::Sql(s) => s.clone(),
            Step::Backfill => format!(
                "{} (batches of {BACKFILL_BATCH}, until none is left)",
                BACKFILL
                    .replace("$1", &BACKFILL_BATCH.to_string())
                    .replace("$2", "(the last hash done)")
            ),
        }
    }
}

/// Which of [`READ_INDEXES`] exist and are valid.
pub async fn present(client: &Client) -> Result<Vec<&'static str>, StoreError> {
    let names: Vec<&str> = READ_INDEXES.iter().map(|(n, _)| *n).collect();
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid \
             WHERE c.relname = ANY($1) AND i.indisvalid",
            &[&names],
        )
        .await?;
    let found: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    Ok(names
        .into_iter()
        .filter(|n| found.iter().any(|f| f == n))
        .collect())
}

async fn plan(client: &Client, mode: Mode) -> Result<Vec<Step>, StoreError> {
    let present = present(client).await?;
    let mut steps = Vec::new();
    match mode {
        Mode::MostlyWriting => {
            for (name, _) in READ_INDEXES.iter().filter(|(n, _)| present.contains(n)) {
                steps.push(Step::Sql(format!("DROP INDEX CONCURRENTLY {name}")));
            }
        }
        Mode::MostlyReading => {
            let gaps: bool = client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM bodyparts WHERE search_tsv IS NULL AND text IS NOT NULL)",
                    &[],
                )
                .await?
                .get(0);
            if gaps {
                steps.push(Step::Backfill);
            }
            let missing: Vec<_> = READ_INDEXES
                .iter()
                .filter(|(n, _)| !present.contains(n))
                .collect();
            for (name, definition) in &missing {
                // An interrupted concurrent build leaves an invalid index behind.
                steps.push(Step::Sql(format!(
                    "DROP INDEX CONCURRENTLY IF EXISTS {name}"
                )));
                steps.push(Step::Sql(format!(
                    "CREATE INDEX CONCURRENTLY {name} {definition}"
                )));
            }
            if !missing.is_empty() {
                steps.push(Step::Sql("ANALYZE message_search".into()));
                steps.push(Step::Sql("ANALYZE bodyparts".into()));
            }
        }
    }
    Ok(steps)
}

/// Applies `mode`; returns what was done (or, with `dry_run`, what would be).
pub async fn tune(client: &Client, mode: Mode, dry_run: bool) -> Result<Vec<String>, StoreError> {
    let steps = plan(client, mode).await?;
    if !dry_run {
        for step in &steps {
            match step {
                Step::Sql(sql) => client.batch_execute(sql).await?,
                Step::Backfill => {
                    let mut after: Vec<u8> = Vec::new();
                    while let Some(last) = client
                        .query_opt(BACKFILL, &[&BACKFILL_BATCH, &after])
                        .await?
                    {
                        after = last.try_get(0)?;
                    }
                }
            }
        }
    }
    Ok(steps.iter().map(Step::describe).collect())
}
