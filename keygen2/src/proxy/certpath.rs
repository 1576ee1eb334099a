//! The checks the reference parser makes on an issued `certificatePath` (PROTOCOL.md §2.2,
//! §4.5): every certificate is issued by the next one, by name and by signature, and a
//! `trustAnchor` path ends with a CA certificate.

use spki::DecodePublicKey;
use x509_cert::der::{Decode, Encode};
use x509_cert::Certificate;

const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
const ECDSA_SHA512: &str = "1.2.840.10045.4.3.4";
const RSA_SHA256: &str = "1.2.840.113549.1.1.11";
const RSA_SHA384: &str = "1.2.840.113549.1.1.12";
const RSA_SHA512: &str = "1.2.840.113549.1.1.13";
const BASIC_CONSTRAINTS: &str = "2.5.29.19";

/// Checks `path` (DER, end-entity first).
pub fn check_path(path: &[Vec<u8>], trust_anchor: bool) -> Result<(), String> {
    let certs = path
        .iter()
        .map(|c| Certificate::from_der(c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad certificate: {e}"))?;
    for (i, w) in certs.windows(2).enumerate() {
        let issuer = w[0].tbs_certificate().issuer().to_der().unwrap_or_default();
        let subject = w[1]
            .tbs_certificate()
            .subject()
            .to_der()
            .unwrap_or_default();
        if issuer != subject {
            return Err(format!(
                "certificate {i} is not issued by certificate {}",
                i + 1
            ));
        }
        verify_signature(&w[0], &w[1]).map_err(|e| format!("certificate {i}: {e}"))?;
    }
    if trust_anchor {
        let last = certs.last().ok_or("empty certificate path")?;
        if !is_ca(last) {
            return Err("trustAnchor: the last certificate is not a CA certificate".into());
        }
    }
    Ok(())
}

fn is_ca(c: &Certificate) -> bool {
    c.tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
        .find(|e| e.extn_id.to_string() == BASIC_CONSTRAINTS)
        .and_then(|e| {
            x509_cert::ext::pkix::BasicConstraints::from_der(e.extn_value.as_bytes()).ok()
        })
        .is_some_and(|b| b.ca)
}

/// Verifies `cert`'s signature with `issuer`'s public key.
fn verify_signature(cert: &Certificate, issuer: &Certificate) -> Result<(), String> {
    use p256::ecdsa::signature::Verifier;
    let tbs = cert
        .tbs_certificate()
        .to_der()
        .map_err(|e| format!("TBS does not encode: {e}"))?;
    let spki = issuer
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| e.to_string())?;
    let sig = cert
        .signature()
        .as_bytes()
        .ok_or("signature with unused bits")?;
    let alg = cert.signature_algorithm().oid.to_string();
    let bad = || "signature does not verify".to_string();
    macro_rules! ecdsa {
        ($c:ident) => {{
            let vk = $c::ecdsa::VerifyingKey::from_public_key_der(&spki)
                .map_err(|_| "issuer key does not match the signature algorithm".to_string())?;
            let s = $c::ecdsa::DerSignature::from_bytes(sig).map_err(|_| bad())?;
            vk.verify(&tbs, &s).map_err(|_| bad())
        }};
    }
    macro_rules! rsa {
        ($h:ty) => {{
            let pk = rsa::RsaPublicKey::from_public_key_der(&spki)
                .map_err(|_| "issuer key does not match the signature algorithm".to_string())?;
            let s = rsa::pkcs1v15::Signature::try_from(sig).map_err(|_| bad())?;
            rsa::pkcs1v15::VerifyingKey::<$h>::new(pk)
                .verify(&tbs, &s)
                .map_err(|_| bad())
        }};
    }
    match alg.as_str() {
        ECDSA_SHA256 => ecdsa!(p256),
        ECDSA_SHA384 => ecdsa!(p384),
        ECDSA_SHA512 => ecdsa!(p521),
        RSA_SHA256 => rsa!(sha2::Sha256),
        RSA_SHA384 => rsa!(sha2::Sha384),
        RSA_SHA512 => rsa!(sha2::Sha512),
        other => Err(format!(
            "unsupported certificate signature algorithm {other}"
        )),
    }
}
