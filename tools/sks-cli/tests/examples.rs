//! The interoperability examples in examples/ (pyscard, javax.smartcardio) run against the
//! card in the private pcscd: each prints getDeviceInfo's vendor and API level and an ECDSA
//! signature, which Python `cryptography` verifies against the key's certificate.

use conformance_tests::{CardUnderTest, PrivatePcscd};
use std::path::Path;
use std::process::{Command, Output};

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Verifies a raw r ‖ s P-256 signature of `digest` with the certificate `cert_pem`.
fn verify(cert_pem: &str, digest: &str, sig: &str) {
    let script = "import sys\n\
        from cryptography import x509\n\
        from cryptography.hazmat.primitives import hashes\n\
        from cryptography.hazmat.primitives.asymmetric import ec, utils\n\
        cert = x509.load_pem_x509_certificate(sys.argv[1].encode())\n\
        raw = bytes.fromhex(sys.argv[3]); n = len(raw) // 2\n\
        der = utils.encode_dss_signature(int.from_bytes(raw[:n], 'big'), int.from_bytes(raw[n:], 'big'))\n\
        cert.public_key().verify(der, bytes.fromhex(sys.argv[2]), ec.ECDSA(utils.Prehashed(hashes.SHA256())))\n\
        print('verified')\n";
    let out = ok(
        Command::new("/usr/bin/python3")
            .args(["-c", script, cert_pem, digest, sig])
            .output()
            .unwrap(),
        "cryptography verify",
    );
    assert_eq!(out.trim(), "verified");
}

fn field<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in:\n{out}"))
}

#[test]
fn pyscard_and_javax_smartcardio_examples() {
    let pcscd = PrivatePcscd::shared();
    let card = CardUnderTest::start(applet::open_card(None).expect("card"));
    let reader = card.reader_name().to_string_lossy().into_owned();
    let (var, value) = pcscd.client_env();
    let sks = |args: &[&str]| {
        ok(
            Command::new(env!("CARGO_BIN_EXE_sks"))
                .args(["--reader", &reader])
                .args(args)
                .output()
                .unwrap(),
            "sks",
        )
    };
    sks(&["provision", "--pin", "1234"]);
    let cert = sks(&["cert", "--key", "1"]);
    let digest = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");

    let py = ok(
        Command::new("/usr/bin/python3")
            .arg(root.join("pyscard/sks_sign.py"))
            .args([&reader, "1", "1234", digest])
            .env(var, &value)
            .output()
            .unwrap(),
        "examples/pyscard/sks_sign.py",
    );
    assert_eq!(field(&py, "apiLevel"), "100");
    assert!(!field(&py, "vendor").is_empty());
    verify(&cert, digest, field(&py, "signature"));

    let classes = tempfile::tempdir().unwrap();
    ok(
        Command::new("javac")
            .arg("-d")
            .arg(classes.path())
            .arg(root.join("java/SksSign.java"))
            .output()
            .expect("javac (JDK 17)"),
        "javac",
    );
    let java = ok(
        Command::new("java")
            .arg("-Dsun.security.smartcardio.library=/usr/lib/x86_64-linux-gnu/libpcsclite.so.1")
            .arg("-cp")
            .arg(classes.path())
            .args(["SksSign", &reader, "1", "1234", digest])
            .env(var, &value)
            .output()
            .expect("java"),
        "examples/java/SksSign.java",
    );
    assert_eq!(field(&java, "apiLevel"), "100");
    assert_eq!(field(&java, "vendor"), field(&py, "vendor"));
    verify(&cert, digest, field(&java, "signature"));
}
