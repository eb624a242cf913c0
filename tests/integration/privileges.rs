//! Least privilege: the runtime role cannot destroy content, and privileges
//! are reconciled to schema/privileges.

use archiveopteryx::store::privileges::{self, Grantee};

use crate::harness::{RUNTIME_ROLE, TestDb};

#[tokio::test]
async fn runtime_role_cannot_delete_message_content() {
    let db = TestDb::new().await;
    let runtime = db.runtime().await;
    for table in [
        "messages",
        "message_parts",
        "bodyparts",
        "message_search",
        "mailbox_entries",
        "expunged_entries",
    ] {
        let err = runtime
            .execute(&format!("DELETE FROM {table}"), &[])
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "DELETE FROM {table}: {err}"
        );
        let err = runtime
            .execute(&format!("TRUNCATE {table}"), &[])
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{table}"
        );
    }
    // What it needs, it has.
    runtime.query("SELECT id FROM users", &[]).await.unwrap();
    runtime
        .query("SELECT 1 FROM mailbox_entries", &[])
        .await
        .unwrap();
}

#[tokio::test]
async fn expunge_function_is_the_runtime_roles_only_way_to_remove_entries() {
    let db = TestDb::new().await;
    let su = db.superuser().await;
    // PUBLIC must not hold EXECUTE on the SECURITY DEFINER function.
    let public_exec: bool = su
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a \
             WHERE p.proname = 'expunge_entries' AND a.grantee = 0)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!public_exec);
    let runtime = db.runtime().await;
    let moved = runtime
        .query(
            "SELECT * FROM expunge_entries(1, 1, ARRAY[1]::bigint[], ARRAY[10]::bigint[], true, 2, NULL, 'test')",
            &[],
        )
        .await
        .unwrap();
    assert!(moved.is_empty());
}

#[tokio::test]
async fn reconciliation_grants_what_is_missing_and_revokes_what_is_extra() {
    let db = TestDb::new().await;
    let mut owner = db.owner().await;
    owner
        .batch_execute(&format!("GRANT DELETE ON messages TO {RUNTIME_ROLE}"))
        .await
        .unwrap();
    owner
        .batch_execute(&format!("REVOKE UPDATE ON mailboxes FROM {RUNTIME_ROLE}"))
        .await
        .unwrap();
    owner
        .batch_execute("GRANT EXECUTE ON FUNCTION refuse_held_message_delete() TO PUBLIC")
        .await
        .unwrap();

    let wanted = privileges::parse(privileges::LIST).unwrap();
    let changes = privileges::plan(&owner, RUNTIME_ROLE, &wanted)
        .await
        .unwrap();
    let text: Vec<String> = changes.iter().map(ToString::to_string).collect();
    assert_eq!(changes.len(), 3, "{text:#?}");
    assert!(
        text.contains(&format!(
            "REVOKE DELETE ON TABLE public.\"messages\" FROM \"{RUNTIME_ROLE}\""
        )),
        "{text:#?}"
    );
    assert!(
        text.contains(&format!(
            "GRANT UPDATE ON TABLE public.\"mailboxes\" TO \"{RUNTIME_ROLE}\""
        )),
        "{text:#?}"
    );
    assert!(
        changes
            .iter()
            .any(|c| c.grantee == Grantee::Public && !c.grant),
        "{text:#?}"
    );

    privileges::apply(&mut owner, &changes).await.unwrap();
    assert!(
        privileges::plan(&owner, RUNTIME_ROLE, &wanted)
            .await
            .unwrap()
            .is_empty()
    );
    let err = db
        .runtime()
        .await
        .execute("DELETE FROM messages", &[])
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    );
}
