//! One LMTP connection: read with a timeout, frame, hand lines to the
//! session, do what it asks (look up recipients, deliver), and write its
//! replies. Replies to pipelined commands (RFC 2920) are written together
//! once the input holds no further whole command.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::framer::{self, Frame, Framer};
use super::session::{self, Action, Outcome, Session};
use crate::imap::ServerState;
use crate::store::delivery::{self, Target};
use crate::store::inject::{NewMessage, SystemFlags};

/// RFC 5321 §4.5.3.2.7: a server waits at least five minutes for the next
/// command.
const TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Serves one connection until QUIT, EOF, an error or the timeout.
pub async fn run<S>(mut stream: S, state: ServerState) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = &state.config;
    let max_line = usize::try_from(config.max_line_length()).unwrap_or(usize::MAX);
    let max_message = config.max_message_size();
    let mut framer = Framer::new(framer::Limits {
        max_line,
        max_message,
    });
    let mut session = Session::new(
        super::hostname(config),
        session::Limits {
            max_message,
            max_recipients: usize::try_from(config.lmtp_max_recipients()).unwrap_or(usize::MAX),
        },
    );
    let subaddressing = config.use_subaddressing();
    let mut buf = vec![0u8; 64 * 1024];
    session.greeting();
    loop {
        let out = session.take_output();
        if !out.is_empty() {
            stream.write_all(&out).await?;
            stream.flush().await?;
        }
        let n = match tokio::time::timeout(TIMEOUT, stream.read(&mut buf)).await {
            Ok(r) => r?,
            Err(_) => {
                stream
                    .write_all(b"421 4.4.2 idle for too long; closing\r\n")
                    .await?;
                return Ok(());
            }
        };
        if n == 0 {
            return Ok(());
        }
        framer.push(&buf[..n]);
        while let Some(frame) = framer.next_frame() {
            match frame {
                Frame::Line(line) => match session.line(&line) {
                    Action::Continue => {}
                    Action::Resolve(address) => {
                        let target = resolve(&state, &address, subaddressing).await;
                        session.resolved(address, target);
                    }
                    Action::StartData => framer.start_data(),
                    Action::Close => {
                        stream.write_all(&session.take_output()).await?;
                        stream.flush().await?;
                        return Ok(());
                    }
                },
                Frame::LineTooLong => session.line_too_long(max_line),
                Frame::MessageTooBig => session.message_too_big(),
                Frame::Message(raw) => {
                    let outcomes = deliver(&state, &session, raw).await;
                    session.delivered(&outcomes);
                }
            }
        }
    }
}

async fn resolve(
    state: &ServerState,
    address: &str,
    subaddressing: bool,
) -> Result<Option<Target>, ()> {
    let client = state.pool.get().await.map_err(|e| {
        tracing::warn!(error = %e, "no database connection for a recipient lookup");
    })?;
    delivery::resolve(
        &client,
        Some(&client.statement_cache),
        address,
        subaddressing,
    )
    .await
    .map_err(|e| tracing::warn!(error = %e, "recipient lookup failed"))
}

fn now() -> (i64, Duration) {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (i64::try_from(since.as_secs()).unwrap_or(i64::MAX), since)
}

/// Stores `raw` for the session's recipients; one outcome per recipient.
/// Delivered means committed (RFC 2033 §4.2: 250 only for a stored message).
async fn deliver(state: &ServerState, session: &Session, raw: Vec<u8>) -> Vec<Outcome> {
    let recipients = session.recipients();
    let failed = vec![Outcome::TemporaryFailure; recipients.len()];
    let (seconds, since_epoch) = now();
    // RFC 5321 §4.4: the server that makes the final delivery records the
    // reverse path in a Return-Path field at the top of the message.
    let mut message = format!("Return-Path: <{}>\r\n", session.sender().unwrap_or("")).into_bytes();
    message.extend_from_slice(&raw);
    drop(raw);
    // Parsing is CPU work: off the async threads. The internal date is the
    // delivery time.
    let parsed = tokio::task::spawn_blocking(move || {
        let ingested = crate::mime::ingest(&message);
        NewMessage::new(
            ingested,
            message,
            seconds,
            SystemFlags::default(),
            Vec::new(),
        )
    })
    .await;
    let Ok(message) = parsed else {
        tracing::error!("parsing a delivered message failed");
        return failed;
    };
    let message = std::sync::Arc::new(message);
    let targets: Vec<Target> = recipients.iter().map(|r| r.target).collect();
    let placed = match state.deliveries.deliver(targets, message.clone()).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "delivery failed; the client will retry");
            return failed;
        }
    };
    let outcomes: Vec<Outcome> = placed
        .iter()
        .map(|p| match p {
            Some(_) => Outcome::Delivered,
            None => Outcome::TemporaryFailure,
        })
        .collect();
    if outcomes.contains(&Outcome::Delivered) {
        copy_message(state, &message, since_epoch).await;
    }
    outcomes
}

/// Archiveopteryx's `message-copy`: with `message-copy-directory` set, each
/// delivered message's bytes also go to a file there, named by delivery
/// time and SHA-256. Written after the commit, via a temporary name and a
/// rename, so the directory only ever holds whole messages; a failure is
/// logged and does not undo a delivery already committed.
async fn copy_message(state: &ServerState, message: &NewMessage, since_epoch: Duration) {
    let dir = state.config.message_copy_directory();
    if dir.is_empty() {
        return;
    }
    let hash: String = message
        .ingested
        .raw_sha256
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let name = format!(
        "{}.{:09}-{hash}",
        since_epoch.as_secs(),
        since_epoch.subsec_nanos()
    );
    let dir = std::path::Path::new(dir);
    let tmp = dir.join(format!(".{name}.tmp"));
    let target = dir.join(&name);
    let result = async {
        tokio::fs::write(&tmp, &message.raw).await?;
        tokio::fs::rename(&tmp, &target).await
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, file = %target.display(), "could not write the message copy");
        let _ = tokio::fs::remove_file(&tmp).await;
    }
}
