//! The IMAP protocol layer, sans I/O: the framer that cuts a byte stream into
//! commands (literals included), the parser that turns one into a
//! [`command::Tagged`], and the writers that put response data on the wire.
//! No tokio and no store here.

pub mod command;
pub mod datetime;
pub mod framer;
pub mod mutf7;
pub mod parse;
pub mod write;
