//! What the server verifies before it serves anything: the schema revision it
//! was built for, and that its role lacks DELETE on message content (the
//! least-privilege promise of schema/privileges).

use crate::store::privileges::CONTENT_TABLES;
use crate::store::{self, Db, StoreError};

/// Why the server will not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database is unreachable, or its schema is wrong.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The runtime role has more rights than the privilege list allows.
    #[error(
        "the database role {role} can {privilege} {table}: it must not be able to destroy mail; \
         run `aox grant privileges` to reconcile the privileges"
    )]
    TooPrivileged {
        /// The runtime role.
        role: String,
        /// The privilege it should not have.
        privilege: &'static str,
        /// On which table.
        table: &'static str,
    },
}

/// Connects as the runtime role and makes the startup checks. Returns the
/// schema revision.
pub async fn check_database(db: &Db) -> Result<i32, StartupError> {
    let client = store::connect(db).await?;
    let revision = store::schema::check(&client).await?;
    let role: String = client
        .query_one("SELECT current_user::text", &[])
        .await
        .map_err(StoreError::from)?
        .get(0);
    for table in CONTENT_TABLES {
        for privilege in ["DELETE", "TRUNCATE"] {
            let has: bool = client
                .query_one(
                    "SELECT has_table_privilege(format('public.%I', $1::text), $2)",
                    &[&table, &privilege],
                )
                .await
                .map_err(StoreError::from)?
                .get(0);
            if has {
                return Err(StartupError::TooPrivileged {
                    role,
                    privilege,
                    table,
                });
            }
        }
    }
    Ok(revision)
}

/// Why the shared server state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The pool could not be made.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// TLS is configured but unusable, or needed and missing.
    #[error(transparent)]
    Tls(#[from] crate::net::tls::TlsError),
    /// IMAPS or POP3S is on but there is no certificate.
    #[error("use-imaps or use-pops is on but no tls-certificate is configured")]
    NoCertificate,
    /// The LDAP settings are unusable.
    #[error(transparent)]
    Ldap(#[from] crate::auth::ldap::LdapConfigError),
}

/// What every front end shares: the runtime pool, TLS when configured, and
/// this process's one LISTEN connection for change notifications.
pub fn shared_state(
    config: crate::config::Config,
    db: &Db,
) -> Result<crate::imap::ServerState, StateError> {
    let tls = match config.tls_certificate() {
        "" if config.use_imaps() || config.use_pops() => return Err(StateError::NoCertificate),
        "" => None,
        path => Some(crate::net::tls::load(std::path::Path::new(path))?),
    };
    let tls_end_point = tls.as_ref().and_then(|t| t.end_point.clone());
    let tls = tls.map(|t| t.acceptor);
    // Checked here so a bad LDAP setting stops the server at start, not at
    // the first login.
    crate::auth::ldap::check_config(&config)?;
    let pool = store::pool(db)?;
    let events = store::notify::spawn_listener(db.clone());
    store::vectors::spawn_filler(pool.clone(), &events);
    let throttle = crate::auth::throttle::Throttle::new(crate::auth::throttle::ThrottleConfig {
        free_failures: config.auth_failures_before_delay(),
        delay: config.auth_failure_delay(),
        max_delay: config.auth_failure_max_delay(),
        window: config.auth_failure_window(),
    });
    let connections = crate::net::limits::ConnectionLimit::new(config.max_connections_per_ip());
    let deliveries = crate::lmtp::group_commit::GroupCommit::spawn(
        pool.clone(),
        config.lmtp_delivery_tasks() as usize,
        config.lmtp_batch_size() as usize,
    );
    Ok(crate::imap::ServerState {
        pool,
        deliveries,
        config: std::sync::Arc::new(config),
        events,
        tls,
        tls_end_point,
        throttle: std::sync::Arc::new(throttle),
        connections,
    })
}
