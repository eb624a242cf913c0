//! archiveopteryx.conf (runtime settings, db-password) and aoxsuper.conf
//! (db-owner-password), both mode 0600: either one lets its reader at the mail.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use super::{InstallError, InstallOptions, InstallReport};
use crate::config::{Config, render_line};

/// The server's config file name.
pub const CONFIG_FILE: &str = "archiveopteryx.conf";
/// The owner's password file name.
pub const OWNER_CONFIG_FILE: &str = "aoxsuper.conf";

/// Passwords found in config files an earlier run wrote.
#[derive(Default)]
pub(super) struct KnownPasswords {
    pub(super) user: Option<String>,
    pub(super) owner: Option<String>,
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> InstallError {
    InstallError::ConfigFile {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

pub(super) fn read_passwords(dir: &Path) -> Result<KnownPasswords, InstallError> {
    let mut known = KnownPasswords::default();
    let main = dir.join(CONFIG_FILE);
    if main.exists() {
        let c = Config::from_file(&main).map_err(|e| file_error(&main, e))?;
        known.user = Some(c.db_password().to_string()).filter(|p| !p.is_empty());
    }
    let owner = dir.join(OWNER_CONFIG_FILE);
    if owner.exists() {
        let c = Config::from_file(&owner).map_err(|e| file_error(&owner, e))?;
        known.owner = Some(c.db_owner_password().to_string()).filter(|p| !p.is_empty());
    }
    Ok(known)
}

/// Writes `contents` to `path` with mode 0600, replacing any old file.
pub fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    let tmp: PathBuf = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

pub(super) fn ensure_files(
    opts: &InstallOptions,
    user_password: &str,
    owner_password: &str,
    report: &mut InstallReport,
    verb: &dyn Fn(&str) -> String,
) -> Result<(), InstallError> {
    let main = opts.config_dir.join(CONFIG_FILE);
    let owner = opts.config_dir.join(OWNER_CONFIG_FILE);
    let main_wanted = {
        let mut s = String::from("# Written by aox-installer. See README.md for every variable.\n");
        for (name, value) in [
            ("db-address", opts.config_db_address.clone()),
            ("db-port", opts.config_db_port.to_string()),
            ("db-name", opts.db_name.clone()),
            ("db-user", opts.db_user.clone()),
            ("db-password", user_password.to_string()),
            ("db-owner", opts.db_owner.clone()),
        ] {
            s.push_str(&render_line(name, &value));
        }
        for (name, value) in &opts.extra_config {
            s.push_str(&render_line(name, value));
        }
        s
    };
    let owner_wanted = format!(
        "# Written by aox-installer: the owner role's password. Whoever reads this can read or destroy all mail.\n{}",
        render_line("db-owner-password", owner_password)
    );
    for (path, contents, current_password) in [
        (&main, main_wanted, read_passwords(&opts.config_dir)?.user),
        (
            &owner,
            owner_wanted,
            read_passwords(&opts.config_dir)?.owner,
        ),
    ] {
        let password = if path == &main {
            user_password
        } else {
            owner_password
        };
        // An existing file is the operator's: keep it unless it lacks the
        // password the role now has.
        if path.exists() && current_password.as_deref() == Some(password) {
            continue;
        }
        report
            .actions
            .push(verb(&format!("write {} (mode 0600)", path.display())));
        if !opts.dry_run {
            std::fs::create_dir_all(&opts.config_dir)
                .map_err(|e| file_error(&opts.config_dir, e))?;
            if path.exists() {
                // Only the password line changes; keep everything else.
                let old = std::fs::read_to_string(path).map_err(|e| file_error(path, e))?;
                let name = if path == &main {
                    "db-password"
                } else {
                    "db-owner-password"
                };
                let mut updated: String = old
                    .lines()
                    .filter(|l| !l.trim_start().to_ascii_lowercase().starts_with(name))
                    .map(|l| format!("{l}\n"))
                    .collect();
                updated.push_str(&render_line(name, password));
                write_private_file(path, &updated).map_err(|e| file_error(path, e))?;
            } else {
                write_private_file(path, &contents).map_err(|e| file_error(path, e))?;
            }
        }
    }
    Ok(())
}
