//! `aox show counts`, `show schema`, `upgrade schema`, `grant privileges`,
//! `check config`, and what the command says when it cannot do anything.

use crate::cli_support::{add_user, deliver, fails, json, ok, usage};
use crate::harness::{self, TestDb, stderr};

async fn runtime_may_delete_messages(db: &TestDb) -> bool {
    db.owner()
        .await
        .query_one(
            "SELECT has_table_privilege('aox', 'public.messages', 'DELETE')",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn cli_show_counts_counts_what_was_added() {
    let db = TestDb::new().await;
    let v = json(&db.aox(&["--json", "show", "counts"]));
    assert_eq!(v["users"], 0);
    assert_eq!(v["messages"], 0);

    add_user(&db, "alice");
    add_user(&db, "bob");
    ok(&db.aox(&["add", "mailbox", "alice", "A/B"]));
    ok(&db.aox(&["add", "mailbox", "alice", "Gone"]));
    ok(&db.aox(&["delete", "mailbox", "alice", "Gone"]));
    deliver(&db, "alice", "A/B", 1).await;
    deliver(&db, "bob", "INBOX", 1).await;
    deliver(&db, "bob", "INBOX", 2).await;
    ok(&db.aox(&["delete", "mailbox", "-f", "alice", "A/B"]));

    let v = json(&db.aox(&["--json", "show", "counts"]));
    assert_eq!(v["users"], 2);
    assert_eq!(
        v["mailboxes"], 3,
        "INBOX, INBOX, A; deleted ones are not counted: {v}"
    );
    assert_eq!(v["messages"], 3);
    assert_eq!(v["mailbox_entries"], 2);
    assert_eq!(v["expunged_entries"], 1);
    assert_eq!(v["bodyparts"], 0);
    assert_eq!(v["bodypart_bytes"], 0);
    assert_eq!(v["message_bytes"], 300);

    let text = ok(&db.aox(&["show", "counts"]));
    let line = |name: &str| -> Vec<String> {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(line("users:"), ["users:", "2"]);
    assert_eq!(line("mailbox entries:"), ["mailbox", "entries:", "2"]);
    assert_eq!(line("message bytes:"), ["message", "bytes:", "300"]);
}

#[tokio::test]
async fn cli_show_schema_reports_both_revisions() {
    let db = TestDb::new().await;
    let text = ok(&db.aox(&["show", "schema"]));
    let revision = archiveopteryx::store::schema::REVISION.to_string();
    assert!(
        text.lines()
            .any(|l| l.starts_with("database revision:") && l.ends_with(&revision)),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("program revision:") && l.ends_with(&revision)),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("pending steps:") && l.ends_with("none")),
        "{text}"
    );
    let v = json(&db.aox(&["--json", "show", "schema"]));
    assert_eq!(
        v["database_revision"],
        archiveopteryx::store::schema::REVISION
    );
    assert_eq!(v["pending"], serde_json::json!([]));
}

#[tokio::test]
async fn cli_upgrade_schema_on_a_current_database_has_nothing_to_do() {
    let db = TestDb::new().await;
    for args in [&["upgrade", "schema", "-n"][..], &["upgrade", "schema"][..]] {
        let out = ok(&db.aox(args));
        assert!(out.to_lowercase().starts_with("nothing to do"), "{out}");
    }
    let v = json(&db.aox(&["--json", "upgrade", "schema", "-n"]));
    assert_eq!(v["steps"], serde_json::json!([]));
    assert_eq!(v["dry_run"], true);
}

#[tokio::test]
async fn cli_grant_privileges_revokes_what_the_list_does_not_grant() {
    let db = TestDb::new().await;
    db.owner()
        .await
        .batch_execute("GRANT DELETE ON messages TO aox")
        .await
        .unwrap();
    assert!(runtime_may_delete_messages(&db).await);

    let out = ok(&db.aox(&["grant", "privileges", "-n"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], r#"REVOKE DELETE ON TABLE public."messages" FROM "aox""#,
        "{out}"
    );
    assert_eq!(lines.len(), 2, "{out}");
    assert!(runtime_may_delete_messages(&db).await, "-n changes nothing");

    let out = ok(&db.aox(&["grant", "privileges"]));
    assert!(
        out.starts_with("REVOKE DELETE ON TABLE public.\"messages\""),
        "{out}"
    );
    assert!(!runtime_may_delete_messages(&db).await, "applied");

    let out = ok(&db.aox(&["grant", "privileges", "-n"]));
    assert!(out.to_lowercase().starts_with("nothing to change"), "{out}");
    let v = json(&db.aox(&["--json", "grant", "privileges", "-n"]));
    assert_eq!(v["changes"], serde_json::json!([]));
}

#[tokio::test]
async fn cli_upgrade_schema_also_reconciles_privileges() {
    let db = TestDb::new().await;
    db.owner()
        .await
        .batch_execute("GRANT TRUNCATE ON bodyparts TO aox")
        .await
        .unwrap();
    let out = ok(&db.aox(&["upgrade", "schema"]));
    assert!(
        out.contains(r#"REVOKE TRUNCATE ON TABLE public."bodyparts" FROM "aox""#),
        "{out}"
    );
    let has: bool = db
        .owner()
        .await
        .query_one(
            "SELECT has_table_privilege('aox', 'public.bodyparts', 'TRUNCATE')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!has);
}

#[tokio::test]
async fn cli_commands_refuse_a_database_at_another_revision() {
    let db = TestDb::new().await;
    db.owner()
        .await
        .batch_execute("UPDATE mailstore SET revision = revision + 1")
        .await
        .unwrap();
    let err = fails(&db.aox(&["list", "users"]));
    assert!(err.contains("newer than this program"), "{err}");
    // show schema is how one finds out, so it still works.
    let v = json(&db.aox(&["--json", "show", "schema"]));
    assert_eq!(
        v["database_revision"],
        archiveopteryx::store::schema::REVISION + 1
    );
    fails(&db.aox(&["grant", "privileges", "-n"]));
}

#[tokio::test]
async fn cli_check_config_accepts_a_good_file_and_names_the_bad_line() {
    let db = TestDb::new().await;
    let path = db.config_path.display().to_string();
    assert_eq!(
        ok(&db.aox(&["check", "config"])).trim(),
        format!("{path}: ok")
    );
    let v = json(&db.aox(&["--json", "check", "config"]));
    assert_eq!(v["ok"], true);

    let dir = harness::reachable_temp_dir("aox-cli-config-");
    let dir = dir.path();
    let bad = dir.join("archiveopteryx.conf");
    std::fs::write(&bad, "db-name = x\n# a comment\nbogus-variable = 1\n").unwrap();
    let o = harness::run_aox(&bad, &["check", "config"], None);
    let err = fails(&o);
    assert!(err.contains(&format!("{}:3", bad.display())), "{err}");
    assert!(err.contains("bogus-variable"), "{err}");
    assert!(o.stdout.is_empty());

    let o = harness::run_aox(&dir.join("missing.conf"), &["check", "config"], None);
    assert!(fails(&o).contains("missing.conf"), "{}", stderr(&o));
}

#[tokio::test]
async fn cli_unreachable_database_is_a_clear_error() {
    let db = TestDb::new().await;
    // A port nothing listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = harness::reachable_temp_dir("aox-cli-closed-");
    let dir = dir.path();
    for file in ["archiveopteryx.conf", "aoxsuper.conf"] {
        let text = std::fs::read_to_string(db.config_path.with_file_name(file)).unwrap();
        let text: String = text
            .lines()
            .map(|l| {
                if l.starts_with("db-port") {
                    format!("db-port = {port}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(dir.join(file), text).unwrap();
    }
    let o = harness::run_aox(&dir.join("archiveopteryx.conf"), &["list", "users"], None);
    let err = fails(&o);
    assert!(err.contains("cannot connect to database"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert_eq!(err.lines().count(), 1, "one line, no backtrace: {err}");
}

#[tokio::test]
async fn cli_usage_errors_are_clap_errors() {
    let db = TestDb::new().await;
    usage(&db.aox(&[]));
    usage(&db.aox(&["list"]));
    usage(&db.aox(&["list", "widgets"]));
    usage(&db.aox(&["delete", "user"]));
    let err = usage(&db.aox(&["add", "user", "alice", "alice@example.org"]));
    assert!(err.contains("Usage: aox add user"), "{err}");
    let help = ok(&db.aox(&["delete", "mailbox", "--help"]));
    assert!(help.contains("-f") && help.contains("expunged"), "{help}");
}
