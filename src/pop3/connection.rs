//! One POP3 connection: read with a timeout, frame lines, hand them to the
//! session, write what it answers; STLS swaps the stream under the session.
//! Replies to pipelined commands (RFC 2449 §6.6) go out together, after the
//! last whole line the read brought.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::framer::{Frame, Framer};
use super::session::{Next, Session};
use crate::imap::ServerState;
use crate::net::stream::Stream;

/// RFC 1939 §3: the inactivity autologout timer is at least 10 minutes. A
/// session that times out does not enter UPDATE: nothing is deleted.
const AUTOLOGOUT: Duration = Duration::from_secs(10 * 60);

/// Serves one connection until QUIT, EOF, an error or the timeout.
pub async fn run(stream: Stream, peer: SocketAddr, state: ServerState) -> std::io::Result<()> {
    let max_line = usize::try_from(state.config.max_line_length()).unwrap_or(usize::MAX);
    let tls_acceptor = state.tls.clone();
    let mut session = Session::new(state, peer, stream.is_tls());
    let mut stream = Some(stream);
    let mut framer = Framer::new(max_line);
    let mut buf = vec![0u8; 16 * 1024];
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
        let n = match tokio::time::timeout(AUTOLOGOUT, s.read(&mut buf)).await {
            Ok(r) => r?,
            Err(_) => {
                tracing::debug!("autologout");
                return Ok(());
            }
        };
        if n == 0 {
            // RFC 1939 §6: without QUIT there is no UPDATE state.
            return Ok(());
        }
        framer.push(&buf[..n]);
        while let Some(frame) = framer.next_frame() {
            let Some(s) = stream.as_mut() else {
                return Ok(());
            };
            let line = match frame {
                Frame::TooLong => {
                    session.line_too_long(max_line);
                    continue;
                }
                Frame::Line(line) => line,
            };
            match session.input(&line, s).await? {
                Next::Continue => {}
                Next::Close => {
                    let out = session.take_output();
                    s.write_all(&out).await?;
                    s.flush().await?;
                    s.shutdown().await?;
                    return Ok(());
                }
                Next::StartTls => {
                    let out = session.take_output();
                    s.write_all(&out).await?;
                    s.flush().await?;
                    // RFC 2595 §4 (as RFC 9051 §11.1 for IMAP): nothing the
                    // client sent after STLS in plaintext may be acted on.
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
            }
        }
    }
}
