//! The cryptographic engine: thin, typed wrappers over RustCrypto (set B) for exactly what SKS
//! needs. No primitive is implemented here; this module only chooses, parses and encodes.
//!
//! Public keys travel as canonical SubjectPublicKeyInfo DER (spec 6.5, spec-notes §2.5): parsed
//! and re-encoded before any MAC or attestation. ECDSA signatures are raw `r ‖ s`
//! (spec 4.1 "XML Signature" encoding, spec-notes §3.9).

pub mod algorithm;
pub mod symmetric;

use core::fmt;
use hmac::{Hmac, KeyInit, Mac as _};
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::elliptic_curve::Generate;
use pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rand_core::CryptoRng;
use rsa::traits::PublicKeyParts;
use rsa::{BoxedUint, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};
use spki::{DecodePublicKey, EncodePublicKey};
use zeroize::Zeroizing;

/// A failure inside a cryptographic operation or of malformed key material. Its `Display` is
/// the message a caller may see; it never carries key material.
#[derive(Debug)]
pub enum CryptoError {
    /// The crypto library refused `op`.
    Library {
        op: &'static str,
        source: Box<dyn core::error::Error + Send + Sync>,
    },
    /// The operation needs another kind of key (the text names it).
    WrongKey(&'static str),
    /// ECDH between keys on different curves.
    CurveMismatch,
    /// A signature of `len` bytes where `expected` are needed (`what` names the format).
    SignatureLength {
        what: &'static str,
        len: usize,
        expected: usize,
    },
    /// Encrypted Data that is not an IV plus whole blocks (spec 6.1).
    EncryptedDataLength(usize),
    /// Bad padding in Encrypted Data.
    Padding,
    /// Not PKCS#8 of an RSA or supported EC private key.
    NotAPrivateKey,
    /// RSA decryption failed (no detail: the caller must not learn why).
    Decryption,
    /// Data longer than the RSA modulus allows.
    DataTooLong,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Library { op, source } => write!(f, "{op}: {source}"),
            Self::WrongKey(what) => f.write_str(what),
            Self::CurveMismatch => f.write_str("ECDH curve mismatch"),
            Self::SignatureLength {
                what,
                len,
                expected,
            } => write!(f, "{what} of {len} bytes, {expected} expected"),
            Self::EncryptedDataLength(len) => {
                write!(f, "encrypted data of {len} bytes is not IV + whole blocks")
            }
            Self::Padding => f.write_str("bad padding in encrypted data"),
            Self::NotAPrivateKey => f.write_str("not a PKCS#8 RSA or supported EC private key"),
            Self::Decryption => f.write_str("RSA decryption failed"),
            Self::DataTooLong => f.write_str("data too long for the modulus"),
        }
    }
}

impl core::error::Error for CryptoError {}

/// Wraps a library error as [`CryptoError::Library`] for operation `op`.
fn err<E: core::error::Error + Send + Sync + 'static>(
    op: &'static str,
) -> impl Fn(E) -> CryptoError {
    move |e| CryptoError::Library {
        op,
        source: Box::new(e),
    }
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The NIST curves the card supports (spec 4.1 key generation, session curves).
pub use apdu_spec::algorithms::Curve;

/// Expands `$body` once per curve with `$c` bound to the curve crate (p256, p384 or p521).
macro_rules! per_curve {
    ($curve:expr, $c:ident => $body:expr) => {
        match $curve {
            Curve::P256 => {
                #[allow(unused_imports)]
                use p256 as $c;
                $body
            }
            Curve::P384 => {
                #[allow(unused_imports)]
                use p384 as $c;
                $body
            }
            Curve::P521 => {
                #[allow(unused_imports)]
                use p521 as $c;
                $body
            }
        }
    };
}

/// A validated public key.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// Curve and uncompressed SEC1 point `04 ‖ X ‖ Y` (validated on the curve).
    Ec(Curve, Vec<u8>),
    Rsa(RsaPublicKey),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublicKey::Ec(c, _) => write!(f, "PublicKey::Ec({c:?})"),
            PublicKey::Rsa(k) => write!(f, "PublicKey::Rsa({} bits)", k.size() * 8),
        }
    }
}

impl PublicKey {
    /// Parses a SubjectPublicKeyInfo: EC on P-256/P-384/P-521 (point validated) or RSA.
    /// Anything else is `None`.
    pub fn from_spki(der: &[u8]) -> Option<Self> {
        for curve in [Curve::P256, Curve::P384, Curve::P521] {
            let point = per_curve!(curve, c => c::PublicKey::from_public_key_der(der)
                .ok()
                .map(|k| k.to_sec1_point(false).as_bytes().to_vec()));
            if let Some(point) = point {
                return Some(PublicKey::Ec(curve, point));
            }
        }
        RsaPublicKey::from_public_key_der(der)
            .ok()
            .map(PublicKey::Rsa)
    }

    /// The canonical SubjectPublicKeyInfo DER (named curve + uncompressed point; rsaEncryption
    /// with NULL parameters and minimal integers).
    pub fn to_spki(&self) -> Result<Vec<u8>, CryptoError> {
        let doc = match self {
            PublicKey::Ec(curve, point) => {
                per_curve!(*curve, c => c::PublicKey::from_sec1_bytes(point)
                .map_err(err("EC public key"))?
                .to_public_key_der()
                .map_err(err("SPKI"))?)
            }
            PublicKey::Rsa(k) => k.to_public_key_der().map_err(err("SPKI"))?,
        };
        Ok(doc.as_bytes().to_vec())
    }

    pub fn is_rsa(&self) -> bool {
        matches!(self, PublicKey::Rsa(_))
    }

    /// RSA modulus size in bits, measured in whole bytes (spec-notes §4.2 step 4).
    pub fn rsa_bits(&self) -> Option<usize> {
        match self {
            PublicKey::Rsa(k) => Some(k.size() * 8),
            PublicKey::Ec(..) => None,
        }
    }

    pub fn curve(&self) -> Option<Curve> {
        match self {
            PublicKey::Ec(c, _) => Some(*c),
            PublicKey::Rsa(_) => None,
        }
    }

    /// Verifies a signature over `message` with SHA-256: PKCS#1 v1.5 for RSA, ECDSA with raw
    /// `r ‖ s` for EC (spec 6.4). `Err` means a malformed signature (wrong length or
    /// encoding), `Ok(false)` a well-formed one that does not verify (spec-notes §3.7).
    pub fn verify_sha256(&self, message: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
        let digest = sha256(message);
        match self {
            PublicKey::Rsa(k) => {
                if signature.len() != k.size() {
                    return Err(CryptoError::SignatureLength {
                        what: "RSA signature",
                        len: signature.len(),
                        expected: k.size(),
                    });
                }
                Ok(k.verify(Pkcs1v15Sign::new::<Sha256>(), &digest, signature)
                    .is_ok())
            }
            PublicKey::Ec(curve, point) => {
                if signature.len() != 2 * curve.coordinate_len() {
                    return Err(CryptoError::SignatureLength {
                        what: "ECDSA signature (raw r||s)",
                        len: signature.len(),
                        expected: 2 * curve.coordinate_len(),
                    });
                }
                per_curve!(*curve, c => {
                    use c::ecdsa::signature::hazmat::PrehashVerifier;
                    let key = c::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(err("EC key"))?;
                    let sig = c::ecdsa::Signature::from_slice(signature).map_err(err("ECDSA signature"))?;
                    Ok(key.verify_prehash(&digest, &sig).is_ok())
                })
            }
        }
    }
}

/// A private key the card generated or imported.
// Keys live behind `Arc` in the key cache; the size difference between variants is moot.
#[allow(clippy::large_enum_variant)]
pub enum PrivateKey {
    Ec(EcKey, EcSigner),
    Rsa(Box<RsaKeyPair>),
}

/// A parsed EC private key (zeroized on drop). Kept parsed because building a signing key from
/// the scalar costs a scalar multiplication, as much as the signature itself.
pub enum EcKey {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    P521(p521::ecdsa::SigningKey),
}

/// Expands `$body` with `$k` bound to the signing key and `$c` to its curve crate.
macro_rules! per_ec_key {
    ($key:expr, $k:ident, $c:ident => $body:expr) => {
        match $key {
            EcKey::P256($k) => {
                #[allow(unused_imports)]
                use p256 as $c;
                $body
            }
            EcKey::P384($k) => {
                #[allow(unused_imports)]
                use p384 as $c;
                $body
            }
            EcKey::P521($k) => {
                #[allow(unused_imports)]
                use p521 as $c;
                $body
            }
        }
    };
}

impl EcKey {
    pub fn curve(&self) -> Curve {
        match self {
            EcKey::P256(_) => Curve::P256,
            EcKey::P384(_) => Curve::P384,
            EcKey::P521(_) => Curve::P521,
        }
    }

    fn generate<R: CryptoRng + ?Sized>(curve: Curve, rng: &mut R) -> Self {
        match curve {
            Curve::P256 => EcKey::P256(p256::ecdsa::SigningKey::generate_from_rng(rng)),
            Curve::P384 => EcKey::P384(p384::ecdsa::SigningKey::generate_from_rng(rng)),
            Curve::P521 => EcKey::P521(p521::ecdsa::SigningKey::generate_from_rng(rng)),
        }
    }

    fn from_pkcs8(der: &[u8]) -> Option<Self> {
        p256::ecdsa::SigningKey::from_pkcs8_der(der)
            .map(EcKey::P256)
            .or_else(|_| p384::ecdsa::SigningKey::from_pkcs8_der(der).map(EcKey::P384))
            .or_else(|_| p521::ecdsa::SigningKey::from_pkcs8_der(der).map(EcKey::P521))
            .ok()
    }

    /// The public point, uncompressed SEC1.
    fn point(&self) -> Vec<u8> {
        per_ec_key!(self, k, c => c::PublicKey::from(k.verifying_key()).to_sec1_point(false).as_bytes().to_vec())
    }
}

impl PrivateKey {
    /// An EC private key with its signer (see [`EcSigner`]).
    pub fn ec(key: EcKey) -> Self {
        let signer = EcSigner::new(&key);
        PrivateKey::Ec(key, signer)
    }
}

/// ECDSA over a pre-computed hash. With the default `openssl-sign` feature, OpenSSL's
/// constant-time NIST curve code signs (about four times RustCrypto's P-256 rate,
/// docs/performance.md); without it, or should OpenSSL refuse the key, RustCrypto does. The
/// RustCrypto key stays the reference for everything else (ECDH, PKCS#8, the public key).
pub struct EcSigner {
    #[cfg(feature = "openssl-sign")]
    fast: Option<openssl::ec::EcKey<openssl::pkey::Private>>,
}

impl EcSigner {
    fn new(key: &EcKey) -> Self {
        #[cfg(feature = "openssl-sign")]
        {
            let fast = openssl_ec_key(key)
                .map_err(|e| log::warn!("OpenSSL EC key: {e}"))
                .ok();
            Self { fast }
        }
        #[cfg(not(feature = "openssl-sign"))]
        {
            let _ = key;
            Self {}
        }
    }

    /// Raw `r ‖ s`, each padded to the curve's coordinate length.
    fn sign(&self, key: &EcKey, hash: &[u8]) -> Result<Vec<u8>, CryptoError> {
        #[cfg(feature = "openssl-sign")]
        if let Some(fast) = &self.fast {
            let n = key.curve().coordinate_len() as i32;
            let sig = openssl::ecdsa::EcdsaSig::sign(hash, fast).map_err(err("ECDSA"))?;
            let mut out = sig.r().to_vec_padded(n).map_err(err("ECDSA r"))?;
            out.extend(sig.s().to_vec_padded(n).map_err(err("ECDSA s"))?);
            return Ok(out);
        }
        per_ec_key!(key, k, c => {
            use c::ecdsa::signature::hazmat::PrehashSigner;
            let sig: c::ecdsa::Signature = k.sign_prehash(hash).map_err(err("ECDSA"))?;
            Ok(sig.to_bytes().to_vec())
        })
    }
}

/// The same key pair in OpenSSL form.
#[cfg(feature = "openssl-sign")]
fn openssl_ec_key(
    key: &EcKey,
) -> Result<openssl::ec::EcKey<openssl::pkey::Private>, openssl::error::ErrorStack> {
    use openssl::bn::{BigNum, BigNumContext};
    use openssl::ec::{EcGroup, EcPoint};
    use openssl::nid::Nid;
    let nid = match key.curve() {
        Curve::P256 => Nid::X9_62_PRIME256V1,
        Curve::P384 => Nid::SECP384R1,
        Curve::P521 => Nid::SECP521R1,
    };
    let group = EcGroup::from_curve_name(nid)?;
    let scalar = per_ec_key!(key, k, _c => Zeroizing::new(k.to_bytes().to_vec()));
    let d = BigNum::from_slice(&scalar)?;
    let mut ctx = BigNumContext::new()?;
    let point = EcPoint::from_bytes(&group, &key.point(), &mut ctx)?;
    openssl::ec::EcKey::from_private_components(&group, &d, &point)
}

/// An RSA private key, with the RustCrypto key for every operation and, with the default
/// `openssl-sign` feature, an OpenSSL copy used only for signing: RustCrypto's constant-time
/// RSA-2048 signs at about half OpenSSL's rate (docs/performance.md). Decryption always stays
/// on RustCrypto, whose PKCS#1 v1.5 implicit rejection keeps the card free of the Marvin
/// padding oracle; signing has no padding oracle to protect, and OpenSSL signs with blinding
/// and constant-time exponentiation.
pub struct RsaKeyPair {
    key: RsaPrivateKey,
    #[cfg(feature = "openssl-sign")]
    signer: openssl::rsa::Rsa<openssl::pkey::Private>,
}

impl RsaKeyPair {
    fn new(key: RsaPrivateKey) -> Result<Self, CryptoError> {
        #[cfg(feature = "openssl-sign")]
        let signer = {
            let der = rsa::pkcs1::EncodeRsaPrivateKey::to_pkcs1_der(&key).map_err(err("PKCS#1"))?;
            openssl::rsa::Rsa::private_key_from_der(der.as_bytes())
                .map_err(err("OpenSSL RSA key"))?
        };
        Ok(Self {
            key,
            #[cfg(feature = "openssl-sign")]
            signer,
        })
    }

    /// EMSA-PKCS1-v1_5 with the given DigestInfo prefix, then the RSA private operation.
    fn sign_pkcs1<R: CryptoRng + ?Sized>(
        &self,
        scheme: Pkcs1v15Sign,
        data: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, CryptoError> {
        #[cfg(feature = "openssl-sign")]
        {
            let _ = rng;
            let input = [&scheme.prefix[..], data].concat();
            let mut out = vec![0u8; self.key.size()];
            let n = self
                .signer
                .private_encrypt(&input, &mut out, openssl::rsa::Padding::PKCS1)
                .map_err(err("RSA signature"))?;
            out.truncate(n);
            Ok(out)
        }
        #[cfg(not(feature = "openssl-sign"))]
        self.key
            .sign_with_rng(rng, scheme, data)
            .map_err(err("RSA signature"))
    }
}

impl core::ops::Deref for RsaKeyPair {
    type Target = RsaPrivateKey;
    fn deref(&self) -> &RsaPrivateKey {
        &self.key
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrivateKey::Ec(k, _) => write!(f, "PrivateKey::Ec({:?})", k.curve()),
            PrivateKey::Rsa(k) => write!(f, "PrivateKey::Rsa({} bits)", k.size() * 8),
        }
    }
}

impl PrivateKey {
    pub fn generate_ec<R: CryptoRng + ?Sized>(curve: Curve, rng: &mut R) -> Self {
        PrivateKey::ec(EcKey::generate(curve, rng))
    }

    pub fn generate_rsa<R: CryptoRng + ?Sized>(
        bits: usize,
        exponent: u64,
        rng: &mut R,
    ) -> Result<Self, CryptoError> {
        let key = RsaPrivateKey::new_with_exp(rng, bits, BoxedUint::from(exponent))
            .map_err(err("RSA key generation"))?;
        Ok(PrivateKey::Rsa(Box::new(RsaKeyPair::new(key)?)))
    }

    pub fn public(&self) -> PublicKey {
        match self {
            PrivateKey::Ec(k, _) => PublicKey::Ec(k.curve(), k.point()),
            PrivateKey::Rsa(k) => PublicKey::Rsa(k.to_public_key()),
        }
    }

    pub fn is_rsa(&self) -> bool {
        matches!(self, PrivateKey::Rsa(_))
    }

    /// PKCS#8 DER (spec 7.4 exportKey, importPrivateKey).
    pub fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let doc = match self {
            PrivateKey::Ec(key, _) => {
                per_ec_key!(key, k, _c => k.to_pkcs8_der().map_err(err("PKCS#8"))?)
            }
            PrivateKey::Rsa(k) => k.to_pkcs8_der().map_err(err("PKCS#8"))?,
        };
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// Parses PKCS#8 DER: EC on a supported curve, or RSA.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, CryptoError> {
        if let Some(k) = EcKey::from_pkcs8(der) {
            return Ok(PrivateKey::ec(k));
        }
        let key = RsaPrivateKey::from_pkcs8_der(der).map_err(|_| CryptoError::NotAPrivateKey)?;
        Ok(PrivateKey::Rsa(Box::new(RsaKeyPair::new(key)?)))
    }

    /// ECDH (SP800-56A CDH): the shared point's x-coordinate, fixed length.
    pub fn ecdh(&self, peer: &PublicKey) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        match (self, peer) {
            (PrivateKey::Ec(key, _), PublicKey::Ec(peer_curve, point))
                if key.curve() == *peer_curve =>
            {
                per_ec_key!(key, k, c => {
                    let public = c::PublicKey::from_sec1_bytes(point).map_err(err("EC peer key"))?;
                    let shared = c::ecdh::diffie_hellman(k.as_nonzero_scalar(), public.as_affine());
                    Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
                })
            }
            (PrivateKey::Ec(..), PublicKey::Ec(..)) => Err(CryptoError::CurveMismatch),
            _ => Err(CryptoError::WrongKey("ECDH needs two EC keys")),
        }
    }

    /// ECDSA over a pre-computed hash (bits2int truncation as usual), raw `r ‖ s`.
    pub fn ecdsa_sign_prehash(&self, hash: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let PrivateKey::Ec(key, signer) = self else {
            return Err(CryptoError::WrongKey("ECDSA needs an EC key"));
        };
        signer.sign(key, hash)
    }

    /// SHA256withECDSA or SHA256withRSA over `message` (attestations, key-pair tests).
    pub fn sign_sha256<R: CryptoRng + ?Sized>(
        &self,
        message: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, CryptoError> {
        let digest = sha256(message);
        match self {
            PrivateKey::Ec(..) => self.ecdsa_sign_prehash(&digest),
            PrivateKey::Rsa(k) => k.sign_pkcs1(Pkcs1v15Sign::new::<Sha256>(), &digest, rng),
        }
    }
}

/// The public key certified by an X.509 certificate (DER), if it is one the card understands.
pub fn certificate_public_key(certificate: &[u8]) -> Option<PublicKey> {
    use der::{Decode, Encode};
    let cert = x509_cert::Certificate::from_der(certificate).ok()?;
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .ok()?;
    PublicKey::from_spki(&spki)
}

/// Whether `private` and `public` form a key pair: sign a fixed message, verify it
/// (spec-notes §4.3 step 5.3, "key-pair match test").
pub fn is_key_pair<R: CryptoRng + ?Sized>(
    private: &PrivateKey,
    public: &PublicKey,
    rng: &mut R,
) -> bool {
    const PROBE: &[u8] = b"SKS key-pair match test";
    private.is_rsa() == public.is_rsa()
        && private
            .sign_sha256(PROBE, rng)
            .ok()
            .and_then(|sig| public.verify_sha256(PROBE, &sig).ok())
            .unwrap_or(false)
}

impl PrivateKey {
    /// The RSA modulus length in bytes.
    pub fn rsa_len(&self) -> Option<usize> {
        match self {
            PrivateKey::Rsa(k) => Some(k.size()),
            PrivateKey::Ec(..) => None,
        }
    }

    /// RSASSA-PKCS1-v1_5 over a given hash: with the DigestInfo of `hash`, or none at all
    /// (`rsa.pkcs1.none`). Blinded.
    pub fn rsa_sign<R: CryptoRng + ?Sized>(
        &self,
        hash: Option<crate::crypto::algorithm::Hash>,
        data: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, CryptoError> {
        use crate::crypto::algorithm::Hash;
        let PrivateKey::Rsa(k) = self else {
            return Err(CryptoError::WrongKey("RSA signing needs an RSA key"));
        };
        let scheme = match hash {
            None => Pkcs1v15Sign::new_unprefixed(),
            Some(Hash::Sha1) => Pkcs1v15Sign::new::<sha1::Sha1>(),
            Some(Hash::Sha256) => Pkcs1v15Sign::new::<Sha256>(),
            Some(Hash::Sha384) => Pkcs1v15Sign::new::<sha2::Sha384>(),
            Some(Hash::Sha512) => Pkcs1v15Sign::new::<sha2::Sha512>(),
        };
        if hash.is_none() && data.len() + 11 > k.size() {
            return Err(CryptoError::DataTooLong);
        }
        k.sign_pkcs1(scheme, data, rng)
    }

    /// RSA decryption: PKCS#1 v1.5 (`None`) or OAEP with `hash` for digest and MGF1, empty
    /// label. Blinded.
    pub fn rsa_decrypt<R: CryptoRng + ?Sized>(
        &self,
        oaep: Option<crate::crypto::algorithm::Hash>,
        data: &[u8],
        rng: &mut R,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        use crate::crypto::algorithm::Hash;
        let PrivateKey::Rsa(k) = self else {
            return Err(CryptoError::WrongKey("RSA decryption needs an RSA key"));
        };
        let out = match oaep {
            None => k.decrypt_blinded(rng, rsa::Pkcs1v15Encrypt, data),
            Some(Hash::Sha1) => k.decrypt_blinded(rng, rsa::Oaep::<sha1::Sha1>::new(), data),
            Some(Hash::Sha256) => k.decrypt_blinded(rng, rsa::Oaep::<Sha256>::new(), data),
            Some(Hash::Sha384) => k.decrypt_blinded(rng, rsa::Oaep::<sha2::Sha384>::new(), data),
            Some(Hash::Sha512) => k.decrypt_blinded(rng, rsa::Oaep::<sha2::Sha512>::new(), data),
        };
        out.map(Zeroizing::new).map_err(|_| CryptoError::Decryption)
    }
}

/// The RSA public exponent as an unsigned integer, when it fits in 64 bits.
pub fn rsa_exponent(key: &RsaPublicKey) -> Option<u64> {
    let bytes = key.e().to_be_bytes();
    let significant: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    (significant.len() <= 8).then(|| {
        significant
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
    })
}

/// AES-256-CBC decryption with PKCS#7 padding of `iv ‖ ciphertext` (spec 6.1 Encrypted Data).
pub fn aes256_cbc_decrypt_iv_first(
    key: &[u8; 32],
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    use cbc::cipher::{BlockModeDecrypt, KeyIvInit};
    if data.len() < 32 || !data.len().is_multiple_of(16) {
        return Err(CryptoError::EncryptedDataLength(data.len()));
    }
    let (iv, ct) = data.split_at(16);
    let dec = cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv).map_err(err("AES key"))?;
    let mut buf = Zeroizing::new(ct.to_vec());
    let n = dec
        .decrypt_padded::<cbc::cipher::block_padding::Pkcs7>(&mut buf)
        .map_err(|_| CryptoError::Padding)?
        .len();
    buf.truncate(n);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::seeded_rng;

    #[test]
    fn ec_keys_round_trip_spki_pkcs8_and_sign() {
        let mut rng = seeded_rng(5);
        for curve in [Curve::P256, Curve::P384, Curve::P521] {
            let k = PrivateKey::generate_ec(curve, &mut rng);
            let spki = k.public().to_spki().unwrap();
            assert_eq!(PublicKey::from_spki(&spki), Some(k.public()));
            let back = PrivateKey::from_pkcs8(&k.to_pkcs8().unwrap()).unwrap();
            assert_eq!(back.public(), k.public());
            let sig = k.sign_sha256(b"msg", &mut rng).unwrap();
            assert_eq!(sig.len(), 2 * curve.coordinate_len());
            assert_eq!(k.public().verify_sha256(b"msg", &sig).ok(), Some(true));
            assert_eq!(k.public().verify_sha256(b"other", &sig).ok(), Some(false));
            assert!(k.public().verify_sha256(b"msg", &sig[1..]).is_err());
        }
    }

    #[test]
    fn ecdh_agrees_and_checks_curves() {
        let mut rng = seeded_rng(6);
        let a = PrivateKey::generate_ec(Curve::P384, &mut rng);
        let b = PrivateKey::generate_ec(Curve::P384, &mut rng);
        let ab = a.ecdh(&b.public()).unwrap();
        assert_eq!(ab.len(), 48);
        assert_eq!(ab, b.ecdh(&a.public()).unwrap());
        let c = PrivateKey::generate_ec(Curve::P256, &mut rng);
        assert!(a.ecdh(&c.public()).is_err());
    }

    #[test]
    fn rsa_keys_and_exponents() {
        let mut rng = seeded_rng(7);
        let k = PrivateKey::generate_rsa(1024, 3, &mut rng).unwrap();
        let PublicKey::Rsa(public) = k.public() else {
            panic!()
        };
        assert_eq!(rsa_exponent(&public), Some(3));
        assert_eq!(k.public().rsa_bits(), Some(1024));
        let spki = k.public().to_spki().unwrap();
        assert_eq!(PublicKey::from_spki(&spki), Some(k.public()));
        let sig = k.sign_sha256(b"m", &mut rng).unwrap();
        assert_eq!(k.public().verify_sha256(b"m", &sig).ok(), Some(true));
        assert!(PublicKey::from_spki(&[0x30, 0x00]).is_none());
    }

    #[test]
    fn rsa_signatures_equal_the_pure_rustcrypto_ones() {
        // PKCS#1 v1.5 is deterministic: the signing backend must produce RustCrypto's bytes.
        let mut rng = seeded_rng(8);
        let k = PrivateKey::generate_rsa(1024, 65_537, &mut rng).unwrap();
        let PrivateKey::Rsa(pair) = &k else { panic!() };
        let digest = sha256(b"data");
        for (hash, data) in [
            (Some(crate::crypto::algorithm::Hash::Sha256), &digest[..]),
            (None, &b"raw"[..]),
        ] {
            let sig = k.rsa_sign(hash, data, &mut rng).unwrap();
            let scheme = match hash {
                Some(_) => Pkcs1v15Sign::new::<Sha256>(),
                None => Pkcs1v15Sign::new_unprefixed(),
            };
            assert_eq!(sig, pair.key.sign(scheme, data).unwrap());
        }
        assert!(
            k.rsa_sign(None, &[0; 118], &mut rng).is_err(),
            "k - 11 = 117 bytes at most"
        );
    }

    #[test]
    fn encrypted_data_vector_from_the_notes() {
        // spec-notes §11: EncryptionKey and encryptedPuk ("123456", IV = 00..0f).
        let key: [u8; 32] =
            hex::decode("a8ea3f59d4b478a3467caed78e7fff156c4fc0c7a5c8118cec7c0de21c9b415a")
                .unwrap()
                .try_into()
                .unwrap();
        let ct = hex::decode("000102030405060708090a0b0c0d0e0f332f18b30636842de75db2ed442e69e7")
            .unwrap();
        assert_eq!(
            &aes256_cbc_decrypt_iv_first(&key, &ct).unwrap()[..],
            b"123456"
        );
        assert!(aes256_cbc_decrypt_iv_first(&key, &ct[..31]).is_err());
        let mut bad = ct.clone();
        bad[31] ^= 0x55;
        assert!(aes256_cbc_decrypt_iv_first(&key, &bad).is_err());
        let session_key =
            hex::decode("5746f9aa335dada351cf8f5c9e8e6caf493a3c50b620dd3134528a0263b1d9de")
                .unwrap();
        assert_eq!(hmac_sha256(&session_key, &[b"EncryptionKey"]), key);
    }
}
