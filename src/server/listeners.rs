//! The listeners the configuration asks for (IMAP, IMAPS, POP3, POP3S,
//! LMTP). Each logs one line when it is ready to accept connections.

use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::config::Config;

/// One protocol endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// IMAP with STARTTLS.
    Imap,
    /// IMAP over implicit TLS.
    Imaps,
    /// POP3 with STLS.
    Pop3,
    /// POP3 over implicit TLS.
    Pop3s,
    /// LMTP delivery.
    Lmtp,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::Imap => "IMAP",
            Protocol::Imaps => "IMAPS",
            Protocol::Pop3 => "POP3",
            Protocol::Pop3s => "POP3S",
            Protocol::Lmtp => "LMTP",
        }
    }
}

/// The bound sockets, before they accept.
pub struct Listeners {
    bound: Vec<(Protocol, TcpListener)>,
}

impl Listeners {
    /// Binds every enabled protocol.
    pub async fn bind(config: &Config) -> std::io::Result<Listeners> {
        let wanted = [
            (
                Protocol::Imap,
                config.use_imap(),
                config.imap_address(),
                config.imap_port(),
            ),
            (
                Protocol::Imaps,
                config.use_imaps(),
                config.imaps_address(),
                config.imaps_port(),
            ),
            (
                Protocol::Pop3,
                config.use_pop(),
                config.pop_address(),
                config.pop_port(),
            ),
            (
                Protocol::Pop3s,
                config.use_pops(),
                config.pops_address(),
                config.pops_port(),
            ),
            (
                Protocol::Lmtp,
                config.use_lmtp(),
                config.lmtp_address(),
                config.lmtp_port(),
            ),
        ];
        let mut bound = Vec::new();
        for (protocol, enabled, address, port) in wanted {
            if !enabled {
                continue;
            }
            let addr = socket_address(address, port)?;
            let listener = TcpListener::bind(addr).await.map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot listen for {} on {addr}: {e}", protocol.name()),
                )
            })?;
            bound.push((protocol, listener));
        }
        Ok(Listeners { bound })
    }

    /// Listeners the caller bound itself (tests bind port 0 and learn the
    /// port from the socket; the configuration never names port 0).
    pub fn from_bound(bound: Vec<(Protocol, TcpListener)>) -> Listeners {
        Listeners { bound }
    }

    /// The local address of each bound listener.
    pub fn addresses(&self) -> Vec<(Protocol, SocketAddr)> {
        self.bound
            .iter()
            .filter_map(|(p, l)| l.local_addr().ok().map(|a| (*p, a)))
            .collect()
    }
}

/// An empty address means every address (IPv6 and, on dual-stack hosts, IPv4).
fn socket_address(address: &str, port: u16) -> std::io::Result<SocketAddr> {
    let host = if address.is_empty() { "::" } else { address };
    let ip: std::net::IpAddr = host.parse().map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{host:?} is not an IP address"),
        )
    })?;
    Ok(SocketAddr::new(ip, port))
}

/// Accepts connections until `shutdown` resolves.
pub async fn run(
    listeners: Listeners,
    state: crate::imap::ServerState,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for (protocol, listener) in listeners.bound {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(protocol = protocol.name(), %addr, "listening for {} on {addr}", protocol.name());
        }
        let state = state.clone();
        tasks.spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        let state = state.clone();
                        match protocol {
                            Protocol::Lmtp => {
                                tokio::spawn(crate::lmtp::serve(stream, peer, state));
                            }
                            Protocol::Pop3 | Protocol::Pop3s => {
                                let implicit_tls = protocol == Protocol::Pop3s;
                                tokio::spawn(crate::pop3::serve(stream, peer, state, implicit_tls));
                            }
                            _ => {
                                let implicit_tls = protocol == Protocol::Imaps;
                                tokio::spawn(crate::imap::serve(stream, peer, state, implicit_tls));
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "accept failed"),
                }
            }
        });
    }
    shutdown.await;
    tasks.abort_all();
}
