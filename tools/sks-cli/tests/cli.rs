//! End-to-end tests of the `sks` binary on an in-process card image. Cryptographic results are
//! checked with `openssl` (independent of the card and of RustCrypto).

mod common;

use common::{openssl, sign_hash, Card};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

impl Card {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_sks"))
            .arg("--in-process")
            .arg("--store")
            .arg(self.image())
            .args(args)
            .output()
            .expect("run sks")
    }

    /// Runs and requires success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "sks {args:?} failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs and requires exit status `code` (docs/cli.md); returns stderr.
    fn fails(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "sks {args:?} should fail with {code}:\nstdout:\n{}\nstderr:\n{stderr}",
            String::from_utf8_lossy(&out.stdout),
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!stderr.contains("RUST_BACKTRACE"), "{stderr}");
        stderr
    }
}

/// The handles printed as `Key N` lines, in order.
fn key_handles(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|l| l.strip_prefix("Key "))
        .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
        .collect()
}

/// The handle of the key listed with `id` by `sks provision`.
fn handle_of(provision_output: &str, id: &str) -> String {
    let mut current = None;
    for l in provision_output.lines() {
        if let Some(rest) = l.strip_prefix("Key ") {
            current = Some(rest.trim().to_owned());
        } else if l.trim_start().starts_with("id") && l.trim_end().ends_with(id) {
            return current.expect("Key line before id");
        }
    }
    panic!("no key {id} in:\n{provision_output}");
}

fn have_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    // The independent verification is the point of these tests: no openssl is a failure.
    assert!(
        ok,
        "openssl not found: run scripts/install-deps.sh (Debian package openssl)"
    );
    ok
}

/// Exports the key's certificate and its public key; returns the public key PEM path.
fn public_key(card: &Card, handle: &str) -> PathBuf {
    let cert = card.path(&format!("cert-{handle}.pem"));
    card.ok(&["cert", "--key", handle, "--out", cert.to_str().unwrap()]);
    let pem = std::fs::read_to_string(&cert).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    let out = openssl(&["x509", "-in", cert.to_str().unwrap(), "-pubkey", "-noout"]);
    let pubkey = card.path(&format!("pub-{handle}.pem"));
    std::fs::write(&pubkey, out.stdout).unwrap();
    pubkey
}

fn verify_ecdsa(card: &Card, pubkey: &Path, message: &Path, sig_hex: &str) -> bool {
    // `sks sign` writes DER by default: openssl takes it as it is.
    let der_sig = hex::decode(sig_hex.trim()).expect("signature hex");
    assert_eq!(der_sig[0], 0x30, "DER SEQUENCE");
    let sig = card.path("sig.der");
    std::fs::write(&sig, der_sig).unwrap();
    Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(pubkey)
        .arg("-signature")
        .arg(&sig)
        .arg(message)
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn provision_keys_sign_pin_delete() {
    let card = Card::new();

    // info works on a fresh image.
    let info = card.ok(&["info"]);
    assert!(info.contains("API level"), "{info}");
    assert!(info.contains("device certificate"), "{info}");
    assert!(info.contains("SHA-256"), "{info}");
    assert!(
        info.contains("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"),
        "{info}"
    );

    assert!(card.ok(&["keys"]).contains("No keys"));

    let prov = card.ok(&["provision", "--pin", "1234", "--puk", "12345678"]);
    assert!(prov.contains("attestation verified"), "{prov}");
    assert!(prov.contains("CN=Sign.P256"), "{prov}");
    let h = handle_of(&prov, "Sign.P256");

    // keys lists it with its certificate, PIN status and extensions.
    let keys = card.ok(&["keys"]);
    assert_eq!(key_handles(&keys), vec![h.clone()], "{keys}");
    for needle in [
        "Demo P-256 signing key",
        "EC P-256",
        "CN=Sign.P256",
        "ecdsa-sha256",
        "ok, errors 0/3",
        "urn:sks-cli:demo:properties",
        "Counter=\"0\" (writable)",
        "forbidden",
    ] {
        assert!(keys.contains(needle), "{needle:?} missing in:\n{keys}");
    }

    // Sign a file and verify with openssl against the certificate's key.
    let msg = card.path("msg.txt");
    std::fs::write(&msg, b"hello, SKS\n").unwrap();
    let sig = card.ok(&[
        "sign",
        "--key",
        &h,
        "--alg",
        "ecdsa-sha256",
        "--data-file",
        msg.to_str().unwrap(),
        "--pin",
        "1234",
    ]);
    let openssl_ok = have_openssl();
    let pubkey = openssl_ok.then(|| public_key(&card, &h));
    if let Some(pk) = &pubkey {
        assert!(verify_ecdsa(&card, pk, &msg, &sig), "signature: {sig}");
        // A signature over other data must not verify (the check is real).
        let other = card.path("other.txt");
        std::fs::write(&other, b"something else").unwrap();
        assert!(!verify_ecdsa(&card, pk, &other, &sig));
    }

    // --hash with the full algorithm URI gives a signature of the same hash.
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b"hello, SKS\n"))
    };
    let sig2 = card.ok(&sign_hash(
        &h,
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        &digest,
        &["--pin", "1234"],
    ));
    if let Some(pk) = &pubkey {
        assert!(verify_ecdsa(&card, pk, &msg, &sig2));
    }

    // Wrong PIN: exit 1 with the SKS error; the counter shows in `keys`.
    let err = card.fails(
        11,
        &sign_hash(&h, "ecdsa-sha256", &digest, &["--pin", "9999"]),
    );
    assert!(
        err.contains("error: ERROR_AUTHORIZATION (0x01)"),
        "stderr: {err}"
    );
    assert!(card.ok(&["keys"]).contains("ok, errors 1/3"));

    // Wrong hash length: ERROR_OPTION from the card.
    let err = card.fails(
        19,
        &sign_hash(&h, "ecdsa-sha256", "0011", &["--pin", "1234"]),
    );
    assert!(err.contains("ERROR_OPTION (0x09)"), "stderr: {err}");

    // Not endorsed algorithm: ERROR_ALGORITHM.
    let err = card.fails(
        18,
        &sign_hash(&h, "rsa-sha256", &digest, &["--pin", "1234"]),
    );
    assert!(err.contains("ERROR_ALGORITHM (0x08)"), "stderr: {err}");

    // Unknown short name: our own error, exit 1.
    let err = card.fails(
        2,
        &["sign", "--key", &h, "--alg", "nope", "--hash", &digest],
    );
    assert!(err.contains("unknown signature algorithm"), "stderr: {err}");

    // Unknown key: ERROR_NO_KEY.
    let err = card.fails(17, &sign_hash("4242", "ecdsa-sha256", &digest, &[]));
    assert!(err.contains("ERROR_NO_KEY (0x07)"), "stderr: {err}");

    // Change the PIN, then the old one fails and the new one signs.
    let out = card.ok(&[
        "pin", "change", "--key", &h, "--old", "1234", "--new", "4321",
    ]);
    assert!(out.contains("changed"), "{out}");
    let err = card.fails(
        11,
        &sign_hash(&h, "ecdsa-sha256", &digest, &["--pin", "1234"]),
    );
    assert!(err.contains("ERROR_AUTHORIZATION"), "{err}");
    let sig3 = card.ok(&sign_hash(&h, "ecdsa-sha256", &digest, &["--pin", "4321"]));
    if let Some(pk) = &pubkey {
        assert!(verify_ecdsa(&card, pk, &msg, &sig3));
    }

    // Block the PIN, unlock with the PUK, set a new PIN with the PUK.
    for _ in 0..3 {
        card.fails(
            11,
            &sign_hash(&h, "ecdsa-sha256", &digest, &["--pin", "0000"]),
        );
    }
    assert!(card.ok(&["keys"]).contains("BLOCKED, errors 3/3"));
    let err = card.fails(
        11,
        &sign_hash(&h, "ecdsa-sha256", &digest, &["--pin", "4321"]),
    );
    assert!(err.contains("ERROR_AUTHORIZATION"), "{err}");
    let err = card.fails(11, &["pin", "unlock", "--key", &h, "--puk", "00000000"]);
    assert!(err.contains("ERROR_AUTHORIZATION"), "{err}");
    card.ok(&["pin", "unlock", "--key", &h, "--puk", "12345678"]);
    assert!(card.ok(&["keys"]).contains("ok, errors 0/3"));
    card.ok(&[
        "pin", "set", "--key", &h, "--puk", "12345678", "--new", "5678",
    ]);
    card.ok(&sign_hash(&h, "ecdsa-sha256", &digest, &["--pin", "5678"]));

    // Export is forbidden by default.
    let err = card.fails(12, &["export", "--key", &h, "--auth", "5678"]);
    assert!(err.contains("ERROR_NOT_ALLOWED (0x02)"), "{err}");

    // Delete needs the PIN.
    let err = card.fails(11, &["delete", "--key", &h]);
    assert!(err.contains("error: ERROR_"), "{err}");
    let err = card.fails(11, &["delete", "--key", &h, "--auth", "1111"]);
    assert!(err.contains("ERROR_AUTHORIZATION"), "{err}");
    let out = card.ok(&["delete", "--key", &h, "--auth", "5678"]);
    assert!(out.contains("deleted"), "{out}");
    assert!(card.ok(&["keys"]).contains("No keys"));
}

#[test]
fn rsa_hmac_export() {
    let card = Card::new();
    let prov = card.ok(&[
        "provision",
        "--pin",
        "2468",
        "--puk",
        "87654321",
        "--rsa",
        "--hmac",
        "--exportable",
    ]);
    let ec = handle_of(&prov, "Sign.P256");
    let rsa = handle_of(&prov, "Key.RSA2048");
    let mac = handle_of(&prov, "Key.HMAC");
    let keys = card.ok(&["keys"]);
    assert_eq!(
        key_handles(&keys),
        vec![ec.clone(), rsa.clone(), mac.clone()]
    );
    assert!(keys.contains("RSA-2048"), "{keys}");
    assert!(keys.contains("symmetric, 32 bytes"), "{keys}");
    assert!(keys.contains("imported"), "{keys}");

    // HMAC against the secret the demo issuer printed.
    let secret = prov
        .lines()
        .find_map(|l| l.trim().strip_prefix("secret (demo!)"))
        .expect("secret line")
        .trim()
        .to_owned();
    let got = card.ok(&[
        "hmac",
        "--key",
        &mac,
        "--alg",
        "hmac-sha256",
        "--data",
        "616263",
        "--pin",
        "2468",
    ]);

    if !have_openssl() {
        return;
    }
    let data = card.path("abc");
    std::fs::write(&data, b"abc").unwrap();
    let out = openssl(&[
        "dgst",
        "-sha256",
        "-mac",
        "HMAC",
        "-macopt",
        &format!("hexkey:{secret}"),
        "-r",
        data.to_str().unwrap(),
    ]);
    let expected = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(got.trim(), expected);

    // RSA signature verified by openssl.
    let msg = card.path("msg.bin");
    std::fs::write(&msg, b"RSA message").unwrap();
    let sig = card.ok(&[
        "sign",
        "--key",
        &rsa,
        "--alg",
        "rsa-sha256",
        "--data-file",
        msg.to_str().unwrap(),
        "--pin",
        "2468",
    ]);
    let sig_path = card.path("rsa.sig");
    std::fs::write(&sig_path, hex::decode(sig.trim()).unwrap()).unwrap();
    let pubkey = public_key(&card, &rsa);
    openssl(&[
        "dgst",
        "-sha256",
        "-verify",
        pubkey.to_str().unwrap(),
        "-signature",
        sig_path.to_str().unwrap(),
        msg.to_str().unwrap(),
    ]);

    // OAEP-SHA256 ciphertext made by openssl, decrypted by the card.
    let plain = card.path("plain.txt");
    std::fs::write(&plain, b"secret message").unwrap();
    let ct = card.path("ct.bin");
    openssl(&[
        "pkeyutl",
        "-encrypt",
        "-pubin",
        "-inkey",
        pubkey.to_str().unwrap(),
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        "rsa_oaep_md:sha256",
        "-pkeyopt",
        "rsa_mgf1_md:sha256",
        "-in",
        plain.to_str().unwrap(),
        "-out",
        ct.to_str().unwrap(),
    ]);
    let out = card.ok(&[
        "decrypt",
        "--key",
        &rsa,
        "--alg",
        "rsa.oaep.sha256",
        "--in",
        ct.to_str().unwrap(),
        "--pin",
        "2468",
    ]);
    assert_eq!(out.trim(), hex::encode(b"secret message"));

    // Export the EC key with the PIN; openssl derives the same public key as the certificate.
    let ec_pub = public_key(&card, &ec);
    let exported = card.path("ec.p8");
    card.ok(&[
        "export",
        "--key",
        &ec,
        "--auth",
        "2468",
        "--out",
        exported.to_str().unwrap(),
    ]);
    let derived = openssl(&[
        "pkey",
        "-inform",
        "DER",
        "-in",
        exported.to_str().unwrap(),
        "-pubout",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&derived.stdout),
        std::fs::read_to_string(&ec_pub).unwrap()
    );
    assert!(card.ok(&["keys"]).contains("exported"));

    // RSA delete needs the PUK, not the PIN.
    let err = card.fails(11, &["delete", "--key", &rsa, "--auth", "2468"]);
    assert!(err.contains("ERROR_AUTHORIZATION"), "{err}");
    card.ok(&["delete", "--key", &rsa, "--auth", "87654321"]);
    assert_eq!(key_handles(&card.ok(&["keys"])), vec![ec, mac]);
}

#[test]
fn usage_and_transport_errors() {
    let card = Card::new();
    // A clap usage error is exit code 2, not a panic.
    let out = card.run(&["sign", "--key", "1"]);
    assert_eq!(out.status.code(), Some(2));
    // --reader is PC/SC only.
    let out = card.run(&["--reader", "x", "keys"]);
    assert_eq!(out.status.code(), Some(2));
    // Non-hex input.
    let err = card.fails(2, &sign_hash("1", "ecdsa-sha256", "zz", &[]));
    assert!(err.contains("not valid hex"), "{err}");
    // A store path that cannot be created.
    let out = Command::new(env!("CARGO_BIN_EXE_sks"))
        .args(["--store", "/proc/no/such/dir/card.img", "keys"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
}

#[test]
fn an_image_held_by_another_card_is_refused_naming_the_holder() {
    // Issue 9 item 5: `sks --store` takes the image's process lock like sks-card does.
    let card = Card::new();
    card.ok(&["info"]);
    let held = applet::store::EepromStore::open(card.image(), applet::PRODUCT_GEOMETRY)
        .expect("hold the image");
    let err = card.fails(3, &["info"]);
    assert!(
        err.contains(&format!("in use by process {}", std::process::id())),
        "{err}"
    );
    drop(held);
    card.ok(&["info"]);
}

/// The card image of `card` opened in this process (the CLI must not hold it meanwhile).
fn in_process(card: &Card) -> pcsc_bridge::Sks<pcsc_bridge::InProcess<dyn applet::Card + Send>> {
    let c = applet::open_card(Some(&card.image())).expect("open the image");
    pcsc_bridge::Sks::new(pcsc_bridge::InProcess::from_box(c).expect("select"))
}

#[test]
fn open_sessions_are_listed_and_aborted() {
    // Issue 9 item 8: `sks sessions` and `sks sessions abort N`.
    let card = Card::new();
    assert!(card
        .ok(&["sessions"])
        .contains("No open provisioning sessions"));
    let handle = {
        // An issuer that went away in the middle of provisioning.
        let mut sks = in_process(&card);
        let issuer = sks_issuer::Issuer::new().unwrap();
        let s = issuer.session(&mut sks).life_time(3600).open().unwrap();
        s.provisioning_handle()
    };
    let listing = card.ok(&["sessions"]);
    assert!(
        listing
            .lines()
            .any(|l| l.contains(&format!(" {handle} ")) && l.contains(" open ")),
        "{listing}"
    );
    assert!(listing.contains("3600 s"), "{listing}");
    let out = card.ok(&["sessions", "abort", &handle.to_string()]);
    assert!(
        out.contains(&format!("Aborted provisioning session {handle}")),
        "{out}"
    );
    assert!(card
        .ok(&["sessions"])
        .contains("No open provisioning sessions"));
    let err = card.fails(16, &["sessions", "abort", &handle.to_string()]);
    assert!(err.contains("ERROR_NO_SESSION"), "{err}");
}

#[test]
fn a_forgotten_pin_is_refused_before_it_costs_a_retry() {
    // Issue 9 item 10: without --pin the card would count a wrong PIN.
    let card = Card::new();
    let out = card.ok(&["provision", "--pin", "1234"]);
    let key = handle_of(&out, "Sign.P256");
    let err = card.fails(2, &sign_hash(&key, "ecdsa-sha256", &"ab".repeat(32), &[]));
    assert!(
        err.contains("PIN-protected") && err.contains("--pin"),
        "{err}"
    );
    let errors = in_process(&card)
        .get_key_protection_info(&apdu_spec::GetKeyProtectionInfoArgs {
            key_handle: key.parse().unwrap(),
        })
        .unwrap()
        .pin_error_count;
    assert_eq!(errors, 0, "no retry was used");
}

#[test]
fn a_huge_data_file_is_streamed_or_refused_never_read_whole() {
    // Issue 9 item 10: `sign --data-file` hashes in chunks (peak memory far below the file
    // size); data that goes to the card as is is refused above one call's 256 KiB, by name.
    let card = Card::new();
    let out = card.ok(&["provision", "--pin", "1234", "--hmac"]);
    let key = handle_of(&out, "Sign.P256");
    let big = card.path("big.bin");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(400 << 20).unwrap(); // 400 MiB, sparse
    let sig = card.ok(&[
        "sign",
        "--key",
        &key,
        "--alg",
        "ecdsa-sha256",
        "--data-file",
    ]
    .into_iter()
    .chain([big.to_str().unwrap(), "--pin", "1234"])
    .collect::<Vec<_>>());
    assert_eq!(&sig.trim()[..2], "30", "DER signature: {sig}");
    // SAFETY: getrusage only writes the struct it is given.
    let peak_kib = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage.ru_maxrss
    };
    assert!(
        peak_kib < 200 * 1024,
        "a child of this test peaked at {peak_kib} KiB"
    );

    let hmac_key = handle_of(&out, "Key.HMAC");
    let err = card.fails(
        2,
        &[
            "hmac",
            "--key",
            &hmac_key,
            "--pin",
            "1234",
            "--data-file",
            big.to_str().unwrap(),
        ],
    );
    assert!(err.contains("262144 bytes"), "names the limit: {err}");
    assert!(!err.contains("6700"), "{err}");
}
