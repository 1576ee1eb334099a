//! Cryptographic operations: a PKCS #11 mechanism and input mapped onto one SKS User API call
//! (signHashedData, asymmetricKeyDecrypt, keyAgreement, performHmac, symmetricKeyEncrypt).

use crate::backend::Card;
use crate::ffi::Rv;
use crate::keys::{KeyInfo, KeyType};
use apdu_spec::algorithms::{asymmetric_encryption as enc, hmac, signature as sig, symmetric};
use apdu_spec::methods::*;
use apdu_spec::types::{Blob, Bytes, Uri};
use apdu_spec::ErrorCode;
use cryptoki_sys::*;
use sha2::{Digest, Sha256, Sha384, Sha512};
use sks_issuer::Curve;
use zeroize::Zeroizing;

/// DigestInfo prefixes of PKCS #1 v1.5 signatures (RFC 8017 §9.2 note 1).
const DIGEST_INFO: [(&[u8], &str); 3] = [
    (
        &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
        sig::RSA_SHA256,
    ),
    (
        &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
        sig::RSA_SHA384,
    ),
    (
        &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
        sig::RSA_SHA512,
    ),
];

/// What a failed card call means in PKCS #11 terms, for an operation of kind `op`.
pub fn card_error(e: &pcsc_bridge::Error, op: CK_RV) -> CK_RV {
    // SKS error messages name the failed check, never a PIN or key value.
    log::debug!("card call failed: {e}");
    match e {
        pcsc_bridge::Error::Sks(s) => match s.code {
            ErrorCode::Authorization => CKR_PIN_INCORRECT,
            ErrorCode::NoKey => CKR_KEY_HANDLE_INVALID,
            ErrorCode::Algorithm => CKR_KEY_FUNCTION_NOT_PERMITTED,
            ErrorCode::NotAllowed => CKR_ACTION_PROHIBITED,
            ErrorCode::Option => CKR_DATA_LEN_RANGE,
            ErrorCode::Crypto => op,
            ErrorCode::Storage => CKR_DEVICE_MEMORY,
            ErrorCode::UserAbort => CKR_FUNCTION_CANCELED,
            _ => CKR_DEVICE_ERROR,
        },
        pcsc_bridge::Error::Transport(_) => CKR_DEVICE_REMOVED,
        _ => CKR_DEVICE_ERROR,
    }
}

/// An algorithm URI (the constants used here are far below Uri::MAX_LEN).
fn uri(s: &str) -> Rv<Uri> {
    Uri::new(s).map_err(|_| CKR_GENERAL_ERROR)
}

/// The hash of a hash-then-sign mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Hash {
    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha384 => Sha384::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn ecdsa(self) -> &'static str {
        match self {
            Hash::Sha256 => sig::ECDSA_SHA256,
            Hash::Sha384 => sig::ECDSA_SHA384,
            Hash::Sha512 => sig::ECDSA_SHA512,
        }
    }

    fn rsa(self) -> &'static str {
        match self {
            Hash::Sha256 => sig::RSA_SHA256,
            Hash::Sha384 => sig::RSA_SHA384,
            Hash::Sha512 => sig::RSA_SHA512,
        }
    }

    fn by_len(len: usize) -> Option<Self> {
        match len {
            32 => Some(Hash::Sha256),
            48 => Some(Hash::Sha384),
            64 => Some(Hash::Sha512),
            _ => None,
        }
    }
}

/// A running hash of C_SignUpdate data (hash-then-sign mechanisms hash as the data comes).
#[derive(Clone)]
pub enum Hasher {
    /// SHA-256.
    Sha256(Sha256),
    /// SHA-384.
    Sha384(Sha384),
    /// SHA-512.
    Sha512(Sha512),
}

impl Hasher {
    /// A fresh hash of kind `h`.
    pub fn new(h: Hash) -> Self {
        match h {
            Hash::Sha256 => Hasher::Sha256(Sha256::new()),
            Hash::Sha384 => Hasher::Sha384(Sha384::new()),
            Hash::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    /// Adds data.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(d) => d.update(data),
            Hasher::Sha384(d) => d.update(data),
            Hasher::Sha512(d) => d.update(data),
        }
    }

    /// The digest.
    pub fn finalize(self) -> Vec<u8> {
        match self {
            Hasher::Sha256(d) => d.finalize().to_vec(),
            Hasher::Sha384(d) => d.finalize().to_vec(),
            Hasher::Sha512(d) => d.finalize().to_vec(),
        }
    }
}

/// A signing mechanism, checked against the key at C_SignInit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignMech {
    /// CKM_ECDSA (`None`) or CKM_ECDSA_SHA* (the module hashes).
    Ecdsa(Option<Hash>),
    /// CKM_RSA_PKCS (`None`, DigestInfo supplied) or CKM_SHA*_RSA_PKCS.
    Rsa(Option<Hash>),
    /// CKM_SHA*_HMAC with this SKS algorithm.
    Hmac(&'static str),
}

impl SignMech {
    /// The mechanism for `ty` on `key`, or the PKCS #11 error.
    pub fn new(ty: CK_MECHANISM_TYPE, key: &KeyInfo) -> Rv<Self> {
        let m = match ty {
            CKM_ECDSA => SignMech::Ecdsa(None),
            CKM_ECDSA_SHA256 => SignMech::Ecdsa(Some(Hash::Sha256)),
            CKM_ECDSA_SHA384 => SignMech::Ecdsa(Some(Hash::Sha384)),
            CKM_ECDSA_SHA512 => SignMech::Ecdsa(Some(Hash::Sha512)),
            CKM_RSA_PKCS => SignMech::Rsa(None),
            CKM_SHA256_RSA_PKCS => SignMech::Rsa(Some(Hash::Sha256)),
            CKM_SHA384_RSA_PKCS => SignMech::Rsa(Some(Hash::Sha384)),
            CKM_SHA512_RSA_PKCS => SignMech::Rsa(Some(Hash::Sha512)),
            CKM_SHA_1_HMAC => SignMech::Hmac(hmac::HMAC_SHA1),
            CKM_SHA256_HMAC => SignMech::Hmac(hmac::HMAC_SHA256),
            CKM_SHA384_HMAC => SignMech::Hmac(hmac::HMAC_SHA384),
            CKM_SHA512_HMAC => SignMech::Hmac(hmac::HMAC_SHA512),
            _ => return Err(CKR_MECHANISM_INVALID),
        };
        let fits = matches!(
            (m, key.key_type),
            (SignMech::Ecdsa(_), KeyType::Ec(_))
                | (SignMech::Rsa(_), KeyType::Rsa(_))
                | (SignMech::Hmac(_), KeyType::Symmetric(_))
        );
        if !fits {
            return Err(CKR_KEY_TYPE_INCONSISTENT);
        }
        if let SignMech::Hmac(alg) = m {
            if !key.endorses(alg) {
                return Err(CKR_KEY_FUNCTION_NOT_PERMITTED);
            }
        }
        Ok(m)
    }

    /// The signature's length on `key`.
    pub fn output_len(self, key: &KeyInfo) -> usize {
        match self {
            SignMech::Hmac(a) => match a {
                hmac::HMAC_SHA1 => 20,
                hmac::HMAC_SHA256 => 32,
                hmac::HMAC_SHA384 => 48,
                _ => 64,
            },
            _ => key.signature_len().unwrap_or(0),
        }
    }

    /// The hash the module computes, for hash-then-sign mechanisms.
    pub fn hash(self) -> Option<Hash> {
        match self {
            SignMech::Ecdsa(h) | SignMech::Rsa(h) => h,
            SignMech::Hmac(_) => None,
        }
    }

    /// Whether C_SignUpdate is allowed (hashing mechanisms and HMAC).
    pub fn multi_part(self) -> bool {
        !matches!(self, SignMech::Ecdsa(None) | SignMech::Rsa(None))
    }
}

/// Signs `data` (the whole message, or the digest/DigestInfo for CKM_ECDSA/CKM_RSA_PKCS); for
/// hash-then-sign mechanisms `digest`, when given, is the message's hash already computed.
pub fn sign(
    card: &mut Card,
    key: &KeyInfo,
    m: SignMech,
    data: &[u8],
    digest: Option<Vec<u8>>,
    pin: &[u8],
) -> Rv<Vec<u8>> {
    let mut digest = digest;
    let mut hashed = |h: Hash| digest.take().unwrap_or_else(|| h.digest(data));
    let (alg, payload) = match m {
        SignMech::Hmac(alg) => {
            let out = card
                .perform_hmac(&PerformHmacArgs {
                    key_handle: key.handle,
                    algorithm: uri(alg)?,
                    parameters: Bytes::default(),
                    biometric_auth: false,
                    authorization: Bytes(pin.to_vec()),
                    data: Blob(data.to_vec()),
                })
                .map_err(|e| card_error(&e, CKR_FUNCTION_FAILED))?;
            return Ok(out.result.0);
        }
        SignMech::Ecdsa(hash) => {
            let digest = match hash {
                Some(h) => hashed(h),
                None => data.to_vec(),
            };
            ecdsa_plan(key, digest)?
        }
        SignMech::Rsa(Some(h)) => {
            let digest = hashed(h);
            if key.endorses(h.rsa()) {
                (h.rsa(), digest)
            } else {
                let prefix = DIGEST_INFO
                    .iter()
                    .find(|(_, a)| *a == h.rsa())
                    .map(|(p, _)| *p)
                    .unwrap_or_default();
                (sig::RSA_PKCS1_NONE, [prefix, &digest].concat())
            }
        }
        SignMech::Rsa(None) => rsa_plan(key, data)?,
    };
    let out = card
        .sign_hashed_data(&SignHashedDataArgs {
            key_handle: key.handle,
            algorithm: uri(alg)?,
            parameters: Bytes::default(),
            biometric_auth: false,
            authorization: Bytes(pin.to_vec()),
            data: Bytes(payload),
        })
        .map_err(|e| card_error(&e, CKR_FUNCTION_FAILED))?;
    Ok(out.result.0)
}

/// CKM_ECDSA on a digest: ecdsa-sha* by digest length when the key is endorsed for it,
/// else ecdsa.none.
fn ecdsa_plan(key: &KeyInfo, digest: Vec<u8>) -> Rv<(&'static str, Vec<u8>)> {
    if let Some(h) = Hash::by_len(digest.len()) {
        if key.endorses(h.ecdsa()) {
            return Ok((h.ecdsa(), digest));
        }
    }
    if !key.endorses(sig::ECDSA_NONE) {
        return Err(CKR_KEY_FUNCTION_NOT_PERMITTED);
    }
    if digest.is_empty() || digest.len() > 64 {
        return Err(CKR_DATA_LEN_RANGE);
    }
    Ok((sig::ECDSA_NONE, digest))
}

/// CKM_RSA_PKCS signing: rsa.pkcs1.none over the caller's DigestInfo when endorsed, else the
/// rsa-sha* algorithm the DigestInfo names.
fn rsa_plan(key: &KeyInfo, data: &[u8]) -> Rv<(&'static str, Vec<u8>)> {
    let modulus = key.signature_len().unwrap_or(0);
    if data.len() + 11 > modulus {
        return Err(CKR_DATA_LEN_RANGE);
    }
    if key.endorses(sig::RSA_PKCS1_NONE) {
        return Ok((sig::RSA_PKCS1_NONE, data.to_vec()));
    }
    for (prefix, alg) in DIGEST_INFO {
        if let Some(hash) = data.strip_prefix(prefix) {
            if Hash::by_len(hash.len()).map(|h| h.rsa()) == Some(alg) && key.endorses(alg) {
                return Ok((alg, hash.to_vec()));
            }
        }
    }
    Err(CKR_KEY_FUNCTION_NOT_PERMITTED)
}

/// A decryption or encryption mechanism.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CipherMech {
    /// RSA decryption with this SKS algorithm.
    Rsa(&'static str),
    /// AES-ECB without padding.
    AesEcb,
    /// AES-CBC without padding, with this IV.
    AesCbc([u8; 16]),
    /// AES-CBC with PKCS #7 padding, with this IV.
    AesCbcPad([u8; 16]),
}

impl CipherMech {
    /// The mechanism `ty` with its parameter bytes, checked against `key`.
    pub fn new(ty: CK_MECHANISM_TYPE, param: &[u8], key: &KeyInfo, decrypt: bool) -> Rv<Self> {
        let iv = || -> Rv<[u8; 16]> { param.try_into().map_err(|_| CKR_MECHANISM_PARAM_INVALID) };
        let m = match ty {
            CKM_RSA_PKCS if decrypt => CipherMech::Rsa(enc::RSA_ES_PKCS1_5),
            CKM_RSA_PKCS_OAEP if decrypt => CipherMech::Rsa(oaep(param)?),
            CKM_AES_ECB => CipherMech::AesEcb,
            CKM_AES_CBC => CipherMech::AesCbc(iv()?),
            CKM_AES_CBC_PAD => CipherMech::AesCbcPad(iv()?),
            _ => return Err(CKR_MECHANISM_INVALID),
        };
        let alg = match &m {
            CipherMech::Rsa(a) => *a,
            CipherMech::AesEcb => symmetric::AES_ECB_NOPAD,
            CipherMech::AesCbc(_) if decrypt => symmetric::AES_ECB_NOPAD,
            CipherMech::AesCbc(_) | CipherMech::AesCbcPad(_) => symmetric::AES_CBC,
        };
        let fits = match (&m, key.key_type) {
            (CipherMech::Rsa(_), KeyType::Rsa(_)) => true,
            (CipherMech::Rsa(_), _) => false,
            (_, KeyType::Symmetric(n)) => matches!(n, 16 | 24 | 32),
            _ => false,
        };
        if !fits {
            return Err(CKR_KEY_TYPE_INCONSISTENT);
        }
        if !key.endorses(alg) {
            return Err(CKR_KEY_FUNCTION_NOT_PERMITTED);
        }
        Ok(m)
    }

    /// An upper bound of the output for `input_len` bytes (exact where PKCS #11 needs it).
    pub fn max_output(&self, key: &KeyInfo, input_len: usize, decrypt: bool) -> usize {
        match self {
            CipherMech::Rsa(_) => key.signature_len().unwrap_or(0),
            CipherMech::AesCbcPad(_) if !decrypt => (input_len / 16 + 1) * 16,
            _ => input_len,
        }
    }
}

/// CK_RSA_PKCS_OAEP_PARAMS → rsa.oaep.sha1 / rsa.oaep.sha256 (empty label only).
fn oaep(param: &[u8]) -> Rv<&'static str> {
    if param.len() != std::mem::size_of::<CK_RSA_PKCS_OAEP_PARAMS>() {
        return Err(CKR_MECHANISM_PARAM_INVALID);
    }
    // SAFETY: the length matches; read_unaligned copies the plain-data struct.
    let p: CK_RSA_PKCS_OAEP_PARAMS =
        unsafe { std::ptr::read_unaligned(param.as_ptr() as *const CK_RSA_PKCS_OAEP_PARAMS) };
    if p.ulSourceDataLen != 0 || (p.source != 0 && p.source != CKZ_DATA_SPECIFIED) {
        return Err(CKR_MECHANISM_PARAM_INVALID);
    }
    match (p.hashAlg, p.mgf) {
        (CKM_SHA_1, CKG_MGF1_SHA1) => Ok(enc::RSA_OAEP_SHA1),
        (CKM_SHA256, CKG_MGF1_SHA256) => Ok(enc::RSA_OAEP_SHA256),
        _ => Err(CKR_MECHANISM_PARAM_INVALID),
    }
}

#[allow(clippy::too_many_arguments)] // one SKS call's fields, each distinct
fn symmetric_call(
    card: &mut Card,
    key: &KeyInfo,
    alg: &str,
    encrypt: bool,
    iv: &[u8],
    data: &[u8],
    pin: &[u8],
    crypto_err: CK_RV,
) -> Rv<Zeroizing<Vec<u8>>> {
    let out = card
        .symmetric_key_encrypt(&SymmetricKeyEncryptArgs {
            key_handle: key.handle,
            algorithm: uri(alg)?,
            mode: encrypt,
            parameters: Bytes(iv.to_vec()),
            biometric_auth: false,
            authorization: Bytes(pin.to_vec()),
            data: Blob(data.to_vec()),
        })
        .map_err(|e| card_error(&e, crypto_err))?;
    Ok(Zeroizing::new(out.result.0))
}

/// Decrypts `data`.
pub fn decrypt(
    card: &mut Card,
    key: &KeyInfo,
    m: &CipherMech,
    data: &[u8],
    pin: &[u8],
) -> Rv<Zeroizing<Vec<u8>>> {
    let bad = CKR_ENCRYPTED_DATA_INVALID;
    match m {
        CipherMech::Rsa(alg) => {
            if Some(data.len()) != key.signature_len() {
                return Err(CKR_ENCRYPTED_DATA_LEN_RANGE);
            }
            let out = card
                .asymmetric_key_decrypt(&AsymmetricKeyDecryptArgs {
                    key_handle: key.handle,
                    algorithm: uri(alg)?,
                    parameters: Bytes::default(),
                    biometric_auth: false,
                    authorization: Bytes(pin.to_vec()),
                    data: Bytes(data.to_vec()),
                })
                .map_err(|e| card_error(&e, bad))?;
            Ok(Zeroizing::new(out.result.0))
        }
        _ if data.is_empty() || !data.len().is_multiple_of(16) => Err(CKR_ENCRYPTED_DATA_LEN_RANGE),
        CipherMech::AesEcb => symmetric_call(
            card,
            key,
            symmetric::AES_ECB_NOPAD,
            false,
            &[],
            data,
            pin,
            bad,
        ),
        CipherMech::AesCbcPad(iv) => {
            symmetric_call(card, key, symmetric::AES_CBC, false, iv, data, pin, bad)
        }
        CipherMech::AesCbc(iv) => {
            // CBC without padding: the card decrypts the blocks (ECB), the module chains them
            // (P_i = D(C_i) xor C_{i-1}, C_0 = IV).
            let mut plain = symmetric_call(
                card,
                key,
                symmetric::AES_ECB_NOPAD,
                false,
                &[],
                data,
                pin,
                bad,
            )?;
            for (i, block) in plain.chunks_mut(16).enumerate() {
                let prev = if i == 0 {
                    &iv[..]
                } else {
                    &data[(i - 1) * 16..i * 16]
                };
                block.iter_mut().zip(prev).for_each(|(b, p)| *b ^= p);
            }
            Ok(plain)
        }
    }
}

/// Encrypts `data` with an AES mechanism.
pub fn encrypt(
    card: &mut Card,
    key: &KeyInfo,
    m: &CipherMech,
    data: &[u8],
    pin: &[u8],
) -> Rv<Vec<u8>> {
    let f = CKR_FUNCTION_FAILED;
    let out = match m {
        CipherMech::Rsa(_) => return Err(CKR_MECHANISM_INVALID),
        CipherMech::AesCbcPad(iv) => {
            symmetric_call(card, key, symmetric::AES_CBC, true, iv, data, pin, f)?
        }
        _ if data.is_empty() || !data.len().is_multiple_of(16) => return Err(CKR_DATA_LEN_RANGE),
        CipherMech::AesEcb => {
            symmetric_call(card, key, symmetric::AES_ECB_NOPAD, true, &[], data, pin, f)?
        }
        CipherMech::AesCbc(iv) => {
            // CBC without padding = CBC with PKCS #7 padding minus the last (all-padding) block
            // when the input is block aligned.
            let mut c = symmetric_call(card, key, symmetric::AES_CBC, true, iv, data, pin, f)?;
            if c.len() != data.len() + 16 {
                return Err(CKR_DEVICE_ERROR);
            }
            c.truncate(data.len());
            c
        }
    };
    Ok(out.to_vec())
}

/// ECDH with the peer's public point (raw uncompressed, or wrapped in a DER OCTET STRING).
pub fn ecdh(card: &mut Card, key: &KeyInfo, peer: &[u8], pin: &[u8]) -> Rv<Zeroizing<Vec<u8>>> {
    let KeyType::Ec(curve) = key.key_type else {
        return Err(CKR_KEY_TYPE_INCONSISTENT);
    };
    let spki = peer_spki(curve, peer).ok_or(CKR_MECHANISM_PARAM_INVALID)?;
    let out = card
        .key_agreement(&KeyAgreementArgs {
            key_handle: key.handle,
            algorithm: uri(apdu_spec::algorithms::key_agreement::ECDH_RAW)?,
            parameters: Bytes::default(),
            biometric_auth: false,
            authorization: Bytes(pin.to_vec()),
            public_key: Bytes(spki),
        })
        .map_err(|e| card_error(&e, CKR_FUNCTION_FAILED))?;
    Ok(Zeroizing::new(out.result.0))
}

fn peer_spki(curve: Curve, peer: &[u8]) -> Option<Vec<u8>> {
    use der::Decode;
    use p256::pkcs8::EncodePublicKey;
    let point_len = 1 + 2 * curve.coordinate_len();
    let point = if peer.len() == point_len {
        peer.to_vec()
    } else {
        der::asn1::OctetString::from_der(peer)
            .ok()?
            .into_bytes()
            .to_vec()
    };
    let der = match curve {
        Curve::P256 => p256::PublicKey::from_sec1_bytes(&point)
            .ok()?
            .to_public_key_der(),
        Curve::P384 => p384::PublicKey::from_sec1_bytes(&point)
            .ok()?
            .to_public_key_der(),
        Curve::P521 => p521::PublicKey::from_sec1_bytes(&point)
            .ok()?
            .to_public_key_der(),
    };
    der.ok().map(|d| d.as_bytes().to_vec())
}

/// The URI used to verify a PIN through the card: not an algorithm, so after the card has
/// counted and checked the PIN (spec-notes §4.25 step 2) it fails with ERROR_ALGORITHM and
/// does nothing else.
const PIN_CHECK: &str = "urn:sks-pkcs11:pin-check";

/// Asks the card whether `pin` is the PIN of `key`: `Ok(())` when it is, `CKR_PIN_INCORRECT`
/// or `CKR_PIN_LOCKED` when not. The card counts the attempt like any other use.
pub fn check_pin(card: &mut Card, key: &KeyInfo, pin: &[u8]) -> Rv {
    let r = card.sign_hashed_data(&SignHashedDataArgs {
        key_handle: key.handle,
        algorithm: uri(PIN_CHECK)?,
        parameters: Bytes::default(),
        biometric_auth: false,
        authorization: Bytes(pin.to_vec()),
        data: Bytes(vec![0; 32]),
    });
    match r {
        Err(pcsc_bridge::Error::Sks(e)) if e.code == ErrorCode::Algorithm => Ok(()),
        Err(pcsc_bridge::Error::Sks(e)) if e.code == ErrorCode::Authorization => {
            Err(CKR_PIN_INCORRECT)
        }
        Err(e) => Err(card_error(&e, CKR_DEVICE_ERROR)),
        Ok(_) => Err(CKR_DEVICE_ERROR),
    }
}
