//! `aox import` and `aox export` on archives the tests write or generate:
//! idempotence, round trips through mbox and Maildir, `--original`, Maildir
//! flags and keywords, and bad input.

use std::collections::HashMap;
use std::fs::FileTimes;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use crate::cli_support::{add_user, fails, json, ok};
use crate::harness::TestDb;
use crate::import_support::{
    assert_consistent, distinct_raw_hashes, entries, export_maildir, export_mbox, exported_maildir,
    gen_mbox, import, import_json, mailbox_ids, n, plain_message, sha256, write_mbox,
};

const FROM_DATE: &str = "Mon Jan  2 15:04:05 2006";

/// (uidnext, highest_modseq, message_count) and the store-wide row counts.
async fn snapshot(db: &TestDb, login: &str, mailbox: &str) -> (i64, i64, i64, i64, i64) {
    let (user, id) = mailbox_ids(db, login, mailbox).await.unwrap();
    let row = db
        .owner()
        .await
        .query_one(
            "SELECT uidnext, highest_modseq, message_count, \
                    (SELECT count(*) FROM messages), (SELECT count(*) FROM bodyparts) \
             FROM mailboxes WHERE user_id = $1 AND id = $2",
            &[&user, &id],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4))
}

#[tokio::test]
async fn import_again_adds_nothing_and_says_every_message_was_already_there() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    let dir = tempfile::tempdir().unwrap();
    let first: Vec<Vec<u8>> = (0..20).map(plain_message).collect();
    let a = dir.path().join("a.mbox");
    write_mbox(&a, &first, FROM_DATE);

    let out = ok(&import(&db, "alice", "Archive", &[&a]));
    let summary = out.lines().next().unwrap();
    assert!(
        summary.starts_with("Imported 20 messages into alice's Archive: 20 read ("),
        "{out}"
    );
    assert!(
        summary.contains("0 already there, 0 stored wrapped, 0 unreadable; "),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1, "{out}");
    let before = snapshot(&db, "alice", "Archive").await;
    assert_eq!(before.2, 20);

    // The same file again: nothing new, and the summary says why.
    let out = ok(&import(&db, "alice", "Archive", &[&a]));
    assert!(
        out.starts_with("Imported 0 messages into alice's Archive: 20 read ("),
        "{out}"
    );
    assert!(
        out.contains(", 20 already there, 0 stored wrapped, "),
        "{out}"
    );
    assert!(
        out.contains("; 0 new body parts (0.0 MB after deduplication)"),
        "{out}"
    );
    assert_eq!(
        snapshot(&db, "alice", "Archive").await,
        before,
        "a re-run changed the mailbox (uidnext, modseq, count, messages, bodyparts)"
    );
    let v = import_json(&db, "alice", "Archive", &[&a]);
    assert_eq!(
        (n(&v, "read"), n(&v, "stored"), n(&v, "skipped")),
        (20, 0, 20)
    );
    assert_eq!(n(&v, "new_bodyparts"), 0);

    // The same bytes as .eml files are the same messages.
    let eml = dir.path().join("eml");
    std::fs::create_dir(&eml).unwrap();
    for (i, m) in first.iter().take(5).enumerate() {
        std::fs::write(eml.join(format!("{i}.eml")), m).unwrap();
    }
    let v = import_json(&db, "alice", "Archive", &[&eml]);
    assert_eq!(
        (n(&v, "read"), n(&v, "stored"), n(&v, "skipped")),
        (5, 0, 5)
    );

    // A second, overlapping source adds only what is new.
    let second: Vec<Vec<u8>> = (10..30).map(plain_message).collect();
    let b = dir.path().join("b.mbox");
    write_mbox(&b, &second, FROM_DATE);
    let v = import_json(&db, "alice", "Archive", &[&b]);
    assert_eq!(
        (n(&v, "read"), n(&v, "stored"), n(&v, "skipped")),
        (20, 10, 10),
        "{v}"
    );
    assert_eq!(assert_consistent(&db, "alice", "Archive").await, 30);
    let after = snapshot(&db, "alice", "Archive").await;
    assert_eq!(after.0, before.0 + 10, "uidnext");
    assert_eq!(after.3, 30, "messages rows");
}

/// The importer keys on the raw bytes per mailbox. The same message twice
/// in one archive must come out the same whether the copies fall into one
/// batch of 500, into neighbouring batches or into batches further apart.
#[tokio::test]
async fn import_treats_a_repeated_message_the_same_in_any_batch() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    let dir = tempfile::tempdir().unwrap();
    let mut messages: Vec<Vec<u8>> = (0..1201).map(plain_message).collect();
    messages[1] = messages[0].clone(); // the same batch
    messages[600] = messages[2].clone(); // the next batch
    messages[1100] = messages[3].clone(); // two batches on
    let path = dir.path().join("dups.mbox");
    write_mbox(&path, &messages, FROM_DATE);

    let v = import_json(&db, "alice", "Archive", &[&path]);
    assert_eq!(n(&v, "stored") + n(&v, "skipped"), 1201, "{v}");
    let (user, mailbox) = mailbox_ids(&db, "alice", "Archive").await.unwrap();
    let copies = |m: &Vec<u8>| {
        let hash = sha256(m).to_vec();
        let db = &db;
        async move {
            db.owner()
                .await
                .query_one(
                    "SELECT count(*) FROM mailbox_entries e JOIN messages g \
                     ON g.user_id = e.user_id AND g.id = e.message_id \
                     WHERE e.user_id = $1 AND e.mailbox_id = $2 AND g.raw_sha256 = $3",
                    &[&user, &mailbox, &hash],
                )
                .await
                .unwrap()
                .get::<_, i64>(0)
        }
    };
    let same_batch = copies(&messages[0]).await;
    let next_batch = copies(&messages[2]).await;
    let further = copies(&messages[3]).await;
    assert!(
        same_batch == next_batch && next_batch == further,
        "copies kept: {same_batch} within a batch, {next_batch} in neighbouring batches, \
         {further} two batches apart ({v})"
    );
    assert_consistent(&db, "alice", "Archive").await;
}

/// Importing two overlapping sources in one run stores what importing them
/// one after the other does: each message once.
#[tokio::test]
async fn import_of_overlapping_sources_in_one_run_stores_each_message_once() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.mbox");
    let b = dir.path().join("b.mbox");
    write_mbox(
        &a,
        &(0..20).map(plain_message).collect::<Vec<_>>(),
        FROM_DATE,
    );
    write_mbox(
        &b,
        &(10..30).map(plain_message).collect::<Vec<_>>(),
        FROM_DATE,
    );
    let v = import_json(&db, "alice", "Archive", &[&a, &b]);
    assert_eq!(
        (n(&v, "read"), n(&v, "stored"), n(&v, "skipped")),
        (40, 30, 10),
        "{v}"
    );
    assert_eq!(assert_consistent(&db, "alice", "Archive").await, 30);
}

/// `--connections 3`: every message stored once, and the archive's order
/// kept within each batch of 500 (batches may commit in any order).
#[tokio::test]
async fn import_on_several_connections_stores_each_message_once_in_batch_order() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.mbox");
    write_mbox(
        &a,
        &(0..1250).map(plain_message).collect::<Vec<_>>(),
        FROM_DATE,
    );
    let v = json(&db.aox(&[
        "--json",
        "import",
        "--connections",
        "3",
        "alice",
        "Archive",
        a.to_str().unwrap(),
    ]));
    assert_eq!((n(&v, "stored"), n(&v, "skipped")), (1250, 0), "{v}");
    assert_eq!(assert_consistent(&db, "alice", "Archive").await, 1250);
    let (user, mailbox) = mailbox_ids(&db, "alice", "Archive").await.unwrap();
    let numbers: Vec<usize> = db
        .owner()
        .await
        .query(
            "SELECT split_part(s.subject, ' ', 3)::int FROM mailbox_entries e \
             JOIN message_search s ON s.user_id = e.user_id AND s.message_id = e.message_id \
             WHERE e.user_id = $1 AND e.mailbox_id = $2 ORDER BY e.uid",
            &[&user, &mailbox],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| usize::try_from(r.get::<_, i32>(0)).unwrap())
        .collect();
    let mut sorted = numbers.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..1250).collect::<Vec<_>>());
    for pair in numbers.windows(2) {
        if pair[1] % 500 != 0 {
            assert_eq!(pair[1], pair[0] + 1, "{numbers:?}");
        }
    }
}

/// Keywords keep the spelling the archive gave them (IMAP compares them
/// case-insensitively, but clients show them as they are).
#[tokio::test]
async fn import_keeps_the_case_of_keywords() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("Maildir");
    put(&md, "dovecot-keywords", b"0 $Forwarded\n1 NonJunk\n");
    put(
        &md,
        "cur/1262304000.M1P1.host:2,Sab",
        b"From: a@example.org\nSubject: tagged\n\nbody\n",
    );
    let db = TestDb::new().await;
    add_user(&db, "alice");
    import_json(&db, "alice", "INBOX", &[&md]);
    let got = entries(&db, "alice", "INBOX").await;
    assert_eq!(got[0].6, ["$Forwarded", "NonJunk"]);
}

/// Two entries of one mailbox may share a stored message (IMAP COPY into
/// the same mailbox does that). Export must write both.
#[tokio::test]
async fn export_writes_every_entry_when_two_share_a_message() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.mbox");
    write_mbox(&path, &[plain_message(1)], FROM_DATE);
    import_json(&db, "alice", "INBOX", &[&path]);
    let (user, mailbox) = mailbox_ids(&db, "alice", "INBOX").await.unwrap();
    // A second entry for the same message, as COPY would make it.
    let owner = db.owner().await;
    owner
        .execute(
            "INSERT INTO mailbox_entries (user_id, mailbox_id, uid, message_id, modseq, internaldate, rfc822_size) \
             SELECT user_id, mailbox_id, uid + 1, message_id, modseq + 1, internaldate, rfc822_size \
             FROM mailbox_entries WHERE user_id = $1 AND mailbox_id = $2 AND uid = 1",
            &[&user, &mailbox],
        )
        .await
        .unwrap();
    owner
        .execute(
            "UPDATE mailboxes m SET uidnext = 3, highest_modseq = highest_modseq + 1, \
             message_count = 2, unseen_count = 2, total_size = 2 * total_size \
             WHERE user_id = $1 AND id = $2",
            &[&user, &mailbox],
        )
        .await
        .unwrap();
    assert_consistent(&db, "alice", "INBOX").await;

    let out = export_mbox(&db, "alice", "INBOX");
    let froms = out
        .split(|b| *b == b'\n')
        .filter(|l| l.starts_with(b"From "))
        .count();
    assert_eq!(froms, 2, "{}", String::from_utf8_lossy(&out));
}

/// A generated archive, exported as mbox and imported as another user's
/// mailbox, exports again byte for byte the same, with the same sizes,
/// BODYSTRUCTUREs, ENVELOPEs and internal dates.
#[tokio::test]
async fn import_export_reimport_of_a_generated_archive_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mbox) = gen_mbox(
        &["-n", "300", "-s", "5", "--max-attachment", "20000"],
        &dir.path().join("a.mbox"),
    ) else {
        return;
    };
    let (total, distinct) = distinct_raw_hashes(&mbox);
    assert_eq!(total, 300);
    assert_eq!(distinct.len(), total, "the generator repeated a message");

    let db = TestDb::new().await;
    add_user(&db, "alice");
    add_user(&db, "bob");
    let v = import_json(&db, "alice", "Archive", &[&mbox]);
    assert_eq!((n(&v, "read"), n(&v, "stored")), (300, 300), "{v}");
    assert_eq!(v["failures"], serde_json::json!([]), "{v}");
    let exported = export_mbox(&db, "alice", "Archive");
    let again = dir.path().join("export.mbox");
    std::fs::write(&again, &exported).unwrap();

    let v = import_json(&db, "bob", "Archive", &[&again]);
    assert_eq!((n(&v, "read"), n(&v, "stored")), (300, 300), "{v}");
    assert_eq!(v["failures"], serde_json::json!([]), "{v}");
    assert_consistent(&db, "bob", "Archive").await;

    let a = entries(&db, "alice", "Archive").await;
    let b = entries(&db, "bob", "Archive").await;
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            (x.1, &x.2, &x.3, x.4),
            (y.1, &y.2, &y.3, y.4),
            "UID {} changed in the round trip",
            x.0
        );
    }
    let second = export_mbox(&db, "bob", "Archive");
    assert!(
        second == exported,
        "the round trip changed the export ({} vs {} bytes)",
        exported.len(),
        second.len()
    );
}

/// Maildir keeps flags and keywords: set some on the stored entries, export
/// as Maildir, import that as another user, and every message comes back
/// with its flags and keywords (and its bytes and date).
#[tokio::test]
async fn import_export_maildir_round_trip_keeps_flags_and_keywords() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    add_user(&db, "bob");
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("a.mbox");
    write_mbox(
        &mbox,
        &(0..30).map(plain_message).collect::<Vec<_>>(),
        FROM_DATE,
    );
    import_json(&db, "alice", "Archive", &[&mbox]);

    let (user, mailbox) = mailbox_ids(&db, "alice", "Archive").await.unwrap();
    let owner = db.owner().await;
    owner
        .execute(
            "INSERT INTO keywords (user_id, id, name) VALUES ($1, 1, '$Forwarded'), ($1, 2, 'Work')",
            &[&user],
        )
        .await
        .unwrap();
    owner
        .execute(
            "UPDATE mailbox_entries SET seen = uid % 2 = 0, flagged = uid % 3 = 0, \
             answered = uid % 5 = 0, deleted = uid % 7 = 0, draft = uid % 11 = 0, \
             keywords = CASE WHEN uid % 12 = 0 THEN '{1,2}'::int[] WHEN uid % 4 = 0 THEN '{1}' \
                             WHEN uid % 9 = 0 THEN '{2}' ELSE '{}' END \
             WHERE user_id = $1 AND mailbox_id = $2",
            &[&user, &mailbox],
        )
        .await
        .unwrap();
    owner
        .execute(
            "UPDATE mailboxes m SET \
             unseen_count = (SELECT count(*) FROM mailbox_entries e WHERE e.user_id = m.user_id \
                             AND e.mailbox_id = m.id AND NOT seen), \
             deleted_count = (SELECT count(*) FROM mailbox_entries e WHERE e.user_id = m.user_id \
                              AND e.mailbox_id = m.id AND deleted) \
             WHERE user_id = $1 AND id = $2",
            &[&user, &mailbox],
        )
        .await
        .unwrap();
    assert_consistent(&db, "alice", "Archive").await;
    let a = entries(&db, "alice", "Archive").await;
    let expected_flags = |uid: i64| {
        [
            uid % 2 == 0,
            uid % 5 == 0,
            uid % 3 == 0,
            uid % 7 == 0,
            uid % 11 == 0,
        ]
    };
    for e in &a {
        assert_eq!(e.5, expected_flags(e.0), "UID {}", e.0);
    }

    let out = dir.path().join("md");
    export_maildir(&db, "alice", "Archive", &out, false);
    let files = exported_maildir(&out);
    assert_eq!(files.len(), a.len());
    // The file names carry the flags (letters in ASCII order).
    for (f, e) in files.iter().zip(&a) {
        let system: String = f.info.chars().filter(|c| c.is_ascii_uppercase()).collect();
        let mut want = String::new();
        for (on, letter) in [
            (e.5[4], 'D'),
            (e.5[2], 'F'),
            (e.5[1], 'R'),
            (e.5[0], 'S'),
            (e.5[3], 'T'),
        ] {
            if on {
                want.push(letter);
            }
        }
        assert_eq!(system, want, "UID {} exported as {}", e.0, f.path.display());
    }
    let keywords_file = std::fs::read_to_string(out.join("dovecot-keywords")).unwrap();
    assert!(keywords_file.contains("$Forwarded"), "{keywords_file}");
    assert!(keywords_file.contains("Work"), "{keywords_file}");

    let v = import_json(&db, "bob", "Archive", &[&out]);
    assert_eq!((n(&v, "read"), n(&v, "stored")), (30, 30), "{v}");
    assert_eq!(n(&v, "new_bodyparts"), 0, "{v}");
    assert_consistent(&db, "bob", "Archive").await;

    // Maildir order is by file name, so compare message by message content.
    let by_content = |files: &[crate::import_support::MaildirFile],
                      rows: &[crate::import_support::EntryRow]| {
        files
            .iter()
            .zip(rows)
            .map(|(f, e)| (sha256(&f.bytes), (e.1, e.4, e.5, lower(&e.6))))
            .collect::<HashMap<_, _>>()
    };
    let want = by_content(&files, &a);
    let back = dir.path().join("md2");
    export_maildir(&db, "bob", "Archive", &back, false);
    let b = entries(&db, "bob", "Archive").await;
    let got = by_content(&exported_maildir(&back), &b);
    assert_eq!(got.len(), 30);
    for (hash, w) in &want {
        assert_eq!(
            got.get(hash),
            Some(w),
            "a message lost its flags or keywords"
        );
    }
    let keyworded = b.iter().filter(|e| !e.6.is_empty()).count();
    assert_eq!(keyworded, a.iter().filter(|e| !e.6.is_empty()).count());
    assert!(keyworded > 0);
}

/// Keyword names lower-cased and sorted.
fn lower<S: AsRef<str>>(names: &[S]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|k| k.as_ref().to_lowercase()).collect();
    v.sort();
    v
}

/// Writes `bytes` as `dir/<name>`.
fn put(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn set_mtime(path: &Path, seconds: u64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_times(FileTimes::new().set_modified(UNIX_EPOCH + Duration::from_secs(seconds)))
        .unwrap();
}

/// `export --original` gives back exactly the bytes that arrived, whatever
/// normalisation made of them.
#[tokio::test]
async fn import_export_original_gives_back_exactly_what_arrived() {
    let inputs: Vec<(&str, Vec<u8>)> = vec![
        (
            "bare-lf.eml",
            b"From: a@example.org\nTo: b@example.org\nSubject: bare LF\nDate: Mon, 2 Jan 2006 15:04:05 +0000\n\
              Message-ID: <lf@example.org>\n\nOnly LF here.\n"
                .to_vec(),
        ),
        (
            "odd-headers.eml",
            b"From:a@example.org\nTo:   b@example.org  \nSubject:no space, trailing space \nX-Odd:\tvalue\n  \
              folded\twith tabs\nX-Empty:\nMessage-ID: <odd@example.org>\n\nbody\n"
                .to_vec(),
        ),
        (
            "eight-bit.eml",
            b"From: Andr\xe9 <andre@example.org>\nSubject: caf\xe9 cr\xe8me\nContent-Type: text/plain\n\n\
              d\xe9j\xe0 vu\n"
                .to_vec(),
        ),
        (
            "no-date-no-id.eml",
            b"From: a@example.org\nSubject: nothing else\n\nno Date, no Message-ID\n".to_vec(),
        ),
        (
            "mixed-endings.eml",
            b"From: a@example.org\r\nSubject: mixed\nMessage-ID: <mixed@example.org>\r\n\r\none\ntwo\r\nthree"
                .to_vec(),
        ),
        (
            "from-line.eml",
            b"From someone@example.org Mon Jan  2 15:04:05 2006\nFrom: someone@example.org\n\
              Subject: starts with a From line\n\nhi\n"
                .to_vec(),
        ),
        (
            "canonical.eml",
            b"From: a@example.org\r\nTo: b@example.org\r\nSubject: canonical\r\n\
              Date: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <canonical@example.org>\r\n\r\nFine.\r\n"
                .to_vec(),
        ),
        (
            "base64-64.eml",
            b"From: a@example.org\nSubject: attachment\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=zz\n\n\
              --zz\nContent-Type: text/plain\n\nsee attached\n--zz\nContent-Type: application/octet-stream\n\
              Content-Transfer-Encoding: BASE64\n\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKiss\n\
              LS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZ\n--zz--\n"
                .to_vec(),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    for (name, bytes) in &inputs {
        put(&src, name, bytes);
    }
    let db = TestDb::new().await;
    add_user(&db, "alice");
    let v = import_json(&db, "alice", "Evidence", &[&src]);
    assert_eq!(n(&v, "stored"), inputs.len() as u64, "{v}");

    let mut want: Vec<[u8; 32]> = inputs.iter().map(|(_, b)| sha256(b)).collect();
    want.sort_unstable();
    // Every raw hash is on record.
    let mut recorded: Vec<[u8; 32]> = db
        .owner()
        .await
        .query("SELECT raw_sha256 FROM messages", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| <[u8; 32]>::try_from(r.get::<_, &[u8]>(0)).unwrap())
        .collect();
    recorded.sort_unstable();
    assert_eq!(recorded, want);

    let out = dir.path().join("original");
    export_maildir(&db, "alice", "Evidence", &out, true);
    let files = exported_maildir(&out);
    let mut got: Vec<[u8; 32]> = files.iter().map(|f| sha256(&f.bytes)).collect();
    got.sort_unstable();
    if got != want {
        let by_hash: HashMap<[u8; 32], &str> =
            inputs.iter().map(|(name, b)| (sha256(b), *name)).collect();
        let lost: Vec<&str> = want
            .iter()
            .filter(|h| !got.contains(h))
            .map(|h| by_hash[h])
            .collect();
        panic!("--original did not give back: {lost:?}");
    }

    // Without --original the normalised form is served: CRLF, and for most
    // of these different bytes.
    let normal = dir.path().join("normal");
    export_maildir(&db, "alice", "Evidence", &normal, false);
    let served = exported_maildir(&normal);
    let changed = served
        .iter()
        .filter(|f| !want.contains(&sha256(&f.bytes)))
        .count();
    assert!(
        changed >= inputs.len() - 1,
        "only {changed} were normalised"
    );
    for f in &served {
        assert!(
            !f.bytes.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'),
            "a bare LF in the served form of {}",
            f.path.display()
        );
    }
}

/// A Maildir's flags come from the file names, keywords from
/// `dovecot-keywords`, `new/` is unseen, and the internal date is the
/// earlier of the name's timestamp and the file's mtime.
#[tokio::test]
async fn import_maildir_takes_flags_keywords_and_dates_from_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("Maildir");
    put(&md, "dovecot-keywords", b"0 $Forwarded\n1 Work\n3 Junk\n");
    // (file, expected [seen, answered, flagged, deleted, draft], keywords, date)
    let base = 1_262_304_000u64;
    let cases: Vec<(String, [bool; 5], Vec<&str>, u64)> = vec![
        (
            format!("cur/{base}.M1P1.host:2,S"),
            [true, false, false, false, false],
            vec![],
            base,
        ),
        (
            format!("cur/{}.M2P1.host:2,RS", base + 1),
            [true, true, false, false, false],
            vec![],
            base + 1,
        ),
        (
            format!("cur/{}.M3P1.host:2,F", base + 2),
            [false, false, true, false, false],
            vec![],
            base + 2,
        ),
        (
            format!("cur/{}.M4P1.host:2,ST", base + 3),
            [true, false, false, true, false],
            vec![],
            base + 3,
        ),
        (
            format!("cur/{}.M5P1.host:2,D", base + 4),
            [false, false, false, false, true],
            vec![],
            base + 4,
        ),
        (
            format!("cur/{}.M6P1.host:2,DFRST", base + 5),
            [true, true, true, true, true],
            vec![],
            base + 5,
        ),
        (
            format!("cur/{}.M7P1.host:2,Sab", base + 6),
            [true, false, false, false, false],
            vec!["$Forwarded", "Work"],
            base + 6,
        ),
        (
            format!("cur/{}.M8P1.host:2,FSd", base + 7),
            [true, false, true, false, false],
            vec!["Junk"],
            base + 7,
        ),
        // c names no keyword: it is dropped, the message is not.
        (
            format!("cur/{}.M9P1.host:2,Sc", base + 8),
            [true, false, false, false, false],
            vec![],
            base + 8,
        ),
        (
            format!("new/{}.M10P1.host", base + 9),
            [false; 5],
            vec![],
            base + 9,
        ),
        // The mtime is earlier than the name: the mtime is the date.
        (
            format!("new/{}.M11P1.host", base + 10),
            [false; 5],
            vec![],
            1_000_000_000,
        ),
        // No timestamp in the name: the mtime, and last in order.
        (
            "cur/message-without-stamp:2,S".to_string(),
            [true, false, false, false, false],
            vec![],
            1_300_000_000,
        ),
    ];
    for (i, (name, _, _, date)) in cases.iter().enumerate() {
        let body = format!(
            "From: a@example.org\nSubject: maildir {i}\nMessage-ID: <md-{i}@example.org>\n\nmessage {i}\n"
        );
        put(&md, name, body.as_bytes());
        // Later than the name's stamp, except where the case says otherwise.
        let mtime = if *date < base || !name.contains(".M") {
            *date
        } else {
            date + 1000
        };
        set_mtime(&md.join(name), mtime);
    }
    // tmp/ and dot files are not messages.
    put(
        &md,
        "tmp/1262305000.M99P1.host",
        b"Subject: half written\n\n",
    );
    put(&md, "cur/.hidden:2,S", b"Subject: hidden\n\n");

    let db = TestDb::new().await;
    add_user(&db, "alice");
    let v = import_json(&db, "alice", "Imported", &[&md]);
    assert_eq!(n(&v, "stored"), cases.len() as u64, "{v}");
    assert_consistent(&db, "alice", "Imported").await;
    let got = entries(&db, "alice", "Imported").await;
    assert_eq!(got.len(), cases.len());
    for (i, ((name, flags, keywords, date), e)) in cases.iter().zip(&got).enumerate() {
        assert_eq!(e.5, *flags, "flags of {name} (UID {})", e.0);
        // Compared without case: import_keeps_the_case_of_keywords is stricter.
        let want: Vec<&str> = keywords.to_vec();
        assert_eq!(lower(&e.6), lower(&want), "keywords of {name}");
        assert_eq!(e.4, *date as i64, "internal date of {name}");
        let subject: String = db
            .owner()
            .await
            .query_one(
                "SELECT s.subject FROM message_search s JOIN mailbox_entries e \
                 ON e.user_id = s.user_id AND e.message_id = s.message_id \
                 JOIN mailboxes m ON m.user_id = e.user_id AND m.id = e.mailbox_id \
                 WHERE m.name = 'Imported' AND e.uid = $1",
                &[&e.0],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(subject, format!("maildir {i}"), "order: UID {}", e.0);
    }
    let names: Vec<String> = db
        .owner()
        .await
        .query(
            "SELECT name::text FROM keywords ORDER BY lower(name::text)",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(lower(&names), ["$forwarded", "junk", "work"]);
}

/// Input that is not an archive is refused before anything is created, with
/// the path named; a message nothing can parse is stored wrapped and listed.
#[tokio::test]
async fn import_refuses_what_is_not_an_archive_and_names_it() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("photo.png");
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend((0..200u8).map(|b| b.wrapping_mul(37)));
    std::fs::write(&png, &bytes).unwrap();
    let good = dir.path().join("good.mbox");
    write_mbox(&good, &[plain_message(1)], FROM_DATE);
    let missing = dir.path().join("no/such/archive.mbox");

    let err = fails(&import(&db, "alice", "Photos", &[&png]));
    assert!(err.contains(png.to_str().unwrap()), "{err}");
    assert!(err.contains("not an mbox"), "{err}");
    let err = fails(&import(&db, "alice", "Photos", &[&missing]));
    assert!(err.contains(missing.to_str().unwrap()), "{err}");
    // One bad source among good ones: nothing is imported.
    let err = fails(&import(&db, "alice", "Photos", &[&good, &missing]));
    assert!(err.contains(missing.to_str().unwrap()), "{err}");
    let err = fails(&import(&db, "nobody", "INBOX", &[&good]));
    assert!(err.contains("nobody"), "{err}");

    assert!(mailbox_ids(&db, "alice", "Photos").await.is_none());
    let owner = db.owner().await;
    for table in ["messages", "mailbox_entries", "bodyparts"] {
        let rows: i64 = owner
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(rows, 0, "{table}");
    }
    let mailboxes: i64 = owner
        .query_one("SELECT count(*) FROM mailboxes", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(mailboxes, 1, "only alice's INBOX");
}

fn nested_multipart(depth: usize) -> Vec<u8> {
    let mut m = String::from(
        "From: deep@example.org\nSubject: turtles all the way down\nMessage-ID: <deep@example.org>\n\
         MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b0\"\n\n",
    );
    for level in 1..depth {
        m.push_str(&format!(
            "--b{}\nContent-Type: multipart/mixed; boundary=\"b{level}\"\n\n",
            level - 1
        ));
    }
    m.push_str(&format!(
        "--b{}\nContent-Type: text/plain\n\nthe bottom\n",
        depth - 1
    ));
    for level in (0..depth).rev() {
        m.push_str(&format!("--b{level}--\n"));
    }
    m.into_bytes()
}

#[tokio::test]
async fn import_stores_a_hopeless_message_wrapped_and_lists_it() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    let dir = tempfile::tempdir().unwrap();
    let deep = nested_multipart(100);
    let path = dir.path().join("mixed.mbox");
    write_mbox(
        &path,
        &[plain_message(1), deep.clone(), plain_message(2)],
        FROM_DATE,
    );

    let out = ok(&import(&db, "alice", "INBOX", &[&path]));
    let mut lines = out.lines();
    let summary = lines.next().unwrap();
    assert!(
        summary.starts_with("Imported 3 messages into alice's INBOX: 3 read ("),
        "{out}"
    );
    assert!(
        summary.contains(", 1 stored wrapped, 0 unreadable;"),
        "{out}"
    );
    let listed: Vec<&str> = lines.collect();
    assert_eq!(listed.len(), 1, "{out}");
    assert!(
        listed[0].starts_with("  wrapped <deep@example.org>: "),
        "{out}"
    );
    let reason = listed[0].split_once(">: ").unwrap().1;
    assert!(!reason.trim().is_empty(), "{out}");
    assert_consistent(&db, "alice", "INBOX").await;

    let owner = db.owner().await;
    let rows = owner
        .query(
            "SELECT g.raw_sha256, u.error, g.message_id_header FROM messages g \
             JOIN unparsed_messages u ON u.user_id = g.user_id AND u.message_id = g.id WHERE g.wrapped",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, &[u8]>(0), &sha256(&deep)[..]);
    assert_eq!(rows[0].get::<_, String>(1), reason);
    let wrapped_total: i64 = owner
        .query_one("SELECT count(*) FROM messages WHERE wrapped", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(wrapped_total, 1);

    // The wrapper is served; the original is still there, byte for byte.
    let served = export_mbox(&db, "alice", "INBOX");
    let text = String::from_utf8_lossy(&served);
    assert!(text.contains(archiveopteryx::mime::ORIGINAL_NAME), "{text}");
    let out = dir.path().join("original");
    export_maildir(&db, "alice", "INBOX", &out, true);
    let hashes: Vec<[u8; 32]> = exported_maildir(&out)
        .iter()
        .map(|f| sha256(&f.bytes))
        .collect();
    assert!(hashes.contains(&sha256(&deep)), "the original is lost");

    // JSON lists it the same way; a re-run skips it like any other.
    let v = import_json(&db, "alice", "INBOX", &[&path]);
    assert_eq!((n(&v, "stored"), n(&v, "skipped")), (0, 3), "{v}");
    let v = import_json(&db, "alice", "Again", &[&path]);
    let wrapped = v["wrapped"].as_array().unwrap();
    assert_eq!(wrapped.len(), 1, "{v}");
    assert_eq!(wrapped[0]["message_id"], "deep@example.org", "{v}");
    assert!(!wrapped[0]["reason"].as_str().unwrap().is_empty(), "{v}");
}

/// A message that does not end in a line break survives mbox export and
/// re-import unchanged.
#[tokio::test]
async fn import_mbox_round_trip_keeps_a_message_without_a_final_line_break() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    put(
        &src,
        "m.eml",
        b"From: a@example.org\r\nSubject: no final line break\r\nMessage-ID: <nb@example.org>\r\n\r\nthe end",
    );
    let db = TestDb::new().await;
    add_user(&db, "alice");
    add_user(&db, "bob");
    import_json(&db, "alice", "INBOX", &[&src]);
    let exported = export_mbox(&db, "alice", "INBOX");
    let mbox = dir.path().join("e.mbox");
    std::fs::write(&mbox, &exported).unwrap();
    import_json(&db, "bob", "INBOX", &[&mbox]);
    let a = entries(&db, "alice", "INBOX").await;
    let b = entries(&db, "bob", "INBOX").await;
    assert_eq!(
        (a[0].1, &a[0].2),
        (b[0].1, &b[0].2),
        "size and BODYSTRUCTURE"
    );
    assert!(export_mbox(&db, "bob", "INBOX") == exported);
}
