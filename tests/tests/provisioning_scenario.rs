//! The end-to-end provisioning scenario of issue 3 point 7, generic over the transport: PUK +
//! PIN + RSA-2048 + P-256 keys, an extension and a property bag, close; then a second session
//! doing postUpdateKey and postDeleteKey; the outcome checked with enumerateKeys and
//! getKeyAttributes. Runs in-process and over the real pcscd + vpcd stack (which must be
//! installed: a missing pcscd fails the test, it is never skipped).

#[path = "support/provisioning.rs"]
mod support;

use apdu_spec::{GetExtensionArgs, Uri};
use conformance_tests::otp_bag;
use conformance_tests::CardUnderTest;
use pcsc_bridge::{Sks, Transport};
use sks_issuer::{alg, ErrorCode, Kmk, PinPolicy};
use support::*;

fn scenario<T: Transport>(sks: &mut Sks<T>) {
    let issuer = issuer_named("https://scenario.example.com/kg2");
    let kmk = Kmk::generate_p256();

    // Session 1.
    let mut s = issuer.session(sks).kmk(&kmk).key_limit(100).open().unwrap();
    let puk = s
        .puk("PUK.1", b"123456", PinFormat::Numeric.into(), 3)
        .unwrap();
    s.pin_policy(
        "PIN.1",
        Some(&puk),
        PinPolicy {
            grouping: Grouping::Shared.into(),
            ..PinPolicy::default()
        },
    )
    .unwrap();
    let rsa = s
        .key("Key.RSA")
        .pin("PIN.1", b"1234")
        .algorithm(alg::RSA2048)
        .endorse(&[alg::RSA_SHA256])
        .create()
        .unwrap();
    let rsa = s.certify(&rsa).unwrap();
    let ec = s
        .key("Key.EC")
        .pin("PIN.1", b"1234")
        .algorithm(alg::EC_P256)
        .endorse(&[alg::ECDSA_SHA256])
        .friendly_name("EC key")
        .create()
        .unwrap();
    let ec = s.certify(&ec).unwrap();
    s.extension(&ec, "urn:scenario:ext", b"extension data")
        .unwrap();
    s.property_bag(&ec, "urn:scenario:bag", &otp_bag("0", None))
        .unwrap();
    let first = s.close().unwrap();
    let h1 = first.provisioning_handle;

    assert_eq!(keys(sks), vec![(rsa.handle, h1), (ec.handle, h1)]);
    let a = attributes(sks, rsa.handle).unwrap();
    assert_eq!(a.certificates[0].0, rsa.certificate_path[0]);
    assert_eq!(a.endorsed_algorithms[0].as_str(), alg::RSA_SHA256);
    assert_eq!(rsa_spki_params(&rsa.public_key).0, 2048);
    let a = attributes(sks, ec.handle).unwrap();
    assert_eq!(a.friendly_name, "EC key");
    let types: Vec<&str> = a.types.iter().map(|t| t.as_str()).collect();
    assert_eq!(types, ["urn:scenario:ext", "urn:scenario:bag"]);
    let e = sks
        .get_extension(&GetExtensionArgs {
            key_handle: ec.handle,
            r#type: Uri::new("urn:scenario:ext").unwrap(),
        })
        .unwrap();
    assert_eq!(e.extension_data.0, b"extension data");
    assert_signs_with(sks, rsa.handle, b"1234", &rsa.public_key);
    assert_signs_with(sks, ec.handle, b"1234", &ec.public_key);
    let p = protection(sks, ec.handle).unwrap();
    assert_eq!(p.protection_status, 0x03);

    // Session 2: update the EC key, delete the RSA key.
    let mut s = issuer.session(sks).key_limit(100).open().unwrap();
    let new = s
        .key("Key.EC.new")
        .algorithm(alg::EC_P256)
        .endorse(&[alg::ECDSA_SHA256])
        .create()
        .unwrap();
    let new = s.certify(&new).unwrap();
    s.post_update(&new, first.key("Key.EC").unwrap()).unwrap();
    s.post_delete(first.key("Key.RSA").unwrap()).unwrap();
    // Deferred until close.
    assert_signs_with(s.sks(), rsa.handle, b"1234", &rsa.public_key);
    let second = s.close().unwrap();
    let h2 = second.provisioning_handle;

    assert_eq!(
        keys(sks),
        vec![(ec.handle, h2)],
        "updated key, now owned by session 2"
    );
    let a = attributes(sks, ec.handle).unwrap();
    assert_eq!(a.certificates[0].0, new.certificate_path[0]);
    assert!(a.types.is_empty(), "the old key's extensions are replaced");
    assert_signs_with(sks, ec.handle, b"1234", &new.public_key);
    expect_raw_err(
        attributes(sks, rsa.handle),
        ErrorCode::NoKey,
        "deleted RSA key",
    );
    expect_raw_err(
        attributes(sks, new.handle),
        ErrorCode::NoKey,
        "new key's own handle",
    );
    assert_eq!(session_handles(sks, false), vec![h2]);
    assert!(session_handles(sks, true).is_empty());
}

#[test]
fn scenario_in_process() {
    let mut sks = card();
    scenario(&mut sks);
}

#[test]
fn scenario_over_pcsc() {
    conformance_tests::init_logging();
    let cut = CardUnderTest::start(applet::open_card(None).expect("open card"));
    let mut sks = cut.client();
    scenario(&mut sks);
}
