//! Cryptographic primitives of the issuer: curves and ephemeral ECDH keys, public keys parsed
//! from SubjectPublicKeyInfo (canonical re-encoding, SHA-256 signature verification), HMAC,
//! AES-256-CBC with PKCS#7 and the system RNG.

use crate::Error;
use aes::cipher::{block_padding::Pkcs7, BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hmac::{KeyInit, Mac};
use pkcs8::{DecodePublicKey, EncodePublicKey};
use sha2::{Digest, Sha256};
use spki::der::{Decode, Encode};
use spki::ObjectIdentifier;

/// id-ecPublicKey.
pub const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// rsaEncryption.
pub const OID_RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// Ed25519 (RFC 8410).
pub const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// The system RNG (getrandom), as a `rand_core` 0.10 `CryptoRng`.
pub fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// `n` random bytes from the system RNG.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand_core::Rng::fill_bytes(&mut rng(), &mut v);
    v
}

/// HMAC-SHA256(key, data).
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(data);
    m.finalize().into_bytes().into()
}

/// SHA-256(data).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// AES-256-CBC with PKCS#7 padding; the output is the ciphertext without the IV.
pub fn aes256_cbc_encrypt(key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    cbc::Encryptor::<aes::Aes256>::new(key.into(), iv.into()).encrypt_padded_vec::<Pkcs7>(plaintext)
}

/// AES-256-CBC with PKCS#7 padding over `IV ‖ ciphertext` (spec 6.1 Encrypted Data layout).
pub fn aes256_cbc_decrypt(key: &[u8; 32], iv_and_ciphertext: &[u8]) -> Result<Vec<u8>, Error> {
    if iv_and_ciphertext.len() < 32 || !iv_and_ciphertext.len().is_multiple_of(16) {
        return Err(Error::Crypto(format!(
            "encrypted data of {} bytes is not IV plus whole blocks",
            iv_and_ciphertext.len()
        )));
    }
    let (iv, ct) = iv_and_ciphertext.split_at(16);
    let iv: &[u8; 16] = iv.try_into().expect("16 bytes");
    cbc::Decryptor::<aes::Aes256>::new(key.into(), iv.into())
        .decrypt_padded_vec::<Pkcs7>(ct)
        .map_err(|_| Error::Crypto("bad PKCS#7 padding".into()))
}

/// The NIST curves SKS uses for session keys, KMKs and generated keys.
pub use apdu_spec::algorithms::Curve;
/// The named-curve OID of a [`Curve`], and the curve of an OID.
pub use keygen2::jwk::{curve_of_oid, curve_oid, named_curve};

/// An ephemeral (or fixed, for known-answer tests) EC private key used for the session ECDH.
#[derive(Clone)]
pub enum EcdhKey {
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    P521(p521::SecretKey),
}

impl core::fmt::Debug for EcdhKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "EcdhKey({:?})", self.curve())
    }
}

impl EcdhKey {
    /// A fresh random key on `curve`.
    pub fn generate(curve: Curve) -> Self {
        let mut rng = rng();
        match curve {
            Curve::P256 => EcdhKey::P256(
                <p256::SecretKey as p256::elliptic_curve::Generate>::generate_from_rng(&mut rng),
            ),
            Curve::P384 => EcdhKey::P384(
                <p384::SecretKey as p256::elliptic_curve::Generate>::generate_from_rng(&mut rng),
            ),
            Curve::P521 => EcdhKey::P521(
                <p521::SecretKey as p256::elliptic_curve::Generate>::generate_from_rng(&mut rng),
            ),
        }
    }

    /// The key with the given big-endian scalar (known-answer tests).
    pub fn from_scalar(curve: Curve, scalar: &[u8]) -> Result<Self, Error> {
        let bad = |_| Error::Crypto("invalid EC scalar".into());
        Ok(match curve {
            Curve::P256 => EcdhKey::P256(p256::SecretKey::from_slice(scalar).map_err(bad)?),
            Curve::P384 => EcdhKey::P384(p384::SecretKey::from_slice(scalar).map_err(bad)?),
            Curve::P521 => EcdhKey::P521(p521::SecretKey::from_slice(scalar).map_err(bad)?),
        })
    }

    pub fn curve(&self) -> Curve {
        match self {
            EcdhKey::P256(_) => Curve::P256,
            EcdhKey::P384(_) => Curve::P384,
            EcdhKey::P521(_) => Curve::P521,
        }
    }

    /// The public key as canonical SubjectPublicKeyInfo DER.
    pub fn public_key_spki(&self) -> Vec<u8> {
        let der = match self {
            EcdhKey::P256(k) => k.public_key().to_public_key_der(),
            EcdhKey::P384(k) => k.public_key().to_public_key_der(),
            EcdhKey::P521(k) => k.public_key().to_public_key_der(),
        };
        der.expect("EC public keys encode").as_bytes().to_vec()
    }

    /// ECDH with the peer's SPKI: the raw, fixed-length x-coordinate of the shared point (Z).
    pub fn ecdh(&self, peer_spki: &[u8]) -> Result<Vec<u8>, Error> {
        let peer = PublicKey::from_spki(peer_spki)?;
        Ok(match (self, &peer) {
            (EcdhKey::P256(k), PublicKey::P256(p)) => {
                k.diffie_hellman(p).raw_secret_bytes().to_vec()
            }
            (EcdhKey::P384(k), PublicKey::P384(p)) => {
                k.diffie_hellman(p).raw_secret_bytes().to_vec()
            }
            (EcdhKey::P521(k), PublicKey::P521(p)) => {
                k.diffie_hellman(p).raw_secret_bytes().to_vec()
            }
            _ => {
                return Err(Error::Crypto(format!(
                    "ECDH peer key is {}, expected {:?}",
                    peer.describe(),
                    self.curve()
                )))
            }
        })
    }
}

/// A public key taken from a SubjectPublicKeyInfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    Rsa(rsa::RsaPublicKey),
    P256(p256::PublicKey),
    P384(p384::PublicKey),
    P521(p521::PublicKey),
    /// Raw 32-byte Ed25519 point (no verification support; SKS never uses it for signatures
    /// the issuer checks).
    Ed25519([u8; 32]),
}

impl PublicKey {
    /// Parses SubjectPublicKeyInfo DER (RSA, EC P-256/P-384/P-521 or Ed25519).
    pub fn from_spki(der: &[u8]) -> Result<Self, Error> {
        let bad =
            |e: &dyn core::fmt::Display| Error::Crypto(format!("bad SubjectPublicKeyInfo: {e}"));
        let info = spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|e| bad(&e))?;
        let oid = info.algorithm.oid;
        if oid == OID_RSA_ENCRYPTION {
            return rsa::RsaPublicKey::from_public_key_der(der)
                .map(PublicKey::Rsa)
                .map_err(|e| bad(&e));
        }
        if oid == OID_ED25519 {
            if info.algorithm.parameters.is_some() {
                return Err(Error::Crypto("Ed25519 SPKI with parameters".into()));
            }
            let raw = info
                .subject_public_key
                .as_bytes()
                .ok_or_else(|| bad(&"unused bits"))?;
            return <[u8; 32]>::try_from(raw)
                .map(PublicKey::Ed25519)
                .map_err(|_| Error::Crypto("Ed25519 key is not 32 bytes".into()));
        }
        if oid != OID_EC_PUBLIC_KEY {
            return Err(Error::Crypto(format!(
                "unsupported public key algorithm {oid}"
            )));
        }
        let curve_oid = named_curve(&info.algorithm).map_err(|e| bad(&e))?;
        match curve_of_oid(curve_oid) {
            Some(Curve::P256) => p256::PublicKey::from_public_key_der(der).map(PublicKey::P256),
            Some(Curve::P384) => p384::PublicKey::from_public_key_der(der).map(PublicKey::P384),
            Some(Curve::P521) => p521::PublicKey::from_public_key_der(der).map(PublicKey::P521),
            None => return Err(Error::Crypto(format!("unsupported EC curve {curve_oid}"))),
        }
        .map_err(|e| bad(&e))
    }

    /// Canonical SubjectPublicKeyInfo DER: named curve + uncompressed point for EC,
    /// rsaEncryption with NULL parameters and minimal integers for RSA, bare OID for Ed25519.
    pub fn to_spki(&self) -> Vec<u8> {
        match self {
            PublicKey::Rsa(k) => k
                .to_public_key_der()
                .expect("RSA encodes")
                .as_bytes()
                .to_vec(),
            PublicKey::P256(k) => k
                .to_public_key_der()
                .expect("EC encodes")
                .as_bytes()
                .to_vec(),
            PublicKey::P384(k) => k
                .to_public_key_der()
                .expect("EC encodes")
                .as_bytes()
                .to_vec(),
            PublicKey::P521(k) => k
                .to_public_key_der()
                .expect("EC encodes")
                .as_bytes()
                .to_vec(),
            PublicKey::Ed25519(raw) => spki::SubjectPublicKeyInfoRef {
                algorithm: spki::AlgorithmIdentifierRef {
                    oid: OID_ED25519,
                    parameters: None,
                },
                subject_public_key: spki::der::asn1::BitStringRef::from_bytes(raw)
                    .expect("32 bytes"),
            }
            .to_der()
            .expect("Ed25519 SPKI encodes"),
        }
    }

    /// The curve of an EC key.
    pub fn curve(&self) -> Option<Curve> {
        match self {
            PublicKey::P256(_) => Some(Curve::P256),
            PublicKey::P384(_) => Some(Curve::P384),
            PublicKey::P521(_) => Some(Curve::P521),
            _ => None,
        }
    }

    pub fn is_rsa(&self) -> bool {
        matches!(self, PublicKey::Rsa(_))
    }

    fn describe(&self) -> String {
        match self {
            PublicKey::Rsa(k) => format!("RSA-{}", rsa::traits::PublicKeyParts::size(k) * 8),
            PublicKey::Ed25519(_) => "Ed25519".into(),
            other => format!("{:?}", other.curve().expect("EC")),
        }
    }

    /// Verifies a SKS signature made with SHA-256 (spec-notes §3.9): RSA PKCS#1 v1.5 / SHA-256,
    /// or ECDSA / SHA-256 as raw `r ‖ s` of exactly twice the coordinate length.
    pub fn verify_sha256(&self, data: &[u8], signature: &[u8]) -> Result<(), Error> {
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        use p256::ecdsa::signature::Verifier;
        let failed = |what: &str| Error::Attestation(format!("{what} signature did not verify"));
        let digest = sha256(data);
        macro_rules! ec {
            ($crate_:ident, $key:expr, $len:expr) => {{
                if signature.len() != 2 * $len {
                    return Err(Error::Attestation(format!(
                        "ECDSA signature is {} bytes, raw r‖s of {} expected",
                        signature.len(),
                        2 * $len
                    )));
                }
                let sig = $crate_::ecdsa::Signature::from_slice(signature)
                    .map_err(|_| failed("ECDSA (malformed)"))?;
                $crate_::ecdsa::VerifyingKey::from(*$key)
                    .verify_prehash(&digest, &sig)
                    .map_err(|_| failed("ECDSA"))
            }};
        }
        match self {
            PublicKey::Rsa(k) => {
                let sig = rsa::pkcs1v15::Signature::try_from(signature)
                    .map_err(|_| failed("RSA (malformed)"))?;
                rsa::pkcs1v15::VerifyingKey::<Sha256>::new(k.clone())
                    .verify(data, &sig)
                    .map_err(|_| failed("RSA"))
            }
            PublicKey::P256(k) => ec!(p256, k, 32),
            PublicKey::P384(k) => ec!(p384, k, 48),
            PublicKey::P521(k) => ec!(p521, k, 66),
            PublicKey::Ed25519(_) => Err(Error::Crypto(
                "Ed25519 signatures are not verified by the issuer".into(),
            )),
        }
    }
}

/// Parses SubjectPublicKeyInfo DER and re-encodes it canonically (spec-notes §2.5).
pub fn canonical_spki(der: &[u8]) -> Result<Vec<u8>, Error> {
    Ok(PublicKey::from_spki(der)?.to_spki())
}

/// The SubjectPublicKeyInfo of an X.509 certificate, as the certificate carries it.
pub fn certificate_spki(cert_der: &[u8]) -> Result<Vec<u8>, Error> {
    let cert = x509_cert::Certificate::from_der(cert_der)
        .map_err(|e| Error::Certificate(format!("bad X.509 certificate: {e}")))?;
    cert.tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| Error::Certificate(format!("cannot re-encode SPKI: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_round_trip_and_padding() {
        let key = [7u8; 32];
        let iv = [1u8; 16];
        for n in [0usize, 1, 15, 16, 17, 100] {
            let pt = vec![0x5a; n];
            let mut ct = iv.to_vec();
            ct.extend(aes256_cbc_encrypt(&key, &iv, &pt));
            assert_eq!(ct.len(), 16 + (n / 16 + 1) * 16);
            assert_eq!(aes256_cbc_decrypt(&key, &ct).unwrap(), pt);
        }
        assert!(aes256_cbc_decrypt(&key, &[0u8; 16]).is_err());
    }

    #[test]
    fn spki_round_trips_for_every_curve() {
        for c in [Curve::P256, Curve::P384, Curve::P521] {
            let k = EcdhKey::generate(c);
            let spki = k.public_key_spki();
            assert_eq!(canonical_spki(&spki).unwrap(), spki);
            assert_eq!(PublicKey::from_spki(&spki).unwrap().curve(), Some(c));
            let other = EcdhKey::generate(c);
            assert_eq!(
                k.ecdh(&other.public_key_spki()).unwrap().len(),
                c.coordinate_len()
            );
            assert_eq!(
                k.ecdh(&other.public_key_spki()).unwrap(),
                other.ecdh(&spki).unwrap()
            );
        }
    }

    #[test]
    fn compressed_point_is_canonicalized() {
        let k = EcdhKey::generate(Curve::P256);
        let EcdhKey::P256(sk) = &k else {
            unreachable!()
        };
        let full = sk.public_key().to_sec1_bytes();
        let mut compressed = vec![0x02 | (full[64] & 1)];
        compressed.extend_from_slice(&full[1..33]);
        let p256 = curve_oid(Curve::P256);
        let info = spki::SubjectPublicKeyInfoRef {
            algorithm: spki::AlgorithmIdentifierRef {
                oid: OID_EC_PUBLIC_KEY,
                parameters: Some(spki::der::asn1::AnyRef::from(&p256)),
            },
            subject_public_key: spki::der::asn1::BitStringRef::from_bytes(&compressed).unwrap(),
        };
        let der = info.to_der().unwrap();
        assert_ne!(der, k.public_key_spki());
        assert_eq!(canonical_spki(&der).unwrap(), k.public_key_spki());
    }
}
