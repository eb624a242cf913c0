//! aox-installer: a fresh install, idempotence, dry runs, config files.

use std::os::unix::fs::PermissionsExt as _;

use archiveopteryx::install::{self, CONFIG_FILE, OWNER_CONFIG_FILE};
use archiveopteryx::store::schema;

use crate::harness::{self, superuser};

/// Options for an install of its own: own database, own roles, own config dir.
fn own_install(tag: &str) -> install::InstallOptions {
    let dir = harness::shared().base.join(format!("inst-{tag}"));
    let mut o = harness::install_options(&format!("inst_{tag}"), &dir);
    o.db_user = format!("aox_{tag}");
    o.db_owner = format!("aoxsuper_{tag}");
    o
}

#[tokio::test]
async fn fresh_install_creates_everything_and_a_second_run_changes_nothing() {
    let opts = own_install("fresh");
    let first = install::install(&opts).await.unwrap();
    let text = first.actions.join("\n");
    for expected in [
        "Create role aox_fresh",
        "Create role aoxsuper_fresh",
        "Create database inst_fresh owned by aoxsuper_fresh",
        "Create extension citext",
        "Create extension pg_trgm",
        "Apply schema step 1",
        "Run GRANT SELECT ON TABLE public.\"messages\" TO \"aox_fresh\"",
        "Write ",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }

    for file in [CONFIG_FILE, OWNER_CONFIG_FILE] {
        let mode = std::fs::metadata(opts.config_dir.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    let config = archiveopteryx::config::load(&opts.config_dir.join(CONFIG_FILE)).unwrap();
    assert_eq!(config.db_name(), "inst_fresh");
    assert_eq!(config.db_user(), "aox_fresh");
    assert!(config.db_password().len() >= 20);
    assert!(config.db_owner_password().len() >= 20);
    assert_ne!(config.db_password(), config.db_owner_password());

    // Objects belong to the owner role, not to the superuser who ran the install.
    let su = superuser("inst_fresh").await;
    let owner: String = su
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE tablename = 'messages'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, "aoxsuper_fresh");
    assert_eq!(
        schema::current_revision(&su).await.unwrap(),
        Some(schema::REVISION)
    );

    // The runtime role logs in over TCP with SCRAM using the written password.
    let runtime = archiveopteryx::store::connect(&archiveopteryx::store::Db::from_config(
        &config,
        archiveopteryx::store::DbRole::Runtime,
    ))
    .await
    .unwrap();
    let n: i64 = runtime
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);

    let before = std::fs::read_to_string(opts.config_dir.join(CONFIG_FILE)).unwrap();
    let second = install::install(&opts).await.unwrap();
    assert!(
        second.actions.is_empty(),
        "second run did {:?}",
        second.actions
    );
    assert_eq!(
        before,
        std::fs::read_to_string(opts.config_dir.join(CONFIG_FILE)).unwrap()
    );
}

#[tokio::test]
async fn dry_run_reports_and_changes_nothing() {
    let mut opts = own_install("dry");
    opts.dry_run = true;
    let report = install::install(&opts).await.unwrap();
    let text = report.actions.join("\n");
    assert!(text.contains("Would create role aox_dry"), "{text}");
    assert!(text.contains("Would create database inst_dry"), "{text}");
    assert!(text.contains("Would apply schema step 1"), "{text}");
    assert!(text.contains("Would write"), "{text}");

    let su = superuser("postgres").await;
    let dbs = su
        .query("SELECT 1 FROM pg_database WHERE datname = 'inst_dry'", &[])
        .await
        .unwrap();
    assert!(dbs.is_empty());
    let roles = su
        .query("SELECT 1 FROM pg_roles WHERE rolname = 'aox_dry'", &[])
        .await
        .unwrap();
    assert!(roles.is_empty());
    assert!(!opts.config_dir.join(CONFIG_FILE).exists());

    // After a real install, a dry run has nothing to report.
    opts.dry_run = false;
    install::install(&opts).await.unwrap();
    opts.dry_run = true;
    let again = install::install(&opts).await.unwrap();
    assert!(again.actions.is_empty(), "{:?}", again.actions);
}

#[tokio::test]
async fn lost_config_files_get_new_role_passwords_that_work() {
    let opts = own_install("lost");
    install::install(&opts).await.unwrap();
    std::fs::remove_file(opts.config_dir.join(CONFIG_FILE)).unwrap();
    std::fs::remove_file(opts.config_dir.join(OWNER_CONFIG_FILE)).unwrap();

    let report = install::install(&opts).await.unwrap();
    let text = report.actions.join("\n");
    assert!(
        text.contains("Set a new random password for the existing role aox_lost"),
        "{text}"
    );
    assert!(!text.contains("Create database"), "{text}");

    let config = archiveopteryx::config::load(&opts.config_dir.join(CONFIG_FILE)).unwrap();
    for role in [
        archiveopteryx::store::DbRole::Runtime,
        archiveopteryx::store::DbRole::Owner,
    ] {
        archiveopteryx::store::connect(&archiveopteryx::store::Db::from_config(&config, role))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_installer_binary_says_nothing_to_do_on_an_installed_database() {
    let opts = own_install("bin");
    install::install(&opts).await.unwrap();
    let c = &harness::shared().cluster;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aox-installer"))
        .arg("--config-dir")
        .arg(&opts.config_dir)
        .arg("--db-address")
        .arg(c.socket_dir())
        .args(["--db-port", &c.port().to_string(), "--db-name", "inst_bin"])
        .args(["--db-user", "aox_bin", "--db-owner", "aoxsuper_bin"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Nothing to do"), "{stdout}");
}
