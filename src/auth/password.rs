//! Password storage: an argon2id hash for PLAIN/LOGIN and a SCRAM-SHA-256
//! verifier (RFC 5802/7677) for SCRAM, in PostgreSQL's own verifier format.
//! Neither lets a reader of the users table log in.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// SCRAM iteration count: RFC 7677 asks for at least 4096.
pub const SCRAM_ITERATIONS: u32 = 4096;

/// A cleartext secret in memory: Debug never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a cleartext password.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The cleartext, for hashing or for a connection string.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What the users table stores for a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSecrets {
    /// argon2id PHC string.
    pub password_hash: String,
    /// `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`.
    pub scram_verifier: String,
}

/// Why a password could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Empty passwords are refused: an empty secret must never mean "anything goes".
    #[error("the password is empty")]
    Empty,
    /// The hashing library failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

impl StoredSecrets {
    /// Hashes `password` both ways with fresh salts.
    pub fn derive(password: &Secret) -> Result<StoredSecrets, PasswordError> {
        let pw = password.expose();
        if pw.is_empty() {
            return Err(PasswordError::Empty);
        }
        let mut salt_bytes = [0u8; 16];
        rand::fill(&mut salt_bytes);
        let salt =
            SaltString::encode_b64(&salt_bytes).map_err(|e| PasswordError::Hash(e.to_string()))?;
        let password_hash = argon2::Argon2::default()
            .hash_password(pw.as_bytes(), &salt)
            .map_err(|e| PasswordError::Hash(e.to_string()))?
            .to_string();
        let mut scram_salt = [0u8; 16];
        rand::fill(&mut scram_salt);
        let scram_verifier = scram_verifier(pw, &scram_salt, SCRAM_ITERATIONS);
        Ok(StoredSecrets {
            password_hash,
            scram_verifier,
        })
    }
}

/// Checks a cleartext password against a stored argon2id hash.
pub fn verify_password(password: &Secret, password_hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(password_hash) else {
        return false;
    };
    !password.expose().is_empty()
        && argon2::Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok()
}

/// HMAC-SHA-256 of `data` under `key`.
pub(crate) fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// The SCRAM-SHA-256 verifier for `password` (RFC 5802 §3). RFC 5802 has
/// the client SASLprep (RFC 4013) the password before hashing, so the
/// verifier is made from the prepared form; a password SASLprep refuses is
/// used as it is, as PostgreSQL does, so such a user can still log in with
/// a client that does the same.
pub fn scram_verifier(password: &str, salt: &[u8], iterations: u32) -> String {
    let prepared = stringprep::saslprep(password).unwrap_or(std::borrow::Cow::Borrowed(password));
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(prepared.as_bytes(), salt, iterations, &mut salted);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(&client_key);
    let server_key = hmac(&salted, b"Server Key");
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        B64.encode(salt),
        B64.encode(stored_key),
        B64.encode(server_key)
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rfc7677_example_verifier() {
        // RFC 7677 §3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations.
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let v = scram_verifier("pencil", &salt, 4096);
        // ServerKey from the RFC's server signature derivation; StoredKey = H(ClientKey).
        let parts: Vec<&str> = v.split(['$', ':']).collect();
        assert_eq!(parts[0], "SCRAM-SHA-256");
        assert_eq!(parts[1], "4096");
        assert_eq!(parts[2], "W22ZaJ0SNY7soEsUEjb6gQ==");
        assert_eq!(parts[3], "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=");
        assert_eq!(parts[4], "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
    }

    #[test]
    fn rfc4013_scram_verifiers_are_made_from_the_saslprepped_password() {
        // U+00AA (ª) is NFKC-mapped to "a"; U+00AD (soft hyphen) maps to nothing.
        let salt = b"salt";
        assert_eq!(
            scram_verifier("I\u{AD}X\u{AA}", salt, 4096),
            scram_verifier("IXa", salt, 4096)
        );
        // A prohibited character (U+0007): used as is, not refused.
        assert_ne!(
            scram_verifier("a\u{7}", salt, 4096),
            scram_verifier("a", salt, 4096)
        );
    }

    #[test]
    fn derived_secrets_verify_the_password_and_only_it() {
        let s = StoredSecrets::derive(&Secret::new("correct horse")).unwrap();
        assert!(s.password_hash.starts_with("$argon2id$"));
        assert!(!s.password_hash.contains("correct horse"));
        assert!(verify_password(
            &Secret::new("correct horse"),
            &s.password_hash
        ));
        assert!(!verify_password(&Secret::new("wrong"), &s.password_hash));
        assert!(!verify_password(&Secret::new(""), &s.password_hash));
    }

    #[test]
    fn empty_passwords_are_refused_and_secrets_never_debug_print() {
        assert!(matches!(
            StoredSecrets::derive(&Secret::new("")),
            Err(PasswordError::Empty)
        ));
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "<redacted>");
    }
}
