//! The subcommands.

use crate::algs::{self, Class, Hash};
use crate::cert::{self, CertInfo};
use crate::conn::{self, Conn, Target};
use crate::fail::Fail;
use crate::{Command, PinCommand, SessionsCommand};
use apdu_spec::methods::*;
use apdu_spec::types::{Blob, Bytes, Uri};
use pcsc_bridge::Sks;
use std::fmt::Write as _;
use std::path::Path;

type Card = Sks<Conn>;

/// Runs `command` on the card at `target`.
pub fn run(command: &Command, target: &Target, verbose: bool) -> Result<(), Fail> {
    if let (Target::InProcess { store: None }, Command::Provision(_) | Command::Info) =
        (target, command)
    {
    } else if let Target::InProcess { store: None } = target {
        eprintln!(
            "sks: note: the in-process card is in RAM and starts empty; use --store FILE to keep \
             a card between runs"
        );
    }
    let mut sks = conn::connect(target, verbose)?;
    let result = match command {
        Command::Info => info(&mut sks),
        Command::Provision(a) => crate::cmd::provision::run(&mut sks, a),
        Command::Keys => keys(&mut sks),
        Command::Cert(a) => cert_cmd(&mut sks, a),
        Command::Sign(a) => sign(&mut sks, a),
        Command::Decrypt(a) => decrypt(&mut sks, a),
        Command::Hmac(a) => hmac(&mut sks, a),
        Command::Pin(p) => pin(&mut sks, p),
        Command::Delete(a) => delete(&mut sks, a),
        Command::Export(a) => export(&mut sks, a),
        Command::Sessions { closed, action } => sessions(&mut sks, *closed, action.as_ref()),
        Command::Keygen2(a) => keygen2::run(&mut sks, a),
    };
    conn::disconnect(sks);
    result
}

pub mod keygen2;
mod provision;

// ---------------------------------------------------------------------------------------------
// helpers

fn uri(s: &str) -> Result<Uri, Fail> {
    Uri::new(s).map_err(|e| Fail::msg(e.to_string()))
}

fn parse_hex(what: &str, s: &str) -> Result<Vec<u8>, Fail> {
    let cleaned: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    let cleaned = cleaned
        .strip_prefix("0x")
        .or_else(|| cleaned.strip_prefix("0X"))
        .unwrap_or(&cleaned);
    hex::decode(cleaned).map_err(|e| Fail::msg(format!("{what} is not valid hex: {e}")))
}

fn open_file(path: &Path) -> Result<std::fs::File, Fail> {
    std::fs::File::open(path).map_err(|e| Fail::msg(format!("cannot read {}: {e}", path.display())))
}

/// Data that goes to the card as a call argument: read up to the most one call carries, so a
/// huge (or endless) file is refused at once instead of being read whole.
fn read_call_data(path: &Path) -> Result<Vec<u8>, Fail> {
    use std::io::Read;
    let limit = apdu_spec::envelope::MAX_CALL_DATA;
    let mut data = Vec::new();
    open_file(path)?
        .take(limit as u64 + 1)
        .read_to_end(&mut data)
        .map_err(|e| Fail::msg(format!("cannot read {}: {e}", path.display())))?;
    if data.len() > limit {
        return Err(Fail::msg(format!(
            "{} is larger than the {limit} bytes one card call can carry",
            path.display()
        )));
    }
    Ok(data)
}

/// Refuses, before anything reaches the key, a call without PIN on a PIN-protected key: the
/// card would count it as a wrong PIN and use up a retry.
fn require_pin(sks: &mut Card, key: u32, pin: &Option<String>) -> Result<(), Fail> {
    if pin.is_some() {
        return Ok(());
    }
    let p = sks.get_key_protection_info(&GetKeyProtectionInfoArgs { key_handle: key })?;
    if p.protection_status & 0x01 != 0 && p.biometric_protection != 3 {
        return Err(Fail::msg(format!(
            "key {key} is PIN-protected: give its PIN with --pin (nothing was sent, no retry used)"
        )));
    }
    Ok(())
}

fn write_file(path: &Path, data: &[u8]) -> Result<(), Fail> {
    std::fs::write(path, data)
        .map_err(|e| Fail::msg(format!("cannot write {}: {e}", path.display())))
}

fn auth(value: &Option<String>) -> Bytes {
    Bytes(value.as_deref().unwrap_or("").as_bytes().to_vec())
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

// ---------------------------------------------------------------------------------------------
// info

fn info(sks: &mut Card) -> Result<(), Fail> {
    let d = sks.get_device_info()?;
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
    let location = match d.device_type & 0x03 {
        0 => "external (connected device)",
        1 => "embedded in the client platform",
        2 => "socketed",
        _ => "SIM/USIM card",
    };
    let kind = match (d.device_type >> 2) & 0x03 {
        0 => "software",
        1 => "hardware",
        2 => "HSM",
        _ => "inside the main CPU",
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
    print!("{o}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// keys

fn protection(v: u8) -> &'static str {
    match v {
        0 => "none",
        1 => "PIN",
        2 => "PUK",
        3 => "forbidden",
        _ => "unknown",
    }
}

fn app_usage(v: u8) -> &'static str {
    match v {
        0 => "signature",
        1 => "authentication",
        2 => "encryption",
        3 => "universal",
        _ => "unknown",
    }
}

fn format_name(v: u8) -> &'static str {
    match v {
        0 => "numeric",
        1 => "alphanumeric",
        2 => "string",
        3 => "binary",
        _ => "unknown format",
    }
}

fn grouping(v: u8) -> &'static str {
    match v {
        0 => "none",
        1 => "shared",
        2 => "signature+standard",
        3 => "unique",
        _ => "unknown",
    }
}

fn biometric(v: u8) -> &'static str {
    match v {
        0 => "none",
        1 => "alternative",
        2 => "combined",
        3 => "exclusive",
        _ => "unknown",
    }
}

fn input_method(v: u8) -> &'static str {
    match v {
        0 => "any",
        1 => "programmatic",
        2 => "trusted-gui",
        _ => "unknown",
    }
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

fn keys(sks: &mut Card) -> Result<(), Fail> {
    let handles = key_handles(sks)?;
    if handles.is_empty() {
        println!("No keys on the card.");
        return Ok(());
    }
    let mut o = String::new();
    for (i, (h, session)) in handles.iter().enumerate() {
        if i > 0 {
            o.push('\n');
        }
        let a = sks.get_key_attributes(&GetKeyAttributesArgs { key_handle: *h })?;
        let p = sks.get_key_protection_info(&GetKeyProtectionInfoArgs { key_handle: *h })?;
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
        let kind = if a.symmetric_key_length > 0 {
            format!("symmetric, {} bytes", a.symmetric_key_length)
        } else {
            match &ee {
                Some(Ok(ci)) => ci.key.clone(),
                _ => "asymmetric".into(),
            }
        };
        line(&mut o, "key", kind);
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
        let s = p.protection_status;
        if s & 0x10 != 0 {
            line(&mut o, "PIN", "device PIN");
        } else if s & 0x01 != 0 {
            let state = if s & 0x04 != 0 { "BLOCKED" } else { "ok" };
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
        if s & 0x02 != 0 {
            let state = if s & 0x08 != 0 { "BLOCKED" } else { "ok" };
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
        } else if s & 0x10 == 0 && s & 0x01 != 0 {
            line(&mut o, "PUK", "none");
        }
        line(&mut o, "biometric", biometric(p.biometric_protection));
        line(&mut o, "export", protection(p.export_protection));
        line(&mut o, "delete", protection(p.delete_protection));
        let mut backup = Vec::new();
        if p.key_backup & 0x01 != 0 {
            backup.push("imported");
        }
        if p.key_backup & 0x02 != 0 {
            backup.push("exported");
        }
        line(
            &mut o,
            "key backup",
            if backup.is_empty() {
                "none".to_string()
            } else {
                backup.join(", ")
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
                    Ok(x) => extension_summary(&x),
                    Err(e) => format!("({})", Fail::from(e)),
                };
                line(
                    &mut o,
                    if i == 0 { "extensions" } else { "" },
                    format!("{t}  {detail}"),
                );
            }
        }
    }
    print!("{o}");
    Ok(())
}

fn extension_summary(x: &GetExtensionOutput) -> String {
    let kind = match x.sub_type {
        0 => "extension",
        1 => "encrypted extension",
        2 => "property bag",
        3 => "logotype",
        _ => "unknown subType",
    };
    let mut s = format!("[{kind}, {} bytes", x.extension_data.len());
    if !x.qualifier.is_empty() {
        let _ = write!(s, ", {}", x.qualifier);
    }
    if x.sub_type == 2 {
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

/// Property bag: repeated `u16 len ‖ name ‖ u8 writable ‖ u16 len ‖ value`.
fn parse_property_bag(mut b: &[u8]) -> Option<Vec<(String, String, bool)>> {
    fn take_str(b: &mut &[u8]) -> Option<String> {
        if b.len() < 2 {
            return None;
        }
        let n = usize::from(u16::from_be_bytes([b[0], b[1]]));
        let s = b.get(2..2 + n)?;
        let out = String::from_utf8_lossy(s).into_owned();
        *b = &b[2 + n..];
        Some(out)
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let name = take_str(&mut b)?;
        let (&w, rest) = b.split_first()?;
        b = rest;
        let value = take_str(&mut b)?;
        out.push((name, value, w == 1));
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// cert

fn cert_cmd(sks: &mut Card, a: &crate::CertArgs) -> Result<(), Fail> {
    let attrs = sks.get_key_attributes(&GetKeyAttributesArgs {
        key_handle: a.key.key,
    })?;
    let Some(ee) = attrs.certificates.first() else {
        return Err(Fail::msg(format!("key {} has no certificate", a.key.key)));
    };
    let data: Vec<u8> = if a.der {
        ee.0.clone()
    } else if a.chain {
        attrs
            .certificates
            .iter()
            .map(|c| cert::to_pem(c))
            .collect::<String>()
            .into_bytes()
    } else {
        cert::to_pem(ee).into_bytes()
    };
    match &a.out {
        Some(path) => {
            write_file(path, &data)?;
            println!("Wrote {}", path.display());
        }
        None if a.der => {
            use std::io::Write;
            std::io::stdout()
                .write_all(&data)
                .map_err(|e| Fail::msg(format!("cannot write to stdout: {e}")))?;
        }
        None => print!("{}", String::from_utf8_lossy(&data)),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// sessions

fn sessions(sks: &mut Card, closed: bool, action: Option<&SessionsCommand>) -> Result<(), Fail> {
    if let Some(SessionsCommand::Abort { handle }) = action {
        sks.abort_provisioning_session(&AbortProvisioningSessionArgs {
            provisioning_handle: *handle,
        })?;
        println!("Aborted provisioning session {handle}");
        return Ok(());
    }
    let list = sks.sessions(!closed)?;
    let state = if closed { "closed" } else { "open" };
    if list.is_empty() {
        println!("No {state} provisioning sessions.");
        return Ok(());
    }
    let mut o = String::new();
    for (handle, s) in list {
        let _ = writeln!(o, "Session {handle} ({state})");
        line(&mut o, "server session id", &s.server_session_id);
        line(&mut o, "client session id", &s.client_session_id);
        line(&mut o, "issuer", &s.issuer_uri);
        line(&mut o, "privacy enabled", yes_no(s.privacy_enabled));
        line(
            &mut o,
            "updatable (KMK)",
            yes_no(!s.key_management_key.is_empty()),
        );
        line(&mut o, "client time", s.client_time);
        line(&mut o, "life time", format!("{} s", s.session_life_time));
    }
    print!("{o}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// user API

fn sign(sks: &mut Card, a: &crate::SignArgs) -> Result<(), Fail> {
    let alg = algs::resolve(&a.alg, Class::Sign).map_err(Fail::Msg)?;
    let data = match (&a.hash, &a.data_file) {
        (Some(h), _) => parse_hex("--hash", h)?,
        (None, Some(f)) => {
            let hash = Hash::of_signature(&alg).ok_or_else(|| {
                Fail::msg(format!(
                    "unknown hash for algorithm {alg}: give the hash with --hash"
                ))
            })?;
            match hash {
                Hash::None => read_call_data(f)?,
                hash => hash
                    .digest_reader(open_file(f)?)
                    .map_err(|e| Fail::msg(format!("cannot read {}: {e}", f.display())))?,
            }
        }
        (None, None) => return Err(Fail::msg("give --hash HEX or --data-file FILE")),
    };
    require_pin(sks, a.key.key, &a.pin)?;
    let r = sks.sign_hashed_data(&SignHashedDataArgs {
        key_handle: a.key.key,
        algorithm: uri(&alg)?,
        parameters: Bytes::empty(),
        biometric_auth: false,
        authorization: auth(&a.pin),
        data: Bytes(data),
    })?;
    if let Some(path) = &a.out {
        write_file(path, &r.result)?;
    }
    println!("{}", hex::encode(&r.result.0));
    Ok(())
}

fn decrypt(sks: &mut Card, a: &crate::DecryptArgs) -> Result<(), Fail> {
    let alg = algs::resolve(&a.alg, Class::Decrypt).map_err(Fail::Msg)?;
    let data = match (&a.input, &a.hex) {
        (Some(f), _) => read_call_data(f)?,
        (None, Some(h)) => parse_hex("--hex", h)?,
        (None, None) => return Err(Fail::msg("give --in FILE or --hex HEX")),
    };
    require_pin(sks, a.key.key, &a.pin)?;
    let r = sks.asymmetric_key_decrypt(&AsymmetricKeyDecryptArgs {
        key_handle: a.key.key,
        algorithm: uri(&alg)?,
        parameters: Bytes::empty(),
        biometric_auth: false,
        authorization: auth(&a.pin),
        data: Bytes(data),
    })?;
    match &a.out {
        Some(path) => {
            write_file(path, &r.result)?;
            println!("Wrote {} bytes to {}", r.result.len(), path.display());
        }
        None => println!("{}", hex::encode(&r.result.0)),
    }
    Ok(())
}

fn hmac(sks: &mut Card, a: &crate::HmacArgs) -> Result<(), Fail> {
    let alg = algs::resolve(&a.alg, Class::Hmac).map_err(Fail::Msg)?;
    let data = match (&a.data, &a.data_file) {
        (Some(h), _) => parse_hex("--data", h)?,
        (None, Some(f)) => read_call_data(f)?,
        (None, None) => return Err(Fail::msg("give --data HEX or --data-file FILE")),
    };
    require_pin(sks, a.key.key, &a.pin)?;
    let r = sks.perform_hmac(&PerformHmacArgs {
        key_handle: a.key.key,
        algorithm: uri(&alg)?,
        parameters: Bytes::empty(),
        biometric_auth: false,
        authorization: auth(&a.pin),
        data: Blob(data),
    })?;
    println!("{}", hex::encode(&r.result.0));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// management

fn pin(sks: &mut Card, p: &PinCommand) -> Result<(), Fail> {
    match p {
        PinCommand::Change { key, old, new } => {
            sks.change_pin(&ChangePinArgs {
                key_handle: key.key,
                authorization: Bytes(old.as_bytes().to_vec()),
                new_pin: Bytes(new.as_bytes().to_vec()),
            })?;
            println!(
                "PIN of key {} changed (with every key sharing it).",
                key.key
            );
        }
        PinCommand::Unlock { key, puk } => {
            sks.unlock_key(&UnlockKeyArgs {
                key_handle: key.key,
                authorization: Bytes(puk.as_bytes().to_vec()),
            })?;
            println!("Key {} unlocked: PIN error counter reset.", key.key);
        }
        PinCommand::Set { key, puk, new } => {
            sks.set_pin(&SetPinArgs {
                key_handle: key.key,
                authorization: Bytes(puk.as_bytes().to_vec()),
                new_pin: Bytes(new.as_bytes().to_vec()),
            })?;
            println!(
                "PIN of key {} set and unblocked (with every key sharing it).",
                key.key
            );
        }
    }
    Ok(())
}

fn delete(sks: &mut Card, a: &crate::AuthKeyArgs) -> Result<(), Fail> {
    sks.delete_key(&DeleteKeyArgs {
        key_handle: a.key.key,
        authorization: auth(&a.auth),
    })?;
    println!("Key {} deleted.", a.key.key);
    Ok(())
}

fn export(sks: &mut Card, a: &crate::ExportArgs) -> Result<(), Fail> {
    let attrs = sks.get_key_attributes(&GetKeyAttributesArgs {
        key_handle: a.key.key,
    })?;
    let r = sks.export_key(&ExportKeyArgs {
        key_handle: a.key.key,
        authorization: auth(&a.auth),
    })?;
    let symmetric = attrs.symmetric_key_length > 0;
    match &a.out {
        Some(path) => {
            write_file(path, &r.key)?;
            println!(
                "Wrote key {} to {} ({}, {} bytes).",
                a.key.key,
                path.display(),
                if symmetric {
                    "raw symmetric key"
                } else {
                    "PKCS#8 DER"
                },
                r.key.len()
            );
        }
        None if symmetric => println!("{}", hex::encode(&r.key.0)),
        None => print!("{}", cert::private_key_pem(&r.key)),
    }
    Ok(())
}
