//! LOGIN (draft-murchison-sasl-login-00): the server prompts for the user
//! name and then the password; each reply is the bare text.

use super::Refusal;

/// The first challenge, as the draft's examples and common clients use it.
pub(super) const USERNAME: &[u8] = b"Username:";
/// The second challenge.
pub(super) const PASSWORD: &[u8] = b"Password:";

/// One reply as text: UTF-8 without NUL (the draft allows no NUL, and a
/// NUL would only be PLAIN sent to the wrong mechanism).
pub(super) fn text(data: &[u8]) -> Result<String, Refusal> {
    if data.contains(&0) {
        return Err(Refusal::Malformed("the LOGIN response contains NUL"));
    }
    String::from_utf8(data.to_vec())
        .map_err(|_| Refusal::Malformed("the LOGIN response is not UTF-8"))
}
