//! USER/PASS (RFC 1939 §7), AUTH PLAIN with an initial response (RFC 5034
//! §4, RFC 4616) and STLS (RFC 2595 §4); on success, the maildrop snapshot
//! that starts the TRANSACTION state.

use base64::Engine as _;

use super::{Maildrop, Next, Phase, Session};
use crate::auth::Secret;
use crate::auth::verify::{Verdict, verify};
use crate::store::StoreError;

/// RFC 2595 §2.3 / RFC 3206 §4: a password refused for want of TLS. `AUTH`
/// because retrying the same credentials will not help, while STLS will.
const NEEDS_TLS: &str = "plaintext passwords are not allowed without TLS; use STLS first";

/// Why an RFC 4616 PLAIN message was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum PlainError {
    /// Not base64, not three NUL-separated UTF-8 fields.
    Malformed(&'static str),
    /// An authorisation identity other than the authentication identity.
    OtherIdentity,
}

/// Decodes an RFC 4616 PLAIN message: `authzid NUL authcid NUL passwd`,
/// base64-encoded (RFC 5034 §4). Returns the login and password.
pub(super) fn decode_plain(b64: &[u8]) -> Result<(String, Secret), PlainError> {
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(b64) else {
        return Err(PlainError::Malformed("the response is not base64"));
    };
    let mut fields = decoded.split(|&b| b == 0);
    let (Some(authz), Some(authc), Some(pass), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(PlainError::Malformed("malformed PLAIN response"));
    };
    let (Ok(authz), Ok(authc), Ok(pass)) = (
        std::str::from_utf8(authz),
        std::str::from_utf8(authc),
        std::str::from_utf8(pass),
    ) else {
        return Err(PlainError::Malformed("the PLAIN response is not UTF-8"));
    };
    if !authz.is_empty() && !authz.eq_ignore_ascii_case(authc) {
        return Err(PlainError::OtherIdentity);
    }
    Ok((authc.to_owned(), Secret::new(pass)))
}

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
        let Some(mechanism) = mechanism else {
            self.ok("mechanisms follow");
            if self.plaintext_ok() {
                self.out.extend_from_slice(b"PLAIN\r\n");
            }
            self.out.extend_from_slice(b".\r\n");
            return;
        };
        if !mechanism.eq_ignore_ascii_case("PLAIN") {
            self.err(
                None,
                &format!("the {mechanism} mechanism is not supported; use PLAIN"),
            );
            return;
        }
        if !self.plaintext_ok() {
            self.err(Some("AUTH"), NEEDS_TLS);
            return;
        }
        match initial {
            // RFC 5034 §4: "=" is an empty initial response.
            Some(ir) if ir == "=" => self.sasl_plain(b"").await,
            Some(ir) => self.sasl_plain(ir.as_bytes()).await,
            None => {
                // RFC 5034 §4: an empty challenge.
                self.out.extend_from_slice(b"+ \r\n");
                self.phase = Phase::SaslResponse;
            }
        }
    }

    /// The client's PLAIN response, initial or after our `+`.
    pub(super) async fn sasl_plain(&mut self, b64: &[u8]) {
        // RFC 5034 §4: "*" cancels the exchange.
        if b64 == b"*" {
            self.err(None, "authentication cancelled");
            return;
        }
        match decode_plain(b64) {
            Ok((login, password)) => self.login(&login, password).await,
            Err(PlainError::Malformed(why)) => self.err(None, why),
            Err(PlainError::OtherIdentity) => {
                self.err(Some("AUTH"), "acting as another user is not supported");
            }
        }
    }

    /// Checks the password and, when it is right, takes the maildrop
    /// snapshot and enters TRANSACTION.
    async fn login(&mut self, login: &str, password: Secret) {
        let user = match verify(&self.state.pool, &self.state.config, login, &password).await {
            Verdict::Accepted(user) => user.id,
            Verdict::Refused => {
                tracing::info!(user = %login, peer = %self.peer, "login failed");
                self.err(Some("AUTH"), "invalid credentials");
                return;
            }
            Verdict::Unavailable(what) => {
                self.err(Some("SYS/TEMP"), what.text());
                return;
            }
        };
        let Some(client) = self.db().await else {
            return;
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

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    fn b64(s: &[u8]) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .encode(s)
            .into_bytes()
    }

    #[test]
    fn rfc4616_2_plain_carries_authzid_authcid_and_password() {
        let Ok((login, pass)) = decode_plain(&b64(b"\0alice\0se cret")) else {
            panic!("a well-formed PLAIN response was refused");
        };
        assert_eq!(login, "alice");
        assert_eq!(pass.expose(), "se cret");
        // The same identity as authzid is acting as oneself.
        assert!(decode_plain(&b64(b"Alice\0alice\0x")).is_ok());
        assert_eq!(
            decode_plain(&b64(b"bob\0alice\0x")).map(|_| ()),
            Err(PlainError::OtherIdentity)
        );
    }

    #[test]
    fn malformed_plain_responses_are_refused() {
        for bad in [
            b"not base64!".to_vec(),
            b64(b"alice\0secret"),
            b64(b"\0alice\0secret\0more"),
            b64(b"\0alice\0\xff"),
        ] {
            assert!(
                matches!(decode_plain(&bad), Err(PlainError::Malformed(_))),
                "{bad:?}"
            );
        }
    }
}
