//! The `archiveopteryx.conf` grammar and the typed table of variables.
//!
//! A file is `name = value` lines (quoted with `"` or `'`, `#` comments); every name must
//! be in the table in `vars.rs`, and every value must fit its variable's kind. Anything else is
//! a [`ConfigError`] naming the file, the line and the expected form.

mod choices;
mod error;
mod grammar;
mod kinds;
mod load;
mod suggest;
mod vars;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

pub use choices::{DbTls, LogLevel, PlaintextPasswords};
pub use error::{ConfigError, Location};
pub use grammar::{is_renderable, render_line};
pub use load::{DEFAULT_CONFIG_DIR, DEFAULT_CONFIG_FILE, OWNER_FILE_NAME, load};

use error::shown;
use vars::Rejected;

/// The file name [`Config::set`] reports in errors.
const OVERRIDE: &str = "<override>";

/// What secrets show as in `entries()` and `Debug`.
const REDACTED: &str = "<redacted>";

/// A validated configuration: the variables that were set, and defaults for the rest.
///
/// Each variable has a getter named after it (`db-owner-password` → `db_owner_password()`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Config {
    values: vars::Values,
}

impl Config {
    /// Reads and parses `path`. Errors name the file as given.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        Self::parse(&text, &file)
    }

    /// Parses the text of a configuration file; `file_name` is only used in errors.
    pub fn parse(text: &str, file_name: &str) -> Result<Config, ConfigError> {
        // Editors on some systems start UTF-8 files with a byte-order mark.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut config = Config::defaults();
        let mut first_lines: HashMap<String, usize> = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let at = Location::line(file_name, number);
            let assignment = match grammar::split_line(line) {
                Ok(Some(assignment)) => assignment,
                Ok(None) => continue,
                Err(syntax) => {
                    return Err(ConfigError::Syntax {
                        at,
                        expected: syntax.expected,
                        found: shown(syntax.found.as_deref(), false),
                    });
                }
            };
            let name = assignment.name;
            let variable = vars::find(&name).ok_or_else(|| unknown(at.clone(), &name))?;
            if let Some(first_line) = first_lines.insert(name.clone(), number) {
                return Err(ConfigError::Duplicate {
                    at,
                    name,
                    first_line,
                });
            }
            let value = assignment.value.map_err(|syntax| ConfigError::BadValue {
                at: at.clone(),
                name: name.clone(),
                expected: syntax.expected,
                found: shown(syntax.found.as_deref(), variable.secret),
            })?;
            config.assign(at, &name, &value)?;
        }
        Ok(config)
    }

    /// A configuration with nothing set: every getter returns its default.
    pub fn defaults() -> Config {
        Config::default()
    }

    /// Sets `name` to `value`, checked as a file line would be, replacing any earlier
    /// setting (overrides beat the file). `value` is taken literally: no quotes or comments.
    /// Errors name the file `<override>`.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let name = name.to_ascii_lowercase();
        self.assign(Location::file(OVERRIDE), &name, value)
    }

    /// Whether `name` (case-insensitive) was set by the file or an override, as opposed to
    /// having its default. Unknown names are never set.
    pub fn is_set(&self, name: &str) -> bool {
        self.values.is_set(&name.to_ascii_lowercase())
    }

    /// Every variable, set or default, as `(name, value as text)` in table order; secrets
    /// show as `<redacted>` unless empty.
    pub fn entries(&self) -> Vec<(String, String)> {
        self.shown()
            .into_iter()
            .map(|v| (v.name.to_string(), redact(v.text, v.secret)))
            .collect()
    }

    fn assign(&mut self, at: Location, name: &str, value: &str) -> Result<(), ConfigError> {
        match self.values.assign(name, value) {
            Ok(()) => Ok(()),
            Err(Rejected::Unknown) => Err(unknown(at, name)),
            Err(Rejected::Bad(expected)) => Err(ConfigError::BadValue {
                at,
                name: name.to_string(),
                expected,
                found: shown(Some(value), vars::find(name).is_some_and(|v| v.secret)),
            }),
        }
    }
}

/// Lists only what was set, since that is what differs between configurations; secrets are
/// redacted because configs end up in logs.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Config");
        for v in self.shown().into_iter().filter(|v| v.set) {
            if v.secret && !v.text.is_empty() {
                out.field(v.name, &format_args!("{REDACTED}"));
            } else {
                out.field(v.name, &v.text);
            }
        }
        out.finish()
    }
}

fn redact(text: String, secret: bool) -> String {
    if secret && !text.is_empty() {
        REDACTED.to_string()
    } else {
        text
    }
}

fn unknown(at: Location, name: &str) -> ConfigError {
    ConfigError::UnknownVariable {
        at,
        name: name.to_string(),
        suggestion: suggest::nearest(name, vars::TABLE.iter().map(|v| v.name)).map(String::from),
    }
}
