//! The table of variables: name, kind, getter and default, one entry each.
//!
//! Adding a variable is one entry below (a doc line and a table line); the macro derives the
//! stored field, the typed getter, lookup by name, and the place in `entries()`.

use super::Config;
use super::choices::{DbTls, LogLevel, PlaintextPasswords};
use super::kinds::{Bytes, Count, Days, Kind, OneOf, Port, Seconds, Secret, Text, Toggle};

/// A variable's name and how to treat it when shown.
pub(super) struct Variable {
    pub(super) name: &'static str,
    /// The getter's name, kept so a test can hold names and getters in step.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) getter: &'static str,
    pub(super) secret: bool,
}

/// One variable's value as text, for `entries()` and `Debug`.
pub(super) struct Shown {
    pub(super) name: &'static str,
    pub(super) text: String,
    pub(super) secret: bool,
    pub(super) set: bool,
}

/// Why a value was not assigned.
pub(super) enum Rejected {
    Unknown,
    /// Carries the expected form.
    Bad(String),
}

macro_rules! variables {
    ($(
        $(#[$doc:meta])*
        $getter:ident $name:literal: $kind:ty => $ret:ty = $default:expr;
    )*) => {
        /// The values set from a file or an override; `None` means "use the default".
        #[derive(Clone, Default, PartialEq, Eq)]
        pub(super) struct Values {
            $($getter: Option<<$kind as Kind>::Value>,)*
        }

        /// Every variable, in the order `entries()` lists them.
        pub(super) static TABLE: &[Variable] = &[$(
            Variable {
                name: $name,
                getter: stringify!($getter),
                secret: <$kind as Kind>::SECRET,
            },
        )*];

        impl Values {
            /// `name` must be lowercase.
            pub(super) fn assign(&mut self, name: &str, text: &str) -> Result<(), Rejected> {
                match name {
                    $($name => {
                        let value = <$kind as Kind>::parse(text)
                            .ok_or_else(|| Rejected::Bad(<$kind as Kind>::expected()))?;
                        self.$getter = Some(value);
                        Ok(())
                    })*
                    _ => Err(Rejected::Unknown),
                }
            }

            /// `name` must be lowercase.
            pub(super) fn is_set(&self, name: &str) -> bool {
                match name {
                    $($name => self.$getter.is_some(),)*
                    _ => false,
                }
            }
        }

        impl Config {
            $(
                $(#[$doc])*
                pub fn $getter(&self) -> $ret {
                    match &self.values.$getter {
                        Some(value) => <$kind as Kind>::out(value),
                        None => $default,
                    }
                }
            )*

            /// Every variable's current value as text, unredacted, in table order.
            pub(super) fn shown(&self) -> Vec<Shown> {
                vec![$(
                    Shown {
                        name: $name,
                        text: <$kind as Kind>::show(self.$getter()),
                        secret: <$kind as Kind>::SECRET,
                        set: self.values.$getter.is_some(),
                    },
                )*]
            }
        }
    };
}

variables! {
    /// PostgreSQL's address: a host name or IP address, or an absolute path naming the
    /// directory of its Unix socket.
    db_address "db-address": Text => &str = "127.0.0.1";
    /// PostgreSQL's TCP port.
    db_port "db-port": Port => u16 = 5432;
    /// The database name.
    db_name "db-name": Text => &str = "archiveopteryx";
    /// The unprivileged database role the servers use.
    db_user "db-user": Text => &str = "aox";
    /// `db-user`'s password; empty means none (e.g. peer authentication).
    db_password "db-password": Secret => &str = "";
    /// The role that owns the schema, used by `aox` for upgrades and administration.
    db_owner "db-owner": Text => &str = "aoxsuper";
    /// `db-owner`'s password; empty means none.
    db_owner_password "db-owner-password": Secret => &str = "";
    /// How many database connections a server keeps open at most.
    db_max_handles "db-max-handles": Count<1, 1000> => u32 = 8;
    /// Whether to use TLS to PostgreSQL.
    db_tls "db-tls": OneOf<DbTls> => DbTls = DbTls::Prefer;
    /// The server's fully qualified name; empty means ask the operating system when needed.
    hostname "hostname": Text => &str = "";
    /// The path of the TLS certificate (with key) for IMAPS, POP3S and STARTTLS.
    tls_certificate "tls-certificate": Text => &str = "";
    /// Whether to serve IMAP.
    use_imap "use-imap": Toggle => bool = true;
    /// The IMAP address; empty means all addresses.
    imap_address "imap-address": Text => &str = "";
    /// The IMAP port.
    imap_port "imap-port": Port => u16 = 143;
    /// Whether to serve IMAP over TLS.
    use_imaps "use-imaps": Toggle => bool = false;
    /// The IMAPS address; empty means all addresses.
    imaps_address "imaps-address": Text => &str = "";
    /// The IMAPS port.
    imaps_port "imaps-port": Port => u16 = 993;
    /// Whether to serve POP3.
    use_pop "use-pop": Toggle => bool = false;
    /// The POP3 address; empty means all addresses.
    pop_address "pop-address": Text => &str = "";
    /// The POP3 port.
    pop_port "pop-port": Port => u16 = 110;
    /// Whether to serve POP3 over TLS.
    use_pops "use-pops": Toggle => bool = false;
    /// The POP3S address; empty means all addresses.
    pops_address "pops-address": Text => &str = "";
    /// The POP3S port.
    pops_port "pops-port": Port => u16 = 995;
    /// Whether to accept mail by LMTP.
    use_lmtp "use-lmtp": Toggle => bool = true;
    /// The LMTP address; empty means all addresses.
    lmtp_address "lmtp-address": Text => &str = "127.0.0.1";
    /// The LMTP port.
    lmtp_port "lmtp-port": Port => u16 = 2026;
    /// How many recipients one LMTP transaction may have; more get 452 4.5.3 (RFC 5321 §4.5.3.1.10).
    lmtp_max_recipients "lmtp-max-recipients": Count<1, 100_000> => u32 = 1000;
    /// How many LMTP deliveries one transaction may store together (group commit).
    lmtp_batch_size "lmtp-batch-size": Count<1, 10_000> => u32 = 64;
    /// How many delivery tasks store LMTP batches at once, each on its own database connection.
    /// One, because a second task's batches mostly wait for the first's mailbox locks and
    /// split what would have been one bigger, cheaper batch (measured in bench/lmtp.sh).
    lmtp_delivery_tasks "lmtp-delivery-tasks": Count<1, 64> => u32 = 1;
    /// How many days deleted messages can still be undeleted.
    undelete_time "undelete-time": Days<0, 36500> => u32 = 49;
    /// Whether to announce and enforce IMAP QUOTA.
    use_imap_quota "use-imap-quota": Toggle => bool = false;
    /// Whether `user+tag@domain` is delivered to `user@domain`.
    use_subaddressing "use-subaddressing": Toggle => bool = false;
    /// Whether clients may log in with plaintext passwords outside TLS.
    allow_plaintext_passwords "allow-plaintext-passwords": OneOf<PlaintextPasswords> => PlaintextPasswords = PlaintextPasswords::Never;
    /// How many IMAP and POP3 connections one IP address may have open; more are refused.
    max_connections_per_ip "max-connections-per-ip": Count<1, 1_000_000> => u32 = 100;
    /// Failed logins from one address, or for one login, before replies to failures are delayed.
    auth_failures_before_delay "auth-failures-before-delay": Count<0, 1000> => u32 = 3;
    /// The first delay; each further failure doubles it. 0 turns throttling off.
    auth_failure_delay "auth-failure-delay": Seconds<0, 3600> => std::time::Duration = std::time::Duration::from_secs(1);
    /// The longest delay of a reply to a failed login.
    auth_failure_max_delay "auth-failure-max-delay": Seconds<0, 3600> => std::time::Duration = std::time::Duration::from_secs(30);
    /// How long failed logins are remembered after the last one.
    auth_failure_window "auth-failure-window": Seconds<1, 86_400> => std::time::Duration = std::time::Duration::from_secs(900);
    /// How much to log.
    log_level "log-level": OneOf<LogLevel> => LogLevel = LogLevel::Info;
    /// Where to log; empty means standard error.
    logfile "logfile": Text => &str = "";
    /// A directory for copies of incoming messages; empty means no copies.
    message_copy_directory "message-copy-directory": Text => &str = "";
    /// The longest line a client may send, in bytes.
    max_line_length "max-line-length": Bytes<1024, 1_048_576> => u64 = 65_536;
    /// The largest message accepted, in bytes.
    max_message_size "max-message-size": Bytes<1024, 2_147_483_647> => u64 = 67_108_864;
    /// The LDAP server's host name or address; empty (with `ldap-url` empty) means no LDAP.
    ldap_server_address "ldap-server-address": Text => &str = "";
    /// The LDAP server's port, with `ldap-server-address`.
    ldap_server_port "ldap-server-port": Port => u16 = 389;
    /// The LDAP server as an `ldap://` or `ldaps://` URL, instead of address and port.
    ldap_url "ldap-url": Text => &str = "";
    /// Whether to start TLS (RFC 4511 §4.14) on an `ldap://` connection.
    ldap_starttls "ldap-starttls": Toggle => bool = false;
    /// A PEM file of the certificates trusted for the LDAP server's TLS; empty means the
    /// system's CA bundle.
    ldap_ca_certificate "ldap-ca-certificate": Text => &str = "";
    /// Where the users are searched for (a DN; the whole subtree).
    ldap_search_base "ldap-search-base": Text => &str = "";
    /// The filter that finds a user; `%u` stands for the login, escaped per RFC 4515.
    ldap_search_filter "ldap-search-filter": Text => &str = "(&(objectClass=inetOrgPerson)(|(uid=%u)(mail=%u)))";
    /// The service account that searches; empty means an anonymous search.
    ldap_bind_dn "ldap-bind-dn": Text => &str = "";
    /// `ldap-bind-dn`'s password.
    ldap_bind_password "ldap-bind-password": Secret => &str = "";
    /// Whether a directory user without a local account gets one, with an INBOX, at first login.
    ldap_auto_provision "ldap-auto-provision": Toggle => bool = false;
    /// A groupOfNames DN whose `member` the user must be; empty means any directory user.
    ldap_required_group "ldap-required-group": Text => &str = "";
    /// Seconds one LDAP login check may take before the directory counts as unavailable.
    ldap_timeout "ldap-timeout": Count<1, 300> => u32 = 10;
}

/// The variable called `name` (lowercase).
pub(super) fn find(name: &str) -> Option<&'static Variable> {
    TABLE.iter().find(|v| v.name == name)
}
