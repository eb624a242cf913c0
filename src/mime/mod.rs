//! Messages: parse, normalise, hash, envelope/bodystructure, wire bytes. Pure: no I/O, no async, no SQL.
