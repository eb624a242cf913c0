//! Archiveopteryx: a PostgreSQL-centric archival mail server.
//!
//! Layers (see DESIGN.md §3): listeners → protocol front ends → store (the only SQL) → PostgreSQL.

pub mod cluster;
pub mod config;
pub mod auth;
pub mod store;
pub mod install;
pub mod imap;
pub mod server;
pub mod dev;
pub mod mime;
