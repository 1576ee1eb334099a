//! Algorithm URIs (spec 4 "Algorithm Support", spec-notes §6.1-6.2), grouped by class.
//!
//! Which of them a card implements is what getDeviceInfo's `supportedAlgorithm...` list says;
//! this module only names them.

/// The common prefix of the SKS-specific algorithm URIs.
pub const SKS_PREFIX: &str = "https://webpki.github.io/sks/algorithm#";

/// Symmetric key encryption (spec 4.1, mandatory).
pub mod symmetric {
    /// AES-128-CBC, XML Encryption: the IV is generated internally and prepended to the output.
    pub const AES128_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes128-cbc";
    /// AES-192-CBC, XML Encryption: the IV is generated internally and prepended to the output.
    pub const AES192_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes192-cbc";
    /// AES-256-CBC, XML Encryption: the IV is generated internally and prepended to the output.
    pub const AES256_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
    /// AES-CBC with PKCS#7 padding for 128/192/256-bit keys; the IV is `parameters`.
    pub const AES_CBC: &str = "https://webpki.github.io/sks/algorithm#aes.cbc";
    /// AES-ECB without padding for 128/192/256-bit keys.
    pub const AES_ECB_NOPAD: &str = "https://webpki.github.io/sks/algorithm#aes.ecb.nopad";

    /// Every symmetric encryption algorithm.
    pub const ALL: [&str; 5] = [AES128_CBC, AES192_CBC, AES256_CBC, AES_CBC, AES_ECB_NOPAD];
}

/// HMAC operations (spec 4.1, mandatory).
pub mod hmac {
    /// HMAC-SHA1 (XML Signature).
    pub const HMAC_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#hmac-sha1";
    /// HMAC-SHA256.
    pub const HMAC_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256";
    /// HMAC-SHA384.
    pub const HMAC_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha384";
    /// HMAC-SHA512.
    pub const HMAC_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha512";

    /// Every HMAC algorithm.
    pub const ALL: [&str; 4] = [HMAC_SHA1, HMAC_SHA256, HMAC_SHA384, HMAC_SHA512];
}

/// Asymmetric key encryption, decryption only (spec 4.1, mandatory).
pub mod asymmetric_encryption {
    /// RSAES-PKCS1-v1_5 (RFC 3447).
    pub const RSA_ES_PKCS1_5: &str = "https://webpki.github.io/sks/algorithm#rsa.es.pkcs1_5";
    /// RSAES-OAEP with SHA-1 and MGF1-SHA1, empty label.
    pub const RSA_OAEP_SHA1: &str = "https://webpki.github.io/sks/algorithm#rsa.oaep.sha1";
    /// RSAES-OAEP with SHA-256 and MGF1-SHA256, empty label.
    pub const RSA_OAEP_SHA256: &str = "https://webpki.github.io/sks/algorithm#rsa.oaep.sha256";

    /// Every asymmetric encryption algorithm.
    pub const ALL: [&str; 3] = [RSA_ES_PKCS1_5, RSA_OAEP_SHA1, RSA_OAEP_SHA256];
}

/// Diffie-Hellman key agreement (spec 4.1, mandatory).
pub mod key_agreement {
    /// SP800-56A ECC CDH primitive: the raw, fixed-length x-coordinate of the shared point.
    pub const ECDH_RAW: &str = "https://webpki.github.io/sks/algorithm#ecdh.raw";

    /// Every key agreement algorithm.
    pub const ALL: [&str; 1] = [ECDH_RAW];
}

/// Asymmetric key signatures, signing only (spec 4.1; `ED25519` per spec-notes §6.1).
/// ECDSA signatures are raw `r ‖ s` (XML Signature encoding), never DER.
pub mod signature {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (`data` is the 32-byte hash).
    pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
    /// RSASSA-PKCS1-v1_5 with SHA-384 (`data` is the 48-byte hash).
    pub const RSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
    /// RSASSA-PKCS1-v1_5 with SHA-512 (`data` is the 64-byte hash).
    pub const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
    /// ECDSA with SHA-256 (`data` is the 32-byte hash).
    pub const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
    /// ECDSA with SHA-384 (`data` is the 48-byte hash).
    pub const ECDSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384";
    /// ECDSA with SHA-512 (`data` is the 64-byte hash).
    pub const ECDSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512";
    /// PKCS#1 v1.5 padding of `data` without a DigestInfo (see signHashedData).
    pub const RSA_PKCS1_NONE: &str = "https://webpki.github.io/sks/algorithm#rsa.pkcs1.none";
    /// ECDSA over `data` as given, without hashing.
    pub const ECDSA_NONE: &str = "https://webpki.github.io/sks/algorithm#ecdsa.none";
    /// Pure Ed25519 over `data` (optional; not in the spec's lists, used by the reference).
    pub const ED25519: &str = "https://webpki.github.io/sks/algorithm#ed25519";

    /// The signature algorithms the spec makes mandatory.
    pub const MANDATORY: [&str; 8] = [
        RSA_SHA256,
        RSA_SHA384,
        RSA_SHA512,
        ECDSA_SHA256,
        ECDSA_SHA384,
        ECDSA_SHA512,
        RSA_PKCS1_NONE,
        ECDSA_NONE,
    ];
}

/// Asymmetric key generation (spec 4.1 mandatory, 4.3 optional). RSA keys have exponent 65537
/// unless the URI ends in `.exp`, in which case createKeyEntry's `keyParameters` holds it.
pub mod key_generation {
    /// RSA 1024-bit (mandatory).
    pub const RSA1024: &str = "https://webpki.github.io/sks/algorithm#rsa1024";
    /// RSA 2048-bit (mandatory).
    pub const RSA2048: &str = "https://webpki.github.io/sks/algorithm#rsa2048";
    /// EC NIST P-256 (mandatory).
    pub const EC_NIST_P256: &str = "https://webpki.github.io/sks/algorithm#ec.nist.p256";
    /// EC NIST P-384 (mandatory).
    pub const EC_NIST_P384: &str = "https://webpki.github.io/sks/algorithm#ec.nist.p384";
    /// EC NIST P-521 (mandatory).
    pub const EC_NIST_P521: &str = "https://webpki.github.io/sks/algorithm#ec.nist.p521";

    /// RSA 3072-bit (optional).
    pub const RSA3072: &str = "https://webpki.github.io/sks/algorithm#rsa3072";
    /// RSA 4096-bit (optional).
    pub const RSA4096: &str = "https://webpki.github.io/sks/algorithm#rsa4096";
    /// RSA 1024-bit with the exponent in `keyParameters` (optional).
    pub const RSA1024_EXP: &str = "https://webpki.github.io/sks/algorithm#rsa1024.exp";
    /// RSA 2048-bit with the exponent in `keyParameters` (optional).
    pub const RSA2048_EXP: &str = "https://webpki.github.io/sks/algorithm#rsa2048.exp";
    /// RSA 3072-bit with the exponent in `keyParameters` (optional).
    pub const RSA3072_EXP: &str = "https://webpki.github.io/sks/algorithm#rsa3072.exp";
    /// RSA 4096-bit with the exponent in `keyParameters` (optional).
    pub const RSA4096_EXP: &str = "https://webpki.github.io/sks/algorithm#rsa4096.exp";
    /// EC Brainpool P256r1, RFC 5639 (optional).
    pub const EC_BRAINPOOL_P256R1: &str =
        "https://webpki.github.io/sks/algorithm#ec.brainpool.p256r1";
    /// EC secp256k1 (optional). The spec writes `#ec.secg.p256k`; webpki's own KeyAlgorithms
    /// uses `#ec.secg.p256k1`, which this crate adopts (spec-notes D12).
    pub const EC_SECG_P256K1: &str = "https://webpki.github.io/sks/algorithm#ec.secg.p256k1";
    /// Ed25519 (optional; spec-notes §6.1, D13).
    pub const ED25519: &str = "https://webpki.github.io/sks/algorithm#ed25519";

    /// The key generation algorithms the spec makes mandatory.
    pub const MANDATORY: [&str; 5] = [RSA1024, RSA2048, EC_NIST_P256, EC_NIST_P384, EC_NIST_P521];
    /// The optional key generation algorithms of spec 4.3 (plus Ed25519).
    pub const OPTIONAL: [&str; 9] = [
        RSA3072,
        RSA4096,
        RSA1024_EXP,
        RSA2048_EXP,
        RSA3072_EXP,
        RSA4096_EXP,
        EC_BRAINPOOL_P256R1,
        EC_SECG_P256K1,
        ED25519,
    ];
}

/// Special algorithms unique to SKS (spec 4.2).
pub mod special {
    /// The only session key creation algorithm (createProvisioningSession).
    pub const SESSION_1: &str = "https://webpki.github.io/sks/algorithm#session.1";
    /// The only key entry algorithm (createKeyEntry).
    pub const KEY_1: &str = "https://webpki.github.io/sks/algorithm#key.1";
    /// As the sole endorsed algorithm: the key may not be used by the User API.
    pub const NONE: &str = "https://webpki.github.io/sks/algorithm#none";

    /// Every special algorithm.
    pub const ALL: [&str; 3] = [SESSION_1, KEY_1, NONE];
}

/// Every algorithm the spec makes mandatory (spec 4.1 and 4.2), in spec order.
pub const MANDATORY: [&str; 29] = [
    symmetric::AES128_CBC,
    symmetric::AES192_CBC,
    symmetric::AES256_CBC,
    symmetric::AES_CBC,
    symmetric::AES_ECB_NOPAD,
    hmac::HMAC_SHA1,
    hmac::HMAC_SHA256,
    hmac::HMAC_SHA384,
    hmac::HMAC_SHA512,
    asymmetric_encryption::RSA_ES_PKCS1_5,
    asymmetric_encryption::RSA_OAEP_SHA1,
    asymmetric_encryption::RSA_OAEP_SHA256,
    key_agreement::ECDH_RAW,
    signature::RSA_SHA256,
    signature::RSA_SHA384,
    signature::RSA_SHA512,
    signature::ECDSA_SHA256,
    signature::ECDSA_SHA384,
    signature::ECDSA_SHA512,
    signature::RSA_PKCS1_NONE,
    signature::ECDSA_NONE,
    key_generation::RSA1024,
    key_generation::RSA2048,
    key_generation::EC_NIST_P256,
    key_generation::EC_NIST_P384,
    key_generation::EC_NIST_P521,
    special::SESSION_1,
    special::KEY_1,
    special::NONE,
];

/// The NIST curves of the SKS (spec 4.1: `#ec.nist.p256` ... key generation; session keys and
/// KMKs). With the `serde` feature it serializes as its variant (`P256` ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    /// Every curve, smallest first.
    pub const ALL: [Curve; 3] = [Curve::P256, Curve::P384, Curve::P521];

    /// Byte length of a field element / coordinate (and of each of r and s in a raw ECDSA
    /// signature).
    pub fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    /// The key generation algorithm URI ([`key_generation::EC_NIST_P256`] ...).
    pub fn key_algorithm(self) -> &'static str {
        match self {
            Curve::P256 => key_generation::EC_NIST_P256,
            Curve::P384 => key_generation::EC_NIST_P384,
            Curve::P521 => key_generation::EC_NIST_P521,
        }
    }

    /// The JOSE (RFC 7518) name: `P-256` ...
    pub fn jose(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }

    /// The named-curve OID, dotted (`1.2.840.10045.3.1.7` ...).
    pub fn oid(self) -> &'static str {
        match self {
            Curve::P256 => "1.2.840.10045.3.1.7",
            Curve::P384 => "1.3.132.0.34",
            Curve::P521 => "1.3.132.0.35",
        }
    }

    /// The curve whose key generation URI or JOSE name is `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.key_algorithm() == name || c.jose() == name)
    }
}

/// Every URI this module names: the mandatory ones, then the optional key generation ones.
pub fn all() -> impl Iterator<Item = &'static str> {
    MANDATORY.into_iter().chain(key_generation::OPTIONAL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Uri;
    use std::collections::HashSet;

    fn everything() -> Vec<&'static str> {
        let mut all = MANDATORY.to_vec();
        all.extend(key_generation::OPTIONAL);
        all.push(signature::ED25519);
        all
    }

    #[test]
    fn uris_are_distinct_except_ed25519_in_two_classes() {
        let all = everything();
        let set: HashSet<_> = all.iter().collect();
        // ed25519 is both a key generation and a signature algorithm: one duplicate.
        assert_eq!(set.len(), all.len() - 1);
        assert_eq!(signature::ED25519, key_generation::ED25519);
    }

    #[test]
    fn uris_are_valid_wire_uris_with_known_prefixes() {
        for uri in everything() {
            assert!(Uri::new(uri).is_ok(), "{uri}");
            assert!(
                uri.starts_with(SKS_PREFIX)
                    || uri.starts_with("http://www.w3.org/2001/04/")
                    || uri.starts_with("http://www.w3.org/2000/09/"),
                "{uri}"
            );
            assert!(!uri.contains(' '), "{uri}");
        }
    }

    #[test]
    fn curves_by_name() {
        for c in Curve::ALL {
            assert_eq!(Curve::from_name(c.key_algorithm()), Some(c));
            assert_eq!(Curve::from_name(c.jose()), Some(c));
            assert!(MANDATORY.contains(&c.key_algorithm()));
        }
        assert_eq!(Curve::from_name("P-192"), None);
        assert_eq!(Curve::P521.coordinate_len(), 66);
    }

    #[test]
    fn spec_spellings() {
        // Spot checks against spec 4.1-4.3 (and D12 for secp256k1).
        assert_eq!(MANDATORY.len(), 29);
        assert!(MANDATORY.contains(&"https://webpki.github.io/sks/algorithm#rsa.pkcs1.none"));
        assert!(MANDATORY.contains(&"https://webpki.github.io/sks/algorithm#ecdsa.none"));
        assert_eq!(
            key_generation::EC_SECG_P256K1,
            format!("{SKS_PREFIX}ec.secg.p256k1")
        );
        assert_eq!(
            hmac::HMAC_SHA1,
            "http://www.w3.org/2000/09/xmldsig#hmac-sha1"
        );
        assert!(!MANDATORY.contains(&signature::ED25519));
    }
}
