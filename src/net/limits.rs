//! The per-address connection limit (`max-connections-per-ip`), shared by
//! the IMAP and POP3 listeners of a process. A connection holds a
//! [`Slot`] for its lifetime; the table only holds addresses with open
//! connections, so it never outgrows them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Open connections by address.
#[derive(Debug)]
pub struct ConnectionLimit {
    max: u32,
    open: Mutex<HashMap<IpAddr, u32>>,
}

/// One open connection's place; dropping it frees the place.
#[derive(Debug)]
pub struct Slot {
    limit: Arc<ConnectionLimit>,
    address: IpAddr,
}

impl ConnectionLimit {
    /// At most `max` connections from one address.
    pub fn new(max: u32) -> Arc<ConnectionLimit> {
        Arc::new(ConnectionLimit {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for a connection from `address`, or None when it has `max`
    /// open already.
    pub fn acquire(self: &Arc<Self>, address: IpAddr) -> Option<Slot> {
        let address = canonical(address);
        let mut open = self.open.lock().ok()?;
        let n = open.entry(address).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Slot {
            limit: Arc::clone(self),
            address,
        })
    }

    /// Connections open from `address` now.
    pub fn open(&self, address: IpAddr) -> u32 {
        self.open
            .lock()
            .ok()
            .and_then(|o| o.get(&canonical(address)).copied())
            .unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.limit.open.lock()
            && let Some(n) = open.get_mut(&self.address)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// Tells a connection over its limit why it is closed, and closes it.
pub async fn refuse(
    mut stream: crate::net::stream::Stream,
    peer: std::net::SocketAddr,
    reply: &[u8],
) {
    use tokio::io::AsyncWriteExt as _;
    tracing::warn!(%peer, "refused: too many connections from this address");
    // The client may already be gone; there is nothing more to do then.
    let _ = stream.write_all(reply).await;
    let _ = stream.shutdown().await;
}

/// An IPv4-mapped IPv6 address counts as the IPv4 address (a dual-stack
/// listener reports IPv4 peers that way).
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_counts_open_connections_per_address() {
        let limit = ConnectionLimit::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        let one = limit.acquire(a).unwrap();
        let two = limit.acquire(mapped).unwrap();
        assert!(limit.acquire(a).is_none());
        assert!(limit.acquire("192.0.2.2".parse().unwrap()).is_some());
        drop(one);
        let three = limit.acquire(a).unwrap();
        drop((two, three));
        assert_eq!(limit.open(a), 0);
        assert!(limit.open.lock().unwrap().is_empty());
    }
}
