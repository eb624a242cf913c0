//! PLAIN (RFC 4616): one message, `authzid NUL authcid NUL passwd`.

use super::Refusal;
use crate::auth::Secret;

/// Decodes a PLAIN message (already base64-decoded). Returns the login and
/// the password. RFC 4616 §2: an authzid other than the authcid asks to act
/// as another user, which this server does not offer.
pub(super) fn decode(message: &[u8]) -> Result<(String, Secret), Refusal> {
    let mut fields = message.split(|&b| b == 0);
    let (Some(authz), Some(authc), Some(pass), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(Refusal::Malformed("malformed PLAIN response"));
    };
    let (Ok(authz), Ok(authc), Ok(pass)) = (
        std::str::from_utf8(authz),
        std::str::from_utf8(authc),
        std::str::from_utf8(pass),
    ) else {
        return Err(Refusal::Malformed("the PLAIN response is not UTF-8"));
    };
    if authc.is_empty() {
        return Err(Refusal::Malformed("the PLAIN response names no user"));
    }
    if !authz.is_empty() && !authz.eq_ignore_ascii_case(authc) {
        return Err(Refusal::OtherIdentity {
            login: authc.to_owned(),
        });
    }
    Ok((authc.to_owned(), Secret::new(pass)))
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn rfc4616_2_plain_carries_authzid_authcid_and_password() {
        let Ok((login, pass)) = decode(b"\0alice\0se cret") else {
            panic!("a well-formed PLAIN response was refused");
        };
        assert_eq!(login, "alice");
        assert_eq!(pass.expose(), "se cret");
        // The same identity as authzid is acting as oneself.
        assert!(decode(b"Alice\0alice\0x").is_ok());
        assert!(matches!(
            decode(b"bob\0alice\0x"),
            Err(Refusal::OtherIdentity { .. })
        ));
    }

    #[test]
    fn malformed_plain_responses_are_refused() {
        for bad in [
            &b"alice\0secret"[..],
            b"\0alice\0secret\0more",
            b"\0alice\0\xff",
            b"\0\0secret",
            b"",
        ] {
            assert!(matches!(decode(bad), Err(Refusal::Malformed(_))), "{bad:?}");
        }
    }
}
