//! `aox undelete [-n] <user> <mailbox> <search…>` and `aox list deleted
//! <user> [mailbox] [search…]`: the undelete tombstones, searched with the
//! IMAP search language and restored with their flags and keywords.

use archiveopteryx::search;
use archiveopteryx::store::undelete::{self, Restorable};
use archiveopteryx::store::users::user_id;
use clap::Args;
use serde_json::json;

use crate::Ctx;
use crate::output::{self, Listing};
use crate::search::date;

/// `aox undelete [-n] <user> <mailbox> <search…>`.
#[derive(Debug, Args)]
#[command(after_help = "\
Restores what was expunged within undelete-time days (or at any age while a legal hold \
covers it), in one transaction, under new UIDs in old-UID order, with every flag and keyword \
except \\Deleted. Sessions with the mailbox selected see EXISTS. Messages that were moved \
(MOVE, RENAME INBOX) are never restored: they live on in the other mailbox. \
`aox list deleted` shows what can come back.

Example:
  aox undelete alice INBOX from bob since 1-Jan-2026")]
pub struct Undelete {
    /// Only list what would be restored; change nothing.
    #[arg(short = 'n')]
    dry_run: bool,
    /// The owner's login.
    login: String,
    /// The mailbox the messages were expunged from.
    mailbox: String,
    /// Which expunged messages, as IMAP SEARCH keys (`all`, `from bob`,
    /// `subject invoice since 1-Jan-2026`, `uid 4:9` for the old UIDs).
    #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
    search: Vec<String>,
}

/// `aox list deleted <user> [mailbox] [search…]`.
#[derive(Debug, Args)]
pub struct ListDeleted {
    /// The owner's login.
    login: String,
    /// A mailbox if the first word names one of the user's (deleted
    /// mailboxes too), then IMAP SEARCH keys; nothing lists everything.
    #[arg(num_args = 0.., allow_hyphen_values = true)]
    words: Vec<String>,
}

fn key(words: &[String]) -> anyhow::Result<archiveopteryx::search::SearchKey> {
    Ok(if words.is_empty() {
        search::everything()
    } else {
        search::from_words(words)?
    })
}

/// Runs `aox undelete`.
pub async fn run(ctx: &Ctx, args: Undelete) -> anyhow::Result<()> {
    let window = ctx.config()?.undelete_time();
    let mut client = ctx.connect().await?;
    let user = user_id(&client, &args.login).await?;
    let mailbox = match undelete::mailbox_row(&client, user, &args.mailbox).await? {
        Some((id, false)) => id,
        Some((_, true)) => anyhow::bail!(
            "mailbox {} of {} was deleted; create it again with `aox add mailbox {} {}` \
             (it keeps its UIDVALIDITY) and run the undelete again",
            args.mailbox,
            args.login,
            args.login,
            args.mailbox
        ),
        None => anyhow::bail!("{} has no mailbox named {:?}", args.login, args.mailbox),
    };
    let key = key(&args.search)?;
    let restored = undelete::undelete(
        &mut client,
        user,
        mailbox,
        &key,
        window,
        args.dry_run,
        &crate::actor(),
    )
    .await?;
    let mut listing = Listing::new(&["old uid", "new uid", "subject"]).numeric(&[0, 1]);
    for r in &restored {
        listing.push(
            vec![
                r.old_uid.to_string(),
                r.new_uid.to_string(),
                r.subject.chars().take(60).collect(),
            ],
            json!({ "old_uid": r.old_uid, "new_uid": r.new_uid, "subject": r.subject }),
        );
    }
    if ctx.json {
        listing.print(true);
        return Ok(());
    }
    listing.print(false);
    let count = output::counted(restored.len() as u64, "message", "messages");
    if args.dry_run {
        println!(
            "Would restore {count} to {}'s {} (-n: nothing changed)",
            args.login, args.mailbox
        );
    } else {
        println!("Restored {count} to {}'s {}", args.login, args.mailbox);
    }
    Ok(())
}

/// Runs `aox list deleted`.
pub async fn list(ctx: &Ctx, args: ListDeleted) -> anyhow::Result<()> {
    let window = ctx.config()?.undelete_time();
    let client = ctx.connect().await?;
    let user = user_id(&client, &args.login).await?;
    let mut words = args.words.as_slice();
    let mut mailbox = None;
    if let Some((first, rest)) = words.split_first()
        && let Ok(Some((id, _))) = undelete::mailbox_row(&client, user, first).await
    {
        mailbox = Some(id);
        words = rest;
    }
    let key = key(words)?;
    let found = undelete::list(&client, user, mailbox, &key, window).await?;
    let mut listing = Listing::new(&[
        "mailbox",
        "uid",
        "expunged at",
        "by",
        "reason",
        "subject",
        "restorable",
    ])
    .numeric(&[1]);
    for t in &found {
        let restorable = match t.restorable {
            Restorable::Yes => "yes",
            Restorable::Held => "yes (legal hold)",
            Restorable::Moved => "no: moved, still in another mailbox",
        };
        let by = t.by.clone().unwrap_or_else(|| "aox".to_string());
        listing.push(
            vec![
                t.mailbox.clone(),
                t.uid.to_string(),
                date(t.expunged_at),
                by.clone(),
                t.reason.clone(),
                t.subject.chars().take(50).collect(),
                restorable.to_string(),
            ],
            json!({
                "mailbox": t.mailbox, "uid": t.uid, "expunged_at": t.expunged_at, "by": by,
                "reason": t.reason, "subject": t.subject,
                "restorable": t.restorable != Restorable::Moved,
                "note": restorable,
            }),
        );
    }
    listing.print(ctx.json);
    Ok(())
}
