//! The server refuses a schema revision it does not know; `aox upgrade schema`
//! brings an empty database to the current revision.

use archiveopteryx::mime;
use archiveopteryx::store::inject::{self, NewMessage, SystemFlags};
use archiveopteryx::store::schema::{self, REVISION};

use crate::harness::{self, OWNER_ROLE, TestDb, stderr};

fn run_server(db: &TestDb) -> std::process::Output {
    harness::run_server(&db.config_path, &["--check"])
}

#[tokio::test]
async fn server_accepts_the_current_revision() {
    let db = TestDb::new().await;
    assert_eq!(schema::check(&db.runtime().await).await.unwrap(), REVISION);
    let out = run_server(&db);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test]
async fn server_refuses_an_older_revision_and_names_the_fix() {
    let db = TestDb::new().await;
    db.owner()
        .await
        .execute("UPDATE mailstore SET revision = 0", &[])
        .await
        .unwrap();
    harness::assert_refused(&run_server(&db), "run `aox upgrade schema`");
}

#[tokio::test]
async fn server_refuses_a_newer_revision() {
    let db = TestDb::new().await;
    db.owner()
        .await
        .execute("UPDATE mailstore SET revision = $1", &[&(REVISION + 1)])
        .await
        .unwrap();
    harness::assert_refused(&run_server(&db), "newer than this program");
}

#[tokio::test]
async fn server_refuses_a_role_that_can_delete_content() {
    let db = TestDb::new().await;
    db.owner()
        .await
        .batch_execute("GRANT DELETE ON bodyparts TO aox")
        .await
        .unwrap();
    harness::assert_refused(&run_server(&db), "aox grant privileges");
}

#[tokio::test]
async fn upgrade_schema_builds_an_empty_database_and_dry_run_changes_nothing() {
    let db = TestDb::new().await;
    // Replace the test database by an empty one owned by the owner role.
    let su = crate::harness::superuser("postgres").await;
    let empty = format!("{}_empty", db.name);
    su.batch_execute(&format!("CREATE DATABASE {empty} OWNER {OWNER_ROLE}"))
        .await
        .unwrap();
    crate::harness::superuser(&empty)
        .await
        .batch_execute("CREATE EXTENSION citext; CREATE EXTENSION pg_trgm;")
        .await
        .unwrap();
    let text = std::fs::read_to_string(&db.config_path)
        .unwrap()
        .replace(&db.name, &empty);
    archiveopteryx::install::write_private_file(&db.config_path, &text).unwrap();

    let out = db.aox(&["upgrade", "schema", "-n"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = crate::harness::stdout(&out);
    assert!(said.contains("0001-initial.sql"), "{said}");
    let check = crate::harness::superuser(&empty).await;
    assert_eq!(schema::current_revision(&check).await.unwrap(), None);

    let out = db.aox(&["upgrade", "schema"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        schema::current_revision(&check).await.unwrap(),
        Some(REVISION)
    );
    // Privileges were reconciled too: the runtime role can read, not delete.
    let runtime = db.runtime().await;
    runtime.query("SELECT 1 FROM users", &[]).await.unwrap();
    assert!(runtime.execute("DELETE FROM messages", &[]).await.is_err());
}

#[tokio::test]
async fn upgrade_from_revision_1_reshapes_mailbox_entries_for_bulk_work() {
    let db = TestDb::new().await;
    // Put back revision 1's shape of what step 2 changes.
    downgrade_then_upgrade(
        &db,
        "ALTER TABLE mailbox_entries SET (fillfactor = 85); \
             DROP INDEX mailbox_entries_message_place; \
             CREATE INDEX mailbox_entries_message ON mailbox_entries (user_id, message_id); \
             ALTER TABLE mailbox_entries ADD FOREIGN KEY (user_id, mailbox_id) \
               REFERENCES mailboxes (user_id, id); \
             UPDATE mailstore SET revision = 1;",
        "0002-entries-for-bulk-work.sql",
    )
    .await;
    let check = db.superuser().await;
    let options: Vec<String> = check
        .query_one(
            "SELECT reloptions::text[] FROM pg_class WHERE relname = 'mailbox_entries'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        options.contains(&"fillfactor=50".to_string()),
        "{options:?}"
    );
    let indexes: Vec<(String, bool)> = check
        .query(
            "SELECT c.relname::text, i.indisvalid FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE i.indrelid = 'mailbox_entries'::regclass ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        indexes,
        vec![
            ("mailbox_entries_message_place".to_string(), true),
            ("mailbox_entries_pkey".to_string(), true),
        ]
    );
    let constraints = texts(
        &check,
        "SELECT conname::text FROM pg_constraint \
         WHERE conrelid = 'mailbox_entries'::regclass AND contype IN ('f', 'p') ORDER BY 1",
    )
    .await;
    assert_eq!(
        constraints,
        [
            "mailbox_entries_pkey",
            "mailbox_entries_user_id_message_id_fkey"
        ]
    );
}

#[tokio::test]
async fn upgrade_from_revision_2_moves_full_text_vectors_out_of_storing() {
    let db = TestDb::new().await;
    // Put back revision 2's shape of what step 3 changes.
    downgrade_then_upgrade(
        &db,
        "DROP FUNCTION fill_search_vectors(integer); \
             DROP INDEX bodyparts_vector_pending; \
             CREATE FUNCTION bodyparts_set_search_tsv() RETURNS trigger LANGUAGE plpgsql AS $$ \
               BEGIN IF NEW.text IS NOT NULL THEN NEW.search_tsv := bodypart_tsvector(NEW.text); \
               END IF; RETURN NEW; END; $$; \
             CREATE TRIGGER bodyparts_search_tsv BEFORE INSERT ON bodyparts \
               FOR EACH ROW EXECUTE FUNCTION bodyparts_set_search_tsv(); \
             UPDATE mailstore SET revision = 2;",
        "0003-search-vectors-after-storing.sql",
    )
    .await;
    let check = db.superuser().await;
    let triggers: i64 = check
        .query_one(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'bodyparts'::regclass AND NOT tgisinternal",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(triggers, 0);
    let pending = index_named(&check, "bodyparts_vector_pending").await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert!(pending[0].1, "{pending:?}");
    assert!(
        pending[0].0.contains("search_tsv IS NULL") && pending[0].0.contains("text IS NOT NULL"),
        "{pending:?}"
    );
    // The privileges were reconciled: the runtime role may fill vectors.
    let runtime = db.runtime().await;
    assert_eq!(
        archiveopteryx::store::vectors::fill_batch(&runtime, 10)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn upgrade_from_revision_3_indexes_the_expunged_ranges_select_reads() {
    let db = TestDb::new().await;
    downgrade_then_upgrade(
        &db,
        "DROP INDEX mailbox_changes_expunged; UPDATE mailstore SET revision = 3;",
        "0004-expunged-ranges-for-select.sql",
    )
    .await;
    let index = index_named(&db.superuser().await, "mailbox_changes_expunged").await;
    assert_eq!(index.len(), 1, "{index:?}");
    assert!(index[0].1, "{index:?}");
    assert!(
        index[0].0.contains("WHERE (kind = 'expunged'::text)"),
        "{index:?}"
    );
}

#[tokio::test]
async fn upgrade_from_revision_4_takes_the_per_row_checks_off_new_content() {
    let db = TestDb::new().await;
    downgrade_then_upgrade(
        &db,
        "DROP TRIGGER messages_delete_children ON messages; \
         DROP FUNCTION delete_message_children(); \
         DROP FUNCTION lock_bodyparts(bytea[]); \
         ALTER TABLE message_parts ADD FOREIGN KEY (user_id, message_id) \
           REFERENCES messages (user_id, id) ON DELETE CASCADE; \
         ALTER TABLE message_parts ADD FOREIGN KEY (bodypart_hash) REFERENCES bodyparts (hash); \
         ALTER TABLE message_search ADD FOREIGN KEY (user_id, message_id) \
           REFERENCES messages (user_id, id) ON DELETE CASCADE; \
         ALTER TABLE bodyparts ADD COLUMN text_beyond_tsv boolean \
           GENERATED ALWAYS AS (length(coalesce(text, '')) > 200000) STORED; \
         ALTER TABLE message_search ALTER COLUMN headers SET STATISTICS -1; \
         UPDATE mailstore SET revision = 4;",
        "0005-no-per-row-checks-on-new-content.sql",
    )
    .await;
    let check = db.superuser().await;
    let keys = texts(
        &check,
        "SELECT conname::text FROM pg_constraint WHERE contype = 'f' \
         AND conrelid IN ('message_parts'::regclass, 'message_search'::regclass)",
    )
    .await;
    assert!(keys.is_empty(), "{keys:?}");
    let stats: i32 = check
        .query_one(
            "SELECT attstattarget::int FROM pg_attribute \
             WHERE attrelid = 'message_search'::regclass AND attname = 'headers'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stats, 0);

    // Deleting messages still takes their parts and search rows along, and
    // the runtime role finds stored parts through lock_bodyparts.
    assert!(
        db.aox(&["add", "user", "alice", "secret", "alice@example.org"])
            .status
            .success()
    );
    let owner = db.owner().await;
    let (user, inbox) = archiveopteryx::store::mailboxes::mailbox_id(&owner, "alice", "INBOX")
        .await
        .unwrap();
    let raw = b"Subject: gone soon\r\n\r\nbody\r\n".to_vec();
    let message = NewMessage::new(mime::ingest(&raw), raw, 0, SystemFlags::default(), vec![]);
    inject::inject(&mut db.runtime().await, user, inbox, &[message])
        .await
        .unwrap();
    let count = |sql: &'static str| {
        let owner = &owner;
        async move { owner.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    assert_eq!(count("SELECT count(*) FROM message_parts").await, 2);
    assert_eq!(count("SELECT count(*) FROM message_search").await, 1);
    let hash: Vec<u8> = owner
        .query_one("SELECT hash FROM bodyparts", &[])
        .await
        .unwrap()
        .get(0);
    let found = db
        .runtime()
        .await
        .query("SELECT lock_bodyparts(ARRAY[$1::bytea])", &[&hash])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    owner
        .batch_execute("DELETE FROM mailbox_entries; DELETE FROM messages")
        .await
        .unwrap();
    assert_eq!(count("SELECT count(*) FROM message_parts").await, 0);
    assert_eq!(count("SELECT count(*) FROM message_search").await, 0);
}

/// Puts back an older revision's shape with `sql` (which also sets the
/// revision), checks that the server refuses to start on it, upgrades to
/// [`REVISION`] and checks that the upgrade said it applied `step`.
async fn downgrade_then_upgrade(db: &TestDb, sql: &str, step: &str) {
    db.owner().await.batch_execute(sql).await.unwrap();
    harness::assert_refused(&run_server(db), "aox upgrade schema");
    let out = db.aox(&["upgrade", "schema"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        schema::current_revision(&db.superuser().await)
            .await
            .unwrap(),
        Some(REVISION)
    );
    let said = format!("{}{}", crate::harness::stdout(&out), stderr(&out));
    assert!(said.contains(step), "{said}");
}

/// The first column of every row `sql` returns, as text.
async fn texts(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    client
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The definition and validity of every index called `name` (one, when the
/// upgrade built it).
async fn index_named(client: &tokio_postgres::Client, name: &str) -> Vec<(String, bool)> {
    client
        .query(
            "SELECT pg_get_indexdef(i.indexrelid), i.indisvalid FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = $1",
            &[&name],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}
