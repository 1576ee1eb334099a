//! Every key algorithm the card lists, provisioned from a profile file over real PC/SC, every
//! user operation run through `sks`, and each output checked with openssl directly; every
//! `--json` document validated against docs/cli-schema.json (Python `jsonschema`); the exit
//! codes of docs/cli.md provoked one by one.

mod common;

use common::{openssl, sign_hash};
use conformance_tests::{CardUnderTest, PrivatePcscd};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Env {
    reader: String,
    dir: tempfile::TempDir,
    /// (schema definition, JSON document) pairs, validated at the end.
    docs: Vec<(String, String)>,
}

impl Env {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn p(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_owned()
    }

    fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sks"));
        c.args(["--reader", &self.reader, "--timeout", "10"])
            .args(args)
            .env("SKS_TEST_PIN", "2468")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::piped());
        let mut child = c.spawn().expect("run sks");
        {
            use std::io::Write;
            let mut i = child.stdin.take().unwrap();
            if let Some(data) = stdin {
                i.write_all(data).unwrap();
            }
        }
        child.wait_with_output().unwrap()
    }

    /// `sks --json ARGS`: must succeed; the document is kept for schema validation.
    fn json(&mut self, def: &str, args: &[&str]) -> serde_json::Value {
        self.json_in(def, args, None)
    }

    fn json_in(&mut self, def: &str, args: &[&str], stdin: Option<&[u8]>) -> serde_json::Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let out = self.run(&a, stdin);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "sks {a:?} failed ({:?}):\n{stdout}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        self.docs.push((def.into(), stdout.clone()));
        serde_json::from_str(&stdout).expect("one JSON document")
    }

    /// Runs and requires exit status `code`; the `--json` error document is kept.
    fn fails(&mut self, code: i32, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let out = self.run(&a, None);
        assert_eq!(
            out.status.code(),
            Some(code),
            "sks {a:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        self.docs.push(("error".into(), stdout.clone()));
        let v: serde_json::Value = serde_json::from_str(&stdout).expect("error JSON");
        assert_eq!(v["error"]["exit"], code);
        v
    }
}

fn unhex(v: &serde_json::Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

const AES128: &str = "000102030405060708090a0b0c0d0e0f";
const AES192: &str = "101112131415161718191a1b1c1d1e1f2021222324252627";
const AES256: &str = "303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f";
const HMAC_KEY: &str = "6b65792d666f722d686d61632d6b65792d666f722d686d61632d6b65792d2121";

#[test]
fn every_algorithm_every_operation_checked_by_openssl() {
    let pcscd = PrivatePcscd::shared();
    let _card = CardUnderTest::start(applet::open_card(None).expect("card"));
    let mut env = Env {
        reader: pcscd.friendly_name().to_owned(),
        dir: tempfile::tempdir().unwrap(),
        docs: Vec::new(),
    };

    let info = env.json("info", &["info"]);
    let listed: Vec<String> = info["algorithms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();

    // Key files: an imported P-256 private key and the symmetric secrets.
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &env.p("import.pem"),
    ]);
    for (name, hex_key) in [("aes128", AES128), ("aes192", AES192), ("aes256", AES256)] {
        std::fs::write(env.path(name), hex::decode(hex_key).unwrap()).unwrap();
    }
    std::fs::write(env.path("hmac.hex"), format!("{HMAC_KEY}\n")).unwrap();

    // One session: every key-generation algorithm the card lists (RSA exponents included).
    let keygen: Vec<(&str, &str)> = vec![
        ("p256", "ec.nist.p256"),
        ("p384", "ec.nist.p384"),
        ("p521", "ec.nist.p521"),
        ("rsa1024", "rsa1024"),
        ("rsa2048", "rsa2048"),
        ("rsa3072,exp=3", "rsa3072.exp"),
        ("rsa4096", "rsa4096"),
        ("rsa2048,exp=65537", "rsa2048.exp"),
    ];
    let mut profile = String::from(
        "[[puk]]\nid = \"PUK.1\"\nvalue = \"env:SKS_TEST_PIN\"\n\
         [[pin]]\nid = \"PIN.1\"\npuk = \"PUK.1\"\n",
    );
    for (alg, uri_frag) in &keygen {
        assert!(
            listed.iter().any(|u| u.ends_with(&format!("#{uri_frag}"))),
            "the card lists {uri_frag}"
        );
        profile += &format!("[[key]]\nid = \"{alg}\"\nalg = \"{alg}\"\nexport = \"none\"\n");
    }
    profile += "[[key]]\nid = \"imported\"\nimport = \"import.pem\"\npin = \"PIN.1\"\npin_value = \"env:SKS_TEST_PIN\"\n";
    for (alg, file) in [
        ("aes128", "aes128"),
        ("aes192", "aes192"),
        ("aes256", "aes256"),
        ("hmac", "hmac.hex"),
    ] {
        profile += &format!("[[key]]\nid = \"{alg}\"\nalg = \"{alg}\"\nimport = \"{file}\"\n");
    }
    profile += "[[key.property_bag]]\ntype = \"urn:t:bag\"\nproperties = [{ name = \"n\", value = \"v\", writable = true }]\n";
    std::fs::write(env.path("profile.toml"), &profile).unwrap();
    let prov = env.json(
        "provision",
        &["provision", "--profile", &env.p("profile.toml")],
    );
    let handle = |id: &str| -> String {
        prov["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id)
            .unwrap_or_else(|| panic!("key {id} in {prov}"))["handle"]
            .to_string()
    };
    let keys = env.json("keys", &["keys"]);
    assert_eq!(keys["keys"].as_array().unwrap().len(), keygen.len() + 5);
    env.json("sessions", &["sessions", "--closed"]);

    let msg = env.path("msg.txt");
    std::fs::write(&msg, b"a message signed by the card\n").unwrap();
    let pubkey = |env: &Env, h: &str| -> String {
        let cert = env.p(&format!("cert{h}.pem"));
        let out = env.run(&["cert", "--key", h, "--out", &cert], None);
        assert!(out.status.success());
        let pem = openssl(&["x509", "-in", &cert, "-pubkey", "-noout"]).stdout;
        let path = env.p(&format!("pub{h}.pem"));
        std::fs::write(&path, pem).unwrap();
        path
    };

    // Signatures (DER by default) checked by `openssl dgst -verify`, then by `sks verify`.
    for (id, alg, md) in [
        ("p256", "ecdsa-sha256", "-sha256"),
        ("p384", "ecdsa-sha384", "-sha384"),
        ("p521", "ecdsa-sha512", "-sha512"),
        ("rsa1024", "rsa-sha256", "-sha256"),
        ("rsa2048", "rsa-sha384", "-sha384"),
        ("rsa3072,exp=3", "rsa-sha512", "-sha512"),
        ("rsa4096", "rsa-sha256", "-sha256"),
        ("rsa2048,exp=65537", "rsa-sha256", "-sha256"),
        ("imported", "ecdsa-sha256", "-sha256"),
    ] {
        let h = handle(id);
        let sig = env.p(&format!("sig{h}"));
        let mut args = vec![
            "sign", "--key", &h, "--alg", alg, "--in", "-", "--out", &sig,
        ];
        if id == "imported" {
            args.extend(["--pin", "fd:0"]);
            // The PIN comes from fd 0, so the data comes from a file here.
            args[5] = "--in";
            args[6] = msg.to_str().unwrap();
            let j = env.json_in("sign", &args, Some(b"2468\n"));
            assert_eq!(j["format"], "der");
        } else {
            let j = env.json_in("sign", &args, Some(&std::fs::read(&msg).unwrap()));
            assert_eq!(
                j["signature"].as_str().unwrap(),
                hex::encode(std::fs::read(&sig).unwrap())
            );
        }
        let pk = pubkey(&env, &h);
        let v = openssl(&[
            "dgst",
            md,
            "-verify",
            &pk,
            "-signature",
            &sig,
            msg.to_str().unwrap(),
        ]);
        assert!(
            String::from_utf8_lossy(&v.stdout).contains("Verified OK"),
            "{id}"
        );
        env.json(
            "verify",
            &[
                "verify",
                "--key",
                &h,
                "--alg",
                alg,
                "--in",
                msg.to_str().unwrap(),
                "--signature",
                &sig,
            ],
        );
        // A signature of other data does not verify: exit 5.
        std::fs::write(env.path("other"), b"other data").unwrap();
        let e = env.fails(
            5,
            &[
                "verify",
                "--key",
                &h,
                "--alg",
                alg,
                "--in",
                &env.p("other"),
                "--signature",
                &sig,
            ],
        );
        assert_eq!(e["error"]["kind"], "bad-signature");
    }
    // --format raw: r ‖ s of the curve's size.
    let h = handle("p384");
    let raw = env.json(
        "sign",
        &sign_hash(&h, "ecdsa-sha384", &"ab".repeat(48), &["--format", "raw"]),
    );
    assert_eq!(unhex(&raw["signature"]).len(), 96);
    assert_eq!(raw["format"], "raw");

    // RSA decryption of what openssl encrypted for the key's certificate.
    for (id, alg, opts) in [
        (
            "rsa2048",
            "rsa.oaep.sha256",
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
            "rsa4096",
            "rsa.oaep.sha1",
            vec!["-pkeyopt", "rsa_padding_mode:oaep"],
        ),
        (
            "rsa1024",
            "rsa.es.pkcs1_5",
            vec!["-pkeyopt", "rsa_padding_mode:pkcs1"],
        ),
    ] {
        let h = handle(id);
        let pk = env.p(&format!("pub{h}.pem"));
        let ct = env.p(&format!("ct{h}"));
        let mut a = vec![
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            &pk,
            "-in",
            msg.to_str().unwrap(),
            "-out",
            &ct,
        ];
        a.extend(opts.iter().copied());
        openssl(&a);
        let j = env.json(
            "decrypt",
            &["decrypt", "--key", &h, "--alg", alg, "--in", &ct],
        );
        assert_eq!(
            unhex(&j["plaintext"]),
            std::fs::read(&msg).unwrap(),
            "{id} {alg}"
        );
    }

    // ECDH with a peer key made by openssl: both sides derive the same secret.
    for (id, curve) in [("p256", "P-256"), ("p384", "P-384"), ("p521", "P-521")] {
        let h = handle(id);
        let peer = env.p(&format!("peer{h}.pem"));
        let peer_pub = env.p(&format!("peerpub{h}.pem"));
        openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            &format!("ec_paramgen_curve:{curve}"),
            "-out",
            &peer,
        ]);
        openssl(&["pkey", "-in", &peer, "-pubout", "-out", &peer_pub]);
        let j = env.json("agree", &["agree", "--key", &h, "--peer", &peer_pub]);
        let theirs = openssl(&[
            "pkeyutl",
            "-derive",
            "-inkey",
            &peer,
            "-peerkey",
            &env.p(&format!("pub{h}.pem")),
        ])
        .stdout;
        assert_eq!(unhex(&j["shared_secret"]), theirs, "{id}");
    }

    // AES: the card encrypts, openssl decrypts (and the card decrypts its own ciphertext).
    let plain = b"sixteen byte blksixteen byte blk";
    std::fs::write(env.path("plain"), plain).unwrap();
    let iv = "0f0e0d0c0b0a09080706050403020100";
    for (id, key_hex, bits) in [
        ("aes128", AES128, 128),
        ("aes192", AES192, 192),
        ("aes256", AES256, 256),
    ] {
        let h = handle(id);
        // aes.cbc with an explicit IV.
        let j = env.json(
            "encrypt",
            &[
                "encrypt",
                "--key",
                &h,
                "--alg",
                "aes.cbc",
                "--iv",
                iv,
                "--in",
                &env.p("plain"),
            ],
        );
        let ct = env.p("ct");
        std::fs::write(&ct, unhex(&j["ciphertext"])).unwrap();
        let dec = openssl(&[
            "enc",
            "-d",
            &format!("-aes-{bits}-cbc"),
            "-K",
            key_hex,
            "-iv",
            iv,
            "-in",
            &ct,
        ])
        .stdout;
        assert_eq!(dec, plain, "{id} aes.cbc");
        // The xmlenc aesNNN-cbc: a random IV prepended.
        let j = env.json(
            "encrypt",
            &[
                "encrypt",
                "--key",
                &h,
                "--alg",
                &format!("aes{bits}-cbc"),
                "--in",
                &env.p("plain"),
            ],
        );
        let c = unhex(&j["ciphertext"]);
        std::fs::write(&ct, &c[16..]).unwrap();
        let dec = openssl(&[
            "enc",
            "-d",
            &format!("-aes-{bits}-cbc"),
            "-K",
            key_hex,
            "-iv",
            &hex::encode(&c[..16]),
            "-in",
            &ct,
        ])
        .stdout;
        assert_eq!(dec, plain, "{id} aes{bits}-cbc");
        std::fs::write(&ct, &c).unwrap();
        let back = env.json(
            "decrypt",
            &[
                "decrypt",
                "--key",
                &h,
                "--alg",
                &format!("aes{bits}-cbc"),
                "--in",
                &ct,
            ],
        );
        assert_eq!(unhex(&back["plaintext"]), plain);
        // ECB without padding.
        let j = env.json(
            "encrypt",
            &[
                "encrypt",
                "--key",
                &h,
                "--alg",
                "aes.ecb.nopad",
                "--in",
                &env.p("plain"),
            ],
        );
        std::fs::write(&ct, unhex(&j["ciphertext"])).unwrap();
        let dec = openssl(&[
            "enc",
            "-d",
            &format!("-aes-{bits}-ecb"),
            "-nopad",
            "-K",
            key_hex,
            "-in",
            &ct,
        ])
        .stdout;
        assert_eq!(dec, plain, "{id} ecb");
    }

    // HMAC against openssl's.
    let h = handle("hmac");
    for (alg, md) in [
        ("hmac-sha256", "sha256"),
        ("hmac-sha512", "sha512"),
        ("hmac-sha1", "sha1"),
    ] {
        let j = env.json(
            "hmac",
            &[
                "hmac",
                "--key",
                &h,
                "--alg",
                alg,
                "--in",
                msg.to_str().unwrap(),
            ],
        );
        let theirs = openssl(&[
            "mac",
            "-digest",
            md,
            "-macopt",
            &format!("hexkey:{HMAC_KEY}"),
            "-in",
            msg.to_str().unwrap(),
            "HMAC",
        ])
        .stdout;
        assert_eq!(
            hex::encode(unhex(&j["mac"])).to_uppercase(),
            String::from_utf8_lossy(&theirs).trim(),
            "{alg}"
        );
    }

    // The management commands' documents.
    env.json("cert", &["cert", "--key", &handle("p256"), "--chain"]);
    let e = env.json("export", &["export", "--key", &handle("p521")]);
    assert!(e["value"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
    let imported = handle("imported");
    let pin = |env: &mut Env, def: &str, args: &[&str]| {
        let mut a = vec!["pin"];
        a.extend_from_slice(args);
        a.extend(["--key", imported.as_str()]);
        env.json(def, &a)
    };
    pin(
        &mut env,
        "pin",
        &["change", "--old", "env:SKS_TEST_PIN", "--new", "1357"],
    );
    pin(&mut env, "pin", &["unlock", "--puk", "env:SKS_TEST_PIN"]);
    pin(
        &mut env,
        "pin",
        &[
            "set",
            "--puk",
            "env:SKS_TEST_PIN",
            "--new",
            "env:SKS_TEST_PIN",
        ],
    );
    env.json("delete", &["delete", "--key", &handle("rsa1024")]);

    // Exit codes (docs/cli.md): usage 2, transport 3, each SKS error as 10 + its code.
    let e = env.fails(2, &sign_hash(&imported, "no-such-alg", "00", &[]));
    assert_eq!(e["error"]["kind"], "usage");
    // The PIN is refused before anything reaches the card (no terminal: no prompt).
    env.fails(
        2,
        &sign_hash(&imported, "ecdsa-sha256", &"00".repeat(32), &[]),
    );
    env.fails(
        2,
        &sign_hash(
            &imported,
            "ecdsa-sha256",
            &"00".repeat(32),
            &["--pin", "env:SKS_SURELY_UNSET"],
        ),
    );
    let e = env.fails(
        11,
        &sign_hash(
            &imported,
            "ecdsa-sha256",
            &"00".repeat(32),
            &["--pin", "9999"],
        ),
    );
    assert_eq!(e["error"]["sks_name"], "ERROR_AUTHORIZATION");
    env.fails(12, &["export", "--key", &handle("aes128")]);
    env.fails(16, &["sessions", "abort", "4000"]);
    env.fails(
        17,
        &sign_hash("4000", "ecdsa-sha256", &"00".repeat(32), &[]),
    );
    env.fails(
        18,
        &sign_hash(&handle("p256"), "rsa-sha256", &"00".repeat(32), &[]),
    );
    env.fails(
        19,
        &[
            "encrypt",
            "--key",
            &handle("aes128"),
            "--alg",
            "aes.cbc",
            "--hex",
            "00",
            "--iv",
            "00",
        ],
    );
    let out = Command::new(env!("CARGO_BIN_EXE_sks"))
        .args([
            "--json",
            "--reader",
            "No Such Reader",
            "--timeout",
            "0.5",
            "info",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    env.docs.push((
        "error".into(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ));

    // Every JSON document against its schema definition.
    let docs = env.path("docs.json");
    std::fs::write(&docs, serde_json::to_string(&env.docs).unwrap()).unwrap();
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli-schema.json");
    let check = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(
            "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[1]))\n\
             for d, doc in json.load(open(sys.argv[2])):\n\
             \x20   s = dict(schema); s['$ref'] = '#/$defs/' + d\n\
             \x20   jsonschema.validate(json.loads(doc), s, cls=jsonschema.Draft202012Validator)\n\
             print('validated', len(json.load(open(sys.argv[2]))))\n",
        )
        .arg(&schema)
        .arg(&docs)
        .output()
        .expect("python3");
    assert!(
        check.status.success(),
        "schema validation: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(String::from_utf8_lossy(&check.stdout).starts_with("validated"));
}
