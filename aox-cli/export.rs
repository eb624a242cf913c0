//! `aox export <login> <mailbox> [search…] [--format mbox|maildir] [--original] [-o PATH]`
//! and `aox export <login|--all-users> [mailbox] [search…] --format bundle -o DIR`:
//! writes what is stored, message by message, in UID order; with a search
//! (IMAP SEARCH keys as words: `from alice since 1-Jan-2020`), only what
//! matches. A bundle (eDiscovery) holds each message's bytes as they arrived
//! plus a manifest with the SHA-256 recorded at arrival. Memory holds one
//! chunk of messages, not the mailbox.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use archiveopteryx::archive::{BundleEntry, BundleWriter, MaildirWriter, MboxWriter};
use archiveopteryx::mime;
use archiveopteryx::search::SearchKey;
use archiveopteryx::store::archive_search::{self, Scope};
use archiveopteryx::store::messages::{self, StoredMessage};
use archiveopteryx::store::{mailboxes, search};
use archiveopteryx::uidset::UidSet;
use clap::{Args, ValueEnum};

use crate::Ctx;

/// Messages read per round trip.
const CHUNK: i64 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// mboxrd, LF line ends (flags are not kept: mbox has nowhere for them).
    Mbox,
    /// Maildir, flags and keywords in the file names.
    Maildir,
    /// eDiscovery bundle: messages/NNNNNNN.eml as they arrived, plus manifest.jsonl.
    Bundle,
}

/// Export a mailbox as mbox or Maildir, or mail of one user or all as a bundle.
#[derive(Debug, Args)]
pub struct Export {
    /// Every user's mail (only with --format bundle); no login is given then.
    #[arg(long)]
    all_users: bool,
    /// The user (unless --all-users), the mailbox (for a bundle optional: a
    /// first word naming a mailbox is taken as one), then IMAP SEARCH keys,
    /// e.g. `alice INBOX from bob since 1-Jan-2020`.
    words: Vec<String>,
    /// The archive format.
    #[arg(long, value_enum, default_value = "mbox")]
    format: Format,
    /// Write each message's bytes exactly as they arrived, not the normalised
    /// form (always so in a bundle).
    #[arg(long)]
    original: bool,
    /// Where to write: a file for mbox (default: standard output), a directory for Maildir and bundle.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
}

enum Sink {
    Mbox(MboxWriter<Box<dyn std::io::Write>>),
    Maildir(Box<MaildirWriter>),
    Bundle(BundleWriter),
}

/// Which mailboxes to export and what to match in them.
async fn plan(
    client: &tokio_postgres::Client,
    args: &Export,
) -> anyhow::Result<(Vec<Scope>, SearchKey)> {
    let bundle = args.format == Format::Bundle;
    if args.all_users && !bundle {
        anyhow::bail!("--all-users needs --format bundle");
    }
    let mut words = args.words.as_slice();
    let login = if args.all_users {
        None
    } else {
        let (first, rest) = words
            .split_first()
            .context("name a user (or give --all-users with --format bundle)")?;
        words = rest;
        Some(first.as_str())
    };
    let mut scopes = archive_search::scopes(client, login, None).await?;
    match (bundle, words.split_first(), login) {
        // mbox and Maildir hold one mailbox: it must be named.
        (false, Some((name, rest)), Some(login)) => {
            let (_, id) = mailboxes::mailbox_id(client, login, name).await?;
            scopes.retain(|s| s.mailbox == id);
            words = rest;
        }
        (false, _, _) => anyhow::bail!("name the mailbox to export"),
        (true, Some((first, rest)), _) => {
            if let Ok(name) = mailboxes::canonical_name(first)
                && scopes.iter().any(|s| s.name == name)
            {
                scopes.retain(|s| s.name == name);
                words = rest;
            }
        }
        (true, None, _) => {}
    }
    let key = if words.is_empty() {
        archiveopteryx::search::everything()
    } else {
        archiveopteryx::search::from_words(words)?
    };
    Ok((scopes, key))
}

/// Runs the export.
pub async fn run(ctx: &Ctx, args: Export) -> anyhow::Result<()> {
    let client = ctx.connect().await?;
    let (scopes, key) = plan(&client, &args).await?;
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
        Format::Bundle => {
            let dir = args
                .output
                .clone()
                .context("--format bundle needs -o DIRECTORY")?;
            Sink::Bundle(BundleWriter::create(&dir)?)
        }
    };
    let original = args.original || args.format == Format::Bundle;
    let everything = key == archiveopteryx::search::everything();
    let mut count = 0u64;
    for scope in &scopes {
        let within = if everything {
            None
        } else {
            let uids = search::search(&client, scope.user, scope.mailbox, &key).await?;
            if uids.is_empty() {
                continue;
            }
            Some(UidSet::from_values(uids))
        };
        let mut after = 0;
        loop {
            let chunk = messages::after_uid(
                &client,
                scope.user,
                scope.mailbox,
                after,
                CHUNK,
                within.as_ref(),
            )
            .await?;
            let Some(last) = chunk.last() else { break };
            after = last.uid;
            let data = chunk_data(&client, &chunk, original).await?;
            for m in chunk {
                let bytes = message_bytes(&m, &data, original)?;
                match &mut sink {
                    Sink::Mbox(w) => w.write(&bytes, Some(m.internal_date))?,
                    Sink::Maildir(w) => {
                        w.write(&bytes, Some(m.internal_date), m.flags, &m.keywords)?;
                    }
                    Sink::Bundle(w) => {
                        w.write(
                            &bytes,
                            &BundleEntry {
                                user: &scope.login,
                                mailbox: &scope.name,
                                uid: m.uid,
                                internal_date: m.internal_date,
                                sha256: m.raw_sha256,
                            },
                        )?;
                    }
                }
                count += 1;
            }
        }
    }
    match sink {
        Sink::Mbox(w) => {
            w.into_inner()?.flush()?;
        }
        Sink::Maildir(_) => {}
        Sink::Bundle(w) => {
            let mismatched = w.mismatched();
            w.finish()?;
            if mismatched > 0 {
                anyhow::bail!(
                    "{mismatched} of {count} files do not hash to the SHA-256 recorded at arrival \
                     (marked \"verified\": false in manifest.jsonl)"
                );
            }
        }
    }
    if args.output.is_some() && !ctx.json {
        eprintln!("Exported {count} messages");
    }
    Ok(())
}

/// The body-part content a chunk needs, by hash.
async fn chunk_data(
    client: &tokio_postgres::Client,
    chunk: &[StoredMessage],
    original: bool,
) -> anyhow::Result<HashMap<[u8; 32], Vec<u8>>> {
    let mut hashes: Vec<[u8; 32]> = Vec::new();
    for m in chunk {
        match (original, m.original_hash) {
            (true, Some(h)) => hashes.push(h),
            _ => hashes.extend(m.parts.iter().filter_map(|p| p.bodypart)),
        }
    }
    hashes.sort_unstable();
    hashes.dedup();
    Ok(messages::bodypart_data(client, &hashes).await?)
}

/// A message's bytes: as served, or (`original`) as they arrived.
fn message_bytes(
    m: &StoredMessage,
    data: &HashMap<[u8; 32], Vec<u8>>,
    original: bool,
) -> anyhow::Result<Vec<u8>> {
    Ok(match (original, m.original_hash) {
        (true, Some(h)) => data
            .get(&h)
            .cloned()
            .with_context(|| format!("UID {}: the original bytes are missing", m.uid))?,
        _ => {
            let wire = mime::render(&m.parts, &|h| data.get(h).cloned())
                .with_context(|| format!("UID {} cannot be rendered", m.uid))?;
            match (&m.original_delta, original) {
                (Some(d), true) => mime::delta::apply(&wire, d)
                    .with_context(|| format!("UID {}: the original cannot be rebuilt", m.uid))?,
                _ => wire,
            }
        }
    })
}
