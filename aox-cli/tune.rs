//! `aox tune database mostly-writing|mostly-reading`.

use archiveopteryx::store::tune::{self, Mode};
use clap::{Args, ValueEnum};
use serde_json::json;

use crate::Ctx;
use crate::output;

/// Which workload to tune for.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Workload {
    /// A big import: drop the search indexes (rebuild them afterwards).
    MostlyWriting,
    /// Normal service: build the search indexes (CREATE INDEX CONCURRENTLY).
    MostlyReading,
}

/// Drop or rebuild the indexes only searches need.
#[derive(Debug, Args)]
pub struct TuneDatabase {
    /// Print the statements; change nothing.
    #[arg(short = 'n')]
    dry_run: bool,
    #[arg(value_enum)]
    workload: Workload,
}

/// Runs the tuning.
pub async fn run(ctx: &Ctx, args: TuneDatabase) -> anyhow::Result<()> {
    let client = ctx.connect().await?;
    let mode = match args.workload {
        Workload::MostlyWriting => Mode::MostlyWriting,
        Workload::MostlyReading => Mode::MostlyReading,
    };
    let statements = tune::tune(&client, mode, args.dry_run).await?;
    if !ctx.json {
        for s in &statements {
            println!("{s}");
        }
    }
    let message = match (statements.is_empty(), args.dry_run) {
        (true, _) => "Nothing to do: the database is already tuned so".to_string(),
        (false, true) => format!("Dry run: {} statements not run", statements.len()),
        (false, false) => format!("Ran {} statements", statements.len()),
    };
    output::done(ctx.json, &message, json!({ "statements": statements }));
    Ok(())
}
