//! Key files to import: PKCS#8 private keys (PEM or DER; SEC1 and PKCS#1 PEM too) and raw or
//! hex symmetric keys.

use crate::fail::Fail;
use crate::profile::{KeyAlg, KeyKind};
use pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use std::path::Path;
use zeroize::Zeroizing;

pub enum Imported {
    Private {
        pkcs8: Zeroizing<Vec<u8>>,
        /// The public key, for its certificate.
        spki: Vec<u8>,
        alg: KeyAlg,
    },
    Symmetric(Zeroizing<Vec<u8>>),
}

fn private(der_bytes: &[u8]) -> Option<Imported> {
    let ok = |pkcs8: Vec<u8>, spki: Vec<u8>, alg: &str| {
        Some(Imported::Private {
            pkcs8: Zeroizing::new(pkcs8),
            spki,
            alg: KeyAlg::parse(alg).ok()?,
        })
    };
    macro_rules! ec {
        ($curve:ident, $name:literal) => {
            if let Ok(k) = $curve::SecretKey::from_pkcs8_der(der_bytes) {
                let spki = k.public_key().to_public_key_der().ok()?.into_vec();
                return ok(der_bytes.to_vec(), spki, $name);
            }
        };
    }
    ec!(p256, "p256");
    ec!(p384, "p384");
    ec!(p521, "p521");
    if let Ok(k) = rsa::RsaPrivateKey::from_pkcs8_der(der_bytes) {
        use rsa::traits::PublicKeyParts;
        let bits = k.n().bits();
        let spki = k.to_public_key().to_public_key_der().ok()?.into_vec();
        return ok(der_bytes.to_vec(), spki, &format!("rsa{bits}"));
    }
    None
}

/// PKCS#8 DER of a PEM private key of any common label.
fn pem_to_pkcs8(text: &str) -> Option<Vec<u8>> {
    let (label, der_bytes) = der::pem::decode_vec(text.as_bytes()).ok()?;
    match label {
        "PRIVATE KEY" => Some(der_bytes),
        "EC PRIVATE KEY" => {
            macro_rules! sec1 {
                ($curve:ident) => {
                    if let Ok(k) = $curve::SecretKey::from_sec1_der(&der_bytes) {
                        return k.to_pkcs8_der().ok().map(|d| d.as_bytes().to_vec());
                    }
                };
            }
            sec1!(p256);
            sec1!(p384);
            sec1!(p521);
            None
        }
        "RSA PRIVATE KEY" => {
            use rsa::pkcs1::DecodeRsaPrivateKey;
            let k = rsa::RsaPrivateKey::from_pkcs1_der(&der_bytes).ok()?;
            k.to_pkcs8_der().ok().map(|d| d.as_bytes().to_vec())
        }
        _ => None,
    }
}

/// Reads a key file. `alg` (the profile's) says whether a symmetric key is expected.
pub fn read(path: &Path, alg: Option<&str>) -> Result<Imported, Fail> {
    let raw = Zeroizing::new(
        std::fs::read(path)
            .map_err(|e| Fail::usage(format!("cannot read {}: {e}", path.display())))?,
    );
    let symmetric = alg
        .and_then(|a| KeyAlg::parse(a).ok())
        .is_some_and(|a| matches!(a.kind, KeyKind::Aes(_) | KeyKind::Hmac));
    if !symmetric {
        let text = std::str::from_utf8(&raw).ok();
        let der_bytes = match text.filter(|t| t.contains("-----BEGIN")) {
            Some(t) => Zeroizing::new(pem_to_pkcs8(t).ok_or_else(|| {
                Fail::usage(format!(
                    "{}: not a P-256/384/521 or RSA private key",
                    path.display()
                ))
            })?),
            None => raw.clone(),
        };
        return private(&der_bytes).ok_or_else(|| {
            Fail::usage(format!(
                "{}: not a PKCS#8 P-256/384/521 or RSA private key (for a symmetric key, give \
                 alg aes128|aes192|aes256|hmac)",
                path.display()
            ))
        });
    }
    // Hex text (optionally with a trailing newline) or raw bytes.
    let trimmed = std::str::from_utf8(&raw).ok().map(str::trim);
    if let Some(t) = trimmed.filter(|t| t.len() >= 32 && t.bytes().all(|b| b.is_ascii_hexdigit())) {
        if let Ok(v) = hex::decode(t) {
            return Ok(Imported::Symmetric(Zeroizing::new(v)));
        }
    }
    Ok(Imported::Symmetric(raw))
}
