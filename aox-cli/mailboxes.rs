//! `add mailbox`, `delete mailbox`, `list mailboxes`.

use archiveopteryx::store::mailboxes;
use clap::Args;
use serde_json::json;

use crate::Ctx;
use crate::output::{self, Listing};

/// `aox add mailbox [--special-use <attribute>] <login> <name>`.
#[derive(Debug, Args)]
pub struct AddMailbox {
    /// Mark the mailbox with an RFC 6154 attribute: \All, \Archive, \Drafts,
    /// \Flagged, \Junk, \Sent or \Trash (the backslash may be left out).
    #[arg(long, value_name = "ATTRIBUTE")]
    special_use: Option<String>,
    /// The owner's login.
    login: String,
    /// The mailbox name, with "/" between levels; missing parents are created too.
    name: String,
}

/// `aox delete mailbox [-f] <login> <name>`.
#[derive(Debug, Args)]
pub struct DeleteMailbox {
    /// Delete the mailbox even if it has messages, moving them to the
    /// expunged entries (from where they can still be undeleted).
    #[arg(short = 'f')]
    force: bool,
    /// The owner's login.
    login: String,
    /// The mailbox name.
    name: String,
}

/// `aox list mailboxes [-s] [-o <owner>] [pattern]`.
#[derive(Debug, Args)]
pub struct ListMailboxes {
    /// Also show message counts, sizes, UIDNEXT, UIDVALIDITY and HIGHESTMODSEQ.
    #[arg(short = 's')]
    sizes: bool,
    /// Only this user's mailboxes.
    #[arg(short = 'o', value_name = "LOGIN")]
    owner: Option<String>,
    /// Only names matching this (`*` any characters, `?` one).
    pattern: Option<String>,
}

/// Creates a mailbox (and its missing parents) and confirms it.
pub async fn add(ctx: &Ctx, args: AddMailbox) -> anyhow::Result<()> {
    let mut client = ctx.connect().await?;
    let added = mailboxes::add_mailbox(
        &mut client,
        &args.login,
        &args.name,
        args.special_use.as_deref(),
    )
    .await?;
    let parents: Vec<&String> = added.created.iter().filter(|n| **n != added.name).collect();
    let mut message = format!("Created mailbox {} for {}", added.name, args.login);
    if !parents.is_empty() {
        let list: Vec<&str> = parents.iter().map(|s| s.as_str()).collect();
        let noun = if list.len() == 1 { "parent" } else { "parents" };
        message.push_str(&format!(" (and its {noun} {})", list.join(", ")));
    }
    output::done(
        ctx.json,
        &message,
        json!({ "login": args.login, "mailbox": added.name, "created": added.created }),
    );
    Ok(())
}

/// Deletes a mailbox and confirms it.
pub async fn delete(ctx: &Ctx, args: DeleteMailbox) -> anyhow::Result<()> {
    let mut client = ctx.connect().await?;
    let gone = mailboxes::delete_mailbox(&mut client, &args.login, &args.name, args.force).await?;
    let mut message = format!("Deleted mailbox {} of {}", gone.name, args.login);
    if gone.expunged > 0 {
        message.push_str(&format!(
            "; {} moved to the expunged entries",
            output::counted(gone.expunged, "message", "messages")
        ));
    }
    output::done(
        ctx.json,
        &message,
        json!({ "login": args.login, "mailbox": gone.name, "expunged": gone.expunged }),
    );
    Ok(())
}

/// Prints the mailboxes matching the owner and pattern.
pub async fn list(ctx: &Ctx, args: ListMailboxes) -> anyhow::Result<()> {
    let client = ctx.connect().await?;
    let found =
        mailboxes::list_mailboxes(&client, args.owner.as_deref(), args.pattern.as_deref()).await?;
    let mut listing = if args.sizes {
        Listing::new(&[
            "Owner",
            "Name",
            "Special-use",
            "Subscribed",
            "Messages",
            "Unseen",
            "Size",
            "UIDNEXT",
            "UIDVALIDITY",
            "HIGHESTMODSEQ",
        ])
        .numeric(&[4, 5, 6, 7, 8, 9])
    } else {
        Listing::new(&["Owner", "Name", "Special-use", "Subscribed"])
    };
    for m in found {
        let mut cells = vec![
            m.owner.clone(),
            m.name.clone(),
            output::cell(m.special_use.as_deref()),
            if m.subscribed { "yes" } else { "no" }.to_string(),
        ];
        let mut object = json!({
            "owner": m.owner,
            "name": m.name,
            "special_use": m.special_use,
            "subscribed": m.subscribed,
        });
        if args.sizes {
            cells.extend(
                [
                    m.message_count,
                    m.unseen_count,
                    m.total_size,
                    m.uidnext,
                    m.uidvalidity,
                    m.highest_modseq,
                ]
                .map(|n| n.to_string()),
            );
            if let Some(o) = object.as_object_mut() {
                o.insert("messages".into(), m.message_count.into());
                o.insert("unseen".into(), m.unseen_count.into());
                o.insert("size".into(), m.total_size.into());
                o.insert("uidnext".into(), m.uidnext.into());
                o.insert("uidvalidity".into(), m.uidvalidity.into());
                o.insert("highest_modseq".into(), m.highest_modseq.into());
            }
        }
        listing.push(cells, object);
    }
    listing.print(ctx.json);
    Ok(())
}
