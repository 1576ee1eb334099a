//! `sks provision`: a demo credential from the local issuer emulation (sks-issuer).

use super::{line, Card};
use crate::algs;
use crate::cert::CertInfo;
use crate::fail::Fail;
use crate::ProvisionArgs;
use sks_issuer::{alg, Issuer, Key, Kmk, PinPolicy, Property};
use std::fmt::Write as _;

/// Byte classes of a PIN or PUK value: the least permissive SKS format that accepts it
/// (0 numeric, 1 alphanumeric, 2 string).
fn format_of(value: &str) -> u8 {
    let b = value.as_bytes();
    if b.iter().all(u8::is_ascii_digit) {
        0
    } else if b
        .iter()
        .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    {
        1
    } else {
        2
    }
}

fn format_name(f: u8) -> &'static str {
    match f {
        0 => "numeric",
        1 => "alphanumeric",
        _ => "string",
    }
}

fn sorted(list: &[&'static str]) -> Vec<&'static str> {
    let mut v = list.to_vec();
    v.sort_unstable();
    v
}

pub fn run(sks: &mut Card, a: &ProvisionArgs) -> Result<(), Fail> {
    if a.pin.is_empty() || a.pin.len() > 128 {
        return Err(Fail::msg("--pin must be 1-128 bytes"));
    }
    if a.puk.is_empty() || a.puk.len() > 128 {
        return Err(Fail::msg("--puk must be 1-128 bytes"));
    }
    let puk_format = format_of(&a.puk);
    if puk_format > 1 {
        return Err(Fail::msg(
            "--puk must be digits, or digits and upper-case letters",
        ));
    }
    let pin_format = format_of(&a.pin);
    let pin_len = a.pin.len() as u16;

    let issuer = Issuer::new()?;
    // The KMK makes the keys manageable by post-operations in principle; sks has no post-ops
    // commands, so it is not kept.
    let kmk = Kmk::generate_p256();
    let mut o = String::new();

    let mut s = issuer
        .session(sks)
        .privacy(a.privacy)
        .kmk(&kmk)
        .key_limit(200)
        .open()?;
    let handle = s.provisioning_handle();
    let _ = writeln!(
        o,
        "Provisioning session {handle} ({} mode, issuer {})",
        if a.privacy {
            "privacy-enabled"
        } else {
            "end-to-end (E2ES)"
        },
        issuer.issuer_uri()
    );
    line(
        &mut o,
        "session attestation",
        if a.privacy {
            "verified (HMAC with the session key)"
        } else {
            "verified (signature of the device key)"
        },
    );
    line(
        &mut o,
        "client session id",
        s.state().client_session_id.clone(),
    );
    line(
        &mut o,
        "server session id",
        s.state().server_session_id.clone(),
    );

    let puk = s.puk("PUK.1", a.puk.as_bytes(), puk_format, 3)?;
    line(
        &mut o,
        "PUK policy",
        format!(
            "{} (handle {}), {}, retry limit 3",
            puk.id,
            puk.handle,
            format_name(puk_format)
        ),
    );
    let policy = PinPolicy {
        format: pin_format,
        retry_limit: a.retries,
        min_length: pin_len.min(4),
        max_length: pin_len.max(8),
        ..PinPolicy::default()
    };
    let pin = s.pin_policy("PIN.1", Some(&puk), policy.clone())?;
    line(
        &mut o,
        "PIN policy",
        format!(
            "{} (handle {}), {}, {}-{} bytes, retry limit {}, user-defined, user-modifiable",
            pin.id,
            pin.handle,
            format_name(policy.format),
            policy.min_length,
            policy.max_length,
            policy.retry_limit
        ),
    );

    let export = if a.exportable { 1 } else { 3 };
    let mut created: Vec<(Key, String, Vec<&str>)> = Vec::new();

    // The P-256 signing key (also usable for ECDH).
    let ec_algs = sorted(&[
        alg::ECDSA_SHA256,
        alg::ECDSA_SHA384,
        alg::ECDSA_SHA512,
        alg::ECDSA_NONE,
        alg::ECDH_RAW,
    ]);
    let ec = s
        .key("Sign.P256")
        .pin("PIN.1", a.pin.as_bytes())
        .algorithm(alg::EC_P256)
        .endorse(&ec_algs)
        .friendly_name("Demo P-256 signing key")
        .app_usage(0)
        .export_protection(export)
        .delete_protection(1)
        .create()?;
    let ec = s.certify(&ec)?;
    s.extension(
        &ec,
        "urn:sks-cli:demo:note",
        b"Provisioned by sks provision (demo issuer)",
    )?;
    s.property_bag(
        &ec,
        "urn:sks-cli:demo:properties",
        &[
            Property::new("Counter", "0", true),
            Property::new("Issuer", "sks-cli demo", false),
        ],
    )?;
    created.push((ec, "EC P-256".into(), ec_algs));

    if a.rsa {
        let rsa_algs = sorted(&[
            alg::RSA_SHA256,
            alg::RSA_SHA384,
            alg::RSA_SHA512,
            alg::RSA_PKCS1_NONE,
            alg::RSA_OAEP_SHA256,
            alg::RSA_OAEP_SHA1,
            alg::RSA_ES_PKCS1_5,
        ]);
        let rsa = s
            .key("Key.RSA2048")
            .pin("PIN.1", a.pin.as_bytes())
            .algorithm(alg::RSA2048)
            .endorse(&rsa_algs)
            .friendly_name("Demo RSA-2048 key")
            .app_usage(3)
            .export_protection(export)
            .delete_protection(2)
            .create()?;
        let rsa = s.certify(&rsa)?;
        created.push((rsa, "RSA-2048".into(), rsa_algs));
    }

    let mut hmac_secret = None;
    if a.hmac {
        let hmac_algs = sorted(&[alg::HMAC_SHA256, alg::HMAC_SHA512]);
        let k = s
            .key("Key.HMAC")
            .pin("PIN.1", a.pin.as_bytes())
            .endorse(&hmac_algs)
            .friendly_name("Demo HMAC key")
            .app_usage(1)
            .export_protection(export)
            .delete_protection(1)
            .create()?;
        let k = s.certify(&k)?;
        let secret = sks_issuer::crypto::random_bytes(32);
        s.import_symmetric(&k, &secret)?;
        hmac_secret = Some(secret);
        created.push((k, "symmetric, 32 bytes (imported)".into(), hmac_algs));
    }

    let closed = s.close()?;
    for (key, kind, endorsed) in &created {
        let _ = writeln!(o, "Key {}", key.handle);
        line(&mut o, "id", &key.id);
        line(&mut o, "key", kind);
        line(
            &mut o,
            "algorithms",
            endorsed
                .iter()
                .map(|u| algs::display_name(u))
                .collect::<Vec<_>>()
                .join(", "),
        );
        line(&mut o, "key attestation", "verified");
        if let Some(ee) = key.ee_certificate() {
            match CertInfo::parse(ee) {
                Ok(ci) => {
                    line(&mut o, "certificate", &ci.subject);
                    line(&mut o, "  issuer", &ci.issuer);
                    line(&mut o, "  SHA-256", &ci.sha256);
                }
                Err(e) => line(&mut o, "certificate", e),
            }
        }
        if key.id == "Sign.P256" {
            line(
                &mut o,
                "extensions",
                "urn:sks-cli:demo:note, urn:sks-cli:demo:properties (property bag)",
            );
        }
        if key.id == "Key.HMAC" {
            if let Some(secret) = &hmac_secret {
                line(&mut o, "secret (demo!)", hex::encode(secret));
            }
        }
    }
    let _ = writeln!(
        o,
        "Session {} closed: close attestation verified, {} session key operations",
        closed.provisioning_handle, closed.session_key_uses
    );
    let _ = writeln!(
        o,
        "PIN {:?}, PUK {:?}; export {}; delete with the PIN{}",
        a.pin,
        a.puk,
        if a.exportable {
            "with the PIN"
        } else {
            "forbidden"
        },
        if a.rsa {
            " (RSA key: with the PUK)"
        } else {
            ""
        }
    );
    print!("{o}");
    Ok(())
}
