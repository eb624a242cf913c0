//! The LMTP front end (RFC 2033): delivery from an MTA such as Postfix or
//! Exim. The sans-I/O framer ([`framer`]), command parser ([`command`]) and
//! session ([`session`]), and the connection loop that joins them to a
//! socket and the store ([`connection`]), which deliver through one group
//! commit task per process ([`group_commit`]).

pub mod command;
pub mod connection;
pub mod framer;
pub mod group_commit;
pub mod session;

use std::net::SocketAddr;

use tokio::net::TcpStream;

use crate::imap::ServerState;

/// Serves one LMTP connection.
pub async fn serve(tcp: TcpStream, peer: SocketAddr, state: ServerState) {
    use tracing::Instrument as _;
    let span = tracing::info_span!("lmtp", %peer);
    async move {
        if let Err(e) = connection::run(tcp, state).await {
            tracing::debug!(error = %e, "connection ended");
        }
    }
    .instrument(span)
    .await;
}

/// Serves one LMTP connection on any stream (a Unix socket, say).
pub async fn serve_stream<S>(stream: S, state: ServerState)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tracing::Instrument as _;
    let span = tracing::info_span!("lmtp", peer = "local");
    async move {
        if let Err(e) = connection::run(stream, state).await {
            tracing::debug!(error = %e, "connection ended");
        }
    }
    .instrument(span)
    .await;
}

/// The name the server gives itself: `hostname`, or the operating
/// system's when that is empty.
pub fn hostname(config: &crate::config::Config) -> String {
    let configured = config.hostname();
    if !configured.is_empty() {
        return configured.to_string();
    }
    let mut buf = [0u8; 256];
    // SAFETY: buf is valid for buf.len() bytes; gethostname writes at most that many.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let len = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    if rc == 0 && len > 0 {
        String::from_utf8_lossy(&buf[..len]).into_owned()
    } else {
        "localhost".to_string()
    }
}
