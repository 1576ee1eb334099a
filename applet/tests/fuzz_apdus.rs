//! Whole-applet robustness: arbitrary APDU sequences, raw and as well-formed SKS calls with
//! arbitrary bodies for every method id, never panic and always get a status word; afterwards
//! the card still answers getDeviceInfo.

use apdu_spec::envelope::{call_apdus, select_apdu, split_response, sw};
use apdu_spec::MethodId;
use applet::platform::{seeded_rng, FixedClock};
use applet::store::RamStore;
use applet::{card_with, Card};
use proptest::prelude::*;
use std::time::Duration;

fn card() -> impl Card {
    let clock = Box::new(FixedClock::at(Duration::from_secs(1_750_000_000)));
    let mut c = card_with(RamStore::new(), seeded_rng(11), clock).expect("card starts");
    c.power_on();
    c
}

/// One step: a raw APDU, an SKS call (chained when long) with an arbitrary body, or a
/// power/reset event.
#[derive(Debug, Clone)]
enum Step {
    Raw(Vec<u8>),
    Call {
        method: u8,
        body: Vec<u8>,
        chunk: usize,
    },
    Select,
    Reset,
}

fn step() -> impl Strategy<Value = Step> {
    let ids: Vec<u8> = MethodId::ALL.iter().map(|m| *m as u8).collect();
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Step::Raw),
        (
            proptest::sample::select(ids),
            proptest::collection::vec(any::<u8>(), 0..600),
            1usize..700
        )
            .prop_map(|(method, body, chunk)| Step::Call {
                method,
                body,
                chunk
            }),
        Just(Step::Select),
        Just(Step::Reset),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_apdu_sequences_never_panic(steps in proptest::collection::vec(step(), 1..40)) {
        let mut c = card();
        for s in &steps {
            match s {
                Step::Raw(apdu) => {
                    let resp = c.process(apdu);
                    prop_assert!(resp.len() >= 2, "every answer carries a status word");
                }
                Step::Call { method, body, chunk } => {
                    for apdu in call_apdus(*method, body, *chunk, 0) {
                        prop_assert!(c.process(&apdu).len() >= 2);
                    }
                }
                Step::Select => {
                    prop_assert_eq!(c.process(&select_apdu()), vec![0x90, 0x00]);
                }
                Step::Reset => c.reset(),
            }
        }
        prop_assert_eq!(c.process(&select_apdu()), vec![0x90, 0x00]);
        let resp = c.process(&call_apdus(1, &[], 255, 0)[0]);
        let (data, status) = split_response(&resp).unwrap();
        prop_assert_eq!(status, sw::OK);
        prop_assert_eq!(data.first(), Some(&0u8), "getDeviceInfo still succeeds");
    }
}
