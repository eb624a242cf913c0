//! `aox search <user|--all> [mailbox] <search…>` and `aox show search
//! <search…>`: the IMAP SEARCH language (`from alice since 1-Jan-2020 body
//! invoice`) over the archive, and what a search becomes in SQL.

use archiveopteryx::imap::proto::datetime::civil_from_days;
use archiveopteryx::search;
use archiveopteryx::store::archive_search::{self, Scope};
use clap::Args;
use serde_json::json;

use crate::Ctx;
use crate::output::Listing;

/// Search the archive.
#[derive(Debug, Args)]
pub struct Search {
    /// Search every user's mailboxes (then no user is given).
    #[arg(long)]
    all: bool,
    /// The user (unless --all), then a mailbox if the next word names one of
    /// theirs, then the search keys, e.g. `alice INBOX from bob since 1-Jan-2020`.
    #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
    words: Vec<String>,
}

/// Explain a search.
#[derive(Debug, Args)]
pub struct ShowSearch {
    /// The search keys, e.g. `from alice since 1-Jan-2020 body invoice`.
    #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
    words: Vec<String>,
}

/// Unix seconds as `YYYY-MM-DD HH:MM` (UTC).
pub(crate) fn date(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(86_400));
    let secs = unix.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60
    )
}

/// Runs `aox search`.
pub async fn run(ctx: &Ctx, args: Search) -> anyhow::Result<()> {
    let client = ctx.connect().await?;
    let mut words = args.words.as_slice();
    let login = if args.all {
        None
    } else {
        let (first, rest) = words
            .split_first()
            .ok_or_else(|| anyhow::anyhow!("name a user or give --all"))?;
        words = rest;
        Some(first.as_str())
    };
    // The mailbox is optional; a first word that names one of the user's
    // mailboxes is taken as it.
    let mut scopes = archive_search::scopes(&client, login, None).await?;
    if let Some((first, rest)) = words.split_first()
        && let Ok(name) = archiveopteryx::store::mailboxes::canonical_name(first)
        && scopes.iter().any(|s| s.name == name)
    {
        scopes.retain(|s: &Scope| s.name == name);
        words = rest;
    }
    let key = if words.is_empty() {
        search::everything()
    } else {
        search::from_words(words)?
    };
    let mut listing = Listing::new(&["user", "mailbox", "uid", "date", "from", "subject", "size"])
        .numeric(&[2, 6]);
    for scope in &scopes {
        for hit in archive_search::search_scope(&client, scope, &key).await? {
            listing.push(
                vec![
                    hit.login.clone(),
                    hit.mailbox.clone(),
                    hit.uid.to_string(),
                    date(hit.internal_date),
                    hit.from.chars().take(40).collect(),
                    hit.subject.chars().take(60).collect(),
                    hit.size.to_string(),
                ],
                json!({
                    "user": hit.login, "mailbox": hit.mailbox, "uid": hit.uid,
                    "internal_date": hit.internal_date, "from": hit.from,
                    "subject": hit.subject, "size": hit.size,
                }),
            );
        }
    }
    listing.print(ctx.json);
    Ok(())
}

/// Runs `aox show search`.
pub fn show(ctx: &Ctx, args: ShowSearch) -> anyhow::Result<()> {
    let key = search::from_words(&args.words)?;
    let (sql, params) = archiveopteryx::store::search::explain(&key)?;
    if ctx.json {
        println!(
            "{}",
            json!({ "search": format!("{key:?}"), "sql": sql, "parameters": params })
        );
    } else {
        println!("search: {key:?}");
        println!("sql:    {sql}");
        for (i, p) in params.iter().enumerate() {
            println!("  ${} = {p}", i + 1);
        }
    }
    Ok(())
}
