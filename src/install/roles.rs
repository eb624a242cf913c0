//! The two roles and the superuser connection the installer works through.

use rand::distr::{Alphanumeric, SampleString};

use super::{InstallError, InstallOptions, InstallReport};
use crate::store::{self, StoreError, privileges::quote_ident};

/// A connection to `dbname` as the superuser. Over a Unix socket with peer
/// authentication PostgreSQL checks the connecting process's OS user, so the
/// effective uid is switched for the connect (and only for it).
pub(super) async fn connect_superuser(
    opts: &InstallOptions,
    dbname: &str,
) -> Result<tokio_postgres::Client, InstallError> {
    let db = opts.superuser.with_dbname(dbname);
    let Some((uid, gid)) = opts.peer_identity else {
        return Ok(store::connect(&db).await?);
    };
    let _guard = EffectiveIdentity::switch(uid, gid)?;
    Ok(store::connect(&db).await?)
}

/// Restores root's effective ids when dropped.
struct EffectiveIdentity;

impl EffectiveIdentity {
    fn switch(uid: u32, gid: u32) -> Result<EffectiveIdentity, InstallError> {
        // SAFETY: setegid/seteuid have no memory-safety preconditions.
        let ok = unsafe { libc::setegid(gid) == 0 && libc::seteuid(uid) == 0 };
        if ok {
            Ok(EffectiveIdentity)
        } else {
            Err(InstallError::Store(StoreError::Invalid(format!(
                "cannot act as uid {uid} to connect with peer authentication: {}",
                std::io::Error::last_os_error()
            ))))
        }
    }
}

impl Drop for EffectiveIdentity {
    fn drop(&mut self) {
        // SAFETY: as above; we were root before the switch.
        unsafe {
            libc::seteuid(0);
            libc::setegid(0);
        }
    }
}

/// A new random password for a role.
pub(super) fn random_password() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 32)
}

/// Makes sure `role` exists and can log in with a password we know; returns it.
pub(super) async fn ensure_role(
    admin: &tokio_postgres::Client,
    opts: &InstallOptions,
    role: &str,
    known_password: Option<String>,
    report: &mut InstallReport,
    verb: &dyn Fn(&str) -> String,
) -> Result<String, InstallError> {
    let exists = admin
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
        .await
        .map_err(StoreError::from)?
        .is_some();
    let (password, sql) = match (exists, known_password) {
        (true, Some(p)) => return Ok(p),
        (false, Some(p)) => {
            report.actions.push(verb(&format!(
                "create role {role} with the password in the existing config"
            )));
            let sql = format!(
                "CREATE ROLE {} LOGIN PASSWORD {}",
                quote_ident(role),
                quote_literal(&p)
            );
            (p, sql)
        }
        (false, None) => {
            report.actions.push(verb(&format!(
                "create role {role} with a new random password"
            )));
            let p = random_password();
            let sql = format!(
                "CREATE ROLE {} LOGIN PASSWORD {}",
                quote_ident(role),
                quote_literal(&p)
            );
            (p, sql)
        }
        (true, None) => {
            // The role exists but no config file knows its password: the only
            // way to a working config is a new password.
            report.actions.push(verb(&format!(
                "set a new random password for the existing role {role}"
            )));
            let p = random_password();
            let sql = format!(
                "ALTER ROLE {} LOGIN PASSWORD {}",
                quote_ident(role),
                quote_literal(&p)
            );
            (p, sql)
        }
    };
    if !opts.dry_run {
        admin.batch_execute(&sql).await.map_err(StoreError::from)?;
    }
    Ok(password)
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
