//! The POP3 front end (RFC 1939, with RFC 2449 CAPA and response codes, RFC
//! 2595 STLS, RFC 5034 AUTH): the sans-I/O line framer ([`framer`]), command
//! parser ([`command`]) and byte-stuffing ([`wire`]), the session state
//! machine over the user's INBOX ([`session`]), and the connection loop
//! that joins them to a socket ([`connection`]).

pub mod command;
pub mod connection;
pub mod framer;
pub mod session;
pub mod wire;

use std::net::SocketAddr;

use tokio::net::TcpStream;

use crate::imap::ServerState;
use crate::net::stream::Stream;

/// Serves one connection; `implicit_tls` for the POP3S port.
pub async fn serve(tcp: TcpStream, peer: SocketAddr, state: ServerState, implicit_tls: bool) {
    use tracing::Instrument as _;
    let span = tracing::info_span!("pop3", %peer);
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
                b"-ERR [SYS/TEMP] too many connections from your address\r\n",
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
