//! Key management keys (KMK) and their authorizations: Target Key Reference (spec 6.4) and
//! RollOverAuthorization (updateKeyManagementKey, spec-notes §3.8).

use crate::crypto::Curve;
use crate::macdata::constants;
use crate::Error;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::signature::Signer;
use pkcs8::EncodePublicKey;
use sha2::Sha256;

/// A key management key: its private half signs authorizations, its SPKI goes into
/// createProvisioningSession's `keyManagementKey`.
#[derive(Clone)]
pub enum Kmk {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    P521(p521::ecdsa::SigningKey),
    Rsa(Box<rsa::RsaPrivateKey>),
}

impl core::fmt::Debug for Kmk {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Kmk::P256(_) => f.write_str("Kmk(P-256)"),
            Kmk::P384(_) => f.write_str("Kmk(P-384)"),
            Kmk::P521(_) => f.write_str("Kmk(P-521)"),
            Kmk::Rsa(k) => {
                write!(
                    f,
                    "Kmk(RSA-{})",
                    rsa::traits::PublicKeyParts::size(k.as_ref()) * 8
                )
            }
        }
    }
}

impl Kmk {
    /// A fresh EC KMK on `curve`.
    pub fn generate_ec(curve: Curve) -> Self {
        let mut rng = crate::crypto::rng();
        match curve {
            Curve::P256 => Kmk::P256(
                <p256::SecretKey as p256::elliptic_curve::Generate>::generate_from_rng(&mut rng)
                    .into(),
            ),
            Curve::P384 => Kmk::P384(
                <p384::SecretKey as p256::elliptic_curve::Generate>::generate_from_rng(&mut rng)
                    .into(),
            ),
            Curve::P521 => Kmk::P521(
                <p521::SecretKey as p256::elliptic_curve::Generate>::generate_from_rng(&mut rng)
                    .into(),
            ),
        }
    }

    /// A fresh P-256 KMK.
    pub fn generate_p256() -> Self {
        Self::generate_ec(Curve::P256)
    }

    /// A fresh RSA KMK of `bits` bits (exponent 65537).
    pub fn generate_rsa(bits: usize) -> Result<Self, Error> {
        let key = rsa::RsaPrivateKey::new(&mut crate::crypto::rng(), bits)
            .map_err(|e| Error::Crypto(format!("RSA key generation: {e}")))?;
        Ok(Kmk::Rsa(Box::new(key)))
    }

    /// The public key as canonical SubjectPublicKeyInfo DER.
    pub fn spki(&self) -> Vec<u8> {
        let der = match self {
            Kmk::P256(k) => k.verifying_key().to_public_key_der(),
            Kmk::P384(k) => k.verifying_key().to_public_key_der(),
            Kmk::P521(k) => k.verifying_key().to_public_key_der(),
            Kmk::Rsa(k) => k.to_public_key().to_public_key_der(),
        };
        der.expect("public keys encode").as_bytes().to_vec()
    }

    /// Signs `data` the SKS way: RSA PKCS#1 v1.5 / SHA-256, or ECDSA / SHA-256 as raw `r ‖ s`.
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        let digest = crate::crypto::sha256(data);
        match self {
            Kmk::P256(k) => {
                let s: p256::ecdsa::Signature = k.sign(data);
                s.to_bytes().to_vec()
            }
            Kmk::P384(k) => {
                let s: p384::ecdsa::Signature = k.sign_prehash(&digest).expect("ECDSA signs");
                s.to_bytes().to_vec()
            }
            Kmk::P521(k) => {
                let s: p521::ecdsa::Signature = k.sign_prehash(&digest).expect("ECDSA signs");
                s.to_bytes().to_vec()
            }
            Kmk::Rsa(k) => {
                let s = rsa::pkcs1v15::SigningKey::<Sha256>::new(k.as_ref().clone()).sign(data);
                rsa::signature::SignatureEncoding::to_vec(&s)
            }
        }
    }

    /// ECDSA signature over `data` in DER (the wrong format; the card must reject it with
    /// ERROR_CRYPTO). `None` for RSA keys.
    pub fn sign_der(&self, data: &[u8]) -> Option<Vec<u8>> {
        let digest = crate::crypto::sha256(data);
        Some(match self {
            Kmk::P256(k) => {
                let s: p256::ecdsa::Signature = k.sign_prehash(&digest).ok()?;
                s.to_der().as_bytes().to_vec()
            }
            Kmk::P384(k) => {
                let s: p384::ecdsa::Signature = k.sign_prehash(&digest).ok()?;
                s.to_der().as_bytes().to_vec()
            }
            Kmk::P521(k) => {
                let s: p521::ecdsa::Signature = k.sign_prehash(&digest).ok()?;
                s.to_der().as_bytes().to_vec()
            }
            Kmk::Rsa(_) => return None,
        })
    }

    /// The data a Target Key Reference authorization signs: `"TargetKeyReference" ‖ keyRef`.
    pub fn target_key_reference_data(key_reference: &[u8; 32]) -> Vec<u8> {
        [constants::TARGET_KEY_REFERENCE, key_reference.as_slice()].concat()
    }

    /// A Target Key Reference authorization over the TKR HMAC (see
    /// [`SessionKeys::key_reference`](crate::SessionKeys::key_reference)).
    pub fn authorize_target(&self, key_reference: &[u8; 32]) -> Vec<u8> {
        self.sign(&Self::target_key_reference_data(key_reference))
    }

    /// The data a RollOverAuthorization signs: `"RollOverAuthorization" ‖ SPKI(newKMK)`.
    pub fn roll_over_data(new_kmk_spki: &[u8]) -> Vec<u8> {
        [constants::ROLL_OVER_AUTHORIZATION, new_kmk_spki].concat()
    }

    /// RollOverAuthorization: this (old) KMK signs the new KMK's SPKI.
    pub fn authorize_roll_over(&self, new_kmk: &Kmk) -> Vec<u8> {
        self.sign(&Self::roll_over_data(&new_kmk.spki()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::PublicKey;

    #[test]
    fn signatures_verify_and_have_sks_format() {
        let data = b"TargetKeyReference and then some";
        for (kmk, len) in [
            (Kmk::generate_ec(Curve::P256), Some(64)),
            (Kmk::generate_ec(Curve::P384), Some(96)),
            (Kmk::generate_ec(Curve::P521), Some(132)),
            (Kmk::generate_rsa(1024).unwrap(), Some(128)),
        ] {
            let sig = kmk.sign(data);
            assert_eq!(Some(sig.len()), len, "{kmk:?}");
            let pk = PublicKey::from_spki(&kmk.spki()).unwrap();
            pk.verify_sha256(data, &sig).unwrap();
            assert!(pk.verify_sha256(b"other", &sig).is_err());
            if let Some(der) = kmk.sign_der(data) {
                assert!(pk.verify_sha256(data, &der).is_err());
            }
        }
    }
}
