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
        aes256_cbc_decrypt_iv_first(&key, data)
            .map(Secret::from)
            .map_err(SksError::from)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// The session of spec-notes §11 (privacy mode, sessionKey from the notes).
    fn session(limit: u16) -> Session {
        Session {
            handle: 1,
            open: true,
            session_key: Secret::new(h(
                "5746f9aa335dada351cf8f5c9e8e6caf493a3c50b620dd3134528a0263b1d9de",
            )),
            privacy_enabled: true,
            client_session_id: "QqTlcUH_Md7_i2dP4S5VKYmmYsbUbzGL".into(),
            server_session_id: "14153858604BE5OTXkbax23nsIxS3gh".into(),
            issuer_uri: "https://issuer.example.com/kg2".into(),
            key_management_key: None,
            client_time: 1_578_477_617,
            session_life_time: 10_000,
            key_limit: limit,
            mac_counter: 0,
            ids: Vec::new(),
            post_ops: Vec::new(),
        }
    }

    fn mac(s: &str) -> Mac {
        Mac(h(s).try_into().unwrap())
    }

    #[test]
    fn known_answer_sequence_of_spec_notes_11() {
        let mut s = session(50);
        let puk = h("000102030405060708090a0b0c0d0e0f332f18b30636842de75db2ed442e69e7");
        assert_eq!(&s.decrypt(&puk).unwrap()[..], b"123456");
        let puk_data = MacData::new()
            .str("PUK.1")
            .arr(&puk)
            .u8(0)
            .u16(3)
            .finish()
            .unwrap();
        s.verify_mac(
            "createPUKPolicy",
            &puk_data,
            &mac("1b5c7119060efe8f38155a95f9229172c0248260783d196c888d2d26b0306e59"),
        )
        .unwrap();
        let pin_data = h("000550494e2e31000550554b2e31010100000301060004000800");
        s.verify_mac(
            "createPINPolicy",
            &pin_data,
            &mac("b90985ae4bcc156effdf2964abad9ca6d4e07d05373908142c50dad31167e899"),
        )
        .unwrap();
        let key_data = h("00054b65792e31002c68747470733a2f2f776562706b692e6769746875622e696f2f736b732f616c676f726974686d236b65792e310000000550494e2e3100000000000300010000003368747470733a2f2f776562706b692e6769746875622e696f2f736b732f616c676f726974686d2365632e6e6973742e7032353600000033687474703a2f2f7777772e77332e6f72672f323030312f30342f786d6c647369672d6d6f72652365636473612d736861323536");
        let key_mac = mac("34a57ba0dc8fa1abaf2b170b2b7f3320e2d0b75c059e8488eeb84f1fff53a8db");
        s.verify_mac("createKeyEntry", &key_data, &key_mac).unwrap();
        let public = h("3059301306072a8648ce3d020106082a8648ce3d03010703420004b391b531c549b54a4239cad134582b05e560ec1e56b07ede44a5c6a927bb44d9d72d1eb3e09a20173cd654af04cc652e525851202935137631a886c1f95c231e");
        let att = s
            .attest(
                &MacData::new()
                    .arr(&public)
                    .arr(&key_mac.0)
                    .finish()
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(
            att,
            mac("e3e8d6d9a3df41262f196049a2b4b0743b71291e8a8fa7599a335b8b089d15cf")
        );
        let nonce: Vec<u8> = (0..32).collect();
        let close = MacData::new()
            .str(&s.client_session_id.clone())
            .str(&s.server_session_id.clone())
            .str(&s.issuer_uri.clone())
            .arr(&nonce)
            .finish()
            .unwrap();
        s.verify_mac(
            "closeProvisioningSession",
            &close,
            &mac("1f7a14d78598eb0cda9998727fd3e31b48e3e0b8c35f9a3b3d0ce6dd428a0a05"),
        )
        .unwrap();
        let att = s
            .attest(&MacData::new().arr(&nonce).finish().unwrap())
            .unwrap();
        assert_eq!(
            att,
            mac("6167d5699f45e765c50bb8ec5a7c9fd150e3c9b24309534400f10f85bd40fa0c")
        );
        assert_eq!(s.mac_counter, 6);
        // decrypt 1 + four MACs + two attestations.
        assert_eq!(s.key_limit, 50 - 7);
        // TKR HMAC of the notes: key sessionKey ‖ "Anonymous", data 30 82.
        let key = [s.session_key.as_slice(), s.device_id(b"unused")].concat();
        assert_eq!(
            crate::crypto::hmac_sha256(&key, &[&[0x30, 0x82]]).to_vec(),
            h("953b93511224c74bc641bec1dd04670630978ad9101b4b8d659518642c9d302d")
        );
    }

    #[test]
    fn wrong_mac_and_exhausted_limit() {
        let mut s = session(1);
        let err = s
            .verify_mac("createPUKPolicy", b"x", &Mac([0; 32]))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Mac);
        assert_eq!(
            s.mac_counter, 1,
            "a failed MAC still uses its counter value"
        );
        let err = s
            .verify_mac("createPUKPolicy", b"x", &Mac([0; 32]))
            .unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (ErrorCode::Option, "sessionKeyLimit exceeded")
        );
    }
}
