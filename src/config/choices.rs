//! The enumerated values some variables take, and the words that name them.

use std::fmt;

use tracing::Level;
use tracing::level_filters::LevelFilter;

use super::kinds::Choice;

/// Whether the connection to PostgreSQL uses TLS (`db-tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DbTls {
    /// Never use TLS.
    Disable,
    /// Use TLS if the server offers it.
    Prefer,
    /// Refuse to connect without TLS.
    Require,
}

impl DbTls {
    /// The word used in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
        }
    }
}

impl Choice for DbTls {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("disable", Self::Disable),
        ("prefer", Self::Prefer),
        ("require", Self::Require),
    ];
    fn word(self) -> &'static str {
        self.as_str()
    }
}

/// How much is logged (`log-level`). aox's `significant` and `disaster` are accepted as
/// `warn` and `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogLevel {
    /// Everything, for debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Only what an administrator should look at.
    Warn,
    /// Only failures.
    Error,
}

impl LogLevel {
    /// The word used in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }

    /// The matching `tracing` level.
    pub fn tracing_level(self) -> Level {
        match self {
            Self::Debug => Level::DEBUG,
            Self::Info => Level::INFO,
            Self::Warn => Level::WARN,
            Self::Error => Level::ERROR,
        }
    }
}

impl From<LogLevel> for Level {
    fn from(level: LogLevel) -> Self {
        level.tracing_level()
    }
}

impl From<LogLevel> for LevelFilter {
    fn from(level: LogLevel) -> Self {
        LevelFilter::from_level(level.tracing_level())
    }
}

impl Choice for LogLevel {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("debug", Self::Debug),
        ("info", Self::Info),
        ("warn", Self::Warn),
        ("significant", Self::Warn),
        ("error", Self::Error),
        ("disaster", Self::Error),
    ];
    fn word(self) -> &'static str {
        self.as_str()
    }
}

/// Whether clients may send passwords in the clear (`allow-plaintext-passwords`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlaintextPasswords {
    /// Allowed on any connection.
    Always,
    /// Only over TLS.
    Never,
}

impl PlaintextPasswords {
    /// The word used in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Never => "never",
        }
    }
}

impl Choice for PlaintextPasswords {
    const WORDS: &'static [(&'static str, Self)] =
        &[("always", Self::Always), ("never", Self::Never)];
    fn word(self) -> &'static str {
        self.as_str()
    }
}

macro_rules! display_as_word {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}

display_as_word!(DbTls, LogLevel, PlaintextPasswords);
