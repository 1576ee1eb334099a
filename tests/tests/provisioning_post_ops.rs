//! Post-operations [50]-[53], updateKeyManagementKey [7], deferred execution at close, the
//! ownership take-over (spec-notes §3.7, §3.8, §4.3 steps 6-9, §4.6, §4.15, §4.16), in-process.

#[path = "support/provisioning.rs"]
mod support;

use apdu_spec::{Bytes, UpdateKeyManagementKeyArgs};
use sks_issuer::{alg, update_key_management_key, Closed, Curve, ErrorCode, Issuer, Key, Kmk};
use support::*;

const OPT: ErrorCode = ErrorCode::Option;

fn owner(sks: &mut Card, key_handle: u32) -> Option<u32> {
    keys(sks)
        .into_iter()
        .find(|(h, _)| *h == key_handle)
        .map(|(_, p)| p)
}

/// Creates key `id` in `s` under a new PIN policy "PIN" (PIN "1234") and sets its certificate.
fn pin_protected(s: &mut S<'_>, id: &str) -> Key {
    s.pin_policy("PIN", None, sks_issuer::PinPolicy::default())
        .unwrap();
    let k = s.key(id).pin("PIN", b"1234").create().unwrap();
    s.certify(&k).unwrap()
}

/// A fresh card with a P-256 KMK and its [`targets`] (E2ES mode, PIN grouping `grouping`).
fn with_targets(grouping: u8) -> (Card, Issuer, Kmk, Closed) {
    let mut sks = card();
    let issuer = issuer();
    let kmk = Kmk::generate_p256();
    let t = targets(&issuer, &mut sks, &kmk, false, grouping);
    (sks, issuer, kmk, t)
}

// ---------------------------------------------------------------------------------------------
// postDeleteKey [50]

#[test]
fn post_delete_is_deferred_and_takes_over_the_target_session() {
    let (mut sks, issuer, _, t) = with_targets(0);
    let target = t.key("T.plain").unwrap();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let h = s.provisioning_handle();
    s.post_delete(target).unwrap();
    // Deferred: the target still works until close.
    assert_signs_with(s.sks(), target.handle, b"", &target.public_key);
    assert_eq!(owner(s.sks(), target.handle), Some(t.provisioning_handle));
    s.close().unwrap();
    expect_raw_err(
        attributes(&mut sks, target.handle),
        ErrorCode::NoKey,
        "deleted key",
    );
    expect_raw_err(
        sign(&mut sks, target.handle, false, b"", b"x"),
        ErrorCode::NoKey,
        "signing with a deleted key",
    );
    // Take-over: the target session's other keys now belong to the closing session, and the
    // target session is gone.
    for id in ["T.pin", "T.other"] {
        let k = t.key(id).unwrap();
        assert_eq!(owner(&mut sks, k.handle), Some(h), "{id} not taken over");
    }
    let closed = session_handles(&mut sks, false);
    assert!(closed.contains(&h));
    assert!(
        !closed.contains(&t.provisioning_handle),
        "the old session is still listed"
    );
    // The taken-over PIN still works.
    let k = t.key("T.pin").unwrap();
    assert_signs_with(&mut sks, k.handle, b"1234", &k.public_key);
}

#[test]
fn post_delete_of_the_only_key_leaves_nothing() {
    let mut sks = card();
    let issuer = issuer();
    let kmk = Kmk::generate_p256();
    let t = closed_p256(&issuer, &mut sks, Some(&kmk), false, "Only");
    let mut s = issuer.session(&mut sks).open().unwrap();
    let h = s.provisioning_handle();
    s.post_delete(&t.keys[0]).unwrap();
    s.close().unwrap();
    assert!(keys(&mut sks).is_empty());
    let closed = session_handles(&mut sks, false);
    assert!(!closed.contains(&h), "the empty closing session was kept");
    assert!(!closed.contains(&t.provisioning_handle));
}

#[test]
fn post_ops_in_privacy_mode() {
    let mut sks = card();
    let issuer = issuer();
    let kmk = Kmk::generate_rsa(1024).unwrap();
    let t = targets(&issuer, &mut sks, &kmk, true, 1);
    let mut s = issuer.session(&mut sks).privacy(true).open().unwrap();
    s.post_delete(t.key("T.plain").unwrap()).unwrap();
    s.post_unlock(t.key("T.pin").unwrap()).unwrap();
    s.close().unwrap();
    assert_eq!(keys(&mut sks).len(), 2);
}

// ---------------------------------------------------------------------------------------------
// postUnlockKey [51]

#[test]
fn post_unlock_resets_the_pin_counter_at_close() {
    let (mut sks, issuer, _, t) = with_targets(0);
    let k = t.key("T.pin").unwrap();
    for _ in 0..3 {
        expect_raw_err(
            sign(&mut sks, k.handle, false, b"9999", b"x"),
            ErrorCode::Authorization,
            "wrong PIN",
        );
    }
    let p = protection(&mut sks, k.handle).unwrap();
    assert_eq!(p.pin_error_count, 3);
    assert_eq!(
        p.protection_status & u8::from(ProtectionFlag::PinBlocked),
        u8::from(ProtectionFlag::PinBlocked),
        "PIN blocked"
    );
    expect_raw_err(
        sign(&mut sks, k.handle, false, b"1234", b"x"),
        ErrorCode::Authorization,
        "blocked key",
    );
    let mut s = issuer.session(&mut sks).open().unwrap();
    s.post_unlock(k).unwrap();
    // Deferred: still blocked before close.
    assert_eq!(protection(s.sks(), k.handle).unwrap().pin_error_count, 3);
    s.close().unwrap();
    let p = protection(&mut sks, k.handle).unwrap();
    assert_eq!(p.pin_error_count, 0);
    assert_eq!(
        p.protection_status & u8::from(ProtectionFlag::PinBlocked),
        0
    );
    assert_signs_with(&mut sks, k.handle, b"1234", &k.public_key);
}

// ---------------------------------------------------------------------------------------------
// postUpdateKey [52]

#[test]
fn post_update_new_key_takes_the_old_handle() {
    let (mut sks, issuer, _, t) = with_targets(0);
    let old = t.key("T.pin").unwrap();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let n = s
        .key("New")
        .endorse(&[alg::ECDSA_SHA256])
        .friendly_name("new key")
        .create()
        .unwrap();
    let n = s.certify(&n).unwrap();
    s.extension(&n, "urn:new", b"new").unwrap();
    s.post_update(&n, old).unwrap();
    // Deferred: the old key still signs with its old key material.
    assert_signs_with(s.sks(), old.handle, b"1234", &old.public_key);
    s.close().unwrap();
    // The old handle now holds the new key, with the old PIN.
    assert_signs_with(&mut sks, old.handle, b"1234", &n.public_key);
    let a = attributes(&mut sks, old.handle).unwrap();
    assert_eq!(a.certificates[0].0, n.certificate_path[0]);
    assert_eq!(a.friendly_name, "new key");
    let types: Vec<&str> = a.types.iter().map(|t| t.as_str()).collect();
    assert_eq!(types, ["urn:new"]);
    let p = protection(&mut sks, old.handle).unwrap();
    assert_eq!(
        p.protection_status & u8::from(ProtectionFlag::PinProtected),
        u8::from(ProtectionFlag::PinProtected),
        "PIN inherited"
    );
    // The new key's own handle disappeared.
    expect_raw_err(
        attributes(&mut sks, n.handle),
        ErrorCode::NoKey,
        "the new key's handle",
    );
    assert!(!key_handles(&mut sks).contains(&n.handle));
    // Same position in the enumeration.
    let all = key_handles(&mut sks);
    let pos: Vec<u32> = t.keys.iter().map(|k| k.handle).collect();
    assert_eq!(all, pos, "enumeration order after update");
}

#[test]
fn post_update_allows_the_targets_certificate() {
    // spec-notes §4.3 5.4: a duplicate EE certificate is fine when the other key is the
    // target of a queued postUpdateKey.
    let mut sks = card();
    let issuer = issuer();
    let kmk = Kmk::generate_p256();
    let (pkcs8, spki) = ec_pkcs8(Curve::P256);
    let cert = issuer.ca().certify(&spki, "K").unwrap();
    let mut s = issuer.session(&mut sks).kmk(&kmk).open().unwrap();
    let k = s.key("K").create().unwrap();
    let k = s.set_certificate_path(&k, vec![cert.clone()]).unwrap();
    s.import_private(&k, &pkcs8).unwrap();
    let t = s.close().unwrap();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let n = s.key("N").create().unwrap();
    let n = s.set_certificate_path(&n, vec![cert]).unwrap();
    s.import_private(&n, &pkcs8).unwrap();
    s.post_update(&n, &t.keys[0]).unwrap();
    s.close()
        .expect("duplicate certificate of the update target must be allowed");
    assert_signs_with(&mut sks, t.keys[0].handle, b"", &spki);
}

// ---------------------------------------------------------------------------------------------
// postCloneKeyProtection [53]

#[test]
fn post_clone_gives_the_new_key_the_targets_pin() {
    let (mut sks, issuer, _, t) = with_targets(1);
    let target = t.key("T.pin").unwrap();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let n = certified(&mut s, "Clone");
    s.post_clone(&n, target).unwrap();
    s.close().unwrap();
    let p = protection(&mut sks, n.handle).unwrap();
    assert_eq!(
        p.protection_status & u8::from(ProtectionFlag::PinProtected | ProtectionFlag::PukProtected),
        u8::from(ProtectionFlag::PinProtected | ProtectionFlag::PukProtected),
        "PIN + PUK inherited"
    );
    assert_signs_with(&mut sks, n.handle, b"1234", &n.public_key);
    // Shared PIN: errors on the clone count for the target too.
    expect_raw_err(
        sign(&mut sks, n.handle, false, b"0000", b"x"),
        ErrorCode::Authorization,
        "wrong PIN on the clone",
    );
    assert_eq!(
        protection(&mut sks, target.handle).unwrap().pin_error_count,
        1
    );
    // The target is still there.
    assert_signs_with(&mut sks, target.handle, b"1234", &target.public_key);
}

#[test]
fn post_clone_of_a_key_without_pin_is_allowed() {
    let (mut sks, issuer, _, t) = with_targets(0);
    let mut s = issuer.session(&mut sks).open().unwrap();
    let n = certified(&mut s, "Clone");
    s.post_clone(&n, t.key("T.plain").unwrap()).unwrap();
    s.close().unwrap();
    assert_signs_with(&mut sks, n.handle, b"", &n.public_key);
}

#[test]
fn update_and_clones_and_unlock_on_one_target() {
    let (mut sks, issuer, _, t) = with_targets(1);
    let target = t.key("T.pin").unwrap();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let u = certified(&mut s, "U");
    let c1 = certified(&mut s, "C1");
    let c2 = certified(&mut s, "C2");
    s.post_clone(&c1, target).unwrap();
    s.post_update(&u, target).unwrap();
    s.post_clone(&c2, target).unwrap();
    s.post_unlock(target).unwrap();
    s.close().unwrap();
    assert_signs_with(&mut sks, target.handle, b"1234", &u.public_key);
    assert_signs_with(&mut sks, c1.handle, b"1234", &c1.public_key);
    assert_signs_with(&mut sks, c2.handle, b"1234", &c2.public_key);
}

// ---------------------------------------------------------------------------------------------
// Ownership take-over: a closing session without KMK makes the keys non-updatable

#[test]
fn take_over_by_a_session_without_kmk_makes_keys_non_updatable() {
    let (mut sks, issuer, kmk, t) = with_targets(0);
    let mut s = issuer.session(&mut sks).open().unwrap();
    s.post_delete(t.key("T.plain").unwrap()).unwrap();
    s.close().unwrap();
    let (mut sks, _) = fails_torn_down_on(
        sks,
        "post-op on a key taken over by a session without KMK",
        OPT,
        |s| s.post_delete_with(t.key("T.other").unwrap(), &kmk),
    );
    // Still usable.
    let k = t.key("T.other").unwrap();
    assert_signs_with(&mut sks, k.handle, b"", &k.public_key);
}

/// Like `fails_torn_down`, on an existing card (no bystanders).
fn fails_torn_down_on(
    mut sks: Card,
    what: &str,
    code: ErrorCode,
    body: impl for<'a> FnOnce(&mut S<'a>) -> Result<(), sks_issuer::Error>,
) -> (Card, ()) {
    let issuer = issuer();
    let handle;
    {
        let mut s = issuer.session(&mut sks).open().unwrap();
        handle = s.provisioning_handle();
        expect_err(body(&mut s), code, what);
    }
    assert_torn_down(&mut sks, handle);
    (sks, ())
}

// ---------------------------------------------------------------------------------------------
// updateKeyManagementKey [7]

#[test]
fn update_kmk_then_post_ops_need_the_new_kmk() {
    let mut sks = card();
    let issuer = issuer();
    let old = Kmk::generate_p256();
    let new = Kmk::generate_p256();
    let t = targets(&issuer, &mut sks, &old, false, 0);
    update_key_management_key(&mut sks, t.provisioning_handle, &old, &new).unwrap();
    let info = sessions(&mut sks, false)
        .into_iter()
        .find(|(h, _)| *h == t.provisioning_handle)
        .unwrap()
        .1;
    assert_eq!(info.key_management_key.0, new.spki());
    // The old KMK no longer authorizes.
    let (sks, _) = fails_torn_down_on(sks, "post-op signed by the replaced KMK", OPT, |s| {
        s.post_delete_with(t.key("T.plain").unwrap(), &old)
    });
    let mut sks = sks;
    let mut s = issuer.session(&mut sks).open().unwrap();
    s.post_delete_with(t.key("T.plain").unwrap(), &new).unwrap();
    s.close().unwrap();
    assert_eq!(keys(&mut sks).len(), 2);
    // Roll over across key types: P-256 -> RSA -> P-384.
    let t2 = closed_p256(&issuer, &mut sks, Some(&new), false, "X");
    let rsa = Kmk::generate_rsa(1024).unwrap();
    update_key_management_key(&mut sks, t2.provisioning_handle, &new, &rsa).unwrap();
    let newer = Kmk::generate_ec(Curve::P384);
    update_key_management_key(&mut sks, t2.provisioning_handle, &rsa, &newer).unwrap();
    let mut s = issuer.session(&mut sks).open().unwrap();
    s.post_delete_with(&t2.keys[0], &newer).unwrap();
    s.close().unwrap();
}

#[test]
fn update_kmk_errors_leave_the_session_alone() {
    let mut sks = card();
    let issuer = issuer();
    let kmk = Kmk::generate_p256();
    let new = Kmk::generate_p256();
    let t = closed_p256(&issuer, &mut sks, Some(&kmk), false, "K");
    let no_kmk = closed_p256(&issuer, &mut sks, None, false, "N");
    let open = issuer
        .session(&mut sks)
        .kmk(&kmk)
        .open()
        .unwrap()
        .into_state();

    let call = |sks: &mut Card, handle: u32, auth: Vec<u8>| {
        sks.update_key_management_key(&UpdateKeyManagementKeyArgs {
            provisioning_handle: handle,
            key_management_key: Bytes(new.spki()),
            authorization: Bytes(auth),
        })
    };
    let good = kmk.authorize_roll_over(&new);
    expect_raw_err(
        call(&mut sks, open.provisioning_handle, good.clone()),
        ErrorCode::NotAllowed,
        "updateKeyManagementKey on an open session",
    );
    assert!(session_handles(&mut sks, true).contains(&open.provisioning_handle));
    expect_raw_err(
        call(&mut sks, no_kmk.provisioning_handle, good.clone()),
        ErrorCode::NotAllowed,
        "updateKeyManagementKey on a session without KMK",
    );
    expect_raw_err(
        call(&mut sks, 0x0bad_cafe, good.clone()),
        ErrorCode::NoSession,
        "updateKeyManagementKey on an unknown session",
    );
    let wrong = Kmk::generate_p256().authorize_roll_over(&new);
    expect_raw_err(
        call(&mut sks, t.provisioning_handle, wrong),
        OPT,
        "updateKeyManagementKey signed by another key",
    );
    let der = kmk.sign_der(&Kmk::roll_over_data(&new.spki())).unwrap();
    expect_raw_err(
        call(&mut sks, t.provisioning_handle, der),
        ErrorCode::Crypto,
        "updateKeyManagementKey with a DER ECDSA signature",
    );
    // Nothing changed: KMK and key intact, the old KMK still authorizes.
    let info = sessions(&mut sks, false)
        .into_iter()
        .find(|(h, _)| *h == t.provisioning_handle)
        .expect("session still closed and listed")
        .1;
    assert_eq!(info.key_management_key.0, kmk.spki());
    assert_signs_with(&mut sks, t.keys[0].handle, b"", &t.keys[0].public_key);
    let mut s = issuer.session(&mut sks).open().unwrap();
    s.post_delete_with(&t.keys[0], &kmk).unwrap();
    s.close().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Post-op failures: teardown, target untouched

/// How a [`post_fails`] case is set up: the expected error, privacy mode of the target session
/// and of the failing session, and the target PIN's grouping.
#[derive(Clone, Copy)]
struct Setup {
    code: ErrorCode,
    privacy_targets: bool,
    privacy_session: bool,
    grouping: u8,
}

/// ERROR_OPTION, no privacy mode, grouping 0.
const PLAIN: Setup = Setup {
    code: OPT,
    privacy_targets: false,
    privacy_session: false,
    grouping: 0,
};

/// [`PLAIN`] with a shared-PIN grouping (1).
const SHARED: Setup = Setup {
    grouping: 1,
    ..PLAIN
};

fn post_fails(
    what: &str,
    setup: Setup,
    body: impl for<'a> FnOnce(&mut S<'a>, &sks_issuer::Closed, &Kmk) -> Result<(), sks_issuer::Error>,
) {
    let Setup {
        code,
        privacy_targets,
        privacy_session,
        grouping,
    } = setup;
    let kmk = Kmk::generate_p256();
    let kmk2 = kmk.clone();
    let (mut sks, t) = fails_torn_down(
        card(),
        what,
        code,
        |i, sks| targets(i, sks, &kmk, privacy_targets, grouping),
        |b| b.privacy(privacy_session),
        move |s, t| body(s, t, &kmk2),
    );
    let listed = keys(&mut sks);
    for k in &t.keys {
        assert!(
            listed.contains(&(k.handle, t.provisioning_handle)),
            "{what}: target {} moved or disappeared",
            k.id
        );
    }
}

#[test]
fn post_op_signed_by_another_issuers_kmk() {
    // Issuer B (own KMK) trying to manage issuer A's keys.
    post_fails("issuer B deletes issuer A's key", PLAIN, |s, t, _| {
        let kmk_b = Kmk::generate_p256();
        s.post_delete_with(t.key("T.plain").unwrap(), &kmk_b)
    });
    post_fails("issuer B updates issuer A's key", PLAIN, |s, t, _| {
        let kmk_b = Kmk::generate_p256();
        let n = certified(s, "N");
        s.post_update_with(&n, t.key("T.plain").unwrap(), &kmk_b)
    });
    post_fails("issuer B unlocks issuer A's key", PLAIN, |s, t, _| {
        let kmk_b = Kmk::generate_p256();
        s.post_unlock_with(t.key("T.pin").unwrap(), &kmk_b)
    });
    post_fails("issuer B clones issuer A's key", SHARED, |s, t, _| {
        let kmk_b = Kmk::generate_p256();
        let n = certified(s, "N");
        s.post_clone_with(&n, t.key("T.pin").unwrap(), &kmk_b)
    });
}

#[test]
fn post_op_signed_by_a_kmk_of_another_type_is_error_crypto() {
    // A signature that cannot be one of the target's KMK (wrong length for P-256) is
    // malformed: ERROR_CRYPTO (spec-notes §3.7).
    post_fails(
        "RSA signature for a P-256 KMK",
        Setup {
            code: ErrorCode::Crypto,
            ..PLAIN
        },
        |s, t, _| {
            let kmk_b = Kmk::generate_rsa(1024).unwrap();
            s.post_unlock_with(t.key("T.pin").unwrap(), &kmk_b)
        },
    );
    post_fails(
        "P-384 signature for a P-256 KMK",
        Setup {
            code: ErrorCode::Crypto,
            ..PLAIN
        },
        |s, t, _| {
            let kmk_b = Kmk::generate_ec(Curve::P384);
            s.post_delete_with(t.key("T.plain").unwrap(), &kmk_b)
        },
    );
}

#[test]
fn post_op_authorization_over_the_wrong_reference() {
    post_fails("authorization for another target", PLAIN, |s, t, kmk| {
        let other = t.key("T.other").unwrap();
        let auth = s.state_mut().authorization(other, kmk)?;
        let a = s
            .state_mut()
            .post_delete_args(t.key("T.plain").unwrap(), &auth);
        s.sks().post_delete_key(&a).map_err(raw_err)
    });
}

#[test]
fn post_op_der_ecdsa_authorization_is_error_crypto() {
    post_fails(
        "DER ECDSA authorization",
        Setup {
            code: ErrorCode::Crypto,
            ..PLAIN
        },
        |s, t, kmk| {
            let target = t.key("T.plain").unwrap();
            let r = s
                .state()
                .keys
                .key_reference(target.ee_certificate().unwrap());
            s.state_mut().keys.count_uses(1);
            let der = kmk.sign_der(&Kmk::target_key_reference_data(&r)).unwrap();
            let a = s.state_mut().post_delete_args(target, &der);
            s.sks().post_delete_key(&a).map_err(raw_err)
        },
    );
}

#[test]
fn post_op_privacy_mismatch() {
    post_fails(
        "E2ES session managing a privacy-mode key",
        Setup {
            privacy_targets: true,
            ..PLAIN
        },
        |s, t, _| s.post_delete(t.key("T.plain").unwrap()),
    );
    post_fails(
        "privacy session managing an E2ES key",
        Setup {
            privacy_session: true,
            ..PLAIN
        },
        |s, t, _| s.post_delete(t.key("T.plain").unwrap()),
    );
}

#[test]
fn post_op_target_not_updatable_or_still_open() {
    let mut sks = card();
    let issuer = issuer();
    let kmk = Kmk::generate_p256();
    let no_kmk = closed_p256(&issuer, &mut sks, None, false, "NoKmk");
    let (sks, _) = fails_torn_down_on(sks, "target of a session without KMK", OPT, |s| {
        s.post_delete_with(&no_kmk.keys[0], &kmk)
    });
    let mut sks = sks;
    let mut open = issuer.session(&mut sks).kmk(&kmk).open().unwrap();
    let k = certified(&mut open, "Open");
    let open_state = open.into_state();
    let (mut sks, _) = fails_torn_down_on(sks, "target still in provisioning", OPT, |s| {
        s.post_delete_with(&k, &kmk)
    });
    assert!(session_handles(&mut sks, true).contains(&open_state.provisioning_handle));
}

#[test]
fn post_op_unknown_target_is_no_key() {
    post_fails(
        "unknown target",
        Setup {
            code: ErrorCode::NoKey,
            ..PLAIN
        },
        |s, t, kmk| {
            let mut fake = t.key("T.plain").unwrap().clone();
            fake.handle = 0x0bad_cafe;
            s.post_delete_with(&fake, kmk)
        },
    );
}

/// A post-operation on [`targets`] keys: `Update`/`Clone` name the new key first, the target
/// second.
#[derive(Clone, Copy, Debug)]
enum Op {
    Delete(&'static str),
    Unlock(&'static str),
    Update(&'static str, &'static str),
    Clone(&'static str, &'static str),
}

/// Creates a certified new key: "P" PIN-protected ([`pin_protected`]), "Auth" with appUsage
/// authentication, any other `id` plain ([`certified`]).
fn new_key(s: &mut S<'_>, id: &str) -> Key {
    match id {
        "P" => pin_protected(s, id),
        "Auth" => {
            let k = s
                .key(id)
                .app_usage(AppUsage::Authentication.into())
                .create()
                .unwrap();
            s.certify(&k).unwrap()
        }
        _ => certified(s, id),
    }
}

/// Creates the new keys `ops` name (in order of appearance, see [`new_key`]), then queues
/// `ops`: all but the last must succeed; returns the last one's result.
fn run_ops(s: &mut S<'_>, t: &Closed, ops: &[Op]) -> Result<(), sks_issuer::Error> {
    let mut new: Vec<Key> = Vec::new();
    for op in ops {
        if let Op::Update(id, _) | Op::Clone(id, _) = *op {
            if !new.iter().any(|k| k.id == id) {
                new.push(new_key(s, id));
            }
        }
    }
    let new_key = |id: &str| new.iter().find(|k| k.id == id).unwrap();
    let target = |id: &str| t.key(id).unwrap();
    let run = |s: &mut S<'_>, op: Op| match op {
        Op::Delete(id) => s.post_delete(target(id)),
        Op::Unlock(id) => s.post_unlock(target(id)),
        Op::Update(n, id) => s.post_update(new_key(n), target(id)),
        Op::Clone(n, id) => s.post_clone(new_key(n), target(id)),
    };
    let (last, first) = ops.split_last().expect("at least one op");
    for op in first {
        run(s, *op).unwrap_or_else(|e| panic!("{op:?} before the failing op: {e}"));
    }
    run(s, *last)
}

#[test]
fn post_op_rules() {
    use Op::*;
    for (what, setup, ops) in [
        (
            "postUnlockKey of a key without PIN",
            PLAIN,
            &[Unlock("T.plain")][..],
        ),
        (
            "postUpdateKey with a PIN-protected new key",
            PLAIN,
            &[Update("P", "T.plain")],
        ),
        (
            "postCloneKeyProtection with a PIN-protected new key",
            SHARED,
            &[Clone("P", "T.pin")],
        ),
        (
            "postUpdateKey with a different appUsage",
            PLAIN,
            &[Update("Auth", "T.plain")],
        ),
        (
            "postCloneKeyProtection of a non-shared PIN",
            PLAIN,
            &[Clone("N", "T.pin")],
        ),
    ] {
        post_fails(what, setup, |s, t, _| run_ops(s, t, ops));
    }
    post_fails(
        "postUpdateKey before the new key's certificate",
        PLAIN,
        |s, t, kmk| {
            let n = s.key("N").create().unwrap();
            let target = t.key("T.plain").unwrap();
            let auth = s.state_mut().authorization(target, kmk)?;
            let a = apdu_spec::PostUpdateKeyArgs {
                key_handle: n.handle,
                target_key_handle: target.handle,
                authorization: Bytes(auth),
                mac: apdu_spec::Mac([0; 32]),
            };
            s.sks().post_update_key(&a).map_err(raw_err)
        },
    );
}

#[test]
fn post_op_combinations() {
    use Op::*;
    for (what, setup, ops) in [
        (
            "delete + unlock of one target",
            PLAIN,
            &[Delete("T.pin"), Unlock("T.pin")][..],
        ),
        (
            "unlock + delete of one target",
            PLAIN,
            &[Unlock("T.pin"), Delete("T.pin")],
        ),
        (
            "two deletes of one target",
            PLAIN,
            &[Delete("T.plain"), Delete("T.plain")],
        ),
        ("two unlocks", PLAIN, &[Unlock("T.pin"), Unlock("T.pin")]),
        (
            "two updates",
            PLAIN,
            &[Update("A", "T.plain"), Update("B", "T.plain")],
        ),
        (
            "update + delete of one target",
            PLAIN,
            &[Update("A", "T.plain"), Delete("T.plain")],
        ),
        (
            "one new key for two operations",
            SHARED,
            &[Update("A", "T.plain"), Clone("A", "T.pin")],
        ),
    ] {
        post_fails(what, setup, |s, t, _| run_ops(s, t, ops));
    }
}

#[test]
fn target_deleted_before_close() {
    // SKSTest.test28: the target is removed with deleteKey between the post-op and the close.
    let (mut sks, issuer, _, t) = with_targets(0);
    let target = t.key("T.plain").unwrap();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let h = s.provisioning_handle();
    let n = certified(&mut s, "N");
    s.post_update(&n, target).unwrap();
    s.sks()
        .delete_key(&apdu_spec::DeleteKeyArgs {
            key_handle: target.handle,
            authorization: Bytes::default(),
        })
        .unwrap();
    let r = s.close();
    let code = code_of(&r.expect_err("close with a vanished target must fail"));
    assert!(
        code == ErrorCode::NoKey || code == OPT,
        "expected ERROR_NO_KEY or ERROR_OPTION, got {}",
        code.name()
    );
    drop(s);
    assert_torn_down(&mut sks, h);
    assert_eq!(
        keys(&mut sks).len(),
        2,
        "the other target keys are untouched"
    );
}

#[test]
fn failed_close_applies_no_post_op() {
    // Close runs every check before it changes anything (spec-notes §4.3): a queued delete,
    // update and unlock are discarded when a later check fails.
    post_fails("close failing after queued post-ops", PLAIN, |s, t, _| {
        let n = certified(s, "N");
        s.post_update(&n, t.key("T.plain").unwrap()).unwrap();
        s.post_delete(t.key("T.other").unwrap()).unwrap();
        s.post_unlock(t.key("T.pin").unwrap()).unwrap();
        s.key("NoCert").create().unwrap();
        unit(s.close())
    });
}
