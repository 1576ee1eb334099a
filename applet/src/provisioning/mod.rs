//! The provisioning API (spec 2.2, 2.5, 7.4 methods [2]-[15] and [50]-[53]).
//!
//! Every step runs through [`SksApplet::provisioning_step`]: its changes are committed in one
//! store transaction when it succeeds; when it fails, the whole session is torn down (spec 7.4
//! createProvisioningSession remarks: "the session must be terminated and removed ... including
//! all associated data"), which is also one transaction. Failures to find the session or key in
//! the first place tear nothing down (spec-notes §4 conventions).

mod close;
mod key;
mod policy;
mod post;
mod session;

pub(crate) use key::SUB_TYPE_PROPERTY_BAG;
pub use session::MAX_OPEN_SESSIONS;

use crate::applet::SksApplet;
use crate::db::Session;
use crate::store::Store;
use apdu_spec::{ErrorCode, SksError};

pub(crate) fn option(msg: impl Into<String>) -> SksError {
    SksError::new(ErrorCode::Option, msg)
}

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

    /// The session `handle` for changing (it was found open by the caller).
    pub(crate) fn session_mut(&mut self, handle: u32) -> Result<&mut Session, SksError> {
        self.db
            .session_mut(handle)
            .ok_or_else(|| SksError::new(ErrorCode::Internal, "session vanished"))
    }

    /// Runs one step of provisioning session `session`: commit on success, teardown on failure.
    pub(crate) fn provisioning_step<T>(
        &mut self,
        session: u32,
        body: impl FnOnce(&mut Self) -> Result<T, SksError>,
    ) -> Result<T, SksError> {
        let result = body(self).and_then(|v| self.commit().map(|()| v));
        if result.is_err() {
            self.db.discard(&self.store);
            self.db.remove_session_and_objects(session);
            self.commit_or_log(format_args!("teardown of session {session}"));
        }
        result
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
