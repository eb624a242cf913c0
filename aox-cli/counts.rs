//! `show counts`.

use archiveopteryx::store::counts;
use serde_json::Value;

use crate::Ctx;
use crate::output;

/// Prints the store's counts.
pub async fn show(ctx: &Ctx) -> anyhow::Result<()> {
    let client = ctx.connect().await?;
    let c = counts::show_counts(&client).await?;
    let fields: [(&str, Value); 12] = [
        ("users", c.users.into()),
        ("mailboxes", c.mailboxes.into()),
        ("messages", c.messages.into()),
        ("mailbox_entries", c.mailbox_entries.into()),
        ("expunged_entries", c.expunged_entries.into()),
        ("bodyparts", c.bodyparts.into()),
        ("bodypart_bytes", c.bodypart_bytes.into()),
        ("message_bytes", c.message_bytes.into()),
        ("original_copies", c.original_copies.into()),
        ("original_copy_bytes", c.original_copy_bytes.into()),
        ("original_deltas", c.original_deltas.into()),
        ("original_delta_bytes", c.original_delta_bytes.into()),
    ];
    output::show(ctx.json, &fields);
    Ok(())
}
