//! LOGIN (RFC 9051 §6.2.3) and AUTHENTICATE (RFC 9051 §6.2.2) with SASL-IR
//! (RFC 4959): the exchange itself is `crate::auth::sasl`; this file turns
//! its steps into continuations and tagged replies with RFC 5530 codes.

use super::{Done, Pending, Session, User};
use crate::auth::Secret;
use crate::auth::sasl::{Exchange, Mechanism, Outcome, Refusal, Step};

const PRIVACY: &str = "plaintext passwords are not allowed without TLS";

impl Session {
    pub(super) async fn login(&mut self, login: &str, password: String) -> Done {
        if !self.plaintext_ok() {
            return Done::no("PRIVACYREQUIRED", PRIVACY);
        }
        let outcome = self
            .state
            .gate(self.peer)
            .cleartext("LOGIN", login, &Secret::new(password))
            .await;
        self.concluded(outcome).await
    }

    /// Starts AUTHENTICATE; None when a continuation was sent and the
    /// client's response is awaited.
    pub(super) async fn authenticate(
        &mut self,
        tag: &str,
        mechanism: &str,
        initial: Option<String>,
    ) -> Option<Done> {
        let end_point = self.end_point();
        let usable = |m: Mechanism| m.usable(self.plaintext_ok(), end_point.is_some());
        let mechanism = match Mechanism::named(mechanism) {
            Some(m) if usable(m) => m,
            Some(m) if m.sends_cleartext() => {
                return Some(Done::no("PRIVACYREQUIRED", PRIVACY));
            }
            _ => {
                let offered: Vec<&str> =
                    Mechanism::offered(self.plaintext_ok(), end_point.is_some()).collect();
                return Some(Done::no(
                    "CANNOT",
                    format!(
                        "the {mechanism} mechanism is not available here; use {}",
                        offered.join(" or ")
                    ),
                ));
            }
        };
        let mut exchange = Exchange::new(mechanism, end_point.as_deref());
        let step = exchange.start(initial.as_deref().map(str::as_bytes));
        self.sasl_step(tag, exchange, step).await
    }

    /// The client's line in answer to a continuation.
    pub(super) async fn authenticate_response(
        &mut self,
        tag: &str,
        mut exchange: Box<Exchange>,
        line: &[u8],
    ) {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let step = exchange.response(line);
        if let Some(done) = self.sasl_step(tag, *exchange, step).await {
            self.finish(tag, done);
        }
    }

    /// Runs the exchange until it needs the client (a `+` continuation is
    /// written and None returned) or ends (its tagged reply is returned).
    async fn sasl_step(&mut self, tag: &str, mut exchange: Exchange, step: Step) -> Option<Done> {
        match self
            .state
            .gate(self.peer)
            .advance(&mut exchange, step)
            .await
        {
            Step::Challenge(data) => {
                crate::auth::sasl::write_challenge(&mut self.out, &data);
                self.pending = Some(Pending::Authenticate {
                    tag: tag.to_owned(),
                    exchange: Box::new(exchange),
                });
                None
            }
            Step::Done(outcome) => Some(self.concluded(outcome).await),
            // `advance` performs the lookups itself; these cannot come back.
            Step::CheckPassword { .. } | Step::FetchVerifier { .. } => Some(Done::no(
                "UNAVAILABLE",
                "authentication went wrong; try again",
            )),
        }
    }

    /// The reply to a finished exchange (RFC 5530 codes); on success the
    /// session becomes authenticated.
    async fn concluded(&mut self, outcome: Outcome) -> Done {
        let login = match outcome {
            Outcome::Success { login } => login,
            Outcome::Refused(Refusal::Failed { .. }) => {
                return Done::no("AUTHENTICATIONFAILED", "invalid credentials");
            }
            Outcome::Refused(Refusal::OtherIdentity { .. }) => {
                return Done::no(
                    "AUTHORIZATIONFAILED",
                    "acting as another user is not supported",
                );
            }
            Outcome::Refused(Refusal::Unavailable) => {
                return Done::no("UNAVAILABLE", "authentication is unavailable; try again");
            }
            Outcome::Refused(Refusal::Malformed(why)) => return Done::bad(why),
            Outcome::Refused(Refusal::Cancelled) => {
                return Done::bad("authentication cancelled");
            }
        };
        let client = match self.db().await {
            Ok(c) => c,
            Err(done) => return done,
        };
        let id = match crate::store::users::user_id(&**client, &login).await {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(error = %e, "user lookup failed after a good password");
                return Done::no("UNAVAILABLE", "the database is unavailable; try again");
            }
        };
        tracing::info!(user = %login, peer = %self.peer, "logged in");
        self.user = Some(User { id, login });
        let caps = self.capabilities();
        Done::ok_code(format!("CAPABILITY {caps}"), "logged in")
    }
}
