//! RFC 5929 §4 `tls-server-end-point` channel binding: a hash of the
//! server's certificate, with the hash function of the certificate's own
//! signature algorithm (SHA-256 where that is MD5 or SHA-1). SCRAM's -PLUS
//! mechanism binds the exchange to it, so a man in the middle holding
//! another certificate cannot relay the login.

use sha2::{Digest, Sha256, Sha384, Sha512};

/// The channel-binding data for the DER certificate `cert`, or None when
/// RFC 5929 defines none for its signature algorithm (RSASSA-PSS with its
/// hash in parameters, EdDSA…) or the certificate cannot be read.
pub fn tls_server_end_point(cert: &[u8]) -> Option<Vec<u8>> {
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, … }
    let (0x30, certificate, _) = tlv(cert)? else {
        return None;
    };
    let (0x30, _tbs, rest) = tlv(certificate)? else {
        return None;
    };
    let (0x30, algorithm, _) = tlv(rest)? else {
        return None;
    };
    let (0x06, oid, _) = tlv(algorithm)? else {
        return None;
    };
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA_SHA2: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
    const ECDSA_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01];
    let bits = match oid {
        // md5WithRSAEncryption, sha1WithRSAEncryption: SHA-256 instead.
        [prefix @ .., 0x04 | 0x05] if prefix == RSA => 256,
        [prefix @ .., 0x0b] if prefix == RSA => 256,
        [prefix @ .., 0x0c] if prefix == RSA => 384,
        [prefix @ .., 0x0d] if prefix == RSA => 512,
        _ if oid == ECDSA_SHA1 => 256,
        [prefix @ .., 0x02] if prefix == ECDSA_SHA2 => 256,
        [prefix @ .., 0x03] if prefix == ECDSA_SHA2 => 384,
        [prefix @ .., 0x04] if prefix == ECDSA_SHA2 => 512,
        _ => return None,
    };
    Some(match bits {
        256 => Sha256::digest(cert).to_vec(),
        384 => Sha384::digest(cert).to_vec(),
        _ => Sha512::digest(cert).to_vec(),
    })
}

/// One DER tag-length-value: (tag, content, what follows).
fn tlv(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, der) = der.split_first()?;
    let (&first, mut der) = der.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, rest) = der.split_at_checked(n)?;
        der = rest;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    let (content, rest) = der.split_at_checked(len)?;
    Some((tag, content, rest))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rfc5929_4_1_an_ecdsa_sha256_certificate_binds_to_its_sha256() {
        // rcgen's default: ECDSA P-256 with SHA-256, as dev mode makes.
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .unwrap()
            .cert;
        let der = cert.der().to_vec();
        assert_eq!(
            tls_server_end_point(&der).unwrap(),
            Sha256::digest(&der).to_vec()
        );
    }

    #[test]
    fn unreadable_certificates_have_no_end_point() {
        assert_eq!(tls_server_end_point(b""), None);
        assert_eq!(tls_server_end_point(&[0x30, 0x82, 0xff]), None);
        assert_eq!(tls_server_end_point(&[0x30, 0x03, 0x30, 0x01, 0x00]), None);
        // An Ed25519 signature (1.3.101.112): RFC 5929 names no hash.
        let ed = [
            0x30, 0x0b, 0x30, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x00,
        ];
        assert_eq!(tls_server_end_point(&ed), None);
        let sha384 = [
            0x30, 0x0e, 0x30, 0x00, 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04,
            0x03, 0x03,
        ];
        assert_eq!(tls_server_end_point(&sha384).unwrap().len(), 48);
    }
}
