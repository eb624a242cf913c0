//! The IMAP front end: the sans-I/O protocol layer ([`proto`]), the session
//! state machine and its command handlers ([`session`]), and the connection
//! loop that joins them to a socket ([`connection`]).

pub mod connection;
pub mod listmatch;
pub mod proto;
pub mod session;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;

use crate::config::Config;
use crate::net::stream::Stream;
use crate::store::notify::MailboxEvent;

/// What every connection shares.
#[derive(Clone)]
pub struct ServerState {
    /// The runtime role's pool.
    pub pool: deadpool_postgres::Pool,
    /// The configuration, fixed after startup.
    pub config: Arc<Config>,
    /// Mailbox change notifications from this process's one LISTEN
    /// connection.
    pub events: tokio::sync::broadcast::Sender<MailboxEvent>,
    /// TLS, when a certificate is configured (STARTTLS and IMAPS).
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Serves one connection; `implicit_tls` for the IMAPS port.
pub async fn serve(tcp: TcpStream, peer: SocketAddr, state: ServerState, implicit_tls: bool) {
    use tracing::Instrument as _;
    let span = tracing::info_span!("imap", %peer);
    async move {
        let stream = if implicit_tls {
            let Some(acceptor) = state.tls.as_ref() else {
                return;
            };
            match acceptor.accept(tcp).await {
                Ok(tls) => Stream::Tls(Box::new(tls)),
                Err(e) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    return;
                }
            }
        } else {
            Stream::Plain(tcp)
        };
        if let Err(e) = connection::run(stream, peer, state).await {
            tracing::debug!(error = %e, "connection ended");
        }
    }
    .instrument(span)
    .await;
}
