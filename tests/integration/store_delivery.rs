//! store::delivery: address resolution and one message for many mailboxes
//! in one transaction.

use archiveopteryx::mime;
use archiveopteryx::store::delivery::{Target, deliver, resolve};
use archiveopteryx::store::inject::{NewMessage, SystemFlags};
use archiveopteryx::store::mailboxes::mailbox_id;

use crate::harness::{TestDb, stderr};

fn ok(out: &std::process::Output) {
    assert!(out.status.success(), "{}", stderr(out));
}

fn new_message(subject: &str) -> NewMessage {
    let raw = format!(
        "From: carol@example.net\r\nSubject: {subject}\r\nDate: Mon, 2 Jan 2006 15:04:05 +0000\r\n\
         Message-ID: <{subject}@example.net>\r\n\r\nHello.\r\n"
    )
    .into_bytes();
    NewMessage::new(
        mime::ingest(&raw),
        raw,
        1_136_214_245,
        SystemFlags::default(),
        Vec::new(),
    )
}

async fn target(db: &TestDb, login: &str, mailbox: &str) -> Target {
    let (user, mailbox) = mailbox_id(&db.owner().await, login, mailbox).await.unwrap();
    Target { user, mailbox }
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    db.superuser()
        .await
        .query_one(sql, &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn aliases_resolve_case_insensitively_and_subaddresses_only_when_enabled() {
    let db = TestDb::new().await;
    ok(&db.aox(&["add", "user", "alice", "secret", "alice@example.org"]));
    ok(&db.aox(&["add", "mailbox", "alice", "Lists"]));
    ok(&db.aox(&["add", "alias", "lists@example.org", "alice", "Lists"]));
    ok(&db.aox(&[
        "add",
        "alias",
        "alice+special@example.org",
        "alice",
        "Lists",
    ]));
    let inbox = target(&db, "alice", "INBOX").await;
    let lists = target(&db, "alice", "Lists").await;
    let rt = db.runtime().await;
    assert_eq!(
        resolve(&rt, None, "ALICE@example.ORG", false)
            .await
            .unwrap(),
        Some(inbox)
    );
    assert_eq!(
        resolve(&rt, None, "lists@example.org", false)
            .await
            .unwrap(),
        Some(lists)
    );
    assert_eq!(
        resolve(&rt, None, "alice+x@example.org", false)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        resolve(&rt, None, "alice+x@example.org", true)
            .await
            .unwrap(),
        Some(inbox)
    );
    // An explicit alias with a tag wins over the tagless address.
    assert_eq!(
        resolve(&rt, None, "alice+special@example.org", true)
            .await
            .unwrap(),
        Some(lists)
    );
    assert_eq!(
        resolve(&rt, None, "nobody@example.org", true)
            .await
            .unwrap(),
        None
    );

    // A disabled user receives nothing.
    db.superuser()
        .await
        .batch_execute("UPDATE users SET disabled = true WHERE login = 'alice'")
        .await
        .unwrap();
    assert_eq!(
        resolve(&rt, None, "alice@example.org", false)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn one_message_for_many_mailboxes_gets_one_entry_each_and_content_once_per_user() {
    let db = TestDb::new().await;
    ok(&db.aox(&["add", "user", "alice", "secret", "alice@example.org"]));
    ok(&db.aox(&["add", "mailbox", "alice", "Lists"]));
    ok(&db.aox(&["add", "user", "bob", "secret", "bob@example.org"]));
    let inbox = target(&db, "alice", "INBOX").await;
    let lists = target(&db, "alice", "Lists").await;
    let bob = target(&db, "bob", "INBOX").await;
    let gone = Target {
        user: inbox.user,
        mailbox: 999_999,
    };
    let mut rt = db.runtime().await;
    // The same mailbox twice (two addresses for one mailbox) is one entry.
    let placed = deliver(
        &mut rt,
        &[lists, inbox, gone, bob, inbox],
        &new_message("m"),
    )
    .await
    .unwrap();
    let uids: Vec<Option<i64>> = placed.iter().map(|p| p.as_ref().map(|p| p.uid)).collect();
    assert_eq!(uids, [Some(1), Some(1), None, Some(1), Some(1)]);
    assert_eq!(placed[1], placed[4]);
    assert_eq!(count(&db, "SELECT count(*) FROM mailbox_entries").await, 3);
    assert_eq!(count(&db, "SELECT count(*) FROM messages").await, 2);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM mailbox_changes WHERE kind = 'new'"
        )
        .await,
        3,
        "one change row per mailbox"
    );
    assert_eq!(
        count(&db, "SELECT sum(message_count)::int8 FROM mailboxes").await,
        3
    );

    // Only missing mailboxes: nothing is committed, not even content.
    let placed = deliver(&mut rt, &[gone], &new_message("lost"))
        .await
        .unwrap();
    assert_eq!(placed, [None]);
    assert_eq!(count(&db, "SELECT count(*) FROM messages").await, 2);
}
