//! getDeviceInfo and the dispatcher, through the whole in-process card.

use apdu_spec::envelope::{self, call_apdus, select_apdu, split_response, sw};
use apdu_spec::{decode_response, ErrorCode, GetDeviceInfo, Method};
use applet::platform::{seeded_rng, FixedClock};
use applet::store::RamStore;
use applet::{card_with, Card};
use std::time::Duration;

fn new_card(store: RamStore, seed: u64) -> impl Card {
    card_with(
        store,
        seeded_rng(seed),
        Box::new(FixedClock::at(Duration::from_secs(1_750_000_000))),
    )
    .expect("card starts")
}

fn call(card: &mut impl Card, method: u8, body: &[u8]) -> (Vec<u8>, u16) {
    let frames = call_apdus(method, body, 65_535, 0);
    let mut resp = Vec::new();
    for f in &frames {
        resp = card.process(f);
    }
    let (data, status) = split_response(&resp).expect("status word");
    (data.to_vec(), status)
}

fn selected(store: RamStore, seed: u64) -> impl Card {
    let mut card = new_card(store, seed);
    card.power_on();
    assert_eq!(card.process(&select_apdu()), vec![0x90, 0x00]);
    card
}

#[test]
fn device_info_reports_the_personalized_identity() {
    let mut card = selected(RamStore::new(), 1);
    let (data, status) = call(&mut card, GetDeviceInfo::ID as u8, &[]);
    assert_eq!(status, sw::OK);
    let info = decode_response::<GetDeviceInfo>(&data).unwrap().unwrap();
    assert_eq!(info.api_level, 100);
    assert!(info.crypto_data_size >= 16_384);
    assert!(info.extension_data_size >= 65_536);
    assert!(!info.vendor_name.is_empty() && info.vendor_name.chars().count() <= 128);
    assert!(!info.vendor_description.is_empty());
    assert_eq!(info.certificates.len(), 2, "device certificate + vendor CA");
    assert!(info.certificates.iter().all(|c| c.first() == Some(&0x30)));
}

#[test]
fn identity_is_created_once_and_kept() {
    let store = RamStore::new();
    let mut first = selected(store.clone(), 1);
    let (a, _) = call(&mut first, 1, &[]);
    // A copy of the empty store personalizes independently: another identity.
    let mut other = selected(store, 2);
    let (b, _) = call(&mut other, 1, &[]);
    assert_ne!(a, b);
}

#[test]
fn dispatcher_errors() {
    let mut card = selected(RamStore::new(), 3);
    // Unknown method id in P1.
    assert_eq!(call(&mut card, 0x06, &[]).1, sw::INCORRECT_P1P2);
    assert_eq!(call(&mut card, 0xFF, &[]).1, sw::INCORRECT_P1P2);
    // P2 must be 0.
    let mut apdu = call_apdus(1, &[], 255, 0).remove(0);
    apdu[3] = 1;
    assert_eq!(
        split_response(&card.process(&apdu)).unwrap().1,
        sw::INCORRECT_P1P2
    );
    // Arguments that do not decode: an SKS error, the card keeps answering.
    let (data, status) = call(&mut card, 1, &[0x00]);
    assert_eq!(status, sw::OK);
    let err = decode_response::<GetDeviceInfo>(&data)
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Option);
    assert!(err.message.contains("getDeviceInfo"), "{}", err.message);
    assert_eq!(call(&mut card, 1, &[]).1, sw::OK);
    let _ = envelope::AID;
}

#[test]
fn a_provisioning_call_that_does_not_decode_tears_its_session_down() {
    use apdu_spec::{
        algorithms::special::SESSION_1, Bytes, CreateProvisioningSession,
        CreateProvisioningSessionArgs, EnumerateProvisioningSessions,
        EnumerateProvisioningSessionsArgs, Id, Uri, Wire,
    };
    use p256::elliptic_curve::Generate;
    use p256::pkcs8::EncodePublicKey;
    let mut card = selected(RamStore::new(), 4);
    let server = p256::SecretKey::generate_from_rng(&mut seeded_rng(9));
    let args = CreateProvisioningSessionArgs {
        session_key_algorithm: Uri::new(SESSION_1).unwrap(),
        privacy_enabled: true,
        server_session_id: Id::new("S1").unwrap(),
        server_ephemeral_key: Bytes(
            server
                .public_key()
                .to_public_key_der()
                .unwrap()
                .as_bytes()
                .to_vec(),
        ),
        issuer_uri: Uri::new("https://issuer.example").unwrap(),
        key_management_key: Bytes::empty(),
        client_time: 0,
        session_life_time: 100,
        session_key_limit: 10,
        server_certificate: Bytes(vec![1, 2, 3]),
    };
    let (data, _) = call(
        &mut card,
        CreateProvisioningSession::ID as u8,
        &args.to_wire().unwrap(),
    );
    let handle = decode_response::<CreateProvisioningSession>(&data)
        .unwrap()
        .unwrap()
        .provisioning_handle;
    let open = |card: &mut _| {
        let q = EnumerateProvisioningSessionsArgs {
            provisioning_handle: 0,
            provisioning_state: true,
        };
        let (data, _) = call(
            card,
            EnumerateProvisioningSessions::ID as u8,
            &q.to_wire().unwrap(),
        );
        decode_response::<EnumerateProvisioningSessions>(&data)
            .unwrap()
            .unwrap()
            .provisioning_handle()
    };
    assert_eq!(open(&mut card), handle);
    // createPukPolicy for that session whose id is not an id (a space is not printable ASCII).
    let mut body = handle.to_be_bytes().to_vec();
    body.extend_from_slice(&[0, 3, b'a', b' ', b'b']);
    let (data, status) = call(&mut card, 8, &body);
    assert_eq!(status, sw::OK);
    assert_eq!(
        decode_response::<GetDeviceInfo>(&data)
            .unwrap()
            .unwrap_err()
            .code,
        ErrorCode::Option
    );
    assert_eq!(open(&mut card), 0, "the session was terminated");
}
