//! C_GenerateKeyPair through a local provisioning session (spec Appendix B: "If keys are to be
//! created entirely locally, this requires local software emulation of an issuer"), and
//! C_DestroyObject through deleteKey.
//!
//! The local issuer is `sks-issuer`: an E2ES session (the card's session attestation is checked
//! against its device certificate), a PIN policy copied from the user-PIN anchor, createKeyEntry
//! (key attestation checked), a certificate from the local issuer CA, closeProvisioningSession
//! (close attestation checked). The issuer URI is [`LOCAL_ISSUER_URI`], which is how the module
//! later recognizes these keys as members of the user-PIN group.
//!
//! The local CA's P-256 key is a PKCS #8 DER file: `$SKS_PKCS11_ISSUER_KEY`, else
//! `$XDG_CONFIG_HOME/sks-pkcs11/issuer-ca.p8` (`~/.config/sks-pkcs11/issuer-ca.p8`), created
//! (mode 0600) on the first key generation. Replace it with your own P-256 key in PKCS #8 DER
//! to have generated keys certified by your CA.

use crate::ffi::Rv;
use crate::keys::{curve_oid_der, KeyInfo};
use crate::token::{Token, LOCAL_ISSUER_URI};
use apdu_spec::algorithms::{
    asymmetric_encryption as enc, key_agreement, key_generation as kg, signature as sig,
};
use apdu_spec::methods::DeleteKeyArgs;
use apdu_spec::types::Bytes;
use apdu_spec::values::{AppUsage, DeleteProtection, ExportProtection};
use cryptoki_sys::*;
use sks_issuer::{Ca, Curve, Issuer, PinPolicy};
use std::path::PathBuf;

type Template = [(CK_ATTRIBUTE_TYPE, Vec<u8>)];

fn flag(t: &Template, a: CK_ATTRIBUTE_TYPE) -> Option<bool> {
    t.iter()
        .find(|(x, _)| *x == a)
        .map(|(_, v)| v.first().copied().unwrap_or(0) != 0)
}

fn value(t: &Template, a: CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
    t.iter().find(|(x, _)| *x == a).map(|(_, v)| v.as_slice())
}

/// Where the local issuer CA key lives.
pub fn ca_key_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SKS_PKCS11_ISSUER_KEY") {
        return PathBuf::from(p);
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("sks-pkcs11").join("issuer-ca.p8")
}

fn load_ca() -> Rv<Ca> {
    use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
    let path = ca_key_path();
    let key = match std::fs::read(&path) {
        Ok(der) => p256::ecdsa::SigningKey::from_pkcs8_der(&der).map_err(|e| {
            log::error!("local issuer CA key {}: {e}", path.display());
            CKR_GENERAL_ERROR
        })?,
        Err(_) => {
            let key = p256::ecdsa::SigningKey::from(
                <p256::SecretKey as p256::elliptic_curve::Generate>::generate_from_rng(
                    &mut sks_issuer::crypto::rng(),
                ),
            );
            let der = key.to_pkcs8_der().map_err(|_| CKR_GENERAL_ERROR)?;
            write_private(&path, der.as_bytes()).map_err(|e| {
                log::error!("cannot write {}: {e}", path.display());
                CKR_GENERAL_ERROR
            })?;
            key
        }
    };
    Ca::from_key(key, "SKS PKCS#11 Local Issuer CA").map_err(|_| CKR_GENERAL_ERROR)
}

fn write_private(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)
}

/// The SKS key-generation algorithm for the mechanism and public template.
fn key_algorithm(ty: CK_MECHANISM_TYPE, public: &Template) -> Rv<(&'static str, bool)> {
    match ty {
        CKM_EC_KEY_PAIR_GEN => {
            let params = value(public, CKA_EC_PARAMS).ok_or(CKR_TEMPLATE_INCOMPLETE)?;
            [Curve::P256, Curve::P384, Curve::P521]
                .into_iter()
                .find(|c| curve_oid_der(*c) == params)
                .map(|c| (c.key_algorithm(), true))
                .ok_or(CKR_DOMAIN_PARAMS_INVALID)
        }
        CKM_RSA_PKCS_KEY_PAIR_GEN => {
            let bits = value(public, CKA_MODULUS_BITS)
                .and_then(|v| Some(CK_ULONG::from_ne_bytes(v.try_into().ok()?)))
                .ok_or(CKR_TEMPLATE_INCOMPLETE)?;
            if let Some(e) = value(public, CKA_PUBLIC_EXPONENT) {
                let trimmed: Vec<u8> = e.iter().copied().skip_while(|b| *b == 0).collect();
                if trimmed != [1, 0, 1] {
                    return Err(CKR_ATTRIBUTE_VALUE_INVALID);
                }
            }
            match bits {
                2048 => Ok((kg::RSA2048, false)),
                3072 => Ok((kg::RSA3072, false)),
                4096 => Ok((kg::RSA4096, false)),
                _ => Err(CKR_KEY_SIZE_RANGE),
            }
        }
        _ => Err(CKR_MECHANISM_INVALID),
    }
}

/// Generates a key pair on the card; returns its SKS handle.
pub fn generate(
    t: &mut Token,
    ty: CK_MECHANISM_TYPE,
    public: &Template,
    private: &Template,
) -> Rv<u32> {
    let (alg, ec) = key_algorithm(ty, public)?;
    let supported = |u: &str| t.info.supported_algorithms.iter().any(|s| s.as_str() == u);
    if !supported(alg) {
        return Err(if ec {
            CKR_DOMAIN_PARAMS_INVALID
        } else {
            CKR_KEY_SIZE_RANGE
        });
    }
    let sign = flag(private, CKA_SIGN);
    let decrypt = flag(private, CKA_DECRYPT);
    let derive = flag(private, CKA_DERIVE);
    let all = sign.is_none() && decrypt.is_none() && derive.is_none();
    let mut endorsed: Vec<&str> = Vec::new();
    if ec {
        if all || sign == Some(true) {
            endorsed.extend([
                sig::ECDSA_NONE,
                sig::ECDSA_SHA256,
                sig::ECDSA_SHA384,
                sig::ECDSA_SHA512,
            ]);
        }
        if all || derive == Some(true) {
            endorsed.push(key_agreement::ECDH_RAW);
        }
    } else {
        if all || sign == Some(true) {
            endorsed.extend([
                sig::RSA_PKCS1_NONE,
                sig::RSA_SHA256,
                sig::RSA_SHA384,
                sig::RSA_SHA512,
            ]);
        }
        if all || decrypt == Some(true) {
            endorsed.extend(enc::ALL);
        }
    }
    endorsed.retain(|u| supported(u));
    endorsed.sort_unstable();
    if endorsed.is_empty() {
        return Err(CKR_TEMPLATE_INCONSISTENT);
    }
    let label: String = value(private, CKA_LABEL)
        .or_else(|| value(public, CKA_LABEL))
        .map(|l| String::from_utf8_lossy(l).chars().take(100).collect())
        .unwrap_or_default();

    let anchor = t.anchor().cloned();
    let pin = match (&t.user_pin, &anchor) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(_)) => return Err(CKR_USER_NOT_LOGGED_IN),
        (None, None) => None,
    };
    let extractable = flag(private, CKA_EXTRACTABLE) == Some(true);
    let export_protection = match (extractable, pin.is_some()) {
        (false, _) => ExportProtection::NonExportable,
        (true, true) => ExportProtection::Pin,
        (true, false) => ExportProtection::None,
    };
    let delete_protection = if pin.is_some() {
        DeleteProtection::Pin
    } else {
        DeleteProtection::None
    };

    let issuer = Issuer::with_ca(load_ca()?).with_uri(LOCAL_ISSUER_URI);
    let fail = |what: &str, e: sks_issuer::Error| {
        log::error!("local provisioning, {what}: {e}");
        match e.sks_code() {
            Some(apdu_spec::ErrorCode::Storage) => CKR_DEVICE_MEMORY,
            _ => CKR_FUNCTION_FAILED,
        }
    };
    let ee = {
        let mut s = issuer
            .session(&mut t.card)
            .issuer_uri(LOCAL_ISSUER_URI)
            .open()
            .map_err(|e| fail("session", e))?;
        if let (Some(_), Some(a)) = (&pin, &anchor) {
            let p = &a.protection;
            let policy = PinPolicy {
                user_defined: true,
                user_modifiable: p.user_modifiable,
                format: p.format,
                retry_limit: p.retry_limit,
                grouping: p.grouping,
                pattern_restrictions: p.pattern_restrictions,
                min_length: p.min_length,
                max_length: p.max_length,
                input_method: p.input_method,
            };
            s.pin_policy("PIN.1", None, policy)
                .map_err(|e| fail("createPinPolicy", e))?;
        }
        let mut builder = s.key("Key.1");
        if let Some(pin) = &pin {
            builder = builder.pin("PIN.1", pin);
        }
        let key = builder
            .algorithm(alg)
            .endorse(&endorsed)
            .friendly_name(&label)
            .export_protection(export_protection.into())
            .delete_protection(delete_protection.into())
            .app_usage(AppUsage::Universal.into())
            .create()
            .map_err(|e| fail("createKeyEntry", e))?;
        let key = s.certify(&key).map_err(|e| fail("setCertificatePath", e))?;
        s.close().map_err(|e| fail("closeProvisioningSession", e))?;
        key.certificate_path.first().cloned().unwrap_or_default()
    };
    t.refresh()?;
    t.keys
        .iter()
        .find(|k| k.attrs.certificates.first().map(|c| &c.0) == Some(&ee))
        .map(|k| k.handle)
        .ok_or(CKR_GENERAL_ERROR)
}

/// C_DestroyObject of a key: deleteKey with the authorization its delete protection needs.
pub fn delete(t: &mut Token, key: &KeyInfo, context_pin: Option<&[u8]>) -> Rv {
    let auth = match key.protection.delete_protection {
        0 => Vec::new(),
        1 => t.pin_for(key, context_pin)?.to_vec(),
        2 => t.so_pin.as_ref().ok_or(CKR_USER_NOT_LOGGED_IN)?.to_vec(),
        _ => return Err(CKR_ACTION_PROHIBITED),
    };
    let r = t.card.delete_key(&DeleteKeyArgs {
        key_handle: key.handle,
        authorization: Bytes(auth),
    });
    if let Err(e) = r {
        return Err(crate::ops::card_error(&e, CKR_FUNCTION_FAILED));
    }
    t.refresh()
}
