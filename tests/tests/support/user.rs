//! Helpers of the User API, key management and PIN/PUK conformance tests: cards, provisioning
//! through the independent issuer (sks-issuer), typed User API calls, error-code assertions and
//! the independent crypto oracle (`tests/py/sks_crypto.py`, Debian python3 + `cryptography`).
//!
//! Included with `#[path = "support/user.rs"] mod user;` by user_api.rs, key_management.rs and
//! pin_puk.rs only.
#![allow(dead_code)]

use apdu_spec::{
    AsymmetricKeyDecryptArgs, Blob, Bytes, DeleteKeyArgs, ErrorCode, ExportKeyArgs,
    GetExtensionArgs, GetExtensionOutput, GetKeyAttributesArgs, GetKeyAttributesOutput,
    GetKeyProtectionInfoArgs, GetKeyProtectionInfoOutput, KeyAgreementArgs, PerformHmacArgs,
    SignHashedDataArgs, SymmetricKeyEncryptArgs, Uri,
};
#[allow(unused_imports)] // not every test binary that includes this file uses them
pub use conformance_tests::{all_keys, session_handles as all_sessions};
use pcsc_bridge::{InProcess, Sks, Transport};
use serde_json::{json, Value};
use sks_issuer::{Ca, Closed, Issuer, Key, KeySpec, Session};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use sks_issuer::alg;

/// The client of an in-process card.
pub type Card = conformance_tests::InProcessCard;
pub type CallResult<T> = Result<T, pcsc_bridge::Error>;

// The spec's values (protectionStatus and keyBackup bits, protection attributes, appUsage).
#[allow(unused_imports)] // not every test binary that includes this file uses them all
pub use apdu_spec::values::{
    AppUsage, BiometricProtection, DeleteProtection, ExportProtection, ExtensionSubType, Grouping,
    InputMethod, KeyBackupFlag, PatternRestriction, PinFormat, ProtectionFlag,
};

/// The product card, in RAM.
pub fn card() -> Card {
    conformance_tests::in_process_card(Default::default())
}

#[allow(unused_imports)] // not every test binary that includes this file uses it
pub use conformance_tests::in_process_bio_card as bio_card;

/// A deterministic card (seeded RNG, fixed clock); the second value totals the delays the card
/// asked its clock for (PUK without retry limit).
pub fn fixed_card(seed: u64) -> (Card, Arc<Mutex<Duration>>) {
    let clock = applet::platform::FixedClock::at(Duration::from_secs(1_750_000_000));
    let delays = clock.delays();
    let card = applet::card_with(
        applet::store::RamStore::new(),
        applet::platform::seeded_rng(seed),
        Box::new(clock),
    )
    .expect("card_with");
    let boxed: Box<dyn applet::Card + Send> = Box::new(card);
    (
        Sks::new(InProcess::from_box(boxed).expect("select")),
        delays,
    )
}

/// The product card over a file-backed store.
pub fn file_card(path: &std::path::Path) -> Card {
    let card = applet::open_card(Some(path)).expect("open file-backed card");
    Sks::new(InProcess::from_box(card).expect("select"))
}

/// A fresh issuer (its own CA).
pub fn issuer() -> Issuer {
    Issuer::new().expect("issuer")
}

/// Runs one provisioning session: `f` creates the objects, then the session is closed (close
/// attestation verified by the issuer).
pub fn provision<T: Transport>(
    sks: &mut Sks<T>,
    issuer: &Issuer,
    f: impl FnOnce(&mut Session<'_, T>),
) -> Closed {
    let mut s = issuer
        .session(sks)
        .open()
        .expect("createProvisioningSession");
    f(&mut s);
    s.close().expect("closeProvisioningSession")
}

/// A fresh product card provisioned in one closed session by a fresh issuer (`f` creates the
/// objects); the issuer is returned for later sessions.
pub fn provisioned(
    f: impl FnOnce(&mut Session<'_, InProcess<dyn applet::Card + Send>>),
) -> (Card, Issuer, Closed) {
    provisioned_with(|s, _| f(s))
}

/// [`provisioned`], `f` also given the issuer (e.g. its CA for [`imported_key`]).
pub fn provisioned_with(
    f: impl FnOnce(&mut Session<'_, InProcess<dyn applet::Card + Send>>, &Issuer),
) -> (Card, Issuer, Closed) {
    let mut sks = card();
    let issuer = issuer();
    let closed = provision(&mut sks, &issuer, |s| f(s, &issuer));
    (sks, issuer, closed)
}

/// `algorithms` in the strictly ascending byte order createKeyEntry requires.
pub fn sorted(algorithms: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = algorithms.iter().map(|s| s.to_string()).collect();
    v.sort();
    v.dedup();
    v
}

/// createKeyEntry (`key_algorithm`, endorsed `endorse` sorted, spec edited by `edit`) and
/// setCertificatePath by the issuer's CA. Defaults (KeySpec): no PIN, export 0x03, delete 0x00,
/// appUsage universal.
pub fn key<T: Transport>(
    s: &mut Session<'_, T>,
    id: &str,
    key_algorithm: &str,
    endorse: &[&str],
    edit: impl FnOnce(&mut KeySpec),
) -> Key {
    let k = s
        .create_key(&spec(id, key_algorithm, endorse, edit))
        .unwrap_or_else(|e| panic!("createKeyEntry {id}: {e}"));
    s.certify(&k)
        .unwrap_or_else(|e| panic!("setCertificatePath {id}: {e}"))
}

/// The key spec of `id`: `key_algorithm`, endorsed `endorse` sorted, edited by `edit`.
fn spec(
    id: &str,
    key_algorithm: &str,
    endorse: &[&str],
    edit: impl FnOnce(&mut KeySpec),
) -> KeySpec {
    let mut spec = KeySpec::new(id);
    spec.key_algorithm = key_algorithm.into();
    spec.endorsed_algorithms = sorted(endorse);
    edit(&mut spec);
    spec
}

/// A key entry with an imported symmetric key `secret`.
pub fn sym_key<T: Transport>(
    s: &mut Session<'_, T>,
    id: &str,
    secret: &[u8],
    endorse: &[&str],
    edit: impl FnOnce(&mut KeySpec),
) -> Key {
    let k = key(s, id, alg::EC_P256, endorse, edit);
    s.import_symmetric(&k, secret)
        .unwrap_or_else(|e| panic!("importSymmetricKey {id}: {e}"));
    k
}

/// A key entry whose private key is generated in Python (`genkey` request, e.g.
/// `{"kind":"rsa","bits":2048}`) and imported with importPrivateKey; the certificate is
/// issued for the imported key. Returns the key and its PKCS#8.
pub fn imported_key<T: Transport>(
    s: &mut Session<'_, T>,
    ca: &Ca,
    id: &str,
    genkey: Value,
    endorse: &[&str],
    edit: impl FnOnce(&mut KeySpec),
) -> (Key, Vec<u8>) {
    let mut req = genkey;
    req["op"] = json!("genkey");
    let out = py(req.clone());
    let pkcs8 = unhex(&out["pkcs8"]);
    let spki = unhex(&out["spki"]);
    let key_algorithm = match (req["kind"].as_str(), req["curve"].as_str()) {
        (Some("rsa"), _) if req["bits"] == 1024 => alg::RSA1024,
        (Some("rsa"), _) => alg::RSA2048,
        (_, Some("p384")) => alg::EC_P384,
        (_, Some("p521")) => alg::EC_P521,
        _ => alg::EC_P256,
    };
    let k = s
        .create_key(&spec(id, key_algorithm, endorse, edit))
        .unwrap_or_else(|e| panic!("createKeyEntry {id}: {e}"));
    let path = ca.certify_path(&spki, id).expect("certify imported key");
    let k = s
        .set_certificate_path(&k, path)
        .unwrap_or_else(|e| panic!("setCertificatePath {id}: {e}"));
    s.import_private(&k, &pkcs8)
        .unwrap_or_else(|e| panic!("importPrivateKey {id}: {e}"));
    (k, pkcs8)
}

/// Protects a spec with PIN policy `policy` and PIN `pin`.
pub fn with_pin(policy: &str, pin: &[u8]) -> impl FnOnce(&mut KeySpec) {
    let (policy, pin) = (policy.to_string(), pin.to_vec());
    move |s: &mut KeySpec| {
        s.pin_policy = Some(policy);
        s.pin_value = pin;
    }
}

/// PIN policy "PIN" (default, no PUK) and key `id` (see [`key`]) protected by it with PIN `pin`.
pub fn key_with_own_pin<T: Transport>(
    s: &mut Session<'_, T>,
    id: &str,
    key_algorithm: &str,
    endorse: &[&str],
    pin: &[u8],
) -> Key {
    s.pin_policy("PIN", None, sks_issuer::PinPolicy::default())
        .expect("createPinPolicy");
    key(s, id, key_algorithm, endorse, with_pin("PIN", pin))
}

/// A P-256 key `id` (see [`key`]) protected by PIN policy `policy` and PIN `pin`, with appUsage
/// `usage`.
pub fn pin_key<T: Transport>(
    s: &mut Session<'_, T>,
    id: &str,
    policy: &str,
    pin: &[u8],
    usage: AppUsage,
) -> Key {
    key(s, id, alg::EC_P256, &[], |k| {
        with_pin(policy, pin)(k);
        k.app_usage = usage.into();
    })
}

pub fn uri(s: &str) -> Uri {
    Uri::new(s).expect("uri")
}

pub fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(
        v.as_str()
            .unwrap_or_else(|| panic!("not a hex string: {v}")),
    )
    .expect("hex")
}

pub fn random(n: usize) -> Vec<u8> {
    sks_issuer::crypto::random_bytes(n)
}

// ------------------------------------------------------------------------------------------
// Error assertions

/// The SKS error code of a failed call; panics on success or on a non-SKS failure.
#[track_caller]
pub fn code<T: std::fmt::Debug>(r: CallResult<T>) -> ErrorCode {
    match r {
        Ok(v) => panic!("expected an SKS error, the call succeeded: {v:?}"),
        Err(pcsc_bridge::Error::Sks(e)) => e.code,
        Err(e) => panic!("expected an SKS error, got {e}"),
    }
}

/// Asserts that the call failed with `expected` (with `what` in the message).
#[track_caller]
pub fn expect_err<T: std::fmt::Debug>(r: CallResult<T>, expected: ErrorCode, what: &str) {
    match r {
        Ok(v) => panic!(
            "{what}: expected {}, the call succeeded: {v:?}",
            expected.name()
        ),
        Err(pcsc_bridge::Error::Sks(e)) => assert_eq!(
            e.code,
            expected,
            "{what}: expected {}, card said {} ({:?})",
            expected.name(),
            e.code.name(),
            e.message
        ),
        Err(e) => panic!("{what}: expected {}, got {e}", expected.name()),
    }
}

/// Unwraps a call that must succeed.
#[track_caller]
pub fn ok<T>(r: CallResult<T>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

// ------------------------------------------------------------------------------------------
// User API calls

/// The User API crypto calls that take a key handle, an algorithm, the PIN as authorization (no
/// parameters, no biometric authentication) and one input field `$input` (wrapped in `$wrap`):
/// `$args(handle, algorithm, pin, input)` builds the arguments and, when given,
/// `$call(sks, handle, algorithm, pin, input)` sends them with `Sks::$method` and returns the
/// result bytes.
macro_rules! user_call {
    ($args:ident -> $ty:ident { $input:ident: $wrap:ident }) => {
        pub fn $args(handle: u32, algorithm: &str, pin: &[u8], $input: &[u8]) -> $ty {
            $ty {
                key_handle: handle,
                algorithm: uri(algorithm),
                parameters: Bytes::empty(),
                biometric_auth: false,
                authorization: Bytes(pin.to_vec()),
                $input: $wrap($input.to_vec()),
            }
        }
    };
    ($call:ident = $method:ident, $args:ident -> $ty:ident { $input:ident: $wrap:ident }) => {
        user_call!($args -> $ty { $input: $wrap });

        pub fn $call<T: Transport>(
            sks: &mut Sks<T>,
            handle: u32,
            algorithm: &str,
            pin: &[u8],
            $input: &[u8],
        ) -> CallResult<Vec<u8>> {
            sks.$method(&$args(handle, algorithm, pin, $input))
                .map(|r| r.result.0)
        }
    };
}

user_call!(sign = sign_hashed_data, sign_args -> SignHashedDataArgs { data: Bytes });
user_call!(decrypt = asymmetric_key_decrypt, decrypt_args -> AsymmetricKeyDecryptArgs { data: Bytes });
user_call!(hmac = perform_hmac, hmac_args -> PerformHmacArgs { data: Blob });
user_call!(agree_args -> KeyAgreementArgs { public_key: Bytes });

pub fn agree<T: Transport>(
    sks: &mut Sks<T>,
    handle: u32,
    pin: &[u8],
    peer: &[u8],
) -> CallResult<Vec<u8>> {
    sks.key_agreement(&agree_args(handle, alg::ECDH_RAW, pin, peer))
        .map(|r| r.result.0)
}

pub fn aes_args(
    handle: u32,
    algorithm: &str,
    encrypt: bool,
    iv: &[u8],
    data: &[u8],
) -> SymmetricKeyEncryptArgs {
    SymmetricKeyEncryptArgs {
        key_handle: handle,
        algorithm: uri(algorithm),
        mode: encrypt,
        parameters: Bytes(iv.to_vec()),
        biometric_auth: false,
        authorization: Bytes::empty(),
        data: Blob(data.to_vec()),
    }
}

pub fn aes<T: Transport>(
    sks: &mut Sks<T>,
    handle: u32,
    algorithm: &str,
    encrypt: bool,
    iv: &[u8],
    data: &[u8],
) -> CallResult<Vec<u8>> {
    sks.symmetric_key_encrypt(&aes_args(handle, algorithm, encrypt, iv, data))
        .map(|r| r.result.0)
}

// ------------------------------------------------------------------------------------------
// Management calls

pub fn protection<T: Transport>(sks: &mut Sks<T>, handle: u32) -> GetKeyProtectionInfoOutput {
    ok(
        sks.get_key_protection_info(&GetKeyProtectionInfoArgs { key_handle: handle }),
        "getKeyProtectionInfo",
    )
}

pub fn attributes<T: Transport>(
    sks: &mut Sks<T>,
    handle: u32,
) -> CallResult<GetKeyAttributesOutput> {
    sks.get_key_attributes(&GetKeyAttributesArgs { key_handle: handle })
}

pub fn extension<T: Transport>(
    sks: &mut Sks<T>,
    handle: u32,
    type_uri: &str,
) -> CallResult<GetExtensionOutput> {
    sks.get_extension(&GetExtensionArgs {
        key_handle: handle,
        r#type: uri(type_uri),
    })
}

pub fn export<T: Transport>(sks: &mut Sks<T>, handle: u32, auth: &[u8]) -> CallResult<Vec<u8>> {
    sks.export_key(&ExportKeyArgs {
        key_handle: handle,
        authorization: Bytes(auth.to_vec()),
    })
    .map(|o| o.key.0)
}

pub fn delete<T: Transport>(sks: &mut Sks<T>, handle: u32, auth: &[u8]) -> CallResult<()> {
    sks.delete_key(&DeleteKeyArgs {
        key_handle: handle,
        authorization: Bytes(auth.to_vec()),
    })
}

pub fn unlock<T: Transport>(sks: &mut Sks<T>, handle: u32, puk: &[u8]) -> CallResult<()> {
    sks.unlock_key(&apdu_spec::UnlockKeyArgs {
        key_handle: handle,
        authorization: Bytes(puk.to_vec()),
    })
}

/// `$call(sks, handle, authorization, new)`: `Sks::$call` with `apdu_spec::$args` that set PIN
/// `new`, authorized by `authorization` (the old PIN for changePin, the PUK for setPin).
macro_rules! new_pin_call {
    ($call:ident, $args:ident) => {
        pub fn $call<T: Transport>(
            sks: &mut Sks<T>,
            handle: u32,
            authorization: &[u8],
            new: &[u8],
        ) -> CallResult<()> {
            sks.$call(&apdu_spec::$args {
                key_handle: handle,
                authorization: Bytes(authorization.to_vec()),
                new_pin: Bytes(new.to_vec()),
            })
        }
    };
}

new_pin_call!(change_pin, ChangePinArgs);
new_pin_call!(set_pin, SetPinArgs);

// ------------------------------------------------------------------------------------------
// The independent crypto oracle

fn py_script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("py/sks_crypto.py")
}

/// Runs one request (or a list) through `tests/py/sks_crypto.py` with Debian's python3.
/// Panics loudly if Python or `cryptography` is missing, or if the script raised.
pub fn py(req: Value) -> Value {
    let python = if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let mut child = Command::new(python)
        .arg(py_script())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python} (python3 + cryptography required): {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(req.to_string().as_bytes())
        .expect("write request");
    let out = child.wait_with_output().expect("python3");
    assert!(
        out.status.success(),
        "sks_crypto.py failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "sks_crypto.py output is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let check = |r: &Value| {
        if let Some(x) = r.get("exception") {
            panic!("sks_crypto.py raised {x} for {req}");
        }
    };
    match &v {
        Value::Array(items) => items.iter().for_each(check),
        r => check(r),
    }
    v
}

/// The certificate (EE) of a provisioned key as the request field of the oracle.
pub fn cert_hex(k: &Key) -> String {
    hex::encode(k.ee_certificate().expect("key has a certificate"))
}

/// Asserts that Python verifies `signature` over `data` with the key's certificate.
#[track_caller]
pub fn assert_verifies(k: &Key, hash: &str, data: &[u8], signature: &[u8]) {
    assert_all_verify(&[(k, hash, data.to_vec(), signature.to_vec())]);
}

/// (signature algorithm, Python hash name) pairs for [`assert_signs`].
pub const ES256: (&str, &str) = (alg::ECDSA_SHA256, "sha256");
pub const ES384: (&str, &str) = (alg::ECDSA_SHA384, "sha384");
pub const ES512: (&str, &str) = (alg::ECDSA_SHA512, "sha512");
pub const RS256: (&str, &str) = (alg::RSA_SHA256, "sha256");

/// Signs `data` with `k` (`algorithm`, PIN `pin`): the call must succeed (`what`) and Python
/// must verify the signature with `hash`. Returns the signature.
#[track_caller]
pub fn assert_signs<T: Transport>(
    sks: &mut Sks<T>,
    k: &Key,
    (algorithm, hash): (&str, &str),
    pin: &[u8],
    data: &[u8],
    what: &str,
) -> Vec<u8> {
    let sig = ok(sign(sks, k.handle, algorithm, pin, data), what);
    assert_verifies(k, hash, data, &sig);
    sig
}

/// Batch verification: (key, hash, data, signature) each must verify.
#[track_caller]
pub fn assert_all_verify(items: &[(&Key, &str, Vec<u8>, Vec<u8>)]) {
    let reqs: Vec<Value> = items
        .iter()
        .map(|(k, hash, data, sig)| {
            json!({"op": "verify", "cert": cert_hex(k), "hash": hash,
                   "data": hex::encode(data), "signature": hex::encode(sig)})
        })
        .collect();
    let out = py(Value::Array(reqs));
    for ((k, hash, data, _), r) in items.iter().zip(out.as_array().expect("list")) {
        assert_eq!(
            r["ok"],
            json!(true),
            "{} signature by {} ({hash}, {} data bytes) does not verify: {}",
            k.key_algorithm,
            k.id,
            data.len(),
            r["why"]
        );
    }
}

/// A ciphertext made by Python for the key's certificate.
pub fn py_rsa_encrypt(k: &Key, padding: &str, plaintext: &[u8]) -> Vec<u8> {
    let r = py(
        json!({"op": "rsa_encrypt", "cert": cert_hex(k), "padding": padding,
                      "plaintext": hex::encode(plaintext)}),
    );
    unhex(&r["ciphertext"])
}

pub fn py_hmac(hash: &str, key: &[u8], data: &[u8]) -> Vec<u8> {
    let r = py(json!({"op": "hmac", "hash": hash, "key": hex::encode(key),
                      "data": hex::encode(data)}));
    unhex(&r["mac"])
}

/// Python AES; `Err` when Python refuses (e.g. bad padding).
pub fn py_aes(
    mode: &str,
    encrypt: bool,
    key: &[u8],
    iv: &[u8],
    data: &[u8],
    pkcs7: bool,
) -> Result<Vec<u8>, String> {
    let r = py(
        json!({"op": "aes", "mode": mode, "encrypt": encrypt, "key": hex::encode(key),
                      "iv": hex::encode(iv), "data": hex::encode(data), "pkcs7": pkcs7}),
    );
    match r.get("error") {
        Some(e) => Err(e.to_string()),
        None => Ok(unhex(&r["result"])),
    }
}

/// Python parses an exported PKCS#8 and compares its public key with the key's certificate:
/// returns the key kind ("ec:secp256r1", "rsa:2048", ...); panics on mismatch.
#[track_caller]
pub fn assert_pkcs8_matches(k: &Key, pkcs8: &[u8]) -> String {
    let r = py(json!({"op": "pkcs8", "pkcs8": hex::encode(pkcs8), "cert": cert_hex(k)}));
    assert_eq!(
        r["matches"],
        json!(true),
        "exported PKCS#8 of {} does not match its certificate's public key",
        k.id
    );
    r["kind"].as_str().unwrap_or_default().to_string()
}
