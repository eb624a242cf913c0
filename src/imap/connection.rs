//! One IMAP connection: read with a timeout, frame, hand frames to the
//! session, write what it answers; change notifications wake an idling
//! session; STARTTLS swaps the stream under the same session.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::broadcast::error::RecvError;

use super::ServerState;
use super::proto::framer::{Frame, Framer, Limits};
use super::session::{Next, Session};
use crate::net::stream::Stream;

/// RFC 9051 §5.4: the autologout timer is at least 30 minutes.
const AUTOLOGOUT: Duration = Duration::from_secs(30 * 60);

/// Serves one connection until LOGOUT, EOF, an error or the timeout.
pub async fn run(stream: Stream, peer: SocketAddr, state: ServerState) -> std::io::Result<()> {
    let limits = Limits {
        max_line: usize::try_from(state.config.max_line_length()).unwrap_or(usize::MAX),
        max_literal: state.config.max_message_size(),
        max_command: state
            .config
            .max_message_size()
            .saturating_add(state.config.max_line_length()),
    };
    let mut events = state.events.subscribe();
    let tls_acceptor = state.tls.clone();
    let mut session = Session::new(state, peer, stream.is_tls());
    let mut stream = Some(stream);
    let mut framer = Framer::new(limits);
    let mut buf = vec![0u8; 64 * 1024];
    session.greeting();
    loop {
        let Some(s) = stream.as_mut() else {
            return Ok(());
        };
        let out = session.take_output();
        if !out.is_empty() {
            s.write_all(&out).await?;
            s.flush().await?;
        }
        let n = tokio::select! {
            read = tokio::time::timeout(AUTOLOGOUT, s.read(&mut buf)) => match read {
                Ok(r) => r?,
                Err(_) => {
                    s.write_all(b"* BYE autologout; idle for too long\r\n").await?;
                    return Ok(());
                }
            },
            ev = events.recv(), if session.watching().is_some() => {
                match ev {
                    Ok(ev) => session.event(ev, s).await?,
                    // Missed notifications: look at the mailbox anyway.
                    Err(RecvError::Lagged(_)) => session.lagged(s).await?,
                    Err(RecvError::Closed) => {}
                }
                continue;
            }
        };
        if n == 0 {
            return Ok(());
        }
        framer.push(&buf[..n]);
        while let Some(frame) = framer.next_frame() {
            let Some(s) = stream.as_mut() else {
                return Ok(());
            };
            match frame {
                Frame::NeedContinuation => {
                    let out = session.take_output();
                    s.write_all(&out).await?;
                    s.write_all(b"+ ready for literal data\r\n").await?;
                    s.flush().await?;
                }
                Frame::Rejected {
                    tag,
                    code,
                    text,
                    no,
                } => {
                    session.rejected(tag.as_deref(), no, code, &text);
                }
                Frame::Command(bytes) => match session.input(&bytes, s).await? {
                    Next::Continue => {}
                    Next::Close => {
                        let out = session.take_output();
                        s.write_all(&out).await?;
                        s.flush().await?;
                        return Ok(());
                    }
                    Next::StartTls => {
                        let out = session.take_output();
                        s.write_all(&out).await?;
                        s.flush().await?;
                        // RFC 9051 §6.2.1: nothing the client sent after
                        // STARTTLS in plaintext may be acted on.
                        if !framer.is_idle() {
                            return Ok(());
                        }
                        let (Some(plain), Some(acceptor)) = (stream.take(), tls_acceptor.as_ref())
                        else {
                            return Ok(());
                        };
                        stream = Some(plain.upgrade(acceptor).await?);
                        session.tls_started();
                    }
                },
            }
        }
    }
}
