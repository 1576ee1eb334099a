//! OpenSC's `pkcs11-tool` against libsks_pkcs11.so over the real PC/SC stack (private pcscd,
//! vpcd, the card served by the vsmartcard adapter). Every signature, decryption, derived
//! secret, MAC and ciphertext is checked with the `openssl` command line.

mod common;

use common::{export_public, openssl_verify, Fixture, AES_KEY, HMAC_KEY, PIN};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn read(f: &Fixture, name: &str) -> Vec<u8> {
    std::fs::read(f.path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The CKA_ID of the object labelled `label`, read from `pkcs11-tool -O` (pkcs11-tool picks
/// signing keys by id, not by label).
fn id_of(f: &Fixture, label: &str) -> String {
    id_in(&f.ok(&mut f.p11(&["-O"])), label)
}

/// The CKA_ID of a secret key (private objects: listed after login).
fn id_of_secret(f: &Fixture, label: &str) -> String {
    id_in(&f.ok(&mut f.p11(&["-O", "--login", "--pin", PIN])), label)
}

/// The CKA_ID of the object labelled `label` in a `pkcs11-tool -O` listing.
fn id_in(listing: &str, label: &str) -> String {
    let mut lines = listing
        .lines()
        .skip_while(|l| l.trim() != format!("label:      {label}"));
    lines
        .find_map(|l| l.trim().strip_prefix("ID:").map(|id| id.trim().to_owned()))
        .unwrap_or_else(|| panic!("no object labelled {label}:\n{listing}"))
}

/// `pkcs11-tool --login --sign` with `mechanism` and the key `id`, from the file `input` to
/// the file `output`, then `extra`; required to succeed.
fn sign(f: &Fixture, mechanism: &str, id: &str, input: &str, output: &str, extra: &[&str]) {
    let mut args = vec![
        "--login",
        "--pin",
        PIN,
        "--sign",
        "--mechanism",
        mechanism,
        "--id",
        id,
        "-i",
        input,
        "-o",
        output,
    ];
    args.extend_from_slice(extra);
    f.ok(&mut f.p11(&args));
}

#[test]
fn lists_objects_and_signs_with_ec_and_rsa() {
    let f = Fixture::new("sign");
    let (ec_id, rsa_id) = (id_of(&f, "ec-key"), id_of(&f, "rsa-key"));
    let l = f.ok(&mut f.p11(&["-L"]));
    assert!(l.contains("token label        : SKS "), "{l}");
    assert!(
        l.contains("login required") && l.contains("PIN initialized"),
        "{l}"
    );

    let public = f.ok(&mut f.p11(&["-O"]));
    for needle in [
        "ec-key",
        "rsa-key",
        "Certificate Object",
        "Public Key Object; EC",
    ] {
        assert!(public.contains(needle), "missing {needle}:\n{public}");
    }
    // Only other-key's private key (its own PIN, given per operation) is visible before login.
    assert_eq!(
        public.matches("Private Key Object").count(),
        1,
        "private objects need login:\n{public}"
    );
    assert!(public.contains("always authenticate"), "{public}");
    let all = f.ok(&mut f.p11(&["-O", "--login", "--pin", PIN]));
    for needle in [
        "Private Key Object; EC",
        "Private Key Object; RSA",
        "Secret Key Object",
    ] {
        assert!(all.contains(needle), "missing {needle}:\n{all}");
    }

    std::fs::write(f.path("data"), b"signed through PKCS #11 over PC/SC\n").unwrap();
    let ec_pub = export_public(&f, "ec-key");
    let rsa_pub = export_public(&f, "rsa-key");

    // ECDSA-SHA256: the module hashes, the card signs (ecdsa-sha256).
    sign(
        &f,
        "ECDSA-SHA256",
        &ec_id,
        "data",
        "ec.sig",
        &["--signature-format", "openssl"],
    );
    let v = openssl_verify(&f, "-sha256", &ec_pub, "ec.sig", "data");
    assert!(v.contains("Verified OK"), "{v}");

    // CKM_ECDSA on a 32-byte digest: mapped to ecdsa-sha256 (the key is endorsed only for it).
    f.ok(&mut f.openssl(&["dgst", "-sha256", "-binary", "-out", "data.sha256", "data"]));
    sign(
        &f,
        "ECDSA",
        &ec_id,
        "data.sha256",
        "ec-raw.sig",
        &["--signature-format", "openssl"],
    );
    let v = openssl_verify(&f, "-sha256", &ec_pub, "ec-raw.sig", "data");
    assert!(v.contains("Verified OK"), "{v}");
    // Raw r||s of fixed length without --signature-format.
    sign(&f, "ECDSA-SHA256", &ec_id, "data", "ec.rs", &[]);
    assert_eq!(read(&f, "ec.rs").len(), 64);

    // RSA: SHA256-RSA-PKCS and RSA-PKCS over a DigestInfo (rsa.pkcs1.none).
    sign(&f, "SHA256-RSA-PKCS", &rsa_id, "data", "rsa.sig", &[]);
    let v = openssl_verify(&f, "-sha256", &rsa_pub, "rsa.sig", "data");
    assert!(v.contains("Verified OK"), "{v}");
    let mut digest_info = hex::decode("3031300d060960864801650304020105000420").unwrap();
    digest_info.extend(read(&f, "data.sha256"));
    std::fs::write(f.path("data.di"), &digest_info).unwrap();
    sign(&f, "RSA-PKCS", &rsa_id, "data.di", "rsa-di.sig", &[]);
    assert_eq!(
        read(&f, "rsa-di.sig"),
        read(&f, "rsa.sig"),
        "PKCS #1 v1.5 is deterministic"
    );

    // A wrong PIN: refused by the card, counted, shown in the token flags, never kept.
    let out = f.run(&mut f.p11(&["--login", "--pin", "9999", "-O"]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CKR_PIN_INCORRECT"), "{err}");
    let l = f.ok(&mut f.p11(&["-L"]));
    assert!(l.contains("user PIN count low"), "{l}");
    f.ok(&mut f.p11(&["-O", "--login", "--pin", PIN]));
    let l = f.ok(&mut f.p11(&["-L"]));
    assert!(
        !l.contains("user PIN count low"),
        "a right PIN resets the counter:\n{l}"
    );
}

#[test]
fn decrypts_derives_macs_and_encrypts() {
    let f = Fixture::new("crypt");
    let (ec_id, rsa_id) = (id_of(&f, "ec-key"), id_of(&f, "rsa-key"));
    let (hmac_id, aes_id) = (id_of_secret(&f, "hmac-key"), id_of_secret(&f, "aes-key"));
    let rsa_pub = export_public(&f, "rsa-key");
    let ec_pub = export_public(&f, "ec-key");
    std::fs::write(f.path("msg"), b"a secret for the card").unwrap();

    // RSA PKCS #1 v1.5 and OAEP (SHA-256, SHA-1) decryption of openssl's ciphertexts.
    for (name, mech, opts) in [
        ("pkcs1", vec!["--mechanism", "RSA-PKCS"], vec![]),
        (
            "oaep256",
            vec![
                "--mechanism",
                "RSA-PKCS-OAEP",
                "--hash-algorithm",
                "SHA256",
                "--mgf",
                "MGF1-SHA256",
            ],
            vec![
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                "rsa_oaep_md:sha256",
                "-pkeyopt",
                "rsa_mgf1_md:sha256",
            ],
        ),
        (
            "oaep1",
            vec![
                "--mechanism",
                "RSA-PKCS-OAEP",
                "--hash-algorithm",
                "SHA-1",
                "--mgf",
                "MGF1-SHA1",
            ],
            vec!["-pkeyopt", "rsa_padding_mode:oaep"],
        ),
    ] {
        let ct = format!("{name}.ct");
        let pt = format!("{name}.pt");
        let mut args = vec![
            "pkeyutl", "-encrypt", "-pubin", "-inkey", &rsa_pub, "-in", "msg", "-out", &ct,
        ];
        args.extend(opts);
        f.ok(&mut f.openssl(&args));
        let mut args = vec![
            "--login",
            "--pin",
            PIN,
            "--decrypt",
            "--id",
            &rsa_id,
            "-i",
            &ct,
            "-o",
            &pt,
        ];
        args.extend(mech);
        f.ok(&mut f.p11(&args));
        assert_eq!(read(&f, &pt), read(&f, "msg"), "{name}");
    }

    // ECDH: the derived secret equals openssl's.
    f.ok(&mut f.openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        "peer.pem",
    ]));
    f.ok(&mut f.openssl(&[
        "pkey",
        "-in",
        "peer.pem",
        "-pubout",
        "-outform",
        "DER",
        "-out",
        "peer.pub.der",
    ]));
    f.ok(&mut f.p11(&[
        "--login",
        "--pin",
        PIN,
        "--derive",
        "--mechanism",
        "ECDH1-DERIVE",
        "--id",
        &ec_id,
        "-i",
        "peer.pub.der",
        "-o",
        "z.card",
    ]));
    f.ok(&mut f.openssl(&[
        "pkeyutl",
        "-derive",
        "-inkey",
        "peer.pem",
        "-peerkey",
        &ec_pub,
        "-out",
        "z.openssl",
    ]));
    assert_eq!(read(&f, "z.card"), read(&f, "z.openssl"));
    assert_eq!(read(&f, "z.card").len(), 32);

    // HMAC-SHA256.
    sign(&f, "SHA256-HMAC", &hmac_id, "msg", "mac.card", &[]);
    let k = format!("hexkey:{}", hex(&HMAC_KEY));
    f.ok(&mut f.openssl(&[
        "dgst",
        "-sha256",
        "-mac",
        "HMAC",
        "-macopt",
        &k,
        "-binary",
        "-out",
        "mac.openssl",
        "msg",
    ]));
    assert_eq!(read(&f, "mac.card"), read(&f, "mac.openssl"));

    // AES-CBC-PAD, AES-CBC and AES-ECB against openssl enc, and back through the card.
    std::fs::write(f.path("blocks"), [7u8; 32]).unwrap();
    let iv = "000102030405060708090a0b0c0d0e0f";
    let key = hex(&AES_KEY);
    for (mech, input, enc) in [
        ("AES-CBC-PAD", "msg", vec!["-aes-128-cbc", "-iv", iv]),
        (
            "AES-CBC",
            "blocks",
            vec!["-aes-128-cbc", "-nopad", "-iv", iv],
        ),
        ("AES-ECB", "blocks", vec!["-aes-128-ecb", "-nopad"]),
    ] {
        let card_ct = format!("{mech}.card");
        let ossl_ct = format!("{mech}.openssl");
        let back = format!("{mech}.back");
        let mut args = vec![
            "--login",
            "--pin",
            PIN,
            "--encrypt",
            "--mechanism",
            mech,
            "--id",
            &aes_id,
            "-i",
            input,
            "-o",
            &card_ct,
        ];
        if mech != "AES-ECB" {
            args.extend(["--iv", iv]);
        }
        f.ok(&mut f.p11(&args));
        let mut o = vec!["enc", "-K", &key, "-in", input, "-out", &ossl_ct];
        o.extend(enc);
        f.ok(&mut f.openssl(&o));
        assert_eq!(read(&f, &card_ct), read(&f, &ossl_ct), "{mech}");
        let mut args = vec![
            "--login",
            "--pin",
            PIN,
            "--decrypt",
            "--mechanism",
            mech,
            "--id",
            &aes_id,
            "-i",
            &card_ct,
            "-o",
            &back,
        ];
        if mech != "AES-ECB" {
            args.extend(["--iv", iv]);
        }
        f.ok(&mut f.p11(&args));
        assert_eq!(read(&f, &back), read(&f, input), "{mech} round trip");
    }
}

#[test]
fn generates_deletes_changes_pin_and_passes_its_self_test() {
    let f = Fixture::new("keygen");
    std::fs::write(f.path("data"), b"made by a generated key").unwrap();
    for (key_type, label, mech, md) in [
        ("EC:secp384r1", "gen-ec", "ECDSA-SHA384", "-sha384"),
        ("rsa:2048", "gen-rsa", "SHA256-RSA-PKCS", "-sha256"),
    ] {
        let out = f.ok(&mut f.p11(&[
            "--login",
            "--pin",
            PIN,
            "--keypairgen",
            "--key-type",
            key_type,
            "--label",
            label,
        ]));
        assert!(out.contains("Key pair generated"), "{out}");
        // Certified by the local issuer: the certificate object exists.
        let pem = export_public(&f, label);
        let gen_id = id_of(&f, label);
        let sig = format!("{label}.sig");
        let format: &[&str] = if key_type.starts_with("EC") {
            &["--signature-format", "openssl"]
        } else {
            &[]
        };
        sign(&f, mech, &gen_id, "data", &sig, format);
        let v = openssl_verify(&f, md, &pem, &sig, "data");
        assert!(v.contains("Verified OK"), "{v}");
    }
    let gen_ec_id = id_of(&f, "gen-ec");
    f.ok(&mut f.p11(&[
        "--login",
        "--pin",
        PIN,
        "--delete-object",
        "--type",
        "privkey",
        "--id",
        &gen_ec_id,
    ]));
    let objects = f.ok(&mut f.p11(&["-O", "--login", "--pin", PIN]));
    assert!(
        !objects.contains("gen-ec") && objects.contains("gen-rsa"),
        "{objects}"
    );

    f.ok(&mut f.p11(&["--login", "--pin", PIN, "--change-pin", "--new-pin", "5678"]));
    let out = f.run(&mut f.p11(&["--login", "--pin", PIN, "-O"]));
    assert!(!out.status.success(), "the old PIN no longer works");
    let t = f.ok(&mut f.p11(&["--test", "--login", "--pin", "5678"]));
    assert!(t.contains("No errors"), "{t}");
}
