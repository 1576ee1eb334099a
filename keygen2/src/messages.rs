//! The KeyGen2 messages (PROTOCOL.md §4), one struct per request and response, parsed strictly:
//! unknown or duplicate properties, missing required ones, wrong types, empty "1..n" arrays,
//! bad base64url and wrong MAC lengths are errors. Properties are written in the reference's
//! order, optional ones only when present.

use crate::b64::{EncryptedSecret, Mac32, Sha256Hash, B64};
use crate::jwk::Jwk;
use crate::types::*;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A "1..n" array: never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonEmpty<T>(pub Vec<T>);

impl<T> NonEmpty<T> {
    /// `None` for an empty vector (the property is then omitted).
    pub fn new(v: Vec<T>) -> Option<Self> {
        (!v.is_empty()).then_some(Self(v))
    }
}

impl<T> core::ops::Deref for NonEmpty<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: Serialize> Serialize for NonEmpty<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for NonEmpty<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Vec::<T>::deserialize(d)?;
        if v.is_empty() {
            return Err(D::Error::custom(
                "empty array where 1..n elements are required",
            ));
        }
        Ok(Self(v))
    }
}

/// Iterates an optional "1..n" array.
pub fn each<T>(v: &Option<NonEmpty<T>>) -> impl Iterator<Item = &T> {
    v.iter().flat_map(|n| n.0.iter())
}

/// The `@context` property: exactly [`CONTEXT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Context;

impl Serialize for Context {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(CONTEXT)
    }
}

impl<'de> Deserialize<'de> for Context {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s != CONTEXT {
            return Err(D::Error::custom(format!(
                "unknown @context \"{}\"",
                s.escape_debug()
            )));
        }
        Ok(Context)
    }
}

macro_rules! qualifier {
    ($name:ident, $text:literal) => {
        /// The `@qualifier` of this message.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name;

        impl $name {
            pub const NAME: &'static str = $text;
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($text)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                if s != $text {
                    return Err(D::Error::custom(format!(
                        "@qualifier \"{}\" where {} was expected",
                        s.escape_debug(),
                        $text
                    )));
                }
                Ok($name)
            }
        }
    };
}

qualifier!(InvocationRequestQ, "InvocationRequest");
qualifier!(InvocationResponseQ, "InvocationResponse");
qualifier!(
    ProvisioningInitializationRequestQ,
    "ProvisioningInitializationRequest"
);
qualifier!(
    ProvisioningInitializationResponseQ,
    "ProvisioningInitializationResponse"
);
qualifier!(CredentialDiscoveryRequestQ, "CredentialDiscoveryRequest");
qualifier!(CredentialDiscoveryResponseQ, "CredentialDiscoveryResponse");
qualifier!(KeyCreationRequestQ, "KeyCreationRequest");
qualifier!(KeyCreationResponseQ, "KeyCreationResponse");
qualifier!(
    ProvisioningFinalizationRequestQ,
    "ProvisioningFinalizationRequest"
);
qualifier!(
    ProvisioningFinalizationResponseQ,
    "ProvisioningFinalizationResponse"
);

// ---------------------------------------------------------------------------------------------
// Invocation

/// InvocationRequest (§4.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InvocationRequest {
    #[serde(rename = "@context")]
    pub context: Context,
    #[serde(rename = "@qualifier")]
    pub qualifier: InvocationRequestQ,
    pub server_session_id: Id,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_languages: Option<NonEmpty<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_key_containers: Option<NonEmpty<KeyContainer>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_capability_query: Option<NonEmpty<Uri>>,
}

/// One answered capability: exactly one of `supported`, `values`, `imageAttributes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientCapability {
    #[serde(rename = "type")]
    pub type_: Uri,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supported: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<NonEmpty<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_attributes: Option<ImageAttributes>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageAttributes {
    pub mime_type: String,
    pub width: u32,
    pub height: u32,
}

/// InvocationResponse (§4.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InvocationResponse {
    #[serde(rename = "@context")]
    pub context: Context,
    #[serde(rename = "@qualifier")]
    pub qualifier: InvocationResponseQ,
    pub server_session_id: Id,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_capabilities: Option<NonEmpty<ClientCapability>>,
}

// ---------------------------------------------------------------------------------------------
// ProvisioningInitialization

/// A node of the KMK roll-over tree (§4.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdatableKeyManagementKey {
    pub public_key: Jwk,
    pub authorization: B64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updatable_key_management_keys: Option<NonEmpty<UpdatableKeyManagementKey>>,
}

/// ProvisioningInitializationRequest (§4.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProvisioningInitializationRequest {
    #[serde(rename = "@context")]
    pub context: Context,
    #[serde(rename = "@qualifier")]
    pub qualifier: ProvisioningInitializationRequestQ,
    pub server_session_id: Id,
    pub server_time: UtcTime,
    pub session_key_algorithm: Uri,
    pub session_key_limit: u16,
    pub session_life_time: u16,
    pub server_ephemeral_key: Jwk,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_management_key: Option<Jwk>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updatable_key_management_keys: Option<NonEmpty<UpdatableKeyManagementKey>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeviceId {
    pub certificate_path: NonEmpty<B64>,
}

/// ProvisioningInitializationResponse (§4.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProvisioningInitializationResponse {
    #[serde(rename = "@context")]
    pub context: Context,
    #[serde(rename = "@qualifier")]
    pub qualifier: ProvisioningInitializationResponseQ,
    pub server_session_id: Id,
    pub client_session_id: Id,
    pub server_time: UtcTime,
    pub client_time: LocalTime,
    pub client_ephemeral_key: Jwk,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<DeviceId>,
    pub attestation: B64,
}

// ---------------------------------------------------------------------------------------------
// CredentialDiscovery

/// A JSF signature object (§5.1): `algorithm`, `publicKey` (required in KeyGen2), `value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JsfSignature {
    pub algorithm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    pub public_key: Jwk,
    pub value: B64,
}

/// The search conditions of a lookup specifier (§4.3), all ANDed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SearchFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finger_print: Option<Sha256Hash>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "issuerRegEx"
    )]
    pub issuer_reg_ex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "subjectRegEx"
    )]
    pub subject_reg_ex: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "emailRegEx"
    )]
    pub email_reg_ex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_rules: Option<NonEmpty<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_usage_rules: Option<NonEmpty<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_key_usage_rules: Option<NonEmpty<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_before: Option<UtcTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_after: Option<UtcTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grouping: Option<Grouping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_usage: Option<AppUsage>,
}

/// One lookup specifier (§4.3), signed by the issuer's key management key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LookupSpecifier {
    pub id: Id,
    pub nonce: B64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_filter: Option<SearchFilter>,
    pub signature: JsfSignature,
}

/// CredentialDiscoveryRequest (§4.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CredentialDiscoveryRequest {
    #[serde(rename = "@context")]
    pub context: Context,
    #[serde(rename = "@qualifier")]
    pub qualifier: CredentialDiscoveryRequestQ,
    pub server_session_id: Id,
    pub client_session_id: Id,
    pub lookup_specifiers: NonEmpty<LookupSpecifier>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MatchingCredential {
    pub server_session_id: Id,
    pub client_session_id: Id,
    pub certificate_path: NonEmpty<B64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LookupResult {
    pub id: Id,
    /// May be empty; always present.
    pub matching_credentials: Vec<MatchingCredential>,
}

/// CredentialDiscoveryResponse (§4.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CredentialDiscoveryResponse {
    #[serde(rename = "@context")]
    pub context: Context,
    #[serde(rename = "@qualifier")]
    pub qualifier: CredentialDiscoveryResponseQ,
    pub server_session_id: Id,
    pub client_session_id: Id,
    pub lookup_results: NonEmpty<LookupResult>,
}

// ---------------------------------------------------------------------------------------------
// KeyCreation

/// A key entry (§4.4). `devicePinProtection` is only allowed on top-level keys (checked by
/// [`KeyCreationRequest::check`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeyEntrySpecifier {
    pub id: Id,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_pin: Option<EncryptedSecret>,
    /// Accepted and ignored next to `encryptedPin` (PresetPIN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_modifiable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_pin_caching: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_pin_protection: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_seed: Option<B64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biometric_protection: Option<BiometricProtection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_protection: Option<ExportProtection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_protection: Option<DeleteProtection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    pub app_usage: AppUsage,
    pub key_algorithm: Uri,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_parameters: Option<B64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endorsed_algorithms: Option<NonEmpty<Uri>>,
    pub mac: Mac32,
}

/// A PIN policy with the keys it protects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PinPolicySpecifier {
    pub id: Id,
    pub min_length: u16,
    pub max_length: u16,
    pub retry_limit: u16,
    pub format: PinFormat,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_modifiable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grouping: Option<Grouping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_method: Option<InputMethod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern_restrictions: Option<NonEmpty<PatternRestriction>>,
    pub mac: Mac32,
    pub key_entry_specifiers: NonEmpty<KeyEntrySpecifier>,
}

impl PinPolicySpecifier {
    /// The pattern restriction bits.
    pub fn pattern_restrictions(&self) -> PatternRestrictions {
        each(&self.pattern_restrictions).copied().collect()
    }

    /// `userDefined` is derived: false when the keys carry `encryptedPin`.
    pub fn user_defined(&self) -> bool {
        self.key_entry_specifiers
            .first()
            .is_none_or(|k| k.encrypted_pin.is_none())
    }
}

/// A PUK policy with the PIN policies it governs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PukPolicySpecifier {
    pub id: Id,
    pub encrypted_puk: EncryptedSecret,
    pub retry_limit: u16,
    pub format: PinFormat,
    pub mac: Mac32,
    pub pin_policy_specifiers: NonEmpty<PinPolicySpecifier>,
}

/// KeyCreationRequest (§4.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeyCreationRequest {
    #[serde(rename = "@context")]
    pub context: Context,
    #[serde(rename = "@qualifier")]
    pub qualifier: KeyCreationRequestQ,
    pub server_session_id: Id,
    pub client_session_id: Id,
    pub key_entry_algorithm: Uri,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deferred_issuance: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub puk_policy_specifiers: Option<NonEmpty<PukPolicySpecifier>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_policy_specifiers: Option<NonEmpty<PinPolicySpecifier>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_entry_specifiers: Option<NonEmpty<KeyEntrySpecifier>>,
}

/// A key of a KeyCreationRequest in walk order, with its PIN policy and PUK policy.
#[derive(Debug, Clone, Copy)]
pub struct WalkedKey<'a> {
    pub puk: Option<&'a PukPolicySpecifier>,
    pub pin: Option<&'a PinPolicySpecifier>,
    pub key: &'a KeyEntrySpecifier,
}

impl KeyCreationRequest {
    /// The PIN policies in walk order, each with its PUK policy.
    pub fn pin_policies(&self) -> Vec<(Option<&PukPolicySpecifier>, &PinPolicySpecifier)> {
        let mut out = Vec::new();
        for puk in each(&self.puk_policy_specifiers) {
            for pin in puk.pin_policy_specifiers.iter() {
                out.push((Some(puk), pin));
            }
        }
        for pin in each(&self.pin_policy_specifiers) {
            out.push((None, pin));
        }
        out
    }

    /// Every key in walk order (= SKS call order, §4.4).
    pub fn keys(&self) -> Vec<WalkedKey<'_>> {
        let mut out = Vec::new();
        for (puk, pin) in self.pin_policies() {
            for key in pin.key_entry_specifiers.iter() {
                out.push(WalkedKey {
                    puk,
                    pin: Some(pin),
                    key,
                });
            }
        }
        for key in each(&self.key_entry_specifiers) {
            out.push(WalkedKey {
                puk: None,
                pin: None,
                key,
            });
        }
        out
    }

    /// Checks that go beyond one property (the reference decoder's rules).
    pub fn check(&self) -> Result<(), String> {
        for puk in each(&self.puk_policy_specifiers) {
            if puk.retry_limit > 10000 {
                return Err(format!("PUK {}: retryLimit above 10000", puk.id));
            }
        }
        for (_, pin) in self.pin_policies() {
            if pin.retry_limit == 0 || pin.retry_limit > 10000 {
                return Err(format!("PIN {}: retryLimit must be 1..10000", pin.id));
            }
            if pin.min_length > 128 || pin.max_length > 128 || pin.min_length > pin.max_length {
                return Err(format!("PIN {}: bad minLength/maxLength", pin.id));
            }
            let preset = pin
                .key_entry_specifiers
                .iter()
                .filter(|k| k.encrypted_pin.is_some())
                .count();
            if preset != 0 && preset != pin.key_entry_specifiers.len() {
                return Err(format!(
                    "PIN {}: mixed use of user-defined and preset PINs",
                    pin.id
                ));
            }
            for k in pin.key_entry_specifiers.iter() {
                if k.device_pin_protection.is_some() {
                    return Err(format!(
                        "key {}: unknown property \"devicePinProtection\" under a PIN policy",
                        k.id
                    ));
                }
                if k.user_modifiable.is_some() && k.encrypted_pin.is_none() {
                    return Err(format!("key {}: unknown property \"userModifiable\"", k.id));
                }
            }
        }
        for k in each(&self.key_entry_specifiers) {
            if k.encrypted_pin.is_some() || k.user_modifiable.is_some() {
                return Err(format!("key {}: PIN properties without a PIN policy", k.id));
            }
        }
        for w in self.keys() {
            if w.key.key_parameters.is_some() && !w.key.key_algorithm.as_str().ends_with(".exp") {
                return Err(format!(
                    "key {}: keyParameters only go with the .exp algorithms",
                    w.key.id
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GeneratedKey {
    pub id: Id,
    pub public_key: Jwk,
    pub attestation: B64,
}

/// KeyCreationResponse (§4.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeyCreationResponse {
    #[serde(rename = "@context")]
    pub context: Context,
    #[serde(rename = "@qualifier")]
    pub qualifier: KeyCreationResponseQ,
    pub server_session_id: Id,
    pub client_session_id: Id,
    pub generated_keys: NonEmpty<GeneratedKey>,
}

// ---------------------------------------------------------------------------------------------
// ProvisioningFinalization

/// A post-operation target and its authorization (updateKey, cloneKeyProtection, unlockKeys[],
/// deleteKeys[]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PostOperation {
    pub finger_print: Sha256Hash,
    pub server_session_id: Id,
    pub client_session_id: Id,
    pub authorization: B64,
    pub mac: Mac32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImportKey {
    pub encrypted_key: B64,
    pub mac: Mac32,
}

/// An extension (subType 0) or encrypted extension (subType 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Extension {
    #[serde(rename = "type")]
    pub type_: Uri,
    pub extension_data: B64,
    pub mac: Mac32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Property {
    pub name: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writable: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PropertyBag {
    #[serde(rename = "type")]
    pub type_: Uri,
    pub properties: NonEmpty<Property>,
    pub mac: Mac32,
}

impl PropertyBag {
    /// The addExtension blob: per property `u16len ‖ name ‖ writable ‖ u16len ‖ value`.
    pub fn blob(&self) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        for p in self.properties.iter() {
            for (i, s) in [&p.name, &p.value].into_iter().enumerate() {
                let len = u16::try_from(s.len()).map_err(|_| "property too long".to_string())?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(s.as_bytes());
                if i == 0 {
                    out.push(u8::from(p.writable.unwrap_or(false)));
                }
            }
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Logotype {
    #[serde(rename = "type")]
    pub type_: Uri,
    pub mime_type: String,
    pub extension_data: B64,
    pub mac: Mac32,
}

/// One issued credential (§4.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IssuedCredential {
    pub id: Id,
    pub certificate_path: NonEmpty<B64>,
    pub mac: Mac32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_anchor: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_symmetric_key: Option<ImportKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_private_key: Option<ImportKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<NonEmpty<Extension>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_extensions: Option<NonEmpty<Extension>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property_bags: Option<NonEmpty<PropertyBag>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logotypes: Option<NonEmpty<Logotype>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_key: Option<PostOperation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clone_key_protection: Option<PostOperation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SessionCloseData {
    pub nonce: B64,
    pub mac: Mac32,
}

/// ProvisioningFinalizationRequest (§4.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProvisioningFinalizationRequest {
    #[serde(rename = "@context")]
    pub context: Context,
    #[serde(rename = "@qualifier")]
    pub qualifier: ProvisioningFinalizationRequestQ,
    pub server_session_id: Id,
    pub client_session_id: Id,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_credentials: Option<NonEmpty<IssuedCredential>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlock_keys: Option<NonEmpty<PostOperation>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_keys: Option<NonEmpty<PostOperation>>,
    pub session_close_data: SessionCloseData,
}

impl ProvisioningFinalizationRequest {
    /// Checks that go beyond one property.
    pub fn check(&self) -> Result<(), String> {
        for c in each(&self.issued_credentials) {
            if c.import_symmetric_key.is_some() && c.import_private_key.is_some() {
                return Err(format!(
                    "credential {}: both importSymmetricKey and importPrivateKey",
                    c.id
                ));
            }
            if c.update_key.is_some() && c.clone_key_protection.is_some() {
                return Err(format!(
                    "credential {}: both updateKey and cloneKeyProtection",
                    c.id
                ));
            }
        }
        Ok(())
    }
}

/// ProvisioningFinalizationResponse (§4.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProvisioningFinalizationResponse {
    #[serde(rename = "@context")]
    pub context: Context,
    #[serde(rename = "@qualifier")]
    pub qualifier: ProvisioningFinalizationResponseQ,
    pub server_session_id: Id,
    pub client_session_id: Id,
    pub attestation: Mac32,
}
