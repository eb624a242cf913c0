//! `aox add mailbox`, `delete mailbox`, `list mailboxes`: RFC 9051 names,
//! CREATE's parents, and UIDs that are never reused (§2.3.1.1).

use serde_json::Value;

use crate::cli_support::{add_user, count, deliver, fails, json, ok, usage};
use crate::harness::TestDb;

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect()
}

fn mailbox(v: &Value, name: &str) -> Value {
    v.as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} in {v}"))
}

#[tokio::test]
async fn cli_add_mailbox_creates_missing_parents() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    let out = ok(&db.aox(&["add", "mailbox", "alice", "Lists/rust/announce"]));
    assert_eq!(
        out.trim(),
        "Created mailbox Lists/rust/announce for alice (and its parents Lists, Lists/rust)"
    );
    let v = json(&db.aox(&["--json", "list", "mailboxes", "-o", "alice"]));
    assert_eq!(
        names(&v),
        ["INBOX", "Lists", "Lists/rust", "Lists/rust/announce"]
    );
    // With the parent there, only the child is new.
    let out = ok(&db.aox(&["add", "mailbox", "alice", "Lists/go"]));
    assert_eq!(out.trim(), "Created mailbox Lists/go for alice");
    let err = fails(&db.aox(&["add", "mailbox", "alice", "Lists/rust"]));
    assert!(
        err.contains("mailbox \"Lists/rust\" of alice already exists"),
        "{err}"
    );
    let err = fails(&db.aox(&["add", "mailbox", "bob", "Lists"]));
    assert!(err.contains("no user named \"bob\""), "{err}");
}

#[tokio::test]
async fn cli_inbox_is_case_insensitive_and_cannot_be_deleted() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    let err = fails(&db.aox(&["add", "mailbox", "alice", "inbox"]));
    assert!(
        err.contains("mailbox \"INBOX\" of alice already exists"),
        "{err}"
    );
    let out = ok(&db.aox(&["add", "mailbox", "alice", "iNbOx/Receipts"]));
    assert!(out.contains("INBOX/Receipts"), "{out}");
    // Only the first component is special.
    ok(&db.aox(&["add", "mailbox", "alice", "Old/inbox"]));
    let v = json(&db.aox(&["--json", "list", "mailboxes", "-o", "alice"]));
    assert_eq!(names(&v), ["INBOX", "INBOX/Receipts", "Old", "Old/inbox"]);
    let v = json(&db.aox(&["--json", "list", "mailboxes", "inbox*"]));
    assert_eq!(names(&v), ["INBOX", "INBOX/Receipts"]);

    for name in ["INBOX", "Inbox"] {
        let err = fails(&db.aox(&["delete", "mailbox", "-f", "alice", name]));
        assert!(err.contains("INBOX cannot be deleted"), "{err}");
    }
}

#[tokio::test]
async fn cli_mailbox_names_are_validated() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    for bad in ["a//b", "/a", "a/", "a*", "50%"] {
        let err = fails(&db.aox(&["add", "mailbox", "alice", bad]));
        assert!(err.contains(&format!("mailbox name {bad:?}")), "{err}");
    }
    assert_eq!(count(&db, "SELECT count(*) FROM mailboxes").await, 1);
    usage(&db.aox(&["add", "mailbox", "alice"]));
}

#[tokio::test]
async fn cli_add_mailbox_with_special_use() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    ok(&db.aox(&[
        "add",
        "mailbox",
        "--special-use",
        "\\Sent",
        "alice",
        "Sent Items",
    ]));
    ok(&db.aox(&["add", "mailbox", "--special-use", "trash", "alice", "Bin"]));
    let table = ok(&db.aox(&["list", "mailboxes", "-o", "alice"]));
    assert!(
        table
            .lines()
            .any(|l| l.contains("Sent Items") && l.contains("\\Sent")),
        "{table}"
    );
    let v = json(&db.aox(&["--json", "list", "mailboxes"]));
    assert_eq!(mailbox(&v, "Bin")["special_use"], "\\Trash");
    assert_eq!(mailbox(&v, "INBOX")["special_use"], Value::Null);
    assert_eq!(mailbox(&v, "INBOX")["subscribed"], true);
    let err = fails(&db.aox(&[
        "add",
        "mailbox",
        "--special-use",
        "\\Important",
        "alice",
        "X",
    ]));
    assert!(
        err.contains("\"\\\\Important\" is not a special-use attribute"),
        "{err}"
    );
}

#[tokio::test]
async fn cli_delete_mailbox_refused_with_mail_children_or_aliases() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    ok(&db.aox(&["add", "mailbox", "alice", "Work/2024"]));
    deliver(&db, "alice", "Work/2024", 1).await;
    deliver(&db, "alice", "Work/2024", 2).await;

    let err = fails(&db.aox(&["delete", "mailbox", "alice", "Work/2024"]));
    assert!(
        err.contains("mailbox \"Work/2024\" of alice has 2 messages"),
        "{err}"
    );
    let err = fails(&db.aox(&["delete", "mailbox", "-f", "alice", "Work"]));
    assert!(err.contains("has 1 child mailbox;"), "{err}");
    let err = fails(&db.aox(&["delete", "mailbox", "alice", "Nope"]));
    assert!(err.contains("alice has no mailbox named \"Nope\""), "{err}");

    ok(&db.aox(&["add", "mailbox", "alice", "Lists"]));
    ok(&db.aox(&["add", "alias", "lists@example.org", "alice", "Lists"]));
    let err = fails(&db.aox(&["delete", "mailbox", "alice", "Lists"]));
    assert!(err.contains("lists@example.org"), "{err}");
    assert_eq!(
        count(&db, "SELECT count(*) FROM mailboxes WHERE deleted").await,
        0
    );
}

#[tokio::test]
async fn cli_delete_mailbox_f_moves_entries_to_tombstones() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    ok(&db.aox(&["add", "mailbox", "alice", "Trash"]));
    deliver(&db, "alice", "Trash", 1).await;
    deliver(&db, "alice", "Trash", 2).await;
    let before = mailbox(
        &json(&db.aox(&["--json", "list", "mailboxes", "-s"])),
        "Trash",
    );
    assert_eq!(before["messages"], 2);

    let out = ok(&db.aox(&["delete", "mailbox", "-f", "alice", "Trash"]));
    assert_eq!(
        out.trim(),
        "Deleted mailbox Trash of alice; 2 messages moved to the expunged entries"
    );

    let client = db.owner().await;
    let rows = client
        .query(
            "SELECT e.uid, e.reason, e.modseq, m.highest_modseq FROM expunged_entries e \
             JOIN mailboxes m ON m.user_id = e.user_id AND m.id = e.mailbox_id WHERE m.name = 'Trash' ORDER BY uid",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for (row, uid) in rows.iter().zip([1i64, 2]) {
        assert_eq!(row.get::<_, i64>(0), uid);
        assert_eq!(row.get::<_, String>(1), "aox delete mailbox -f");
        // The tombstones carry the new highest modseq, above the entries' own.
        assert_eq!(row.get::<_, i64>(2), row.get::<_, i64>(3));
        assert!(row.get::<_, i64>(2) > before["highest_modseq"].as_i64().unwrap());
    }
    assert_eq!(count(&db, "SELECT count(*) FROM mailbox_entries").await, 0);
    assert_eq!(
        count(&db, "SELECT count(*) FROM mailbox_changes WHERE kind = 'expunged' AND uid_low = 1 AND uid_high = 2").await,
        1
    );
    let row = client
        .query_one(
            "SELECT deleted, message_count, unseen_count, total_size FROM mailboxes WHERE name = 'Trash'",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    assert_eq!(
        (
            row.get::<_, i64>(1),
            row.get::<_, i64>(2),
            row.get::<_, i64>(3)
        ),
        (0, 0, 0)
    );
    let v = json(&db.aox(&["--json", "list", "mailboxes"]));
    assert_eq!(names(&v), ["INBOX"], "deleted mailboxes are not listed");
}

#[tokio::test]
async fn cli_recreated_mailbox_keeps_uidvalidity_and_uidnext() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    ok(&db.aox(&["add", "mailbox", "alice", "Projects/Old"]));
    deliver(&db, "alice", "Projects/Old", 1).await;
    deliver(&db, "alice", "Projects/Old", 2).await;
    let before = mailbox(
        &json(&db.aox(&["--json", "list", "mailboxes", "-s"])),
        "Projects/Old",
    );
    assert_eq!(before["uidnext"], 3);
    ok(&db.aox(&["delete", "mailbox", "-f", "alice", "Projects/Old"]));
    ok(&db.aox(&["delete", "mailbox", "alice", "Projects"]));

    let out = ok(&db.aox(&["add", "mailbox", "alice", "Projects/Old"]));
    assert!(out.contains("(and its parent Projects)"), "{out}");
    let after = mailbox(
        &json(&db.aox(&["--json", "list", "mailboxes", "-s"])),
        "Projects/Old",
    );
    assert_eq!(after["uidvalidity"], before["uidvalidity"]);
    assert_eq!(
        after["uidnext"], 3,
        "UIDs 1 and 2 are never handed out again"
    );
    assert_eq!(after["messages"], 0);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM mailboxes WHERE name LIKE 'Projects%'"
        )
        .await,
        2,
        "same rows"
    );
}

#[tokio::test]
async fn cli_list_mailboxes_with_sizes_owner_and_pattern() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    add_user(&db, "bob");
    ok(&db.aox(&["add", "mailbox", "bob", "Sent"]));
    deliver(&db, "alice", "INBOX", 1).await;
    deliver(&db, "alice", "INBOX", 2).await;

    let table = ok(&db.aox(&["list", "mailboxes"]));
    let header = table.lines().next().unwrap();
    assert!(
        header.contains("Owner") && header.contains("Name") && !header.contains("UIDNEXT"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 4, "{table}");

    let table = ok(&db.aox(&["list", "mailboxes", "-s", "-o", "alice"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].contains("Messages") && lines[0].contains("UIDVALIDITY"),
        "{table}"
    );
    let inbox: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        &inbox[..8],
        ["alice", "INBOX", "-", "yes", "2", "2", "200", "3"],
        "{table}"
    );

    let v = json(&db.aox(&["--json", "list", "mailboxes", "-s", "-o", "alice"]));
    let inbox = mailbox(&v, "INBOX");
    assert_eq!(
        (
            inbox["messages"].as_i64(),
            inbox["unseen"].as_i64(),
            inbox["size"].as_i64()
        ),
        (Some(2), Some(2), Some(200))
    );
    assert_eq!(inbox["owner"], "alice");
    assert!(inbox["uidvalidity"].as_i64().unwrap() > 1);

    let v = json(&db.aox(&["--json", "list", "mailboxes", "S*"]));
    assert_eq!(names(&v), ["Sent"]);
    assert_eq!(v[0]["owner"], "bob");
    let err = fails(&db.aox(&["list", "mailboxes", "-o", "carol"]));
    assert!(err.contains("no user named \"carol\""), "{err}");
}
