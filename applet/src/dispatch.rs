//! The dispatcher: from a call (method id in P1 + argument bytes) to a typed handler and back
//! (spec 7.2: status byte, then results or the error string). Every SKS method has an arm in
//! [`SksApplet::dispatch`] (exhaustive match over [`Command`]).

use crate::iso::Application;
use crate::state::{SksApplet, STORE_RESERVE};
use crate::store::Store;
use apdu_spec::envelope::{self, Status};
use apdu_spec::{encode_response, Command, ErrorCode, MethodId, SksError};

impl<S: Store> SksApplet<S> {
    /// A provisioning call whose arguments do not even decode is an incorrect operation in its
    /// session, which must then be terminated (spec 7.4 createProvisioningSession remarks). Its
    /// first argument, when readable, names the session (or a key of it).
    fn tear_down_on_malformed_call(&mut self, method: MethodId, data: &[u8]) {
        use MethodId as M;
        let Some(handle) = data
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        else {
            return;
        };
        let session = match method {
            M::CloseProvisioningSession
            | M::CreatePukPolicy
            | M::CreatePinPolicy
            | M::CreateKeyEntry
            | M::GetKeyHandle
            | M::PostDeleteKey
            | M::PostUnlockKey => self.open_session(handle).ok().map(|s| s.handle),
            M::SetCertificatePath
            | M::ImportSymmetricKey
            | M::ImportPrivateKey
            | M::AddExtension
            | M::PostUpdateKey
            | M::PostCloneKeyProtection => self.open_key_session(handle).ok(),
            _ => None,
        };
        if let Some(session) = session {
            self.db.remove_session_and_objects(session);
            self.commit_or_log(format_args!("teardown of session {session}"));
        }
    }

    /// Runs one decoded call. Every method of the spec has an arm here (exhaustive match);
    /// each handler cites its spec section.
    fn exec(&mut self, command: Command) -> Result<Vec<u8>, apdu_spec::EncodeError> {
        // Provisioning may not eat into the PIN/PUK counters' reserve.
        self.reserve = if command.method().is_provisioning() {
            STORE_RESERVE
        } else {
            0
        };
        // No call is answered while an expired session could still be seen.
        if let Err(e) = self.expire_sessions() {
            return encode_response::<()>(&Err(e));
        }
        let response = self.dispatch(command);
        // Handlers commit what must persist; whatever a failed call left uncommitted in RAM
        // is dropped here, so it can never ride along with a later commit.
        self.db.discard(&self.store);
        response
    }

    fn dispatch(&mut self, command: Command) -> Result<Vec<u8>, apdu_spec::EncodeError> {
        use Command as C;
        match command {
            C::GetDeviceInfo(()) => encode_response(&Ok(self.get_device_info())),
            C::CreateProvisioningSession(a) => {
                encode_response(&self.create_provisioning_session(a))
            }
            C::CloseProvisioningSession(a) => encode_response(&self.close_provisioning_session(a)),
            C::EnumerateProvisioningSessions(a) => {
                encode_response(&self.enumerate_provisioning_sessions(a))
            }
            C::AbortProvisioningSession(a) => encode_response(&self.abort_provisioning_session(a)),
            C::UpdateKeyManagementKey(a) => encode_response(&self.update_key_management_key(a)),
            C::CreatePukPolicy(a) => encode_response(&self.create_puk_policy(a)),
            C::CreatePinPolicy(a) => encode_response(&self.create_pin_policy(a)),
            C::CreateKeyEntry(a) => encode_response(&self.create_key_entry(a)),
            C::GetKeyHandle(a) => encode_response(&self.get_key_handle(a)),
            C::SetCertificatePath(a) => encode_response(&self.set_certificate_path(a)),
            C::ImportSymmetricKey(a) => encode_response(&self.import_symmetric_key(a)),
            C::ImportPrivateKey(a) => encode_response(&self.import_private_key(a)),
            C::AddExtension(a) => encode_response(&self.add_extension(a)),
            C::PostDeleteKey(a) => encode_response(&self.post_delete_key(a)),
            C::PostUnlockKey(a) => encode_response(&self.post_unlock_key(a)),
            C::PostUpdateKey(a) => encode_response(&self.post_update_key(a)),
            C::PostCloneKeyProtection(a) => encode_response(&self.post_clone_key_protection(a)),
            C::EnumerateKeys(a) => encode_response(&self.enumerate_keys(a)),
            C::GetKeyAttributes(a) => encode_response(&self.get_key_attributes(a)),
            C::GetKeyProtectionInfo(a) => encode_response(&self.get_key_protection_info(a)),
            C::GetExtension(a) => encode_response(&self.get_extension(a)),
            C::SetProperty(a) => encode_response(&self.set_property(a)),
            C::DeleteKey(a) => encode_response(&self.delete_key(a)),
            C::ExportKey(a) => encode_response(&self.export_key(a)),
            C::UnlockKey(a) => encode_response(&self.unlock_key(a)),
            C::ChangePin(a) => encode_response(&self.change_pin(a)),
            C::SetPin(a) => encode_response(&self.set_pin(a)),
            C::UpdateFirmware(a) => encode_response(&self.update_firmware(a)),
            C::SignHashedData(a) => encode_response(&self.sign_hashed_data(a)),
            C::AsymmetricKeyDecrypt(a) => encode_response(&self.asymmetric_key_decrypt(a)),
            C::KeyAgreement(a) => encode_response(&self.key_agreement(a)),
            C::PerformHmac(a) => encode_response(&self.perform_hmac(a)),
            C::SymmetricKeyEncrypt(a) => encode_response(&self.symmetric_key_encrypt(a)),
        }
    }
}

impl<S: Store> Application for SksApplet<S> {
    fn aid(&self) -> &[u8] {
        &envelope::AID
    }

    fn clear_transient(&mut self) {
        self.key_cache.clear();
    }

    fn call(&mut self, p1: u8, p2: u8, data: &[u8]) -> Result<Vec<u8>, Status> {
        if p2 != 0 {
            return Err(Status::IncorrectP1OrP2Parameter);
        }
        let method = MethodId::try_from(p1).map_err(|_| Status::IncorrectP1OrP2Parameter)?;
        let response = match Command::decode(method, data) {
            Ok(command) => self.exec(command),
            Err(e) => {
                self.tear_down_on_malformed_call(method, data);
                encode_response::<()>(&Err(SksError::new(
                    ErrorCode::Option,
                    format!("malformed {} arguments: {e}", method.name()),
                )))
            }
        };
        // Encoding fails only if a result outgrows its length prefix: a card bug, not input.
        response.map_err(|e| {
            log::error!("cannot encode the {} response: {e}", method.name());
            Status::UnspecifiedCheckingError
        })
    }
}
