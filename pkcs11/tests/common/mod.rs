//! Shared fixture of the client tests: a card provisioned by the independent issuer
//! (`sks-issuer`), served over the private pcscd, and helpers to run real PKCS #11 clients
//! against `libsks_pkcs11.so` on it.

#![allow(dead_code)]

use apdu_spec::values::{DeleteProtection, Grouping};
use conformance_tests::{CardUnderTest, PrivatePcscd};
use pcsc_bridge::{InProcess, Sks};
use sks_issuer::{alg, Issuer, KeySpec, PinPolicy};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The module's function list (C_GetFunctionList).
pub fn f() -> &'static cryptoki_sys::CK_FUNCTION_LIST {
    let mut p: *mut cryptoki_sys::CK_FUNCTION_LIST = std::ptr::null_mut();
    assert_eq!(
        unsafe { sks_pkcs11::C_GetFunctionList(&mut p) },
        cryptoki_sys::CKR_OK
    );
    unsafe { &*p }
}

/// Calls a function of the module's list: `call!(C_Initialize(args))`.
#[allow(unused_macros)] // not every test binary that includes this file calls the C API
macro_rules! call {
    ($name:ident ( $($arg:expr),* )) => {
        unsafe { (common::f().$name.expect(stringify!($name)))($($arg),*) }
    };
}

pub const PIN: &str = "1234";
pub const PUK: &str = "123456";
/// The PIN of `other-key`, outside the user-PIN group.
pub const OTHER_PIN: &str = "5555";
pub const HMAC_KEY: [u8; 32] = [0x4b; 32];
pub const AES_KEY: [u8; 16] = *b"0123456789abcdef";

/// The module under test. `cargo test` builds the crate's rlib, not its cdylib, so the first
/// call builds `libsks_pkcs11.so` with the cargo that runs the tests (same profile and
/// target directory as the test binaries).
pub fn module() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let so = dir.join("libsks_pkcs11.so");
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "sks-pkcs11", "--lib"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        if let Some(target) = dir.parent() {
            cmd.env("CARGO_TARGET_DIR", target);
        }
        let status = cmd.status().expect("run cargo build for the cdylib");
        assert!(status.success(), "building libsks_pkcs11.so failed");
    });
    assert!(so.exists(), "{} was not built", so.display());
    so
}

/// A card with, under one PIN (1234, PUK 123456, grouping shared):
/// `ec-key` (P-256, ecdsa-sha256 + ECDH), `rsa-key` (RSA-2048, sign + decrypt),
/// `hmac-key` (HMAC-SHA256, [`HMAC_KEY`]), `aes-key` (AES-128, [`AES_KEY`]); and `other-key`
/// (P-256, ecdsa-sha256) under a PIN policy of its own, PIN [`OTHER_PIN`].
pub fn provisioned_card() -> Box<dyn applet::Card + Send> {
    provision(applet::open_card(None).expect("in-process card"))
}

/// Provisions `card` as [`provisioned_card`] describes.
pub fn provision(card: Box<dyn applet::Card + Send>) -> Box<dyn applet::Card + Send> {
    let mut sks = Sks::new(InProcess::from_box(card).expect("SELECT"));
    let issuer = Issuer::new().expect("issuer");
    {
        let mut s = issuer.session(&mut sks).open().expect("open session");
        let puk = s.puk("PUK.1", PUK.as_bytes(), 0, 3).expect("PUK");
        let policy = PinPolicy {
            grouping: Grouping::Shared.into(),
            ..PinPolicy::default()
        };
        s.pin_policy("PIN.1", Some(&puk), policy)
            .expect("PIN policy");
        let spec = |id: &str, name: &str, algorithm: &str, endorse: &[&str]| {
            let mut k = KeySpec::new(id);
            k.pin_policy = Some("PIN.1".into());
            k.pin_value = PIN.as_bytes().to_vec();
            k.friendly_name = name.into();
            k.key_algorithm = algorithm.into();
            let mut e: Vec<String> = endorse.iter().map(|s| s.to_string()).collect();
            e.sort();
            k.endorsed_algorithms = e;
            k.delete_protection = DeleteProtection::Pin.into();
            k
        };
        for (id, name, algorithm, endorse) in [
            (
                "ec",
                "ec-key",
                alg::EC_P256,
                &[alg::ECDSA_SHA256, alg::ECDH_RAW][..],
            ),
            (
                "rsa",
                "rsa-key",
                alg::RSA2048,
                &[
                    alg::RSA_SHA256,
                    alg::RSA_PKCS1_NONE,
                    alg::RSA_ES_PKCS1_5,
                    alg::RSA_OAEP_SHA1,
                    alg::RSA_OAEP_SHA256,
                ][..],
            ),
        ] {
            let k = s.create_key(&spec(id, name, algorithm, endorse)).expect(id);
            s.certify(&k).expect("certify");
        }
        for (id, name, secret, endorse) in [
            ("hmac", "hmac-key", &HMAC_KEY[..], &[alg::HMAC_SHA256][..]),
            (
                "aes",
                "aes-key",
                &AES_KEY[..],
                &[alg::AES_CBC, alg::AES_ECB_NOPAD][..],
            ),
        ] {
            let k = s
                .create_key(&spec(id, name, alg::EC_P256, endorse))
                .expect(id);
            let k = s.certify(&k).expect("certify");
            s.import_symmetric(&k, secret).expect("import");
        }
        // A key with a PIN of its own (another policy): CKA_ALWAYS_AUTHENTICATE.
        s.pin_policy("PIN.2", None, PinPolicy::default())
            .expect("PIN policy 2");
        let mut k = KeySpec::new("other");
        k.pin_policy = Some("PIN.2".into());
        k.pin_value = OTHER_PIN.as_bytes().to_vec();
        k.friendly_name = "other-key".into();
        k.endorsed_algorithms = vec![alg::ECDSA_SHA256.into()];
        let k = s.create_key(&k).expect("other");
        s.certify(&k).expect("certify");
        s.close().expect("close");
    }
    sks.into_transport().into_card()
}

/// A provisioned card in a reader of the private pcscd, and a scratch directory.
pub struct Fixture {
    pub cut: CardUnderTest<'static>,
    pub reader: String,
    pub dir: PathBuf,
}

impl Fixture {
    pub fn new(name: &str) -> Self {
        let cut = CardUnderTest::start(provisioned_card());
        let reader = cut.reader_name().to_string_lossy().into_owned();
        let dir = std::env::temp_dir().join(format!("sks-p11-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Fixture { cut, reader, dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A command with the environment that points the module at this card.
    pub fn command(&self, program: &str) -> Command {
        let (var, socket) = PrivatePcscd::shared().client_env();
        let mut c = Command::new(program);
        c.env(var, socket)
            .env("SKS_PKCS11_READER", &self.reader)
            .env("SKS_PKCS11_ISSUER_KEY", self.path("issuer-ca.p8"))
            .current_dir(&self.dir);
        c
    }

    /// Runs a command; panics loudly when it cannot start (tool missing).
    pub fn run(&self, cmd: &mut Command) -> Output {
        cmd.output().unwrap_or_else(|e| {
            panic!("cannot run {cmd:?} (is it installed? scripts/install-deps.sh): {e}")
        })
    }

    /// Runs a command that must succeed; returns stdout.
    pub fn ok(&self, cmd: &mut Command) -> String {
        let out = self.run(cmd);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{cmd:?} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// pkcs11-tool with the module.
    pub fn p11(&self, args: &[&str]) -> Command {
        let mut c = self.command("pkcs11-tool");
        c.arg("--module").arg(module()).args(args);
        c
    }

    /// openssl.
    pub fn openssl(&self, args: &[&str]) -> Command {
        let mut c = self.command("openssl");
        c.args(args);
        c
    }
}

/// Exports `label`'s certificate with pkcs11-tool as `<label>.der` and returns the name of its
/// PEM public key file, `<label>.pub.pem`.
pub fn export_public(f: &Fixture, label: &str) -> String {
    let der = format!("{label}.der");
    let pem = format!("{label}.pub.pem");
    f.ok(&mut f.p11(&[
        "--read-object",
        "--type",
        "cert",
        "--label",
        label,
        "-o",
        &der,
    ]));
    f.ok(&mut f.openssl(&[
        "x509", "-inform", "DER", "-in", &der, "-pubkey", "-noout", "-out", &pem,
    ]));
    pem
}

/// `openssl dgst <md> -verify <public> -signature <sig> <data>` (files of the fixture): its
/// output, which says `Verified OK` when the signature verifies.
pub fn openssl_verify(f: &Fixture, md: &str, public: &str, sig: &str, data: &str) -> String {
    f.ok(&mut f.openssl(&["dgst", md, "-verify", public, "-signature", sig, data]))
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
