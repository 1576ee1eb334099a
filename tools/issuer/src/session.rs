//! The issuer's half of the session security mechanisms (spec 6, spec-notes §3): session key
//! derivation, MACs with the shared sequence counter, attestations, Encrypted Data and the
//! Target Key Reference.

use crate::crypto::{self, hmac_sha256, Curve, EcdhKey, PublicKey};
use crate::macdata::{self, constants, method, SessionAttestationInput};
use crate::Error;

/// The DeviceID of spec 2.7: `"Anonymous"` in privacy mode, else the device certificate DER.
pub fn device_id(privacy_enabled: bool, device_certificate: &[u8]) -> Vec<u8> {
    if privacy_enabled {
        constants::ANONYMOUS.to_vec()
    } else {
        device_certificate.to_vec()
    }
}

/// The server's ephemeral ECDH key of one createProvisioningSession.
#[derive(Debug, Clone)]
pub struct ServerEphemeral {
    key: EcdhKey,
}

impl ServerEphemeral {
    /// A fresh key on `curve`.
    pub fn generate(curve: Curve) -> Self {
        Self {
            key: EcdhKey::generate(curve),
        }
    }

    /// A fixed key (known-answer tests).
    pub fn from_key(key: EcdhKey) -> Self {
        Self { key }
    }

    pub fn curve(&self) -> Curve {
        self.key.curve()
    }

    /// serverEphemeralKey: canonical SPKI DER.
    pub fn public_key_spki(&self) -> Vec<u8> {
        self.key.public_key_spki()
    }

    /// Z: the raw x-coordinate of ECDH with the card's clientEphemeralKey.
    pub fn shared_secret(&self, client_ephemeral_spki: &[u8]) -> Result<Vec<u8>, Error> {
        self.key.ecdh(client_ephemeral_spki)
    }

    /// `sessionKey = HMAC-SHA256(Z, str(clientSessionId) ‖ str(serverSessionId) ‖
    /// str(issuerUri) ‖ arr(DeviceID))`.
    pub fn derive(
        &self,
        client_ephemeral_spki: &[u8],
        client_session_id: &str,
        server_session_id: &str,
        issuer_uri: &str,
        device_id: &[u8],
    ) -> Result<SessionKeys, Error> {
        let z = self.shared_secret(client_ephemeral_spki)?;
        let kdf = macdata::session_kdf(client_session_id, server_session_id, issuer_uri, device_id);
        Ok(SessionKeys::new(hmac_sha256(&z, &kdf), device_id.to_vec()))
    }
}

/// The session key and everything derived from it, with the shared MAC sequence counter.
///
/// Every MAC and attestation takes the counter's current value and increments it (spec-notes
/// §3.3); session creation, encryption and the TKR HMAC do not touch it. [`uses`](Self::uses)
/// counts sessionKey operations as the card should count them against sessionKeyLimit (§3.4),
/// the card-side decryptions included (they are counted when the issuer encrypts).
#[derive(Clone)]
pub struct SessionKeys {
    session_key: [u8; 32],
    device_id: Vec<u8>,
    counter: u16,
    uses: u32,
}

impl core::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionKeys")
            .field("counter", &self.counter)
            .field("uses", &self.uses)
            .finish_non_exhaustive()
    }
}

impl SessionKeys {
    /// Keys from a known session key; `device_id` is the DeviceID used in the TKR HMAC.
    pub fn new(session_key: [u8; 32], device_id: Vec<u8>) -> Self {
        Self {
            session_key,
            device_id,
            counter: 0,
            uses: 0,
        }
    }

    pub fn session_key(&self) -> &[u8; 32] {
        &self.session_key
    }

    pub fn device_id(&self) -> &[u8] {
        &self.device_id
    }

    /// The next macSequenceCounter value.
    pub fn counter(&self) -> u16 {
        self.counter
    }

    /// Moves the counter (negative tests: replay, skip).
    pub fn set_counter(&mut self, counter: u16) {
        self.counter = counter;
    }

    /// sessionKey operations the card should have counted so far (spec-notes §3.4).
    pub fn uses(&self) -> u32 {
        self.uses
    }

    /// Adds `n` sessionKey operations to [`uses`](Self::uses) (card-side decryptions etc.).
    pub fn count_uses(&mut self, n: u32) {
        self.uses += n;
    }

    /// `HMAC-SHA256(sessionKey ‖ ASCII(method) ‖ u16be(counter), data)`, without side effects.
    pub fn mac_at(&self, method: &str, counter: u16, data: &[u8]) -> [u8; 32] {
        let mut key = Vec::with_capacity(32 + method.len() + 2);
        key.extend_from_slice(&self.session_key);
        key.extend_from_slice(method.as_bytes());
        key.extend_from_slice(&counter.to_be_bytes());
        hmac_sha256(&key, data)
    }

    /// The MAC of `data` for `method` at the current counter; the counter advances.
    pub fn mac(&mut self, method: &str, data: &[u8]) -> [u8; 32] {
        let mac = self.mac_at(method, self.counter, data);
        self.counter = self.counter.wrapping_add(1);
        self.uses += 1;
        mac
    }

    /// Reserves the current counter value for a card attestation and returns it.
    pub fn reserve_attestation(&mut self) -> u16 {
        let c = self.counter;
        self.counter = self.counter.wrapping_add(1);
        self.uses += 1;
        c
    }

    /// The expected "DeviceAttestation" MAC of `data` at `counter`.
    pub fn attestation_at(&self, counter: u16, data: &[u8]) -> [u8; 32] {
        self.mac_at(method::DEVICE_ATTESTATION, counter, data)
    }

    /// Checks a createKeyEntry attestation: `mac("DeviceAttestation", arr(publicKey) ‖ arr(mac))`
    /// at `counter` (the value after the createKeyEntry MAC).
    pub fn verify_key_attestation(
        &self,
        counter: u16,
        public_key_spki: &[u8],
        create_key_mac: &[u8],
        attestation: &[u8],
    ) -> Result<(), Error> {
        let expected = self.attestation_at(
            counter,
            &macdata::key_attestation(public_key_spki, create_key_mac),
        );
        check_equal(&expected, attestation, "key attestation")
    }

    /// Checks a closeProvisioningSession attestation: `mac("DeviceAttestation", arr(nonce))`
    /// at `counter` (the value after the close MAC).
    pub fn verify_close_attestation(
        &self,
        counter: u16,
        nonce: &[u8],
        attestation: &[u8],
    ) -> Result<(), Error> {
        let expected = self.attestation_at(counter, &macdata::close_attestation(nonce));
        check_equal(&expected, attestation, "close attestation")
    }

    /// `EncryptionKey = HMAC-SHA256(sessionKey, "EncryptionKey")`.
    pub fn encryption_key(&self) -> [u8; 32] {
        hmac_sha256(&self.session_key, constants::ENCRYPTION_KEY)
    }

    /// Encrypted Data with the given IV: `IV ‖ AES-256-CBC-PKCS#7(EncryptionKey, plaintext)`.
    /// Does not count a use.
    pub fn encrypt_with_iv(&self, iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
        let mut out = iv.to_vec();
        out.extend(crypto::aes256_cbc_encrypt(
            &self.encryption_key(),
            iv,
            plaintext,
        ));
        out
    }

    /// Encrypted Data with a fresh random IV; counts the card's decryption as one use.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Vec<u8> {
        let iv: [u8; 16] = crypto::random_bytes(16).try_into().expect("16 bytes");
        self.uses += 1;
        self.encrypt_with_iv(&iv, plaintext)
    }

    /// Decrypts Encrypted Data (for checks; the card never encrypts).
    pub fn decrypt(&self, iv_and_ciphertext: &[u8]) -> Result<Vec<u8>, Error> {
        crypto::aes256_cbc_decrypt(&self.encryption_key(), iv_and_ciphertext)
    }

    /// The Target Key Reference HMAC: `HMAC-SHA256(sessionKey ‖ DeviceID, EE certificate DER)`,
    /// all raw. Does not count a use.
    pub fn key_reference(&self, target_ee_certificate: &[u8]) -> [u8; 32] {
        let mut key = self.session_key.to_vec();
        key.extend_from_slice(&self.device_id);
        hmac_sha256(&key, target_ee_certificate)
    }
}

fn check_equal(expected: &[u8; 32], got: &[u8], what: &str) -> Result<(), Error> {
    if got == expected {
        Ok(())
    } else {
        Err(Error::Attestation(format!(
            "{what} mismatch: card sent {}, issuer expected {}",
            hex(got),
            hex(expected)
        )))
    }
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Verifies the createProvisioningSession attestation (spec-notes §3.6, §4.2).
///
/// * privacy mode: `HMAC-SHA256(sessionKey, attestation data)`;
/// * E2ES: SHA256withRSA (PKCS#1 v1.5) or SHA256withECDSA (raw `r ‖ s`) by the key of
///   `device_certificate`, chosen by its key type.
pub fn verify_session_attestation(
    keys: &SessionKeys,
    kdf_data: &[u8],
    input: &SessionAttestationInput<'_>,
    device_certificate: Option<&[u8]>,
    attestation: &[u8],
) -> Result<(), Error> {
    let data = macdata::session_attestation(kdf_data, input);
    if input.privacy_enabled {
        let expected = hmac_sha256(keys.session_key(), &data);
        check_equal(&expected, attestation, "privacy-mode session attestation")
    } else {
        let cert = device_certificate.ok_or_else(|| {
            Error::Usage("E2ES session attestation needs the device certificate".into())
        })?;
        let key = PublicKey::from_spki(&crypto::certificate_spki(cert)?)?;
        key.verify_sha256(&data, attestation).map_err(|e| match e {
            Error::Attestation(m) => Error::Attestation(format!("session attestation: {m}")),
            other => other,
        })
    }
}
