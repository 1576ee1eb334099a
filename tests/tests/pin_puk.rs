//! PIN and PUK conformance (spec 5, 7.4 methods [82]-[84]; spec-notes §4.23, §5): error
//! counters down to lock, PIN_BLOCKED / PUK_BLOCKED, unlockKey, PUK lock, PUK without retry
//! limit (delay, never blocks), changePin / setPin with policy violations, grouping (shared PIN
//! objects update and unlock together) and counters that persist across a card restart.
//! Signatures made after unlocking are verified by Python `cryptography`.

#[path = "support/user.rs"]
mod user;

use apdu_spec::ErrorCode;
use conformance_tests::{puk_with_pins, puk_with_pins_of};
use sks_issuer::PinPolicy;
use std::time::Duration;
use user::*;

const AUTH: ErrorCode = ErrorCode::Authorization;

/// Signs with `pin` and, on success, verifies the signature independently.
fn use_key(sks: &mut Card, k: &sks_issuer::Key, pin: &[u8]) -> CallResult<()> {
    let data = random(32);
    let sig = sign(sks, k.handle, alg::ECDSA_SHA256, pin, &data)?;
    assert_verifies(k, "sha256", &data, &sig);
    Ok(())
}

#[test]
fn wrong_pin_down_to_lock_then_puk_unlock() {
    let (mut sks, _, closed) = provisioned(|s| {
        puk_with_pins(s, &[("PIN", PinPolicy::default())]);
        key(s, "K", alg::EC_P256, &[], with_pin("PIN", b"1234"));
    });
    let k = closed.key("K").unwrap();
    let h = k.handle;

    // A correct PIN resets the counter.
    expect_err(use_key(&mut sks, k, b"0000"), AUTH, "wrong PIN 1");
    expect_err(use_key(&mut sks, k, b"0001"), AUTH, "wrong PIN 2");
    assert_eq!(protection(&mut sks, h).pin_error_count, 2);
    ok(use_key(&mut sks, k, b"1234"), "right PIN");
    assert_eq!(protection(&mut sks, h).pin_error_count, 0);

    // Three wrong PINs lock the key (retryLimit 3).
    for i in 1..=3u16 {
        expect_err(use_key(&mut sks, k, b"9999"), AUTH, "wrong PIN");
        let p = protection(&mut sks, h);
        assert_eq!(p.pin_error_count, i);
        let blocked = p.protection_status & u8::from(ProtectionFlag::PinBlocked) != 0;
        assert_eq!(blocked, i == 3, "PIN_BLOCKED after {i} errors");
        assert_eq!(
            p.protection_status
                & u8::from(ProtectionFlag::PinProtected | ProtectionFlag::PukProtected),
            u8::from(ProtectionFlag::PinProtected | ProtectionFlag::PukProtected)
        );
    }
    // Blocked: even the right PIN fails, and the counter does not move.
    expect_err(
        use_key(&mut sks, k, b"1234"),
        AUTH,
        "right PIN on a blocked key",
    );
    expect_err(
        use_key(&mut sks, k, b"9999"),
        AUTH,
        "wrong PIN on a blocked key",
    );
    assert_eq!(protection(&mut sks, h).pin_error_count, 3);
    // Also for PIN-authorized management operations.
    expect_err(
        change_pin(&mut sks, h, b"1234", b"4321"),
        AUTH,
        "changePin on a blocked key",
    );

    // unlockKey: a wrong PUK counts, the right one resets both counters.
    expect_err(unlock(&mut sks, h, b"654321"), AUTH, "wrong PUK");
    let p = protection(&mut sks, h);
    assert_eq!(
        (p.puk_error_count, p.pin_error_count, p.puk_retry_limit),
        (1, 3, 3)
    );
    expect_err(unlock(&mut sks, h, b""), AUTH, "empty PUK");
    ok(unlock(&mut sks, h, b"123456"), "unlockKey");
    let p = protection(&mut sks, h);
    assert_eq!((p.puk_error_count, p.pin_error_count), (0, 0));
    assert_eq!(
        p.protection_status,
        u8::from(ProtectionFlag::PinProtected | ProtectionFlag::PukProtected)
    );
    ok(use_key(&mut sks, k, b"1234"), "unlocked key signs");
    // unlockKey also works on a key that is not blocked.
    ok(unlock(&mut sks, h, b"123456"), "unlockKey when not blocked");
}

#[test]
fn puk_lock() {
    let (mut sks, _, closed) = provisioned(|s| {
        let policy = PinPolicy {
            retry_limit: 1,
            ..PinPolicy::default()
        };
        puk_with_pins_of(
            s,
            (b"ABCD12", PinFormat::Alphanumeric, 2),
            &[("PIN", policy)],
        );
        key(s, "K", alg::EC_P256, &[], with_pin("PIN", b"1234"));
    });
    let k = closed.key("K").unwrap();
    let h = k.handle;
    expect_err(use_key(&mut sks, k, b"1111"), AUTH, "wrong PIN");
    assert_ne!(
        protection(&mut sks, h).protection_status & u8::from(ProtectionFlag::PinBlocked),
        0
    );
    expect_err(unlock(&mut sks, h, b"ABCD13"), AUTH, "wrong PUK 1");
    expect_err(
        set_pin(&mut sks, h, b"ABCD14", b"5555"),
        AUTH,
        "wrong PUK 2 (setPin)",
    );
    let p = protection(&mut sks, h);
    assert_eq!(p.puk_error_count, 2);
    assert_eq!(
        p.protection_status,
        u8::from(
            ProtectionFlag::PinProtected
                | ProtectionFlag::PukProtected
                | ProtectionFlag::PinBlocked
                | ProtectionFlag::PukBlocked
        )
    );
    // PUK blocked: the right PUK no longer helps.
    expect_err(
        unlock(&mut sks, h, b"ABCD12"),
        AUTH,
        "right PUK, PUK blocked",
    );
    expect_err(
        set_pin(&mut sks, h, b"ABCD12", b"5555"),
        AUTH,
        "setPin, PUK blocked",
    );
    assert_eq!(protection(&mut sks, h).puk_error_count, 2);
    expect_err(use_key(&mut sks, k, b"1234"), AUTH, "key stays locked");
}

#[test]
fn puk_without_retry_limit_never_blocks_and_delays_every_check() {
    let (mut sks, delays) = fixed_card(7);
    let issuer = issuer();
    let closed = provision(&mut sks, &issuer, |s| {
        puk_with_pins_of(
            s,
            (b"11223344", PinFormat::Numeric, 0),
            &[("PIN", PinPolicy::default())],
        );
        key(s, "K", alg::EC_P256, &[], with_pin("PIN", b"1234"));
    });
    let k = closed.key("K").unwrap();
    let h = k.handle;
    let total = || *delays.lock().unwrap();
    assert_eq!(total(), Duration::ZERO, "no delay before any PUK check");
    for _ in 0..3 {
        expect_err(use_key(&mut sks, k, b"0000"), AUTH, "wrong PIN");
    }
    let mut last = total();
    for i in 1..=12u32 {
        expect_err(unlock(&mut sks, h, b"99999999"), AUTH, "wrong PUK");
        let now = total();
        let d = now - last;
        assert!(
            d >= Duration::from_secs(1) && d <= Duration::from_secs(10),
            "attempt {i}: delay {d:?}, spec 5: 1-10 s before acting"
        );
        last = now;
        let p = protection(&mut sks, h);
        assert_eq!(p.puk_retry_limit, 0);
        assert_eq!(p.puk_error_count, 0, "counter stays 0 (spec-notes §5.5)");
        assert_eq!(
            p.protection_status & u8::from(ProtectionFlag::PukBlocked),
            0,
            "never PUK_BLOCKED"
        );
    }
    // The right PUK is delayed as well, and works.
    ok(unlock(&mut sks, h, b"11223344"), "unlockKey");
    assert!(total() - last >= Duration::from_secs(1), "good PUK delayed");
    ok(use_key(&mut sks, k, b"1234"), "unlocked");
    last = total();
    ok(set_pin(&mut sks, h, b"11223344", b"8642"), "setPin");
    assert!(total() - last >= Duration::from_secs(1), "setPin delayed");
    ok(use_key(&mut sks, k, b"8642"), "new PIN");
}

#[test]
fn unlock_requires_a_puk() {
    let (mut sks, _, closed) = provisioned(|s| {
        s.pin_policy("PIN", None, PinPolicy::default()).unwrap();
        key(s, "PinOnly", alg::EC_P256, &[], with_pin("PIN", b"1234"));
        key(s, "NoPin", alg::EC_P256, &[], |_| {});
    });
    for id in ["PinOnly", "NoPin"] {
        let h = closed.key(id).unwrap().handle;
        expect_err(
            unlock(&mut sks, h, b"123456"),
            ErrorCode::Option,
            &format!("unlockKey on {id}"),
        );
        expect_err(
            set_pin(&mut sks, h, b"123456", b"5678"),
            ErrorCode::Option,
            &format!("setPin on {id}"),
        );
    }
    // changePin on a key without PIN: redundant authorization.
    expect_err(
        change_pin(
            &mut sks,
            closed.key("NoPin").unwrap().handle,
            b"1234",
            b"5678",
        ),
        ErrorCode::Option,
        "changePin without PIN",
    );
}

#[test]
fn change_pin_and_policy_violations() {
    let (mut sks, _, closed) = provisioned(|s| {
        let policy = PinPolicy {
            pattern_restrictions: u8::from(
                PatternRestriction::Sequence
                    | PatternRestriction::TwoInARow
                    | PatternRestriction::Repeated,
            ), // sequence, two-in-a-row, repeated
            min_length: 4,
            max_length: 6,
            retry_limit: 10,
            ..PinPolicy::default()
        };
        let puk = puk_with_pins_of(s, (b"123456", PinFormat::Numeric, 5), &[("Num", policy)]);
        s.pin_policy(
            "Three",
            None,
            PinPolicy {
                pattern_restrictions: PatternRestriction::ThreeInARow.into(), // three-in-a-row
                retry_limit: 10,
                ..PinPolicy::default()
            },
        )
        .unwrap();
        s.pin_policy(
            "Alnum",
            None,
            PinPolicy {
                format: PinFormat::Alphanumeric.into(),
                pattern_restrictions: PatternRestriction::MissingGroup.into(), // missing group
                retry_limit: 10,
                ..PinPolicy::default()
            },
        )
        .unwrap();
        s.pin_policy(
            "Str",
            None,
            PinPolicy {
                format: PinFormat::String.into(),
                pattern_restrictions: PatternRestriction::MissingGroup.into(),
                retry_limit: 10,
                ..PinPolicy::default()
            },
        )
        .unwrap();
        s.pin_policy(
            "Fixed",
            Some(&puk),
            PinPolicy {
                user_modifiable: false,
                ..PinPolicy::default()
            },
        )
        .unwrap();
        key(s, "Num.k", alg::EC_P256, &[], with_pin("Num", b"1357"));
        key(s, "Three.k", alg::EC_P256, &[], with_pin("Three", b"1357"));
        key(s, "Alnum.k", alg::EC_P256, &[], with_pin("Alnum", b"AB34"));
        key(s, "Str.k", alg::EC_P256, &[], with_pin("Str", b"2aZ."));
        key(s, "Fixed.k", alg::EC_P256, &[], with_pin("Fixed", b"1234"));
    });
    let k = |id: &str| closed.key(&format!("{id}.k")).unwrap();
    let opt = ErrorCode::Option;

    // Success: old PIN stops working, new PIN works.
    ok(
        change_pin(&mut sks, k("Num").handle, b"1357", b"2468"),
        "changePin",
    );
    expect_err(use_key(&mut sks, k("Num"), b"1357"), AUTH, "old PIN");
    ok(use_key(&mut sks, k("Num"), b"2468"), "new PIN");
    // Wrong old PIN: ERROR_AUTHORIZATION, counted, PIN unchanged.
    expect_err(
        change_pin(&mut sks, k("Num").handle, b"1111", b"9753"),
        AUTH,
        "wrong old PIN",
    );
    assert_eq!(protection(&mut sks, k("Num").handle).pin_error_count, 1);
    ok(use_key(&mut sks, k("Num"), b"2468"), "PIN unchanged");

    let violations: &[(&str, &str, &[u8], &str)] = &[
        ("Num", "2468", b"135", "too short"),
        ("Num", "2468", b"1357913", "too long"),
        ("Num", "2468", b"", "empty"),
        ("Num", "2468", b"13a7", "non-digit in numeric"),
        ("Num", "2468", b"1234", "sequence up"),
        ("Num", "2468", b"8765", "sequence down"),
        ("Num", "2468", b"1124", "two in a row"),
        ("Three", "1357", b"1114", "three in a row"),
        ("Num", "2468", b"1315", "repeated character"),
        ("Alnum", "AB34", b"ab34", "lower case in alphanumeric"),
        ("Alnum", "AB34", b"ABCD", "missing digit group"),
        ("Alnum", "AB34", b"1234", "missing upper-case group"),
        ("Str", "2aZ.", b"2aZA", "string: missing other group"),
        ("Str", "2aZ.", b"a.jZ", "string: missing digit group"),
        ("Str", "2aZ.", b"2a 6", "string: missing upper-case group"),
    ];
    for (id, old, new, what) in violations {
        expect_err(
            change_pin(&mut sks, k(id).handle, old.as_bytes(), new),
            opt,
            &format!("changePin {id}: {what}"),
        );
        ok(use_key(&mut sks, k(id), old.as_bytes()), "PIN unchanged");
    }
    // Allowed by the same policies.
    for (id, old, new) in [
        ("Num", "2468", &b"1235"[..]),
        ("Three", "1357", b"1124"),
        ("Alnum", "AB34", b"Z9Y8X7"),
        ("Str", "2aZ.", b"b3X!"),
    ] {
        ok(
            change_pin(&mut sks, k(id).handle, old.as_bytes(), new),
            &format!("changePin {id} to a compliant PIN"),
        );
        ok(use_key(&mut sks, k(id), new), "new PIN works");
    }
    // Not user-modifiable: ERROR_NOT_ALLOWED for changePin and setPin (PUK checked first).
    let fixed = k("Fixed").handle;
    expect_err(
        change_pin(&mut sks, fixed, b"1234", b"5678"),
        ErrorCode::NotAllowed,
        "changePin, userModifiable false",
    );
    expect_err(
        set_pin(&mut sks, fixed, b"000000", b"5678"),
        AUTH,
        "setPin, userModifiable false, wrong PUK: the PUK is checked first",
    );
    expect_err(
        set_pin(&mut sks, fixed, b"123456", b"5678"),
        ErrorCode::NotAllowed,
        "setPin, userModifiable false",
    );
    ok(use_key(&mut sks, k("Fixed"), b"1234"), "PIN unchanged");
}

#[test]
fn set_pin_unblocks_and_checks_policy() {
    let (mut sks, _, closed) = provisioned(|s| {
        let policy = PinPolicy {
            retry_limit: 2,
            pattern_restrictions: PatternRestriction::Sequence.into(),
            ..PinPolicy::default()
        };
        puk_with_pins(s, &[("PIN", policy)]);
        key(s, "K", alg::EC_P256, &[], with_pin("PIN", b"1357"));
    });
    let k = closed.key("K").unwrap();
    let h = k.handle;
    for _ in 0..2 {
        expect_err(use_key(&mut sks, k, b"0000"), AUTH, "wrong PIN");
    }
    assert_ne!(
        protection(&mut sks, h).protection_status & u8::from(ProtectionFlag::PinBlocked),
        0
    );
    expect_err(set_pin(&mut sks, h, b"654321", b"2468"), AUTH, "wrong PUK");
    assert_eq!(protection(&mut sks, h).puk_error_count, 1);
    for (new, what) in [("4567", "setPin: sequence"), ("12", "setPin: too short")] {
        let r = set_pin(&mut sks, h, b"123456", new.as_bytes());
        expect_err(r, ErrorCode::Option, what);
    }
    ok(set_pin(&mut sks, h, b"123456", b"2468"), "setPin");
    let p = protection(&mut sks, h);
    assert_eq!((p.pin_error_count, p.puk_error_count), (0, 0));
    assert_eq!(
        p.protection_status & u8::from(ProtectionFlag::PinBlocked),
        0,
        "setPin unblocks"
    );
    expect_err(use_key(&mut sks, k, b"1357"), AUTH, "old PIN");
    ok(use_key(&mut sks, k, b"2468"), "new PIN");
}

#[test]
fn shared_pin_group_counts_locks_unlocks_and_changes_together() {
    let (mut sks, _, closed) = provisioned(|s| {
        let shared = PinPolicy {
            grouping: Grouping::Shared.into(),
            ..PinPolicy::default()
        };
        puk_with_pins(s, &[("Shared", shared), ("Other", PinPolicy::default())]);
        key(s, "A", alg::EC_P256, &[], with_pin("Shared", b"1111"));
        key(s, "B", alg::EC_P384, &[], |k| {
            with_pin("Shared", b"1111")(k);
            k.app_usage = AppUsage::Encryption.into();
        });
        key(s, "C", alg::EC_P256, &[], with_pin("Other", b"1111"));
    });
    let (a, b, c) = (
        closed.key("A").unwrap(),
        closed.key("B").unwrap(),
        closed.key("C").unwrap(),
    );
    let sign_b = |sks: &mut Card, pin: &[u8]| {
        let data = random(32);
        let sig = sign(sks, b.handle, alg::ECDSA_SHA256, pin, &data)?;
        assert_verifies(b, "sha256", &data, &sig);
        Ok::<(), pcsc_bridge::Error>(())
    };
    // Errors on A count for B (one counter), not for C (another policy object).
    expect_err(use_key(&mut sks, a, b"0000"), AUTH, "A wrong");
    expect_err(sign_b(&mut sks, b"0000"), AUTH, "B wrong");
    assert_eq!(protection(&mut sks, a.handle).pin_error_count, 2);
    assert_eq!(protection(&mut sks, b.handle).pin_error_count, 2);
    assert_eq!(protection(&mut sks, c.handle).pin_error_count, 0);
    expect_err(use_key(&mut sks, a, b"0000"), AUTH, "A wrong");
    // Both blocked.
    for k in [a, b] {
        let p = protection(&mut sks, k.handle);
        assert_eq!(p.pin_error_count, 3, "{}", k.id);
        assert_ne!(
            p.protection_status & u8::from(ProtectionFlag::PinBlocked),
            0,
            "{} blocked",
            k.id
        );
    }
    expect_err(sign_b(&mut sks, b"1111"), AUTH, "B blocked");
    ok(use_key(&mut sks, c, b"1111"), "C unaffected");
    // Unlock through B unlocks A.
    ok(unlock(&mut sks, b.handle, b"123456"), "unlock B");
    assert_eq!(protection(&mut sks, a.handle).pin_error_count, 0);
    ok(use_key(&mut sks, a, b"1111"), "A unlocked");
    // A correct PIN on A resets B's counter too.
    expect_err(sign_b(&mut sks, b"0000"), AUTH, "B wrong");
    ok(use_key(&mut sks, a, b"1111"), "A right");
    assert_eq!(protection(&mut sks, b.handle).pin_error_count, 0);
    // changePin on A changes B.
    ok(
        change_pin(&mut sks, a.handle, b"1111", b"2222"),
        "changePin A",
    );
    ok(sign_b(&mut sks, b"2222"), "B has the new PIN");
    expect_err(sign_b(&mut sks, b"1111"), AUTH, "B old PIN");
    ok(use_key(&mut sks, c, b"1111"), "C keeps its PIN");
    // setPin on B changes A and unblocks both.
    for _ in 0..3 {
        expect_err(use_key(&mut sks, a, b"0000"), AUTH, "A wrong");
    }
    ok(set_pin(&mut sks, b.handle, b"123456", b"3333"), "setPin B");
    ok(use_key(&mut sks, a, b"3333"), "A has B's new PIN");
    ok(sign_b(&mut sks, b"3333"), "B");
}

#[test]
fn signature_standard_and_unique_grouping() {
    let (mut sks, _, closed) = provisioned(|s| {
        let grouped = |grouping: Grouping| PinPolicy {
            grouping: grouping.into(),
            ..PinPolicy::default()
        };
        puk_with_pins(
            s,
            &[
                ("SigStd", grouped(Grouping::SignaturePlusStandard)),
                ("Unique", grouped(Grouping::Unique)),
            ],
        );
        // signature+standard: the signature key has its own PIN, the others share one.
        pin_key(s, "Sig", "SigStd", b"1111", AppUsage::Signature);
        pin_key(s, "Auth", "SigStd", b"2222", AppUsage::Authentication);
        pin_key(s, "Enc", "SigStd", b"2222", AppUsage::Encryption);
        // unique: same appUsage same PIN, different appUsage different PIN.
        pin_key(s, "U1", "Unique", b"3333", AppUsage::Authentication);
        pin_key(s, "U2", "Unique", b"3333", AppUsage::Authentication);
        pin_key(s, "U3", "Unique", b"4444", AppUsage::Encryption);
    });
    let k = |id: &str| closed.key(id).unwrap();
    let errors = |sks: &mut Card, id: &str| protection(sks, k(id).handle).pin_error_count;
    let change =
        |sks: &mut Card, id: &str, old: &[u8], new: &[u8]| change_pin(sks, k(id).handle, old, new);
    // changePin to a PIN the grouping forbids: ERROR_OPTION. (key, old PIN, new PIN, case)
    let refused = |sks: &mut Card, cases: &[(&str, &str, &str, &str)]| {
        for &(id, old, new, what) in cases {
            let r = change(sks, id, old.as_bytes(), new.as_bytes());
            expect_err(r, ErrorCode::Option, what);
        }
    };

    // Counters: Auth and Enc share one, Sig has its own.
    expect_err(use_key(&mut sks, k("Auth"), b"0000"), AUTH, "Auth wrong");
    assert_eq!(
        (
            errors(&mut sks, "Auth"),
            errors(&mut sks, "Enc"),
            errors(&mut sks, "Sig")
        ),
        (1, 1, 0)
    );
    ok(use_key(&mut sks, k("Enc"), b"2222"), "Enc");
    assert_eq!(errors(&mut sks, "Auth"), 0);
    // The standard keys' PIN must differ from the signature key's (setter mode).
    refused(
        &mut sks,
        &[
            ("Auth", "2222", "1111", "standard PIN = signature PIN"),
            ("Sig", "1111", "2222", "signature PIN = standard PIN"),
        ],
    );
    ok(change(&mut sks, "Auth", b"2222", b"5555"), "changePin Auth");
    ok(use_key(&mut sks, k("Enc"), b"5555"), "Enc follows Auth");
    ok(use_key(&mut sks, k("Sig"), b"1111"), "Sig unchanged");

    // unique: U1/U2 share, U3 is separate and must stay different.
    expect_err(use_key(&mut sks, k("U1"), b"0000"), AUTH, "U1 wrong");
    assert_eq!(
        (errors(&mut sks, "U2"), errors(&mut sks, "U3")),
        (1, 0),
        "unique: same appUsage shares the counter"
    );
    refused(
        &mut sks,
        &[("U1", "3333", "4444", "unique: PIN of another appUsage")],
    );
    ok(change(&mut sks, "U2", b"3333", b"6666"), "changePin U2");
    ok(use_key(&mut sks, k("U1"), b"6666"), "U1 follows U2");
    ok(use_key(&mut sks, k("U3"), b"4444"), "U3 unchanged");
}

#[test]
fn grouping_comparisons_are_counted_pin_attempts() {
    // Issue 9: "Grouping requires different PINs" answers whether a new PIN equals another
    // group's PIN. Each such comparison is a counted attempt on that group's PIN (retryLimit 3
    // here), so the oracle loop of someone who knows only the everyday PIN locks the signature
    // PIN after three guesses instead of finding it in 10^4 calls; setPin (PUK holder) likewise.
    let (mut sks, _, closed) = provisioned(|s| {
        let policy = PinPolicy {
            grouping: Grouping::SignaturePlusStandard.into(),
            retry_limit: 3,
            ..PinPolicy::default()
        };
        puk_with_pins(s, &[("SigStd", policy)]);
        pin_key(s, "Sig", "SigStd", b"1111", AppUsage::Signature);
        pin_key(s, "Auth", "SigStd", b"2222", AppUsage::Authentication);
    });
    let k = |id: &str| closed.key(id).unwrap();
    let errors = |sks: &mut Card, id: &str| protection(sks, k(id).handle).pin_error_count;

    // A right guess is answered, and (like a correct PIN) resets the counter it was counted on.
    ok(
        change_pin(&mut sks, k("Auth").handle, b"2222", b"9000"),
        "guess 9000",
    );
    assert_eq!(
        errors(&mut sks, "Sig"),
        1,
        "a wrong guess is counted on Sig"
    );
    expect_err(
        change_pin(&mut sks, k("Auth").handle, b"9000", b"1111"),
        ErrorCode::Option,
        "the right guess",
    );
    assert_eq!(errors(&mut sks, "Sig"), 0);

    // The oracle loop: every wrong guess costs the signature PIN one attempt.
    let mut current = b"9000".to_vec();
    for guess in [b"9001", b"9002", b"9003"] {
        ok(
            change_pin(&mut sks, k("Auth").handle, &current, guess),
            "wrong guess",
        );
        current = guess.to_vec();
    }
    assert_eq!(errors(&mut sks, "Sig"), 3);
    let p = protection(&mut sks, k("Sig").handle);
    assert_ne!(
        p.protection_status & u8::from(ProtectionFlag::PinBlocked),
        0,
        "Sig is locked"
    );
    // No more answers: a blocked PIN is never compared, not even with the right value.
    expect_err(
        change_pin(&mut sks, k("Auth").handle, &current, b"1111"),
        AUTH,
        "guess against a blocked PIN",
    );
    expect_err(use_key(&mut sks, k("Sig"), b"1111"), AUTH, "Sig blocked");
    assert_eq!(
        errors(&mut sks, "Auth"),
        0,
        "Auth's own PIN was right each time"
    );

    // setPin with the PUK: the same rule.
    ok(unlock(&mut sks, k("Sig").handle, b"123456"), "unlock Sig");
    ok(
        set_pin(&mut sks, k("Auth").handle, b"123456", b"9100"),
        "setPin guess",
    );
    assert_eq!(errors(&mut sks, "Sig"), 1, "setPin's comparison is counted");
    ok(
        use_key(&mut sks, k("Sig"), b"1111"),
        "Sig still opens with its PIN",
    );
}

#[test]
fn no_grouping_keeps_keys_independent() {
    let (mut sks, _, closed) = provisioned(|s| {
        puk_with_pins(s, &[("PIN", PinPolicy::default())]);
        key(s, "A", alg::EC_P256, &[], with_pin("PIN", b"1111"));
        key(s, "B", alg::EC_P256, &[], with_pin("PIN", b"1111"));
    });
    let (a, b) = (closed.key("A").unwrap(), closed.key("B").unwrap());
    for _ in 0..3 {
        expect_err(use_key(&mut sks, a, b"0000"), AUTH, "A wrong");
    }
    assert_ne!(
        protection(&mut sks, a.handle).protection_status & u8::from(ProtectionFlag::PinBlocked),
        0
    );
    assert_eq!(protection(&mut sks, b.handle).pin_error_count, 0);
    ok(use_key(&mut sks, b, b"1111"), "B unaffected");
    ok(
        change_pin(&mut sks, b.handle, b"1111", b"2222"),
        "changePin B",
    );
    ok(unlock(&mut sks, a.handle, b"123456"), "unlock A");
    ok(use_key(&mut sks, a, b"1111"), "A keeps its PIN");
    // The PUK object is shared: its error counter is common to both keys.
    expect_err(unlock(&mut sks, a.handle, b"000000"), AUTH, "wrong PUK");
    assert_eq!(protection(&mut sks, b.handle).puk_error_count, 1);
}

#[test]
fn pin_counters_persist_across_restart() {
    let dir = std::env::temp_dir().join(format!(
        "sks-pin-persist-{}-{}",
        std::process::id(),
        hex::encode(random(6))
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("card.sks");
    let issuer = issuer();
    let closed = {
        let mut sks = file_card(&path);
        let closed = provision(&mut sks, &issuer, |s| {
            puk_with_pins(s, &[("PIN", PinPolicy::default())]);
            key(s, "K", alg::EC_P256, &[], with_pin("PIN", b"1234"));
        });
        let k = closed.key("K").unwrap();
        expect_err(use_key(&mut sks, k, b"0000"), AUTH, "wrong PIN 1");
        expect_err(use_key(&mut sks, k, b"0001"), AUTH, "wrong PIN 2");
        expect_err(unlock(&mut sks, k.handle, b"999999"), AUTH, "wrong PUK");
        assert_eq!(protection(&mut sks, k.handle).pin_error_count, 2);
        closed
    }; // card dropped
    let k = closed.key("K").unwrap();
    {
        let mut sks = file_card(&path);
        let p = protection(&mut sks, k.handle);
        assert_eq!(p.pin_error_count, 2, "PIN error count survives a restart");
        assert_eq!(p.puk_error_count, 1, "PUK error count survives a restart");
        expect_err(use_key(&mut sks, k, b"0002"), AUTH, "wrong PIN 3");
        assert_ne!(
            protection(&mut sks, k.handle).protection_status & u8::from(ProtectionFlag::PinBlocked),
            0
        );
    }
    {
        let mut sks = file_card(&path);
        expect_err(
            use_key(&mut sks, k, b"1234"),
            AUTH,
            "still blocked after restart",
        );
        ok(unlock(&mut sks, k.handle, b"123456"), "unlock");
    }
    {
        let mut sks = file_card(&path);
        let p = protection(&mut sks, k.handle);
        assert_eq!((p.pin_error_count, p.puk_error_count), (0, 0));
        ok(use_key(&mut sks, k, b"1234"), "unlocked after restart");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
