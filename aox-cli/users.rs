//! `add user`, `delete user`, `list users`, `change password`.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::{Context as _, bail};
use archiveopteryx::auth::{Secret, StoredSecrets};
use archiveopteryx::store::users;
use clap::Args;
use serde_json::json;

use crate::output::{self, Listing};
use crate::{Ctx, usage_error};

/// `aox add user [-p] <login> [<password>] <address>`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  aox add user alice s3cret alice@example.org\n  \
                        echo s3cret | aox add user -p alice alice@example.org"
)]
pub struct AddUser {
    /// Read the password (from the terminal without echo, or one line of
    /// standard input) instead of taking it as an argument, where other
    /// users could see it in ps.
    #[arg(short = 'p')]
    prompt: bool,
    /// The login name (1-255 characters, no whitespace).
    login: String,
    /// The password (omit with -p), then the primary address (local@domain).
    #[arg(value_name = "[PASSWORD] ADDRESS", num_args = 1..=2, required = true)]
    rest: Vec<String>,
}

/// `aox delete user [-f] <login>`.
#[derive(Debug, Args)]
pub struct DeleteUser {
    /// Delete the user even if it has mail, and all of that mail with it.
    #[arg(short = 'f')]
    force: bool,
    /// The login name.
    login: String,
}

/// `aox list users [pattern]`.
#[derive(Debug, Args)]
pub struct ListUsers {
    /// Only logins matching this (`*` any characters, `?` one).
    pattern: Option<String>,
}

/// `aox change password [-p] <login> [<password>]`.
#[derive(Debug, Args)]
pub struct ChangePassword {
    /// Read the new password (from the terminal without echo, or one line of
    /// standard input) instead of taking it as an argument.
    #[arg(short = 'p')]
    prompt: bool,
    /// The login name.
    login: String,
    /// The new password (omit with -p).
    password: Option<String>,
}

/// The password from the command line, or read when `-p` was given.
fn password(command: &[&str], prompt: bool, given: Option<String>) -> anyhow::Result<Secret> {
    match (prompt, given) {
        (false, Some(p)) => Ok(Secret::new(p)),
        (true, None) => read_password(),
        (true, Some(_)) => usage_error(
            command,
            "-p reads the password, so it cannot also be an argument",
        ),
        (false, None) => usage_error(
            command,
            "give the password as an argument, or -p to read it",
        ),
    }
}

/// Reads a password without echo from a terminal, or one line from a pipe
/// (scripts and tests feed it that way).
fn read_password() -> anyhow::Result<Secret> {
    let stdin = std::io::stdin();
    let line = if stdin.is_terminal() {
        rpassword::prompt_password("Password: ").context("cannot read the password")?
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if line.is_empty() {
        bail!("no password given");
    }
    Ok(Secret::new(line))
}

/// Creates a user (with INBOX and primary address) and confirms it.
pub async fn add(ctx: &Ctx, args: AddUser) -> anyhow::Result<()> {
    let mut rest = args.rest;
    let (given, address) = match (args.prompt, rest.len()) {
        (true, 1) => (None, rest.remove(0)),
        (false, 2) => {
            let address = rest.remove(1);
            (Some(rest.remove(0)), address)
        }
        (true, _) => usage_error(
            &["add", "user"],
            "with -p, give only the login and the address",
        ),
        (false, _) => usage_error(
            &["add", "user"],
            "give the login, the password and the address (or -p and no password)",
        ),
    };
    // Check what can be checked before asking for a password.
    users::validate_login(&args.login)?;
    archiveopteryx::store::aliases::validate_address(&address)?;
    let secrets = StoredSecrets::derive(&password(&["add", "user"], args.prompt, given)?)?;
    let mut client = ctx.connect().await?;
    users::add_user(&mut client, &args.login, &secrets, &address).await?;
    output::done(
        ctx.json,
        &format!(
            "Created user {} with address {address} and mailbox INBOX",
            args.login
        ),
        json!({ "login": args.login, "address": address, "mailbox": "INBOX" }),
    );
    Ok(())
}

/// Deletes a user and confirms it.
pub async fn delete(ctx: &Ctx, args: DeleteUser) -> anyhow::Result<()> {
    let mut client = ctx.connect().await?;
    let gone = users::delete_user(&mut client, &args.login, args.force).await?;
    let message = if gone.messages > 0 || gone.entries > 0 {
        format!(
            "Deleted user {} and its {}",
            args.login,
            output::counted(gone.messages, "message", "messages")
        )
    } else {
        format!("Deleted user {}", args.login)
    };
    output::done(
        ctx.json,
        &message,
        json!({ "login": args.login, "messages": gone.messages, "entries": gone.entries }),
    );
    Ok(())
}

/// Prints the users matching the pattern.
pub async fn list(ctx: &Ctx, args: ListUsers) -> anyhow::Result<()> {
    let client = ctx.connect().await?;
    let found = users::list_users(&client, args.pattern.as_deref()).await?;
    let mut listing = Listing::new(&["Login", "Address", "Mailboxes", "Messages"]).numeric(&[2, 3]);
    for u in found {
        listing.push(
            vec![u.login.clone(), output::cell(u.address.as_deref()), u.mailboxes.to_string(), u.messages.to_string()],
            json!({ "login": u.login, "address": u.address, "mailboxes": u.mailboxes, "messages": u.messages }),
        );
    }
    listing.print(ctx.json);
    Ok(())
}

/// Replaces a user's password and confirms it.
pub async fn change_password(ctx: &Ctx, args: ChangePassword) -> anyhow::Result<()> {
    let secrets = StoredSecrets::derive(&password(
        &["change", "password"],
        args.prompt,
        args.password,
    )?)?;
    let client = ctx.connect().await?;
    users::change_password(&client, &args.login, &secrets).await?;
    output::done(
        ctx.json,
        &format!("Changed the password of {}", args.login),
        json!({ "login": args.login }),
    );
    Ok(())
}
