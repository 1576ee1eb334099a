//! `libsks_pkcs11.so`: a PKCS #11 v2.40 module that makes an SKS card (spec 002 §2.3) a
//! token for every PKCS #11 application.
//!
//! * [`ffi`]: panic containment and the C conventions; [`api`]: the entry points.
//! * [`module`]: global state (slots, sessions) under one lock; [`backend`]: PC/SC readers
//!   (or an in-process card with `SKS_PKCS11_INPROCESS=ram|<image>`).
//! * [`token`]: a card, its keys and the user-PIN rule; [`keys`]: SKS keys → objects;
//!   [`object`]: attributes and template matching.
//! * [`mechanism`]: what is offered; [`ops`]: mechanisms → SKS User API calls; [`pin`]:
//!   login and PIN changes; [`keygen`]: C_GenerateKeyPair through a local issuer, deleteKey.
//!
//! See README.md in this crate for the mapping and its limits.

pub mod api;
pub mod backend;
pub mod ffi;
pub mod keygen;
pub mod keys;
pub mod mechanism;
pub mod module;
pub mod object;
pub mod ops;
pub mod pin;
pub mod token;

use api::*;
use cryptoki_sys::CK_FUNCTION_LIST;

/// The PKCS #11 v2.40 function list.
pub static FUNCTION_LIST: CK_FUNCTION_LIST = CK_FUNCTION_LIST {
    version: ffi::version(2, 40),
    C_Initialize: Some(C_Initialize),
    C_Finalize: Some(C_Finalize),
    C_GetInfo: Some(C_GetInfo),
    C_GetFunctionList: Some(C_GetFunctionList),
    C_GetSlotList: Some(C_GetSlotList),
    C_GetSlotInfo: Some(C_GetSlotInfo),
    C_GetTokenInfo: Some(C_GetTokenInfo),
    C_GetMechanismList: Some(C_GetMechanismList),
    C_GetMechanismInfo: Some(C_GetMechanismInfo),
    C_InitToken: Some(C_InitToken),
    C_InitPIN: Some(C_InitPIN),
    C_SetPIN: Some(C_SetPIN),
    C_OpenSession: Some(C_OpenSession),
    C_CloseSession: Some(C_CloseSession),
    C_CloseAllSessions: Some(C_CloseAllSessions),
    C_GetSessionInfo: Some(C_GetSessionInfo),
    C_GetOperationState: Some(C_GetOperationState),
    C_SetOperationState: Some(C_SetOperationState),
    C_Login: Some(C_Login),
    C_Logout: Some(C_Logout),
    C_CreateObject: Some(C_CreateObject),
    C_CopyObject: Some(C_CopyObject),
    C_DestroyObject: Some(C_DestroyObject),
    C_GetObjectSize: Some(C_GetObjectSize),
    C_GetAttributeValue: Some(C_GetAttributeValue),
    C_SetAttributeValue: Some(C_SetAttributeValue),
    C_FindObjectsInit: Some(C_FindObjectsInit),
    C_FindObjects: Some(C_FindObjects),
    C_FindObjectsFinal: Some(C_FindObjectsFinal),
    C_EncryptInit: Some(C_EncryptInit),
    C_Encrypt: Some(C_Encrypt),
    C_EncryptUpdate: Some(C_EncryptUpdate),
    C_EncryptFinal: Some(C_EncryptFinal),
    C_DecryptInit: Some(C_DecryptInit),
    C_Decrypt: Some(C_Decrypt),
    C_DecryptUpdate: Some(C_DecryptUpdate),
    C_DecryptFinal: Some(C_DecryptFinal),
    C_DigestInit: Some(C_DigestInit),
    C_Digest: Some(C_Digest),
    C_DigestUpdate: Some(C_DigestUpdate),
    C_DigestKey: Some(C_DigestKey),
    C_DigestFinal: Some(C_DigestFinal),
    C_SignInit: Some(C_SignInit),
    C_Sign: Some(C_Sign),
    C_SignUpdate: Some(C_SignUpdate),
    C_SignFinal: Some(C_SignFinal),
    C_SignRecoverInit: Some(C_SignRecoverInit),
    C_SignRecover: Some(C_SignRecover),
    C_VerifyInit: Some(C_VerifyInit),
    C_Verify: Some(C_Verify),
    C_VerifyUpdate: Some(C_VerifyUpdate),
    C_VerifyFinal: Some(C_VerifyFinal),
    C_VerifyRecoverInit: Some(C_VerifyRecoverInit),
    C_VerifyRecover: Some(C_VerifyRecover),
    C_DigestEncryptUpdate: Some(C_DigestEncryptUpdate),
    C_DecryptDigestUpdate: Some(C_DecryptDigestUpdate),
    C_SignEncryptUpdate: Some(C_SignEncryptUpdate),
    C_DecryptVerifyUpdate: Some(C_DecryptVerifyUpdate),
    C_GenerateKey: Some(C_GenerateKey),
    C_GenerateKeyPair: Some(C_GenerateKeyPair),
    C_WrapKey: Some(C_WrapKey),
    C_UnwrapKey: Some(C_UnwrapKey),
    C_DeriveKey: Some(C_DeriveKey),
    C_SeedRandom: Some(C_SeedRandom),
    C_GenerateRandom: Some(C_GenerateRandom),
    C_GetFunctionStatus: Some(C_GetFunctionStatus),
    C_CancelFunction: Some(C_CancelFunction),
    C_WaitForSlotEvent: Some(C_WaitForSlotEvent),
};

/// The exported entry point: `CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR)`.
///
/// # Safety
/// `pp` must be NULL or a valid pointer to a function-list pointer.
#[no_mangle]
pub unsafe extern "C" fn C_GetFunctionList(pp: *mut *mut CK_FUNCTION_LIST) -> cryptoki_sys::CK_RV {
    api::C_GetFunctionList(pp)
}

/// The one interface of the module (PKCS #11 v3.0 interface discovery): "PKCS 11" with the
/// v2.40 function list, so v3.0 callers that start with C_GetInterface find it.
struct Interface(cryptoki_sys::CK_INTERFACE);

// SAFETY: the interface only points at 'static, never-written data (a string literal and
// FUNCTION_LIST); sharing it between threads is sound.
unsafe impl Sync for Interface {}

static INTERFACE_NAME: &[u8] = b"PKCS 11\0";

static INTERFACE: Interface = Interface(cryptoki_sys::CK_INTERFACE {
    pInterfaceName: INTERFACE_NAME.as_ptr() as *mut u8,
    pFunctionList: std::ptr::addr_of!(FUNCTION_LIST) as *mut std::ffi::c_void,
    flags: 0,
});

/// `C_GetInterfaceList` (PKCS #11 v3.0): the one "PKCS 11" interface, two-call convention.
///
/// # Safety
/// `p_list` must be NULL or point to `*pul_count` writable interfaces; `pul_count` valid.
#[no_mangle]
pub unsafe extern "C" fn C_GetInterfaceList(
    p_list: *mut cryptoki_sys::CK_INTERFACE,
    pul_count: *mut cryptoki_sys::CK_ULONG,
) -> cryptoki_sys::CK_RV {
    ffi::guard(|| {
        let one = [cryptoki_sys::CK_INTERFACE {
            pInterfaceName: INTERFACE.0.pInterfaceName,
            pFunctionList: INTERFACE.0.pFunctionList,
            flags: INTERFACE.0.flags,
        }];
        ffi::deliver_list(&one, p_list, pul_count)
    })
}

/// `C_GetInterface` (PKCS #11 v3.0): "PKCS 11" (or NULL) at version 2.40 (or NULL), no flags.
///
/// # Safety
/// `p_name` NULL or a NUL-terminated string; `p_version` NULL or valid; `pp` valid.
#[no_mangle]
pub unsafe extern "C" fn C_GetInterface(
    p_name: *mut cryptoki_sys::CK_UTF8CHAR,
    p_version: *mut cryptoki_sys::CK_VERSION,
    pp: *mut *mut cryptoki_sys::CK_INTERFACE,
    flags: cryptoki_sys::CK_FLAGS,
) -> cryptoki_sys::CK_RV {
    ffi::guard(|| {
        let pp = ffi::out(pp)?;
        if !p_name.is_null() {
            let name = std::ffi::CStr::from_ptr(p_name as *const std::ffi::c_char);
            if name.to_bytes_with_nul() != INTERFACE_NAME {
                return Err(cryptoki_sys::CKR_ARGUMENTS_BAD);
            }
        }
        if let Some(v) = p_version.as_ref() {
            if (v.major, v.minor) != (2, 40) {
                return Err(cryptoki_sys::CKR_ARGUMENTS_BAD);
            }
        }
        if flags & !INTERFACE.0.flags != 0 {
            return Err(cryptoki_sys::CKR_ARGUMENTS_BAD);
        }
        *pp = std::ptr::addr_of!(INTERFACE.0) as *mut cryptoki_sys::CK_INTERFACE;
        Ok(())
    })
}
