//! The provisioning API (spec 2.2, 2.5, 7.4 methods [2]-[15] and [50]-[53]).
//!
//! Every step runs through [`SksApplet::provisioning_step`] (in [`crate::txn`]): committed in one
//! store transaction when it succeeds, the whole session torn down when it fails. Failures to
//! find the session or key in the first place tear nothing down (spec-notes §4 conventions).

mod close;
mod key;
mod policy;
mod post;
pub(crate) mod security;
mod session;

pub use session::MAX_OPEN_SESSIONS;

use crate::db::Session;
use crate::error::option;
use crate::state::SksApplet;
use crate::store::Store;
use apdu_spec::{ErrorCode, SksError};

impl<S: Store> SksApplet<S> {
    /// The open session `handle`, or ERROR_NO_SESSION (no teardown).
    pub(crate) fn open_session(&self, handle: u32) -> Result<&Session, SksError> {
        match self.db.session(handle) {
            None => Err(SksError::new(
                ErrorCode::NoSession,
                "No such provisioning session",
            )),
            Some(s) if !s.open => Err(SksError::new(ErrorCode::NoSession, "Session not open")),
            Some(s) => Ok(s),
        }
    }

    /// The owning session of a key that belongs to an open session, or ERROR_NO_KEY.
    pub(crate) fn open_key_session(&self, key_handle: u32) -> Result<u32, SksError> {
        let key = self.db.key(key_handle).ok_or_else(|| {
            SksError::new(ErrorCode::NoKey, format!("Key {key_handle} not found"))
        })?;
        match self.db.session(key.session) {
            Some(s) if s.open => Ok(s.handle),
            _ => Err(SksError::new(
                ErrorCode::NoKey,
                format!("Key {key_handle} is not in an open session"),
            )),
        }
    }

    /// A provisioning step on key `key_handle` of an open session (ERROR_NO_KEY, with no
    /// teardown, when there is none): `body` gets the card and the key's session.
    pub(crate) fn key_step<T>(
        &mut self,
        key_handle: u32,
        body: impl FnOnce(&mut Self, u32) -> Result<T, SksError>,
    ) -> Result<T, SksError> {
        let session = self.open_key_session(key_handle)?;
        self.provisioning_step(session, |card| body(card, session))
    }

    /// The session `handle` for changing (it was found open by the caller).
    pub(crate) fn session_mut(&mut self, handle: u32) -> Result<&mut Session, SksError> {
        self.db
            .session_mut(handle)
            .ok_or_else(|| SksError::new(ErrorCode::Internal, "session vanished"))
    }

    /// Registers a new object id in the session's namespace (spec 7.4 createKeyEntry remarks:
    /// keys, PINs and PUKs share one namespace per session).
    pub(crate) fn claim_id(&mut self, session: u32, id: &str) -> Result<(), SksError> {
        let s = self.session_mut(session)?;
        if s.ids.iter().any(|i| i == id) {
            return Err(option(format!("Duplicate id: {id}")));
        }
        s.ids.push(id.to_owned());
        Ok(())
    }
}
