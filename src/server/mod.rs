//! Server startup: the checks made before any listener opens, and the
//! listeners themselves.

mod listeners;
mod startup;

pub use listeners::{Listeners, run};
pub use startup::{StartupError, check_database};
