//! The one way handlers persist (spec 2.5: changes are atomic; issue 9: PIN/PUK counters always
//! fit). Every change a call made in the credential database goes to the store in ONE
//! transaction, [`SksApplet::commit`]; if the store refuses, RAM is put back to what the store
//! holds and the call gets ERROR_STORAGE. Changes the card makes on its own behalf (teardown of a
//! failed session, expiry) use [`SksApplet::commit_or_log`]. A provisioning step runs in
//! [`SksApplet::provisioning_step`]: its commit, or the teardown of its whole session.

use crate::state::SksApplet;
use crate::store::Store;
use apdu_spec::SksError;

impl<S: Store> SksApplet<S> {
    /// Persists all changes of this call in one transaction, keeping the current call's store
    /// reserve free when the transaction grows the records.
    pub(crate) fn commit(&mut self) -> Result<(), SksError> {
        self.db
            .save(&mut self.store, self.reserve)
            .map_err(SksError::from)
    }

    /// [`SksApplet::commit`] for a change nobody waits for: a failure is logged (the card keeps
    /// the store's state, which is consistent).
    pub(crate) fn commit_or_log(&mut self, what: impl core::fmt::Display) {
        if let Err(e) = self.commit() {
            log::error!("{what} could not be persisted: {e}");
        }
    }

    /// Runs one step of provisioning session `session`: commit on success; on failure the whole
    /// session is torn down (spec 7.4 createProvisioningSession remarks: "the session must be
    /// terminated and removed ... including all associated data"), also in one transaction.
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
}
