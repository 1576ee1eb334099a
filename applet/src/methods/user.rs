//! The User API (spec 2.3, 7.4 methods [100]-[104]; spec-notes §4.25-4.30): signHashedData,
//! asymmetricKeyDecrypt, keyAgreement, performHmac, symmetricKeyEncrypt.
//!
//! Every method follows the reference's observable order (spec-notes §4.25): key lookup,
//! authorization, data size, algorithm checks, parameters, operation.

use crate::crypto::algorithm::{self, AesMode, Class};
use crate::crypto::symmetric::{self, AesError};
use crate::crypto::{PrivateKey, PublicKey};
use crate::error::{option, Error};
use crate::methods::info::CRYPTO_DATA_SIZE;
use crate::state::SksApplet;
use crate::store::Store;
use apdu_spec::algorithms::special::NONE;
use apdu_spec::{
    AsymmetricKeyDecryptArgs, Blob, Bytes, CryptoResult, ErrorCode, KeyAgreementArgs,
    PerformHmacArgs, SignHashedDataArgs, SksError, SymmetricKeyEncryptArgs,
    SymmetricKeyEncryptOutput, Uri,
};
use rand_core::Rng;
use std::sync::Arc;

/// Parsed private keys kept in RAM (spec-notes: decoding PKCS#8 on every call is slow). Bounded;
/// entries are zeroized when dropped (RustCrypto keys zeroize on drop).
pub(crate) const KEY_CACHE_SIZE: usize = 32;

/// The operation a User API method performs, for the algorithm class check.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Sign,
    Decrypt,
    Agree,
    Hmac,
    Encrypt,
}

impl Op {
    fn accepts(self, class: Class) -> bool {
        matches!(
            (self, class),
            (Op::Sign, Class::RsaSign(_) | Class::EcdsaSign(_))
                | (Op::Decrypt, Class::RsaDecrypt(_))
                | (Op::Agree, Class::Ecdh)
                | (Op::Hmac, Class::Hmac(_))
                | (Op::Encrypt, Class::Aes { .. })
        )
    }
}

fn algorithm_error(msg: impl Into<String>) -> SksError {
    SksError::new(ErrorCode::Algorithm, msg)
}

/// What a User API call may proceed with after the common checks.
enum Material {
    Private(Arc<PrivateKey>),
    Secret(crate::db::Secret),
}

/// The fields every User API call shares (spec 7.4 [100]-[104]).
trait UserCall {
    fn key(&self) -> u32;
    fn algorithm(&self) -> &Uri;
    fn parameters(&self) -> &[u8];
    fn biometric_auth(&self) -> bool;
    fn authorization(&self) -> &[u8];
}

macro_rules! user_call {
    ($($t:ty),*) => {$(
        impl UserCall for $t {
            fn key(&self) -> u32 { self.key_handle }
            fn algorithm(&self) -> &Uri { &self.algorithm }
            fn parameters(&self) -> &[u8] { &self.parameters }
            fn biometric_auth(&self) -> bool { self.biometric_auth }
            fn authorization(&self) -> &[u8] { &self.authorization }
        }
    )*};
}

user_call!(
    SignHashedDataArgs,
    AsymmetricKeyDecryptArgs,
    KeyAgreementArgs,
    PerformHmacArgs,
    SymmetricKeyEncryptArgs
);

impl<S: Store> SksApplet<S> {
    /// The common checks of spec-notes §4.25 steps 1-5, in the reference's order.
    fn prepare(
        &mut self,
        call: &impl UserCall,
        op: Op,
        data_len: Option<usize>,
    ) -> Result<(Class, Material), SksError> {
        let (handle, uri) = (call.key(), call.algorithm());
        self.closed_key(handle)?;
        self.authorize_use(handle, call.biometric_auth(), call.authorization())?;
        if data_len.is_some_and(|n| n > CRYPTO_DATA_SIZE as usize) {
            return Err(option("Exceeded cryptoDataSize"));
        }
        let class = algorithm::lookup(uri)
            .map(|a| a.class)
            .ok_or_else(|| algorithm_error(format!("Unsupported algorithm: {uri}")))?;
        if !op.accepts(class) {
            return Err(algorithm_error(format!(
                "Algorithm does not match operation: {uri}"
            )));
        }
        let key = self.closed_key(handle)?;
        let endorsed = &key.endorsed_algorithms;
        let endorsed_ok = endorsed.is_empty()
            || (!endorsed.iter().any(|e| e == NONE) && endorsed.iter().any(|e| e == uri.as_str()));
        let material = match key.symmetric_key.clone() {
            Some(secret) => {
                if !class.is_symmetric() {
                    return Err(algorithm_error(format!(
                        "Symmetric key {handle} does not match algorithm: {uri}"
                    )));
                }
                if let Class::Aes { key_len, .. } = class {
                    let fits =
                        key_len.map_or(matches!(secret.len(), 16 | 24 | 32), |n| n == secret.len());
                    if !fits {
                        return Err(option(format!(
                            "Key #{handle} has wrong size for algorithm: {uri}"
                        )));
                    }
                }
                Material::Secret(secret)
            }
            None => {
                if class.is_symmetric() {
                    return Err(algorithm_error(format!(
                        "Asymmetric key {handle} does not match algorithm: {uri}"
                    )));
                }
                let private = self.private_key(handle)?;
                if class.is_rsa() != private.is_rsa() {
                    return Err(algorithm_error(format!(
                        "Key {handle} is of the wrong type for: {uri}"
                    )));
                }
                Material::Private(private)
            }
        };
        if !endorsed_ok {
            return Err(algorithm_error(format!("Algorithm not endorsed: {uri}")));
        }
        let takes_parameters = matches!(
            class,
            Class::Aes {
                mode: AesMode::CbcIvParameter,
                ..
            }
        );
        if !call.parameters().is_empty() && !takes_parameters {
            return Err(option(format!("Algorithm takes no parameters: {uri}")));
        }
        Ok((class, material))
    }

    /// The parsed private key of an entry, from the RAM cache when possible.
    fn private_key(&mut self, handle: u32) -> Result<Arc<PrivateKey>, SksError> {
        if let Some(k) = self.key_cache.get(&handle) {
            return Ok(k.clone());
        }
        let key = self
            .db
            .key(handle)
            .ok_or_else(|| SksError::new(ErrorCode::NoKey, "Key not found"))?;
        let parsed = Arc::new(
            PrivateKey::from_pkcs8(&key.private_key)
                .map_err(|e| SksError::from(Error::StoredKey(e)))?,
        );
        if self.key_cache.len() >= KEY_CACHE_SIZE {
            self.key_cache.pop_first();
        }
        self.key_cache.insert(handle, parsed.clone());
        Ok(parsed)
    }

    /// signHashedData [100] (spec-notes §4.26): `data` is the hash; RSA adds the DigestInfo.
    pub(crate) fn sign_hashed_data(
        &mut self,
        a: SignHashedDataArgs,
    ) -> Result<CryptoResult, SksError> {
        let (class, material) = self.prepare(&a, Op::Sign, Some(a.data.len()))?;
        let Material::Private(key) = material else {
            return Err(algorithm_error("Needs an asymmetric key"));
        };
        let length_ok = match class {
            Class::RsaSign(Some(h)) | Class::EcdsaSign(Some(h)) => a.data.len() == h.output_len(),
            Class::RsaSign(None) => a.data.len() + 11 <= key.rsa_len().unwrap_or(0),
            _ => (1..=64).contains(&a.data.len()),
        };
        if !length_ok {
            return Err(option("Incorrect length of data"));
        }
        let signature = match class {
            Class::RsaSign(hash) => key.rsa_sign(hash, &a.data, &mut self.rng),
            _ => key.ecdsa_sign_prehash(&a.data),
        }
        .map_err(SksError::from)?;
        Ok(CryptoResult {
            result: Bytes(signature),
        })
    }

    /// asymmetricKeyDecrypt [101] (spec-notes §4.27): PKCS#1 v1.5 or OAEP, RSA only.
    pub(crate) fn asymmetric_key_decrypt(
        &mut self,
        a: AsymmetricKeyDecryptArgs,
    ) -> Result<CryptoResult, SksError> {
        let (class, material) = self.prepare(&a, Op::Decrypt, None)?;
        let (Class::RsaDecrypt(oaep), Material::Private(key)) = (class, material) else {
            return Err(algorithm_error("Needs an RSA key"));
        };
        let plain = key
            .rsa_decrypt(oaep, &a.data, &mut self.rng)
            .map_err(SksError::from)?;
        Ok(CryptoResult {
            result: Bytes(plain.to_vec()),
        })
    }

    /// keyAgreement [102] (spec-notes §4.28): ECDH, the raw x-coordinate.
    pub(crate) fn key_agreement(&mut self, a: KeyAgreementArgs) -> Result<CryptoResult, SksError> {
        let (_, material) = self.prepare(&a, Op::Agree, None)?;
        let Material::Private(key) = material else {
            return Err(algorithm_error("Needs an EC key"));
        };
        let peer = PublicKey::from_spki(&a.public_key)
            .filter(|k| k.curve().is_some())
            .ok_or_else(|| option("Unsupported EC key algorithm for: \"publicKey\""))?;
        let z = key.ecdh(&peer).map_err(SksError::from)?;
        Ok(CryptoResult {
            result: Bytes(z.to_vec()),
        })
    }

    /// performHmac [103] (spec-notes §4.29).
    pub(crate) fn perform_hmac(&mut self, a: PerformHmacArgs) -> Result<CryptoResult, SksError> {
        let (class, material) = self.prepare(&a, Op::Hmac, Some(a.data.len()))?;
        let (Class::Hmac(hash), Material::Secret(secret)) = (class, material) else {
            return Err(algorithm_error("Needs a symmetric key"));
        };
        Ok(CryptoResult {
            result: Bytes(symmetric::hmac(hash, &secret, &a.data)),
        })
    }

    /// symmetricKeyEncrypt [104] (spec-notes §4.30).
    pub(crate) fn symmetric_key_encrypt(
        &mut self,
        a: SymmetricKeyEncryptArgs,
    ) -> Result<SymmetricKeyEncryptOutput, SksError> {
        let (class, material) = self.prepare(&a, Op::Encrypt, Some(a.data.len()))?;
        let (Class::Aes { mode, .. }, Material::Secret(secret)) = (class, material) else {
            return Err(algorithm_error("Needs a symmetric key"));
        };
        let mut iv = [0u8; 16];
        match mode {
            AesMode::CbcIvParameter => {
                iv = a
                    .parameters
                    .0
                    .as_slice()
                    .try_into()
                    .map_err(|_| option("parameters (IV) must be 16 bytes"))?;
            }
            AesMode::CbcIvPrepended if a.mode => self.rng.fill_bytes(&mut iv),
            _ => {}
        }
        let out = symmetric::aes(&secret, mode, a.mode, &iv, &a.data).map_err(|e| match e {
            AesError::Input(msg) => option(msg),
            AesError::Padding => SksError::new(ErrorCode::Crypto, "Bad padding"),
        })?;
        Ok(SymmetricKeyEncryptOutput { result: Blob(out) })
    }
}
