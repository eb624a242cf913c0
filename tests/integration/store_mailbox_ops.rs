//! DELETE, RENAME, SUBSCRIBE and the LIST rows (RFC 9051 §6.3.5–§6.3.9), as
//! the runtime role.

use archiveopteryx::mime;
use archiveopteryx::search::SearchKey;
use archiveopteryx::store::StoreError;
use archiveopteryx::store::inject::{self, NewMessage, SystemFlags};
use archiveopteryx::store::mailbox_ops::{
    ASIDE_PREFIX, ImapMailbox, delete, imap_mailboxes, rename, set_subscribed,
};
use archiveopteryx::store::search::search;

use crate::harness::TestDb;

/// alice (whose INBOX `aox add user` subscribes) and her `mailboxes`.
async fn alice(db: &TestDb, mailboxes: &[&str]) -> (tokio_postgres::Client, i64) {
    assert!(
        db.aox(&["add", "user", "alice", "secret", "alice@example.org"])
            .status
            .success()
    );
    for m in mailboxes {
        let out = db.aox(&["add", "mailbox", "alice", m]);
        assert!(out.status.success(), "{out:?}");
    }
    let runtime = db.runtime().await;
    let user: i64 = runtime
        .query_one("SELECT id FROM users WHERE login = 'alice'", &[])
        .await
        .unwrap()
        .get(0);
    (runtime, user)
}

/// (id, uidvalidity, deleted) of `name`.
async fn row(c: &tokio_postgres::Client, user: i64, name: &str) -> Option<(i64, i64, bool)> {
    c.query_opt(
        "SELECT id, uidvalidity, deleted FROM mailboxes WHERE user_id = $1 AND name = $2",
        &[&user, &name],
    )
    .await
    .unwrap()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
}

async fn id(c: &tokio_postgres::Client, user: i64, name: &str) -> i64 {
    row(c, user, name).await.unwrap().0
}

async fn put(c: &mut tokio_postgres::Client, user: i64, mailbox: i64, subjects: &[&str]) {
    let batch: Vec<NewMessage> = subjects
        .iter()
        .map(|s| {
            let raw = format!(
                "From: a@example.org\r\nSubject: {s}\r\nMessage-ID: <{s}@example.org>\r\n\r\n{s}\r\n"
            )
            .into_bytes();
            NewMessage::new(
                mime::ingest(&raw),
                raw,
                1_700_000_000,
                SystemFlags {
                    seen: s.starts_with("seen"),
                    ..Default::default()
                },
                vec![],
            )
        })
        .collect();
    inject::inject(c, user, mailbox, &batch).await.unwrap();
}

async fn counters(c: &tokio_postgres::Client, id: i64) -> (i64, i64, i64, i64) {
    let r = c
        .query_one(
            "SELECT message_count, unseen_count, uidnext, highest_modseq FROM mailboxes WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3))
}

fn listed(v: &[ImapMailbox]) -> Vec<(String, bool, bool, bool)> {
    v.iter()
        .map(|m| (m.name.clone(), m.deleted, m.has_children, m.subscribed))
        .collect()
}

fn l(
    name: &str,
    deleted: bool,
    has_children: bool,
    subscribed: bool,
) -> (String, bool, bool, bool) {
    (name.to_string(), deleted, has_children, subscribed)
}

#[tokio::test]
async fn rfc9051_6_3_5_delete_tombstones_the_entries_and_keeps_the_children() {
    let db = TestDb::new().await;
    let (mut c, user) = alice(&db, &["a/b"]).await;
    let a = id(&c, user, "a").await;
    put(&mut c, user, a, &["one", "seen two"]).await;

    delete(&mut c, user, "a", user).await.unwrap();

    assert!(row(&c, user, "a").await.unwrap().2);
    let (count, unseen, uidnext, modseq) = counters(&c, a).await;
    assert_eq!((count, unseen, uidnext), (0, 0, 3));
    let tombstones = c
        .query(
            "SELECT uid, expunged_by, reason FROM expunged_entries WHERE mailbox_id = $1 ORDER BY uid",
            &[&a],
        )
        .await
        .unwrap();
    let tombstones: Vec<(i64, Option<i64>, String)> = tombstones
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        tombstones,
        vec![
            (1, Some(user), "delete mailbox".to_string()),
            (2, Some(user), "delete mailbox".to_string())
        ]
    );
    let change: (i64, String, i64, i64) = c
        .query_one(
            "SELECT modseq, kind, uid_low, uid_high FROM mailbox_changes WHERE mailbox_id = $1 \
             ORDER BY modseq DESC LIMIT 1",
            &[&a],
        )
        .await
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .unwrap();
    assert_eq!(change, (modseq, "expunged".to_string(), 1, 2));
    assert_eq!(
        search(&c, user, a, &SearchKey::All).await.unwrap(),
        Vec::<u32>::new()
    );

    // The deleted parent stays in the hierarchy for LIST (\NonExistent \HasChildren).
    let list = imap_mailboxes(&c, user).await.unwrap();
    assert_eq!(
        listed(&list),
        vec![
            l("INBOX", false, false, true),
            l("a", true, true, false),
            l("a/b", false, false, false)
        ]
    );

    // Once the last child goes too, the deleted row is nothing to list.
    delete(&mut c, user, "a/b", user).await.unwrap();
    let list = imap_mailboxes(&c, user).await.unwrap();
    assert_eq!(listed(&list), vec![l("INBOX", false, false, true)]);
}

#[tokio::test]
async fn rfc9051_6_3_5_inbox_unknown_and_aliased_mailboxes_cannot_be_deleted() {
    let db = TestDb::new().await;
    let (mut c, user) = alice(&db, &["gone", "Lists"]).await;
    let out = db.aox(&["add", "alias", "lists@example.org", "alice", "Lists"]);
    assert!(out.status.success(), "{out:?}");
    assert!(matches!(
        delete(&mut c, user, "Lists", user).await,
        Err(StoreError::InUse(_))
    ));
    assert!(!row(&c, user, "Lists").await.unwrap().2);
    assert!(matches!(
        delete(&mut c, user, "inbox", user).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        delete(&mut c, user, "nothing", user).await,
        Err(StoreError::NotFound(_))
    ));
    delete(&mut c, user, "gone", user).await.unwrap();
    assert!(matches!(
        delete(&mut c, user, "gone", user).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        delete(&mut c, user, "a//b", user).await,
        Err(StoreError::Invalid(_))
    ));
}

#[tokio::test]
async fn rfc9051_6_3_6_rename_moves_the_tree_keeps_uidvalidity_and_creates_parents() {
    let db = TestDb::new().await;
    let (mut c, user) = alice(&db, &["a/b/c"]).await;
    let before = [
        row(&c, user, "a").await.unwrap(),
        row(&c, user, "a/b").await.unwrap(),
        row(&c, user, "a/b/c").await.unwrap(),
    ];
    put(&mut c, user, before[1].0, &["kept"]).await;

    rename(&mut c, user, "a", "x/y").await.unwrap();

    let after = [
        row(&c, user, "x/y").await.unwrap(),
        row(&c, user, "x/y/b").await.unwrap(),
        row(&c, user, "x/y/b/c").await.unwrap(),
    ];
    assert_eq!(before, after);
    assert!(row(&c, user, "a").await.is_none());
    assert!(
        !row(&c, user, "x").await.unwrap().2,
        "the new parent exists"
    );
    assert_eq!(
        search(&c, user, after[1].0, &SearchKey::All).await.unwrap(),
        vec![1]
    );
    let names: Vec<String> = imap_mailboxes(&c, user)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["INBOX", "x", "x/y", "x/y/b", "x/y/b/c"]);
}

#[tokio::test]
async fn rfc9051_6_3_6_rename_onto_a_live_name_or_into_itself_is_refused_and_changes_nothing() {
    let db = TestDb::new().await;
    let (mut c, user) = alice(&db, &["a/b", "x/b", "taken"]).await;
    // x is deleted but x/b lives: a → x would move a/b onto x/b.
    delete(&mut c, user, "x", user).await.unwrap();
    assert!(matches!(
        rename(&mut c, user, "a", "x").await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        rename(&mut c, user, "a", "taken").await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        rename(&mut c, user, "a", "INBOX").await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        rename(&mut c, user, "a", "a").await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        rename(&mut c, user, "a", "a/b/c").await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        rename(&mut c, user, "nothing", "new").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        rename(&mut c, user, "x", "new").await,
        Err(StoreError::NotFound(_))
    ));
    let names: Vec<String> = imap_mailboxes(&c, user)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["INBOX", "a", "a/b", "taken", "x", "x/b"]);
    assert!(row(&c, user, "x").await.unwrap().2);
}

#[tokio::test]
async fn rfc9051_6_3_6_deleted_rows_in_the_way_are_set_aside_and_their_subscription_stays_with_the_name()
 {
    let db = TestDb::new().await;
    let (mut c, user) = alice(&db, &["a", "old"]).await;
    let a = row(&c, user, "a").await.unwrap();
    let old = id(&c, user, "old").await;
    set_subscribed(&c, user, "old", true).await.unwrap();
    delete(&mut c, user, "old", user).await.unwrap();

    rename(&mut c, user, "a", "old").await.unwrap();

    assert_eq!(row(&c, user, "old").await.unwrap(), a);
    let aside = row(&c, user, &format!("{ASIDE_PREFIX}{old}"))
        .await
        .unwrap();
    assert_eq!((aside.0, aside.2), (old, true));
    let list = imap_mailboxes(&c, user).await.unwrap();
    assert_eq!(
        listed(&list),
        vec![l("INBOX", false, false, true), l("old", false, false, true)]
    );
}

#[tokio::test]
async fn rfc9051_6_3_6_rename_to_its_own_parent_swaps_names_within_the_tree() {
    let db = TestDb::new().await;
    let (mut c, user) = alice(&db, &["p/q/q/r"]).await;
    let q = id(&c, user, "p/q").await;
    let qq = id(&c, user, "p/q/q").await;
    let r = id(&c, user, "p/q/q/r").await;
    delete(&mut c, user, "p", user).await.unwrap();

    // p/q/q → p/q while p/q → p: a one-step rename would collide.
    rename(&mut c, user, "p/q", "p").await.unwrap();

    assert_eq!(id(&c, user, "p").await, q);
    assert_eq!(id(&c, user, "p/q").await, qq);
    assert_eq!(id(&c, user, "p/q/r").await, r);
    let names: Vec<String> = imap_mailboxes(&c, user)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["INBOX", "p", "p/q", "p/q/r"]);
}

#[tokio::test]
async fn rfc9051_6_3_6_rename_inbox_moves_its_messages_to_a_new_mailbox_and_leaves_inbox_empty() {
    let db = TestDb::new().await;
    let (mut c, user) = alice(&db, &["INBOX/child"]).await;
    let (inbox, inbox_validity, _) = row(&c, user, "INBOX").await.unwrap();
    put(&mut c, user, inbox, &["one", "seen two", "three"]).await;

    rename(&mut c, user, "inbox", "Archive/2024").await.unwrap();

    let (new, new_validity, deleted) = row(&c, user, "Archive/2024").await.unwrap();
    assert!(!deleted);
    assert_ne!(new, inbox);
    assert_ne!(new_validity, inbox_validity);
    assert_eq!(
        row(&c, user, "INBOX").await.unwrap(),
        (inbox, inbox_validity, false)
    );
    assert_eq!(
        search(&c, user, new, &SearchKey::All).await.unwrap(),
        vec![1, 2, 3]
    );
    assert_eq!(
        search(
            &c,
            user,
            new,
            &SearchKey::Flag(archiveopteryx::search::Flag::Seen)
        )
        .await
        .unwrap(),
        vec![2]
    );
    assert_eq!(
        search(&c, user, inbox, &SearchKey::All).await.unwrap(),
        Vec::<u32>::new()
    );
    assert_eq!(counters(&c, new).await, (3, 2, 4, 2));
    let (count, unseen, uidnext, _) = counters(&c, inbox).await;
    assert_eq!((count, unseen, uidnext), (0, 0, 4));
    let news: i64 = c
        .query_one(
            "SELECT count(*) FROM mailbox_changes WHERE mailbox_id = $1 AND kind = 'new' AND uid_low = 1 AND uid_high = 3",
            &[&new],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(news, 1);
    // INBOX's children stay where they are; INBOX keeps receiving, above its old UIDs.
    let names: Vec<String> = imap_mailboxes(&c, user)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["Archive", "Archive/2024", "INBOX", "INBOX/child"]);
    put(&mut c, user, inbox, &["four"]).await;
    assert_eq!(
        search(&c, user, inbox, &SearchKey::All).await.unwrap(),
        vec![4]
    );
}

#[tokio::test]
async fn rfc9051_6_3_7_subscriptions_may_name_mailboxes_that_do_not_exist() {
    let db = TestDb::new().await;
    let (c, user) = alice(&db, &["a"]).await;
    set_subscribed(&c, user, "a", true).await.unwrap();
    set_subscribed(&c, user, "a", true).await.unwrap();
    set_subscribed(&c, user, "elsewhere", true).await.unwrap();
    set_subscribed(&c, user, "inbox", true).await.unwrap();
    let list = imap_mailboxes(&c, user).await.unwrap();
    assert_eq!(
        listed(&list),
        vec![
            l("INBOX", false, false, true),
            l("a", false, false, true),
            l("elsewhere", true, false, true)
        ]
    );

    set_subscribed(&c, user, "elsewhere", false).await.unwrap();
    set_subscribed(&c, user, "a", false).await.unwrap();
    let list = imap_mailboxes(&c, user).await.unwrap();
    assert_eq!(
        listed(&list),
        vec![l("INBOX", false, false, true), l("a", false, false, false)]
    );
    assert!(matches!(
        set_subscribed(&c, user, "never", false).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        set_subscribed(&c, user, "bad*", true).await,
        Err(StoreError::Invalid(_))
    ));
}
