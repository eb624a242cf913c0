//! `archiveopteryx`: the server.

use std::path::PathBuf;

use clap::Parser;

use archiveopteryx::config::{self, Config};
use archiveopteryx::store::{Db, DbRole};
use archiveopteryx::{dev, server};

/// A PostgreSQL-centric archival mail server.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The configuration file.
    #[arg(short = 'c', long = "config", value_name = "FILE", default_value = config::DEFAULT_CONFIG_FILE)]
    config: PathBuf,
    /// Dev mode: run a private PostgreSQL cluster in --data-dir, install the
    /// schema, create a demo user and serve on loopback ports (IMAP 1143).
    #[arg(long)]
    dev: bool,
    /// Where dev mode keeps its cluster and config.
    #[arg(long, value_name = "DIR", default_value = "dev-data", requires = "dev")]
    data_dir: PathBuf,
    /// Make the startup checks (config, database, schema revision, privileges) and exit.
    #[arg(long)]
    check: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("archiveopteryx: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("archiveopteryx: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    // Exactly one rustls provider for the process (ring); see deps-and-style §A.4.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let dev_instance = if args.dev {
        init_tracing(config::LogLevel::Info);
        Some(dev::prepare(&args.data_dir).await?)
    } else {
        None
    };
    let config_path = dev_instance
        .as_ref()
        .map_or(args.config.clone(), |d| d.config_path.clone());
    let config: Config = config::load(&config_path)?;
    if dev_instance.is_none() {
        init_tracing(config.log_level());
    }

    let result = serve(&args, config).await;
    if let Some(instance) = dev_instance {
        instance.stop();
    }
    result
}

async fn serve(args: &Args, config: Config) -> anyhow::Result<()> {
    let db = Db::from_config(&config, DbRole::Runtime);
    let revision = server::check_database(&db).await?;
    tracing::info!(revision, "database schema checked");
    if args.check {
        archiveopteryx::auth::ldap::check_config(&config)?;
        println!("archiveopteryx: configuration, database and schema revision {revision} are fine");
        return Ok(());
    }

    let listeners = server::Listeners::bind(&config).await?;
    let state = server::shared_state(config, &db)?;
    server::run(listeners, state, shutdown_signal()).await;
    tracing::info!("shut down");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => tracing::info!("interrupted; shutting down"),
        () = term => tracing::info!("terminated; shutting down"),
    }
}

fn init_tracing(level: config::LogLevel) {
    let _ = tracing_subscriber::fmt()
        .with_max_level(level.tracing_level())
        .with_writer(std::io::stderr)
        .try_init();
}
