//! The spec's one-per-call enumerations (enumerateKeys [70], enumerateProvisioningSessions [4])
//! as whole lists.

use crate::client::{Error, Sks};
use crate::transport::Transport;
use apdu_spec::{EnumerateKeysArgs, EnumerateProvisioningSessionsArgs, ProvisioningSessionInfo};

impl<T: Transport> Sks<T> {
    /// Every key of a closed session: `(key handle, its provisioning session handle)`.
    pub fn keys(&mut self) -> Result<Vec<(u32, u32)>, Error> {
        let mut out = Vec::new();
        let mut key_handle = 0;
        while let Some((h, session)) = self.enumerate_keys(&EnumerateKeysArgs { key_handle })?.key {
            key_handle = h.get();
            out.push((key_handle, session));
        }
        Ok(out)
    }

    /// Every provisioning session that is open (`open`) or closed: `(handle, its data)`.
    pub fn sessions(&mut self, open: bool) -> Result<Vec<(u32, ProvisioningSessionInfo)>, Error> {
        let mut out = Vec::new();
        let mut provisioning_handle = 0;
        let args = |provisioning_handle| EnumerateProvisioningSessionsArgs {
            provisioning_handle,
            provisioning_state: open,
        };
        while let Some((h, info)) = self
            .enumerate_provisioning_sessions(&args(provisioning_handle))?
            .session
        {
            provisioning_handle = h.get();
            out.push((provisioning_handle, info));
        }
        Ok(out)
    }
}
