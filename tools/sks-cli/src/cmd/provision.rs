//! `sks provision`: one provisioning session from a profile (file or flags), run by the local
//! issuer emulation (sks-issuer), every attestation verified.

use super::{line, Card, Opts};
use crate::algs;
use crate::cert::CertInfo;
use crate::fail::Fail;
use crate::out::Out;
use crate::profile::{self, KeyAlg, KeyKind, KeyProfile, PinSpec, Profile, PropertySpec, PukSpec};
use crate::secret::{Secret, SecretSource};
use crate::ProvisionArgs;
use apdu_spec::values::{AppUsage, DeleteProtection, ExportProtection, InputMethod, PinFormat};
use serde_json::{json, Value};
use sks_issuer::{Issuer, Kmk, PinPolicy};
use std::fmt::Write as _;
use zeroize::Zeroizing;

mod import;

/// The least permissive SKS format that accepts a PIN or PUK value.
fn format_of(value: &[u8]) -> PinFormat {
    if value.iter().all(u8::is_ascii_digit) {
        PinFormat::Numeric
    } else if value
        .iter()
        .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    {
        PinFormat::Alphanumeric
    } else {
        PinFormat::String
    }
}

fn secret_or(src: &Option<SecretSource>, default: &str, what: &str) -> Result<Secret, Fail> {
    match src {
        Some(s) => s.read(what),
        None => Ok(Secret::new(default.as_bytes().to_vec())),
    }
}

/// The profile the flags describe.
fn from_flags(a: &ProvisionArgs) -> Result<Profile, Fail> {
    let mut p = Profile {
        privacy: a.privacy,
        ..Profile::default()
    };
    let pin = if a.no_pin {
        None
    } else {
        let puk = secret_or(&a.puk, "12345678", "PUK")?;
        let pin = secret_or(&a.pin, "1234", "PIN")?;
        if format_of(puk.bytes()) == PinFormat::String {
            return Err(Fail::usage(
                "the PUK must be digits, or digits and upper-case letters",
            ));
        }
        let len = u16::try_from(pin.bytes().len()).unwrap_or(u16::MAX);
        p.puk.push(PukSpec {
            id: "PUK.1".into(),
            format: format_of(puk.bytes()).to_string(),
            value: SecretSource::Literal(Zeroizing::new(
                String::from_utf8_lossy(puk.bytes()).into_owned(),
            )),
            retry_limit: 3,
        });
        p.pin.push(PinSpec {
            id: "PIN.1".into(),
            puk: Some("PUK.1".into()),
            format: a
                .pin_format
                .clone()
                .unwrap_or_else(|| format_of(pin.bytes()).to_string()),
            min_length: a.pin_min.unwrap_or(len.min(4)),
            max_length: a.pin_max.unwrap_or(len.max(8)),
            retry_limit: a.retries,
            grouping: a.grouping.clone(),
            patterns: a.patterns.clone(),
            user_defined: true,
            user_modifiable: true,
            input_method: InputMethod::Any.to_string(),
        });
        Some(String::from_utf8_lossy(pin.bytes()).into_owned())
    };
    let export = if a.exportable {
        ExportProtection::Pin.to_string()
    } else {
        a.export.clone()
    };
    let key = |id: &str, alg: &str, name: &str| KeyProfile {
        id: id.into(),
        alg: Some(alg.into()),
        pin: pin.as_ref().map(|_| "PIN.1".into()),
        pin_value: pin
            .as_ref()
            .map(|v| SecretSource::Literal(Zeroizing::new(v.clone()))),
        friendly_name: name.into(),
        app_usage: a.app_usage.clone(),
        export: export.clone(),
        delete: a.delete.clone(),
        endorse: None,
        import: None,
        extension: Vec::new(),
        property_bag: Vec::new(),
        show_secret: false,
    };
    if a.alg.is_empty() {
        // The demo credential.
        let mut k = key("Sign.P256", "p256", "Demo P-256 signing key");
        k.app_usage = AppUsage::Signature.to_string();
        k.extension.push(profile::ExtensionSpec {
            type_uri: "urn:sks-cli:demo:note".into(),
            data: Some("Provisioned by sks provision (demo issuer)".into()),
            file: None,
        });
        k.property_bag.push(profile::PropertyBagSpec {
            type_uri: "urn:sks-cli:demo:properties".into(),
            properties: vec![
                PropertySpec {
                    name: "Counter".into(),
                    value: "0".into(),
                    writable: true,
                },
                PropertySpec {
                    name: "Issuer".into(),
                    value: "sks-cli demo".into(),
                    writable: false,
                },
            ],
        });
        p.keys.push(k);
        if a.rsa {
            let mut k = key("Key.RSA2048", "rsa2048", "Demo RSA-2048 key");
            k.delete = DeleteProtection::Puk.to_string();
            p.keys.push(k);
        }
        if a.hmac {
            let mut k = key("Key.HMAC", "hmac", "Demo HMAC key");
            k.endorse = Some(vec!["hmac-sha256".into(), "hmac-sha512".into()]);
            k.app_usage = AppUsage::Authentication.to_string();
            k.show_secret = true;
            p.keys.push(k);
        }
        return Ok(p);
    }
    for list in [
        ("--id", a.id.len()),
        ("--name", a.name.len()),
        ("--import", a.import.len()),
    ] {
        if list.1 != 0 && list.1 != a.alg.len() {
            return Err(Fail::usage(format!(
                "{} is given {} times for {} --alg keys",
                list.0,
                list.1,
                a.alg.len()
            )));
        }
    }
    let mut bags: Vec<profile::PropertyBagSpec> = Vec::new();
    for prop in &a.property {
        let (type_uri, rest) = prop
            .rsplit_once(':')
            .filter(|(t, r)| !t.is_empty() && r.contains('='))
            .ok_or_else(|| Fail::usage(format!("--property {prop:?}: TYPE_URI:NAME=VALUE[;rw]")))?;
        let (rest, writable) = match rest.strip_suffix(";rw") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let (name, value) = rest.split_once('=').unwrap_or((rest, ""));
        let ps = PropertySpec {
            name: name.into(),
            value: value.into(),
            writable,
        };
        match bags.iter_mut().find(|b| b.type_uri == type_uri) {
            Some(b) => b.properties.push(ps),
            None => bags.push(profile::PropertyBagSpec {
                type_uri: type_uri.into(),
                properties: vec![ps],
            }),
        }
    }
    for (i, alg) in a.alg.iter().enumerate() {
        let id = a.id.get(i).cloned().unwrap_or_else(|| {
            let base = alg.split(',').next().unwrap_or(alg).to_ascii_uppercase();
            if a.alg.len() == 1 {
                format!("Key.{base}")
            } else {
                format!("Key.{}.{base}", i + 1)
            }
        });
        let mut k = key(&id, alg, a.name.get(i).map(String::as_str).unwrap_or(""));
        if !a.endorse.is_empty() {
            k.endorse = Some(a.endorse.clone());
        }
        k.import = a.import.get(i).cloned();
        for x in &a.extension {
            let (t, f) = x
                .split_once('=')
                .ok_or_else(|| Fail::usage(format!("--extension {x:?}: TYPE_URI=FILE")))?;
            k.extension.push(profile::ExtensionSpec {
                type_uri: t.into(),
                data: None,
                file: Some(f.into()),
            });
        }
        k.property_bag = bags
            .iter()
            .map(|b| profile::PropertyBagSpec {
                type_uri: b.type_uri.clone(),
                properties: b.properties.clone(),
            })
            .collect();
        p.keys.push(k);
    }
    Ok(p)
}

pub fn run(sks: &mut Card, a: &ProvisionArgs, opts: &Opts) -> Result<Out, Fail> {
    let profile = match &a.profile {
        Some(path) => Profile::load(path)?,
        None => from_flags(a)?,
    };
    provision(sks, &profile, opts)
}

/// A key spec resolved before the session opens (so usage errors send nothing).
struct Planned<'p> {
    p: &'p KeyProfile,
    alg: KeyAlg,
    endorsed: Vec<String>,
    import: Option<import::Imported>,
    pin_value: Option<Secret>,
    extensions: Vec<(String, Vec<u8>)>,
}

fn plan(k: &KeyProfile) -> Result<Planned<'_>, Fail> {
    let imported = match &k.import {
        Some(path) => Some(import::read(path, k.alg.as_deref())?),
        None => None,
    };
    let alg = match (&k.alg, &imported) {
        (_, Some(import::Imported::Private { alg, .. })) => alg.clone(),
        (Some(s), _) => KeyAlg::parse(s)?,
        (None, _) => return Err(Fail::usage(format!("key {}: give its alg", k.id))),
    };
    if let Some(import::Imported::Symmetric(s)) = &imported {
        match alg.kind {
            KeyKind::Aes(n) if s.len() == n => {}
            KeyKind::Hmac => {}
            _ => {
                return Err(Fail::usage(format!(
                    "key {}: a {}-byte secret does not fit {}",
                    k.id,
                    s.len(),
                    alg.describe()
                )))
            }
        }
    }
    let endorsed = match &k.endorse {
        None => alg
            .default_endorsed()
            .into_iter()
            .map(String::from)
            .collect(),
        Some(list) => {
            let mut v = list
                .iter()
                .map(|n| algs::resolve_any(n).map_err(Fail::Usage))
                .collect::<Result<Vec<_>, _>>()?;
            v.sort();
            v.dedup();
            v
        }
    };
    let pin_value = match &k.pin_value {
        Some(s) => Some(s.read(&format!("PIN of key {}", k.id))?),
        None => None,
    };
    let mut extensions = Vec::new();
    for x in &k.extension {
        let data = match (&x.data, &x.file) {
            (Some(d), None) => d.as_bytes().to_vec(),
            (None, Some(f)) => std::fs::read(f)
                .map_err(|e| Fail::usage(format!("cannot read {}: {e}", f.display())))?,
            _ => {
                return Err(Fail::usage(format!(
                    "extension {}: give data or file",
                    x.type_uri
                )))
            }
        };
        extensions.push((x.type_uri.clone(), data));
    }
    Ok(Planned {
        p: k,
        alg,
        endorsed,
        import: imported,
        pin_value,
        extensions,
    })
}

/// A spinner on stderr while a slow RSA key is generated (only on a terminal).
fn spinner(alg: &KeyAlg, opts: &Opts) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    let slow = matches!(alg.kind, KeyKind::Rsa(b) if b >= 3072);
    if !slow || opts.json || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_message(format!("generating {} on the card", alg.describe()));
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(pb)
}

fn provision(sks: &mut Card, profile: &Profile, opts: &Opts) -> Result<Out, Fail> {
    if profile.keys.is_empty() {
        return Err(Fail::usage("the profile has no key"));
    }
    let planned = profile
        .keys
        .iter()
        .map(plan)
        .collect::<Result<Vec<_>, _>>()?;
    let mut puks = Vec::new();
    for p in &profile.puk {
        puks.push((
            p,
            p.value.read(&format!("PUK {}", p.id))?,
            profile::pin_format(&p.format)?.into(),
        ));
    }
    let mut pins = Vec::new();
    for p in &profile.pin {
        pins.push((
            p,
            PinPolicy {
                user_defined: p.user_defined,
                user_modifiable: p.user_modifiable,
                format: profile::pin_format(&p.format)?.into(),
                retry_limit: p.retry_limit,
                grouping: profile::grouping(&p.grouping)?.into(),
                pattern_restrictions: profile::patterns(&p.patterns)?.into(),
                min_length: p.min_length,
                max_length: p.max_length,
                input_method: profile::input_method(&p.input_method)?.into(),
            },
        ));
    }

    let issuer = Issuer::new()?;
    let kmk = Kmk::generate_p256();
    let mut o = String::new();
    let mut s = issuer
        .session(sks)
        .privacy(profile.privacy)
        .kmk(&kmk)
        .key_limit(200)
        .open()?;
    let handle = s.provisioning_handle();
    let _ = writeln!(
        o,
        "Provisioning session {handle} ({} mode, issuer {})",
        if profile.privacy {
            "privacy-enabled"
        } else {
            "end-to-end (E2ES)"
        },
        issuer.issuer_uri()
    );
    line(
        &mut o,
        "session attestation",
        if profile.privacy {
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

    let mut puk_objs = Vec::new();
    for (p, value, format) in &puks {
        let obj = s.puk(&p.id, value.bytes(), *format, p.retry_limit)?;
        line(
            &mut o,
            "PUK policy",
            format!(
                "{} (handle {}), {}, retry limit {}",
                obj.id, obj.handle, p.format, p.retry_limit
            ),
        );
        puk_objs.push(obj);
    }
    for (p, policy) in &pins {
        let puk = match &p.puk {
            Some(id) => Some(
                puk_objs
                    .iter()
                    .find(|x| &x.id == id)
                    .ok_or_else(|| Fail::usage(format!("PIN {}: no PUK {id}", p.id)))?,
            ),
            None => None,
        };
        let obj = s.pin_policy(&p.id, puk, policy.clone())?;
        line(
            &mut o,
            "PIN policy",
            format!(
                "{} (handle {}), {}, {}-{} bytes, retry limit {}, grouping {}",
                obj.id,
                obj.handle,
                p.format,
                policy.min_length,
                policy.max_length,
                policy.retry_limit,
                p.grouping
            ),
        );
    }

    let mut created = Vec::new();
    for k in &planned {
        let endorsed: Vec<&str> = k.endorsed.iter().map(String::as_str).collect();
        let mut b = s
            .key(&k.p.id)
            .algorithm(k.alg.uri)
            .key_parameters(&k.alg.parameters)
            .endorse(&endorsed)
            .friendly_name(&k.p.friendly_name)
            .app_usage(profile::app_usage(&k.p.app_usage)?.into())
            .export_protection(profile::protection(&k.p.export)?)
            .delete_protection(profile::protection(&k.p.delete)?);
        if let Some(pin_id) = &k.p.pin {
            let v = k.pin_value.as_ref().ok_or_else(|| {
                Fail::usage(format!("key {}: pin_value is needed with pin", k.p.id))
            })?;
            b = b.pin(pin_id, v.bytes());
        }
        let pb = spinner(&k.alg, opts);
        let created_key = b.create();
        if let Some(pb) = pb {
            pb.finish_and_clear();
        }
        let key = created_key?;
        let key = match &k.import {
            Some(import::Imported::Private { pkcs8, spki, .. }) => {
                let path = issuer.ca().certify_path(spki, &k.p.id)?;
                let key = s.set_certificate_path(&key, path)?;
                s.import_private(&key, pkcs8)?;
                key
            }
            Some(import::Imported::Symmetric(secret)) => {
                let key = s.certify(&key)?;
                s.import_symmetric(&key, secret)?;
                key
            }
            None => s.certify(&key)?,
        };
        let mut shown_secret = None;
        if k.import.is_none() {
            if let KeyKind::Aes(n) = k.alg.kind {
                s.import_symmetric(&key, &Zeroizing::new(sks_issuer::crypto::random_bytes(n)))?;
            } else if k.alg.kind == KeyKind::Hmac {
                let secret = Zeroizing::new(sks_issuer::crypto::random_bytes(32));
                s.import_symmetric(&key, &secret)?;
                if k.p.show_secret {
                    shown_secret = Some(hex::encode(&*secret));
                }
            }
        }
        for (t, data) in &k.extensions {
            s.extension(&key, t, data)?;
        }
        for bag in &k.p.property_bag {
            let blob = apdu_spec::property_bag::encode(bag.properties.iter().map(|p| {
                apdu_spec::property_bag::PropertyRef {
                    name: &p.name,
                    writable: p.writable,
                    value: &p.value,
                }
            }))
            .map_err(|e| Fail::usage(format!("property bag {}: {e}", bag.type_uri)))?;
            s.add_extension(&key, &bag.type_uri, 0x02, "", &blob)?;
        }
        created.push((key, k, shown_secret));
    }
    let closed = s.close()?;

    let mut keys_json: Vec<Value> = Vec::new();
    for (key, k, secret) in &created {
        let _ = writeln!(o, "Key {}", key.handle);
        line(&mut o, "id", &key.id);
        let kind = match &k.import {
            Some(_) => format!("{} (imported)", k.alg.describe()),
            None => k.alg.describe(),
        };
        line(&mut o, "key", &kind);
        line(
            &mut o,
            "algorithms",
            k.endorsed
                .iter()
                .map(|u| algs::display_name(u))
                .collect::<Vec<_>>()
                .join(", "),
        );
        line(&mut o, "key attestation", "verified");
        let mut kj = json!({
            "handle": key.handle,
            "id": key.id,
            "key": kind,
            "algorithms": k.endorsed,
            "certificate": Value::Null,
            "extensions": k.extensions.iter().map(|(t, _)| t.as_str())
                .chain(k.p.property_bag.iter().map(|b| b.type_uri.as_str()))
                .collect::<Vec<_>>(),
        });
        if let Some(ee) = key.ee_certificate() {
            match CertInfo::parse(ee) {
                Ok(ci) => {
                    line(&mut o, "certificate", &ci.subject);
                    line(&mut o, "  issuer", &ci.issuer);
                    line(&mut o, "  SHA-256", &ci.sha256);
                    kj["certificate"] = super::cert_json(&ci, key.certificate_path.len());
                }
                Err(e) => line(&mut o, "certificate", e),
            }
        }
        if !k.extensions.is_empty() || !k.p.property_bag.is_empty() {
            let names: Vec<String> = k
                .extensions
                .iter()
                .map(|(t, _)| t.clone())
                .chain(
                    k.p.property_bag
                        .iter()
                        .map(|b| format!("{} (property bag)", b.type_uri)),
                )
                .collect();
            line(&mut o, "extensions", names.join(", "));
        }
        if let Some(secret) = secret {
            line(&mut o, "secret (demo!)", secret);
        }
        keys_json.push(kj);
    }
    let _ = writeln!(
        o,
        "Session {} closed: close attestation verified, {} session key operations",
        closed.provisioning_handle, closed.session_key_uses
    );
    Ok(Out::new(
        o,
        json!({
            "session": closed.provisioning_handle,
            "privacy": profile.privacy,
            "keys": keys_json,
            "session_key_uses": closed.session_key_uses,
        }),
    ))
}
