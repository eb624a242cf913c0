//! Checking a cleartext password against an LDAP directory by
//! search-then-bind: find the user's entry with the configured filter (as
//! the service account, or anonymously), bind as that entry's DN with the
//! password (RFC 4513 §5.1.3), then, when a group is required, compare the
//! group's `member` with the DN.
//!
//! Only a cleartext password can be checked this way, so only PLAIN, LOGIN
//! and POP3 USER/PASS reach here; SCRAM needs a verifier stored locally.
//! Every check opens fresh connections: nothing stale survives an outage,
//! and a login that takes longer than `ldap-timeout` counts as an outage.

mod settings;
mod tls;

pub use settings::{LdapConfigError, LdapSettings};
pub use tls::client_config;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry, SearchOptions};

use crate::auth::Secret;

/// Checks the LDAP settings as logins will use them, including reading
/// `ldap-ca-certificate`; for startup, `archiveopteryx --check` and `aox
/// check config`.
pub fn check_config(config: &crate::config::Config) -> Result<(), LdapConfigError> {
    if let Some(settings) = LdapSettings::from_config(config)? {
        client_config(&settings)?;
    }
    Ok(())
}

/// LDAP result codes (RFC 4511 §4.1.9) that mean something here.
mod rc {
    pub(super) const SUCCESS: u32 = 0;
    pub(super) const SIZE_LIMIT_EXCEEDED: u32 = 4;
    pub(super) const COMPARE_FALSE: u32 = 5;
    pub(super) const COMPARE_TRUE: u32 = 6;
    pub(super) const NO_SUCH_OBJECT: u32 = 32;
    pub(super) const INAPPROPRIATE_AUTHENTICATION: u32 = 48;
    pub(super) const INVALID_CREDENTIALS: u32 = 49;
    pub(super) const INSUFFICIENT_ACCESS_RIGHTS: u32 = 50;
    pub(super) const UNWILLING_TO_PERFORM: u32 = 53;
}

/// The directory entry a password was checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    /// The entry's DN, as the server gave it.
    pub dn: String,
    /// Its first `mail` value, if any: the address a provisioned account gets.
    pub mail: Option<String>,
}

/// Why the directory said no. All of them are "invalid credentials" to the
/// client; the distinction is for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// An empty password: a simple bind with one is unauthenticated (RFC
    /// 4513 §5.1.2) and may "succeed", so it is never sent.
    EmptyPassword,
    /// No entry matches the filter.
    NoSuchUser,
    /// More than one entry matches, so the login names no one.
    Ambiguous,
    /// The bind as the entry's DN was refused.
    WrongPassword,
    /// The user is not a member of `ldap-required-group`.
    NotInGroup,
}

/// What the directory said about a login and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LdapVerdict {
    /// The password is the entry's and the group (if any) contains it.
    Accepted(DirectoryUser),
    /// No.
    Refused(Refusal),
}

/// The directory could not answer: unreachable, too slow, or refusing the
/// service account. Never a reason to accept.
#[derive(Debug, thiserror::Error)]
#[error("the LDAP directory is unavailable: {0}")]
pub struct LdapUnavailable(String);

impl From<LdapError> for LdapUnavailable {
    fn from(e: LdapError) -> Self {
        LdapUnavailable(e.to_string())
    }
}

/// Checks `login` and `password` against the directory.
pub async fn authenticate(
    settings: &LdapSettings,
    login: &str,
    password: &Secret,
) -> Result<LdapVerdict, LdapUnavailable> {
    if password.expose().is_empty() {
        return Ok(LdapVerdict::Refused(Refusal::EmptyPassword));
    }
    tokio::time::timeout(settings.timeout, check(settings, login, password))
        .await
        .map_err(|_| {
            LdapUnavailable(format!(
                "no answer within {} seconds",
                settings.timeout.as_secs()
            ))
        })?
}

async fn check(
    settings: &LdapSettings,
    login: &str,
    password: &Secret,
) -> Result<LdapVerdict, LdapUnavailable> {
    let mut service = connect(settings).await?;
    if let Some((dn, secret)) = &settings.service {
        let result = service.simple_bind(dn, secret.expose()).await?;
        if result.rc != rc::SUCCESS {
            return Err(LdapUnavailable(format!(
                "the service bind as {dn:?} was refused (result code {}); check ldap-bind-dn and ldap-bind-password",
                result.rc
            )));
        }
    }
    let user = match find(&mut service, settings, login).await? {
        Ok(user) => user,
        Err(refusal) => return Ok(LdapVerdict::Refused(refusal)),
    };
    if let Some(refusal) = bind_as(settings, &user.dn, password).await? {
        return Ok(LdapVerdict::Refused(refusal));
    }
    if let Some(group) = &settings.required_group
        && !is_member(&mut service, group, &user.dn).await?
    {
        return Ok(LdapVerdict::Refused(Refusal::NotInGroup));
    }
    // A failed unbind loses nothing: the connection is dropped either way.
    let _ = service.unbind().await;
    Ok(LdapVerdict::Accepted(user))
}

/// A connection, its driver running on the runtime until the handle drops.
async fn connect(settings: &LdapSettings) -> Result<Ldap, LdapUnavailable> {
    let mut conn_settings = LdapConnSettings::new()
        .set_conn_timeout(settings.timeout)
        .set_starttls(settings.starttls);
    // Read per check, so a renewed CA file needs no restart.
    match client_config(settings) {
        Ok(Some(config)) => conn_settings = conn_settings.set_config(config),
        Ok(None) => {}
        Err(e) => return Err(LdapUnavailable(e.to_string())),
    }
    let (conn, ldap) = LdapConnAsync::with_settings(conn_settings, &settings.url).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.drive().await {
            tracing::debug!(error = %e, "LDAP connection ended");
        }
    });
    Ok(ldap)
}

/// The one entry the filter finds for `login`.
async fn find(
    ldap: &mut Ldap,
    settings: &LdapSettings,
    login: &str,
) -> Result<Result<DirectoryUser, Refusal>, LdapUnavailable> {
    let filter = settings.filter(login);
    // Two are enough to know the login is ambiguous.
    let result = ldap
        .with_search_options(SearchOptions::new().sizelimit(2))
        .search(&settings.base, Scope::Subtree, &filter, vec!["mail"])
        .await?;
    let (entries, status) = (result.0, result.1);
    match status.rc {
        rc::SUCCESS | rc::SIZE_LIMIT_EXCEEDED => {}
        rc::NO_SUCH_OBJECT => {
            tracing::warn!(base = %settings.base, "ldap-search-base does not exist in the directory");
            return Ok(Err(Refusal::NoSuchUser));
        }
        code => {
            return Err(LdapUnavailable(format!(
                "the search failed (result code {code}: {})",
                status.text
            )));
        }
    }
    if status.rc == rc::SIZE_LIMIT_EXCEEDED {
        return Ok(Err(Refusal::Ambiguous));
    }
    let mut entries = entries
        .into_iter()
        .filter(|e| !e.is_ref() && !e.is_intermediate());
    let entry = match (entries.next(), entries.next()) {
        (Some(entry), None) => entry,
        (Some(_), Some(_)) => return Ok(Err(Refusal::Ambiguous)),
        (None, _) => return Ok(Err(Refusal::NoSuchUser)),
    };
    // SearchEntry::construct panics on a malformed entry; a broken or hostile
    // directory must not take the session down with it.
    let entry = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        SearchEntry::construct(entry)
    }))
    .map_err(|_| LdapUnavailable("the directory sent a malformed entry".into()))?;
    let mail = entry
        .attrs
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("mail"))
        .and_then(|(_, values)| values.first().cloned());
    Ok(Ok(DirectoryUser { dn: entry.dn, mail }))
}

/// Binds as `dn` on a connection of its own; None when the password is right.
async fn bind_as(
    settings: &LdapSettings,
    dn: &str,
    password: &Secret,
) -> Result<Option<Refusal>, LdapUnavailable> {
    let mut ldap = connect(settings).await?;
    let result = ldap.simple_bind(dn, password.expose()).await?;
    let _ = ldap.unbind().await;
    match result.rc {
        rc::SUCCESS => Ok(None),
        // The server's ways of saying this password does not open this entry.
        rc::INVALID_CREDENTIALS
        | rc::INAPPROPRIATE_AUTHENTICATION
        | rc::INSUFFICIENT_ACCESS_RIGHTS
        | rc::UNWILLING_TO_PERFORM => Ok(Some(Refusal::WrongPassword)),
        code => Err(LdapUnavailable(format!(
            "the bind failed (result code {code}: {})",
            result.text
        ))),
    }
}

/// Whether `dn` is a `member` of the groupOfNames `group` (RFC 4519 §3.5),
/// asked with a compare so the server applies DN matching rules.
async fn is_member(ldap: &mut Ldap, group: &str, dn: &str) -> Result<bool, LdapUnavailable> {
    let result = ldap.compare(group, "member", dn).await?.0;
    match result.rc {
        rc::COMPARE_TRUE => Ok(true),
        rc::COMPARE_FALSE => Ok(false),
        rc::NO_SUCH_OBJECT => {
            tracing::warn!(%group, "ldap-required-group does not exist in the directory");
            Ok(false)
        }
        code => Err(LdapUnavailable(format!(
            "the group check failed (result code {code}: {})",
            result.text
        ))),
    }
}
