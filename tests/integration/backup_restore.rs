//! Backup is a SQL dump: `pg_dump` of a store as its owner, `pg_restore`
//! into a fresh database, and a server on the restored database serves
//! every message byte for byte, with the same UIDVALIDITY and UIDs.

use std::process::Command;

use archiveopteryx::install;

use crate::cli_support::{add_user, ok};
use crate::harness::{OWNER_ROLE, TestDb, shared, superuser};
use crate::imap_support::start_server;
use crate::vacuum_holds::{attachment, bodies, login, with_attachment};

/// A PostgreSQL client program run as the owner role over TCP.
fn as_owner(db: &TestDb, program: &str) -> Command {
    let cluster = &shared().cluster;
    let mut cmd = Command::new(cluster.bin_dir().join(program));
    cmd.env("PGPASSWORD", db.config().db_owner_password())
        .args(["-h", "127.0.0.1", "-p", &cluster.port().to_string()])
        .args(["-U", OWNER_ROLE]);
    cmd
}

/// What IMAP shows of alice's INBOX: UIDVALIDITY, UIDs and every BODY[].
async fn served(addr: std::net::SocketAddr) -> (String, Vec<String>, Vec<Vec<u8>>) {
    let mut c = login(addr, "alice").await;
    let r = c.cmd("SELECT INBOX").await;
    assert!(r.ok(), "{r:?}");
    let validity = r.containing("UIDVALIDITY")[0].to_string();
    let uids = c
        .cmd("UID SEARCH ALL")
        .await
        .lines("SEARCH")
        .iter()
        .map(|s| s.to_string())
        .collect();
    (validity, uids, bodies(&mut c).await)
}

#[tokio::test]
async fn pg_dump_and_pg_restore_give_a_store_that_serves_every_message_byte_for_byte() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    let addr = start_server(&db, &[]).await;
    let mut c = login(addr, "alice").await;
    for n in 0..6 {
        assert!(
            c.append(
                "INBOX",
                "\\Seen",
                &with_attachment(n, "backup", &attachment(n % 3))
            )
            .await
            .ok()
        );
    }
    // An import of bytes normalisation changes (LF line ends, 8-bit header).
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("odd.eml"),
        b"From: a@example.org\nTo: alice@example.org\nSubject: caf\xe9\n\nLF only.\n",
    )
    .unwrap();
    ok(&db.aox(&["import", "alice", "INBOX", tmp.path().to_str().unwrap()]));
    assert!(c.cmd("SELECT INBOX").await.ok());
    assert!(c.cmd("UID STORE 2 +FLAGS (\\Flagged)").await.ok());
    let before = served(addr).await;
    assert_eq!(before.2.len(), 7);

    let dump = tmp.path().join("store.dump");
    let out = as_owner(&db, "pg_dump")
        .args(["-Fc", "-f", dump.to_str().unwrap(), "-d", &db.name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A fresh database owned by the owner role (the roles already exist).
    let restored_name = format!("{}_restored", db.name);
    superuser("postgres")
        .await
        .batch_execute(&format!(
            "CREATE DATABASE {restored_name} OWNER {OWNER_ROLE} TEMPLATE template0"
        ))
        .await
        .unwrap();
    let out = as_owner(&db, "pg_restore")
        .args([
            "--exit-on-error",
            "-d",
            &restored_name,
            dump.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Config files for the restored database: the same roles, another name.
    let dir = shared().base.join(format!("cfg-{restored_name}"));
    std::fs::create_dir_all(&dir).unwrap();
    for file in [install::CONFIG_FILE, install::OWNER_CONFIG_FILE] {
        let from = db.config_path.with_file_name(file);
        let text = std::fs::read_to_string(from).unwrap().replace(
            &format!("db-name = {}", db.name),
            &format!("db-name = {restored_name}"),
        );
        install::write_private_file(&dir.join(file), &text).unwrap();
    }
    let restored = TestDb {
        name: restored_name,
        config_path: dir.join(install::CONFIG_FILE),
    };
    // The restored store passes the server's own startup checks.
    let check = crate::harness::run_server(&restored.config_path, &["--check"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let addr2 = start_server(&restored, &[]).await;
    let after = served(addr2).await;
    assert_eq!(after.0, before.0, "UIDVALIDITY");
    assert_eq!(after.1, before.1, "UIDs");
    assert!(
        after.2 == before.2,
        "a message is served differently after the restore"
    );
    // Flags came along, and the restored store takes new mail.
    let mut c2 = login(addr2, "alice").await;
    assert!(c2.cmd("SELECT INBOX").await.ok());
    let r = c2.cmd("UID SEARCH FLAGGED").await;
    assert_eq!(r.lines("SEARCH"), ["* SEARCH 2"]);
    assert!(
        c2.append(
            "INBOX",
            "",
            &with_attachment(99, "after restore", &attachment(1))
        )
        .await
        .ok()
    );
}
