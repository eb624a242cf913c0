//! Connections to PostgreSQL: one target description, a single client for
//! admin work, and a deadpool pool for the server.

use std::sync::Arc;

use tokio_postgres::config::SslMode;

use super::StoreError;
use crate::config::{Config, DbTls};

/// Which of the two roles a connection logs in as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbRole {
    /// The runtime role (`db-user`): what the server uses.
    Runtime,
    /// The owner role (`db-owner`): schema upgrades, privileges, destructive admin work.
    Owner,
}

/// Where and as whom to connect, derived from the configuration.
#[derive(Clone)]
pub struct Db {
    pg: tokio_postgres::Config,
    tls: DbTls,
    max_handles: usize,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // tokio_postgres::Config's Debug already redacts the password.
        f.debug_struct("Db").field("pg", &self.pg).finish()
    }
}

impl Db {
    /// The connection settings for `role` from `config`.
    pub fn from_config(config: &Config, role: DbRole) -> Db {
        let mut pg = tokio_postgres::Config::new();
        let address = config.db_address();
        if address.starts_with('/') {
            pg.host_path(address);
        } else {
            pg.host(address);
        }
        pg.port(config.db_port());
        pg.dbname(config.db_name());
        let (user, password) = match role {
            DbRole::Runtime => (config.db_user(), config.db_password()),
            DbRole::Owner => (config.db_owner(), config.db_owner_password()),
        };
        pg.user(user);
        if !password.is_empty() {
            pg.password(password);
        }
        pg.application_name("archiveopteryx");
        // JIT compiles a plan whose cost passes jit_above_cost, which a
        // search or STORE over a million entries does: 50-150 ms of
        // compiling for statements that take a few hundred, never repaid.
        pg.options("-c jit=off");
        pg.ssl_mode(match config.db_tls() {
            DbTls::Disable => SslMode::Disable,
            DbTls::Prefer => SslMode::Prefer,
            DbTls::Require => SslMode::Require,
        });
        Db {
            pg,
            tls: config.db_tls(),
            max_handles: config.db_max_handles() as usize,
        }
    }

    /// Settings for an arbitrary target (installer, tests).
    pub fn from_pg_config(pg: tokio_postgres::Config) -> Db {
        Db {
            pg,
            tls: DbTls::Prefer,
            max_handles: 4,
        }
    }

    /// The underlying tokio-postgres settings.
    pub fn pg_config(&self) -> &tokio_postgres::Config {
        &self.pg
    }

    /// The same target, another database.
    pub fn with_dbname(&self, dbname: &str) -> Db {
        let mut db = self.clone();
        db.pg.dbname(dbname);
        db
    }

    /// The same target, another role and password.
    pub fn with_user(&self, user: &str, password: Option<&str>) -> Db {
        let mut db = self.clone();
        db.pg.user(user);
        if let Some(p) = password {
            db.pg.password(p);
        }
        db
    }
}

/// rustls for PostgreSQL connections, trusting the system's CA bundle. TLS is
/// never used over Unix sockets (tokio-postgres skips it there).
pub(super) fn tls_connector() -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    for bundle in [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/ssl/cert.pem",
        "/usr/local/share/certs/ca-root-nss.crt",
    ] {
        if let Ok(iter) = CertificateDer::pem_file_iter(bundle) {
            // A malformed certificate in the system bundle should not stop
            // the others from being trusted.
            for cert in iter.flatten() {
                let _ = roots.add(cert);
            }
            break;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Pool(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

fn spawn_connection<F>(connection: F)
where
    F: std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "database connection closed");
        }
    });
}

/// One client, driven by a spawned task, for admin work and the LISTEN bus.
pub async fn connect(db: &Db) -> Result<tokio_postgres::Client, StoreError> {
    if db.tls == DbTls::Disable {
        let (client, connection) = db.pg.connect(tokio_postgres::NoTls).await?;
        spawn_connection(connection);
        Ok(client)
    } else {
        let (client, connection) = db.pg.connect(tls_connector()?).await?;
        spawn_connection(connection);
        Ok(client)
    }
}

/// The server's pool, sized by `db-max-handles`.
pub fn pool(db: &Db) -> Result<deadpool_postgres::Pool, StoreError> {
    let manager_config = deadpool_postgres::ManagerConfig {
        recycling_method: deadpool_postgres::RecyclingMethod::Fast,
    };
    let manager = if db.tls == DbTls::Disable {
        deadpool_postgres::Manager::from_config(
            db.pg.clone(),
            tokio_postgres::NoTls,
            manager_config,
        )
    } else {
        deadpool_postgres::Manager::from_config(db.pg.clone(), tls_connector()?, manager_config)
    };
    deadpool_postgres::Pool::builder(manager)
        .max_size(db.max_handles)
        .build()
        .map_err(|e| StoreError::Pool(e.to_string()))
}
