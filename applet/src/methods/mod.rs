//! The SKS methods (spec 002 section 7), one module per group of the spec: each handler is an
//! `impl SksApplet` method named after the SKS method and cites its section. The dispatcher
//! ([`crate::dispatch`]) calls them with decoded arguments.

pub mod info;
pub(crate) mod management;
pub(crate) mod provisioning;
pub(crate) mod user;

use crate::db::KeyEntry;
use crate::state::SksApplet;
use crate::store::Store;
use apdu_spec::{ErrorCode, SksError};

impl<S: Store> SksApplet<S> {
    /// A key of a closed session, or ERROR_NO_KEY (spec 7.4 keyHandle; spec-notes §4.25 step 1).
    pub(crate) fn closed_key(&self, handle: u32) -> Result<&KeyEntry, SksError> {
        let key = self
            .db
            .key(handle)
            .ok_or_else(|| SksError::new(ErrorCode::NoKey, format!("Key {handle} not found")))?;
        match self.db.session(key.session) {
            Some(s) if !s.open => Ok(key),
            _ => Err(SksError::new(
                ErrorCode::NoKey,
                format!("Key {handle} still in provisioning"),
            )),
        }
    }
}
