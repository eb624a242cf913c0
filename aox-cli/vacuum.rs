//! `aox vacuum [-n] [--undelete-time DAYS]`: applies the 'delete' retention
//! policies, purges tombstones past undelete-time (except held mail), then
//! messages and body parts nothing refers to any more. For a nightly cron;
//! safe while the server delivers and serves (see store::vacuum).

use archiveopteryx::store::vacuum::{self, Options};
use clap::Args;
use serde_json::json;

use crate::output::Listing;
use crate::{Ctx, actor};

/// Purge what undelete-time, retention policies and holds allow.
#[derive(Debug, Args)]
pub struct Vacuum {
    /// Report what would be removed; change nothing.
    #[arg(short = 'n')]
    dry_run: bool,
    /// Days an expunged message stays restorable, for this run (default: the
    /// configured undelete-time).
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(0..=36500))]
    undelete_time: Option<u32>,
    /// Rows per transaction: smaller batches hold locks for less time.
    #[arg(long, value_name = "ROWS", default_value_t = 5000,
          value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    batch: i64,
    /// Percent of the time the vacuum works: after each batch it rests in
    /// proportion (50: as long as the batch took; 100: never), leaving the
    /// disk to sessions on a server whose reads suffer from its writes.
    #[arg(long, value_name = "PERCENT", default_value_t = 100,
          value_parser = clap::value_parser!(u8).range(1..=100))]
    duty: u8,
}

/// Runs the vacuum.
pub async fn run(ctx: &Ctx, args: Vacuum) -> anyhow::Result<()> {
    let config = ctx.config()?;
    let mut client = ctx.connect().await?;
    let options = Options {
        undelete_days: args.undelete_time.unwrap_or_else(|| config.undelete_time()),
        dry_run: args.dry_run,
        batch: args.batch,
        duty: args.duty,
        actor: actor(),
    };
    let r = vacuum::run(&mut client, &options).await?;
    for e in &r.policy_errors {
        eprintln!("aox: not applied: {e}");
    }
    if ctx.json {
        println!(
            "{}",
            json!({
                "dry_run": args.dry_run, "undelete_time": options.undelete_days,
                "newly_held": r.newly_held, "retention_expunged": r.retention_expunged,
                "tombstones": r.tombstones, "messages": r.messages, "parts": r.parts,
                "bytes": r.bytes, "skipped_batches": r.skipped_batches,
                "policy_errors": r.policy_errors,
            })
        );
        return Ok(());
    }
    let verb = if args.dry_run { "would be" } else { "were" };
    println!(
        "{} (undelete-time {} days):",
        if args.dry_run {
            "Dry run, nothing changed"
        } else {
            "Vacuumed"
        },
        options.undelete_days
    );
    let mut listing = Listing::new(&["what", "count"]).numeric(&[1]);
    for (what, n) in [
        (
            format!("messages newly held (legal holds) {verb}"),
            r.newly_held,
        ),
        (
            format!("entries expunged by retention policies {verb}"),
            r.retention_expunged,
        ),
        (format!("tombstones {verb} purged"), r.tombstones),
        (format!("messages {verb} deleted"), r.messages),
        (format!("body parts {verb} deleted"), r.parts),
        (format!("bytes {verb} freed"), r.bytes),
    ] {
        listing.push(vec![what, n.to_string()], json!({}));
    }
    if r.skipped_batches > 0 {
        listing.push(
            vec![
                "batches left for next time (in use meanwhile)".into(),
                r.skipped_batches.to_string(),
            ],
            json!({}),
        );
    }
    listing.print(false);
    Ok(())
}
