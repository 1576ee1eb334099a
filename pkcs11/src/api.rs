//! The PKCS #11 entry points. Each one runs inside [`guard`] (panics become
//! `CKR_GENERAL_ERROR`), checks its pointers (`CKR_ARGUMENTS_BAD`) and works on the module
//! state under the global lock.

#![allow(non_snake_case)]
#![allow(clippy::missing_safety_doc)]

use crate::backend::Backend;
use crate::ffi::{bytes, deliver, deliver_list, guard, inp, out, pad, slice, version, Rv};
use crate::keys::{KeyInfo, Usage};
use crate::mechanism;
use crate::module::{with, CipherOp, Module, Session, SignOp, MAX_COLLECTED, MODULE};
use crate::object::{Attrs, Kind, Object, Unreadable};
use crate::ops::{self, CipherMech, SignMech};
use crate::token::Token;
use cryptoki_sys::*;
use std::os::raw::c_void;
use zeroize::Zeroizing;

type Template = Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>;

/// Reads a template (type/value pairs).
unsafe fn template(p: *const CK_ATTRIBUTE, n: CK_ULONG) -> Rv<Template> {
    slice(p, n)?
        .iter()
        .map(|a| {
            Ok((
                a.type_,
                bytes(a.pValue as *const u8, a.ulValueLen)?.to_vec(),
            ))
        })
        .collect()
}

/// Reads a mechanism: its type and parameter bytes.
unsafe fn mechanism(p: *const CK_MECHANISM) -> Rv<(CK_MECHANISM_TYPE, Vec<u8>)> {
    let m = inp(p)?;
    Ok((
        m.mechanism,
        bytes(m.pParameter as *const u8, m.ulParameterLen)?.to_vec(),
    ))
}

fn template_flag(t: &Template, a: CK_ATTRIBUTE_TYPE) -> Option<bool> {
    t.iter()
        .find(|(x, _)| *x == a)
        .map(|(_, v)| v.first().copied().unwrap_or(0) != 0)
}

fn template_ulong(t: &Template, a: CK_ATTRIBUTE_TYPE) -> Option<CK_ULONG> {
    t.iter()
        .find(|(x, _)| *x == a)
        .and_then(|(_, v)| Some(CK_ULONG::from_ne_bytes(v.as_slice().try_into().ok()?)))
}

// ---------------------------------------------------------------------------------------------
// General purpose

pub unsafe extern "C" fn C_Initialize(p_init_args: *mut c_void) -> CK_RV {
    guard(|| {
        if let Some(a) = (p_init_args as *const CK_C_INITIALIZE_ARGS).as_ref() {
            if !a.pReserved.is_null() {
                return Err(CKR_ARGUMENTS_BAD);
            }
            let given = [
                a.CreateMutex.is_some(),
                a.DestroyMutex.is_some(),
                a.LockMutex.is_some(),
                a.UnlockMutex.is_some(),
            ];
            let all = given.iter().all(|g| *g);
            if given.iter().any(|g| *g) && !all {
                return Err(CKR_ARGUMENTS_BAD);
            }
            // The module only knows OS locking: it cannot use the application's mutexes
            // unless it may use OS locking instead.
            if all && a.flags & CKF_OS_LOCKING_OK == 0 {
                return Err(CKR_CANT_LOCK);
            }
        }
        let mut g = MODULE.lock().unwrap_or_else(|p| p.into_inner());
        if g.is_some() {
            return Err(CKR_CRYPTOKI_ALREADY_INITIALIZED);
        }
        if let Ok(filter) = std::env::var("SKS_PKCS11_LOG") {
            let _ = env_logger::Builder::new().parse_filters(&filter).try_init();
        }
        *g = Some(Module::new(Backend::from_env()));
        Ok(())
    })
}

pub unsafe extern "C" fn C_Finalize(p_reserved: *mut c_void) -> CK_RV {
    guard(|| {
        if !p_reserved.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        let mut g = MODULE.lock().unwrap_or_else(|p| p.into_inner());
        g.take().ok_or(CKR_CRYPTOKI_NOT_INITIALIZED)?;
        Ok(())
    })
}

pub unsafe extern "C" fn C_GetInfo(p_info: *mut CK_INFO) -> CK_RV {
    guard(|| {
        with(|_| Ok(()))?;
        let info = out(p_info)?;
        info.cryptokiVersion = version(2, 40);
        pad(&mut info.manufacturerID, "SKS virtual card project");
        info.flags = 0;
        pad(&mut info.libraryDescription, "SKS PKCS #11 module");
        info.libraryVersion = version(0, 1);
        Ok(())
    })
}

pub unsafe extern "C" fn C_GetFunctionList(pp: *mut *mut CK_FUNCTION_LIST) -> CK_RV {
    guard(|| {
        let pp = out(pp)?;
        *pp = std::ptr::addr_of!(crate::FUNCTION_LIST) as *mut CK_FUNCTION_LIST;
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Slots and tokens

pub unsafe extern "C" fn C_GetSlotList(
    token_present: CK_BBOOL,
    p_slot_list: *mut CK_SLOT_ID,
    pul_count: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        with(|m| {
            out(pul_count)?;
            m.rescan();
            let ids: Vec<CK_SLOT_ID> = m
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| token_present == 0 || s.token.is_some())
                .map(|(i, _)| i as CK_SLOT_ID)
                .collect();
            deliver_list(&ids, p_slot_list, pul_count)
        })
    })
}

pub unsafe extern "C" fn C_GetSlotInfo(slot: CK_SLOT_ID, p_info: *mut CK_SLOT_INFO) -> CK_RV {
    guard(|| {
        with(|m| {
            let info = out(p_info)?;
            let s = m.slot(slot)?;
            pad(&mut info.slotDescription, &s.reader);
            pad(&mut info.manufacturerID, "pcsc-lite reader");
            info.flags = CKF_REMOVABLE_DEVICE | CKF_HW_SLOT;
            if s.token.is_some() {
                info.flags |= CKF_TOKEN_PRESENT;
            }
            info.hardwareVersion = version(0, 0);
            info.firmwareVersion = version(0, 0);
            Ok(())
        })
    })
}

pub unsafe extern "C" fn C_GetTokenInfo(slot: CK_SLOT_ID, p_info: *mut CK_TOKEN_INFO) -> CK_RV {
    guard(|| {
        with(|m| {
            let info = out(p_info)?;
            let (sessions, rw) = m.session_counts(slot);
            let t = m.token(slot)?;
            t.refresh_pin_state();
            pad(&mut info.label, &format!("SKS {}", &t.serial[..8]));
            pad(&mut info.manufacturerID, &t.info.vendor_name);
            pad(&mut info.model, "SKS card");
            pad(&mut info.serialNumber, &t.serial);
            info.flags = t.flags();
            info.ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
            info.ulSessionCount = sessions;
            info.ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
            info.ulRwSessionCount = rw;
            let (min, max) = t.pin_lengths();
            info.ulMinPinLen = min;
            info.ulMaxPinLen = max;
            info.ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
            info.ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
            info.ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
            info.ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
            let api = t.info.api_level;
            info.hardwareVersion = version((api / 100) as u8, (api % 100) as u8);
            info.firmwareVersion = version(0, 1);
            pad(&mut info.utcTime, "");
            Ok(())
        })
    })
}

pub unsafe extern "C" fn C_WaitForSlotEvent(
    _flags: CK_FLAGS,
    p_slot: *mut CK_SLOT_ID,
    _reserved: *mut c_void,
) -> CK_RV {
    guard(|| {
        with(|_| Ok(()))?;
        out(p_slot)?;
        // Slot events are found by C_GetSlotList, which rescans the readers on every call.
        Err(CKR_FUNCTION_NOT_SUPPORTED)
    })
}

pub unsafe extern "C" fn C_GetMechanismList(
    slot: CK_SLOT_ID,
    p_list: *mut CK_MECHANISM_TYPE,
    pul_count: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        with(|m| {
            out(pul_count)?;
            let t = m.token(slot)?;
            let supported = t.supported_algorithms();
            let list: Vec<CK_MECHANISM_TYPE> =
                mechanism::available(&supported).map(|m| m.ty).collect();
            deliver_list(&list, p_list, pul_count)
        })
    })
}

pub unsafe extern "C" fn C_GetMechanismInfo(
    slot: CK_SLOT_ID,
    ty: CK_MECHANISM_TYPE,
    p_info: *mut CK_MECHANISM_INFO,
) -> CK_RV {
    guard(|| {
        with(|m| {
            let info = out(p_info)?;
            let t = m.token(slot)?;
            let supported = t.supported_algorithms();
            let mech = mechanism::available(&supported)
                .find(|m| m.ty == ty)
                .ok_or(CKR_MECHANISM_INVALID)?;
            info.ulMinKeySize = mech.min;
            info.ulMaxKeySize = mech.max;
            info.flags = mech.flags;
            Ok(())
        })
    })
}

pub unsafe extern "C" fn C_InitToken(
    _slot: CK_SLOT_ID,
    _pin: *mut CK_UTF8CHAR,
    _len: CK_ULONG,
    _label: *mut CK_UTF8CHAR,
) -> CK_RV {
    // An SKS card is initialized by its issuers (provisioning), not by a PKCS #11 SO.
    guard(|| with(|_| Err(CKR_FUNCTION_NOT_SUPPORTED)))
}

pub unsafe extern "C" fn C_InitPIN(
    h: CK_SESSION_HANDLE,
    p_pin: *mut CK_UTF8CHAR,
    len: CK_ULONG,
) -> CK_RV {
    guard(|| {
        with(|m| {
            let pin = Zeroizing::new(bytes(p_pin, len)?.to_vec());
            let (s, t) = m.session(h)?;
            if !s.rw {
                return Err(CKR_SESSION_READ_ONLY);
            }
            let puk = t.so_pin.clone().ok_or(CKR_USER_NOT_LOGGED_IN)?;
            crate::pin::set_pin(t, &puk, &pin)
        })
    })
}

pub unsafe extern "C" fn C_SetPIN(
    h: CK_SESSION_HANDLE,
    p_old: *mut CK_UTF8CHAR,
    old_len: CK_ULONG,
    p_new: *mut CK_UTF8CHAR,
    new_len: CK_ULONG,
) -> CK_RV {
    guard(|| {
        with(|m| {
            let old = Zeroizing::new(bytes(p_old, old_len)?.to_vec());
            let new = Zeroizing::new(bytes(p_new, new_len)?.to_vec());
            let (s, t) = m.session(h)?;
            if !s.rw {
                return Err(CKR_SESSION_READ_ONLY);
            }
            crate::pin::change_pin(t, &old, &new)
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Sessions

pub unsafe extern "C" fn C_OpenSession(
    slot: CK_SLOT_ID,
    flags: CK_FLAGS,
    _app: *mut c_void,
    _notify: CK_NOTIFY,
    ph: *mut CK_SESSION_HANDLE,
) -> CK_RV {
    guard(|| {
        with(|m| {
            let ph = out(ph)?;
            if flags & CKF_SERIAL_SESSION == 0 {
                return Err(CKR_SESSION_PARALLEL_NOT_SUPPORTED);
            }
            m.slot(slot)?;
            if m.slots[slot as usize].token.is_none() {
                m.check_slot(slot, true);
            }
            let first = !m.sessions.values().any(|s| s.slot == slot);
            let t = m.token(slot)?;
            if first {
                t.refresh()?;
            }
            let handle = m.next_session;
            m.next_session += 1;
            m.sessions.insert(
                handle,
                Session {
                    slot,
                    rw: flags & CKF_RW_SESSION != 0,
                    ..Session::default()
                },
            );
            *ph = handle;
            Ok(())
        })
    })
}

pub unsafe extern "C" fn C_CloseSession(h: CK_SESSION_HANDLE) -> CK_RV {
    guard(|| with(|m| m.close_session(h)))
}

pub unsafe extern "C" fn C_CloseAllSessions(slot: CK_SLOT_ID) -> CK_RV {
    guard(|| {
        with(|m| {
            m.slot(slot)?;
            let hs: Vec<_> = m
                .sessions
                .iter()
                .filter(|(_, s)| s.slot == slot)
                .map(|(h, _)| *h)
                .collect();
            for h in hs {
                m.close_session(h)?;
            }
            Ok(())
        })
    })
}

pub unsafe extern "C" fn C_GetSessionInfo(
    h: CK_SESSION_HANDLE,
    p_info: *mut CK_SESSION_INFO,
) -> CK_RV {
    guard(|| {
        with(|m| {
            let info = out(p_info)?;
            let (s, t) = m.session(h)?;
            let user = t.user_pin.is_some();
            let so = t.so_pin.is_some();
            info.slotID = s.slot;
            info.state = match (s.rw, user, so) {
                (true, _, true) => CKS_RW_SO_FUNCTIONS,
                (true, true, _) => CKS_RW_USER_FUNCTIONS,
                (true, false, _) => CKS_RW_PUBLIC_SESSION,
                (false, true, _) => CKS_RO_USER_FUNCTIONS,
                (false, false, _) => CKS_RO_PUBLIC_SESSION,
            };
            info.flags = CKF_SERIAL_SESSION | if s.rw { CKF_RW_SESSION } else { 0 };
            info.ulDeviceError = 0;
            Ok(())
        })
    })
}

pub unsafe extern "C" fn C_GetOperationState(
    h: CK_SESSION_HANDLE,
    _p: *mut CK_BYTE,
    _len: *mut CK_ULONG,
) -> CK_RV {
    guard(|| with(|m| m.session(h).and(Err(CKR_FUNCTION_NOT_SUPPORTED))))
}

pub unsafe extern "C" fn C_SetOperationState(
    h: CK_SESSION_HANDLE,
    _p: *mut CK_BYTE,
    _len: CK_ULONG,
    _enc: CK_OBJECT_HANDLE,
    _auth: CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| with(|m| m.session(h).and(Err(CKR_FUNCTION_NOT_SUPPORTED))))
}

pub unsafe extern "C" fn C_Login(
    h: CK_SESSION_HANDLE,
    user_type: CK_USER_TYPE,
    p_pin: *mut CK_UTF8CHAR,
    len: CK_ULONG,
) -> CK_RV {
    guard(|| {
        with(|m| {
            if p_pin.is_null() {
                // No protected authentication path.
                return Err(CKR_ARGUMENTS_BAD);
            }
            let pin = Zeroizing::new(bytes(p_pin, len)?.to_vec());
            let (s, t) = m.session(h)?;
            match user_type {
                CKU_USER => crate::pin::login_user(t, &pin),
                CKU_SO => {
                    if !s.rw {
                        return Err(CKR_SESSION_READ_ONLY_EXISTS);
                    }
                    crate::pin::login_so(t, &pin)
                }
                CKU_CONTEXT_SPECIFIC => {
                    let key = s
                        .sign
                        .as_ref()
                        .map(|o| o.key)
                        .or(s.decrypt.as_ref().map(|o| o.key))
                        .or(s.encrypt.as_ref().map(|o| o.key))
                        .ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
                    let key = t.key(key).cloned().ok_or(CKR_KEY_HANDLE_INVALID)?;
                    if key.pin_protected() {
                        crate::pin::check(t, &key, &pin)?;
                    }
                    s.context_pin = Some(pin);
                    Ok(())
                }
                _ => Err(CKR_USER_TYPE_INVALID),
            }
        })
    })
}

pub unsafe extern "C" fn C_Logout(h: CK_SESSION_HANDLE) -> CK_RV {
    guard(|| {
        with(|m| {
            let (_, t) = m.session(h)?;
            if t.user_pin.is_none() && t.so_pin.is_none() {
                return Err(CKR_USER_NOT_LOGGED_IN);
            }
            t.user_pin = None;
            t.so_pin = None;
            Ok(())
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Objects

pub unsafe extern "C" fn C_CreateObject(
    h: CK_SESSION_HANDLE,
    _t: *mut CK_ATTRIBUTE,
    _n: CK_ULONG,
    ph: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| {
        with(|m| {
            m.session(h)?;
            out(ph)?;
            // Keys enter an SKS card only through provisioning (C_GenerateKeyPair).
            Err(CKR_FUNCTION_NOT_SUPPORTED)
        })
    })
}

pub unsafe extern "C" fn C_CopyObject(
    h: CK_SESSION_HANDLE,
    obj: CK_OBJECT_HANDLE,
    _t: *mut CK_ATTRIBUTE,
    _n: CK_ULONG,
    ph: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| {
        with(|m| {
            let (_, t) = m.session(h)?;
            out(ph)?;
            t.object(obj).ok_or(CKR_OBJECT_HANDLE_INVALID)?;
            Err(CKR_ACTION_PROHIBITED) // CKA_COPYABLE is false for every object
        })
    })
}

pub unsafe extern "C" fn C_DestroyObject(h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE) -> CK_RV {
    guard(|| {
        with(|m| {
            let (s, t) = m.session(h)?;
            let o = visible(t, obj)?;
            match o.kind {
                Kind::Derived => {
                    t.objects.retain(|x| x.handle != obj);
                    Ok(())
                }
                Kind::Private | Kind::Secret => {
                    if !s.rw {
                        return Err(CKR_SESSION_READ_ONLY);
                    }
                    let key = o.key.and_then(|k| t.key(k)).cloned();
                    let key = key.ok_or(CKR_OBJECT_HANDLE_INVALID)?;
                    crate::keygen::delete(t, &key, s.context_pin.as_ref().map(|p| p.as_slice()))
                }
                // The public key and certificates live as long as their key.
                _ => Err(CKR_ACTION_PROHIBITED),
            }
        })
    })
}

/// The object `h` if the session may see it (private objects need the user logged in).
fn visible(t: &Token, h: CK_OBJECT_HANDLE) -> Rv<&Object> {
    let o = t.object(h).ok_or(CKR_OBJECT_HANDLE_INVALID)?;
    if o.flag(CKA_PRIVATE) && t.user_pin.is_none() {
        return Err(CKR_OBJECT_HANDLE_INVALID);
    }
    Ok(o)
}

pub unsafe extern "C" fn C_GetObjectSize(
    h: CK_SESSION_HANDLE,
    obj: CK_OBJECT_HANDLE,
    p_size: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        with(|m| {
            let size = out(p_size)?;
            let (_, t) = m.session(h)?;
            let o = visible(t, obj)?;
            *size = o.attrs.iter().map(|(_, v)| v.len() as CK_ULONG).sum();
            Ok(())
        })
    })
}

pub unsafe extern "C" fn C_GetAttributeValue(
    h: CK_SESSION_HANDLE,
    obj: CK_OBJECT_HANDLE,
    p_template: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
) -> CK_RV {
    guard(|| {
        with(|m| {
            if p_template.is_null() && n > 0 {
                return Err(CKR_ARGUMENTS_BAD);
            }
            let (_, t) = m.session(h)?;
            let o = visible(t, obj)?;
            let attrs: &mut [CK_ATTRIBUTE] = if n == 0 {
                &mut []
            } else {
                std::slice::from_raw_parts_mut(p_template, n as usize)
            };
            let mut rv = CKR_OK;
            for a in attrs {
                match o.read(a.type_) {
                    Err(why) => {
                        a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                        rv = match why {
                            Unreadable::Sensitive => CKR_ATTRIBUTE_SENSITIVE,
                            Unreadable::Invalid => CKR_ATTRIBUTE_TYPE_INVALID,
                        };
                    }
                    Ok(v) => {
                        let len = v.len() as CK_ULONG;
                        if a.pValue.is_null() {
                            a.ulValueLen = len;
                        } else if a.ulValueLen < len {
                            a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                            rv = CKR_BUFFER_TOO_SMALL;
                        } else {
                            std::ptr::copy_nonoverlapping(v.as_ptr(), a.pValue as *mut u8, v.len());
                            a.ulValueLen = len;
                        }
                    }
                }
            }
            if rv == CKR_OK {
                Ok(())
            } else {
                Err(rv)
            }
        })
    })
}

pub unsafe extern "C" fn C_SetAttributeValue(
    h: CK_SESSION_HANDLE,
    obj: CK_OBJECT_HANDLE,
    _p: *mut CK_ATTRIBUTE,
    _n: CK_ULONG,
) -> CK_RV {
    guard(|| {
        with(|m| {
            let (_, t) = m.session(h)?;
            visible(t, obj)?;
            Err(CKR_ACTION_PROHIBITED) // CKA_MODIFIABLE is false for every object
        })
    })
}

pub unsafe extern "C" fn C_FindObjectsInit(
    h: CK_SESSION_HANDLE,
    p_template: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
) -> CK_RV {
    guard(|| {
        with(|m| {
            let tpl = template(p_template, n)?;
            let (s, t) = m.session(h)?;
            if s.find.is_some() {
                return Err(CKR_OPERATION_ACTIVE);
            }
            let logged_in = t.user_pin.is_some();
            let found: Vec<CK_OBJECT_HANDLE> = t
                .objects
                .iter()
                .filter(|o| logged_in || !o.flag(CKA_PRIVATE))
                .filter(|o| o.session.is_none_or(|owner| owner == h))
                .filter(|o| o.matches(&tpl))
                .map(|o| o.handle)
                .rev()
                .collect();
            s.find = Some(found);
            Ok(())
        })
    })
}

pub unsafe extern "C" fn C_FindObjects(
    h: CK_SESSION_HANDLE,
    ph: *mut CK_OBJECT_HANDLE,
    max: CK_ULONG,
    pul_count: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        with(|m| {
            let count = out(pul_count)?;
            if ph.is_null() && max > 0 {
                return Err(CKR_ARGUMENTS_BAD);
            }
            let (s, _) = m.session(h)?;
            let found = s.find.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
            let mut n = 0;
            while (n as CK_ULONG) < max {
                let Some(o) = found.pop() else { break };
                *ph.add(n) = o;
                n += 1;
            }
            *count = n as CK_ULONG;
            Ok(())
        })
    })
}

pub unsafe extern "C" fn C_FindObjectsFinal(h: CK_SESSION_HANDLE) -> CK_RV {
    guard(|| {
        with(|m| {
            let (s, _) = m.session(h)?;
            s.find.take().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
            Ok(())
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Cryptographic operations

/// The key object `obj` for an operation that needs `usage`.
fn op_key(t: &Token, obj: CK_OBJECT_HANDLE, usage: Usage) -> Rv<KeyInfo> {
    let o = t.object(obj).ok_or(CKR_KEY_HANDLE_INVALID)?;
    if o.flag(CKA_PRIVATE) && t.user_pin.is_none() {
        return Err(CKR_USER_NOT_LOGGED_IN);
    }
    let attr = match usage {
        Usage::Sign => CKA_SIGN,
        Usage::Decrypt => CKA_DECRYPT,
        Usage::Encrypt => CKA_ENCRYPT,
        Usage::Derive => CKA_DERIVE,
    };
    if !matches!(o.kind, Kind::Private | Kind::Secret) {
        return Err(CKR_KEY_TYPE_INCONSISTENT);
    }
    if !o.flag(attr) {
        return Err(CKR_KEY_FUNCTION_NOT_PERMITTED);
    }
    o.key
        .and_then(|k| t.key(k))
        .cloned()
        .ok_or(CKR_KEY_HANDLE_INVALID)
}

/// After a failed card call: a wrong or blocked PIN is never kept.
fn after_error(t: &mut Token, s: &mut Session, rv: CK_RV) -> CK_RV {
    if rv == CKR_PIN_INCORRECT {
        // Forget the PIN that was used: the context-specific one, else the user PIN.
        if s.context_pin.take().is_none() {
            t.user_pin = None;
        }
        t.refresh_pin_state();
        if t.flags() & CKF_USER_PIN_LOCKED != 0 {
            return CKR_PIN_LOCKED;
        }
    }
    rv
}

pub unsafe extern "C" fn C_SignInit(
    h: CK_SESSION_HANDLE,
    p_mech: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| {
        with(|m| {
            let (ty, _) = mechanism(p_mech)?;
            let (s, t) = m.session(h)?;
            if s.sign.is_some() {
                return Err(CKR_OPERATION_ACTIVE);
            }
            let k = op_key(t, key, Usage::Sign)?;
            log::debug!(
                "C_SignInit: mechanism {ty:#x}, object {key}, {:?}",
                k.key_type
            );
            let mech = SignMech::new(ty, &k)?;
            s.context_pin = None;
            s.sign = Some(SignOp {
                key: k.handle,
                mech,
                data: Zeroizing::new(Vec::new()),
                hasher: mech.hash().map(ops::Hasher::new),
                result: None,
            });
            Ok(())
        })
    })
}

/// Computes (once) and delivers the signature of the session's sign operation, with `more`
/// appended to the data collected so far.
unsafe fn sign_finish(
    h: CK_SESSION_HANDLE,
    more: &[u8],
    p_sig: *mut CK_BYTE,
    pul_len: *mut CK_ULONG,
) -> Rv {
    with(|m| {
        out(pul_len)?;
        let (s, t) = m.session(h)?;
        let op = s.sign.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let key = t.key(op.key).cloned().ok_or(CKR_KEY_HANDLE_INVALID)?;
        if op.result.is_none() {
            if p_sig.is_null() {
                *pul_len = op.mech.output_len(&key) as CK_ULONG;
                return Ok(());
            }
            let digest = op.hasher.take().map(|mut h| {
                h.update(more);
                h.finalize()
            });
            if digest.is_none() {
                op.data.extend_from_slice(more);
            }
            let computed = t
                .pin_for(&key, s.context_pin.as_ref().map(|p| p.as_slice()))
                .and_then(|pin| ops::sign(&mut t.card, &key, op.mech, &op.data, digest, &pin));
            match computed {
                Ok(sig) => op.result = Some(sig),
                Err(rv) => {
                    s.sign = None;
                    return Err(after_error(t, s, rv));
                }
            }
        }
        let op = s.sign.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let result = op.result.as_deref().unwrap_or_default();
        match deliver(result, p_sig, pul_len) {
            Ok(true) => {
                s.sign = None;
                s.context_pin = None;
                Ok(())
            }
            Ok(false) => Ok(()),
            Err(CKR_BUFFER_TOO_SMALL) => Err(CKR_BUFFER_TOO_SMALL),
            Err(rv) => {
                s.sign = None;
                Err(rv)
            }
        }
    })
}

pub unsafe extern "C" fn C_Sign(
    h: CK_SESSION_HANDLE,
    p_data: *mut CK_BYTE,
    len: CK_ULONG,
    p_sig: *mut CK_BYTE,
    pul_len: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let data = bytes(p_data, len)?;
        sign_finish(h, data, p_sig, pul_len)
    })
}

pub unsafe extern "C" fn C_SignUpdate(
    h: CK_SESSION_HANDLE,
    p_part: *mut CK_BYTE,
    len: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let part = bytes(p_part, len)?;
        with(|m| {
            let (s, _) = m.session(h)?;
            let op = s.sign.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
            if !op.mech.multi_part() {
                s.sign = None;
                return Err(CKR_FUNCTION_NOT_SUPPORTED);
            }
            if let Some(h) = op.hasher.as_mut() {
                h.update(part);
            } else if op.data.len() + part.len() > MAX_COLLECTED {
                s.sign = None;
                return Err(CKR_DATA_LEN_RANGE);
            } else {
                op.data.extend_from_slice(part);
            }
            Ok(())
        })
    })
}

pub unsafe extern "C" fn C_SignFinal(
    h: CK_SESSION_HANDLE,
    p_sig: *mut CK_BYTE,
    pul_len: *mut CK_ULONG,
) -> CK_RV {
    guard(|| sign_finish(h, &[], p_sig, pul_len))
}

fn cipher_init(
    h: CK_SESSION_HANDLE,
    p_mech: *const CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
    decrypt: bool,
) -> Rv {
    with(|m| {
        // SAFETY: checked for NULL by `mechanism`; the caller passes a valid mechanism.
        let (ty, param) = unsafe { mechanism(p_mech)? };
        let (s, t) = m.session(h)?;
        let slot = if decrypt { &s.decrypt } else { &s.encrypt };
        if slot.is_some() {
            return Err(CKR_OPERATION_ACTIVE);
        }
        let usage = if decrypt {
            Usage::Decrypt
        } else {
            Usage::Encrypt
        };
        let k = op_key(t, key, usage)?;
        let mech = CipherMech::new(ty, &param, &k, decrypt)?;
        let op = CipherOp {
            key: k.handle,
            mech,
            data: Zeroizing::new(Vec::new()),
            result: None,
        };
        s.context_pin = None;
        if decrypt {
            s.decrypt = Some(op);
        } else {
            s.encrypt = Some(op);
        }
        Ok(())
    })
}

unsafe fn cipher_finish(
    h: CK_SESSION_HANDLE,
    more: &[u8],
    p_out: *mut CK_BYTE,
    pul_len: *mut CK_ULONG,
    decrypt: bool,
) -> Rv {
    with(|m| {
        out(pul_len)?;
        let (s, t) = m.session(h)?;
        let op = if decrypt {
            s.decrypt.as_mut()
        } else {
            s.encrypt.as_mut()
        }
        .ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let key = t.key(op.key).cloned().ok_or(CKR_KEY_HANDLE_INVALID)?;
        if op.result.is_none() {
            if p_out.is_null() {
                let n = op.data.len() + more.len();
                *pul_len = op.mech.max_output(&key, n, decrypt) as CK_ULONG;
                return Ok(());
            }
            op.data.extend_from_slice(more);
            let computed = t
                .pin_for(&key, s.context_pin.as_ref().map(|p| p.as_slice()))
                .and_then(|pin| {
                    if decrypt {
                        ops::decrypt(&mut t.card, &key, &op.mech, &op.data, &pin)
                    } else {
                        ops::encrypt(&mut t.card, &key, &op.mech, &op.data, &pin)
                            .map(Zeroizing::new)
                    }
                });
            match computed {
                Ok(r) => op.result = Some(r),
                Err(rv) => {
                    if decrypt {
                        s.decrypt = None
                    } else {
                        s.encrypt = None
                    }
                    return Err(after_error(t, s, rv));
                }
            }
        }
        let result = op
            .result
            .as_deref()
            .map(|v| v.as_slice())
            .unwrap_or_default();
        match deliver(result, p_out, pul_len) {
            Ok(false) => Ok(()),
            Err(CKR_BUFFER_TOO_SMALL) => Err(CKR_BUFFER_TOO_SMALL),
            other => {
                if decrypt {
                    s.decrypt = None
                } else {
                    s.encrypt = None
                }
                s.context_pin = None;
                other.map(|_| ())
            }
        }
    })
}

unsafe fn cipher_update(
    h: CK_SESSION_HANDLE,
    part: &[u8],
    p_out: *mut CK_BYTE,
    pul_len: *mut CK_ULONG,
    decrypt: bool,
) -> Rv {
    with(|m| {
        let len = out(pul_len)?;
        let _ = p_out;
        let (s, _) = m.session(h)?;
        let op = if decrypt {
            s.decrypt.as_mut()
        } else {
            s.encrypt.as_mut()
        }
        .ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        if matches!(op.mech, CipherMech::Rsa(_)) {
            s.decrypt = None;
            return Err(CKR_FUNCTION_NOT_SUPPORTED);
        }
        // The card encrypts a whole message per call: output comes at C_*Final.
        if op.data.len() + part.len() > MAX_COLLECTED {
            if decrypt {
                s.decrypt = None
            } else {
                s.encrypt = None
            }
            return Err(CKR_DATA_LEN_RANGE);
        }
        op.data.extend_from_slice(part);
        *len = 0;
        Ok(())
    })
}

pub unsafe extern "C" fn C_EncryptInit(
    h: CK_SESSION_HANDLE,
    p_mech: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| cipher_init(h, p_mech, key, false))
}

pub unsafe extern "C" fn C_Encrypt(
    h: CK_SESSION_HANDLE,
    p_data: *mut CK_BYTE,
    len: CK_ULONG,
    p_out: *mut CK_BYTE,
    pul_len: *mut CK_ULONG,
) -> CK_RV {
    guard(|| cipher_finish(h, bytes(p_data, len)?, p_out, pul_len, false))
}

pub unsafe extern "C" fn C_EncryptUpdate(
    h: CK_SESSION_HANDLE,
    p_data: *mut CK_BYTE,
    len: CK_ULONG,
    p_out: *mut CK_BYTE,
    pul_len: *mut CK_ULONG,
) -> CK_RV {
    guard(|| cipher_update(h, bytes(p_data, len)?, p_out, pul_len, false))
}

pub unsafe extern "C" fn C_EncryptFinal(
    h: CK_SESSION_HANDLE,
    p_out: *mut CK_BYTE,
    pul_len: *mut CK_ULONG,
) -> CK_RV {
    guard(|| cipher_finish(h, &[], p_out, pul_len, false))
}

pub unsafe extern "C" fn C_DecryptInit(
    h: CK_SESSION_HANDLE,
    p_mech: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| cipher_init(h, p_mech, key, true))
}

pub unsafe extern "C" fn C_Decrypt(
    h: CK_SESSION_HANDLE,
    p_data: *mut CK_BYTE,
    len: CK_ULONG,
    p_out: *mut CK_BYTE,
    pul_len: *mut CK_ULONG,
) -> CK_RV {
    guard(|| cipher_finish(h, bytes(p_data, len)?, p_out, pul_len, true))
}

pub unsafe extern "C" fn C_DecryptUpdate(
    h: CK_SESSION_HANDLE,
    p_data: *mut CK_BYTE,
    len: CK_ULONG,
    p_out: *mut CK_BYTE,
    pul_len: *mut CK_ULONG,
) -> CK_RV {
    guard(|| cipher_update(h, bytes(p_data, len)?, p_out, pul_len, true))
}

pub unsafe extern "C" fn C_DecryptFinal(
    h: CK_SESSION_HANDLE,
    p_out: *mut CK_BYTE,
    pul_len: *mut CK_ULONG,
) -> CK_RV {
    guard(|| cipher_finish(h, &[], p_out, pul_len, true))
}

pub unsafe extern "C" fn C_DeriveKey(
    h: CK_SESSION_HANDLE,
    p_mech: *mut CK_MECHANISM,
    base: CK_OBJECT_HANDLE,
    p_template: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
    ph_key: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| {
        let m_in = inp(p_mech)?;
        let tpl = template(p_template, n)?;
        let ph_key = out(ph_key)?;
        if m_in.mechanism != CKM_ECDH1_DERIVE {
            return Err(CKR_MECHANISM_INVALID);
        }
        if m_in.ulParameterLen as usize != std::mem::size_of::<CK_ECDH1_DERIVE_PARAMS>() {
            return Err(CKR_MECHANISM_PARAM_INVALID);
        }
        let p = inp(m_in.pParameter as *const CK_ECDH1_DERIVE_PARAMS)?;
        if p.kdf != CKD_NULL || p.ulSharedDataLen != 0 {
            return Err(CKR_MECHANISM_PARAM_INVALID);
        }
        let peer = bytes(p.pPublicData, p.ulPublicDataLen)?.to_vec();
        if template_flag(&tpl, CKA_TOKEN) == Some(true) {
            return Err(CKR_ATTRIBUTE_VALUE_INVALID);
        }
        with(|m| {
            let handle = m.next_object;
            let (s, t) = m.session(h)?;
            let key = op_key(t, base, Usage::Derive)?;
            let pin = t.pin_for(&key, s.context_pin.as_ref().map(|p| p.as_slice()))?;
            let mut z = match ops::ecdh(&mut t.card, &key, &peer, &pin) {
                Ok(z) => z,
                Err(rv) => return Err(after_error(t, s, rv)),
            };
            s.context_pin = None;
            if let Some(len) = template_ulong(&tpl, CKA_VALUE_LEN) {
                if len == 0 || len as usize > z.len() {
                    return Err(CKR_ATTRIBUTE_VALUE_INVALID);
                }
                z.truncate(len as usize);
            }
            let key_type = template_ulong(&tpl, CKA_KEY_TYPE).unwrap_or(CKK_GENERIC_SECRET);
            let sensitive = template_flag(&tpl, CKA_SENSITIVE).unwrap_or(false);
            let extractable = template_flag(&tpl, CKA_EXTRACTABLE).unwrap_or(true);
            let mut a = Attrs::default();
            a.ulong(CKA_CLASS, CKO_SECRET_KEY)
                .ulong(CKA_KEY_TYPE, key_type)
                .flag(CKA_TOKEN, false)
                .flag(CKA_PRIVATE, false)
                .flag(CKA_MODIFIABLE, false)
                .flag(CKA_LOCAL, false)
                .flag(CKA_SENSITIVE, sensitive)
                .flag(CKA_ALWAYS_SENSITIVE, false)
                .flag(CKA_EXTRACTABLE, extractable)
                .flag(CKA_NEVER_EXTRACTABLE, false)
                .ulong(CKA_VALUE_LEN, z.len() as CK_ULONG)
                .ulong(CKA_KEY_GEN_MECHANISM, CKM_ECDH1_DERIVE)
                .set(CKA_ID, Vec::new())
                .flag(CKA_DERIVE, false)
                .flag(CKA_ENCRYPT, false)
                .flag(CKA_DECRYPT, false)
                .flag(CKA_SIGN, false)
                .flag(CKA_VERIFY, false);
            for (ty, v) in &tpl {
                if matches!(*ty, CKA_LABEL | CKA_ID) {
                    a.set(*ty, v.clone());
                }
            }
            t.objects.push(Object {
                handle,
                key: None,
                kind: Kind::Derived,
                attrs: a.0,
                secret: Some(z),
                session: Some(h),
            });
            m.next_object += 1;
            *ph_key = handle;
            Ok(())
        })
    })
}

pub unsafe extern "C" fn C_GenerateKeyPair(
    h: CK_SESSION_HANDLE,
    p_mech: *mut CK_MECHANISM,
    p_pub: *mut CK_ATTRIBUTE,
    n_pub: CK_ULONG,
    p_priv: *mut CK_ATTRIBUTE,
    n_priv: CK_ULONG,
    ph_pub: *mut CK_OBJECT_HANDLE,
    ph_priv: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| {
        let (ty, _) = mechanism(p_mech)?;
        let public = template(p_pub, n_pub)?;
        let private = template(p_priv, n_priv)?;
        let ph_pub = out(ph_pub)?;
        let ph_priv = out(ph_priv)?;
        with(|m| {
            let (s, t) = m.session(h)?;
            if !s.rw {
                return Err(CKR_SESSION_READ_ONLY);
            }
            let supported = t.supported_algorithms();
            if !mechanism::available(&supported).any(|m| m.ty == ty) {
                return Err(CKR_MECHANISM_INVALID);
            }
            let handle = crate::keygen::generate(t, ty, &public, &private)?;
            let key = t.key(handle).ok_or(CKR_GENERAL_ERROR)?;
            *ph_pub = key.object_handle(Kind::Public);
            *ph_priv = key.object_handle(Kind::Private);
            Ok(())
        })
    })
}

/// The SKS API has no random-number method: C_GenerateRandom returns the host operating
/// system's CSPRNG output (getrandom), which is what the module's own operations use too.
pub unsafe extern "C" fn C_GenerateRandom(
    h: CK_SESSION_HANDLE,
    p_data: *mut CK_BYTE,
    len: CK_ULONG,
) -> CK_RV {
    guard(|| {
        with(|m| m.session(h).map(|_| ()))?;
        if len == 0 {
            return Ok(());
        }
        if p_data.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        let buf = std::slice::from_raw_parts_mut(p_data, len as usize);
        getrandom::fill(buf).map_err(|_| CKR_FUNCTION_FAILED)
    })
}

// ---------------------------------------------------------------------------------------------
// What the card does not offer

macro_rules! unsupported_session_fn {
    ($name:ident, $rv:expr, ($($arg:ident : $ty:ty),*)) => {
        pub unsafe extern "C" fn $name(h: CK_SESSION_HANDLE, $($arg: $ty),*) -> CK_RV {
            $(let _ = $arg;)*
            guard(|| with(|m| m.session(h).and(Err($rv))))
        }
    };
}

unsupported_session_fn!(C_DigestInit, CKR_MECHANISM_INVALID, (m: *mut CK_MECHANISM));
unsupported_session_fn!(C_Digest, CKR_OPERATION_NOT_INITIALIZED,
    (d: *mut CK_BYTE, l: CK_ULONG, o: *mut CK_BYTE, ol: *mut CK_ULONG));
unsupported_session_fn!(C_DigestUpdate, CKR_OPERATION_NOT_INITIALIZED, (d: *mut CK_BYTE, l: CK_ULONG));
unsupported_session_fn!(C_DigestKey, CKR_OPERATION_NOT_INITIALIZED, (k: CK_OBJECT_HANDLE));
unsupported_session_fn!(C_DigestFinal, CKR_OPERATION_NOT_INITIALIZED, (o: *mut CK_BYTE, ol: *mut CK_ULONG));
unsupported_session_fn!(C_SignRecoverInit, CKR_MECHANISM_INVALID, (m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE));
unsupported_session_fn!(C_SignRecover, CKR_OPERATION_NOT_INITIALIZED,
    (d: *mut CK_BYTE, l: CK_ULONG, o: *mut CK_BYTE, ol: *mut CK_ULONG));
unsupported_session_fn!(C_VerifyInit, CKR_MECHANISM_INVALID, (m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE));
unsupported_session_fn!(C_Verify, CKR_OPERATION_NOT_INITIALIZED,
    (d: *mut CK_BYTE, l: CK_ULONG, o: *mut CK_BYTE, ol: CK_ULONG));
unsupported_session_fn!(C_VerifyUpdate, CKR_OPERATION_NOT_INITIALIZED, (d: *mut CK_BYTE, l: CK_ULONG));
unsupported_session_fn!(C_VerifyFinal, CKR_OPERATION_NOT_INITIALIZED, (o: *mut CK_BYTE, ol: CK_ULONG));
unsupported_session_fn!(C_VerifyRecoverInit, CKR_MECHANISM_INVALID, (m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE));
unsupported_session_fn!(C_VerifyRecover, CKR_OPERATION_NOT_INITIALIZED,
    (d: *mut CK_BYTE, l: CK_ULONG, o: *mut CK_BYTE, ol: *mut CK_ULONG));
unsupported_session_fn!(C_DigestEncryptUpdate, CKR_FUNCTION_NOT_SUPPORTED,
    (d: *mut CK_BYTE, l: CK_ULONG, o: *mut CK_BYTE, ol: *mut CK_ULONG));
unsupported_session_fn!(C_DecryptDigestUpdate, CKR_FUNCTION_NOT_SUPPORTED,
    (d: *mut CK_BYTE, l: CK_ULONG, o: *mut CK_BYTE, ol: *mut CK_ULONG));
unsupported_session_fn!(C_SignEncryptUpdate, CKR_FUNCTION_NOT_SUPPORTED,
    (d: *mut CK_BYTE, l: CK_ULONG, o: *mut CK_BYTE, ol: *mut CK_ULONG));
unsupported_session_fn!(C_DecryptVerifyUpdate, CKR_FUNCTION_NOT_SUPPORTED,
    (d: *mut CK_BYTE, l: CK_ULONG, o: *mut CK_BYTE, ol: *mut CK_ULONG));
unsupported_session_fn!(C_GenerateKey, CKR_MECHANISM_INVALID,
    (m: *mut CK_MECHANISM, t: *mut CK_ATTRIBUTE, n: CK_ULONG, k: *mut CK_OBJECT_HANDLE));
unsupported_session_fn!(C_WrapKey, CKR_MECHANISM_INVALID,
    (m: *mut CK_MECHANISM, w: CK_OBJECT_HANDLE, k: CK_OBJECT_HANDLE, o: *mut CK_BYTE, ol: *mut CK_ULONG));
unsupported_session_fn!(C_UnwrapKey, CKR_MECHANISM_INVALID,
    (m: *mut CK_MECHANISM, w: CK_OBJECT_HANDLE, d: *mut CK_BYTE, l: CK_ULONG,
     t: *mut CK_ATTRIBUTE, n: CK_ULONG, k: *mut CK_OBJECT_HANDLE));
unsupported_session_fn!(C_SeedRandom, CKR_RANDOM_SEED_NOT_SUPPORTED, (d: *mut CK_BYTE, l: CK_ULONG));
unsupported_session_fn!(C_GetFunctionStatus, CKR_FUNCTION_NOT_PARALLEL, ());
unsupported_session_fn!(C_CancelFunction, CKR_FUNCTION_NOT_PARALLEL, ());
