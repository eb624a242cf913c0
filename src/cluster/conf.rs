//! The settings this module writes into a cluster, and reading them back on reuse.
//!
//! They live in a file of their own, included at the end of postgresql.conf, so that we can
//! rewrite it wholesale without touching initdb's file and read it back without parsing
//! everything PostgreSQL accepts. postgresql.auto.conf (ALTER SYSTEM) still overrides it, as
//! PostgreSQL itself would, and [`read_effective`] honours that for the values we need.

use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::ClusterError;
use super::os::{self, Runner};

/// Our settings file inside the data directory.
pub(crate) const CONF_FILE: &str = "archiveopteryx.conf";

/// The line appended to postgresql.conf; relative includes resolve against the data directory.
const INCLUDE_LINE: &str = "include 'archiveopteryx.conf'";

/// PostgreSQL's sun_path is 108 bytes; the brief keeps a margin and caps the socket path at 100.
const MAX_SOCKET_PATH: usize = 100;

/// The settings that matter to us, as written at initdb time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    pub port: u16,
    pub socket_dir: PathBuf,
    pub fsync: bool,
}

impl Settings {
    /// The file contents. Paths must be UTF-8 because the file is text.
    pub(crate) fn render(&self) -> Result<String, ClusterError> {
        let socket_dir = self
            .socket_dir
            .to_str()
            .ok_or_else(|| ClusterError::NonUtf8Path(self.socket_dir.clone()))?;
        let mut text = String::from(
            "# Written by archiveopteryx for its private cluster; included from postgresql.conf.\n\
             # The port and socket directory are read back from here when the cluster is reused.\n",
        );
        text.push_str("listen_addresses = '127.0.0.1'\n");
        text.push_str(&format!("port = {}\n", self.port));
        text.push_str(&format!(
            "unix_socket_directories = {}\n",
            quote(socket_dir)
        ));
        text.push_str("max_connections = 200\n");
        text.push_str("password_encryption = 'scram-sha-256'\n");
        if !self.fsync {
            // Throwaway test clusters: durability is worthless, speed is not.
            text.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        } else {
            // A cluster that keeps mail takes imports of gigabytes. With the
            // built-in 1 GB, a checkpoint began every ~0.5 GB of log, so a
            // 1.5 GB import (bench/import.sh's default mix) wrote 1.7 GB of
            // pages during the import besides its log; PostgreSQL's advice
            // for bulk loading is a larger max_wal_size.
            text.push_str(&format!("max_wal_size = {MAX_WAL_SIZE}\n"));
            if let Some(mb) = memory_mb().map(shared_buffers_mb) {
                // PostgreSQL's own starting advice, a quarter of the memory.
                // Its built-in 128 MB cannot hold the entries of one
                // million-message mailbox, so every STORE 1:* or substring
                // search read most pages back from the OS.
                text.push_str(&format!("shared_buffers = {mb}MB\n"));
            }
        }
        Ok(text)
    }

    /// Parses a file [`Settings::render`] wrote.
    pub(crate) fn parse(text: &str) -> Result<Settings, String> {
        let mut port = None;
        let mut socket_dir = None;
        let mut fsync = true;
        for (name, value) in entries(text) {
            match name.as_str() {
                "port" => port = Some(parse_port(&value)?),
                "unix_socket_directories" => socket_dir = Some(first_socket_dir(&value)?),
                "fsync" => fsync = parse_bool(&value)?,
                _ => {}
            }
        }
        Ok(Settings {
            port: port.ok_or("it sets no port")?,
            socket_dir: socket_dir.ok_or("it sets no unix_socket_directories")?,
            fsync,
        })
    }
}

/// The log a cluster that keeps mail may write between checkpoints (the disk
/// it takes at most, beyond the data).
pub(crate) const MAX_WAL_SIZE: &str = "4GB";

/// A quarter of `memory_mb`, within 128 MB (PostgreSQL's default) and 8 GB.
pub(crate) fn shared_buffers_mb(memory_mb: u64) -> u64 {
    (memory_mb / 4).clamp(128, 8192)
}

/// The machine's memory in MB, from /proc/meminfo; None where there is none.
pub(crate) fn memory_mb() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

fn parse_port(value: &str) -> Result<u16, String> {
    value
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("port {value:?} is not a TCP port"))
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(format!("{value:?} is not a boolean")),
    }
}

/// The first entry of a comma-separated unix_socket_directories list.
fn first_socket_dir(value: &str) -> Result<PathBuf, String> {
    let first = value.split(',').next().unwrap_or("").trim();
    if first.is_empty() {
        return Err("unix_socket_directories is empty, so there is no socket to connect to".into());
    }
    Ok(PathBuf::from(first))
}

/// Quotes a string for postgresql.conf, where both `''` and backslash escapes are recognised.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `name = value` entries of a postgresql.conf-style file, names lower-cased, values unquoted.
/// Good enough for the files we and ALTER SYSTEM write; anything unparsable is skipped.
fn entries(text: &str) -> Vec<(String, String)> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<(String, String)> {
    let line = line.trim_start();
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(line.len());
    if name_end == 0 {
        return None;
    }
    let name = line[..name_end].to_ascii_lowercase();
    let rest = line[name_end..].trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
    if let Some(quoted) = rest.strip_prefix('\'') {
        let mut value = String::new();
        let mut chars = quoted.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    value.push('\'');
                }
                '\'' => return Some((name, value)),
                '\\' => value.push(chars.next()?),
                c => value.push(c),
            }
        }
        None // unterminated
    } else {
        let value = rest.split('#').next().unwrap_or("").trim();
        (!value.is_empty()).then(|| (name, value.to_string()))
    }
}

/// The settings in force: ours, overridden by postgresql.auto.conf. `Ok(None)` if we never
/// wrote ours (e.g. a crash between initdb and configuration).
pub(crate) fn read_effective(data_dir: &Path) -> Result<Option<Settings>, ClusterError> {
    let path = data_dir.join(CONF_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ClusterError::io("read", path, e)),
    };
    let bad = |problem: String| ClusterError::BadConfig {
        path: path.clone(),
        data_dir: data_dir.to_path_buf(),
        problem,
    };
    let mut settings = Settings::parse(&text).map_err(bad)?;
    let auto = data_dir.join("postgresql.auto.conf");
    if let Ok(auto_text) = std::fs::read_to_string(&auto) {
        let bad_auto = |problem: String| ClusterError::BadConfig {
            path: auto.clone(),
            data_dir: data_dir.to_path_buf(),
            problem,
        };
        for (name, value) in entries(&auto_text) {
            match name.as_str() {
                "port" => settings.port = parse_port(&value).map_err(bad_auto)?,
                "unix_socket_directories" => {
                    settings.socket_dir = first_socket_dir(&value).map_err(bad_auto)?
                }
                _ => {}
            }
        }
    }
    Ok(Some(settings))
}

/// Writes our settings file (owned by the server's user) and makes sure postgresql.conf
/// includes it.
pub(crate) fn write(
    data_dir: &Path,
    settings: &Settings,
    runner: &Runner,
) -> Result<(), ClusterError> {
    let path = data_dir.join(CONF_FILE);
    let text = settings.render()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| ClusterError::io("create", &path, e))?;
    if let Some(owner) = runner.owner() {
        // Before writing, so the server can read it even if we are interrupted after.
        os::chown(&path, owner)?;
    }
    file.write_all(text.as_bytes())
        .map_err(|e| ClusterError::io("write", &path, e))?;

    let main_conf = data_dir.join("postgresql.conf");
    let existing =
        std::fs::read_to_string(&main_conf).map_err(|e| ClusterError::io("read", &main_conf, e))?;
    if !existing.lines().any(|l| l.trim() == INCLUDE_LINE) {
        // Appending keeps initdb's ownership and mode, and being last lets our values win.
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(&main_conf)
            .map_err(|e| ClusterError::io("open", &main_conf, e))?;
        let sep = if existing.ends_with('\n') || existing.is_empty() {
            ""
        } else {
            "\n"
        };
        conf.write_all(format!("{sep}\n# archiveopteryx's settings\n{INCLUDE_LINE}\n").as_bytes())
            .map_err(|e| ClusterError::io("append to", &main_conf, e))?;
    }
    Ok(())
}

/// Asks the kernel for a free loopback port. The listener is dropped at once, so the port can
/// in principle be taken before the server binds it; `start` retries on a fresh cluster.
pub(crate) fn pick_free_port() -> Result<u16, ClusterError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(ClusterError::NoFreePort)?;
    let port = listener
        .local_addr()
        .map_err(ClusterError::NoFreePort)?
        .port();
    Ok(port)
}

/// Where the server should put its socket: the data directory itself, unless
/// `<dir>/.s.PGSQL.<port>` would be too long for a Unix socket, in which case a short directory
/// under /tmp named after the data directory.
pub(crate) fn choose_socket_dir(data_dir: &Path, port: u16) -> PathBuf {
    if socket_path_fits(data_dir, port) {
        data_dir.to_path_buf()
    } else {
        short_socket_dir(data_dir)
    }
}

/// Whether the socket for `port` in `dir` stays within [`MAX_SOCKET_PATH`] bytes.
pub(crate) fn socket_path_fits(dir: &Path, port: u16) -> bool {
    dir.as_os_str().len() + format!("/.s.PGSQL.{port}").len() <= MAX_SOCKET_PATH
}

/// `/tmp/aox-pg-<hash of the data dir>`: stable, so each data directory gets its own, though
/// reuse reads the recorded choice rather than recomputing it.
fn short_socket_dir(data_dir: &Path) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    // FNV-1a: tiny, and unlike std's hasher its output is fixed across Rust releases.
    let hash = data_dir
        .as_os_str()
        .as_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    PathBuf::from(format!("/tmp/aox-pg-{hash:016x}"))
}

/// Makes sure a socket directory outside the data directory exists, is private (0700) and
/// belongs to the server's user. It is recreated if /tmp was cleaned since the last run. An
/// existing directory that is not ours is refused rather than adopted: someone else could
/// then intercept connections.
pub(crate) fn ensure_socket_dir(
    socket_dir: &Path,
    data_dir: &Path,
    runner: &Runner,
) -> Result<(), ClusterError> {
    if socket_dir == data_dir {
        return Ok(());
    }
    let wanted_uid = os::server_uid(runner);
    match std::fs::symlink_metadata(socket_dir) {
        Ok(meta) => {
            if !meta.is_dir() {
                return Err(ClusterError::SocketDir {
                    dir: socket_dir.to_path_buf(),
                    problem: "exists but is not a directory".into(),
                });
            }
            if meta.uid() != wanted_uid {
                return Err(ClusterError::SocketDir {
                    dir: socket_dir.to_path_buf(),
                    problem: format!(
                        "belongs to uid {}, not to uid {wanted_uid} which runs the server",
                        meta.uid()
                    ),
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(socket_dir)
                .map_err(|e| ClusterError::io("create the socket directory", socket_dir, e))?;
            if let Some(owner) = runner.owner() {
                os::chown(socket_dir, owner)?;
            }
            Ok(())
        }
        Err(e) => Err(ClusterError::io(
            "inspect the socket directory",
            socket_dir,
            e,
        )),
    }
}
