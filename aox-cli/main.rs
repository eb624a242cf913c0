//! `aox`: the administrator's command for an Archiveopteryx store.
//!
//! Commands read like Archiveopteryx's: a verb, a noun, then arguments
//! (`aox add user alice secret alice@example.org`). Everything that touches
//! the database connects as the owner role, since admin work deletes and
//! reconciles what the runtime role may not.

mod aliases;
mod audit;
mod config;
mod counts;
mod export;
mod holds;
mod import;
mod mailboxes;
mod output;
mod retention;
mod schema;
mod search;
mod tune;
mod undelete;
mod users;
mod vacuum;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use archiveopteryx::config::{Config, DEFAULT_CONFIG_FILE};
use archiveopteryx::store::{self, Db, DbRole};
use clap::{Parser, Subcommand};

/// Manage an Archiveopteryx mail store: users, mailboxes, aliases, schema,
/// undelete, retention and the audit trail.
#[derive(Debug, Parser)]
#[command(name = "aox", version, propagate_version = true)]
struct Cli {
    /// The configuration file; aoxsuper.conf next to it supplies the owner's password.
    #[arg(short, long, global = true, value_name = "FILE", default_value = DEFAULT_CONFIG_FILE)]
    config: PathBuf,
    /// Machine-readable output: a JSON array for lists, an object otherwise.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Debug, Subcommand)]
enum Verb {
    /// Create a user, mailbox or alias.
    #[command(subcommand)]
    Add(Add),
    /// Delete a user, mailbox or alias.
    #[command(subcommand)]
    Delete(Delete),
    /// List users, mailboxes or aliases.
    #[command(subcommand)]
    List(List),
    /// Change a user's password.
    #[command(subcommand)]
    Change(Change),
    /// Show store counts or the schema revision.
    #[command(subcommand)]
    Show(Show),
    /// Upgrade the database schema.
    #[command(subcommand)]
    Upgrade(Upgrade),
    /// Reconcile the runtime role's privileges with schema/privileges.
    #[command(subcommand)]
    Grant(Grant),
    /// Check the configuration.
    #[command(subcommand)]
    Check(Check),
    /// Import mbox files, Maildirs or directories of .eml files into a mailbox.
    Import(import::Import),
    /// Export a mailbox as mbox or Maildir.
    Export(export::Export),
    /// Search the archive with IMAP SEARCH keys.
    Search(search::Search),
    /// Tune the database for a workload.
    #[command(subcommand)]
    Tune(Tune),
    /// Restore expunged messages of a mailbox, with their flags and keywords.
    Undelete(undelete::Undelete),
    /// Make EXPUNGE keep mail (a retention policy).
    #[command(subcommand)]
    Retain(Retain),
    /// Remove a retention policy.
    #[command(subcommand)]
    Remove(Remove),
    /// Legal holds: add, list, release.
    #[command(subcommand)]
    Hold(Hold),
    /// Purge what retention, undelete-time and legal holds allow.
    Vacuum(vacuum::Vacuum),
}

#[derive(Debug, Subcommand)]
enum Retain {
    /// Keep matching mail from EXPUNGE for a number of days after it arrived, or forever.
    Mail(retention::RetainMail),
}

#[derive(Debug, Subcommand)]
enum Remove {
    /// Remove a retention policy by id.
    Retention(retention::RemoveRetention),
}

#[derive(Debug, Subcommand)]
enum Hold {
    /// Hold mail of everyone, a user or a mailbox (optionally matching a search).
    Add(holds::AddHold),
    /// List holds: case, scope, search, who and when, how many messages.
    List,
    /// Release a hold (its record stays).
    Release(holds::ReleaseHold),
}

#[derive(Debug, Subcommand)]
enum Tune {
    /// Drop (mostly-writing) or rebuild (mostly-reading) the indexes only searches need.
    Database(tune::TuneDatabase),
}

#[derive(Debug, Subcommand)]
enum Add {
    /// Create a user with an INBOX and a primary address delivering to it.
    User(users::AddUser),
    /// Create a mailbox (and any missing parents).
    Mailbox(mailboxes::AddMailbox),
    /// Make an address deliver to a user's mailbox.
    Alias(aliases::AddAlias),
}

#[derive(Debug, Subcommand)]
enum Delete {
    /// Delete a user and everything it owns.
    User(users::DeleteUser),
    /// Delete a mailbox.
    Mailbox(mailboxes::DeleteMailbox),
    /// Delete an alias.
    Alias(aliases::DeleteAlias),
    /// Record a policy that lets vacuum delete matching mail older than a number of days.
    Mail(retention::DeleteMail),
}

#[derive(Debug, Subcommand)]
enum List {
    /// List users, with their primary address and how much mail they have.
    Users(users::ListUsers),
    /// List mailboxes.
    Mailboxes(mailboxes::ListMailboxes),
    /// List aliases.
    Aliases(aliases::ListAliases),
    /// List expunged messages that can still be undeleted.
    Deleted(undelete::ListDeleted),
}

#[derive(Debug, Subcommand)]
enum Change {
    /// Set a user's password.
    Password(users::ChangePassword),
}

#[derive(Debug, Subcommand)]
enum Show {
    /// Count users, mailboxes, messages and bytes (exact, so slow on a big store).
    Counts,
    /// Show the database's schema revision, this program's, and what an upgrade would run.
    Schema,
    /// Show how a search is parsed and the SQL it becomes.
    Search(search::ShowSearch),
    /// Show the retention policies.
    Retention,
    /// Show the audit trail: deliveries, expunges, moves, undeletes, purges, holds.
    Audit(audit::ShowAudit),
}

#[derive(Debug, Subcommand)]
enum Upgrade {
    /// Apply pending schema steps, then reconcile the runtime role's privileges.
    Schema(schema::UpgradeSchema),
}

#[derive(Debug, Subcommand)]
enum Grant {
    /// Grant what schema/privileges lists and revoke everything else.
    Privileges(schema::GrantPrivileges),
}

#[derive(Debug, Subcommand)]
enum Check {
    /// Read the configuration (and aoxsuper.conf beside it) and report problems.
    Config,
}

/// What every command gets: where the configuration is and how to print.
pub struct Ctx {
    /// The `-c` file.
    pub config_path: PathBuf,
    /// `--json`.
    pub json: bool,
}

impl Ctx {
    /// The configuration, with aoxsuper.conf merged in.
    pub fn config(&self) -> anyhow::Result<Config> {
        Ok(archiveopteryx::config::load(&self.config_path)?)
    }

    /// A connection as the owner role, without looking at the schema.
    pub async fn connect_any(&self) -> anyhow::Result<(Config, tokio_postgres::Client)> {
        let config = self.config()?;
        let client = store::connect(&Db::from_config(&config, DbRole::Owner))
            .await
            .with_context(|| {
                format!(
                    "cannot connect to database {} at {}:{} as {}",
                    config.db_name(),
                    config.db_address(),
                    config.db_port(),
                    config.db_owner()
                )
            })?;
        Ok((config, client))
    }

    /// A connection as the owner role to a database whose schema this
    /// program speaks (anything else says to upgrade first).
    pub async fn connect(&self) -> anyhow::Result<tokio_postgres::Client> {
        let (_, client) = self.connect_any().await?;
        store::schema::check(&client).await?;
        Ok(client)
    }
}

// Two workers: `aox import` stores batches on two connections at once.
#[tokio::main(worker_threads = 2)]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = Ctx {
        config_path: cli.config,
        json: cli.json,
    };
    match run(&ctx, cli.verb).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aox: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

async fn run(ctx: &Ctx, verb: Verb) -> anyhow::Result<()> {
    match verb {
        Verb::Add(Add::User(a)) => users::add(ctx, a).await,
        Verb::Add(Add::Mailbox(a)) => mailboxes::add(ctx, a).await,
        Verb::Add(Add::Alias(a)) => aliases::add(ctx, a).await,
        Verb::Delete(Delete::User(a)) => users::delete(ctx, a).await,
        Verb::Delete(Delete::Mailbox(a)) => mailboxes::delete(ctx, a).await,
        Verb::Delete(Delete::Alias(a)) => aliases::delete(ctx, a).await,
        Verb::List(List::Users(a)) => users::list(ctx, a).await,
        Verb::List(List::Mailboxes(a)) => mailboxes::list(ctx, a).await,
        Verb::List(List::Aliases(a)) => aliases::list(ctx, a).await,
        Verb::Change(Change::Password(a)) => users::change_password(ctx, a).await,
        Verb::Show(Show::Counts) => counts::show(ctx).await,
        Verb::Show(Show::Schema) => schema::show(ctx).await,
        Verb::Show(Show::Search(a)) => search::show(ctx, a),
        Verb::Upgrade(Upgrade::Schema(a)) => schema::upgrade(ctx, a).await,
        Verb::Grant(Grant::Privileges(a)) => schema::grant(ctx, a).await,
        Verb::Check(Check::Config) => config::check(ctx),
        Verb::Import(a) => import::run(ctx, a).await,
        Verb::Export(a) => export::run(ctx, a).await,
        Verb::Search(a) => search::run(ctx, a).await,
        Verb::Tune(Tune::Database(a)) => tune::run(ctx, a).await,
        Verb::Undelete(a) => undelete::run(ctx, a).await,
        Verb::List(List::Deleted(a)) => undelete::list(ctx, a).await,
        Verb::Retain(Retain::Mail(a)) => retention::retain(ctx, a).await,
        Verb::Delete(Delete::Mail(a)) => retention::delete(ctx, a).await,
        Verb::Show(Show::Retention) => retention::show(ctx).await,
        Verb::Remove(Remove::Retention(a)) => retention::remove(ctx, a).await,
        Verb::Show(Show::Audit(a)) => audit::show(ctx, a).await,
        Verb::Hold(Hold::Add(a)) => holds::add(ctx, a).await,
        Verb::Hold(Hold::List) => holds::list(ctx).await,
        Verb::Hold(Hold::Release(a)) => holds::release(ctx, a).await,
        Verb::Vacuum(a) => vacuum::run(ctx, a).await,
    }
}

/// Who runs this command, for legal_holds and the audit log: the login
/// behind sudo, else the OS user.
pub fn actor() -> String {
    let name = ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()));
    match name {
        Some(n) => format!("aox:{n}"),
        // SAFETY: getuid has no preconditions and cannot fail.
        None => format!("aox:uid {}", unsafe { libc::getuid() }),
    }
}

/// The error and its causes on one line. Wrappers such as tokio-postgres's
/// repeat their source's text ("db error: db error: …"); each piece is shown once.
fn describe(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.ends_with(&text) || line.contains(&format!("{text}: ")) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// A usage error found after parsing, reported like clap's own (status 2),
/// with the usage line of `aox <path…>`.
fn usage_error(path: &[&str], message: impl std::fmt::Display) -> ! {
    use clap::CommandFactory as _;
    let mut root = Cli::command();
    // Building fills in the subcommands' bin names ("aox add user").
    root.build();
    let mut command = root;
    for name in path {
        match command.find_subcommand(name) {
            Some(sub) => command = sub.clone(),
            None => break,
        }
    }
    command
        .error(clap::error::ErrorKind::ArgumentConflict, message)
        .exit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }

    #[test]
    fn repeated_causes_are_shown_once() {
        let e = anyhow::anyhow!("db error")
            .context("database: db error")
            .context("cannot connect");
        assert_eq!(describe(&e), "cannot connect: database: db error");
    }
}
