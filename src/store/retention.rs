//! Retention policies (table `retention_policies`): `retain` keeps mail
//! that matches from EXPUNGE (for N days after its internal date, or
//! forever); `delete` lets `aox vacuum` expunge matching mail older than N
//! days. A policy applies to everyone, one user or one mailbox, and may
//! narrow itself with a search in the IMAP search language.
//!
//! Inside an expunge, [`retained`] finds what the policies keep with a
//! constant number of statements however many apply: one to read them (a
//! few rows), one that ORs every policy's compiled search into a single
//! condition over the candidate entries.
//!
//! MOVE is not an expunge in this sense: the message lives on in the
//! target mailbox, so policies do not stop it.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio_postgres::{GenericClient, Transaction};

use super::StoreError;
use super::search::{Compiled, Param};
use super::select::{islands, islands_sql};
use crate::search;
use crate::uidset::UidSet;

/// What a policy does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// EXPUNGE keeps matching mail.
    Retain,
    /// Vacuum expunges matching mail older than the policy's days.
    Delete,
}

impl Action {
    /// The word the table stores.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Retain => "retain",
            Action::Delete => "delete",
        }
    }
}

/// A policy to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPolicy<'a> {
    /// Retain or delete.
    pub action: Action,
    /// Days; None (retain only) is forever.
    pub days: Option<u32>,
    /// Only this user's mail (login).
    pub login: Option<&'a str>,
    /// Only this mailbox of that user.
    pub mailbox: Option<&'a str>,
    /// Only mail matching this search (search words as given).
    pub search: &'a [String],
    /// Who made it (audit-style actor text).
    pub created_by: &'a str,
}

/// A stored policy as `aox show retention` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// retention_policies.id, what `aox remove retention` takes.
    pub id: i64,
    /// `retain` or `delete`.
    pub action: String,
    /// Days; None is forever.
    pub days: Option<i32>,
    /// The user's login, None for everyone.
    pub user: Option<String>,
    /// The mailbox's name, None for every mailbox.
    pub mailbox: Option<String>,
    /// The search text, None for all mail.
    pub search: Option<String>,
    /// When, Unix seconds.
    pub created_at: i64,
    /// Who.
    pub created_by: String,
}

/// Checks and stores a policy; returns its id. The search must parse and
/// compile (a policy that could never be applied is refused now, not at the
/// next expunge); a delete policy needs days; a mailbox needs a user.
pub async fn add(client: &impl GenericClient, p: &NewPolicy<'_>) -> Result<i64, StoreError> {
    if p.action == Action::Delete && p.days.is_none() {
        return Err(StoreError::Invalid(
            "a delete policy needs a number of days".into(),
        ));
    }
    let days = p
        .days
        .map(|d| i32::try_from(d).map_err(|_| StoreError::Invalid(format!("{d} days is too many"))))
        .transpose()?;
    let search_text = if p.search.is_empty() {
        None
    } else {
        let text = search::to_text(p.search);
        let key = search::from_text(&text).map_err(|e| StoreError::Invalid(e.to_string()))?;
        Compiled::default().condition(&key)?;
        Some(text)
    };
    let user = match p.login {
        Some(l) => Some(super::users::user_id(client, l).await?),
        None => None,
    };
    let mailbox = match (p.login, p.mailbox) {
        (Some(l), Some(m)) => Some(super::mailboxes::mailbox_id(client, l, m).await?.1),
        (None, Some(_)) => {
            return Err(StoreError::Invalid(
                "a mailbox is named together with its user".into(),
            ));
        }
        _ => None,
    };
    let row = client
        .query_one(
            "INSERT INTO retention_policies (action, days, user_id, mailbox_id, search, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &p.action.as_str(),
                &days,
                &user,
                &mailbox,
                &search_text,
                &p.created_by,
            ],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// Every policy, in id order.
pub async fn list(client: &impl GenericClient) -> Result<Vec<Policy>, StoreError> {
    let rows = client
        .query(
            "SELECT p.id, p.action, p.days, u.login::text, b.name, p.search, p.created_at, p.created_by \
             FROM retention_policies p \
             LEFT JOIN users u ON u.id = p.user_id \
             LEFT JOIN mailboxes b ON b.id = p.mailbox_id \
             ORDER BY p.id",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let at: SystemTime = r.try_get(6)?;
            let created_at = at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            Ok(Policy {
                id: r.try_get(0)?,
                action: r.try_get(1)?,
                days: r.try_get(2)?,
                user: r.try_get(3)?,
                mailbox: r.try_get(4)?,
                search: r.try_get(5)?,
                created_at,
                created_by: r.try_get(7)?,
            })
        })
        .collect()
}

/// Removes policy `id`; NotFound when there is none.
pub async fn remove(client: &impl GenericClient, id: i64) -> Result<(), StoreError> {
    let n = client
        .execute("DELETE FROM retention_policies WHERE id = $1", &[&id])
        .await?;
    if n == 0 {
        return Err(StoreError::NotFound(format!(
            "no retention policy with id {id}"
        )));
    }
    Ok(())
}

/// Of the entries of `mailbox` in `uids` (only the `\Deleted` ones when
/// `only_deleted`), those a `retain` policy keeps: its scope covers the
/// mailbox, its search matches, and (for a policy of N days) the internal
/// date is within the last N days. Two statements at most, whatever the
/// number of policies. Runs in the expunge's transaction, under its mailbox
/// row lock, so the answer holds until the expunge commits.
///
/// A stored search that no longer parses keeps everything its policy
/// covers: a policy that cannot be read must fail towards keeping mail.
pub(crate) async fn retained(
    tx: &Transaction<'_>,
    user: i64,
    mailbox: i64,
    uids: &UidSet,
    only_deleted: bool,
) -> Result<UidSet, StoreError> {
    if uids.is_empty() {
        return Ok(UidSet::new());
    }
    let policies = tx
        .query(
            "SELECT id, days, search FROM retention_policies WHERE action = 'retain' \
             AND (user_id IS NULL OR user_id = $1) AND (mailbox_id IS NULL OR mailbox_id = $2) ORDER BY id",
            &[&user, &mailbox],
        )
        .await?;
    if policies.is_empty() {
        return Ok(UidSet::new());
    }
    let mut c = Compiled::default();
    let mut alternatives = Vec::with_capacity(policies.len());
    for p in &policies {
        let id: i64 = p.try_get(0)?;
        let days: Option<i32> = p.try_get(1)?;
        let text: Option<String> = p.try_get(2)?;
        let matches = match text.as_deref().map(search::from_text) {
            None => "true".to_string(),
            Some(Ok(key)) => match c.condition(&key) {
                Ok(sql) => sql,
                Err(e) => {
                    tracing::warn!(policy = id, error = %e, "retention policy search does not compile; keeping all it covers");
                    "true".to_string()
                }
            },
            Some(Err(e)) => {
                tracing::warn!(policy = id, error = %e, "retention policy search does not parse; keeping all it covers");
                "true".to_string()
            }
        };
        let recent = match days {
            None => "true".to_string(),
            Some(d) => {
                let d = c.bind(Param::Int(i64::from(d)));
                format!("e.internaldate > now() - {d} * interval '1 day'")
            }
        };
        alternatives.push(format!("({recent} AND {matches})"));
    }
    let (lows, highs) = uids.bounds();
    let lows = c.bind(Param::Ints(lows));
    let highs = c.bind(Param::Ints(highs));
    let deleted = if only_deleted { "e.deleted" } else { "true" };
    let inner = format!(
        "SELECT e.uid FROM unnest({lows}, {highs}) AS r(lo, hi) \
         JOIN mailbox_entries e ON e.user_id = $1 AND e.mailbox_id = $2 AND e.uid BETWEEN r.lo AND r.hi \
         WHERE {deleted} AND ({})",
        alternatives.join(" OR ")
    );
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&user, &mailbox];
    params.extend(c.params());
    let rows = tx.query(&islands_sql(&inner), &params).await?;
    islands(&rows)
}
