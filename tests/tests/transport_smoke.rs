//! Smoke tests of the transport: echo card → vsmartcard adapter → vpcd → private pcscd →
//! `pcsc` client. All tests in this binary share the process-wide private pcscd.

use std::time::{Duration, Instant};

use std::sync::Arc;

use conformance_tests::test_cards::{CardEvents, EchoCard, TEST_ATR};
use conformance_tests::{init_logging, transmit, CardUnderTest};

/// An echo card in a reader of the private pcscd, and its event counters.
fn echo_card() -> (CardUnderTest<'static>, Arc<CardEvents>) {
    init_logging();
    let (card, events) = EchoCard::new();
    (CardUnderTest::start(Box::new(card)), events)
}

#[test]
fn echo_card_answers_through_pcscd() {
    let (cut, events) = echo_card();

    let pcsc_card = cut.connect();
    let (_names, atr) = {
        let status = pcsc_card.status2_owned().expect("SCardStatus");
        (status.reader_names().to_vec(), status.atr().to_vec())
    };
    assert_eq!(atr, TEST_ATR);

    let apdu = [0x00, 0xCA, 0x01, 0x02, 0x03, 0xAA, 0xBB, 0xCC, 0x00];
    let mut expected = apdu.to_vec();
    expected.extend_from_slice(&[0x90, 0x00]);
    assert_eq!(transmit(&pcsc_card, &apdu), expected);

    // An extended APDU near the frame limit passes in one piece.
    let mut big = vec![0x00, 0xDA, 0x00, 0x00, 0x00, 0xEF, 0xFF];
    big.extend(std::iter::repeat_n(0x5A, 0xEFFF));
    let response = transmit(&pcsc_card, &big);
    assert_eq!(response.len(), big.len() + 2);
    assert_eq!(&response[..big.len()], &big[..]);

    pcsc_card
        .disconnect(pcsc::Disposition::LeaveCard)
        .map_err(|(_, e)| e)
        .expect("SCardDisconnect");
    let (power_on, _, _, apdus) = events.counts();
    assert!(power_on >= 1, "the card was powered on");
    assert_eq!(apdus, 2);
}

#[test]
fn card_comes_back_after_the_connection_drops() {
    let (mut cut, events) = echo_card();
    let apdu = [0x80, 0x01, 0x00, 0x00];
    {
        let c = cut.connect();
        assert_eq!(transmit(&c, &apdu), [0x80, 0x01, 0x00, 0x00, 0x90, 0x00]);
    }

    // Same card object, new connection: pcscd must see a removal and a new insertion.
    cut.reconnect();
    {
        let c = cut.connect();
        assert_eq!(transmit(&c, &apdu), [0x80, 0x01, 0x00, 0x00, 0x90, 0x00]);
    }
    let (_, power_off, _, apdus) = events.counts();
    assert!(power_off >= 1, "a dropped connection counts as power off");
    assert_eq!(apdus, 2, "the card object survived the reconnection");

    // A new card object (as when reopening a store): the reader sees the new card.
    let (card2, events2) = EchoCard::new();
    cut.restart(move || Box::new(card2));
    {
        let c = cut.connect();
        assert_eq!(transmit(&c, &apdu), [0x80, 0x01, 0x00, 0x00, 0x90, 0x00]);
    }
    assert_eq!(events2.counts().3, 1);
}

/// Measures (no assertion on time) the round trip of tiny APDUs. ~0.1 ms means TCP_NODELAY +
/// TCP_QUICKACK work; ~40 ms means the Nagle/delayed-ACK trap is back.
#[test]
fn tiny_apdu_round_trip() {
    let (cut, _events) = echo_card();
    let c = cut.connect();
    let apdu = [0x00, 0x00, 0x00, 0x00];
    let mut buffer = [0u8; 64];
    for _ in 0..20 {
        c.transmit(&apdu, &mut buffer).expect("transmit");
    }
    let mut samples = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let start = Instant::now();
        let response = c.transmit(&apdu, &mut buffer).expect("transmit");
        samples.push(start.elapsed());
        assert_eq!(&response[4..], [0x90, 0x00]);
    }
    samples.sort();
    let median = samples[samples.len() / 2];
    let p99 = samples[samples.len() * 99 / 100];
    println!(
        "tiny APDU round trip over pcscd+vpcd (1000 samples): median {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        micros(median),
        micros(p99),
        micros(samples[samples.len() - 1]),
    );
    if median > Duration::from_millis(10) {
        println!("WARNING: median above 10 ms: TCP_QUICKACK/TCP_NODELAY is not effective");
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
