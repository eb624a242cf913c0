//! Integration tests: one binary, so one private PostgreSQL cluster serves
//! the whole run. Modules are filed by what they test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

mod audit;
mod auth_sasl;
mod backup_restore;
mod cli_admin;
mod cli_aliases;
mod cli_export;
mod cli_mailboxes;
mod cli_search;
mod cli_support;
mod cli_users;
mod export_bundle;
mod getmail;
mod imap_clients;
mod imap_processes;
mod imap_protocol;
mod imap_support;
mod imap_sync_clients;
mod imap_tls;
mod import_archive;
mod import_corpus;
mod import_crash;
mod import_dedup;
mod import_support;
mod import_tune;
mod inject;
mod installer;
mod ldap;
mod lmtp;
mod lmtp_batch;
mod pop3;
mod postfix;
mod privileges;
mod retention;
mod schema_revision;
mod search_vectors;
mod server;
mod slapd_support;
mod store_delivery;
mod store_fetch;
mod store_imap;
mod store_mailbox_ops;
mod store_search;
mod undelete;
mod vacuum_holds;
mod vacuum_lmtp;
