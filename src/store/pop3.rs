//! What POP3 needs beyond FETCH: the maildrop listing taken at login (RFC
//! 1939 §4: the messages and their sizes, fixed for the session) and the
//! UPDATE state's removal of the messages the client deleted.

use tokio_postgres::{Client, GenericClient};

use super::StoreError;
use super::changes::{lock_mailbox, notify};
use super::expunge::{Leaving, expunge_locked};
use super::select::{to_u32, to_u64};
use crate::uidset::UidSet;

/// A user's INBOX as a POP3 session sees it for its whole life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maildrop {
    /// mailboxes.id of the INBOX.
    pub mailbox: i64,
    /// Its UIDVALIDITY; with a UID it makes the UIDL unique-id.
    pub uidvalidity: u32,
    /// Every message as (UID, RFC822.SIZE), in UID order; message number n
    /// is `messages[n - 1]`.
    pub messages: Vec<(u32, u64)>,
}

/// The INBOX of `user` with its UIDs and sizes, in one statement (so the
/// listing and the UIDVALIDITY come from one snapshot). The listing comes
/// back as two arrays in one row, read in primary-key order from the narrow
/// entry rows: 16 bytes a message on the way in, not a `Row` each, and no
/// message content is touched.
pub async fn maildrop(client: &impl GenericClient, user: i64) -> Result<Maildrop, StoreError> {
    let row = client
        .query_opt(
            "SELECT b.id, b.uidvalidity, \
                    coalesce(array_agg(e.uid ORDER BY e.uid) FILTER (WHERE e.uid IS NOT NULL), '{}'), \
                    coalesce(array_agg(e.rfc822_size ORDER BY e.uid) FILTER (WHERE e.uid IS NOT NULL), '{}') \
             FROM mailboxes b \
             LEFT JOIN mailbox_entries e ON e.user_id = b.user_id AND e.mailbox_id = b.id \
             WHERE b.user_id = $1 AND b.name = 'INBOX' AND NOT b.deleted \
             GROUP BY b.id, b.uidvalidity",
            &[&user],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("user {user} has no INBOX")))?;
    let uids: Vec<i64> = row.try_get(2)?;
    let sizes: Vec<i64> = row.try_get(3)?;
    if uids.len() != sizes.len() {
        return Err(StoreError::Invalid(
            "the maildrop listing is inconsistent".into(),
        ));
    }
    let messages = uids
        .into_iter()
        .zip(sizes)
        .map(|(uid, size)| Ok((to_u32(uid, "uid")?, to_u64(size, "rfc822_size")?)))
        .collect::<Result<_, StoreError>>()?;
    Ok(Maildrop {
        mailbox: row.try_get(0)?,
        uidvalidity: to_u32(row.try_get(1)?, "uidvalidity")?,
        messages,
    })
}

/// What the UPDATE state did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    /// The UIDs removed.
    pub gone: UidSet,
    /// The UIDs a retention policy kept in the maildrop.
    pub retained: UidSet,
}

/// RFC 1939 §6, the UPDATE state: removes the entries `uids` of `mailbox`
/// whether or not they carry `\Deleted`, exactly as an IMAP EXPUNGE removes
/// entries (tombstones with reason 'pop3' and `by`, so `aox undelete` can
/// restore them; counters, a change-log row, audit rows and a NOTIFY, so
/// IMAP sessions on the mailbox see them go). Entries a retention policy
/// covers stay. UIDs already gone (another session removed them) are
/// skipped.
pub async fn remove(
    client: &mut Client,
    user: i64,
    mailbox: i64,
    uids: &UidSet,
    by: i64,
) -> Result<Removed, StoreError> {
    if uids.is_empty() {
        return Ok(Removed {
            gone: UidSet::new(),
            retained: UidSet::new(),
        });
    }
    let tx = client.transaction().await?;
    let locked = lock_mailbox(&tx, user, mailbox).await?;
    let modseq = locked.next_modseq()?;
    let done = expunge_locked(
        &tx,
        user,
        mailbox,
        uids,
        false,
        modseq,
        by,
        Leaving::Expunge("pop3"),
    )
    .await?;
    let removed = Removed {
        gone: done.gone,
        retained: done.retained,
    };
    if removed.gone.is_empty() {
        tx.rollback().await?;
        return Ok(removed);
    }
    notify(&tx, user, mailbox, modseq, locked.uidnext).await?;
    tx.commit().await?;
    Ok(removed)
}
