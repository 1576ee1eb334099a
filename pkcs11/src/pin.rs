//! C_Login, C_SetPIN and C_InitPIN on SKS PINs (see [`crate::token`] for the user-PIN rule).
//! Every PIN is judged by the card; the module keeps one only after the card accepted it.

use crate::ffi::Rv;
use crate::keys::KeyInfo;
use crate::ops::{card_error, check_pin};
use crate::token::Token;
use apdu_spec::methods::*;
use apdu_spec::types::Bytes;
use apdu_spec::values::{ProtectionFlag, ProtectionStatus};
use apdu_spec::ErrorCode;
use cryptoki_sys::*;
use std::collections::HashSet;
use zeroize::Zeroizing;

/// Re-reads `key`'s protection and tells whether its PIN is blocked now.
fn blocked(t: &mut Token, key: u32) -> bool {
    let Ok(p) = t
        .card
        .get_key_protection_info(&GetKeyProtectionInfoArgs { key_handle: key })
    else {
        return false;
    };
    let is_blocked = ProtectionStatus::from_bits_truncate(p.protection_status)
        .contains(ProtectionFlag::PinBlocked)
        || p.pin_error_count >= p.retry_limit;
    if let Some(k) = t.keys.iter_mut().find(|k| k.handle == key) {
        k.protection = p;
    }
    is_blocked
}

/// Asks the card whether `pin` is `key`'s PIN: CKR_PIN_INCORRECT, or CKR_PIN_LOCKED once the
/// key is blocked.
pub fn check(t: &mut Token, key: &KeyInfo, pin: &[u8]) -> Rv {
    match check_pin(&mut t.card, key, pin) {
        Err(CKR_PIN_INCORRECT) if blocked(t, key.handle) => Err(CKR_PIN_LOCKED),
        other => other,
    }
}

/// C_Login(CKU_USER).
pub fn login_user(t: &mut Token, pin: &[u8]) -> Rv {
    if t.user_pin.is_some() {
        return Err(CKR_USER_ALREADY_LOGGED_IN);
    }
    if t.so_pin.is_some() {
        return Err(CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
    }
    let anchor = t.anchor().cloned().ok_or(CKR_USER_PIN_NOT_INITIALIZED)?;
    check(t, &anchor, pin)?;
    t.user_pin = Some(Zeroizing::new(pin.to_vec()));
    Ok(())
}

/// C_Login(CKU_SO): the SO PIN is the anchor's PUK, confirmed by the card through unlockKey
/// (which, with the right PUK, also clears the anchor's PIN error counter).
pub fn login_so(t: &mut Token, puk: &[u8]) -> Rv {
    if t.so_pin.is_some() {
        return Err(CKR_USER_ALREADY_LOGGED_IN);
    }
    if t.user_pin.is_some() {
        return Err(CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
    }
    let anchor = t.anchor().cloned().ok_or(CKR_USER_PIN_NOT_INITIALIZED)?;
    if !anchor.status().contains(ProtectionFlag::PukProtected) {
        return Err(CKR_USER_TYPE_INVALID);
    }
    t.card
        .unlock_key(&UnlockKeyArgs {
            key_handle: anchor.handle,
            authorization: Bytes(puk.to_vec()),
        })
        .map_err(|e| match e.sks_code() {
            Some(ErrorCode::Authorization) => CKR_PIN_INCORRECT,
            _ => card_error(&e, CKR_DEVICE_ERROR),
        })?;
    t.so_pin = Some(Zeroizing::new(puk.to_vec()));
    Ok(())
}

/// One key per provisioning session of the user-PIN group, anchor first: changing the PIN of
/// one key changes it for the keys that share its PIN policy.
fn representatives(t: &Token) -> Vec<KeyInfo> {
    let mut seen = HashSet::new();
    t.keys
        .iter()
        .filter(|k| t.in_user_group(k))
        .filter(|k| seen.insert(k.provisioning))
        .cloned()
        .collect()
}

fn pin_error(t: &mut Token, key: &KeyInfo, new: &[u8], e: pcsc_bridge::Error) -> CK_RV {
    match e.sks_code() {
        Some(ErrorCode::Authorization) if blocked(t, key.handle) => CKR_PIN_LOCKED,
        Some(ErrorCode::Authorization) => CKR_PIN_INCORRECT,
        Some(ErrorCode::Option | ErrorCode::NotAllowed) => {
            let p = &key.protection;
            let len = new.len();
            if len < usize::from(p.min_length) || len > usize::from(p.max_length) {
                CKR_PIN_LEN_RANGE
            } else {
                // Pattern rules, or a PIN the policy does not let the user change.
                CKR_PIN_INVALID
            }
        }
        _ => card_error(&e, CKR_DEVICE_ERROR),
    }
}

/// C_SetPIN: changePin on the user-PIN group (authorized by the current PIN).
pub fn change_pin(t: &mut Token, old: &[u8], new: &[u8]) -> Rv {
    let keys = representatives(t);
    if keys.is_empty() {
        return Err(CKR_USER_PIN_NOT_INITIALIZED);
    }
    for k in &keys {
        let r = t.card.change_pin(&ChangePinArgs {
            key_handle: k.handle,
            authorization: Bytes(old.to_vec()),
            new_pin: Bytes(new.to_vec()),
        });
        if let Err(e) = r {
            return Err(pin_error(t, k, new, e));
        }
    }
    if t.user_pin.is_some() {
        t.user_pin = Some(Zeroizing::new(new.to_vec()));
    }
    Ok(())
}

/// C_InitPIN: setPin on the user-PIN group with the SO's PUK.
pub fn set_pin(t: &mut Token, puk: &[u8], new: &[u8]) -> Rv {
    let keys = representatives(t);
    if keys.is_empty() {
        return Err(CKR_USER_PIN_NOT_INITIALIZED);
    }
    for k in &keys {
        let r = t.card.set_pin(&SetPinArgs {
            key_handle: k.handle,
            authorization: Bytes(puk.to_vec()),
            new_pin: Bytes(new.to_vec()),
        });
        if let Err(e) = r {
            return Err(pin_error(t, k, new, e));
        }
    }
    Ok(())
}
