//! What `aox-installer` does, as a library so dev mode and the tests run the
//! very same code: roles, database, extensions, schema, privileges, config files.
//! Idempotent: each step looks first and acts only on a difference.

mod config_files;
mod roles;

use std::path::PathBuf;

use crate::store::{self, Db, StoreError, privileges, schema};

pub use config_files::{CONFIG_FILE, OWNER_CONFIG_FILE, write_private_file};

/// How to install.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// How to reach the cluster as a superuser (any database name; `postgres` is used).
    pub superuser: Db,
    /// Where archiveopteryx.conf and aoxsuper.conf go.
    pub config_dir: PathBuf,
    /// The database to create.
    pub db_name: String,
    /// The runtime role.
    pub db_user: String,
    /// The owner role.
    pub db_owner: String,
    /// db-address written to the config (how the server will connect).
    pub config_db_address: String,
    /// db-port written to the config.
    pub config_db_port: u16,
    /// Further `name = value` lines for a newly written archiveopteryx.conf.
    pub extra_config: Vec<(String, String)>,
    /// Report, change nothing.
    pub dry_run: bool,
    /// When running as root over a Unix socket with peer authentication, the
    /// (uid, gid) to connect as, so PostgreSQL sees its own OS user.
    pub peer_identity: Option<(u32, u32)>,
}

/// Why an install failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// A database step failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An extension we need is not available in the cluster.
    #[error(
        "the PostgreSQL extension {0} is not available: install postgresql-contrib (Debian: the postgresql-NN package ships it; FreeBSD: postgresqlNN-contrib)"
    )]
    MissingExtension(String),
    /// A config file could not be read or written.
    #[error("{path}: {message}")]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// What the install did (or, dry, would do): one line per action.
#[derive(Debug, Default)]
pub struct InstallReport {
    /// The actions, in order, as sentences.
    pub actions: Vec<String>,
}

const EXTENSIONS: [&str; 2] = ["citext", "pg_trgm"];

/// Installs (or checks) everything. With `dry_run`, reports the actions it
/// would take and changes nothing.
pub async fn install(opts: &InstallOptions) -> Result<InstallReport, InstallError> {
    let mut report = InstallReport::default();
    let verb = |s: &str| {
        if opts.dry_run {
            format!("Would {s}")
        } else {
            capitalise(s)
        }
    };

    let admin = roles::connect_superuser(opts, "postgres").await?;

    // Extensions must be installable before we create anything.
    let available = admin
        .query(
            "SELECT name::text FROM pg_available_extensions WHERE name = ANY($1)",
            &[&EXTENSIONS.to_vec()],
        )
        .await
        .map_err(StoreError::from)?;
    for ext in EXTENSIONS {
        if !available.iter().any(|r| r.get::<_, String>(0) == ext) {
            return Err(InstallError::MissingExtension(ext.into()));
        }
    }

    // Passwords: what earlier runs wrote, or new random ones.
    let mut existing = config_files::read_passwords(&opts.config_dir)?;
    let user_password = roles::ensure_role(
        &admin,
        opts,
        &opts.db_user,
        existing.user.take(),
        &mut report,
        &verb,
    )
    .await?;
    let owner_password = roles::ensure_role(
        &admin,
        opts,
        &opts.db_owner,
        existing.owner.take(),
        &mut report,
        &verb,
    )
    .await?;

    let db_exists = admin
        .query_opt(
            "SELECT 1 FROM pg_database WHERE datname = $1",
            &[&opts.db_name],
        )
        .await
        .map_err(StoreError::from)?
        .is_some();
    if !db_exists {
        report.actions.push(verb(&format!(
            "create database {} owned by {}",
            opts.db_name, opts.db_owner
        )));
        if !opts.dry_run {
            admin
                .batch_execute(&format!(
                    "CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE template0",
                    privileges::quote_ident(&opts.db_name),
                    privileges::quote_ident(&opts.db_owner)
                ))
                .await
                .map_err(StoreError::from)?;
        }
    }

    if db_exists || !opts.dry_run {
        let mut db = roles::connect_superuser(opts, &opts.db_name).await?;
        install_into_database(&mut db, opts, &mut report, &verb).await?;
    } else {
        report
            .actions
            .push(verb("create the extensions citext and pg_trgm"));
        for step in schema::STEPS {
            report.actions.push(verb(&format!(
                "apply schema step {} ({})",
                step.revision, step.file
            )));
        }
        report.actions.push(verb(
            "grant the runtime role its privileges from schema/privileges",
        ));
    }

    config_files::ensure_files(opts, &user_password, &owner_password, &mut report, &verb)?;
    Ok(report)
}

async fn install_into_database(
    db: &mut tokio_postgres::Client,
    opts: &InstallOptions,
    report: &mut InstallReport,
    verb: &dyn Fn(&str) -> String,
) -> Result<(), InstallError> {
    for ext in EXTENSIONS {
        let present = db
            .query_opt("SELECT 1 FROM pg_extension WHERE extname = $1", &[&ext])
            .await
            .map_err(StoreError::from)?
            .is_some();
        if !present {
            report
                .actions
                .push(verb(&format!("create extension {ext}")));
            if !opts.dry_run {
                db.batch_execute(&format!("CREATE EXTENSION IF NOT EXISTS {ext}"))
                    .await
                    .map_err(StoreError::from)?;
            }
        }
    }

    // Run the schema as the owner so the owner owns every object.
    db.batch_execute(&format!(
        "SET ROLE {}",
        privileges::quote_ident(&opts.db_owner)
    ))
    .await
    .map_err(StoreError::from)?;
    let steps = schema::upgrade(db, opts.dry_run).await?;
    for step in steps {
        report.actions.push(verb(&format!(
            "apply schema step {} ({})",
            step.revision, step.file
        )));
    }
    db.batch_execute("RESET ROLE")
        .await
        .map_err(StoreError::from)?;

    if schema::current_revision(db).await?.is_some() {
        let wanted = privileges::parse(privileges::LIST)?;
        let changes = privileges::plan(db, &opts.db_user, &wanted).await?;
        for change in &changes {
            report.actions.push(verb(&format!("run {change}")));
        }
        if !opts.dry_run && !changes.is_empty() {
            privileges::apply(db, &changes).await?;
        }
    } else {
        report.actions.push(verb(
            "grant the runtime role its privileges from schema/privileges",
        ));
    }
    Ok(())
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Connects to the installed database as its owner using the written config
/// files; used by dev mode after an install.
pub fn owner_db(config: &crate::config::Config) -> Db {
    Db::from_config(config, store::DbRole::Owner)
}

/// A random password short enough to type (dev mode's demo user).
pub fn random_password_for_humans() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 12)
}
