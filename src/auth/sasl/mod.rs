//! SASL (RFC 4422) for IMAP AUTHENTICATE and POP3 AUTH, as a sans-I/O state
//! machine: the front end feeds it the client's lines and performs the
//! lookups it asks for ([`Step::CheckPassword`], [`Step::FetchVerifier`]);
//! it answers with challenges to send and, at last, an [`Outcome`].
//!
//! Mechanisms: PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login) and
//! SCRAM-SHA-256 (RFC 5802, RFC 7677), also as -PLUS with RFC 5929
//! `tls-server-end-point` channel binding. rsasl was considered: its server
//! side asks for the stored verifier through a synchronous callback, which
//! does not fit a lookup that is an async database query, and the three
//! mechanisms are small enough to write to the RFCs with the hmac, sha2 and
//! pbkdf2 crates the password store already uses.

mod login;
mod plain;
mod scram;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::auth::Secret;

/// A mechanism this server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// RFC 4616.
    Plain,
    /// draft-murchison-sasl-login.
    Login,
    /// RFC 7677.
    ScramSha256,
    /// RFC 7677 with RFC 5929 `tls-server-end-point` channel binding.
    ScramSha256Plus,
}

impl Mechanism {
    /// Every mechanism, in the order they are advertised (strongest first).
    pub const ALL: [Mechanism; 4] = [
        Mechanism::ScramSha256Plus,
        Mechanism::ScramSha256,
        Mechanism::Plain,
        Mechanism::Login,
    ];

    /// The registered name, as advertised.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
        }
    }

    /// The mechanism called `name` (case-insensitive).
    pub fn named(name: &str) -> Option<Mechanism> {
        Self::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }

    /// True when the client sends the password itself, so it may only be
    /// used over TLS unless the administrator allows plaintext passwords.
    pub fn sends_cleartext(self) -> bool {
        matches!(self, Mechanism::Plain | Mechanism::Login)
    }

    /// True when the mechanism can be used on a connection where plaintext
    /// passwords are (not) allowed and channel binding is (not) available.
    pub fn usable(self, plaintext_ok: bool, channel_binding: bool) -> bool {
        match self {
            Mechanism::Plain | Mechanism::Login => plaintext_ok,
            Mechanism::ScramSha256 => true,
            Mechanism::ScramSha256Plus => channel_binding,
        }
    }

    /// The names of the mechanisms usable on such a connection.
    pub fn offered(
        plaintext_ok: bool,
        channel_binding: bool,
    ) -> impl Iterator<Item = &'static str> {
        Self::ALL
            .into_iter()
            .filter(move |m| m.usable(plaintext_ok, channel_binding))
            .map(Mechanism::name)
    }
}

/// Why an exchange did not authenticate anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The client's message breaks the mechanism's syntax: a protocol
    /// error, not a wrong secret.
    Malformed(&'static str),
    /// The client sent `*` (RFC 4422 §3.5).
    Cancelled,
    /// Wrong secret or unknown user (indistinguishable to the client).
    Failed {
        /// The login the client named.
        login: String,
    },
    /// An authorisation identity other than the login.
    OtherIdentity {
        /// The login the client named.
        login: String,
    },
    /// The secret could not be checked (database or directory down).
    Unavailable,
}

/// What the exchange came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `login` proved who it is.
    Success {
        /// The login, as the client named it.
        login: String,
    },
    /// Nobody is authenticated.
    Refused(Refusal),
}

/// What the front end must do next.
#[derive(Debug)]
pub enum Step {
    /// Send this challenge (`+ base64`) and pass the client's reply line to
    /// [`Exchange::response`].
    Challenge(Vec<u8>),
    /// Check this cleartext password and pass the answer to
    /// [`Exchange::password_checked`].
    CheckPassword {
        /// The login.
        login: String,
        /// Its claimed password.
        password: Secret,
    },
    /// Look up `login`'s SCRAM verifier and pass it to
    /// [`Exchange::verifier`].
    FetchVerifier {
        /// The login.
        login: String,
    },
    /// The exchange is over.
    Done(Outcome),
}

/// Where an exchange is.
enum State {
    /// PLAIN, waiting for its one message.
    Plain,
    /// LOGIN, waiting for the user name, then for the password.
    LoginUser,
    LoginPassword {
        login: String,
    },
    /// Waiting for the front end's password check.
    Checking {
        login: String,
    },
    /// SCRAM, waiting for client-first, for the verifier, for client-final,
    /// and for the empty reply to our server-final.
    ScramFirst,
    ScramVerifier(Box<scram::ClientFirst>),
    ScramFinal(Box<scram::ServerFirst>),
    ScramEnd {
        login: String,
    },
    /// Over; any further input is an error.
    Finished,
}

/// One SASL exchange.
pub struct Exchange {
    mechanism: Mechanism,
    /// The connection's `tls-server-end-point` data, when it has one.
    end_point: Option<Vec<u8>>,
    state: State,
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("mechanism", &self.mechanism)
            .finish_non_exhaustive()
    }
}

impl Exchange {
    /// A new exchange for `mechanism` on a connection whose channel
    /// binding (RFC 5929 `tls-server-end-point`) is `end_point`, when it is
    /// on TLS and the certificate has one.
    pub fn new(mechanism: Mechanism, end_point: Option<&[u8]>) -> Exchange {
        let state = match mechanism {
            Mechanism::Plain => State::Plain,
            Mechanism::Login => State::LoginUser,
            Mechanism::ScramSha256 | Mechanism::ScramSha256Plus => State::ScramFirst,
        };
        Exchange {
            mechanism,
            end_point: end_point.map(<[u8]>::to_vec),
            state,
        }
    }

    /// The mechanism.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// Starts the exchange, with the client's initial response when it sent
    /// one (RFC 4959 / RFC 5034: base64, `=` for an empty one).
    pub fn start(&mut self, initial: Option<&[u8]>) -> Step {
        match initial {
            None => match self.state {
                State::LoginUser => Step::Challenge(login::USERNAME.to_vec()),
                _ => Step::Challenge(Vec::new()),
            },
            Some(b"=") => self.message(&[]),
            Some(ir) => self.response(ir),
        }
    }

    /// The client's reply line to a challenge (without its CRLF): base64,
    /// or `*` to cancel.
    pub fn response(&mut self, line: &[u8]) -> Step {
        if line == b"*" {
            return self.done(Outcome::Refused(Refusal::Cancelled));
        }
        match B64.decode(line) {
            Ok(data) => self.message(&data),
            Err(_) => self.done(Outcome::Refused(Refusal::Malformed(
                "the response is not base64",
            ))),
        }
    }

    /// The answer to [`Step::CheckPassword`]: Some(true) when the password
    /// is right, None when it could not be checked.
    pub fn password_checked(&mut self, ok: Option<bool>) -> Step {
        let State::Checking { login } = std::mem::replace(&mut self.state, State::Finished) else {
            return self.out_of_order();
        };
        Step::Done(match ok {
            Some(true) => Outcome::Success { login },
            Some(false) => Outcome::Refused(Refusal::Failed { login }),
            None => Outcome::Refused(Refusal::Unavailable),
        })
    }

    /// The answer to [`Step::FetchVerifier`]: the stored verifier (None for
    /// an unknown user or one without a verifier), or Err when it could not
    /// be looked up.
    pub fn verifier(&mut self, verifier: Result<Option<&str>, ()>) -> Step {
        let State::ScramVerifier(first) = std::mem::replace(&mut self.state, State::Finished)
        else {
            return self.out_of_order();
        };
        let Ok(verifier) = verifier else {
            return Step::Done(Outcome::Refused(Refusal::Unavailable));
        };
        let sf = scram::server_first(*first, verifier, &scram::server_nonce());
        let challenge = sf.message().to_vec();
        self.state = State::ScramFinal(Box::new(sf));
        Step::Challenge(challenge)
    }

    fn message(&mut self, data: &[u8]) -> Step {
        match std::mem::replace(&mut self.state, State::Finished) {
            State::Plain => match plain::decode(data) {
                Ok((login, password)) => self.check(login, password),
                Err(r) => Step::Done(Outcome::Refused(r)),
            },
            State::LoginUser => match login::text(data) {
                Ok(login) if !login.is_empty() => {
                    self.state = State::LoginPassword { login };
                    Step::Challenge(login::PASSWORD.to_vec())
                }
                Ok(_) => Step::Done(Outcome::Refused(Refusal::Malformed("no user name"))),
                Err(r) => Step::Done(Outcome::Refused(r)),
            },
            State::LoginPassword { login } => match login::text(data) {
                Ok(password) => self.check(login, Secret::new(password)),
                Err(r) => Step::Done(Outcome::Refused(r)),
            },
            State::ScramFirst => match scram::client_first(
                data,
                scram::Binding {
                    plus: self.mechanism == Mechanism::ScramSha256Plus,
                    end_point: self.end_point.as_deref(),
                },
            ) {
                Ok(first) => {
                    let login = first.login.clone();
                    self.state = State::ScramVerifier(Box::new(first));
                    Step::FetchVerifier { login }
                }
                Err(r) => Step::Done(Outcome::Refused(r)),
            },
            State::ScramFinal(sf) => match sf.client_final(data) {
                Ok(server_final) => {
                    // RFC 5802 §5 with IMAP/POP3: the server-final goes out
                    // as a challenge, and the client answers it empty.
                    self.state = State::ScramEnd {
                        login: sf.login().to_owned(),
                    };
                    Step::Challenge(server_final)
                }
                Err(r) => Step::Done(Outcome::Refused(r)),
            },
            State::ScramEnd { login } if data.is_empty() => Step::Done(Outcome::Success { login }),
            State::ScramEnd { .. } => Step::Done(Outcome::Refused(Refusal::Malformed(
                "expected an empty response to the server's final message",
            ))),
            State::Checking { .. } | State::ScramVerifier(_) | State::Finished => {
                self.out_of_order()
            }
        }
    }

    fn check(&mut self, login: String, password: Secret) -> Step {
        self.state = State::Checking {
            login: login.clone(),
        };
        Step::CheckPassword { login, password }
    }

    fn done(&mut self, outcome: Outcome) -> Step {
        self.state = State::Finished;
        Step::Done(outcome)
    }

    fn out_of_order(&mut self) -> Step {
        self.done(Outcome::Refused(Refusal::Malformed(
            "the exchange is not expecting that",
        )))
    }
}

/// Writes a server challenge as IMAP (RFC 9051 §6.2.2) and POP3 (RFC 5034
/// §4) both send it: `+ `, the base64 of `data`, CRLF.
pub fn write_challenge(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(b"+ ");
    out.extend_from_slice(
        base64::engine::general_purpose::STANDARD
            .encode(data)
            .as_bytes(),
    );
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn b64(s: &[u8]) -> Vec<u8> {
        B64.encode(s).into_bytes()
    }

    fn challenge(step: Step) -> Vec<u8> {
        match step {
            Step::Challenge(c) => c,
            other => panic!("expected a challenge, got {other:?}"),
        }
    }

    #[test]
    fn mechanisms_by_name_and_which_are_usable_without_tls() {
        assert_eq!(
            Mechanism::named("scram-sha-256"),
            Some(Mechanism::ScramSha256)
        );
        assert_eq!(Mechanism::named("CRAM-MD5"), None);
        assert_eq!(
            Mechanism::offered(false, false).collect::<Vec<_>>(),
            ["SCRAM-SHA-256"]
        );
        assert_eq!(
            Mechanism::offered(true, false).collect::<Vec<_>>(),
            ["SCRAM-SHA-256", "PLAIN", "LOGIN"]
        );
        assert_eq!(
            Mechanism::offered(true, true).collect::<Vec<_>>(),
            ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN", "LOGIN"]
        );
        assert_eq!(
            Mechanism::named("SCRAM-SHA-256-plus"),
            Some(Mechanism::ScramSha256Plus)
        );
    }

    #[test]
    fn rfc4616_plain_with_initial_response_asks_for_a_password_check() {
        let mut ex = Exchange::new(Mechanism::Plain, None);
        let Step::CheckPassword { login, password } = ex.start(Some(&b64(b"\0alice\0pw"))) else {
            panic!("no password check");
        };
        assert_eq!((login.as_str(), password.expose()), ("alice", "pw"));
        assert!(matches!(
            ex.password_checked(Some(true)),
            Step::Done(Outcome::Success { login }) if login == "alice"
        ));
    }

    #[test]
    fn rfc4616_plain_without_initial_response_sends_an_empty_challenge() {
        let mut ex = Exchange::new(Mechanism::Plain, None);
        assert_eq!(challenge(ex.start(None)), b"");
        assert!(matches!(
            ex.response(&b64(b"\0alice\0pw")),
            Step::CheckPassword { .. }
        ));
        assert!(matches!(
            ex.password_checked(Some(false)),
            Step::Done(Outcome::Refused(Refusal::Failed { .. }))
        ));
        let mut ex = Exchange::new(Mechanism::Plain, None);
        assert!(matches!(
            ex.start(Some(b"=")),
            Step::Done(Outcome::Refused(Refusal::Malformed(_)))
        ));
    }

    #[test]
    fn login_mechanism_asks_for_user_then_password() {
        let mut ex = Exchange::new(Mechanism::Login, None);
        assert_eq!(challenge(ex.start(None)), b"Username:");
        assert_eq!(challenge(ex.response(&b64(b"alice"))), b"Password:");
        let Step::CheckPassword { login, password } = ex.response(&b64(b"pw")) else {
            panic!("no password check");
        };
        assert_eq!((login.as_str(), password.expose()), ("alice", "pw"));
        assert!(matches!(
            ex.password_checked(None),
            Step::Done(Outcome::Refused(Refusal::Unavailable))
        ));
        // An initial response is the user name.
        let mut ex = Exchange::new(Mechanism::Login, None);
        assert_eq!(challenge(ex.start(Some(&b64(b"alice")))), b"Password:");
    }

    #[test]
    fn rfc4422_3_5_star_cancels_and_bad_base64_is_malformed() {
        let mut ex = Exchange::new(Mechanism::Login, None);
        challenge(ex.start(None));
        assert!(matches!(
            ex.response(b"*"),
            Step::Done(Outcome::Refused(Refusal::Cancelled))
        ));
        let mut ex = Exchange::new(Mechanism::ScramSha256, None);
        challenge(ex.start(None));
        assert!(matches!(
            ex.response(b"bm,,&&"),
            Step::Done(Outcome::Refused(Refusal::Malformed(_)))
        ));
        // Anything after the end is out of order, never a success.
        assert!(matches!(
            ex.response(b""),
            Step::Done(Outcome::Refused(Refusal::Malformed(_)))
        ));
    }

    #[test]
    fn scram_exchange_runs_to_an_empty_final_reply() {
        use crate::auth::password::scram_verifier;
        use hmac::Mac as _;
        use sha2::Digest as _;
        let salt = b"0123456789abcdef";
        let verifier = scram_verifier("pencil", salt, 4096);
        let mut ex = Exchange::new(Mechanism::ScramSha256, None);
        let first = b"n,,n=alice,r=clientnonce";
        assert!(
            matches!(ex.start(Some(&b64(first))), Step::FetchVerifier { login } if login == "alice")
        );
        let server_first = challenge(ex.verifier(Ok(Some(&verifier))));
        let server_first = String::from_utf8(server_first).unwrap();
        let nonce = server_first
            .split(',')
            .next()
            .unwrap()
            .strip_prefix("r=")
            .unwrap();
        assert!(nonce.starts_with("clientnonce") && nonce.len() > "clientnonce".len());
        // The client's side, from RFC 5802 §3.
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"pencil", salt, 4096, &mut salted);
        let mac = |k: &[u8], d: &[u8]| {
            let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(k).unwrap();
            m.update(d);
            m.finalize().into_bytes().to_vec()
        };
        let client_key = mac(&salted, b"Client Key");
        let stored = sha2::Sha256::digest(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("n=alice,r=clientnonce,{server_first},{without_proof}");
        let sig = mac(&stored, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        let client_final = format!("{without_proof},p={}", B64.encode(proof));
        let server_final = challenge(ex.response(&b64(client_final.as_bytes())));
        let server_key = mac(&salted, b"Server Key");
        let expected = format!("v={}", B64.encode(mac(&server_key, auth.as_bytes())));
        assert_eq!(server_final, expected.as_bytes());
        assert!(matches!(
            ex.response(b""),
            Step::Done(Outcome::Success { login }) if login == "alice"
        ));
    }

    #[test]
    fn scram_lookup_failure_is_unavailable() {
        let mut ex = Exchange::new(Mechanism::ScramSha256, None);
        assert!(matches!(
            ex.start(Some(&b64(b"n,,n=alice,r=abc"))),
            Step::FetchVerifier { .. }
        ));
        assert!(matches!(
            ex.verifier(Err(())),
            Step::Done(Outcome::Refused(Refusal::Unavailable))
        ));
    }
}
