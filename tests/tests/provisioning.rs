//! Provisioning API conformance, success paths (spec 002 methods [2]-[15], spec-notes §3-§5,
//! §9, §10), in-process. Error paths are in `provisioning_errors.rs`, post-operations in
//! `provisioning_post_ops.rs`, the end-to-end scenario (also over PC/SC) in
//! `provisioning_scenario.rs`.

#[path = "support/provisioning.rs"]
mod support;

use apdu_spec::{
    AbortProvisioningSessionArgs, Blob, Bytes, GetExtensionArgs, PerformHmacArgs, SetPropertyArgs,
    Uri,
};
use conformance_tests::otp_bag;
use sks_issuer::{alg, Curve, ErrorCode, Kmk, PinPolicy};
use support::*;

// ---------------------------------------------------------------------------------------------
// createProvisioningSession [2] and closeProvisioningSession [3]

fn one_key_session(curve: Curve, privacy: bool, kmk: Option<&Kmk>) {
    let mut sks = card();
    let issuer = issuer();
    let mut b = issuer.session(&mut sks).curve(curve).privacy(privacy);
    if let Some(k) = kmk {
        b = b.kmk(k);
    }
    // open() verifies the session attestation: E2ES against the device certificate of
    // getDeviceInfo, privacy mode as HMAC with the session key.
    let mut s = b.open().unwrap_or_else(|e| {
        panic!("createProvisioningSession {curve:?} privacy={privacy} kmk={kmk:?}: {e}")
    });
    let key = s
        .key("Key.1")
        .endorse(&[alg::ECDSA_SHA256])
        .create()
        .unwrap();
    let key = s.certify(&key).unwrap();
    let handle = s.provisioning_handle();
    let closed = s.close().unwrap();
    assert_eq!(closed.provisioning_handle, handle);
    let listed = sessions(&mut sks, false);
    let (_, info) = listed
        .iter()
        .find(|(h, _)| *h == handle)
        .expect("closed session listed");
    assert_eq!(info.privacy_enabled, privacy);
    assert_eq!(
        info.key_management_key.0,
        kmk.map(Kmk::spki).unwrap_or_default()
    );
    assert_eq!(keys(&mut sks), vec![(key.handle, handle)]);
    assert_signs_with(&mut sks, key.handle, b"", &key.public_key);
}

#[test]
fn create_session_e2es_on_each_curve() {
    for curve in [Curve::P256, Curve::P384, Curve::P521] {
        one_key_session(curve, false, None);
    }
}

#[test]
fn create_session_privacy_on_each_curve() {
    for curve in [Curve::P256, Curve::P384, Curve::P521] {
        one_key_session(curve, true, None);
    }
}

#[test]
fn create_session_with_p256_kmk() {
    one_key_session(Curve::P256, false, Some(&Kmk::generate_p256()));
    one_key_session(Curve::P384, true, Some(&Kmk::generate_p256()));
}

#[test]
fn create_session_with_p384_and_p521_kmk() {
    one_key_session(Curve::P256, false, Some(&Kmk::generate_ec(Curve::P384)));
    one_key_session(Curve::P521, false, Some(&Kmk::generate_ec(Curve::P521)));
}

#[test]
fn create_session_with_rsa_kmk() {
    one_key_session(Curve::P256, false, Some(&Kmk::generate_rsa(2048).unwrap()));
    one_key_session(Curve::P256, true, Some(&Kmk::generate_rsa(1024).unwrap()));
}

#[test]
fn client_session_ids_are_32_base64url_chars_and_handles_are_unique() {
    let mut sks = card();
    let issuer = issuer();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let s = issuer.session(&mut sks).open().unwrap();
        let id = s.state().client_session_id.clone();
        assert_eq!(id.len(), 32, "clientSessionId {id}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "clientSessionId {id} is not base64url"
        );
        assert_ne!(s.provisioning_handle(), 0);
        seen.push((s.provisioning_handle(), id));
    }
    for i in 0..seen.len() {
        for j in i + 1..seen.len() {
            assert_ne!(seen[i].0, seen[j].0, "provisioning handles reused");
            assert_ne!(seen[i].1, seen[j].1, "clientSessionId repeated");
        }
    }
}

#[test]
fn close_of_a_session_without_keys_removes_it() {
    // spec-notes §4.3 step 9: a session owning no keys at close is removed completely.
    let mut sks = card();
    let issuer = issuer();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let handle = s.provisioning_handle();
    s.close().unwrap();
    assert!(!session_handles(&mut sks, false).contains(&handle));
    assert!(!session_handles(&mut sks, true).contains(&handle));
}

#[test]
fn close_nonce_lengths_1_and_32() {
    for nonce in [vec![7u8], vec![0x55; 32]] {
        let mut sks = card();
        let issuer = issuer();
        let mut s = issuer.session(&mut sks).open().unwrap();
        let k = s.key("K").create().unwrap();
        s.certify(&k).unwrap();
        s.close_with_nonce(&nonce)
            .unwrap_or_else(|e| panic!("nonce of {} bytes: {e}", nonce.len()));
    }
}

// ---------------------------------------------------------------------------------------------
// enumerateProvisioningSessions [4]

#[test]
fn enumerate_sessions_open_and_closed_with_their_data() {
    let mut sks = card();
    let issuer = issuer_named("https://enum.example.com/kg2");
    let kmk = Kmk::generate_p256();
    assert!(sessions(&mut sks, true).is_empty());
    assert!(sessions(&mut sks, false).is_empty());

    let closed = closed_p256(&issuer, &mut sks, Some(&kmk), false, "A");
    let s = issuer
        .session(&mut sks)
        .privacy(true)
        .client_time(1_578_477_617)
        .life_time(1234)
        .server_session_id("srv-session-1")
        .open()
        .unwrap();
    let open_state = s.into_state();

    let open = sessions(&mut sks, true);
    assert_eq!(open.len(), 1);
    let (h, info) = &open[0];
    assert_eq!(*h, open_state.provisioning_handle);
    assert_eq!(info.session_key_algorithm.as_str(), alg::SESSION_1);
    assert!(info.privacy_enabled);
    assert!(info.key_management_key.is_empty());
    assert_eq!(info.client_time, 1_578_477_617);
    assert_eq!(info.session_life_time, 1234);
    assert_eq!(info.server_session_id.as_str(), "srv-session-1");
    assert_eq!(
        info.client_session_id.as_str(),
        open_state.client_session_id
    );
    assert_eq!(info.issuer_uri.as_str(), "https://enum.example.com/kg2");

    let closed_list = sessions(&mut sks, false);
    assert_eq!(closed_list.len(), 1);
    let (h, info) = &closed_list[0];
    assert_eq!(*h, closed.provisioning_handle);
    assert!(!info.privacy_enabled);
    assert_eq!(info.key_management_key.0, kmk.spki());

    // An unknown input handle ends the enumeration.
    let r = sks
        .enumerate_provisioning_sessions(&apdu_spec::EnumerateProvisioningSessionsArgs {
            provisioning_handle: 0x7fff_fff0,
            provisioning_state: true,
        })
        .unwrap();
    assert_eq!(r.provisioning_handle(), 0);

    // Creation order.
    let s2 = issuer.session(&mut sks).open().unwrap().into_state();
    assert_eq!(
        session_handles(&mut sks, true),
        vec![open_state.provisioning_handle, s2.provisioning_handle]
    );
}

// ---------------------------------------------------------------------------------------------
// abortProvisioningSession [5]

#[test]
fn abort_deletes_the_session_and_its_objects_only() {
    let mut sks = card();
    let by = Bystanders::new(&mut sks);
    let issuer = issuer();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let puk = s.puk("PUK", b"1234", PinFormat::Numeric.into(), 3).unwrap();
    s.pin_policy("PIN", Some(&puk), PinPolicy::default())
        .unwrap();
    let k = s.key("K").pin("PIN", b"1234").create().unwrap();
    s.certify(&k).unwrap();
    let handle = s.provisioning_handle();
    s.abort().unwrap();
    assert_torn_down(&mut sks, handle);
    expect_raw_err(
        attributes(&mut sks, k.handle),
        ErrorCode::NoKey,
        "getKeyAttributes of an aborted key",
    );
    by.assert_untouched(&mut sks);
}

#[test]
fn abort_of_closed_or_unknown_session_is_no_session() {
    let mut sks = card();
    let issuer = issuer();
    let closed = closed_p256(&issuer, &mut sks, None, false, "K");
    expect_raw_err(
        sks.abort_provisioning_session(&AbortProvisioningSessionArgs {
            provisioning_handle: closed.provisioning_handle,
        }),
        ErrorCode::NoSession,
        "abort of a closed session",
    );
    expect_raw_err(
        sks.abort_provisioning_session(&AbortProvisioningSessionArgs {
            provisioning_handle: 0x7654_3210,
        }),
        ErrorCode::NoSession,
        "abort of an unknown session",
    );
    // The closed session is unaffected.
    assert_eq!(keys(&mut sks).len(), 1);
}

// ---------------------------------------------------------------------------------------------
// createPukPolicy [8] / createPinPolicy [9]

#[test]
fn puk_policies_in_every_format_and_retry_limit() {
    let mut sks = card();
    let issuer = issuer();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let cases: [(&str, &[u8], u8, u16); 6] = [
        ("PUK.num", b"01234567", 0, 3),
        ("PUK.alnum", b"AZ09XY", 1, 10000),
        ("PUK.str", b"a b-C.d", 2, 0),
        ("PUK.bin", &[0x00, 0xff, 0x80, 0x7f], 3, 1),
        ("PUK.len1", b"7", 0, 5),
        ("PUK.len128", &[b'9'; 128], 0, 5),
    ];
    let mut handles = Vec::new();
    for (i, (id, value, format, retry)) in cases.iter().enumerate() {
        let puk = s
            .puk(id, value, *format, *retry)
            .unwrap_or_else(|e| panic!("createPukPolicy {id}: {e}"));
        assert!(!handles.contains(&puk.handle));
        handles.push(puk.handle);
        // Each PUK must be referenced by a PIN policy and that by a key (close check).
        let pin_id = format!("PIN.{i}");
        s.pin_policy(&pin_id, Some(&puk), PinPolicy::default())
            .unwrap();
        let k = s
            .key(&format!("Key.{i}"))
            .pin(&pin_id, b"1234")
            .create()
            .unwrap();
        s.certify(&k).unwrap();
    }
    let closed = s.close().unwrap();
    for (i, (_, _, format, retry)) in cases.iter().enumerate() {
        let k = closed.key(&format!("Key.{i}")).unwrap();
        let p = protection(&mut sks, k.handle).unwrap();
        assert_eq!(p.protection_status, 0x03, "PIN + PUK");
        assert_eq!(p.puk_format, *format);
        assert_eq!(p.puk_retry_limit, *retry);
        assert_eq!(p.puk_error_count, 0);
    }
}

#[test]
fn pin_policies_in_every_format_grouping_and_input_method() {
    let mut sks = card();
    let issuer = issuer();
    let mut s = issuer.session(&mut sks).open().unwrap();
    // (format, pin value, pattern restrictions)
    let formats: [(u8, &[u8], u8); 4] = [
        (0, b"1357", 0x0f),
        (1, b"A1B2", 0x1f),
        (2, b"a1B.", 0x1f),
        (3, &[0x01, 0xfe, 0x00, 0x80], 0x0f),
    ];
    let mut expected = Vec::new();
    let mut n = 0;
    for (format, pin, patterns) in formats {
        for grouping in 0..4u8 {
            let input_method = grouping % 3;
            let policy = PinPolicy {
                user_defined: true,
                user_modifiable: grouping % 2 == 0,
                format,
                retry_limit: 1 + u16::from(grouping) * 3333,
                grouping,
                pattern_restrictions: patterns,
                min_length: 4,
                max_length: 4 + u16::from(grouping) * 41,
                input_method,
            };
            let pin_id = format!("PIN.{format}.{grouping}");
            s.pin_policy(&pin_id, None, policy.clone())
                .unwrap_or_else(|e| panic!("createPinPolicy {pin_id}: {e}"));
            let key_id = format!("Key.{n}");
            n += 1;
            let k = s
                .key(&key_id)
                .pin(&pin_id, pin)
                .create()
                .unwrap_or_else(|e| panic!("createKeyEntry with {pin_id} and PIN {pin:02x?}: {e}"));
            s.certify(&k).unwrap();
            expected.push((key_id, policy));
        }
    }
    let closed = s.close().unwrap();
    for (key_id, policy) in expected {
        let k = closed.key(&key_id).unwrap();
        let p = protection(&mut sks, k.handle).unwrap();
        assert_eq!(p.protection_status, 0x01, "{key_id}: PIN, no PUK");
        assert_eq!(p.user_defined, policy.user_defined, "{key_id}");
        assert_eq!(p.user_modifiable, policy.user_modifiable, "{key_id}");
        assert_eq!(p.format, policy.format, "{key_id}");
        assert_eq!(p.retry_limit, policy.retry_limit, "{key_id}");
        assert_eq!(p.grouping, policy.grouping, "{key_id}");
        assert_eq!(
            p.pattern_restrictions, policy.pattern_restrictions,
            "{key_id}"
        );
        assert_eq!(p.min_length, policy.min_length, "{key_id}");
        assert_eq!(p.max_length, policy.max_length, "{key_id}");
        assert_eq!(p.input_method, policy.input_method, "{key_id}");
        assert_eq!(p.pin_error_count, 0);
    }
}

#[test]
fn pin_groupings_accept_the_pins_they_should() {
    let mut sks = card();
    let issuer = issuer();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let with = |grouping| PinPolicy {
        grouping,
        ..PinPolicy::default()
    };
    // shared: identical PINs.
    s.pin_policy("Shared", None, with(1)).unwrap();
    // signature+standard: signature keys share one PIN, the others another one.
    s.pin_policy("SigStd", None, with(2)).unwrap();
    // unique: same appUsage same PIN, different appUsage different PIN.
    s.pin_policy("Unique", None, with(3)).unwrap();
    // none: anything.
    s.pin_policy("None", None, with(0)).unwrap();
    let specs: [(&str, &str, u8, &[u8]); 10] = [
        ("S1", "Shared", 0, b"1111"),
        ("S2", "Shared", 2, b"1111"),
        ("G1", "SigStd", 0, b"2222"),
        ("G2", "SigStd", 0, b"2222"),
        ("G3", "SigStd", 1, b"3333"),
        ("G4", "SigStd", 3, b"3333"),
        ("U1", "Unique", 1, b"4444"),
        ("U2", "Unique", 1, b"4444"),
        ("U3", "Unique", 2, b"5555"),
        ("N1", "None", 1, b"6666"),
    ];
    for (id, pin_id, app_usage, pin) in specs {
        let k = s
            .key(id)
            .pin(pin_id, pin)
            .app_usage(app_usage)
            .create()
            .unwrap_or_else(|e| panic!("{id} ({pin_id}, appUsage {app_usage}): {e}"));
        s.certify(&k).unwrap();
    }
    let k = s
        .key("N2")
        .pin("None", b"7777")
        .app_usage(AppUsage::Authentication.into())
        .create()
        .unwrap();
    s.certify(&k).unwrap();
    let closed = s.close().unwrap();
    for (id, _, _, pin) in specs {
        let k = closed.key(id).unwrap();
        assert_signs_with(&mut sks, k.handle, pin, &k.public_key);
    }
}

// ---------------------------------------------------------------------------------------------
// createKeyEntry [10]

fn generate_and_check(algorithm: &str, params: &[u8], endorse: &str) -> sks_issuer::Key {
    let mut sks = card();
    let issuer = issuer();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let k = s
        .key("K")
        .algorithm(algorithm)
        .key_parameters(params)
        .endorse(&[endorse])
        .create()
        .unwrap_or_else(|e| panic!("createKeyEntry {algorithm} {params:02x?}: {e}"));
    let k = s.certify(&k).unwrap();
    let closed = s.close().unwrap();
    assert_signs_with(&mut sks, k.handle, b"", &k.public_key);
    let attrs = attributes(&mut sks, k.handle).unwrap();
    assert_eq!(attrs.certificates[0].0, closed.keys[0].certificate_path[0]);
    k
}

#[test]
fn create_rsa_1024_and_2048_keys() {
    for (a, bits) in [(alg::RSA1024, 1024), (alg::RSA2048, 2048)] {
        let k = generate_and_check(a, &[], alg::RSA_SHA256);
        let (n_bits, e) = rsa_spki_params(&k.public_key);
        assert_eq!(n_bits, bits, "{a}");
        assert_eq!(e, [0x01, 0x00, 0x01], "{a}: default exponent 65537");
    }
}

#[test]
fn create_rsa_3072_key() {
    let k = generate_and_check(RSA3072, &[], alg::RSA_SHA256);
    assert_eq!(rsa_spki_params(&k.public_key).0, 3072);
}

#[test]
fn create_rsa_key_with_exponent_parameter() {
    // SKSTest.test6: keyParameters 00 00 00 03 means e = 3 (leading zeros accepted).
    let k = generate_and_check(alg::RSA1024_EXP, &[0, 0, 0, 3], alg::RSA_SHA256);
    let (bits, e) = rsa_spki_params(&k.public_key);
    assert_eq!(bits, 1024);
    assert_eq!(e, [3]);
    let k = generate_and_check(alg::RSA2048_EXP, &[0x01, 0x00, 0x01], alg::RSA_SHA256);
    let (bits, e) = rsa_spki_params(&k.public_key);
    assert_eq!(bits, 2048);
    assert_eq!(e, [0x01, 0x00, 0x01]);
}

#[test]
fn create_ec_keys_on_each_curve() {
    for (curve, a) in [
        (Curve::P256, alg::EC_P256),
        (Curve::P384, alg::EC_P384),
        (Curve::P521, alg::EC_P521),
    ] {
        let k = generate_and_check(a, &[], alg::ECDSA_SHA256);
        let pk = sks_issuer::PublicKey::from_spki(&k.public_key).unwrap();
        assert_eq!(pk.curve(), Some(curve));
    }
}

#[test]
fn create_key_with_server_seed() {
    let mut sks = card();
    let issuer = issuer();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let k1 = s.key("K1").server_seed(&[0xAA; 64]).create().unwrap();
    let k2 = s.key("K2").server_seed(&[0xAA; 64]).create().unwrap();
    assert_ne!(
        k1.public_key, k2.public_key,
        "serverSeed must not be the only entropy source"
    );
    s.certify(&k1).unwrap();
    s.certify(&k2).unwrap();
    s.close().unwrap();
}

#[test]
fn user_defined_and_issuer_set_pins() {
    let mut sks = card();
    let issuer = issuer();
    let mut s = issuer.session(&mut sks).open().unwrap();
    s.pin_policy("User", None, PinPolicy::default()).unwrap();
    s.pin_policy(
        "Issuer",
        None,
        PinPolicy {
            user_defined: false,
            user_modifiable: false,
            ..PinPolicy::default()
        },
    )
    .unwrap();
    let ku = s.key("KU").pin("User", b"1234").create().unwrap();
    let ki = s.key("KI").pin("Issuer", b"98765").create().unwrap();
    s.certify(&ku).unwrap();
    s.certify(&ki).unwrap();
    s.close().unwrap();
    assert_signs_with(&mut sks, ku.handle, b"1234", &ku.public_key);
    assert_signs_with(&mut sks, ki.handle, b"98765", &ki.public_key);
    expect_raw_err(
        sign(&mut sks, ki.handle, false, b"1234", b"x"),
        ErrorCode::Authorization,
        "wrong issuer-set PIN",
    );
    assert_eq!(protection(&mut sks, ki.handle).unwrap().pin_error_count, 1);
    let p = protection(&mut sks, ki.handle).unwrap();
    assert!(!p.user_defined);
    assert!(!p.user_modifiable);
}

/// (id, PIN policy, export, delete, biometric, appUsage, PIN caching)
type ProtectionCase = (String, Option<&'static str>, u8, u8, u8, u8, bool);

#[test]
fn every_protection_attribute_is_stored() {
    let mut sks = card();
    let issuer = issuer();
    let info = sks.get_device_info().unwrap();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let trusted_gui = PinPolicy {
        input_method: InputMethod::TrustedGui.into(),
        ..PinPolicy::default()
    };
    conformance_tests::puk_with_pins(&mut s, &[("PIN", trusted_gui)]);
    s.pin_policy("NoPuk", None, PinPolicy::default()).unwrap();
    // (id, pin policy, export, delete, biometric, appUsage, caching)
    let mut cases: Vec<ProtectionCase> = Vec::new();
    for export in 0..4u8 {
        for delete in 0..4u8 {
            cases.push((
                format!("E{export}D{delete}"),
                Some("PIN"),
                export,
                delete,
                0,
                export,
                delete == 1,
            ));
        }
    }
    cases.push(("NoPin".into(), None, 0, 0, 0, 3, false));
    cases.push(("NoPinNoExport".into(), None, 3, 3, 0, 2, false));
    cases.push(("PinNoPuk".into(), Some("NoPuk"), 1, 1, 0, 1, false));
    if info.biometric_support {
        cases.push(("BioExclusive".into(), None, 0, 0, 3, 3, false));
        cases.push(("BioAlternative".into(), Some("PIN"), 0, 0, 1, 3, false));
        cases.push(("BioCombined".into(), Some("PIN"), 0, 0, 2, 3, false));
    }
    for (id, pin, export, delete, bio, usage, caching) in &cases {
        let mut b = s
            .key(id)
            .export_protection(*export)
            .delete_protection(*delete)
            .biometric(*bio)
            .app_usage(*usage)
            .pin_caching(*caching)
            .friendly_name(&format!("Friendly {id}"));
        if let Some(p) = pin {
            b = b.pin(p, b"1234");
        }
        let k = b
            .create()
            .unwrap_or_else(|e| panic!("createKeyEntry {id}: {e}"));
        s.certify(&k).unwrap();
    }
    let closed = s.close().unwrap();
    for (id, pin, export, delete, bio, usage, caching) in &cases {
        let k = closed.key(id).unwrap();
        let p = protection(&mut sks, k.handle).unwrap();
        assert_eq!(p.export_protection, *export, "{id}");
        assert_eq!(p.delete_protection, *delete, "{id}");
        assert_eq!(p.biometric_protection, *bio, "{id}");
        assert_eq!(p.enable_pin_caching, *caching, "{id}");
        assert_eq!(p.key_backup, 0, "{id}");
        let status = match pin {
            None => 0,
            Some("PIN") => 0x03,
            Some(_) => 0x01,
        };
        assert_eq!(p.protection_status, status, "{id}");
        let a = attributes(&mut sks, k.handle).unwrap();
        assert_eq!(a.app_usage, *usage, "{id}");
        assert_eq!(a.friendly_name, format!("Friendly {id}"), "{id}");
    }
}

#[test]
fn endorsed_algorithms_are_stored_sorted_and_enforced() {
    let mut sks = card();
    let issuer = issuer();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let endorsed = [alg::ECDH_RAW, alg::ECDSA_SHA256, alg::ECDSA_SHA384];
    let mut sorted = endorsed;
    sorted.sort();
    let k = s.key("K").endorse(&sorted).create().unwrap();
    s.certify(&k).unwrap();
    let n = s.key("None").endorse(&[alg::NONE]).create().unwrap();
    s.certify(&n).unwrap();
    let any = s.key("Any").create().unwrap();
    s.certify(&any).unwrap();
    s.close().unwrap();
    let a = attributes(&mut sks, k.handle).unwrap();
    let got: Vec<&str> = a.endorsed_algorithms.iter().map(|u| u.as_str()).collect();
    assert_eq!(got, sorted);
    assert_signs_with(&mut sks, k.handle, b"", &k.public_key);
    // Not endorsed: ERROR_ALGORITHM.
    let r = sks.sign_hashed_data(&apdu_spec::SignHashedDataArgs {
        key_handle: k.handle,
        algorithm: Uri::new(alg::ECDSA_SHA512).unwrap(),
        parameters: Bytes::default(),
        biometric_auth: false,
        authorization: Bytes::default(),
        data: Bytes(vec![0; 64]),
    });
    expect_raw_err(r, ErrorCode::Algorithm, "not endorsed algorithm");
    expect_raw_err(
        sign(&mut sks, n.handle, false, b"", b"x"),
        ErrorCode::Algorithm,
        "#none blocks every operation",
    );
    // No endorsed algorithms: anything of the right class.
    assert_signs_with(&mut sks, any.handle, b"", &any.public_key);
    assert!(attributes(&mut sks, any.handle)
        .unwrap()
        .endorsed_algorithms
        .is_empty());
}

// ---------------------------------------------------------------------------------------------
// Visibility: nothing before close

#[test]
fn open_session_keys_are_invisible_until_close() {
    let mut sks = card();
    let issuer = issuer();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let k = s.key("K").endorse(&[alg::ECDSA_SHA256]).create().unwrap();
    let k = s.certify(&k).unwrap();
    s.encrypted_extension(&k, "urn:x", b"secret").unwrap();
    assert!(
        keys(s.sks()).is_empty(),
        "enumerateKeys lists an open-session key"
    );
    expect_raw_err(
        attributes(s.sks(), k.handle),
        ErrorCode::NoKey,
        "getKeyAttributes of an open-session key",
    );
    expect_raw_err(
        protection(s.sks(), k.handle),
        ErrorCode::NoKey,
        "getKeyProtectionInfo of an open-session key",
    );
    expect_raw_err(
        sign(s.sks(), k.handle, false, b"", b"x"),
        ErrorCode::NoKey,
        "signHashedData with an open-session key",
    );
    expect_raw_err(
        s.sks().get_extension(&GetExtensionArgs {
            key_handle: k.handle,
            r#type: Uri::new("urn:x").unwrap(),
        }),
        ErrorCode::NoKey,
        "getExtension of an open-session key",
    );
    expect_raw_err(
        s.sks().delete_key(&apdu_spec::DeleteKeyArgs {
            key_handle: k.handle,
            authorization: Bytes::default(),
        }),
        ErrorCode::NoKey,
        "deleteKey of an open-session key",
    );
    let handle = s.provisioning_handle();
    let state = s.into_state();
    // Another session does not see it either.
    let mut other = issuer.session(&mut sks).open().unwrap();
    let other_handle = other.provisioning_handle();
    expect_raw_err(
        key_handle(other.sks(), other_handle, "K").map(|_| ()),
        ErrorCode::Option,
        "getKeyHandle of another session's key id",
    );
    drop(other);
    // The session with K is intact and closes.
    assert!(session_handles(&mut sks, true).contains(&handle));
    let mut s = sks_issuer::Session::attach(&issuer, &mut sks, state);
    s.close().unwrap();
    assert_eq!(key_handles(&mut sks), vec![k.handle]);
    assert_signs_with(&mut sks, k.handle, b"", &k.public_key);
}

// ---------------------------------------------------------------------------------------------
// getKeyHandle [11]

#[test]
fn get_key_handle_returns_the_created_handle() {
    let mut sks = card();
    let issuer = issuer();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let a = s.key("Key.A").create().unwrap();
    let b = s.key("Key.B").create().unwrap();
    assert_ne!(a.handle, b.handle);
    assert_eq!(s.key_handle("Key.A").unwrap(), a.handle);
    assert_eq!(s.key_handle("Key.B").unwrap(), b.handle);
    s.certify(&a).unwrap();
    s.certify(&b).unwrap();
    let handle = s.provisioning_handle();
    s.close().unwrap();
    // A closed session is not open: ERROR_NO_SESSION.
    expect_raw_err(
        key_handle(&mut sks, handle, "Key.A"),
        ErrorCode::NoSession,
        "getKeyHandle on a closed session",
    );
}

// ---------------------------------------------------------------------------------------------
// setCertificatePath [12]

#[test]
fn certificate_path_is_stored_verbatim() {
    let mut sks = card();
    let issuer = issuer();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let k = s.key("K").create().unwrap();
    let ee = issuer.ca().certify(&k.public_key, "K").unwrap();
    let path = vec![ee, issuer.ca().certificate().to_vec()];
    s.set_certificate_path(&k, path.clone()).unwrap();
    let k1 = s.key("Single").create().unwrap();
    let single = vec![issuer.ca().certify(&k1.public_key, "Single").unwrap()];
    s.set_certificate_path(&k1, single.clone()).unwrap();
    s.close().unwrap();
    let a = attributes(&mut sks, k.handle).unwrap();
    let got: Vec<Vec<u8>> = a.certificates.into_iter().map(|c| c.0).collect();
    assert_eq!(got, path);
    let a = attributes(&mut sks, k1.handle).unwrap();
    let got: Vec<Vec<u8>> = a.certificates.into_iter().map(|c| c.0).collect();
    assert_eq!(got, single);
}

// ---------------------------------------------------------------------------------------------
// importSymmetricKey [13]

#[test]
fn import_symmetric_key_then_hmac() {
    let mut sks = card();
    let issuer = issuer();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let k = s.key("HMAC").endorse(&[alg::HMAC_SHA256]).create().unwrap();
    let k = s.certify(&k).unwrap();
    let secret: Vec<u8> = (1..=20).collect();
    s.import_symmetric(&k, &secret).unwrap();
    let aes = s.key("AES").endorse(&[alg::AES256_CBC]).create().unwrap();
    let aes = s.certify(&aes).unwrap();
    s.import_symmetric(&aes, &[9u8; 32]).unwrap();
    s.close().unwrap();
    let a = attributes(&mut sks, k.handle).unwrap();
    assert_eq!(a.symmetric_key_length, 20);
    assert_eq!(
        attributes(&mut sks, aes.handle)
            .unwrap()
            .symmetric_key_length,
        32
    );
    assert_eq!(
        protection(&mut sks, k.handle).unwrap().key_backup & u8::from(KeyBackupFlag::Imported),
        u8::from(KeyBackupFlag::Imported)
    );
    let mac = sks
        .perform_hmac(&PerformHmacArgs {
            key_handle: k.handle,
            algorithm: Uri::new(alg::HMAC_SHA256).unwrap(),
            parameters: Bytes::default(),
            biometric_auth: false,
            authorization: Bytes::default(),
            data: Blob(b"data".to_vec()),
        })
        .unwrap();
    assert_eq!(
        mac.result.0,
        sks_issuer::crypto::hmac_sha256(&secret, b"data")
    );
}

// ---------------------------------------------------------------------------------------------
// importPrivateKey [14]

fn import_private_and_sign(pkcs8: &[u8], spki: &[u8], endorse: &str) {
    let mut sks = card();
    let issuer = issuer();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let k = s.key("Imported").endorse(&[endorse]).create().unwrap();
    // The certificate is for the imported key, not the generated one.
    let path = issuer.ca().certify_path(spki, "Imported").unwrap();
    let k = s.set_certificate_path(&k, path).unwrap();
    s.import_private(&k, pkcs8).unwrap();
    s.close().unwrap();
    assert_signs_with(&mut sks, k.handle, b"", spki);
    let p = protection(&mut sks, k.handle).unwrap();
    assert_eq!(
        p.key_backup & u8::from(KeyBackupFlag::Imported),
        u8::from(KeyBackupFlag::Imported),
        "IMPORTED flag"
    );
}

#[test]
fn import_ec_private_keys() {
    for curve in [Curve::P256, Curve::P384, Curve::P521] {
        let (pkcs8, spki) = ec_pkcs8(curve);
        import_private_and_sign(&pkcs8, &spki, alg::ECDSA_SHA256);
    }
}

#[test]
fn import_rsa_private_key() {
    let (pkcs8, spki) = rsa_pkcs8(2048);
    import_private_and_sign(&pkcs8, &spki, alg::RSA_SHA256);
}

// ---------------------------------------------------------------------------------------------
// addExtension [15]

#[test]
fn add_extension_of_every_sub_type() {
    let mut sks = card();
    let issuer = issuer();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let k = certified(&mut s, "K");
    let big: Vec<u8> = (0..65536u32).map(|i| i as u8).collect();
    s.extension(&k, "urn:ext:plain", b"plain data").unwrap();
    s.extension(&k, "urn:ext:big", &big).unwrap();
    s.encrypted_extension(&k, "urn:ext:secret", b"top secret")
        .unwrap();
    s.property_bag(&k, "urn:ext:bag", &otp_bag("0", Some(("Empty", ""))))
        .unwrap();
    s.logotype(&k, "urn:ext:logo", "image/png", b"\x89PNG\r\n")
        .unwrap();
    s.close().unwrap();

    let a = attributes(&mut sks, k.handle).unwrap();
    let types: Vec<&str> = a.types.iter().map(|t| t.as_str()).collect();
    assert_eq!(
        types,
        [
            "urn:ext:plain",
            "urn:ext:big",
            "urn:ext:secret",
            "urn:ext:bag",
            "urn:ext:logo"
        ],
        "types in the order added"
    );
    let mut get = |t: &str| {
        sks.get_extension(&GetExtensionArgs {
            key_handle: k.handle,
            r#type: Uri::new(t).unwrap(),
        })
        .unwrap_or_else(|e| panic!("getExtension {t}: {e}"))
    };
    let e = get("urn:ext:plain");
    assert_eq!((e.sub_type, e.qualifier.as_str()), (0, ""));
    assert_eq!(e.extension_data.0, b"plain data");
    assert_eq!(get("urn:ext:big").extension_data.0, big);
    let e = get("urn:ext:secret");
    assert_eq!(e.sub_type, 1);
    assert_eq!(e.extension_data.0, b"top secret", "stored decrypted");
    let e = get("urn:ext:bag");
    assert_eq!(e.sub_type, 2);
    let bag = |c: &str| sks_issuer::macdata::property_bag(&otp_bag(c, Some(("Empty", ""))));
    assert_eq!(e.extension_data.0, bag("0"));
    let e = get("urn:ext:logo");
    assert_eq!((e.sub_type, e.qualifier.as_str()), (3, "image/png"));
    assert_eq!(e.extension_data.0, b"\x89PNG\r\n");

    // The property bag works: writable property set, read-only refused.
    sks.set_property(&SetPropertyArgs {
        key_handle: k.handle,
        r#type: Uri::new("urn:ext:bag").unwrap(),
        name: "Counter".into(),
        value: "42".into(),
    })
    .unwrap();
    let e = sks
        .get_extension(&GetExtensionArgs {
            key_handle: k.handle,
            r#type: Uri::new("urn:ext:bag").unwrap(),
        })
        .unwrap();
    assert_eq!(e.extension_data.0, bag("42"));
    expect_raw_err(
        sks.set_property(&SetPropertyArgs {
            key_handle: k.handle,
            r#type: Uri::new("urn:ext:bag").unwrap(),
            name: "Digits".into(),
            value: "6".into(),
        }),
        ErrorCode::NotAllowed,
        "setProperty on a read-only property",
    );
}

#[test]
fn same_extension_type_on_different_keys() {
    let mut sks = card();
    let issuer = issuer();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let a = certified(&mut s, "A");
    let b = certified(&mut s, "B");
    s.extension(&a, "urn:same", b"a").unwrap();
    s.extension(&b, "urn:same", b"b").unwrap();
    s.close().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Ids: one namespace per session, reusable across sessions

#[test]
fn ids_may_repeat_across_sessions() {
    let mut sks = card();
    let issuer = issuer();
    for _ in 0..2 {
        let mut s = issuer.session(&mut sks).open().unwrap();
        let puk = s
            .puk("Same.PUK", b"1234", PinFormat::Numeric.into(), 3)
            .unwrap();
        s.pin_policy("Same.PIN", Some(&puk), PinPolicy::default())
            .unwrap();
        let k = s.key("Same.Key").pin("Same.PIN", b"1234").create().unwrap();
        s.certify(&k).unwrap();
        s.close().unwrap();
    }
    assert_eq!(keys(&mut sks).len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Open sessions survive power-off and reset

fn survives(reset: bool) {
    let mut sks = card();
    let issuer = issuer();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let puk = s.puk("PUK", b"1234", PinFormat::Numeric.into(), 3).unwrap();
    s.pin_policy("PIN", Some(&puk), PinPolicy::default())
        .unwrap();
    let k = s.key("K").pin("PIN", b"1234").create().unwrap();
    let state = s.into_state();
    if reset {
        sks.transport_mut().reset().unwrap();
    } else {
        sks.transport_mut().power_cycle().unwrap();
    }
    assert!(
        session_handles(&mut sks, true).contains(&state.provisioning_handle),
        "the open session is gone after {}",
        if reset { "reset" } else { "power-off" }
    );
    let mut s = sks_issuer::Session::attach(&issuer, &mut sks, state);
    assert_eq!(s.key_handle("K").unwrap(), k.handle);
    let k = s.certify(&k).unwrap();
    s.close().unwrap();
    assert_signs_with(&mut sks, k.handle, b"1234", &k.public_key);
}

#[test]
fn open_session_survives_power_off() {
    survives(false);
}

#[test]
fn open_session_survives_reset() {
    survives(true);
}

// ---------------------------------------------------------------------------------------------
// sessionKeyLimit: exactly enough succeeds (spec-notes §3.4)

#[test]
fn session_key_limit_exactly_enough() {
    // PIN policy (1) + key with user PIN (2) + certificate (1) + close (2) = 6.
    let mut sks = card();
    let issuer = issuer();
    let mut s = issuer.session(&mut sks).key_limit(6).open().unwrap();
    s.pin_policy("PIN", None, PinPolicy::default()).unwrap();
    let k = s.key("K").pin("PIN", b"1234").create().unwrap();
    s.certify(&k).unwrap();
    let closed = s.close().unwrap();
    assert_eq!(closed.session_key_uses, 6);
    // Issuer-set PIN: 7.
    let mut s = issuer.session(&mut sks).key_limit(7).open().unwrap();
    s.pin_policy(
        "PIN",
        None,
        PinPolicy {
            user_defined: false,
            ..PinPolicy::default()
        },
    )
    .unwrap();
    let k = s.key("K").pin("PIN", b"1234").create().unwrap();
    s.certify(&k).unwrap();
    let closed = s.close().unwrap();
    assert_eq!(closed.session_key_uses, 7);
}
