//! `aox import <login> <mailbox> <source>…`: mbox files, Maildirs and
//! directories of .eml files into one mailbox, at archive scale.
//!
//! Three stages overlap: a thread reads the sources into batches, a pool of
//! threads ingests (parses and normalises) the next batch while the current
//! one is stored, and each batch is one transaction. A message whose exact
//! bytes are already in the mailbox is skipped, so a re-run after Ctrl-C or
//! kill -9 stores only what the interrupted run had not committed.

use std::path::PathBuf;
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
const BATCH_BYTES: usize = 32 << 20;

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
}

/// A batch read from the sources, or a source that could not be read.
enum Read {
    Batch(Vec<ArchivedMessage>),
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

    let mut tally = Tally::default();
    let mut progress = Progress::new();
    let mut pending: Option<tokio::task::JoinHandle<Vec<NewMessage>>> = None;
    // Raw hashes of the batch being ingested, which the database cannot know yet.
    let mut in_flight: std::collections::HashSet<[u8; 32]> = std::collections::HashSet::new();
    let mut next_in_flight = std::collections::HashSet::new();
    loop {
        let next = rx.recv().await;
        // Ingest the next batch on other threads while this one is stored.
        let upcoming = match next {
            Some(Read::Batch(batch)) => {
                tally.read += batch.len() as u64;
                tally.bytes_read += batch.iter().map(|m| m.raw.len() as u64).sum::<u64>();
                let hashes: Vec<[u8; 32]> = batch.iter().map(|m| sha256(&m.raw)).collect();
                // Already stored, or in the batch not yet committed, or
                // earlier in this batch: the mailbox keeps one copy.
                let present = inject::raw_hashes_present(&client, user, mailbox, &hashes).await?;
                let read = batch.len();
                let mut this_batch = std::collections::HashSet::new();
                let fresh: Vec<ArchivedMessage> = batch
                    .into_iter()
                    .zip(hashes)
                    .filter(|(_, h)| {
                        !present.contains(h) && !in_flight.contains(h) && this_batch.insert(*h)
                    })
                    .map(|(m, _)| m)
                    .collect();
                tally.skipped += (read - fresh.len()) as u64;
                next_in_flight = this_batch;
                Some(tokio::task::spawn_blocking(move || ingest_batch(fresh)))
            }
            Some(Read::Failed(why)) => {
                tally.failures.push(why);
                continue;
            }
            None => None,
        };
        if let Some(handle) = pending.take() {
            let batch = handle.await.context("an ingest thread failed")?;
            store(&mut client, user, mailbox, batch, &mut tally).await?;
            progress.update(&tally);
        }
        in_flight = std::mem::take(&mut next_in_flight);
        match upcoming {
            Some(handle) => pending = Some(handle),
            None => break,
        }
    }
    if reader.join().is_err() {
        tally
            .failures
            .push("the archive reader thread failed".into());
    }
    progress.finish(&tally);
    report(ctx, &args, &tally);
    Ok(())
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

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
                    batch.push(m);
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

/// Parses and normalises a batch on every core.
fn ingest_batch(batch: Vec<ArchivedMessage>) -> Vec<NewMessage> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = batch.len().div_ceil(threads).max(1);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut out: Vec<NewMessage> = Vec::with_capacity(batch.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = batch
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|m| {
                            let ingested = mime::ingest(&m.raw);
                            // The archive's date, else the Date field, else now.
                            let internal_date =
                                m.internal_date.or(ingested.header_date).unwrap_or(now);
                            NewMessage {
                                ingested,
                                raw: m.raw.clone(),
                                internal_date,
                                flags: m.flags,
                                keywords: m.keywords.clone(),
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            if let Ok(part) = h.join() {
                out.extend(part);
            }
        }
    });
    out
}

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
    for m in &batch {
        if let Some(reason) = &m.ingested.wrapped {
            let id = m.ingested.message_id.clone().unwrap_or_default();
            tally.wrapped.push((id, reason.clone()));
        }
    }
    let done = inject::inject(client, user, mailbox, &batch).await?;
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
