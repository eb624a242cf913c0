//! `check config`: needs no database, so it works before one exists.

use serde_json::json;

use crate::Ctx;
use crate::output;

/// Loads the configuration; says "<file>: ok" or fails with the error.
pub fn check(ctx: &Ctx) -> anyhow::Result<()> {
    // The error already names the file and line; main prints it and exits 1.
    let config = ctx.config()?;
    // Settings that parse but cannot work together (LDAP) are errors too.
    archiveopteryx::auth::ldap::check_config(&config)
        .map_err(|e| anyhow::anyhow!("{}: {e}", ctx.config_path.display()))?;
    let file = ctx.config_path.display().to_string();
    output::done(ctx.json, &format!("{file}: ok"), json!({ "file": file }));
    Ok(())
}
