//! `aox undelete` and `aox list deleted`: expunged messages come back with
//! their flags, keywords and bytes under new UIDs, within undelete-time or
//! under a legal hold, never when they were moved (the message lives on).

use crate::cli_support::{fails, json, ok};
use crate::harness::TestDb;
use crate::imap_support::{Client, add_alice, message, start_server};

/// The literal after `BODY[] ` in a FETCH line.
fn body_of(line: &str) -> String {
    let start = line
        .find("BODY[] {")
        .unwrap_or_else(|| panic!("no BODY[]: {line}"))
        + 8;
    let close = start + line[start..].find('}').unwrap();
    let n: usize = line[start..close].parse().unwrap();
    line[close + 3..close + 3 + n].to_string()
}

/// The FLAGS list of a FETCH line, sorted.
fn flags_of(line: &str) -> Vec<String> {
    let start = line
        .find("FLAGS (")
        .unwrap_or_else(|| panic!("no FLAGS: {line}"))
        + 7;
    let end = start + line[start..].find(')').unwrap();
    let mut f: Vec<String> = line[start..end]
        .split_whitespace()
        .map(String::from)
        .collect();
    f.sort();
    f
}

/// uid → the line of a `UID FETCH … <items>` reply.
async fn fetch(c: &mut Client, set: &str, items: &str) -> Vec<(u32, String)> {
    let r = c.cmd(&format!("UID FETCH {set} {items}")).await;
    assert!(r.ok(), "{r:?}");
    r.untagged
        .iter()
        .filter(|l| l.contains(" FETCH ("))
        .map(|l| {
            let at = l.find("UID ").unwrap() + 4;
            let digits: String = l[at..].chars().take_while(char::is_ascii_digit).collect();
            (digits.parse().unwrap(), l.clone())
        })
        .collect()
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    crate::cli_support::count(db, sql).await
}

#[tokio::test]
async fn expunge_then_undelete_keeps_flags_keywords_and_bytes_under_new_uids() {
    let db = TestDb::new().await;
    add_alice(&db);
    let addr = start_server(&db, &[]).await;
    let mut c = Client::alice(addr).await;
    assert!(
        c.append("INBOX", "\\Seen \\Flagged $Work", &message(1, "first"))
            .await
            .ok()
    );
    assert!(
        c.append("INBOX", "\\Answered", &message(2, "second"))
            .await
            .ok()
    );
    assert!(c.append("INBOX", "", &message(3, "third")).await.ok());
    assert!(c.cmd("SELECT INBOX").await.ok());
    let before = fetch(&mut c, "1:2", "BODY.PEEK[]").await;
    assert_eq!(before.len(), 2);
    assert!(c.cmd("STORE 1:2 +FLAGS (\\Deleted)").await.ok());
    let r = c.cmd("EXPUNGE").await;
    assert!(r.ok() && r.containing(" EXPUNGE").len() == 2, "{r:?}");

    // A second session with INBOX selected, idling: the undelete must reach it.
    let mut watcher = Client::alice(addr).await;
    assert!(watcher.cmd("SELECT INBOX").await.ok());

    // -n lists what would come back and changes nothing.
    let dry = json(&db.aox(&["--json", "undelete", "-n", "alice", "INBOX", "all"]));
    let dry = dry.as_array().unwrap();
    assert_eq!(dry.len(), 2, "{dry:?}");
    assert_eq!(
        (dry[0]["old_uid"].as_u64(), dry[0]["new_uid"].as_u64()),
        (Some(1), Some(4))
    );
    assert_eq!(count(&db, "SELECT count(*) FROM expunged_entries").await, 2);
    assert_eq!(count(&db, "SELECT count(*) FROM mailbox_entries").await, 1);
    assert_eq!(
        count(&db, "SELECT uidnext FROM mailboxes WHERE name = 'INBOX'").await,
        4
    );

    let tag = watcher.tag();
    watcher.send(format!("{tag} IDLE\r\n").as_bytes()).await;
    assert!(watcher.read_response_line().await.starts_with("+ "));

    let text = ok(&db.aox(&["undelete", "alice", "INBOX", "all"]));
    assert!(
        text.contains("Restored 2 messages to alice's INBOX"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().take(3).eq(["1", "4", "first"])),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().take(3).eq(["2", "5", "second"])),
        "{text}"
    );

    let seen = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        watcher.read_response_line(),
    )
    .await
    .expect("no EXISTS within 10 s of the undelete");
    assert_eq!(seen, "* 3 EXISTS");
    watcher.send(b"DONE\r\n").await;
    assert!(watcher.until(&tag).await.ok());

    let flags = fetch(&mut watcher, "4:5", "FLAGS").await;
    assert_eq!(flags.len(), 2, "{flags:?}");
    // Every flag and keyword comes back except \Deleted, which the expunge acted on.
    assert_eq!(flags_of(&flags[0].1), ["$Work", "\\Flagged", "\\Seen"]);
    assert_eq!(flags_of(&flags[1].1), ["\\Answered"]);
    let after = fetch(&mut watcher, "4:5", "BODY.PEEK[]").await;
    assert_eq!(body_of(&after[0].1), body_of(&before[0].1));
    assert_eq!(body_of(&after[1].1), body_of(&before[1].1));
    assert!(body_of(&after[0].1).contains("Subject: first"));

    // Counters, tombstones and the UID space agree with what happened.
    assert_eq!(count(&db, "SELECT count(*) FROM expunged_entries").await, 0);
    let status = watcher.cmd("STATUS INBOX (MESSAGES UIDNEXT UNSEEN)").await;
    assert_eq!(
        status.lines("STATUS"),
        vec!["* STATUS INBOX (MESSAGES 3 UIDNEXT 6 UNSEEN 2)"],
        "{status:?}"
    );
    // Nothing is left to restore.
    let again = ok(&db.aox(&["undelete", "alice", "INBOX", "all"]));
    assert!(again.contains("Restored 0 messages"), "{again}");
}

#[tokio::test]
async fn moved_and_expired_tombstones_are_not_restored_and_held_ones_are() {
    let db = TestDb::new().await;
    add_alice(&db);
    let addr = start_server(&db, &[]).await;
    let mut c = Client::alice(addr).await;
    for (n, s) in [(1, "moved"), (2, "recent"), (3, "old"), (4, "held")] {
        assert!(c.append("INBOX", "", &message(n, s)).await.ok());
    }
    assert!(c.cmd("CREATE Archive").await.ok());
    assert!(c.cmd("SELECT INBOX").await.ok());
    assert!(c.cmd("UID MOVE 1 Archive").await.ok());
    assert!(c.cmd("UID STORE 2:4 +FLAGS (\\Deleted)").await.ok());
    assert!(c.cmd("UID EXPUNGE 2:4").await.ok());
    let owner = db.owner().await;
    // Older than undelete-time (49 days by default).
    owner
        .execute(
            "UPDATE expunged_entries SET expunged_at = now() - interval '50 days' WHERE uid IN (3, 4)",
            &[],
        )
        .await
        .unwrap();
    // An unreleased legal hold on message 4's content keeps it restorable.
    owner
        .batch_execute(
            "INSERT INTO legal_holds (case_name, created_by) VALUES ('case-1', 'test');
             INSERT INTO held_messages (hold_id, user_id, message_id)
             SELECT l.id, x.user_id, x.message_id FROM legal_holds l, expunged_entries x WHERE x.uid = 4;",
        )
        .await
        .unwrap();

    let listed = json(&db.aox(&["--json", "list", "deleted", "alice"]));
    let listed = listed.as_array().unwrap();
    let row = |uid: u64| listed.iter().find(|r| r["uid"].as_u64() == Some(uid));
    assert_eq!(listed.len(), 2, "{listed:?}");
    // MOVE leaves no tombstone: the message lives on in Archive.
    assert!(row(1).is_none(), "moved message listed: {listed:?}");
    assert_eq!(row(2).unwrap()["restorable"], true);
    assert_eq!(row(2).unwrap()["by"], "alice");
    assert!(row(3).is_none(), "expired tombstone listed: {listed:?}");
    assert_eq!(row(4).unwrap()["note"], "yes (legal hold)");
    // A search narrows the listing.
    let narrowed = json(&db.aox(&[
        "--json", "list", "deleted", "alice", "INBOX", "subject", "recent",
    ]));
    assert_eq!(narrowed.as_array().unwrap().len(), 1, "{narrowed}");

    let restored = json(&db.aox(&["--json", "undelete", "alice", "INBOX", "all"]));
    let old: Vec<u64> = restored
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["old_uid"].as_u64().unwrap())
        .collect();
    assert_eq!(old, [2, 4]);
    let left: Vec<i64> = owner
        .query("SELECT uid FROM expunged_entries ORDER BY uid", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left, [3]);
    // The moved message is still where MOVE put it, once.
    assert_eq!(
        count(&db, "SELECT count(*) FROM mailbox_entries e JOIN mailboxes b ON b.id = e.mailbox_id WHERE b.name = 'Archive'").await,
        1
    );
    assert!(c.cmd("NOOP").await.ok());
    let r = c.cmd("UID SEARCH ALL").await;
    assert_eq!(r.lines("SEARCH"), vec!["* SEARCH 5 6"], "{r:?}");

    // RENAME INBOX moves its messages to the new name and leaves INBOX's
    // entries as tombstones that must not come back as duplicates.
    assert!(c.cmd("UNSELECT").await.ok());
    assert!(c.cmd("RENAME INBOX Old").await.ok());
    let table = ok(&db.aox(&["list", "deleted", "alice", "INBOX"]));
    assert!(table.contains("no: moved"), "{table}");
    let again = ok(&db.aox(&["undelete", "alice", "INBOX", "all"]));
    assert!(again.contains("Restored 0 messages"), "{again}");
}

#[tokio::test]
async fn undelete_refuses_what_it_cannot_do_and_changes_nothing() {
    let db = TestDb::new().await;
    add_alice(&db);
    let err = fails(&db.aox(&["undelete", "alice", "Nowhere", "all"]));
    assert!(err.contains("no mailbox named"), "{err}");
    let err = fails(&db.aox(&["undelete", "nobody", "INBOX", "all"]));
    assert!(err.contains("nobody"), "{err}");
    let err = fails(&db.aox(&["undelete", "alice", "INBOX", "since", "31-Feb-2020"]));
    assert!(err.contains("31-Feb-2020"), "{err}");
    let err = fails(&db.aox(&["undelete", "alice", "INBOX", "frobnicate"]));
    assert!(err.contains("cannot parse"), "{err}");
    // A deleted mailbox says how to bring it back first.
    ok(&db.aox(&["add", "mailbox", "alice", "Old"]));
    ok(&db.aox(&["delete", "mailbox", "alice", "Old"]));
    let err = fails(&db.aox(&["undelete", "alice", "Old", "all"]));
    assert!(err.contains("aox add mailbox alice Old"), "{err}");
}
