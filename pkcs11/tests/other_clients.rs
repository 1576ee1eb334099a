//! Clients besides pkcs11-tool, over the real PC/SC stack: OpenSSL through
//! libengine-pkcs11-openssl, `ssh-keygen -D`, ssh-agent (`ssh-add -s`, `ssh-keygen -Y sign`), GnuTLS's `p11tool`, and python-pkcs11. Results are
//! checked by plain openssl, ssh-keygen on the exported key, GnuTLS itself (--test-sign
//! verifies with the public key) and Python `cryptography`.

mod common;

use common::{export_public, module, openssl_verify, Fixture, PIN};

#[test]
fn openssl_engine_signs_with_a_pkcs11_uri() {
    let f = Fixture::new("engine");
    std::fs::write(
        f.path("data"),
        b"signed by openssl through the pkcs11 engine\n",
    )
    .unwrap();
    for label in ["ec-key", "rsa-key"] {
        let pem = export_public(&f, label);
        let uri = format!("pkcs11:object={label};type=private;pin-value={PIN}");
        let sig = format!("{label}.sig");
        let mut cmd = f.openssl(&[
            "dgst", "-sha256", "-engine", "pkcs11", "-keyform", "engine", "-sign", &uri, "-out",
            &sig, "data",
        ]);
        cmd.env("PKCS11_MODULE_PATH", module());
        f.ok(&mut cmd);
        let v = openssl_verify(&f, "-sha256", &pem, &sig, "data");
        assert!(v.contains("Verified OK"), "{label}: {v}");
    }
}

#[test]
fn ssh_keygen_lists_the_public_keys() {
    let f = Fixture::new("ssh");
    let listed = f.ok(f.command("ssh-keygen").arg("-D").arg(module()));
    for label in ["ec-key", "rsa-key"] {
        let pem = export_public(&f, label);
        let expected = f.ok(f
            .command("ssh-keygen")
            .args(["-i", "-m", "PKCS8", "-f", &pem]));
        let blob = expected.split_whitespace().nth(1).expect("key blob");
        assert!(
            listed.contains(blob),
            "{label} missing from ssh-keygen -D:\n{listed}"
        );
    }
    assert!(
        listed.contains("ecdsa-sha2-nistp256") && listed.contains("ssh-rsa"),
        "{listed}"
    );
}

/// Kills the ssh-agent this test started when the test ends (also on panic).
struct Agent(std::process::Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn ssh_agent_signs_and_ssh_keygen_verifies() {
    let f = Fixture::new("sshsig");
    let listed = f.ok(f.command("ssh-keygen").arg("-D").arg(module()));
    let ec_line = listed
        .lines()
        .find(|l| l.starts_with("ecdsa-sha2-nistp256 "))
        .expect("an ECDSA key in ssh-keygen -D");
    let key: Vec<&str> = ec_line.split_whitespace().take(2).collect();
    std::fs::write(f.path("key.pub"), format!("{} {}\n", key[0], key[1])).unwrap();
    std::fs::write(
        f.path("allowed_signers"),
        format!("tester {} {}\n", key[0], key[1]),
    )
    .unwrap();
    std::fs::write(
        f.path("data"),
        b"signed by ssh-agent through the SKS module\n",
    )
    .unwrap();
    let askpass = f.path("askpass.sh");
    std::fs::write(&askpass, format!("#!/bin/sh\necho {PIN}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o755)).unwrap();

    let sock = f.path("agent.sock");
    let module = module();
    let allow = format!("{}*", module.parent().expect("dir").display());
    let agent = Agent(
        f.command("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .arg("-P")
            .arg(&allow)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("ssh-agent (openssh-client)"),
    );
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let agent_env = |c: &mut std::process::Command| {
        c.env("SSH_AUTH_SOCK", &sock)
            .env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0");
    };
    let mut add = f.command("ssh-add");
    add.arg("-s")
        .arg(&module)
        .stdin(std::process::Stdio::null());
    agent_env(&mut add);
    f.ok(&mut add);
    let mut sign = f.command("ssh-keygen");
    sign.args(["-Y", "sign", "-f", "key.pub", "-n", "file", "data"]);
    agent_env(&mut sign);
    f.ok(&mut sign);
    // Verified by ssh-keygen alone, against the public key listed from the token.
    let data = std::fs::File::open(f.path("data")).unwrap();
    let out = f.ok(f
        .command("ssh-keygen")
        .args([
            "-Y",
            "verify",
            "-f",
            "allowed_signers",
            "-I",
            "tester",
            "-n",
            "file",
        ])
        .args(["-s", "data.sig"])
        .stdin(data));
    assert!(out.contains("Good \"file\" signature for tester"), "{out}");
    drop(agent);
}

#[test]
fn p11tool_lists_and_test_signs() {
    let f = Fixture::new("p11tool");
    let provider = module();
    let provider = provider.to_str().expect("utf-8 path");
    let tokens = f.ok(f
        .command("p11tool")
        .args(["--provider", provider, "--list-tokens"]));
    assert!(tokens.contains("SKS "), "{tokens}");
    let certs =
        f.ok(f
            .command("p11tool")
            .args(["--provider", provider, "--list-all-certs", "pkcs11:"]));
    assert!(
        certs.contains("ec-key") && certs.contains("rsa-key"),
        "{certs}"
    );
    for label in ["ec-key", "rsa-key"] {
        let uri = format!("pkcs11:object={label};type=private");
        let out = f.run(f.command("p11tool").args([
            "--provider",
            provider,
            "--login",
            "--set-pin",
            PIN,
            "--test-sign",
            &uri,
        ]));
        // p11tool reports on stderr: it signs, then verifies with the token's public key.
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{label}: {text}");
        assert!(
            text.contains("Verifying against public key in the token... ok"),
            "{label}: {text}"
        );
    }
}

#[test]
fn python_pkcs11_signs_decrypts_and_derives() {
    let f = Fixture::new("python");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/client.py");
    let out = f.ok(f
        .command("/usr/bin/python3")
        .arg(script)
        .arg(module())
        .arg(PIN));
    let json = out.trim();
    for expected in [
        r#""wrong_pin": "CKR_PIN_INCORRECT""#,
        r#""ecdsa_sha256": "verified""#,
        r#""sha256_rsa_pkcs": "verified""#,
        r#""rsa_oaep_sha256": "decrypted""#,
        r#""ecdh": "matches""#,
    ] {
        assert!(json.contains(expected), "missing {expected} in {json}");
    }
    assert!(!json.contains(r#""bad_mechanism": "accepted""#), "{json}");
}
