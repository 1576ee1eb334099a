//! Arguments and results of every SKS method (spec 7.4), in the spec's field order.
//!
//! Each `...Args` struct is the method's Input table and each `...Output` struct its Output table
//! without the leading `status` byte, which belongs to the response framing (spec 7.2, see
//! [`crate::method::encode_response`]). Methods whose Input table is empty take `()`, methods
//! whose Output table holds only `status` return `()`.
//!
//! Wire types: `byte` = `u8`, `bool` = `bool`, `ushort` = `u16`, `uint` = `u32`, `byte[]` =
//! [`Bytes`], `byte[32]` = [`Mac`], `blob` = [`Blob`], `id` = [`Id`], `uri` = [`Uri`], `string` =
//! `String`, a list (`certificate...`, `endorsedAlgorithm...`, `type...`,
//! `supportedAlgorithm...`) = `Vec<T>` (`u16` element count, then the elements).

use crate::codec::{DecodeError, Reader, Wire, Writer};
use crate::method::{sks_methods, Method};
use crate::types::{Blob, Bytes, Id, Mac, Uri};
use crate::wire_struct;
use core::num::NonZeroU32;

wire_struct! {
    /// getDeviceInfo [1] output (spec 7.4).
    pub struct DeviceInfo {
        /// The API level this card implements (see apdu-spec README for the choice).
        pub api_level: u16,
        /// Bits 0-1 location, bits 2-3 type.
        pub device_type: u8,
        /// Firmware update service, or empty.
        pub update_url: Uri,
        /// 1-128 characters.
        pub vendor_name: String,
        /// 1-1000 characters.
        pub vendor_description: String,
        /// Device certificate path, device certificate first; never empty.
        pub certificates: Vec<Bytes>,
        /// Every algorithm URI the card implements; never empty.
        pub supported_algorithms: Vec<Uri>,
        /// Most bytes in the `data` argument of the cryptographic methods (at least 16384).
        pub crypto_data_size: u32,
        /// Most bytes of an `extensionData` object (at least 65536).
        pub extension_data_size: u32,
        /// Whether the card supports a device PIN (see createKeyEntry).
        pub device_pin_support: bool,
        /// Whether the card supports biometric authentication options.
        pub biometric_support: bool,
    }

    /// createProvisioningSession [2] input (spec 7.4).
    pub struct CreateProvisioningSessionArgs {
        /// Session creation algorithm; `#session.1` is the only one defined.
        pub session_key_algorithm: Uri,
        /// Privacy Enabled Provisioning (PEP) mode.
        pub privacy_enabled: bool,
        /// Server-created provisioning id, unique per session.
        pub server_session_id: Id,
        /// Server-created ephemeral ECDH public key (X.509 SubjectPublicKeyInfo DER).
        pub server_ephemeral_key: Bytes,
        /// URI of the issuer (the URL that invoked ProvisioningInitializationRequest).
        pub issuer_uri: Uri,
        /// Key management key (SubjectPublicKeyInfo DER), or empty for a non-updatable session.
        pub key_management_key: Bytes,
        /// Client time in seconds since the UNIX epoch (unsigned 32-bit).
        pub client_time: u32,
        /// Validity of the provisioning session in seconds.
        pub session_life_time: u16,
        /// Upper limit of sessionKey operations in this session.
        pub session_key_limit: u16,
        /// The issuer server's X.509 certificate (DER).
        pub server_certificate: Bytes,
    }

    /// createProvisioningSession [2] output (spec 7.4).
    pub struct CreateProvisioningSessionOutput {
        /// SKS-created provisioning id, unique per session.
        pub client_session_id: Id,
        /// SKS-created ephemeral ECDH public key (SubjectPublicKeyInfo DER), same curve as the server's.
        pub client_ephemeral_key: Bytes,
        /// Session creation attestation: device-key signature (E2ES) or HMAC-SHA256 (PEP).
        pub attestation: Bytes,
        /// Non-zero local handle of the new provisioning session.
        pub provisioning_handle: u32,
    }

    /// closeProvisioningSession [3] input (spec 7.4).
    pub struct CloseProvisioningSessionArgs {
        /// Handle of an open provisioning session.
        pub provisioning_handle: u32,
        /// Server-generated nonce, 1-32 bytes.
        pub nonce: Bytes,
        /// MAC over clientSessionId ‖ serverSessionId ‖ issuerUri ‖ nonce.
        pub mac: Mac,
    }

    /// closeProvisioningSession [3] output (spec 7.4).
    pub struct CloseProvisioningSessionOutput {
        /// Session-close attestation over `nonce`.
        pub attestation: Mac,
    }

    /// enumerateProvisioningSessions [4] input (spec 7.4).
    pub struct EnumerateProvisioningSessionsArgs {
        /// Input enumeration handle: 0 starts a round, then the previous output handle.
        pub provisioning_handle: u32,
        /// `true`: list only open sessions; `false`: only closed ones.
        pub provisioning_state: bool,
    }

    /// abortProvisioningSession [5] input (spec 7.4).
    pub struct AbortProvisioningSessionArgs {
        /// Handle of an open provisioning session.
        pub provisioning_handle: u32,
    }

    /// updateKeyManagementKey [7] input (spec 7.4).
    pub struct UpdateKeyManagementKeyArgs {
        /// Handle of a closed provisioning session that holds a keyManagementKey.
        pub provisioning_handle: u32,
        /// The new keyManagementKey (SubjectPublicKeyInfo DER).
        pub key_management_key: Bytes,
        /// Signature by the old key over "RollOverAuthorization" ‖ new keyManagementKey.
        pub authorization: Bytes,
    }

    /// createPukPolicy [8] input (spec 7.4).
    pub struct CreatePukPolicyArgs {
        /// Handle of an open provisioning session.
        pub provisioning_handle: u32,
        /// External name of the PUK policy object.
        pub id: Id,
        /// Encrypted PUK value (spec 6.1 Encrypted Data).
        pub encrypted_puk: Bytes,
        /// PUK format: 0 numeric, 1 alphanumeric, 2 string, 3 binary.
        pub format: u8,
        /// 0-10000 wrong PUKs in a row lock the PUK for good; 0 = no limit (with a delay).
        pub retry_limit: u16,
        /// MAC over id ‖ encryptedPuk ‖ format ‖ retryLimit.
        pub mac: Mac,
    }

    /// createPukPolicy [8] output (spec 7.4).
    pub struct CreatePukPolicyOutput {
        /// Non-zero handle of the new PUK policy object.
        pub puk_policy_handle: u32,
    }

    /// createPinPolicy [9] input (spec 7.4).
    pub struct CreatePinPolicyArgs {
        /// Handle of an open provisioning session.
        pub provisioning_handle: u32,
        /// External name of the PIN policy object.
        pub id: Id,
        /// Handle of the governing PUK policy object, or 0.
        pub puk_policy_handle: u32,
        /// PINs are set by the user (`true`) or by the issuer (`false`).
        pub user_defined: bool,
        /// PINs may be changed by the user after provisioning.
        pub user_modifiable: bool,
        /// PIN format: 0 numeric, 1 alphanumeric, 2 string, 3 binary.
        pub format: u8,
        /// 1-10000 wrong PINs in a row lock the key.
        pub retry_limit: u16,
        /// PIN grouping: 0 none, 1 shared, 2 signature+standard, 3 unique.
        pub grouping: u8,
        /// PIN pattern restriction bits (0x01-0x10).
        pub pattern_restrictions: u8,
        /// Minimum decoded PIN length in bytes.
        pub min_length: u16,
        /// Maximum decoded PIN length in bytes.
        pub max_length: u16,
        /// PIN input method: 0 any, 1 programmatic, 2 trusted-gui.
        pub input_method: u8,
        /// MAC over id ‖ PUKReference ‖ userDefined ‖ ... ‖ inputMethod.
        pub mac: Mac,
    }

    /// createPinPolicy [9] output (spec 7.4).
    pub struct CreatePinPolicyOutput {
        /// Non-zero handle of the new PIN policy object.
        pub pin_policy_handle: u32,
    }

    /// createKeyEntry [10] input (spec 7.4).
    pub struct CreateKeyEntryArgs {
        /// Handle of an open provisioning session.
        pub provisioning_handle: u32,
        /// External name of the key.
        pub id: Id,
        /// Key generation and attestation algorithm; `#key.1` is the only one defined.
        pub key_entry_algorithm: Uri,
        /// Server input to random number generation, 0-64 bytes.
        pub server_seed: Bytes,
        /// The key is protected by the device PIN.
        pub device_pin_protection: bool,
        /// Handle of the governing PIN policy object, or 0.
        pub pin_policy_handle: u32,
        /// Empty (no PIN policy), the user's clear-text PIN, or the encrypted issuer-set PIN.
        pub pin_value: Bytes,
        /// Middleware may cache the PIN of this key.
        pub enable_pin_caching: bool,
        /// Biometric protection: 0 none, 1 alternative, 2 combined, 3 exclusive.
        pub biometric_protection: u8,
        /// Export protection: 0 none, 1 PIN, 2 PUK, 3 non-exportable.
        pub export_protection: u8,
        /// Delete protection: 0 none, 1 PIN, 2 PUK, 3 non-deletable.
        pub delete_protection: u8,
        /// Application usage: 0 signature, 1 authentication, 2 encryption, 3 universal.
        pub app_usage: u8,
        /// 0-100 characters shown in GUIs.
        pub friendly_name: String,
        /// Algorithm of the key to generate (spec 4.1 Asymmetric Key Generation).
        pub key_algorithm: Uri,
        /// RSA exponent (1-8 bytes, big-endian) for the `.exp` algorithms, else empty.
        pub key_parameters: Bytes,
        /// 0-255 endorsed algorithm URIs, sorted ascending.
        pub endorsed_algorithms: Vec<Uri>,
        /// MAC over id ‖ keyEntryAlgorithm ‖ ... ‖ endorsedAlgorithm... (no element count).
        pub mac: Mac,
    }

    /// createKeyEntry [10] output (spec 7.4).
    pub struct CreateKeyEntryOutput {
        /// Non-zero local handle of the new key entry.
        pub key_handle: u32,
        /// The generated public key (SubjectPublicKeyInfo DER).
        pub public_key: Bytes,
        /// Key attestation over publicKey ‖ mac.
        pub attestation: Mac,
    }

    /// getKeyHandle [11] input (spec 7.4).
    pub struct GetKeyHandleArgs {
        /// Handle of an open provisioning session.
        pub provisioning_handle: u32,
        /// The key's id as given to createKeyEntry.
        pub id: Id,
    }

    /// getKeyHandle [11] output (spec 7.4).
    pub struct GetKeyHandleOutput {
        /// Local handle of the key (belonging to an open provisioning session).
        pub key_handle: u32,
    }

    /// setCertificatePath [12] input (spec 7.4).
    pub struct SetCertificatePathArgs {
        /// Handle of a key belonging to an open provisioning session.
        pub key_handle: u32,
        /// Non-empty certificate path (DER), end-entity certificate first.
        pub certificates: Vec<Bytes>,
        /// MAC over publicKey ‖ id ‖ certificate... (no element count).
        pub mac: Mac,
    }

    /// importSymmetricKey [13] input (spec 7.4).
    pub struct ImportSymmetricKeyArgs {
        /// Handle of a key belonging to an open provisioning session.
        pub key_handle: u32,
        /// The raw symmetric key (at most 128 bytes), encrypted (spec 6.1 Encrypted Data).
        pub encrypted_key: Bytes,
        /// MAC over end-entity certificate ‖ encryptedKey.
        pub mac: Mac,
    }

    /// importPrivateKey [14] input (spec 7.4).
    pub struct ImportPrivateKeyArgs {
        /// Handle of a key belonging to an open provisioning session.
        pub key_handle: u32,
        /// The private key in PKCS #8, encrypted (spec 6.1 Encrypted Data).
        pub encrypted_key: Bytes,
        /// MAC over end-entity certificate ‖ encryptedKey.
        pub mac: Mac,
    }

    /// addExtension [15] input (spec 7.4).
    pub struct AddExtensionArgs {
        /// Handle of a key belonging to an open provisioning session.
        pub key_handle: u32,
        /// Type URI naming the extension; unique per key.
        pub r#type: Uri,
        /// 0 extension, 1 encrypted extension, 2 property bag, 3 logotype.
        pub sub_type: u8,
        /// Logotype MIME type (subType 3), else empty; at most 128 bytes.
        pub qualifier: String,
        /// The extension object, at most extensionDataSize bytes.
        pub extension_data: Blob,
        /// MAC over end-entity certificate ‖ type ‖ subType ‖ qualifier ‖ extensionData.
        pub mac: Mac,
    }

    /// postDeleteKey [50] input (spec 7.4).
    pub struct PostDeleteKeyArgs {
        /// Handle of an open provisioning session.
        pub provisioning_handle: u32,
        /// Handle of the target key (spec 6.4 Target Key Reference).
        pub target_key_handle: u32,
        /// Key management authorization signature.
        pub authorization: Bytes,
        /// MAC over authorization.
        pub mac: Mac,
    }

    /// postUnlockKey [51] input (spec 7.4).
    pub struct PostUnlockKeyArgs {
        /// Handle of an open provisioning session.
        pub provisioning_handle: u32,
        /// Handle of the target key (spec 6.4 Target Key Reference).
        pub target_key_handle: u32,
        /// Key management authorization signature.
        pub authorization: Bytes,
        /// MAC over authorization.
        pub mac: Mac,
    }

    /// postUpdateKey [52] input (spec 7.4).
    pub struct PostUpdateKeyArgs {
        /// Handle of the new key, belonging to an open provisioning session.
        pub key_handle: u32,
        /// Handle of the target key (spec 6.4 Target Key Reference).
        pub target_key_handle: u32,
        /// Key management authorization signature.
        pub authorization: Bytes,
        /// MAC over end-entity certificate ‖ authorization.
        pub mac: Mac,
    }

    /// postCloneKeyProtection [53] input (spec 7.4).
    pub struct PostCloneKeyProtectionArgs {
        /// Handle of the new key, belonging to an open provisioning session.
        pub key_handle: u32,
        /// Handle of the target key (spec 6.4 Target Key Reference).
        pub target_key_handle: u32,
        /// Key management authorization signature.
        pub authorization: Bytes,
        /// MAC over end-entity certificate ‖ authorization.
        pub mac: Mac,
    }

    /// enumerateKeys [70] input (spec 7.4).
    pub struct EnumerateKeysArgs {
        /// Input enumeration handle: 0 starts a round, then the previous output handle.
        pub key_handle: u32,
    }

    /// getKeyAttributes [71] input (spec 7.4).
    pub struct GetKeyAttributesArgs {
        /// Handle of the target key.
        pub key_handle: u32,
    }

    /// getKeyAttributes [71] output (spec 7.4).
    pub struct GetKeyAttributesOutput {
        /// Symmetric key length in bytes; > 0 means the active key is symmetric.
        pub symmetric_key_length: u16,
        /// The key's certificate path (DER), end-entity certificate first.
        pub certificates: Vec<Bytes>,
        /// Application usage as given to createKeyEntry.
        pub app_usage: u8,
        /// Friendly name as given to createKeyEntry.
        pub friendly_name: String,
        /// Endorsed algorithms as given to createKeyEntry.
        pub endorsed_algorithms: Vec<Uri>,
        /// 0-255 extension type URIs, in the order they were added.
        pub types: Vec<Uri>,
    }

    /// getKeyProtectionInfo [72] input (spec 7.4).
    pub struct GetKeyProtectionInfoArgs {
        /// Handle of the target key.
        pub key_handle: u32,
    }

    /// getKeyProtectionInfo [72] output (spec 7.4). Fields that do not apply to the key are 0.
    pub struct GetKeyProtectionInfoOutput {
        /// Bits: 0x01 PIN_PROTECTED, 0x02 PUK_PROTECTED, 0x04 PIN_BLOCKED, 0x08 PUK_BLOCKED, 0x10 DEVICE_PIN.
        pub protection_status: u8,
        /// PUK format (createPukPolicy).
        pub puk_format: u8,
        /// PUK retry limit (createPukPolicy).
        pub puk_retry_limit: u16,
        /// Current PUK error count.
        pub puk_error_count: u16,
        /// createPinPolicy userDefined.
        pub user_defined: bool,
        /// createPinPolicy userModifiable.
        pub user_modifiable: bool,
        /// createPinPolicy format.
        pub format: u8,
        /// createPinPolicy retryLimit.
        pub retry_limit: u16,
        /// createPinPolicy grouping.
        pub grouping: u8,
        /// createPinPolicy patternRestrictions.
        pub pattern_restrictions: u8,
        /// createPinPolicy minLength.
        pub min_length: u16,
        /// createPinPolicy maxLength.
        pub max_length: u16,
        /// createPinPolicy inputMethod.
        pub input_method: u8,
        /// Current PIN error count.
        pub pin_error_count: u16,
        /// createKeyEntry enablePinCaching.
        pub enable_pin_caching: bool,
        /// createKeyEntry biometricProtection.
        pub biometric_protection: u8,
        /// createKeyEntry exportProtection.
        pub export_protection: u8,
        /// createKeyEntry deleteProtection.
        pub delete_protection: u8,
        /// Bits: 0x01 IMPORTED, 0x02 EXPORTED.
        pub key_backup: u8,
    }

    /// getExtension [73] input (spec 7.4).
    pub struct GetExtensionArgs {
        /// Handle of the target key.
        pub key_handle: u32,
        /// Type URI of the extension (addExtension).
        pub r#type: Uri,
    }

    /// getExtension [73] output (spec 7.4).
    pub struct GetExtensionOutput {
        /// addExtension subType.
        pub sub_type: u8,
        /// addExtension qualifier.
        pub qualifier: String,
        /// addExtension extensionData (decrypted for subType 1; empty when consumed by the SKS).
        pub extension_data: Blob,
    }

    /// setProperty [74] input (spec 7.4).
    pub struct SetPropertyArgs {
        /// Handle of the target key.
        pub key_handle: u32,
        /// Type URI of a property bag extension (subType 2).
        pub r#type: Uri,
        /// Property name, 1-255 characters.
        pub name: String,
        /// New property value.
        pub value: String,
    }

    /// deleteKey [80] input (spec 7.4).
    pub struct DeleteKeyArgs {
        /// Handle of the target key.
        pub key_handle: u32,
        /// Empty, PIN or PUK, as the key's delete protection requires.
        pub authorization: Bytes,
    }

    /// exportKey [81] input (spec 7.4).
    pub struct ExportKeyArgs {
        /// Handle of the target key.
        pub key_handle: u32,
        /// Empty, PIN or PUK, as the key's export protection requires.
        pub authorization: Bytes,
    }

    /// exportKey [81] output (spec 7.4).
    pub struct ExportKeyOutput {
        /// The unencrypted key: raw symmetric key, or private key in PKCS #8.
        pub key: Bytes,
    }

    /// unlockKey [82] input (spec 7.4).
    pub struct UnlockKeyArgs {
        /// Handle of the target key.
        pub key_handle: u32,
        /// The PUK.
        pub authorization: Bytes,
    }

    /// changePin [83] input (spec 7.4).
    pub struct ChangePinArgs {
        /// Handle of the target key.
        pub key_handle: u32,
        /// The current PIN.
        pub authorization: Bytes,
        /// The requested new PIN.
        pub new_pin: Bytes,
    }

    /// setPin [84] input (spec 7.4).
    pub struct SetPinArgs {
        /// Handle of the target key.
        pub key_handle: u32,
        /// The PUK.
        pub authorization: Bytes,
        /// The requested new PIN.
        pub new_pin: Bytes,
    }

    /// updateFirmware [90] input (spec 7.4).
    pub struct UpdateFirmwareArgs {
        /// Firmware code chunk.
        pub chunk: Blob,
    }

    /// updateFirmware [90] output (spec 7.4).
    pub struct UpdateFirmwareOutput {
        /// Next URL to fetch, or empty when the update is complete.
        pub next_url: Uri,
    }

    /// signHashedData [100] input (spec 7.4).
    pub struct SignHashedDataArgs {
        /// Handle of the target key.
        pub key_handle: u32,
        /// Signature algorithm (spec 4.1 Asymmetric Key Signatures).
        pub algorithm: Uri,
        /// Algorithm parameters; empty for algorithms that take none.
        pub parameters: Bytes,
        /// A successful biometric operation authorizes the call.
        pub biometric_auth: bool,
        /// The PIN, or empty.
        pub authorization: Bytes,
        /// The hash to sign (at most cryptoDataSize bytes).
        pub data: Bytes,
    }

    /// asymmetricKeyDecrypt [101] input (spec 7.4).
    pub struct AsymmetricKeyDecryptArgs {
        /// Handle of the target key.
        pub key_handle: u32,
        /// Encryption algorithm (spec 4.1 Asymmetric Key Encryption).
        pub algorithm: Uri,
        /// Algorithm parameters; empty for algorithms that take none.
        pub parameters: Bytes,
        /// A successful biometric operation authorizes the call.
        pub biometric_auth: bool,
        /// The PIN, or empty.
        pub authorization: Bytes,
        /// The encrypted data.
        pub data: Bytes,
    }

    /// keyAgreement [102] input (spec 7.4).
    pub struct KeyAgreementArgs {
        /// Handle of the target key.
        pub key_handle: u32,
        /// Key agreement algorithm (spec 4.1 Diffie-Hellman Key Agreement).
        pub algorithm: Uri,
        /// Algorithm parameters; empty for algorithms that take none.
        pub parameters: Bytes,
        /// A successful biometric operation authorizes the call.
        pub biometric_auth: bool,
        /// The PIN, or empty.
        pub authorization: Bytes,
        /// The other party's EC public key (SubjectPublicKeyInfo DER), same curve as the key.
        pub public_key: Bytes,
    }

    /// performHmac [103] input (spec 7.4).
    pub struct PerformHmacArgs {
        /// Handle of the target key.
        pub key_handle: u32,
        /// HMAC algorithm (spec 4.1 HMAC Operations).
        pub algorithm: Uri,
        /// Algorithm parameters; empty for algorithms that take none.
        pub parameters: Bytes,
        /// A successful biometric operation authorizes the call.
        pub biometric_auth: bool,
        /// The PIN, or empty.
        pub authorization: Bytes,
        /// The data to HMAC (at most cryptoDataSize bytes).
        pub data: Blob,
    }

    /// symmetricKeyEncrypt [104] input (spec 7.4).
    pub struct SymmetricKeyEncryptArgs {
        /// Handle of the target key.
        pub key_handle: u32,
        /// Encryption algorithm (spec 4.1 Symmetric Key Encryption).
        pub algorithm: Uri,
        /// `true` encrypts, `false` decrypts.
        pub mode: bool,
        /// Algorithm parameters (the IV for `#aes.cbc`); empty for algorithms that take none.
        pub parameters: Bytes,
        /// A successful biometric operation authorizes the call.
        pub biometric_auth: bool,
        /// The PIN, or empty.
        pub authorization: Bytes,
        /// The data to encrypt or decrypt (at most cryptoDataSize bytes).
        pub data: Blob,
    }

    /// The `result` output of signHashedData [100], asymmetricKeyDecrypt [101], keyAgreement
    /// [102] and performHmac [103] (spec 7.4).
    pub struct CryptoResult {
        /// Signature, decrypted data, shared secret or HMAC, depending on the method.
        pub result: Bytes,
    }

    /// symmetricKeyEncrypt [104] output (spec 7.4).
    pub struct SymmetricKeyEncryptOutput {
        /// The encrypted or decrypted data.
        pub result: Blob,
    }

    /// The session data of an enumerateProvisioningSessions [4] output (spec 7.4), the fields
    /// after `provisioningHandle`.
    pub struct ProvisioningSessionInfo {
        /// The session's sessionKeyAlgorithm.
        pub session_key_algorithm: Uri,
        /// The session's privacyEnabled.
        pub privacy_enabled: bool,
        /// The session's current keyManagementKey, or empty.
        pub key_management_key: Bytes,
        /// The session's clientTime.
        pub client_time: u32,
        /// The session's sessionLifeTime. A `uint` here although it is a `ushort` in
        /// createProvisioningSession: the spec's table says so (spec-notes D11); it is < 65536.
        pub session_life_time: u32,
        /// The session's serverSessionId.
        pub server_session_id: Id,
        /// The session's clientSessionId.
        pub client_session_id: Id,
        /// The session's issuerUri.
        pub issuer_uri: Uri,
    }
}

/// signHashedData [100] output (spec 7.4): the signature.
pub type SignHashedDataOutput = CryptoResult;
/// asymmetricKeyDecrypt [101] output (spec 7.4): the decrypted data.
pub type AsymmetricKeyDecryptOutput = CryptoResult;
/// keyAgreement [102] output (spec 7.4): the shared secret.
pub type KeyAgreementOutput = CryptoResult;
/// performHmac [103] output (spec 7.4): the HMAC.
pub type PerformHmacOutput = CryptoResult;

/// enumerateProvisioningSessions [4] output (spec 7.4): `provisioningHandle` (`uint`), followed by
/// the [`ProvisioningSessionInfo`] fields only when that handle is not 0. A handle of 0 ends the
/// enumeration, so a `None` session encodes as the four bytes `00 00 00 00`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct EnumerateProvisioningSessionsOutput {
    /// The next session: its handle (the input of the next call) and data; `None` at the end.
    pub session: Option<(NonZeroU32, ProvisioningSessionInfo)>,
}

impl EnumerateProvisioningSessionsOutput {
    /// The end of the enumeration (`provisioningHandle` = 0).
    pub const END: Self = Self { session: None };

    /// The output `provisioningHandle` as on the wire (0 at the end).
    pub fn provisioning_handle(&self) -> u32 {
        self.session.as_ref().map_or(0, |(h, _)| h.get())
    }
}

impl Wire for EnumerateProvisioningSessionsOutput {
    fn encode(&self, w: &mut Writer) {
        w.u32(self.provisioning_handle());
        if let Some((_, info)) = &self.session {
            info.encode(w);
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let session = match NonZeroU32::new(r.u32()?) {
            None => None,
            Some(handle) => Some((handle, ProvisioningSessionInfo::decode(r)?)),
        };
        Ok(Self { session })
    }
}

/// enumerateKeys [70] output (spec 7.4): `keyHandle` (`uint`), followed by
/// `provisioningHandle` (`uint`) only when that key handle is not 0. A key handle of 0 ends the
/// enumeration, so a `None` key encodes as the four bytes `00 00 00 00`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct EnumerateKeysOutput {
    /// The next key: its handle (the input of the next call) and the handle of the provisioning
    /// session that owns it; `None` at the end.
    pub key: Option<(NonZeroU32, u32)>,
}

impl EnumerateKeysOutput {
    /// The end of the enumeration (`keyHandle` = 0).
    pub const END: Self = Self { key: None };

    /// The output `keyHandle` as on the wire (0 at the end).
    pub fn key_handle(&self) -> u32 {
        self.key.map_or(0, |(h, _)| h.get())
    }
}

impl Wire for EnumerateKeysOutput {
    fn encode(&self, w: &mut Writer) {
        w.u32(self.key_handle());
        if let Some((_, provisioning_handle)) = self.key {
            w.u32(provisioning_handle);
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let key = match NonZeroU32::new(r.u32()?) {
            None => None,
            Some(handle) => Some((handle, r.u32()?)),
        };
        Ok(Self { key })
    }
}

/// The SKS method table (spec 7.4): one entry a method, `[id] TypeName fn_name "specName"
/// (Args) -> Output;` with its doc comment. `sks_method_table!(callback)` expands to
/// `callback! { <the entries> }`, so every crate generates its per-method code from this one
/// definition: apdu-spec its method types, ids and decoded calls (`sks_methods!`), pcsc-bridge
/// one typed client method per entry.
#[macro_export]
macro_rules! sks_method_table {
    ($callback:ident) => {
        $callback! {
            /// getDeviceInfo \[1\] (spec 7.4): the card's characteristics and device certificate path.
            [1] GetDeviceInfo get_device_info "getDeviceInfo" (()) -> DeviceInfo;
            /// createProvisioningSession \[2\] (spec 7.4): establishes a provisioning session and its
            /// session key with an issuer.
            [2] CreateProvisioningSession create_provisioning_session "createProvisioningSession"
                (CreateProvisioningSessionArgs) -> CreateProvisioningSessionOutput;
            /// closeProvisioningSession \[3\] (spec 7.4): verifies, commits and closes a provisioning
            /// session and attests the success.
            [3] CloseProvisioningSession close_provisioning_session "closeProvisioningSession"
                (CloseProvisioningSessionArgs) -> CloseProvisioningSessionOutput;
            /// enumerateProvisioningSessions \[4\] (spec 7.4): lists open or closed provisioning sessions,
            /// one per call.
            [4] EnumerateProvisioningSessions enumerate_provisioning_sessions "enumerateProvisioningSessions"
                (EnumerateProvisioningSessionsArgs) -> EnumerateProvisioningSessionsOutput;
            /// abortProvisioningSession \[5\] (spec 7.4): deletes an open provisioning session and
            /// everything created in it.
            [5] AbortProvisioningSession abort_provisioning_session "abortProvisioningSession"
                (AbortProvisioningSessionArgs) -> ();
            /// updateKeyManagementKey \[7\] (spec 7.4): replaces the keyManagementKey of a closed session,
            /// authorized by the old key.
            [7] UpdateKeyManagementKey update_key_management_key "updateKeyManagementKey" (UpdateKeyManagementKeyArgs) -> ();
            /// createPukPolicy \[8\] (spec 7.4): creates a PUK policy object in an open session.
            [8] CreatePukPolicy create_puk_policy "createPukPolicy" (CreatePukPolicyArgs) -> CreatePukPolicyOutput;
            /// createPinPolicy \[9\] (spec 7.4): creates a PIN policy object in an open session.
            [9] CreatePinPolicy create_pin_policy "createPinPolicy" (CreatePinPolicyArgs) -> CreatePinPolicyOutput;
            /// createKeyEntry \[10\] (spec 7.4): generates a key pair with its protection attributes and
            /// attests it.
            [10] CreateKeyEntry create_key_entry "createKeyEntry" (CreateKeyEntryArgs) -> CreateKeyEntryOutput;
            /// getKeyHandle \[11\] (spec 7.4): the handle of a key of an open session, by its id.
            [11] GetKeyHandle get_key_handle "getKeyHandle" (GetKeyHandleArgs) -> GetKeyHandleOutput;
            /// setCertificatePath \[12\] (spec 7.4): attaches a certificate path to a created key.
            [12] SetCertificatePath set_certificate_path "setCertificatePath" (SetCertificatePathArgs) -> ();
            /// importSymmetricKey \[13\] (spec 7.4): attaches an issuer-supplied symmetric key to a key
            /// entry.
            [13] ImportSymmetricKey import_symmetric_key "importSymmetricKey" (ImportSymmetricKeyArgs) -> ();
            /// importPrivateKey \[14\] (spec 7.4): replaces a generated private key by an issuer-supplied
            /// one.
            [14] ImportPrivateKey import_private_key "importPrivateKey" (ImportPrivateKeyArgs) -> ();
            /// addExtension \[15\] (spec 7.4): attaches extension data (extension, encrypted extension,
            /// property bag, logotype) to a key.
            [15] AddExtension add_extension "addExtension" (AddExtensionArgs) -> ();
            /// postDeleteKey \[50\] (spec 7.4): deletes a key of an earlier session when this session
            /// closes.
            [50] PostDeleteKey post_delete_key "postDeleteKey" (PostDeleteKeyArgs) -> ();
            /// postUnlockKey \[51\] (spec 7.4): unlocks a key of an earlier session when this session
            /// closes.
            [51] PostUnlockKey post_unlock_key "postUnlockKey" (PostUnlockKeyArgs) -> ();
            /// postUpdateKey \[52\] (spec 7.4): replaces a key of an earlier session by a new key when this
            /// session closes.
            [52] PostUpdateKey post_update_key "postUpdateKey" (PostUpdateKeyArgs) -> ();
            /// postCloneKeyProtection \[53\] (spec 7.4): gives a new key the PIN protection of a key of an
            /// earlier session when this session closes.
            [53] PostCloneKeyProtection post_clone_key_protection "postCloneKeyProtection" (PostCloneKeyProtectionArgs) -> ();
            /// enumerateKeys \[70\] (spec 7.4): lists the keys of closed sessions, one per call.
            [70] EnumerateKeys enumerate_keys "enumerateKeys" (EnumerateKeysArgs) -> EnumerateKeysOutput;
            /// getKeyAttributes \[71\] (spec 7.4): a key's certificate path, usage, name, endorsed
            /// algorithms and extension types.
            [71] GetKeyAttributes get_key_attributes "getKeyAttributes" (GetKeyAttributesArgs) -> GetKeyAttributesOutput;
            /// getKeyProtectionInfo \[72\] (spec 7.4): a key's PIN, PUK, biometric, export and delete
            /// protection and its current status.
            [72] GetKeyProtectionInfo get_key_protection_info "getKeyProtectionInfo"
                (GetKeyProtectionInfoArgs) -> GetKeyProtectionInfoOutput;
            /// getExtension \[73\] (spec 7.4): one extension object of a key, by type.
            [73] GetExtension get_extension "getExtension" (GetExtensionArgs) -> GetExtensionOutput;
            /// setProperty \[74\] (spec 7.4): sets the value of a writable property in a key's property
            /// bag.
            [74] SetProperty set_property "setProperty" (SetPropertyArgs) -> ();
            /// deleteKey \[80\] (spec 7.4): removes a key, authorized as its delete protection requires.
            [80] DeleteKey delete_key "deleteKey" (DeleteKeyArgs) -> ();
            /// exportKey \[81\] (spec 7.4): returns a key in the clear, authorized as its export
            /// protection requires.
            [81] ExportKey export_key "exportKey" (ExportKeyArgs) -> ExportKeyOutput;
            /// unlockKey \[82\] (spec 7.4): re-enables a key locked by wrong PINs, authorized by the PUK.
            [82] UnlockKey unlock_key "unlockKey" (UnlockKeyArgs) -> ();
            /// changePin \[83\] (spec 7.4): changes a key's PIN, authorized by the current PIN.
            [83] ChangePin change_pin "changePin" (ChangePinArgs) -> ();
            /// setPin \[84\] (spec 7.4): sets a key's PIN and unblocks it, authorized by the PUK.
            [84] SetPin set_pin "setPin" (SetPinArgs) -> ();
            /// updateFirmware \[90\] (spec 7.4): feeds one firmware chunk to the card (optional method).
            [90] UpdateFirmware update_firmware "updateFirmware" (UpdateFirmwareArgs) -> UpdateFirmwareOutput;
            /// signHashedData \[100\] (spec 7.4): signs a pre-computed hash with an asymmetric key.
            [100] SignHashedData sign_hashed_data "signHashedData" (SignHashedDataArgs) -> SignHashedDataOutput;
            /// asymmetricKeyDecrypt \[101\] (spec 7.4): decrypts data with an RSA private key.
            [101] AsymmetricKeyDecrypt asymmetric_key_decrypt "asymmetricKeyDecrypt"
                (AsymmetricKeyDecryptArgs) -> AsymmetricKeyDecryptOutput;
            /// keyAgreement \[102\] (spec 7.4): ECDH between a key and the other party's public key.
            [102] KeyAgreement key_agreement "keyAgreement" (KeyAgreementArgs) -> KeyAgreementOutput;
            /// performHmac \[103\] (spec 7.4): computes an HMAC with a symmetric key.
            [103] PerformHmac perform_hmac "performHmac" (PerformHmacArgs) -> PerformHmacOutput;
            /// symmetricKeyEncrypt \[104\] (spec 7.4): encrypts or decrypts data with a symmetric key.
            [104] SymmetricKeyEncrypt symmetric_key_encrypt "symmetricKeyEncrypt"
                (SymmetricKeyEncryptArgs) -> SymmetricKeyEncryptOutput;
        }
    };
}

sks_method_table!(sks_methods);
