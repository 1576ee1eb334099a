//! Secret bytes (PINs, PUKs, keys, session keys, decrypted data, stored records): zeroized when
//! dropped and never shown by `Debug`.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Secret bytes: zeroized when dropped, never shown by `Debug` (so the derived `Debug` of a
/// session, policy, key entry or store record prints no PIN, PUK, key or session key).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }
}

impl Secret {
    /// Appends `bytes`. When the buffer must grow, the new one is allocated here and the old
    /// one dropped (so zeroized): `Vec`'s own reallocation would leave copies behind.
    pub fn extend_zeroizing(&mut self, bytes: &[u8]) {
        let needed = self.0.len() + bytes.len();
        if needed > self.0.capacity() {
            let mut grown = Vec::with_capacity(needed.max(2 * self.0.capacity()));
            grown.extend_from_slice(&self.0);
            self.0 = Zeroizing::new(grown);
        }
        self.0.extend_from_slice(bytes);
    }
}

impl From<Zeroizing<Vec<u8>>> for Secret {
    fn from(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }
}

impl std::ops::Deref for Secret {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl std::ops::DerefMut for Secret {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

/// The inner `Zeroizing` wipes the bytes when a `Secret` drops.
impl zeroize::ZeroizeOnDrop for Secret {}

impl From<Vec<u8>> for Secret {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes, redacted)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_never_shows_the_bytes() {
        let s = Secret::new(b"1234".to_vec());
        assert_eq!(format!("{s:?}"), "Secret(4 bytes, redacted)");
    }

    fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}

    #[test]
    fn what_holds_secrets_is_wiped_on_drop() {
        // Issue 9 item 4: stored records, ISO buffers, seeds (Secret) and the card RNG.
        wiped_on_drop::<Secret>();
        wiped_on_drop::<crate::platform::CardRng>();
    }

    #[test]
    fn extending_keeps_the_bytes() {
        let mut s = Secret::default();
        for chunk in [&b"ab"[..], b"cde", &[7; 100]] {
            s.extend_zeroizing(chunk);
        }
        assert_eq!(&s[..5], b"abcde");
        assert_eq!(s.len(), 105);
    }
}
