//! Where the configuration lives and how the two files combine.

use std::path::Path;

use super::{Config, ConfigError};

/// The installed configuration directory.
#[cfg(target_os = "freebsd")]
pub const DEFAULT_CONFIG_DIR: &str = "/usr/local/etc/archiveopteryx";
/// The installed configuration directory.
#[cfg(not(target_os = "freebsd"))]
pub const DEFAULT_CONFIG_DIR: &str = "/etc/archiveopteryx";

/// The installed configuration file, read by every binary unless `-c` says otherwise.
#[cfg(target_os = "freebsd")]
pub const DEFAULT_CONFIG_FILE: &str = "/usr/local/etc/archiveopteryx/archiveopteryx.conf";
/// The installed configuration file, read by every binary unless `-c` says otherwise.
#[cfg(not(target_os = "freebsd"))]
pub const DEFAULT_CONFIG_FILE: &str = "/etc/archiveopteryx/archiveopteryx.conf";

/// The owner's password file, beside the main file.
pub const OWNER_FILE_NAME: &str = "aoxsuper.conf";

/// Reads `path` and, when it exists beside it, `aoxsuper.conf` (the owner
/// role's password, readable by administrators only). As in Archiveopteryx,
/// a server that cannot read the owner file simply runs without it.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let mut config = Config::from_file(path)?;
    let owner_file = path.with_file_name(OWNER_FILE_NAME);
    if owner_file != path && owner_file.exists() {
        match Config::from_file(&owner_file) {
            Ok(owner) => {
                if owner.is_set("db-owner-password") {
                    config.set("db-owner-password", owner.db_owner_password())?;
                }
                if owner.is_set("db-owner") {
                    config.set("db-owner", owner.db_owner())?;
                }
            }
            Err(ConfigError::Read { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(config)
}
