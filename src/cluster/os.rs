//! The operating-system side: who runs the server, ownership, and whether a postmaster lives.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::ClusterError;
use super::bin::on_path;

/// The OS user PostgreSQL runs as when we are root.
pub(crate) const POSTGRES_OS_USER: &str = "postgres";

/// Environment variables that could steer the server or pg_ctl away from the settings we chose
/// (the server takes its default port from PGPORT, for instance).
const SCRUBBED_ENV: &[&str] = &[
    "PGDATA",
    "PGPORT",
    "PGHOST",
    "PGHOSTADDR",
    "PGOPTIONS",
    "PGUSER",
    "PGDATABASE",
    "PGPASSWORD",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGSYSCONFDIR",
    "PGTZ",
    "PGCLIENTENCODING",
];

/// The uid and gid the server's files must belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// How PostgreSQL's programs are run: directly, or (when we are root, which initdb, pg_ctl and
/// postgres all refuse) as the `postgres` OS user.
#[derive(Debug, Clone)]
pub(crate) enum Runner {
    /// Run programs as ourselves.
    Direct,
    /// `runuser -u postgres -- program args...`
    Runuser { runuser: PathBuf, owner: Owner },
    /// `su postgres -s /bin/sh -c 'exec program args...'`, where runuser is missing.
    Su { su: PathBuf, owner: Owner },
}

impl Runner {
    /// Decides how to run the server for the current effective user.
    pub(crate) fn for_current_user() -> Result<Runner, ClusterError> {
        if !is_root() {
            return Ok(Runner::Direct);
        }
        let owner = lookup_user(POSTGRES_OS_USER)
            .map_err(|e| ClusterError::io("look up the OS user", POSTGRES_OS_USER, e))?
            .ok_or(ClusterError::NoPostgresUser)?;
        if let Some(runuser) = find_tool("runuser", &["/usr/sbin/runuser", "/sbin/runuser"]) {
            return Ok(Runner::Runuser { runuser, owner });
        }
        if let Some(su) = find_tool("su", &["/bin/su", "/usr/bin/su"]) {
            return Ok(Runner::Su { su, owner });
        }
        Err(ClusterError::NoUserSwitcher)
    }

    /// Whom files must belong to so the server can use them; `None` when we run it as
    /// ourselves, so that whatever we create is already right.
    pub(crate) fn owner(&self) -> Option<Owner> {
        match self {
            Runner::Direct => None,
            Runner::Runuser { owner, .. } | Runner::Su { owner, .. } => Some(*owner),
        }
    }

    /// Runs `program args` as the server's user and collects its output.
    ///
    /// stdin is /dev/null so nothing can prompt, and the working directory is `/` because
    /// PostgreSQL's tools complain when the `postgres` user cannot access the inherited one
    /// (typically /root).
    pub(crate) fn output(&self, program: &Path, args: &[&OsStr]) -> Result<Output, ClusterError> {
        let mut command = match self {
            Runner::Direct => {
                let mut c = Command::new(program);
                c.args(args);
                c
            }
            Runner::Runuser { runuser, .. } => {
                let mut c = Command::new(runuser);
                c.args(["-u", POSTGRES_OS_USER, "--"])
                    .arg(program)
                    .args(args);
                c
            }
            Runner::Su { su, .. } => {
                let mut script = OsString::from("exec");
                for word in std::iter::once(program.as_os_str()).chain(args.iter().copied()) {
                    script.push(" ");
                    script.push(shell_quote(word));
                }
                let mut c = Command::new(su);
                c.args([POSTGRES_OS_USER, "-s", "/bin/sh", "-c"])
                    .arg(script);
                c
            }
        };
        for var in SCRUBBED_ENV {
            command.env_remove(var);
        }
        command
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .map_err(|source| ClusterError::Spawn {
                program: program.to_path_buf(),
                source,
            })
    }
}

fn find_tool(name: &str, fallbacks: &[&str]) -> Option<PathBuf> {
    on_path(name).or_else(|| fallbacks.iter().map(PathBuf::from).find(|p| p.is_file()))
}

/// Single-quotes a word for /bin/sh.
fn shell_quote(word: &OsStr) -> OsString {
    let mut bytes = Vec::with_capacity(word.len() + 2);
    bytes.push(b'\'');
    for &b in word.as_bytes() {
        if b == b'\'' {
            bytes.extend_from_slice(b"'\\''");
        } else {
            bytes.push(b);
        }
    }
    bytes.push(b'\'');
    OsStr::from_bytes(&bytes).to_os_string()
}

/// True if we run with effective uid 0.
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Our own effective uid.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// Looks up a user's uid and primary gid with the reentrant getpwnam_r, since tests start
/// clusters from several threads at once.
pub(crate) fn lookup_user(name: &str) -> io::Result<Option<Owner>> {
    let cname = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "user name contains NUL"))?;
    let mut buf: Vec<libc::c_char> = vec![0; 4096];
    loop {
        // SAFETY: passwd is a plain C struct for which all-zero bytes are a valid value.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer refers to live, correctly sized storage owned by this frame,
        // and buf.len() is the true length of buf.
        let rc = unsafe {
            libc::getpwnam_r(
                cname.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < (1 << 20) {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        if result.is_null() {
            return Ok(None);
        }
        return Ok(Some(Owner {
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
        }));
    }
}

/// Gives `path` (not recursively) to `owner`.
pub(crate) fn chown(path: &Path, owner: Owner) -> Result<(), ClusterError> {
    let cpath = c_path(path).map_err(|e| ClusterError::io("change the owner of", path, e))?;
    // SAFETY: cpath is a valid NUL-terminated string that outlives the call.
    let rc = unsafe { libc::chown(cpath.as_ptr(), owner.uid, owner.gid) };
    if rc == 0 {
        Ok(())
    } else {
        Err(ClusterError::io(
            "change the owner of",
            path,
            io::Error::last_os_error(),
        ))
    }
}

/// When the server runs as another user, checks that it can reach `data_dir`, i.e. that it may
/// search every directory above it. We only report, never chmod: those are the user's
/// directories.
///
/// The mode bits give a quick answer; when they say no, the real test (`test -x` as that user)
/// has the last word, so ACLs and supplementary groups are honoured.
pub(crate) fn check_traversable(runner: &Runner, data_dir: &Path) -> Result<(), ClusterError> {
    let Some(owner) = runner.owner() else {
        return Ok(());
    };
    for dir in data_dir.ancestors().skip(1) {
        let meta = std::fs::metadata(dir)
            .map_err(|e| ClusterError::io("inspect the directory", dir, e))?;
        if searchable_by_mode(&meta, owner) {
            continue;
        }
        let really = runner
            .output(Path::new("test"), &[OsStr::new("-x"), dir.as_os_str()])
            .map(|out| out.status.success())
            .unwrap_or(false);
        if !really {
            return Err(ClusterError::NotTraversable {
                dir: dir.to_path_buf(),
                data_dir: data_dir.to_path_buf(),
            });
        }
    }
    Ok(())
}

fn searchable_by_mode(meta: &std::fs::Metadata, owner: Owner) -> bool {
    let mode = meta.mode();
    // As in the kernel: the owner class applies if the uid matches, else the group class if
    // the gid matches, else "other"; the classes do not combine.
    if meta.uid() == owner.uid {
        mode & 0o100 != 0
    } else if meta.gid() == owner.gid {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    }
}

/// Whether the process named in a lock file is a postmaster serving `data_dir`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Liveness {
    Alive,
    Dead,
}

/// Decides whether `pid` is a live postmaster for `data_dir`.
///
/// PostgreSQL (and pg_ctl status) only ask `kill(pid, 0)`, which is not enough here: a killed
/// postmaster whose parent never reaps it (pg_ctl has exited, and PID 1 in some containers
/// does not reap orphans) stays a zombie, and `kill` happily succeeds on zombies; after a
/// reboot the pid may also belong to an unrelated process. On Linux we therefore look at
/// /proc: a zombie is dead, and a live process is only our postmaster if its working directory
/// is the data directory (the postmaster and its children chdir there).
pub(crate) fn postmaster_liveness(pid: i64, data_dir: &Path) -> Liveness {
    let Ok(pid) = i32::try_from(pid.unsigned_abs()) else {
        return Liveness::Dead;
    };
    if pid <= 0 {
        // kill(0, ...) would mean our own process group; no postmaster has pid 0.
        return Liveness::Dead;
    }
    if Path::new("/proc/self/stat").exists() {
        liveness_from_proc(pid, data_dir)
    } else {
        liveness_from_kill(pid)
    }
}

fn liveness_from_proc(pid: i32, data_dir: &Path) -> Liveness {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let stat = match std::fs::read_to_string(proc_dir.join("stat")) {
        Ok(stat) => stat,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Liveness::Dead,
        Err(_) => return liveness_from_kill(pid),
    };
    // The state letter follows the command name, which is in parentheses and may itself
    // contain ") ", hence the last one.
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    if matches!(state, Some("Z" | "X" | "x")) {
        return Liveness::Dead;
    }
    match (
        std::fs::metadata(proc_dir.join("cwd")),
        std::fs::metadata(data_dir),
    ) {
        (Ok(cwd), Ok(data)) => {
            if cwd.dev() == data.dev() && cwd.ino() == data.ino() {
                Liveness::Alive
            } else {
                Liveness::Dead
            }
        }
        (Err(e), _) if e.kind() == io::ErrorKind::NotFound => Liveness::Dead,
        // Someone else's process that we may not inspect: assume it is a server, because
        // wrongly declaring a live server dead would have us delete its lock files.
        _ => Liveness::Alive,
    }
}

fn liveness_from_kill(pid: i32) -> Liveness {
    // SAFETY: signal 0 only checks for existence and permission; pid is > 0, so this never
    // addresses a process group.
    let rc = unsafe { libc::kill(pid, 0) };
    if rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH) {
        Liveness::Alive
    } else {
        Liveness::Dead
    }
}

/// Our uid, or the server user's when we run it as someone else: the owner anything we create
/// for the server must have.
pub(crate) fn server_uid(runner: &Runner) -> u32 {
    runner.owner().map_or_else(effective_uid, |o| o.uid)
}
