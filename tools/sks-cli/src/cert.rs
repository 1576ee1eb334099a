//! Certificates and public keys in words.

use der::{Decode, Encode};
use sha2::Digest;
use spki::ObjectIdentifier;
use x509_cert::Certificate;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const BRAINPOOL_P256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.7");
const SECP256K1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.10");

/// What `sks` shows of one certificate.
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    pub sha256: String,
    pub key: String,
}

impl CertInfo {
    pub fn parse(der_bytes: &[u8]) -> Result<Self, String> {
        let cert = Certificate::from_der(der_bytes).map_err(|e| format!("bad certificate: {e}"))?;
        let tbs = cert.tbs_certificate();
        let spki_der = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(|e| e.to_string())?;
        Ok(CertInfo {
            subject: tbs.subject().to_string(),
            issuer: tbs.issuer().to_string(),
            serial: colon_hex(tbs.serial_number().as_bytes()),
            not_before: tbs.validity().not_before.to_string(),
            not_after: tbs.validity().not_after.to_string(),
            sha256: colon_hex(&sha2::Sha256::digest(der_bytes)),
            key: describe_spki(&spki_der),
        })
    }
}

/// `AB:CD:...` hex.
pub fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// "EC P-256", "RSA-2048", "Ed25519", or the algorithm OID.
pub fn describe_spki(spki_der: &[u8]) -> String {
    let Ok(spki) = spki::SubjectPublicKeyInfoRef::from_der(spki_der) else {
        return "unparsable public key".into();
    };
    let oid = spki.algorithm.oid;
    if oid == RSA_ENCRYPTION {
        use rsa::pkcs8::DecodePublicKey;
        use rsa::traits::PublicKeyParts;
        match rsa::RsaPublicKey::from_public_key_der(spki_der) {
            Ok(k) => format!("RSA-{}", k.n().bits()),
            Err(_) => "RSA".into(),
        }
    } else if oid == EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        match curve {
            Some(c) if c == P256 => "EC P-256".into(),
            Some(c) if c == P384 => "EC P-384".into(),
            Some(c) if c == P521 => "EC P-521".into(),
            Some(c) if c == BRAINPOOL_P256R1 => "EC brainpoolP256r1".into(),
            Some(c) if c == SECP256K1 => "EC secp256k1".into(),
            Some(c) => format!("EC (curve {c})"),
            None => "EC".into(),
        }
    } else if oid == ED25519 {
        "Ed25519".into()
    } else {
        format!("public key algorithm {oid}")
    }
}

/// PEM of a certificate.
pub fn to_pem(der_bytes: &[u8]) -> String {
    der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der_bytes).unwrap_or_default()
}

/// PEM of a PKCS#8 private key.
pub fn private_key_pem(der_bytes: &[u8]) -> String {
    der::pem::encode_string("PRIVATE KEY", der::pem::LineEnding::LF, der_bytes).unwrap_or_default()
}
