//! Accounts made at first login for directory (LDAP) users, when
//! `ldap-auto-provision` is on.

use tokio_postgres::GenericClient;

use super::StoreError;
use super::aliases::validate_address;
use super::auth::Account;
use super::users::validate_login;

/// Creates `login` for the directory entry `dn` in one transaction: no local
/// password (NULL secrets, so only the directory can let it in), linked to
/// `dn`, with an INBOX, and with the directory's `mail` address as its
/// primary alias when that address is well-formed and not already someone's
/// (so LMTP can deliver to the new user). Conflict when the login was taken
/// meanwhile, by a concurrent first login or an administrator.
pub async fn provision_directory_user(
    client: &mut impl GenericClient,
    login: &str,
    dn: &str,
    mail: Option<&str>,
) -> Result<Account, StoreError> {
    validate_login(login)?;
    let tx = client.transaction().await?;
    let Some(row) = tx
        .query_opt(
            "INSERT INTO users (login, ldap_dn) VALUES ($1, $2) \
             ON CONFLICT (login) DO NOTHING RETURNING id, login::text",
            &[&login, &dn],
        )
        .await?
    else {
        return Err(StoreError::Conflict(format!(
            "user {login:?} already exists"
        )));
    };
    let (id, stored_login): (i64, String) = (row.get(0), row.get(1));
    let inbox: i64 = tx
        .query_one(
            "INSERT INTO mailboxes (user_id, name, subscribed) VALUES ($1, 'INBOX', true) RETURNING id",
            &[&id],
        )
        .await?
        .get(0);
    if let Some(address) = mail.filter(|a| validate_address(a).is_ok()) {
        tx.execute(
            "INSERT INTO aliases (address, user_id, mailbox_id, is_primary) VALUES ($1, $2, $3, true) \
             ON CONFLICT DO NOTHING",
            &[&address, &id, &inbox],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Account {
        id,
        login: stored_login,
        password_hash: None,
        disabled: false,
    })
}
