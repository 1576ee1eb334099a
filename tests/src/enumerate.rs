//! The card's enumerations walked to their end, through any transport.

use apdu_spec::{EnumerateKeysArgs, EnumerateProvisioningSessionsArgs, ProvisioningSessionInfo};
use pcsc_bridge::{Sks, Transport};

/// enumerateProvisioningSessions from handle 0 to the end: the sessions in `open` (true) or
/// closed (false) state, with their information, in card order.
pub fn sessions<T: Transport>(sks: &mut Sks<T>, open: bool) -> Vec<(u32, ProvisioningSessionInfo)> {
    let mut out = Vec::new();
    let mut handle = 0;
    while let Some((h, info)) = sks
        .enumerate_provisioning_sessions(&EnumerateProvisioningSessionsArgs {
            provisioning_handle: handle,
            provisioning_state: open,
        })
        .unwrap_or_else(|e| panic!("enumerateProvisioningSessions({handle}, {open}): {e}"))
        .session
    {
        handle = h.get();
        out.push((handle, info));
        assert!(
            out.len() < 10_000,
            "enumerateProvisioningSessions does not end"
        );
    }
    out
}

/// The handles of [`sessions`].
pub fn session_handles<T: Transport>(sks: &mut Sks<T>, open: bool) -> Vec<u32> {
    sessions(sks, open).into_iter().map(|(h, _)| h).collect()
}

/// enumerateKeys from handle 0 to the end: (keyHandle, provisioningHandle) in card order.
pub fn all_keys<T: Transport>(sks: &mut Sks<T>) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut handle = 0;
    while let Some((k, p)) = sks
        .enumerate_keys(&EnumerateKeysArgs { key_handle: handle })
        .unwrap_or_else(|e| panic!("enumerateKeys({handle}): {e}"))
        .key
    {
        handle = k.get();
        out.push((handle, p));
        assert!(out.len() < 10_000, "enumerateKeys does not end");
    }
    out
}
