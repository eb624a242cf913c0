//! LOGIN (RFC 9051 §6.2.3) and AUTHENTICATE PLAIN with SASL-IR (RFC 9051
//! §6.2.2, RFC 4616, RFC 4959).

use base64::Engine as _;

use super::{Done, Pending, Session, User};
use crate::auth::Secret;
use crate::auth::verify::{Verdict, verify};

impl Session {
    pub(super) async fn login(&mut self, login: &str, password: String) -> Done {
        if !self.plaintext_ok() {
            return Done::no(
                "PRIVACYREQUIRED",
                "plaintext passwords are not allowed without TLS",
            );
        }
        self.check_credentials(login, Secret::new(password)).await
    }

    /// Starts AUTHENTICATE; None when a continuation was sent and the
    /// client's response is awaited.
    pub(super) fn authenticate(
        &mut self,
        tag: &str,
        mechanism: &str,
        initial: Option<String>,
    ) -> Option<Done> {
        if !mechanism.eq_ignore_ascii_case("PLAIN") {
            return Some(Done::no(
                "CANNOT",
                format!("the {mechanism} mechanism is not supported; use PLAIN"),
            ));
        }
        if !self.plaintext_ok() {
            return Some(Done::no(
                "PRIVACYREQUIRED",
                "plaintext passwords are not allowed without TLS",
            ));
        }
        match initial {
            Some(_) => {
                // Handled by the caller's next step: keep it simple by
                // treating the initial response like a response line.
                self.pending = Some(Pending::Authenticate {
                    tag: tag.to_owned(),
                    mechanism: "PLAIN".into(),
                });
                self.initial_response = initial;
                None
            }
            None => {
                self.out.extend_from_slice(b"+ \r\n");
                self.pending = Some(Pending::Authenticate {
                    tag: tag.to_owned(),
                    mechanism: "PLAIN".into(),
                });
                None
            }
        }
    }

    /// The client's response to our `+` (or its SASL-IR initial response).
    pub(super) async fn authenticate_response(&mut self, tag: &str, _mechanism: &str, line: &[u8]) {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let done = self.plain(line).await;
        self.finish(tag, done);
    }

    /// Runs a SASL-IR initial response kept by `authenticate`.
    pub(super) async fn initial_response(&mut self) {
        let (Some(Pending::Authenticate { tag, .. }), Some(ir)) =
            (self.pending.take(), self.initial_response.take())
        else {
            return;
        };
        // RFC 4959 §3: "=" is an empty initial response.
        let ir = if ir == "=" { String::new() } else { ir };
        let done = self.plain(ir.as_bytes()).await;
        self.finish(&tag, done);
    }

    async fn plain(&mut self, b64: &[u8]) -> Done {
        if b64 == b"*" {
            return Done::bad("authentication cancelled");
        }
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            return Done::bad("the response is not base64");
        };
        // RFC 4616: authzid NUL authcid NUL passwd.
        let mut fields = decoded.split(|&b| b == 0);
        let (Some(authz), Some(authc), Some(pass), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Done::bad("malformed PLAIN response");
        };
        let (Ok(authz), Ok(authc), Ok(pass)) = (
            std::str::from_utf8(authz),
            std::str::from_utf8(authc),
            std::str::from_utf8(pass),
        ) else {
            return Done::bad("the PLAIN response is not UTF-8");
        };
        if !authz.is_empty() && !authz.eq_ignore_ascii_case(authc) {
            return Done::no(
                "AUTHORIZATIONFAILED",
                "acting as another user is not supported",
            );
        }
        self.check_credentials(authc, Secret::new(pass)).await
    }

    async fn check_credentials(&mut self, login: &str, password: Secret) -> Done {
        let user = match verify(&self.state.pool, &self.state.config, login, &password).await {
            Verdict::Accepted(user) => user,
            Verdict::Refused => {
                tracing::info!(user = %login, peer = %self.peer, "login failed");
                return Done::no("AUTHENTICATIONFAILED", "invalid credentials");
            }
            Verdict::Unavailable(what) => return Done::no("UNAVAILABLE", what.text()),
        };
        let (id, login) = (user.id, user.login.as_str());
        tracing::info!(user = %login, peer = %self.peer, "logged in");
        self.user = Some(User {
            id,
            login: login.to_owned(),
        });
        let caps = self.capabilities();
        Done::ok_code(format!("CAPABILITY {caps}"), "logged in")
    }
}
