//! `aox export <login> <mailbox> [search…] [--format mbox|maildir] [--original] [-o PATH]`:
//! writes what is stored, message by message, in UID order; with a search
//! (IMAP SEARCH keys as words: `from alice since 1-Jan-2020`), only what
//! matches. Memory holds one chunk of messages, not the mailbox.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use archiveopteryx::archive::{MaildirWriter, MboxWriter};
use archiveopteryx::mime;
use archiveopteryx::store::{mailboxes, messages};
use clap::{Args, ValueEnum};

use crate::Ctx;

/// Messages read per round trip.
const CHUNK: i64 = 200;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// mboxrd, LF line ends (flags are not kept: mbox has nowhere for them).
    Mbox,
    /// Maildir, flags and keywords in the file names.
    Maildir,
}

/// Export a mailbox as mbox or Maildir.
#[derive(Debug, Args)]
pub struct Export {
    /// The user who owns the mailbox.
    login: String,
    /// The mailbox.
    mailbox: String,
    /// Only messages matching these IMAP SEARCH keys, e.g. `from alice since 1-Jan-2020`.
    search: Vec<String>,
    /// The archive format.
    #[arg(long, value_enum, default_value = "mbox")]
    format: Format,
    /// Write each message's bytes exactly as they arrived, not the normalised form.
    #[arg(long)]
    original: bool,
    /// Where to write: a file for mbox (default: standard output), a directory for Maildir.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
}

enum Sink {
    Mbox(MboxWriter<Box<dyn std::io::Write>>),
    Maildir(Box<MaildirWriter>),
}

/// Runs the export.
pub async fn run(ctx: &Ctx, args: Export) -> anyhow::Result<()> {
    let client = ctx.connect().await?;
    let (user, mailbox) = mailboxes::mailbox_id(&client, &args.login, &args.mailbox).await?;
    let within = if args.search.is_empty() {
        None
    } else {
        let key = archiveopteryx::search::from_words(&args.search)?;
        let uids = archiveopteryx::store::search::search(&client, user, mailbox, &key).await?;
        Some(archiveopteryx::uidset::UidSet::from_values(uids))
    };
    let mut sink = match args.format {
        Format::Mbox => {
            let out: Box<dyn std::io::Write> = match &args.output {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path).with_context(|| path.display().to_string())?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout())),
            };
            Sink::Mbox(MboxWriter::new(out))
        }
        Format::Maildir => {
            let dir = args
                .output
                .clone()
                .context("--format maildir needs -o DIRECTORY")?;
            Sink::Maildir(Box::new(MaildirWriter::create(&dir)?))
        }
    };
    let mut after = 0;
    let mut count = 0u64;
    loop {
        let chunk =
            messages::after_uid(&client, user, mailbox, after, CHUNK, within.as_ref()).await?;
        let Some(last) = chunk.last() else { break };
        after = last.uid;
        let mut hashes: Vec<[u8; 32]> = Vec::new();
        for m in &chunk {
            match (args.original, m.original_hash) {
                (true, Some(h)) => hashes.push(h),
                _ => hashes.extend(m.parts.iter().filter_map(|p| p.bodypart)),
            }
        }
        hashes.sort_unstable();
        hashes.dedup();
        let data = messages::bodypart_data(&client, &hashes).await?;
        for m in chunk {
            let bytes = match (args.original, m.original_hash) {
                (true, Some(h)) => data
                    .get(&h)
                    .cloned()
                    .with_context(|| format!("UID {}: the original bytes are missing", m.uid))?,
                _ => {
                    let wire = mime::render(&m.parts, &|h| data.get(h).cloned())
                        .with_context(|| format!("UID {} cannot be rendered", m.uid))?;
                    match (&m.original_delta, args.original) {
                        (Some(d), true) => mime::delta::apply(&wire, d).with_context(|| {
                            format!("UID {}: the original cannot be rebuilt", m.uid)
                        })?,
                        _ => wire,
                    }
                }
            };
            match &mut sink {
                Sink::Mbox(w) => w.write(&bytes, Some(m.internal_date))?,
                Sink::Maildir(w) => {
                    w.write(&bytes, Some(m.internal_date), m.flags, &m.keywords)?;
                }
            }
            count += 1;
        }
    }
    if let Sink::Mbox(w) = sink {
        w.into_inner()?.flush()?;
    }
    if args.output.is_some() && !ctx.json {
        eprintln!("Exported {count} messages");
    }
    Ok(())
}
