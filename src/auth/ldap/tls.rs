//! TLS to the directory: rustls with ring, the server's one provider,
//! trusting `ldap-ca-certificate` when it is set (a private CA, as most
//! directories have) and otherwise the system's CA bundle, which ldap3
//! loads itself.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, pem::PemObject};

use super::{LdapConfigError, LdapSettings};

/// The client config for `settings`, or None when ldap3's default (the
/// system's CA bundle) applies or TLS is not used.
pub fn client_config(
    settings: &LdapSettings,
) -> Result<Option<Arc<rustls::ClientConfig>>, LdapConfigError> {
    let Some(path) = settings
        .ca_certificate
        .as_ref()
        .filter(|_| settings.uses_tls())
    else {
        return Ok(None);
    };
    let bad = |why: String| LdapConfigError::CaCertificate {
        path: path.display().to_string(),
        why,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
        let cert = cert.map_err(|e| bad(e.to_string()))?;
        roots.add(cert).map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("holds no certificate".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(Arc::new(config)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn settings(url: &str, ca: &str) -> LdapSettings {
        let mut c = Config::defaults();
        c.set("ldap-url", url).unwrap();
        c.set("ldap-search-base", "dc=example,dc=org").unwrap();
        c.set("ldap-ca-certificate", ca).unwrap();
        LdapSettings::from_config(&c).unwrap().unwrap()
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_a_configuration_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem").display().to_string();
        assert!(matches!(
            client_config(&settings("ldaps://ldap.example.org", &missing)),
            Err(LdapConfigError::CaCertificate { .. })
        ));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap();
        let err = client_config(&settings(
            "ldaps://ldap.example.org",
            &empty.display().to_string(),
        ))
        .unwrap_err();
        assert!(err.to_string().ends_with("holds no certificate"), "{err}");
        // Without TLS the file is not needed, so not read.
        assert!(
            client_config(&settings("ldap://ldap.example.org", &missing))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_ca_file_is_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("ca.pem");
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(&pem, certified.cert.pem()).unwrap();
        let s = settings("ldaps://localhost", &pem.display().to_string());
        assert!(client_config(&s).unwrap().is_some());
    }
}
