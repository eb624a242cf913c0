//! Credential lookups for the front ends.

use tokio_postgres::GenericClient;

use super::StoreError;
use crate::auth::{Secret, password::verify_password};

/// True when `login` exists, is enabled, has a local password and `password`
/// matches it. Unknown users and wrong passwords are indistinguishable.
pub async fn check_password(
    client: &impl GenericClient,
    login: &str,
    password: &Secret,
) -> Result<bool, StoreError> {
    let row = client
        .query_opt(
            "SELECT password_hash FROM users WHERE login = $1::text::citext AND NOT disabled",
            &[&login],
        )
        .await?;
    let hash: Option<String> = row.and_then(|r| r.get(0));
    Ok(hash.is_some_and(|h| verify_password(password, &h)))
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
