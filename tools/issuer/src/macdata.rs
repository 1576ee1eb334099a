//! The *Data* of every MAC, KDF and attestation (spec 6, 7.4; spec-notes §2, §4).
//!
//! Inside *Data* every `byte[]`, `string`, `uri` and `id` carries a `u16` length prefix and a
//! `blob` a `u32` one; lists are the concatenation of their prefixed elements **without** a
//! count.

use apdu_spec::{AddExtensionArgs, CreateKeyEntryArgs, CreatePinPolicyArgs, CreatePukPolicyArgs};

/// The method names used in MAC keys (spec-notes §3.1; note `createPUKPolicy` and
/// `createPINPolicy`, D1).
pub mod method {
    pub const CREATE_PUK_POLICY: &str = "createPUKPolicy";
    pub const CREATE_PIN_POLICY: &str = "createPINPolicy";
    pub const CREATE_KEY_ENTRY: &str = "createKeyEntry";
    pub const SET_CERTIFICATE_PATH: &str = "setCertificatePath";
    pub const IMPORT_SYMMETRIC_KEY: &str = "importSymmetricKey";
    pub const IMPORT_PRIVATE_KEY: &str = "importPrivateKey";
    pub const ADD_EXTENSION: &str = "addExtension";
    pub const POST_DELETE_KEY: &str = "postDeleteKey";
    pub const POST_UNLOCK_KEY: &str = "postUnlockKey";
    pub const POST_UPDATE_KEY: &str = "postUpdateKey";
    pub const POST_CLONE_KEY_PROTECTION: &str = "postCloneKeyProtection";
    pub const CLOSE_PROVISIONING_SESSION: &str = "closeProvisioningSession";
    /// The "method" of the key and close attestations.
    pub const DEVICE_ATTESTATION: &str = "DeviceAttestation";
}

/// Other constant strings of spec 6 (used raw).
pub mod constants {
    pub const ENCRYPTION_KEY: &[u8] = b"EncryptionKey";
    pub const ANONYMOUS: &[u8] = b"Anonymous";
    pub const TARGET_KEY_REFERENCE: &[u8] = b"TargetKeyReference";
    pub const ROLL_OVER_AUTHORIZATION: &[u8] = b"RollOverAuthorization";
    pub const SESSION_1: &str = "https://webpki.github.io/sks/algorithm#session.1";
    pub const KEY_1: &str = "https://webpki.github.io/sks/algorithm#key.1";
}

/// A MAC/attestation *Data* byte string under construction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Data(Vec<u8>);

impl Data {
    pub fn new() -> Self {
        Self::default()
    }

    /// `byte[]`: u16 length ‖ bytes. Panics above 65,535 bytes (no such value can be sent).
    pub fn arr(mut self, bytes: &[u8]) -> Self {
        let len = u16::try_from(bytes.len()).expect("byte[] longer than 65535 bytes");
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(bytes);
        self
    }

    /// `string` / `uri` / `id`: u16 length of the UTF-8 bytes ‖ bytes.
    pub fn str(self, s: &str) -> Self {
        self.arr(s.as_bytes())
    }

    /// `blob`: u32 length ‖ bytes.
    pub fn blob(mut self, bytes: &[u8]) -> Self {
        let len = u32::try_from(bytes.len()).expect("blob longer than 2^32-1 bytes");
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(bytes);
        self
    }

    pub fn byte(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }

    pub fn bool(self, v: bool) -> Self {
        self.byte(u8::from(v))
    }

    pub fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Raw bytes, no prefix.
    pub fn raw(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }
}

/// Session KDF data: `str(clientSessionId) ‖ str(serverSessionId) ‖ str(issuerUri) ‖ arr(DeviceID)`.
pub fn session_kdf(
    client_session_id: &str,
    server_session_id: &str,
    issuer_uri: &str,
    device_id: &[u8],
) -> Vec<u8> {
    Data::new()
        .str(client_session_id)
        .str(server_session_id)
        .str(issuer_uri)
        .arr(device_id)
        .into_vec()
}

/// The inputs of the createProvisioningSession attestation other than the KDF data.
#[derive(Debug, Clone)]
pub struct SessionAttestationInput<'a> {
    pub session_key_algorithm: &'a str,
    pub privacy_enabled: bool,
    /// Canonical SPKI of the server's ephemeral key.
    pub server_ephemeral_key: &'a [u8],
    /// Canonical SPKI of the card's ephemeral key.
    pub client_ephemeral_key: &'a [u8],
    /// Canonical SPKI of the KMK, or empty.
    pub key_management_key: &'a [u8],
    pub client_time: u32,
    pub session_life_time: u16,
    pub session_key_limit: u16,
    pub server_certificate: &'a [u8],
}

/// createProvisioningSession attestation data (spec-notes §4.2 `AttData`): the KDF data
/// followed by the session parameters.
pub fn session_attestation(kdf_data: &[u8], i: &SessionAttestationInput<'_>) -> Vec<u8> {
    Data::new()
        .raw(kdf_data)
        .str(i.session_key_algorithm)
        .bool(i.privacy_enabled)
        .arr(i.server_ephemeral_key)
        .arr(i.client_ephemeral_key)
        .arr(i.key_management_key)
        .u32(i.client_time)
        .u16(i.session_life_time)
        .u16(i.session_key_limit)
        .arr(i.server_certificate)
        .into_vec()
}

/// createPukPolicy: `str(id) ‖ arr(encryptedPuk) ‖ byte(format) ‖ u16(retryLimit)`.
pub fn create_puk_policy(a: &CreatePukPolicyArgs) -> Vec<u8> {
    Data::new()
        .str(a.id.as_str())
        .arr(&a.encrypted_puk)
        .byte(a.format)
        .u16(a.retry_limit)
        .into_vec()
}

/// createPinPolicy: `str(id) ‖ str(PUKReference) ‖ bool(userDefined) ‖ bool(userModifiable) ‖
/// byte(format) ‖ u16(retryLimit) ‖ byte(grouping) ‖ byte(patternRestrictions) ‖
/// u16(minLength) ‖ u16(maxLength) ‖ byte(inputMethod)`; `puk_id` is the PUK policy's id or
/// `None` (encoded as the empty string).
pub fn create_pin_policy(a: &CreatePinPolicyArgs, puk_id: Option<&str>) -> Vec<u8> {
    Data::new()
        .str(a.id.as_str())
        .str(puk_id.unwrap_or(""))
        .bool(a.user_defined)
        .bool(a.user_modifiable)
        .byte(a.format)
        .u16(a.retry_limit)
        .byte(a.grouping)
        .byte(a.pattern_restrictions)
        .u16(a.min_length)
        .u16(a.max_length)
        .byte(a.input_method)
        .into_vec()
}

/// createKeyEntry (spec-notes §4.9 step 8). `pin_policy_id` is the PIN policy's id (or `None`,
/// MACed as ""); when `issuer_set_pin` the encrypted `pin_value` is MACed as `arr`, otherwise
/// (user-defined PIN or no PIN) `str("")` stands in its place. Endorsed algorithms are appended
/// in the given order without a count.
pub fn create_key_entry(
    a: &CreateKeyEntryArgs,
    pin_policy_id: Option<&str>,
    issuer_set_pin: bool,
) -> Vec<u8> {
    let mut d = Data::new()
        .str(a.id.as_str())
        .str(a.key_entry_algorithm.as_str())
        .arr(&a.server_seed)
        .str(pin_policy_id.unwrap_or(""));
    d = if issuer_set_pin {
        d.arr(&a.pin_value)
    } else {
        d.str("")
    };
    d = d
        .bool(a.device_pin_protection)
        .bool(a.enable_pin_caching)
        .byte(a.biometric_protection)
        .byte(a.export_protection)
        .byte(a.delete_protection)
        .byte(a.app_usage)
        .str(&a.friendly_name)
        .str(a.key_algorithm.as_str())
        .arr(&a.key_parameters);
    for uri in &a.endorsed_algorithms {
        d = d.str(uri.as_str());
    }
    d.into_vec()
}

/// Key attestation data: `arr(publicKey SPKI) ‖ arr(createKeyEntry mac)`.
pub fn key_attestation(public_key_spki: &[u8], mac: &[u8]) -> Vec<u8> {
    Data::new().arr(public_key_spki).arr(mac).into_vec()
}

/// setCertificatePath: `arr(SPKI(generated key)) ‖ str(id) ‖ arr(cert_0) ‖ arr(cert_1) …`.
pub fn set_certificate_path<C: AsRef<[u8]>>(
    public_key_spki: &[u8],
    id: &str,
    certificates: &[C],
) -> Vec<u8> {
    let mut d = Data::new().arr(public_key_spki).str(id);
    for c in certificates {
        d = d.arr(c.as_ref());
    }
    d.into_vec()
}

/// importSymmetricKey / importPrivateKey: `arr(EE certificate) ‖ arr(encryptedKey)`.
pub fn import_key(ee_certificate: &[u8], encrypted_key: &[u8]) -> Vec<u8> {
    Data::new()
        .arr(ee_certificate)
        .arr(encrypted_key)
        .into_vec()
}

/// addExtension: `arr(EE certificate) ‖ str(type) ‖ byte(subType) ‖ str(qualifier) ‖
/// blob(extensionData)` (the ciphertext for subType 0x01).
pub fn add_extension(ee_certificate: &[u8], a: &AddExtensionArgs) -> Vec<u8> {
    Data::new()
        .arr(ee_certificate)
        .str(a.r#type.as_str())
        .byte(a.sub_type)
        .str(&a.qualifier)
        .blob(&a.extension_data)
        .into_vec()
}

/// postDeleteKey / postUnlockKey: `arr(authorization)`.
pub fn post_target(authorization: &[u8]) -> Vec<u8> {
    Data::new().arr(authorization).into_vec()
}

/// postUpdateKey / postCloneKeyProtection: `arr(new key's EE certificate) ‖ arr(authorization)`.
pub fn post_new_key(new_key_ee_certificate: &[u8], authorization: &[u8]) -> Vec<u8> {
    Data::new()
        .arr(new_key_ee_certificate)
        .arr(authorization)
        .into_vec()
}

/// closeProvisioningSession: `str(clientSessionId) ‖ str(serverSessionId) ‖ str(issuerUri) ‖ arr(nonce)`.
pub fn close_provisioning_session(
    client_session_id: &str,
    server_session_id: &str,
    issuer_uri: &str,
    nonce: &[u8],
) -> Vec<u8> {
    Data::new()
        .str(client_session_id)
        .str(server_session_id)
        .str(issuer_uri)
        .arr(nonce)
        .into_vec()
}

/// Close attestation data: `arr(nonce)`.
pub fn close_attestation(nonce: &[u8]) -> Vec<u8> {
    Data::new().arr(nonce).into_vec()
}

/// One property of a property bag (addExtension subType 0x02).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub name: String,
    pub value: String,
    pub writable: bool,
}

impl Property {
    pub fn new(name: &str, value: &str, writable: bool) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            writable,
        }
    }
}

/// The property-bag blob (spec-notes §4.14): per property `u16 len ‖ name ‖ writable byte ‖
/// u16 len ‖ value`.
/// Encoded with the codec shared with the card (`apdu_spec::property_bag`).
///
/// Panics, like every `Data` encoder here, on a name or value longer than 65,535 bytes.
pub fn property_bag(props: &[Property]) -> Vec<u8> {
    apdu_spec::property_bag::encode(props.iter().map(|p| apdu_spec::property_bag::PropertyRef {
        name: &p.name,
        writable: p.writable,
        value: &p.value,
    }))
    .expect("property name or value longer than 65535 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of the spec-notes example are asserted by apdu-spec's property_bag tests (and
    /// the card parses the issuer's bags in tests/in_process.rs); here only the mapping of each
    /// [`Property`] onto the shared codec.
    #[test]
    fn property_bag_example() {
        let bag = property_bag(&[
            Property::new("Counter", "0", true),
            Property::new("Digits", "8", false),
        ]);
        let p = |name, value, writable| apdu_spec::property_bag::PropertyRef {
            name,
            writable,
            value,
        };
        assert_eq!(
            apdu_spec::property_bag::parse(&bag).unwrap(),
            vec![p("Counter", "0", true), p("Digits", "8", false)]
        );
    }

    #[test]
    fn method_name_lengths() {
        use method::*;
        let lens: Vec<usize> = [
            CREATE_PUK_POLICY,
            CREATE_PIN_POLICY,
            CREATE_KEY_ENTRY,
            SET_CERTIFICATE_PATH,
            IMPORT_SYMMETRIC_KEY,
            IMPORT_PRIVATE_KEY,
            ADD_EXTENSION,
            POST_DELETE_KEY,
            POST_UNLOCK_KEY,
            POST_UPDATE_KEY,
            POST_CLONE_KEY_PROTECTION,
            CLOSE_PROVISIONING_SESSION,
        ]
        .iter()
        .map(|s| s.len())
        .collect();
        assert_eq!(lens, [15, 15, 14, 18, 18, 16, 12, 13, 13, 13, 22, 24]);
        assert_eq!(DEVICE_ATTESTATION.len(), 17);
    }
}
