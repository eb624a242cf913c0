//! `show schema`, `upgrade schema`, `grant privileges`: the database's
//! structure and the runtime role's rights, as opposed to its contents.

use archiveopteryx::store::privileges::{self, Change};
use archiveopteryx::store::schema::{self, REVISION, Step};
use clap::Args;
use serde_json::{Value, json};

use crate::Ctx;
use crate::output;

/// `aox upgrade schema [-n]`.
#[derive(Debug, Args)]
pub struct UpgradeSchema {
    /// Dry run: say what would be done, change nothing.
    #[arg(short = 'n')]
    dry_run: bool,
}

/// `aox grant privileges [-n]`.
#[derive(Debug, Args)]
pub struct GrantPrivileges {
    /// Dry run: print the GRANTs and REVOKEs, run none of them.
    #[arg(short = 'n')]
    dry_run: bool,
}

fn steps_json(steps: &[&Step]) -> Value {
    steps
        .iter()
        .map(|s| json!({ "revision": s.revision, "file": s.file }))
        .collect()
}

fn changes_json(changes: &[Change]) -> Value {
    changes
        .iter()
        .map(|c| Value::String(c.to_string()))
        .collect()
}

/// Prints the database's and this program's revisions and the pending steps.
pub async fn show(ctx: &Ctx) -> anyhow::Result<()> {
    // No revision check: this is the command to run when the check fails.
    let (_, client) = ctx.connect_any().await?;
    let current = schema::current_revision(&client).await?;
    // A database newer than this program has nothing pending for it.
    let pending = schema::pending(current).unwrap_or_default();
    let pending_text = if pending.is_empty() {
        "none".to_string()
    } else {
        pending
            .iter()
            .map(|s| s.file)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if ctx.json {
        output::show(
            true,
            &[
                ("database_revision", current.into()),
                ("program_revision", REVISION.into()),
                ("pending", steps_json(&pending)),
            ],
        );
    } else {
        output::show(
            false,
            &[
                (
                    "database_revision",
                    current
                        .map_or_else(|| "none (no schema)".into(), |r| r.to_string())
                        .into(),
                ),
                ("program_revision", REVISION.into()),
                ("pending_steps", pending_text.into()),
            ],
        );
    }
    Ok(())
}

/// Applies pending steps, then reconciles privileges; prints what it did.
pub async fn upgrade(ctx: &Ctx, args: UpgradeSchema) -> anyhow::Result<()> {
    let (config, mut client) = ctx.connect_any().await?;
    let steps = schema::upgrade(&mut client, args.dry_run).await?;
    let wanted = privileges::parse(privileges::LIST)?;
    // Privileges can only be planned against the schema they are for, so a
    // dry run with steps pending cannot say what the reconciliation would do.
    let changes = if args.dry_run && !steps.is_empty() {
        Vec::new()
    } else {
        privileges::plan(&client, config.db_user(), &wanted).await?
    };
    if !args.dry_run && !changes.is_empty() {
        privileges::apply(&mut client, &changes).await?;
    }
    let revision = schema::current_revision(&client).await?;

    if !ctx.json {
        let verb = if args.dry_run {
            "Would apply"
        } else {
            "Applied"
        };
        for step in &steps {
            println!("{verb} {} (revision {})", step.file, step.revision);
        }
        for change in &changes {
            println!("{change}");
        }
    }
    let message = if steps.is_empty() && changes.is_empty() {
        format!(
            "Nothing to do: the schema is at revision {} and the privileges match",
            revision.unwrap_or(0)
        )
    } else if args.dry_run {
        "Dry run: nothing was changed".to_string()
    } else {
        format!("The schema is at revision {}", revision.unwrap_or(0))
    };
    output::done(
        ctx.json,
        &message,
        json!({
            "dry_run": args.dry_run,
            "revision": revision,
            "steps": steps_json(&steps),
            "privileges": changes_json(&changes),
        }),
    );
    Ok(())
}

/// Prints (and unless -n, runs) the GRANTs and REVOKEs the list calls for.
pub async fn grant(ctx: &Ctx, args: GrantPrivileges) -> anyhow::Result<()> {
    let (config, mut client) = ctx.connect_any().await?;
    // The list describes this program's schema; reconciling an older one
    // would revoke or fail on tables it does not have yet.
    schema::check(&client).await?;
    let wanted = privileges::parse(privileges::LIST)?;
    let changes = privileges::plan(&client, config.db_user(), &wanted).await?;
    if !args.dry_run && !changes.is_empty() {
        privileges::apply(&mut client, &changes).await?;
    }
    if !ctx.json {
        for change in &changes {
            println!("{change}");
        }
    }
    let message = match (changes.len(), args.dry_run) {
        (0, _) => format!(
            "Nothing to change: {} has exactly the listed privileges",
            config.db_user()
        ),
        (n, true) => format!(
            "Dry run: {} not made",
            output::counted(n as u64, "change", "changes")
        ),
        (n, false) => format!("Made {}", output::counted(n as u64, "change", "changes")),
    };
    output::done(
        ctx.json,
        &message,
        json!({ "dry_run": args.dry_run, "role": config.db_user(), "changes": changes_json(&changes) }),
    );
    Ok(())
}
