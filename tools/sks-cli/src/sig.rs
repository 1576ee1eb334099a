//! Signature formats and the local check of `sks verify`.
//!
//! ECDSA signatures leave the card as `r ‖ s` (SKS wire format); other tools (openssl dgst,
//! X.509, CMS) take the DER `ECDSA-Sig-Value` of RFC 3279, encoded here with the `der` crate.
//! RSA PKCS#1 v1.5 signatures are the same in both formats.

use crate::algs::Hash;
use apdu_spec::algorithms::signature;
use der::asn1::UintRef;
#[cfg(test)]
use der::Decode;
use der::{Encode, Sequence};

/// RFC 3279 `Ecdsa-Sig-Value`.
#[derive(Sequence)]
struct EcdsaSigValue<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

/// Whether `alg` (a signature URI) is ECDSA.
pub fn is_ecdsa(alg: &str) -> bool {
    matches!(
        alg,
        signature::ECDSA_SHA256
            | signature::ECDSA_SHA384
            | signature::ECDSA_SHA512
            | signature::ECDSA_NONE
    )
}

/// DER of a raw `r ‖ s` ECDSA signature.
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Result<Vec<u8>, String> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return Err(format!("an r ‖ s signature of {} bytes", raw.len()));
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let v = EcdsaSigValue {
        r: UintRef::new(r).map_err(|e| e.to_string())?,
        s: UintRef::new(s).map_err(|e| e.to_string())?,
    };
    v.to_der().map_err(|e| e.to_string())
}

/// Raw `r ‖ s` (each `field_len` bytes) of a DER ECDSA signature.
#[cfg(test)]
pub fn ecdsa_der_to_raw(der_sig: &[u8], field_len: usize) -> Result<Vec<u8>, String> {
    let v =
        EcdsaSigValue::from_der(der_sig).map_err(|e| format!("not a DER ECDSA signature: {e}"))?;
    let mut out = Vec::with_capacity(2 * field_len);
    for part in [v.r.as_bytes(), v.s.as_bytes()] {
        if part.len() > field_len {
            return Err("r or s longer than the curve's field".into());
        }
        out.resize(out.len() + field_len - part.len(), 0);
        out.extend_from_slice(part);
    }
    Ok(out)
}

/// The key of a certificate, for [`verify`].
pub fn verify(spki_der: &[u8], alg: &str, digest: &[u8], sig: &[u8]) -> Result<bool, String> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    use pkcs8::DecodePublicKey;
    macro_rules! ec {
        ($curve:ident) => {{
            let vk = $curve::ecdsa::VerifyingKey::from_public_key_der(spki_der)
                .map_err(|e| e.to_string())?;
            let s = $curve::ecdsa::Signature::from_der(sig)
                .or_else(|_| $curve::ecdsa::Signature::from_slice(sig))
                .map_err(|_| "not an ECDSA signature of this curve".to_string())?;
            return Ok(vk.verify_prehash(digest, &s).is_ok());
        }};
    }
    if is_ecdsa(alg) {
        if p256::ecdsa::VerifyingKey::from_public_key_der(spki_der).is_ok() {
            ec!(p256)
        }
        if p384::ecdsa::VerifyingKey::from_public_key_der(spki_der).is_ok() {
            ec!(p384)
        }
        if p521::ecdsa::VerifyingKey::from_public_key_der(spki_der).is_ok() {
            ec!(p521)
        }
        return Err("sks verify checks ECDSA on P-256, P-384 and P-521 keys only".into());
    }
    let key = rsa::RsaPublicKey::from_public_key_der(spki_der)
        .map_err(|_| "the certificate's key is neither EC nor RSA".to_string())?;
    let scheme = match Hash::of_signature(alg) {
        Some(Hash::Sha256) => rsa::pkcs1v15::Pkcs1v15Sign::new::<sha2::Sha256>(),
        Some(Hash::Sha384) => rsa::pkcs1v15::Pkcs1v15Sign::new::<sha2::Sha384>(),
        Some(Hash::Sha512) => rsa::pkcs1v15::Pkcs1v15Sign::new::<sha2::Sha512>(),
        Some(Hash::None) if alg == signature::RSA_PKCS1_NONE => {
            rsa::pkcs1v15::Pkcs1v15Sign::new_unprefixed()
        }
        _ => return Err(format!("sks verify does not check {alg}")),
    };
    Ok(key.verify(scheme, digest, sig).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_round_trip() {
        let mut raw = vec![0u8; 64];
        raw[0] = 0x80; // r needs a leading zero in DER
        raw[33] = 0x01; // s starts with zeros
        let der_sig = ecdsa_raw_to_der(&raw).unwrap();
        assert_eq!(der_sig[0], 0x30);
        assert_eq!(ecdsa_der_to_raw(&der_sig, 32).unwrap(), raw);
        assert!(ecdsa_raw_to_der(&[1, 2, 3]).is_err());
        assert!(ecdsa_der_to_raw(&[0x30, 0x00], 32).is_err());
    }
}
