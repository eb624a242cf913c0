//! The store: the only place with SQL. It speaks in domain types and hides
//! the pool, the schema revision and the privilege list from its callers.

mod connect;
mod error;
pub mod privileges;
pub mod schema;
pub mod users;
pub mod mailboxes;
pub mod aliases;
pub mod counts;
pub mod auth;

pub use connect::{Db, DbRole, connect, pool};
pub use error::StoreError;
