//! Session life cycle: createProvisioningSession [2], enumerateProvisioningSessions [4],
//! abortProvisioningSession [5], updateKeyManagementKey [7].

use crate::crypto::algorithm::key_is_supported;
use crate::crypto::{hmac_sha256, PrivateKey, PublicKey};
use crate::db::{Secret, Session};
use crate::error::option;
use crate::methods::provisioning::security::MacData;
use crate::state::SksApplet;
use crate::store::{Kind, Store};
use apdu_spec::algorithms::special::SESSION_1;
use apdu_spec::{
    AbortProvisioningSessionArgs, Bytes, CreateProvisioningSessionArgs,
    CreateProvisioningSessionOutput, EnumerateProvisioningSessionsArgs,
    EnumerateProvisioningSessionsOutput, ErrorCode, Id, ProvisioningSessionInfo, SksError,
    UpdateKeyManagementKeyArgs, Uri,
};
use core::num::NonZeroU32;

/// Open provisioning sessions this card keeps at once. createProvisioningSession needs no
/// authorization, so without a cap anyone could fill the store with open sessions.
pub const MAX_OPEN_SESSIONS: usize = 16;
use rand_core::Rng;

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Parses a key management key: RSA of a supported size or EC on a supported curve
/// (spec 7.4 createProvisioningSession: "compatible with the SKS Algorithm Support").
fn parse_kmk(spki: &[u8]) -> Result<PublicKey, SksError> {
    PublicKey::from_spki(spki)
        .filter(key_is_supported)
        .ok_or_else(|| option("Unsupported keyManagementKey"))
}

/// Verifies a key-management signature: ERROR_CRYPTO when malformed, ERROR_OPTION when it does
/// not verify (spec-notes §3.7-3.8).
pub(crate) fn verify_kmk_signature(
    kmk: &PublicKey,
    data: &[u8],
    signature: &[u8],
) -> Result<(), SksError> {
    match kmk.verify_sha256(data, signature) {
        Ok(true) => Ok(()),
        Ok(false) => Err(option("Authorization signature did not verify")),
        Err(e) => Err(SksError::new(
            ErrorCode::Crypto,
            format!("Malformed authorization signature: {e}"),
        )),
    }
}

impl<S: Store> SksApplet<S> {
    /// createProvisioningSession [2] (spec 7.4, `#session.1`; spec-notes §4.2). Nothing exists
    /// before it succeeds, so failures tear nothing down.
    pub(crate) fn create_provisioning_session(
        &mut self,
        a: CreateProvisioningSessionArgs,
    ) -> Result<CreateProvisioningSessionOutput, SksError> {
        if a.session_key_algorithm.as_str() != SESSION_1 {
            return Err(option(format!(
                "Unknown sessionKeyAlgorithm: {}",
                a.session_key_algorithm
            )));
        }
        if a.issuer_uri.is_empty() {
            return Err(option("issuerUri must be 1-1000 bytes"));
        }
        let server_key = PublicKey::from_spki(&a.server_ephemeral_key)
            .filter(|k| k.curve().is_some())
            .ok_or_else(|| option("Unsupported EC key algorithm for: \"serverEphemeralKey\""))?;
        let kmk = if a.key_management_key.is_empty() {
            None
        } else {
            Some(parse_kmk(&a.key_management_key)?)
        };

        if self.db.open_sessions() >= MAX_OPEN_SESSIONS {
            return Err(SksError::new(
                ErrorCode::NotAllowed,
                format!(
                    "{MAX_OPEN_SESSIONS} provisioning sessions are open, the most this card \
                     keeps; close or abort one (expired ones are aborted automatically)"
                ),
            ));
        }
        let client_session_id = self.new_client_session_id();
        let curve = server_key
            .curve()
            .ok_or_else(|| option("serverEphemeralKey is not EC"))?;
        let ephemeral = PrivateKey::generate_ec(curve, &mut self.rng);
        let client_key = ephemeral.public().to_spki()?;
        let z = ephemeral.ecdh(&server_key).map_err(SksError::from)?;
        let device_id: &[u8] = if a.privacy_enabled {
            b"Anonymous"
        } else {
            self.device.device_certificate()
        };
        let kdf_data = MacData::new()
            .str(&client_session_id)
            .str(&a.server_session_id)
            .str(&a.issuer_uri)
            .arr(device_id)
            .finish()?;
        let session_key = Secret::new(hmac_sha256(&z, &[&kdf_data]).to_vec());
        let kmk_spki = kmk.as_ref().map(PublicKey::to_spki).transpose()?;
        let att_data = MacData::new()
            .str(&a.session_key_algorithm)
            .bool(a.privacy_enabled)
            .arr(&server_key.to_spki()?)
            .arr(&client_key)
            .arr(kmk_spki.as_deref().unwrap_or_default())
            .u32(a.client_time)
            .u16(a.session_life_time)
            .u16(a.session_key_limit)
            .arr(&a.server_certificate)
            .finish()?;
        let att_data = [kdf_data, att_data].concat();
        let attestation = if a.privacy_enabled {
            hmac_sha256(&session_key, &[&att_data]).to_vec()
        } else {
            let key = PrivateKey::ec(crate::crypto::EcKey::P256(
                self.device.attestation_key().clone(),
            ));
            key.sign_sha256(&att_data, &mut self.rng)
                .map_err(SksError::from)?
        };

        let handle = self.db.next_handle(Kind::Session);
        self.db.insert_session(Session {
            handle,
            open: true,
            session_key,
            privacy_enabled: a.privacy_enabled,
            client_session_id: client_session_id.clone(),
            server_session_id: a.server_session_id.to_string(),
            issuer_uri: a.issuer_uri.to_string(),
            key_management_key: kmk_spki,
            client_time: a.client_time,
            session_life_time: a.session_life_time,
            key_limit: a.session_key_limit,
            mac_counter: 0,
            ids: Vec::new(),
            post_ops: Vec::new(),
        });
        let now = self.clock.now().as_secs();
        self.db
            .set_session_deadline(handle, Some(now + u64::from(a.session_life_time)));
        self.commit()?;
        Ok(CreateProvisioningSessionOutput {
            client_session_id: Id::new(client_session_id).map_err(|e| option(e.to_string()))?,
            client_ephemeral_key: Bytes(client_key),
            attestation: Bytes(attestation),
            provisioning_handle: handle,
        })
    }

    /// 32 base64url characters, unique among this card's sessions (spec-notes §9).
    fn new_client_session_id(&mut self) -> String {
        loop {
            let mut raw = [0u8; 32];
            self.rng.fill_bytes(&mut raw);
            let id: String = raw
                .iter()
                .map(|b| char::from(BASE64URL[usize::from(b & 0x3F)]))
                .collect();
            if !self.db.sessions().any(|s| s.client_session_id == id) {
                return id;
            }
        }
    }

    /// enumerateProvisioningSessions [4] (spec 7.4, spec-notes §4.4): the next session after
    /// the input handle, in creation order, that is open (`true`) or closed (`false`).
    pub(crate) fn enumerate_provisioning_sessions(
        &self,
        a: EnumerateProvisioningSessionsArgs,
    ) -> Result<EnumerateProvisioningSessionsOutput, SksError> {
        if a.provisioning_handle != 0 && self.db.session(a.provisioning_handle).is_none() {
            return Ok(EnumerateProvisioningSessionsOutput::END);
        }
        let next = self
            .db
            .sessions()
            .find(|s| s.handle > a.provisioning_handle && s.open == a.provisioning_state);
        let Some(s) = next else {
            return Ok(EnumerateProvisioningSessionsOutput::END);
        };
        let bad = |e: apdu_spec::InvalidValue| SksError::new(ErrorCode::Internal, e.to_string());
        let info = ProvisioningSessionInfo {
            session_key_algorithm: Uri::new(SESSION_1).map_err(bad)?,
            privacy_enabled: s.privacy_enabled,
            key_management_key: Bytes(s.key_management_key.clone().unwrap_or_default()),
            client_time: s.client_time,
            session_life_time: u32::from(s.session_life_time),
            server_session_id: Id::new(s.server_session_id.clone()).map_err(bad)?,
            client_session_id: Id::new(s.client_session_id.clone()).map_err(bad)?,
            issuer_uri: Uri::new(s.issuer_uri.clone()).map_err(bad)?,
        };
        let handle = NonZeroU32::new(s.handle)
            .ok_or_else(|| SksError::new(ErrorCode::Internal, "handle 0"))?;
        Ok(EnumerateProvisioningSessionsOutput {
            session: Some((handle, info)),
        })
    }

    /// Aborts, in one transaction, every open session whose sessionLifeTime has run out on the
    /// card's clock (spec 7.4 createProvisioningSession: sessionLifeTime), so that abandoned
    /// sessions cannot pile up. Runs before every call and at start.
    /// Fails (and changes nothing) only when the store cannot commit.
    pub(crate) fn expire_sessions(&mut self) -> Result<(), SksError> {
        let now = self.clock.now().as_secs();
        let expired = self.db.expired_sessions(now);
        if expired.is_empty() {
            return Ok(());
        }
        for &h in &expired {
            self.db.remove_session_and_objects(h);
        }
        self.commit()?;
        log::info!("provisioning sessions {expired:?} expired: aborted");
        Ok(())
    }

    /// Dates the open sessions of an image written before deadlines existed: their
    /// sessionLifeTime counts from now.
    pub(crate) fn date_undated_sessions(&mut self) {
        let now = self.clock.now().as_secs();
        for (h, life) in self.db.undated_sessions() {
            self.db.set_session_deadline(h, Some(now + u64::from(life)));
        }
        self.commit_or_log("dating the open provisioning sessions");
    }

    /// abortProvisioningSession [5] (spec 7.4): removes an open session and everything created
    /// in it; no other session is affected.
    pub(crate) fn abort_provisioning_session(
        &mut self,
        a: AbortProvisioningSessionArgs,
    ) -> Result<(), SksError> {
        self.open_session(a.provisioning_handle)?;
        self.db.remove_session_and_objects(a.provisioning_handle);
        self.commit()
    }

    /// updateKeyManagementKey [7] (spec 7.4, spec-notes §3.8, §4.6): the old KMK signs
    /// "RollOverAuthorization" ‖ SPKI(new KMK). The session is closed, so nothing is torn down.
    pub(crate) fn update_key_management_key(
        &mut self,
        a: UpdateKeyManagementKeyArgs,
    ) -> Result<(), SksError> {
        let s = self
            .db
            .session(a.provisioning_handle)
            .ok_or_else(|| SksError::new(ErrorCode::NoSession, "No such provisioning session"))?;
        if s.open {
            return Err(SksError::new(ErrorCode::NotAllowed, "Session is open"));
        }
        let old = s
            .key_management_key
            .as_deref()
            .and_then(PublicKey::from_spki)
            .ok_or_else(|| SksError::new(ErrorCode::NotAllowed, "Session is not updatable"))?;
        let new = parse_kmk(&a.key_management_key)?.to_spki()?;
        let signed = [b"RollOverAuthorization".as_slice(), &new].concat();
        verify_kmk_signature(&old, &signed, &a.authorization)?;
        self.session_mut(a.provisioning_handle)?.key_management_key = Some(new);
        self.commit()
    }
}
