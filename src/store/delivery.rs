//! Delivery: which mailbox an address delivers to, and storing one message
//! for many recipients (LMTP, RFC 2033) in one transaction.

use tokio_postgres::GenericClient;

use super::StoreError;
use super::inject::{NewMessage, Placed, inject_many};

/// Where an address delivers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    /// The user.
    pub user: i64,
    /// The mailbox.
    pub mailbox: i64,
}

/// `user+tag@domain` without its tag (`user@domain`), when the local part
/// has a `+` after at least one character; `None` otherwise.
pub fn without_subaddress(address: &str) -> Option<String> {
    let (local, domain) = address.rsplit_once('@')?;
    let (user, _tag) = local.split_once('+')?;
    (!user.is_empty()).then(|| format!("{user}@{domain}"))
}

/// The mailbox `address` delivers to: an alias (addresses compare
/// case-insensitively, as citext) whose user is enabled and whose mailbox
/// exists. With `subaddressing`, an address that is not an alias itself is
/// tried again without its `+tag`, so an explicit alias `a+b@x` wins over
/// `a@x`. `None` when nothing matches.
pub async fn resolve(
    client: &impl GenericClient,
    address: &str,
    subaddressing: bool,
) -> Result<Option<Target>, StoreError> {
    let mut candidates = vec![address.to_string()];
    if subaddressing && let Some(plain) = without_subaddress(address) {
        candidates.push(plain);
    }
    let row = client
        .query_opt(
            "SELECT a.user_id, a.mailbox_id FROM unnest($1::text[]) WITH ORDINALITY AS c(address, ord) \
             JOIN aliases a ON a.address = c.address::citext \
             JOIN users u ON u.id = a.user_id AND NOT u.disabled \
             JOIN mailboxes m ON m.user_id = a.user_id AND m.id = a.mailbox_id AND NOT m.deleted \
             ORDER BY c.ord LIMIT 1",
            &[&candidates],
        )
        .await?;
    Ok(row.map(|r| Target {
        user: r.get(0),
        mailbox: r.get(1),
    }))
}

/// Stores `message` once for all `targets` in one transaction (see
/// [`inject_many`]); one answer per target, in order, `None` for a mailbox
/// deleted since it was resolved. Returns only after the commit.
pub async fn deliver(
    client: &mut tokio_postgres::Client,
    targets: &[Target],
    message: &NewMessage,
) -> Result<Vec<Option<Placed>>, StoreError> {
    let pairs: Vec<(i64, i64)> = targets.iter().map(|t| (t.user, t.mailbox)).collect();
    inject_many(client, &pairs, message).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subaddress_tag_is_dropped_from_the_local_part() {
        assert_eq!(
            without_subaddress("alice+lists@example.org").as_deref(),
            Some("alice@example.org")
        );
        assert_eq!(
            without_subaddress("alice+a+b@example.org").as_deref(),
            Some("alice@example.org")
        );
        assert_eq!(without_subaddress("alice@example.org"), None);
        assert_eq!(without_subaddress("+tag@example.org"), None);
        assert_eq!(without_subaddress("no-at-sign+x"), None);
    }
}
