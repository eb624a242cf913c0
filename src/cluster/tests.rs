//! Tests against real PostgreSQL servers. Each starts its own cluster in a temporary
//! directory, so they run in parallel; each takes a second or two.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::*;

/// A temporary directory the server's user can reach, which stops every cluster started in
/// it (and removes socket directories made outside it) when dropped, even if a test fails.
struct TestBase {
    tmp: TempDir,
    clusters: Mutex<Vec<PrivateCluster>>,
}

impl TestBase {
    fn new() -> TestBase {
        let tmp = TempDir::new().unwrap();
        // TempDir is 0700; as root, the `postgres` user must be able to pass through it.
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        TestBase {
            tmp,
            clusters: Mutex::new(Vec::new()),
        }
    }

    fn path(&self) -> &Path {
        self.tmp.path()
    }

    fn options(&self, name: &str) -> ClusterOptions {
        ClusterOptions {
            data_dir: self.path().join(name),
            port: None,
            fsync: false,
            superuser: "postgres".into(),
        }
    }

    fn start(&self, opts: &ClusterOptions) -> PrivateCluster {
        let cluster = PrivateCluster::start(opts).unwrap_or_else(|e| panic!("start failed: {e}"));
        self.clusters.lock().unwrap().push(cluster.clone());
        cluster
    }
}

impl Drop for TestBase {
    fn drop(&mut self) {
        let clusters = self.clusters.lock().map(|c| c.clone()).unwrap_or_default();
        for cluster in &clusters {
            let _ = cluster.stop_immediately();
            if !cluster.socket_dir().starts_with(self.tmp.path()) {
                let _ = std::fs::remove_dir_all(cluster.socket_dir());
            }
        }
    }
}

/// Runs SQL with psql as the superuser over the Unix socket; Err carries psql's stderr.
fn psql(cluster: &PrivateCluster, sql: &str) -> Result<String, String> {
    let out = psql_command(cluster)
        .args(["-h"])
        .arg(cluster.socket_dir())
        .args(["-U", cluster.superuser(), "-c", sql])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// psql with no personal configuration and no PG* variables from the environment.
fn psql_command(cluster: &PrivateCluster) -> Command {
    let mut c = Command::new(cluster.bin_dir().join("psql"));
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("PG") {
            c.env_remove(var);
        }
    }
    c.env("PGPASSFILE", "/nonexistent")
        .env("PGCONNECT_TIMEOUT", "10")
        .args(["-X", "-w", "-At", "-v", "ON_ERROR_STOP=1", "-d", "postgres"])
        .args(["-p", &cluster.port().to_string()]);
    c
}

/// pg_ctl status for the cluster: true if it says a server is running.
fn pg_ctl_status_running(cluster: &PrivateCluster) -> bool {
    let out = cluster
        .runner
        .output(
            &cluster.bin_dir().join("pg_ctl"),
            &[
                "-D".as_ref(),
                cluster.data_dir().as_os_str(),
                "status".as_ref(),
            ],
        )
        .unwrap();
    out.status.success()
}

fn postmaster_pid(data_dir: &Path) -> i32 {
    let text = std::fs::read_to_string(data_dir.join(PID_FILE)).unwrap();
    text.lines().next().unwrap().trim().parse().unwrap()
}

#[test]
fn finds_binaries() {
    let dir = find_bin_dir().unwrap();
    assert!(dir.join("initdb").is_file(), "{}", dir.display());
    assert!(dir.join("pg_ctl").is_file(), "{}", dir.display());
}

#[test]
fn fresh_cluster_answers_and_stops() {
    let base = TestBase::new();
    let opts = base.options("data");
    let cluster = base.start(&opts);
    assert!(cluster.started_by_us());
    assert_ne!(cluster.port(), 0);
    assert_eq!(cluster.socket_dir(), cluster.data_dir());
    assert!(cluster.data_dir().join("PG_VERSION").is_file());
    assert!(cluster.log_file().is_file());

    assert_eq!(psql(&cluster, "SELECT 1").unwrap(), "1");
    assert_eq!(psql(&cluster, "SHOW fsync").unwrap(), "off");
    assert_eq!(psql(&cluster, "SHOW synchronous_commit").unwrap(), "off");
    assert_eq!(psql(&cluster, "SHOW full_page_writes").unwrap(), "off");
    assert_eq!(psql(&cluster, "SHOW max_connections").unwrap(), "200");
    assert_eq!(
        psql(&cluster, "SHOW listen_addresses").unwrap(),
        "127.0.0.1"
    );
    assert_eq!(
        psql(&cluster, "SHOW server_encoding").unwrap(),
        "UTF8",
        "initdb -E UTF8"
    );
    assert_eq!(
        psql(
            &cluster,
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        )
        .unwrap(),
        "t"
    );
    assert!(pg_ctl_status_running(&cluster));

    cluster.stop().unwrap();
    assert!(!pg_ctl_status_running(&cluster));
    assert!(!cluster.data_dir().join(PID_FILE).exists());
    assert!(psql(&cluster, "SELECT 1").is_err());
    // Stopping again is harmless.
    cluster.stop().unwrap();
}

#[test]
fn reuse_keeps_port_and_data() {
    let base = TestBase::new();
    let opts = base.options("data");
    let first = base.start(&opts);
    psql(
        &first,
        "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)",
    )
    .unwrap();
    first.stop().unwrap();

    let second = base.start(&opts);
    assert!(second.started_by_us());
    assert_eq!(second.port(), first.port());
    assert_eq!(second.socket_dir(), first.socket_dir());
    assert_eq!(psql(&second, "SELECT x FROM kept").unwrap(), "42");
    second.stop().unwrap();
}

#[test]
fn start_while_running_adopts() {
    let base = TestBase::new();
    let opts = base.options("data");
    let first = base.start(&opts);
    assert!(first.started_by_us());
    let pid = postmaster_pid(first.data_dir());

    let second = base.start(&opts);
    assert!(!second.started_by_us());
    assert_eq!(second.port(), first.port());
    assert_eq!(postmaster_pid(second.data_dir()), pid, "no second server");
    assert_eq!(psql(&second, "SELECT 1").unwrap(), "1");

    // Asking for a different port cannot be honoured while it runs.
    let elsewhere = ClusterOptions {
        port: Some(first.port().wrapping_add(1).max(1024)),
        ..opts.clone()
    };
    match PrivateCluster::start(&elsewhere) {
        Err(ClusterError::PortMismatch { running, .. }) => assert_eq!(running, first.port()),
        other => panic!("expected PortMismatch, got {other:?}"),
    }
    first.stop().unwrap();
}

#[test]
fn restarts_after_kill_9() {
    let base = TestBase::new();
    // fsync on: committed data must survive the crash, and this exercises that mode too.
    let opts = ClusterOptions {
        fsync: true,
        ..base.options("data")
    };
    let cluster = base.start(&opts);
    assert_eq!(psql(&cluster, "SHOW fsync").unwrap(), "on");
    psql(
        &cluster,
        "CREATE TABLE survivor (x int); INSERT INTO survivor VALUES (7)",
    )
    .unwrap();

    let pid = postmaster_pid(cluster.data_dir());
    // SAFETY: pid is the postmaster we just started, read from its own lock file.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    // Wait for the kill to land (the process dies or turns zombie); its children may live on
    // for a moment, which start() must cope with.
    let deadline = Instant::now() + Duration::from_secs(10);
    while os::postmaster_liveness(pid.into(), cluster.data_dir()) == Liveness::Alive {
        assert!(
            Instant::now() < deadline,
            "postmaster {pid} survived SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        cluster.data_dir().join(PID_FILE).exists(),
        "stale lock file left behind"
    );

    let again = base.start(&opts);
    assert!(again.started_by_us());
    assert_eq!(again.port(), cluster.port());
    assert_ne!(postmaster_pid(again.data_dir()), pid);
    assert_eq!(psql(&again, "SELECT x FROM survivor").unwrap(), "7");
    again.stop().unwrap();
}

#[test]
fn host_connections_need_the_password() {
    let base = TestBase::new();
    let cluster = base.start(&base.options("data"));
    psql(
        &cluster,
        "CREATE ROLE alice LOGIN PASSWORD 'right-password'",
    )
    .unwrap();
    assert_eq!(
        psql(&cluster, "SHOW password_encryption").unwrap(),
        "scram-sha-256"
    );
    assert_eq!(
        psql(
            &cluster,
            "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'alice'"
        )
        .unwrap(),
        "t"
    );

    let over_tcp = |password: &str| {
        psql_command(&cluster)
            .env("PGPASSWORD", password)
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "alice",
                "-c",
                "SELECT current_user",
            ])
            .output()
            .unwrap()
    };
    let wrong = over_tcp("wrong-password");
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );

    let right = over_tcp("right-password");
    assert!(
        right.status.success(),
        "{}",
        String::from_utf8_lossy(&right.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&right.stdout).trim(), "alice");
    cluster.stop_immediately().unwrap();
    assert!(!pg_ctl_status_running(&cluster));
}

#[test]
fn long_data_dir_gets_short_socket_dir() {
    let base = TestBase::new();
    let long: PathBuf = base
        .path()
        .join("a".repeat(50))
        .join("b".repeat(50))
        .join("data");
    let opts = ClusterOptions {
        data_dir: long,
        ..base.options("unused")
    };
    let cluster = base.start(&opts);
    let socket_dir = cluster.socket_dir().to_string_lossy().into_owned();
    assert!(socket_dir.starts_with("/tmp/aox-pg-"), "{socket_dir}");
    assert_eq!(psql(&cluster, "SELECT 1").unwrap(), "1");
    cluster.stop().unwrap();

    // /tmp may be cleaned between runs; reuse must find the recorded dir and recreate it.
    std::fs::remove_dir_all(cluster.socket_dir()).unwrap();
    let again = base.start(&opts);
    assert_eq!(again.socket_dir(), cluster.socket_dir());
    assert_eq!(again.port(), cluster.port());
    assert_eq!(psql(&again, "SELECT 1").unwrap(), "1");
    again.stop().unwrap();
}

#[test]
fn explicit_port_is_used_and_can_move() {
    let base = TestBase::new();
    let first_port = conf::pick_free_port().unwrap();
    let opts = ClusterOptions {
        port: Some(first_port),
        ..base.options("data")
    };
    let cluster = base.start(&opts);
    assert_eq!(cluster.port(), first_port);
    cluster.stop().unwrap();

    let second_port = conf::pick_free_port().unwrap();
    let moved = base.start(&ClusterOptions {
        port: Some(second_port),
        ..opts.clone()
    });
    assert_eq!(moved.port(), second_port);
    assert_eq!(psql(&moved, "SELECT 1").unwrap(), "1");
    moved.stop().unwrap();

    // With no port requested, the recorded (moved) one is kept.
    let kept = base.start(&ClusterOptions { port: None, ..opts });
    assert_eq!(kept.port(), second_port);
    kept.stop().unwrap();
}

#[test]
fn unreachable_data_dir_is_refused_when_root() {
    if !os::is_root() {
        // Only root switches to the postgres user; as anyone else there is nothing to check.
        return;
    }
    let tmp = TempDir::new().unwrap();
    let hidden = tmp.path().join("hidden");
    std::fs::create_dir(&hidden).unwrap();
    std::fs::set_permissions(&hidden, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let opts = ClusterOptions {
        data_dir: hidden.join("data"),
        port: None,
        fsync: false,
        superuser: "postgres".into(),
    };
    match PrivateCluster::start(&opts) {
        Err(e @ ClusterError::NotTraversable { .. }) => {
            let ClusterError::NotTraversable { dir, .. } = &e else {
                unreachable!()
            };
            assert_eq!(dir, &hidden);
            assert!(
                e.to_string().contains("choose a data directory elsewhere"),
                "{e}"
            );
        }
        other => panic!("expected NotTraversable, got {other:?}"),
    }
}

#[test]
fn failed_start_quotes_the_log() {
    let base = TestBase::new();
    let opts = base.options("data");
    let cluster = base.start(&opts);
    cluster.stop().unwrap();
    // Break the configuration so the server refuses to start.
    let conf_path = cluster.data_dir().join("postgresql.conf");
    let mut text = std::fs::read_to_string(&conf_path).unwrap();
    text.push_str("shared_buffers = 'not a size'\n");
    std::fs::write(&conf_path, text).unwrap();

    let err = PrivateCluster::start(&opts).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, ClusterError::Start { .. }), "{message}");
    assert!(message.contains("shared_buffers"), "{message}");
    assert!(message.contains("postgresql.log"), "{message}");
}

#[test]
fn settings_round_trip() {
    let settings = conf::Settings {
        port: 54321,
        socket_dir: PathBuf::from("/tmp/it's a \\ dir"),
        fsync: false,
    };
    let text = settings.render().unwrap();
    assert!(text.contains("fsync = off"));
    assert!(text.contains("password_encryption = 'scram-sha-256'"));
    assert_eq!(conf::Settings::parse(&text).unwrap(), settings);
    assert!(conf::Settings::parse("fsync = on\n").is_err());
}

#[test]
fn a_cluster_that_keeps_mail_gets_a_quarter_of_memory_for_shared_buffers() {
    assert_eq!(conf::shared_buffers_mb(23_000), 5_750);
    assert_eq!(conf::shared_buffers_mb(256), 128);
    assert_eq!(conf::shared_buffers_mb(64_000), 8_192);
    let durable = conf::Settings {
        port: 54321,
        socket_dir: PathBuf::from("/tmp/d"),
        fsync: true,
    };
    let text = durable.render().unwrap();
    match conf::memory_mb() {
        Some(mb) => assert!(
            text.contains(&format!(
                "shared_buffers = {}MB\n",
                conf::shared_buffers_mb(mb)
            )),
            "{text}"
        ),
        None => assert!(!text.contains("shared_buffers"), "{text}"),
    }
    assert!(text.contains("max_wal_size = 4GB\n"), "{text}");
    assert_eq!(conf::Settings::parse(&text).unwrap(), durable);
    // Test clusters keep PostgreSQL's defaults.
    let throwaway = conf::Settings {
        fsync: false,
        ..durable
    };
    let text = throwaway.render().unwrap();
    assert!(!text.contains("shared_buffers"), "{text}");
    assert!(!text.contains("max_wal_size"), "{text}");
}

#[test]
fn socket_path_limit() {
    let short = Path::new("/var/lib/aox");
    assert_eq!(conf::choose_socket_dir(short, 5432), short);
    let long = PathBuf::from(format!("/{}", "x".repeat(89)));
    // "/xxx…" (90) + "/.s.PGSQL.5432" (14) = 104 > 100.
    assert!(!conf::socket_path_fits(&long, 5432));
    let chosen = conf::choose_socket_dir(&long, 5432);
    assert!(chosen.to_string_lossy().starts_with("/tmp/aox-pg-"));
    assert_eq!(chosen, conf::choose_socket_dir(&long, 5432), "stable");
    let fits = PathBuf::from(format!("/{}", "x".repeat(85)));
    assert!(conf::socket_path_fits(&fits, 5432)); // 86 + 14 = 100
}

#[test]
fn parses_versions() {
    assert_eq!(
        bin::major_from_version_output("pg_ctl (PostgreSQL) 15.13 (Debian 15.13-0+deb12u1)\n"),
        Some("15".into())
    );
    assert_eq!(
        bin::major_from_version_output("pg_ctl (PostgreSQL) 9.6.24\n"),
        Some("9.6".into())
    );
    assert_eq!(
        bin::major_from_version_output("pg_ctl (PostgreSQL) 17beta1\n"),
        Some("17".into())
    );
    assert_eq!(bin::major_from_version_output("nonsense"), None);
}

#[test]
fn picks_highest_version_dir() {
    let tmp = TempDir::new().unwrap();
    for version in ["9.6", "15", "13", "notaversion"] {
        let bin = tmp.path().join(version).join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for name in ["initdb", "pg_ctl"] {
            let p = bin.join(name);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    // A higher version without pg_ctl does not count.
    let incomplete = tmp.path().join("16").join("bin");
    std::fs::create_dir_all(&incomplete).unwrap();
    std::fs::write(incomplete.join("initdb"), "").unwrap();
    assert_eq!(
        bin::highest_versioned_dir(tmp.path()),
        Some(tmp.path().join("15").join("bin"))
    );
}

#[test]
fn pid_file_parsing() {
    let text = "1234\n/srv/data\n1700000000\n5433\n/srv/data\n127.0.0.1\n  1234     5\nready   \n";
    let parsed = PidFile::parse(text).unwrap();
    assert_eq!(parsed.pid, 1234);
    assert_eq!(parsed.data_dir, PathBuf::from("/srv/data"));
    assert_eq!(parsed.port, Some(5433));
    assert_eq!(parsed.socket_dir, Some(PathBuf::from("/srv/data")));
    assert_eq!(parsed.status, PmStatus::Ready);
    let starting = PidFile::parse("1234\n/srv/data\n").unwrap();
    assert_eq!(starting.status, PmStatus::Starting);
    assert!(PidFile::parse("").is_none());
}

#[test]
fn su_fallback_runs_as_postgres_and_quotes() {
    if !os::is_root() {
        return; // su would ask for a password
    }
    let owner = os::lookup_user(os::POSTGRES_OS_USER).unwrap().unwrap();
    let runner = os::Runner::Su {
        su: PathBuf::from("/bin/su"),
        owner,
    };
    let whoami = runner.output(Path::new("id"), &["-u".as_ref()]).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&whoami.stdout).trim(),
        owner.uid.to_string()
    );
    let tricky = "it's $HOME; `x` \"y\"";
    let echoed = runner
        .output(Path::new("printf"), &["%s".as_ref(), tricky.as_ref()])
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&echoed.stdout), tricky);
}

#[test]
fn runner_matches_user() {
    let runner = os::Runner::for_current_user().unwrap();
    let out = runner.output(Path::new("id"), &["-u".as_ref()]).unwrap();
    let uid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert_eq!(uid, os::server_uid(&runner));
    assert_ne!(uid, 0, "PostgreSQL must never be run as root");
}
