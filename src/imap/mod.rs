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
    /// The certificate's RFC 5929 `tls-server-end-point` channel binding,
    /// for SCRAM-SHA-256-PLUS on TLS connections.
    pub tls_end_point: Option<Vec<u8>>,
    /// Failed logins by address and by login (`auth-failure-*`).
    pub throttle: Arc<crate::auth::throttle::Throttle>,
    /// Open IMAP and POP3 connections by address (`max-connections-per-ip`).
    pub connections: Arc<crate::net::limits::ConnectionLimit>,
    /// This process's LMTP delivery tasks (group commit).
    pub deliveries: crate::lmtp::group_commit::GroupCommit,
}

impl ServerState {
    /// How a session on a connection from `peer` authenticates.
    pub fn gate(&self, peer: SocketAddr) -> crate::auth::Gate<'_> {
        crate::auth::Gate {
            pool: &self.pool,
            throttle: &self.throttle,
            config: &self.config,
            peer,
        }
    }
}

/// Serves one connection; `implicit_tls` for the IMAPS port.
pub async fn serve(tcp: TcpStream, peer: SocketAddr, state: ServerState, implicit_tls: bool) {
    use tracing::Instrument as _;
    let span = tracing::info_span!("imap", %peer);
    async move {
        let slot = state.connections.acquire(peer.ip());
        let stream = if implicit_tls {
            let Some(acceptor) = state.tls.as_ref() else {
                return;
            };
            match Stream::accept_tls(acceptor, tcp).await {
                Ok(tls) => tls,
                Err(e) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    return;
                }
            }
        } else {
            Stream::Plain(tcp)
        };
        let Some(_slot) = slot else {
            crate::net::limits::refuse(
                stream,
                peer,
                b"* BYE [UNAVAILABLE] too many connections from your address\r\n",
            )
            .await;
            return;
        };
        if let Err(e) = connection::run(stream, peer, state).await {
            tracing::debug!(error = %e, "connection ended");
        }
    }
    .instrument(span)
    .await;
}
