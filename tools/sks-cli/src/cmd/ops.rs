//! The user API: sign, verify, decrypt, encrypt, agree, hmac.

use super::{key_pin, Card};
use crate::algs::{self, Class, Hash};
use crate::fail::Fail;
use crate::input;
use crate::out::Out;
use crate::sig;
use crate::SigFormat;
use apdu_spec::methods::*;
use apdu_spec::types::{Blob, Bytes, Uri};
use serde_json::json;
use std::path::Path;

fn uri(s: &str) -> Result<Uri, Fail> {
    Uri::new(s).map_err(|e| Fail::usage(e.to_string()))
}

/// The hash (or, for …none algorithms, the data) that a signature covers.
fn to_be_signed(
    alg: &str,
    hash: &Option<String>,
    file: &Option<std::path::PathBuf>,
) -> Result<Vec<u8>, Fail> {
    match (hash, file) {
        (Some(h), _) => input::parse_hex("--hash", h),
        (None, Some(f)) => match Hash::of_signature(alg) {
            None => Err(Fail::usage(format!(
                "unknown hash for algorithm {alg}: give the hash with --hash"
            ))),
            Some(Hash::None) => input::read_call_data(f),
            Some(hash) => hash
                .digest_reader(input::open(f)?)
                .map_err(|e| Fail::msg(format!("cannot read {}: {e}", f.display()))),
        },
        (None, None) => Err(Fail::usage("give --in FILE (`-` for stdin) or --hash HEX")),
    }
}

/// Binary output: to `--out` (or stdout with `-`), else hex on stdout; JSON always has hex.
fn result_out(
    out: &Option<std::path::PathBuf>,
    data: &[u8],
    mut j: serde_json::Value,
    field: &str,
) -> Result<Out, Fail> {
    j[field] = json!(hex::encode(data));
    let text = match out {
        Some(path) => {
            input::write(path, data)?;
            if path == Path::new("-") {
                String::new()
            } else {
                format!("Wrote {} bytes to {}\n", data.len(), path.display())
            }
        }
        None => format!("{}\n", hex::encode(data)),
    };
    Ok(Out::new(text, j))
}

pub fn sign(sks: &mut Card, a: &crate::SignArgs) -> Result<Out, Fail> {
    let alg = algs::resolve(&a.alg, Class::Sign).map_err(Fail::Usage)?;
    let data = to_be_signed(&alg, &a.hash, &a.data_file)?;
    let authorization = key_pin(sks, a.key.key, &a.pin.pin)?;
    let r = sks.sign_hashed_data(&SignHashedDataArgs {
        key_handle: a.key.key,
        algorithm: uri(&alg)?,
        parameters: Bytes::empty(),
        biometric_auth: false,
        authorization,
        data: Bytes(data),
    })?;
    let (signature, format) = if sig::is_ecdsa(&alg) && a.format == SigFormat::Der {
        (sig::ecdsa_raw_to_der(&r.result).map_err(Fail::Msg)?, "der")
    } else if sig::is_ecdsa(&alg) {
        (r.result.0.clone(), "raw")
    } else {
        (r.result.0.clone(), "pkcs1")
    };
    result_out(
        &a.out,
        &signature,
        json!({ "key": a.key.key, "algorithm": alg, "format": format }),
        "signature",
    )
}

pub fn verify(sks: &mut Card, a: &crate::VerifyArgs) -> Result<Out, Fail> {
    let alg = algs::resolve(&a.alg, Class::Sign).map_err(Fail::Usage)?;
    let digest = to_be_signed(&alg, &a.hash, &a.data_file)?;
    let signature = input::read_bounded(&a.signature, 64 * 1024)?;
    let attrs = sks.get_key_attributes(&GetKeyAttributesArgs {
        key_handle: a.key.key,
    })?;
    let Some(ee) = attrs.certificates.first() else {
        return Err(Fail::msg(format!("key {} has no certificate", a.key.key)));
    };
    let spki = crate::cert::spki_of(ee).map_err(Fail::Msg)?;
    let valid = sig::verify(&spki, &alg, &digest, &signature).map_err(Fail::Usage)?;
    let j = json!({ "key": a.key.key, "algorithm": alg, "valid": valid });
    if !valid {
        return Err(Fail::BadSignature(format!(
            "the signature does not verify with the certificate of key {}",
            a.key.key
        )));
    }
    Ok(Out::new("Signature verified OK\n".into(), j))
}

/// decrypt (`encrypt == false`) and encrypt.
pub fn crypt(sks: &mut Card, a: &crate::CryptArgs, encrypt: bool) -> Result<Out, Fail> {
    let rsa = if encrypt {
        None
    } else {
        algs::resolve(&a.alg, Class::Decrypt).ok()
    };
    let data = input::data_arg(&a.hex, &a.input, "input")?;
    let (result, alg) = if let Some(alg) = rsa {
        if a.iv.is_some() {
            return Err(Fail::usage("--iv is for AES only"));
        }
        let authorization = key_pin(sks, a.key.key, &a.pin.pin)?;
        let r = sks.asymmetric_key_decrypt(&AsymmetricKeyDecryptArgs {
            key_handle: a.key.key,
            algorithm: uri(&alg)?,
            parameters: Bytes::empty(),
            biometric_auth: false,
            authorization,
            data: Bytes(data),
        })?;
        (r.result.0.clone(), alg)
    } else {
        let alg = algs::resolve(&a.alg, Class::Aes).map_err(|e| {
            if encrypt {
                Fail::Usage(e)
            } else {
                Fail::Usage(format!(
                    "{e}; RSA: rsa.oaep.sha256, rsa.oaep.sha1, rsa.es.pkcs1_5"
                ))
            }
        })?;
        let iv = match &a.iv {
            Some(h) => input::parse_hex("--iv", h)?,
            None => Vec::new(),
        };
        let authorization = key_pin(sks, a.key.key, &a.pin.pin)?;
        let r = sks.symmetric_key_encrypt(&SymmetricKeyEncryptArgs {
            key_handle: a.key.key,
            algorithm: uri(&alg)?,
            mode: encrypt,
            parameters: Bytes(iv),
            biometric_auth: false,
            authorization,
            data: Blob(data),
        })?;
        (r.result.0.clone(), alg)
    };
    let field = if encrypt { "ciphertext" } else { "plaintext" };
    result_out(
        &a.out,
        &zeroize::Zeroizing::new(result),
        json!({ "key": a.key.key, "algorithm": alg }),
        field,
    )
}

pub fn agree(sks: &mut Card, a: &crate::AgreeArgs) -> Result<Out, Fail> {
    let alg = algs::resolve(&a.alg, Class::Agree).map_err(Fail::Usage)?;
    let raw = input::read_bounded(&a.peer, 64 * 1024)?;
    let spki = crate::cert::public_key_der(&raw)
        .map_err(|e| Fail::usage(format!("{}: {e}", a.peer.display())))?;
    let authorization = key_pin(sks, a.key.key, &a.pin.pin)?;
    let r = sks.key_agreement(&KeyAgreementArgs {
        key_handle: a.key.key,
        algorithm: uri(&alg)?,
        parameters: Bytes::empty(),
        biometric_auth: false,
        authorization,
        public_key: Bytes(spki),
    })?;
    result_out(
        &a.out,
        &zeroize::Zeroizing::new(r.result.0.clone()),
        json!({ "key": a.key.key, "algorithm": alg }),
        "shared_secret",
    )
}

pub fn hmac(sks: &mut Card, a: &crate::HmacArgs) -> Result<Out, Fail> {
    let alg = algs::resolve(&a.alg, Class::Hmac).map_err(Fail::Usage)?;
    let data = input::data_arg(&a.data, &a.data_file, "data")?;
    let authorization = key_pin(sks, a.key.key, &a.pin.pin)?;
    let r = sks.perform_hmac(&PerformHmacArgs {
        key_handle: a.key.key,
        algorithm: uri(&alg)?,
        parameters: Bytes::empty(),
        biometric_auth: false,
        authorization,
        data: Blob(data),
    })?;
    result_out(
        &a.out,
        &r.result,
        json!({ "key": a.key.key, "algorithm": alg }),
        "mac",
    )
}
