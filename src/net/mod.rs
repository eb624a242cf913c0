//! Networking shared by the front ends: TLS setup and the stream type that
//! can turn into TLS midway (STARTTLS, STLS).

pub mod stream;
pub mod tls;
