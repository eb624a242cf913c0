//! Helpers shared by the `aox` command tests: exit-status assertions and a
//! way to give a user mail without a delivery path.

use std::process::Output;

use crate::harness::{TestDb, stderr, stdout};

/// Asserts `aox` succeeded; returns its standard output.
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "aox failed: {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// Asserts `aox` failed with status 1 and an `aox: ` message; returns stderr.
pub fn fails(o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected exit 1\nstdout: {}\nstderr: {err}",
        stdout(o)
    );
    assert!(err.starts_with("aox: "), "{err}");
    err
}

/// Asserts a usage error (clap's status 2).
pub fn usage(o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "expected exit 2\nstdout: {}\nstderr: {err}",
        stdout(o)
    );
    err
}

/// Parses JSON output.
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(o)).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

/// Creates `login` with password "secret" and address login@example.org.
pub fn add_user(db: &TestDb, login: &str) {
    ok(&db.aox(&[
        "add",
        "user",
        login,
        "secret",
        &format!("{login}@example.org"),
    ]));
}

/// Stores one message in `login`'s `mailbox` under `uid`, as delivery would:
/// the messages row, the entry, and the mailbox counters. Returns the message id.
pub async fn deliver(db: &TestDb, login: &str, mailbox: &str, uid: i64) -> i64 {
    let client = db.owner().await;
    let (user, mailbox_id): (i64, i64) = {
        let row = client
            .query_one(
                "SELECT u.id, m.id FROM users u JOIN mailboxes m ON m.user_id = u.id \
                 WHERE u.login = $1 AND m.name = $2",
                &[&login, &mailbox],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    let size: i64 = 100;
    let message: i64 = client
        .query_one(
            "INSERT INTO messages (user_id, raw_sha256, rfc822_size, envelope, bodystructure, body) \
             VALUES ($1, sha256(($2::text || random()::text)::bytea), $3, 'NIL', 'NIL', 'hello') RETURNING id",
            &[&user, &format!("{login}/{mailbox}/{uid}"), &size],
        )
        .await
        .unwrap()
        .get(0);
    client
        .execute(
            "UPDATE mailboxes SET uidnext = $3::bigint + 1, highest_modseq = highest_modseq + 1, \
             message_count = message_count + 1, unseen_count = unseen_count + 1, total_size = total_size + $4 \
             WHERE user_id = $1 AND id = $2",
            &[&user, &mailbox_id, &uid, &size],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO mailbox_entries (user_id, mailbox_id, uid, message_id, modseq, internaldate, rfc822_size) \
             SELECT $1, $2, $3, $4, highest_modseq, now(), $5 FROM mailboxes WHERE user_id = $1 AND id = $2",
            &[&user, &mailbox_id, &uid, &message, &size],
        )
        .await
        .unwrap();
    message
}

/// One integer from the database, as the owner.
pub async fn count(db: &TestDb, sql: &str) -> i64 {
    db.owner().await.query_one(sql, &[]).await.unwrap().get(0)
}
