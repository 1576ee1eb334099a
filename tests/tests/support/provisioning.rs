//! Shared helpers of the provisioning conformance tests (spec 002 methods [2]-[15],
//! [50]-[53]; spec-notes §3-§5, §7-§10).
//!
//! Everything here talks to the card only through `pcsc_bridge::Sks` and the independent issuer
//! emulation `sks-issuer`; the card's own code is used only to build test inputs (RSA PKCS#8).

#![allow(dead_code)]

use apdu_spec::{
    AbortProvisioningSessionArgs, Bytes, EnumerateKeysArgs, GetKeyAttributesArgs,
    GetKeyAttributesOutput, GetKeyHandleArgs, GetKeyProtectionInfoArgs, GetKeyProtectionInfoOutput,
    Id, SignHashedDataArgs, Uri,
};
#[allow(unused_imports)] // not every test binary that includes this file uses them
pub use conformance_tests::{session_handles, sessions};
use pcsc_bridge::{InProcess, Sks, Transport};
use sks_issuer::{alg, Closed, ErrorCode, Issuer, Key, Kmk, Session, SessionState};

/// The in-process client used by most tests.
pub type Card = conformance_tests::InProcessCard;

/// A fresh in-process card with a RAM store.
pub fn card() -> Card {
    conformance_tests::in_process_card(Default::default())
}

#[allow(unused_imports)] // not every test binary that includes this file uses it
pub use conformance_tests::in_process_bio_card as bio_card;

// The spec's values (protection attributes, appUsage, PIN policy bytes).
#[allow(unused_imports)] // not every test binary that includes this file uses them all
pub use apdu_spec::values::{
    AppUsage, BiometricProtection, DeleteProtection, ExportProtection, ExtensionSubType, Grouping,
    InputMethod, KeyBackupFlag, PatternRestriction, PinFormat, ProtectionFlag,
};

/// A fresh issuer (own CA).
pub fn issuer() -> Issuer {
    Issuer::new().expect("issuer")
}

/// An issuer with its own CA and its own issuer URI.
pub fn issuer_named(uri: &str) -> Issuer {
    Issuer::new().expect("issuer").with_uri(uri)
}

pub const RSA3072: &str = "https://webpki.github.io/sks/algorithm#rsa3072";

/// The SKS error code of a failed issuer call; panics (with the error) on anything else.
pub fn code_of(err: &sks_issuer::Error) -> ErrorCode {
    err.sks_code()
        .unwrap_or_else(|| panic!("expected an SKS error from the card, got: {err}"))
}

/// An error that may carry an SKS error code from the card.
pub trait SksCode: std::fmt::Display {
    fn code(&self) -> Option<ErrorCode>;
}

impl SksCode for sks_issuer::Error {
    fn code(&self) -> Option<ErrorCode> {
        self.sks_code()
    }
}

impl SksCode for pcsc_bridge::Error {
    fn code(&self) -> Option<ErrorCode> {
        self.sks_code()
    }
}

/// Asserts that `r` failed with the SKS error `code` (an issuer call or a raw client call).
#[track_caller]
pub fn expect_err<T: std::fmt::Debug, E: SksCode>(r: Result<T, E>, code: ErrorCode, what: &str) {
    match r {
        Ok(v) => panic!(
            "{what}: expected {} but the call succeeded ({v:?})",
            code.name()
        ),
        Err(e) => {
            let got = e
                .code()
                .unwrap_or_else(|| panic!("{what}: expected an SKS error from the card, got: {e}"));
            assert_eq!(
                got,
                code,
                "{what}: expected {} got {} ({e})",
                code.name(),
                got.name()
            );
        }
    }
}

/// [`expect_err`] of a raw client call.
pub use expect_err as expect_raw_err;

/// A raw client error as an issuer error (for closures that return the issuer's `Result`).
pub fn raw_err(e: pcsc_bridge::Error) -> sks_issuer::Error {
    sks_issuer::Error::Card {
        method: "raw",
        source: e,
    }
}

/// enumerateKeys: `(keyHandle, provisioningHandle)` of every key of a closed session.
pub fn keys<T: Transport>(sks: &mut Sks<T>) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut handle = 0;
    loop {
        let r = sks
            .enumerate_keys(&EnumerateKeysArgs { key_handle: handle })
            .expect("enumerateKeys");
        match r.key {
            None => return out,
            Some((h, p)) => {
                handle = h.get();
                out.push((handle, p));
                assert!(out.len() < 10_000, "enumeration does not end");
            }
        }
    }
}

pub fn key_handles<T: Transport>(sks: &mut Sks<T>) -> Vec<u32> {
    keys(sks).into_iter().map(|(h, _)| h).collect()
}

pub fn attributes<T: Transport>(
    sks: &mut Sks<T>,
    key_handle: u32,
) -> Result<GetKeyAttributesOutput, pcsc_bridge::Error> {
    sks.get_key_attributes(&GetKeyAttributesArgs { key_handle })
}

pub fn protection<T: Transport>(
    sks: &mut Sks<T>,
    key_handle: u32,
) -> Result<GetKeyProtectionInfoOutput, pcsc_bridge::Error> {
    sks.get_key_protection_info(&GetKeyProtectionInfoArgs { key_handle })
}

/// signHashedData with ecdsa-sha256 (EC keys) or rsa-sha256 (RSA keys) over SHA-256(`msg`).
pub fn sign<T: Transport>(
    sks: &mut Sks<T>,
    key_handle: u32,
    rsa: bool,
    pin: &[u8],
    msg: &[u8],
) -> Result<Vec<u8>, pcsc_bridge::Error> {
    let algorithm = if rsa {
        alg::RSA_SHA256
    } else {
        alg::ECDSA_SHA256
    };
    sks.sign_hashed_data(&SignHashedDataArgs {
        key_handle,
        algorithm: Uri::new(algorithm).unwrap(),
        parameters: Bytes::default(),
        biometric_auth: false,
        authorization: Bytes(pin.to_vec()),
        data: Bytes(sks_issuer::crypto::sha256(msg).to_vec()),
    })
    .map(|r| r.result.0)
}

/// Signs with the key and verifies the signature with `spki` (the expected public key).
#[track_caller]
pub fn assert_signs_with<T: Transport>(sks: &mut Sks<T>, key_handle: u32, pin: &[u8], spki: &[u8]) {
    let pk = sks_issuer::PublicKey::from_spki(spki).expect("public key");
    let msg = b"provisioning conformance";
    let sig = sign(sks, key_handle, pk.is_rsa(), pin, msg)
        .unwrap_or_else(|e| panic!("signHashedData with key #{key_handle}: {e}"));
    pk.verify_sha256(msg, &sig)
        .unwrap_or_else(|e| panic!("signature of key #{key_handle} does not verify: {e}"));
}

/// getKeyHandle.
pub fn key_handle<T: Transport>(
    sks: &mut Sks<T>,
    provisioning_handle: u32,
    id: &str,
) -> Result<u32, pcsc_bridge::Error> {
    sks.get_key_handle(&GetKeyHandleArgs {
        provisioning_handle,
        id: Id::new(id).unwrap(),
    })
    .map(|o| o.key_handle)
}

/// Asserts the session `handle` no longer exists: not enumerated (open or closed), and
/// abortProvisioningSession on it gives ERROR_NO_SESSION.
#[track_caller]
pub fn assert_torn_down<T: Transport>(sks: &mut Sks<T>, handle: u32) {
    assert!(
        !session_handles(sks, true).contains(&handle),
        "session #{handle} is still listed as open after the error"
    );
    assert!(
        !session_handles(sks, false).contains(&handle),
        "session #{handle} is listed as closed after the error"
    );
    expect_raw_err(
        sks.abort_provisioning_session(&AbortProvisioningSessionArgs {
            provisioning_handle: handle,
        }),
        ErrorCode::NoSession,
        "abortProvisioningSession of a torn-down session",
    );
    assert!(
        keys(sks).iter().all(|(_, p)| *p != handle),
        "keys of the torn-down session #{handle} are enumerated"
    );
}

/// A simple closed session with one P-256 key without PIN (deletable, not exportable).
pub fn closed_p256<T: Transport>(
    issuer: &Issuer,
    sks: &mut Sks<T>,
    kmk: Option<&Kmk>,
    privacy: bool,
    key_id: &str,
) -> Closed {
    let mut b = issuer.session(sks).privacy(privacy);
    if let Some(k) = kmk {
        b = b.kmk(k);
    }
    let mut s = b.open().expect("open session");
    let key = s
        .key(key_id)
        .endorse(&[alg::ECDSA_SHA256])
        .create()
        .expect("createKeyEntry");
    s.certify(&key).expect("setCertificatePath");
    s.close().expect("close")
}

/// Other sessions and keys that must survive an error elsewhere: a closed session with a key
/// and an open session (detached) with a certified key.
pub struct Bystanders {
    pub closed: Closed,
    pub closed_attributes: GetKeyAttributesOutput,
    pub open: SessionState,
    pub open_key: Key,
    pub issuer: Issuer,
}

impl Bystanders {
    pub fn new<T: Transport>(sks: &mut Sks<T>) -> Self {
        let issuer = issuer_named("https://bystander.example.com");
        let kmk = Kmk::generate_p256();
        let closed = closed_p256(&issuer, sks, Some(&kmk), false, "Bystander.1");
        let handle = closed.keys[0].handle;
        let closed_attributes = attributes(sks, handle).expect("bystander attributes");
        let mut s = issuer
            .session(sks)
            .kmk(&kmk)
            .open()
            .expect("open bystander");
        let k = s.key("Bystander.2").create().expect("bystander key");
        let open_key = s.certify(&k).expect("bystander certificate");
        let open = s.into_state();
        Self {
            closed,
            closed_attributes,
            open,
            open_key,
            issuer,
        }
    }

    /// The closed key is unchanged and usable, the open session is still open and can be
    /// closed successfully (so its key is still intact).
    #[track_caller]
    pub fn assert_untouched<T: Transport>(self, sks: &mut Sks<T>) {
        let k = &self.closed.keys[0];
        assert!(
            keys(sks).contains(&(k.handle, self.closed.provisioning_handle)),
            "the bystander key of another (closed) session disappeared"
        );
        assert_eq!(
            attributes(sks, k.handle).expect("bystander attributes"),
            self.closed_attributes,
            "the bystander key's attributes changed"
        );
        assert_signs_with(sks, k.handle, b"", &k.public_key);
        assert!(
            session_handles(sks, true).contains(&self.open.provisioning_handle),
            "the other open session was torn down too"
        );
        let mut s = Session::attach(&self.issuer, sks, self.open);
        assert_eq!(
            s.key_handle("Bystander.2").expect("bystander getKeyHandle"),
            self.open_key.handle
        );
        s.close().expect("the other open session no longer closes");
    }
}

// ---------------------------------------------------------------------------------------------
// Minimal DER helpers (test inputs and SPKI inspection).

fn der_len(len: usize) -> Vec<u8> {
    if len < 0x80 {
        vec![len as u8]
    } else if len < 0x100 {
        vec![0x81, len as u8]
    } else {
        vec![0x82, (len >> 8) as u8, len as u8]
    }
}

pub fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend(der_len(content.len()));
    v.extend_from_slice(content);
    v
}

/// Reads one TLV: `(tag, content, rest)`.
pub fn read_tlv(d: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = d[0];
    let (len, hdr) = if d[1] < 0x80 {
        (usize::from(d[1]), 2)
    } else {
        let n = usize::from(d[1] & 0x7f);
        let mut l = 0usize;
        for b in &d[2..2 + n] {
            l = (l << 8) | usize::from(*b);
        }
        (l, 2 + n)
    };
    (tag, &d[hdr..hdr + len], &d[hdr + len..])
}

/// `(modulus bits, public exponent)` of an RSA SubjectPublicKeyInfo, parsed by hand.
pub fn rsa_spki_params(spki: &[u8]) -> (usize, Vec<u8>) {
    let (tag, seq, _) = read_tlv(spki);
    assert_eq!(tag, 0x30);
    let (_, alg_id, rest) = read_tlv(seq);
    assert!(
        alg_id
            .windows(9)
            .any(|w| w == [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]),
        "not an rsaEncryption SPKI"
    );
    let (tag, bits, _) = read_tlv(rest);
    assert_eq!(tag, 0x03);
    assert_eq!(bits[0], 0, "unused bits");
    let (_, rsa_key, _) = read_tlv(&bits[1..]);
    let (_, n, rest) = read_tlv(rsa_key);
    let (_, e, _) = read_tlv(rest);
    let n: Vec<u8> = n.iter().copied().skip_while(|b| *b == 0).collect();
    (n.len() * 8, e.to_vec())
}

const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

fn curve_oid(curve: sks_issuer::Curve) -> Vec<u8> {
    match curve {
        sks_issuer::Curve::P256 => vec![0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
        sks_issuer::Curve::P384 => vec![0x2b, 0x81, 0x04, 0x00, 0x22],
        sks_issuer::Curve::P521 => vec![0x2b, 0x81, 0x04, 0x00, 0x23],
    }
}

/// A fresh EC private key built by the test: `(PKCS#8 DER, SPKI DER)`. The PKCS#8 is written
/// by hand (RFC 5208 + RFC 5915, without the optional parameters and public key); the public
/// key comes from the issuer's independent EC code.
pub fn ec_pkcs8(curve: sks_issuer::Curve) -> (Vec<u8>, Vec<u8>) {
    loop {
        let scalar = sks_issuer::crypto::random_bytes(curve.coordinate_len());
        let mut scalar = scalar;
        if curve == sks_issuer::Curve::P521 {
            scalar[0] &= 0x01;
        }
        let Ok(key) = sks_issuer::EcdhKey::from_scalar(curve, &scalar) else {
            continue;
        };
        let spki = key.public_key_spki();
        let ec_private_key = der(0x30, &[der(0x02, &[1]), der(0x04, &scalar)].concat());
        let alg_id = der(
            0x30,
            &[der(0x06, OID_EC_PUBLIC_KEY), der(0x06, &curve_oid(curve))].concat(),
        );
        let pkcs8 = der(
            0x30,
            &[der(0x02, &[0]), alg_id, der(0x04, &ec_private_key)].concat(),
        );
        return (pkcs8, spki);
    }
}

/// A fresh RSA private key: `(PKCS#8 DER, SPKI DER)`. Generated with the RustCrypto `rsa`
/// crate through the applet's crypto module (the test crate has no direct `rsa` dependency);
/// only the encoding is borrowed, the import itself is what is tested.
pub fn rsa_pkcs8(bits: usize) -> (Vec<u8>, Vec<u8>) {
    let mut rng = applet::platform::os_seeded_rng().expect("rng");
    let key = applet::crypto::PrivateKey::generate_rsa(bits, 65537, &mut rng).expect("RSA keygen");
    let pkcs8 = key.to_pkcs8().expect("PKCS#8").to_vec();
    let spki = key.public().to_spki().expect("SPKI");
    // Cross-check with the issuer's independent SPKI parser.
    let canonical = sks_issuer::canonical_spki(&spki).expect("RSA SPKI parses");
    (pkcs8, canonical)
}

// ---------------------------------------------------------------------------------------------
// Failure runner

/// The in-process transport.
pub type Tp = InProcess<dyn applet::Card + Send>;
/// An issuer session on the in-process card.
pub type S<'a> = Session<'a, Tp>;
/// A session builder on the in-process card.
pub type B<'a> = sks_issuer::SessionBuilder<'a, Tp>;

/// Runs a provisioning session on `sks` (a fresh card, e.g. [`card()`]) with [`Bystanders`],
/// after `prep` (e.g. a closed session whose keys are post-op targets). `body` sets the session up
/// (unwrapping) and returns the result of the call that must fail. Asserts the SKS error `code`,
/// that the session was torn down and that the bystanders are untouched. Returns the card and
/// `prep`'s value for further checks.
pub fn fails_torn_down<P>(
    mut sks: Card,
    what: &str,
    code: ErrorCode,
    prep: impl FnOnce(&Issuer, &mut Card) -> P,
    configure: impl for<'a> FnOnce(B<'a>) -> B<'a>,
    body: impl for<'a> FnOnce(&mut S<'a>, &P) -> Result<(), sks_issuer::Error>,
) -> (Card, P) {
    let by = Bystanders::new(&mut sks);
    let issuer = issuer();
    let p = prep(&issuer, &mut sks);
    let handle;
    {
        let mut s = configure(issuer.session(&mut sks))
            .open()
            .unwrap_or_else(|e| panic!("{what}: open session: {e}"));
        handle = s.provisioning_handle();
        let r = body(&mut s, &p);
        expect_err(r, code, what);
    }
    assert_torn_down(&mut sks, handle);
    by.assert_untouched(&mut sks);
    (sks, p)
}

/// [`fails_torn_down`] with a default session and no preparation.
pub fn fails(
    what: &str,
    code: ErrorCode,
    body: impl for<'a> FnOnce(&mut S<'a>, &()) -> Result<(), sks_issuer::Error>,
) {
    fails_torn_down(card(), what, code, |_, _| (), |b| b, body);
}

/// Creates key `id` (default spec) in `s` and sets its certificate by the issuer's CA.
pub fn certified(s: &mut S<'_>, id: &str) -> Key {
    let k = s.key(id).create().unwrap();
    s.certify(&k).unwrap()
}

/// Maps any result to `()` (for `fails` bodies).
pub fn unit<T>(r: Result<T, sks_issuer::Error>) -> Result<(), sks_issuer::Error> {
    r.map(|_| ())
}

/// A closed session with a KMK and post-op targets: "T.plain" (no PIN), "T.pin" (PIN "1234",
/// grouping `grouping`, PUK), "T.other" (no PIN, appUsage 0).
pub fn targets(issuer: &Issuer, sks: &mut Card, kmk: &Kmk, privacy: bool, grouping: u8) -> Closed {
    let mut s = issuer
        .session(sks)
        .kmk(kmk)
        .privacy(privacy)
        .open()
        .expect("open target session");
    let policy = sks_issuer::PinPolicy {
        grouping,
        ..Default::default()
    };
    conformance_tests::puk_with_pins(&mut s, &[("PIN", policy)]);
    for (id, pin, usage) in [
        ("T.plain", false, 3u8),
        ("T.pin", true, 3),
        ("T.other", false, 0),
    ] {
        let mut b = s.key(id).app_usage(usage).endorse(&[alg::ECDSA_SHA256]);
        if pin {
            b = b.pin("PIN", b"1234");
        }
        let k = b.create().unwrap();
        s.certify(&k).unwrap();
    }
    s.close().expect("close target session")
}
