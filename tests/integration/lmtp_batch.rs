//! LMTP group commit (src/lmtp/group_commit.rs): concurrent deliveries
//! share one transaction, each still gets its own reply after the commit,
//! and a message the database refuses fails alone. Batches are made
//! certain, not hoped for: a transaction of the test's holds a recipient's
//! mailbox row, so the first batch waits on it while the others queue, and
//! the test watches the delivery task's counters to know when they have.

use std::net::SocketAddr;
use std::time::Duration;

use archiveopteryx::lmtp::group_commit::{GroupCommit, Stats};
use archiveopteryx::store::{Db, DbRole};

use crate::harness::TestDb;
use crate::lmtp::{Lmtp, add_users, count, message, served};

/// An LMTP server for `db` with one delivery task (so which deliveries
/// share a batch is certain), and the task's handle.
async fn start(db: &TestDb) -> (SocketAddr, GroupCommit) {
    let mut config = db.config();
    config.set("lmtp-delivery-tasks", "1").unwrap();
    let runtime_db = Db::from_config(&config, DbRole::Runtime);
    let state = archiveopteryx::server::shared_state(config, &runtime_db).unwrap();
    let deliveries = state.deliveries.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, peer)) = listener.accept().await {
            tokio::spawn(archiveopteryx::lmtp::serve(tcp, peer, state.clone()));
        }
    });
    (addr, deliveries)
}

/// Waits until the delivery task's counters satisfy `until`; a minute
/// without that is a failure, not a hang.
async fn wait_for(deliveries: &GroupCommit, what: &str, until: impl FnMut(&Stats) -> bool) {
    let mut stats = deliveries.stats();
    let waited = tokio::time::timeout(Duration::from_secs(60), stats.wait_for(until)).await;
    let now = *deliveries.stats().borrow();
    assert!(matches!(waited, Ok(Ok(_))), "{what}: {now:?}");
}

/// Locks `login`'s INBOX row as a delivery would, in a transaction of the
/// superuser's; deliveries there wait until `release`.
struct Held {
    client: tokio_postgres::Client,
}

impl Held {
    async fn inbox(db: &TestDb, login: &str) -> Held {
        let client = db.superuser().await;
        client.batch_execute("BEGIN").await.unwrap();
        let locked = client
            .execute(
                "SELECT 1 FROM mailboxes m JOIN users u ON u.id = m.user_id \
                 WHERE u.login = $1 AND m.name = 'INBOX' FOR UPDATE OF m",
                &[&login],
            )
            .await
            .unwrap();
        assert_eq!(locked, 1);
        Held { client }
    }

    async fn release(self) {
        self.client.batch_execute("COMMIT").await.unwrap();
    }
}

/// 20 threads of smtplib.LMTP, 5 messages each: message k of thread i goes
/// to alice, and to bob too when k is even. Prints one line per message
/// with its replies; exits 1 on any reply but 250.
const SMTPLIB_THREADS: &str = r#"
import smtplib, sys, threading
host, port = sys.argv[1], int(sys.argv[2])
lines, failed = [], []
def message(i, k):
    return ("From: Carol <carol@example.net>\r\nTo: alice@example.org\r\n"
            f"Subject: t{i}-{k}\r\nDate: Mon, 2 Jan 2006 15:04:05 +0000\r\n"
            f"Message-ID: <t{i}-{k}@example.net>\r\n\r\nHello from {i}, number {k}.\r\n")
def client(i):
    try:
        s = smtplib.LMTP(host, port)
        s.ehlo("client.example.org")
        for k in range(5):
            rcpts = ["alice@example.org"] + (["bob@example.org"] if k % 2 == 0 else [])
            s.mail("carol@example.net")
            for r in rcpts:
                code, msg = s.rcpt(r)
                assert code == 250, (r, code, msg)
            replies = [s.data(message(i, k))]
            for _ in rcpts[1:]:
                replies.append(s.getreply())
            lines.append(f"{i} {k} " + " ".join(str(c) for c, _ in replies))
            if any(c != 250 for c, _ in replies):
                failed.append(lines[-1])
        s.quit()
    except Exception as e:
        failed.append(repr(e))
threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
for t in threads: t.start()
for t in threads: t.join()
print("\n".join(sorted(lines)))
if failed:
    print("FAILED", failed, file=sys.stderr)
    sys.exit(1)
"#;

fn smtplib_message(i: u32, k: u32) -> Vec<u8> {
    format!(
        "Return-Path: <carol@example.net>\r\n\
         From: Carol <carol@example.net>\r\nTo: alice@example.org\r\nSubject: t{i}-{k}\r\n\
         Date: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <t{i}-{k}@example.net>\r\n\r\n\
         Hello from {i}, number {k}.\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn group_commit_twenty_concurrent_smtplib_sessions_all_get_250_and_each_message_is_stored_once()
 {
    let db = TestDb::new().await;
    add_users(&db);
    let (addr, deliveries) = start(&db).await;
    let held = Held::inbox(&db, "alice").await;
    let python = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(SMTPLIB_THREADS)
        .arg("127.0.0.1")
        .arg(addr.port().to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Every thread's first message has reached the task; those not in the
    // (blocked) first batch are queued behind it.
    wait_for(&deliveries, "20 first messages submitted", |s| {
        s.submitted >= 20
    })
    .await;
    held.release().await;
    let out = python.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8(out.stdout).unwrap();
    assert_eq!(said.lines().count(), 100, "{said}");

    // Each message exactly once, byte for byte, in the right mailboxes.
    let mut alice = served(&db, "alice", "INBOX").await;
    let mut bob = served(&db, "bob", "INBOX").await;
    let mut want_alice: Vec<Vec<u8>> = Vec::new();
    let mut want_bob: Vec<Vec<u8>> = Vec::new();
    for i in 0..20 {
        for k in 0..5 {
            want_alice.push(smtplib_message(i, k));
            if k % 2 == 0 {
                want_bob.push(smtplib_message(i, k));
            }
        }
    }
    for v in [&mut alice, &mut bob, &mut want_alice, &mut want_bob] {
        v.sort();
    }
    assert!(alice == want_alice, "alice's INBOX differs");
    assert!(bob == want_bob, "bob's INBOX differs");
    assert_eq!(count(&db, "SELECT count(*) FROM messages").await, 160);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM audit_log WHERE action = 'deliver' AND actor = 'lmtp'"
        )
        .await,
        160
    );
    // Counters, UIDs without gaps, and change-log rows that cover them.
    for (login, n) in [("alice", 100), ("bob", 60)] {
        let row = db
            .superuser()
            .await
            .query_one(
                "SELECT m.message_count, m.uidnext, \
                 (SELECT coalesce(sum(c.uid_high - c.uid_low + 1), 0)::int8 FROM mailbox_changes c \
                  WHERE c.user_id = m.user_id AND c.mailbox_id = m.id AND c.kind = 'new') \
                 FROM mailboxes m JOIN users u ON u.id = m.user_id \
                 WHERE u.login = $1 AND m.name = 'INBOX'",
                &[&login],
            )
            .await
            .unwrap();
        assert_eq!(
            (
                row.get::<_, i64>(0),
                row.get::<_, i64>(1),
                row.get::<_, i64>(2)
            ),
            (n, n + 1, n),
            "{login}"
        );
    }
    // One transaction held at least half of the first 20 messages: their
    // audit rows share the transaction's timestamp.
    let largest = count(
        &db,
        "SELECT max(c)::int8 FROM (SELECT count(*) AS c FROM audit_log \
         WHERE action = 'deliver' GROUP BY at) x",
    )
    .await;
    assert!(largest >= 10, "the largest transaction stored {largest}");
    let stats = *deliveries.stats().borrow();
    assert_eq!((stats.submitted, stats.taken), (100, 100));
    assert!(stats.commits < 100, "{stats:?}");
}

/// One LMTP session delivering `subject` to `rcpts`; the replies after DATA.
async fn deliver(addr: SocketAddr, rcpts: Vec<&'static str>, subject: String) -> Vec<String> {
    let mut c = Lmtp::ready(addr).await;
    assert!(
        c.one("MAIL FROM:<carol@example.net>")
            .await
            .starts_with("250 ")
    );
    for r in &rcpts {
        let reply = c.one(&format!("RCPT TO:<{r}>")).await;
        assert!(reply.starts_with("250 "), "{reply}");
    }
    assert!(c.one("DATA").await.starts_with("354 "));
    c.send(format!("{}.\r\n", message(&subject)).as_bytes())
        .await;
    let mut replies = Vec::new();
    for _ in &rcpts {
        replies.push(c.line().await);
    }
    replies
}

#[tokio::test]
async fn group_commit_a_message_that_fails_alone_fails_alone_and_its_batch_is_delivered() {
    let db = TestDb::new().await;
    add_users(&db);
    // bob's INBOX has run out of UIDs (RFC 3501 §2.3.1.1: at most 2^32-1),
    // so the store refuses any message for it.
    db.superuser()
        .await
        .execute(
            "UPDATE mailboxes SET uidnext = 4294967296 \
             WHERE user_id = (SELECT id FROM users WHERE login = 'bob') AND name = 'INBOX'",
            &[],
        )
        .await
        .unwrap();
    let (addr, deliveries) = start(&db).await;
    let held = Held::inbox(&db, "alice").await;
    // The first batch: one message, waiting on alice's INBOX.
    let first = tokio::spawn(deliver(addr, vec!["alice@example.org"], "first".into()));
    wait_for(&deliveries, "the first batch taken", |s| s.taken >= 1).await;
    // The second batch: eight good messages, one for bob alone, and one for
    // alice and bob together (stored for both or neither).
    let mut sessions = Vec::new();
    for i in 0..8 {
        sessions.push(tokio::spawn(deliver(
            addr,
            vec!["alice@example.org"],
            format!("good{i}"),
        )));
    }
    let bad = tokio::spawn(deliver(addr, vec!["bob@example.org"], "bad".into()));
    let both = tokio::spawn(deliver(
        addr,
        vec!["alice@example.org", "bob@example.org"],
        "both".into(),
    ));
    wait_for(&deliveries, "ten deliveries queued", |s| {
        s.submitted.saturating_sub(s.taken) >= 10
    })
    .await;
    held.release().await;

    assert_eq!(
        first.await.unwrap(),
        ["250 2.1.5 <alice@example.org> delivered"]
    );
    for s in sessions {
        assert_eq!(
            s.await.unwrap(),
            ["250 2.1.5 <alice@example.org> delivered"]
        );
    }
    let failed = "temporary failure storing the message";
    assert_eq!(
        bad.await.unwrap(),
        [format!("451 4.3.0 <bob@example.org>: {failed}")]
    );
    assert_eq!(
        both.await.unwrap(),
        [
            format!("451 4.3.0 <alice@example.org>: {failed}"),
            format!("451 4.3.0 <bob@example.org>: {failed}"),
        ]
    );
    // The second batch of ten was one transaction that failed; its
    // deliveries were then tried one by one: eight commits.
    let stats = *deliveries.stats().borrow();
    assert_eq!((stats.submitted, stats.taken), (11, 11));
    assert_eq!(stats.commits, 1 + 8, "{stats:?}");

    let alice = served(&db, "alice", "INBOX").await;
    assert_eq!(alice.len(), 9);
    for s in ["first", "good0", "good7"] {
        let id = format!("Message-ID: <{s}@example.net>");
        assert_eq!(
            alice
                .iter()
                .filter(|m| String::from_utf8_lossy(m).contains(&id))
                .count(),
            1,
            "{s}"
        );
    }
    // Nothing of the refused messages is half-stored.
    assert_eq!(count(&db, "SELECT count(*) FROM messages").await, 9);
    assert_eq!(count(&db, "SELECT count(*) FROM mailbox_entries").await, 9);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM messages m JOIN users u ON u.id = m.user_id WHERE u.login = 'bob'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM audit_log WHERE action = 'deliver'"
        )
        .await,
        9
    );
}
