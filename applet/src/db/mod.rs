//! The credential database (spec 2.1, 3): provisioning sessions, PIN and PUK policy objects and
//! key entries, decoded in RAM and persisted one record per object through the store.
//!
//! Handlers change objects through the `*_mut` accessors, which mark them dirty; [`Db::save`]
//! then writes every dirty object in ONE store transaction. If the store refuses, the dirty
//! objects are re-read from the store (which still holds the previous state), so RAM and store
//! never disagree and a failed call leaves the card as it was.

use crate::error::{Error, RecordError};
use crate::store::{Kind, RecordKey, Store, Write};
use apdu_spec::values::{
    AppUsage, BiometricProtection, DeleteProtection, ExportProtection, ExtensionSubType, Grouping,
    InputMethod, KeyBackup, PatternRestrictions, PinFormat,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub use crate::secret::Secret;

/// A deferred post-provisioning operation (spec 2.5, 7.4 post*), applied at close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PostOp {
    Delete { target: u32 },
    Unlock { target: u32 },
    Update { target: u32, new_key: u32 },
    Clone { target: u32, new_key: u32 },
}

impl PostOp {
    pub fn target(&self) -> u32 {
        match *self {
            PostOp::Delete { target }
            | PostOp::Unlock { target }
            | PostOp::Update { target, .. }
            | PostOp::Clone { target, .. } => target,
        }
    }
}

/// A provisioning session object (spec 3.3, 7.4 createProvisioningSession).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub handle: u32,
    pub open: bool,
    pub session_key: Secret,
    pub privacy_enabled: bool,
    pub client_session_id: String,
    pub server_session_id: String,
    pub issuer_uri: String,
    /// Canonical SPKI of the key management key, if any.
    pub key_management_key: Option<Vec<u8>>,
    pub client_time: u32,
    pub session_life_time: u16,
    /// sessionKey operations still allowed (spec-notes §3.4).
    pub key_limit: u16,
    /// The shared MAC sequence counter (spec 6.2, spec-notes §3.3).
    pub mac_counter: u16,
    /// Object ids of this session in creation order: one namespace for keys, PINs and PUKs.
    pub ids: Vec<String>,
    /// Queued post-operations in call order.
    pub post_ops: Vec<PostOp>,
}

/// A PUK policy object (spec 3.2, 7.4 createPukPolicy).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PukPolicy {
    pub handle: u32,
    pub session: u32,
    pub id: String,
    pub value: Secret,
    #[serde(with = "as_byte")]
    pub format: PinFormat,
    pub retry_limit: u16,
    pub error_count: u16,
    pub referenced: bool,
}

/// A PIN policy object (spec 3.2, 7.4 createPinPolicy).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PinPolicy {
    pub handle: u32,
    pub session: u32,
    pub id: String,
    /// Handle of the governing PUK policy.
    pub puk: Option<u32>,
    pub user_defined: bool,
    pub user_modifiable: bool,
    #[serde(with = "as_byte")]
    pub format: PinFormat,
    pub retry_limit: u16,
    #[serde(with = "as_byte")]
    pub grouping: Grouping,
    #[serde(with = "as_byte")]
    pub pattern_restrictions: PatternRestrictions,
    pub min_length: u16,
    pub max_length: u16,
    #[serde(with = "as_byte")]
    pub input_method: InputMethod,
    pub referenced: bool,
}

/// An extension object of a key (spec 7.4 addExtension).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub type_uri: String,
    #[serde(with = "as_byte")]
    pub sub_type: ExtensionSubType,
    pub qualifier: String,
    /// Plaintext (encrypted extensions are stored decrypted).
    pub data: Secret,
}

/// A key entry (spec 3.1).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyEntry {
    pub handle: u32,
    /// The owning provisioning session.
    pub session: u32,
    pub id: String,
    pub pin_policy: Option<u32>,
    pub pin_value: Option<Secret>,
    pub device_pin: bool,
    pub enable_pin_caching: bool,
    #[serde(with = "as_byte")]
    pub biometric_protection: BiometricProtection,
    #[serde(with = "as_byte")]
    pub export_protection: ExportProtection,
    #[serde(with = "as_byte")]
    pub delete_protection: DeleteProtection,
    #[serde(with = "as_byte")]
    pub app_usage: AppUsage,
    pub friendly_name: String,
    pub key_algorithm: String,
    pub endorsed_algorithms: Vec<String>,
    /// PKCS#8 of the generated or imported private key.
    pub private_key: Secret,
    /// Canonical SPKI of the generated key (kept for the setCertificatePath MAC).
    pub generated_public_key: Vec<u8>,
    pub certificates: Vec<Vec<u8>>,
    pub symmetric_key: Option<Secret>,
    #[serde(with = "as_byte")]
    pub key_backup: KeyBackup,
    pub extensions: Vec<Extension>,
}

impl KeyEntry {
    pub fn is_symmetric(&self) -> bool {
        self.symmetric_key.is_some()
    }

    pub fn end_entity_certificate(&self) -> Option<&[u8]> {
        self.certificates.first().map(Vec::as_slice)
    }
}

/// Handle counters: every handle kind has its own global counter starting at 1, never reused
/// (spec 7.4 "must be static, unique and never be reused", spec-notes §10).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counters {
    pub last_session: u32,
    pub last_key: u32,
    pub last_pin: u32,
    pub last_puk: u32,
}

const COUNTERS: RecordKey = RecordKey::new(Kind::Counters, 0);

/// The decoded credential database.
#[derive(Debug, Default)]
pub struct Db {
    sessions: BTreeMap<u32, Session>,
    keys: BTreeMap<u32, KeyEntry>,
    pins: BTreeMap<u32, PinPolicy>,
    puks: BTreeMap<u32, PukPolicy>,
    /// PIN error counters by key handle; absent means 0.
    pin_errors: BTreeMap<u32, u16>,
    /// Expiry of each open provisioning session: card-clock seconds since the epoch.
    deadlines: BTreeMap<u32, u64>,
    counters: Counters,
    dirty: BTreeSet<RecordKey>,
}

macro_rules! table_accessors {
    ($map:ident, $ty:ty, $kind:expr, $get:ident, $get_mut:ident, $insert:ident, $remove:ident) => {
        pub fn $get(&self, handle: u32) -> Option<&$ty> {
            self.$map.get(&handle)
        }

        pub fn $get_mut(&mut self, handle: u32) -> Option<&mut $ty> {
            let v = self.$map.get_mut(&handle)?;
            self.dirty.insert(RecordKey::new($kind, handle));
            Some(v)
        }

        pub fn $insert(&mut self, v: $ty) {
            self.dirty.insert(RecordKey::new($kind, v.handle));
            self.$map.insert(v.handle, v);
        }

        pub fn $remove(&mut self, handle: u32) -> Option<$ty> {
            self.dirty.insert(RecordKey::new($kind, handle));
            self.$map.remove(&handle)
        }
    };
}

impl Db {
    table_accessors!(
        sessions,
        Session,
        Kind::Session,
        session,
        session_mut,
        insert_session,
        remove_session
    );
    table_accessors!(
        keys,
        KeyEntry,
        Kind::Key,
        key,
        key_mut,
        insert_key,
        remove_key
    );
    table_accessors!(
        pins,
        PinPolicy,
        Kind::PinPolicy,
        pin,
        pin_mut,
        insert_pin,
        remove_pin
    );
    table_accessors!(
        puks,
        PukPolicy,
        Kind::PukPolicy,
        puk,
        puk_mut,
        insert_puk,
        remove_puk
    );

    /// Loads every object from the store.
    pub fn load<S: Store>(store: &S) -> Result<Self, RecordError> {
        let mut db = Db::default();
        for key in store.keys() {
            db.reload(store, key)?;
        }
        Ok(db)
    }

    /// Replaces the RAM copy of one record with the store's.
    fn reload<S: Store>(&mut self, store: &S, key: RecordKey) -> Result<(), RecordError> {
        let bytes = store.get(key);
        let id = key.id;
        let decoded = match key.kind {
            Kind::Session => put(&mut self.sessions, id, bytes),
            Kind::Key => put(&mut self.keys, id, bytes),
            Kind::PinPolicy => put(&mut self.pins, id, bytes),
            Kind::PukPolicy => put(&mut self.puks, id, bytes),
            Kind::Counters => bytes.map(decode).transpose().map(|c| {
                self.counters = c.unwrap_or_default();
            }),
            Kind::PinErrors => put(&mut self.pin_errors, id, bytes),
            Kind::SessionDeadline => put(&mut self.deadlines, id, bytes),
            Kind::DeviceIdentity => Ok(()),
        };
        decoded.map_err(|source| RecordError {
            key,
            encoding: false,
            source,
        })
    }

    /// Writes every object changed since the last save in one transaction
    /// ([`Store::commit_reserving`]). On failure the changed objects are restored from the store
    /// and nothing has changed. Called by `SksApplet::commit` only (module `txn`).
    pub fn save<S: Store>(&mut self, store: &mut S, reserve: usize) -> Result<(), Error> {
        let dirty = std::mem::take(&mut self.dirty);
        if dirty.is_empty() {
            return Ok(());
        }
        let writes: Result<Vec<Write>, Error> = dirty
            .iter()
            .map(|&k| self.write_for(k).map_err(Error::from))
            .collect();
        let result =
            writes.and_then(|writes| store.commit_reserving(writes, reserve).map_err(Error::from));
        if result.is_err() {
            for &k in &dirty {
                // The store holds exactly what was loaded or saved before; re-reading it cannot
                // fail for records this card wrote itself.
                if let Err(e) = self.reload(store, k) {
                    log::error!("cannot restore {k:?} after a failed commit: {e}");
                }
            }
        }
        result
    }

    /// Forgets unsaved changes (the store keeps the last saved state).
    pub fn discard<S: Store>(&mut self, store: &S) {
        for k in std::mem::take(&mut self.dirty) {
            if let Err(e) = self.reload(store, k) {
                log::error!("cannot restore {k:?}: {e}");
            }
        }
    }

    fn write_for(&self, key: RecordKey) -> Result<Write, RecordError> {
        let id = key.id;
        let bytes = match key.kind {
            Kind::Session => self.sessions.get(&id).map(encode),
            Kind::Key => self.keys.get(&id).map(encode),
            Kind::PinPolicy => self.pins.get(&id).map(encode),
            Kind::PukPolicy => self.puks.get(&id).map(encode),
            Kind::Counters => Some(encode(&self.counters)),
            Kind::PinErrors => self.pin_errors.get(&id).map(encode),
            Kind::SessionDeadline => self.deadlines.get(&id).map(encode),
            Kind::DeviceIdentity => None,
        };
        let bytes = bytes.transpose().map_err(|source| RecordError {
            key,
            encoding: true,
            source,
        })?;
        Ok(match bytes {
            Some(b) => Write::Put(key, b.to_vec()),
            None => Write::Delete(key),
        })
    }

    /// A key's PIN error counter.
    pub fn pin_errors(&self, key: u32) -> u16 {
        self.pin_errors.get(&key).copied().unwrap_or(0)
    }

    /// Sets a key's PIN error counter (0 removes its record).
    pub fn set_pin_errors(&mut self, key: u32, count: u16) {
        if self.pin_errors(key) == count {
            return;
        }
        self.dirty.insert(RecordKey::new(Kind::PinErrors, key));
        if count == 0 {
            self.pin_errors.remove(&key);
        } else {
            self.pin_errors.insert(key, count);
        }
    }

    /// Sets (or, with `None`, removes) the expiry of open session `handle`.
    pub fn set_session_deadline(&mut self, handle: u32, deadline: Option<u64>) {
        if self.deadlines.get(&handle).copied() == deadline {
            return;
        }
        self.dirty
            .insert(RecordKey::new(Kind::SessionDeadline, handle));
        match deadline {
            Some(t) => self.deadlines.insert(handle, t),
            None => self.deadlines.remove(&handle),
        };
    }

    /// Open sessions whose deadline is at or before `now`.
    pub fn expired_sessions(&self, now: u64) -> Vec<u32> {
        self.deadlines
            .iter()
            .filter(|&(_, &t)| t <= now)
            .map(|(&h, _)| h)
            .collect()
    }

    /// Open sessions without a deadline (written before deadlines existed).
    pub fn undated_sessions(&self) -> Vec<(u32, u16)> {
        self.sessions
            .values()
            .filter(|s| s.open && !self.deadlines.contains_key(&s.handle))
            .map(|s| (s.handle, s.session_life_time))
            .collect()
    }

    /// How many provisioning sessions are open.
    pub fn open_sessions(&self) -> usize {
        self.sessions.values().filter(|s| s.open).count()
    }

    /// Takes the next handle of a kind (persisted with the next save).
    pub fn next_handle(&mut self, kind: Kind) -> u32 {
        self.dirty.insert(COUNTERS);
        let c = &mut self.counters;
        let slot = match kind {
            Kind::Session => &mut c.last_session,
            Kind::Key => &mut c.last_key,
            Kind::PinPolicy => &mut c.last_pin,
            _ => &mut c.last_puk,
        };
        *slot += 1;
        *slot
    }

    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    /// Key entries in handle (creation) order.
    pub fn keys(&self) -> impl Iterator<Item = &KeyEntry> {
        self.keys.values()
    }

    pub fn pins(&self) -> impl Iterator<Item = &PinPolicy> {
        self.pins.values()
    }

    pub fn puks(&self) -> impl Iterator<Item = &PukPolicy> {
        self.puks.values()
    }

    /// Removes a key, then its PIN policy when no key uses it any more, then that policy's PUK
    /// when no PIN policy uses it (spec 3.2: the set of keys "owns" its PIN and PUK objects).
    pub fn delete_key(&mut self, handle: u32) {
        let Some(key) = self.remove_key(handle) else {
            return;
        };
        let Some(pin) = key.pin_policy else { return };
        if self.keys.values().any(|k| k.pin_policy == Some(pin)) {
            return;
        }
        let puk = self.remove_pin(pin).and_then(|p| p.puk);
        if let Some(puk) = puk {
            if !self.pins.values().any(|p| p.puk == Some(puk)) {
                self.remove_puk(puk);
            }
        }
    }

    /// The keys that share key `handle`'s PIN value and error counter (spec 5.7,
    /// spec-notes §5.4): the key alone without grouping, else the keys of its policy that the
    /// grouping ties to it.
    pub fn pin_group(&self, handle: u32) -> Vec<u32> {
        let Some(key) = self.keys.get(&handle) else {
            return Vec::new();
        };
        let Some(policy) = key.pin_policy.and_then(|p| self.pins.get(&p)) else {
            return vec![handle];
        };
        self.keys
            .values()
            .filter(|k| {
                k.handle == handle
                    || (k.pin_policy == Some(policy.handle)
                        && policy.grouping.ties(k.app_usage, key.app_usage) == Some(true))
            })
            .map(|k| k.handle)
            .collect()
    }

    /// The handles of the keys, PIN and PUK policies session `handle` owns.
    fn objects_of(&self, handle: u32) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
        let keys = self
            .keys
            .values()
            .filter(|k| k.session == handle)
            .map(|k| k.handle)
            .collect();
        let pins = self
            .pins
            .values()
            .filter(|p| p.session == handle)
            .map(|p| p.handle)
            .collect();
        let puks = self
            .puks
            .values()
            .filter(|p| p.session == handle)
            .map(|p| p.handle)
            .collect();
        (keys, pins, puks)
    }

    /// Removes a session with every key, PIN and PUK object it owns.
    pub fn remove_session_and_objects(&mut self, handle: u32) {
        let (keys, pins, puks) = self.objects_of(handle);
        for h in keys {
            self.remove_key(h);
            self.set_pin_errors(h, 0);
        }
        pins.into_iter().for_each(|h| drop(self.remove_pin(h)));
        puks.into_iter().for_each(|h| drop(self.remove_puk(h)));
        self.remove_session(handle);
        self.set_session_deadline(handle, None);
    }

    /// Gives every key, PIN and PUK object of session `old` to session `new` and removes `old`
    /// (spec 7.4 closeProvisioningSession: "reassign provisioning session ownership").
    pub fn reassign_session(&mut self, old: u32, new: u32) {
        let (keys, pins, puks) = self.objects_of(old);
        for h in keys {
            if let Some(k) = self.key_mut(h) {
                k.session = new;
            }
        }
        for h in pins {
            if let Some(p) = self.pin_mut(h) {
                p.session = new;
            }
        }
        for h in puks {
            if let Some(p) = self.puk_mut(h) {
                p.session = new;
            }
        }
        self.remove_session(old);
    }
}

fn encode<T: Serialize>(v: &T) -> Result<Secret, postcard::Error> {
    postcard::to_allocvec(v).map(Secret::new)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}

fn put<T: DeserializeOwned>(
    map: &mut BTreeMap<u32, T>,
    id: u32,
    bytes: Option<&[u8]>,
) -> Result<(), postcard::Error> {
    match bytes {
        Some(b) => {
            map.insert(id, decode(b)?);
        }
        None => {
            map.remove(&id);
        }
    }
    Ok(())
}

/// The spec's values are stored as their bytes: records written before they were typed read
/// back unchanged, and a byte no handler would have accepted is a record that does not decode.
mod as_byte {
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Copy + Into<u8>, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8((*v).into())
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: TryFrom<u8, Error = apdu_spec::values::InvalidByte>,
        D: Deserializer<'de>,
    {
        T::try_from(u8::deserialize(d)?).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PIN policy record as written before the spec values were typed (plain bytes).
    #[derive(Serialize)]
    struct BytePinPolicy {
        handle: u32,
        session: u32,
        id: String,
        puk: Option<u32>,
        user_defined: bool,
        user_modifiable: bool,
        format: u8,
        retry_limit: u16,
        grouping: u8,
        pattern_restrictions: u8,
        min_length: u16,
        max_length: u16,
        input_method: u8,
        referenced: bool,
    }

    fn byte_policy(format: u8) -> Vec<u8> {
        postcard::to_allocvec(&BytePinPolicy {
            handle: 7,
            session: 2,
            id: "PIN".into(),
            puk: Some(3),
            user_defined: true,
            user_modifiable: false,
            format,
            retry_limit: 3,
            grouping: 2,
            pattern_restrictions: 0x11,
            min_length: 4,
            max_length: 8,
            input_method: 1,
            referenced: true,
        })
        .unwrap()
    }

    #[test]
    fn typed_spec_values_keep_the_record_format() {
        let old = byte_policy(1);
        let p: PinPolicy = decode(&old).unwrap();
        assert_eq!(p.format, PinFormat::Alphanumeric);
        assert_eq!(p.grouping, Grouping::SignaturePlusStandard);
        assert_eq!(u8::from(p.pattern_restrictions), 0x11);
        assert_eq!(p.input_method, InputMethod::Programmatic);
        assert_eq!(
            encode(&p).unwrap().to_vec(),
            old,
            "written back byte for byte"
        );
        assert!(
            decode::<PinPolicy>(&byte_policy(9)).is_err(),
            "a format byte no handler accepts is an undecodable record"
        );
    }
}
