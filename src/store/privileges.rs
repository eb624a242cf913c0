//! The runtime role's privileges, from the one declarative list in
//! `schema/privileges`, reconciled against what the database really grants:
//! grant what is missing, revoke what is extra.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use tokio_postgres::Client;

use super::StoreError;

/// Tables of message content. The runtime role must never be able to DELETE
/// from or TRUNCATE them (the server checks at startup); purging is the owner's.
pub const CONTENT_TABLES: [&str; 6] = [
    "messages",
    "message_parts",
    "bodyparts",
    "message_search",
    "mailbox_entries",
    "expunged_entries",
];

/// The list, as shipped.
pub const LIST: &str = include_str!("../../schema/privileges");

const TABLE_PRIVILEGES: [&str; 7] = [
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "REFERENCES",
    "TRIGGER",
];
const SEQUENCE_PRIVILEGES: [&str; 3] = ["USAGE", "SELECT", "UPDATE"];

/// What kind of object a list line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ObjectKind {
    /// A table in schema public.
    Table,
    /// A sequence in schema public (identity columns' own sequences need no grant).
    Sequence,
    /// A function in schema public, named with its argument types.
    Function,
}

/// The wanted privileges, by (kind, object name).
pub type Wanted = BTreeMap<(ObjectKind, String), BTreeSet<String>>;

/// Parses the list: `table NAME PRIV…`, `sequence NAME PRIV…` or
/// `function NAME(ARGTYPES) EXECUTE`.
pub fn parse(text: &str) -> Result<Wanted, StoreError> {
    let mut wanted = Wanted::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = |why: &str| StoreError::Invalid(format!("schema/privileges:{}: {why}", n + 1));
        let mut words = line.split_whitespace();
        let kind = match words.next() {
            Some("table") => ObjectKind::Table,
            Some("sequence") => ObjectKind::Sequence,
            Some("function") => ObjectKind::Function,
            _ => {
                return Err(bad(
                    "expected `table NAME PRIVILEGES…`, `sequence NAME PRIVILEGES…` or `function NAME(ARGS) EXECUTE`",
                ));
            }
        };
        let name = words
            .next()
            .ok_or_else(|| bad("missing object name"))?
            .to_string();
        let privileges: BTreeSet<String> = words.map(str::to_ascii_uppercase).collect();
        let allowed: &[&str] = match kind {
            ObjectKind::Table => &TABLE_PRIVILEGES,
            ObjectKind::Sequence => &SEQUENCE_PRIVILEGES,
            ObjectKind::Function => &["EXECUTE"],
        };
        if let Some(p) = privileges.iter().find(|p| !allowed.contains(&p.as_str())) {
            return Err(bad(&format!("{p} is not a privilege on a {kind:?}")));
        }
        if wanted.insert((kind, name.clone()), privileges).is_some() {
            return Err(bad(&format!("{name} is listed twice")));
        }
    }
    Ok(wanted)
}

/// Who a change is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grantee {
    /// The runtime role.
    Runtime(String),
    /// PUBLIC, which PostgreSQL gives EXECUTE on every new function.
    Public,
}

/// One GRANT or REVOKE the reconciliation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Grant (true) or revoke (false).
    pub grant: bool,
    /// The privilege, e.g. `SELECT`.
    pub privilege: String,
    /// The object's kind.
    pub kind: ObjectKind,
    /// The object, e.g. `messages` or `expunge_entries(bigint,…)`.
    pub object: String,
    /// To or from whom.
    pub grantee: Grantee,
}

impl Change {
    fn sql(&self) -> String {
        let object = match self.kind {
            ObjectKind::Table => format!("TABLE public.{}", quote_ident(&self.object)),
            ObjectKind::Sequence => format!("SEQUENCE public.{}", quote_ident(&self.object)),
            ObjectKind::Function => format!("FUNCTION public.{}", self.object),
        };
        let who = match &self.grantee {
            Grantee::Runtime(r) => quote_ident(r),
            Grantee::Public => "PUBLIC".into(),
        };
        if self.grant {
            format!("GRANT {} ON {object} TO {who}", self.privilege)
        } else {
            format!("REVOKE {} ON {object} FROM {who}", self.privilege)
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sql())
    }
}

/// Quotes an SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The changes that would make the database match `wanted` for `role`.
pub async fn plan(client: &Client, role: &str, wanted: &Wanted) -> Result<Vec<Change>, StoreError> {
    let mut changes = Vec::new();

    for (kind, relkinds, all) in [
        (ObjectKind::Table, vec!["r", "p"], &TABLE_PRIVILEGES[..]),
        (ObjectKind::Sequence, vec!["S"], &SEQUENCE_PRIVILEGES[..]),
    ] {
        plan_relations(client, role, wanted, kind, &relkinds, all, &mut changes).await?;
    }

    // Our own functions: who holds EXECUTE directly, by ACL entry (PUBLIC is
    // grantee 0). Extension members are the extension's business.
    let functions = client
        .query(
            "SELECT p.proname || '(' || oidvectortypes(p.proargtypes) || ')', \
                    EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a \
                            WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'), \
                    EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a \
                            JOIN pg_roles r ON r.oid = a.grantee \
                            WHERE r.rolname = $1 AND a.privilege_type = 'EXECUTE') \
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = 'public' \
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') \
             ORDER BY 1",
            &[&role],
        )
        .await?;
    let mut seen_functions = BTreeSet::new();
    for row in functions {
        let signature: String = row.get(0);
        let object = normalise_signature(&signature);
        let public_has: bool = row.get(1);
        let role_has: bool = row.get(2);
        let wants = wanted
            .get(&(ObjectKind::Function, object.clone()))
            .is_some_and(|p| p.contains("EXECUTE"));
        seen_functions.insert(object.clone());
        let change = |grant, grantee| Change {
            grant,
            privilege: "EXECUTE".into(),
            kind: ObjectKind::Function,
            object: object.clone(),
            grantee,
        };
        if public_has {
            changes.push(change(false, Grantee::Public));
        }
        if role_has != wants {
            changes.push(change(wants, Grantee::Runtime(role.into())));
        }
    }
    for ((kind, name), _) in wanted
        .iter()
        .filter(|((k, _), _)| *k == ObjectKind::Function)
    {
        if !seen_functions.contains(name) {
            return Err(StoreError::Schema(format!(
                "schema/privileges lists {kind:?} {name}, which the database lacks"
            )));
        }
    }
    Ok(changes)
}

/// Plans the changes for every relation of `relkinds` (ours, not an
/// extension's) against the wanted privileges of `kind`.
async fn plan_relations(
    client: &Client,
    role: &str,
    wanted: &Wanted,
    kind: ObjectKind,
    relkinds: &[&str],
    all: &[&str],
    changes: &mut Vec<Change>,
) -> Result<(), StoreError> {
    let relkinds: Vec<String> = relkinds.iter().map(|k| k.to_string()).collect();
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND c.relkind::text = ANY($1) \
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e') \
             ORDER BY 1",
            &[&relkinds],
        )
        .await?;
    let existing: BTreeSet<String> = rows.iter().map(|r| r.get(0)).collect();
    for ((k, name), _) in wanted.iter().filter(|((k, _), _)| *k == kind) {
        if !existing.contains(name) {
            return Err(StoreError::Schema(format!(
                "schema/privileges lists {k:?} {name}, which the database lacks"
            )));
        }
    }
    let check = match kind {
        ObjectKind::Sequence => {
            "SELECT has_sequence_privilege($1, format('public.%I', $2::text), $3)"
        }
        _ => "SELECT has_table_privilege($1, format('public.%I', $2::text), $3)",
    };
    for relation in &existing {
        let none = BTreeSet::new();
        let want = wanted.get(&(kind, relation.clone())).unwrap_or(&none);
        for &privilege in all {
            let has: bool = client
                .query_one(check, &[&role, relation, &privilege])
                .await?
                .get(0);
            let wants = want.contains(privilege);
            if has != wants {
                changes.push(Change {
                    grant: wants,
                    privilege: privilege.into(),
                    kind,
                    object: relation.clone(),
                    grantee: Grantee::Runtime(role.into()),
                });
            }
        }
    }
    Ok(())
}

/// `name(a, b)` → `name(a,b)`, the spelling the list uses.
fn normalise_signature(s: &str) -> String {
    s.replace(", ", ",")
}

/// Runs `changes` in one transaction.
pub async fn apply(client: &mut Client, changes: &[Change]) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    for change in changes {
        tx.batch_execute(&change.sql()).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_list_parses_and_never_grants_delete_on_content() {
        let wanted = parse(LIST).unwrap();
        for table in CONTENT_TABLES {
            let p = wanted
                .get(&(ObjectKind::Table, table.into()))
                .cloned()
                .unwrap_or_default();
            assert!(
                !p.contains("DELETE"),
                "{table} must not be deletable by the runtime role"
            );
            assert!(!p.contains("TRUNCATE"), "{table}");
        }
        assert!(wanted.contains_key(&(ObjectKind::Table, "mailstore".into())));
    }

    #[test]
    fn bad_lines_are_refused_with_their_line_number() {
        let e = parse("table a SELECT\nview b SELECT\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("schema/privileges:2:"), "{e}");
        let e = parse("table a SELEKT\n").unwrap_err().to_string();
        assert!(e.contains("SELEKT"), "{e}");
        let e = parse("table a SELECT\ntable a INSERT\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("twice"), "{e}");
    }

    #[test]
    fn signatures_are_spelt_without_spaces() {
        assert_eq!(
            normalise_signature("expunge_entries(bigint, bigint[], timestamp with time zone)"),
            "expunge_entries(bigint,bigint[],timestamp with time zone)"
        );
    }
}
