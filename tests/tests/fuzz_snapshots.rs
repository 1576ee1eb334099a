//! Whole-applet robustness from card snapshots: random and mutated APDU sequences on an empty
//! card and on a provisioned one (keys with and without PIN, a PIN policy under a PUK, a
//! symmetric key, a closed session and an open provisioning session holding a key), so that
//! calls get past NoSession/NoKey into the handlers.
//!
//! The provisioned card is built once with the independent issuer (sks-issuer) on an EEPROM
//! store in RAM; its image is the snapshot. Every proptest case restores a snapshot (a fresh
//! card over a copy of the image), sends raw APDUs, well-formed calls for every method id with
//! arbitrary bodies, well-formed calls of typed arguments with mutated bytes and valid or
//! invalid handles, SELECTs and resets. Checked: no panic; every answer is an ISO status word
//! without data, 61xx, or SW 9000 with an SKS response (status 00, or a known error code ‖ its
//! message); afterwards the card still answers getDeviceInfo, and the non-deletable RSA key
//! gives the same (deterministic PKCS#1 v1.5) signature as on the untouched snapshot.

#[path = "support/user.rs"]
mod user;

use apdu_spec::envelope::{call_apdus, select_apdu, split_response, sw};
use apdu_spec::{
    Bytes, ChangePinArgs, EnumerateKeysArgs, EnumerateProvisioningSessionsArgs, ErrorCode,
    ExportKeyArgs, GetExtensionArgs, GetKeyAttributesArgs, GetKeyProtectionInfoArgs, MethodId,
    Wire,
};
use applet::platform::{seeded_rng, FixedClock};
use applet::store::{EepromStore, Geometry, MasterKey, RamMedium};
use applet::{card_with, Card, SksCard};
use pcsc_bridge::{InProcess, Sks};
use proptest::prelude::*;
use sks_issuer::PinPolicy;
use std::sync::OnceLock;
use std::time::Duration;
use user::{
    alg, hmac_args, key, sign_args, sym_key, uri, with_pin, DeleteProtection, ExportProtection,
};

/// 256 KiB of EEPROM: room for the snapshot's objects, small enough to copy per case.
const GEOMETRY: Geometry = Geometry {
    page_size: 256,
    page_count: 1024,
};

type SnapshotCard = SksCard<EepromStore<RamMedium>>;

/// A card image and what the fuzzer knows about its contents.
struct Snapshot {
    name: &'static str,
    image: Vec<u8>,
    key: MasterKey,
    /// Key, session and policy handles that exist on the card.
    handles: Vec<u32>,
    /// Well-formed calls: (method id, body).
    calls: Vec<(u8, Vec<u8>)>,
    /// signHashedData with the non-deletable RSA key and its response on the snapshot.
    reference: Option<(Vec<u8>, Vec<u8>)>,
}

fn clock() -> Box<FixedClock> {
    Box::new(FixedClock::at(Duration::from_secs(1_750_000_000)))
}

impl Snapshot {
    /// A card over a copy of the image, powered and selected.
    fn restore(&self, seed: u64) -> SnapshotCard {
        let medium = RamMedium::from_bytes(self.image.clone());
        let store = EepromStore::open_with_medium(medium, self.key.clone()).expect("reopen image");
        let mut card = card_with(store, seeded_rng(seed), clock()).expect("card starts");
        card.power_on();
        assert_eq!(card.process(&select_apdu()), [0x90, 0x00]);
        card
    }
}

/// A formatted EEPROM store in RAM, and the medium (shared) to take the image from.
fn blank() -> (EepromStore<RamMedium>, RamMedium, MasterKey) {
    let key = MasterKey::new([3; 16], [4; 32]);
    let medium = RamMedium::new(GEOMETRY.total_bytes() as usize);
    let store = EepromStore::format(medium.clone(), key.clone(), GEOMETRY).expect("format");
    (store, medium, key)
}

fn empty_snapshot() -> Snapshot {
    let (store, medium, key) = blank();
    drop(card_with(store, seeded_rng(1), clock()).expect("personalize"));
    Snapshot {
        name: "empty",
        image: medium.image(),
        key,
        handles: Vec::new(),
        calls: Vec::new(),
        reference: None,
    }
}

fn provisioned_snapshot() -> Snapshot {
    let (store, medium, mkey) = blank();
    let card: Box<dyn Card + Send> =
        Box::new(card_with(store, seeded_rng(2), clock()).expect("personalize"));
    let mut sks = Sks::new(InProcess::from_box(card).expect("SELECT"));
    let issuer = user::issuer();
    let closed = user::provision(&mut sks, &issuer, |s| {
        conformance_tests::puk_with_pins(s, &[("PIN", PinPolicy::default())]);
        key(s, "Sig", alg::RSA1024, &[alg::RSA_SHA256], |k| {
            k.delete_protection = DeleteProtection::NonDeletable.into();
            k.export_protection = ExportProtection::NonExportable.into();
        });
        key(s, "Pin", alg::EC_P256, &[], with_pin("PIN", b"1234"));
        sym_key(s, "Hmac", &[7; 32], &[alg::HMAC_SHA256], |_| {});
    });
    // A provisioning session left open, with a key in it.
    let mut open = issuer
        .session(&mut sks)
        .open()
        .expect("open a second session");
    let open_key = key(&mut open, "Open", alg::EC_P256, &[], |_| {});
    let open_handle = open.state().provisioning_handle;
    drop(open);
    drop(sks);

    let h = |id: &str| closed.key(id).expect(id).handle;
    let (sig, pin, hmac) = (h("Sig"), h("Pin"), h("Hmac"));
    let hash = [0x5A; 32];
    let mut calls: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut add = |m: MethodId, body: Vec<u8>| calls.push((m as u8, body));
    let wire = |a: &dyn Fn() -> Result<Vec<u8>, apdu_spec::EncodeError>| a().expect("encode");
    add(
        MethodId::SignHashedData,
        wire(&|| sign_args(sig, alg::RSA_SHA256, b"", &hash).to_wire()),
    );
    for pin_value in [&b"1234"[..], b"9999", b""] {
        add(
            MethodId::SignHashedData,
            wire(&|| sign_args(pin, alg::ECDSA_SHA256, pin_value, &hash).to_wire()),
        );
    }
    add(
        MethodId::PerformHmac,
        wire(&|| hmac_args(hmac, alg::HMAC_SHA256, b"", b"data").to_wire()),
    );
    for handle in [sig, pin, hmac, open_key.handle] {
        add(
            MethodId::GetKeyAttributes,
            wire(&|| GetKeyAttributesArgs { key_handle: handle }.to_wire()),
        );
        add(
            MethodId::GetKeyProtectionInfo,
            wire(&|| GetKeyProtectionInfoArgs { key_handle: handle }.to_wire()),
        );
        add(
            MethodId::GetExtension,
            wire(&|| {
                GetExtensionArgs {
                    key_handle: handle,
                    r#type: uri("https://example.com/ext"),
                }
                .to_wire()
            }),
        );
        add(
            MethodId::EnumerateKeys,
            wire(&|| EnumerateKeysArgs { key_handle: handle }.to_wire()),
        );
    }
    // keyHandle ‖ authorization: the layout of exportKey, deleteKey and unlockKey alike.
    let mut auth_call = |m: MethodId, key_handle: u32, auth: &[u8]| {
        let args = ExportKeyArgs {
            key_handle,
            authorization: Bytes(auth.to_vec()),
        };
        add(m, wire(&|| args.to_wire()));
    };
    for (handle, auth) in [(sig, &b""[..]), (pin, b"1234"), (hmac, b"")] {
        auth_call(MethodId::ExportKey, handle, auth);
        auth_call(MethodId::DeleteKey, handle, auth);
    }
    auth_call(MethodId::UnlockKey, pin, b"123456");
    // keyHandle ‖ authorization ‖ newPin: changePin and setPin alike.
    for (m, auth, new_pin) in [
        (MethodId::ChangePin, &b"1234"[..], b"5678"),
        (MethodId::SetPin, b"123456", b"4321"),
    ] {
        let args = ChangePinArgs {
            key_handle: pin,
            authorization: Bytes(auth.to_vec()),
            new_pin: Bytes(new_pin.to_vec()),
        };
        add(m, wire(&|| args.to_wire()));
    }
    for (handle, open) in [
        (0, true),
        (0, false),
        (open_handle, true),
        (closed.provisioning_handle, false),
    ] {
        add(
            MethodId::EnumerateProvisioningSessions,
            wire(&|| {
                EnumerateProvisioningSessionsArgs {
                    provisioning_handle: handle,
                    provisioning_state: open,
                }
                .to_wire()
            }),
        );
    }
    // Provisioning methods start with the session handle (and end with a MAC the fuzzer cannot
    // forge): the open session's handle followed by garbage reaches the MAC checks.
    for m in [
        MethodId::AbortProvisioningSession,
        MethodId::CreatePukPolicy,
        MethodId::CreatePinPolicy,
        MethodId::CreateKeyEntry,
        MethodId::CloseProvisioningSession,
        MethodId::GetKeyHandle,
    ] {
        let mut body = open_handle.to_be_bytes().to_vec();
        body.extend_from_slice(&[0u8; 40]);
        add(m, body);
    }
    for m in [
        MethodId::SetCertificatePath,
        MethodId::ImportSymmetricKey,
        MethodId::ImportPrivateKey,
        MethodId::AddExtension,
    ] {
        let mut body = open_key.handle.to_be_bytes().to_vec();
        body.extend_from_slice(&[0u8; 40]);
        add(m, body);
    }

    let image = medium.image();
    let mut snapshot = Snapshot {
        name: "provisioned",
        image,
        key: mkey,
        handles: vec![
            sig,
            pin,
            hmac,
            open_key.handle,
            open_handle,
            closed.provisioning_handle,
        ],
        calls,
        reference: None,
    };
    // The reference signature, on the untouched snapshot.
    let apdu = call_apdus(
        MethodId::SignHashedData as u8,
        &sign_args(sig, alg::RSA_SHA256, b"", &hash)
            .to_wire()
            .expect("encode"),
        65_535,
        0,
    )
    .remove(0);
    let expected = snapshot.restore(0).process(&apdu);
    assert_eq!(
        (expected.first(), split_response(&expected).map(|r| r.1)),
        (Some(&0), Some(sw::OK)),
        "the reference signature succeeds on the snapshot"
    );
    snapshot.reference = Some((apdu, expected));
    snapshot
}

fn snapshots() -> &'static [Snapshot; 2] {
    static SNAPSHOTS: OnceLock<[Snapshot; 2]> = OnceLock::new();
    SNAPSHOTS.get_or_init(|| [empty_snapshot(), provisioned_snapshot()])
}

/// The status words the envelope uses (apdu-spec README 4.5).
const ENVELOPE_SW: [u16; 9] = [
    sw::WRONG_LENGTH,
    sw::LAST_COMMAND_EXPECTED,
    sw::CHAINING_NOT_SUPPORTED,
    sw::CONDITIONS_NOT_SATISFIED,
    sw::FILE_NOT_FOUND,
    sw::INCORRECT_P1P2,
    sw::INS_NOT_SUPPORTED,
    sw::CLA_NOT_SUPPORTED,
    sw::UNKNOWN,
];

/// A response the spec allows: an envelope status word without data, `61xx`, `9000` after a
/// chained part or SELECT (no data), or `9000` with an SKS response. `call` is whether the
/// response ends an SKS call (its data is then the SKS response).
fn check_response(resp: &[u8], call: bool) -> Result<(), String> {
    let (data, status) = split_response(resp).ok_or("no status word")?;
    if status >> 8 == u16::from(sw::BYTES_REMAINING) {
        return Ok(());
    }
    if ENVELOPE_SW.contains(&status) {
        return match data.is_empty() {
            true => Ok(()),
            false => Err(format!("SW {status:04X} with {} data bytes", data.len())),
        };
    }
    if status != sw::OK {
        return Err(format!("unknown status word {status:04X}"));
    }
    match data {
        [] => Ok(()),
        _ if !call => Ok(()),
        [0, ..] => Ok(()),
        [code, hi, lo, text @ ..] => {
            ErrorCode::try_from(*code).map_err(|_| format!("unknown SKS status {code:02X}"))?;
            let n = usize::from(u16::from_be_bytes([*hi, *lo]));
            match n == text.len() && std::str::from_utf8(text).is_ok() {
                true => Ok(()),
                false => Err(format!("SKS error {code:02X}: bad message framing")),
            }
        }
        _ => Err(format!("malformed SKS response {data:02X?}")),
    }
}

/// One step of a case.
#[derive(Debug, Clone)]
enum Step {
    /// Arbitrary bytes as an APDU.
    Raw(Vec<u8>),
    /// A call with an arbitrary body for any method id, chained in parts of `chunk`.
    Call {
        method: u8,
        body: Vec<u8>,
        chunk: usize,
    },
    /// A well-formed call of the snapshot (index modulo the list), with its leading handle
    /// replaced (`handle`: index into the snapshot's handles, or a raw value) and byte edits.
    Mutated {
        call: usize,
        handle: Option<(bool, u32)>,
        edits: Vec<(usize, u8)>,
        truncate: Option<usize>,
    },
    Select,
    /// A warm reset, mostly followed by SELECT (otherwise calls get 69 85 until a Select step).
    Reset {
        reselect: bool,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let ids: Vec<u8> = MethodId::ALL.iter().map(|m| *m as u8).collect();
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(Step::Raw),
        1 => (
            proptest::sample::select(ids),
            proptest::collection::vec(any::<u8>(), 0..600),
            1usize..700
        )
            .prop_map(|(method, body, chunk)| Step::Call {
                method,
                body,
                chunk
            }),
        4 => (
            any::<usize>(),
            proptest::option::of((any::<bool>(), any::<u32>())),
            proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
            proptest::option::weighted(0.2, any::<usize>()),
        )
            .prop_map(|(call, handle, edits, truncate)| Step::Mutated {
                call,
                handle,
                edits,
                truncate
            }),
        1 => Just(Step::Select),
        1 => proptest::bool::weighted(0.8).prop_map(|reselect| Step::Reset { reselect }),
    ]
}

/// The body of a [`Step::Mutated`] on `snap`, `None` when the snapshot has no calls.
fn mutated(
    snap: &Snapshot,
    call: usize,
    handle: Option<(bool, u32)>,
    edits: &[(usize, u8)],
    truncate: Option<usize>,
) -> Option<(u8, Vec<u8>)> {
    let (method, body) = snap.calls.get(call % snap.calls.len().max(1))?;
    let mut body = body.clone();
    match handle {
        Some((true, i)) => {
            let h = snap.handles[i as usize % snap.handles.len()];
            body[..4].copy_from_slice(&h.to_be_bytes());
        }
        Some((false, raw)) => body[..4].copy_from_slice(&raw.to_be_bytes()),
        None => {}
    }
    for &(at, byte) in edits {
        let n = body.len();
        body[at % n] = byte;
    }
    if let Some(at) = truncate {
        body.truncate(at % (body.len() + 1));
    }
    Some((*method, body))
}

fn run_case(snap: &Snapshot, seed: u64, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut c = snap.restore(seed);
    let send = |c: &mut SnapshotCard, method: u8, body: &[u8], chunk: usize| {
        let apdus = call_apdus(method, body, chunk, 0);
        let last = apdus.len() - 1;
        for (i, apdu) in apdus.iter().enumerate() {
            let resp = c.process(apdu);
            check_response(&resp, i == last)
                .map_err(|e| TestCaseError::fail(format!("{}: method {method}: {e}", snap.name)))?;
        }
        Ok::<(), TestCaseError>(())
    };
    for s in steps {
        match s {
            Step::Raw(apdu) => {
                let resp = c.process(apdu);
                // A raw APDU may happen to be a well-formed call: its 9000 data is then an SKS
                // response, which `call = false` accepts without looking at it.
                check_response(&resp, false)
                    .map_err(|e| TestCaseError::fail(format!("{}: raw APDU: {e}", snap.name)))?;
            }
            Step::Call {
                method,
                body,
                chunk,
            } => send(&mut c, *method, body, *chunk)?,
            Step::Mutated {
                call,
                handle,
                edits,
                truncate,
            } => {
                if let Some((method, body)) = mutated(snap, *call, *handle, edits, *truncate) {
                    send(&mut c, method, &body, 65_535)?;
                }
            }
            Step::Select => prop_assert_eq!(c.process(&select_apdu()), vec![0x90, 0x00]),
            Step::Reset { reselect } => {
                c.reset();
                if *reselect {
                    prop_assert_eq!(c.process(&select_apdu()), vec![0x90, 0x00]);
                }
            }
        }
    }
    // Still alive: getDeviceInfo, and the reference signature unchanged.
    prop_assert_eq!(c.process(&select_apdu()), vec![0x90, 0x00]);
    let resp = c.process(&call_apdus(1, &[], 255, 0)[0]);
    let (data, status) = split_response(&resp).expect("status word");
    prop_assert_eq!(status, sw::OK);
    prop_assert_eq!(data.first(), Some(&0u8), "getDeviceInfo still succeeds");
    if let Some((apdu, expected)) = &snap.reference {
        prop_assert_eq!(&c.process(apdu), expected, "the reference signature");
    }
    Ok(())
}

/// The snapshots are what they claim: the mutated calls reach handlers (some succeed).
#[test]
fn the_provisioned_snapshot_reaches_the_handlers() {
    let snap = &snapshots()[1];
    let mut c = snap.restore(5);
    let mut successes = 0;
    for (method, body) in &snap.calls {
        let resp = c.process(&call_apdus(*method, body, 65_535, 0)[0]);
        check_response(&resp, true).unwrap_or_else(|e| panic!("method {method}: {e}"));
        successes += usize::from(resp.first() == Some(&0) && resp.ends_with(&[0x90, 0x00]));
    }
    assert!(
        successes >= 10,
        "only {successes} of {} calls succeeded",
        snap.calls.len()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_and_mutated_calls_on_snapshots_never_break_the_card(
        which in 0usize..4,
        seed in any::<u64>(),
        steps in proptest::collection::vec(step(), 1..30),
    ) {
        // The provisioned snapshot three times out of four.
        let snap = &snapshots()[usize::from(which > 0)];
        run_case(snap, seed, &steps)?;
    }
}
