//! Users: creating one (with its INBOX and primary address), deleting one
//! with everything it owns, listing them, and changing passwords.
//!
//! Also home to the two helpers every admin listing shares: login validation
//! and the translation of aox-style shell wildcards into SQL LIKE patterns.

use tokio_postgres::GenericClient;
use tokio_postgres::error::SqlState;

use super::StoreError;
use super::aliases::validate_address;
use crate::auth::StoredSecrets;

/// The longest login accepted, in characters.
pub const MAX_LOGIN_LENGTH: usize = 255;

/// One row of `aox list users`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    /// The login, as stored (logins compare case-insensitively).
    pub login: String,
    /// The primary address, if the user still has one.
    pub address: Option<String>,
    /// Mailboxes that exist (deleted rows are not counted).
    pub mailboxes: i64,
    /// Messages in those mailboxes, from the mailbox counters.
    pub messages: i64,
}

/// What `add_user` created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// The new users.id.
    pub id: i64,
    /// The INBOX's mailboxes.id.
    pub inbox_id: i64,
}

/// What `delete_user` removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedUser {
    /// Mailbox entries and tombstones that went with the user (non-zero only with force).
    pub entries: i64,
    /// Message rows that went with the user.
    pub messages: u64,
}

/// Checks a login: 1–255 characters, no whitespace or control characters
/// (IMAP LOGIN and SASL would need quoting games for either).
pub fn validate_login(login: &str) -> Result<(), StoreError> {
    let length = login.chars().count();
    if length == 0 || length > MAX_LOGIN_LENGTH {
        return Err(StoreError::Invalid(format!(
            "login {login:?} must be 1 to {MAX_LOGIN_LENGTH} characters long"
        )));
    }
    if login.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(StoreError::Invalid(format!(
            "login {login:?} contains whitespace or control characters"
        )));
    }
    Ok(())
}

/// Translates an aox-style shell wildcard (`*` any run of characters, `?` one
/// character, everything else literal) into a LIKE pattern with `\` as the
/// escape character, so `%` and `_` in the input match only themselves.
pub fn like_pattern(pattern: &str) -> String {
    let mut like = String::with_capacity(pattern.len() + 4);
    for c in pattern.chars() {
        match c {
            '*' => like.push('%'),
            '?' => like.push('_'),
            '%' | '_' | '\\' => {
                like.push('\\');
                like.push(c);
            }
            c => like.push(c),
        }
    }
    like
}

/// A LIKE pattern matching only `s` itself (for prefix searches such as `name/%`).
pub(crate) fn like_literal(s: &str) -> String {
    let mut like = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            like.push('\\');
        }
        like.push(c);
    }
    like
}

/// "1 message", "2 messages": error messages are read by people.
pub(crate) fn counted(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// True when `e` is PostgreSQL's unique_violation.
pub(crate) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// The id of the user `login`, or NotFound naming it.
pub async fn user_id(client: &impl GenericClient, login: &str) -> Result<i64, StoreError> {
    client
        .query_opt("SELECT id FROM users WHERE login = $1", &[&login])
        .await?
        .map(|r| r.get(0))
        .ok_or_else(|| no_user(login))
}

/// The NotFound every lookup by login gives, worded once.
pub(crate) fn no_user(login: &str) -> StoreError {
    StoreError::NotFound(format!("no user named {login:?}"))
}

/// Creates `login` with `secrets`, an INBOX and `address` as its primary
/// alias delivering to that INBOX, all in one transaction.
pub async fn add_user(
    client: &mut impl GenericClient,
    login: &str,
    secrets: &StoredSecrets,
    address: &str,
) -> Result<NewUser, StoreError> {
    validate_login(login)?;
    validate_address(address)?;
    let tx = client.transaction().await?;
    if tx
        .query_opt("SELECT 1 FROM users WHERE login = $1", &[&login])
        .await?
        .is_some()
    {
        return Err(StoreError::Conflict(format!(
            "user {login:?} already exists"
        )));
    }
    if tx
        .query_opt("SELECT 1 FROM aliases WHERE address = $1", &[&address])
        .await?
        .is_some()
    {
        return Err(StoreError::Conflict(format!(
            "address {address:?} is already in use"
        )));
    }
    // The checks above give the usual messages; the unique constraints still
    // decide races between two concurrent adds.
    let id: i64 = tx
        .query_one(
            "INSERT INTO users (login, password_hash, scram_verifier) VALUES ($1, $2, $3) RETURNING id",
            &[&login, &secrets.password_hash, &secrets.scram_verifier],
        )
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!("user {login:?} already exists"))
            } else {
                e.into()
            }
        })?
        .get(0);
    let inbox_id: i64 = tx
        .query_one(
            "INSERT INTO mailboxes (user_id, name, subscribed) VALUES ($1, 'INBOX', true) RETURNING id",
            &[&id],
        )
        .await?
        .get(0);
    tx.execute(
        "INSERT INTO aliases (address, user_id, mailbox_id, is_primary) VALUES ($1, $2, $3, true)",
        &[&address, &id, &inbox_id],
    )
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(format!("address {address:?} is already in use"))
        } else {
            e.into()
        }
    })?;
    tx.commit().await?;
    Ok(NewUser { id, inbox_id })
}

/// Deletes `login` and every row it owns, in one transaction. Without
/// `force`, a user with any mail (live entries or expunge tombstones) is
/// refused, so a typo cannot destroy an archive.
pub async fn delete_user(
    client: &mut impl GenericClient,
    login: &str,
    force: bool,
) -> Result<DeletedUser, StoreError> {
    let tx = client.transaction().await?;
    // Locking the user and its mailboxes first makes a concurrent delivery
    // (which updates the mailbox row) wait for us rather than race the deletes.
    let id: i64 = tx
        .query_opt(
            "SELECT id FROM users WHERE login = $1 FOR UPDATE",
            &[&login],
        )
        .await?
        .map(|r| r.get(0))
        .ok_or_else(|| no_user(login))?;
    tx.execute(
        "SELECT 1 FROM mailboxes WHERE user_id = $1 FOR UPDATE",
        &[&id],
    )
    .await?;

    // count(*) is right here: the answer must be exact, and this is one user.
    let entries: i64 = tx
        .query_one(
            "SELECT (SELECT count(*) FROM mailbox_entries WHERE user_id = $1) \
                  + (SELECT count(*) FROM expunged_entries WHERE user_id = $1)",
            &[&id],
        )
        .await?
        .get(0);
    if entries > 0 && !force {
        return Err(StoreError::Conflict(format!(
            "user {login:?} has {} (counting expunged ones still kept)",
            counted(entries, "message", "messages")
        )));
    }

    // A standing hold that names the user (or one of its mailboxes) keeps the user,
    // even when it has not caught any message yet.
    let holds: Vec<String> = tx
        .query(
            "SELECT case_name FROM legal_holds WHERE released_at IS NULL \
             AND (user_id = $1 OR mailbox_id IN (SELECT id FROM mailboxes WHERE user_id = $1)) \
             ORDER BY case_name",
            &[&id],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !holds.is_empty() {
        return Err(StoreError::Conflict(format!(
            "user {login:?} is named by legal hold {}",
            holds
                .iter()
                .map(|h| format!("{h:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }

    // Children before parents: mailbox_entries, expunged_entries and
    // mailbox_changes reference mailboxes and messages without cascades.
    for sql in [
        "DELETE FROM mailbox_entries WHERE user_id = $1",
        "DELETE FROM expunged_entries WHERE user_id = $1",
        "DELETE FROM mailbox_changes WHERE user_id = $1",
        "DELETE FROM acl WHERE user_id = $1",
        "DELETE FROM aliases WHERE user_id = $1",
    ] {
        tx.execute(sql, &[&id]).await?;
    }
    // message_parts and message_search go by the messages_delete_children
    // trigger, unparsed_messages by cascade. The legal-hold trigger may
    // refuse a held message: that is a refusal, not a failure.
    let messages = tx
        .execute("DELETE FROM messages WHERE user_id = $1", &[&id])
        .await
        .map_err(|e| match e.as_db_error() {
            Some(db) if db.code() == &SqlState::INTEGRITY_CONSTRAINT_VIOLATION => {
                StoreError::Conflict(format!(
                    "user {login:?} cannot be deleted: {}",
                    db.message()
                ))
            }
            _ => e.into(),
        })?;
    for sql in [
        "DELETE FROM mailboxes WHERE user_id = $1",
        "DELETE FROM keywords WHERE user_id = $1",
        "DELETE FROM threads WHERE user_id = $1",
        "DELETE FROM quotas WHERE user_id = $1",
        "DELETE FROM users WHERE id = $1",
    ] {
        tx.execute(sql, &[&id]).await?;
    }
    // The archive keeps a record of who vanished, and how much went with them.
    tx.execute(
        "INSERT INTO audit_log (actor, action, user_id, detail) VALUES ('aox', 'delete user', $1, $2)",
        &[&id, &format!("login {login}, {entries} entries, {messages} messages")],
    )
    .await?;
    tx.commit().await?;
    Ok(DeletedUser { entries, messages })
}

/// Users whose login matches `pattern` (aox wildcards; None: everyone),
/// ordered by login.
pub async fn list_users(
    client: &impl GenericClient,
    pattern: Option<&str>,
) -> Result<Vec<UserSummary>, StoreError> {
    let like = like_pattern(pattern.unwrap_or("*"));
    // Message counts come from the mailbox counters: O(mailboxes), not O(mail).
    let rows = client
        .query(
            "SELECT u.login::text, \
                    (SELECT a.address::text FROM aliases a WHERE a.user_id = u.id AND a.is_primary \
                     ORDER BY a.created_at LIMIT 1), \
                    (SELECT count(*) FROM mailboxes m WHERE m.user_id = u.id AND NOT m.deleted), \
                    (SELECT coalesce(sum(m.message_count), 0)::bigint FROM mailboxes m \
                     WHERE m.user_id = u.id AND NOT m.deleted) \
             FROM users u WHERE u.login LIKE $1 ORDER BY lower(u.login::text)",
            &[&like],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| UserSummary {
            login: r.get(0),
            address: r.get(1),
            mailboxes: r.get(2),
            messages: r.get(3),
        })
        .collect())
}

/// Replaces `login`'s stored secrets.
pub async fn change_password(
    client: &impl GenericClient,
    login: &str,
    secrets: &StoredSecrets,
) -> Result<(), StoreError> {
    let n = client
        .execute(
            "UPDATE users SET password_hash = $2, scram_verifier = $3 WHERE login = $1",
            &[&login, &secrets.password_hash, &secrets.scram_verifier],
        )
        .await?;
    if n == 0 {
        return Err(no_user(login));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_become_like_and_like_metacharacters_are_literal() {
        assert_eq!(like_pattern("*"), "%");
        assert_eq!(like_pattern("a?c*"), "a_c%");
        assert_eq!(like_pattern("100%_x"), "100\\%\\_x");
        assert_eq!(like_pattern("a\\b"), "a\\\\b");
        assert_eq!(like_literal("a_b%/"), "a\\_b\\%/");
    }

    #[test]
    fn logins_are_bounded_and_printable() {
        assert!(validate_login("alice").is_ok());
        assert!(validate_login("alice@example.org").is_ok());
        assert!(validate_login(&"x".repeat(255)).is_ok());
        assert!(validate_login(&"x".repeat(256)).is_err());
        assert!(validate_login("").is_err());
        assert!(validate_login("al ice").is_err());
        assert!(validate_login("al\u{7}ice").is_err());
        let e = validate_login("a b")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("\"a b\""), "{e}");
    }
}
