//! Issue 2: no-op APDU round trip over pcscd + vpcd, card vs echo card; in-process dispatch.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

use apdu_spec::envelope::{call_apdus, select_apdu};
use apdu_spec::{EnumerateKeys, EnumerateKeysArgs, Method, Wire};
use applet::Card;
use conformance_tests::test_cards::EchoCard;
use conformance_tests::{CardUnderTest, MAX_RESPONSE};
use pcsc_bridge::{PcscTransport, Sks};

use crate::stats::{fmt_ns, Samples};
use crate::{progress, verdict, Result, Scale, TempDir};

/// Target of issue 2: the card's round trip at most this multiple of the echo floor.
const TARGET_RATIO: f64 = 1.2;

/// The measured commands: (label, APDU).
fn commands() -> Result<Vec<(&'static str, Vec<u8>)>> {
    let args = EnumerateKeysArgs { key_handle: 0 }.to_wire()?;
    let enumerate = call_apdus(EnumerateKeys::ID as u8, &args, 0xFFFF, 0).remove(0);
    Ok(vec![
        (
            "enumerateKeys(0) on an empty card: full SKS dispatch, 5-byte answer",
            enumerate,
        ),
        (
            "SELECT of the SKS applet: ISO layer only, no data",
            select_apdu(),
        ),
    ])
}

fn sw(resp: &[u8]) -> u16 {
    match resp {
        [.., a, b] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    }
}

pub fn run(scale: Scale, pcsc: bool) -> Result<String> {
    let mut md = String::from("## Issue 2: no-op APDU round trip\n\n");
    let commands = commands()?;
    let dir = TempDir::new("apdu")?;

    if pcsc {
        let n = scale.n(10_000);
        let warmup = scale.n(500);
        progress!("issue 2: serving the SKS card (file store) and an echo card to a private pcscd");
        let sks_cut = CardUnderTest::start(applet::open_card(Some(&dir.file("card.img")))?);
        let (echo, _events) = EchoCard::new();
        let echo_cut = CardUnderTest::start(Box::new(echo));
        let card = sks_cut.connect();
        let echo = echo_cut.connect();
        let mut buf = vec![0u8; MAX_RESPONSE];
        let select = card.transmit(&select_apdu(), &mut buf)?;
        if sw(select) != 0x9000 {
            return Err(format!("SELECT answered {:04X}", sw(select)).into());
        }

        let _ = writeln!(
            md,
            "Over PC/SC: Rust `pcsc` crate, `SCardTransmit` of one APDU (no PC/SC transaction), \
             private pcscd 1.9.9 + vpcd, card served by vsmartcard-adapter (TCP_NODELAY + \
             QUICKACK). SKS card (file store) and echo card (`conformance_tests::test_cards::\
             EchoCard`) in the two readers of the same pcscd, measured strictly alternating \
             (card, echo, echo, card, ...), {n} APDUs each after {warmup} warm-up each.\n"
        );
        let _ = writeln!(
            md,
            "| command | card median | card p99 | echo median | echo p99 | ratio median | ratio p99 | target ≤ {TARGET_RATIO}× |\n|---|---|---|---|---|---|---|---|"
        );
        for (label, apdu) in &commands {
            progress!("issue 2: {n} round trips each of {label}");
            let mut s = [Samples::new(), Samples::new()];
            for i in 0..(warmup + n) {
                let order = if i % 2 == 0 { [0, 1] } else { [1, 0] };
                for which in order {
                    let target = if which == 0 { &card } else { &echo };
                    let t = Instant::now();
                    let resp = target.transmit(apdu, &mut buf)?;
                    let d = t.elapsed();
                    if sw(resp) != 0x9000 {
                        return Err(
                            format!("{label}: card {which} answered {:04X}", sw(resp)).into()
                        );
                    }
                    if i >= warmup {
                        s[which].push(d);
                    }
                }
            }
            let ratio = s[0].median() / s[1].median();
            let ratio99 = s[0].p99() / s[1].p99();
            let _ = writeln!(
                md,
                "| {label} | {} | {} | {} | {} | {ratio:.2}× | {ratio99:.2}× | {} |",
                fmt_ns(s[0].median()),
                fmt_ns(s[0].p99()),
                fmt_ns(s[1].median()),
                fmt_ns(s[1].p99()),
                verdict(ratio <= TARGET_RATIO),
            );
        }
        let _ = card.disconnect(pcsc::Disposition::LeaveCard);
        let _ = echo.disconnect(pcsc::Disposition::LeaveCard);

        // The same call through the full client: Sks<PcscTransport> (typed call, SCardBegin/
        // EndTransaction around it, response decoding).
        let n_client = scale.n(5_000);
        progress!("issue 2: {n_client} enumerateKeys calls through Sks<PcscTransport>");
        let mut sks = Sks::new(PcscTransport::connect_reader(
            sks_cut.context(),
            sks_cut.reader_name(),
        )?);
        let mut s = Samples::new();
        for i in 0..(warmup + n_client) {
            let t = Instant::now();
            let out = sks.enumerate_keys(&EnumerateKeysArgs { key_handle: 0 })?;
            let d = t.elapsed();
            black_box(out);
            if i >= warmup {
                s.push(d);
            }
        }
        let _ = writeln!(
            md,
            "\nFor reference, the same enumerateKeys through the whole client \
             (`Sks<PcscTransport>::enumerate_keys`: one PC/SC transaction per call, i.e. \
             SCardBeginTransaction + SCardTransmit + SCardEndTransaction, plus encoding and \
             decoding), {n_client} calls: median {}, p99 {}, min {}, max {}.\n",
            fmt_ns(s.median()),
            fmt_ns(s.p99()),
            fmt_ns(s.min()),
            fmt_ns(s.max()),
        );
        drop(sks);
        drop(echo_cut);
        drop(sks_cut);
    }

    // In-process: Card::process of the same APDUs on the same kind of card.
    let n = scale.n(200_000);
    progress!("issue 2: in-process dispatch, {n} calls per command");
    let timer = timer_overhead();
    let mut card = applet::open_card(Some(&dir.file("inproc.img")))?;
    card.power_on();
    let r = card.process(&select_apdu());
    if sw(&r) != 0x9000 {
        return Err(format!("in-process SELECT answered {:04X}", sw(&r)).into());
    }
    let (mut echo, _events) = EchoCard::new();
    let _ = writeln!(
        md,
        "In-process: `Card::process(APDU) -> APDU` called directly (no transport), each call \
         timed with `Instant` (timer overhead ~{} per sample, not subtracted), {n} calls after \
         {} warm-up.\n",
        fmt_ns(timer),
        n / 10
    );
    let _ = writeln!(
        md,
        "| command | SKS card median | p99 | mean | echo card median |\n|---|---|---|---|---|"
    );
    for (label, apdu) in &commands {
        let card_s = dispatch(&mut *card, apdu, n)?;
        let echo_s = dispatch(&mut echo, apdu, n)?;
        let _ = writeln!(
            md,
            "| {label} | {} | {} | {} | {} |",
            fmt_ns(card_s.median()),
            fmt_ns(card_s.p99()),
            fmt_ns(card_s.total() / card_s.len() as f64),
            fmt_ns(echo_s.median()),
        );
    }
    md.push('\n');
    Ok(md)
}

fn dispatch<C: Card + ?Sized>(card: &mut C, apdu: &[u8], n: usize) -> Result<Samples> {
    for _ in 0..n / 10 {
        black_box(card.process(black_box(apdu)));
    }
    let mut s = Samples::new();
    for _ in 0..n {
        let t = Instant::now();
        let r = card.process(black_box(apdu));
        let d = t.elapsed();
        if sw(&r) != 0x9000 {
            return Err(format!("in-process dispatch answered {:04X}", sw(&r)).into());
        }
        black_box(r);
        s.push(d);
    }
    Ok(s)
}

/// Median cost of an `Instant::now()` / `elapsed()` pair.
fn timer_overhead() -> f64 {
    let mut s = Samples::new();
    for _ in 0..10_000 {
        let t = Instant::now();
        s.push(black_box(t).elapsed());
    }
    s.median()
}
