//! USER/PASS (RFC 1939 §7), AUTH PLAIN with an initial response (RFC 5034
//! §4, RFC 4616) and STLS (RFC 2595 §4); on success, the maildrop snapshot
//! that starts the TRANSACTION state.

use super::{Maildrop, Next, Phase, Session};
use crate::auth::Secret;
use crate::auth::sasl::{Exchange, Mechanism, Outcome, Refusal, Step};
use crate::store::StoreError;

/// RFC 2595 §2.3 / RFC 3206 §4: a password refused for want of TLS. `AUTH`
/// because retrying the same credentials will not help, while STLS will.
const NEEDS_TLS: &str = "plaintext passwords are not allowed without TLS; use STLS first";

impl Session {
    pub(super) fn stls(&mut self) -> Next {
        if self.tls {
            self.err(None, "TLS is already active");
        } else if self.state.tls.is_none() {
            self.err(None, "no TLS certificate is configured");
        } else {
            self.ok("begin TLS negotiation");
            return Next::StartTls;
        }
        Next::Continue
    }

    pub(super) fn user(&mut self, name: String) {
        // Refused at USER, so the client never sends the password in clear.
        if !self.plaintext_ok() {
            self.err(Some("AUTH"), NEEDS_TLS);
            return;
        }
        self.ok("send PASS");
        self.phase = Phase::Authorization { user: Some(name) };
    }

    pub(super) async fn pass(&mut self, login: &str, password: String) {
        if !self.plaintext_ok() {
            self.err(Some("AUTH"), NEEDS_TLS);
            return;
        }
        self.login(login, Secret::new(password)).await;
    }

    /// RFC 5034 §4 AUTH; without a mechanism, the list of mechanisms (as
    /// pre-CAPA clients ask for it).
    pub(super) async fn auth(&mut self, mechanism: Option<String>, initial: Option<String>) {
        let Some(name) = mechanism else {
            self.ok("mechanisms follow");
            for m in Mechanism::offered(self.plaintext_ok(), self.end_point().is_some()) {
                self.out.extend_from_slice(m.as_bytes());
                self.out.extend_from_slice(b"\r\n");
            }
            self.out.extend_from_slice(b".\r\n");
            return;
        };
        let end_point = self.end_point();
        let usable = |m: Mechanism| m.usable(self.plaintext_ok(), end_point.is_some());
        let mechanism = match Mechanism::named(&name) {
            Some(m) if usable(m) => m,
            Some(m) if m.sends_cleartext() => {
                self.err(Some("AUTH"), NEEDS_TLS);
                return;
            }
            _ => {
                let offered: Vec<&str> =
                    Mechanism::offered(self.plaintext_ok(), end_point.is_some()).collect();
                self.err(
                    None,
                    &format!(
                        "the {name} mechanism is not available here; use {}",
                        offered.join(" or ")
                    ),
                );
                return;
            }
        };
        let mut exchange = Exchange::new(mechanism, end_point.as_deref());
        let step = exchange.start(initial.as_deref().map(str::as_bytes));
        self.sasl_step(exchange, step).await;
    }

    /// The client's line in answer to a `+` challenge.
    pub(super) async fn sasl_response(&mut self, mut exchange: Box<Exchange>, line: &[u8]) {
        let step = exchange.response(line);
        self.sasl_step(*exchange, step).await;
    }

    /// Runs the exchange until it needs the client (a `+` challenge is
    /// written) or ends.
    async fn sasl_step(&mut self, mut exchange: Exchange, step: Step) {
        match self
            .state
            .gate(self.peer)
            .advance(&mut exchange, step)
            .await
        {
            Step::Challenge(data) => {
                crate::auth::sasl::write_challenge(&mut self.out, &data);
                self.phase = Phase::Sasl(Box::new(exchange));
            }
            Step::Done(outcome) => self.concluded(outcome).await,
            // `advance` performs the lookups itself; these cannot come back.
            Step::CheckPassword { .. } | Step::FetchVerifier { .. } => self.unavailable(),
        }
    }

    /// USER/PASS's password check.
    async fn login(&mut self, login: &str, password: Secret) {
        let outcome = self
            .state
            .gate(self.peer)
            .cleartext("USER/PASS", login, &password)
            .await;
        self.concluded(outcome).await;
    }

    /// The reply to a finished authentication (RFC 2449 §8 and RFC 3206
    /// codes); on success, the maildrop.
    async fn concluded(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Success { login } => self.logged_in(&login).await,
            Outcome::Refused(Refusal::Failed { .. }) => {
                self.err(Some("AUTH"), "invalid credentials");
            }
            Outcome::Refused(Refusal::OtherIdentity { .. }) => {
                self.err(Some("AUTH"), "acting as another user is not supported");
            }
            Outcome::Refused(Refusal::Unavailable) => {
                self.err(Some("SYS/TEMP"), "authentication is unavailable; try again");
            }
            Outcome::Refused(Refusal::Malformed(why)) => self.err(None, why),
            Outcome::Refused(Refusal::Cancelled) => self.err(None, "authentication cancelled"),
        }
    }

    /// Takes the maildrop snapshot of `login`, whose secret was right, and
    /// enters TRANSACTION.
    async fn logged_in(&mut self, login: &str) {
        let Some(client) = self.db().await else {
            return;
        };
        let user = match crate::store::users::user_id(&**client, login).await {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(error = %e, "user lookup failed after a good password");
                self.unavailable();
                return;
            }
        };
        let drop = match crate::store::pop3::maildrop(&**client, user).await {
            Ok(d) => d,
            Err(StoreError::NotFound(_)) => {
                self.err(Some("SYS/PERM"), "this user has no INBOX");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "maildrop listing failed");
                self.unavailable();
                return;
            }
        };
        tracing::info!(user = %login, peer = %self.peer, messages = drop.messages.len(), "logged in");
        let maildrop = Maildrop {
            user,
            mailbox: drop.mailbox,
            uidvalidity: drop.uidvalidity,
            deleted: vec![false; drop.messages.len()],
            messages: drop.messages,
        };
        let (count, size) = maildrop.totals();
        self.ok(&format!(
            "{login}'s maildrop has {count} messages ({size} octets)"
        ));
        self.phase = Phase::Transaction(maildrop);
    }
}
