//! Issue 4: signHashedData and performHmac throughput; raw RustCrypto next to it.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

use apdu_spec::{Blob, Bytes, PerformHmacArgs, SignHashedDataArgs, Uri};
use applet::Card;
use conformance_tests::CardUnderTest;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use pcsc_bridge::{InProcess, PcscTransport, Sks, Transport};
use sha2::{Digest, Sha256};
use sks_issuer::{alg, Issuer};

use crate::stats::{fmt_ns, fmt_rate, Samples};
use crate::{progress, verdict, Result, Scale, TempDir};

/// Issue 4 targets over PC/SC, ops/s.
const TARGET_P256: f64 = 5_000.0;
const TARGET_RSA: f64 = 860.0;

#[derive(Debug, Clone, Copy)]
struct Handles {
    p256: u32,
    rsa: u32,
    hmac: u32,
}

/// One session creating the three keys, no PIN: P-256 (ecdsa-sha256), RSA-2048 (rsa-sha256)
/// and an imported 32-byte HMAC key (hmac-sha256).
fn provision<T: Transport>(issuer: &Issuer, sks: &mut Sks<T>) -> Result<Handles> {
    let mut s = issuer.session(sks).open()?;
    let p = s
        .key("P256")
        .algorithm(alg::EC_P256)
        .endorse(&[alg::ECDSA_SHA256])
        .create()?;
    s.certify(&p)?;
    let r = s
        .key("RSA2048")
        .algorithm(alg::RSA2048)
        .endorse(&[alg::RSA_SHA256])
        .create()?;
    s.certify(&r)?;
    let h = s
        .key("HMAC")
        .algorithm(alg::EC_P256)
        .endorse(&[alg::HMAC_SHA256])
        .create()?;
    let h = s.certify(&h)?;
    s.import_symmetric(&h, &[0x5A; 32])?;
    let closed = s.close()?;
    let handle = |id: &str| {
        closed
            .key(id)
            .map(|k| k.handle)
            .ok_or(format!("no key {id}"))
    };
    Ok(Handles {
        p256: handle("P256")?,
        rsa: handle("RSA2048")?,
        hmac: handle("HMAC")?,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    P256,
    Rsa,
    Hmac,
}

impl Op {
    fn label(self) -> &'static str {
        match self {
            Op::P256 => "signHashedData P-256 ecdsa-sha256",
            Op::Rsa => "signHashedData RSA-2048 rsa-sha256",
            Op::Hmac => "performHmac hmac-sha256 (64-byte message)",
        }
    }
}

/// One operation, checked for the expected result length.
fn op<T: Transport>(sks: &mut Sks<T>, h: Handles, op: Op, hash: &[u8]) -> Result<()> {
    let (len, expect) = match op {
        Op::P256 | Op::Rsa => {
            let (key_handle, algorithm, expect) = if op == Op::P256 {
                (h.p256, alg::ECDSA_SHA256, 64)
            } else {
                (h.rsa, alg::RSA_SHA256, 256)
            };
            let out = sks.sign_hashed_data(&SignHashedDataArgs {
                key_handle,
                algorithm: Uri::new(algorithm)?,
                parameters: Bytes::empty(),
                biometric_auth: false,
                authorization: Bytes::empty(),
                data: Bytes(hash.to_vec()),
            })?;
            (out.result.0.len(), expect)
        }
        Op::Hmac => {
            let out = sks.perform_hmac(&PerformHmacArgs {
                key_handle: h.hmac,
                algorithm: Uri::new(alg::HMAC_SHA256)?,
                parameters: Bytes::empty(),
                biometric_auth: false,
                authorization: Bytes::empty(),
                data: Blob([0xA5; 64].to_vec()),
            })?;
            (out.result.0.len(), 32)
        }
    };
    if len != expect {
        return Err(format!("{}: {len}-byte result, expected {expect}", op.label()).into());
    }
    Ok(())
}

struct Client<T: Transport> {
    sks: Sks<T>,
    handles: Handles,
}

impl<T: Transport> Client<T> {
    fn run(&mut self, o: Op, hash: &[u8], n: usize, s: Option<&mut Samples>) -> Result<()> {
        let mut s = s;
        for _ in 0..n {
            let t = Instant::now();
            op(&mut self.sks, self.handles, o, hash)?;
            let d = t.elapsed();
            if let Some(s) = s.as_deref_mut() {
                s.push(d);
            }
        }
        Ok(())
    }
}

pub fn run(scale: Scale, pcsc: bool) -> Result<String> {
    let mut md = String::from("## Issue 4: user API throughput\n\n");
    let dir = TempDir::new("sign")?;
    let issuer = Issuer::new()?;
    let hash = Sha256::digest(b"sks-bench").to_vec();

    let cut = if pcsc {
        progress!("issue 4: serving a file-backed SKS card to the private pcscd");
        Some(CardUnderTest::start(applet::open_card(Some(
            &dir.file("pcsc.img"),
        ))?))
    } else {
        None
    };
    let mut over_pcsc = match &cut {
        Some(cut) => {
            let mut sks = Sks::new(PcscTransport::connect_reader(
                cut.context(),
                cut.reader_name(),
            )?);
            let handles = provision(&issuer, &mut sks)?;
            Some(Client { sks, handles })
        }
        None => None,
    };
    let mut sks: Sks<InProcess<dyn Card + Send>> = Sks::new(InProcess::from_box(
        applet::open_card(Some(&dir.file("inproc.img")))?,
    )?);
    let handles = provision(&issuer, &mut sks)?;
    let mut in_proc = Client { sks, handles };

    let _ = writeln!(
        md,
        "Keys without PIN, provisioned once per card (file store). Each operation is one typed \
         call of the client (`Sks::sign_hashed_data` / `Sks::perform_hmac`: encode, one PC/SC \
         transaction with one APDU, decode), timed individually; ops/s = operations / summed \
         time. PC/SC and in-process alternate in blocks of 100 operations. The data signed is \
         a SHA-256 hash (32 bytes).\n"
    );
    let _ = writeln!(
        md,
        "| operation | transport | n | ops/s | median | p99 |\n|---|---|---|---|---|---|"
    );
    let mut pcsc_rates = Vec::new();
    for (o, full) in [(Op::P256, 10_000), (Op::Rsa, 2_000), (Op::Hmac, 10_000)] {
        let n = scale.n(full);
        progress!("issue 4: {n} × {} per transport", o.label());
        let warm = scale.n(50);
        if let Some(c) = &mut over_pcsc {
            c.run(o, &hash, warm, None)?;
        }
        in_proc.run(o, &hash, warm, None)?;
        let (mut sp, mut si) = (Samples::new(), Samples::new());
        let block = 100;
        let mut done = 0;
        while done < n {
            let b = block.min(n - done);
            if let Some(c) = &mut over_pcsc {
                c.run(o, &hash, b, Some(&mut sp))?;
            }
            in_proc.run(o, &hash, b, Some(&mut si))?;
            done += b;
        }
        if over_pcsc.is_some() {
            row(&mut md, o.label(), "PC/SC", &sp);
            pcsc_rates.push((o, sp.ops_per_sec()));
        }
        row(&mut md, o.label(), "in-process", &si);
    }
    drop(over_pcsc);
    drop(cut);

    // Raw RustCrypto, same generation as the applet (rsa 0.10.0-rc.20, p256 0.14).
    let mut rng = sks_issuer::crypto::rng();
    progress!("issue 4: raw RustCrypto RSA-2048 and P-256 signing");
    let rsa_key = rsa::RsaPrivateKey::new(&mut rng, 2048)?;
    let mut raw_rsa = Samples::new();
    for i in 0..(scale.n(1_000) + 20) {
        let t = Instant::now();
        let sig = rsa_key.sign_with_rng(&mut rng, rsa::Pkcs1v15Sign::new::<Sha256>(), &hash)?;
        let d = t.elapsed();
        black_box(sig);
        if i >= 20 {
            raw_rsa.push(d);
        }
    }
    let ec_key = p256::ecdsa::SigningKey::from_slice(&sks_issuer::crypto::sha256(b"bench key"))?;
    let mut raw_ec = Samples::new();
    for i in 0..(scale.n(10_000) + 100) {
        let t = Instant::now();
        let sig: p256::ecdsa::Signature = ec_key.sign_prehash(&hash)?;
        let d = t.elapsed();
        black_box(sig);
        if i >= 100 {
            raw_ec.push(d);
        }
    }
    // What the applet does per call today: rebuild the SigningKey from the cached scalar (which
    // computes the public point, a second scalar multiplication), then sign.
    let scalar = sks_issuer::crypto::sha256(b"bench key");
    let mut raw_ec_rebuild = Samples::new();
    for i in 0..(scale.n(10_000) + 100) {
        let t = Instant::now();
        let key = p256::ecdsa::SigningKey::from_slice(black_box(&scalar))?;
        let sig: p256::ecdsa::Signature = key.sign_prehash(&hash)?;
        let d = t.elapsed();
        black_box(sig);
        if i >= 100 {
            raw_ec_rebuild.push(d);
        }
    }
    row(
        &mut md,
        "raw RustCrypto RSA-2048 PKCS#1 v1.5 sign (rsa 0.10.0-rc.20, blinded, CRT)",
        "none",
        &raw_rsa,
    );
    row(
        &mut md,
        "raw RustCrypto P-256 ECDSA sign_prehash (p256 0.14)",
        "none",
        &raw_ec,
    );
    row(
        &mut md,
        "raw RustCrypto P-256 `SigningKey::from_slice(scalar)` + sign_prehash (the applet's per-call path)",
        "none",
        &raw_ec_rebuild,
    );
    md.push('\n');

    let _ = writeln!(
        md,
        "| target (over PC/SC) | measured | verdict |\n|---|---|---|"
    );
    for (o, rate) in pcsc_rates {
        let target = match o {
            Op::P256 => TARGET_P256,
            Op::Rsa => TARGET_RSA,
            Op::Hmac => continue,
        };
        let _ = writeln!(
            md,
            "| {} ≥ {} ops/s | {} ops/s | {} |",
            o.label(),
            fmt_rate(target),
            fmt_rate(rate),
            verdict(rate >= target)
        );
    }
    let _ = writeln!(
        md,
        "\nRaw RustCrypto RSA-2048 sign alone: {} ops/s (median {}); P-256 ECDSA alone: {} ops/s.\n",
        fmt_rate(raw_rsa.ops_per_sec()),
        fmt_ns(raw_rsa.median()),
        fmt_rate(raw_ec.ops_per_sec()),
    );
    Ok(md)
}

fn row(md: &mut String, what: &str, transport: &str, s: &Samples) {
    let _ = writeln!(
        md,
        "| {what} | {transport} | {} | {} | {} | {} |",
        s.len(),
        fmt_rate(s.ops_per_sec()),
        fmt_ns(s.median()),
        fmt_ns(s.p99()),
    );
}
