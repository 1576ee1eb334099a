//! Power cuts at every write of a workload that uses every persistent method (issue 5, spec 2.5
//! "Ideally an SKS container should be able dealing with power-failures regardless when they
//! occur").
//!
//! The workload provisions a session (PUK, PIN policy, two keys, property bag, and two keys
//! under a PIN policy whose grouping demands different PINs), fails PINs, signs, locks and
//! unlocks with the PUK, sets a property, runs a second session with postUpdateKey +
//! postDeleteKey + postUnlockKey, changes a PIN, deletes a key, makes a counted guess at another
//! group's PIN through changePin, and abandons a session that then expires. For every
//! page write k of that workload, with and without tearing the k-th write, the card runs on an
//! EEPROM whose power is cut at write k; then a fresh card is started from the torn image and
//! must: open; hold every provisioning session either fully committed or not at all; never show
//! a PIN/PUK error counter below one the card had already acknowledged; have no key of a closed
//! session without its certificate; answer the next commands.

use apdu_spec::values::{DeleteProtection, Grouping, PinFormat};
use apdu_spec::{
    algorithms, Bytes, ChangePinArgs, DeleteKeyArgs, EnumerateKeysArgs, GetKeyAttributesArgs,
    GetKeyProtectionInfoArgs, SetPropertyArgs, SignHashedDataArgs, UnlockKeyArgs, Uri,
};
use applet::platform::{seeded_rng, ManualClock};
use applet::store::fault::{FaultHandle, FaultyMedium};
use applet::store::{EepromStore, Geometry, MasterKey, Medium, RamMedium};
use pcsc_bridge::{InProcess, Sks, Transport};
use sks_issuer::{alg, Issuer, Kmk, PinPolicy, Property};
use std::time::Duration;

const GEOMETRY: Geometry = Geometry {
    page_size: 256,
    page_count: 512,
};
const PIN: &[u8] = b"1234";
const PUK: &[u8] = b"12345678";
const BAG: &str = "urn:test:bag";

fn master_key() -> MasterKey {
    MasterKey::new([3; 16], [5; 32])
}

const START: Duration = Duration::from_secs(1_760_000_000);

fn card_on<M: Medium + Send + 'static>(
    store: EepromStore<M>,
) -> Sks<InProcess<applet::SksCard<EepromStore<M>>>> {
    card_at(store, ManualClock::at(START))
}

fn card_at<M: Medium + Send + 'static>(
    store: EepromStore<M>,
    clock: ManualClock,
) -> Sks<InProcess<applet::SksCard<EepromStore<M>>>> {
    let card = applet::card_with(store, seeded_rng(42), Box::new(clock)).expect("card starts");
    Sks::new(InProcess::new(card).expect("select"))
}

/// What the card acknowledged before the cut: the floor of the counters and the sessions.
#[derive(Debug, Default, Clone)]
struct Acknowledged {
    /// Handle of key A (PIN protected) and B (property bag), once known.
    key_a: Option<u32>,
    key_b: Option<u32>,
    /// Certificates of B before and after the update (for the all-or-nothing check).
    b_original_cert: Option<Vec<u8>>,
    b_updated_cert: Option<Vec<u8>>,
    /// The last PIN error count of key A the card reported through a response.
    pin_errors: u16,
    puk_errors: u16,
    /// Key S (signature PIN of a grouping policy) and the errors counted on it by guesses
    /// through key T's changePin.
    key_s: Option<u32>,
    s_errors: u16,
    /// Session 2 (postUpdateKey + postUnlockKey), once open.
    session_2: Option<u32>,
    /// The abandoned session, and whether the card answered a call after it expired.
    abandoned: Option<u32>,
    expired: bool,
    /// A call that may legitimately reset the counters (a correct PIN or PUK, a close with
    /// postUnlockKey) is in flight: its reset may have landed without its answer.
    resetting: bool,
    /// Calls that completed.
    steps: usize,
}

fn sign_args(key: u32, pin: &[u8]) -> SignHashedDataArgs {
    SignHashedDataArgs {
        key_handle: key,
        algorithm: Uri::new(algorithms::signature::ECDSA_SHA256).unwrap(),
        parameters: Bytes::empty(),
        biometric_auth: false,
        authorization: Bytes(pin.to_vec()),
        data: Bytes(vec![7; 32]),
    }
}

/// Creates P-256 key `id` (no PIN) and sets its certificate.
fn certified_p256<T: Transport>(
    s: &mut sks_issuer::Session<'_, T>,
    id: &str,
) -> Result<sks_issuer::Key, sks_issuer::Error> {
    let k = s.key(id).algorithm(alg::EC_P256).create()?;
    s.certify(&k)
}

/// Runs the workload until it ends or the first failure (the power cut), recording what the
/// card acknowledged.
fn run<T: Transport>(
    sks: &mut Sks<T>,
    issuer: &Issuer,
    kmk: &Kmk,
    clock: &ManualClock,
    ack: &mut Acknowledged,
) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    // Session 1: PUK, PIN policy, key A (PIN, delete by PIN), key B (property bag).
    let mut s = issuer.session(sks).kmk(kmk).open().map_err(|x| e(&x))?;
    let puk = s
        .puk("PUK.1", PUK, PinFormat::Numeric.into(), 5)
        .map_err(|x| e(&x))?;
    s.pin_policy(
        "PIN.1",
        Some(&puk),
        PinPolicy {
            retry_limit: 3,
            ..PinPolicy::default()
        },
    )
    .map_err(|x| e(&x))?;
    let a = s
        .key("A")
        .pin("PIN.1", PIN)
        .algorithm(alg::EC_P256)
        .endorse(&[alg::ECDSA_SHA256])
        .delete_protection(DeleteProtection::Pin.into())
        .create()
        .map_err(|x| e(&x))?;
    let a = s.certify(&a).map_err(|x| e(&x))?;
    let b = certified_p256(&mut s, "B").map_err(|x| e(&x))?;
    s.property_bag(&b, BAG, &[Property::new("Counter", "0", true)])
        .map_err(|x| e(&x))?;
    // signature+standard grouping: S's and T's PINs must differ.
    let grouping = PinPolicy {
        grouping: Grouping::SignaturePlusStandard.into(),
        retry_limit: 3,
        ..PinPolicy::default()
    };
    s.pin_policy("PIN.2", Some(&puk), grouping)
        .map_err(|x| e(&x))?;
    let mut grouped = Vec::new();
    for (id, pin, usage) in [("S", b"1111", 0), ("T", b"2222", 1)] {
        let k = s
            .key(id)
            .pin("PIN.2", pin)
            .app_usage(usage)
            .algorithm(alg::EC_P256)
            .create()
            .map_err(|x| e(&x))?;
        grouped.push(s.certify(&k).map_err(|x| e(&x))?);
    }
    s.close().map_err(|x| e(&x))?;
    ack.key_s = Some(grouped[0].handle);
    ack.key_a = Some(a.handle);
    ack.key_b = Some(b.handle);
    ack.b_original_cert = b.certificate_path.first().cloned();
    ack.steps += 1;

    // PIN failures, a success, a lock, a PUK unlock.
    for n in 1..=2 {
        expect_sks_error(sks.sign_hashed_data(&sign_args(a.handle, b"0000")))?;
        ack.pin_errors = n;
    }
    ack.resetting = true;
    sks.sign_hashed_data(&sign_args(a.handle, PIN))
        .map_err(|x| e(&x))?;
    (ack.pin_errors, ack.resetting) = (0, false);
    for n in 1..=3 {
        expect_sks_error(sks.sign_hashed_data(&sign_args(a.handle, b"9999")))?;
        ack.pin_errors = n;
    }
    expect_sks_error(sks.unlock_key(&UnlockKeyArgs {
        key_handle: a.handle,
        authorization: Bytes(b"00000000".to_vec()),
    }))?;
    ack.puk_errors = 1;
    ack.resetting = true;
    sks.unlock_key(&UnlockKeyArgs {
        key_handle: a.handle,
        authorization: Bytes(PUK.to_vec()),
    })
    .map_err(|x| e(&x))?;
    ack.resetting = false;
    ack.pin_errors = 0;
    ack.puk_errors = 0;
    ack.steps += 1;

    sks.set_property(&SetPropertyArgs {
        key_handle: b.handle,
        r#type: Uri::new(BAG).unwrap(),
        name: "Counter".into(),
        value: "1".into(),
    })
    .map_err(|x| e(&x))?;
    ack.steps += 1;

    // A PIN failure to be undone by the next session's postUnlockKey.
    expect_sks_error(sks.sign_hashed_data(&sign_args(a.handle, b"0000")))?;
    ack.pin_errors = 1;

    // Session 2: update B with a new key, unlock A; then close.
    let mut s = issuer.session(sks).kmk(kmk).open().map_err(|x| e(&x))?;
    ack.session_2 = Some(s.provisioning_handle());
    let d = certified_p256(&mut s, "D").map_err(|x| e(&x))?;
    s.post_update_with(&d, &b, kmk).map_err(|x| e(&x))?;
    s.post_unlock_with(&a, kmk).map_err(|x| e(&x))?;
    ack.b_updated_cert = d.certificate_path.first().cloned();
    ack.resetting = true;
    s.close().map_err(|x| e(&x))?;
    (ack.pin_errors, ack.resetting) = (0, false);
    ack.steps += 1;

    ack.resetting = true;
    sks.change_pin(&ChangePinArgs {
        key_handle: a.handle,
        authorization: Bytes(PIN.to_vec()),
        new_pin: Bytes(b"5678".to_vec()),
    })
    .map_err(|x| e(&x))?;
    ack.steps += 1;
    sks.delete_key(&DeleteKeyArgs {
        key_handle: a.handle,
        authorization: Bytes(b"5678".to_vec()),
    })
    .map_err(|x| e(&x))?;
    ack.key_a = None;
    ack.steps += 1;

    // A guess at S's PIN through T's changePin: counted on S before it is answered.
    sks.change_pin(&ChangePinArgs {
        key_handle: grouped[1].handle,
        authorization: Bytes(b"2222".to_vec()),
        new_pin: Bytes(b"3333".to_vec()),
    })
    .map_err(|x| e(&x))?;
    ack.s_errors = 1;
    ack.steps += 1;

    // An issuer that goes away: its session expires and is aborted at the next call.
    let mut s = issuer
        .session(sks)
        .life_time(60)
        .open()
        .map_err(|x| e(&x))?;
    s.key("X")
        .algorithm(alg::EC_P256)
        .create()
        .map_err(|x| e(&x))?;
    ack.abandoned = Some(s.provisioning_handle());
    clock.advance(Duration::from_secs(61));
    sks.get_device_info().map_err(|x| e(&x))?;
    ack.expired = true;
    ack.steps += 1;
    Ok(())
}

/// A wrong PIN/PUK must be an SKS authorization error; anything else (e.g. the storage error
/// of a power cut) stops the workload.
fn expect_sks_error<T>(r: Result<T, pcsc_bridge::Error>) -> Result<(), String> {
    match r {
        Err(e) if e.sks_code() == Some(apdu_spec::ErrorCode::Authorization) => Ok(()),
        Err(e) => Err(e.to_string()),
        Ok(_) => Err("wrong PIN accepted".into()),
    }
}

/// The checks after a restart from the torn image.
fn check_recovered<T: Transport>(sks: &mut Sks<T>, ack: &Acknowledged, point: &str) {
    sks.get_device_info()
        .unwrap_or_else(|e| panic!("{point}: getDeviceInfo after restart: {e}"));
    let mut handle = 0;
    let mut keys = Vec::new();
    loop {
        let out = sks
            .enumerate_keys(&EnumerateKeysArgs { key_handle: handle })
            .unwrap_or_else(|e| panic!("{point}: enumerateKeys: {e}"));
        let Some((h, _)) = out.key else { break };
        handle = h.get();
        let attrs = sks
            .get_key_attributes(&GetKeyAttributesArgs { key_handle: handle })
            .unwrap_or_else(|e| panic!("{point}: getKeyAttributes: {e}"));
        assert!(
            !attrs.certificates.is_empty(),
            "{point}: key {handle} of a closed session has no certificate"
        );
        keys.push((handle, attrs.certificates[0].0.clone()));
    }
    // Session 2 (update B + unlock A) is all or nothing: B's certificate is the old one exactly
    // when D is not a separate key either.
    if let (Some(b), Some(old)) = (ack.key_b, &ack.b_original_cert) {
        let b_cert = keys.iter().find(|(h, _)| *h == b).map(|(_, c)| c.clone());
        let b_cert = b_cert.unwrap_or_else(|| panic!("{point}: key B vanished"));
        let updated = ack.b_updated_cert.as_ref() == Some(&b_cert);
        assert!(
            updated || &b_cert == old,
            "{point}: key B has a certificate from neither state"
        );
        if updated {
            let open = sks
                .sessions(true)
                .unwrap_or_else(|e| panic!("{point}: sessions: {e}"));
            assert!(
                !open.iter().any(|(h, _)| Some(*h) == ack.session_2),
                "{point}: session 2 committed but still open"
            );
        }
    }
    // Counters never go back below what the card acknowledged, unless a call that resets them
    // was in flight.
    if let (Some(a), false) = (ack.key_a, ack.resetting) {
        if let Ok(info) = sks.get_key_protection_info(&GetKeyProtectionInfoArgs { key_handle: a }) {
            if std::env::var_os("SKS_POWERCUT_TRACE").is_some() {
                eprintln!(
                    "{point}: ack pin {} puk {} steps {} -> card pin {} puk {}",
                    ack.pin_errors,
                    ack.puk_errors,
                    ack.steps,
                    info.pin_error_count,
                    info.puk_error_count
                );
            }
            assert!(
                info.pin_error_count >= ack.pin_errors,
                "{point}: PIN error count {} went below the acknowledged {} ({ack:?})",
                info.pin_error_count,
                ack.pin_errors
            );
            assert!(
                info.puk_error_count >= ack.puk_errors,
                "{point}: PUK error count {} went below the acknowledged {}",
                info.puk_error_count,
                ack.puk_errors
            );
        }
    }
    if let Some(s) = ack.key_s {
        let info = sks
            .get_key_protection_info(&GetKeyProtectionInfoArgs { key_handle: s })
            .unwrap_or_else(|e| panic!("{point}: key S: {e}"));
        assert!(
            info.pin_error_count >= ack.s_errors,
            "{point}: the guess at S's PIN was answered but not counted"
        );
    }
    if let (Some(abandoned), true) = (ack.abandoned, ack.expired) {
        let still_open = sks
            .sessions(true)
            .unwrap_or_else(|e| panic!("{point}: sessions: {e}"))
            .iter()
            .any(|(h, _)| *h == abandoned);
        assert!(!still_open, "{point}: the expired session came back");
    }
    // And a new session still provisions and closes.
    let issuer = Issuer::new().unwrap();
    let mut s = issuer
        .session(sks)
        .open()
        .unwrap_or_else(|e| panic!("{point}: new session: {e}"));
    certified_p256(&mut s, "N").unwrap_or_else(|e| panic!("{point}: {e}"));
    s.close()
        .unwrap_or_else(|e| panic!("{point}: close after restart: {e}"));
}

/// A personalized card image to start every run from.
fn base_image() -> Vec<u8> {
    let medium = RamMedium::new(GEOMETRY.total_bytes() as usize);
    let keep = medium.clone();
    let store = EepromStore::format(medium, master_key(), GEOMETRY).expect("format");
    drop(card_on(store));
    keep.image()
}

fn run_with_cut(
    base: &[u8],
    issuer: &Issuer,
    kmk: &Kmk,
    cut: Option<usize>,
    tear: bool,
) -> (Acknowledged, bool, FaultHandle, RamMedium) {
    let ram = RamMedium::from_bytes(base.to_vec());
    let keep = ram.clone();
    let faulty = FaultyMedium::new(ram, cut, tear);
    let handle = faulty.handle();
    let store = EepromStore::open_with_medium(faulty, master_key()).expect("open base image");
    let clock = ManualClock::at(START);
    let mut sks = card_at(store, clock.clone());
    let mut ack = Acknowledged::default();
    let finished = run(&mut sks, issuer, kmk, &clock, &mut ack).is_ok();
    (ack, finished, handle, keep)
}

#[test]
fn every_write_of_the_workload_can_be_cut() {
    let base = base_image();
    let issuer = Issuer::new().unwrap();
    let kmk = Kmk::generate_p256();
    let (ack, finished, handle, _) = run_with_cut(&base, &issuer, &kmk, None, false);
    assert!(
        finished,
        "the uncut workload runs to the end ({} steps)",
        ack.steps
    );
    let total = handle.writes();
    assert!(total > 20, "the workload writes ({total} page writes)");

    let mut points = 0;
    for k in 1..=total + 2 {
        for tear in [false, true] {
            let (ack, _finished, _, medium) = run_with_cut(&base, &issuer, &kmk, Some(k), tear);
            let point = format!("cut at write {k}{}", if tear { " (torn)" } else { "" });
            let store =
                EepromStore::open_with_medium(RamMedium::from_bytes(medium.image()), master_key())
                    .unwrap_or_else(|e| panic!("{point}: the image does not open: {e}"));
            let mut sks = card_on(store);
            check_recovered(&mut sks, &ack, &point);
            points += 1;
        }
    }
    eprintln!("power-cut injection points tested: {points} ({total} page writes, with and without tearing)");
    assert!(points >= 2 * total);
}

/// Write costs on the EEPROM (issue 5 point 6), measured with the fault medium's counter: a
/// signature writes nothing; figures are printed for docs/performance.md.
#[test]
fn write_costs_and_capacity() {
    let base = base_image();
    let ram = RamMedium::from_bytes(base.clone());
    let faulty = FaultyMedium::new(ram, None, false);
    let writes = faulty.handle();
    let store = EepromStore::open_with_medium(faulty, master_key()).expect("open");
    let mut sks = card_on(store);
    let issuer = Issuer::new().unwrap();
    let page = GEOMETRY.page_size;

    let before = writes.writes();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let k = certified_p256(&mut s, "K").unwrap();
    s.close().unwrap();
    let session = writes.writes() - before;

    let before = writes.writes();
    for _ in 0..10 {
        sks.sign_hashed_data(&sign_args(k.handle, b"")).unwrap();
    }
    assert_eq!(
        writes.writes(),
        before,
        "signing with a key without PIN writes nothing"
    );

    let mut s = issuer.session(&mut sks).open().unwrap();
    let puk = s.puk("PUK", PUK, PinFormat::Numeric.into(), 3).unwrap();
    s.pin_policy("PIN", Some(&puk), PinPolicy::default())
        .unwrap();
    let p = s
        .key("P")
        .pin("PIN", PIN)
        .algorithm(alg::EC_P256)
        .create()
        .unwrap();
    s.certify(&p).unwrap();
    s.close().unwrap();
    let before = writes.writes();
    sks.sign_hashed_data(&sign_args(p.handle, PIN)).unwrap();
    let pin_sign = writes.writes() - before;
    assert!(
        pin_sign > 0,
        "a PIN attempt is committed before it is judged"
    );

    // Capacity: P-256 keys (one per session) until the 64 KiB EEPROM is full.
    let small = Geometry {
        page_size: 256,
        page_count: 256,
    };
    let medium = RamMedium::new(small.total_bytes() as usize);
    let store = EepromStore::format(medium, master_key(), small).expect("format");
    let mut sks = card_on(store);
    let mut keys = 0;
    loop {
        let Ok(mut s) = issuer.session(&mut sks).open() else {
            break;
        };
        let Ok(k) = s.key("K").algorithm(alg::EC_P256).create() else {
            break;
        };
        if s.certify(&k).is_err() || s.close().is_err() {
            break;
        }
        keys += 1;
    }
    assert!(keys > 0);
    eprintln!(
        "EEPROM writes ({page}-byte pages): provisioning session with one P-256 key {session} pages \
         ({} bytes); signature without PIN 0; signature with PIN {pin_sign} pages ({} bytes); \
         capacity: {keys} P-256 keys (one session each, device identity included) per 64 KiB",
        session * page,
        pin_sign * page
    );
}
