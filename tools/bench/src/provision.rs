//! Issue 3: full provisioning sessions and RSA-2048 key generation.

use std::fmt::Write as _;
use std::time::Instant;

use apdu_spec::{Bytes, DeleteKeyArgs};
use applet::Card;
use conformance_tests::CardUnderTest;
use pcsc_bridge::{InProcess, PcscTransport, Sks, Transport};
use sks_issuer::{alg, Issuer};

use crate::meter::{metered_card, totals, Meter, Timed};
use crate::stats::{fmt_ns, Samples};
use crate::{progress, verdict, Result, Scale, TempDir};

/// Issue 3 targets: P-256 session over PC/SC, RSA-2048 session (medians).
const TARGET_P256_NS: f64 = 2.5e6;
const TARGET_RSA_NS: f64 = 60e6;

type InProc = Sks<Timed<InProcess<dyn Card + Send>>>;

fn in_process(card: Box<dyn Card + Send>) -> Result<InProc> {
    Ok(Sks::new(Timed::new(InProcess::from_box(card)?)))
}

/// Per-phase timings of a session.
#[derive(Default)]
struct Phases {
    total: Samples,
    open: Samples,
    key: Samples,
    certify: Samples,
    close: Samples,
    /// Store commits inside the timed span: time per session, and the total count.
    commit_time: Samples,
    commits: u64,
    /// Time inside the transport (card, plus PC/SC for that transport) per session.
    in_transport: Samples,
}

/// One timed session: getDeviceInfo + createProvisioningSession (with the issuer's attestation
/// check), createKeyEntry (key attestation checked), the CA's certificate + setCertificatePath,
/// closeProvisioningSession (close attestation checked; the card's durable commit). Then,
/// untimed, deleteKey of the new key so the store stays at the same size across samples.
fn session<T: Transport>(
    issuer: &Issuer,
    sks: &mut Sks<Timed<T>>,
    key_algorithm: &str,
    endorse: &str,
    record: Option<&mut Phases>,
    meter: Option<&Meter>,
) -> Result<()> {
    let before = meter.map(totals).unwrap_or_default();
    let spent0 = sks.transport().spent;
    let t0 = Instant::now();
    let mut s = issuer.session(sks).open()?;
    let t1 = Instant::now();
    let key = s
        .key("Key.1")
        .algorithm(key_algorithm)
        .endorse(&[endorse])
        .create()?;
    let t2 = Instant::now();
    let key = s.certify(&key)?;
    let t3 = Instant::now();
    let closed = s.close()?;
    let t4 = Instant::now();
    drop(s);
    let spent = sks.transport().spent - spent0;
    let after = meter.map(totals).unwrap_or_default();
    if let Some(p) = record {
        p.commits += after.count - before.count;
        p.commit_time.push(after.time - before.time);
        p.total.push(t4 - t0);
        p.in_transport.push(spent);
        p.open.push(t1 - t0);
        p.key.push(t2 - t1);
        p.certify.push(t3 - t2);
        p.close.push(t4 - t3);
    }
    let handle = closed.key("Key.1").map_or(key.handle, |k| k.handle);
    sks.delete_key(&DeleteKeyArgs {
        key_handle: handle,
        authorization: Bytes::empty(),
    })?;
    Ok(())
}

/// The transports a session series runs on, in rotation.
enum Target {
    Pcsc(Sks<Timed<PcscTransport>>),
    InProc(InProc, Option<Meter>),
}

impl Target {
    fn session(
        &mut self,
        issuer: &Issuer,
        key_algorithm: &str,
        endorse: &str,
        record: Option<&mut Phases>,
    ) -> Result<()> {
        match self {
            Target::Pcsc(sks) => session(issuer, sks, key_algorithm, endorse, record, None),
            Target::InProc(sks, meter) => {
                session(issuer, sks, key_algorithm, endorse, record, meter.as_ref())
            }
        }
    }
}

/// Runs `n` timed sessions (after `warmup`) on every target, rotating the order each round so
/// that load changes hit every target alike.
fn series(
    issuer: &Issuer,
    targets: &mut [(&'static str, Target)],
    key_algorithm: &str,
    endorse: &str,
    warmup: usize,
    n: usize,
) -> Result<Vec<Phases>> {
    let mut phases: Vec<Phases> = targets.iter().map(|_| Phases::default()).collect();
    let k = targets.len();
    for round in 0..(warmup + n) {
        for j in 0..k {
            let idx = (round + j) % k;
            let record = (round >= warmup).then_some(&mut phases[idx]);
            targets[idx]
                .1
                .session(issuer, key_algorithm, endorse, record)
                .map_err(|e| format!("session on {}: {e}", targets[idx].0))?;
        }
    }
    Ok(phases)
}

fn phase_rows(md: &mut String, what: &str, targets: &[(&'static str, Target)], ph: &[Phases]) {
    for ((label, _), p) in targets.iter().zip(ph) {
        let _ = writeln!(
            md,
            "| {what} | {label} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            p.total.len(),
            fmt_ns(p.total.median()),
            fmt_ns(p.total.p99()),
            fmt_ns(p.in_transport.median()),
            fmt_ns(p.open.median()),
            fmt_ns(p.key.median()),
            fmt_ns(p.certify.median()),
            fmt_ns(p.close.median()),
            if p.commit_time.len() > 0 && p.commits > 0 {
                format!(
                    "{:.1} commits, {}",
                    p.commits as f64 / p.total.len() as f64,
                    fmt_ns(p.commit_time.median())
                )
            } else {
                "not metered".into()
            },
        );
    }
}

pub fn run(scale: Scale, pcsc: bool) -> Result<String> {
    let mut md = String::from("## Issue 3: provisioning\n\n");
    let dir = TempDir::new("provision")?;
    let issuer = Issuer::new()?;

    let cut = if pcsc {
        progress!("issue 3: serving a file-backed SKS card to the private pcscd");
        Some(CardUnderTest::start(applet::open_card(Some(
            &dir.file("pcsc.img"),
        ))?))
    } else {
        None
    };
    let mut targets: Vec<(&'static str, Target)> = Vec::new();
    if let Some(cut) = &cut {
        let t = PcscTransport::connect_reader(cut.context(), cut.reader_name())?;
        targets.push(("PC/SC, file store", Target::Pcsc(Sks::new(Timed::new(t)))));
    }
    let (card, meter) = metered_card(Some(&dir.file("inproc.img")))?;
    targets.push((
        "in-process, file store",
        Target::InProc(in_process(card)?, Some(meter)),
    ));
    let (card, meter) = metered_card(None)?;
    targets.push((
        "in-process, RAM store",
        Target::InProc(in_process(card)?, Some(meter)),
    ));

    let _ = writeln!(
        md,
        "One session = getDeviceInfo + createProvisioningSession (E2ES, P-256 ephemeral key, \
         no KMK; the issuer verifies the device-key attestation) + createKeyEntry (no PIN; key \
         attestation verified) + the issuer CA certifying the key and setCertificatePath \
         ([EE, CA]) + closeProvisioningSession (close attestation verified; the card commits \
         through its store transaction). All issuer-side work (sks-issuer) is inside the timed \
         span. File store: `applet::open_card(Some(path))`, the product store (EEPROM model: \
         sealed pages shadow-written with pwrite, one fdatasync per commit; docs/store.md) in \
         a file image on ext4, so every commit hits the disk. After each session, \
         untimed, deleteKey removes the key (and with it the session object) so every sample \
         sees the same store size. Targets are rotated every round. The PC/SC card is \
         `applet::open_card(Some(path))`; the in-process cards are the same card built with \
         `applet::card_with` over the same `EepromStore` (or a `RamStore`) wrapped to count and time the \
         store commits (last column). \"In transport\" is the time spent inside the transport \
         (in-process: inside the card; PC/SC: transaction + APDU round trips + card); the rest \
         of a session is host work (issuer emulation, client encoding).\n"
    );
    let _ = writeln!(
        md,
        "| session | transport | n | median | p99 | in transport (card, + PC/SC) | open (getDeviceInfo + create) | createKeyEntry | certify + setCertificatePath | close + commit | store commits per session, their median summed time |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );

    let n = scale.n(200);
    progress!(
        "issue 3: {n} P-256 sessions on each of {} targets",
        targets.len()
    );
    let p256 = series(
        &issuer,
        &mut targets,
        alg::EC_P256,
        alg::ECDSA_SHA256,
        scale.n(10),
        n,
    )?;
    phase_rows(&mut md, "one P-256 key", &targets, &p256);

    // RSA-2048: PC/SC and the file-backed in-process card.
    targets.pop();
    let n_rsa = scale.n(30);
    progress!(
        "issue 3: {n_rsa} RSA-2048 sessions on each of {} targets",
        targets.len()
    );
    let rsa = series(
        &issuer,
        &mut targets,
        alg::RSA2048,
        alg::RSA_SHA256,
        scale.n(3).min(3),
        n_rsa,
    )?;
    phase_rows(&mut md, "one RSA-2048 key", &targets, &rsa);
    md.push('\n');

    let p256_pcsc = targets
        .iter()
        .position(|(_, t)| matches!(t, Target::Pcsc(_)));
    let _ = writeln!(md, "| target | measured | verdict |\n|---|---|---|");
    match p256_pcsc {
        Some(i) => {
            let m = p256[i].total.median();
            let _ = writeln!(
                md,
                "| P-256 session over PC/SC ≤ 2.5 ms median | {} | {} |",
                fmt_ns(m),
                verdict(m <= TARGET_P256_NS)
            );
            let m = rsa[i].total.median();
            let _ = writeln!(
                md,
                "| RSA-2048 session ≤ 60 ms median (over PC/SC) | {} | {} |",
                fmt_ns(m),
                verdict(m <= TARGET_RSA_NS)
            );
        }
        None => {
            let _ = writeln!(md, "| (PC/SC skipped) | | |");
        }
    }
    let i = targets.len() - 1;
    let m = rsa[i].total.median();
    let _ = writeln!(
        md,
        "| RSA-2048 session ≤ 60 ms median (in-process) | {} | {} |",
        fmt_ns(m),
        verdict(m <= TARGET_RSA_NS)
    );
    md.push('\n');
    drop(targets);
    drop(cut);

    // RSA-2048 key generation alone: createKeyEntry, in-process (RAM store; no commit happens
    // in createKeyEntry), in a session that is then aborted.
    let n_gen = scale.n(40).max(5);
    progress!("issue 3: {n_gen} RSA-2048 createKeyEntry calls, then raw RustCrypto keygen");
    let mut sks = in_process(applet::open_card(None)?)?;
    let mut card_gen = Samples::new();
    for _ in 0..n_gen {
        let mut s = issuer.session(&mut sks).open()?;
        let req = s
            .key("RSA.1")
            .algorithm(alg::RSA2048)
            .endorse(&[alg::RSA_SHA256])
            .prepare()?;
        let t = Instant::now();
        s.send_key(&req)?;
        card_gen.push(t.elapsed());
        s.abort()?;
    }
    let n_raw = scale.n(20).max(5);
    let mut raw_gen = Samples::new();
    let mut rng = sks_issuer::crypto::rng();
    for _ in 0..n_raw {
        let t = Instant::now();
        let k = rsa::RsaPrivateKey::new(&mut rng, 2048)?;
        raw_gen.push(t.elapsed());
        std::hint::black_box(k);
    }
    let _ = writeln!(
        md,
        "RSA-2048 key generation (e = 65537). Card: one createKeyEntry call in-process \
         (key generation in the applet's crypto engine, RustCrypto rsa 0.10.0-rc.20, plus key \
         attestation and its check by the issuer), session aborted afterwards. Raw: \
         `rsa::RsaPrivateKey::new(rng, 2048)` in this binary.\n"
    );
    let _ = writeln!(
        md,
        "| RSA-2048 keygen | n | median | min | max | mean |\n|---|---|---|---|---|---|"
    );
    for (label, s) in [
        ("card (createKeyEntry)", &card_gen),
        ("raw RustCrypto", &raw_gen),
    ] {
        let _ = writeln!(
            md,
            "| {label} | {} | {} | {} | {} | {} |",
            s.len(),
            fmt_ns(s.median()),
            fmt_ns(s.min()),
            fmt_ns(s.max()),
            fmt_ns(s.total() / s.len() as f64),
        );
    }
    md.push('\n');
    Ok(md)
}
