//! Dev mode: a real server on a fresh machine with no setup by hand. A private
//! PostgreSQL cluster lives in the data directory (reused on the next start),
//! the real installer runs against it, and a demo user is created.

use std::path::{Path, PathBuf};

use crate::auth::{Secret, StoredSecrets};
use crate::cluster::{ClusterOptions, PrivateCluster};
use crate::config;
use crate::install::{self, InstallOptions};
use crate::store::{self, Db, DbRole};

/// The ports dev mode serves on, all on 127.0.0.1 (documented in the README).
pub const DEV_PORTS: [(&str, u16); 5] = [
    ("imap-port", 1143),
    ("imaps-port", 1993),
    ("pop-port", 1110),
    ("pops-port", 1995),
    ("lmtp-port", 2026),
];

const DEMO_LOGIN: &str = "demo";
const DEMO_ADDRESS: &str = "demo@localhost";
const DEMO_PASSWORD_FILE: &str = "demo-password";

/// A running dev instance.
pub struct DevInstance {
    /// The config file dev mode wrote (and `aox -c` can use).
    pub config_path: PathBuf,
    cluster: PrivateCluster,
}

impl DevInstance {
    /// Stops the private cluster, if this process started it.
    pub fn stop(self) {
        if self.cluster.started_by_us() {
            match self.cluster.stop() {
                Ok(()) => tracing::info!("stopped the private PostgreSQL cluster"),
                Err(e) => {
                    tracing::warn!(error = %e, "could not stop the private PostgreSQL cluster")
                }
            }
        }
    }
}

/// Why dev mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// The data directory could not be made.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// PostgreSQL could not be started.
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    /// The installer failed.
    #[error(transparent)]
    Install(#[from] install::InstallError),
    /// The written config is unreadable.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The demo user could not be made.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The self-signed certificate could not be made.
    #[error(transparent)]
    Tls(#[from] crate::net::tls::TlsError),
    /// The demo password could not be hashed.
    #[error(transparent)]
    Password(#[from] crate::auth::password::PasswordError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DevError + '_ {
    move |source| DevError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Starts (or reuses) the cluster, installs, creates the demo user, prints
/// how to log in, and returns the instance.
pub async fn prepare(data_dir: &Path) -> Result<DevInstance, DevError> {
    let created = !data_dir.exists();
    std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
    if created {
        // The postgres OS user (when we run as root) must reach the cluster.
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o755))
            .map_err(io(data_dir))?;
    }
    let data_dir = data_dir.canonicalize().map_err(io(data_dir))?;

    let cluster = match start_cluster(data_dir.join("pgdata")) {
        // Run as root from a directory the postgres OS user cannot reach
        // (a clone under /root, say): keep the cluster in a place it can,
        // named after the data directory so the next start finds it again.
        Err(crate::cluster::ClusterError::NotTraversable { dir, .. }) => {
            let elsewhere = fallback_cluster_dir(&data_dir);
            tracing::info!(
                unreachable = %dir.display(),
                cluster = %elsewhere.display(),
                "the postgres user cannot reach the data directory; keeping the cluster elsewhere"
            );
            std::fs::create_dir_all(&elsewhere).map_err(io(&elsewhere))?;
            start_cluster(elsewhere.join("pgdata"))?
        }
        other => other?,
    };
    tracing::info!(port = cluster.port(), dir = %cluster.data_dir().display(), "private PostgreSQL cluster is up");

    let mut superuser = tokio_postgres::Config::new();
    superuser
        .host_path(cluster.socket_dir())
        .port(cluster.port())
        .user(cluster.superuser())
        .dbname("postgres");
    // A self-signed certificate, so STARTTLS and IMAPS work in dev mode too.
    let tls_file = data_dir.join("tls.pem");
    crate::net::tls::ensure_self_signed(&tls_file, &["localhost", "127.0.0.1"])?;
    let mut extra_config: Vec<(String, String)> = vec![
        ("db-tls".into(), "disable".into()),
        ("allow-plaintext-passwords".into(), "always".into()),
        ("tls-certificate".into(), tls_file.display().to_string()),
        ("use-imaps".into(), "on".into()),
        ("use-pop".into(), "on".into()),
        ("use-pops".into(), "on".into()),
    ];
    for (name, port) in DEV_PORTS {
        extra_config.push((name.into(), port.to_string()));
    }
    for name in [
        "imap-address",
        "imaps-address",
        "pop-address",
        "pops-address",
        "lmtp-address",
    ] {
        extra_config.push((name.into(), "127.0.0.1".into()));
    }
    let options = InstallOptions {
        superuser: Db::from_pg_config(superuser),
        config_dir: data_dir.clone(),
        db_name: "archiveopteryx".into(),
        db_user: "aox".into(),
        db_owner: "aoxsuper".into(),
        config_db_address: "127.0.0.1".into(),
        config_db_port: cluster.port(),
        extra_config,
        dry_run: false,
        peer_identity: None,
    };
    let report = install::install(&options).await?;
    // Privilege changes come by the dozen on a first install; one line says enough.
    let (grants, others): (Vec<_>, Vec<_>) =
        report.actions.iter().partition(|a| a.starts_with("Run "));
    for action in others {
        tracing::info!("installer: {action}");
    }
    if !grants.is_empty() {
        tracing::info!(
            "installer: reconciled the runtime role's privileges ({} changes)",
            grants.len()
        );
    }

    let config_path = data_dir.join(install::CONFIG_FILE);
    let config = config::load(&config_path)?;
    let password = ensure_demo_user(&config, &data_dir).await?;

    println!("archiveopteryx dev mode");
    println!(
        "  PostgreSQL  private cluster in {} (127.0.0.1:{})",
        cluster.data_dir().display(),
        cluster.port()
    );
    println!("  config      {}", config_path.display());
    println!("  admin       aox -c {} list users", config_path.display());
    println!(
        "  log in      IMAP {}:{}, user \"{DEMO_LOGIN}\", password \"{password}\"",
        config.imap_address(),
        config.imap_port()
    );
    println!(
        "  also        IMAPS {}, POP3 {}, POP3S {}, LMTP {} (self-signed certificate {})",
        config.imaps_port(),
        config.pop_port(),
        config.pops_port(),
        config.lmtp_port(),
        config.tls_certificate()
    );
    println!("  stop        Ctrl-C (stops PostgreSQL too)");
    Ok(DevInstance {
        config_path,
        cluster,
    })
}

fn start_cluster(pgdata: PathBuf) -> Result<PrivateCluster, crate::cluster::ClusterError> {
    PrivateCluster::start(&ClusterOptions {
        data_dir: pgdata,
        port: None,
        fsync: true,
        superuser: "postgres".into(),
    })
}

/// `/var/tmp/archiveopteryx-dev-<hash of the data directory>`: reachable by
/// the postgres user, and the same for the same data directory every time.
fn fallback_cluster_dir(data_dir: &Path) -> PathBuf {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let tag: String = hash.iter().take(6).map(|b| format!("{b:02x}")).collect();
    PathBuf::from(format!("/var/tmp/archiveopteryx-dev-{tag}"))
}

/// Creates the demo user on the first run; afterwards reads its password back
/// (dev mode only keeps it in a 0600 file so the banner can repeat it).
async fn ensure_demo_user(config: &config::Config, data_dir: &Path) -> Result<String, DevError> {
    let mut client = store::connect(&Db::from_config(config, DbRole::Owner)).await?;
    let file = data_dir.join(DEMO_PASSWORD_FILE);
    let exists = match store::users::user_id(&client, DEMO_LOGIN).await {
        Ok(_) => true,
        Err(store::StoreError::NotFound(_)) => false,
        Err(e) => return Err(e.into()),
    };
    if exists && let Ok(p) = std::fs::read_to_string(&file) {
        return Ok(p.trim().to_string());
    }
    let password = install::random_password_for_humans();
    let secrets = StoredSecrets::derive(&Secret::new(password.clone()))?;
    if exists {
        store::users::change_password(&client, DEMO_LOGIN, &secrets).await?;
    } else {
        store::users::add_user(&mut client, DEMO_LOGIN, &secrets, DEMO_ADDRESS).await?;
    }
    install::write_private_file(&file, &format!("{password}\n")).map_err(io(&file))?;
    Ok(password)
}
