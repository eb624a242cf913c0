//! Authentication: how secrets are stored ([`password`]), the SASL
//! mechanisms as sans-I/O state machines ([`sasl`]), the failed-login
//! throttle ([`throttle`]), the cleartext check against the local hash or an
//! LDAP directory ([`verify`], [`ldap`]), and the async shell the front ends
//! call ([`gate`]).

pub mod gate;
pub mod ldap;
pub mod password;
pub mod sasl;
pub mod throttle;
pub mod verify;

pub use gate::{CheckError, Gate, check_cleartext};
pub use password::{Secret, StoredSecrets};
