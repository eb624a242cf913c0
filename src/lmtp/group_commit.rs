//! Group commit of concurrent LMTP deliveries. Every session hands its
//! parsed message and resolved recipients to the process's delivery tasks
//! (`lmtp-delivery-tasks`) and waits for the answer. A free task takes the
//! first request, drains whatever else is already queued (no timer: a lone
//! delivery is never held back; at most `lmtp-batch-size`), stores them all
//! in one transaction and answers each session after the commit. Under
//! load a batch grows by itself, and a transaction's fixed costs (BEGIN,
//! COMMIT, the mailbox locks, round trips) are paid once for many messages.
//!
//! One task is the default: while it stores a batch, the next one gathers.
//! More tasks let PostgreSQL work on several batches at once, which pays
//! only with cores to spare and deliveries to different mailboxes; batches
//! lock their mailbox rows last and in (user, mailbox) order, and insert
//! body parts in hash order, so two batches never wait in a cycle.
//!
//! A batch that fails is tried again one delivery at a time, so one message
//! the database refuses cannot fail the others; a delivery that fails on
//! its own is answered with the failure (LMTP 451, the MTA retries).

use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{Mutex, mpsc, oneshot, watch};

use crate::store::StoreError;
use crate::store::delivery::{self, Delivery, Placed, Target};
use crate::store::inject::NewMessage;

/// How many deliveries may wait for the task before sessions wait to
/// queue theirs.
const QUEUE: usize = 1024;

/// Why a delivery was not stored; the session answers 451 4.3.0.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct NotStored(String);

/// One answer per target, in order: `None` for a mailbox deleted since it
/// was looked up.
pub type Answer = Result<Vec<Option<Placed>>, NotStored>;

struct Request {
    targets: Vec<Target>,
    message: Arc<NewMessage>,
    answer: oneshot::Sender<Answer>,
}

/// Counters of the tasks' work, for tests and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Deliveries queued for the task so far.
    pub submitted: u64,
    /// Deliveries the tasks have taken into a batch so far.
    pub taken: u64,
    /// Transactions the tasks have committed (batches and lone retries).
    pub commits: u64,
}

/// The handle sessions use; cheap to clone.
#[derive(Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Request>,
    stats: watch::Sender<Stats>,
}

impl GroupCommit {
    /// Starts `tasks` delivery tasks on the current runtime, each storing
    /// batches of at most `batch_size` with connections from `pool`.
    pub fn spawn(pool: Pool, tasks: usize, batch_size: usize) -> GroupCommit {
        let (queue, requests) = mpsc::channel(QUEUE);
        let requests = Arc::new(Mutex::new(requests));
        let stats = watch::Sender::new(Stats::default());
        for _ in 0..tasks.max(1) {
            tokio::spawn(run(
                pool.clone(),
                requests.clone(),
                stats.clone(),
                batch_size.max(1),
            ));
        }
        GroupCommit { queue, stats }
    }

    /// Stores `message` for `targets`; returns after the commit (or the
    /// failure).
    pub async fn deliver(&self, targets: Vec<Target>, message: Arc<NewMessage>) -> Answer {
        let (answer, answered) = oneshot::channel();
        let request = Request {
            targets,
            message,
            answer,
        };
        self.queue
            .send(request)
            .await
            .map_err(|_| NotStored("the delivery task has stopped".into()))?;
        // Counted once queued, so a count is never ahead of the queue (the
        // task may count one as taken a moment before it is submitted).
        self.stats.send_modify(|s| s.submitted += 1);
        answered
            .await
            .map_err(|_| NotStored("the delivery task dropped the delivery".into()))?
    }

    /// The tasks' counters, updated as they work.
    pub fn stats(&self) -> watch::Receiver<Stats> {
        self.stats.subscribe()
    }
}

async fn run(
    pool: Pool,
    requests: Arc<Mutex<mpsc::Receiver<Request>>>,
    stats: watch::Sender<Stats>,
    batch_size: usize,
) {
    let mut batch = Vec::with_capacity(batch_size);
    loop {
        // One free task at a time waits at the queue; recv_many waits for
        // one request, then takes what else is queued. The lock is let go
        // before the batch is stored, so another task takes the next one.
        let taken = requests
            .lock()
            .await
            .recv_many(&mut batch, batch_size)
            .await;
        if taken == 0 {
            return;
        }
        stats.send_modify(|s| s.taken += batch.len() as u64);
        commit(&pool, &mut batch, &stats).await;
    }
}

/// Stores `batch` and answers every request in it (draining it).
async fn commit(pool: &Pool, batch: &mut Vec<Request>, stats: &watch::Sender<Stats>) {
    match store(pool, batch).await {
        Ok(mut answers) => {
            stats.send_modify(|s| s.commits += 1);
            for (r, a) in batch.drain(..).zip(answers.drain(..)) {
                let _ = r.answer.send(Ok(a));
            }
        }
        Err(Failure::NoConnection(e)) => {
            tracing::warn!(error = %e, "no database connection for a delivery");
            answer_all(batch, &e);
        }
        Err(Failure::Store(e)) if batch.len() > 1 => {
            tracing::warn!(error = %e, deliveries = batch.len(), "a batch failed; storing its deliveries one by one");
            for r in batch.drain(..) {
                let answer = match store(pool, std::slice::from_ref(&r)).await {
                    Ok(mut a) => {
                        stats.send_modify(|s| s.commits += 1);
                        Ok(a.pop().unwrap_or_default())
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "delivery failed; the client will retry");
                        Err(NotStored(e.to_string()))
                    }
                };
                let _ = r.answer.send(answer);
            }
        }
        Err(Failure::Store(e)) => {
            tracing::warn!(error = %e, "delivery failed; the client will retry");
            answer_all(batch, &e.to_string());
        }
    }
}

fn answer_all(batch: &mut Vec<Request>, why: &str) {
    for r in batch.drain(..) {
        let _ = r.answer.send(Err(NotStored(why.to_string())));
    }
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    NoConnection(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

async fn store(pool: &Pool, batch: &[Request]) -> Result<Vec<Vec<Option<Placed>>>, Failure> {
    let mut client = pool
        .get()
        .await
        .map_err(|e| Failure::NoConnection(e.to_string()))?;
    // The connection's statement cache: the delivery statements are parsed
    // and planned once per connection, not once per batch.
    let cache = client.statement_cache.clone();
    let deliveries: Vec<Delivery<'_>> = batch
        .iter()
        .map(|r| Delivery {
            targets: &r.targets,
            message: &r.message,
        })
        .collect();
    Ok(delivery::deliver_batch(&mut client, Some(&cache), &deliveries).await?)
}
