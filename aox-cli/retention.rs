//! Retention policies: `aox retain mail`, `aox delete mail`, `aox show
//! retention`, `aox remove retention`.
//!
//! The scope is given with options, not by position, so a search word can
//! never be mistaken for a login or a mailbox name (`aox retain mail 365
//! from boss` is everyone's mail from the boss, not a user called "from").

use archiveopteryx::store::retention::{self, Action, NewPolicy};
use clap::Args;
use serde_json::json;

use crate::Ctx;
use crate::output::{self, Listing, cell};
use crate::search::date;

/// `aox retain mail <days|forever> [--user LOGIN [--mailbox NAME]] [search…]`.
#[derive(Debug, Args)]
#[command(after_help = "\
EXPUNGE keeps matching mail: IMAP EXPUNGE, UID EXPUNGE and CLOSE leave it in the mailbox \
(still \\Deleted) and say so with an untagged `NO [CANNOT] n messages kept by retention policy`; \
POP3 QUIT says how many it kept; IMAP DELETE of a mailbox holding such mail is refused. \
MOVE is not stopped: the message lives on in the target mailbox.

Examples:
  aox retain mail forever                              everyone's mail, forever
  aox retain mail 365 --user alice                     alice's mail, for a year after it arrived
  aox retain mail 3650 --user alice --mailbox Invoices from billing@example.com")]
pub struct RetainMail {
    /// How long after its internal date mail is kept: a number of days, or `forever`.
    #[arg(value_name = "DAYS|forever")]
    days: String,
    /// Only this user's mail (default: everyone's).
    #[arg(short = 'u', long = "user", value_name = "LOGIN")]
    login: Option<String>,
    /// Only this mailbox of that user (needs --user).
    #[arg(short = 'm', long, value_name = "NAME", requires = "login")]
    mailbox: Option<String>,
    /// Only mail matching these IMAP SEARCH keys (default: all mail).
    #[arg(num_args = 0.., allow_hyphen_values = true, value_name = "SEARCH")]
    search: Vec<String>,
}

/// `aox delete mail <days> [--user LOGIN [--mailbox NAME]] [search…]`.
#[derive(Debug, Args)]
#[command(after_help = "\
This only records the policy; `aox vacuum` expunges the matching mail whose internal date is \
more than DAYS days ago. Retain policies win over delete policies.

Example:
  aox delete mail 30 --user alice --mailbox Junk")]
pub struct DeleteMail {
    /// Mail older than this many days (by internal date) is expunged by vacuum.
    days: u32,
    /// Only this user's mail (default: everyone's).
    #[arg(short = 'u', long = "user", value_name = "LOGIN")]
    login: Option<String>,
    /// Only this mailbox of that user (needs --user).
    #[arg(short = 'm', long, value_name = "NAME", requires = "login")]
    mailbox: Option<String>,
    /// Only mail matching these IMAP SEARCH keys (default: all mail).
    #[arg(num_args = 0.., allow_hyphen_values = true, value_name = "SEARCH")]
    search: Vec<String>,
}

/// `aox remove retention <id>`.
#[derive(Debug, Args)]
pub struct RemoveRetention {
    /// The policy's id, as `aox show retention` lists it.
    id: i64,
}

fn days(text: &str) -> anyhow::Result<Option<u32>> {
    if text.eq_ignore_ascii_case("forever") {
        return Ok(None);
    }
    text.parse::<u32>()
        .map(Some)
        .map_err(|_| anyhow::anyhow!("expected a number of days or `forever`, got {text:?}"))
}

async fn add(ctx: &Ctx, policy: NewPolicy<'_>) -> anyhow::Result<()> {
    let client = ctx.connect().await?;
    let id = retention::add(&client, &policy).await?;
    let scope = match (policy.login, policy.mailbox) {
        (Some(l), Some(m)) => format!("{l}'s {m}"),
        (Some(l), None) => format!("{l}'s mail"),
        _ => "everyone's mail".to_string(),
    };
    let period = match policy.days {
        None => "forever".to_string(),
        Some(d) => format!("{d} days"),
    };
    let what = if policy.search.is_empty() {
        String::new()
    } else {
        format!(
            " matching {}",
            archiveopteryx::search::to_text(policy.search)
        )
    };
    let message = match policy.action {
        Action::Retain => format!("Policy {id}: keep {scope}{what} for {period}"),
        Action::Delete => format!("Policy {id}: vacuum deletes {scope}{what} older than {period}"),
    };
    output::done(ctx.json, &message, json!({ "id": id }));
    Ok(())
}

/// Runs `aox retain mail`.
pub async fn retain(ctx: &Ctx, args: RetainMail) -> anyhow::Result<()> {
    let actor = crate::actor();
    add(
        ctx,
        NewPolicy {
            action: Action::Retain,
            days: days(&args.days)?,
            login: args.login.as_deref(),
            mailbox: args.mailbox.as_deref(),
            search: &args.search,
            created_by: &actor,
        },
    )
    .await
}

/// Runs `aox delete mail`.
pub async fn delete(ctx: &Ctx, args: DeleteMail) -> anyhow::Result<()> {
    let actor = crate::actor();
    add(
        ctx,
        NewPolicy {
            action: Action::Delete,
            days: Some(args.days),
            login: args.login.as_deref(),
            mailbox: args.mailbox.as_deref(),
            search: &args.search,
            created_by: &actor,
        },
    )
    .await
}

/// Runs `aox show retention`.
pub async fn show(ctx: &Ctx) -> anyhow::Result<()> {
    let client = ctx.connect().await?;
    let mut listing = Listing::new(&[
        "id", "action", "days", "user", "mailbox", "search", "created", "by",
    ])
    .numeric(&[0, 2]);
    for p in retention::list(&client).await? {
        let days = p
            .days
            .map_or_else(|| "forever".to_string(), |d| d.to_string());
        listing.push(
            vec![
                p.id.to_string(),
                p.action.clone(),
                days,
                cell(p.user.as_deref()),
                cell(p.mailbox.as_deref()),
                cell(p.search.as_deref()),
                date(p.created_at),
                p.created_by.clone(),
            ],
            json!({
                "id": p.id, "action": p.action, "days": p.days, "user": p.user,
                "mailbox": p.mailbox, "search": p.search, "created_at": p.created_at,
                "created_by": p.created_by,
            }),
        );
    }
    listing.print(ctx.json);
    Ok(())
}

/// Runs `aox remove retention`.
pub async fn remove(ctx: &Ctx, args: RemoveRetention) -> anyhow::Result<()> {
    let client = ctx.connect().await?;
    retention::remove(&client, args.id).await?;
    output::done(
        ctx.json,
        &format!("Removed retention policy {}", args.id),
        json!({ "id": args.id }),
    );
    Ok(())
}
