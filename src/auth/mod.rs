//! Authentication: how secrets are stored ([`password`]), the SASL
//! mechanisms as sans-I/O state machines ([`sasl`]), the failed-login
//! throttle ([`throttle`]), and the async shell the front ends call
//! ([`gate`]).

pub mod gate;
pub mod password;
pub mod sasl;
pub mod throttle;

pub use gate::{CheckError, Gate, check_cleartext};
pub use password::{Secret, StoredSecrets};
