//! The real corpus (`../shared/corpus/real`, 1,711 messages from the test
//! suites of other mail software) through `aox import`: every message is
//! stored (wrapped when unparseable), the counts match the manifest, and an
//! export → re-import round trip changes nothing.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use crate::cli_support::add_user;
use crate::harness::TestDb;
use crate::import_support::{
    EntryRow, assert_consistent, corpus_dir, entries, export_maildir, export_mbox,
    exported_maildir, hex, import_json, mailbox_ids, n, sha256,
};

struct ManifestRow {
    path: String,
    bytes: u64,
    sha256: String,
}

fn real_dir() -> PathBuf {
    corpus_dir().join("real")
}

fn manifest() -> Vec<ManifestRow> {
    let text = std::fs::read_to_string(real_dir().join("MANIFEST.tsv")).unwrap();
    let mut lines = text.lines();
    let heading: Vec<&str> = lines.next().unwrap().split('\t').collect();
    assert_eq!(&heading[..3], ["path", "bytes", "sha256"], "{heading:?}");
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            ManifestRow {
                path: cols[0].to_string(),
                bytes: cols[1].parse().unwrap(),
                sha256: cols[2].to_lowercase(),
            }
        })
        .collect()
}

#[tokio::test]
async fn import_stores_every_message_of_the_real_corpus() {
    let rows = manifest();
    assert!(rows.len() > 1000, "the manifest lists {} files", rows.len());
    let wanted: HashSet<&str> = rows.iter().map(|r| r.sha256.as_str()).collect();
    assert_eq!(wanted.len(), rows.len(), "the manifest repeats a sha256");
    let manifest_bytes: u64 = rows.iter().map(|r| r.bytes).sum();
    for r in &rows {
        assert!(r.path.ends_with(".eml"), "{}", r.path);
    }

    let db = TestDb::new().await;
    add_user(&db, "alice");
    let started = std::time::Instant::now();
    let v = import_json(&db, "alice", "Corpus", &[&real_dir()]);
    eprintln!(
        "imported the real corpus ({} files) in {:.1?}",
        rows.len(),
        started.elapsed()
    );
    let total = rows.len() as u64;
    assert_eq!(n(&v, "read"), total, "{v}");
    assert_eq!(n(&v, "stored"), total, "{v}");
    assert_eq!(n(&v, "skipped"), 0, "{v}");
    assert_eq!(n(&v, "bytes_read"), manifest_bytes, "{v}");
    assert_eq!(v["failures"], serde_json::json!([]), "{v}");
    assert!(n(&v, "new_bodyparts") > 0, "{v}");

    // Every file's exact bytes are on record.
    let (user, mailbox) = mailbox_ids(&db, "alice", "Corpus").await.unwrap();
    let owner = db.owner().await;
    let stored: HashSet<String> = owner
        .query(
            "SELECT DISTINCT g.raw_sha256 FROM mailbox_entries e \
             JOIN messages g ON g.user_id = e.user_id AND g.id = e.message_id \
             WHERE e.user_id = $1 AND e.mailbox_id = $2",
            &[&user, &mailbox],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| hex(r.get::<_, &[u8]>(0)))
        .collect();
    let missing: Vec<&str> = rows
        .iter()
        .filter(|r| !stored.contains(&r.sha256))
        .map(|r| r.path.as_str())
        .collect();
    assert!(missing.is_empty(), "not stored: {missing:?}");
    assert_eq!(stored.len(), rows.len());

    let entries_present = assert_consistent(&db, "alice", "Corpus").await;
    assert_eq!(entries_present, rows.len() as i64);

    // Wrapped messages: listed in unparsed_messages with a reason, and
    // reported by the import, one for one.
    let wrapped: Vec<(i64, Option<String>)> = owner
        .query(
            "SELECT g.id, u.error FROM messages g \
             LEFT JOIN unparsed_messages u ON u.user_id = g.user_id AND u.message_id = g.id \
             WHERE g.user_id = $1 AND g.wrapped",
            &[&user],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for (id, error) in &wrapped {
        let reason = error
            .as_deref()
            .unwrap_or_else(|| panic!("wrapped message {id} is not in unparsed_messages"));
        assert!(
            !reason.trim().is_empty(),
            "message {id} has an empty reason"
        );
    }
    let unparsed_not_wrapped: i64 = owner
        .query_one(
            "SELECT count(*) FROM unparsed_messages u JOIN messages g \
             ON g.user_id = u.user_id AND g.id = u.message_id WHERE NOT g.wrapped",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(unparsed_not_wrapped, 0);
    let reported = v["wrapped"].as_array().unwrap();
    assert_eq!(reported.len(), wrapped.len(), "{v}");
    for w in reported {
        assert!(
            !w["reason"].as_str().unwrap_or("").is_empty(),
            "a wrapped message without a reason: {w}"
        );
    }
    eprintln!(
        "{} of {} corpus messages were wrapped",
        wrapped.len(),
        rows.len()
    );

    // show counts agrees with the database.
    let counts = crate::cli_support::json(&db.aox(&["--json", "show", "counts"]));
    assert_eq!(counts["messages"], rows.len() as i64, "{counts}");
    assert_eq!(counts["mailbox_entries"], rows.len() as i64, "{counts}");
}

/// The messages of an mbox as `aox export` writes it, each with its `From `
/// line and the empty line after it. mboxrd quotes every `From ` at the start
/// of a line inside a message, so every unquoted one starts a message.
fn segments(mbox: &[u8]) -> Vec<&[u8]> {
    let mut starts: Vec<usize> = Vec::new();
    let mut at = 0;
    while at < mbox.len() {
        if mbox[at..].starts_with(b"From ") {
            starts.push(at);
        }
        at += mbox[at..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(mbox.len() - at, |i| i + 1);
    }
    assert_eq!(starts.first(), Some(&0), "an mbox starts with a From line");
    starts.push(mbox.len());
    starts.windows(2).map(|w| &mbox[w[0]..w[1]]).collect()
}

/// A segment without its `From ` line.
fn message_of(segment: &[u8]) -> &[u8] {
    let eol = segment.iter().position(|b| *b == b'\n').unwrap();
    &segment[eol + 1..]
}

/// Export the imported corpus as mbox, import that export as another user,
/// and the second mailbox serves the same messages byte for byte, with the
/// same sizes, BODYSTRUCTUREs, ENVELOPEs and internal dates.
/// Corpus files that differ only in line endings normalise to the same
/// message, so the export holds a few byte-identical copies; what happens to
/// those is `import_treats_a_repeated_message_the_same_in_any_batch`'s
/// business, so this test re-imports the distinct ones only.
#[tokio::test]
async fn import_corpus_round_trip_through_mbox_changes_nothing() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    add_user(&db, "bob");
    let started = std::time::Instant::now();
    let first = import_json(&db, "alice", "Corpus", &[&real_dir()]);
    let total = n(&first, "stored");
    assert_eq!(total, manifest().len() as u64, "{first}");

    let exported = export_mbox(&db, "alice", "Corpus");
    let all = segments(&exported);
    assert_eq!(all.len() as u64, total);
    let a_entries = entries(&db, "alice", "Corpus").await;
    assert_eq!(a_entries.len(), all.len());
    let mut seen = HashSet::new();
    let mut distinct: Vec<u8> = Vec::new();
    let mut a = Vec::new();
    for (segment, entry) in all.iter().zip(&a_entries) {
        if seen.insert(sha256(message_of(segment))) {
            distinct.extend_from_slice(segment);
            a.push(entry);
        }
    }
    eprintln!(
        "{} of {} exported messages are distinct",
        a.len(),
        all.len()
    );
    assert!(a.len() + 20 > all.len(), "too many duplicates: {}", a.len());

    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("corpus.mbox");
    std::fs::write(&mbox, &distinct).unwrap();
    let second = import_json(&db, "bob", "Again", &[&mbox]);
    assert_eq!(n(&second, "read"), a.len() as u64, "{second}");
    assert_eq!(n(&second, "stored"), a.len() as u64, "{second}");
    assert_eq!(second["failures"], serde_json::json!([]), "{second}");
    assert_consistent(&db, "bob", "Again").await;

    let b = entries(&db, "bob", "Again").await;
    assert_eq!(a.len(), b.len());
    let mut differing = Vec::new();
    for (x, y) in a.iter().zip(&b) {
        if (x.1, &x.2, &x.3, x.4) != (y.1, &y.2, &y.3, y.4) {
            differing.push(format!(
                "alice uid {} / bob uid {}: size {} vs {}, date {} vs {}\n  bs  {}\n  vs  {}\n  env {}\n  vs  {}",
                x.0, y.0, x.1, y.1, x.4, y.4, x.2, y.2, x.3, y.3
            ));
        }
    }
    assert!(
        differing.is_empty(),
        "{} of {} messages changed in the round trip; the first ones:\n{}",
        differing.len(),
        a.len(),
        differing[..differing.len().min(5)].join("\n")
    );

    let again = export_mbox(&db, "bob", "Again");
    if again != distinct {
        let x = segments(&distinct);
        let y = segments(&again);
        let first_diff = x.iter().zip(&y).position(|(p, q)| p != q);
        panic!(
            "the re-imported corpus exports differently: {} vs {} messages, {} vs {} bytes; \
             first differing message: {:?}",
            x.len(),
            y.len(),
            distinct.len(),
            again.len(),
            first_diff.map(|i| (
                i,
                String::from_utf8_lossy(&x[i][..x[i].len().min(400)]).into_owned(),
                String::from_utf8_lossy(&y[i][..y[i].len().min(400)]).into_owned()
            ))
        );
    }
    eprintln!("corpus round trip took {:.1?}", started.elapsed());
}

/// The same round trip through Maildir, which keeps every byte: the second
/// mailbox holds exactly the distinct messages of the first, byte for byte,
/// with the same sizes, BODYSTRUCTUREs, ENVELOPEs and internal dates, and
/// stores no new body part (not even an original: nothing is left to change).
#[tokio::test]
async fn import_corpus_round_trip_through_maildir_changes_nothing() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    add_user(&db, "bob");
    let started = std::time::Instant::now();
    let first = import_json(&db, "alice", "Corpus", &[&real_dir()]);
    assert_eq!(n(&first, "stored"), manifest().len() as u64, "{first}");

    let dir = tempfile::tempdir().unwrap();
    let a_dir = dir.path().join("a");
    export_maildir(&db, "alice", "Corpus", &a_dir, false);
    let a_files = exported_maildir(&a_dir);
    let a_entries = entries(&db, "alice", "Corpus").await;
    assert_eq!(a_files.len(), a_entries.len());
    // Keep the first of byte-identical copies (see the mbox test).
    let mut a: HashMap<[u8; 32], &EntryRow> = HashMap::new();
    for (f, e) in a_files.iter().zip(&a_entries) {
        match a.entry(sha256(&f.bytes)) {
            std::collections::hash_map::Entry::Occupied(_) => {
                std::fs::remove_file(&f.path).unwrap()
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(e);
            }
        }
    }

    let second = import_json(&db, "bob", "Again", &[&a_dir]);
    assert_eq!(n(&second, "read"), a.len() as u64, "{second}");
    assert_eq!(n(&second, "stored"), a.len() as u64, "{second}");
    assert_eq!(second["failures"], serde_json::json!([]), "{second}");
    assert_eq!(second["wrapped"], serde_json::json!([]), "{second}");
    assert_eq!(n(&second, "new_bodyparts"), 0, "{second}");
    assert_consistent(&db, "bob", "Again").await;
    let kept_originals: i64 = db
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM messages g JOIN users u ON u.id = g.user_id \
             WHERE u.login = 'bob' AND (g.original_hash IS NOT NULL OR g.original_delta IS NOT NULL)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        kept_originals, 0,
        "normalising a normalised message changed it"
    );

    let b_dir = dir.path().join("b");
    export_maildir(&db, "bob", "Again", &b_dir, false);
    let b_files = exported_maildir(&b_dir);
    let b_entries = entries(&db, "bob", "Again").await;
    assert_eq!(b_files.len(), b_entries.len());
    let mut differing = Vec::new();
    for (f, y) in b_files.iter().zip(&b_entries) {
        match a.get(&sha256(&f.bytes)) {
            None => differing.push(format!(
                "bob uid {} exports bytes alice's mailbox never had: {}",
                y.0,
                String::from_utf8_lossy(&f.bytes[..f.bytes.len().min(300)])
            )),
            Some(x) if (x.1, &x.2, &x.3, x.4) != (y.1, &y.2, &y.3, y.4) => differing.push(format!(
                "alice uid {} / bob uid {}: size {} vs {}, date {} vs {}\n  bs  {}\n  vs  {}",
                x.0, y.0, x.1, y.1, x.4, y.4, x.2, y.2
            )),
            Some(_) => {}
        }
    }
    assert!(
        differing.is_empty(),
        "{} of {} messages changed in the round trip; the first ones:\n{}",
        differing.len(),
        a.len(),
        differing[..differing.len().min(5)].join("\n")
    );
    eprintln!(
        "corpus round trip through maildir took {:.1?}",
        started.elapsed()
    );
}
