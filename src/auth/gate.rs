//! The async side of authentication for the front ends: the lookups a SASL
//! exchange asks for, the failed-login throttle's wait before each check,
//! and the log line of every failure (remote address and login, never the
//! secret).

use std::net::SocketAddr;

use super::Secret;
use super::sasl::{Exchange, Outcome, Refusal, Step};
use super::throttle::Throttle;
use super::verify::{Verdict, Verified};
use crate::store::StoreError;

/// Why a secret could not be checked. The client learns only that the
/// service is unavailable.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// No database connection.
    #[error("no database connection: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The query failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database or the LDAP directory could not answer.
    #[error("{}", .0.text())]
    Unavailable(super::verify::Unavailable),
}

/// Checks a cleartext password: the one function every cleartext path
/// (IMAP LOGIN, SASL PLAIN and LOGIN, POP3 USER/PASS) goes through. A user
/// with a local password is checked locally, anyone else against LDAP when
/// it is configured ([`super::verify`]). The account found, whose login may
/// differ from the one typed (a directory user logging in by address), or
/// None for wrong credentials.
pub async fn check_cleartext(
    pool: &deadpool_postgres::Pool,
    config: &crate::config::Config,
    login: &str,
    password: &Secret,
) -> Result<Option<Verified>, CheckError> {
    match super::verify::verify(pool, config, login, password).await {
        Verdict::Accepted(account) => Ok(Some(account)),
        Verdict::Refused => Ok(None),
        Verdict::Unavailable(what) => Err(CheckError::Unavailable(what)),
    }
}

/// The SCRAM-SHA-256 verifier stored for `login`, if any.
async fn scram_verifier(
    pool: &deadpool_postgres::Pool,
    login: &str,
) -> Result<Option<String>, CheckError> {
    let client = pool.get().await?;
    Ok(crate::store::auth::scram_verifier(&**client, login).await?)
}

/// One connection's way to authenticate.
pub struct Gate<'a> {
    /// The runtime pool.
    pub pool: &'a deadpool_postgres::Pool,
    /// The process's failure table.
    pub throttle: &'a Throttle,
    /// The configuration (LDAP settings).
    pub config: &'a crate::config::Config,
    /// Who is connecting.
    pub peer: SocketAddr,
}

impl Gate<'_> {
    /// Performs the lookups `step` asks for until the exchange needs the
    /// client again (a [`Step::Challenge`]) or is over ([`Step::Done`]). A
    /// failure is counted, logged and its reply delayed here.
    pub async fn advance(&self, exchange: &mut Exchange, mut step: Step) -> Step {
        // The account's own login, when a password check found one under
        // another form of the name.
        let mut account_login = None;
        loop {
            step = match step {
                Step::CheckPassword { login, password } => {
                    self.hold(&login).await;
                    let checked = check_cleartext(self.pool, self.config, &login, &password).await;
                    if let Ok(Some(account)) = &checked {
                        account_login = Some(account.login.clone());
                    }
                    exchange.password_checked(self.answer(checked.map(|a| a.is_some()), &login))
                }
                Step::FetchVerifier { login } => {
                    // SCRAM is held back before the server-first: without
                    // it the client cannot make a proof at all.
                    self.hold(&login).await;
                    let found = scram_verifier(self.pool, &login).await;
                    let found = match &found {
                        Ok(v) => Ok(v.as_deref()),
                        Err(e) => {
                            tracing::warn!(error = %e, login = ?login, "cannot look up a SCRAM verifier");
                            Err(())
                        }
                    };
                    exchange.verifier(found)
                }
                Step::Done(mut outcome) => {
                    if let (Outcome::Success { login }, Some(account)) =
                        (&mut outcome, account_login.take())
                    {
                        *login = account;
                    }
                    self.settle(&outcome, exchange.mechanism().name());
                    return Step::Done(outcome);
                }
                challenge @ Step::Challenge(_) => return challenge,
            }
        }
    }

    /// A cleartext login outside SASL (IMAP LOGIN, POP3 USER/PASS).
    pub async fn cleartext(&self, method: &str, login: &str, password: &Secret) -> Outcome {
        self.hold(login).await;
        let checked = check_cleartext(self.pool, self.config, login, password).await;
        let outcome = match self.answer(checked, login) {
            Some(Some(account)) => Outcome::Success {
                login: account.login,
            },
            Some(None) => Outcome::Refused(Refusal::Failed {
                login: login.to_owned(),
            }),
            None => Outcome::Refused(Refusal::Unavailable),
        };
        self.settle(&outcome, method);
        outcome
    }

    fn answer<T>(&self, checked: Result<T, CheckError>, login: &str) -> Option<T> {
        checked
            .inspect_err(|e| {
                tracing::warn!(error = %e, login = ?login, peer = %self.peer, "cannot check a password");
            })
            .ok()
    }

    /// Waits as long as earlier failures from this address or for this
    /// login ask (see `throttle`).
    async fn hold(&self, login: &str) {
        let delay = self.throttle.delay(self.peer.ip(), login);
        if !delay.is_zero() {
            tracing::info!(peer = %self.peer, login = ?login, delay_ms = delay.as_millis() as u64, "delaying a login attempt after failures");
            tokio::time::sleep(delay).await;
        }
    }

    /// Counts and logs a failure; clears the login's count on success.
    fn settle(&self, outcome: &Outcome, method: &str) {
        match outcome {
            Outcome::Success { login } => self.throttle.succeeded(login),
            Outcome::Refused(Refusal::Failed { login }) => {
                let penalty = self.throttle.failed(self.peer.ip(), login);
                // The login is the client's text: Debug quotes and escapes it.
                tracing::warn!(
                    peer = %self.peer,
                    login = ?login,
                    method,
                    failures = penalty.failures,
                    next_delay_ms = penalty.next_delay.as_millis() as u64,
                    "authentication failed"
                );
            }
            Outcome::Refused(Refusal::OtherIdentity { login }) => {
                tracing::info!(peer = %self.peer, login = ?login, method, "refused: authorisation identity other than the login");
            }
            Outcome::Refused(Refusal::Unavailable) => {
                tracing::warn!(peer = %self.peer, method, "authentication unavailable");
            }
            Outcome::Refused(Refusal::Malformed(why)) => {
                tracing::info!(peer = %self.peer, method, why, "malformed authentication exchange");
            }
            Outcome::Refused(Refusal::Cancelled) => {
                tracing::debug!(peer = %self.peer, method, "authentication cancelled");
            }
        }
    }
}
