//! The test harness: one private PostgreSQL cluster per test run (initdb into
//! a temp dir, a free port, fsync off), the schema installed once into a
//! template database by the real installer, and a fresh database per test
//! copied from it. The cluster is stopped and its directory removed when the
//! test process exits.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use archiveopteryx::cluster::{ClusterOptions, PrivateCluster};
use archiveopteryx::config::Config;
use archiveopteryx::install::{self, InstallOptions};
use archiveopteryx::store::{self, Db};

/// The shared cluster and what the template install produced.
pub struct Shared {
    pub cluster: PrivateCluster,
    pub base: PathBuf,
}

static SHARED: OnceLock<Shared> = OnceLock::new();
static TEMPLATE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

pub const TEMPLATE_DB: &str = "aox_template";
pub const RUNTIME_ROLE: &str = "aox";
pub const OWNER_ROLE: &str = "aoxsuper";

extern "C" fn stop_cluster_at_exit() {
    if let Some(shared) = SHARED.get() {
        let _ = shared.cluster.stop_immediately();
        let _ = std::fs::remove_dir_all(&shared.base);
    }
}

/// A directory the `postgres` OS user can traverse when we run as root,
/// removed when dropped.
pub fn reachable_temp_dir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

pub fn shared() -> &'static Shared {
    SHARED.get_or_init(|| {
        let base = reachable_temp_dir("aox-test-").keep();
        let cluster = PrivateCluster::start(&ClusterOptions {
            data_dir: base.join("pgdata"),
            port: None,
            fsync: false,
            superuser: "postgres".into(),
        })
        .unwrap_or_else(|e| panic!("cannot start the test cluster: {e}"));
        // SAFETY: registering a plain extern "C" fn is always sound.
        unsafe { libc::atexit(stop_cluster_at_exit) };
        Shared { cluster, base }
    })
}

/// How to reach the shared cluster as its superuser.
pub fn superuser_db(dbname: &str) -> Db {
    let c = &shared().cluster;
    let mut pg = tokio_postgres::Config::new();
    pg.host_path(c.socket_dir())
        .port(c.port())
        .user(c.superuser())
        .dbname(dbname);
    Db::from_pg_config(pg)
}

pub async fn superuser(dbname: &str) -> tokio_postgres::Client {
    store::connect(&superuser_db(dbname)).await.unwrap()
}

/// Installer options against the shared cluster, for a given database and config dir.
pub fn install_options(db_name: &str, config_dir: &Path) -> InstallOptions {
    InstallOptions {
        superuser: superuser_db("postgres"),
        config_dir: config_dir.to_path_buf(),
        db_name: db_name.into(),
        db_user: RUNTIME_ROLE.into(),
        db_owner: OWNER_ROLE.into(),
        config_db_address: "127.0.0.1".into(),
        config_db_port: shared().cluster.port(),
        extra_config: vec![("db-tls".into(), "disable".into())],
        dry_run: false,
        peer_identity: None,
    }
}

fn template_config_dir() -> PathBuf {
    shared().base.join("template-config")
}

async fn ensure_template() {
    TEMPLATE
        .get_or_init(|| async {
            let dir = template_config_dir();
            install::install(&install_options(TEMPLATE_DB, &dir))
                .await
                .unwrap();
            let su = superuser("postgres").await;
            su.batch_execute(&format!(
                "ALTER DATABASE {TEMPLATE_DB} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true"
            ))
            .await
            .unwrap();
        })
        .await;
}

/// A database of its own for one test, with config files that point at it.
pub struct TestDb {
    pub name: String,
    pub config_path: PathBuf,
}

impl TestDb {
    pub async fn new() -> TestDb {
        shared();
        ensure_template().await;
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("t_{}_{n}", std::process::id());
        let su = superuser("postgres").await;
        su.batch_execute(&format!(
            "CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB} OWNER {OWNER_ROLE}"
        ))
        .await
        .unwrap();
        let dir = shared().base.join(format!("cfg-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        // The template's config files carry the role passwords; only the
        // database name differs.
        for file in [install::CONFIG_FILE, install::OWNER_CONFIG_FILE] {
            let text = std::fs::read_to_string(template_config_dir().join(file)).unwrap();
            let text = text.replace(
                &format!("db-name = {TEMPLATE_DB}"),
                &format!("db-name = {name}"),
            );
            install::write_private_file(&dir.join(file), &text).unwrap();
        }
        let config_path = dir.join(install::CONFIG_FILE);
        TestDb { name, config_path }
    }

    /// The config as the server would read it (owner password merged in).
    pub fn config(&self) -> Config {
        archiveopteryx::config::load(&self.config_path).unwrap()
    }

    pub async fn runtime(&self) -> tokio_postgres::Client {
        store::connect(&Db::from_config(&self.config(), store::DbRole::Runtime))
            .await
            .unwrap()
    }

    pub async fn owner(&self) -> tokio_postgres::Client {
        store::connect(&Db::from_config(&self.config(), store::DbRole::Owner))
            .await
            .unwrap()
    }

    pub async fn superuser(&self) -> tokio_postgres::Client {
        superuser(&self.name).await
    }

    /// Runs `aox -c <this config> args…`.
    pub fn aox(&self, args: &[&str]) -> Output {
        run_aox(&self.config_path, args, None)
    }

    /// Runs `aox` with `stdin` fed to it.
    pub fn aox_with_input(&self, args: &[&str], stdin: &str) -> Output {
        run_aox(&self.config_path, args, Some(stdin))
    }
}

pub fn run_aox(config: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write as _;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_aox"));
    cmd.arg("-c").arg(config).args(args);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// Runs `archiveopteryx -c <config> args…` to completion (for startup
/// refusals and `--check`; a server that starts would not return).
pub fn run_server(config: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_archiveopteryx"))
        .arg("-c")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

/// Asserts that `out` is a failure whose standard error says `text`.
pub fn assert_refused(out: &Output, text: &str) {
    assert!(!out.status.success(), "succeeded: {}", stdout(out));
    assert!(
        stderr(out).contains(text),
        "{text:?} not in: {}",
        stderr(out)
    );
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
