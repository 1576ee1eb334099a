//! The subcommands. Each returns an [`Out`]: its text and its `--json` document.

use crate::algs;
use crate::cert::{self, CertInfo};
use crate::conn::{self, Conn, Target};
use crate::fail::Fail;
use crate::out::Out;
use crate::secret::{self, Secret, SecretSource};
use crate::{Command, PinCommand, SessionsCommand};
use apdu_spec::methods::*;
use apdu_spec::types::Bytes;
use apdu_spec::values::{
    AppUsage, BiometricProtection, DeviceImplementation, DeviceLocation, DeviceType,
    ExportProtection, ExtensionSubType, Grouping, InputMethod, KeyBackup, KeyBackupFlag, PinFormat,
    ProtectionFlag, ProtectionStatus,
};
use pcsc_bridge::Sks;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::Path;

type Card = Sks<Conn>;

/// Global options that commands look at.
pub struct Opts {
    pub verbose: bool,
    pub json: bool,
}

/// Runs `command` on the card at `target` and prints its output.
pub fn run(command: &Command, target: &Target, opts: &Opts) -> Result<(), Fail> {
    if let (Target::InProcess { store: None }, Command::Provision(_) | Command::Info) =
        (target, command)
    {
    } else if let Target::InProcess { store: None } = target {
        eprintln!(
            "sks: note: the in-process card is in RAM and starts empty; use --store FILE to keep \
             a card between runs"
        );
    }
    let mut sks = conn::connect(target, opts.verbose)?;
    let result = match command {
        Command::Info => info(&mut sks),
        Command::Provision(a) => provision::run(&mut sks, a, opts),
        Command::Keys => keys(&mut sks),
        Command::Cert(a) => cert_cmd(&mut sks, a),
        Command::Sign(a) => ops::sign(&mut sks, a),
        Command::Verify(a) => ops::verify(&mut sks, a),
        Command::Decrypt(a) => ops::crypt(&mut sks, a, false),
        Command::Encrypt(a) => ops::crypt(&mut sks, a, true),
        Command::Agree(a) => ops::agree(&mut sks, a),
        Command::Hmac(a) => ops::hmac(&mut sks, a),
        Command::Pin(p) => pin(&mut sks, p),
        Command::Delete(a) => delete(&mut sks, a),
        Command::Export(a) => export(&mut sks, a),
        Command::Sessions { closed, action } => sessions(&mut sks, *closed, action.as_ref()),
        // The exchange reports its progress and summary itself, as it goes.
        Command::Keygen2(a) => keygen2::run(&mut sks, a)
            .map(|()| Out::new(String::new(), json!({ "completed": true }))),
    };
    conn::disconnect(sks);
    let out = result?;
    out.print(opts.json)
        .map_err(|e| Fail::msg(format!("cannot write to stdout: {e}")))
}

pub mod keygen2;
mod ops;
mod provision;

// ---------------------------------------------------------------------------------------------
// helpers

/// A secret that the card needs (PIN, PUK): given, else asked for on a terminal.
fn needed_secret(source: &Option<SecretSource>, what: &str) -> Result<Secret, Fail> {
    secret::get(source, what, true)?.ok_or_else(|| {
        Fail::usage(format!(
            "the {what} is needed: give it as env:VAR, fd:N, file:PATH or a value"
        ))
    })
}

/// The authorization of a key operation: the PIN when given (or asked for on a terminal when
/// the key is PIN-protected), else empty. Without a PIN for a PIN-protected key the call is
/// refused before anything reaches the key: the card would count it as a wrong PIN.
fn key_pin(sks: &mut Card, key: u32, pin: &Option<SecretSource>) -> Result<Bytes, Fail> {
    if let Some(s) = pin {
        return Ok(Bytes(
            s.read(&format!("PIN of key {key}"))?.bytes().to_vec(),
        ));
    }
    let p = sks.get_key_protection_info(&GetKeyProtectionInfoArgs { key_handle: key })?;
    if ProtectionStatus::from_bits_truncate(p.protection_status)
        .contains(ProtectionFlag::PinProtected)
        && p.biometric_protection != u8::from(BiometricProtection::Exclusive)
    {
        if secret::can_prompt() {
            let v = secret::prompt(&format!("PIN of key {key}"))?;
            return Ok(Bytes(v.bytes().to_vec()));
        }
        return Err(Fail::usage(format!(
            "key {key} is PIN-protected: give its PIN with --pin (env:VAR, fd:N, file:PATH or a \
             value); nothing was sent, no retry used"
        )));
    }
    Ok(Bytes::empty())
}

fn optional_auth(source: &Option<SecretSource>, what: &str) -> Result<Bytes, Fail> {
    Ok(match secret::get(source, what, false)? {
        Some(s) => Bytes(s.bytes().to_vec()),
        None => Bytes::empty(),
    })
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Label column width of the key/value listings.
const W: usize = 22;

fn line(out: &mut String, label: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "  {label:<W$}{value}");
}

fn cert_json(ci: &CertInfo, path_length: usize) -> Value {
    json!({
        "subject": ci.subject,
        "issuer": ci.issuer,
        "serial": ci.serial,
        "not_before": ci.not_before,
        "not_after": ci.not_after,
        "sha256": ci.sha256,
        "key": ci.key,
        "path_length": path_length,
    })
}

// ---------------------------------------------------------------------------------------------
// info

fn info(sks: &mut Card) -> Result<Out, Fail> {
    let d = sks.get_device_info()?;
    let certs: Vec<Value> = d
        .certificates
        .iter()
        .map(|c| match CertInfo::parse(c) {
            Ok(ci) => cert_json(&ci, 1),
            Err(e) => json!({ "error": e }),
        })
        .collect();
    let j = json!({
        "vendor": d.vendor_name.as_str(),
        "description": d.vendor_description.as_str(),
        "api_level": d.api_level,
        "device_type": d.device_type,
        "update_url": d.update_url.as_str(),
        "crypto_data_size": d.crypto_data_size,
        "extension_data_size": d.extension_data_size,
        "device_pin_support": d.device_pin_support,
        "biometric_support": d.biometric_support,
        "certificates": certs,
        "algorithms": d.supported_algorithms.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
    });
    let mut o = String::new();
    let _ = writeln!(o, "SKS device");
    line(&mut o, "vendor", &d.vendor_name);
    line(&mut o, "description", &d.vendor_description);
    line(
        &mut o,
        "API level",
        format!(
            "{} ({}.{:02})",
            d.api_level,
            d.api_level / 100,
            d.api_level % 100
        ),
    );
    let device_type = DeviceType::ignoring_undefined_bits(d.device_type);
    let location = match device_type.location {
        DeviceLocation::External => "external (connected device)",
        DeviceLocation::Embedded => "embedded in the client platform",
        DeviceLocation::Socketed => "socketed",
        DeviceLocation::Sim => "SIM/USIM card",
    };
    let kind = match device_type.implementation {
        DeviceImplementation::Software => "software",
        DeviceImplementation::Hardware => "hardware",
        DeviceImplementation::Hsm => "HSM",
        DeviceImplementation::Cpu => "inside the main CPU",
    };
    line(
        &mut o,
        "device type",
        format!("0x{:02x} ({location}, {kind})", d.device_type),
    );
    line(
        &mut o,
        "update URL",
        if d.update_url.is_empty() {
            "(none)"
        } else {
            d.update_url.as_str()
        },
    );
    line(
        &mut o,
        "crypto data size",
        format!("{} bytes", d.crypto_data_size),
    );
    line(
        &mut o,
        "extension data size",
        format!("{} bytes", d.extension_data_size),
    );
    line(&mut o, "device PIN support", yes_no(d.device_pin_support));
    line(&mut o, "biometric support", yes_no(d.biometric_support));
    let _ = writeln!(
        o,
        "Device certificate path ({} certificate{})",
        d.certificates.len(),
        if d.certificates.len() == 1 { "" } else { "s" }
    );
    for (i, c) in d.certificates.iter().enumerate() {
        let label = if i == 0 {
            "device certificate".to_string()
        } else {
            format!("certificate {}", i + 1)
        };
        let _ = writeln!(o, "  [{label}]");
        match CertInfo::parse(c) {
            Ok(ci) => {
                line(&mut o, "  subject", &ci.subject);
                line(&mut o, "  issuer", &ci.issuer);
                line(&mut o, "  serial", &ci.serial);
                line(&mut o, "  key", &ci.key);
                line(
                    &mut o,
                    "  valid",
                    format!("{} to {}", ci.not_before, ci.not_after),
                );
                line(&mut o, "  SHA-256", &ci.sha256);
            }
            Err(e) => line(&mut o, "  (unparsable)", e),
        }
    }
    let _ = writeln!(o, "Supported algorithms ({})", d.supported_algorithms.len());
    for a in &d.supported_algorithms {
        let _ = writeln!(o, "  {a}");
    }
    Ok(Out::new(o, j))
}

// ---------------------------------------------------------------------------------------------
// keys

/// exportProtection / deleteProtection in the CLI's words (PIN, PUK, forbidden).
fn protection(v: u8) -> &'static str {
    match ExportProtection::try_from(v) {
        Ok(ExportProtection::None) => "none",
        Ok(ExportProtection::Pin) => "PIN",
        Ok(ExportProtection::Puk) => "PUK",
        Ok(ExportProtection::NonExportable) => "forbidden",
        Err(_) => "unknown",
    }
}

/// The spec's name of byte `v` as a `T`, or `unknown` when the spec does not define it.
fn name_or<T: TryFrom<u8> + std::fmt::Display>(v: u8, unknown: &str) -> String {
    T::try_from(v).map_or_else(|_| unknown.to_string(), |t| t.to_string())
}

fn app_usage(v: u8) -> String {
    name_or::<AppUsage>(v, "unknown")
}

fn format_name(v: u8) -> String {
    name_or::<PinFormat>(v, "unknown format")
}

fn grouping(v: u8) -> String {
    name_or::<Grouping>(v, "unknown")
}

fn biometric(v: u8) -> String {
    name_or::<BiometricProtection>(v, "unknown")
}

fn input_method(v: u8) -> String {
    name_or::<InputMethod>(v, "unknown")
}

fn key_handles(sks: &mut Card) -> Result<Vec<(u32, u32)>, Fail> {
    let mut out = Vec::new();
    let mut handle = 0;
    loop {
        let r = sks.enumerate_keys(&EnumerateKeysArgs { key_handle: handle })?;
        match r.key {
            None => break,
            Some((h, session)) => {
                out.push((h.get(), session));
                handle = h.get();
            }
        }
        if out.len() > 100_000 {
            return Err(Fail::msg("enumerateKeys does not end"));
        }
    }
    Ok(out)
}

fn keys(sks: &mut Card) -> Result<Out, Fail> {
    let handles = key_handles(sks)?;
    if handles.is_empty() {
        return Ok(Out::new(
            "No keys on the card.\n".into(),
            json!({ "keys": [] }),
        ));
    }
    let mut o = String::new();
    let mut list = Vec::new();
    for (i, (h, session)) in handles.iter().enumerate() {
        if i > 0 {
            o.push('\n');
        }
        let a = sks.get_key_attributes(&GetKeyAttributesArgs { key_handle: *h })?;
        let p = sks.get_key_protection_info(&GetKeyProtectionInfoArgs { key_handle: *h })?;
        let status = ProtectionStatus::from_bits_truncate(p.protection_status);
        let backup = KeyBackup::from_bits_truncate(p.key_backup);
        let _ = writeln!(o, "Key {h} (provisioning session {session})");
        line(
            &mut o,
            "friendly name",
            if a.friendly_name.is_empty() {
                "(none)"
            } else {
                a.friendly_name.as_str()
            },
        );
        let ee = a.certificates.first().map(|c| CertInfo::parse(c));
        let mut kj = json!({
            "handle": h,
            "session": session,
            "friendly_name": a.friendly_name.as_str(),
            "symmetric_key_length": a.symmetric_key_length,
            "app_usage": app_usage(a.app_usage),
            "certificate": match &ee {
                Some(Ok(ci)) => cert_json(ci, a.certificates.len()),
                _ => Value::Null,
            },
            "algorithms": a.endorsed_algorithms.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
            "pin": Value::Null,
            "puk": Value::Null,
            "device_pin": status.contains(ProtectionFlag::DevicePin),
            "biometric": biometric(p.biometric_protection),
            "export": protection(p.export_protection),
            "delete": protection(p.delete_protection),
            "imported": backup.contains(KeyBackupFlag::Imported),
            "exported": backup.contains(KeyBackupFlag::Exported),
            "extensions": [],
        });
        let kind = if a.symmetric_key_length > 0 {
            format!("symmetric, {} bytes", a.symmetric_key_length)
        } else {
            match &ee {
                Some(Ok(ci)) => ci.key.clone(),
                _ => "asymmetric".into(),
            }
        };
        line(&mut o, "key", &kind);
        kj["key"] = json!(kind);
        line(
            &mut o,
            "app usage",
            format!("{} (0x{:02x})", app_usage(a.app_usage), a.app_usage),
        );
        match ee {
            Some(Ok(ci)) => {
                line(&mut o, "certificate", &ci.subject);
                line(&mut o, "  issuer", &ci.issuer);
                line(&mut o, "  serial", &ci.serial);
                line(&mut o, "  SHA-256", &ci.sha256);
                line(&mut o, "  path length", a.certificates.len());
            }
            Some(Err(e)) => line(&mut o, "certificate", e),
            None => line(&mut o, "certificate", "(none)"),
        }
        let endorsed = if a.endorsed_algorithms.is_empty() {
            "(any)".to_string()
        } else {
            a.endorsed_algorithms
                .iter()
                .map(|u| algs::display_name(u))
                .collect::<Vec<_>>()
                .join(", ")
        };
        line(&mut o, "algorithms", endorsed);

        // PIN and PUK.
        if status.contains(ProtectionFlag::DevicePin) {
            line(&mut o, "PIN", "device PIN");
        } else if status.contains(ProtectionFlag::PinProtected) {
            let blocked = status.contains(ProtectionFlag::PinBlocked);
            let state = if blocked { "BLOCKED" } else { "ok" };
            kj["pin"] = json!({
                "blocked": blocked,
                "error_count": p.pin_error_count,
                "retry_limit": p.retry_limit,
                "format": format_name(p.format),
                "min_length": p.min_length,
                "max_length": p.max_length,
                "user_defined": p.user_defined,
                "user_modifiable": p.user_modifiable,
                "grouping": grouping(p.grouping),
                "pattern_restrictions": p.pattern_restrictions,
                "input_method": input_method(p.input_method),
                "caching": p.enable_pin_caching,
            });
            line(
                &mut o,
                "PIN",
                format!("{state}, errors {}/{}", p.pin_error_count, p.retry_limit),
            );
            line(
                &mut o,
                "  policy",
                format!(
                    "{}, {}-{} bytes, {}, {}, grouping {}, patterns 0x{:02x}, input {}{}",
                    format_name(p.format),
                    p.min_length,
                    p.max_length,
                    if p.user_defined {
                        "user-defined"
                    } else {
                        "issuer-set"
                    },
                    if p.user_modifiable {
                        "user-modifiable"
                    } else {
                        "not user-modifiable"
                    },
                    grouping(p.grouping),
                    p.pattern_restrictions,
                    input_method(p.input_method),
                    if p.enable_pin_caching {
                        ", caching"
                    } else {
                        ""
                    },
                ),
            );
        } else {
            line(&mut o, "PIN", "none");
        }
        if status.contains(ProtectionFlag::PukProtected) {
            let blocked = status.contains(ProtectionFlag::PukBlocked);
            let state = if blocked { "BLOCKED" } else { "ok" };
            kj["puk"] = json!({
                "blocked": blocked,
                "error_count": p.puk_error_count,
                "retry_limit": p.puk_retry_limit,
                "format": format_name(p.puk_format),
            });
            let limit = if p.puk_retry_limit == 0 {
                "no limit".to_string()
            } else {
                format!("errors {}/{}", p.puk_error_count, p.puk_retry_limit)
            };
            line(
                &mut o,
                "PUK",
                format!("{state}, {}, {limit}", format_name(p.puk_format)),
            );
        } else if !status.contains(ProtectionFlag::DevicePin)
            && status.contains(ProtectionFlag::PinProtected)
        {
            line(&mut o, "PUK", "none");
        }
        line(&mut o, "biometric", biometric(p.biometric_protection));
        line(&mut o, "export", protection(p.export_protection));
        line(&mut o, "delete", protection(p.delete_protection));
        let mut backups = Vec::new();
        if backup.contains(KeyBackupFlag::Imported) {
            backups.push("imported");
        }
        if backup.contains(KeyBackupFlag::Exported) {
            backups.push("exported");
        }
        line(
            &mut o,
            "key backup",
            if backups.is_empty() {
                "none".to_string()
            } else {
                backups.join(", ")
            },
        );
        if a.types.is_empty() {
            line(&mut o, "extensions", "(none)");
        } else {
            for (i, t) in a.types.iter().enumerate() {
                let detail = match sks.get_extension(&GetExtensionArgs {
                    key_handle: *h,
                    r#type: t.clone(),
                }) {
                    Ok(x) => {
                        kj["extensions"]
                            .as_array_mut()
                            .expect("array")
                            .push(extension_json(t.as_str(), &x));
                        extension_summary(&x)
                    }
                    Err(e) => format!("({})", Fail::from(e)),
                };
                line(
                    &mut o,
                    if i == 0 { "extensions" } else { "" },
                    format!("{t}  {detail}"),
                );
            }
        }
        list.push(kj);
    }
    Ok(Out::new(o, json!({ "keys": list })))
}

fn sub_type_name(v: u8) -> &'static str {
    match ExtensionSubType::try_from(v) {
        Ok(ExtensionSubType::Extension) => "extension",
        Ok(ExtensionSubType::EncryptedExtension) => "encrypted extension",
        Ok(ExtensionSubType::PropertyBag) => "property bag",
        Ok(ExtensionSubType::Logotype) => "logotype",
        Err(_) => "unknown subType",
    }
}

fn is_property_bag(x: &GetExtensionOutput) -> bool {
    x.sub_type == u8::from(ExtensionSubType::PropertyBag)
}

fn extension_json(type_uri: &str, x: &GetExtensionOutput) -> Value {
    let mut j = json!({
        "type": type_uri,
        "sub_type": sub_type_name(x.sub_type),
        "qualifier": x.qualifier.as_str(),
        "length": x.extension_data.len(),
    });
    if is_property_bag(x) {
        if let Some(props) = parse_property_bag(&x.extension_data) {
            j["properties"] = props
                .iter()
                .map(|(n, v, w)| json!({ "name": n, "value": v, "writable": w }))
                .collect();
        }
    }
    j
}

fn extension_summary(x: &GetExtensionOutput) -> String {
    let kind = sub_type_name(x.sub_type);
    let mut s = format!("[{kind}, {} bytes", x.extension_data.len());
    if !x.qualifier.is_empty() {
        let _ = write!(s, ", {}", x.qualifier);
    }
    if is_property_bag(x) {
        if let Some(props) = parse_property_bag(&x.extension_data) {
            let shown: Vec<String> = props
                .iter()
                .map(|(n, v, w)| format!("{n}={v:?}{}", if *w { " (writable)" } else { "" }))
                .collect();
            let _ = write!(s, ": {}", shown.join(", "));
        }
    }
    s.push(']');
    s
}

/// A property bag's (name, value, writable) list, with the codec shared with the card.
fn parse_property_bag(b: &[u8]) -> Option<Vec<(String, String, bool)>> {
    apdu_spec::property_bag::parse(b).ok().map(|props| {
        props
            .iter()
            .map(|p| (p.name.to_owned(), p.value.to_owned(), p.writable))
            .collect()
    })
}

// ---------------------------------------------------------------------------------------------
// cert

fn cert_cmd(sks: &mut Card, a: &crate::CertArgs) -> Result<Out, Fail> {
    let attrs = sks.get_key_attributes(&GetKeyAttributesArgs {
        key_handle: a.key.key,
    })?;
    let Some(ee) = attrs.certificates.first() else {
        return Err(Fail::msg(format!("key {} has no certificate", a.key.key)));
    };
    let pems: Vec<String> = attrs.certificates.iter().map(|c| cert::to_pem(c)).collect();
    let j = json!({ "key": a.key.key, "certificates": pems });
    let data: Vec<u8> = if a.der {
        ee.0.clone()
    } else if a.chain {
        pems.concat().into_bytes()
    } else {
        pems[0].clone().into_bytes()
    };
    match &a.out {
        Some(path) => {
            crate::input::write(path, &data)?;
            let text = if path == Path::new("-") {
                String::new()
            } else {
                format!("Wrote {}\n", path.display())
            };
            Ok(Out::new(text, j))
        }
        None if a.der => {
            crate::input::write(Path::new("-"), &data)?;
            Ok(Out::new(String::new(), j))
        }
        None => Ok(Out::new(String::from_utf8_lossy(&data).into_owned(), j)),
    }
}

// ---------------------------------------------------------------------------------------------
// sessions

fn sessions(sks: &mut Card, closed: bool, action: Option<&SessionsCommand>) -> Result<Out, Fail> {
    if let Some(SessionsCommand::Abort { handle }) = action {
        sks.abort_provisioning_session(&AbortProvisioningSessionArgs {
            provisioning_handle: *handle,
        })?;
        return Ok(Out::new(
            format!("Aborted provisioning session {handle}\n"),
            json!({ "aborted": handle }),
        ));
    }
    let list = sks.sessions(!closed)?;
    let state = if closed { "closed" } else { "open" };
    let j: Vec<Value> = list
        .iter()
        .map(|(handle, s)| {
            json!({
                "handle": handle,
                "state": state,
                "server_session_id": s.server_session_id.as_str(),
                "client_session_id": s.client_session_id.as_str(),
                "issuer": s.issuer_uri.as_str(),
                "privacy_enabled": s.privacy_enabled,
                "updatable": !s.key_management_key.is_empty(),
                "client_time": s.client_time,
                "life_time": s.session_life_time,
            })
        })
        .collect();
    let j = json!({ "sessions": j });
    if list.is_empty() {
        return Ok(Out::new(format!("No {state} provisioning sessions.\n"), j));
    }
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
    t.set_header([
        "session",
        "state",
        "issuer",
        "server session id",
        "privacy",
        "updatable",
        "life time",
    ]);
    for (handle, s) in list {
        t.add_row([
            handle.to_string(),
            state.to_string(),
            s.issuer_uri.to_string(),
            s.server_session_id.to_string(),
            yes_no(s.privacy_enabled).to_string(),
            yes_no(!s.key_management_key.is_empty()).to_string(),
            format!("{} s", s.session_life_time),
        ]);
    }
    let o = format!("{t}\n");
    Ok(Out::new(o, j))
}

// ---------------------------------------------------------------------------------------------
// management

fn pin(sks: &mut Card, p: &PinCommand) -> Result<Out, Fail> {
    let (key, text, action) = match p {
        PinCommand::Change { key, old, new } => {
            let old = needed_secret(old, &format!("current PIN of key {}", key.key))?;
            let new = needed_secret(new, &format!("new PIN of key {}", key.key))?;
            sks.change_pin(&ChangePinArgs {
                key_handle: key.key,
                authorization: Bytes(old.bytes().to_vec()),
                new_pin: Bytes(new.bytes().to_vec()),
            })?;
            (
                key.key,
                "PIN of key {} changed (with every key sharing it).",
                "changed",
            )
        }
        PinCommand::Unlock { key, puk } => {
            let puk = needed_secret(puk, &format!("PUK of key {}", key.key))?;
            sks.unlock_key(&UnlockKeyArgs {
                key_handle: key.key,
                authorization: Bytes(puk.bytes().to_vec()),
            })?;
            (
                key.key,
                "Key {} unlocked: PIN error counter reset.",
                "unlocked",
            )
        }
        PinCommand::Set { key, puk, new } => {
            let puk = needed_secret(puk, &format!("PUK of key {}", key.key))?;
            let new = needed_secret(new, &format!("new PIN of key {}", key.key))?;
            sks.set_pin(&SetPinArgs {
                key_handle: key.key,
                authorization: Bytes(puk.bytes().to_vec()),
                new_pin: Bytes(new.bytes().to_vec()),
            })?;
            (
                key.key,
                "PIN of key {} set and unblocked (with every key sharing it).",
                "set",
            )
        }
    };
    Ok(Out::new(
        format!("{}\n", text.replace("{}", &key.to_string())),
        json!({ "key": key, "pin": action }),
    ))
}

fn delete(sks: &mut Card, a: &crate::AuthKeyArgs) -> Result<Out, Fail> {
    sks.delete_key(&DeleteKeyArgs {
        key_handle: a.key.key,
        authorization: optional_auth(&a.auth, &format!("PIN or PUK of key {}", a.key.key))?,
    })?;
    Ok(Out::new(
        format!("Key {} deleted.\n", a.key.key),
        json!({ "deleted": a.key.key }),
    ))
}

fn export(sks: &mut Card, a: &crate::ExportArgs) -> Result<Out, Fail> {
    let attrs = sks.get_key_attributes(&GetKeyAttributesArgs {
        key_handle: a.key.key,
    })?;
    let r = sks.export_key(&ExportKeyArgs {
        key_handle: a.key.key,
        authorization: optional_auth(&a.auth, &format!("PIN or PUK of key {}", a.key.key))?,
    })?;
    let symmetric = attrs.symmetric_key_length > 0;
    let format = if symmetric { "raw" } else { "pkcs8" };
    match &a.out {
        Some(path) => {
            crate::input::write(path, &r.key)?;
            Ok(Out::new(
                format!(
                    "Wrote key {} to {} ({}, {} bytes).\n",
                    a.key.key,
                    path.display(),
                    if symmetric {
                        "raw symmetric key"
                    } else {
                        "PKCS#8 DER"
                    },
                    r.key.len()
                ),
                json!({ "key": a.key.key, "format": format, "file": path.display().to_string() }),
            ))
        }
        None => {
            let text = if symmetric {
                format!("{}\n", hex::encode(&r.key.0))
            } else {
                cert::private_key_pem(&r.key)
            };
            let value = if symmetric {
                hex::encode(&r.key.0)
            } else {
                text.clone()
            };
            Ok(Out::new(
                text,
                json!({ "key": a.key.key, "format": format, "value": value }),
            ))
        }
    }
}
