//! What can go wrong reading a configuration, and where it went wrong.

use std::fmt;

/// Where a configuration problem was found: a file and, for file lines, a line number.
///
/// Overrides given with [`Config::set`](super::Config::set) have no line, so they show as
/// just `<override>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file name as the caller gave it, or `<override>`.
    pub file: String,
    /// The 1-based line number, when the problem came from a file line.
    pub line: Option<usize>,
}

impl Location {
    pub(super) fn line(file: &str, line: usize) -> Self {
        Self {
            file: file.to_string(),
            line: Some(line),
        }
    }

    pub(super) fn file(file: &str) -> Self {
        Self {
            file: file.to_string(),
            line: None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.file),
            None => f.write_str(&self.file),
        }
    }
}

/// A configuration that cannot be used. The message names the place and the expected form,
/// e.g. `archiveopteryx.conf:7: db-port: expected a port number 1-65535, got "http"`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (missing, unreadable, not UTF-8).
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file as the caller named it.
        file: String,
        /// Why reading failed.
        #[source]
        source: std::io::Error,
    },

    /// A line that is not `name = value` at all.
    #[error("{at}: expected {expected}, got {found}")]
    Syntax {
        /// Where.
        at: Location,
        /// The form that was expected there.
        expected: String,
        /// What was found instead, as shown in the message (quoted, or `end of line`).
        found: String,
    },

    /// A name that is not in the table of variables.
    #[error("{at}: unknown variable \"{name}\"{}", hint(.suggestion.as_deref()))]
    UnknownVariable {
        /// Where.
        at: Location,
        /// The name as written, lowercased.
        name: String,
        /// The nearest known name, when one is close enough to be a likely typo.
        suggestion: Option<String>,
    },

    /// A variable set twice in one file; silently taking either would hide a mistake.
    #[error("{at}: duplicate variable \"{name}\", already set on line {first_line}")]
    Duplicate {
        /// Where the second setting is.
        at: Location,
        /// The variable.
        name: String,
        /// The line of the first setting.
        first_line: usize,
    },

    /// A value that is badly quoted or not of the variable's kind.
    #[error("{at}: {name}: expected {expected}, got {found}")]
    BadValue {
        /// Where.
        at: Location,
        /// The variable.
        name: String,
        /// The form the variable's values take.
        expected: String,
        /// What was found, as shown in the message (quoted, `end of line`, or `<redacted>`
        /// for secrets).
        found: String,
    },
}

fn hint(suggestion: Option<&str>) -> String {
    match suggestion {
        Some(name) => format!(" (did you mean \"{name}\"?)"),
        None => String::new(),
    }
}

/// Shows found text in an error message; secrets are never echoed back, since error
/// messages end up in logs and terminals.
pub(super) fn shown(found: Option<&str>, secret: bool) -> String {
    match found {
        None => "end of line".to_string(),
        Some(_) if secret => "<redacted>".to_string(),
        Some(text) => format!("{text:?}"),
    }
}
