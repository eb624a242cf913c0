//! The one error type of the cluster module.
//!
//! Every message is meant to be shown to an operator as is, so each one says
//! what went wrong, where, and what to do about it.

use std::io;
use std::path::PathBuf;

/// Why a private PostgreSQL cluster could not be set up, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Neither `pg_config`, `initdb` on PATH nor `/usr/lib/postgresql/*/bin` led to a usable server.
    #[error(
        "no PostgreSQL server binaries found (looked on PATH and in /usr/lib/postgresql/*/bin): install postgresql"
    )]
    NoBinaries,

    /// A file-system operation failed.
    #[error("could not {action} {}: {source}", .path.display())]
    Io {
        /// What we tried to do, e.g. "create the data directory".
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A program could not be executed at all (as opposed to running and failing).
    #[error("could not run {}: {source}", .program.display())]
    Spawn {
        /// The program we tried to run.
        program: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// We are root, and PostgreSQL refuses to run as root, but there is no `postgres` user.
    #[error(
        "running as root, but there is no OS user \"postgres\" to run PostgreSQL as: create one (e.g. `adduser --system --group postgres`) or run as an ordinary user"
    )]
    NoPostgresUser,

    /// We are root and neither `runuser` nor `su` is available to switch to `postgres`.
    #[error(
        "running as root, but neither runuser nor su was found to run PostgreSQL as the \"postgres\" OS user: install util-linux or run as an ordinary user"
    )]
    NoUserSwitcher,

    /// We are root, the server runs as `postgres`, and `postgres` cannot reach the data directory.
    #[error(
        "running as root, so PostgreSQL runs as the OS user \"postgres\", but that user cannot enter {} (on the way to the data directory {}): choose a data directory elsewhere (e.g. under /var/lib or /srv), or make {} searchable by others",
        .dir.display(), .data_dir.display(), .dir.display()
    )]
    NotTraversable {
        /// The first directory `postgres` cannot search.
        dir: PathBuf,
        /// The data directory we wanted to use.
        data_dir: PathBuf,
    },

    /// The path cannot be written into postgresql.conf.
    #[error("the path {} is not valid UTF-8, so it cannot be written into the PostgreSQL configuration: choose another data directory", .0.display())]
    NonUtf8Path(PathBuf),

    /// `initdb` ran and failed.
    #[error("initdb could not create a cluster in {} ({status}):\n{output}", .data_dir.display())]
    Initdb {
        /// The data directory.
        data_dir: PathBuf,
        /// initdb's exit status.
        status: String,
        /// initdb's stderr (or stdout if stderr was empty).
        output: String,
    },

    /// `pg_ctl start` failed.
    #[error(
        "PostgreSQL did not start in {} ({status}): {output}\nlast lines of {}:\n{log_tail}",
        .data_dir.display(), .log.display()
    )]
    Start {
        /// The data directory.
        data_dir: PathBuf,
        /// pg_ctl's exit status.
        status: String,
        /// pg_ctl's stderr.
        output: String,
        /// The server log file.
        log: PathBuf,
        /// The last lines the server wrote to the log during this attempt.
        log_tail: String,
    },

    /// `pg_ctl stop` failed.
    #[error(
        "pg_ctl could not stop the PostgreSQL server in {} ({status}): {output}\nsee {}",
        .data_dir.display(), .log.display()
    )]
    Stop {
        /// The data directory.
        data_dir: PathBuf,
        /// pg_ctl's exit status.
        status: String,
        /// pg_ctl's stderr.
        output: String,
        /// The server log file.
        log: PathBuf,
    },

    /// A server someone else started never became ready.
    #[error(
        "timed out after {secs} s waiting for the PostgreSQL server in {} to accept connections: see {}; if no server is running, remove {}/postmaster.pid",
        .data_dir.display(), .log.display(), .data_dir.display()
    )]
    NotReady {
        /// The data directory.
        data_dir: PathBuf,
        /// The server log file.
        log: PathBuf,
        /// How long we waited.
        secs: u64,
    },

    /// The data directory was made by a different major version than the binaries found.
    #[error(
        "the data directory {} holds a PostgreSQL {data_version} cluster, but the binaries in {} are PostgreSQL {bin_version}: use a different data directory, or upgrade the cluster with pg_upgrade",
        .data_dir.display(), .bin_dir.display()
    )]
    VersionMismatch {
        /// The data directory.
        data_dir: PathBuf,
        /// The contents of its PG_VERSION.
        data_version: String,
        /// The binary directory.
        bin_dir: PathBuf,
        /// The major version the binaries report.
        bin_version: String,
    },

    /// The settings file this module wrote cannot be understood any more.
    #[error(
        "cannot use the cluster settings in {}: {problem}; fix the file, or remove the data directory {} to start afresh",
        .path.display(), .data_dir.display()
    )]
    BadConfig {
        /// The file.
        path: PathBuf,
        /// The data directory.
        data_dir: PathBuf,
        /// What is wrong with it.
        problem: String,
    },

    /// The caller asked for one port, but the cluster is already running on another.
    #[error(
        "the PostgreSQL server in {} is already running on port {running}, not {wanted}: stop it ({}/pg_ctl -D {} stop) or don't ask for a port",
        .data_dir.display(), .bin_dir.display(), .data_dir.display()
    )]
    PortMismatch {
        /// The data directory.
        data_dir: PathBuf,
        /// The binary directory (for the suggested command).
        bin_dir: PathBuf,
        /// The port it is running on.
        running: u16,
        /// The port the caller asked for.
        wanted: u16,
    },

    /// Binding 127.0.0.1:0 to find a free port failed.
    #[error("could not find a free TCP port on 127.0.0.1 ({0}): pass an explicit port")]
    NoFreePort(#[source] io::Error),

    /// The short socket directory under /tmp exists but is not ours.
    #[error(
        "the Unix-socket directory {} {problem}: remove it, or use a data directory with a shorter path",
        .dir.display()
    )]
    SocketDir {
        /// The directory.
        dir: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
}

impl ClusterError {
    /// Shorthand for [`ClusterError::Io`].
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        ClusterError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
