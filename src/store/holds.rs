//! Legal holds: a case names a scope (everyone, a user, a mailbox) and an
//! optional search; `held_messages` materialises the messages it covers, and
//! the trigger `messages_legal_hold` refuses to delete any of them while the
//! hold stands, whoever asks. Holds are confidential: the user's EXPUNGE
//! still hides held mail, and only destruction is stopped. Mail keeps
//! arriving, so `aox vacuum` materialises every standing hold again
//! ([`refresh_all`]) before it purges anything.

use std::time::SystemTime;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, GenericClient, Transaction};

use super::StoreError;
use super::search::condition_of;

/// Serialises adding a hold with `aox vacuum` (class 8 of the two-key
/// advisory locks; inject uses 7), so a hold added while vacuum runs is
/// materialised before vacuum's purge or after it, never half-way.
pub(crate) const VACUUM_LOCK: (i32, i32) = (8, 1);

/// What a new hold covers.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// users.id, or None for everyone.
    pub user: Option<i64>,
    /// mailboxes.id (of `user`), or None for all the user's mailboxes.
    pub mailbox: Option<i64>,
    /// A search in IMAP syntax, or None for everything in scope.
    pub search: Option<String>,
}

/// One hold as `aox hold list` shows it.
#[derive(Debug, Clone)]
pub struct Hold {
    /// The case name.
    pub case: String,
    /// The user's login, when the hold names one.
    pub login: Option<String>,
    /// The mailbox's name, when the hold names one.
    pub mailbox: Option<String>,
    /// The search, when the hold has one.
    pub search: Option<String>,
    /// Who added it.
    pub created_by: String,
    /// When.
    pub created_at: SystemTime,
    /// Who released it, when it was released.
    pub released_by: Option<String>,
    /// When it was released.
    pub released_at: Option<SystemTime>,
    /// How many messages it holds (materialised so far).
    pub held: i64,
}

/// The id of `user`'s mailbox `name`, deleted or not: a deleted mailbox's
/// tombstones are still content a hold may need to keep.
pub async fn any_mailbox_id(
    client: &impl GenericClient,
    user: i64,
    name: &str,
) -> Result<Option<i64>, StoreError> {
    let name = super::mailboxes::canonical_name(name)?;
    Ok(client
        .query_opt(
            "SELECT id FROM mailboxes WHERE user_id = $1 AND name = $2",
            &[&user, &name],
        )
        .await?
        .map(|r| r.get(0)))
}

/// Adds hold `case` over `scope` as `actor`, materialises what it covers
/// now (live entries and tombstones) and records it in the audit log, in
/// one transaction. Returns how many messages it holds.
pub async fn add(
    client: &mut Client,
    case: &str,
    scope: &Scope,
    actor: &str,
) -> Result<u64, StoreError> {
    if case.trim().is_empty() {
        return Err(StoreError::Invalid("a hold needs a case name".into()));
    }
    if let Some(text) = &scope.search {
        // Refuse a search that does not parse before anything is written.
        crate::search::from_text(text).map_err(|e| StoreError::Invalid(e.to_string()))?;
    }
    let tx = client.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&VACUUM_LOCK.0, &VACUUM_LOCK.1],
    )
    .await?;
    let row = tx
        .query_opt(
            "INSERT INTO legal_holds (case_name, user_id, mailbox_id, search, created_by) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (case_name) DO NOTHING RETURNING id",
            &[&case, &scope.user, &scope.mailbox, &scope.search, &actor],
        )
        .await?
        .ok_or_else(|| StoreError::Conflict(format!("a hold named {case:?} exists already")))?;
    let id: i64 = row.get(0);
    materialise(&tx, id, scope).await?;
    let held: i64 = tx
        .query_one(
            "SELECT count(*) FROM held_messages WHERE hold_id = $1",
            &[&id],
        )
        .await?
        .get(0);
    let detail = format!(
        "add {case}: {} message(s) held{}",
        held,
        scope
            .search
            .as_deref()
            .map(|s| format!(", search {s}"))
            .unwrap_or_default()
    );
    tx.execute(
        "INSERT INTO audit_log (actor, action, user_id, mailbox_id, detail) VALUES ($1, 'hold', $2, $3, $4)",
        &[&actor, &scope.user, &scope.mailbox, &detail],
    )
    .await?;
    tx.commit().await?;
    Ok(held.unsigned_abs())
}

/// Releases hold `case` as `actor`. Its held_messages rows stay as the
/// record of what it held; the trigger and vacuum ignore released holds.
pub async fn release(client: &mut Client, case: &str, actor: &str) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    let row = tx
        .query_opt(
            "SELECT id, released_at IS NOT NULL, user_id, mailbox_id FROM legal_holds \
             WHERE case_name = $1 FOR UPDATE",
            &[&case],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("there is no hold named {case:?}")))?;
    if row.get::<_, bool>(1) {
        return Err(StoreError::Conflict(format!(
            "the hold {case:?} was released already"
        )));
    }
    let id: i64 = row.get(0);
    let (user, mailbox): (Option<i64>, Option<i64>) = (row.get(2), row.get(3));
    tx.execute(
        "UPDATE legal_holds SET released_at = now(), released_by = $2 WHERE id = $1",
        &[&id, &actor],
    )
    .await?;
    tx.execute(
        "INSERT INTO audit_log (actor, action, user_id, mailbox_id, detail) VALUES ($1, 'hold', $2, $3, $4)",
        &[&actor, &user, &mailbox, &format!("release {case}")],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Every hold, standing ones first, then by case name.
pub async fn list(client: &impl GenericClient) -> Result<Vec<Hold>, StoreError> {
    let rows = client
        .query(
            "SELECT l.case_name, u.login::text, m.name, l.search, l.created_by, l.created_at, \
                    l.released_by, l.released_at, \
                    (SELECT count(*) FROM held_messages h WHERE h.hold_id = l.id) \
             FROM legal_holds l LEFT JOIN users u ON u.id = l.user_id \
             LEFT JOIN mailboxes m ON m.id = l.mailbox_id \
             ORDER BY l.released_at IS NOT NULL, l.case_name",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Hold {
                case: r.try_get(0)?,
                login: r.try_get(1)?,
                mailbox: r.try_get(2)?,
                search: r.try_get(3)?,
                created_by: r.try_get(4)?,
                created_at: r.try_get(5)?,
                released_by: r.try_get(6)?,
                released_at: r.try_get(7)?,
                held: r.try_get(8)?,
            })
        })
        .collect()
}

/// Materialises every standing hold again (what arrived or was undeleted
/// since it was added); returns how many held_messages rows were added.
/// Run by vacuum, under [`VACUUM_LOCK`], before it purges anything.
pub async fn refresh_all(client: &mut Client) -> Result<u64, StoreError> {
    let holds = standing(client).await?;
    let mut added = 0;
    for (id, scope) in holds {
        let tx = client.transaction().await?;
        added += materialise(&tx, id, &scope).await?;
        tx.commit().await?;
    }
    Ok(added)
}

/// The standing holds' ids and scopes.
pub(crate) async fn standing(client: &impl GenericClient) -> Result<Vec<(i64, Scope)>, StoreError> {
    let rows = client
        .query(
            "SELECT id, user_id, mailbox_id, search FROM legal_holds WHERE released_at IS NULL ORDER BY id",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get(0)?,
                Scope {
                    user: r.try_get(1)?,
                    mailbox: r.try_get(2)?,
                    search: r.try_get(3)?,
                },
            ))
        })
        .collect()
}

/// The statement selecting `(user_id, message_id)` of every message in
/// `scope` matching its search, over live entries and tombstones alike
/// (they share the columns the search compiler reads), and the compiled
/// search. Parameters: `$1` the user, `$2` the mailbox (either may be
/// NULL), then the search's own from `$3`.
pub(crate) fn covered_sql(
    scope: &Scope,
) -> Result<(String, Option<super::search::Condition>), StoreError> {
    let condition = match &scope.search {
        Some(text) => {
            let key =
                crate::search::from_text(text).map_err(|e| StoreError::Invalid(e.to_string()))?;
            Some(condition_of(&key, 3)?)
        }
        None => None,
    };
    let predicate = condition.as_ref().map_or("true", |c| c.sql.as_str());
    let sql = format!(
        "SELECT DISTINCT e.user_id, e.message_id FROM ( \
           SELECT user_id, mailbox_id, uid, message_id, modseq, seen, answered, flagged, deleted, draft, \
                  keywords, internaldate, rfc822_size FROM mailbox_entries \
           UNION ALL \
           SELECT user_id, mailbox_id, uid, message_id, modseq, seen, answered, flagged, deleted, draft, \
                  keywords, internaldate, rfc822_size FROM expunged_entries) AS e \
         WHERE ($1::bigint IS NULL OR e.user_id = $1) AND ($2::bigint IS NULL OR e.mailbox_id = $2) \
           AND {predicate}"
    );
    Ok((sql, condition))
}

/// One INSERT … SELECT of what hold `id` covers into held_messages.
async fn materialise(tx: &Transaction<'_>, id: i64, scope: &Scope) -> Result<u64, StoreError> {
    let (select, condition) = covered_sql(scope)?;
    let id_param = 3 + condition.as_ref().map_or(0, |c| c.len());
    let sql = format!(
        "INSERT INTO held_messages (hold_id, user_id, message_id) \
         SELECT ${id_param}::bigint, c.user_id, c.message_id FROM ({select}) AS c \
         ON CONFLICT DO NOTHING"
    );
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&scope.user, &scope.mailbox];
    if let Some(c) = &condition {
        params.extend(c.params());
    }
    params.push(&id);
    Ok(tx.execute(&sql, &params).await?)
}
