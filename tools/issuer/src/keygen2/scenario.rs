//! What one KeyGen2 exchange provisions, described from the issuer's side.

use crate::driver::{KeySpec, PinPolicy};
use crate::macdata::Property;
use crate::{Curve, Kmk};
use apdu_spec::values::{AppUsage, Grouping, PinFormat};

/// A PUK policy: its value is sent encrypted.
#[derive(Clone)]
pub struct PukPlan {
    pub id: String,
    pub value: Vec<u8>,
    /// A [`PinFormat`] byte.
    pub format: u8,
    pub retry_limit: u16,
}

/// A PIN policy. `policy.user_defined == false` means an issuer-set PIN (`preset`), sent
/// encrypted with every key; otherwise the user chooses it in the proxy.
#[derive(Clone)]
pub struct PinPlan {
    pub id: String,
    pub puk: Option<String>,
    pub policy: PinPolicy,
    pub preset: Option<Vec<u8>>,
}

// Secrets (PUK, preset PIN, imported keys) never appear in Debug output.
impl core::fmt::Debug for PukPlan {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PukPlan")
            .field("id", &self.id)
            .field("format", &self.format)
            .field("retry_limit", &self.retry_limit)
            .finish_non_exhaustive()
    }
}

impl core::fmt::Debug for PinPlan {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PinPlan")
            .field("id", &self.id)
            .field("puk", &self.puk)
            .field("policy", &self.policy)
            .field("preset", &self.preset.as_ref().map(|_| "<secret>"))
            .finish()
    }
}

impl core::fmt::Debug for CredentialPlan {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CredentialPlan")
            .field("trust_anchor", &self.trust_anchor)
            .field(
                "import_symmetric",
                &self.import_symmetric.as_ref().map(|_| "<secret>"),
            )
            .field(
                "import_private",
                &self.import_private.as_ref().map(|_| "<secret>"),
            )
            .field("extensions", &self.extensions.len())
            .field("encrypted_extensions", &self.encrypted_extensions.len())
            .field("property_bags", &self.property_bags.len())
            .field("logotypes", &self.logotypes.len())
            .field("update_key", &self.update_key)
            .field("clone_key_protection", &self.clone_key_protection)
            .finish()
    }
}

/// Which earlier credential a post-operation targets: by the id of the key in an exchange the
/// server completed (`server_session_id`, key id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRef {
    pub server_session_id: String,
    pub key_id: String,
}

/// What the ProvisioningFinalizationRequest carries for one new key.
#[derive(Clone, Default)]
pub struct CredentialPlan {
    /// Sets `trustAnchor` (the path then ends with the CA certificate, as always here).
    pub trust_anchor: bool,
    pub import_symmetric: Option<Vec<u8>>,
    /// PKCS#8 DER of the private key to import (the certificate is made for its public key).
    pub import_private: Option<(Vec<u8>, Vec<u8>)>,
    /// (type URI, data).
    pub extensions: Vec<(String, Vec<u8>)>,
    /// (type URI, plaintext): encrypted by the issuer.
    pub encrypted_extensions: Vec<(String, Vec<u8>)>,
    pub property_bags: Vec<(String, Vec<Property>)>,
    /// (type URI, MIME type, image).
    pub logotypes: Vec<(String, String, Vec<u8>)>,
    pub update_key: Option<TargetRef>,
    pub clone_key_protection: Option<TargetRef>,
}

/// One key: the driver's [`KeySpec`] (its `pin_policy` names a [`PinPlan`]) and what to do
/// with it at finalization.
#[derive(Debug, Clone)]
pub struct KeyPlan {
    pub spec: KeySpec,
    pub credential: CredentialPlan,
}

/// One lookup of a CredentialDiscoveryRequest, signed with `kmk`.
#[derive(Debug, Clone)]
pub struct LookupPlan {
    pub id: String,
    pub kmk: Kmk,
    pub filter: keygen2::messages::SearchFilter,
}

/// A complete exchange.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    /// `action: unlock` (no KeyCreation).
    pub unlock: bool,
    pub privacy: bool,
    pub capability_query: Vec<String>,
    pub preferred_languages: Vec<String>,
    pub target_key_containers: Vec<String>,
    pub curve: Curve,
    pub session_key_limit: u16,
    pub session_life_time: u16,
    /// The session's key management key.
    pub kmk: Option<Kmk>,
    /// KMK roll-over chain, newest first: `rollover[0]` is replaced by `kmk`, `rollover[1]`
    /// by `rollover[0]`, ... (nested `updatableKeyManagementKeys`).
    pub rollover: Vec<Kmk>,
    pub lookups: Vec<LookupPlan>,
    pub puks: Vec<PukPlan>,
    pub pins: Vec<PinPlan>,
    pub keys: Vec<KeyPlan>,
    pub unlock_keys: Vec<TargetRef>,
    pub delete_keys: Vec<TargetRef>,
}

impl Scenario {
    /// An empty `manage` exchange on P-256 without KMK.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            unlock: false,
            privacy: false,
            capability_query: Vec::new(),
            preferred_languages: Vec::new(),
            target_key_containers: Vec::new(),
            curve: Curve::P256,
            session_key_limit: 1000,
            session_life_time: 10000,
            kmk: None,
            rollover: Vec::new(),
            lookups: Vec::new(),
            puks: Vec::new(),
            pins: Vec::new(),
            keys: Vec::new(),
            unlock_keys: Vec::new(),
            delete_keys: Vec::new(),
        }
    }

    /// The benchmark and README scenario: PUK "PUK.1" (numeric, preset), user-defined PIN
    /// "PIN.1" (4-8 digits) under it, and one P-256 signature key "Key.1" (ECDSA-SHA256).
    pub fn pin_puk_p256(kmk: Option<Kmk>) -> Self {
        let mut s = Self::new("pin-puk-p256");
        s.kmk = kmk;
        s.puks.push(PukPlan {
            id: "PUK.1".into(),
            value: b"01234567".to_vec(),
            format: PinFormat::Numeric.into(),
            retry_limit: 3,
        });
        s.pins.push(PinPlan {
            id: "PIN.1".into(),
            puk: Some("PUK.1".into()),
            policy: PinPolicy::default(),
            preset: None,
        });
        s.keys.push(
            KeyPlan::new(
                "Key.1",
                Some("PIN.1"),
                crate::alg::EC_P256,
                AppUsage::Signature,
            )
            .endorse(&[crate::alg::ECDSA_SHA256]),
        );
        s
    }
}

impl KeyPlan {
    /// A key `id` of `algorithm` with `app_usage`, under PIN policy `pin` if given.
    pub fn new(id: &str, pin: Option<&str>, algorithm: &str, app_usage: AppUsage) -> Self {
        let mut spec = KeySpec::new(id);
        spec.pin_policy = pin.map(Into::into);
        spec.key_algorithm = algorithm.into();
        spec.app_usage = app_usage.into();
        Self {
            spec,
            credential: CredentialPlan::default(),
        }
    }

    /// Endorsed algorithms (must be sorted, as the SKS requires).
    pub fn endorse(mut self, algorithms: &[&str]) -> Self {
        self.spec.endorsed_algorithms = algorithms.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Changes the spec.
    pub fn with(mut self, f: impl FnOnce(&mut KeySpec)) -> Self {
        f(&mut self.spec);
        self
    }

    /// Changes the credential plan.
    pub fn credential(mut self, f: impl FnOnce(&mut CredentialPlan)) -> Self {
        f(&mut self.credential);
        self
    }
}

/// The scenarios `sks-issuer` serves by name: (name, description).
pub const CATALOGUE: &[(&str, &str)] = &[
    (
        "pin-puk-p256",
        "PUK → user-defined PIN → one P-256 signature key (the default)",
    ),
    (
        "several-keys",
        "PUK → PIN → P-256 + RSA-2048 (extension, encrypted extension, property bag, logotype), \
         plus an HMAC key with an imported secret",
    ),
    ("privacy", "pin-puk-p256 in privacy mode"),
    (
        "update-last",
        "credential discovery, then a new P-256 key replacing the last key issued (postUpdateKey)",
    ),
];

impl Scenario {
    /// A scenario of [`CATALOGUE`]; `kmk` is the issuer's key management key and `last` the
    /// last credential it issued (for `update-last`).
    pub fn named(
        name: &str,
        kmk: &Kmk,
        last: Option<super::TargetRef>,
    ) -> Result<Self, crate::Error> {
        let usage = |m: &str| crate::Error::Usage(m.into());
        Ok(match name {
            "pin-puk-p256" => Self::pin_puk_p256(Some(kmk.clone())),
            "privacy" => {
                let mut s = Self::pin_puk_p256(Some(kmk.clone()));
                s.name = name.into();
                s.privacy = true;
                s
            }
            "several-keys" => {
                let mut s = Self::pin_puk_p256(Some(kmk.clone()));
                s.name = name.into();
                s.pins[0].policy.grouping = Grouping::Shared.into(); // one PIN for both keys
                s.keys.push(
                    KeyPlan::new(
                        "Key.RSA",
                        Some("PIN.1"),
                        crate::alg::RSA2048,
                        AppUsage::Authentication,
                    )
                    .endorse(&[crate::alg::RSA_SHA256])
                    .credential(|c| {
                        c.extensions
                            .push(("urn:sks:keygen2:ext".into(), b"extension data".to_vec()));
                        c.encrypted_extensions
                            .push(("urn:sks:keygen2:secret".into(), b"secret data".to_vec()));
                        c.property_bags.push((
                            "urn:sks:keygen2:bag".into(),
                            vec![
                                Property::new("Counter", "0", true),
                                Property::new("Digits", "8", false),
                            ],
                        ));
                        c.logotypes.push((
                            "https://webpki.github.io/keygen2/logotype#list".into(),
                            "image/png".into(),
                            vec![0x89, b'P', b'N', b'G'],
                        ));
                    }),
                );
                s.keys.push(
                    KeyPlan::new("Key.HMAC", None, crate::alg::RSA2048, AppUsage::Universal)
                        .endorse(&[crate::alg::HMAC_SHA256])
                        .credential(|c| c.import_symmetric = Some(vec![0x5a; 32])),
                );
                s
            }
            "update-last" => {
                let target = last.ok_or_else(|| usage("update-last: nothing issued yet"))?;
                let mut s = Self::new(name);
                s.kmk = Some(kmk.clone());
                s.lookups.push(LookupPlan {
                    id: "Lookup.1".into(),
                    kmk: kmk.clone(),
                    filter: Default::default(),
                });
                s.keys.push(
                    KeyPlan::new(
                        "Key.Updated",
                        None,
                        crate::alg::EC_P256,
                        AppUsage::Signature,
                    )
                    .endorse(&[crate::alg::ECDSA_SHA256])
                    .credential(|c| c.update_key = Some(target)),
                );
                s
            }
            other => return Err(usage(&format!("unknown scenario {other}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_puk_preset_pin_and_imported_keys() {
        let secret = b"S3CRET-77".to_vec();
        let needle = format!("{secret:?}");
        let puk = PukPlan {
            id: "puk".into(),
            value: secret.clone(),
            format: 0,
            retry_limit: 3,
        };
        let pin = PinPlan {
            id: "pin".into(),
            puk: Some("puk".into()),
            policy: PinPolicy::default(),
            preset: Some(secret.clone()),
        };
        let credential = CredentialPlan {
            import_symmetric: Some(secret.clone()),
            import_private: Some((secret.clone(), secret.clone())),
            ..CredentialPlan::default()
        };
        for shown in [
            format!("{puk:?}"),
            format!("{pin:?}"),
            format!("{credential:?}"),
        ] {
            assert!(!shown.contains(&needle), "{shown}");
            assert!(!shown.contains("S3CRET"), "{shown}");
        }
    }
}
