//! Authentication: how secrets are stored and checked.

pub mod password;
pub use password::{Secret, StoredSecrets};
