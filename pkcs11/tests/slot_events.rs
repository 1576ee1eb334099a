//! Slots follow the card over the real PC/SC stack: C_GetSlotList(tokenPresent) rescans, a
//! removed card's token and sessions go, the re-inserted card comes back as the same token.
//! The module runs in this process (its own libpcsclite client on the private pcscd).

#[macro_use]
mod common;

use conformance_tests::CardUnderTest;
use cryptoki_sys::*;
use std::ptr::null_mut;

fn slots_with_token() -> Vec<CK_SLOT_ID> {
    let mut n: CK_ULONG = 0;
    assert_eq!(call!(C_GetSlotList(CK_TRUE, null_mut(), &mut n)), CKR_OK);
    let mut v = vec![0; n as usize];
    assert_eq!(
        call!(C_GetSlotList(CK_TRUE, v.as_mut_ptr(), &mut n)),
        CKR_OK
    );
    v.truncate(n as usize);
    v
}

fn serial(slot: CK_SLOT_ID) -> [u8; 16] {
    let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(call!(C_GetTokenInfo(slot, &mut info)), CKR_OK);
    info.serialNumber
}

#[test]
fn get_slot_list_follows_removal_and_insertion() {
    let mut cut = CardUnderTest::start(common::provisioned_card());
    let reader = cut.reader_name().to_string_lossy().into_owned();
    std::env::set_var("SKS_PKCS11_READER", &reader);
    assert_eq!(call!(C_Initialize(null_mut())), CKR_OK);

    let slots = slots_with_token();
    assert_eq!(slots.len(), 1, "one token in {reader}");
    let slot = slots[0];
    let before = serial(slot);
    let mut s: CK_SESSION_HANDLE = 0;
    let flags = CKF_SERIAL_SESSION;
    assert_eq!(
        call!(C_OpenSession(slot, flags, null_mut(), None, &mut s)),
        CKR_OK
    );

    let card = cut.stop().expect("card running");
    cut.wait_absent();
    assert!(slots_with_token().is_empty(), "the token is gone");
    let mut all: CK_ULONG = 0;
    assert_eq!(call!(C_GetSlotList(CK_FALSE, null_mut(), &mut all)), CKR_OK);
    assert_eq!(all, 1, "the slot (reader) stays");
    let mut info: CK_SESSION_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(
        call!(C_GetSessionInfo(s, &mut info)),
        CKR_SESSION_HANDLE_INVALID
    );
    let mut ti: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(call!(C_GetTokenInfo(slot, &mut ti)), CKR_TOKEN_NOT_PRESENT);

    cut.start_card(card);
    cut.wait_present();
    assert_eq!(slots_with_token(), vec![slot], "same slot id");
    assert_eq!(serial(slot), before, "same card, same serial");
    assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
}
