//! SCRAM-SHA-256 (RFC 5802, RFC 7677), server side, checked against the
//! stored verifier (StoredKey and ServerKey), so the server never needs
//! the password. SCRAM-SHA-256-PLUS binds to the TLS connection with
//! `tls-server-end-point` (RFC 5929), the one type offered.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

use super::Refusal;
use crate::auth::password::{SCRAM_ITERATIONS, hmac};

/// A stored `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>` verifier.
pub(super) struct Verifier {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl Verifier {
    /// Parses PostgreSQL's verifier format; None when it is not one.
    pub(super) fn parse(text: &str) -> Option<Verifier> {
        let rest = text.strip_prefix("SCRAM-SHA-256$")?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored_key, server_key) = keys.split_once(':')?;
        let v = Verifier {
            iterations: iterations.parse().ok().filter(|&i| i > 0)?,
            salt: B64.decode(salt).ok()?,
            stored_key: B64.decode(stored_key).ok()?,
            server_key: B64.decode(server_key).ok()?,
        };
        (v.stored_key.len() == 32 && v.server_key.len() == 32).then_some(v)
    }

    /// A verifier no proof matches, for a login that has none. Its salt is
    /// a keyed hash of the login, so repeated tries see the same salt and
    /// cannot tell an unknown user from a known one (RFC 5802 §9).
    fn decoy(login: &str) -> Verifier {
        let key = decoy_key();
        let salt = hmac(key, login.to_lowercase().as_bytes());
        Verifier {
            iterations: SCRAM_ITERATIONS,
            salt: salt.get(..16).unwrap_or(&salt).to_vec(),
            stored_key: vec![0; 32],
            server_key: vec![0; 32],
        }
    }
}

/// A random key made once per process, for decoy salts.
fn decoy_key() -> &'static [u8; 32] {
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let mut k = [0u8; 32];
        rand::fill(&mut k);
        k
    })
}

/// The client-first-message, parsed (RFC 5802 §7).
#[derive(Debug)]
pub(super) struct ClientFirst {
    /// The user to authenticate, `=2C`/`=3D` decoded.
    pub(super) login: String,
    /// What the client must send (base64) in `c=`: the gs2 header, and
    /// with -PLUS the channel-binding data after it.
    channel_binding: Vec<u8>,
    /// `client-first-message-bare`, part of the AuthMessage.
    bare: String,
    client_nonce: String,
}

/// What channel binding the exchange can check.
#[derive(Debug, Clone, Copy)]
pub(super) struct Binding<'a> {
    /// The mechanism is SCRAM-SHA-256-PLUS: the client must bind.
    pub(super) plus: bool,
    /// This connection's `tls-server-end-point` data, when it is on TLS
    /// with a certificate that has one (and -PLUS is then advertised).
    pub(super) end_point: Option<&'a [u8]>,
}

/// Parses the client-first-message.
pub(super) fn client_first(message: &[u8], binding: Binding<'_>) -> Result<ClientFirst, Refusal> {
    let text = std::str::from_utf8(message)
        .map_err(|_| Refusal::Malformed("the SCRAM message is not UTF-8"))?;
    let malformed = Refusal::Malformed("malformed SCRAM gs2 header");
    let (flag, rest) = text.split_once(',').ok_or(malformed.clone())?;
    let (authzid, bare) = rest.split_once(',').ok_or(malformed.clone())?;
    let gs2_header = text
        .get(..text.len() - bare.len())
        .unwrap_or_default()
        .to_owned();
    // RFC 5802 §6 gs2-cbind-flag: "n" the client does not bind, "y" it
    // could but believes the server cannot, "p=name" it binds.
    let channel_binding = match flag {
        "n" | "y" if binding.plus => {
            return Err(Refusal::Malformed(
                "SCRAM-SHA-256-PLUS needs channel binding (p=tls-server-end-point)",
            ));
        }
        "n" => gs2_header.as_bytes().to_vec(),
        // We advertised -PLUS on this connection, yet the client saw none:
        // someone removed it on the way (RFC 5802 §6 says fail).
        "y" if binding.end_point.is_some() => {
            return Err(Refusal::Malformed(
                "the client saw no channel binding, but it is offered here",
            ));
        }
        "y" => gs2_header.as_bytes().to_vec(),
        _ => match (flag.strip_prefix("p="), binding) {
            (
                Some("tls-server-end-point"),
                Binding {
                    plus: true,
                    end_point: Some(data),
                },
            ) => [gs2_header.as_bytes(), data].concat(),
            (Some(_), Binding { plus: true, .. }) => {
                return Err(Refusal::Malformed(
                    "only tls-server-end-point channel binding is offered",
                ));
            }
            (Some(_), _) => {
                return Err(Refusal::Malformed(
                    "channel binding is only for SCRAM-SHA-256-PLUS",
                ));
            }
            (None, _) => return Err(malformed),
        },
    };
    let authzid = match authzid {
        "" => String::new(),
        a => saslname(
            a.strip_prefix("a=")
                .ok_or(Refusal::Malformed("malformed SCRAM authzid"))?,
        )?,
    };
    let mut attrs = bare.split(',');
    // RFC 5802 §5.1: a mandatory extension ("m=") we do not know must fail.
    let login = match attrs.next() {
        Some(n) if n.starts_with("n=") => saslname(&n[2..])?,
        Some(m) if m.starts_with("m=") => {
            return Err(Refusal::Malformed("SCRAM extensions are not supported"));
        }
        _ => return Err(Refusal::Malformed("the SCRAM message has no n=")),
    };
    if login.is_empty() {
        return Err(Refusal::Malformed("the SCRAM message names no user"));
    }
    let client_nonce = match attrs.next() {
        Some(r) if r.starts_with("r=") && printable(&r[2..]) => r[2..].to_owned(),
        _ => return Err(Refusal::Malformed("the SCRAM message has no valid r=")),
    };
    if !authzid.is_empty() && !authzid.eq_ignore_ascii_case(&login) {
        return Err(Refusal::OtherIdentity { login });
    }
    Ok(ClientFirst {
        login,
        channel_binding,
        bare: bare.to_owned(),
        client_nonce,
    })
}

/// RFC 5802 §7 `saslname`: "=2C" is ',' and "=3D" is '='; any other '='
/// is an error.
fn saslname(s: &str) -> Result<String, Refusal> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let esc = rest.get(i + 1..i + 3);
        match esc {
            Some("2C") => out.push(','),
            Some("3D") => out.push('='),
            _ => return Err(Refusal::Malformed("bad escape in a SCRAM name")),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// RFC 5802 §7 `printable`: %x21-2B / %x2D-7E.
fn printable(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// The exchange after our server-first-message.
pub(super) struct ServerFirst {
    client: ClientFirst,
    verifier: Verifier,
    /// False for a decoy verifier: no proof can succeed.
    genuine: bool,
    nonce: String,
    message: String,
}

impl ServerFirst {
    /// The login the client named.
    pub(super) fn login(&self) -> &str {
        &self.client.login
    }
}

/// A fresh server nonce: 18 random bytes as base64 (printable, no ',').
pub(super) fn server_nonce() -> String {
    let mut n = [0u8; 18];
    rand::fill(&mut n);
    B64.encode(n)
}

/// Builds the server-first-message for `client` from the stored verifier
/// (None or unparsable: a decoy, so the exchange fails only at the proof).
pub(super) fn server_first(
    client: ClientFirst,
    verifier: Option<&str>,
    server_nonce: &str,
) -> ServerFirst {
    let (verifier, genuine) = match verifier.and_then(Verifier::parse) {
        Some(v) => (v, true),
        None => (Verifier::decoy(&client.login), false),
    };
    let nonce = format!("{}{server_nonce}", client.client_nonce);
    let message = format!(
        "r={nonce},s={},i={}",
        B64.encode(&verifier.salt),
        verifier.iterations
    );
    ServerFirst {
        client,
        verifier,
        genuine,
        nonce,
        message,
    }
}

impl ServerFirst {
    /// The server-first-message to send.
    pub(super) fn message(&self) -> &[u8] {
        self.message.as_bytes()
    }

    /// Checks the client-final-message; on success returns the
    /// server-final-message (`v=ServerSignature`).
    pub(super) fn client_final(&self, message: &[u8]) -> Result<Vec<u8>, Refusal> {
        let text = std::str::from_utf8(message)
            .map_err(|_| Refusal::Malformed("the SCRAM message is not UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or(Refusal::Malformed("the SCRAM message has no proof"))?;
        let mut attrs = without_proof.split(',');
        let binding = attrs
            .next()
            .and_then(|c| c.strip_prefix("c="))
            .ok_or(Refusal::Malformed("the SCRAM message has no c="))?;
        let nonce = attrs
            .next()
            .and_then(|r| r.strip_prefix("r="))
            .ok_or(Refusal::Malformed("the SCRAM message has no r="))?;
        // c= repeats the gs2 header (so a changed flag is caught) and, with
        // -PLUS, carries the channel binding of the TLS connection it saw.
        if B64.decode(binding).ok().as_deref() != Some(self.client.channel_binding.as_slice()) {
            return Err(Refusal::Malformed(
                "the SCRAM channel binding does not match",
            ));
        }
        if nonce != self.nonce {
            return Err(Refusal::Malformed("the SCRAM nonce does not match"));
        }
        let proof = B64
            .decode(proof)
            .map_err(|_| Refusal::Malformed("the SCRAM proof is not base64"))?;
        if proof.len() != 32 {
            return Err(Refusal::Malformed("the SCRAM proof has the wrong length"));
        }
        let auth_message = format!("{},{},{without_proof}", self.client.bare, self.message);
        // RFC 5802 §3: ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage),
        // and H(ClientKey) must be StoredKey.
        let signature = hmac(&self.verifier.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        let stored = Sha256::digest(&client_key);
        let same = stored
            .iter()
            .zip(&self.verifier.stored_key)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        if !(same && self.genuine) {
            return Err(Refusal::Failed {
                login: self.client.login.clone(),
            });
        }
        let server_signature = hmac(&self.verifier.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)).into_bytes())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::auth::password::scram_verifier;

    const SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
    const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const CLIENT_FIRST: &[u8] = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const CLIENT_FINAL: &[u8] = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
        p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";

    fn pencil() -> String {
        scram_verifier("pencil", &B64.decode(SALT).unwrap(), 4096)
    }

    const NONE: Binding<'static> = Binding {
        plus: false,
        end_point: None,
    };

    fn rfc7677_server_first() -> ServerFirst {
        let first = client_first(CLIENT_FIRST, NONE).unwrap();
        server_first(first, Some(&pencil()), SERVER_NONCE)
    }

    #[test]
    fn rfc7677_3_test_vector() {
        let first = client_first(CLIENT_FIRST, NONE).unwrap();
        assert_eq!(first.login, "user");
        let sf = server_first(first, Some(&pencil()), SERVER_NONCE);
        assert_eq!(
            sf.message(),
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        assert_eq!(
            sf.client_final(CLIENT_FINAL).unwrap(),
            b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    #[test]
    fn rfc5802_a_wrong_proof_fails_and_a_decoy_never_succeeds() {
        let sf = rfc7677_server_first();
        let wrong = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
            p=AHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert!(matches!(
            sf.client_final(wrong),
            Err(Refusal::Failed { .. })
        ));
        // Unknown user: a salt and iteration count all the same, then failure
        // even for the proof that would be right for a real verifier.
        let first = client_first(CLIENT_FIRST, NONE).unwrap();
        let decoy = server_first(first, None, SERVER_NONCE);
        let again = server_first(
            client_first(CLIENT_FIRST, NONE).unwrap(),
            None,
            SERVER_NONCE,
        );
        assert_eq!(decoy.message(), again.message());
        assert!(matches!(
            decoy.client_final(CLIENT_FINAL),
            Err(Refusal::Failed { .. })
        ));
    }

    #[test]
    fn rfc5802_7_malformed_client_first_messages() {
        for bad in [
            &b"n,,r=abc"[..],                        // no n=
            b"n,,n=user",                            // no r=
            b"n,,n=user,r=",                         // empty nonce
            b"n,,n=us=2Xer,r=abc",                   // bad saslname escape
            b"x,,n=user,r=abc",                      // unknown gs2 flag
            b"n,n=user,r=abc",                       // gs2 header without authzid field
            b"n,,m=ext,n=user,r=abc",                // mandatory extension
            b"p=tls-server-end-point,,n=user,r=abc", // channel binding not offered
            b"n,,n=user,r=a\xffb",                   // not UTF-8
            b"",
        ] {
            assert!(
                matches!(client_first(bad, NONE), Err(Refusal::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(
            client_first(b"n,a=bob,n=user,r=abc", NONE),
            Err(Refusal::OtherIdentity { .. })
        ));
    }

    #[test]
    fn rfc5802_6_gs2_flag_y_is_accepted_and_must_be_echoed() {
        let first = client_first(b"y,,n=user,r=rOprNGfwEbeRWgbNEkqO", NONE).unwrap();
        assert_eq!(first.channel_binding, b"y,,");
        let sf = server_first(first, Some(&pencil()), SERVER_NONCE);
        // c=biws is "n,,": a client that said "y" must say so again
        // (downgrade protection), so the RFC's message no longer fits.
        assert!(matches!(
            sf.client_final(CLIENT_FINAL),
            Err(Refusal::Malformed(_))
        ));
    }

    #[test]
    fn rfc5802_6_plus_binds_the_tls_end_point_and_nothing_else() {
        let data: &[u8] = b"\x01\x02end-point";
        let plus = Binding {
            plus: true,
            end_point: Some(data),
        };
        let first = client_first(b"p=tls-server-end-point,,n=user,r=abc", plus).unwrap();
        assert_eq!(
            first.channel_binding,
            [&b"p=tls-server-end-point,,"[..], data].concat()
        );
        let sf = server_first(first, Some(&pencil()), "xyz");
        let proof = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        // A client on another TLS connection (another end point) is caught
        // at c=, before the proof is even looked at.
        let other = B64.encode(b"p=tls-server-end-point,,other");
        let bad = format!("c={other},r=abcxyz,p={proof}");
        assert!(matches!(
            sf.client_final(bad.as_bytes()),
            Err(Refusal::Malformed(_))
        ));
        let right = B64.encode([&b"p=tls-server-end-point,,"[..], data].concat());
        let wrong_proof = format!("c={right},r=abcxyz,p={proof}");
        assert!(matches!(
            sf.client_final(wrong_proof.as_bytes()),
            Err(Refusal::Failed { .. })
        ));
        for bad in [
            &b"n,,n=user,r=abc"[..],
            b"y,,n=user,r=abc",
            b"p=tls-unique,,n=user,r=abc",
        ] {
            assert!(matches!(
                client_first(bad, plus),
                Err(Refusal::Malformed(_))
            ));
        }
        // Without -PLUS, on a connection that offers it, "y" means the
        // offer was stripped on the way.
        let offered = Binding {
            plus: false,
            end_point: Some(data),
        };
        assert!(matches!(
            client_first(b"y,,n=user,r=abc", offered),
            Err(Refusal::Malformed(_))
        ));
        assert!(client_first(b"n,,n=user,r=abc", offered).is_ok());
    }

    #[test]
    fn saslnames_decode_escapes_and_authzid_may_name_oneself() {
        let first = client_first(b"n,a=a=3Db,n=A=3Db=2Cc,r=xyz", NONE).unwrap_err();
        assert!(matches!(first, Refusal::OtherIdentity { .. }));
        let first = client_first(b"n,a=a=3Db=2Cc,n=a=3Db=2Cc,r=xyz", NONE).unwrap();
        assert_eq!(first.login, "a=b,c");
        assert_eq!(first.channel_binding, b"n,a=a=3Db=2Cc,");
    }

    #[test]
    fn rfc5802_7_malformed_client_final_messages() {
        let sf = rfc7677_server_first();
        let nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let proof = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        for bad in [
            format!("c=biws,r={nonce}"),              // no proof
            format!("r={nonce},p={proof}"),           // no c=
            format!("c=biws,p={proof}"),              // no r=
            format!("c=biws,r={nonce}x,p={proof}"),   // wrong nonce
            format!("c=eSws,r={nonce},p={proof}"),    // wrong binding
            format!("c=biws,r={nonce},p=not*base64"), // bad base64
            format!("c=biws,r={nonce},p=AAAA"),       // short proof
        ] {
            assert!(
                matches!(sf.client_final(bad.as_bytes()), Err(Refusal::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn stored_verifiers_parse_and_garbage_does_not() {
        assert!(Verifier::parse(&pencil()).is_some());
        for bad in [
            "",
            "SCRAM-SHA-256$",
            "SCRAM-SHA-256$4096:c2FsdA==$AAAA:AAAA",
            "SCRAM-SHA-1$4096:c2FsdA==$x:y",
            "$argon2id$v=19$m=19456,t=2,p=1$abc$def",
        ] {
            assert!(Verifier::parse(bad).is_none(), "{bad}");
        }
    }
}
