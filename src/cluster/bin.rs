//! Finding the machine's PostgreSQL server binaries.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::ClusterError;

/// Where Debian and Ubuntu install one directory per major version.
const DEBIAN_VERSIONS_DIR: &str = "/usr/lib/postgresql";

/// Finds the directory holding `initdb` and `pg_ctl`.
///
/// In order: `pg_config --bindir` (if `pg_config` is on PATH and that directory has the server
/// binaries — on Debian the client-only `pg_config` points at /usr/bin, which does not); the
/// directory of `initdb` on PATH (following symlinks, because /usr/local/bin/initdb is often a
/// link into the real directory, next to which `postgres` and `psql` live); and finally the
/// highest-numbered `/usr/lib/postgresql/*/bin`, since Debian keeps server binaries off PATH.
pub fn find_bin_dir() -> Result<PathBuf, ClusterError> {
    if let Some(dir) = from_pg_config() {
        return Ok(dir);
    }
    if let Some(dir) = from_initdb_on_path() {
        return Ok(dir);
    }
    highest_versioned_dir(Path::new(DEBIAN_VERSIONS_DIR)).ok_or(ClusterError::NoBinaries)
}

/// True if `dir` has both server binaries we drive.
pub(crate) fn has_server_binaries(dir: &Path) -> bool {
    is_executable(&dir.join("initdb")) && is_executable(&dir.join("pg_ctl"))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Looks `name` up on PATH, like a shell would.
pub(crate) fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn from_pg_config() -> Option<PathBuf> {
    let pg_config = on_path("pg_config")?;
    let output = Command::new(pg_config)
        .arg("--bindir")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let dir = PathBuf::from(text.trim());
    (dir.is_absolute() && has_server_binaries(&dir)).then_some(dir)
}

fn from_initdb_on_path() -> Option<PathBuf> {
    let initdb = on_path("initdb")?;
    // Prefer the directory the link points into: pg_ctl locates `postgres` relative to its own
    // real path anyway, and tests want `psql` from the same installation.
    let candidates = [
        std::fs::canonicalize(&initdb)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf)),
        initdb.parent().map(Path::to_path_buf),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|dir| has_server_binaries(dir))
}

/// Picks the highest `<root>/<version>/bin` with server binaries, comparing versions
/// numerically so that 15 beats 9.6.
pub(crate) fn highest_versioned_dir(root: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(root).ok()?;
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = parse_version(&entry.file_name())?;
            let bin = entry.path().join("bin");
            has_server_binaries(&bin).then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

fn parse_version(name: &OsStr) -> Option<Vec<u32>> {
    name.to_str()?
        .split('.')
        .map(|part| part.parse::<u32>().ok())
        .collect()
}

/// The major version of the binaries in `bin_dir`, in PG_VERSION's format ("15", or "9.6" for
/// pre-10 releases), from `pg_ctl --version`. `None` if it cannot be determined; the caller then
/// skips the friendly version check and lets the server complain instead.
pub(crate) fn major_version(bin_dir: &Path) -> Option<String> {
    // `--version` is answered before pg_ctl's refusal to run as root, so no user switch needed.
    let output = Command::new(bin_dir.join("pg_ctl"))
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    major_from_version_output(&String::from_utf8_lossy(&output.stdout))
}

/// Parses "pg_ctl (PostgreSQL) 15.13 (Debian 15.13-0+deb12u1)" into "15".
pub(crate) fn major_from_version_output(text: &str) -> Option<String> {
    let rest = text.split("(PostgreSQL)").nth(1)?;
    let version = rest.split_whitespace().next()?;
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    let first: u32 = parts.next()?.parse().ok()?;
    if first >= 10 {
        Some(first.to_string())
    } else {
        let second: u32 = parts.next()?.parse().ok()?;
        Some(format!("{first}.{second}"))
    }
}
