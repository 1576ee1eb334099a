//! The envelope's APDU scripts (`apdu-spec/tests/scripts/*.apdu`, format in
//! `apdu_spec::script`) run in process on the real card (`SksCard` over a `RamStore`): every
//! step, including those PC/SC cannot carry. The conformance tests run the same files over the
//! private pcscd (`tests/tests/envelope_pcsc.rs`).

use apdu_spec::script::{run_all, Power, Transport};
use applet::platform::{seeded_rng, FixedClock};
use applet::store::RamStore;
use applet::{card_with, Card};
use std::time::Duration;

#[test]
fn apdu_scripts_in_process() {
    let mut seed = 0;
    let outcomes = run_all(
        Transport::InProcess,
        || {
            seed += 1;
            let clock = Box::new(FixedClock::at(Duration::from_secs(1_750_000_000)));
            let mut card =
                card_with(RamStore::new(), seeded_rng(seed), clock).expect("card starts");
            card.power_on();
            card
        },
        |card, apdu| card.process(apdu),
        |card, power| match power {
            Power::Reset => card.reset(),
            Power::Cycle => {
                card.power_off();
                card.power_on();
            }
        },
    );
    // In process nothing is skipped.
    assert!(outcomes.iter().all(|(_, o)| o.skipped.is_empty()));
    assert!(outcomes.len() >= 7, "{} scripts", outcomes.len());
}
