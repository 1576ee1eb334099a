//! Key management (spec 7.4 methods [70]-[74], [80]-[84], [90]; spec-notes §4.17-4.24).
//! Only keys of closed sessions are visible here.

use crate::auth::authorization;
use crate::auth::pin_rules::check_pin;
use crate::error::option;
use crate::methods::info::EXTENSION_DATA_SIZE;
use crate::state::SksApplet;
use crate::store::Store;
use apdu_spec::values::{
    ExtensionSubType, KeyBackupFlag, ProtectionFlag as Flag, ProtectionStatus,
};
use apdu_spec::{
    Blob, Bytes, ChangePinArgs, DeleteKeyArgs, EnumerateKeysArgs, EnumerateKeysOutput, ErrorCode,
    ExportKeyArgs, ExportKeyOutput, GetExtensionArgs, GetExtensionOutput, GetKeyAttributesArgs,
    GetKeyAttributesOutput, GetKeyProtectionInfoArgs, GetKeyProtectionInfoOutput, SetPinArgs,
    SetPropertyArgs, SksError, UnlockKeyArgs, UpdateFirmwareArgs, UpdateFirmwareOutput, Uri,
};
use core::num::NonZeroU32;
use subtle::ConstantTimeEq;

fn uri(s: &str) -> Result<Uri, SksError> {
    Uri::new(s).map_err(|e| SksError::new(ErrorCode::Internal, e.to_string()))
}

impl<S: Store> SksApplet<S> {
    /// enumerateKeys [70]: the next key of a closed session after the input handle.
    pub(crate) fn enumerate_keys(
        &self,
        a: EnumerateKeysArgs,
    ) -> Result<EnumerateKeysOutput, SksError> {
        if a.key_handle != 0 && self.db.key(a.key_handle).is_none() {
            return Ok(EnumerateKeysOutput::END);
        }
        let next = self
            .db
            .keys()
            .filter(|k| k.handle > a.key_handle)
            .find(|k| self.db.session(k.session).is_some_and(|s| !s.open));
        Ok(EnumerateKeysOutput {
            key: next.and_then(|k| Some((NonZeroU32::new(k.handle)?, k.session))),
        })
    }

    /// getKeyAttributes [71].
    pub(crate) fn get_key_attributes(
        &self,
        a: GetKeyAttributesArgs,
    ) -> Result<GetKeyAttributesOutput, SksError> {
        let k = self.closed_key(a.key_handle)?;
        Ok(GetKeyAttributesOutput {
            symmetric_key_length: k.symmetric_key.as_ref().map_or(0, |s| s.len() as u16),
            certificates: k.certificates.iter().map(|c| Bytes(c.clone())).collect(),
            app_usage: k.app_usage.into(),
            friendly_name: k.friendly_name.clone(),
            endorsed_algorithms: k
                .endorsed_algorithms
                .iter()
                .map(|u| uri(u))
                .collect::<Result<_, _>>()?,
            types: k
                .extensions
                .iter()
                .map(|e| uri(&e.type_uri))
                .collect::<Result<_, _>>()?,
        })
    }

    /// getKeyProtectionInfo [72] (spec-notes §4.19).
    pub(crate) fn get_key_protection_info(
        &self,
        a: GetKeyProtectionInfoArgs,
    ) -> Result<GetKeyProtectionInfoOutput, SksError> {
        let k = self.closed_key(a.key_handle)?;
        let mut status = ProtectionStatus::EMPTY;
        if k.device_pin {
            status.insert(Flag::DevicePin);
        }
        let mut out = GetKeyProtectionInfoOutput {
            protection_status: 0,
            puk_format: 0,
            puk_retry_limit: 0,
            puk_error_count: 0,
            user_defined: false,
            user_modifiable: false,
            format: 0,
            retry_limit: 0,
            grouping: 0,
            pattern_restrictions: 0,
            min_length: 0,
            max_length: 0,
            input_method: 0,
            pin_error_count: self.db.pin_errors(a.key_handle),
            enable_pin_caching: k.enable_pin_caching,
            biometric_protection: k.biometric_protection.into(),
            export_protection: k.export_protection.into(),
            delete_protection: k.delete_protection.into(),
            key_backup: k.key_backup.into(),
        };
        if let Some(p) = k.pin_policy.and_then(|h| self.db.pin(h)) {
            status.insert(Flag::PinProtected);
            if self.db.pin_errors(a.key_handle) >= p.retry_limit {
                status.insert(Flag::PinBlocked);
            }
            (
                out.user_defined,
                out.user_modifiable,
                out.format,
                out.retry_limit,
            ) = (
                p.user_defined,
                p.user_modifiable,
                p.format.into(),
                p.retry_limit,
            );
            (
                out.grouping,
                out.pattern_restrictions,
                out.min_length,
                out.max_length,
                out.input_method,
            ) = (
                p.grouping.into(),
                p.pattern_restrictions.into(),
                p.min_length,
                p.max_length,
                p.input_method.into(),
            );
            if let Some(puk) = p.puk.and_then(|h| self.db.puk(h)) {
                status.insert(Flag::PukProtected);
                if puk.retry_limit > 0 && puk.error_count >= puk.retry_limit {
                    status.insert(Flag::PukBlocked);
                }
                (out.puk_format, out.puk_retry_limit, out.puk_error_count) =
                    (puk.format.into(), puk.retry_limit, puk.error_count);
            }
        }
        out.protection_status = status.into();
        Ok(out)
    }

    /// getExtension [73]: an unknown type is ERROR_OPTION.
    pub(crate) fn get_extension(
        &self,
        a: GetExtensionArgs,
    ) -> Result<GetExtensionOutput, SksError> {
        let k = self.closed_key(a.key_handle)?;
        let e = k
            .extensions
            .iter()
            .find(|e| e.type_uri == a.r#type.as_str())
            .ok_or_else(|| option(format!("No such extension: {}", a.r#type)))?;
        Ok(GetExtensionOutput {
            sub_type: e.sub_type.into(),
            qualifier: e.qualifier.clone(),
            extension_data: Blob(e.data.to_vec()),
        })
    }

    /// setProperty [74] (spec-notes §4.20): rewrites one writable property of a property bag.
    pub(crate) fn set_property(&mut self, a: SetPropertyArgs) -> Result<(), SksError> {
        self.closed_key(a.key_handle)?;
        if a.name.is_empty() || a.name.len() > 255 {
            return Err(option("Property name must be 1-255 bytes"));
        }
        let k = self
            .db
            .key(a.key_handle)
            .ok_or_else(|| option("No such key"))?;
        let bag = k
            .extensions
            .iter()
            .find(|e| {
                e.type_uri == a.r#type.as_str() && e.sub_type == ExtensionSubType::PropertyBag
            })
            .ok_or_else(|| option("No such propertyBag"))?;
        let new_blob = rewrite_property(&bag.data, a.name.as_bytes(), a.value.as_bytes())?;
        if new_blob.len() > EXTENSION_DATA_SIZE as usize {
            return Err(option("Property bag would exceed extensionDataSize"));
        }
        let k = self
            .db
            .key_mut(a.key_handle)
            .ok_or_else(|| option("No such key"))?;
        if let Some(bag) = k
            .extensions
            .iter_mut()
            .find(|e| e.type_uri == a.r#type.as_str())
        {
            bag.data = crate::db::Secret::new(new_blob);
        }
        self.commit()
    }

    /// deleteKey [80] (spec-notes §4.21): the key, orphaned PIN/PUK objects, and the session
    /// when it loses its last key (spec 3.3).
    pub(crate) fn delete_key(&mut self, a: DeleteKeyArgs) -> Result<(), SksError> {
        let k = self.closed_key(a.key_handle)?;
        let (protection, session) = (k.delete_protection, k.session);
        self.authorize_protected(a.key_handle, protection, "Delete", &a.authorization)?;
        self.db.delete_key(a.key_handle);
        if !self.db.keys().any(|k| k.session == session) {
            self.db.remove_session_and_objects(session);
        }
        self.key_cache.remove(&a.key_handle);
        self.commit()
    }

    /// exportKey [81] (spec-notes §4.22): sets EXPORTED and returns the key unencrypted.
    pub(crate) fn export_key(&mut self, a: ExportKeyArgs) -> Result<ExportKeyOutput, SksError> {
        let protection = self.closed_key(a.key_handle)?.export_protection;
        self.authorize_protected(a.key_handle, protection, "Export", &a.authorization)?;
        let k = self
            .db
            .key_mut(a.key_handle)
            .ok_or_else(|| option("No such key"))?;
        k.key_backup.insert(KeyBackupFlag::Exported);
        let key = k.symmetric_key.as_ref().unwrap_or(&k.private_key).to_vec();
        self.commit()?;
        Ok(ExportKeyOutput { key: Bytes(key) })
    }

    /// unlockKey [82]: PUK check, then the PIN group's error counters are reset.
    pub(crate) fn unlock_key(&mut self, a: UnlockKeyArgs) -> Result<(), SksError> {
        self.closed_key(a.key_handle)?;
        self.verify_puk(a.key_handle, &a.authorization)?;
        self.reset_pin_errors(a.key_handle, false);
        self.commit()
    }

    /// changePin [83] (spec-notes §4.23).
    pub(crate) fn change_pin(&mut self, a: ChangePinArgs) -> Result<(), SksError> {
        let k = self.closed_key(a.key_handle)?;
        if k.device_pin {
            return Err(SksError::new(
                ErrorCode::NotAllowed,
                "Device PINs are not managed by this API",
            ));
        }
        if k.pin_policy.is_none() {
            return Err(option("Redundant authorization information"));
        }
        self.verify_pin(a.key_handle, &a.authorization)?;
        self.write_new_pin(a.key_handle, &a.new_pin, false)
    }

    /// setPin [84] (spec-notes §4.23): PUK first, then the new PIN for the group, counters reset.
    pub(crate) fn set_pin(&mut self, a: SetPinArgs) -> Result<(), SksError> {
        let k = self.closed_key(a.key_handle)?;
        if k.device_pin {
            return Err(SksError::new(
                ErrorCode::NotAllowed,
                "Device PINs are not managed by this API",
            ));
        }
        self.verify_puk(a.key_handle, &a.authorization)?;
        self.write_new_pin(a.key_handle, &a.new_pin, true)
    }

    /// The common end of changePin and setPin: userModifiable, policy compliance, grouping in
    /// setter mode (spec-notes §5.3), then the PIN for every key of the group.
    fn write_new_pin(
        &mut self,
        key: u32,
        new_pin: &[u8],
        reset_errors: bool,
    ) -> Result<(), SksError> {
        let k = self.db.key(key).ok_or_else(|| option("No such key"))?;
        let policy = k
            .pin_policy
            .and_then(|h| self.db.pin(h))
            .ok_or_else(|| option("Key has no PIN"))?;
        if !policy.user_modifiable {
            return Err(SksError::new(
                ErrorCode::NotAllowed,
                "PIN is not user modifiable",
            ));
        }
        check_pin(policy, new_pin)?;
        let (policy_handle, grouping, retry_limit) =
            (policy.handle, policy.grouping, policy.retry_limit);
        let app_usage = k.app_usage;
        let group = self.db.pin_group(key);
        // Grouping may demand that the new PIN differ from other groups' PINs (spec 5.7). Each
        // such comparison is a guess at that group's PIN, so it is a counted attempt on it,
        // committed before the comparison, exactly like a verification (issue 9: otherwise the
        // answer is a free PIN oracle). A blocked PIN is never compared.
        let mut rivals: Vec<Vec<u32>> = Vec::new();
        for other in self.db.keys() {
            let must_differ = other.pin_policy == Some(policy_handle)
                && grouping.ties(other.app_usage, app_usage) == Some(false);
            if must_differ && !rivals.iter().flatten().any(|&h| h == other.handle) {
                rivals.push(self.db.pin_group(other.handle));
            }
        }
        if rivals
            .iter()
            .any(|g| g.iter().any(|&h| self.db.pin_errors(h) >= retry_limit))
        {
            return Err(authorization(
                "The PIN of another group of this policy is blocked; unlock it first",
            ));
        }
        if !rivals.is_empty() {
            for &h in rivals.iter().flatten() {
                self.db
                    .set_pin_errors(h, self.db.pin_errors(h).saturating_add(1));
            }
            self.commit()?;
        }
        let clash = rivals.iter().find(|g| {
            g.iter().any(|&h| {
                self.db
                    .key(h)
                    .and_then(|k| k.pin_value.as_ref())
                    .is_some_and(|v| bool::from(v.ct_eq(new_pin)))
            })
        });
        if let Some(clash) = clash {
            // Equal to that group's PIN: a correct guess, which resets its counter.
            for &h in clash {
                self.db.set_pin_errors(h, 0);
            }
            self.commit()?;
            return Err(option("Grouping requires different PINs"));
        }
        for h in group {
            if let Some(member) = self.db.key_mut(h) {
                member.pin_value = Some(crate::db::Secret::new(new_pin.to_vec()));
            }
            if reset_errors {
                self.db.set_pin_errors(h, 0);
            }
        }
        self.commit()
    }

    /// updateFirmware [90]: not supported by this card (updateUrl is empty).
    pub(crate) fn update_firmware(
        &mut self,
        _a: UpdateFirmwareArgs,
    ) -> Result<UpdateFirmwareOutput, SksError> {
        Err(SksError::new(
            ErrorCode::NotAllowed,
            "Updates are not supported",
        ))
    }
}

/// Replaces the value of property `name` in a property bag blob (spec-notes §4.14, §4.20),
/// with the shared codec (`apdu_spec::property_bag`).
fn rewrite_property(blob: &[u8], name: &[u8], value: &[u8]) -> Result<Vec<u8>, SksError> {
    use apdu_spec::property_bag::{rewrite, BagError};
    rewrite(blob, name, value).map_err(|e| match e {
        BagError::ValueTooLong => option("Property value too long"),
        BagError::ReadOnly => SksError::new(ErrorCode::NotAllowed, "Property is read-only"),
        BagError::NoSuchProperty => option(format!(
            "No such property: {}",
            String::from_utf8_lossy(name)
        )),
        BagError::Malformed => {
            SksError::new(ErrorCode::Internal, "stored property bag is malformed")
        }
    })
}
