//! The mechanisms this module offers and the SKS algorithms each needs: a mechanism is listed
//! only when getDeviceInfo says the card implements at least one algorithm that carries it.

use apdu_spec::algorithms::{
    asymmetric_encryption as enc, hmac, key_agreement, key_generation as kg, signature as sig,
    symmetric,
};
use cryptoki_sys::*;

/// One mechanism: its PKCS #11 info and the SKS algorithms that can carry it.
pub struct Mechanism {
    /// The mechanism type.
    pub ty: CK_MECHANISM_TYPE,
    /// ulMinKeySize (bits for RSA/EC, bytes for HMAC/AES).
    pub min: CK_ULONG,
    /// ulMaxKeySize.
    pub max: CK_ULONG,
    /// CKF_* flags.
    pub flags: CK_FLAGS,
    /// Any of these SKS algorithm URIs in getDeviceInfo makes the mechanism available.
    pub needs: &'static [&'static str],
}

const EC: CK_FLAGS = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;
const ECDSA_ANY: &[&str] = &[
    sig::ECDSA_NONE,
    sig::ECDSA_SHA256,
    sig::ECDSA_SHA384,
    sig::ECDSA_SHA512,
];

/// Every mechanism the module implements.
pub const ALL: &[Mechanism] = &[
    Mechanism {
        ty: CKM_ECDSA,
        min: 256,
        max: 521,
        flags: CKF_HW | CKF_SIGN | EC,
        needs: ECDSA_ANY,
    },
    Mechanism {
        ty: CKM_ECDSA_SHA256,
        min: 256,
        max: 521,
        flags: CKF_HW | CKF_SIGN | EC,
        needs: &[sig::ECDSA_NONE, sig::ECDSA_SHA256],
    },
    Mechanism {
        ty: CKM_ECDSA_SHA384,
        min: 256,
        max: 521,
        flags: CKF_HW | CKF_SIGN | EC,
        needs: &[sig::ECDSA_NONE, sig::ECDSA_SHA384],
    },
    Mechanism {
        ty: CKM_ECDSA_SHA512,
        min: 256,
        max: 521,
        flags: CKF_HW | CKF_SIGN | EC,
        needs: &[sig::ECDSA_NONE, sig::ECDSA_SHA512],
    },
    Mechanism {
        ty: CKM_RSA_PKCS,
        min: 1024,
        max: 4096,
        flags: CKF_HW | CKF_SIGN | CKF_DECRYPT,
        needs: &[
            sig::RSA_PKCS1_NONE,
            sig::RSA_SHA256,
            sig::RSA_SHA384,
            sig::RSA_SHA512,
            enc::RSA_ES_PKCS1_5,
        ],
    },
    Mechanism {
        ty: CKM_SHA256_RSA_PKCS,
        min: 1024,
        max: 4096,
        flags: CKF_HW | CKF_SIGN,
        needs: &[sig::RSA_PKCS1_NONE, sig::RSA_SHA256],
    },
    Mechanism {
        ty: CKM_SHA384_RSA_PKCS,
        min: 1024,
        max: 4096,
        flags: CKF_HW | CKF_SIGN,
        needs: &[sig::RSA_PKCS1_NONE, sig::RSA_SHA384],
    },
    Mechanism {
        ty: CKM_SHA512_RSA_PKCS,
        min: 1024,
        max: 4096,
        flags: CKF_HW | CKF_SIGN,
        needs: &[sig::RSA_PKCS1_NONE, sig::RSA_SHA512],
    },
    Mechanism {
        ty: CKM_RSA_PKCS_OAEP,
        min: 1024,
        max: 4096,
        flags: CKF_HW | CKF_DECRYPT,
        needs: &[enc::RSA_OAEP_SHA1, enc::RSA_OAEP_SHA256],
    },
    Mechanism {
        ty: CKM_ECDH1_DERIVE,
        min: 256,
        max: 521,
        flags: CKF_HW | CKF_DERIVE | EC,
        needs: &key_agreement::ALL,
    },
    Mechanism {
        ty: CKM_SHA_1_HMAC,
        min: 1,
        max: 128,
        flags: CKF_HW | CKF_SIGN,
        needs: &[hmac::HMAC_SHA1],
    },
    Mechanism {
        ty: CKM_SHA256_HMAC,
        min: 1,
        max: 128,
        flags: CKF_HW | CKF_SIGN,
        needs: &[hmac::HMAC_SHA256],
    },
    Mechanism {
        ty: CKM_SHA384_HMAC,
        min: 1,
        max: 128,
        flags: CKF_HW | CKF_SIGN,
        needs: &[hmac::HMAC_SHA384],
    },
    Mechanism {
        ty: CKM_SHA512_HMAC,
        min: 1,
        max: 128,
        flags: CKF_HW | CKF_SIGN,
        needs: &[hmac::HMAC_SHA512],
    },
    Mechanism {
        ty: CKM_AES_ECB,
        min: 16,
        max: 32,
        flags: CKF_HW | CKF_ENCRYPT | CKF_DECRYPT,
        needs: &[symmetric::AES_ECB_NOPAD],
    },
    Mechanism {
        ty: CKM_AES_CBC,
        min: 16,
        max: 32,
        flags: CKF_HW | CKF_ENCRYPT | CKF_DECRYPT,
        needs: &[symmetric::AES_CBC],
    },
    Mechanism {
        ty: CKM_AES_CBC_PAD,
        min: 16,
        max: 32,
        flags: CKF_HW | CKF_ENCRYPT | CKF_DECRYPT,
        needs: &[symmetric::AES_CBC],
    },
    Mechanism {
        ty: CKM_EC_KEY_PAIR_GEN,
        min: 256,
        max: 521,
        flags: CKF_HW | CKF_GENERATE_KEY_PAIR | EC,
        needs: &[kg::EC_NIST_P256, kg::EC_NIST_P384, kg::EC_NIST_P521],
    },
    Mechanism {
        ty: CKM_RSA_PKCS_KEY_PAIR_GEN,
        min: 2048,
        max: 4096,
        flags: CKF_HW | CKF_GENERATE_KEY_PAIR,
        needs: &[kg::RSA2048, kg::RSA3072, kg::RSA4096],
    },
];

/// The mechanisms a card with `supported` algorithms offers.
pub fn available<'a>(supported: &'a [String]) -> impl Iterator<Item = &'static Mechanism> + 'a {
    ALL.iter()
        .filter(|m| m.needs.iter().any(|n| supported.iter().any(|s| s == n)))
}
