//! Full-text vectors for body parts, computed after the parts are stored.
//!
//! Storing a part leaves `search_tsv` NULL; each server process runs one
//! filler that computes the missing vectors in small batches, giving way to
//! deliveries and sessions (it rests after each batch: as long as the batch
//! took while the store is quiet, nine times as long while changes keep
//! arriving), and
//! `aox tune database mostly-reading` fills whatever is left after a big
//! import. A search treats a part without a vector by its exact recheck,
//! so a pending vector makes a search slower for that part, never wrong.

use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use tokio_postgres::GenericClient;

use super::StoreError;
use super::notify::MailboxEvent;

/// Parts per statement: small, so each statement's row locks are brief.
pub const BATCH: i32 = 200;

/// The longest a filler waits without news before it looks anyway (parts
/// stored by `aox import` while nothing else happens, or news it missed).
const IDLE_LOOK: Duration = Duration::from_secs(30);

/// The shortest time between two rounds, so a burst of deliveries is
/// filled in a few full batches rather than one statement per delivery.
const ROUND_GAP: Duration = Duration::from_secs(1);

/// How many times a batch's duration the filler rests while changes keep
/// arriving: a tenth of one connection's time then, so a burst of
/// deliveries keeps the CPU (the vectors are filled after the burst, and
/// searches meanwhile use the exact recheck).
const BUSY_REST: u32 = 9;

/// How long a filler waits after a failure before trying again.
const AFTER_FAILURE: Duration = Duration::from_secs(10);

/// Computes the vectors of up to `batch` parts that have none, skipping
/// parts another transaction holds; returns how many it filled.
pub async fn fill_batch(client: &impl GenericClient, batch: i32) -> Result<i32, StoreError> {
    Ok(client
        .query_one("SELECT fill_search_vectors($1)", &[&batch])
        .await?
        .get(0))
}

/// How many parts are waiting for a vector.
pub async fn pending(client: &impl GenericClient) -> Result<i64, StoreError> {
    Ok(client
        .query_one(
            "SELECT count(*) FROM bodyparts WHERE search_tsv IS NULL AND text IS NOT NULL",
            &[],
        )
        .await?
        .get(0))
}

/// Fills batches until none is full, resting after each as long as it took
/// (so the filler uses at most half of one connection's time), or
/// [`BUSY_REST`] times as long when news of a change came meanwhile.
/// Returns how many parts it filled.
async fn round(
    pool: &deadpool_postgres::Pool,
    news: &mut broadcast::Receiver<MailboxEvent>,
) -> Result<u64, StoreError> {
    let client = pool.get().await?;
    // `aox tune database mostly-writing` drops the full-text index for a
    // big import; filling vectors then would only slow the import down,
    // and `mostly-reading` fills them all before rebuilding it.
    if !super::tune::present(&client)
        .await?
        .contains(&"bodyparts_search")
    {
        return Ok(0);
    }
    let mut filled = 0u64;
    loop {
        let started = Instant::now();
        let n = fill_batch(&**client, BATCH).await?;
        filled += u64::try_from(n).unwrap_or(0);
        if n < BATCH {
            return Ok(filled);
        }
        let took = started.elapsed();
        let rest = if drain(news) { took * BUSY_REST } else { took };
        tokio::time::sleep(rest).await;
    }
}

/// Starts this process's filler: a round at start, then one after news of
/// a change anywhere (`events`, the process's change notifications), at
/// most one round per [`ROUND_GAP`], and one at least every [`IDLE_LOOK`].
pub fn spawn_filler(pool: deadpool_postgres::Pool, events: &broadcast::Sender<MailboxEvent>) {
    let mut news = events.subscribe();
    tokio::spawn(async move {
        loop {
            let started = Instant::now();
            match round(&pool, &mut news).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(parts = n, "filled full-text vectors"),
                Err(e) if e.is_shutdown() => {
                    tracing::debug!(error = %e, "the database is going down; filling vectors later");
                    tokio::time::sleep(AFTER_FAILURE).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "filling full-text vectors failed; trying again later");
                    tokio::time::sleep(AFTER_FAILURE).await;
                }
            }
            tokio::time::sleep(ROUND_GAP.saturating_sub(started.elapsed())).await;
            match tokio::time::timeout(IDLE_LOOK, news.recv()).await {
                Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) | Err(_) => {}
                Ok(Err(broadcast::error::RecvError::Closed)) => return,
            }
            // Everything queued meanwhile is covered by the next round.
            drain(&mut news);
        }
    });
}

/// Empties `news`; whether anything was in it.
fn drain(news: &mut broadcast::Receiver<MailboxEvent>) -> bool {
    let mut any = false;
    while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = news.try_recv() {
        any = true;
    }
    any
}
