//! Certificates and public keys in words.

use der::{Decode, Encode};
use sha2::Digest;
use spki::ObjectIdentifier;
use x509_cert::Certificate;

use const_oid::db::rfc5912::{
    ID_EC_PUBLIC_KEY, RSA_ENCRYPTION, SECP_256_R_1, SECP_384_R_1, SECP_521_R_1,
};
use const_oid::db::rfc8410::ID_ED_25519;

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
    hex::encode_upper(bytes)
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

/// The SubjectPublicKeyInfo DER of a certificate.
pub fn spki_of(cert_der: &[u8]) -> Result<Vec<u8>, String> {
    let cert = Certificate::from_der(cert_der).map_err(|e| format!("bad certificate: {e}"))?;
    cert.tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| e.to_string())
}

/// A public key file: SubjectPublicKeyInfo or X.509 certificate, PEM or DER; the SPKI DER.
pub fn public_key_der(raw: &[u8]) -> Result<Vec<u8>, String> {
    let der_bytes = match der::pem::decode_vec(raw) {
        Ok((label, d)) if label == "PUBLIC KEY" || label == "CERTIFICATE" => d,
        Ok((label, _)) => return Err(format!("a PEM {label}, not a PUBLIC KEY or CERTIFICATE")),
        Err(_) => raw.to_vec(),
    };
    if spki::SubjectPublicKeyInfoRef::from_der(&der_bytes).is_ok() {
        return Ok(der_bytes);
    }
    spki_of(&der_bytes).map_err(|_| "not a public key or certificate (PEM or DER)".into())
}

/// "EC P-256", "RSA-2048", "Ed25519", or the algorithm's name in the OID database.
pub fn describe_spki(spki_der: &[u8]) -> String {
    let Ok(spki) = spki::SubjectPublicKeyInfoRef::from_der(spki_der) else {
        return "unparsable public key".into();
    };
    let oid = spki.algorithm.oid;
    let name = |o: &ObjectIdentifier| {
        const_oid::db::DB
            .by_oid(o)
            .map(str::to_owned)
            .unwrap_or_else(|| o.to_string())
    };
    if oid == RSA_ENCRYPTION {
        use rsa::pkcs8::DecodePublicKey;
        use rsa::traits::PublicKeyParts;
        match rsa::RsaPublicKey::from_public_key_der(spki_der) {
            Ok(k) => format!("RSA-{}", k.n().bits()),
            Err(_) => "RSA".into(),
        }
    } else if oid == ID_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        match curve {
            Some(c) if c == SECP_256_R_1 => "EC P-256".into(),
            Some(c) if c == SECP_384_R_1 => "EC P-384".into(),
            Some(c) if c == SECP_521_R_1 => "EC P-521".into(),
            Some(c) => format!("EC {}", name(&c)),
            None => "EC".into(),
        }
    } else if oid == ID_ED_25519 {
        "Ed25519".into()
    } else {
        format!("public key algorithm {}", name(&oid))
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
