//! `sks provision` from flags (policy, protections, imports, extensions, property bags) and
//! from a JSON profile importing PKCS#1 and SEC1 keys, on an in-process card image; the
//! results read back with `sks --json keys` and checked with openssl.

mod common;

use std::process::{Command, Output};

fn sks(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sks"))
        .arg("--store")
        .arg(dir.join("card.img"))
        .args(args)
        .env("T_PIN", "2580")
        .env("T_PUK", "88776655")
        .output()
        .expect("run sks")
}

fn ok(dir: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let out = sks(dir, &a);
    assert!(
        out.status.success(),
        "sks {a:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// Runs `openssl`, requires success and returns its stdout.
fn openssl(args: &[&str]) -> Vec<u8> {
    common::openssl(args).stdout
}

#[test]
fn flags_set_policy_protection_imports_and_extensions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key_hex = "00112233445566778899aabbccddeeff";
    std::fs::write(d.join("aes.key"), hex::decode(key_hex).unwrap()).unwrap();
    std::fs::write(d.join("note.txt"), b"a note").unwrap();
    let p = |n: &str| d.join(n).to_str().unwrap().to_owned();
    let prov = ok(
        d,
        &[
            "provision",
            "--alg",
            "aes128",
            "--import",
            &p("aes.key"),
            "--id",
            "Enc",
            "--name",
            "Enc key",
            "--app-usage",
            "encryption",
            "--export",
            "pin",
            "--delete",
            "puk",
            "--pin",
            "env:T_PIN",
            "--puk",
            "env:T_PUK",
            "--retries",
            "5",
            "--pin-min",
            "4",
            "--pin-max",
            "6",
            "--grouping",
            "shared",
            "--patterns",
            "sequence,repeated",
            "--extension",
            &format!("urn:x:note={}", p("note.txt")),
            "--property",
            "urn:x:props:Counter=0;rw",
            "--property",
            "urn:x:props:Owner=alice",
        ],
    );
    let handle = prov["keys"][0]["handle"].to_string();
    let keys = ok(d, &["keys"]);
    let k = &keys["keys"][0];
    assert_eq!(k["friendly_name"], "Enc key");
    assert_eq!(k["app_usage"], "encryption");
    assert_eq!(k["symmetric_key_length"], 16);
    assert_eq!(k["export"], "PIN");
    assert_eq!(k["delete"], "PUK");
    assert_eq!(k["imported"], true);
    assert_eq!(k["pin"]["retry_limit"], 5);
    assert_eq!(k["pin"]["min_length"], 4);
    assert_eq!(k["pin"]["max_length"], 6);
    assert_eq!(k["pin"]["grouping"], "shared");
    assert_eq!(k["pin"]["pattern_restrictions"], 0x0c);
    assert_eq!(k["puk"]["format"], "numeric");
    let exts = k["extensions"].as_array().unwrap();
    assert!(exts
        .iter()
        .any(|e| e["type"] == "urn:x:note" && e["length"] == 6));
    let bag = exts
        .iter()
        .find(|e| e["type"] == "urn:x:props")
        .expect("bag");
    assert_eq!(bag["properties"][0]["name"], "Counter");
    assert_eq!(bag["properties"][0]["writable"], true);
    assert_eq!(bag["properties"][1]["value"], "alice");

    // The imported key encrypts as openssl does with the same key.
    let block = "000102030405060708090a0b0c0d0e0f";
    let j = ok(
        d,
        &[
            "encrypt",
            "--key",
            &handle,
            "--alg",
            "aes.ecb.nopad",
            "--hex",
            block,
            "--pin",
            "env:T_PIN",
        ],
    );
    std::fs::write(d.join("block"), hex::decode(block).unwrap()).unwrap();
    let theirs = openssl(&[
        "enc",
        "-aes-128-ecb",
        "-nopad",
        "-K",
        key_hex,
        "-in",
        &p("block"),
    ]);
    assert_eq!(j["ciphertext"], hex::encode(theirs));
    // Export with the PIN gives the imported key back.
    let e = ok(d, &["export", "--key", &handle, "--auth", "env:T_PIN"]);
    assert_eq!(e["value"], key_hex);

    // Usage errors exit 2 before anything is sent.
    for bad in [
        vec!["provision", "--alg", "p256,exp=3"],
        vec!["provision", "--alg", "p256", "--id", "a", "--id", "b"],
        vec!["provision", "--alg", "p256", "--export", "sometimes"],
        vec!["provision", "--alg", "aes128", "--import", &p("note.txt")],
    ] {
        let out = sks(d, &bad);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{bad:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn json_profile_imports_pkcs1_and_sec1_keys() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = |n: &str| d.join(n).to_str().unwrap().to_owned();
    openssl(&["genrsa", "-traditional", "-out", &p("rsa.pem"), "2048"]);
    openssl(&[
        "ecparam",
        "-name",
        "secp384r1",
        "-genkey",
        "-noout",
        "-out",
        &p("ec.pem"),
    ]);
    std::fs::write(
        d.join("profile.json"),
        r#"{ "key": [
            { "id": "R", "import": "rsa.pem", "endorse": ["rsa-sha256"] },
            { "id": "E", "import": "ec.pem" } ] }"#,
    )
    .unwrap();
    let prov = ok(d, &["provision", "--profile", &p("profile.json")]);
    std::fs::write(d.join("m"), b"imported keys sign").unwrap();
    for (i, (src, alg, md)) in [
        ("rsa.pem", "rsa-sha256", "-sha256"),
        ("ec.pem", "ecdsa-sha384", "-sha384"),
    ]
    .iter()
    .enumerate()
    {
        let h = prov["keys"][i]["handle"].to_string();
        ok(
            d,
            &[
                "sign",
                "--key",
                &h,
                "--alg",
                alg,
                "--in",
                &p("m"),
                "--out",
                &p("sig"),
            ],
        );
        // Verified with the public key of the original file: the card holds that key.
        let pubkey = openssl(&["pkey", "-in", &p(src), "-pubout"]);
        std::fs::write(d.join("pub.pem"), pubkey).unwrap();
        let v = openssl(&[
            "dgst",
            md,
            "-verify",
            &p("pub.pem"),
            "-signature",
            &p("sig"),
            &p("m"),
        ]);
        assert!(String::from_utf8_lossy(&v).contains("Verified OK"));
    }
    let keys = ok(d, &["keys"]);
    assert_eq!(keys["keys"][0]["algorithms"].as_array().unwrap().len(), 1);
    assert_eq!(keys["keys"][1]["key"], "EC P-384");
    // A profile with an unknown field is a usage error.
    std::fs::write(
        d.join("bad.toml"),
        "[[key]]\nid = \"x\"\nalg = \"p256\"\ncolour = \"red\"\n",
    )
    .unwrap();
    assert_eq!(
        sks(d, &["provision", "--profile", &p("bad.toml")])
            .status
            .code(),
        Some(2)
    );
}
