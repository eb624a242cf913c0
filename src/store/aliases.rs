//! Aliases: the delivery routing table from an address to one user's mailbox.

use tokio_postgres::GenericClient;

use super::StoreError;
use super::mailboxes::canonical_name;
use super::users::{is_unique_violation, like_pattern, user_id};

/// One row of `aox list aliases`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasInfo {
    /// The address, as stored (addresses compare case-insensitively).
    pub address: String,
    /// The login of the user it delivers to.
    pub login: String,
    /// The mailbox it delivers to.
    pub mailbox: String,
    /// Whether this is the user's primary address.
    pub primary: bool,
}

/// Checks an address: exactly one `@` with something on both sides, and no
/// whitespace or control characters (which no SMTP path can carry unquoted).
pub fn validate_address(address: &str) -> Result<(), StoreError> {
    let bad = |why: &str| StoreError::Invalid(format!("address {address:?} {why}"));
    if address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("contains whitespace or control characters"));
    }
    match address.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(())
        }
        _ => Err(bad("is not of the form local@domain")),
    }
}

fn alias_exists(address: &str) -> StoreError {
    StoreError::Conflict(format!("alias {address:?} already exists"))
}

/// Makes `address` deliver to `login`'s mailbox `mailbox` (INBOX when None).
/// Conflict if the address is taken; NotFound if the user or mailbox is not there.
pub async fn add_alias(
    client: &mut impl GenericClient,
    address: &str,
    login: &str,
    mailbox: Option<&str>,
) -> Result<AliasInfo, StoreError> {
    validate_address(address)?;
    let name = canonical_name(mailbox.unwrap_or("INBOX"))?;
    let tx = client.transaction().await?;
    if tx
        .query_opt("SELECT 1 FROM aliases WHERE address = $1", &[&address])
        .await?
        .is_some()
    {
        return Err(alias_exists(address));
    }
    let user = user_id(&tx, login).await?;
    // FOR SHARE: `delete mailbox` locks the row FOR UPDATE before checking
    // for aliases, so it cannot delete the mailbox under a new alias.
    let mailbox_id: i64 = tx
        .query_opt(
            "SELECT id FROM mailboxes WHERE user_id = $1 AND name = $2 AND NOT deleted FOR SHARE",
            &[&user, &name],
        )
        .await?
        .map(|r| r.get(0))
        .ok_or_else(|| StoreError::NotFound(format!("{login} has no mailbox named {name:?}")))?;
    // The primary key settles a concurrent add of the same address.
    tx.execute(
        "INSERT INTO aliases (address, user_id, mailbox_id) VALUES ($1, $2, $3)",
        &[&address, &user, &mailbox_id],
    )
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            alias_exists(address)
        } else {
            e.into()
        }
    })?;
    tx.commit().await?;
    Ok(AliasInfo {
        address: address.to_string(),
        login: login.to_string(),
        mailbox: name,
        primary: false,
    })
}

/// Removes `address`. NotFound if there is no such alias.
pub async fn delete_alias(client: &impl GenericClient, address: &str) -> Result<(), StoreError> {
    let n = client
        .execute("DELETE FROM aliases WHERE address = $1", &[&address])
        .await?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("no alias {address:?}")));
    }
    Ok(())
}

/// Aliases whose address matches `pattern` (aox wildcards; None: all), by address.
pub async fn list_aliases(
    client: &impl GenericClient,
    pattern: Option<&str>,
) -> Result<Vec<AliasInfo>, StoreError> {
    let like = like_pattern(pattern.unwrap_or("*"));
    let rows = client
        .query(
            "SELECT a.address::text, u.login::text, m.name, a.is_primary \
             FROM aliases a JOIN users u ON u.id = a.user_id \
             JOIN mailboxes m ON m.user_id = a.user_id AND m.id = a.mailbox_id \
             WHERE a.address LIKE $1 ORDER BY lower(a.address::text)",
            &[&like],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| AliasInfo {
            address: r.get(0),
            login: r.get(1),
            mailbox: r.get(2),
            primary: r.get(3),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_need_one_at_with_both_sides() {
        assert!(validate_address("a@b").is_ok());
        assert!(validate_address("alice@example.org").is_ok());
        for bad in ["", "a", "@b", "a@", "a@b@c", "a b@c", "a@b\n", "a\t@b"] {
            assert!(validate_address(bad).is_err(), "{bad:?}");
        }
        let e = validate_address("nope")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("\"nope\""), "{e}");
    }
}
