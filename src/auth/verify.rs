//! The one check of a cleartext login and password that IMAP LOGIN, SASL
//! PLAIN and POP3 USER/PASS share: a user with a local password is checked
//! against its hash and never against the directory; anyone else, when LDAP
//! is configured, against the directory (and provisioned on first login
//! when `ldap-auto-provision` is on).

use super::Secret;
use super::ldap::{self, LdapSettings, LdapVerdict};
use super::password::verify_password;
use crate::config::Config;
use crate::store::StoreError;
use crate::store::auth::{Account, account_by_login, account_for_directory_user};
use crate::store::provision::provision_directory_user;

/// Who logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// users.id
    pub id: i64,
    /// The login as stored, which for a directory user who logged in with
    /// another form (an address) is the account's own login.
    pub login: String,
}

/// What cannot answer right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// PostgreSQL.
    Database,
    /// The LDAP directory (or its configuration).
    Directory,
}

impl Unavailable {
    /// What the client is told.
    pub fn text(self) -> &'static str {
        match self {
            Unavailable::Database => "the database is unavailable; try again",
            Unavailable::Directory => "the directory is unavailable; try again",
        }
    }
}

/// The outcome of a login check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The password is right.
    Accepted(Verified),
    /// Wrong login or password, or not allowed in: the client is not told
    /// which (RFC 5530 AUTHENTICATIONFAILED).
    Refused,
    /// No answer could be had; never a reason to accept (RFC 5530
    /// UNAVAILABLE).
    Unavailable(Unavailable),
}

/// Checks `login` and `password`. Logs why a login was refused, never the
/// password. No database connection is held while the directory is asked,
/// so a slow directory cannot starve database-backed users of connections.
pub async fn verify(
    pool: &deadpool_postgres::Pool,
    config: &Config,
    login: &str,
    password: &Secret,
) -> Verdict {
    let local = {
        let client = match connection(pool).await {
            Ok(client) => client,
            Err(verdict) => return verdict,
        };
        match account_by_login(&**client, login).await {
            Ok(account) => account,
            Err(e) => return database_down(&e),
        }
    };
    if let Some(account) = &local {
        if account.disabled {
            tracing::info!(user = %login, "login refused: the account is disabled");
            return Verdict::Refused;
        }
        if let Some(hash) = &account.password_hash {
            return if verify_password(password, hash) {
                accepted(account)
            } else {
                Verdict::Refused
            };
        }
    }
    let settings = match LdapSettings::from_config(config) {
        Ok(Some(settings)) => settings,
        Ok(None) => return Verdict::Refused,
        Err(e) => {
            tracing::warn!(error = %e, "LDAP is misconfigured");
            return Verdict::Unavailable(Unavailable::Directory);
        }
    };
    let user = match ldap::authenticate(&settings, login, password).await {
        Ok(LdapVerdict::Accepted(user)) => user,
        Ok(LdapVerdict::Refused(why)) => {
            tracing::info!(user = %login, reason = ?why, "the directory refused the login");
            return Verdict::Refused;
        }
        Err(e) => {
            tracing::warn!(user = %login, error = %e, "LDAP login check failed");
            return Verdict::Unavailable(Unavailable::Directory);
        }
    };
    let mut client = match connection(pool).await {
        Ok(client) => client,
        Err(verdict) => return verdict,
    };
    match account_for_directory_user(&**client, &user.dn, login).await {
        Ok(Some(account)) if account.disabled => {
            tracing::info!(user = %account.login, "login refused: the account is disabled");
            Verdict::Refused
        }
        Ok(Some(account)) => accepted(&account),
        Ok(None) if settings.auto_provision => {
            provision(&mut client, login, &user.dn, user.mail.as_deref()).await
        }
        Ok(None) => {
            tracing::info!(user = %login, dn = %user.dn,
                "login refused: a directory user without an account here, and ldap-auto-provision is off");
            Verdict::Refused
        }
        Err(e) => database_down(&e),
    }
}

async fn connection(pool: &deadpool_postgres::Pool) -> Result<deadpool_postgres::Object, Verdict> {
    pool.get().await.map_err(|e| {
        tracing::warn!(error = %e, "no database connection for a login check");
        Verdict::Unavailable(Unavailable::Database)
    })
}

async fn provision(
    client: &mut tokio_postgres::Client,
    login: &str,
    dn: &str,
    mail: Option<&str>,
) -> Verdict {
    match provision_directory_user(client, login, dn, mail).await {
        Ok(account) => {
            tracing::info!(user = %account.login, %dn, "provisioned an account for a directory user");
            accepted(&account)
        }
        // A concurrent first login made it: use that one if it is this
        // entry's; a login that belongs to someone else is not.
        Err(StoreError::Conflict(_)) => match account_for_directory_user(&*client, dn, login).await
        {
            Ok(Some(account)) if !account.disabled => accepted(&account),
            Ok(_) => {
                tracing::warn!(user = %login, %dn,
                    "login refused: the login belongs to another account than this directory entry's");
                Verdict::Refused
            }
            Err(e) => database_down(&e),
        },
        Err(StoreError::Invalid(why)) => {
            tracing::info!(user = %login, %why, "login refused: not a usable login for a new account");
            Verdict::Refused
        }
        Err(e) => database_down(&e),
    }
}

fn accepted(account: &Account) -> Verdict {
    Verdict::Accepted(Verified {
        id: account.id,
        login: account.login.clone(),
    })
}

fn database_down(e: &StoreError) -> Verdict {
    tracing::warn!(error = %e, "login check failed in the database");
    Verdict::Unavailable(Unavailable::Database)
}
