//! `aox show audit [user] [--since <date>]`: the audit trail.

use archiveopteryx::store::audit;
use archiveopteryx::store::users::user_id;
use clap::Args;
use serde_json::json;

use crate::Ctx;
use crate::output::{Listing, cell};
use crate::search::date;

/// `aox show audit [user] [--since <date>]`.
#[derive(Debug, Args)]
pub struct ShowAudit {
    /// Only rows about this user's mail.
    login: Option<String>,
    /// Only rows at or after this time: a date (`2026-01-31`, midnight UTC
    /// when no zone is given) or a timestamp (`"2026-01-31 12:00+01"`).
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
}

/// Runs `aox show audit`.
pub async fn show(ctx: &Ctx, args: ShowAudit) -> anyhow::Result<()> {
    let client = ctx.connect().await?;
    // A date without a zone means UTC, whatever the server's TimeZone.
    client.batch_execute("SET TIME ZONE 'UTC'").await?;
    let user = match &args.login {
        Some(l) => Some(user_id(&client, l).await?),
        None => None,
    };
    let rows = audit::list(&client, user, args.since.as_deref()).await?;
    let mut listing = Listing::new(&[
        "at", "actor", "action", "user", "mailbox", "uid", "sha256", "detail",
    ])
    .numeric(&[5]);
    for r in &rows {
        listing.push(
            vec![
                date(r.at),
                r.actor.clone(),
                r.action.clone(),
                cell(r.user.as_deref()),
                cell(r.mailbox.as_deref()),
                r.uid.map_or_else(|| "-".to_string(), |u| u.to_string()),
                r.raw_sha256
                    .as_deref()
                    .map_or_else(|| "-".to_string(), |h| h.chars().take(16).collect()),
                cell(r.detail.as_deref()),
            ],
            json!({
                "id": r.id, "at": r.at, "actor": r.actor, "action": r.action, "user": r.user,
                "mailbox": r.mailbox, "uid": r.uid, "raw_sha256": r.raw_sha256, "detail": r.detail,
            }),
        );
    }
    listing.print(ctx.json);
    Ok(())
}
