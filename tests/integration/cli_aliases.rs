//! `aox add alias`, `delete alias`, `list aliases`.

use crate::cli_support::{add_user, count, fails, json, ok};
use crate::harness::TestDb;

#[tokio::test]
async fn cli_add_alias_delivers_to_inbox_or_a_named_mailbox() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    ok(&db.aox(&["add", "mailbox", "alice", "Lists"]));
    let out = ok(&db.aox(&["add", "alias", "postmaster@example.org", "alice"]));
    assert_eq!(
        out.trim(),
        "Created alias postmaster@example.org for alice's mailbox INBOX"
    );
    // Mailbox names other than INBOX are case-sensitive.
    let err = fails(&db.aox(&["add", "alias", "lists@example.org", "alice", "lists"]));
    assert!(
        err.contains("alice has no mailbox named \"lists\""),
        "{err}"
    );
    ok(&db.aox(&["add", "alias", "lists@example.org", "alice", "Lists"]));

    let v = json(&db.aox(&["--json", "list", "aliases"]));
    let rows: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{} {} {} {}",
                a["address"], a["login"], a["mailbox"], a["primary"]
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            r#""alice@example.org" "alice" "INBOX" true"#,
            r#""lists@example.org" "alice" "Lists" false"#,
            r#""postmaster@example.org" "alice" "INBOX" false"#,
        ]
    );
}

#[tokio::test]
async fn cli_add_alias_errors_name_the_thing() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    ok(&db.aox(&["add", "alias", "x@y", "alice"]));
    let err = fails(&db.aox(&["add", "alias", "x@y", "alice"]));
    assert!(err.contains("alias \"x@y\" already exists"), "{err}");
    // Addresses compare case-insensitively.
    let err = fails(&db.aox(&["add", "alias", "X@Y", "alice"]));
    assert!(err.contains("alias \"X@Y\" already exists"), "{err}");
    let err = fails(&db.aox(&["add", "alias", "a@example.org", "bob"]));
    assert!(err.contains("no user named \"bob\""), "{err}");
    let err = fails(&db.aox(&["add", "alias", "a@example.org", "alice", "Nowhere"]));
    assert!(
        err.contains("alice has no mailbox named \"Nowhere\""),
        "{err}"
    );
    let err = fails(&db.aox(&["add", "alias", "not-an-address", "alice"]));
    assert!(err.contains("address \"not-an-address\""), "{err}");
    assert_eq!(count(&db, "SELECT count(*) FROM aliases").await, 2);
}

#[tokio::test]
async fn cli_delete_alias_and_list_with_pattern() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    add_user(&db, "bob");
    ok(&db.aox(&["add", "alias", "sales@shop.example", "bob"]));
    ok(&db.aox(&["add", "alias", "info@shop.example", "alice"]));

    let table = ok(&db.aox(&["list", "aliases", "*@shop.example"]));
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert_eq!(lines[0], ["Address", "Login", "Mailbox", "Primary"]);
    assert_eq!(lines[1], ["info@shop.example", "alice", "INBOX", "no"]);
    assert_eq!(lines[2], ["sales@shop.example", "bob", "INBOX", "no"]);
    let v = json(&db.aox(&["--json", "list", "aliases", "?ob@*"]));
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["address"], "bob@example.org");

    let out = ok(&db.aox(&["delete", "alias", "SALES@shop.example"]));
    assert_eq!(out.trim(), "Deleted alias SALES@shop.example");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM aliases WHERE address = 'sales@shop.example'"
        )
        .await,
        0
    );
    let err = fails(&db.aox(&["delete", "alias", "sales@shop.example"]));
    assert!(err.contains("no alias \"sales@shop.example\""), "{err}");
    let v = json(&db.aox(&["--json", "delete", "alias", "info@shop.example"]));
    assert_eq!(v["ok"], true);
    assert_eq!(ok(&db.aox(&["list", "aliases", "*@shop.example"])), "");
}
