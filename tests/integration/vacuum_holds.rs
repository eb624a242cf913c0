//! Legal holds and `aox vacuum` against a real server: held mail survives
//! the vacuum and the owner's own DELETE, vacuum frees only what nothing
//! uses, `-n` changes nothing, delete policies expunge like EXPUNGE, and a
//! body part a delivery holds is passed by, never deleted from under it.

use sha2::{Digest, Sha256};

use crate::cli_support::{add_user, count, fails, json, ok};
use crate::harness::{TestDb, stderr};
use crate::imap_support::{Client, start_server};

/// A multipart message with a unique text part and the attachment `attachment`.
pub fn with_attachment(n: u32, subject: &str, attachment: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(attachment);
    let mut lines = String::new();
    for chunk in encoded.as_bytes().chunks(76) {
        lines.push_str(std::str::from_utf8(chunk).unwrap());
        lines.push_str("\r\n");
    }
    format!(
        "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: {subject}\r\n\
         Date: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <att{n}@example.org>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nText of message {n}.\r\n\
         --b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"a.bin\"\r\n\r\n{lines}--b--\r\n"
    )
    .into_bytes()
}

/// Attachment `i`: distinct bytes, a few kilobytes.
pub fn attachment(i: u32) -> Vec<u8> {
    (0..4000u32)
        .map(|k| (k.wrapping_mul(31).wrapping_add(i * 7919) % 251) as u8)
        .collect()
}

pub async fn login(addr: std::net::SocketAddr, user: &str) -> Client {
    let mut c = Client::connect(addr).await;
    let r = c.cmd(&format!("LOGIN {user} secret")).await;
    assert!(r.ok(), "{r:?}");
    c
}

/// Every message of the selected mailbox as served (BODY[]), in UID order.
pub async fn bodies(c: &mut Client) -> Vec<Vec<u8>> {
    let r = c.cmd("UID FETCH 1:* BODY.PEEK[]").await;
    assert!(r.ok(), "{r:?}");
    r.lines("")
        .iter()
        .filter(|l| l.contains(" FETCH ("))
        .map(|l| {
            let open = l.find("BODY[] {").unwrap() + "BODY[] {".len();
            let close = open + l[open..].find('}').unwrap();
            let n: usize = l[open..close].parse().unwrap();
            l.as_bytes()[close + 3..close + 3 + n].to_vec()
        })
        .collect()
}

/// Flags everything in the selected mailbox \Deleted and expunges it.
pub async fn expunge_all(c: &mut Client) {
    assert!(c.cmd("STORE 1:* +FLAGS.SILENT (\\Deleted)").await.ok());
    assert!(c.cmd("EXPUNGE").await.ok());
}

/// Row counts of every table vacuum or a hold may change.
async fn snapshot(db: &TestDb) -> Vec<i64> {
    let mut out = Vec::new();
    for t in [
        "mailbox_entries",
        "expunged_entries",
        "messages",
        "message_parts",
        "message_search",
        "bodyparts",
        "held_messages",
        "legal_holds",
        "audit_log",
        "mailbox_changes",
    ] {
        out.push(count(db, &format!("SELECT count(*) FROM {t}")).await);
    }
    out
}

fn field(v: &serde_json::Value, name: &str) -> u64 {
    v[name].as_u64().unwrap_or_else(|| panic!("{name} in {v}"))
}

#[tokio::test]
async fn held_mail_survives_vacuum_and_the_owners_delete_until_released() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    let addr = start_server(&db, &[]).await;
    let mut c = login(addr, "alice").await;
    for (n, subject, a) in [(1, "contract", 1), (2, "lunch", 1), (3, "other", 2)] {
        assert!(
            c.append("INBOX", "", &with_attachment(n, subject, &attachment(a)))
                .await
                .ok()
        );
    }
    // Three texts and two attachments.
    assert_eq!(count(&db, "SELECT count(*) FROM bodyparts").await, 5);

    let added = json(&db.aox(&[
        "--json", "hold", "add", "case-1", "alice", "INBOX", "subject", "contract",
    ]));
    assert_eq!(field(&added, "held"), 1, "{added}");
    // A case name is unique.
    let err = fails(&db.aox(&["hold", "add", "case-1"]));
    assert!(err.contains("exists already"), "{err}");

    // Confidential: the user's EXPUNGE still removes held mail from view.
    assert!(c.cmd("SELECT INBOX").await.ok());
    let served = bodies(&mut c).await;
    expunge_all(&mut c).await;
    assert!(bodies(&mut c).await.is_empty());

    let r = json(&db.aox(&["--json", "vacuum", "--undelete-time", "0"]));
    assert_eq!(
        (
            field(&r, "tombstones"),
            field(&r, "messages"),
            field(&r, "parts")
        ),
        (2, 2, 3),
        "{r}"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM expunged_entries").await, 1);
    assert_eq!(count(&db, "SELECT count(*) FROM messages").await, 1);
    // The held message's text and the attachment it shared with "lunch".
    assert_eq!(count(&db, "SELECT count(*) FROM bodyparts").await, 2);

    // The owner role itself cannot delete held content.
    let mut owner = db.owner().await;
    let tx = owner.transaction().await.unwrap();
    tx.execute("DELETE FROM expunged_entries", &[])
        .await
        .unwrap();
    let err = tx
        .execute("DELETE FROM messages", &[])
        .await
        .expect_err("the owner deleted held content");
    let text = format!("{err:?}");
    assert!(text.contains("under legal hold"), "{text}");
    drop(tx);
    assert_eq!(count(&db, "SELECT count(*) FROM messages").await, 1);

    // Long past undelete-time, the held message can still be restored,
    // byte for byte; then its user expunges it again.
    db.owner()
        .await
        .execute(
            "UPDATE expunged_entries SET expunged_at = now() - interval '400 days'",
            &[],
        )
        .await
        .unwrap();
    let restored = ok(&db.aox(&["undelete", "alice", "INBOX", "all"]));
    assert!(restored.contains("Restored 1 message"), "{restored}");
    assert!(c.cmd("SELECT INBOX").await.ok());
    let back = bodies(&mut c).await;
    assert!(back == served[..1], "{} bodies came back", back.len());
    expunge_all(&mut c).await;

    let list = json(&db.aox(&["--json", "hold", "list"]));
    assert_eq!(list[0]["case"], "case-1", "{list}");
    assert_eq!(list[0]["user"], "alice");
    assert_eq!(list[0]["mailbox"], "INBOX");
    assert_eq!(list[0]["search"], "subject contract");
    assert_eq!(list[0]["held"], 1);
    assert!(list[0]["released_at"].is_null());
    assert!(list[0]["created_by"].as_str().unwrap().starts_with("aox:"));

    ok(&db.aox(&["hold", "release", "case-1"]));
    let err = fails(&db.aox(&["hold", "release", "case-1"]));
    assert!(err.contains("released already"), "{err}");
    let err = fails(&db.aox(&["hold", "release", "no-such-case"]));
    assert!(err.contains("no hold named"), "{err}");
    let list = json(&db.aox(&["--json", "hold", "list"]));
    assert!(list[0]["released_at"].is_string(), "{list}");

    // Resting between batches (--duty) changes when, never what, it purges.
    let out = db.aox(&["vacuum", "--duty", "0"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("1..=100"), "{}", stderr(&out));
    let r = json(&db.aox(&["--json", "vacuum", "--undelete-time", "0", "--duty", "50"]));
    assert_eq!(
        (
            field(&r, "tombstones"),
            field(&r, "messages"),
            field(&r, "parts")
        ),
        (1, 1, 2),
        "{r}"
    );
    for t in ["expunged_entries", "messages", "message_parts", "bodyparts"] {
        assert_eq!(
            count(&db, &format!("SELECT count(*) FROM {t}")).await,
            0,
            "{t}"
        );
    }
    // Who and when: the hold's two changes and one purge row per tombstone,
    // each with the message's arrival hash.
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM audit_log WHERE action = 'hold' AND actor LIKE 'aox:%'"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM audit_log WHERE action = 'purge' AND octet_length(raw_sha256) = 32 AND uid IS NOT NULL"
        )
        .await,
        3
    );
}

#[tokio::test]
async fn a_hold_added_before_mail_arrives_protects_it_at_the_next_vacuum() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    let added = json(&db.aox(&["--json", "hold", "add", "case-2", "alice"]));
    assert_eq!(field(&added, "held"), 0);
    let addr = start_server(&db, &[]).await;
    let mut c = login(addr, "alice").await;
    assert!(
        c.append("INBOX", "", &with_attachment(1, "later", &attachment(1)))
            .await
            .ok()
    );
    assert!(c.cmd("SELECT INBOX").await.ok());
    expunge_all(&mut c).await;
    let r = json(&db.aox(&["--json", "vacuum", "--undelete-time", "0"]));
    assert_eq!(field(&r, "newly_held"), 1, "{r}");
    assert_eq!(
        (field(&r, "tombstones"), field(&r, "messages")),
        (0, 0),
        "{r}"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM messages").await, 1);
}

#[tokio::test]
async fn vacuum_frees_the_parts_of_expunged_mail_and_keeps_shared_ones_and_n_changes_nothing() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    add_user(&db, "bob");
    let addr = start_server(&db, &[]).await;
    let mut a = login(addr, "alice").await;
    let mut b = login(addr, "bob").await;
    assert!(
        a.append("INBOX", "", &with_attachment(1, "shared", &attachment(1)))
            .await
            .ok()
    );
    assert!(
        a.append("INBOX", "", &with_attachment(2, "own", &attachment(2)))
            .await
            .ok()
    );
    assert!(
        b.append("INBOX", "", &with_attachment(3, "shared", &attachment(1)))
            .await
            .ok()
    );
    assert_eq!(count(&db, "SELECT count(*) FROM bodyparts").await, 5);
    assert!(b.cmd("SELECT INBOX").await.ok());
    let bobs = bodies(&mut b).await;
    assert_eq!(bobs.len(), 1);
    assert!(a.cmd("SELECT INBOX").await.ok());
    expunge_all(&mut a).await;

    // The default undelete-time (49 days) keeps fresh tombstones.
    let r = json(&db.aox(&["--json", "vacuum"]));
    assert_eq!(
        (
            field(&r, "tombstones"),
            field(&r, "messages"),
            field(&r, "parts")
        ),
        (0, 0, 0),
        "{r}"
    );

    let before = snapshot(&db).await;
    let dry = json(&db.aox(&["--json", "vacuum", "-n", "--undelete-time", "0"]));
    assert_eq!(snapshot(&db).await, before, "vacuum -n changed something");
    // The CRLF before a boundary belongs to the boundary (RFC 2046 §5.1.1).
    let text_bytes = "Text of message 1.".len() + "Text of message 2.".len();
    let expected_bytes = (text_bytes + attachment(2).len()) as u64;
    assert_eq!(
        (
            field(&dry, "tombstones"),
            field(&dry, "messages"),
            field(&dry, "parts")
        ),
        (2, 2, 3),
        "{dry}"
    );
    assert_eq!(field(&dry, "bytes"), expected_bytes, "{dry}");
    assert_eq!(dry["dry_run"], true);

    let real = json(&db.aox(&["--json", "vacuum", "--undelete-time", "0"]));
    for k in [
        "tombstones",
        "messages",
        "parts",
        "bytes",
        "retention_expunged",
    ] {
        assert_eq!(real[k], dry[k], "{k}: -n said {dry}, the vacuum did {real}");
    }
    // Bob's text and the attachment he shares with what alice expunged.
    assert_eq!(count(&db, "SELECT count(*) FROM bodyparts").await, 2);
    let a1: &[u8] = &Sha256::digest(attachment(1));
    let kept: i64 = db
        .owner()
        .await
        .query_one("SELECT count(*) FROM bodyparts WHERE hash = $1", &[&a1])
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, 1);
    assert_eq!(bodies(&mut b).await, bobs);
    // People get a table.
    let text = ok(&db.aox(&["vacuum", "-n"]));
    assert!(text.contains("tombstones would be purged"), "{text}");
}

#[tokio::test]
async fn a_delete_policy_expunges_old_mail_like_expunge_and_a_retain_policy_keeps_some() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    let addr = start_server(&db, &[]).await;
    let mut c = login(addr, "alice").await;
    for (n, subject) in [
        (1, "old newsletter"),
        (2, "old contract"),
        (3, "new newsletter"),
    ] {
        assert!(
            c.append("INBOX", "", &crate::imap_support::message(n, subject))
                .await
                .ok()
        );
    }
    let owner = db.owner().await;
    owner
        .batch_execute(
            "UPDATE mailbox_entries SET internaldate = '2006-01-02 15:04:05+00' WHERE uid IN (1, 2); \
             INSERT INTO retention_policies (action, days, user_id, created_by) \
               SELECT 'delete', 365, id, 'test' FROM users WHERE login = 'alice'; \
             INSERT INTO retention_policies (action, days, search, created_by) \
               VALUES ('retain', NULL, 'subject contract', 'test')",
        )
        .await
        .unwrap();
    let mut watcher = login(addr, "alice").await;
    assert!(watcher.cmd("SELECT INBOX").await.ok());

    let before = snapshot(&db).await;
    let dry = json(&db.aox(&["--json", "vacuum", "-n"]));
    assert_eq!(field(&dry, "retention_expunged"), 1, "{dry}");
    assert_eq!(snapshot(&db).await, before);

    // A session idling in the mailbox hears of it as of any expunge.
    watcher.send(b"idle IDLE\r\n").await;
    assert!(watcher.read_response_line().await.starts_with('+'));
    let r = json(&db.aox(&["--json", "vacuum"]));
    assert_eq!(field(&r, "retention_expunged"), 1, "{r}");
    assert_eq!(field(&r, "tombstones"), 0, "{r}");
    let heard = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            if watcher.read_response_line().await == "* 1 EXPUNGE" {
                break;
            }
        }
    })
    .await;
    assert!(heard.is_ok(), "no EXPUNGE reached the idling session");
    watcher.send(b"DONE\r\n").await;
    assert!(watcher.until("idle").await.ok());
    let row = owner
        .query_one(
            "SELECT uid, reason, expunged_by IS NULL FROM expunged_entries",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, i64>(0),
            row.get::<_, String>(1),
            row.get::<_, bool>(2)
        ),
        (1, "retention".to_string(), true)
    );
    assert_eq!(
        count(
            &db,
            "SELECT message_count FROM mailboxes WHERE name = 'INBOX'"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn a_body_part_a_delivery_in_progress_refers_to_is_passed_by_not_waited_for_nor_deleted() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    let addr = start_server(&db, &[]).await;
    let mut c = login(addr, "alice").await;
    assert!(
        c.append("INBOX", "", &with_attachment(1, "x", &attachment(1)))
            .await
            .ok()
    );
    assert!(c.cmd("SELECT INBOX").await.ok());
    expunge_all(&mut c).await;

    // A delivery in progress that refers to the attachment: its lookup
    // holds the part FOR KEY SHARE until it commits.
    let mut runtime = db.runtime().await;
    let tx = runtime.transaction().await.unwrap();
    let a1: &[u8] = &Sha256::digest(attachment(1));
    let found = tx
        .query("SELECT lock_bodyparts(ARRAY[$1::bytea])", &[&a1])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let message: i64 = tx
        .query_one(
            "INSERT INTO messages (user_id, raw_sha256, rfc822_size, envelope, bodystructure, body) \
             SELECT id, sha256('in flight'), 1, 'NIL', 'NIL', 'x' FROM users WHERE login = 'alice' RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    tx.execute(
        "INSERT INTO message_parts (user_id, message_id, part, position, header, bodypart_hash, content_type, \
           transfer_encoding, encoded_bytes, lines) \
         SELECT user_id, id, '1', 1, '', $2, 'application/octet-stream', 'base64', 1, 1 FROM messages WHERE id = $1",
        &[&message, &a1],
    )
    .await
    .unwrap();

    let config = db.config_path.clone();
    let vacuum = tokio::task::spawn_blocking(move || {
        crate::harness::run_aox(&config, &["--json", "vacuum", "--undelete-time", "0"], None)
    });
    // A guard against a hang, not a synchronisation: vacuum must not wait.
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), vacuum)
        .await
        .expect("vacuum waited for the delivery's lock")
        .unwrap();
    let r: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!((field(&r, "messages"), field(&r, "parts")), (1, 1), "{r}");
    let present: i64 = db
        .owner()
        .await
        .query_one("SELECT count(*) FROM bodyparts WHERE hash = $1", &[&a1])
        .await
        .unwrap()
        .get(0);
    assert_eq!(present, 1);
    tx.rollback().await.unwrap();

    let r = json(&db.aox(&["--json", "vacuum", "--undelete-time", "0"]));
    assert_eq!(field(&r, "parts"), 1, "{r}");
    assert_eq!(count(&db, "SELECT count(*) FROM bodyparts").await, 0);
}

#[tokio::test]
async fn only_one_vacuum_runs_at_a_time() {
    let db = TestDb::new().await;
    let other = db.owner().await;
    other
        .execute("SELECT pg_advisory_lock(8, 1)", &[])
        .await
        .unwrap();
    let err = fails(&db.aox(&["vacuum"]));
    assert!(err.contains("another aox vacuum"), "{err}");
    other
        .execute("SELECT pg_advisory_unlock(8, 1)", &[])
        .await
        .unwrap();
    ok(&db.aox(&["vacuum"]));
}
