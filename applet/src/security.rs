//! Session security mechanisms (spec 6, spec-notes §3): the MAC with its shared sequence
//! counter, the sessionKey use limit, Encrypted Data and attestations.

use crate::crypto::{aes256_cbc_decrypt_iv_first, hmac_sha256};
use crate::db::{Secret, Session};
use apdu_spec::{ErrorCode, Mac, SksError};
use subtle::ConstantTimeEq;

/// MethodName of attestations (spec 6.3).
pub const DEVICE_ATTESTATION: &str = "DeviceAttestation";

impl Session {
    /// One sessionKey operation: fails once the limit is used up (spec-notes §3.4: "if limit ≤ 0
    /// then fail, otherwise decrement").
    pub fn use_session_key(&mut self) -> Result<(), SksError> {
        if self.key_limit == 0 {
            return Err(SksError::new(ErrorCode::Option, "sessionKeyLimit exceeded"));
        }
        self.key_limit -= 1;
        Ok(())
    }

    /// `HMAC-SHA256(sessionKey ‖ method ‖ u16(counter), data)`, then the counter moves on
    /// (spec 6.2, spec-notes §3.2).
    pub fn mac(&mut self, method: &str, data: &[u8]) -> Result<[u8; 32], SksError> {
        self.use_session_key()?;
        let mut key = Secret::new(Vec::with_capacity(32 + method.len() + 2));
        key.extend_from_slice(&self.session_key);
        key.extend_from_slice(method.as_bytes());
        key.extend_from_slice(&self.mac_counter.to_be_bytes());
        self.mac_counter = self.mac_counter.wrapping_add(1);
        Ok(hmac_sha256(&key, &[data]))
    }

    /// Checks an inbound MAC in constant time: ERROR_MAC on mismatch.
    pub fn verify_mac(&mut self, method: &str, data: &[u8], mac: &Mac) -> Result<(), SksError> {
        let expected = self.mac(method, data)?;
        if bool::from(expected.ct_eq(&mac.0)) {
            Ok(())
        } else {
            Err(SksError::new(
                ErrorCode::Mac,
                format!("MAC error in {method}"),
            ))
        }
    }

    /// An attestation: a MAC with MethodName "DeviceAttestation" (spec 6.3).
    pub fn attest(&mut self, data: &[u8]) -> Result<Mac, SksError> {
        self.mac(DEVICE_ATTESTATION, data).map(Mac)
    }

    /// Decrypts Encrypted Data (spec 6.1): AES-256-CBC, IV first, PKCS#7, with
    /// `EncryptionKey = HMAC-SHA256(sessionKey, "EncryptionKey")`. Uses the limit, not the counter.
    pub fn decrypt(&mut self, data: &[u8]) -> Result<Secret, SksError> {
        self.use_session_key()?;
        let key = zeroize::Zeroizing::new(hmac_sha256(&self.session_key, &[b"EncryptionKey"]));
        aes256_cbc_decrypt_iv_first(&key, data).map_err(|e| SksError::new(ErrorCode::Crypto, e.0))
    }

    /// The Device ID of this session (spec 2.7).
    pub fn device_id<'a>(&self, device_certificate: &'a [u8]) -> &'a [u8] {
        if self.privacy_enabled {
            b"Anonymous"
        } else {
            device_certificate
        }
    }
}

/// The *Data* of a MAC or attestation: every element with its type's length prefix, lists as
/// plain concatenations without a count (spec 6.2, 7.1; spec-notes §2.2-2.3).
#[derive(Default)]
pub struct MacData(apdu_spec::Writer);

impl MacData {
    pub fn new() -> Self {
        Self::default()
    }

    /// `string`, `uri`, `id`: u16 length ‖ UTF-8.
    pub fn str(mut self, s: &str) -> Self {
        self.0.short_array("string", s.as_bytes());
        self
    }

    /// `byte[]`: u16 length ‖ bytes.
    pub fn arr(mut self, b: &[u8]) -> Self {
        self.0.short_array("byte[]", b);
        self
    }

    /// `blob`: u32 length ‖ bytes.
    pub fn blob(mut self, b: &[u8]) -> Self {
        self.0.long_array(b);
        self
    }

    pub fn u8(mut self, v: u8) -> Self {
        self.0.u8(v);
        self
    }

    pub fn bool(mut self, v: bool) -> Self {
        self.0.u8(u8::from(v));
        self
    }

    pub fn u16(mut self, v: u16) -> Self {
        self.0.u16(v);
        self
    }

    pub fn u32(mut self, v: u32) -> Self {
        self.0.u32(v);
        self
    }

    pub fn finish(self) -> Result<Vec<u8>, SksError> {
        self.0
            .finish()
            .map_err(|e| SksError::new(ErrorCode::Option, e.to_string()))
    }
}
