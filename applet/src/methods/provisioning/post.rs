//! Post-provisioning operations: postDeleteKey [50], postUnlockKey [51], postUpdateKey [52],
//! postCloneKeyProtection [53] (spec 7.4, 6.4 Target Key Reference; spec-notes §3.7,
//! §4.15-4.16). They are checked and queued here, and carried out by closeProvisioningSession.

use super::key::no_key;
use super::session::verify_kmk_signature;
use crate::crypto::{hmac_sha256, PublicKey};
use crate::db::PostOp;
use crate::error::option;
use crate::methods::provisioning::security::MacData;
use crate::state::SksApplet;
use crate::store::Store;
use apdu_spec::values::Grouping;
use apdu_spec::{
    ErrorCode, Mac, PostCloneKeyProtectionArgs, PostDeleteKeyArgs, PostUnlockKeyArgs,
    PostUpdateKeyArgs, SksError,
};

/// The four kinds, for the shared checks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Delete,
    Unlock,
    Update,
    Clone,
}

impl Op {
    fn method(self) -> &'static str {
        match self {
            Op::Delete => "postDeleteKey",
            Op::Unlock => "postUnlockKey",
            Op::Update => "postUpdateKey",
            Op::Clone => "postCloneKeyProtection",
        }
    }
}

impl<S: Store> SksApplet<S> {
    pub(crate) fn post_delete_key(&mut self, a: PostDeleteKeyArgs) -> Result<(), SksError> {
        let session = self.open_session(a.provisioning_handle)?.handle;
        self.post_op(
            session,
            Op::Delete,
            None,
            a.target_key_handle,
            &a.authorization,
            &a.mac,
        )
    }

    pub(crate) fn post_unlock_key(&mut self, a: PostUnlockKeyArgs) -> Result<(), SksError> {
        let session = self.open_session(a.provisioning_handle)?.handle;
        self.post_op(
            session,
            Op::Unlock,
            None,
            a.target_key_handle,
            &a.authorization,
            &a.mac,
        )
    }

    pub(crate) fn post_update_key(&mut self, a: PostUpdateKeyArgs) -> Result<(), SksError> {
        let session = self.open_key_session(a.key_handle)?;
        self.post_op(
            session,
            Op::Update,
            Some(a.key_handle),
            a.target_key_handle,
            &a.authorization,
            &a.mac,
        )
    }

    pub(crate) fn post_clone_key_protection(
        &mut self,
        a: PostCloneKeyProtectionArgs,
    ) -> Result<(), SksError> {
        let session = self.open_key_session(a.key_handle)?;
        self.post_op(
            session,
            Op::Clone,
            Some(a.key_handle),
            a.target_key_handle,
            &a.authorization,
            &a.mac,
        )
    }

    /// The common path of the four post-operations, in the ref's order: target checks, privacy
    /// check, MAC, Target Key Reference, queueing rules.
    fn post_op(
        &mut self,
        session: u32,
        op: Op,
        new_key: Option<u32>,
        target: u32,
        authorization: &[u8],
        mac: &Mac,
    ) -> Result<(), SksError> {
        self.provisioning_step(session, |card| {
            let kmk = card.check_post_target(target)?;
            let t = card.db.key(target).ok_or_else(|| no_key(target))?;
            let target_pin = t.pin_policy.and_then(|h| card.db.pin(h));
            match op {
                Op::Unlock if target_pin.is_none() => {
                    return Err(option(format!("Key {target} is not PIN protected")));
                }
                Op::Clone if target_pin.is_some_and(|p| p.grouping != Grouping::Shared) => {
                    return Err(option("Cloned key protection must have PIN grouping shared"));
                }
                _ => {}
            }
            let mut data = MacData::new();
            if let Some(new) = new_key {
                let nk = card.db.key(new).ok_or_else(|| no_key(new))?;
                if nk.pin_policy.is_some() || nk.device_pin {
                    return Err(option("Updated/cloned keys must not define PIN protection"));
                }
                if op == Op::Update && nk.app_usage != t.app_usage {
                    return Err(option("Updated keys must have the same appUsage as the target"));
                }
                let ee = nk.end_entity_certificate().ok_or_else(|| option("Missing setCertificatePath"))?;
                data = data.arr(ee);
            }
            let data = data.arr(authorization).finish()?;
            let target_cert = t.end_entity_certificate().unwrap_or_default().to_vec();
            let target_session = t.session;
            let owner_privacy = card.db.session(target_session).map(|s| s.privacy_enabled);
            let device_certificate = card.device.device_certificate().to_vec();

            let s = card.session_mut(session)?;
            if owner_privacy != Some(s.privacy_enabled) {
                return Err(option("Inconsistent use of the privacyEnabled attribute"));
            }
            s.verify_mac(op.method(), &data, mac)?;
            // Target Key Reference (spec 6.4): HMAC(sessionKey ‖ DeviceID, EE certificate).
            s.use_session_key()?;
            let key = crate::secret::Secret::new(
                [s.session_key.as_slice(), s.device_id(&device_certificate)].concat(),
            );
            let reference = hmac_sha256(&key, &[&target_cert]);
            let signed = [b"TargetKeyReference".as_slice(), &reference].concat();
            verify_kmk_signature(&kmk, &signed, authorization)?;

            let queued = &s.post_ops;
            let on_target: Vec<&PostOp> = queued.iter().filter(|p| p.target() == target).collect();
            if op == Op::Delete && !on_target.is_empty() || on_target.iter().any(|p| matches!(p, PostOp::Delete { .. })) {
                return Err(option("Delete wasn't exclusive"));
            }
            if op == Op::Unlock && on_target.iter().any(|p| matches!(p, PostOp::Unlock { .. })) {
                return Err(option("Multiple unlocks"));
            }
            if op == Op::Update && on_target.iter().any(|p| matches!(p, PostOp::Update { .. })) {
                return Err(option("Multiple updates"));
            }
            if let Some(new) = new_key {
                let reused = queued.iter().any(|p| {
                    matches!(p, PostOp::Update { new_key, .. } | PostOp::Clone { new_key, .. } if *new_key == new)
                });
                if reused {
                    return Err(option("New key used for multiple operations"));
                }
            }
            s.post_ops.push(match (op, new_key) {
                (Op::Delete, _) => PostOp::Delete { target },
                (Op::Unlock, _) => PostOp::Unlock { target },
                (Op::Update, Some(new_key)) => PostOp::Update { target, new_key },
                (Op::Clone, Some(new_key)) => PostOp::Clone { target, new_key },
                _ => return Err(SksError::new(ErrorCode::Internal, "post-operation without new key")),
            });
            Ok(())
        })
    }

    /// A post-operation target must exist, belong to a closed session, and that session must
    /// have a key management key, which is returned (spec 6.4).
    pub(crate) fn check_post_target(&self, target: u32) -> Result<PublicKey, SksError> {
        let t = self.db.key(target).ok_or_else(|| no_key(target))?;
        let owner = self.db.session(t.session).ok_or_else(|| no_key(target))?;
        if owner.open {
            return Err(option(format!("Key {target} still in provisioning")));
        }
        owner
            .key_management_key
            .as_deref()
            .and_then(PublicKey::from_spki)
            .ok_or_else(|| {
                option(format!(
                    "Key {target} belongs to a non-updatable provisioning session"
                ))
            })
    }
}
