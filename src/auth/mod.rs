//! Authentication: how secrets are stored and checked, locally or against
//! an LDAP directory.

pub mod ldap;
pub mod password;
pub mod verify;
pub use password::{Secret, StoredSecrets};
