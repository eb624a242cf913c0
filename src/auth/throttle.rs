//! Failed-login throttling shared by every connection of a process: after
//! `auth-failures-before-delay` failures from one address, or for one
//! login, within `auth-failure-window`, each further attempt is held back
//! `auth-failure-delay` before its secret is checked, doubling with each
//! failure up to `auth-failure-max-delay`. The wait comes before the check,
//! for right and wrong secrets alike: were only failures delayed, a guesser
//! could give up on any reply slower than a success and lose nothing.
//! Waiting rather than refusing outright slows guessing without locking the
//! real user out.
//!
//! The table is bounded: entries expire after the window, and when it is
//! full the stalest entry makes room.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The settings, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleConfig {
    /// Failures allowed without delay.
    pub free_failures: u32,
    /// The first delay.
    pub delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// How long a failure is remembered after the last one.
    pub window: Duration,
}

/// Most entries kept; enough for a large botnet, small enough in memory.
const CAPACITY: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// An address; IPv6 by its /64, which one host usually holds whole.
    Address(IpAddr),
    /// A login, case-folded as the users table compares them.
    Login(String),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
}

/// The shared failure table.
#[derive(Debug)]
pub struct Throttle {
    config: ThrottleConfig,
    entries: Mutex<HashMap<Key, Entry>>,
}

/// What a failure costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Penalty {
    /// Failures counted for the address or the login, whichever is more.
    pub failures: u32,
    /// How long the next attempt from there will wait.
    pub next_delay: Duration,
}

impl Throttle {
    /// An empty table.
    pub fn new(config: ThrottleConfig) -> Throttle {
        Throttle {
            config,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// How long an attempt by `address` for `login` waits before its secret
    /// is checked.
    pub fn delay(&self, address: IpAddr, login: &str) -> Duration {
        self.delay_at(address, login, Instant::now())
    }

    /// Counts a failure by `address` for `login`.
    pub fn failed(&self, address: IpAddr, login: &str) -> Penalty {
        self.failed_at(address, login, Instant::now())
    }

    /// Forgets `login`'s failures after a successful login. The address's
    /// count stays: one right password must not reset a spray of guesses at
    /// other logins.
    pub fn succeeded(&self, login: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&Key::Login(login.to_lowercase()));
        }
    }

    fn delay_at(&self, address: IpAddr, login: &str, now: Instant) -> Duration {
        let Ok(entries) = self.entries.lock() else {
            // A poisoned lock means a panic elsewhere; fail safe with the
            // longest delay rather than none.
            return self.config.max_delay;
        };
        let failures = [
            Key::Address(block(address)),
            Key::Login(login.to_lowercase()),
        ]
        .iter()
        .filter_map(|k| entries.get(k))
        .filter(|e| now.duration_since(e.last) < self.config.window)
        .map(|e| e.failures)
        .max()
        .unwrap_or(0);
        self.delay_for(failures.saturating_add(1))
    }

    fn failed_at(&self, address: IpAddr, login: &str, now: Instant) -> Penalty {
        let Ok(mut entries) = self.entries.lock() else {
            return Penalty {
                failures: 0,
                next_delay: self.config.max_delay,
            };
        };
        let window = self.config.window;
        if entries.len() >= CAPACITY {
            entries.retain(|_, e| now.duration_since(e.last) < window);
        }
        let mut failures = 0;
        for key in [
            Key::Address(block(address)),
            Key::Login(login.to_lowercase()),
        ] {
            if entries.len() >= CAPACITY
                && !entries.contains_key(&key)
                && let Some(stalest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.last)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&stalest);
            }
            let e = entries.entry(key).or_insert(Entry {
                failures: 0,
                last: now,
            });
            if now.duration_since(e.last) >= window {
                e.failures = 0;
            }
            e.failures = e.failures.saturating_add(1);
            e.last = now;
            failures = failures.max(e.failures);
        }
        Penalty {
            failures,
            next_delay: self.delay_for(failures.saturating_add(1)),
        }
    }

    /// The wait of the `attempt`th attempt (1 = no failure before it).
    fn delay_for(&self, attempt: u32) -> Duration {
        let Some(over) = attempt.checked_sub(self.config.free_failures.saturating_add(1)) else {
            return Duration::ZERO;
        };
        let factor = 1u32.checked_shl(over.min(31)).unwrap_or(u32::MAX);
        self.config
            .delay
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .min(self.config.max_delay)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}

/// The throttled unit for an address: IPv4 as is (IPv4-mapped IPv6
/// included), IPv6 by its /64.
fn block(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut seg = v6.segments();
                seg[4..].fill(0);
                IpAddr::V6(seg.into())
            }
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn throttle() -> Throttle {
        Throttle::new(ThrottleConfig {
            free_failures: 3,
            delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
            window: Duration::from_secs(60),
        })
    }

    /// One failed attempt at `now`: the wait it had, in seconds.
    fn attempt(t: &Throttle, ip: &str, login: &str, now: Instant) -> u64 {
        let ip: IpAddr = ip.parse().unwrap();
        let waited = t.delay_at(ip, login, now);
        let penalty = t.failed_at(ip, login, now);
        assert_eq!(penalty.next_delay, t.delay_at(ip, login, now));
        waited.as_secs()
    }

    #[test]
    fn delays_grow_after_the_free_failures_up_to_the_cap() {
        let t = throttle();
        let now = Instant::now();
        let delays: Vec<u64> = (0..7)
            .map(|_| attempt(&t, "192.0.2.1", "alice", now))
            .collect();
        assert_eq!(delays, [0, 0, 0, 1, 2, 4, 5]);
    }

    #[test]
    fn an_address_guessing_many_logins_is_throttled_and_so_is_a_login_from_many_addresses() {
        let t = throttle();
        let now = Instant::now();
        for n in 0..3 {
            assert_eq!(attempt(&t, "192.0.2.1", &format!("user{n}"), now), 0);
        }
        assert_eq!(attempt(&t, "192.0.2.1", "user9", now), 1);
        let t = throttle();
        for n in 0..3 {
            assert_eq!(attempt(&t, &format!("192.0.2.{n}"), "Alice", now), 0);
        }
        assert_eq!(attempt(&t, "198.51.100.1", "ALICE", now), 1);
    }

    #[test]
    fn success_resets_the_login_and_the_window_forgets() {
        let t = throttle();
        let now = Instant::now();
        for _ in 0..3 {
            attempt(&t, "192.0.2.1", "alice", now);
        }
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        // Right or wrong, the next attempt from there waits.
        assert_eq!(t.delay_at(b, "alice", now), Duration::from_secs(1));
        t.succeeded("ALICE");
        assert_eq!(t.delay_at(b, "alice", now), Duration::ZERO);
        // The address is still counted.
        assert_eq!(t.delay_at(a, "bob", now), Duration::from_secs(1));
        let later = now + Duration::from_secs(61);
        assert_eq!(t.delay_at(a, "bob", later), Duration::ZERO);
        assert_eq!(attempt(&t, "192.0.2.1", "bob", later), 0);
    }

    #[test]
    fn ipv6_counts_by_64_and_mapped_ipv4_as_ipv4() {
        let t = throttle();
        let now = Instant::now();
        for n in 1..=3 {
            attempt(&t, &format!("2001:db8::{n}"), &format!("u{n}"), now);
        }
        assert_eq!(attempt(&t, "2001:db8::ffff:1", "x", now), 1);
        assert_eq!(attempt(&t, "2001:db8:0:1::1", "y", now), 0);
        assert_eq!(
            block("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn the_table_never_grows_past_its_capacity() {
        let t = throttle();
        let now = Instant::now();
        for n in 0..(CAPACITY as u32 / 2 + 10) {
            let ip = IpAddr::V4(n.into());
            t.failed_at(ip, &format!("login{n}"), now);
        }
        assert!(t.len() <= CAPACITY, "{}", t.len());
    }
}
