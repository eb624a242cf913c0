//! `aox tune database mostly-writing|mostly-reading` around a big import:
//! the search indexes go and come back valid and identical, and the
//! full-text vectors missing after the import are filled in; parts stored
//! later get theirs from the servers' filler, through the runtime role.

use std::collections::BTreeMap;

use crate::cli_support::{add_user, json, ok};
use crate::harness::TestDb;
use crate::import_support::{import_json, n, plain_message, write_mbox};

const SEARCH_INDEXES: [&str; 5] = [
    "message_search_subject",
    "message_search_from",
    "message_search_to",
    "message_search_cc",
    "bodyparts_search",
];

/// The search indexes that exist: name → (valid, definition).
async fn indexes(client: &tokio_postgres::Client) -> BTreeMap<String, (bool, String)> {
    client
        .query(
            "SELECT c.relname::text, i.indisvalid, pg_get_indexdef(c.oid) FROM pg_class c \
             JOIN pg_index i ON i.indexrelid = c.oid WHERE c.relname = ANY($1)",
            &[&SEARCH_INDEXES.to_vec()],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect()
}

/// Body parts with text: (how many, how many lack a vector, how many have a
/// vector other than the one their text gives).
pub(crate) async fn vectors(client: &tokio_postgres::Client) -> (i64, i64, i64) {
    let row = client
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE search_tsv IS NULL), \
                    count(*) FILTER (WHERE search_tsv IS DISTINCT FROM bodypart_tsvector(text)) \
             FROM bodyparts WHERE text IS NOT NULL",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

fn tune(db: &TestDb, args: &[&str]) -> String {
    let mut all = vec!["tune", "database"];
    all.extend_from_slice(args);
    ok(&db.aox(&all))
}

fn last_line(out: &str) -> &str {
    out.lines().last().unwrap_or("")
}

#[tokio::test]
async fn tune_for_writing_then_reading_rebuilds_indexes_and_fills_vectors() {
    let names: Vec<&str> = archiveopteryx::store::tune::READ_INDEXES
        .iter()
        .map(|(name, _)| *name)
        .collect();
    assert_eq!(names, SEARCH_INDEXES);

    let db = TestDb::new().await;
    add_user(&db, "alice");
    let owner = db.owner().await;
    let installed = indexes(&owner).await;
    assert_eq!(installed.len(), 5, "{installed:?}");
    assert!(installed.values().all(|(valid, _)| *valid));

    // -n says what it would do and does nothing.
    let out = tune(&db, &["-n", "mostly-writing"]);
    for name in SEARCH_INDEXES {
        assert!(
            out.contains(&format!("DROP INDEX CONCURRENTLY {name}")),
            "{out}"
        );
    }
    assert_eq!(last_line(&out), "Dry run: 5 statements not run", "{out}");
    assert_eq!(indexes(&owner).await, installed);

    let out = tune(&db, &["mostly-writing"]);
    assert_eq!(last_line(&out), "Ran 5 statements", "{out}");
    assert!(indexes(&owner).await.is_empty());
    let out = tune(&db, &["mostly-writing"]);
    assert!(last_line(&out).starts_with("Nothing to do"), "{out}");

    // An import stores no vectors.
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("a.mbox");
    write_mbox(
        &mbox,
        &(0..50).map(plain_message).collect::<Vec<_>>(),
        "Mon Jan  2 15:04:05 2006",
    );
    let v = import_json(&db, "alice", "Archive", &[&mbox]);
    assert_eq!(n(&v, "stored"), 50, "{v}");
    let (with_text, missing, _) = vectors(&owner).await;
    assert!(with_text >= 50, "{with_text} body parts with text");
    assert_eq!(
        missing, with_text,
        "vectors were computed during the import"
    );

    // -n for reading: the plan, nothing done.
    let out = tune(&db, &["-n", "mostly-reading"]);
    assert!(out.contains("UPDATE bodyparts SET search_tsv"), "{out}");
    for name in SEARCH_INDEXES {
        assert!(
            out.contains(&format!("CREATE INDEX CONCURRENTLY {name} ")),
            "{out}"
        );
    }
    assert!(last_line(&out).starts_with("Dry run: "), "{out}");
    assert!(indexes(&owner).await.is_empty());
    assert_eq!(vectors(&owner).await.1, with_text);

    let v = json(&db.aox(&["--json", "tune", "database", "mostly-reading"]));
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["statements"].as_array().unwrap().len() >= 7, "{v}");
    assert_eq!(
        indexes(&owner).await,
        installed,
        "the rebuilt indexes differ from the installed ones (or are invalid)"
    );
    assert_eq!(vectors(&owner).await, (with_text, 0, 0));

    let out = tune(&db, &["mostly-reading"]);
    assert!(last_line(&out).starts_with("Nothing to do"), "{out}");
    let out = tune(&db, &["-n", "mostly-reading"]);
    assert!(last_line(&out).starts_with("Nothing to do"), "{out}");

    // Parts stored now wait for the filler, which the runtime role runs
    // through fill_search_vectors, a batch at a time.
    let more = dir.path().join("b.mbox");
    write_mbox(
        &more,
        &(50..60).map(plain_message).collect::<Vec<_>>(),
        "Mon Jan  2 15:04:05 2006",
    );
    import_json(&db, "alice", "Archive", &[&more]);
    let (total, missing, _) = vectors(&owner).await;
    assert!(total >= with_text + 10);
    assert_eq!(missing, total - with_text);
    let runtime = db.runtime().await;
    assert_eq!(
        archiveopteryx::store::vectors::pending(&runtime)
            .await
            .unwrap(),
        missing
    );
    let first = archiveopteryx::store::vectors::fill_batch(&runtime, 4)
        .await
        .unwrap();
    assert_eq!(first, 4);
    let rest = archiveopteryx::store::vectors::fill_batch(&runtime, 1000)
        .await
        .unwrap();
    assert_eq!(i64::from(first + rest), missing);
    assert_eq!(vectors(&owner).await, (total, 0, 0));
    assert_eq!(
        archiveopteryx::store::vectors::fill_batch(&runtime, 1000)
            .await
            .unwrap(),
        0
    );
    // The runtime role writes vectors only through the function.
    assert!(
        runtime
            .execute("UPDATE bodyparts SET search_tsv = NULL", &[])
            .await
            .is_err()
    );
}
