//! The store: the only place with SQL. It speaks in domain types and hides
//! the pool, the schema revision and the privilege list from its callers.

pub mod aliases;
pub mod auth;
mod connect;
pub mod counts;
mod error;
pub mod fetch;
pub mod inject;
pub mod mailboxes;
pub mod messages;
pub mod privileges;
pub mod schema;
pub mod tune;
pub mod users;

pub use connect::{Db, DbRole, connect, pool};
pub use error::StoreError;
