//! `aox search` and `aox show search`: the IMAP search language over the
//! archive, for one mailbox, a user or everyone.

use crate::harness::{TestDb, stderr, stdout};

fn mbox(sender: &str, subjects: &[&str]) -> String {
    let mut m = String::new();
    for (i, subject) in subjects.iter().enumerate() {
        m.push_str(&format!(
            "From {sender} Mon Jan  2 15:04:05 2006\nFrom: {sender}\nTo: someone@example.org\n\
             Subject: {subject}\nMessage-ID: <{i}.{sender}>\nDate: Mon, 2 Jan 2006 15:04:05 +0000\n\nBody {i}.\n\n"
        ));
    }
    m
}

fn import(db: &TestDb, login: &str, mailbox: &str, text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.mbox");
    std::fs::write(&path, text).unwrap();
    let out = db.aox(&["import", login, mailbox, path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test]
async fn search_finds_matches_per_mailbox_user_and_store() {
    let db = TestDb::new().await;
    for (u, a) in [("alice", "alice@example.org"), ("bob", "bob@example.org")] {
        assert!(db.aox(&["add", "user", u, "pw", a]).status.success());
    }
    import(
        &db,
        "alice",
        "INBOX",
        &mbox(
            "carol@example.org",
            &["invoice march", "lunch", "Invoice april"],
        ),
    );
    import(
        &db,
        "alice",
        "Archive",
        &mbox("dave@example.org", &["old invoice"]),
    );
    import(
        &db,
        "bob",
        "INBOX",
        &mbox("carol@example.org", &["an invoice for bob"]),
    );

    let out = db.aox(&["search", "alice", "subject", "invoice"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(
        text.lines().filter(|l| l.contains("nvoice")).count(),
        3,
        "{text}"
    );
    assert!(!text.contains("bob"), "{text}");

    let out = db.aox(&["search", "alice", "Archive", "subject", "invoice"]);
    let text = stdout(&out);
    assert_eq!(
        text.lines().filter(|l| l.contains("old invoice")).count(),
        1,
        "{text}"
    );
    assert_eq!(
        text.lines().filter(|l| l.contains("march")).count(),
        0,
        "{text}"
    );

    let out = db.aox(&[
        "--json", "search", "--all", "from", "carol", "subject", "invoice",
    ]);
    let rows: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows.iter().any(|r| r["user"] == "bob" && r["uid"] == 1));
    assert!(
        rows.iter()
            .all(|r| r["from"].as_str().unwrap().contains("carol"))
    );

    let out = db.aox(&["search", "nobody", "all"]);
    assert!(!out.status.success());
    let out = db.aox(&["search", "alice", "frobnicate"]);
    assert!(
        stderr(&out).contains("cannot parse the search"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn show_search_explains_the_tree_and_its_sql() {
    let db = TestDb::new().await;
    let out = db.aox(&["show", "search", "from", "alice", "since", "1-Jan-2020"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("From(\"alice\")"), "{text}");
    assert!(text.contains("ILIKE"), "{text}");
    assert!(
        text.contains("= alice") || text.contains("%alice%"),
        "{text}"
    );
}
