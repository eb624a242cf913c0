//! kill -9 in the middle of `aox import`: what was committed is whole
//! batches with exact counters, and a re-run stores the rest, each message
//! exactly once.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::cli_support::add_user;
use crate::harness::TestDb;
use crate::import_support::{assert_consistent, gen_mbox, import_json, mailbox_ids, n, sha256};

const MESSAGES: usize = 3000;

async fn entries_in(client: &tokio_postgres::Client, user: i64, mailbox: i64) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM mailbox_entries WHERE user_id = $1 AND mailbox_id = $2",
            &[&user, &mailbox],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn import_killed_mid_way_leaves_whole_batches_and_a_rerun_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mbox) = gen_mbox(
        &["-n", "3000", "-s", "7", "--max-attachment", "20000"],
        &dir.path().join("big.mbox"),
    ) else {
        return;
    };
    // The archive's messages in order, and that no two are byte-identical.
    let order: Vec<[u8; 32]> = archiveopteryx::archive::open(&mbox)
        .unwrap()
        .map(|m| sha256(&m.unwrap().raw))
        .collect();
    assert_eq!(order.len(), MESSAGES);
    assert_eq!(
        order.iter().collect::<HashSet<_>>().len(),
        MESSAGES,
        "the generator repeated a message"
    );

    let db = TestDb::new().await;
    add_user(&db, "alice");
    let started = std::time::Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_aox"))
        .arg("-c")
        .arg(&db.config_path)
        .args(["import", "alice", "Big"])
        .arg(&mbox)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // Wait (polling, bounded) until some batch is committed, then kill -9.
    let owner = db.owner().await;
    let mut seen: i64 = 0;
    for _ in 0..12_000 {
        seen = owner
            .query_one(
                "SELECT count(*) FROM mailbox_entries e JOIN mailboxes m \
                 ON m.user_id = e.user_id AND m.id = e.mailbox_id \
                 JOIN users u ON u.id = m.user_id WHERE u.login = 'alice' AND m.name = 'Big'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if seen > 0 {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the import ended ({status}) before any batch was seen");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(seen > 0, "no batch was committed within two minutes");

    // The killed client's backend may still be inside a transaction until it
    // notices; wait until no other session has one open, so what follows
    // sees the final state.
    for i in 0.. {
        let open: i64 = owner
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND pid <> pg_backend_pid() AND xact_start IS NOT NULL",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if open == 0 {
            break;
        }
        assert!(i < 3000, "the killed import's transaction never ended");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (user, mailbox) = mailbox_ids(&db, "alice", "Big").await.unwrap();
    let present = assert_consistent(&db, "alice", "Big").await;
    eprintln!(
        "killed after {:.1?} with {present} of {MESSAGES} messages stored",
        started.elapsed()
    );
    assert!(
        present > 0 && (present as usize) < MESSAGES,
        "{present} entries: the import was not caught mid-way"
    );
    // What was committed is a prefix of the archive, in order, each once.
    let stored: Vec<[u8; 32]> = owner
        .query(
            "SELECT g.raw_sha256 FROM mailbox_entries e JOIN messages g \
             ON g.user_id = e.user_id AND g.id = e.message_id \
             WHERE e.user_id = $1 AND e.mailbox_id = $2 ORDER BY e.uid",
            &[&user, &mailbox],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| <[u8; 32]>::try_from(r.get::<_, &[u8]>(0)).unwrap())
        .collect();
    assert!(
        stored[..] == order[..stored.len()],
        "the committed messages are not the archive's first {}",
        stored.len()
    );
    // Every committed batch is in the change log, and only those.
    let logged: i64 = owner
        .query_one(
            "SELECT coalesce(sum(uid_high - uid_low + 1), 0)::bigint FROM mailbox_changes \
             WHERE user_id = $1 AND mailbox_id = $2 AND kind = 'new'",
            &[&user, &mailbox],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(logged, present);

    // The re-run stores the rest and says the others were already there.
    let v = import_json(&db, "alice", "Big", &[&mbox]);
    eprintln!(
        "the re-run finished {:.1?} after the start",
        started.elapsed()
    );
    assert_eq!(n(&v, "read"), MESSAGES as u64, "{v}");
    assert_eq!(n(&v, "skipped"), present as u64, "{v}");
    assert_eq!(n(&v, "stored"), MESSAGES as u64 - present as u64, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains(&format!(", {present} already there, ")),
        "{v}"
    );
    assert_eq!(
        assert_consistent(&db, "alice", "Big").await,
        MESSAGES as i64
    );
    let distinct: i64 = owner
        .query_one(
            "SELECT count(DISTINCT g.raw_sha256) FROM mailbox_entries e JOIN messages g \
             ON g.user_id = e.user_id AND g.id = e.message_id \
             WHERE e.user_id = $1 AND e.mailbox_id = $2",
            &[&user, &mailbox],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(distinct, MESSAGES as i64, "every message exactly once");
    assert_eq!(entries_in(&owner, user, mailbox).await, MESSAGES as i64);
}
