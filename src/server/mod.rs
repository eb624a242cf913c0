//! Server startup: the checks made before any listener opens, and the
//! listeners themselves.

mod listeners;
mod startup;

pub use listeners::{Listeners, Protocol, run};
pub use startup::{StartupError, StateError, check_database, shared_state};
