//! A token: one SKS card, its device information, its keys as objects, and the user PIN.
//!
//! # The user PIN (documented rule)
//!
//! SKS PINs belong to keys (through PIN policies); PKCS #11 has one user PIN per token. The
//! module maps them thus:
//!
//! * The *anchor* is the first key (in enumerateKeys order) that is PIN protected.
//! * The *user-PIN group* is the anchor and every PIN-protected key that shares its PIN: same
//!   provisioning session, same PIN policy settings and a grouping that makes the PIN common
//!   (shared; or signature+standard with the same kind of appUsage), or created by this
//!   module's local issuer (C_GenerateKeyPair gives those keys the user PIN).
//! * PKCS #11 login keeps the PIN in the module for the login's lifetime (zeroized at
//!   C_Logout / last C_CloseSession). SKS's `enablePinCaching` (which the card only accepts
//!   with inputMethod trusted-gui) is therefore not required: a PKCS #11 application is the
//!   PIN-entry program. Documented deviation, see README.md.
//! * C_Login(CKU_USER) asks the card whether the PIN is the anchor's (see
//!   [`crate::ops::check_pin`]): the card counts the attempt and answers; the module keeps the
//!   PIN (zeroized on logout) only when the card said it is right.
//! * Other PIN-protected keys have CKA_ALWAYS_AUTHENTICATE: the application logs in with
//!   CKU_CONTEXT_SPECIFIC after each C_*Init, and the card checks that PIN during the operation.
//! * The token flags report the anchor's PIN error counter: CKF_USER_PIN_COUNT_LOW after a
//!   wrong PIN, CKF_USER_PIN_FINAL_TRY when one attempt is left, CKF_USER_PIN_LOCKED when
//!   blocked.

use crate::backend::Card;
use crate::ffi::Rv;
use crate::keys::KeyInfo;
use crate::object::{Kind, Object};
use crate::ops::card_error;
use apdu_spec::methods::*;
use apdu_spec::values::{AppUsage, Grouping, ProtectionFlag};
use cryptoki_sys::*;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use zeroize::Zeroizing;

/// The issuer URI of the sessions this module's local issuer runs (C_GenerateKeyPair).
pub const LOCAL_ISSUER_URI: &str = "https://localhost/sks-pkcs11/local-issuer";

/// A card that answered the SKS SELECT.
pub struct Token {
    /// The connection.
    pub card: Card,
    /// getDeviceInfo.
    pub info: DeviceInfo,
    /// 16 hex digits of SHA-256(device certificate).
    pub serial: String,
    /// The keys, in enumeration order.
    pub keys: Vec<KeyInfo>,
    /// Token objects (from the keys) and session objects (derived secrets).
    pub objects: Vec<Object>,
    /// SKS handles of the user-PIN group.
    pub user_group: HashSet<u32>,
    /// The user PIN, once the card has confirmed it.
    pub user_pin: Option<Zeroizing<Vec<u8>>>,
    /// The SO PIN (the anchor's PUK), once the card has confirmed it.
    pub so_pin: Option<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("serial", &self.serial)
            .field("keys", &self.keys.len())
            .field("logged_in", &self.user_pin.is_some())
            .finish_non_exhaustive()
    }
}

impl Token {
    /// The algorithm URIs the card lists in getDeviceInfo.
    pub fn supported_algorithms(&self) -> Vec<String> {
        self.info
            .supported_algorithms
            .iter()
            .map(|u| u.as_str().to_owned())
            .collect()
    }

    /// Reads the device information and the keys.
    pub fn open(mut card: Card) -> Rv<Self> {
        let info = card
            .get_device_info()
            .map_err(|e| card_error(&e, CKR_DEVICE_ERROR))?;
        let serial = info
            .certificates
            .first()
            .map(|c| hex_upper(&Sha256::digest(&c.0)[..8]))
            .unwrap_or_else(|| "0000000000000000".into());
        let mut t = Token {
            card,
            info,
            serial,
            keys: Vec::new(),
            objects: Vec::new(),
            user_group: HashSet::new(),
            user_pin: None,
            so_pin: None,
        };
        t.refresh()?;
        Ok(t)
    }

    /// Re-reads the keys from the card and rebuilds the token objects (session objects stay).
    pub fn refresh(&mut self) -> Rv {
        let err = |e: pcsc_bridge::Error| card_error(&e, CKR_DEVICE_ERROR);
        let mut local = HashSet::new();
        let mut handle = 0;
        loop {
            let out = self
                .card
                .enumerate_provisioning_sessions(&EnumerateProvisioningSessionsArgs {
                    provisioning_handle: handle,
                    provisioning_state: false,
                })
                .map_err(err)?;
            let Some((h, s)) = out.session else { break };
            if s.issuer_uri.as_str() == LOCAL_ISSUER_URI {
                local.insert(h.get());
            }
            handle = h.get();
        }
        let mut keys = Vec::new();
        let mut handle = 0;
        loop {
            let out = self
                .card
                .enumerate_keys(&EnumerateKeysArgs { key_handle: handle })
                .map_err(err)?;
            let Some((h, provisioning)) = out.key else {
                break;
            };
            handle = h.get();
            let attrs = self
                .card
                .get_key_attributes(&GetKeyAttributesArgs { key_handle: handle })
                .map_err(err)?;
            let protection = self
                .card
                .get_key_protection_info(&GetKeyProtectionInfoArgs { key_handle: handle })
                .map_err(err)?;
            let is_local = local.contains(&provisioning);
            if let Some(k) = KeyInfo::new(handle, provisioning, attrs, protection, is_local) {
                keys.push(k);
            }
        }
        self.keys = keys;
        self.user_group = user_group(&self.keys);
        self.objects.retain(|o| o.kind == Kind::Derived);
        let mut objects = Vec::new();
        for k in &self.keys {
            let always = k.pin_protected() && !self.user_group.contains(&k.handle);
            let mut objs = k.objects(always);
            if k.pin_protected() && !self.user_group.contains(&k.handle) {
                // Keys outside the user-PIN group are usable without C_Login (each use
                // authenticates), so their objects are not private.
                for o in &mut objs {
                    if let Some(v) = o.attrs.iter_mut().find(|(t, _)| *t == CKA_PRIVATE) {
                        v.1 = crate::object::bool_attr(false);
                    }
                }
            }
            objects.extend(objs);
        }
        self.objects.extend(objects);
        Ok(())
    }

    /// The anchor of the user-PIN group.
    pub fn anchor(&self) -> Option<&KeyInfo> {
        self.keys
            .iter()
            .find(|k| self.user_group.contains(&k.handle))
    }

    /// The key with SKS handle `h`.
    pub fn key(&self, h: u32) -> Option<&KeyInfo> {
        self.keys.iter().find(|k| k.handle == h)
    }

    /// The object with handle `h`.
    pub fn object(&self, h: CK_OBJECT_HANDLE) -> Option<&Object> {
        self.objects.iter().find(|o| o.handle == h)
    }

    /// Whether the key belongs to the user-PIN group.
    pub fn in_user_group(&self, key: &KeyInfo) -> bool {
        self.user_group.contains(&key.handle)
    }

    /// The PIN that goes with a use of `key`: empty for keys without PIN, the user PIN for the
    /// user-PIN group, the context-specific PIN for the others.
    pub fn pin_for(&self, key: &KeyInfo, context: Option<&[u8]>) -> Rv<Zeroizing<Vec<u8>>> {
        if !key.pin_protected() {
            return Ok(Zeroizing::new(Vec::new()));
        }
        if let Some(p) = context {
            return Ok(Zeroizing::new(p.to_vec()));
        }
        if self.in_user_group(key) {
            if let Some(p) = &self.user_pin {
                return Ok(p.clone());
            }
        }
        Err(CKR_USER_NOT_LOGGED_IN)
    }

    /// Re-reads the anchor's protection status (PIN counters) from the card.
    pub fn refresh_pin_state(&mut self) {
        let Some(h) = self.anchor().map(|k| k.handle) else {
            return;
        };
        if let Ok(p) = self
            .card
            .get_key_protection_info(&GetKeyProtectionInfoArgs { key_handle: h })
        {
            if let Some(k) = self.keys.iter_mut().find(|k| k.handle == h) {
                k.protection = p;
            }
        }
    }

    /// CK_TOKEN_INFO flags.
    pub fn flags(&self) -> CK_FLAGS {
        let mut f = CKF_TOKEN_INITIALIZED;
        if let Some(k) = self.anchor() {
            f |= CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED;
            let p = &k.protection;
            let left = p.retry_limit.saturating_sub(p.pin_error_count);
            if k.status().contains(ProtectionFlag::PinBlocked) || left == 0 {
                f |= CKF_USER_PIN_LOCKED;
            } else {
                if p.pin_error_count > 0 {
                    f |= CKF_USER_PIN_COUNT_LOW;
                }
                if left == 1 {
                    f |= CKF_USER_PIN_FINAL_TRY;
                }
            }
        }
        f
    }

    /// (min, max) PIN length of the user PIN.
    pub fn pin_lengths(&self) -> (CK_ULONG, CK_ULONG) {
        match self.anchor() {
            Some(k) => (
                CK_ULONG::from(k.protection.min_length),
                CK_ULONG::from(k.protection.max_length),
            ),
            None => (4, 128),
        }
    }
}

/// The user-PIN group (see the module documentation).
fn user_group(keys: &[KeyInfo]) -> HashSet<u32> {
    let caching = |k: &&KeyInfo| k.pin_protected();
    let Some(anchor) = keys.iter().find(caching) else {
        return HashSet::new();
    };
    let same_policy = |k: &KeyInfo| {
        let (a, b) = (&anchor.protection, &k.protection);
        k.provisioning == anchor.provisioning
            && a.format == b.format
            && a.retry_limit == b.retry_limit
            && a.grouping == b.grouping
            && a.pattern_restrictions == b.pattern_restrictions
            && a.min_length == b.min_length
            && a.max_length == b.max_length
            && a.input_method == b.input_method
            && a.user_modifiable == b.user_modifiable
    };
    // Grouping (createPinPolicy): shared = one PIN for the policy's keys; signature+standard =
    // one PIN for its signature keys and one for the others; none / unique = a PIN per key.
    let signature = |k: &KeyInfo| k.attrs.app_usage == u8::from(AppUsage::Signature);
    let shares_pin = |k: &KeyInfo| {
        k.handle == anchor.handle
            || match Grouping::try_from(anchor.protection.grouping) {
                Ok(Grouping::Shared) => true,
                Ok(Grouping::SignaturePlusStandard) => signature(k) == signature(anchor),
                _ => false,
            }
    };
    keys.iter()
        .filter(caching)
        .filter(|k| (same_policy(k) && shares_pin(k)) || k.local)
        .map(|k| k.handle)
        .collect()
}

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}
