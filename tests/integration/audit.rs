//! The audit trail: deliveries (APPEND, LMTP), expunges, moves, undeletes
//! and imports each leave rows in the transaction that did them; `aox show
//! audit` filters by user and time; the runtime role can only add rows.

use archiveopteryx::mime;
use archiveopteryx::store::delivery::{Target, deliver};
use archiveopteryx::store::inject::{NewMessage, SystemFlags};
use sha2::Digest as _;

use crate::cli_support::{fails, json, ok};
use crate::harness::TestDb;
use crate::imap_support::{Client, add_alice, message, start_server};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// (action, actor, mailbox, uid, sha256, detail) of each row, oldest first.
fn rows(v: &serde_json::Value) -> Vec<(String, String, String, i64, String, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
            (
                s("action"),
                s("actor"),
                s("mailbox"),
                r["uid"].as_i64().unwrap_or(0),
                s("raw_sha256"),
                s("detail"),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_move_is_audited_per_run_of_source_uids_with_the_exact_target_uids() {
    let db = TestDb::new().await;
    add_alice(&db);
    let addr = start_server(&db, &[]).await;
    let mut c = Client::alice(addr).await;
    for n in 1..=5 {
        assert!(
            c.append("INBOX", "", &message(n, &format!("m{n}")))
                .await
                .ok()
        );
    }
    assert!(c.cmd("CREATE Archive").await.ok());
    assert!(c.cmd("SELECT INBOX").await.ok());
    let r = c.cmd("UID MOVE 1:2,4:5 Archive").await;
    assert!(r.ok(), "{r:?}");
    let archive: i64 = db
        .owner()
        .await
        .query_one("SELECT id FROM mailboxes WHERE name = 'Archive'", &[])
        .await
        .unwrap()
        .get(0);
    let moves: Vec<_> = rows(&json(&db.aox(&["--json", "show", "audit", "alice"])))
        .into_iter()
        .filter(|r| r.0 == "move")
        .map(|r| (r.1, r.2, r.3, r.4, r.5))
        .collect();
    let row = |uid: i64, detail: String| {
        (
            "alice".to_string(),
            "INBOX".to_string(),
            uid,
            String::new(),
            detail,
        )
    };
    assert_eq!(
        moves,
        vec![
            row(1, format!("uids 1:2 to mailbox {archive} as uids 1:2")),
            row(4, format!("uids 4:5 to mailbox {archive} as uids 3:4")),
        ]
    );
}

#[tokio::test]
async fn deliveries_expunges_moves_undeletes_and_imports_are_audited() {
    let db = TestDb::new().await;
    add_alice(&db);
    ok(&db.aox(&["add", "user", "bob", "secret", "bob@example.org"]));
    let addr = start_server(&db, &[]).await;
    let mut c = Client::alice(addr).await;
    let raws: Vec<Vec<u8>> = (1..=3).map(|n| message(n, &format!("m{n}"))).collect();
    for raw in &raws {
        assert!(c.append("INBOX", "", raw).await.ok());
    }
    assert!(c.cmd("CREATE Archive").await.ok());
    assert!(c.cmd("SELECT INBOX").await.ok());
    assert!(c.cmd("UID STORE 1 +FLAGS.SILENT (\\Deleted)").await.ok());
    assert!(c.cmd("EXPUNGE").await.ok());
    assert!(c.cmd("UID MOVE 2 Archive").await.ok());
    ok(&db.aox(&["undelete", "alice", "INBOX", "uid", "1"]));

    // An LMTP delivery to bob, through the store's delivery path.
    let owner = db.owner().await;
    let row = owner
        .query_one(
            "SELECT u.id, m.id FROM users u JOIN mailboxes m ON m.user_id = u.id \
             WHERE u.login = 'bob' AND m.name = 'INBOX'",
            &[],
        )
        .await
        .unwrap();
    let bob = Target {
        user: row.get(0),
        mailbox: row.get(1),
    };
    let raw = b"From: carol@example.net\r\nSubject: for bob\r\n\r\nHello.\r\n".to_vec();
    let bob_sha = hex(&sha2::Sha256::digest(&raw));
    let m = NewMessage::new(
        mime::ingest(&raw),
        raw,
        1_136_214_245,
        SystemFlags::default(),
        vec![],
    );
    deliver(&mut db.runtime().await, &[bob], &m).await.unwrap();

    let alice = json(&db.aox(&["--json", "show", "audit", "alice"]));
    let got = rows(&alice);
    let actions: Vec<&str> = got.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        actions,
        ["append", "append", "append", "expunge", "move", "undelete"],
        "{alice}"
    );
    for (i, raw) in raws.iter().enumerate() {
        let sha = hex(&sha2::Sha256::digest(raw));
        assert_eq!(got[i].4, sha, "append {i}");
        assert_eq!((got[i].1.as_str(), got[i].3), ("alice", i as i64 + 1));
    }
    let sha1 = hex(&sha2::Sha256::digest(&raws[0]));
    assert_eq!(
        got[3],
        (
            "expunge".into(),
            "alice".into(),
            "INBOX".into(),
            1,
            sha1.clone(),
            "expunge".into()
        )
    );
    assert_eq!(
        (
            got[4].1.as_str(),
            got[4].2.as_str(),
            got[4].3,
            got[4].4.as_str()
        ),
        ("alice", "INBOX", 2, "")
    );
    assert!(got[4].5.ends_with("as uid 1"), "{:?}", got[4]);
    assert!(got[5].1.starts_with("aox"), "{:?}", got[5]);
    assert_eq!((got[5].3, got[5].4.as_str()), (4, sha1.as_str()));
    assert!(got[5].5.contains("restored from uid 1"), "{:?}", got[5]);

    let bobs = rows(&json(&db.aox(&["--json", "show", "audit", "bob"])));
    assert_eq!(bobs.len(), 1, "{bobs:?}");
    assert_eq!(
        (
            bobs[0].0.as_str(),
            bobs[0].1.as_str(),
            bobs[0].3,
            bobs[0].4.as_str()
        ),
        ("deliver", "lmtp", 1, bob_sha.as_str())
    );

    // --since: rows set back in time drop out; a non-date is refused.
    owner
        .execute(
            "UPDATE audit_log SET at = '2020-01-01 00:00+00' WHERE action = 'append'",
            &[],
        )
        .await
        .unwrap();
    let recent = rows(&json(&db.aox(&[
        "--json",
        "show",
        "audit",
        "alice",
        "--since",
        "2021-01-01",
    ])));
    assert_eq!(recent.len(), 3, "{recent:?}");
    let everyone = rows(&json(&db.aox(&[
        "--json",
        "show",
        "audit",
        "--since",
        "2019-12-31",
    ])));
    assert_eq!(everyone.len(), 7, "{everyone:?}");
    let err = fails(&db.aox(&["show", "audit", "--since", "last tuesday-ish"]));
    assert!(err.contains("is not a date"), "{err}");
    let table = ok(&db.aox(&["show", "audit", "bob"]));
    assert!(
        table.contains("deliver") && table.contains("lmtp"),
        "{table}"
    );

    // An import is one row per batch, with counts, not one per message.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.mbox");
    let mut mbox = String::new();
    for n in 0..5 {
        mbox.push_str(&format!(
            "From x@example.org Mon Jan  2 15:04:05 2006\nFrom: x@example.org\nSubject: imported {n}\n\
             Message-ID: <imp{n}@example.org>\n\nBody {n}.\n\n"
        ));
    }
    std::fs::write(&path, mbox).unwrap();
    ok(&db.aox(&["import", "bob", "Imported", path.to_str().unwrap()]));
    let bobs = rows(&json(&db.aox(&["--json", "show", "audit", "bob"])));
    let imports: Vec<_> = bobs.iter().filter(|r| r.0 == "import").collect();
    assert_eq!(imports.len(), 1, "{bobs:?}");
    assert_eq!(imports[0].2, "Imported");
    assert!(
        imports[0].5.contains("batch of 5") && imports[0].5.contains("5 stored as uids 1:5"),
        "{:?}",
        imports[0]
    );

    // The runtime role may add rows, never change or remove them.
    let rt = db.runtime().await;
    let e = rt.execute("DELETE FROM audit_log", &[]).await.unwrap_err();
    assert_eq!(
        e.code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    );
    let e = rt
        .execute("UPDATE audit_log SET actor = 'x'", &[])
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    );
}
