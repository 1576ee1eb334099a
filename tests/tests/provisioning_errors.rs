//! Provisioning API conformance, error paths: each failure gets the SKS error code of
//! spec-notes §7, tears the session down where §4/§7 say so, and leaves every other session and
//! key untouched (issue 3 point 7).

#[path = "support/provisioning.rs"]
mod support;

use apdu_spec::{Bytes, ImportSymmetricKeyArgs, Mac};
use sks_issuer::macdata::{self, method};
use sks_issuer::{alg, Curve, ErrorCode, Kmk, PinPolicy, PukPolicy};
use support::*;

const OPT: ErrorCode = ErrorCode::Option;

// ---------------------------------------------------------------------------------------------
// createProvisioningSession [2]: refused, no session created

fn session_refused(
    what: &str,
    code: ErrorCode,
    change: impl FnOnce(&mut apdu_spec::CreateProvisioningSessionArgs),
) {
    let mut sks = card();
    let issuer = issuer();
    let before = session_handles(&mut sks, true);
    let mut pending = issuer.session(&mut sks).prepare().unwrap();
    change(&mut pending.args);
    expect_err(pending.open().map(|_| ()), code, what);
    assert_eq!(
        session_handles(&mut sks, true),
        before,
        "{what}: a session was left behind"
    );
}

#[test]
fn create_session_unknown_session_key_algorithm() {
    session_refused("sessionKeyAlgorithm #key.1", OPT, |a| {
        a.session_key_algorithm = apdu_spec::Uri::new(alg::KEY_1).unwrap()
    });
    session_refused("sessionKeyAlgorithm empty", OPT, |a| {
        a.session_key_algorithm = apdu_spec::Uri::default()
    });
}

#[test]
fn create_session_empty_issuer_uri() {
    session_refused("issuerUri empty", OPT, |a| {
        a.issuer_uri = apdu_spec::Uri::default()
    });
}

#[test]
fn create_session_bad_server_ephemeral_key() {
    let rsa = Kmk::generate_rsa(1024).unwrap().spki();
    session_refused("serverEphemeralKey RSA", OPT, |a| {
        a.server_ephemeral_key = Bytes(rsa)
    });
    session_refused("serverEphemeralKey garbage", OPT, |a| {
        a.server_ephemeral_key = Bytes(vec![0x30, 0x03, 0x02, 0x01, 0x00])
    });
    session_refused("serverEphemeralKey secp256k1", OPT, |a| {
        a.server_ephemeral_key = Bytes(secp256k1_spki())
    });
}

#[test]
fn create_session_bad_key_management_key() {
    session_refused("keyManagementKey garbage", OPT, |a| {
        a.key_management_key = Bytes(vec![1, 2, 3])
    });
    session_refused("keyManagementKey secp256k1", OPT, |a| {
        a.key_management_key = Bytes(secp256k1_spki())
    });
}

/// A well-formed SPKI on secp256k1 (unsupported curve); the point is the curve's generator.
fn secp256k1_spki() -> Vec<u8> {
    let gx =
        hex::decode("79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798").unwrap();
    let gy =
        hex::decode("483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8").unwrap();
    let alg_id = der(
        0x30,
        &[
            der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]),
            der(0x06, &[0x2b, 0x81, 0x04, 0x00, 0x0a]),
        ]
        .concat(),
    );
    let point = [&[0u8, 0x04][..], &gx, &gy].concat();
    der(0x30, &[alg_id, der(0x03, &point)].concat())
}

// ---------------------------------------------------------------------------------------------
// Wrong MAC in every MAC'ed method: ERROR_MAC + teardown

#[test]
fn wrong_mac_create_puk_policy() {
    fails("createPukPolicy wrong MAC", ErrorCode::Mac, |s, _| {
        let mut a = s.state_mut().puk_args("PUK", b"1234", 0, 3)?;
        a.mac.0[31] ^= 0x80;
        unit(s.send_puk(&a))
    });
}

#[test]
fn wrong_mac_create_pin_policy() {
    fails("createPinPolicy wrong MAC", ErrorCode::Mac, |s, _| {
        let mut a = s
            .state_mut()
            .pin_policy_args("PIN", None, &PinPolicy::default())?;
        a.mac.0[0] ^= 1;
        unit(s.send_pin_policy(&a, None, PinPolicy::default()))
    });
}

#[test]
fn wrong_mac_create_key_entry() {
    fails("createKeyEntry wrong MAC", ErrorCode::Mac, |s, _| {
        let mut req = s.key("K").prepare()?;
        req.args.mac.0[5] ^= 1;
        unit(s.send_key(&req))
    });
}

#[test]
fn wrong_mac_set_certificate_path() {
    fails("setCertificatePath wrong MAC", ErrorCode::Mac, |s, _| {
        let k = s.key("K").create().unwrap();
        let path = vec![s.sks_issuer_ca_cert(&k)];
        let mut a = s.state_mut().certificate_path_args(&k, &path);
        a.mac.0[5] ^= 1;
        unit(s.send_certificate_path(&k, &a))
    });
}

/// Lets the failure bodies get a certificate for a key without borrowing the issuer.
trait CertFor {
    fn sks_issuer_ca_cert(&mut self, k: &sks_issuer::Key) -> Vec<u8>;
}

impl CertFor for S<'_> {
    fn sks_issuer_ca_cert(&mut self, k: &sks_issuer::Key) -> Vec<u8> {
        // A fresh CA is as good as the issuer's: the card does not verify certificate chains.
        sks_issuer::Ca::new("Test CA")
            .unwrap()
            .certify(&k.public_key, &k.id)
            .unwrap()
    }
}

#[test]
fn wrong_mac_import_symmetric_key() {
    fails("importSymmetricKey wrong MAC", ErrorCode::Mac, |s, _| {
        let k = certified(s, "K");
        let mut a = s.state_mut().import_symmetric_args(&k, &[1; 16])?;
        a.mac.0[5] ^= 1;
        s.sks().import_symmetric_key(&a).map_err(raw_err)
    });
}

#[test]
fn wrong_mac_import_private_key() {
    fails("importPrivateKey wrong MAC", ErrorCode::Mac, |s, _| {
        let (pkcs8, spki) = ec_pkcs8(Curve::P256);
        let k = s.key("K").create().unwrap();
        let cert = ca_certificate(&spki);
        let k = s.set_certificate_path(&k, vec![cert]).unwrap();
        let mut a = s.state_mut().import_private_args(&k, &pkcs8)?;
        a.mac.0[5] ^= 1;
        s.sks().import_private_key(&a).map_err(raw_err)
    });
}

#[test]
fn wrong_mac_add_extension() {
    fails("addExtension wrong MAC", ErrorCode::Mac, |s, _| {
        let k = certified(s, "K");
        let mut a = s.state_mut().extension_args(&k, "urn:x", 0, "", b"data")?;
        a.mac.0[5] ^= 1;
        s.sks().add_extension(&a).map_err(raw_err)
    });
}

#[test]
fn wrong_mac_close() {
    fails(
        "closeProvisioningSession wrong MAC",
        ErrorCode::Mac,
        |s, _| {
            let k = s.key("K").create().unwrap();
            s.certify(&k).unwrap();
            let mut req = s.state_mut().close_args(&[1; 32]);
            req.args.mac.0[5] ^= 1;
            unit(s.send_close(&req))
        },
    );
}

fn post_op_wrong_mac(which: &'static str) {
    let kmk = Kmk::generate_p256();
    let (mut sks, t) = fails_torn_down(
        card(),
        &format!("{which} wrong MAC"),
        ErrorCode::Mac,
        |i, sks| targets(i, sks, &kmk, false, 1),
        |b| b,
        |s, t| {
            let target = t
                .key(if which == "unlock" {
                    "T.pin"
                } else {
                    "T.plain"
                })
                .unwrap();
            let auth = s.state_mut().authorization(target, &kmk)?;
            let flip = |m: &mut Mac| m.0[3] ^= 1;
            match which {
                "delete" => {
                    let mut a = s.state_mut().post_delete_args(target, &auth);
                    flip(&mut a.mac);
                    s.sks().post_delete_key(&a).map_err(raw_err)
                }
                "unlock" => {
                    let mut a = s.state_mut().post_unlock_args(target, &auth);
                    flip(&mut a.mac);
                    s.sks().post_unlock_key(&a).map_err(raw_err)
                }
                _ => {
                    let n = certified(s, "New");
                    if which == "update" {
                        let mut a = s.state_mut().post_update_args(&n, target, &auth)?;
                        flip(&mut a.mac);
                        s.sks().post_update_key(&a).map_err(raw_err)
                    } else {
                        let mut a = s.state_mut().post_clone_args(&n, target, &auth)?;
                        flip(&mut a.mac);
                        s.sks().post_clone_key_protection(&a).map_err(raw_err)
                    }
                }
            }
        },
    );
    // The target session is untouched.
    assert_targets_intact(&mut sks, &t);
}

fn assert_targets_intact(sks: &mut Card, t: &sks_issuer::Closed) {
    let listed = keys(sks);
    for k in &t.keys {
        assert!(
            listed.contains(&(k.handle, t.provisioning_handle)),
            "target {} moved or disappeared",
            k.id
        );
        let pin: &[u8] = if k.id == "T.pin" { b"1234" } else { b"" };
        assert_signs_with(sks, k.handle, pin, &k.public_key);
    }
    assert!(session_handles(sks, false).contains(&t.provisioning_handle));
}

#[test]
fn wrong_mac_post_delete_key() {
    post_op_wrong_mac("delete");
}

#[test]
fn wrong_mac_post_unlock_key() {
    post_op_wrong_mac("unlock");
}

#[test]
fn wrong_mac_post_update_key() {
    post_op_wrong_mac("update");
}

#[test]
fn wrong_mac_post_clone_key_protection() {
    post_op_wrong_mac("clone");
}

// ---------------------------------------------------------------------------------------------
// Replayed, reordered and skipped calls: ERROR_MAC

#[test]
fn replayed_call_is_error_mac() {
    fails("replayed createPukPolicy", ErrorCode::Mac, |s, _| {
        let a = s.state_mut().puk_args("PUK", b"1234", 0, 3)?;
        s.send_puk(&a).unwrap();
        unit(s.send_puk(&a))
    });
}

#[test]
fn replayed_key_entry_is_error_mac() {
    fails("replayed createKeyEntry", ErrorCode::Mac, |s, _| {
        let req = s.key("K").prepare()?;
        s.send_key(&req).unwrap();
        unit(s.send_key(&req))
    });
}

#[test]
fn reordered_calls_are_error_mac() {
    fails("reordered createPukPolicy", ErrorCode::Mac, |s, _| {
        let _first = s.state_mut().puk_args("PUK.1", b"1234", 0, 3)?;
        let second = s.state_mut().puk_args("PUK.2", b"1234", 0, 3)?;
        unit(s.send_puk(&second))
    });
}

#[test]
fn skipped_counter_is_error_mac() {
    fails("MAC counter ahead", ErrorCode::Mac, |s, _| {
        s.key("K").create().unwrap();
        let c = s.counter();
        s.state_mut().keys.set_counter(c + 1);
        unit(s.key("K2").create())
    });
}

#[test]
fn wrong_method_name_is_error_mac() {
    // spec-notes D1: the MAC uses "createPINPolicy"; the API spelling must fail.
    fails(
        "createPinPolicy MACed as \"createPinPolicy\"",
        ErrorCode::Mac,
        |s, _| {
            let mut a = s
                .state_mut()
                .pin_policy_args("PIN", None, &PinPolicy::default())?;
            let c = s.counter() - 1;
            let data = macdata::create_pin_policy(&a, None);
            a.mac = Mac(s.state().keys.mac_at("createPinPolicy", c, &data));
            unit(s.send_pin_policy(&a, None, PinPolicy::default()))
        },
    );
}

// ---------------------------------------------------------------------------------------------
// sessionKeyLimit accounting per method (spec-notes §3.4)

/// One provisioning call of the limit scenario and its sessionKeyLimit cost.
const STEPS: &[(&str, u32)] = &[
    ("createPukPolicy", 2),
    ("createPinPolicy user-defined", 1),
    ("createPinPolicy issuer-set", 1),
    ("createKeyEntry user PIN", 2),
    ("createKeyEntry issuer-set PIN", 3),
    ("createKeyEntry for importSymmetricKey", 2),
    ("createKeyEntry for importPrivateKey", 2),
    ("setCertificatePath K1", 1),
    ("setCertificatePath K2", 1),
    ("setCertificatePath K3", 1),
    ("setCertificatePath K4", 1),
    ("importSymmetricKey", 2),
    ("importPrivateKey", 2),
    ("addExtension plain", 1),
    ("addExtension encrypted", 2),
    ("addExtension property bag", 1),
    ("addExtension logotype", 1),
    ("createKeyEntry N1", 2),
    ("setCertificatePath N1", 1),
    ("postUpdateKey", 2),
    ("createKeyEntry N2", 2),
    ("setCertificatePath N2", 1),
    ("postCloneKeyProtection", 2),
    ("postUnlockKey", 2),
    ("postDeleteKey", 2),
    ("closeProvisioningSession", 2),
];

/// Runs the scenario with `limit`; `fail_at`: index of the step expected to fail with
/// ERROR_OPTION (and tear the session down), or `None` for success.
fn limit_scenario(limit: u16, fail_at: Option<usize>) {
    let mut sks = card();
    let issuer = issuer();
    let kmk = Kmk::generate_p256();
    let t = targets(&issuer, &mut sks, &kmk, false, 1);
    // A second target session for the unlock and delete (a target can take only one
    // delete and nothing else).
    let t2 = targets(&issuer, &mut sks, &kmk, false, 1);
    let (pkcs8, spki) = ec_pkcs8(Curve::P256);
    let mut s = issuer.session(&mut sks).key_limit(limit).open().unwrap();
    let handle = s.provisioning_handle();
    let mut keys_ = std::collections::HashMap::new();
    let mut total = 0;
    for (i, (name, cost)) in STEPS.iter().enumerate() {
        let r: Result<(), sks_issuer::Error> = (|| {
            match i {
                0 => {
                    let p = s.puk("PUK", b"123456", PinFormat::Numeric.into(), 3)?;
                    keys_.insert("PUK", p.handle);
                }
                1 => {
                    let puk = PukPolicy {
                        id: "PUK".into(),
                        handle: keys_["PUK"],
                    };
                    s.pin_policy("PIN.U", Some(&puk), PinPolicy::default())?;
                }
                2 => {
                    s.pin_policy(
                        "PIN.I",
                        None,
                        PinPolicy {
                            user_defined: false,
                            ..PinPolicy::default()
                        },
                    )?;
                }
                3 => {
                    s.key("K1").pin("PIN.U", b"1234").create()?;
                }
                4 => {
                    s.key("K2").pin("PIN.I", b"5678").create()?;
                }
                5 => {
                    s.key("K3").endorse(&[alg::HMAC_SHA256]).create()?;
                }
                6 => {
                    s.key("K4").create()?;
                }
                7..=9 => {
                    let id = ["K1", "K2", "K3"][i - 7];
                    let k = s.state().key(id).unwrap().clone();
                    s.certify(&k)?;
                }
                10 => {
                    let k = s.state().key("K4").unwrap().clone();
                    let cert = sks_issuer::Ca::new("CA")
                        .unwrap()
                        .certify(&spki, "K4")
                        .unwrap();
                    s.set_certificate_path(&k, vec![cert])?;
                }
                11 => {
                    let k = s.state().key("K3").unwrap().clone();
                    s.import_symmetric(&k, &[5; 20])?;
                }
                12 => {
                    let k = s.state().key("K4").unwrap().clone();
                    s.import_private(&k, &pkcs8)?;
                }
                13..=16 => {
                    let k = s.state().key("K1").unwrap().clone();
                    match i {
                        13 => s.extension(&k, "urn:plain", b"x")?,
                        14 => s.encrypted_extension(&k, "urn:enc", b"x")?,
                        15 => s.property_bag(
                            &k,
                            "urn:bag",
                            &[sks_issuer::Property::new("a", "b", true)],
                        )?,
                        _ => s.logotype(&k, "urn:logo", "image/png", b"x")?,
                    }
                }
                17 | 20 => {
                    s.key(if i == 17 { "N1" } else { "N2" }).create()?;
                }
                18 | 21 => {
                    let k = s
                        .state()
                        .key(if i == 18 { "N1" } else { "N2" })
                        .unwrap()
                        .clone();
                    s.certify(&k)?;
                }
                19 => {
                    let n = s.state().key("N1").unwrap().clone();
                    s.post_update(&n, t.key("T.plain").unwrap())?;
                }
                22 => {
                    let n = s.state().key("N2").unwrap().clone();
                    s.post_clone(&n, t.key("T.pin").unwrap())?;
                }
                23 => s.post_unlock(t2.key("T.pin").unwrap())?,
                24 => s.post_delete(t2.key("T.plain").unwrap())?,
                25 => {
                    let closed = s.close()?;
                    assert_eq!(
                        closed.session_key_uses,
                        STEPS.iter().map(|(_, c)| c).sum::<u32>(),
                        "the issuer and this table disagree on the costs"
                    );
                }
                _ => unreachable!(),
            }
            Ok(())
        })();
        total += cost;
        if Some(i) == fail_at {
            expect_err(
                r,
                OPT,
                &format!("sessionKeyLimit {limit} exhausted at step {i} ({name})"),
            );
            drop(s);
            assert_torn_down(&mut sks, handle);
            assert_targets_intact(&mut sks, &t);
            assert_targets_intact(&mut sks, &t2);
            return;
        }
        r.unwrap_or_else(|e| {
            panic!("sessionKeyLimit {limit}: step {i} ({name}) failed with {total} uses: {e}")
        });
    }
    assert!(fail_at.is_none());
    // Success: both target sessions were taken over; the closing session owns everything:
    // 3 + 2 target keys (T.plain of t updated in place, T.plain of t2 deleted), K1-K4 and
    // the clone N2 (N1 lives on under the updated target's handle).
    let closed = session_handles(&mut sks, false);
    assert_eq!(closed, vec![handle], "target sessions taken over");
    let listed = keys(&mut sks);
    assert_eq!(listed.len(), 10, "{listed:?}");
    assert!(listed.iter().all(|(_, p)| *p == handle));
}

#[test]
fn session_key_limit_exact_for_every_method() {
    let total: u32 = STEPS.iter().map(|(_, c)| c).sum();
    limit_scenario(total as u16, None);
}

#[test]
fn session_key_limit_one_less_fails_at_each_method() {
    let mut cum = 0u32;
    for (i, (_, cost)) in STEPS.iter().enumerate() {
        cum += cost;
        // Enough for every earlier step, one short for this one.
        limit_scenario((cum - 1) as u16, Some(i));
    }
}

#[test]
fn session_key_limit_zero_fails_at_first_use() {
    fails_torn_down(
        card(),
        "sessionKeyLimit 0",
        OPT,
        |_, _| (),
        |b| b.key_limit(0),
        |s, _| unit(s.pin_policy("PIN", None, PinPolicy::default())),
    );
}

// ---------------------------------------------------------------------------------------------
// createPukPolicy [8]: bad policy

fn puk_fails(what: &str, puk: &'static [u8], format: u8, retry: u16) {
    fails(what, OPT, move |s, _| {
        unit(s.puk("PUK", puk, format, retry))
    });
}

#[test]
fn puk_policy_bad_format_and_retry_limit() {
    puk_fails("PUK format 4", b"1234", 4, 3);
    puk_fails("PUK retryLimit 10001", b"1234", 0, 10001);
}

#[test]
fn puk_policy_bad_length() {
    puk_fails("PUK empty", b"", 2, 3);
    puk_fails("PUK 129 bytes", &[b'1'; 129], 0, 3);
}

#[test]
fn puk_policy_bad_syntax() {
    puk_fails("numeric PUK with a letter", b"12a4", 0, 3);
    puk_fails("alphanumeric PUK with lower case", b"AB1c", 1, 3);
    puk_fails("alphanumeric PUK with a space", b"AB 1", 1, 3);
}

#[test]
fn puk_policy_bad_encryption_is_error_crypto() {
    fails(
        "encryptedPuk with bad padding",
        ErrorCode::Crypto,
        |s, _| {
            let mut a = s.state_mut().puk_args("PUK", b"1234", 0, 3)?;
            // Replace the ciphertext by garbage (IV + one block) and re-MAC it.
            a.encrypted_puk = Bytes(vec![0x5a; 32]);
            let c = s.counter() - 1;
            a.mac = Mac(s.state().keys.mac_at(
                method::CREATE_PUK_POLICY,
                c,
                &macdata::create_puk_policy(&a),
            ));
            unit(s.send_puk(&a))
        },
    );
}

// ---------------------------------------------------------------------------------------------
// createPinPolicy [9]: bad policy

fn pin_policy_fails(what: &str, p: PinPolicy) {
    fails(what, OPT, move |s, _| unit(s.pin_policy("PIN", None, p)));
}

#[test]
fn pin_policy_bad_ranges() {
    let d = PinPolicy::default;
    pin_policy_fails("grouping 4", PinPolicy { grouping: 4, ..d() });
    pin_policy_fails(
        "inputMethod 3",
        PinPolicy {
            input_method: 3,
            ..d()
        },
    );
    pin_policy_fails("format 4", PinPolicy { format: 4, ..d() });
    pin_policy_fails(
        "retryLimit 0",
        PinPolicy {
            retry_limit: 0,
            ..d()
        },
    );
    pin_policy_fails(
        "retryLimit 10001",
        PinPolicy {
            retry_limit: 10001,
            ..d()
        },
    );
    pin_policy_fails(
        "patternRestrictions 0x20",
        PinPolicy {
            pattern_restrictions: 0x20,
            ..d()
        },
    );
}

#[test]
fn pin_policy_bad_lengths() {
    let d = PinPolicy::default;
    pin_policy_fails(
        "minLength 0",
        PinPolicy {
            min_length: 0,
            ..d()
        },
    );
    pin_policy_fails(
        "minLength > maxLength",
        PinPolicy {
            min_length: 6,
            max_length: 5,
            ..d()
        },
    );
    pin_policy_fails(
        "maxLength 129",
        PinPolicy {
            max_length: 129,
            ..d()
        },
    );
}

#[test]
fn pin_policy_missing_group_needs_alphanumeric_or_string() {
    let d = PinPolicy::default;
    pin_policy_fails(
        "missing-group + numeric",
        PinPolicy {
            pattern_restrictions: PatternRestriction::MissingGroup.into(),
            format: PinFormat::Numeric.into(),
            ..d()
        },
    );
    pin_policy_fails(
        "missing-group + binary",
        PinPolicy {
            pattern_restrictions: PatternRestriction::MissingGroup.into(),
            format: PinFormat::Binary.into(),
            ..d()
        },
    );
}

#[test]
fn pin_policy_unknown_puk() {
    fails("PIN policy with an unknown PUK handle", OPT, |s, _| {
        let fake = PukPolicy {
            id: "PUK".into(),
            handle: 0x00ab_cdef,
        };
        unit(s.pin_policy("PIN", Some(&fake), PinPolicy::default()))
    });
}

#[test]
fn pin_policy_with_another_sessions_puk() {
    let mut sks = card();
    let issuer = issuer();
    let mut other = issuer.session(&mut sks).open().unwrap();
    let puk = other
        .puk("PUK", b"1234", PinFormat::Numeric.into(), 3)
        .unwrap();
    let other_state = other.into_state();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let h = s.provisioning_handle();
    expect_err(
        s.pin_policy("PIN", Some(&puk), PinPolicy::default())
            .map(|_| ()),
        OPT,
        "PIN policy referencing another session's PUK",
    );
    drop(s);
    assert_torn_down(&mut sks, h);
    assert!(session_handles(&mut sks, true).contains(&other_state.provisioning_handle));
}

// ---------------------------------------------------------------------------------------------
// Duplicate ids (one namespace per session: keys, PINs, PUKs)

#[test]
fn duplicate_ids() {
    fails("two PUKs with one id", OPT, |s, _| {
        s.puk("X", b"1234", PinFormat::Numeric.into(), 3).unwrap();
        unit(s.puk("X", b"1234", PinFormat::Numeric.into(), 3))
    });
    fails("PIN policy with a PUK's id", OPT, |s, _| {
        let puk = s.puk("X", b"1234", PinFormat::Numeric.into(), 3).unwrap();
        unit(s.pin_policy("X", Some(&puk), PinPolicy::default()))
    });
    fails("key with a PIN policy's id", OPT, |s, _| {
        s.pin_policy("X", None, PinPolicy::default()).unwrap();
        unit(s.key("X").pin("X", b"1234").create())
    });
    fails("two keys with one id", OPT, |s, _| {
        s.key("X").create().unwrap();
        unit(s.key("X").create())
    });
}

// ---------------------------------------------------------------------------------------------
// createKeyEntry [10]: bad arguments

fn key_fails(what: &str, code: ErrorCode, f: impl FnOnce(&mut sks_issuer::KeySpec) + 'static) {
    key_fails_on(card(), what, code, f)
}

fn key_fails_on(
    sks: Card,
    what: &str,
    code: ErrorCode,
    f: impl FnOnce(&mut sks_issuer::KeySpec) + 'static,
) {
    fails_torn_down(
        sks,
        what,
        code,
        |_, _| (),
        |b| b,
        move |s, _| {
            s.pin_policy("PIN", None, PinPolicy::default()).unwrap();
            s.pin_policy(
                "GUI",
                None,
                PinPolicy {
                    input_method: InputMethod::TrustedGui.into(),
                    ..PinPolicy::default()
                },
            )
            .unwrap();
            let puk = s.puk("PUK", b"1234", PinFormat::Numeric.into(), 3).unwrap();
            s.pin_policy("PINPUK", Some(&puk), PinPolicy::default())
                .unwrap();
            unit(s.key("K").with(f).create())
        },
    );
}

#[test]
fn key_entry_wrong_key_entry_algorithm_is_error_algorithm() {
    key_fails("keyEntryAlgorithm #session.1", ErrorCode::Algorithm, |k| {
        k.key_entry_algorithm = alg::SESSION_1.into()
    });
}

#[test]
fn key_entry_unsupported_key_algorithm() {
    key_fails("keyAlgorithm ecdsa-sha256", OPT, |k| {
        k.key_algorithm = alg::ECDSA_SHA256.into()
    });
    key_fails("keyAlgorithm unknown", OPT, |k| {
        k.key_algorithm = "urn:no:such:algorithm".into()
    });
}

#[test]
fn key_entry_key_parameters() {
    key_fails("rsa1024.exp without keyParameters", OPT, |k| {
        k.key_algorithm = alg::RSA1024_EXP.into()
    });
    key_fails("ec.nist.p256 with keyParameters", OPT, |k| {
        k.key_parameters = vec![3]
    });
    key_fails("rsa2048 with keyParameters", OPT, |k| {
        k.key_algorithm = alg::RSA2048.into();
        k.key_parameters = vec![3];
    });
    key_fails("keyParameters of 9 bytes", OPT, |k| {
        k.key_algorithm = alg::RSA1024_EXP.into();
        k.key_parameters = vec![0, 0, 0, 0, 0, 0, 0, 0, 3];
    });
}

#[test]
fn key_entry_server_seed_too_long() {
    key_fails("serverSeed of 65 bytes", OPT, |k| {
        k.server_seed = vec![1; 65]
    });
}

#[test]
fn key_entry_attribute_ranges() {
    key_fails("exportProtection 4", OPT, |k| k.export_protection = 4);
    key_fails("deleteProtection 4", OPT, |k| k.delete_protection = 4);
    key_fails("appUsage 4", OPT, |k| k.app_usage = 4);
    key_fails("biometricProtection 4", OPT, |k| k.biometric_protection = 4);
}

#[test]
fn key_entry_protection_needs_pin_or_puk() {
    key_fails("exportProtection PIN without PIN", OPT, |k| {
        k.export_protection = ExportProtection::Pin.into()
    });
    key_fails("deleteProtection PUK without PIN", OPT, |k| {
        k.delete_protection = DeleteProtection::Puk.into()
    });
    key_fails("exportProtection PUK with a PIN without PUK", OPT, |k| {
        k.pin_policy = Some("PIN".into());
        k.pin_value = b"1234".to_vec();
        k.export_protection = ExportProtection::Puk.into();
    });
}

#[test]
fn key_entry_pin_caching_rules() {
    key_fails("enablePinCaching without PIN", OPT, |k| {
        k.enable_pin_caching = true
    });
    key_fails("enablePinCaching with inputMethod any", OPT, |k| {
        k.pin_policy = Some("PIN".into());
        k.pin_value = b"1234".to_vec();
        k.enable_pin_caching = true;
    });
}

#[test]
fn key_entry_pin_value_without_policy() {
    key_fails("pinValue without PIN policy", OPT, |k| {
        k.pin_value = b"1234".to_vec()
    });
}

#[test]
fn key_entry_device_pin() {
    // The card reports devicePinSupport = false: unsupported; mixed with a policy: refused.
    key_fails("devicePinProtection unsupported", OPT, |k| {
        k.device_pin_protection = true
    });
    key_fails("devicePinProtection with a PIN policy", OPT, |k| {
        k.device_pin_protection = true;
        k.pin_policy = Some("PIN".into());
        k.pin_value = b"1234".to_vec();
    });
}

#[test]
fn key_entry_biometric_and_pin_combinations() {
    // On a card that simulates a biometric reader, the combination rules (spec-notes §4.9).
    key_fails_on(bio_card(), "biometric exclusive with PIN", OPT, |k| {
        k.biometric_protection = BiometricProtection::Exclusive.into();
        k.pin_policy = Some("PIN".into());
        k.pin_value = b"1234".to_vec();
    });
    key_fails_on(bio_card(), "biometric alternative without PIN", OPT, |k| {
        k.biometric_protection = BiometricProtection::Alternative.into()
    });
    key_fails_on(bio_card(), "biometric combined without PIN", OPT, |k| {
        k.biometric_protection = BiometricProtection::Combined.into()
    });
}

#[test]
fn key_entry_biometric_protection_needs_biometric_support() {
    // Spec 7.4 createKeyEntry: "A non-zero biometricProtection value presumes that the target
    // SKS supports Biometric Protection, otherwise an error must be returned." The product card
    // has no biometric reader (getDeviceInfo says so): every non-zero value is refused, also
    // in combinations that are valid on a biometric card.
    assert!(!card().get_device_info().unwrap().biometric_support);
    for bio in 1..=3u8 {
        key_fails(
            &format!("biometricProtection {bio} unsupported"),
            OPT,
            move |k| {
                k.biometric_protection = bio;
                if bio != 3 {
                    k.pin_policy = Some("PIN".into());
                    k.pin_value = b"1234".to_vec();
                }
            },
        );
    }
    assert!(bio_card().get_device_info().unwrap().biometric_support);
}

#[test]
fn key_entry_unknown_pin_policy_handle() {
    key_fails("unknown PIN policy handle", OPT, |k| {
        k.pin_policy = Some("PIN".into());
        k.pin_value = b"1234".to_vec();
        k.pin_policy_handle = Some(0x00ab_cdef);
    });
}

#[test]
fn key_entry_with_another_sessions_pin_policy() {
    let mut sks = card();
    let issuer = issuer();
    let mut other = issuer.session(&mut sks).open().unwrap();
    let pin = other.pin_policy("PIN", None, PinPolicy::default()).unwrap();
    let other_state = other.into_state();
    let mut s = issuer.session(&mut sks).open().unwrap();
    s.pin_policy("PIN", None, PinPolicy::default()).unwrap();
    let h = s.provisioning_handle();
    expect_err(
        unit(
            s.key("K")
                .pin("PIN", b"1234")
                .with(|k| k.pin_policy_handle = Some(pin.handle))
                .create(),
        ),
        OPT,
        "createKeyEntry with another session's PIN policy",
    );
    drop(s);
    assert_torn_down(&mut sks, h);
    assert!(session_handles(&mut sks, true).contains(&other_state.provisioning_handle));
}

// ---------------------------------------------------------------------------------------------
// createKeyEntry: bad PIN syntax, length, pattern, grouping (spec-notes §5)

fn pin_fails(what: &str, policy: PinPolicy, pin: &'static [u8]) {
    fails(what, OPT, move |s, _| {
        s.pin_policy("PIN", None, policy).unwrap();
        unit(s.key("K").pin("PIN", pin).create())
    });
}

fn pin_ok(policy: PinPolicy, pin: &[u8]) {
    let mut sks = card();
    let issuer = issuer();
    let mut s = issuer.session(&mut sks).open().unwrap();
    s.pin_policy("PIN", None, policy.clone()).unwrap();
    s.key("K").pin("PIN", pin).create().unwrap_or_else(|e| {
        panic!(
            "PIN {:?} under {policy:?}: {e}",
            String::from_utf8_lossy(pin)
        )
    });
}

fn pat(bits: u8, format: u8) -> PinPolicy {
    PinPolicy {
        pattern_restrictions: bits,
        format,
        ..PinPolicy::default()
    }
}

/// Checks that each PIN of `rejected` (case name, PIN) fails under `policy` and each PIN of
/// `accepted` is taken.
fn pins(policy: PinPolicy, rejected: &[(&str, &'static str)], accepted: &[&str]) {
    for (what, pin) in rejected {
        pin_fails(what, policy.clone(), pin.as_bytes());
    }
    for pin in accepted {
        pin_ok(policy.clone(), pin.as_bytes());
    }
}

#[test]
fn pin_length_errors() {
    let rejected = [
        ("PIN too short", "123"),
        ("PIN too long", "123456789"),
        ("empty user PIN", ""),
    ];
    pins(PinPolicy::default(), &rejected, &[]);
}

#[test]
fn pin_syntax_errors() {
    pins(pat(0, 0), &[("numeric PIN with a letter", "12a4")], &[]);
    let rejected = [
        ("alphanumeric PIN with lower case", "AB1c"),
        ("alphanumeric PIN with punctuation", "AB1."),
    ];
    pins(pat(0, 1), &rejected, &["AZ09"]);
    pin_ok(pat(0, 2), b"a b\xff");
}

#[test]
fn pin_pattern_two_in_a_row() {
    pins(pat(0x01, 0), &[("two-in-a-row 1124", "1124")], &["1214"]);
    pin_fails("two-in-a-row + three-in-a-row 1124", pat(0x03, 0), b"1124");
}

#[test]
fn pin_pattern_three_in_a_row() {
    let rejected = [
        ("three-in-a-row 1114", "1114"),
        ("three-in-a-row 134555", "134555"),
    ];
    pins(pat(0x02, 0), &rejected, &["1124"]);
}

#[test]
fn pin_pattern_sequence() {
    let rejected = [("sequence 1234", "1234"), ("sequence 8765", "8765")];
    pins(pat(0x04, 0), &rejected, &["1235", "1345"]);
    pin_fails("sequence abcd", pat(0x04, 2), b"abcd");
}

#[test]
fn pin_pattern_repeated() {
    pins(pat(0x08, 0), &[("repeated 1315", "1315")], &["1357"]);
}

#[test]
fn pin_pattern_missing_group() {
    let alphanumeric = [
        ("missing group alphanumeric ABCD", "ABCD"),
        ("missing group alphanumeric 1234", "1234"),
    ];
    pins(pat(0x10, 1), &alphanumeric, &["AB34"]);
    for pin in ["2aZA", "a.jZ", "2 ZA", "2a 6"] {
        let what = format!("missing group string {pin}");
        pin_fails(&what, pat(0x10, 2), pin.as_bytes());
    }
    pin_ok(pat(0x10, 2), b"2aZ.");
}

#[test]
fn issuer_set_pin_is_checked_too() {
    let issuer_set = PinPolicy {
        user_defined: false,
        ..PinPolicy::default()
    };
    let rejected = [
        ("issuer-set PIN violating numeric syntax", "12x4"),
        ("issuer-set PIN too short", "12"),
    ];
    pins(issuer_set, &rejected, &[]);
}

/// Creates key `id` with PIN `pin` of the policy "PIN" and appUsage `usage` (default if `None`).
fn key_with_pin(
    s: &mut S<'_>,
    id: &str,
    (pin, usage): (&str, Option<AppUsage>),
) -> Result<(), sks_issuer::Error> {
    let mut k = s.key(id).pin("PIN", pin.as_bytes());
    if let Some(usage) = usage {
        k = k.app_usage(usage.into());
    }
    unit(k.create())
}

#[test]
fn pin_grouping_violations() {
    use AppUsage::{Authentication as Auth, Encryption as Enc, Signature as Sig};
    // (case, grouping, first key (PIN, appUsage), second key (PIN, appUsage))
    for (what, grouping, a, b) in [
        (
            "shared grouping with different PINs",
            1,
            ("1111", None),
            ("2222", None),
        ),
        (
            "signature+standard: two signature keys, different PINs",
            2,
            ("1111", Some(Sig)),
            ("2222", Some(Sig)),
        ),
        (
            "signature+standard: signature and other key, same PIN",
            2,
            ("1111", Some(Sig)),
            ("1111", Some(Auth)),
        ),
        (
            "unique: same appUsage, different PINs",
            3,
            ("1111", Some(Auth)),
            ("2222", Some(Auth)),
        ),
        (
            "unique: different appUsage, same PIN",
            3,
            ("1111", Some(Auth)),
            ("1111", Some(Enc)),
        ),
    ] {
        fails(what, OPT, move |s, _| {
            let policy = PinPolicy {
                grouping,
                ..PinPolicy::default()
            };
            s.pin_policy("PIN", None, policy).unwrap();
            key_with_pin(s, "A", a).unwrap_or_else(|e| panic!("{what}: first key: {e}"));
            key_with_pin(s, "B", b)
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Endorsed algorithms at createKeyEntry

#[test]
fn endorsed_algorithms_unsorted_duplicate_unknown() {
    key_fails("endorsed unsorted", OPT, |k| {
        k.endorsed_algorithms = vec![alg::ECDSA_SHA384.into(), alg::ECDSA_SHA256.into()]
    });
    key_fails("endorsed duplicate", OPT, |k| {
        k.endorsed_algorithms = vec![alg::ECDSA_SHA256.into(), alg::ECDSA_SHA256.into()]
    });
    key_fails("endorsed unknown", OPT, |k| {
        k.endorsed_algorithms = vec!["urn:no:such:algorithm".into()]
    });
    key_fails("endorsed #none not alone", OPT, |k| {
        let mut v = vec![alg::NONE.to_string(), alg::ECDSA_SHA256.to_string()];
        v.sort();
        k.endorsed_algorithms = v;
    });
    key_fails("endorsed #session.1", OPT, |k| {
        k.endorsed_algorithms = vec![alg::SESSION_1.into()]
    });
    key_fails("endorsed #key.1", OPT, |k| {
        k.endorsed_algorithms = vec![alg::KEY_1.into()]
    });
}

// ---------------------------------------------------------------------------------------------
// getKeyHandle [11]

#[test]
fn get_key_handle_errors() {
    let mut sks = card();
    let issuer = issuer();
    expect_raw_err(
        key_handle(&mut sks, 0x0bad_cafe, "K"),
        ErrorCode::NoSession,
        "getKeyHandle of an unknown session",
    );
    let mut s = issuer.session(&mut sks).open().unwrap();
    s.key("K").create().unwrap();
    // Unknown id: ERROR_OPTION (the spec also aborts the session, the ref does not: D7).
    expect_err(s.key_handle("Nope"), OPT, "getKeyHandle of an unknown id");
}

// ---------------------------------------------------------------------------------------------
// setCertificatePath [12]

#[test]
fn set_certificate_path_twice() {
    fails("second setCertificatePath", OPT, |s, _| {
        let k = s.key("K").create().unwrap();
        s.certify(&k).unwrap();
        unit(s.certify(&k))
    });
}

#[test]
fn set_certificate_path_with_unsupported_key() {
    fails("certificate of a secp256k1 key", OPT, |s, _| {
        let k = s.key("K").create().unwrap();
        let cert = sks_issuer::Ca::new("CA")
            .unwrap()
            .certify_raw(&secp256k1_spki(), "K")
            .unwrap();
        unit(s.set_certificate_path(&k, vec![cert]))
    });
}

#[test]
fn set_certificate_path_on_unknown_or_closed_key_is_no_key() {
    let mut sks = card();
    let issuer = issuer();
    let closed = closed_p256(&issuer, &mut sks, None, false, "Closed");
    let mut s = issuer.session(&mut sks).open().unwrap();
    let k = s.key("K").create().unwrap();
    let h = s.provisioning_handle();
    let path = vec![issuer.ca().certify(&k.public_key, "K").unwrap()];
    let mut a = s.state_mut().certificate_path_args(&k, &path);
    a.key_handle = 0x0bad_cafe;
    expect_raw_err(
        s.sks().set_certificate_path(&a),
        ErrorCode::NoKey,
        "unknown key",
    );
    let mut a = s.state_mut().certificate_path_args(&k, &path);
    a.key_handle = closed.keys[0].handle;
    expect_raw_err(
        s.sks().set_certificate_path(&a),
        ErrorCode::NoKey,
        "key of a closed session",
    );
    drop(s);
    // No teardown: nothing was found to tear down.
    assert!(session_handles(&mut sks, true).contains(&h));
    assert_eq!(keys(&mut sks).len(), 1);
}

// ---------------------------------------------------------------------------------------------
// importSymmetricKey [13] / importPrivateKey [14]

#[test]
fn import_symmetric_before_certificate() {
    fails(
        "importSymmetricKey before setCertificatePath",
        OPT,
        |s, _| {
            let k = s.key("K").create().unwrap();
            let ct = s.state_mut().keys.encrypt(&[1; 16]);
            let a = ImportSymmetricKeyArgs {
                key_handle: k.handle,
                encrypted_key: Bytes(ct),
                mac: Mac([0; 32]),
            };
            s.sks().import_symmetric_key(&a).map_err(raw_err)
        },
    );
}

#[test]
fn import_twice() {
    fails("two importSymmetricKey", OPT, |s, _| {
        let k = certified(s, "K");
        s.import_symmetric(&k, &[1; 16]).unwrap();
        s.import_symmetric(&k, &[2; 16])
    });
    fails("importPrivateKey then importSymmetricKey", OPT, |s, _| {
        let (pkcs8, spki) = ec_pkcs8(Curve::P256);
        let k = s.key("K").create().unwrap();
        let cert = ca_certificate(&spki);
        let k = s.set_certificate_path(&k, vec![cert]).unwrap();
        s.import_private(&k, &pkcs8).unwrap();
        s.import_symmetric(&k, &[2; 16])
    });
}

#[test]
fn import_symmetric_key_length() {
    fails("importSymmetricKey of 0 bytes", OPT, |s, _| {
        let k = certified(s, "K");
        s.import_symmetric(&k, &[])
    });
    fails("importSymmetricKey of 129 bytes", OPT, |s, _| {
        let k = certified(s, "K");
        s.import_symmetric(&k, &[7; 129])
    });
}

#[test]
fn import_symmetric_bad_padding_is_error_crypto() {
    fails(
        "importSymmetricKey bad padding",
        ErrorCode::Crypto,
        |s, _| {
            let k = certified(s, "K");
            let ct = vec![0x33; 48];
            let data = macdata::import_key(k.ee_certificate().unwrap(), &ct);
            let m = s.state_mut().keys.mac(method::IMPORT_SYMMETRIC_KEY, &data);
            let a = ImportSymmetricKeyArgs {
                key_handle: k.handle,
                encrypted_key: Bytes(ct),
                mac: Mac(m),
            };
            s.sks().import_symmetric_key(&a).map_err(raw_err)
        },
    );
}

/// A certificate for `spki` from a fresh CA "CA", subject "K".
fn ca_certificate(spki: &[u8]) -> Vec<u8> {
    sks_issuer::Ca::new("CA")
        .unwrap()
        .certify(spki, "K")
        .unwrap()
}

/// Creates key "K", of `algorithm` if given.
fn new_key_of(s: &mut S<'_>, algorithm: Option<&str>) -> sks_issuer::Key {
    let mut k = s.key("K");
    if let Some(algorithm) = algorithm {
        k = k.algorithm(algorithm);
    }
    k.create().unwrap()
}

/// Creates key "K" (of `algorithm` if given), sets a certificate from a fresh CA for `cert_spki`
/// and imports `pkcs8` into it.
fn import_under_certificate(
    s: &mut S<'_>,
    algorithm: Option<&str>,
    pkcs8: &[u8],
    cert_spki: &[u8],
) -> Result<(), sks_issuer::Error> {
    let k = new_key_of(s, algorithm);
    let cert = ca_certificate(cert_spki);
    let k = s.set_certificate_path(&k, vec![cert]).unwrap();
    s.import_private(&k, pkcs8)
}

#[test]
fn import_private_key_mismatch() {
    let what = "importPrivateKey RSA key not matching the certificate";
    fails(what, OPT, |s, _| {
        let (pkcs8, _) = rsa_pkcs8(1024);
        let (_, other) = rsa_pkcs8(1024);
        import_under_certificate(s, Some(alg::RSA1024), &pkcs8, &other)
    });
    let what = "importPrivateKey EC key into an RSA certificate";
    fails(what, OPT, |s, _| {
        let (pkcs8, _) = ec_pkcs8(Curve::P256);
        let (_, rsa) = rsa_pkcs8(1024);
        import_under_certificate(s, None, &pkcs8, &rsa)
    });
    // EC: the point is checked at close by the key-pair test.
    let what = "importPrivateKey EC key not matching the certificate (close)";
    fails(what, OPT, |s, _| {
        let (pkcs8, _) = ec_pkcs8(Curve::P256);
        let (_, other) = ec_pkcs8(Curve::P256);
        import_under_certificate(s, None, &pkcs8, &other)?;
        unit(s.close())
    });
}

// ---------------------------------------------------------------------------------------------
// addExtension [15]

fn ext_fails(
    what: &str,
    sub_type: u8,
    qualifier: &'static str,
    type_uri: &'static str,
    data: Vec<u8>,
) {
    fails(what, OPT, move |s, _| {
        let k = certified(s, "K");
        s.add_extension(&k, type_uri, sub_type, qualifier, &data)
    });
}

#[test]
fn add_extension_bad_arguments() {
    ext_fails("subType 4", 4, "", "urn:x", b"x".to_vec());
    ext_fails("empty type", 0, "", "", b"x".to_vec());
    ext_fails(
        "qualifier on a plain extension",
        0,
        "q",
        "urn:x",
        b"x".to_vec(),
    );
    ext_fails("logotype without MIME type", 3, "", "urn:x", b"x".to_vec());
    // extensionDataSize (getDeviceInfo) is 131,072 bytes: one more is refused (spec 7.4).
    ext_fails(
        "extension larger than extensionDataSize",
        0,
        "",
        "urn:x",
        vec![0x5A; 131_073],
    );
    ext_fails(
        "qualifier of 129 bytes",
        3,
        "image/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "urn:x",
        b"x".to_vec(),
    );
}

#[test]
fn add_extension_duplicate_type() {
    fails("duplicate extension type", OPT, |s, _| {
        let k = certified(s, "K");
        s.extension(&k, "urn:x", b"1").unwrap();
        s.logotype(&k, "urn:x", "image/png", b"2")
    });
}

#[test]
fn add_extension_malformed_property_bags() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty bag", vec![]),
        ("zero name length", vec![0, 0, 1, 0, 1, b'b']),
        ("writable byte 2", vec![0, 1, b'a', 2, 0, 1, b'b']),
        ("value overruns", vec![0, 1, b'a', 1, 0, 5, b'b']),
        ("trailing byte", vec![0, 1, b'a', 1, 0, 1, b'b', 0]),
        ("truncated after name", vec![0, 1, b'a', 1]),
    ];
    for (what, bag) in cases {
        ext_fails(&format!("property bag: {what}"), 2, "", "urn:bag", bag);
    }
}

#[test]
fn add_extension_before_certificate() {
    fails("addExtension before setCertificatePath", OPT, |s, _| {
        let k = s.key("K").create().unwrap();
        let a = apdu_spec::AddExtensionArgs {
            key_handle: k.handle,
            r#type: apdu_spec::Uri::new("urn:x").unwrap(),
            sub_type: ExtensionSubType::Extension.into(),
            qualifier: String::new(),
            extension_data: apdu_spec::Blob(b"x".to_vec()),
            mac: Mac([0; 32]),
        };
        s.sks().add_extension(&a).map_err(raw_err)
    });
}

// ---------------------------------------------------------------------------------------------
// closeProvisioningSession [3]: the close checks

#[test]
fn close_missing_certificate() {
    fails("close with a key without certificate", OPT, |s, _| {
        s.key("K").create().unwrap();
        unit(s.close())
    });
}

#[test]
fn close_unreferenced_pin_and_puk() {
    fails("close with an unreferenced PIN policy", OPT, |s, _| {
        s.pin_policy("PIN", None, PinPolicy::default()).unwrap();
        let k = s.key("K").create().unwrap();
        s.certify(&k).unwrap();
        unit(s.close())
    });
    fails("close with an unreferenced PUK policy", OPT, |s, _| {
        s.puk("PUK", b"1234", PinFormat::Numeric.into(), 3).unwrap();
        let k = s.key("K").create().unwrap();
        s.certify(&k).unwrap();
        unit(s.close())
    });
    fails(
        "close with a PUK whose PIN policy is unused",
        OPT,
        |s, _| {
            let puk = s.puk("PUK", b"1234", PinFormat::Numeric.into(), 3).unwrap();
            s.pin_policy("PIN", Some(&puk), PinPolicy::default())
                .unwrap();
            let k = s.key("K").create().unwrap();
            s.certify(&k).unwrap();
            unit(s.close())
        },
    );
}

/// Creates key "K" (of `algorithm` if given), gives it a certificate for `cert_spki` (another
/// key) and expects the close to fail.
fn close_fails_with_certificate_of(
    what: &str,
    algorithm: Option<&'static str>,
    cert_spki: Vec<u8>,
) {
    fails(what, OPT, move |s, _| {
        let k = new_key_of(s, algorithm);
        s.set_certificate_path(&k, vec![ca_certificate(&cert_spki)])
            .unwrap();
        unit(s.close())
    });
}

#[test]
fn close_key_certificate_mismatch() {
    let (_, other) = ec_pkcs8(Curve::P256);
    close_fails_with_certificate_of("close: certificate of another EC key", None, other);
    let (_, other) = ec_pkcs8(Curve::P384);
    close_fails_with_certificate_of("close: certificate on another curve", None, other);
}

#[test]
fn close_rsa_ec_mixup() {
    let (_, rsa) = rsa_pkcs8(1024);
    close_fails_with_certificate_of("close: EC key with an RSA certificate", None, rsa);
    let (_, ec) = ec_pkcs8(Curve::P256);
    let what = "close: RSA key with an EC certificate";
    close_fails_with_certificate_of(what, Some(alg::RSA1024), ec);
}

#[test]
fn close_symmetric_entry_certificate_mismatch() {
    // spec-notes §4.3 5.3: the key-pair test applies to symmetric entries too.
    fails(
        "close: symmetric entry with a certificate of another key",
        OPT,
        |s, _| {
            let k = s.key("K").endorse(&[alg::HMAC_SHA256]).create().unwrap();
            let (_, other) = ec_pkcs8(Curve::P256);
            let cert = ca_certificate(&other);
            let k = s.set_certificate_path(&k, vec![cert]).unwrap();
            s.import_symmetric(&k, &[1; 20]).unwrap();
            unit(s.close())
        },
    );
}

#[test]
fn close_duplicate_certificate_in_session() {
    fails("close: two keys with one certificate", OPT, |s, _| {
        let (pkcs8, spki) = ec_pkcs8(Curve::P256);
        let cert = ca_certificate(&spki);
        for id in ["A", "B"] {
            let k = s.key(id).create().unwrap();
            let k = s.set_certificate_path(&k, vec![cert.clone()]).unwrap();
            s.import_private(&k, &pkcs8).unwrap();
        }
        unit(s.close())
    });
}

#[test]
fn close_duplicate_certificate_store_wide() {
    let (pkcs8, spki) = ec_pkcs8(Curve::P256);
    let cert = ca_certificate(&spki);
    let (pkcs8_, cert_) = (pkcs8.clone(), cert.clone());
    let (mut sks, first) = fails_torn_down(
        card(),
        "close: certificate already used by a key of a closed session",
        OPT,
        move |issuer, sks| {
            let mut s = issuer.session(sks).open().unwrap();
            let k = s.key("K").create().unwrap();
            let k = s.set_certificate_path(&k, vec![cert_]).unwrap();
            s.import_private(&k, &pkcs8_).unwrap();
            s.close().unwrap()
        },
        |b| b,
        move |s, _| {
            let k = s.key("K").create().unwrap();
            let k = s.set_certificate_path(&k, vec![cert]).unwrap();
            s.import_private(&k, &pkcs8).unwrap();
            unit(s.close())
        },
    );
    assert_signs_with(&mut sks, first.keys[0].handle, b"", &spki);
}

#[test]
fn close_duplicate_certificate_of_an_open_session() {
    let (pkcs8, spki) = ec_pkcs8(Curve::P256);
    let cert = ca_certificate(&spki);
    let mut sks = card();
    let issuer = issuer();
    let mut a = issuer.session(&mut sks).open().unwrap();
    let k = a.key("K").create().unwrap();
    let k = a.set_certificate_path(&k, vec![cert.clone()]).unwrap();
    a.import_private(&k, &pkcs8).unwrap();
    let a_state = a.into_state();
    let mut b = issuer.session(&mut sks).open().unwrap();
    let k = b.key("K").create().unwrap();
    let k = b.set_certificate_path(&k, vec![cert]).unwrap();
    b.import_private(&k, &pkcs8).unwrap();
    let h = b.provisioning_handle();
    expect_err(
        unit(b.close()),
        OPT,
        "close: certificate used by a key of an open session",
    );
    drop(b);
    assert_torn_down(&mut sks, h);
    let mut a = sks_issuer::Session::attach(&issuer, &mut sks, a_state);
    a.close().unwrap();
}

#[test]
fn close_endorsed_algorithms_vs_key_material() {
    let endorse_fails =
        |what: &str, algorithm: &'static str, endorsed: &'static str, sym: Option<usize>| {
            fails(what, OPT, move |s, _| {
                let k = s
                    .key("K")
                    .algorithm(algorithm)
                    .endorse(&[endorsed])
                    .create()
                    .unwrap();
                let k = s.certify(&k).unwrap();
                if let Some(n) = sym {
                    s.import_symmetric(&k, &vec![1; n]).unwrap();
                }
                unit(s.close())
            });
        };
    endorse_fails(
        "EC key endorsing rsa-sha256",
        alg::EC_P256,
        alg::RSA_SHA256,
        None,
    );
    endorse_fails(
        "RSA key endorsing ecdsa-sha256",
        alg::RSA1024,
        alg::ECDSA_SHA256,
        None,
    );
    endorse_fails(
        "EC key endorsing hmac-sha256",
        alg::EC_P256,
        alg::HMAC_SHA256,
        None,
    );
    endorse_fails(
        "RSA key endorsing ecdh.raw",
        alg::RSA1024,
        alg::ECDH_RAW,
        None,
    );
    endorse_fails(
        "symmetric key endorsing ecdsa-sha256",
        alg::EC_P256,
        alg::ECDSA_SHA256,
        Some(32),
    );
    endorse_fails(
        "16-byte key endorsing aes256-cbc",
        alg::EC_P256,
        alg::AES256_CBC,
        Some(16),
    );
    endorse_fails(
        "32-byte key endorsing aes128-cbc",
        alg::EC_P256,
        alg::AES128_CBC,
        Some(32),
    );
    endorse_fails(
        "20-byte key endorsing aes.cbc",
        alg::EC_P256,
        alg::AES_CBC,
        Some(20),
    );
}

#[test]
fn close_unknown_session_is_no_session() {
    let mut sks = card();
    let issuer = issuer();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let mut req = s.state_mut().close_args(&[1; 32]);
    req.args.provisioning_handle = 0x0bad_cafe;
    expect_err(
        unit(s.send_close(&req)),
        ErrorCode::NoSession,
        "close of an unknown session",
    );
    let h = s.provisioning_handle();
    drop(s);
    assert!(
        session_handles(&mut sks, true).contains(&h),
        "an unrelated session was torn down"
    );
}

#[test]
fn close_nonce_length() {
    // spec: nonce 1-32 bytes (spec-notes D8: check it).
    fails("close with an empty nonce", OPT, |s, _| {
        let k = s.key("K").create().unwrap();
        s.certify(&k).unwrap();
        unit(s.close_with_nonce(&[]))
    });
    fails("close with a 33-byte nonce", OPT, |s, _| {
        let k = s.key("K").create().unwrap();
        s.certify(&k).unwrap();
        unit(s.close_with_nonce(&[1; 33]))
    });
}

#[test]
fn calls_on_a_closed_session_are_no_session() {
    let mut sks = card();
    let issuer = issuer();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let k = s.key("K").create().unwrap();
    s.certify(&k).unwrap();
    let state = s.into_state();
    let closed_state = state.clone();
    {
        let mut s = sks_issuer::Session::attach(&issuer, &mut sks, state.clone());
        s.close().unwrap();
    }
    let mut s = sks_issuer::Session::attach(&issuer, &mut sks, closed_state);
    expect_err(
        unit(s.puk("PUK", b"1234", PinFormat::Numeric.into(), 3)),
        ErrorCode::NoSession,
        "createPukPolicy on a closed session",
    );
    expect_err(
        unit(s.pin_policy("PIN", None, PinPolicy::default())),
        ErrorCode::NoSession,
        "createPinPolicy on a closed session",
    );
    expect_err(
        unit(s.key("K2").create()),
        ErrorCode::NoSession,
        "createKeyEntry on a closed session",
    );
    // Key-based calls on a key of a closed session: ERROR_NO_KEY.
    let k = state.created[0].clone();
    expect_err(
        s.extension(&k, "urn:x", b"x"),
        ErrorCode::NoKey,
        "addExtension on a closed key",
    );
    expect_err(
        s.import_symmetric(&k, &[1; 16]),
        ErrorCode::NoKey,
        "importSymmetricKey on a closed key",
    );
    // The closed key is intact.
    drop(s);
    assert_signs_with(&mut sks, k.handle, b"", &k.public_key);
}
