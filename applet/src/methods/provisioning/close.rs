//! closeProvisioningSession [3] (spec 7.4, 2.5; spec-notes §4.3): every check first, then the
//! deferred post-operations, the ownership take-over and the close, all committed in one store
//! transaction by `provisioning_step`. Any failure tears the session down and changes nothing
//! else.

use crate::crypto::algorithm::{self, Class};
use crate::crypto::{certificate_public_key, is_key_pair, PrivateKey, PublicKey};
use crate::db::{Db, KeyEntry, PostOp};
use crate::error::{option, Error};
use crate::methods::provisioning::security::MacData;
use crate::platform::CardRng;
use crate::state::SksApplet;
use crate::store::Store;
use apdu_spec::algorithms::special::NONE;
use apdu_spec::{CloseProvisioningSessionArgs, CloseProvisioningSessionOutput, SksError};

impl<S: Store> SksApplet<S> {
    pub(crate) fn close_provisioning_session(
        &mut self,
        a: CloseProvisioningSessionArgs,
    ) -> Result<CloseProvisioningSessionOutput, SksError> {
        let session = self.open_session(a.provisioning_handle)?.handle;
        self.provisioning_step(session, |card| card.close_in(session, &a))
    }

    fn close_in(
        &mut self,
        session: u32,
        a: &CloseProvisioningSessionArgs,
    ) -> Result<CloseProvisioningSessionOutput, SksError> {
        if !(1..=32).contains(&a.nonce.len()) {
            return Err(option("nonce must be 1-32 bytes"));
        }
        let s = self.session_mut(session)?;
        let data = MacData::new()
            .str(&s.client_session_id)
            .str(&s.server_session_id)
            .str(&s.issuer_uri)
            .arr(&a.nonce)
            .finish()?;
        s.verify_mac("closeProvisioningSession", &data, &a.mac)?;
        // Computed before the commit so the sessionKeyLimit is checked first.
        let attestation = s.attest(&MacData::new().arr(&a.nonce).finish()?)?;
        let ids = s.ids.clone();
        let post_ops = s.post_ops.clone();

        self.check_references(session, &ids)?;
        let replaced: Vec<u32> = post_ops
            .iter()
            .filter(|op| matches!(op, PostOp::Update { .. } | PostOp::Delete { .. }))
            .map(PostOp::target)
            .collect();
        let own: Vec<u32> = self
            .db
            .keys()
            .filter(|k| k.session == session)
            .map(|k| k.handle)
            .collect();
        for handle in own {
            let key = self
                .db
                .key(handle)
                .ok_or_else(|| super::key::no_key(handle))?;
            Self::check_key_complete(&self.db, key, &replaced, &mut self.rng)?;
        }
        // The targets must still be valid (e.g. not deleted by deleteKey since the call).
        let mut owners = Vec::new();
        for op in &post_ops {
            self.check_post_target(op.target())?;
            owners.extend(self.db.key(op.target()).map(|k| k.session));
        }

        for op in &post_ops {
            self.apply_post_op(session, op);
        }
        for old in owners {
            self.take_over(session, old);
        }
        // Updated keys change what a handle means: drop every parsed key.
        self.key_cache.clear();
        if self.db.keys().any(|k| k.session == session) {
            let s = self.session_mut(session)?;
            s.open = false;
            s.post_ops.clear();
            self.db.set_session_deadline(session, None);
        } else {
            self.db.remove_session_and_objects(session);
        }
        Ok(CloseProvisioningSessionOutput { attestation })
    }

    /// No PIN or PUK policy of the session may be unreferenced; ids in creation order.
    fn check_references(&self, session: u32, ids: &[String]) -> Result<(), SksError> {
        for id in ids {
            let pin = self
                .db
                .pins()
                .find(|p| p.session == session && &p.id == id)
                .map(|p| p.referenced);
            let puk = self
                .db
                .puks()
                .find(|p| p.session == session && &p.id == id)
                .map(|p| p.referenced);
            if pin == Some(false) || puk == Some(false) {
                return Err(option(format!("Unreferenced object \"id\" : {id}")));
            }
        }
        Ok(())
    }

    /// A key of the closing session must be fully provisioned (spec 7.4
    /// closeProvisioningSession conditions): certificate, key-pair match, no duplicate EE
    /// certificate in the whole card except for keys this session updates or deletes, endorsed
    /// algorithms that fit.
    fn check_key_complete(
        db: &Db,
        key: &KeyEntry,
        replaced: &[u32],
        rng: &mut CardRng,
    ) -> Result<(), SksError> {
        let ee = key
            .end_entity_certificate()
            .ok_or_else(|| option(format!("Missing setCertificatePath for key {}", key.id)))?;
        let public = certificate_public_key(ee)
            .ok_or_else(|| option("Unsupported end-entity certificate"))?;
        let private = PrivateKey::from_pkcs8(&key.private_key)
            .map_err(|e| SksError::from(Error::StoredKey(e)))?;
        if private.is_rsa() != public.is_rsa() {
            return Err(option(format!("RSA/EC mixup for key {}", key.id)));
        }
        if !is_key_pair(&private, &public, rng) {
            return Err(option(format!(
                "Public/private key mismatch for key {}",
                key.id
            )));
        }
        let duplicate = db.keys().any(|k| {
            k.handle != key.handle
                && !replaced.contains(&k.handle)
                && k.end_entity_certificate() == Some(ee)
        });
        if duplicate {
            return Err(option(format!("Duplicate certificate for key {}", key.id)));
        }
        for uri in key
            .endorsed_algorithms
            .iter()
            .filter(|u| u.as_str() != NONE)
        {
            check_endorsed_fits(key, &public, uri)?;
        }
        Ok(())
    }

    /// Carries out one queued post-operation (spec-notes §4.3 step 7).
    fn apply_post_op(&mut self, session: u32, op: &PostOp) {
        match *op {
            PostOp::Delete { target } => self.db.delete_key(target),
            PostOp::Unlock { target } => self.reset_pin_errors(target, true),
            PostOp::Update { target, new_key } | PostOp::Clone { target, new_key } => {
                let Some(t) = self.db.key(target) else { return };
                let inherited = (t.pin_policy, t.pin_value.clone(), t.device_pin);
                let inherited_errors = self.db.pin_errors(target);
                let update = matches!(op, PostOp::Update { .. });
                let Some(mut new) = (if update {
                    self.db.remove_key(new_key)
                } else {
                    self.db.key(new_key).cloned()
                }) else {
                    return;
                };
                (new.pin_policy, new.pin_value, new.device_pin) = inherited;
                new.session = session;
                if update {
                    // The new key takes over the target's handle and position.
                    new.handle = target;
                    self.db.remove_key(target);
                    self.db.set_pin_errors(new_key, 0);
                }
                self.db.set_pin_errors(new.handle, inherited_errors);
                self.db.insert_key(new);
            }
        }
    }

    /// Takes over session `old` (spec-notes §4.3 step 8).
    fn take_over(&mut self, session: u32, old: u32) {
        if old != session && self.db.session(old).is_some() {
            self.db.reassign_session(old, session);
        }
    }
}

/// An endorsed algorithm must fit the key material (spec-notes §4.3 step 5.5).
fn check_endorsed_fits(key: &KeyEntry, public: &PublicKey, uri: &str) -> Result<(), SksError> {
    let class = algorithm::lookup(uri)
        .map(|a| a.class)
        .unwrap_or(Class::Special);
    match &key.symmetric_key {
        Some(secret) => match class {
            Class::Hmac(_) => Ok(()),
            Class::Aes { key_len, .. } => {
                let fits = match key_len {
                    Some(n) => secret.len() == n,
                    None => matches!(secret.len(), 16 | 24 | 32),
                };
                if fits {
                    Ok(())
                } else {
                    Err(option(format!(
                        "Key {} has wrong size ({}) for algorithm: {uri}",
                        key.id,
                        secret.len()
                    )))
                }
            }
            _ => Err(option(format!(
                "Symmetric key {} does not match algorithm: {uri}",
                key.id
            ))),
        },
        None => {
            if class.is_asymmetric() && class.is_rsa() == public.is_rsa() {
                Ok(())
            } else {
                let kind = if public.is_rsa() { "RSA" } else { "EC" };
                Err(option(format!(
                    "{kind} key {} does not match algorithm: {uri}",
                    key.id
                )))
            }
        }
    }
}
