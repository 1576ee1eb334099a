//! C_Sign throughput: libsks_pkcs11.so over PC/SC (private pcscd + vpcd + the card served by
//! the vsmartcard adapter) against SoftHSM2's module, same client (the Rust `cryptoki` crate),
//! same run. Ignored by default; run with
//!
//! ```sh
//! cargo test --release -p sks-pkcs11 --test bench -- --ignored --nocapture
//! ```
//! (`SKS_BENCH_SECONDS` sets the measuring time per case, default 3 s.)

mod common;

use common::{module, Fixture, PIN};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn open(lib: &Path, pin: &str) -> (Pkcs11, Session) {
    let p = Pkcs11::new(lib).unwrap_or_else(|e| panic!("load {}: {e}", lib.display()));
    p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .expect("C_Initialize");
    let slot = *p
        .get_slots_with_token()
        .expect("slots")
        .first()
        .expect("a token");
    let s = p.open_rw_session(slot).expect("session");
    s.login(UserType::User, Some(&AuthPin::new(pin.into())))
        .expect("login");
    (p, s)
}

fn key(s: &Session, label: &str) -> ObjectHandle {
    *s.find_objects(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::Label(label.as_bytes().to_vec()),
    ])
    .expect("find")
    .first()
    .unwrap_or_else(|| panic!("no key {label}"))
}

/// Signs for `secs` and returns (signatures per second, median latency).
fn rate(s: &Session, m: &Mechanism, k: ObjectHandle, data: &[u8], secs: f64) -> (f64, Duration) {
    for _ in 0..20 {
        s.sign(m, k, data).expect("warm-up C_Sign");
    }
    let mut lat = Vec::new();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < secs {
        let t = Instant::now();
        s.sign(m, k, data).expect("C_Sign");
        lat.push(t.elapsed());
    }
    let total = start.elapsed().as_secs_f64();
    lat.sort();
    (lat.len() as f64 / total, lat[lat.len() / 2])
}

fn softhsm(dir: &Path) -> (Pkcs11, Session) {
    let lib = Path::new("/usr/lib/softhsm/libsofthsm2.so");
    assert!(lib.exists(), "SoftHSM2 missing: scripts/install-deps.sh");
    let tokens = dir.join("softhsm-tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let st = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            "bench",
            "--pin",
            PIN,
            "--so-pin",
            "12345678",
        ])
        .status()
        .expect("softhsm2-util");
    assert!(st.success());
    let (p, s) = open(lib, PIN);
    let ec_params = vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[Attribute::EcParams(ec_params), Attribute::Token(true)],
        &[
            Attribute::Label(b"ec-key".to_vec()),
            Attribute::Sign(true),
            Attribute::Token(true),
        ],
    )
    .expect("SoftHSM EC key");
    s.generate_key_pair(
        &Mechanism::RsaPkcsKeyPairGen,
        &[
            Attribute::ModulusBits(2048.into()),
            Attribute::PublicExponent(vec![1, 0, 1]),
            Attribute::Token(true),
        ],
        &[
            Attribute::Label(b"rsa-key".to_vec()),
            Attribute::Sign(true),
            Attribute::Token(true),
        ],
    )
    .expect("SoftHSM RSA key");
    (p, s)
}

#[test]
#[ignore = "benchmark: cargo test --release -p sks-pkcs11 --test bench -- --ignored --nocapture"]
fn c_sign_sks_over_pcsc_vs_softhsm2() {
    let secs: f64 = std::env::var("SKS_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3.0);
    let f = Fixture::new("bench");
    std::env::set_var("SKS_PKCS11_READER", &f.reader);
    let (_sks_ctx, sks) = open(&module(), PIN);
    let (_hsm_ctx, hsm) = softhsm(&f.dir);
    // The same module without PC/SC on a card with the product's persistent store (an EEPROM
    // image file, as sks-card uses by default; the PC/SC card above keeps its state in RAM):
    // a copy of the .so (its own globals) initialized after SKS_PKCS11_INPROCESS is set.
    // Every PIN-protected use commits the PIN error counter to the image (counted before
    // compare), so this column shows the store's cost per signature.
    let image = f.path("inprocess.img");
    drop(common::provision(
        applet::open_card(Some(&image)).expect("card image"),
    ));
    let copy = f.path("libsks_pkcs11_inprocess.so");
    std::fs::copy(module(), &copy).expect("copy the module");
    std::env::set_var("SKS_PKCS11_INPROCESS", &image);
    let (_inp_ctx, inp) = open(&copy, PIN);

    let digest = [0x5a; 32];
    let message = b"benchmark message".to_vec();
    let cases: [(&str, Mechanism, &str, &[u8]); 2] = [
        (
            "ECDSA P-256 (CKM_ECDSA, 32-byte digest)",
            Mechanism::Ecdsa,
            "ec-key",
            &digest,
        ),
        (
            "RSA-2048 (CKM_SHA256_RSA_PKCS)",
            Mechanism::Sha256RsaPkcs,
            "rsa-key",
            &message,
        ),
    ];
    println!(
        "| operation | SKS over PC/SC: sig/s (median) | SoftHSM2: sig/s (median) | ratio | \
         SKS in-process, EEPROM-image card: sig/s (median) |"
    );
    println!("| --- | --- | --- | --- | --- |");
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    for (name, mech, label, data) in cases {
        let (a, la) = rate(&sks, &mech, key(&sks, label), data, secs);
        let (b, lb) = rate(&hsm, &mech, key(&hsm, label), data, secs);
        let (c, lc) = rate(&inp, &mech, key(&inp, label), data, secs);
        println!(
            "| {name} | {a:.0} ({:.0} µs) | {b:.0} ({:.0} µs) | {:.2}× | {c:.0} ({:.0} µs) |",
            us(la),
            us(lb),
            a / b,
            us(lc)
        );
    }
}
