//! `aox import <login> <mailbox> <source>…`: mbox files, Maildirs and
//! directories of .eml files into one mailbox, at archive scale.
//!
//! Four stages overlap: a thread reads and hashes the sources into batches,
//! a pool of threads ingests (parses and normalises) the next batches, one
//! connection stores each batch's body parts, and another stores its
//! messages and entries in one transaction per batch. A message whose exact
//! bytes are already in the mailbox is skipped, so a re-run after Ctrl-C or
//! kill -9 stores only what the interrupted run had not committed.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use archiveopteryx::archive::{self, ArchivedMessage};
use archiveopteryx::mime;
use archiveopteryx::store::inject::{self, NewMessage};
use archiveopteryx::store::mailboxes;
use clap::Args;
use serde_json::json;

use crate::Ctx;
use crate::output;

/// Messages per transaction, and the byte size that closes a batch early.
const BATCH_MESSAGES: usize = 500;
const BATCH_BYTES: usize = 8 << 20;

/// Import mbox files, Maildirs or directories of .eml files into a mailbox.
#[derive(Debug, Args)]
pub struct Import {
    /// The user who owns the mailbox.
    login: String,
    /// The mailbox (created if missing).
    mailbox: String,
    /// mbox files, Maildir directories (with cur/ and new/) or directories of .eml files.
    #[arg(required = true)]
    sources: Vec<PathBuf>,
    /// Database connections storing messages at once (body parts are stored
    /// ahead on one more connection of their own). With 1, UIDs follow the
    /// archive's order exactly; with more, only within each batch of 500, and
    /// PostgreSQL gets a core per connection, which pays only on a machine
    /// with cores to spare (on two cores, 2 was no faster than 1).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=8))]
    connections: u8,
}

/// A message read from the sources, with the SHA-256 of its bytes.
type Hashed = (ArchivedMessage, [u8; 32]);

/// A batch read from the sources, or a source that could not be read.
enum Read {
    Batch(Vec<Hashed>),
    Failed(String),
}

#[derive(Default)]
struct Tally {
    read: u64,
    bytes_read: u64,
    stored: u64,
    skipped: u64,
    wrapped: Vec<(String, String)>,
    failures: Vec<String>,
    new_parts: u64,
    new_part_bytes: u64,
}

/// An ingest under way and the raw hashes of the messages in it.
type Work = (tokio::task::JoinHandle<Vec<NewMessage>>, Vec<[u8; 32]>);

/// An ingested batch whose body parts are stored, and its raw hashes.
type Ready = (Vec<NewMessage>, Vec<[u8; 32]>);

/// What the reading loop and the injectors share.
#[derive(Default)]
struct Shared {
    tally: std::sync::Mutex<Tally>,
    /// Raw hashes of batches handed on but not yet committed, which the
    /// database cannot report as present yet.
    in_flight: std::sync::Mutex<HashSet<[u8; 32]>>,
    /// Whether a batch has committed (see [`analyse_if_unknown`]).
    first_committed: std::sync::atomic::AtomicBool,
}

impl Shared {
    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Runs the import.
pub async fn run(ctx: &Ctx, args: Import) -> anyhow::Result<()> {
    let mut client = ctx.connect().await?;
    for source in &args.sources {
        archive::detect(source).with_context(|| format!("{}", source.display()))?;
    }
    let created = mailboxes::add_mailbox(&mut client, &args.login, &args.mailbox, None).await;
    match created {
        Ok(_) | Err(archiveopteryx::store::StoreError::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let (user, mailbox) = mailboxes::mailbox_id(&client, &args.login, &args.mailbox).await?;

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Read>(2);
    let sources = args.sources.clone();
    let reader = std::thread::spawn(move || read_sources(&sources, &tx));

    let shared = Arc::new(Shared::default());
    let (work_tx, work_rx) = tokio::sync::mpsc::channel::<Work>(1);
    let (ready_tx, ready_rx) = tokio::sync::mpsc::channel::<Ready>(1);
    let ready_rx = Arc::new(tokio::sync::Mutex::new(ready_rx));
    let mut injectors = tokio::task::JoinSet::new();
    injectors.spawn(part_storer(
        ctx.connect().await?,
        work_rx,
        ready_tx,
        shared.clone(),
    ));
    // Each connection stores whole batches; the mailbox row lock still
    // serialises the short final step of each.
    for _ in 0..args.connections {
        let client = ctx.connect().await?;
        injectors.spawn(injector(
            client,
            user,
            mailbox,
            ready_rx.clone(),
            shared.clone(),
        ));
    }

    let mut progress = Progress::new();
    while let Some(next) = rx.recv().await {
        let batch = match next {
            Read::Batch(batch) => batch,
            Read::Failed(why) => {
                shared.tally().failures.push(why);
                continue;
            }
        };
        let read = batch.len();
        let bytes: u64 = batch.iter().map(|(m, _)| m.raw.len() as u64).sum();
        // Skip what an uncommitted batch holds, then what the database holds,
        // in that order: a batch leaves in_flight only after it commits, so a
        // hash is always in one of the two places. Repeats within the batch go too.
        let candidates: Vec<Hashed> = {
            let in_flight = shared.in_flight();
            let mut this_batch = HashSet::new();
            batch
                .into_iter()
                .filter(|(_, h)| !in_flight.contains(h) && this_batch.insert(*h))
                .collect()
        };
        let hashes: Vec<[u8; 32]> = candidates.iter().map(|(_, h)| *h).collect();
        let present = inject::raw_hashes_present(&client, user, mailbox, &hashes).await?;
        let mut accepted = Vec::new();
        let fresh: Vec<Hashed> = candidates
            .into_iter()
            .filter(|(_, h)| !present.contains(h))
            .inspect(|(_, h)| accepted.push(*h))
            .collect();
        shared.in_flight().extend(accepted.iter().copied());
        {
            let mut t = shared.tally();
            t.read += read as u64;
            t.bytes_read += bytes;
            t.skipped += (read - fresh.len()) as u64;
        }
        let handle = tokio::task::spawn_blocking(move || ingest_batch(fresh));
        if work_tx.send((handle, accepted)).await.is_err() {
            break; // every injector stopped; its error is reported below
        }
        progress.update(&shared.tally());
    }
    drop(work_tx);
    let mut first_error = None;
    while let Some(result) = injectors.join_next().await {
        let outcome = result.context("an injector task failed").and_then(|r| r);
        if let (Err(e), None) = (outcome, &first_error) {
            first_error = Some(e);
        }
    }
    if reader.join().is_err() {
        shared
            .tally()
            .failures
            .push("the archive reader thread failed".into());
    }
    let tally = std::mem::take(&mut *shared.tally());
    progress.finish(&tally);
    if let Some(e) = first_error {
        return Err(e);
    }
    // Fresh statistics, so the next IMAP session's plans see the new rows
    // (a just-filled mailbox is otherwise estimated at a handful of rows
    // until autovacuum gets to it). Sampling makes this quick at any size;
    // two connections halve what is left, since the cores are idle by now.
    if tally.stored > 0 {
        let second = ctx.connect().await?;
        tokio::try_join!(
            client.batch_execute("ANALYZE messages, message_search"),
            second.batch_execute("ANALYZE message_parts, mailbox_entries"),
        )
        .context("ANALYZE after the import")?;
    }
    report(ctx, &args, &tally);
    Ok(())
}

/// Stores each ingested batch's body parts, in batch order, on a connection
/// of its own, and hands the batch on to the injectors. Body parts are most
/// of what storing a batch writes (their data and its TOAST), and unlike
/// the messages they need no order, so this overlaps them with the
/// injectors' transactions while UIDs still follow the archive's order.
async fn part_storer(
    mut client: tokio_postgres::Client,
    mut work: tokio::sync::mpsc::Receiver<Work>,
    ready: tokio::sync::mpsc::Sender<Ready>,
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    while let Some((handle, hashes)) = work.recv().await {
        let batch = handle.await.context("an ingest thread failed")?;
        let (parts, bytes) = inject::store_bodyparts_ahead(&mut client, &batch).await?;
        {
            let mut t = shared.tally();
            t.new_parts += parts;
            t.new_part_bytes += bytes;
        }
        if ready.send((batch, hashes)).await.is_err() {
            break; // every injector stopped; its error is reported by the caller
        }
    }
    Ok(())
}

/// Stores ready batches as they come, one transaction each, until the
/// part storer has no more.
async fn injector(
    mut client: tokio_postgres::Client,
    user: i64,
    mailbox: i64,
    ready: Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Ready>>>,
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    loop {
        let next = ready.lock().await.recv().await;
        let Some((batch, hashes)) = next else {
            return Ok(());
        };
        let mut tally = Tally::default();
        store(&mut client, user, mailbox, batch, &mut tally).await?;
        if tally.stored > 0
            && !shared
                .first_committed
                .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            analyse_if_unknown(&client).await?;
        }
        // Committed: the database answers for these from now on.
        {
            let mut in_flight = shared.in_flight();
            for h in &hashes {
                in_flight.remove(h);
            }
        }
        let mut t = shared.tally();
        t.stored += tally.stored;
        t.new_parts += tally.new_parts;
        t.new_part_bytes += tally.new_part_bytes;
        t.wrapped.extend(tally.wrapped);
    }
}

/// Gives `messages` and `mailbox_entries` statistics when they have none,
/// which is so in a fresh database until autovacuum's first pass, a minute or
/// more into an import. Without them the planner takes every `raw_sha256 =
/// ANY(…)` as matching the whole table, so the per-batch "already stored?"
/// lookups scanned every message stored so far: each batch cost more than
/// the one before. Run after the first batch commits, when there are rows to
/// sample; a few hundred rows take milliseconds.
async fn analyse_if_unknown(client: &tokio_postgres::Client) -> anyhow::Result<()> {
    let known = client
        .query_one(
            "SELECT count(*) FROM pg_stats WHERE schemaname = current_schema() \
             AND (tablename, attname) IN (('messages', 'raw_sha256'), ('mailbox_entries', 'mailbox_id'))",
            &[],
        )
        .await
        .context("looking up the planner's statistics")?;
    if known.get::<_, i64>(0) < 2 {
        client
            .batch_execute("ANALYZE messages, mailbox_entries")
            .await
            .context("ANALYZE after the first batch")?;
    }
    Ok(())
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

/// Reads the sources into batches, hashing each message on the way (this
/// thread mostly waits for the disk, and the hash is what the reading loop
/// needs first).
fn read_sources(sources: &[PathBuf], tx: &tokio::sync::mpsc::Sender<Read>) {
    for source in sources {
        let messages = match archive::open(source) {
            Ok(m) => m,
            Err(e) => {
                let _ = tx.blocking_send(Read::Failed(format!("{}: {e}", source.display())));
                continue;
            }
        };
        let mut batch = Vec::new();
        let mut bytes = 0;
        for message in messages {
            match message {
                Ok(m) => {
                    bytes += m.raw.len();
                    let hash = sha256(&m.raw);
                    batch.push((m, hash));
                    if batch.len() >= BATCH_MESSAGES || bytes >= BATCH_BYTES {
                        if tx
                            .blocking_send(Read::Batch(std::mem::take(&mut batch)))
                            .is_err()
                        {
                            return;
                        }
                        bytes = 0;
                    }
                }
                Err(e) => {
                    if tx.blocking_send(Read::Failed(e.to_string())).is_err() {
                        return;
                    }
                }
            }
        }
        if !batch.is_empty() && tx.blocking_send(Read::Batch(batch)).is_err() {
            return;
        }
    }
}

/// Messages an ingest thread takes at a time: small enough that the threads
/// finish together, large enough that taking them costs nothing.
const INGEST_CHUNK: usize = 8;

/// How much lower than normal the ingest threads run (a nice value).
#[cfg(target_os = "linux")]
const INGEST_NICENESS: libc::c_int = 10;

/// Parses and normalises a batch on every core, in batch order.
///
/// The threads take small chunks from a shared queue, so none idles while
/// another still has a long queue of its own. They run at a lower priority:
/// ingest is ahead of storing by a batch or two, and on a machine with few
/// cores the storing connection (this process's runtime thread and its
/// PostgreSQL backend) is the critical path; at equal priority it waited
/// for a core behind ingest work that was not needed yet.
fn ingest_batch(batch: Vec<Hashed>) -> Vec<NewMessage> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let total = batch.len();
    let queue = std::sync::Mutex::new(batch.into_iter().enumerate());
    let mut done: Vec<(usize, NewMessage)> = Vec::with_capacity(total);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.min(total))
            .map(|_| {
                let queue = &queue;
                scope.spawn(move || {
                    lower_priority();
                    let mut out = Vec::new();
                    loop {
                        // Owned messages, so each one's bytes move into its NewMessage uncopied.
                        let chunk: Vec<(usize, Hashed)> = queue
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .by_ref()
                            .take(INGEST_CHUNK)
                            .collect();
                        if chunk.is_empty() {
                            return out;
                        }
                        out.extend(chunk.into_iter().map(|(i, (m, sha))| {
                            let ingested = mime::ingest_hashed(&m.raw, sha);
                            // The archive's date, else the Date field, else now.
                            let internal_date =
                                m.internal_date.or(ingested.header_date).unwrap_or(now);
                            let new = NewMessage::new(
                                ingested,
                                m.raw,
                                internal_date,
                                m.flags,
                                m.keywords,
                            );
                            (i, new)
                        }));
                    }
                })
            })
            .collect();
        for h in handles {
            match h.join() {
                Ok(part) => done.extend(part),
                // Not a batch with holes: whoever awaits the batch reports it.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, m)| m).collect()
}

/// Lowers the calling thread's priority by [`INGEST_NICENESS`]. Linux
/// applies a nice value to the one thread its id names; a failure leaves
/// the thread at normal priority, which is only slower.
#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: gettid and setpriority take no pointers and cannot fail unsafely.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, INGEST_NICENESS);
    }
}

/// Elsewhere (FreeBSD) a nice value applies to the whole process, which
/// would slow the storing connection too, so the threads keep theirs.
#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

async fn store(
    client: &mut tokio_postgres::Client,
    user: i64,
    mailbox: i64,
    batch: Vec<NewMessage>,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let before = tally.wrapped.len();
    for m in &batch {
        if let Some(reason) = &m.ingested.wrapped {
            let id = m.ingested.message_id.clone().unwrap_or_default();
            tally.wrapped.push((id, reason.clone()));
        }
    }
    let detail = format!(
        "batch of {}, {} stored wrapped",
        batch.len(),
        tally.wrapped.len() - before
    );
    let done = inject::import(client, user, mailbox, &batch, &crate::actor(), &detail).await?;
    tally.stored += done.uids.len() as u64;
    tally.new_parts += done.new_bodyparts;
    tally.new_part_bytes += done.new_bodypart_bytes;
    Ok(())
}

fn report(ctx: &Ctx, args: &Import, t: &Tally) {
    let message = format!(
        "Imported {} into {}'s {}: {} read ({}), {} already there, {} stored wrapped, {} unreadable; \
         {} new body parts ({} after deduplication)",
        output::counted(t.stored, "message", "messages"),
        args.login,
        args.mailbox,
        t.read,
        megabytes(t.bytes_read),
        t.skipped,
        t.wrapped.len(),
        t.failures.len(),
        t.new_parts,
        megabytes(t.new_part_bytes),
    );
    output::done(
        ctx.json,
        &message,
        json!({
            "read": t.read, "bytes_read": t.bytes_read, "stored": t.stored, "skipped": t.skipped,
            "new_bodyparts": t.new_parts, "new_bodypart_bytes": t.new_part_bytes,
            "wrapped": t.wrapped.iter().map(|(id, why)| json!({"message_id": id, "reason": why})).collect::<Vec<_>>(),
            "failures": t.failures,
        }),
    );
    if !ctx.json {
        for (id, why) in &t.wrapped {
            println!("  wrapped <{id}>: {why}");
        }
        for why in &t.failures {
            println!("  failed: {why}");
        }
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// A progress bar on a terminal; a line every ten seconds otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    fn new() -> Progress {
        use std::io::IsTerminal as _;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
            last_line: Instant::now(),
        }
    }

    fn line(&self, t: &Tally) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        format!(
            "{} messages read, {} stored, {} skipped; {:.0} messages/s, {:.1} MB/s",
            t.read,
            t.stored,
            t.skipped,
            t.read as f64 / secs,
            t.bytes_read as f64 / 1e6 / secs
        )
    }

    fn update(&mut self, t: &Tally) {
        match &self.bar {
            Some(bar) => bar.set_message(self.line(t)),
            None if self.last_line.elapsed() >= Duration::from_secs(10) => {
                eprintln!("{}", self.line(t));
                self.last_line = Instant::now();
            }
            None => {}
        }
    }

    fn finish(&self, t: &Tally) {
        match &self.bar {
            Some(bar) => bar.finish_with_message(self.line(t)),
            None => eprintln!("{}", self.line(t)),
        }
    }
}
