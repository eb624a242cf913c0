//! Private PostgreSQL clusters for dev mode and tests.
//!
//! [`PrivateCluster::start`] creates a cluster in a data directory with the machine's own
//! PostgreSQL binaries (initdb on first use, reused afterwards), starts it unless it is already
//! running, and returns once it accepts connections. Dev mode (`archiveopteryx --dev`) keeps
//! one across runs and stops it on Ctrl-C; the integration tests make a throwaway one per run
//! with fsync off.
//!
//! The cluster listens on 127.0.0.1 (password, SCRAM) and on a Unix socket (trust, so the
//! superuser can connect without a password). Everything is synchronous: it runs before any
//! async runtime exists and after it is gone.
//!
//! PostgreSQL refuses to run as root. When we are root, initdb and pg_ctl (and so the server)
//! run as the `postgres` OS user, the data directory is given to that user, and every directory
//! above it must be searchable by it.

mod bin;
mod conf;
mod error;
mod os;
#[cfg(test)]
mod tests;

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

pub use bin::find_bin_dir;
pub use error::ClusterError;

use conf::Settings;
use os::{Liveness, Runner};

/// The server log, inside the data directory (pg_ctl -l).
const LOG_FILE: &str = "postgresql.log";
/// The postmaster's lock file, inside the data directory.
const PID_FILE: &str = "postmaster.pid";
/// How long pg_ctl, and we, wait for a server to start or stop.
const TIMEOUT: Duration = Duration::from_secs(60);
/// How long to keep retrying while the remains of a killed server (its children, still
/// attached to the old shared memory) go away.
const STALE_RETRY: Duration = Duration::from_secs(15);
/// How often to pick another port when a freshly picked one was taken meanwhile.
const PORT_RETRIES: u32 = 5;
/// How many log lines a start failure quotes.
const LOG_TAIL_LINES: usize = 20;

/// What [`PrivateCluster::start`] should set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterOptions {
    /// The cluster's PGDATA; created if missing.
    pub data_dir: PathBuf,
    /// The TCP port on 127.0.0.1. `None` picks a free one when the cluster is created and
    /// keeps it afterwards; `Some` moves a stopped cluster to that port.
    pub port: Option<u16>,
    /// `false` (tests) turns off fsync, synchronous_commit and full_page_writes. Only honoured
    /// when the cluster is created; a reused cluster keeps its setting.
    pub fsync: bool,
    /// The PostgreSQL superuser created by initdb (`initdb -U`).
    pub superuser: String,
}

/// A running private cluster: where it is and how to reach it.
///
/// Dropping it does not stop the server; call [`PrivateCluster::stop`] or
/// [`PrivateCluster::stop_immediately`] (dev mode deliberately leaves a server it did not start
/// alone, see [`PrivateCluster::started_by_us`]).
#[derive(Debug, Clone)]
pub struct PrivateCluster {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    port: u16,
    socket_dir: PathBuf,
    superuser: String,
    started_by_us: bool,
    log_file: PathBuf,
    runner: Runner,
}

impl PrivateCluster {
    /// initdb if `data_dir` has no PG_VERSION, then start the server unless it is already
    /// running; returns when it accepts connections (pg_ctl -w).
    ///
    /// A server that was killed (stale postmaster.pid) is restarted and recovers. If another
    /// process is starting the same cluster at the same time, this waits for it to be ready.
    pub fn start(opts: &ClusterOptions) -> Result<PrivateCluster, ClusterError> {
        let bin_dir = find_bin_dir()?;
        let runner = Runner::for_current_user()?;
        let data_dir = prepare_data_dir(&opts.data_dir, &runner)?;
        let log_file = data_dir.join(LOG_FILE);

        let fresh = !data_dir.join("PG_VERSION").exists();
        if fresh {
            initdb(&bin_dir, &data_dir, opts, &runner)?;
        } else {
            check_version(&bin_dir, &data_dir)?;
        }

        let mut cluster = PrivateCluster {
            bin_dir,
            data_dir,
            port: 0,
            socket_dir: PathBuf::new(),
            superuser: opts.superuser.clone(),
            started_by_us: false,
            log_file,
            runner,
        };
        cluster.run_or_adopt(opts)?;
        Ok(cluster)
    }

    /// Stops the server, letting sessions end cleanly (pg_ctl -m fast stop -w). Stopping a
    /// server that is not running is not an error.
    pub fn stop(&self) -> Result<(), ClusterError> {
        self.pg_ctl_stop("fast")
    }

    /// Stops the server without a shutdown checkpoint (pg_ctl -m immediate stop -w); the next
    /// start does crash recovery. Meant for tearing down throwaway test clusters.
    pub fn stop_immediately(&self) -> Result<(), ClusterError> {
        self.pg_ctl_stop("immediate")
    }

    /// The TCP port the server listens on at 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the server's Unix socket (`.s.PGSQL.<port>`); pass it as the
    /// host to connect over the socket.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The PostgreSQL superuser name.
    pub fn superuser(&self) -> &str {
        &self.superuser
    }

    /// The data directory (absolute, symlinks resolved).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The directory of the PostgreSQL binaries in use (psql lives there too).
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The server log.
    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    /// False if the server was already running when [`PrivateCluster::start`] was called, so
    /// that a caller can leave it running for whoever started it.
    pub fn started_by_us(&self) -> bool {
        self.started_by_us
    }

    /// Starts the server, or adopts one that is already running, filling in port, socket dir
    /// and `started_by_us`.
    fn run_or_adopt(&mut self, opts: &ClusterOptions) -> Result<(), ClusterError> {
        // Whether `port` was picked by us just now, so that losing it to someone else before
        // the server binds it can be fixed by picking another.
        let mut port_is_ours_to_change = false;
        let stale_deadline = Instant::now() + STALE_RETRY;
        let mut port_retries = 0;
        let mut settings: Option<Settings> = None;
        loop {
            if let Some(pid_file) = self.wait_until_settled()? {
                return self.adopt(opts, &pid_file);
            }
            let current = match settings.take() {
                Some(s) => s,
                None => {
                    let (s, picked) = self.configure(opts)?;
                    port_is_ours_to_change = picked;
                    s
                }
            };
            self.port = current.port;
            self.socket_dir = current.socket_dir.clone();
            self.clear_stale_locks()?;

            tracing::info!(
                data_dir = %self.data_dir.display(),
                port = self.port,
                "starting private PostgreSQL cluster"
            );
            let log_offset = file_len(&self.log_file);
            let out = self.pg_ctl(&[
                "-D".as_ref(),
                self.data_dir.as_os_str(),
                "-l".as_ref(),
                self.log_file.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                TIMEOUT.as_secs().to_string().as_ref(),
                "start".as_ref(),
            ])?;
            if out.status.success() {
                self.started_by_us = true;
                return Ok(());
            }
            let log_tail = log_tail_since(&self.log_file, log_offset, LOG_TAIL_LINES);

            if port_is_ours_to_change
                && port_retries < PORT_RETRIES
                && log_tail.contains("Address already in use")
            {
                port_retries += 1;
                tracing::debug!(port = current.port, "port taken meanwhile; picking another");
                let port = conf::pick_free_port()?;
                let next = Settings {
                    port,
                    socket_dir: conf::choose_socket_dir(&self.data_dir, port),
                    fsync: current.fsync,
                };
                conf::ensure_socket_dir(&next.socket_dir, &self.data_dir, &self.runner)?;
                conf::write(&self.data_dir, &next, &self.runner)?;
                settings = Some(next);
                continue;
            }
            // Children of a killed postmaster may hold the old shared memory for a moment,
            // and someone else may be starting the same cluster; both settle quickly.
            let transient = log_tail.contains("pre-existing shared memory block")
                || (log_tail.contains("lock file") && log_tail.contains("already exists"));
            if transient && Instant::now() < stale_deadline {
                tracing::debug!("remains of an earlier server still present; retrying start");
                std::thread::sleep(Duration::from_millis(250));
                settings = Some(current);
                continue;
            }
            return Err(ClusterError::Start {
                data_dir: self.data_dir.clone(),
                status: out.status.to_string(),
                output: output_text(&out),
                log: self.log_file.clone(),
                log_tail,
            });
        }
    }

    /// The settings to start with: those recorded in the cluster, moved to the requested
    /// port if there is one, or new ones if the cluster was never configured (fresh, or
    /// interrupted between initdb and here). Also returns whether the port was picked here.
    fn configure(&self, opts: &ClusterOptions) -> Result<(Settings, bool), ClusterError> {
        let (settings, picked) = match conf::read_effective(&self.data_dir)? {
            Some(recorded) => match opts.port {
                Some(port) if port != recorded.port => {
                    // Keep a socket dir outside the data dir (it was chosen for a reason), but
                    // re-check the length when moving the socket into the data dir's port.
                    let socket_dir = if recorded.socket_dir == self.data_dir
                        && !conf::socket_path_fits(&self.data_dir, port)
                    {
                        conf::choose_socket_dir(&self.data_dir, port)
                    } else {
                        recorded.socket_dir.clone()
                    };
                    let moved = Settings {
                        port,
                        socket_dir,
                        fsync: recorded.fsync,
                    };
                    conf::write(&self.data_dir, &moved, &self.runner)?;
                    (moved, false)
                }
                _ => (recorded, false),
            },
            None => {
                let (port, picked) = match opts.port {
                    Some(port) => (port, false),
                    None => (conf::pick_free_port()?, true),
                };
                let fresh = Settings {
                    port,
                    socket_dir: conf::choose_socket_dir(&self.data_dir, port),
                    fsync: opts.fsync,
                };
                conf::write(&self.data_dir, &fresh, &self.runner)?;
                (fresh, picked)
            }
        };
        conf::ensure_socket_dir(&settings.socket_dir, &self.data_dir, &self.runner)?;
        Ok((settings, picked))
    }

    /// Waits while a server is starting or stopping. Returns the lock file of a server that
    /// is ready, or `None` if none is running (possibly leaving a stale lock file).
    fn wait_until_settled(&self) -> Result<Option<PidFile>, ClusterError> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match server_state(&self.data_dir)? {
                ServerState::Stopped | ServerState::Stale => return Ok(None),
                ServerState::Running(pid_file) if pid_file.status == PmStatus::Ready => {
                    return Ok(Some(pid_file));
                }
                ServerState::Running(_) | ServerState::Unreadable => {
                    if Instant::now() >= deadline {
                        return Err(ClusterError::NotReady {
                            data_dir: self.data_dir.clone(),
                            log: self.log_file.clone(),
                            secs: TIMEOUT.as_secs(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    /// Takes over a server that was already running: its lock file says where it listens,
    /// which beats our settings file should the two disagree.
    fn adopt(&mut self, opts: &ClusterOptions, pid_file: &PidFile) -> Result<(), ClusterError> {
        let recorded = conf::read_effective(&self.data_dir)?;
        let port = pid_file
            .port
            .or(recorded.as_ref().map(|s| s.port))
            .ok_or_else(|| ClusterError::BadConfig {
                path: self.data_dir.join(PID_FILE),
                data_dir: self.data_dir.clone(),
                problem: "the running server's lock file names no port".into(),
            })?;
        if let Some(wanted) = opts.port
            && wanted != port
        {
            return Err(ClusterError::PortMismatch {
                data_dir: self.data_dir.clone(),
                bin_dir: self.bin_dir.clone(),
                running: port,
                wanted,
            });
        }
        let socket_dir = pid_file
            .socket_dir
            .clone()
            .or(recorded.map(|s| s.socket_dir))
            .unwrap_or_else(|| self.data_dir.clone());
        tracing::info!(
            data_dir = %self.data_dir.display(),
            port,
            "private PostgreSQL cluster already running; using it"
        );
        self.port = port;
        self.socket_dir = socket_dir;
        self.started_by_us = false;
        Ok(())
    }

    /// Removes lock files left by a dead postmaster. PostgreSQL removes stale ones itself
    /// only when their pid is gone, not when it is a zombie or was reused (see
    /// [`os::postmaster_liveness`]); a file naming another data directory is left alone.
    fn clear_stale_locks(&self) -> Result<(), ClusterError> {
        let socket_lock = self.socket_dir.join(format!(".s.PGSQL.{}.lock", self.port));
        for lock in [self.data_dir.join(PID_FILE), socket_lock] {
            let Some(text) = read_optional(&lock)? else {
                continue;
            };
            let Some(parsed) = PidFile::parse(&text) else {
                continue; // half-written or foreign; let the server judge it
            };
            if !same_dir(&parsed.data_dir, &self.data_dir) {
                continue;
            }
            if os::postmaster_liveness(parsed.pid, &self.data_dir) == Liveness::Dead {
                tracing::info!(lock = %lock.display(), pid = parsed.pid, "removing stale lock file");
                match std::fs::remove_file(&lock) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(ClusterError::io("remove the stale lock file", lock, e)),
                }
            }
        }
        Ok(())
    }

    fn pg_ctl_stop(&self, mode: &str) -> Result<(), ClusterError> {
        if !matches!(server_state(&self.data_dir)?, ServerState::Running(_)) {
            // Nothing to stop. pg_ctl would fail here, or, for a zombie postmaster, wait for it
            // forever.
            return Ok(());
        }
        tracing::info!(data_dir = %self.data_dir.display(), mode, "stopping private PostgreSQL cluster");
        let out = self.pg_ctl(&[
            "-D".as_ref(),
            self.data_dir.as_os_str(),
            "-m".as_ref(),
            mode.as_ref(),
            "-w".as_ref(),
            "-t".as_ref(),
            TIMEOUT.as_secs().to_string().as_ref(),
            "stop".as_ref(),
        ])?;
        if out.status.success() || !matches!(server_state(&self.data_dir)?, ServerState::Running(_))
        {
            // The second case: it went away by other means while we were at it.
            return Ok(());
        }
        Err(ClusterError::Stop {
            data_dir: self.data_dir.clone(),
            status: out.status.to_string(),
            output: output_text(&out),
            log: self.log_file.clone(),
        })
    }

    fn pg_ctl(&self, args: &[&OsStr]) -> Result<Output, ClusterError> {
        self.runner.output(&self.bin_dir.join("pg_ctl"), args)
    }
}

/// Creates the data directory if needed and returns its canonical path, after checking that
/// the server's user can reach it.
fn prepare_data_dir(data_dir: &Path, runner: &Runner) -> Result<PathBuf, ClusterError> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| ClusterError::io("create the data directory", data_dir, e))?;
    let data_dir = std::fs::canonicalize(data_dir)
        .map_err(|e| ClusterError::io("resolve the data directory", data_dir, e))?;
    os::check_traversable(runner, &data_dir)?;
    Ok(data_dir)
}

fn initdb(
    bin_dir: &Path,
    data_dir: &Path,
    opts: &ClusterOptions,
    runner: &Runner,
) -> Result<(), ClusterError> {
    if let Some(owner) = runner.owner() {
        // initdb (running as postgres) must be able to fill the directory we just made.
        os::chown(data_dir, owner)?;
    }
    tracing::info!(data_dir = %data_dir.display(), "creating private PostgreSQL cluster");
    let superuser = format!("--username={}", opts.superuser);
    let mut args: Vec<&OsStr> = vec![
        "-D".as_ref(),
        data_dir.as_os_str(),
        superuser.as_ref(),
        "--auth-local=trust".as_ref(),
        "--auth-host=scram-sha-256".as_ref(),
        "--encoding=UTF8".as_ref(),
        "--locale=C.UTF-8".as_ref(),
    ];
    if !opts.fsync {
        args.push("--no-sync".as_ref());
    }
    let out = runner.output(&bin_dir.join("initdb"), &args)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ClusterError::Initdb {
            data_dir: data_dir.to_path_buf(),
            status: out.status.to_string(),
            output: output_text(&out),
        })
    }
}

/// Refuses, with advice, a data directory from another major version; the server would only
/// say "database files are incompatible with server" in its log.
fn check_version(bin_dir: &Path, data_dir: &Path) -> Result<(), ClusterError> {
    let path = data_dir.join("PG_VERSION");
    let data_version = std::fs::read_to_string(&path)
        .map_err(|e| ClusterError::io("read", &path, e))?
        .trim()
        .to_string();
    match bin::major_version(bin_dir) {
        Some(bin_version) if bin_version != data_version => Err(ClusterError::VersionMismatch {
            data_dir: data_dir.to_path_buf(),
            data_version,
            bin_dir: bin_dir.to_path_buf(),
            bin_version,
        }),
        _ => Ok(()),
    }
}

/// The postmaster's status line in postmaster.pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PmStatus {
    Starting,
    Ready,
    Stopping,
}

/// The parts of postmaster.pid (or a socket lock file, which starts the same way) we use.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PidFile {
    pid: i64,
    data_dir: PathBuf,
    port: Option<u16>,
    socket_dir: Option<PathBuf>,
    status: PmStatus,
}

impl PidFile {
    /// Line 1 pid, 2 data dir, 3 start time, 4 port, 5 first socket dir, 6 listen address,
    /// 7 shared memory key, 8 status ("starting", "ready", "standby", "stopping").
    fn parse(text: &str) -> Option<PidFile> {
        let lines: Vec<&str> = text.lines().collect();
        let pid = lines.first()?.trim().parse().ok()?;
        let data_dir = PathBuf::from(lines.get(1)?.trim_end());
        let port = lines.get(3).and_then(|l| l.trim().parse().ok());
        let socket_dir = lines
            .get(4)
            .map(|l| l.trim_end())
            .filter(|l| !l.is_empty())
            .map(PathBuf::from);
        let status = match lines.get(7).map(|l| l.trim()) {
            Some("ready" | "standby") => PmStatus::Ready,
            Some("stopping") => PmStatus::Stopping,
            _ => PmStatus::Starting,
        };
        Some(PidFile {
            pid,
            data_dir,
            port,
            socket_dir,
            status,
        })
    }
}

/// Whether a server runs in a data directory, judged from postmaster.pid.
#[derive(Debug)]
enum ServerState {
    /// No lock file.
    Stopped,
    /// A lock file whose postmaster is dead.
    Stale,
    /// A live postmaster.
    Running(PidFile),
    /// A lock file we cannot parse, probably being written right now.
    Unreadable,
}

fn server_state(data_dir: &Path) -> Result<ServerState, ClusterError> {
    let Some(text) = read_optional(&data_dir.join(PID_FILE))? else {
        return Ok(ServerState::Stopped);
    };
    let Some(pid_file) = PidFile::parse(&text) else {
        return Ok(ServerState::Unreadable);
    };
    Ok(match os::postmaster_liveness(pid_file.pid, data_dir) {
        Liveness::Dead => ServerState::Stale,
        Liveness::Alive => ServerState::Running(pid_file),
    })
}

fn read_optional(path: &Path) -> Result<Option<String>, ClusterError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ClusterError::io("read", path, e)),
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b || std::fs::canonicalize(a).is_ok_and(|a| a == b)
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// The last `lines` lines written to the log since `offset`, so a failure quotes this attempt
/// rather than an old one.
fn log_tail_since(log: &Path, offset: u64, lines: usize) -> String {
    let Ok(bytes) = std::fs::read(log) else {
        return "(the log file could not be read)".into();
    };
    // A log shorter than before was replaced; then all of it is new.
    let start = usize::try_from(offset)
        .ok()
        .filter(|&o| o <= bytes.len())
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&bytes[start..]);
    let all: Vec<&str> = text.lines().collect();
    if all.is_empty() {
        return "(nothing was logged)".into();
    }
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A failed command's stderr, or its stdout if stderr is empty.
fn output_text(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if stderr.is_empty() {
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    } else {
        stderr
    }
}
