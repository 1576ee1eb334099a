//! Short algorithm names and the URIs they stand for.
//!
//! A short name is the URI's fragment (`ecdsa-sha256`, `rsa.oaep.sha256`, `aes256-cbc`); `.`,
//! `_` and `-` are interchangeable and case does not matter (`rsa-oaep-sha256` works too). Full
//! URIs are accepted as they are (an unknown one is sent to the card, which reports it).

use apdu_spec::algorithms::{asymmetric_encryption, hmac, key_agreement, signature, symmetric};

/// The operation class an algorithm name is looked up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Sign,
    Decrypt,
    Hmac,
    Aes,
    Agree,
}

impl Class {
    fn uris(self) -> &'static [&'static str] {
        match self {
            Class::Sign => &[
                signature::ECDSA_SHA256,
                signature::ECDSA_SHA384,
                signature::ECDSA_SHA512,
                signature::ECDSA_NONE,
                signature::RSA_SHA256,
                signature::RSA_SHA384,
                signature::RSA_SHA512,
                signature::RSA_PKCS1_NONE,
                signature::ED25519,
            ],
            Class::Decrypt => &[
                asymmetric_encryption::RSA_OAEP_SHA256,
                asymmetric_encryption::RSA_OAEP_SHA1,
                asymmetric_encryption::RSA_ES_PKCS1_5,
            ],
            Class::Hmac => &[
                hmac::HMAC_SHA1,
                hmac::HMAC_SHA256,
                hmac::HMAC_SHA384,
                hmac::HMAC_SHA512,
            ],
            Class::Aes => &symmetric::ALL,
            Class::Agree => &key_agreement::ALL,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Class::Sign => "signature",
            Class::Decrypt => "decryption",
            Class::Hmac => "HMAC",
            Class::Aes => "AES",
            Class::Agree => "key agreement",
        }
    }
}

/// The short name of a URI: its fragment.
pub fn short_name(uri: &str) -> &str {
    match uri.rsplit_once('#') {
        Some((_, frag)) if !frag.is_empty() => frag,
        _ => uri,
    }
}

/// The short name of a known URI, else the URI itself.
pub fn display_name(uri: &str) -> &str {
    if apdu_spec::algorithms::all().any(|a| a == uri) {
        short_name(uri)
    } else {
        uri
    }
}

fn normalize(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '.' | '_' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Resolves `name` (short name or URI) in `class`.
pub fn resolve(name: &str, class: Class) -> Result<String, String> {
    if name.contains("://") {
        return Ok(name.to_owned());
    }
    let wanted = normalize(name);
    let aliases: &[(&str, &str)] = match class {
        Class::Decrypt => &[
            ("rsa-pkcs1", asymmetric_encryption::RSA_ES_PKCS1_5),
            ("pkcs1", asymmetric_encryption::RSA_ES_PKCS1_5),
            ("oaep", asymmetric_encryption::RSA_OAEP_SHA256),
        ],
        _ => &[],
    };
    if let Some((_, uri)) = aliases.iter().find(|(a, _)| *a == wanted) {
        return Ok((*uri).to_owned());
    }
    class
        .uris()
        .iter()
        .find(|uri| normalize(short_name(uri)) == wanted)
        .map(|uri| (*uri).to_owned())
        .ok_or_else(|| {
            let names: Vec<&str> = class.uris().iter().map(|u| short_name(u)).collect();
            format!(
                "unknown {} algorithm {name:?}; use one of: {} (or a full URI)",
                class.what(),
                names.join(", ")
            )
        })
}

/// Resolves `name` in any class (endorsed algorithm lists).
pub fn resolve_any(name: &str) -> Result<String, String> {
    [
        Class::Sign,
        Class::Decrypt,
        Class::Hmac,
        Class::Aes,
        Class::Agree,
    ]
    .iter()
    .find_map(|c| resolve(name, *c).ok())
    .ok_or_else(|| format!("unknown algorithm {name:?} (use a short name or a full URI)"))
}

/// The hash a signature algorithm applies, for `--data-file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
    /// The data is signed as given (`…none`, Ed25519).
    None,
}

impl Hash {
    pub fn of_signature(uri: &str) -> Option<Hash> {
        Some(match uri {
            signature::ECDSA_SHA256 | signature::RSA_SHA256 => Hash::Sha256,
            signature::ECDSA_SHA384 | signature::RSA_SHA384 => Hash::Sha384,
            signature::ECDSA_SHA512 | signature::RSA_SHA512 => Hash::Sha512,
            signature::ECDSA_NONE | signature::RSA_PKCS1_NONE | signature::ED25519 => Hash::None,
            _ => return None,
        })
    }

    /// The digest of everything `reader` yields, read in chunks (never whole).
    pub fn digest_reader(self, mut reader: impl std::io::Read) -> std::io::Result<Vec<u8>> {
        use sha2::Digest;
        fn feed<D: sha2::Digest>(mut d: D, r: &mut impl std::io::Read) -> std::io::Result<Vec<u8>> {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match r.read(&mut buf)? {
                    0 => return Ok(d.finalize().to_vec()),
                    n => d.update(&buf[..n]),
                }
            }
        }
        match self {
            Hash::Sha256 => feed(sha2::Sha256::new(), &mut reader),
            Hash::Sha384 => feed(sha2::Sha384::new(), &mut reader),
            Hash::Sha512 => feed(sha2::Sha512::new(), &mut reader),
            Hash::None => {
                let mut data = Vec::new();
                reader.read_to_end(&mut data)?;
                Ok(data)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names() {
        assert_eq!(
            resolve("ecdsa-sha256", Class::Sign).unwrap(),
            signature::ECDSA_SHA256
        );
        assert_eq!(
            resolve("ECDSA.NONE", Class::Sign).unwrap(),
            signature::ECDSA_NONE
        );
        assert_eq!(
            resolve("rsa.oaep.sha256", Class::Decrypt).unwrap(),
            asymmetric_encryption::RSA_OAEP_SHA256
        );
        assert_eq!(
            resolve("rsa-es-pkcs1-5", Class::Decrypt).unwrap(),
            asymmetric_encryption::RSA_ES_PKCS1_5
        );
        assert_eq!(
            resolve("hmac-sha256", Class::Hmac).unwrap(),
            hmac::HMAC_SHA256
        );
        assert_eq!(resolve("urn:x://y", Class::Hmac).unwrap(), "urn:x://y");
        assert!(resolve("hmac-sha256", Class::Sign).is_err());
        assert_eq!(display_name(signature::RSA_SHA256), "rsa-sha256");
        assert_eq!(display_name("urn:unknown"), "urn:unknown");
    }

    #[test]
    fn hashes() {
        assert_eq!(
            Hash::of_signature(signature::ECDSA_SHA384),
            Some(Hash::Sha384)
        );
        assert_eq!(Hash::Sha256.digest_reader(&b"abc"[..]).unwrap().len(), 32);
        assert_eq!(Hash::None.digest_reader(&b"abc"[..]).unwrap(), b"abc");
    }
}
