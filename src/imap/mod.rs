//! A deliberately small IMAP front end for the foundation: greeting,
//! CAPABILITY, NOOP, LOGIN and LOGOUT, so that dev mode is a real server a
//! client can log in to. Every other command is answered honestly with
//! `NO [CANNOT]` until the full IMAP issue replaces this module with the real
//! framer, parser and session machine.

mod line;
pub mod listmatch;
pub mod proto;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

use crate::auth::Secret;
use crate::config::{Config, PlaintextPasswords};

/// What every connection shares.
#[derive(Clone)]
pub struct ServerState {
    /// The runtime role's pool.
    pub pool: deadpool_postgres::Pool,
    /// The configuration, fixed after startup.
    pub config: Arc<Config>,
}

/// Serves one connection until LOGOUT or EOF.
pub async fn serve(stream: TcpStream, peer: SocketAddr, state: ServerState) {
    use tracing::Instrument as _;
    let span = tracing::info_span!("imap", %peer);
    if let Err(e) = session(stream, &state).instrument(span).await {
        tracing::debug!(error = %e, "connection ended");
    }
}

fn capabilities(state: &ServerState) -> &'static str {
    // Without TLS (not built yet) a cleartext LOGIN is only allowed when the
    // operator said so; otherwise RFC 3501 §6.2.3 wants LOGINDISABLED.
    if state.config.allow_plaintext_passwords() == PlaintextPasswords::Always {
        "IMAP4rev1"
    } else {
        "IMAP4rev1 LOGINDISABLED"
    }
}

async fn session(stream: TcpStream, state: &ServerState) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let max = state.config.max_line_length() as usize;
    let mut reader = BufReader::new(read).take(max as u64 + 2);
    write
        .write_all(
            format!(
                "* OK [CAPABILITY {}] archiveopteryx ready\r\n",
                capabilities(state)
            )
            .as_bytes(),
        )
        .await?;
    let mut user: Option<String> = None;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        reader.set_limit(max as u64 + 2);
        if reader.read_until(b'\n', &mut buf).await? == 0 {
            return Ok(());
        }
        if !buf.ends_with(b"\n") {
            write.write_all(b"* BYE line too long\r\n").await?;
            return Ok(());
        }
        let text = String::from_utf8_lossy(&buf);
        let Some(cmd) = line::parse(text.trim_end_matches(['\r', '\n'])) else {
            write
                .write_all(b"* BAD could not parse the command\r\n")
                .await?;
            continue;
        };
        let tag = cmd.tag;
        let reply = match (cmd.name.as_str(), &user) {
            ("CAPABILITY", _) => {
                format!("* CAPABILITY {}\r\n{tag} OK done\r\n", capabilities(state))
            }
            ("NOOP", _) => format!("{tag} OK done\r\n"),
            ("LOGOUT", _) => {
                write
                    .write_all(format!("* BYE logging out\r\n{tag} OK done\r\n").as_bytes())
                    .await?;
                return Ok(());
            }
            ("LOGIN", None) => {
                let (reply, who) = login(state, tag, &cmd.args).await;
                user = who;
                reply
            }
            ("LOGIN", Some(_)) => format!("{tag} BAD already logged in\r\n"),
            (_, None) => format!(
                "{tag} NO [CANNOT] {} is not supported yet; only LOGIN works\r\n",
                cmd.name
            ),
            (_, Some(_)) => format!("{tag} NO [CANNOT] {} is not supported yet\r\n", cmd.name),
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

async fn login(state: &ServerState, tag: &str, args: &[String]) -> (String, Option<String>) {
    if state.config.allow_plaintext_passwords() != PlaintextPasswords::Always {
        return (
            format!("{tag} NO [PRIVACYREQUIRED] plaintext passwords are disabled\r\n"),
            None,
        );
    }
    let [login, password] = args else {
        return (
            format!("{tag} BAD LOGIN takes a user name and a password\r\n"),
            None,
        );
    };
    let client = match state.pool.get().await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "no database connection for LOGIN");
            return (
                format!("{tag} NO [UNAVAILABLE] the database is unavailable\r\n"),
                None,
            );
        }
    };
    match crate::store::auth::check_password(&**client, login, &Secret::new(password.clone())).await
    {
        Ok(true) => {
            tracing::info!(user = %login, "logged in");
            (
                format!("{tag} OK [CAPABILITY IMAP4rev1] logged in\r\n"),
                Some(login.clone()),
            )
        }
        Ok(false) => {
            tracing::info!(user = %login, "login failed");
            (
                format!("{tag} NO [AUTHENTICATIONFAILED] invalid credentials\r\n"),
                None,
            )
        }
        Err(e) => {
            tracing::warn!(error = %e, "LOGIN lookup failed");
            (
                format!("{tag} NO [UNAVAILABLE] the database is unavailable\r\n"),
                None,
            )
        }
    }
}
