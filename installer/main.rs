//! `aox-installer`: creates the database roles, the database, its extensions
//! and schema, grants the runtime role its privileges, and writes the config
//! files. Safe to run again: it changes only what is missing.

use std::path::PathBuf;
use std::str::FromStr as _;

use anyhow::Context as _;
use clap::Parser;

use archiveopteryx::config::DEFAULT_CONFIG_DIR;
use archiveopteryx::install::{self, InstallOptions};
use archiveopteryx::store::Db;

/// Install Archiveopteryx into a PostgreSQL cluster.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Print what would be done; change nothing.
    #[arg(short = 'n')]
    dry_run: bool,
    /// Where archiveopteryx.conf and aoxsuper.conf are written.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_CONFIG_DIR)]
    config_dir: PathBuf,
    /// The PostgreSQL server: a host name or address, or a Unix-socket directory.
    #[arg(
        long,
        value_name = "HOST_OR_SOCKET_DIR",
        default_value = "/var/run/postgresql"
    )]
    db_address: String,
    /// The PostgreSQL port.
    #[arg(long, value_name = "N", default_value_t = 5432)]
    db_port: u16,
    /// The PostgreSQL superuser to connect as.
    #[arg(long, value_name = "NAME", default_value = "postgres")]
    superuser: String,
    /// A postgresql:// URL for the superuser connection instead of the three options above.
    #[arg(long, value_name = "URL", conflicts_with_all = ["db_address", "superuser"])]
    url: Option<String>,
    /// The database to create.
    #[arg(long, value_name = "NAME", default_value = "archiveopteryx")]
    db_name: String,
    /// The runtime role the server uses.
    #[arg(long, value_name = "NAME", default_value = "aox")]
    db_user: String,
    /// The owner role (schema upgrades, administration).
    #[arg(long, value_name = "NAME", default_value = "aoxsuper")]
    db_owner: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aox-installer: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let socket = args.url.is_none() && args.db_address.starts_with('/');
    let mut pg = match &args.url {
        Some(url) => tokio_postgres::Config::from_str(url).context("--url")?,
        None => {
            let mut pg = tokio_postgres::Config::new();
            if socket {
                pg.host_path(&args.db_address);
            } else {
                pg.host(&args.db_address);
            }
            pg.user(&args.superuser);
            pg
        }
    };
    if args.url.is_none() {
        pg.port(args.db_port);
    }
    // Over a Unix socket as root, PostgreSQL's peer authentication expects
    // the OS user of the same name as the superuser (Debian's default).
    let peer_identity = if socket && unsafe { libc::geteuid() } == 0 {
        os_identity(&args.superuser)
    } else {
        None
    };

    // The server connects over TCP with a password, never over the socket,
    // so its config names the loopback address when we came in by socket.
    let config_db_address = if socket || args.url.is_some() {
        "127.0.0.1".to_string()
    } else {
        args.db_address.clone()
    };
    let options = InstallOptions {
        superuser: Db::from_pg_config(pg),
        config_dir: args.config_dir.clone(),
        db_name: args.db_name.clone(),
        db_user: args.db_user.clone(),
        db_owner: args.db_owner.clone(),
        config_db_address,
        config_db_port: args.db_port,
        extra_config: Vec::new(),
        dry_run: args.dry_run,
        peer_identity,
    };
    let report = install::install(&options).await?;
    if report.actions.is_empty() {
        println!(
            "Nothing to do: database {} is installed at schema revision {} and {} is in place.",
            args.db_name,
            archiveopteryx::store::schema::REVISION,
            args.config_dir.join(install::CONFIG_FILE).display()
        );
    } else {
        for action in &report.actions {
            println!("{action}");
        }
        if args.dry_run {
            println!("(dry run: nothing was changed)");
        }
    }
    Ok(())
}

/// The uid and gid of an OS user, if there is one by that name.
fn os_identity(name: &str) -> Option<(u32, u32)> {
    let cname = std::ffi::CString::new(name).ok()?;
    // SAFETY: getpwnam returns null or a pointer to static storage we read at once.
    let pw = unsafe { libc::getpwnam(cname.as_ptr()) };
    if pw.is_null() {
        return None;
    }
    // SAFETY: pw is non-null and points to a valid passwd entry.
    unsafe { Some(((*pw).pw_uid, (*pw).pw_gid)) }
}
