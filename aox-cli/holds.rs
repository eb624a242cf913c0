//! `aox hold add <case> [<user> [<mailbox>]] [search…]`, `aox hold list`,
//! `aox hold release <case>`: legal holds. Every hold is confidential (the
//! user's EXPUNGE still hides held mail); a hold only stops destruction, and
//! PostgreSQL itself refuses to delete held content.

use std::time::{SystemTime, UNIX_EPOCH};

use archiveopteryx::imap::proto::datetime::civil_from_days;
use archiveopteryx::store::holds::{self, Scope};
use archiveopteryx::store::{StoreError, mailboxes, users};
use clap::Args;
use serde_json::json;

use crate::output::{self, Listing};
use crate::{Ctx, actor};

/// Put mail under a legal hold.
#[derive(Debug, Args)]
pub struct AddHold {
    /// The case name (unique).
    case: String,
    /// Optionally a user (a first word naming one is taken as the user), then
    /// one of their mailboxes (likewise), then IMAP SEARCH keys, e.g.
    /// `alice INBOX from bob since 1-Jan-2020`. Nothing: all mail of everyone.
    words: Vec<String>,
}

/// Release a legal hold.
#[derive(Debug, Args)]
pub struct ReleaseHold {
    /// The case name.
    case: String,
}

/// Runs `aox hold add`.
pub async fn add(ctx: &Ctx, args: AddHold) -> anyhow::Result<()> {
    let mut client = ctx.connect().await?;
    let mut words = args.words.as_slice();
    let mut scope = Scope::default();
    let (mut login, mut mailbox) = (None, None);
    if let Some((first, rest)) = words.split_first() {
        match users::user_id(&client, first).await {
            Ok(id) => {
                scope.user = Some(id);
                login = Some(first.clone());
                words = rest;
            }
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if let (Some(user), Some((first, rest))) = (scope.user, words.split_first())
        && mailboxes::canonical_name(first).is_ok()
        && let Some(id) = holds::any_mailbox_id(&client, user, first).await?
    {
        scope.mailbox = Some(id);
        mailbox = mailboxes::canonical_name(first).ok();
        words = rest;
    }
    if !words.is_empty() {
        let text = archiveopteryx::search::to_text(words);
        archiveopteryx::search::from_text(&text)?;
        scope.search = Some(text);
    }
    let held = holds::add(&mut client, &args.case, &scope, &actor()).await?;
    let what = match (&login, &mailbox) {
        (Some(l), Some(m)) => format!("{l}'s {m}"),
        (Some(l), None) => format!("{l}'s mail"),
        _ => "everyone's mail".to_string(),
    };
    let search = scope
        .search
        .as_deref()
        .map(|s| format!(" matching {s}"))
        .unwrap_or_default();
    output::done(
        ctx.json,
        &format!(
            "Hold {:?} on {what}{search}: {} now held",
            args.case,
            output::counted(held, "message", "messages")
        ),
        json!({ "case": args.case, "user": login, "mailbox": mailbox,
                "search": scope.search, "held": held }),
    );
    Ok(())
}

/// Runs `aox hold list`.
pub async fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let client = ctx.connect().await?;
    let mut listing = Listing::new(&[
        "case",
        "scope",
        "search",
        "created by",
        "created",
        "released",
        "held",
    ])
    .numeric(&[6]);
    for h in holds::list(&client).await? {
        let scope = match (&h.login, &h.mailbox) {
            (Some(l), Some(m)) => format!("{l} {m}"),
            (Some(l), None) => l.clone(),
            _ => "everyone".to_string(),
        };
        let released = h.released_at.map(|t| {
            format!(
                "{} by {}",
                when(t),
                h.released_by.clone().unwrap_or_default()
            )
        });
        listing.push(
            vec![
                h.case.clone(),
                scope,
                output::cell(h.search.as_deref()),
                h.created_by.clone(),
                when(h.created_at),
                output::cell(released.as_deref()),
                h.held.to_string(),
            ],
            json!({
                "case": h.case, "user": h.login, "mailbox": h.mailbox, "search": h.search,
                "created_by": h.created_by, "created_at": when(h.created_at),
                "released_by": h.released_by, "released_at": h.released_at.map(when),
                "held": h.held,
            }),
        );
    }
    listing.print(ctx.json);
    Ok(())
}

/// Runs `aox hold release`.
pub async fn release(ctx: &Ctx, args: ReleaseHold) -> anyhow::Result<()> {
    let mut client = ctx.connect().await?;
    holds::release(&mut client, &args.case, &actor()).await?;
    output::done(
        ctx.json,
        &format!(
            "Released hold {:?}: vacuum may purge its mail once nothing else keeps it",
            args.case
        ),
        json!({ "case": args.case }),
    );
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS` UTC.
pub fn when(t: SystemTime) -> String {
    let unix = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    let (y, m, d) = civil_from_days(unix.div_euclid(86_400));
    let s = unix.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}
