//! JSON canonicalization (RFC 8785, "JCS") through the `serde_jcs` crate, and the JSF
//! signature check of lookup specifiers (PROTOCOL.md §5.1).

use crate::b64;
use crate::jwk::Jwk;
use crate::messages::LookupSpecifier;
use serde::Serialize;

/// The RFC 8785 form of any serializable value.
pub fn canonicalize<T: Serialize + ?Sized>(v: &T) -> Result<String, String> {
    serde_jcs::to_string(v).map_err(|e| format!("JCS: {e}"))
}

/// The RFC 8785 form of a JSON text.
pub fn canonicalize_text(text: &str) -> Result<String, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    canonicalize(&v)
}

/// The bytes a JSF signature covers: the object with `signature.value` removed, canonicalized.
pub fn jsf_signed_data<T: Serialize>(object: &T) -> Result<Vec<u8>, String> {
    let mut v = serde_json::to_value(object).map_err(|e| e.to_string())?;
    let sig = v
        .get_mut("signature")
        .and_then(|s| s.as_object_mut())
        .ok_or("no signature object")?;
    sig.remove("value");
    Ok(canonicalize(&v)?.into_bytes())
}

/// Verifies the JSF signature of a lookup specifier with its embedded public key. Only
/// SHA-256 algorithms are accepted: ES256 (raw r‖s), RS256, PS256.
pub fn verify_lookup_signature(l: &LookupSpecifier) -> Result<(), String> {
    let data = jsf_signed_data(l)?;
    verify(
        &l.signature.algorithm,
        &l.signature.public_key,
        &data,
        &l.signature.value,
    )
}

/// Verifies `signature` over `data` with `key` for a JOSE algorithm with SHA-256.
pub fn verify(algorithm: &str, key: &Jwk, data: &[u8], signature: &[u8]) -> Result<(), String> {
    use p256::ecdsa::signature::Verifier;
    use spki::DecodePublicKey;
    let spki = key.to_spki()?;
    let failed = || format!("{algorithm} signature does not verify");
    match (algorithm, key) {
        ("ES256", Jwk::Ec { .. }) => {
            let vk = p256::ecdsa::VerifyingKey::from_public_key_der(&spki)
                .map_err(|_| "ES256 needs a P-256 key".to_string())?;
            let sig = p256::ecdsa::Signature::from_slice(signature).map_err(|_| failed())?;
            vk.verify(data, &sig).map_err(|_| failed())
        }
        ("RS256", Jwk::Rsa { .. }) => {
            let pk = rsa::RsaPublicKey::from_public_key_der(&spki).map_err(|e| e.to_string())?;
            let sig = rsa::pkcs1v15::Signature::try_from(signature).map_err(|_| failed())?;
            rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(pk)
                .verify(data, &sig)
                .map_err(|_| failed())
        }
        ("PS256", Jwk::Rsa { .. }) => {
            let pk = rsa::RsaPublicKey::from_public_key_der(&spki).map_err(|e| e.to_string())?;
            let sig = rsa::pss::Signature::try_from(signature).map_err(|_| failed())?;
            rsa::pss::VerifyingKey::<sha2::Sha256>::new(pk)
                .verify(data, &sig)
                .map_err(|_| failed())
        }
        (other, _) => Err(format!(
            "signature algorithm \"{other}\" with this key is not accepted (SHA-256 required)"
        )),
    }
}

/// base64url of `value` (for callers building JSF objects).
pub fn value(sig: &[u8]) -> String {
    b64::encode(sig)
}
