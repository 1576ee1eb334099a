//! No log level shows a secret (issue 9 item 3). The card (adapter + applet) and the client
//! (pcsc-bridge) run in this process at trace level, over the real pcscd + vpcd, through a
//! session that sets, uses, changes and unlocks PINs, imports an HMAC key, encrypts and exports a
//! key; then every secret is searched for in the log as raw bytes and in hex.

#[path = "support/user.rs"]
mod user;

use conformance_tests::{CardUnderTest, PrivatePcscd};
use sks_issuer::PinPolicy;
use std::sync::Mutex;
use user::*;

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        let line = format!("{} {}: {}", record.level(), record.target(), record.args());
        LOG.lock().unwrap().push(line);
    }
    fn flush(&self) {}
}

#[test]
fn the_most_verbose_log_carries_no_secret() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    PrivatePcscd::shared();
    let cut = CardUnderTest::start(applet::open_card(None).expect("open card"));
    let mut sks = cut.client();

    let (puk, pin, new_pin, set_pin_value) = (b"83746591", b"73915846", b"26481357", b"19283746");
    let hmac_secret = b"hmac+aes-secret-key-32-bytes-ok!";
    let plaintext = b"plaintext that must stay hidden!";
    let issuer = issuer();
    let closed = provision(&mut sks, &issuer, |s| {
        let puk = s.puk("PUK", puk, PinFormat::Numeric.into(), 5).unwrap();
        s.pin_policy("PIN", Some(&puk), PinPolicy::default())
            .unwrap();
        key(s, "Sig", alg::EC_P256, &[alg::ECDSA_SHA256], |k| {
            with_pin("PIN", pin)(k);
            k.export_protection = ExportProtection::Pin.into();
        });
        sym_key(
            s,
            "Mac",
            hmac_secret,
            &[alg::HMAC_SHA256, alg::AES_CBC],
            |_| {},
        );
    });
    let k = closed.key("Sig").unwrap().handle;
    let m = closed.key("Mac").unwrap().handle;

    let data = random(32);
    ok(sign(&mut sks, k, alg::ECDSA_SHA256, pin, &data), "sign");
    expect_err(
        sign(&mut sks, k, alg::ECDSA_SHA256, b"11112222", &data),
        apdu_spec::ErrorCode::Authorization,
        "wrong PIN",
    );
    ok(change_pin(&mut sks, k, pin, new_pin), "changePin");
    ok(unlock(&mut sks, k, puk), "unlockKey");
    ok(set_pin(&mut sks, k, puk, set_pin_value), "setPin");
    let mac = ok(hmac(&mut sks, m, alg::HMAC_SHA256, b"", plaintext), "hmac");
    let iv = [0x42u8; 16];
    let ciphertext = ok(
        aes(&mut sks, m, alg::AES_CBC, true, &iv, plaintext),
        "encrypt",
    );
    let exported = ok(export(&mut sks, k, set_pin_value), "exportKey");
    drop(sks);
    drop(cut);

    let log = LOG.lock().unwrap().join("\n");
    assert!(
        log.contains("signHashedData handle") && log.contains("exportKey handle"),
        "the trace log describes the calls:\n{log}"
    );
    let secrets: [(&str, &[u8]); 9] = [
        ("PUK", puk),
        ("PIN", pin),
        ("new PIN", new_pin),
        ("setPin PIN", set_pin_value),
        ("HMAC key", hmac_secret),
        ("plaintext", plaintext),
        ("HMAC result", &mac),
        ("ciphertext", &ciphertext),
        ("exported private key", &exported),
    ];
    for (what, secret) in secrets {
        // Any 8-byte window of the secret, raw or in hex (either case).
        for window in secret.windows(8.min(secret.len())) {
            let forms = [
                String::from_utf8_lossy(window).into_owned(),
                hex::encode(window),
                hex::encode_upper(window),
            ];
            for form in forms {
                assert!(
                    !log.contains(&form),
                    "the log shows the {what} ({form}):\n{log}"
                );
            }
        }
    }
}
