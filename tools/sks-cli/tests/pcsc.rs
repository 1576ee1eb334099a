//! `sks` over the real PC/SC stack: a private pcscd with a vpcd reader, the card served by the
//! vsmartcard adapter, and the `sks` binary as a separate PC/SC client (it inherits
//! `PCSCLITE_CSOCK_NAME`). Needs root and the Debian packages of `scripts/install-deps.sh`; a
//! missing piece is a loud failure of the harness, not a skip.

mod common;

use common::sign_hash;
use conformance_tests::{CardUnderTest, PrivatePcscd};
use std::process::{Command, Output};

fn sks(reader: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sks"))
        .args(["--reader", reader, "--timeout", "10"])
        .args(args)
        .output()
        .expect("run sks")
}

fn ok(reader: &str, args: &[&str]) -> String {
    let out = sks(reader, args);
    assert!(
        out.status.success(),
        "sks {args:?} failed ({:?}):\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn provision_keys_sign_over_pcsc() {
    let pcscd = PrivatePcscd::shared();
    let _card = CardUnderTest::start(applet::open_card(None).expect("card"));
    let reader = pcscd.friendly_name().to_owned();

    let info = ok(&reader, &["info"]);
    assert!(info.contains("device certificate"), "{info}");
    let prov = ok(&reader, &["provision", "--pin", "1234"]);
    assert!(prov.contains("close attestation verified"), "{prov}");
    let keys = ok(&reader, &["keys"]);
    let handle = keys
        .lines()
        .find_map(|l| l.strip_prefix("Key "))
        .and_then(|r| r.split_whitespace().next())
        .expect("a key")
        .to_owned();
    assert!(keys.contains("CN=Sign.P256"), "{keys}");
    let hash = "00".repeat(32);
    let sig = ok(
        &reader,
        &sign_hash(&handle, "ecdsa-sha256", &hash, &["--pin", "1234"]),
    );
    assert_eq!(&sig.trim()[..2], "30", "DER by default: {sig}");
    let out = sks(
        &reader,
        &sign_hash(&handle, "ecdsa-sha256", &hash, &["--pin", "0000"]),
    );
    assert_eq!(out.status.code(), Some(11), "ERROR_AUTHORIZATION exits 11");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error: ERROR_AUTHORIZATION (0x01)"), "{err}");

    // A reader that does not exist: a clean error after the timeout.
    let out = Command::new(env!("CARGO_BIN_EXE_sks"))
        .args(["--reader", "No Such Reader", "--timeout", "1", "info"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "no reader: transport error exits 3"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: no card in a reader"), "{err}");
}
