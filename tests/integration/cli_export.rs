//! `aox export` with a search: the same IMAP SEARCH keys, as words.

use crate::harness::{TestDb, stderr, stdout};

fn mbox() -> String {
    let mut m = String::new();
    for (i, subject) in ["invoice march", "lunch", "Invoice april", "two words here"]
        .iter()
        .enumerate()
    {
        m.push_str(&format!(
            "From alice@example.org Mon Jan  2 15:04:05 2006\nFrom: alice@example.org\nTo: bob@example.org\n\
             Subject: {subject}\nMessage-ID: <e{i}@example.org>\nDate: Mon, 2 Jan 2006 15:04:05 +0000\n\nBody {i}.\n\n"
        ));
    }
    m
}

#[tokio::test]
async fn export_takes_a_search_in_the_imap_language() {
    let db = TestDb::new().await;
    assert!(
        db.aox(&["add", "user", "alice", "pw", "alice@example.org"])
            .status
            .success()
    );
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.mbox");
    std::fs::write(&input, mbox()).unwrap();
    let out = db.aox(&["import", "alice", "INBOX", input.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = db.aox(&["export", "alice", "INBOX", "subject", "invoice"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(
        text.matches("\nSubject: ").count() + usize::from(text.starts_with("Subject: ")),
        2,
        "{text}"
    );
    assert!(text.contains("Subject: invoice march") && text.contains("Subject: Invoice april"));

    // A phrase the shell passed as one word stays one string.
    let out = db.aox(&[
        "export",
        "alice",
        "INBOX",
        "subject",
        "two words",
        "--format",
        "mbox",
    ]);
    assert!(stdout(&out).contains("Subject: two words here"));
    assert_eq!(stdout(&out).matches("Message-ID: ").count(), 1);

    let out = db.aox(&[
        "export", "alice", "INBOX", "not", "subject", "invoice", "uid", "1:2",
    ]);
    assert_eq!(
        stdout(&out).matches("Message-ID: ").count(),
        1,
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("Subject: lunch"));

    let out = db.aox(&["export", "alice", "INBOX", "frobnicate"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot parse the search"),
        "{}",
        stderr(&out)
    );
}
