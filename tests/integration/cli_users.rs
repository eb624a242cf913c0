//! `aox add user`, `delete user`, `list users`, `change password`, against
//! the real binary and a real database.

use archiveopteryx::auth::Secret;
use archiveopteryx::auth::password::verify_password;

use crate::cli_support::{add_user, count, deliver, fails, json, ok, usage};
use crate::harness::TestDb;

async fn secrets(db: &TestDb, login: &str) -> (String, String) {
    let row = db
        .owner()
        .await
        .query_one(
            "SELECT password_hash, scram_verifier FROM users WHERE login = $1",
            &[&login],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn cli_add_user_creates_inbox_and_primary_address() {
    let db = TestDb::new().await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let out = ok(&db.aox(&["add", "user", "alice", "secret", "alice@example.org"]));
    assert_eq!(
        out.trim(),
        "Created user alice with address alice@example.org and mailbox INBOX"
    );

    let client = db.owner().await;
    let row = client
        .query_one(
            "SELECT m.name, m.subscribed, m.uidvalidity, a.address::text, a.is_primary, a.mailbox_id = m.id \
             FROM users u JOIN mailboxes m ON m.user_id = u.id JOIN aliases a ON a.user_id = u.id \
             WHERE u.login = 'alice'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "INBOX");
    assert!(row.get::<_, bool>(1), "INBOX is subscribed");
    // UIDVALIDITY comes from a sequence seeded with the install time, so a
    // re-created user never reuses one, even within the same second.
    let uidvalidity: i64 = row.get(2);
    assert!(
        (1_600_000_000..=before + 60).contains(&uidvalidity),
        "{uidvalidity} vs {before}"
    );
    assert_eq!(row.get::<_, String>(3), "alice@example.org");
    assert!(row.get::<_, bool>(4), "the address is primary");
    assert!(row.get::<_, bool>(5), "the address delivers to INBOX");

    ok(&db.aox(&["delete", "user", "alice"]));
    ok(&db.aox(&["add", "user", "alice", "secret", "alice@example.org"]));
    let again: i64 = client
        .query_one(
            "SELECT m.uidvalidity FROM users u JOIN mailboxes m ON m.user_id = u.id WHERE u.login = 'alice'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        again > uidvalidity,
        "re-created INBOX got {again}, first had {uidvalidity}"
    );
}

#[tokio::test]
async fn cli_add_user_json_confirms_with_ok() {
    let db = TestDb::new().await;
    let v = json(&db.aox(&["--json", "add", "user", "bob", "pw", "bob@example.org"]));
    assert_eq!(v["ok"], true);
    assert_eq!(v["login"], "bob");
    assert_eq!(v["address"], "bob@example.org");
}

#[tokio::test]
async fn cli_list_users_as_table_json_and_pattern() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    add_user(&db, "albert");
    add_user(&db, "bob");
    deliver(&db, "bob", "INBOX", 1).await;

    let table = ok(&db.aox(&["list", "users"]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(
        lines[0].contains("Login") && lines[0].contains("Address"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("albert") || lines[1].trim_start().starts_with("albert"),
        "{table}"
    );
    let bob: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(bob, ["bob", "bob@example.org", "1", "1"], "{table}");

    let v = json(&db.aox(&["--json", "list", "users"]));
    let users = v.as_array().unwrap();
    assert_eq!(users.len(), 3);
    assert_eq!(users[2]["login"], "bob");
    assert_eq!(users[2]["address"], "bob@example.org");
    assert_eq!(users[2]["mailboxes"], 1);
    assert_eq!(users[2]["messages"], 1);

    let v = json(&db.aox(&["--json", "list", "users", "al*"]));
    let logins: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["login"].as_str().unwrap())
        .collect();
    assert_eq!(logins, ["albert", "alice"]);
    let v = json(&db.aox(&["--json", "list", "users", "?ob"]));
    assert_eq!(v.as_array().unwrap().len(), 1);
    // LIKE's own wildcards are literal in a pattern.
    let v = json(&db.aox(&["--json", "list", "users", "%"]));
    assert_eq!(v, serde_json::json!([]));
    assert_eq!(ok(&db.aox(&["list", "users", "nobody*"])), "");
}

#[tokio::test]
async fn cli_add_user_refuses_duplicates_and_bad_values() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    // Logins are case-insensitive.
    let err = fails(&db.aox(&["add", "user", "ALICE", "pw", "other@example.org"]));
    assert!(err.contains("user \"ALICE\" already exists"), "{err}");
    let err = fails(&db.aox(&["add", "user", "carol", "pw", "ALICE@example.org"]));
    assert!(
        err.contains("\"ALICE@example.org\"") && err.contains("already in use"),
        "{err}"
    );
    for bad in ["nobody", "a@b@c", "@example.org", "carol@"] {
        let err = fails(&db.aox(&["add", "user", "carol", "pw", bad]));
        assert!(err.contains(&format!("address {bad:?}")), "{err}");
    }
    let err = fails(&db.aox(&["add", "user", "car ol", "pw", "carol@example.org"]));
    assert!(err.contains("login \"car ol\""), "{err}");
    let long = "x".repeat(256);
    fails(&db.aox(&["add", "user", &long, "pw", "carol@example.org"]));
    // Nothing half-made was left behind.
    assert_eq!(count(&db, "SELECT count(*) FROM users").await, 1);
    assert_eq!(count(&db, "SELECT count(*) FROM mailboxes").await, 1);

    usage(&db.aox(&["add", "user", "carol", "carol@example.org"]));
    usage(&db.aox(&["add", "user", "-p", "carol", "pw", "carol@example.org"]));
    usage(&db.aox(&["frobnicate", "user"]));
}

#[tokio::test]
async fn cli_secrets_are_stored_hashed_never_in_cleartext() {
    let db = TestDb::new().await;
    ok(&db.aox(&["add", "user", "alice", "correct horse", "alice@example.org"]));
    let (hash, scram) = secrets(&db, "alice").await;
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(scram.starts_with("SCRAM-SHA-256$"), "{scram}");
    for stored in [&hash, &scram] {
        assert!(
            !stored.contains("correct horse") && !stored.contains("correct"),
            "{stored}"
        );
    }
    assert!(verify_password(&Secret::new("correct horse"), &hash));
    assert!(!verify_password(&Secret::new("wrong"), &hash));
}

#[tokio::test]
async fn cli_change_password_replaces_both_secrets() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    let (old_hash, old_scram) = secrets(&db, "alice").await;
    let out = ok(&db.aox(&["change", "password", "alice", "new password"]));
    assert_eq!(out.trim(), "Changed the password of alice");
    let (hash, scram) = secrets(&db, "alice").await;
    assert_ne!(hash, old_hash);
    assert_ne!(scram, old_scram);
    assert!(verify_password(&Secret::new("new password"), &hash));
    assert!(!verify_password(&Secret::new("secret"), &hash));

    let err = fails(&db.aox(&["change", "password", "bob", "x"]));
    assert!(err.contains("no user named \"bob\""), "{err}");
    usage(&db.aox(&["change", "password", "alice"]));
}

#[tokio::test]
async fn cli_p_reads_the_password_from_stdin() {
    let db = TestDb::new().await;
    let out = ok(&db.aox_with_input(
        &["add", "user", "-p", "alice", "alice@example.org"],
        "from stdin\n",
    ));
    assert!(out.contains("Created user alice"), "{out}");
    let (hash, _) = secrets(&db, "alice").await;
    assert!(
        verify_password(&Secret::new("from stdin"), &hash),
        "the newline is not part of the password"
    );

    ok(&db.aox_with_input(&["change", "password", "-p", "alice"], "second\r\n"));
    let (hash, _) = secrets(&db, "alice").await;
    assert!(verify_password(&Secret::new("second"), &hash));

    let err = fails(&db.aox_with_input(&["change", "password", "-p", "alice"], ""));
    assert!(err.contains("no password"), "{err}");
    assert!(verify_password(
        &Secret::new("second"),
        &secrets(&db, "alice").await.0
    ));
}

#[tokio::test]
async fn cli_delete_user_without_mail_removes_everything() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    ok(&db.aox(&["add", "mailbox", "alice", "Sent"]));
    add_user(&db, "bob");
    let out = ok(&db.aox(&["delete", "user", "alice"]));
    assert_eq!(out.trim(), "Deleted user alice");
    assert_eq!(
        count(&db, "SELECT count(*) FROM users WHERE login = 'alice'").await,
        0
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM mailboxes").await,
        1,
        "bob's INBOX stays"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM aliases").await, 1);
    assert_eq!(
        count(&db, "SELECT count(*) FROM audit_log WHERE action = 'delete user' AND detail LIKE 'login alice,%'").await,
        1
    );

    let err = fails(&db.aox(&["delete", "user", "alice"]));
    assert!(err.contains("no user named \"alice\""), "{err}");
}

#[tokio::test]
async fn cli_delete_user_with_mail_needs_f() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    add_user(&db, "bob");
    ok(&db.aox(&["add", "mailbox", "alice", "Archive"]));
    deliver(&db, "alice", "INBOX", 1).await;
    deliver(&db, "alice", "Archive", 1).await;
    deliver(&db, "bob", "INBOX", 1).await;

    let err = fails(&db.aox(&["delete", "user", "alice"]));
    assert!(err.contains("\"alice\" has 2 messages"), "{err}");
    assert_eq!(
        count(&db, "SELECT count(*) FROM users WHERE login = 'alice'").await,
        1
    );

    // Tombstones count as mail too: a mailbox deleted with -f leaves them.
    ok(&db.aox(&["delete", "mailbox", "-f", "alice", "Archive"]));
    let err = fails(&db.aox(&["delete", "user", "alice"]));
    assert!(err.contains("has 2 messages"), "{err}");

    let v = json(&db.aox(&["--json", "delete", "user", "-f", "alice"]));
    assert_eq!(v["ok"], true);
    assert_eq!(v["messages"], 2);
    for table in [
        "users",
        "mailboxes",
        "aliases",
        "messages",
        "mailbox_entries",
        "expunged_entries",
        "mailbox_changes",
    ] {
        let sql = format!(
            "SELECT count(*) FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.login = 'bob' AND u.id = t.{})",
            if table == "users" { "id" } else { "user_id" }
        );
        assert_eq!(count(&db, &sql).await, 0, "{table} still has alice's rows");
    }
    assert_eq!(
        count(&db, "SELECT count(*) FROM messages").await,
        1,
        "bob's message stays"
    );
}

#[tokio::test]
async fn cli_delete_user_refused_under_legal_hold() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    let message = deliver(&db, "alice", "INBOX", 1).await;
    let owner = db.owner().await;
    // A hold by search (no user named) that caught one of alice's messages:
    // the trigger on messages refuses, and the whole delete rolls back.
    let hold: i64 = owner
        .query_one(
            "INSERT INTO legal_holds (case_name, created_by) VALUES ('acme', 'test') RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    owner
        .execute(
            "INSERT INTO held_messages (hold_id, user_id, message_id) \
             SELECT $1, user_id, id FROM messages WHERE id = $2",
            &[&hold, &message],
        )
        .await
        .unwrap();
    let err = fails(&db.aox(&["delete", "user", "-f", "alice"]));
    assert!(
        err.contains("cannot be deleted") && err.contains("legal hold"),
        "{err}"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM mailbox_entries").await,
        1,
        "rolled back"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM users").await, 1);

    // A hold naming the user keeps the user.
    owner
        .execute(
            "UPDATE legal_holds SET released_at = now(), released_by = 'test'",
            &[],
        )
        .await
        .unwrap();
    owner
        .execute(
            "INSERT INTO legal_holds (case_name, user_id, created_by) SELECT 'initech', id, 'test' FROM users",
            &[],
        )
        .await
        .unwrap();
    let err = fails(&db.aox(&["delete", "user", "-f", "alice"]));
    assert!(err.contains("legal hold \"initech\""), "{err}");
}
