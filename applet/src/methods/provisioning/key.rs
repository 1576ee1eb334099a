//! Key entries during provisioning: createKeyEntry [10], getKeyHandle [11],
//! setCertificatePath [12], importSymmetricKey [13], importPrivateKey [14], addExtension [15]
//! (spec 7.4; spec-notes §4.9-4.14).

use crate::auth::pin_rules::check_pin;
use crate::crypto::algorithm::{self, Class};
use crate::crypto::{certificate_public_key, is_key_pair, sha256, PrivateKey};
use crate::db::{Extension, KeyEntry, Secret};
use crate::error::option;
use crate::methods::info::{CRYPTO_DATA_SIZE, EXTENSION_DATA_SIZE};
use crate::methods::provisioning::security::MacData;
use crate::state::SksApplet;
use crate::store::{Kind, Store};
use apdu_spec::algorithms::special::{KEY_1, NONE, SESSION_1};
use apdu_spec::values::{
    AppUsage, BiometricProtection as Biometric, DeleteProtection, ExportProtection,
    ExtensionSubType as SubType, InputMethod, KeyBackup, KeyBackupFlag,
};
use apdu_spec::{
    AddExtensionArgs, Bytes, CreateKeyEntryArgs, CreateKeyEntryOutput, ErrorCode, GetKeyHandleArgs,
    GetKeyHandleOutput, ImportPrivateKeyArgs, ImportSymmetricKeyArgs, SetCertificatePathArgs,
    SksError,
};
use rand_core::{Rng, SeedableRng};
use subtle::ConstantTimeEq;

/// AES-CBC with PKCS#7 adds at most the IV and one block (spec-notes §3.5).
const ENCRYPTION_OVERHEAD: usize = 32;
const MAX_SYMMETRIC_KEY: usize = 128;
const MAX_SERVER_SEED: usize = 64;
const MAX_FRIENDLY_NAME_CHARS: usize = 100;
const MAX_QUALIFIER: usize = 128;

/// Checks the endorsed list (spec 7.4 createKeyEntry, spec-notes §4.9 step 8): strictly
/// ascending, each supported and not a session/key algorithm, `#none` alone.
fn check_endorsed(list: &[apdu_spec::Uri]) -> Result<(), SksError> {
    for pair in list.windows(2) {
        if pair[0].as_bytes() >= pair[1].as_bytes() {
            return Err(option("Duplicate or incorrectly sorted algorithm"));
        }
    }
    for uri in list {
        let known = algorithm::lookup(uri).is_some_and(|a| a.uri != SESSION_1 && a.uri != KEY_1);
        if !known {
            return Err(option(format!("Unsupported algorithm: {uri}")));
        }
        if uri.as_str() == NONE && list.len() > 1 {
            return Err(option("Algorithm must be alone: #none"));
        }
    }
    Ok(())
}

/// Validates a property bag blob (spec-notes §4.14): a non-empty sequence of
/// `u16 name ‖ writable byte ‖ u16 value`, names 1-255 bytes, consumed exactly.
pub(crate) fn check_property_bag(blob: &[u8]) -> Result<(), SksError> {
    apdu_spec::property_bag::parse(blob)
        .map(|_| ())
        .map_err(|_| option("Malformed property bag"))
}

impl<S: Store> SksApplet<S> {
    /// createKeyEntry [10] with `#key.1` (spec 7.4, spec-notes §4.9).
    pub(crate) fn create_key_entry(
        &mut self,
        a: CreateKeyEntryArgs,
    ) -> Result<CreateKeyEntryOutput, SksError> {
        let session = self.open_session(a.provisioning_handle)?.handle;
        self.provisioning_step(session, |card| card.create_key_entry_in(session, a))
    }

    fn create_key_entry_in(
        &mut self,
        session: u32,
        a: CreateKeyEntryArgs,
    ) -> Result<CreateKeyEntryOutput, SksError> {
        if a.key_entry_algorithm.as_str() != KEY_1 {
            return Err(SksError::new(
                ErrorCode::Algorithm,
                format!("Unsupported keyEntryAlgorithm: {}", a.key_entry_algorithm),
            ));
        }
        let key_class = algorithm::lookup(&a.key_algorithm)
            .map(|alg| alg.class)
            .filter(|c| matches!(c, Class::RsaKeyGen { .. } | Class::EcKeyGen(_)))
            .ok_or_else(|| option(format!("Unsupported keyAlgorithm: {}", a.key_algorithm)))?;
        let wants_exponent = matches!(
            key_class,
            Class::RsaKeyGen {
                exponent_parameter: true,
                ..
            }
        );
        match (wants_exponent, a.key_parameters.is_empty()) {
            (true, true) => return Err(option("Missing keyParameters")),
            (false, false) => return Err(option("Unexpected keyParameters")),
            _ => {}
        }
        if a.server_seed.len() > MAX_SERVER_SEED {
            return Err(option("serverSeed must be 0-64 bytes"));
        }
        let out_of_range = |_| option("Protection attribute or appUsage out of range");
        let export_protection =
            ExportProtection::try_from(a.export_protection).map_err(out_of_range)?;
        let delete_protection =
            DeleteProtection::try_from(a.delete_protection).map_err(out_of_range)?;
        let app_usage = AppUsage::try_from(a.app_usage).map_err(out_of_range)?;
        let biometric = Biometric::try_from(a.biometric_protection).map_err(out_of_range)?;
        if biometric != Biometric::None && !self.options.simulate_biometric {
            // Spec 7.4 createKeyEntry: biometricProtection presumes biometric support.
            return Err(option(
                "Unsupported: biometricProtection (no biometric reader)",
            ));
        }
        if a.friendly_name.chars().count() > MAX_FRIENDLY_NAME_CHARS {
            return Err(option("friendlyName must be 0-100 characters"));
        }

        // PIN set-up (spec 5, spec-notes §4.9 step 7).
        let policy = match a.pin_policy_handle {
            0 => None,
            h => match self.db.pin(h) {
                Some(p) if p.session == session => Some(p.clone()),
                _ => return Err(option("Referenced PIN policy object not found")),
            },
        };
        if a.device_pin_protection {
            // devicePinSupport is false: the device PIN is out of this card's scope (spec 3.2).
            return Err(option("Unsupported: devicePinProtection"));
        }
        match &policy {
            Some(p) => {
                if a.enable_pin_caching && p.input_method != InputMethod::TrustedGui {
                    return Err(option("enablePinCaching requires inputMethod trusted-gui"));
                }
            }
            None => {
                if matches!(
                    export_protection,
                    ExportProtection::Pin | ExportProtection::Puk
                ) || matches!(
                    delete_protection,
                    DeleteProtection::Pin | DeleteProtection::Puk
                ) {
                    return Err(option("Protection object lacks a PIN or PUK object"));
                }
                if a.enable_pin_caching {
                    return Err(option("enablePinCaching requires a PIN policy"));
                }
                if !a.pin_value.is_empty() {
                    return Err(option("pinValue expected to be empty"));
                }
            }
        }
        let has_pin = policy.is_some();
        let biometric_ok = match biometric {
            Biometric::None => true,
            Biometric::Exclusive => !has_pin,
            Biometric::Alternative | Biometric::Combined => has_pin,
        };
        if !biometric_ok {
            return Err(option("Invalid biometricProtection and PIN combination"));
        }
        if policy.as_ref().and_then(|p| p.puk).is_none()
            && (export_protection == ExportProtection::Puk
                || delete_protection == DeleteProtection::Puk)
        {
            return Err(option("Protection object lacks a PUK object"));
        }
        let issuer_set_pin = policy.as_ref().is_some_and(|p| !p.user_defined);

        // MAC (spec-notes §4.9 step 8).
        let mut data = MacData::new()
            .str(&a.id)
            .str(&a.key_entry_algorithm)
            .arr(&a.server_seed)
            .str(policy.as_ref().map_or("", |p| &p.id));
        data = if issuer_set_pin {
            data.arr(&a.pin_value)
        } else {
            data.str("")
        };
        data = data
            .bool(a.device_pin_protection)
            .bool(a.enable_pin_caching)
            .u8(a.biometric_protection)
            .u8(a.export_protection)
            .u8(a.delete_protection)
            .u8(a.app_usage)
            .str(&a.friendly_name)
            .str(&a.key_algorithm)
            .arr(&a.key_parameters);
        for uri in &a.endorsed_algorithms {
            data = data.str(uri);
        }
        let data = data.finish()?;
        check_endorsed(&a.endorsed_algorithms)?;
        let s = self.session_mut(session)?;
        let pin_value = if issuer_set_pin {
            Some(s.decrypt(&a.pin_value)?)
        } else {
            None
        };
        s.verify_mac("createKeyEntry", &data, &a.mac)?;
        let pin_value = match (&policy, pin_value) {
            (Some(_), Some(decrypted)) => Some(decrypted),
            (Some(_), None) => Some(Secret::new(a.pin_value.to_vec())),
            (None, _) => None,
        };

        // PIN compliance and grouping against the keys that already use this policy.
        if let (Some(p), Some(pin)) = (&policy, &pin_value) {
            check_pin(p, pin)?;
            for other in self.db.keys().filter(|k| k.pin_policy == Some(p.handle)) {
                let same = other
                    .pin_value
                    .as_ref()
                    .is_some_and(|v| bool::from(v.ct_eq(pin)));
                match p.grouping.ties(other.app_usage, app_usage) {
                    Some(true) if !same => return Err(option("Grouping requires identical PINs")),
                    Some(false) if same => return Err(option("Grouping requires different PINs")),
                    _ => {}
                }
            }
        }

        self.claim_id(session, &a.id)?;
        let private = self.generate_key(key_class, &a.key_parameters, &a.server_seed)?;
        let public_key = private.public().to_spki()?;
        let s = self.session_mut(session)?;
        let attestation = s.attest(&MacData::new().arr(&public_key).arr(&a.mac.0).finish()?)?;
        if let Some(p) = &policy {
            if let Some(p) = self.db.pin_mut(p.handle) {
                p.referenced = true;
            }
        }
        let handle = self.db.next_handle(Kind::Key);
        self.db.insert_key(KeyEntry {
            handle,
            session,
            id: a.id.to_string(),
            pin_policy: policy.as_ref().map(|p| p.handle),
            pin_value,
            device_pin: a.device_pin_protection,
            enable_pin_caching: a.enable_pin_caching,
            biometric_protection: biometric,
            export_protection,
            delete_protection,
            app_usage,
            friendly_name: a.friendly_name.clone(),
            key_algorithm: a.key_algorithm.to_string(),
            endorsed_algorithms: a
                .endorsed_algorithms
                .iter()
                .map(|u| u.to_string())
                .collect(),
            private_key: private
                .to_pkcs8()
                .map(Secret::from)
                .map_err(SksError::from)?,
            generated_public_key: public_key.clone(),
            certificates: Vec::new(),
            symmetric_key: None,
            key_backup: KeyBackup::EMPTY,
            extensions: Vec::new(),
        });
        Ok(CreateKeyEntryOutput {
            key_handle: handle,
            public_key: Bytes(public_key),
            attestation,
        })
    }

    /// Key generation. A non-empty serverSeed is mixed with fresh card entropy into a one-off
    /// generator; it never replaces the card's own randomness, and an empty one changes nothing
    /// (spec 7.4 createKeyEntry remarks).
    fn generate_key(
        &mut self,
        class: Class,
        parameters: &[u8],
        server_seed: &[u8],
    ) -> Result<PrivateKey, SksError> {
        let mut seeded;
        let rng: &mut crate::platform::CardRng = if server_seed.is_empty() {
            &mut self.rng
        } else {
            // Mixing buffer and seed hold what the key derives from: zeroized after use.
            let mut mix = Secret::new(vec![0u8; 32]);
            self.rng.fill_bytes(&mut mix);
            mix.extend_zeroizing(server_seed);
            let seed = zeroize::Zeroizing::new(sha256(&mix));
            seeded = crate::platform::CardRng::from_seed(*seed);
            &mut seeded
        };
        match class {
            Class::EcKeyGen(curve) => Ok(PrivateKey::generate_ec(curve, rng)),
            Class::RsaKeyGen { bits, .. } => {
                let exponent = match parameters {
                    [] => 65_537,
                    p if p.len() <= 8 => p.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
                    p => return Err(option(format!("keyParameters length error: {}", p.len()))),
                };
                if exponent < 3 || exponent.is_multiple_of(2) {
                    return Err(option(format!("Unsupported RSA exponent {exponent}")));
                }
                PrivateKey::generate_rsa(bits, exponent, rng).map_err(|e| option(e.to_string()))
            }
            _ => Err(option("Unsupported keyAlgorithm")),
        }
    }

    /// getKeyHandle [11]: the handle of the open session's key with this id. An unknown id
    /// aborts the session, as the spec requires (spec-notes D7).
    pub(crate) fn get_key_handle(
        &mut self,
        a: GetKeyHandleArgs,
    ) -> Result<GetKeyHandleOutput, SksError> {
        let session = self.open_session(a.provisioning_handle)?.handle;
        self.provisioning_step(session, |card| {
            card.db
                .keys()
                .find(|k| k.session == session && k.id == a.id.as_str())
                .map(|k| GetKeyHandleOutput {
                    key_handle: k.handle,
                })
                .ok_or_else(|| option(format!("Key {} missing", a.id)))
        })
    }

    /// setCertificatePath [12] (spec 7.4, spec-notes §4.11).
    pub(crate) fn set_certificate_path(
        &mut self,
        a: SetCertificatePathArgs,
    ) -> Result<(), SksError> {
        self.key_step(a.key_handle, |card, session| {
            let key = card
                .db
                .key(a.key_handle)
                .ok_or_else(|| no_key(a.key_handle))?;
            if a.certificates.is_empty() {
                return Err(option("Empty certificate path"));
            }
            let mut data = MacData::new().arr(&key.generated_public_key).str(&key.id);
            for c in &a.certificates {
                if c.len() > CRYPTO_DATA_SIZE as usize {
                    return Err(option("Certificate exceeds cryptoDataSize"));
                }
                data = data.arr(c);
            }
            let data = data.finish()?;
            let already = !key.certificates.is_empty();
            card.session_mut(session)?
                .verify_mac("setCertificatePath", &data, &a.mac)?;
            if already {
                return Err(option("Multiple calls to setCertificatePath"));
            }
            if !certificate_public_key(&a.certificates[0])
                .is_some_and(|k| algorithm::key_is_supported(&k))
            {
                return Err(option(
                    "Unsupported public key in the end-entity certificate",
                ));
            }
            let key = card
                .db
                .key_mut(a.key_handle)
                .ok_or_else(|| no_key(a.key_handle))?;
            key.certificates = a.certificates.iter().map(|c| c.to_vec()).collect();
            Ok(())
        })
    }

    /// One import step (spec-notes §4.12), in the reference's order: the encrypted key's length,
    /// certificate present, MAC over `arr(EE certificate) ‖ arr(encryptedKey)`, at most one
    /// import per key, decryption; then `install` checks and stores the plaintext key, and the
    /// key is marked IMPORTED. A failure tears the session down ([`Self::provisioning_step`]).
    fn import(
        &mut self,
        handle: u32,
        method: &str,
        (encrypted, mac): (&[u8], &apdu_spec::Mac),
        (max_len, too_long): (usize, &str),
        install: impl FnOnce(&mut Self, Secret) -> Result<(), SksError>,
    ) -> Result<(), SksError> {
        self.key_step(handle, |card, session| {
            if encrypted.len() > max_len + ENCRYPTION_OVERHEAD {
                return Err(option(too_long));
            }
            let key = card.db.key(handle).ok_or_else(|| no_key(handle))?;
            let ee = key
                .end_entity_certificate()
                .ok_or_else(|| option("Missing setCertificatePath"))?;
            let data = MacData::new().arr(ee).arr(encrypted).finish()?;
            let imported = key.key_backup.contains(KeyBackupFlag::Imported);
            let s = card.session_mut(session)?;
            s.verify_mac(method, &data, mac)?;
            if imported {
                return Err(option("Multiple key imports"));
            }
            let plain = s.decrypt(encrypted)?;
            install(card, plain)?;
            card.db
                .key_mut(handle)
                .ok_or_else(|| no_key(handle))?
                .key_backup
                .insert(KeyBackupFlag::Imported);
            Ok(())
        })
    }

    /// importSymmetricKey [13] (spec 7.4): the entry becomes symmetric.
    pub(crate) fn import_symmetric_key(
        &mut self,
        a: ImportSymmetricKeyArgs,
    ) -> Result<(), SksError> {
        let handle = a.key_handle;
        self.import(
            handle,
            "importSymmetricKey",
            (&a.encrypted_key, &a.mac),
            (MAX_SYMMETRIC_KEY, "Symmetric key too long"),
            |card, secret| {
                if secret.is_empty() || secret.len() > MAX_SYMMETRIC_KEY {
                    return Err(option("Symmetric key must be 1-128 bytes"));
                }
                card.db
                    .key_mut(handle)
                    .ok_or_else(|| no_key(handle))?
                    .symmetric_key = Some(secret);
                Ok(())
            },
        )
    }

    /// importPrivateKey [14] (spec 7.4): PKCS#8 that must match the end-entity certificate.
    pub(crate) fn import_private_key(&mut self, a: ImportPrivateKeyArgs) -> Result<(), SksError> {
        let handle = a.key_handle;
        self.import(
            handle,
            "importPrivateKey",
            (&a.encrypted_key, &a.mac),
            (CRYPTO_DATA_SIZE as usize, "Private key too long"),
            |card, pkcs8| {
                let private = PrivateKey::from_pkcs8(&pkcs8).map_err(|e| option(e.to_string()))?;
                let key = card.db.key(handle).ok_or_else(|| no_key(handle))?;
                let cert_key = key
                    .end_entity_certificate()
                    .and_then(certificate_public_key)
                    .ok_or_else(|| option("Unsupported end-entity certificate"))?;
                if private.is_rsa() != cert_key.is_rsa() {
                    return Err(option("RSA/EC mixup"));
                }
                if !is_key_pair(&private, &cert_key, &mut card.rng) {
                    return Err(option("Imported key does not match certificate"));
                }
                card.db
                    .key_mut(handle)
                    .ok_or_else(|| no_key(handle))?
                    .private_key = private
                    .to_pkcs8()
                    .map(Secret::from)
                    .map_err(SksError::from)?;
                Ok(())
            },
        )
    }

    /// addExtension [15] (spec 7.4, spec-notes §4.13-4.14).
    pub(crate) fn add_extension(&mut self, a: AddExtensionArgs) -> Result<(), SksError> {
        self.key_step(a.key_handle, |card, session| {
            let key = card
                .db
                .key(a.key_handle)
                .ok_or_else(|| no_key(a.key_handle))?;
            let sub_type = SubType::try_from(a.sub_type).map_err(|_| option("Invalid subType"))?;
            if a.r#type.is_empty() {
                return Err(option("Extension type must be 1-1000 bytes"));
            }
            if key
                .extensions
                .iter()
                .any(|e| e.type_uri == a.r#type.as_str())
            {
                return Err(option(format!("Duplicate type: {}", a.r#type)));
            }
            let limit = EXTENSION_DATA_SIZE as usize
                + if sub_type == SubType::EncryptedExtension {
                    ENCRYPTION_OVERHEAD
                } else {
                    0
                };
            if a.extension_data.len() > limit {
                return Err(option("Extension data exceeds extensionDataSize"));
            }
            let qualifier_ok = (sub_type == SubType::Logotype) != a.qualifier.is_empty()
                && a.qualifier.len() <= MAX_QUALIFIER;
            if !qualifier_ok {
                return Err(option("qualifier length error"));
            }
            if sub_type == SubType::PropertyBag {
                check_property_bag(&a.extension_data)?;
            }
            let ee = key
                .end_entity_certificate()
                .ok_or_else(|| option("Missing setCertificatePath"))?;
            let data = MacData::new()
                .arr(ee)
                .str(&a.r#type)
                .u8(a.sub_type)
                .str(&a.qualifier)
                .blob(&a.extension_data)
                .finish()?;
            let s = card.session_mut(session)?;
            s.verify_mac("addExtension", &data, &a.mac)?;
            let plain = if sub_type == SubType::EncryptedExtension {
                s.decrypt(&a.extension_data)?
            } else {
                Secret::new(a.extension_data.to_vec())
            };
            let key = card
                .db
                .key_mut(a.key_handle)
                .ok_or_else(|| no_key(a.key_handle))?;
            key.extensions.push(Extension {
                type_uri: a.r#type.to_string(),
                sub_type,
                qualifier: a.qualifier.clone(),
                data: plain,
            });
            Ok(())
        })
    }
}

pub(crate) fn no_key(handle: u32) -> SksError {
    SksError::new(ErrorCode::NoKey, format!("Key {handle} not found"))
}
