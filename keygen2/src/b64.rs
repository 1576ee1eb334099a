//! Binary values on the wire: base64url without padding, strictly decoded (no `=`, no
//! non-zero unused bits: the reference re-encodes and compares), through RustCrypto's
//! constant-time `base64ct`.

use base64ct::{Base64UrlUnpadded, Encoding};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Decodes strict base64url (no padding, canonical last character).
pub fn decode(s: &str) -> Result<Vec<u8>, String> {
    let bytes = Base64UrlUnpadded::decode_vec(s)
        .map_err(|_| format!("bad base64url value \"{}\"", excerpt(s)))?;
    // Belt and braces: the value must re-encode to exactly the input.
    if Base64UrlUnpadded::encode_string(&bytes) != s {
        return Err(format!("non-canonical base64url value \"{}\"", excerpt(s)));
    }
    Ok(bytes)
}

/// Encodes as base64url without padding.
pub fn encode(b: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(b)
}

fn excerpt(s: &str) -> String {
    if s.len() > 24 {
        format!("{}…", s.chars().take(24).collect::<String>())
    } else {
        s.to_string()
    }
}

/// A binary value (certificates, encrypted data, nonces, attestations ...).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct B64(pub Vec<u8>);

impl core::fmt::Debug for B64 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "B64({} bytes)", self.0.len())
    }
}

impl core::ops::Deref for B64 {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for B64 {
    fn from(v: Vec<u8>) -> Self {
        B64(v)
    }
}

impl Serialize for B64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for B64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        decode(&s).map(B64).map_err(D::Error::custom)
    }
}

/// A 32-byte MAC (or the 32-byte HMAC attestations): any other length is an error.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Mac32(pub [u8; 32]);

impl core::fmt::Debug for Mac32 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Mac32(..)")
    }
}

impl Serialize for Mac32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Mac32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let v = decode(&s).map_err(D::Error::custom)?;
        let len = v.len();
        <[u8; 32]>::try_from(v)
            .map(Mac32)
            .map_err(|_| D::Error::custom(format!("MAC must be 32 bytes, got {len}")))
    }
}

/// A binary value whose decoded length must lie in `MIN..=MAX` bytes.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Sized<const MIN: usize, const MAX: usize>(pub Vec<u8>);

impl<const MIN: usize, const MAX: usize> core::fmt::Debug for Sized<MIN, MAX> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl<const MIN: usize, const MAX: usize> core::ops::Deref for Sized<MIN, MAX> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl<const MIN: usize, const MAX: usize> Serialize for Sized<MIN, MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(&self.0))
    }
}

impl<'de, const MIN: usize, const MAX: usize> Deserialize<'de> for Sized<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let v = decode(&s).map_err(D::Error::custom)?;
        if v.len() < MIN || v.len() > MAX {
            return Err(D::Error::custom(format!(
                "value of {} bytes, {MIN}..{MAX} expected",
                v.len()
            )));
        }
        Ok(Sized(v))
    }
}

/// Encrypted PIN/PUK values: IV + AES-CBC ciphertext of up to 128 bytes.
pub type EncryptedSecret = Sized<32, 160>;
/// A SHA-256 fingerprint.
pub type Sha256Hash = Sized<32, 32>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_decoding() {
        assert_eq!(decode("AQAB").unwrap(), vec![1, 0, 1]);
        assert_eq!(decode("Aw").unwrap(), vec![3]);
        assert!(decode("Aw==").is_err(), "padding");
        assert!(decode("Ax").is_err(), "non-zero unused bits");
        assert!(decode("A+B/").is_err(), "standard alphabet");
        assert!(decode("A").is_err(), "impossible length");
        assert!(decode("").unwrap().is_empty());
    }

    #[test]
    fn mac_length_is_checked() {
        let ok = format!("\"{}\"", encode(&[7u8; 32]));
        assert!(serde_json::from_str::<Mac32>(&ok).is_ok());
        let short = format!("\"{}\"", encode(&[7u8; 31]));
        let e = serde_json::from_str::<Mac32>(&short).unwrap_err();
        assert!(e.to_string().contains("32 bytes, got 31"), "{e}");
    }
}
