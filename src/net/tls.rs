//! TLS for the listeners: a rustls server configuration from one PEM file
//! holding the certificate chain and the private key (as Archiveopteryx's
//! `tls-certificate` takes it), and a self-signed one for dev mode.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be read.
    #[error("cannot read the TLS certificate file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds no certificate or no key, or they do not fit.
    #[error("the TLS certificate file {path} is not usable: {why}")]
    Unusable {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
    /// A self-signed certificate could not be made.
    #[error("cannot make a self-signed certificate: {0}")]
    SelfSigned(String),
}

/// TLS for the listeners.
#[derive(Clone)]
pub struct Tls {
    /// Accepts connections.
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// The certificate's `tls-server-end-point` channel binding (RFC 5929),
    /// when its signature algorithm defines one.
    pub end_point: Option<Vec<u8>>,
}

/// The acceptor for `pem_file`: its certificates in order (leaf first) and
/// its private key (PKCS#8, PKCS#1 or SEC1).
pub fn acceptor(pem_file: &Path) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    Ok(load(pem_file)?.acceptor)
}

/// The acceptor for `pem_file` and its leaf certificate's channel binding.
pub fn load(pem_file: &Path) -> Result<Tls, TlsError> {
    let path = pem_file.display().to_string();
    let pem = std::fs::read(pem_file).map_err(|source| TlsError::Read {
        path: path.clone(),
        source,
    })?;
    let unusable = |why: String| TlsError::Unusable {
        path: path.clone(),
        why,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| unusable(format!("bad certificate: {e}")))?;
    if certs.is_empty() {
        return Err(unusable("it holds no certificate".into()));
    }
    let end_point = certs
        .first()
        .and_then(|leaf| crate::net::end_point::tls_server_end_point(leaf));
    let key = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| unusable(format!("no usable private key: {e}")))?;
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| unusable(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| unusable(e.to_string()))?;
    Ok(Tls {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        end_point,
    })
}

/// Writes a self-signed certificate and key for `hostnames` to `pem_file`
/// (mode 0600) unless the file exists already. Dev mode uses it so STARTTLS
/// and IMAPS work on a fresh machine.
pub fn ensure_self_signed(pem_file: &Path, hostnames: &[&str]) -> Result<(), TlsError> {
    if pem_file.exists() {
        return Ok(());
    }
    let names: Vec<String> = hostnames.iter().map(|h| (*h).to_owned()).collect();
    let certified = rcgen::generate_simple_self_signed(names)
        .map_err(|e| TlsError::SelfSigned(e.to_string()))?;
    let mut pem = certified.cert.pem();
    pem.push_str(&certified.signing_key.serialize_pem());
    crate::install::write_private_file(pem_file, &pem)
        .map_err(|e| TlsError::SelfSigned(format!("cannot write {}: {e}", pem_file.display())))
}
