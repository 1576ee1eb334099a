//! The C ABI through the function list, on an in-process card (`SKS_PKCS11_INPROCESS`): the
//! return codes PKCS #11 names for bad input (NULL pointers, buffer sizes, two-call size
//! queries, unknown mechanisms, wrong and blocked PINs, C_Initialize arguments), and the
//! output formats (ECDSA r‖s, verified with RustCrypto's p256).

#[macro_use]
mod common;

use cryptoki_sys::*;
use p256::ecdsa::signature::Verifier;
use std::ptr::null_mut;

fn attr(t: CK_ATTRIBUTE_TYPE, v: &mut [u8]) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: t,
        pValue: v.as_mut_ptr() as *mut _,
        ulValueLen: v.len() as CK_ULONG,
    }
}

fn find(s: CK_SESSION_HANDLE, class: CK_OBJECT_CLASS, label: &str) -> CK_OBJECT_HANDLE {
    let mut class = class.to_ne_bytes();
    let mut label_bytes = label.as_bytes().to_vec();
    let mut tpl = [
        attr(CKA_CLASS, &mut class),
        attr(CKA_LABEL, &mut label_bytes),
    ];
    assert_eq!(call!(C_FindObjectsInit(s, tpl.as_mut_ptr(), 2)), CKR_OK);
    let mut h = [0; 4];
    let mut n = 0;
    assert_eq!(call!(C_FindObjects(s, h.as_mut_ptr(), 4, &mut n)), CKR_OK);
    assert_eq!(call!(C_FindObjectsFinal(s)), CKR_OK);
    assert_eq!(n, 1, "exactly one {label}");
    h[0]
}

fn token_flags(slot: CK_SLOT_ID) -> CK_FLAGS {
    let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(call!(C_GetTokenInfo(slot, &mut info)), CKR_OK);
    info.flags
}

fn login(s: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &str) -> CK_RV {
    let mut pin = pin.as_bytes().to_vec();
    call!(C_Login(s, user, pin.as_mut_ptr(), pin.len() as CK_ULONG))
}

unsafe extern "C" fn create_mutex(_: *mut *mut std::ffi::c_void) -> CK_RV {
    CKR_OK
}
unsafe extern "C" fn mutex_op(_: *mut std::ffi::c_void) -> CK_RV {
    CKR_OK
}

#[test]
fn c_api_return_codes_and_formats() {
    let dir = std::env::temp_dir().join(format!("sks-p11-capi-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let image = dir.join("card.img");
    drop(common::provision(
        applet::open_card(Some(&image)).expect("card image"),
    ));
    std::env::set_var("SKS_PKCS11_INPROCESS", &image);

    // C_GetFunctionList and calls before C_Initialize.
    assert_eq!(
        unsafe { sks_pkcs11::C_GetFunctionList(null_mut()) },
        CKR_ARGUMENTS_BAD
    );
    let mut info: CK_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(call!(C_GetInfo(&mut info)), CKR_CRYPTOKI_NOT_INITIALIZED);

    // v3.0 interface discovery: "PKCS 11" with the same v2.40 function list.
    let mut iface: *mut CK_INTERFACE = null_mut();
    let rv = unsafe { sks_pkcs11::C_GetInterface(null_mut(), null_mut(), &mut iface, 0) };
    assert_eq!(rv, CKR_OK);
    let iface = unsafe { &*iface };
    assert_eq!(
        iface.pFunctionList as *const CK_FUNCTION_LIST,
        common::f() as *const _
    );
    let name = unsafe { std::ffi::CStr::from_ptr(iface.pInterfaceName as *const _) };
    assert_eq!(name.to_bytes(), b"PKCS 11");
    let mut other = *b"Vendor X\0";
    let mut p2: *mut CK_INTERFACE = null_mut();
    let rv = unsafe { sks_pkcs11::C_GetInterface(other.as_mut_ptr(), null_mut(), &mut p2, 0) };
    assert_eq!(rv, CKR_ARGUMENTS_BAD);
    let mut n: CK_ULONG = 0;
    assert_eq!(
        unsafe { sks_pkcs11::C_GetInterfaceList(null_mut(), &mut n) },
        CKR_OK
    );
    assert_eq!(n, 1);

    // C_Initialize arguments.
    let mut args = CK_C_INITIALIZE_ARGS {
        CreateMutex: None,
        DestroyMutex: None,
        LockMutex: None,
        UnlockMutex: None,
        flags: 0,
        pReserved: std::ptr::dangling_mut(),
    };
    let init = |a: &mut CK_C_INITIALIZE_ARGS| {
        let p = a as *mut CK_C_INITIALIZE_ARGS as *mut std::ffi::c_void;
        call!(C_Initialize(p))
    };
    assert_eq!(init(&mut args), CKR_ARGUMENTS_BAD, "pReserved");
    args.pReserved = null_mut();
    args.CreateMutex = Some(create_mutex);
    assert_eq!(init(&mut args), CKR_ARGUMENTS_BAD, "some mutex functions");
    args.DestroyMutex = Some(mutex_op);
    args.LockMutex = Some(mutex_op);
    args.UnlockMutex = Some(mutex_op);
    assert_eq!(init(&mut args), CKR_CANT_LOCK, "app mutexes only");
    args.flags = CKF_OS_LOCKING_OK;
    assert_eq!(init(&mut args), CKR_OK);
    assert_eq!(
        call!(C_Initialize(null_mut())),
        CKR_CRYPTOKI_ALREADY_INITIALIZED
    );
    assert_eq!(call!(C_GetInfo(&mut info)), CKR_OK);
    assert_eq!(
        (info.cryptokiVersion.major, info.cryptokiVersion.minor),
        (2, 40)
    );
    assert_eq!(call!(C_GetInfo(null_mut())), CKR_ARGUMENTS_BAD);

    // Two-call slot list.
    n = 0;
    assert_eq!(
        call!(C_GetSlotList(CK_TRUE, null_mut(), null_mut())),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(call!(C_GetSlotList(CK_TRUE, null_mut(), &mut n)), CKR_OK);
    assert_eq!(n, 1);
    let mut slots = [99; 2];
    let mut zero: CK_ULONG = 0;
    assert_eq!(
        call!(C_GetSlotList(CK_TRUE, slots.as_mut_ptr(), &mut zero)),
        CKR_BUFFER_TOO_SMALL
    );
    assert_eq!(zero, 1);
    n = 2;
    assert_eq!(
        call!(C_GetSlotList(CK_TRUE, slots.as_mut_ptr(), &mut n)),
        CKR_OK
    );
    let slot = slots[0];
    let flags = token_flags(slot);
    assert_ne!(flags & CKF_LOGIN_REQUIRED, 0);
    assert_eq!(flags & (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_LOCKED), 0);

    // Sessions.
    let mut s: CK_SESSION_HANDLE = 0;
    assert_eq!(
        call!(C_OpenSession(slot, 0, null_mut(), None, &mut s)),
        CKR_SESSION_PARALLEL_NOT_SUPPORTED
    );
    assert_eq!(
        call!(C_OpenSession(
            7,
            CKF_SERIAL_SESSION,
            null_mut(),
            None,
            &mut s
        )),
        CKR_SLOT_ID_INVALID
    );
    assert_eq!(
        call!(C_OpenSession(
            slot,
            CKF_SERIAL_SESSION,
            null_mut(),
            None,
            null_mut()
        )),
        CKR_ARGUMENTS_BAD
    );
    let rw = CKF_SERIAL_SESSION | CKF_RW_SESSION;
    assert_eq!(
        call!(C_OpenSession(slot, rw, null_mut(), None, &mut s)),
        CKR_OK
    );
    assert_eq!(call!(C_CloseSession(s + 1000)), CKR_SESSION_HANDLE_INVALID);

    // Login: the card judges the PIN; a wrong one is counted and shown in the flags.
    assert_eq!(login(s, CKU_USER, "9999"), CKR_PIN_INCORRECT);
    assert_ne!(token_flags(slot) & CKF_USER_PIN_COUNT_LOW, 0);
    assert_eq!(
        call!(C_Login(s, CKU_USER, null_mut(), 4)),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(login(s, 77, "1234"), CKR_USER_TYPE_INVALID);
    assert_eq!(login(s, CKU_USER, common::PIN), CKR_OK);
    assert_eq!(
        token_flags(slot) & CKF_USER_PIN_COUNT_LOW,
        0,
        "reset by the card"
    );
    assert_eq!(login(s, CKU_USER, common::PIN), CKR_USER_ALREADY_LOGGED_IN);

    let ec = find(s, CKO_PRIVATE_KEY, "ec-key");

    // C_FindObjects filters on any attribute of the template.
    let count = |tpl: &mut [CK_ATTRIBUTE]| {
        let n = tpl.len() as CK_ULONG;
        assert_eq!(call!(C_FindObjectsInit(s, tpl.as_mut_ptr(), n)), CKR_OK);
        let mut h = [0; 64];
        let mut found = 0;
        assert_eq!(
            call!(C_FindObjects(s, h.as_mut_ptr(), 64, &mut found)),
            CKR_OK
        );
        assert_eq!(call!(C_FindObjectsFinal(s)), CKR_OK);
        found
    };
    let (mut class, mut ec_type, mut yes) = (
        CKO_PRIVATE_KEY.to_ne_bytes(),
        CKK_EC.to_ne_bytes(),
        [CK_TRUE],
    );
    assert_eq!(
        count(&mut [
            attr(CKA_CLASS, &mut class),
            attr(CKA_KEY_TYPE, &mut ec_type)
        ]),
        2,
        "ec-key and other-key"
    );
    assert_eq!(
        count(&mut [attr(CKA_CLASS, &mut class), attr(CKA_DERIVE, &mut yes)]),
        1,
        "only ec-key is endorsed for ECDH"
    );
    let mut secret = CKO_SECRET_KEY.to_ne_bytes();
    assert_eq!(
        count(&mut [attr(CKA_CLASS, &mut secret)]),
        2,
        "hmac-key, aes-key"
    );
    let mut bogus = [0xAAu8; 20];
    assert_eq!(count(&mut [attr(CKA_ID, &mut bogus)]), 0);
    assert_eq!(
        call!(C_FindObjects(s, null_mut(), 0, &mut zero)),
        CKR_OPERATION_NOT_INITIALIZED
    );
    let ec_pub = find(s, CKO_PUBLIC_KEY, "ec-key");

    // Attributes: sensitive, unknown, too small, two-call.
    let mut v = [0u8; 8];
    let mut a = [attr(CKA_VALUE, &mut v)];
    assert_eq!(
        call!(C_GetAttributeValue(s, ec, a.as_mut_ptr(), 1)),
        CKR_ATTRIBUTE_SENSITIVE
    );
    assert_eq!(a[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    let mut a = [attr(CKA_MODULUS, &mut v)];
    assert_eq!(
        call!(C_GetAttributeValue(s, ec, a.as_mut_ptr(), 1)),
        CKR_ATTRIBUTE_TYPE_INVALID
    );
    let mut a = [CK_ATTRIBUTE {
        type_: CKA_EC_POINT,
        pValue: null_mut(),
        ulValueLen: 0,
    }];
    assert_eq!(
        call!(C_GetAttributeValue(s, ec_pub, a.as_mut_ptr(), 1)),
        CKR_OK
    );
    assert_eq!(a[0].ulValueLen, 67, "DER OCTET STRING of a P-256 point");
    let mut small = [0u8; 10];
    let mut a = [attr(CKA_EC_POINT, &mut small)];
    assert_eq!(
        call!(C_GetAttributeValue(s, ec_pub, a.as_mut_ptr(), 1)),
        CKR_BUFFER_TOO_SMALL
    );
    let mut point = [0u8; 67];
    let mut a = [attr(CKA_EC_POINT, &mut point)];
    assert_eq!(
        call!(C_GetAttributeValue(s, ec_pub, a.as_mut_ptr(), 1)),
        CKR_OK
    );
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point[2..]).expect("EC point");

    // Mechanisms.
    let mut m = CK_MECHANISM {
        mechanism: CKM_SHA1_RSA_PKCS,
        pParameter: null_mut(),
        ulParameterLen: 0,
    };
    assert_eq!(call!(C_SignInit(s, &mut m, ec)), CKR_MECHANISM_INVALID);
    m.mechanism = CKM_SHA256_RSA_PKCS;
    assert_eq!(call!(C_SignInit(s, &mut m, ec)), CKR_KEY_TYPE_INCONSISTENT);
    assert_eq!(call!(C_SignInit(s, null_mut(), ec)), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(C_SignInit(s, &mut m, 0xdead)), CKR_KEY_HANDLE_INVALID);
    let mut mi: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(
        call!(C_GetMechanismInfo(slot, CKM_MD5, &mut mi)),
        CKR_MECHANISM_INVALID
    );

    // Single-part ECDSA-SHA256 with the two-call size query.
    let data = b"two-call size queries".to_vec();
    m.mechanism = CKM_ECDSA_SHA256;
    assert_eq!(call!(C_SignInit(s, &mut m, ec)), CKR_OK);
    assert_eq!(call!(C_SignInit(s, &mut m, ec)), CKR_OPERATION_ACTIVE);
    let mut len: CK_ULONG = 0;
    let d = data.as_ptr() as *mut u8;
    let dl = data.len() as CK_ULONG;
    assert_eq!(call!(C_Sign(s, d, dl, null_mut(), &mut len)), CKR_OK);
    assert_eq!(len, 64);
    let mut sig = [0u8; 64];
    len = 10;
    assert_eq!(
        call!(C_Sign(s, d, dl, sig.as_mut_ptr(), &mut len)),
        CKR_BUFFER_TOO_SMALL
    );
    assert_eq!(len, 64);
    assert_eq!(call!(C_Sign(s, d, dl, sig.as_mut_ptr(), &mut len)), CKR_OK);
    let signature = p256::ecdsa::Signature::from_slice(&sig).expect("r||s");
    key.verify(&data, &signature)
        .expect("ECDSA-SHA256 verifies");
    assert_eq!(
        call!(C_Sign(s, d, dl, sig.as_mut_ptr(), &mut len)),
        CKR_OPERATION_NOT_INITIALIZED
    );

    // Multi-part.
    assert_eq!(call!(C_SignInit(s, &mut m, ec)), CKR_OK);
    assert_eq!(call!(C_SignUpdate(s, d, 3)), CKR_OK);
    assert_eq!(call!(C_SignUpdate(s, d.wrapping_add(3), dl - 3)), CKR_OK);
    len = 64;
    assert_eq!(call!(C_SignFinal(s, sig.as_mut_ptr(), &mut len)), CKR_OK);
    let signature = p256::ecdsa::Signature::from_slice(&sig).expect("r||s");
    key.verify(&data, &signature)
        .expect("multi-part ECDSA-SHA256 verifies");

    // A message larger than anything the module collects: hashed as it comes.
    let big: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| i as u8).collect();
    assert_eq!(call!(C_SignInit(s, &mut m, ec)), CKR_OK);
    for chunk in big.chunks(64 * 1024) {
        let p = chunk.as_ptr() as *mut u8;
        assert_eq!(call!(C_SignUpdate(s, p, chunk.len() as CK_ULONG)), CKR_OK);
    }
    len = 64;
    assert_eq!(call!(C_SignFinal(s, sig.as_mut_ptr(), &mut len)), CKR_OK);
    let signature = p256::ecdsa::Signature::from_slice(&sig).expect("r||s");
    key.verify(&big, &signature)
        .expect("3 MiB multi-part ECDSA-SHA256 verifies");

    // A key outside the user-PIN group: CKA_ALWAYS_AUTHENTICATE, visible without being
    // private, and each operation needs a CKU_CONTEXT_SPECIFIC login the card checks.
    let other = find(s, CKO_PRIVATE_KEY, "other-key");
    let mut always = [0u8; 1];
    let mut a = [attr(CKA_ALWAYS_AUTHENTICATE, &mut always)];
    assert_eq!(
        call!(C_GetAttributeValue(s, other, a.as_mut_ptr(), 1)),
        CKR_OK
    );
    assert_eq!(always[0], CK_TRUE);
    assert_eq!(
        login(s, CKU_CONTEXT_SPECIFIC, common::OTHER_PIN),
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(call!(C_SignInit(s, &mut m, other)), CKR_OK);
    len = 64;
    assert_eq!(
        call!(C_Sign(s, d, dl, sig.as_mut_ptr(), &mut len)),
        CKR_USER_NOT_LOGGED_IN
    );
    assert_eq!(call!(C_SignInit(s, &mut m, other)), CKR_OK);
    assert_eq!(
        login(s, CKU_CONTEXT_SPECIFIC, common::PIN),
        CKR_PIN_INCORRECT
    );
    assert_eq!(login(s, CKU_CONTEXT_SPECIFIC, common::OTHER_PIN), CKR_OK);
    assert_eq!(call!(C_Sign(s, d, dl, sig.as_mut_ptr(), &mut len)), CKR_OK);
    assert_eq!(len, 64);
    assert_eq!(
        call!(C_SignInit(s, &mut m, other)),
        CKR_OK,
        "the context PIN was used up"
    );
    assert_eq!(
        call!(C_Sign(s, d, dl, sig.as_mut_ptr(), &mut len)),
        CKR_USER_NOT_LOGGED_IN
    );

    // Threads: four sessions sign at once (the module serializes them on its lock).
    std::thread::scope(|scope| {
        for t in 0..4u8 {
            scope.spawn(move || {
                let mut ts: CK_SESSION_HANDLE = 0;
                let flags = CKF_SERIAL_SESSION;
                assert_eq!(
                    call!(C_OpenSession(slot, flags, null_mut(), None, &mut ts)),
                    CKR_OK
                );
                let mut m = CK_MECHANISM {
                    mechanism: CKM_ECDSA_SHA256,
                    pParameter: null_mut(),
                    ulParameterLen: 0,
                };
                for i in 0..5u8 {
                    let msg = [t, i, 42];
                    let mut sig = [0u8; 64];
                    let mut len: CK_ULONG = 64;
                    assert_eq!(call!(C_SignInit(ts, &mut m, ec)), CKR_OK);
                    let p = msg.as_ptr() as *mut u8;
                    assert_eq!(call!(C_Sign(ts, p, 3, sig.as_mut_ptr(), &mut len)), CKR_OK);
                    let signature = p256::ecdsa::Signature::from_slice(&sig).expect("r||s");
                    key.verify(&msg, &signature)
                        .expect("thread signature verifies");
                }
                assert_eq!(call!(C_CloseSession(ts)), CKR_OK);
            });
        }
    });

    // Decrypt with the wrong size of ciphertext.
    let rsa = find(s, CKO_PRIVATE_KEY, "rsa-key");
    m.mechanism = CKM_RSA_PKCS;
    assert_eq!(call!(C_DecryptInit(s, &mut m, rsa)), CKR_OK);
    let mut out = [0u8; 256];
    len = 256;
    assert_eq!(
        call!(C_Decrypt(s, d, dl, out.as_mut_ptr(), &mut len)),
        CKR_ENCRYPTED_DATA_LEN_RANGE
    );
    assert_eq!(
        call!(C_DecryptFinal(s, out.as_mut_ptr(), &mut len)),
        CKR_OPERATION_NOT_INITIALIZED
    );

    // Block the PIN: three wrong PINs (retry limit 3), the last one CKR_PIN_LOCKED.
    assert_eq!(call!(C_Logout(s)), CKR_OK);
    assert_eq!(call!(C_Logout(s)), CKR_USER_NOT_LOGGED_IN);
    assert_eq!(login(s, CKU_USER, "0000"), CKR_PIN_INCORRECT);
    assert_eq!(login(s, CKU_USER, "0000"), CKR_PIN_INCORRECT);
    assert_ne!(token_flags(slot) & CKF_USER_PIN_FINAL_TRY, 0);
    assert_eq!(login(s, CKU_USER, "0000"), CKR_PIN_LOCKED);
    assert_ne!(token_flags(slot) & CKF_USER_PIN_LOCKED, 0);
    assert_eq!(
        login(s, CKU_USER, common::PIN),
        CKR_PIN_LOCKED,
        "the card refuses"
    );

    // The SO (PUK) sets a new PIN.
    assert_eq!(login(s, CKU_SO, "654321"), CKR_PIN_INCORRECT);
    assert_eq!(login(s, CKU_SO, common::PUK), CKR_OK);
    let mut new_pin = b"4321".to_vec();
    assert_eq!(call!(C_InitPIN(s, new_pin.as_mut_ptr(), 4)), CKR_OK);
    assert_eq!(call!(C_Logout(s)), CKR_OK);
    assert_eq!(token_flags(slot) & CKF_USER_PIN_LOCKED, 0);
    assert_eq!(login(s, CKU_USER, "4321"), CKR_OK);

    // Unsupported parts answer with the standard's codes.
    assert_eq!(call!(C_DigestInit(s, &mut m)), CKR_MECHANISM_INVALID);
    assert_eq!(call!(C_VerifyInit(s, &mut m, ec)), CKR_MECHANISM_INVALID);
    assert_eq!(
        call!(C_WaitForSlotEvent(0, &mut zero, null_mut())),
        CKR_FUNCTION_NOT_SUPPORTED
    );
    let mut h: CK_OBJECT_HANDLE = 0;
    assert_eq!(
        call!(C_CreateObject(s, null_mut(), 0, &mut h)),
        CKR_FUNCTION_NOT_SUPPORTED
    );
    assert_eq!(
        call!(C_SetAttributeValue(s, ec, null_mut(), 0)),
        CKR_ACTION_PROHIBITED
    );

    assert_eq!(call!(C_CloseAllSessions(slot)), CKR_OK);
    assert_eq!(
        call!(C_Finalize(std::ptr::dangling_mut())),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    assert_eq!(call!(C_Finalize(null_mut())), CKR_CRYPTOKI_NOT_INITIALIZED);
    let _ = std::fs::remove_dir_all(&dir);
}
