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
