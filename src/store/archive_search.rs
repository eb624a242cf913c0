//! `aox search`: the IMAP search language run over one mailbox, a user's
//! mailboxes or the whole store, with what a person needs to see of each
//! match. One search statement per mailbox (the compiler in `search.rs`),
//! then one statement per mailbox for the matches' summaries.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio_postgres::GenericClient;

use super::StoreError;
use crate::search::SearchKey;
use crate::uidset::UidSet;

/// A mailbox to search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// users.id
    pub user: i64,
    /// The owner's login.
    pub login: String,
    /// mailboxes.id
    pub mailbox: i64,
    /// The mailbox's name.
    pub name: String,
}

/// One matching message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The owner's login.
    pub login: String,
    /// The mailbox's name.
    pub mailbox: String,
    /// The message's UID.
    pub uid: u32,
    /// INTERNALDATE, Unix seconds.
    pub internal_date: i64,
    /// The From addresses, decoded.
    pub from: String,
    /// The Subject, decoded.
    pub subject: String,
    /// RFC822.SIZE.
    pub size: u64,
}

/// The live mailboxes to search: of `login` (all users when None), only
/// `mailbox` when given. NotFound when the user or the mailbox does not exist.
pub async fn scopes(
    client: &impl GenericClient,
    login: Option<&str>,
    mailbox: Option<&str>,
) -> Result<Vec<Scope>, StoreError> {
    let user = match login {
        Some(l) => Some(super::users::user_id(client, l).await?),
        None => None,
    };
    let name = mailbox.map(super::mailboxes::canonical_name).transpose()?;
    let rows = client
        .query(
            "SELECT m.user_id, u.login::text, m.id, m.name FROM mailboxes m JOIN users u ON u.id = m.user_id \
             WHERE NOT m.deleted AND ($1::bigint IS NULL OR m.user_id = $1) AND ($2::text IS NULL OR m.name = $2) \
             ORDER BY lower(u.login::text), m.name",
            &[&user, &name],
        )
        .await?;
    if rows.is_empty()
        && let Some(n) = &name
    {
        return Err(StoreError::NotFound(format!("no mailbox named {n:?}")));
    }
    rows.iter()
        .map(|r| {
            Ok(Scope {
                user: r.try_get(0)?,
                login: r.try_get(1)?,
                mailbox: r.try_get(2)?,
                name: r.try_get(3)?,
            })
        })
        .collect()
}

/// The matches of `key` in `scope`, in UID order.
pub async fn search_scope(
    client: &impl GenericClient,
    scope: &Scope,
    key: &SearchKey,
) -> Result<Vec<Hit>, StoreError> {
    let uids = super::search::search(client, scope.user, scope.mailbox, key).await?;
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let (lows, highs) = UidSet::from_values(uids).bounds();
    let rows = client
        .query(
            "SELECT e.uid, e.internaldate, coalesce(s.from_text, ''), coalesce(s.subject, ''), e.rfc822_size \
             FROM unnest($3::bigint[], $4::bigint[]) r(lo, hi) \
             JOIN mailbox_entries e ON e.user_id = $1 AND e.mailbox_id = $2 AND e.uid BETWEEN r.lo AND r.hi \
             LEFT JOIN message_search s ON s.user_id = e.user_id AND s.message_id = e.message_id \
             ORDER BY e.uid",
            &[&scope.user, &scope.mailbox, &lows, &highs],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let date: SystemTime = r.try_get(1)?;
            let internal_date = match date.duration_since(UNIX_EPOCH) {
                Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
            };
            Ok(Hit {
                login: scope.login.clone(),
                mailbox: scope.name.clone(),
                uid: super::select::to_u32(r.try_get(0)?, "uid")?,
                internal_date,
                from: r.try_get(2)?,
                subject: r.try_get(3)?,
                size: r.try_get::<_, i64>(4)?.unsigned_abs(),
            })
        })
        .collect()
}
