//! The algorithms this card implements (spec 4), with what the provisioning checks and the User
//! API need to know about each. getDeviceInfo lists exactly this table, in this order.

use crate::crypto::Curve;
use apdu_spec::algorithms::{
    asymmetric_encryption as enc, hmac, key_agreement, key_generation as keygen, signature as sig,
    special, symmetric as sym,
};

/// Hash functions named by algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    /// Digest length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }
}

/// What an algorithm URI means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// AES encryption; `key_len` fixed by the URI, or any of 16/24/32 when `None`.
    Aes {
        key_len: Option<usize>,
        mode: AesMode,
    },
    Hmac(Hash),
    /// RSA decryption (PKCS#1 v1.5, or OAEP with the hash for both digest and MGF1).
    RsaDecrypt(Option<Hash>),
    Ecdh,
    /// RSA PKCS#1 v1.5 signature over a given hash (`None`: `rsa.pkcs1.none`).
    RsaSign(Option<Hash>),
    /// ECDSA over a given hash (`None`: `ecdsa.none`).
    EcdsaSign(Option<Hash>),
    RsaKeyGen {
        bits: usize,
        exponent_parameter: bool,
    },
    EcKeyGen(Curve),
    /// `#session.1`, `#key.1`, `#none`.
    Special,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AesMode {
    /// XML Encryption CBC: internal random IV prepended, PKCS#7.
    CbcIvPrepended,
    /// CBC with the IV in `parameters`, PKCS#7.
    CbcIvParameter,
    EcbNoPad,
}

impl Class {
    pub fn is_symmetric(self) -> bool {
        matches!(self, Class::Aes { .. } | Class::Hmac(_))
    }

    /// Usable with an asymmetric key in the User API.
    pub fn is_asymmetric(self) -> bool {
        matches!(
            self,
            Class::RsaDecrypt(_) | Class::Ecdh | Class::RsaSign(_) | Class::EcdsaSign(_)
        )
    }

    /// Needs an RSA key (among the asymmetric classes).
    pub fn is_rsa(self) -> bool {
        matches!(self, Class::RsaDecrypt(_) | Class::RsaSign(_))
    }
}

/// One supported algorithm.
#[derive(Debug, Clone, Copy)]
pub struct Algorithm {
    pub uri: &'static str,
    pub class: Class,
}

const fn a(uri: &'static str, class: Class) -> Algorithm {
    Algorithm { uri, class }
}

/// Every algorithm the card implements, in getDeviceInfo order.
pub const SUPPORTED: &[Algorithm] = &[
    a(
        sym::AES128_CBC,
        Class::Aes {
            key_len: Some(16),
            mode: AesMode::CbcIvPrepended,
        },
    ),
    a(
        sym::AES192_CBC,
        Class::Aes {
            key_len: Some(24),
            mode: AesMode::CbcIvPrepended,
        },
    ),
    a(
        sym::AES256_CBC,
        Class::Aes {
            key_len: Some(32),
            mode: AesMode::CbcIvPrepended,
        },
    ),
    a(
        sym::AES_ECB_NOPAD,
        Class::Aes {
            key_len: None,
            mode: AesMode::EcbNoPad,
        },
    ),
    a(
        sym::AES_CBC,
        Class::Aes {
            key_len: None,
            mode: AesMode::CbcIvParameter,
        },
    ),
    a(hmac::HMAC_SHA1, Class::Hmac(Hash::Sha1)),
    a(hmac::HMAC_SHA256, Class::Hmac(Hash::Sha256)),
    a(hmac::HMAC_SHA384, Class::Hmac(Hash::Sha384)),
    a(hmac::HMAC_SHA512, Class::Hmac(Hash::Sha512)),
    a(enc::RSA_ES_PKCS1_5, Class::RsaDecrypt(None)),
    a(enc::RSA_OAEP_SHA1, Class::RsaDecrypt(Some(Hash::Sha1))),
    a(enc::RSA_OAEP_SHA256, Class::RsaDecrypt(Some(Hash::Sha256))),
    a(key_agreement::ECDH_RAW, Class::Ecdh),
    a(sig::RSA_SHA256, Class::RsaSign(Some(Hash::Sha256))),
    a(sig::RSA_SHA384, Class::RsaSign(Some(Hash::Sha384))),
    a(sig::RSA_SHA512, Class::RsaSign(Some(Hash::Sha512))),
    a(sig::ECDSA_SHA256, Class::EcdsaSign(Some(Hash::Sha256))),
    a(sig::ECDSA_SHA384, Class::EcdsaSign(Some(Hash::Sha384))),
    a(sig::ECDSA_SHA512, Class::EcdsaSign(Some(Hash::Sha512))),
    a(sig::RSA_PKCS1_NONE, Class::RsaSign(None)),
    a(sig::ECDSA_NONE, Class::EcdsaSign(None)),
    a(keygen::EC_NIST_P256, Class::EcKeyGen(Curve::P256)),
    a(keygen::EC_NIST_P384, Class::EcKeyGen(Curve::P384)),
    a(keygen::EC_NIST_P521, Class::EcKeyGen(Curve::P521)),
    a(
        keygen::RSA1024,
        Class::RsaKeyGen {
            bits: 1024,
            exponent_parameter: false,
        },
    ),
    a(
        keygen::RSA1024_EXP,
        Class::RsaKeyGen {
            bits: 1024,
            exponent_parameter: true,
        },
    ),
    a(
        keygen::RSA2048,
        Class::RsaKeyGen {
            bits: 2048,
            exponent_parameter: false,
        },
    ),
    a(
        keygen::RSA2048_EXP,
        Class::RsaKeyGen {
            bits: 2048,
            exponent_parameter: true,
        },
    ),
    a(
        keygen::RSA3072,
        Class::RsaKeyGen {
            bits: 3072,
            exponent_parameter: false,
        },
    ),
    a(
        keygen::RSA3072_EXP,
        Class::RsaKeyGen {
            bits: 3072,
            exponent_parameter: true,
        },
    ),
    a(
        keygen::RSA4096,
        Class::RsaKeyGen {
            bits: 4096,
            exponent_parameter: false,
        },
    ),
    a(
        keygen::RSA4096_EXP,
        Class::RsaKeyGen {
            bits: 4096,
            exponent_parameter: true,
        },
    ),
    a(special::SESSION_1, Class::Special),
    a(special::KEY_1, Class::Special),
    a(special::NONE, Class::Special),
];

/// RSA modulus sizes the card generates and accepts (keys, certificates, KMKs).
pub const RSA_SIZES: [usize; 4] = [1024, 2048, 3072, 4096];

pub fn lookup(uri: &str) -> Option<&'static Algorithm> {
    SUPPORTED.iter().find(|a| a.uri == uri)
}

/// Whether a public key is one the card could have generated: a supported RSA size (any
/// exponent) or a supported curve (spec 7.4 setCertificatePath, createProvisioningSession KMK).
pub fn key_is_supported(key: &crate::crypto::PublicKey) -> bool {
    match key.rsa_bits() {
        Some(bits) => RSA_SIZES.contains(&bits),
        None => key.curve().is_some(),
    }
}
