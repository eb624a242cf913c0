//! Archiveopteryx: a PostgreSQL-centric archival mail server.
//!
//! Layers (see DESIGN.md §3): listeners → protocol front ends → store (the only SQL) → PostgreSQL.

pub mod archive;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod dev;
pub mod imap;
pub mod install;
pub mod lmtp;
pub mod mime;
pub mod net;
pub mod pop3;
pub mod search;
pub mod server;
pub mod store;
pub mod uidset;
