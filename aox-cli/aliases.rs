//! `add alias`, `delete alias`, `list aliases`.

use archiveopteryx::store::aliases;
use clap::Args;
use serde_json::json;

use crate::Ctx;
use crate::output::{self, Listing};

/// `aox add alias <address> <login> [<mailbox>]`.
#[derive(Debug, Args)]
pub struct AddAlias {
    /// The address (local@domain) that should deliver to the mailbox.
    address: String,
    /// The login of the user who receives it.
    login: String,
    /// The mailbox it is delivered to (INBOX if not given).
    mailbox: Option<String>,
}

/// `aox delete alias <address>`.
#[derive(Debug, Args)]
pub struct DeleteAlias {
    /// The address.
    address: String,
}

/// `aox list aliases [pattern]`.
#[derive(Debug, Args)]
pub struct ListAliases {
    /// Only addresses matching this (`*` any characters, `?` one).
    pattern: Option<String>,
}

/// Creates an alias and confirms it.
pub async fn add(ctx: &Ctx, args: AddAlias) -> anyhow::Result<()> {
    let mut client = ctx.connect().await?;
    let alias = aliases::add_alias(
        &mut client,
        &args.address,
        &args.login,
        args.mailbox.as_deref(),
    )
    .await?;
    output::done(
        ctx.json,
        &format!(
            "Created alias {} for {}'s mailbox {}",
            alias.address, alias.login, alias.mailbox
        ),
        json!({ "address": alias.address, "login": alias.login, "mailbox": alias.mailbox }),
    );
    Ok(())
}

/// Deletes an alias and confirms it.
pub async fn delete(ctx: &Ctx, args: DeleteAlias) -> anyhow::Result<()> {
    let client = ctx.connect().await?;
    aliases::delete_alias(&client, &args.address).await?;
    output::done(
        ctx.json,
        &format!("Deleted alias {}", args.address),
        json!({ "address": args.address }),
    );
    Ok(())
}

/// Prints the aliases matching the pattern.
pub async fn list(ctx: &Ctx, args: ListAliases) -> anyhow::Result<()> {
    let client = ctx.connect().await?;
    let found = aliases::list_aliases(&client, args.pattern.as_deref()).await?;
    let mut listing = Listing::new(&["Address", "Login", "Mailbox", "Primary"]);
    for a in found {
        listing.push(
            vec![a.address.clone(), a.login.clone(), a.mailbox.clone(), if a.primary { "yes" } else { "no" }.into()],
            json!({ "address": a.address, "login": a.login, "mailbox": a.mailbox, "primary": a.primary }),
        );
    }
    listing.print(ctx.json);
    Ok(())
}
