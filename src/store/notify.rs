//! The change bus: one dedicated PostgreSQL connection per process LISTENs
//! on the channel every committed mailbox change NOTIFYs (payload
//! `user:mailbox:modseq:uidnext`) and forwards the events to the sessions
//! through a broadcast channel (DESIGN.md §4.9: front ends coordinate only
//! through the database).
//!
//! The connection is driven here, by `Connection::poll_message`, rather
//! than by the pool or [`super::connect`]: a connection driven by its
//! `Future` implementation discards notifications.

use std::future::poll_fn;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast::{self, WeakSender};
use tokio_postgres::config::SslMode;
use tokio_postgres::{AsyncMessage, Client, Connection, NoTls};

use super::inject::CHANGE_CHANNEL;
use super::{Db, StoreError};

/// How many events a slow session may fall behind before it sees
/// `RecvError::Lagged` (and must then resynchronise with `changes_since`).
const CAPACITY: usize = 4096;
/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A committed change to a mailbox, as NOTIFYed by the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxEvent {
    /// The owner's user id.
    pub user: i64,
    /// The mailbox id.
    pub mailbox: i64,
    /// The mailbox's highest modseq after the change.
    pub modseq: u64,
    /// The mailbox's uidnext after the change (saturating at `u32::MAX`).
    pub uidnext: u32,
}

impl MailboxEvent {
    /// Parses a `user:mailbox:modseq:uidnext` payload; None if malformed.
    pub fn from_payload(payload: &str) -> Option<MailboxEvent> {
        let mut parts = payload.split(':');
        let user = parts.next()?.parse().ok()?;
        let mailbox = parts.next()?.parse().ok()?;
        let modseq = parts.next()?.parse().ok()?;
        // uidnext is 2³² when a mailbox's UIDs are used up.
        let uidnext: u64 = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(MailboxEvent {
            user,
            mailbox,
            modseq,
            uidnext: u32::try_from(uidnext).unwrap_or(u32::MAX),
        })
    }
}

/// Starts the process's listener on `db` and returns the sender sessions
/// subscribe to. The task reconnects with backoff after a failure (and
/// logs it); malformed payloads are ignored. It ends once every clone of the
/// returned sender is gone. Events NOTIFYed while it was disconnected are
/// lost: sessions also resynchronise with `changes_since` on NOOP/IDLE.
pub fn spawn_listener(db: Db) -> broadcast::Sender<MailboxEvent> {
    let (sender, _) = broadcast::channel(CAPACITY);
    tokio::spawn(listen_forever(db, sender.downgrade()));
    sender
}

async fn listen_forever(db: Db, events: WeakSender<MailboxEvent>) {
    let mut backoff = MIN_BACKOFF;
    while events.strong_count() > 0 {
        match listen_once(&db, &events, &mut backoff).await {
            Ok(true) => return,
            Ok(false) => tracing::warn!("change listener connection closed; reconnecting"),
            // A stopping database (dev mode's Ctrl-C) is news, not a fault.
            Err(e) if e.is_shutdown() => {
                tracing::info!(?backoff, "the database is going down; reconnecting")
            }
            Err(e) => tracing::warn!(error = %e, ?backoff, "change listener failed; reconnecting"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection's life. Ok(true): nobody listens any more, stop;
/// Ok(false): the server closed the connection.
async fn listen_once(
    db: &Db,
    events: &WeakSender<MailboxEvent>,
    backoff: &mut Duration,
) -> Result<bool, StoreError> {
    let config = db.pg_config();
    if config.get_ssl_mode() == SslMode::Disable {
        let (client, connection) = config.connect(NoTls).await?;
        drive(client, connection, events, backoff).await
    } else {
        let (client, connection) = config.connect(super::connect::tls_connector()?).await?;
        drive(client, connection, events, backoff).await
    }
}

async fn drive<S, T>(
    client: Client,
    mut connection: Connection<S, T>,
    events: &WeakSender<MailboxEvent>,
    backoff: &mut Duration,
) -> Result<bool, StoreError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    // The LISTEN only completes while the connection is being driven.
    {
        let statement = format!("LISTEN {CHANGE_CHANNEL}");
        let listen = client.batch_execute(&statement);
        tokio::pin!(listen);
        loop {
            tokio::select! {
                done = &mut listen => {
                    done?;
                    break;
                }
                message = poll_fn(|cx| connection.poll_message(cx)) => {
                    if !forward(message, events)? {
                        return Ok(events.strong_count() == 0);
                    }
                }
            }
        }
    }
    tracing::debug!("listening for mailbox changes");
    *backoff = MIN_BACKOFF;
    loop {
        let message = poll_fn(|cx| connection.poll_message(cx)).await;
        if !forward(message, events)? {
            return Ok(events.strong_count() == 0);
        }
    }
}

/// Handles one message from the connection; false when the connection (or
/// every subscriber's sender) is gone.
fn forward(
    message: Option<Result<AsyncMessage, tokio_postgres::Error>>,
    events: &WeakSender<MailboxEvent>,
) -> Result<bool, StoreError> {
    match message {
        None => Ok(false),
        Some(Err(e)) => Err(e.into()),
        Some(Ok(AsyncMessage::Notification(n))) if n.channel() == CHANGE_CHANNEL => {
            let Some(sender) = events.upgrade() else {
                return Ok(false);
            };
            match MailboxEvent::from_payload(n.payload()) {
                // No subscriber at the moment is not an error.
                Some(event) => {
                    let _ = sender.send(event);
                }
                None => {
                    tracing::debug!(payload = n.payload(), "ignoring a malformed change payload")
                }
            }
            Ok(true)
        }
        Some(Ok(AsyncMessage::Notice(notice))) => {
            tracing::debug!(notice = notice.message(), "notice on the change listener");
            Ok(true)
        }
        Some(Ok(_)) => Ok(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_as_the_injector_writes_them_parse() {
        assert_eq!(
            MailboxEvent::from_payload("3:17:42:100"),
            Some(MailboxEvent {
                user: 3,
                mailbox: 17,
                modseq: 42,
                uidnext: 100
            })
        );
        assert_eq!(
            MailboxEvent::from_payload("3:17:42:4294967296").map(|e| e.uidnext),
            Some(u32::MAX)
        );
    }

    #[test]
    fn malformed_payloads_are_ignored() {
        for p in ["", "1:2:3", "1:2:3:4:5", "a:2:3:4", "1:2:-3:4", "1:2:3:x"] {
            assert_eq!(MailboxEvent::from_payload(p), None, "{p:?}");
        }
    }
}
