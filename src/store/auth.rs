//! Credential lookups for the front ends.

use tokio_postgres::GenericClient;

use super::StoreError;

/// A user as the login check sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// users.id
    pub id: i64,
    /// The login as stored.
    pub login: String,
    /// The argon2id hash; None means "no local password" (a directory user).
    pub password_hash: Option<String>,
    /// Disabled users may not log in at all.
    pub disabled: bool,
}

fn account(row: &tokio_postgres::Row) -> Account {
    Account {
        id: row.get(0),
        login: row.get(1),
        password_hash: row.get(2),
        disabled: row.get(3),
    }
}

/// The user whose login is `login` (case-insensitively).
pub async fn account_by_login(
    client: &impl GenericClient,
    login: &str,
) -> Result<Option<Account>, StoreError> {
    Ok(client
        .query_opt(
            "SELECT id, login::text, password_hash, disabled FROM users WHERE login = $1::text::citext",
            &[&login],
        )
        .await?
        .as_ref()
        .map(account))
}

/// The local account of the directory entry `dn` that logged in as
/// `login`: the one linked to that DN (so `carol` and `carol@example.org`
/// are one user), else an unlinked one whose login is `login`. A login
/// linked to another entry is not this user's.
pub async fn account_for_directory_user(
    client: &impl GenericClient,
    dn: &str,
    login: &str,
) -> Result<Option<Account>, StoreError> {
    Ok(client
        .query_opt(
            "SELECT id, login::text, password_hash, disabled FROM users \
             WHERE ldap_dn = $1 OR (login = $2::text::citext AND ldap_dn IS NULL) \
             ORDER BY ldap_dn IS NULL LIMIT 1",
            &[&dn, &login],
        )
        .await?
        .as_ref()
        .map(account))
}

/// The SCRAM-SHA-256 verifier of `login` when it exists, is enabled and has
/// one; None otherwise (the caller cannot tell which).
pub async fn scram_verifier(
    client: &impl GenericClient,
    login: &str,
) -> Result<Option<String>, StoreError> {
    let row = client
        .query_opt(
            "SELECT scram_verifier FROM users WHERE login = $1::text::citext AND NOT disabled",
            &[&login],
        )
        .await?;
    Ok(row.and_then(|r| r.get(0)))
}
