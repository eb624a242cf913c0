//! Networking shared by the front ends: TLS setup and the stream type that
//! can turn into TLS midway (STARTTLS, STLS), and the per-address
//! connection limit.

pub mod end_point;
pub mod limits;
pub mod stream;
pub mod tls;
