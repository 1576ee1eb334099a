//! End-to-end runs of the driver against the in-process applet.

use apdu_spec::values::{Grouping, PinFormat};
use pcsc_bridge::{InProcess, Sks};
use sks_issuer::{alg, ErrorCode, Issuer, Kmk, PinPolicy, Property};

fn card() -> Sks<InProcess<dyn applet::Card + Send>> {
    let card = applet::open_card(None).expect("open card");
    Sks::new(InProcess::from_box(card).expect("select"))
}

fn full_session(privacy: bool) {
    let mut sks = card();
    let issuer = Issuer::new().unwrap();
    let kmk = Kmk::generate_p256();
    let mut s = issuer
        .session(&mut sks)
        .privacy(privacy)
        .kmk(&kmk)
        .key_limit(50)
        .open()
        .unwrap();
    let puk = s
        .puk("PUK.1", b"123456", PinFormat::Numeric.into(), 3)
        .unwrap();
    s.pin_policy("PIN.1", Some(&puk), PinPolicy::default())
        .unwrap();
    let key = s
        .key("Key.1")
        .pin("PIN.1", b"1234")
        .algorithm(alg::EC_P256)
        .endorse(&[alg::ECDSA_SHA256])
        .create()
        .unwrap();
    let key = s.certify(&key).unwrap();
    s.property_bag(&key, "urn:bag", &[Property::new("Counter", "0", true)])
        .unwrap();
    s.encrypted_extension(&key, "urn:secret", b"hidden")
        .unwrap();
    let closed = s.close().unwrap();
    assert_eq!(closed.keys.len(), 1);

    let mut s2 = issuer.session(&mut sks).privacy(privacy).open().unwrap();
    s2.post_delete(closed.key("Key.1").unwrap()).unwrap();
    s2.close().unwrap();
}

#[test]
fn e2es_session() {
    full_session(false);
}

#[test]
fn privacy_session() {
    full_session(true);
}

#[test]
fn corrupted_mac_is_error_mac() {
    let mut sks = card();
    let issuer = Issuer::new().unwrap();
    let mut s = issuer.session(&mut sks).privacy(true).open().unwrap();
    let mut args = s
        .state_mut()
        .puk_args("PUK.1", b"123456", PinFormat::Numeric.into(), 3)
        .unwrap();
    args.mac.0[0] ^= 1;
    assert_eq!(
        s.send_puk(&args).unwrap_err().sks_code(),
        Some(ErrorCode::Mac)
    );
}

#[test]
fn issuer_set_pin_imports_and_post_ops() {
    let mut sks = card();
    let issuer = Issuer::new().unwrap();
    let kmk = Kmk::generate_rsa(2048).unwrap();
    let mut s = issuer
        .session(&mut sks)
        .curve(sks_issuer::Curve::P384)
        .kmk(&kmk)
        .open()
        .unwrap();
    let puk = s
        .puk("PUK.1", b"123456", PinFormat::Numeric.into(), 3)
        .unwrap();
    let policy = PinPolicy {
        user_defined: false,
        grouping: Grouping::Shared.into(),
        ..PinPolicy::default()
    };
    s.pin_policy("PIN.1", Some(&puk), policy).unwrap();
    let k1 = s.key("Key.1").pin("PIN.1", b"1234").create().unwrap();
    let k1 = s.certify(&k1).unwrap();
    let k2 = s
        .key("Key.2")
        .pin("PIN.1", b"1234")
        .endorse(&[alg::HMAC_SHA256])
        .create()
        .unwrap();
    let k2 = s.certify(&k2).unwrap();
    s.import_symmetric(&k2, &[7u8; 32]).unwrap();
    s.logotype(&k1, "urn:logo", "image/png", b"\x89PNG")
        .unwrap();
    let closed = s.close().unwrap();
    assert_eq!(closed.session_key_uses, 2 + 1 + 3 + 1 + 3 + 1 + 2 + 1 + 2);

    let mut s2 = issuer
        .session(&mut sks)
        .curve(sks_issuer::Curve::P521)
        .open()
        .unwrap();
    let new = s2.key("New.1").create().unwrap();
    let new = s2.certify(&new).unwrap();
    s2.post_update(&new, closed.key("Key.1").unwrap()).unwrap();
    let clone = s2.key("Clone.1").create().unwrap();
    let clone = s2.certify(&clone).unwrap();
    s2.post_clone(&clone, closed.key("Key.1").unwrap()).unwrap();
    s2.post_unlock(closed.key("Key.2").unwrap()).unwrap();
    s2.close().unwrap();

    // Roll the KMK over on the closed first session (now taken over and deleted, so expect
    // an error code from the card rather than success).
    let new_kmk = Kmk::generate_p256();
    let r =
        sks_issuer::update_key_management_key(&mut sks, closed.provisioning_handle, &kmk, &new_kmk);
    println!(
        "updateKeyManagementKey on a taken-over session: {:?}",
        r.err().and_then(|e| e.sks_code())
    );
}
