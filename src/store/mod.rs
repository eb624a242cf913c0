//! The store: the only place with SQL. It speaks in domain types and hides
//! the pool, the schema revision and the privilege list from its callers.

pub mod aliases;
pub mod archive_search;
pub mod audit;
pub mod auth;
pub mod changes;
mod connect;
pub mod copy;
pub mod counts;
pub mod delivery;
mod error;
pub mod expunge;
pub mod fetch;
pub mod flags;
pub mod holds;
pub mod inject;
pub mod mailbox_ops;
pub mod mailboxes;
pub mod messages;
pub mod notify;
pub mod pop3;
pub mod privileges;
pub mod provision;
pub mod retention;
pub mod schema;
pub mod search;
pub mod select;
pub mod tune;
pub mod undelete;
pub mod users;
pub mod vacuum;
pub mod vectors;

pub use connect::{Db, DbRole, connect, pool};
pub use error::StoreError;
