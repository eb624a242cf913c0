//! Retention policies: `aox retain mail` keeps mail from IMAP EXPUNGE,
//! CLOSE and DELETE (with an untagged `NO [CANNOT]`, RFC 5530 §3), `aox
//! show retention` lists policies and `aox remove retention` lifts one.
//! POP3 is in pop3.rs.

use crate::cli_support::{fails, json, ok, usage};
use crate::harness::TestDb;
use crate::imap_support::{Client, add_alice, message, start_server};

async fn uids(c: &mut Client) -> String {
    let r = c.cmd("UID SEARCH ALL").await;
    assert!(r.ok(), "{r:?}");
    r.lines("SEARCH")
        .first()
        .map(|l| l.trim_start_matches("* SEARCH").trim().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn rfc5530_expunge_keeps_retained_mail_with_cannot_and_removes_the_rest() {
    let db = TestDb::new().await;
    add_alice(&db);
    ok(&db.aox(&["add", "user", "bob", "secret", "bob@example.org"]));
    let addr = start_server(&db, &[]).await;
    let mut c = Client::alice(addr).await;
    for (n, s) in [(1, "keep this"), (2, "drop this"), (3, "keep that")] {
        assert!(c.append("INBOX", "", &message(n, s)).await.ok());
    }
    let made = json(&db.aox(&[
        "--json", "retain", "mail", "forever", "--user", "alice", "subject", "keep",
    ]));
    let keep_id = made["id"].as_i64().unwrap();
    // Someone else's policy does not touch alice's mail.
    ok(&db.aox(&["retain", "mail", "forever", "--user", "bob"]));

    assert!(c.cmd("SELECT INBOX").await.ok());
    assert!(c.cmd("STORE 1:3 +FLAGS.SILENT (\\Deleted)").await.ok());
    let r = c.cmd("EXPUNGE").await;
    assert!(r.ok(), "{r:?}");
    assert_eq!(
        r.lines("NO"),
        vec!["* NO [CANNOT] 2 messages kept by retention policy"],
        "{r:?}"
    );
    assert_eq!(r.lines("2 EXPUNGE").len(), 1, "{r:?}");
    assert_eq!(uids(&mut c).await, "1 3");
    // Kept as they were: still \Deleted.
    let r = c.cmd("UID FETCH 1 FLAGS").await;
    assert!(r.untagged[0].contains("\\Deleted"), "{r:?}");

    // UID EXPUNGE of one retained message: nothing goes, the client is told.
    let r = c.cmd("UID EXPUNGE 3").await;
    assert!(r.ok(), "{r:?}");
    assert_eq!(
        r.lines("NO"),
        vec!["* NO [CANNOT] 1 message kept by retention policy"]
    );
    assert_eq!(uids(&mut c).await, "1 3");

    // DELETE of a mailbox holding retained mail is refused, and loses nothing.
    assert!(c.cmd("CREATE Kept").await.ok());
    assert!(c.cmd("UID COPY 1 Kept").await.ok());
    let r = c.cmd("DELETE Kept").await;
    assert!(
        r.tagged.contains("NO [CANNOT]") && r.tagged.contains("kept by retention policy"),
        "{r:?}"
    );
    let r = c.cmd("STATUS Kept (MESSAGES)").await;
    assert_eq!(r.lines("STATUS"), vec!["* STATUS Kept (MESSAGES 1)"]);

    // MOVE is no expunge: the message lives on in the target, so it moves.
    assert!(c.cmd("CREATE Moved").await.ok());
    let r = c.cmd("UID MOVE 3 Moved").await;
    assert!(r.ok() && r.lines("NO").is_empty(), "{r:?}");
    assert_eq!(uids(&mut c).await, "1");

    // The policies are listed, and removing alice's lets the expunge through.
    let shown = json(&db.aox(&["--json", "show", "retention"]));
    let shown = shown.as_array().unwrap();
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert_eq!(shown[0]["id"].as_i64(), Some(keep_id));
    assert_eq!(shown[0]["action"], "retain");
    assert_eq!(shown[0]["days"], serde_json::Value::Null);
    assert_eq!(shown[0]["user"], "alice");
    assert_eq!(shown[0]["search"], "subject keep");
    let table = ok(&db.aox(&["show", "retention"]));
    assert!(
        table.contains("forever") && table.contains("subject keep"),
        "{table}"
    );

    ok(&db.aox(&["remove", "retention", &keep_id.to_string()]));
    let r = c.cmd("EXPUNGE").await;
    assert!(r.ok() && r.lines("NO").is_empty(), "{r:?}");
    assert_eq!(r.containing(" EXPUNGE").len(), 1, "{r:?}");
    assert_eq!(uids(&mut c).await, "");
    assert!(c.cmd("DELETE Kept").await.ok());
    // DELETE's expunge is audited like any other, with its reason.
    let audited = crate::cli_support::count(
        &db,
        "SELECT count(*) FROM audit_log WHERE action = 'expunge' AND detail = 'delete mailbox' AND actor = 'alice'",
    )
    .await;
    assert_eq!(audited, 1);
    let err = fails(&db.aox(&["remove", "retention", &keep_id.to_string()]));
    assert!(err.contains("no retention policy"), "{err}");
}

#[tokio::test]
async fn a_policy_of_days_keeps_recent_mail_and_close_keeps_it_too() {
    let db = TestDb::new().await;
    add_alice(&db);
    let addr = start_server(&db, &[]).await;
    let mut c = Client::alice(addr).await;
    // An internal date of 2006 is far outside 30 days; the other is now.
    let tag = c.tag();
    let old = message(1, "old");
    let mut bytes = format!(
        "{tag} APPEND INBOX (\\Deleted) \"02-Jan-2006 15:04:05 +0000\" {{{}+}}\r\n",
        old.len()
    )
    .into_bytes();
    bytes.extend_from_slice(&old);
    bytes.extend_from_slice(b"\r\n");
    c.send(&bytes).await;
    assert!(c.until(&tag).await.ok());
    assert!(
        c.append("INBOX", "\\Deleted", &message(2, "new"))
            .await
            .ok()
    );
    ok(&db.aox(&[
        "retain",
        "mail",
        "30",
        "--user",
        "alice",
        "--mailbox",
        "INBOX",
    ]));

    assert!(c.cmd("SELECT INBOX").await.ok());
    let r = c.cmd("CLOSE").await;
    assert!(r.ok(), "{r:?}");
    assert_eq!(
        r.lines("NO"),
        vec!["* NO [CANNOT] 1 message kept by retention policy"]
    );
    assert!(c.cmd("SELECT INBOX").await.ok());
    assert_eq!(uids(&mut c).await, "2");
}

#[tokio::test]
async fn policies_are_checked_when_they_are_made() {
    let db = TestDb::new().await;
    add_alice(&db);
    let err = fails(&db.aox(&["retain", "mail", "forever", "since", "31-Feb-2020"]));
    assert!(err.contains("31-Feb-2020"), "{err}");
    let err = fails(&db.aox(&["retain", "mail", "forever", "frobnicate"]));
    assert!(err.contains("cannot parse"), "{err}");
    let err = fails(&db.aox(&["retain", "mail", "soon"]));
    assert!(err.contains("forever"), "{err}");
    let err = fails(&db.aox(&["retain", "mail", "7", "--user", "nobody"]));
    assert!(err.contains("nobody"), "{err}");
    let err = fails(&db.aox(&[
        "delete",
        "mail",
        "7",
        "--user",
        "alice",
        "--mailbox",
        "Nope",
    ]));
    assert!(err.contains("Nope"), "{err}");
    usage(&db.aox(&["retain", "mail", "7", "--mailbox", "INBOX"]));
    usage(&db.aox(&["delete", "mail", "forever"]));
    let shown = json(&db.aox(&["--json", "show", "retention"]));
    assert_eq!(shown.as_array().unwrap().len(), 0, "{shown}");

    // A delete policy is recorded (vacuum applies it) and listed.
    ok(&db.aox(&[
        "delete",
        "mail",
        "30",
        "--user",
        "alice",
        "--mailbox",
        "INBOX",
        "from",
        "spam@example.org",
    ]));
    let shown = json(&db.aox(&["--json", "show", "retention"]));
    let p = &shown.as_array().unwrap()[0];
    assert_eq!(p["action"], "delete");
    assert_eq!(p["days"], 30);
    assert_eq!(p["mailbox"], "INBOX");
    assert_eq!(p["search"], "from spam@example.org");
}
