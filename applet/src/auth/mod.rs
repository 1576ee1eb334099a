//! Authorization of key use and management (spec 5.1-5.3, 5.7; spec-notes §5.4-5.6): PIN and
//! PUK verification with persistent error counters, and the biometric options.
//!
//! An attempt is counted BEFORE the value is compared and the count is committed to the store
//! before the card acts on the comparison: a power cut at any point can never give a free
//! guess. A correct value then resets the counter with a second commit.

pub mod pin_rules;

use crate::error::option;
use crate::state::SksApplet;
use crate::store::Store;
use apdu_spec::values::{BiometricProtection as Biometric, DeleteProtection, ExportProtection};
use apdu_spec::{ErrorCode, SksError};
use std::time::Duration;
use subtle::ConstantTimeEq;

/// Delay before every check of a PUK without retry limit (spec 5: 1-10 s; the ref uses 1 s).
pub const PUK_DELAY: Duration = Duration::from_secs(1);

pub(crate) fn authorization(msg: impl Into<String>) -> SksError {
    SksError::new(ErrorCode::Authorization, msg)
}

impl<S: Store> SksApplet<S> {
    /// User API authorization (spec 5.3 Biometric Protection, spec-notes §5.6): biometric
    /// errors are ERROR_AUTHORIZATION as the spec says (spec-notes D6).
    pub(crate) fn authorize_use(
        &mut self,
        key: u32,
        biometric_auth: bool,
        pin: &[u8],
    ) -> Result<(), SksError> {
        if biometric_auth && !self.options.simulate_biometric {
            // No biometric reader: the caller's assertion is worth nothing (issue 9).
            return Err(authorization("Biometric authentication is not supported"));
        }
        let protection = self
            .db
            .key(key)
            .map_or(Biometric::None, |k| k.biometric_protection);
        match (protection, biometric_auth) {
            (Biometric::None, true) => Err(authorization("Biometric option invalid")),
            (Biometric::None | Biometric::Alternative, false) | (Biometric::Combined, true) => {
                self.verify_pin(key, pin)
            }
            (Biometric::Alternative, true) if pin.is_empty() => Ok(()),
            (Biometric::Alternative, true) => {
                Err(authorization("PIN supplied with biometric alternative"))
            }
            (Biometric::Exclusive, true) if pin.is_empty() => Ok(()),
            (Biometric::Exclusive, true) => Err(authorization(
                "PIN supplied with exclusive biometric protection",
            )),
            (Biometric::Combined | Biometric::Exclusive, false) => {
                Err(authorization("Missing biometric"))
            }
        }
    }

    /// Verifies a key's PIN (spec-notes §5.4). A key without PIN protection accepts only an
    /// empty authorization.
    pub(crate) fn verify_pin(&mut self, key: u32, pin: &[u8]) -> Result<(), SksError> {
        let k = self
            .db
            .key(key)
            .ok_or_else(|| SksError::new(ErrorCode::NoKey, "Key not found"))?;
        let Some(policy) = k.pin_policy.and_then(|h| self.db.pin(h)) else {
            return if pin.is_empty() {
                Ok(())
            } else {
                Err(option("Redundant authorization information"))
            };
        };
        if self.db.pin_errors(key) >= policy.retry_limit {
            return Err(authorization("PIN is blocked"));
        }
        let correct = k
            .pin_value
            .as_ref()
            .is_some_and(|v| bool::from(v.ct_eq(pin)));
        let group = self.db.pin_group(key);
        self.set_pin_errors(&group, |n| n.saturating_add(1))?;
        if !correct {
            return Err(authorization("Incorrect PIN"));
        }
        self.set_pin_errors(&group, |_| 0)
    }

    fn set_pin_errors(&mut self, group: &[u32], f: impl Fn(u16) -> u16) -> Result<(), SksError> {
        for &h in group {
            let n = f(self.db.pin_errors(h));
            self.db.set_pin_errors(h, n);
        }
        self.commit()
    }

    /// Verifies the PUK governing a key's PIN policy (spec-notes §5.5): ERROR_OPTION if there
    /// is none. A PUK with retryLimit 0 never blocks, keeps its counter at 0 and delays every
    /// check.
    pub(crate) fn verify_puk(&mut self, key: u32, puk: &[u8]) -> Result<(), SksError> {
        let handle = self
            .db
            .key(key)
            .and_then(|k| k.pin_policy)
            .and_then(|p| self.db.pin(p))
            .and_then(|p| p.puk)
            .ok_or_else(|| option(format!("Key {key} has no PUK")))?;
        let p = self
            .db
            .puk(handle)
            .ok_or_else(|| option("PUK object missing"))?;
        let correct = bool::from(p.value.ct_eq(puk));
        if p.retry_limit == 0 {
            self.clock.delay(PUK_DELAY);
            return if correct {
                Ok(())
            } else {
                Err(authorization("Incorrect PUK"))
            };
        }
        if p.error_count >= p.retry_limit {
            return Err(authorization("PUK is blocked"));
        }
        self.set_puk_errors(handle, |n| n.saturating_add(1))?;
        if !correct {
            return Err(authorization("Incorrect PUK"));
        }
        self.set_puk_errors(handle, |_| 0)
    }

    fn set_puk_errors(&mut self, handle: u32, f: impl Fn(u16) -> u16) -> Result<(), SksError> {
        if let Some(p) = self.db.puk_mut(handle) {
            p.error_count = f(p.error_count);
        }
        self.commit()
    }

    /// Authorization for deleteKey and exportKey by their protection attribute (spec 5.1-5.2):
    /// none (empty authorization), PIN, PUK, or not allowed at all.
    pub(crate) fn authorize_protected(
        &mut self,
        key: u32,
        protection: impl Into<Guard>,
        what: &str,
        value: &[u8],
    ) -> Result<(), SksError> {
        match protection.into() {
            Guard::None if value.is_empty() => Ok(()),
            Guard::None => Err(option("Redundant authorization information")),
            Guard::Pin => self.verify_pin(key, value),
            Guard::Puk => self.verify_puk(key, value),
            Guard::Forbidden => Err(SksError::new(
                ErrorCode::NotAllowed,
                format!("{what} is not allowed for this key"),
            )),
        }
    }

    /// Resets the PIN error counter of a key's PIN group, and the PUK counter with
    /// `with_puk` (spec-notes §4.3 unlock, §5.4).
    pub(crate) fn reset_pin_errors(&mut self, key: u32, with_puk: bool) {
        let puk = self
            .db
            .key(key)
            .and_then(|k| k.pin_policy)
            .and_then(|p| self.db.pin(p))
            .and_then(|p| p.puk);
        for h in self.db.pin_group(key) {
            self.db.set_pin_errors(h, 0);
        }
        if let (true, Some(puk)) = (with_puk, puk) {
            if let Some(p) = self.db.puk_mut(puk) {
                p.error_count = 0;
            }
        }
    }
}

/// What exportProtection and deleteProtection ask of the caller (spec 5.1-5.2).
pub(crate) enum Guard {
    None,
    Pin,
    Puk,
    Forbidden,
}

impl From<ExportProtection> for Guard {
    fn from(p: ExportProtection) -> Self {
        match p {
            ExportProtection::None => Self::None,
            ExportProtection::Pin => Self::Pin,
            ExportProtection::Puk => Self::Puk,
            ExportProtection::NonExportable => Self::Forbidden,
        }
    }
}

impl From<DeleteProtection> for Guard {
    fn from(p: DeleteProtection) -> Self {
        match p {
            DeleteProtection::None => Self::None,
            DeleteProtection::Pin => Self::Pin,
            DeleteProtection::Puk => Self::Puk,
            DeleteProtection::NonDeletable => Self::Forbidden,
        }
    }
}
