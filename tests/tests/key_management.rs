//! Key management conformance (spec 7.4 methods [70]-[74], [80], [81], [90]; spec-notes
//! §4.17-§4.24, §7): enumerateKeys, getKeyAttributes, getKeyProtectionInfo, getExtension,
//! setProperty, deleteKey, exportKey, updateFirmware. Exported private keys are parsed and
//! compared with the certificates by Python `cryptography` (tests/py/sks_crypto.py).

#[path = "support/user.rs"]
mod user;

use apdu_spec::{Blob, ErrorCode, SetPropertyArgs, UpdateFirmwareArgs};
use conformance_tests::{otp_bag, puk_with_pins_of};
use serde_json::json;
use sks_issuer::{PinPolicy, Property};
use user::*;

// ------------------------------------------------------------------------------------------
// enumerateKeys [70]

#[test]
fn enumerate_keys_in_creation_order_of_closed_sessions_only() {
    let mut sks = card();
    let issuer = issuer();
    let before = all_keys(&mut sks);
    let c1 = provision(&mut sks, &issuer, |s| {
        key(s, "A", alg::EC_P256, &[], |_| {});
        key(s, "B", alg::EC_P384, &[], |_| {});
    });
    let c2 = provision(&mut sks, &issuer, |s| {
        key(s, "A", alg::EC_P256, &[], |_| {}); // ids are per session
        key(s, "C", alg::EC_P256, &[], |_| {});
    });
    // An open session with a key: not listed.
    let mut s = issuer.session(&mut sks).open().unwrap();
    let open_key = key(&mut s, "Open", alg::EC_P256, &[], |_| {});
    let open_state = s.into_state();

    let mut expected: Vec<(u32, u32)> = before;
    for c in [&c1, &c2] {
        for k in &c.keys {
            expected.push((k.handle, c.provisioning_handle));
        }
    }
    let listed = all_keys(&mut sks);
    assert_eq!(
        listed, expected,
        "enumerateKeys: closed-session keys in creation order"
    );
    assert!(
        listed.iter().all(|(h, _)| *h != open_key.handle),
        "a key of an open session is not enumerated"
    );
    let handles: Vec<u32> = listed.iter().map(|(h, _)| *h).collect();
    let mut sorted_handles = handles.clone();
    sorted_handles.sort();
    assert_eq!(handles, sorted_handles, "creation order = handle order");
    // An unknown input handle ends the enumeration.
    let r = ok(
        sks.enumerate_keys(&apdu_spec::EnumerateKeysArgs {
            key_handle: 0x7fff_0000,
        }),
        "enumerateKeys(unknown)",
    );
    assert_eq!(r.key_handle(), 0);

    // Once the open session closes, its key appears at the end.
    let mut s = sks_issuer::Session::attach(&issuer, &mut sks, open_state);
    let c3 = s.close().unwrap();
    drop(s);
    let listed = all_keys(&mut sks);
    assert_eq!(
        listed.last(),
        Some(&(open_key.handle, c3.provisioning_handle))
    );
}

#[test]
fn management_of_keys_in_open_sessions_is_error_no_key() {
    let mut sks = card();
    let issuer = issuer();
    let mut s = issuer.session(&mut sks).open().unwrap();
    let k = key(&mut s, "K", alg::EC_P256, &[], |k| {
        k.export_protection = ExportProtection::None.into()
    });
    s.property_bag(&k, "urn:bag", &[Property::new("P", "v", true)])
        .unwrap();
    let c = s.sks();
    let h = k.handle;
    expect_err(attributes(c, h), ErrorCode::NoKey, "getKeyAttributes");
    expect_err(
        c.get_key_protection_info(&apdu_spec::GetKeyProtectionInfoArgs { key_handle: h }),
        ErrorCode::NoKey,
        "getKeyProtectionInfo",
    );
    expect_err(extension(c, h, "urn:bag"), ErrorCode::NoKey, "getExtension");
    expect_err(
        c.set_property(&SetPropertyArgs {
            key_handle: h,
            r#type: uri("urn:bag"),
            name: "P".into(),
            value: "w".into(),
        }),
        ErrorCode::NoKey,
        "setProperty",
    );
    expect_err(export(c, h, b""), ErrorCode::NoKey, "exportKey");
    expect_err(delete(c, h, b""), ErrorCode::NoKey, "deleteKey");
    expect_err(
        unlock(c, h, b"1234"),
        ErrorCode::NoKey,
        "unlockKey of an open key",
    );
    // Unknown handles.
    for h in [0, 0x7fff_fff0] {
        expect_err(
            attributes(c, h),
            ErrorCode::NoKey,
            "getKeyAttributes unknown",
        );
        expect_err(export(c, h, b""), ErrorCode::NoKey, "exportKey unknown");
        expect_err(delete(c, h, b""), ErrorCode::NoKey, "deleteKey unknown");
        expect_err(
            change_pin(c, h, b"1234", b"5678"),
            ErrorCode::NoKey,
            "changePin unknown",
        );
        expect_err(
            set_pin(c, h, b"1234", b"5678"),
            ErrorCode::NoKey,
            "setPin unknown",
        );
    }
    s.close().unwrap();
}

// ------------------------------------------------------------------------------------------
// getKeyAttributes [71], getExtension [73], setProperty [74]

#[test]
fn key_attributes_and_extensions_round_trip() {
    let mut sks = card();
    let issuer = issuer();
    let logo = random(3000);
    let closed = provision(&mut sks, &issuer, |s| {
        let k = key(
            s,
            "Sig",
            alg::EC_P256,
            &[alg::ECDSA_SHA512, alg::ECDSA_SHA256],
            |k| {
                k.friendly_name = "My signing key ✓".into();
                k.app_usage = AppUsage::Signature.into();
            },
        );
        s.extension(&k, "urn:ext:plain", b"plain data").unwrap();
        s.encrypted_extension(&k, "urn:ext:secret", b"the secret plaintext")
            .unwrap();
        s.property_bag(&k, "urn:ext:bag", &otp_bag("0", Some(("Label", ""))))
            .unwrap();
        s.logotype(&k, "urn:ext:logo", "image/png", &logo).unwrap();
        sym_key(s, "Sym", &[1; 24], &[], |k| {
            k.app_usage = AppUsage::Authentication.into()
        });
    });
    let k = closed.key("Sig").unwrap();
    let a = ok(attributes(&mut sks, k.handle), "getKeyAttributes");
    assert_eq!(a.symmetric_key_length, 0, "asymmetric");
    assert_eq!(
        a.certificates
            .iter()
            .map(|c| c.0.clone())
            .collect::<Vec<_>>(),
        k.certificate_path,
        "certificate path verbatim"
    );
    assert_eq!(a.app_usage, u8::from(AppUsage::Signature));
    assert_eq!(a.friendly_name, "My signing key ✓");
    assert_eq!(
        a.endorsed_algorithms
            .iter()
            .map(|u| u.as_str().to_string())
            .collect::<Vec<_>>(),
        sorted(&[alg::ECDSA_SHA256, alg::ECDSA_SHA512]),
        "endorsed algorithms, sorted as given"
    );
    assert_eq!(
        a.types.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        [
            "urn:ext:plain",
            "urn:ext:secret",
            "urn:ext:bag",
            "urn:ext:logo"
        ],
        "extension types in the order added"
    );
    // The certificate really is the key's: Python finds the key's SPKI in it.
    let spki = py(json!({"op": "cert_spki", "cert": cert_hex(k)}));
    assert_eq!(unhex(&spki["spki"]), k.public_key);

    let s = ok(
        attributes(&mut sks, closed.key("Sym").unwrap().handle),
        "sym",
    );
    assert_eq!(s.symmetric_key_length, 24);
    assert_eq!(s.app_usage, u8::from(AppUsage::Authentication));
    assert!(s.endorsed_algorithms.is_empty());
    assert!(s.types.is_empty());

    // getExtension.
    let e = ok(extension(&mut sks, k.handle, "urn:ext:plain"), "plain");
    assert_eq!(
        (e.sub_type, e.qualifier.as_str(), &e.extension_data.0[..]),
        (0, "", &b"plain data"[..])
    );
    let e = ok(extension(&mut sks, k.handle, "urn:ext:secret"), "encrypted");
    assert_eq!(e.sub_type, 1);
    assert_eq!(
        e.extension_data.0, b"the secret plaintext",
        "encrypted extension returned as plaintext"
    );
    let e = ok(extension(&mut sks, k.handle, "urn:ext:logo"), "logotype");
    assert_eq!(
        (e.sub_type, e.qualifier.as_str()),
        (3, "image/png"),
        "logotype qualifier = MIME type"
    );
    assert_eq!(e.extension_data.0, logo);
    let bag = |sks: &mut Card| {
        let e = ok(extension(sks, k.handle, "urn:ext:bag"), "bag");
        assert_eq!(e.sub_type, 2);
        e.extension_data.0
    };
    let expected = |counter: &str, label: &str| {
        sks_issuer::macdata::property_bag(&otp_bag(counter, Some(("Label", label))))
    };
    assert_eq!(bag(&mut sks), expected("0", ""));
    expect_err(
        extension(&mut sks, k.handle, "urn:ext:missing"),
        ErrorCode::Option,
        "getExtension of a missing type",
    );

    // setProperty.
    let set = |sks: &mut Card, t: &str, name: &str, value: &str| {
        sks.set_property(&SetPropertyArgs {
            key_handle: k.handle,
            r#type: uri(t),
            name: name.into(),
            value: value.into(),
        })
    };
    ok(set(&mut sks, "urn:ext:bag", "Counter", "12345"), "writable");
    assert_eq!(
        bag(&mut sks),
        expected("12345", ""),
        "value replaced in place"
    );
    ok(
        set(&mut sks, "urn:ext:bag", "Label", "a longer label ✓"),
        "writable, empty before",
    );
    ok(set(&mut sks, "urn:ext:bag", "Counter", ""), "empty value");
    assert_eq!(bag(&mut sks), expected("", "a longer label ✓"));
    // (extension type, property, value, error code, case)
    for (t, name, value, code, what) in [
        (
            "urn:ext:bag",
            "Digits",
            "6",
            ErrorCode::NotAllowed,
            "setProperty on a read-only property",
        ),
        (
            "urn:ext:bag",
            "Missing",
            "1",
            ErrorCode::Option,
            "setProperty on a missing property",
        ),
        (
            "urn:ext:bag",
            "counter",
            "1",
            ErrorCode::Option,
            "property names compare exactly (case)",
        ),
        (
            "urn:ext:plain",
            "Counter",
            "1",
            ErrorCode::Option,
            "setProperty on a plain extension",
        ),
        (
            "urn:ext:missing",
            "Counter",
            "1",
            ErrorCode::Option,
            "setProperty on a missing extension",
        ),
    ] {
        expect_err(set(&mut sks, t, name, value), code, what);
    }
    assert_eq!(
        bag(&mut sks),
        expected("", "a longer label ✓"),
        "failed calls change nothing"
    );
}

// ------------------------------------------------------------------------------------------
// getKeyProtectionInfo [72]

#[test]
fn protection_info_fields() {
    let mut sks = bio_card();
    let issuer = issuer();
    let closed = provision(&mut sks, &issuer, |s| {
        let puk = s
            .puk("PUK", b"ABC123", PinFormat::Alphanumeric.into(), 7)
            .unwrap();
        let policy = PinPolicy {
            user_defined: false,
            user_modifiable: false,
            format: PinFormat::Alphanumeric.into(),
            retry_limit: 5,
            grouping: Grouping::Shared.into(),
            pattern_restrictions: u8::from(
                PatternRestriction::Sequence | PatternRestriction::TwoInARow,
            ),
            min_length: 5,
            max_length: 12,
            input_method: InputMethod::TrustedGui.into(),
        };
        s.pin_policy("PIN", Some(&puk), policy).unwrap();
        key(s, "Pinned", alg::EC_P256, &[], |k| {
            with_pin("PIN", b"A1B2C")(k);
            k.enable_pin_caching = true;
            k.export_protection = ExportProtection::Puk.into();
            k.delete_protection = DeleteProtection::Pin.into();
            k.biometric_protection = BiometricProtection::Alternative.into();
        });
        key(s, "Plain", alg::EC_P256, &[], |k| {
            k.export_protection = ExportProtection::None.into();
            k.delete_protection = DeleteProtection::NonDeletable.into();
        });
        sym_key(s, "Sym", &[1; 16], &[], |k| {
            k.export_protection = ExportProtection::None.into()
        });
    });
    let p = protection(&mut sks, closed.key("Pinned").unwrap().handle);
    assert_eq!(
        p.protection_status,
        u8::from(ProtectionFlag::PinProtected | ProtectionFlag::PukProtected)
    );
    assert_eq!(
        (p.puk_format, p.puk_retry_limit, p.puk_error_count),
        (1, 7, 0)
    );
    assert_eq!(
        (p.user_defined, p.user_modifiable, p.format, p.retry_limit),
        (false, false, 1, 5)
    );
    assert_eq!(
        (
            p.grouping,
            p.pattern_restrictions,
            p.min_length,
            p.max_length,
            p.input_method
        ),
        (1, 0x05, 5, 12, 2)
    );
    assert_eq!(p.pin_error_count, 0);
    assert!(p.enable_pin_caching);
    assert_eq!(
        (
            p.biometric_protection,
            p.export_protection,
            p.delete_protection,
            p.key_backup
        ),
        (1, 2, 1, 0)
    );

    // No PIN: zeros (spec: fields that do not apply are 0).
    let p = protection(&mut sks, closed.key("Plain").unwrap().handle);
    assert_eq!(p.protection_status, 0);
    assert_eq!(
        (
            p.puk_format,
            p.puk_retry_limit,
            p.puk_error_count,
            p.user_defined,
            p.user_modifiable
        ),
        (0, 0, 0, false, false)
    );
    assert_eq!(
        (
            p.format,
            p.retry_limit,
            p.grouping,
            p.pattern_restrictions,
            p.min_length,
            p.max_length,
            p.input_method,
            p.pin_error_count
        ),
        (0, 0, 0, 0, 0, 0, 0, 0)
    );
    assert_eq!(
        (p.export_protection, p.delete_protection, p.key_backup),
        (0, 3, 0)
    );

    // keyBackup: IMPORTED for the imported symmetric key, EXPORTED after exportKey.
    let sym = closed.key("Sym").unwrap().handle;
    assert_eq!(
        protection(&mut sks, sym).key_backup,
        u8::from(KeyBackupFlag::Imported)
    );
    ok(export(&mut sks, sym, b""), "export");
    assert_eq!(
        protection(&mut sks, sym).key_backup,
        u8::from(KeyBackupFlag::Imported | KeyBackupFlag::Exported)
    );
    let plain = closed.key("Plain").unwrap().handle;
    ok(export(&mut sks, plain, b""), "export");
    assert_eq!(
        protection(&mut sks, plain).key_backup,
        u8::from(KeyBackupFlag::Exported)
    );
}

// ------------------------------------------------------------------------------------------
// exportKey [81]

#[test]
fn export_private_keys_as_pkcs8_matching_the_certificate() {
    let (mut sks, _, closed) = provisioned_with(|s, issuer| {
        for (id, a) in [
            ("P256", alg::EC_P256),
            ("P384", alg::EC_P384),
            ("P521", alg::EC_P521),
            ("R1024", alg::RSA1024),
            ("R2048", alg::RSA2048),
        ] {
            key(s, id, a, &[], |k| {
                k.export_protection = ExportProtection::None.into()
            });
        }
        imported_key(
            s,
            issuer.ca(),
            "ImpEC",
            json!({"kind": "ec", "curve": "p256"}),
            &[],
            |k| k.export_protection = ExportProtection::None.into(),
        );
    });
    for (id, kind) in [
        ("P256", "ec:secp256r1"),
        ("P384", "ec:secp384r1"),
        ("P521", "ec:secp521r1"),
        ("R1024", "rsa:1024"),
        ("R2048", "rsa:2048"),
        ("ImpEC", "ec:secp256r1"),
    ] {
        let k = closed.key(id).unwrap();
        assert_eq!(
            protection(&mut sks, k.handle).key_backup & u8::from(KeyBackupFlag::Exported),
            0
        );
        let pkcs8 = ok(export(&mut sks, k.handle, b""), "exportKey");
        assert_eq!(assert_pkcs8_matches(k, &pkcs8), kind, "{id}");
        assert_ne!(
            protection(&mut sks, k.handle).key_backup & u8::from(KeyBackupFlag::Exported),
            0,
            "{id}: EXPORTED set"
        );
        // Still usable after export.
        let data = random(32);
        let a = if kind.starts_with("rsa") {
            alg::RSA_SHA256
        } else {
            alg::ECDSA_SHA256
        };
        assert_signs(&mut sks, k, (a, "sha256"), b"", &data, "sign after export");
    }
    let imp = closed.key("ImpEC").unwrap().handle;
    assert_eq!(
        protection(&mut sks, imp).key_backup,
        u8::from(KeyBackupFlag::Imported | KeyBackupFlag::Exported)
    );
}

/// The PUK of [`with_puk_pin`].
const PUK: &[u8] = b"24680";

/// PUK policy "PUK" ([`PUK`]) governing PIN policy "PIN".
fn with_puk_pin(s: &mut sks_issuer::Session<'_, impl pcsc_bridge::Transport>) {
    let pin = [("PIN", PinPolicy::default())];
    puk_with_pins_of(s, (PUK, PinFormat::Numeric, 3), &pin);
}

/// A key spec edit: PIN "1111" of policy "PIN", then `edit`.
fn pin_1111(edit: impl FnOnce(&mut sks_issuer::KeySpec)) -> impl FnOnce(&mut sks_issuer::KeySpec) {
    |k| {
        with_pin("PIN", b"1111")(k);
        edit(k);
    }
}

/// Expects `call(sks, handle, authorization)` to fail for each case: (key id, authorization,
/// error code, case name).
fn refused<T: std::fmt::Debug>(
    sks: &mut Card,
    closed: &sks_issuer::Closed,
    call: fn(&mut Card, u32, &[u8]) -> CallResult<T>,
    cases: &[(&str, &[u8], ErrorCode, &str)],
) {
    for &(id, auth, code, what) in cases {
        expect_err(call(sks, closed.key(id).unwrap().handle, auth), code, what);
    }
}

#[test]
fn export_protection_rules() {
    let (mut sks, _, closed) = provisioned(|s| {
        with_puk_pin(s);
        key(s, "Never", alg::EC_P256, &[], |k| {
            k.export_protection = ExportProtection::NonExportable.into()
        });
        key(s, "Default", alg::EC_P256, &[], |_| {}); // KeySpec default: non-exportable
        key(
            s,
            "ByPin",
            alg::EC_P256,
            &[],
            pin_1111(|k| {
                k.export_protection = ExportProtection::Pin.into();
            }),
        );
        sym_key(
            s,
            "ByPuk",
            &[0x42; 32],
            &[],
            pin_1111(|k| {
                k.export_protection = ExportProtection::Puk.into();
            }),
        );
        key(s, "Free", alg::EC_P256, &[], |k| {
            k.export_protection = ExportProtection::None.into()
        });
    });
    let h = |id: &str| closed.key(id).unwrap().handle;
    let (not_allowed, auth) = (ErrorCode::NotAllowed, ErrorCode::Authorization);
    let cases = [
        ("Never", &b""[..], not_allowed, "non-exportable"),
        ("Default", b"", not_allowed, "non-exportable (default)"),
    ];
    refused(&mut sks, &closed, export, &cases);
    assert_eq!(protection(&mut sks, h("Never")).key_backup, 0);

    // PIN protected: wrong PIN counts, right PIN exports.
    let cases = [
        ("ByPin", &b""[..], auth, "PIN export without PIN"),
        ("ByPin", b"9999", auth, "PIN export, wrong PIN"),
    ];
    refused(&mut sks, &closed, export, &cases);
    assert!(protection(&mut sks, h("ByPin")).pin_error_count >= 1);
    let pkcs8 = ok(export(&mut sks, h("ByPin"), b"1111"), "PIN export");
    assert_pkcs8_matches(closed.key("ByPin").unwrap(), &pkcs8);
    assert_eq!(protection(&mut sks, h("ByPin")).pin_error_count, 0);

    // PUK protected: the PIN is not the PUK and counts as a PUK error (spec-notes §5.5).
    let cases = [("ByPuk", &b"1111"[..], auth, "PUK export with the PIN")];
    refused(&mut sks, &closed, export, &cases);
    assert_eq!(protection(&mut sks, h("ByPuk")).puk_error_count, 1);
    assert_eq!(
        ok(export(&mut sks, h("ByPuk"), PUK), "PUK export"),
        vec![0x42; 32],
        "symmetric key exported raw"
    );
    assert_eq!(protection(&mut sks, h("ByPuk")).puk_error_count, 0);

    // No protection: an authorization is redundant (ERROR_OPTION).
    let cases = [(
        "Free",
        &b"1111"[..],
        ErrorCode::Option,
        "redundant authorization",
    )];
    refused(&mut sks, &closed, export, &cases);
    let pkcs8 = ok(export(&mut sks, h("Free"), b""), "free export");
    assert_pkcs8_matches(closed.key("Free").unwrap(), &pkcs8);
}

// ------------------------------------------------------------------------------------------
// deleteKey [80]

#[test]
fn delete_protection_rules() {
    let (mut sks, _, closed) = provisioned(|s| {
        with_puk_pin(s);
        key(s, "Never", alg::EC_P256, &[], |k| {
            k.delete_protection = DeleteProtection::NonDeletable.into()
        });
        key(
            s,
            "ByPin",
            alg::EC_P256,
            &[],
            pin_1111(|k| {
                k.delete_protection = DeleteProtection::Pin.into();
            }),
        );
        key(
            s,
            "ByPuk",
            alg::EC_P256,
            &[],
            pin_1111(|k| {
                k.delete_protection = DeleteProtection::Puk.into();
            }),
        );
        key(s, "Free", alg::EC_P256, &[], |_| {});
    });
    let h = |id: &str| closed.key(id).unwrap().handle;
    let (not_allowed, auth) = (ErrorCode::NotAllowed, ErrorCode::Authorization);
    let cases = [
        ("Never", &b""[..], not_allowed, "non-deletable"),
        (
            "Never",
            b"1111",
            not_allowed,
            "non-deletable with an authorization",
        ),
        ("ByPin", b"0000", auth, "wrong PIN"),
    ];
    refused(&mut sks, &closed, delete, &cases);
    assert_eq!(protection(&mut sks, h("ByPin")).pin_error_count, 1);
    let cases = [
        ("ByPuk", &b"1111"[..], auth, "PIN instead of PUK"),
        ("Free", b"x", ErrorCode::Option, "redundant authorization"),
    ];
    refused(&mut sks, &closed, delete, &cases);
    ok(delete(&mut sks, h("ByPin"), b"1111"), "PIN delete");
    ok(delete(&mut sks, h("ByPuk"), PUK), "PUK delete");
    ok(delete(&mut sks, h("Free"), b""), "free delete");
    for id in ["ByPin", "ByPuk", "Free"] {
        expect_err(
            attributes(&mut sks, h(id)),
            ErrorCode::NoKey,
            "deleted key is gone",
        );
        expect_err(
            delete(&mut sks, h(id), b""),
            ErrorCode::NoKey,
            "deleted twice",
        );
    }
    let listed: Vec<u32> = all_keys(&mut sks).iter().map(|(k, _)| *k).collect();
    assert_eq!(listed, [h("Never")]);
    assert!(all_sessions(&mut sks, false).contains(&closed.provisioning_handle));
}

#[test]
fn deleting_the_last_key_removes_the_session_and_its_pin_objects() {
    let mut sks = card();
    let issuer = issuer();
    let c1 = provision(&mut sks, &issuer, |s| {
        let policy = PinPolicy {
            grouping: Grouping::Shared.into(),
            ..PinPolicy::default()
        };
        puk_with_pins_of(s, (b"24680", PinFormat::Numeric, 3), &[("PIN", policy)]);
        key(s, "A", alg::EC_P256, &[], with_pin("PIN", b"1111"));
        key(s, "B", alg::EC_P256, &[], with_pin("PIN", b"1111"));
    });
    let c2 = provision(&mut sks, &issuer, |s| {
        key(s, "Other", alg::EC_P256, &[], |_| {});
    });
    let (a, b) = (c1.key("A").unwrap().handle, c1.key("B").unwrap().handle);
    assert!(all_sessions(&mut sks, false).contains(&c1.provisioning_handle));

    // Deleting A leaves B's (shared) PIN and PUK objects intact.
    ok(delete(&mut sks, a, b""), "delete A");
    let p = protection(&mut sks, b);
    assert_eq!(
        p.protection_status,
        u8::from(ProtectionFlag::PinProtected | ProtectionFlag::PukProtected)
    );
    assert_eq!((p.puk_retry_limit, p.retry_limit), (3, 3));
    expect_err(
        sign(&mut sks, b, alg::ECDSA_SHA256, b"0000", &random(32)),
        ErrorCode::Authorization,
        "B's PIN still checked",
    );
    ok(unlock(&mut sks, b, b"24680"), "B's PUK still works");
    let data = random(32);
    assert_signs(
        &mut sks,
        c1.key("B").unwrap(),
        ES256,
        b"1111",
        &data,
        "B signs",
    );
    assert!(all_sessions(&mut sks, false).contains(&c1.provisioning_handle));

    // Deleting the last key removes the session (and with it its PIN/PUK objects).
    ok(delete(&mut sks, b, b""), "delete B");
    let sessions = all_sessions(&mut sks, false);
    assert!(
        !sessions.contains(&c1.provisioning_handle),
        "session {} still listed after its last key was deleted: {sessions:?}",
        c1.provisioning_handle
    );
    assert!(sessions.contains(&c2.provisioning_handle));
    assert_eq!(
        all_keys(&mut sks),
        [(c2.key("Other").unwrap().handle, c2.provisioning_handle)]
    );
    // The card keeps working: a new session with a PIN key.
    let c3 = provision(&mut sks, &issuer, |s| {
        key_with_own_pin(s, "New", alg::EC_P256, &[], b"7777");
    });
    let k = c3.key("New").unwrap();
    assert_signs(&mut sks, k, ES256, b"7777", &data, "new key");
}

// ------------------------------------------------------------------------------------------
// updateFirmware [90]

#[test]
fn update_firmware_is_not_allowed() {
    let mut sks = card();
    let info = ok(sks.get_device_info(), "getDeviceInfo");
    assert_eq!(
        info.update_url.as_str(),
        "",
        "no updateUrl: updates not offered"
    );
    for chunk in [vec![], vec![0u8; 100]] {
        expect_err(
            sks.update_firmware(&UpdateFirmwareArgs { chunk: Blob(chunk) }),
            ErrorCode::NotAllowed,
            "updateFirmware",
        );
    }
    // The card is unaffected.
    ok(sks.get_device_info(), "getDeviceInfo after updateFirmware");
}
