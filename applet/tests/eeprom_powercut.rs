//! Exhaustive power-cut injection over a scripted workload of random transactions: for EVERY
//! page write k of the workload, with and without tearing that write, the image reopened after
//! the cut holds exactly the state before or after the interrupted transaction, and the
//! recovered store keeps working (the rest of the script runs on it and survives a reopen).

use applet::store::fault::FaultyMedium;
use applet::store::{
    EepromStore, Geometry, Kind, MasterKey, RamMedium, RecordKey, Store, StoreError, Write,
};
use std::collections::BTreeMap;

type State = BTreeMap<RecordKey, Vec<u8>>;

/// A small medium so that the script fills it and forces compaction: 64 pages of 256 bytes.
const GEOMETRY: Geometry = Geometry {
    page_size: 256,
    page_count: 64,
};

fn key() -> MasterKey {
    MasterKey::new([7; 16], [9; 32])
}

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn script(seed: u64, len: usize) -> Vec<Vec<Write>> {
    const KINDS: [Kind; 4] = [Kind::Session, Kind::Key, Kind::PinPolicy, Kind::Counters];
    const SIZES: [usize; 11] = [0, 1, 17, 150, 201, 202, 203, 404, 600, 900, 1300];
    let mut rng = Rng(seed);
    (0..len)
        .map(|t| {
            (0..1 + rng.below(4))
                .map(|_| {
                    let k = RecordKey::new(KINDS[rng.below(4)], rng.below(4) as u32);
                    if rng.below(4) == 0 {
                        Write::Delete(k)
                    } else {
                        let n = SIZES[rng.below(SIZES.len())];
                        let fill = (t as u8).wrapping_mul(31) ^ (k.id as u8);
                        Write::Put(k, (0..n).map(|i| fill.wrapping_add(i as u8)).collect())
                    }
                })
                .collect()
        })
        .collect()
}

fn state_of(s: &impl Store) -> State {
    s.keys()
        .into_iter()
        .map(|k| (k, s.get(k).expect("listed key").to_vec()))
        .collect()
}

fn apply(state: &State, writes: &[Write]) -> State {
    let mut next = state.clone();
    for w in writes {
        match w {
            Write::Put(k, v) => {
                next.insert(*k, v.clone());
            }
            Write::Delete(k) => {
                next.remove(k);
            }
        }
    }
    next
}

/// The base image: a formatted medium holding a few records.
fn base_image() -> Vec<u8> {
    let medium = RamMedium::new(GEOMETRY.total_bytes() as usize);
    let mut s = EepromStore::format(medium.clone(), key(), GEOMETRY).unwrap();
    s.commit(vec![
        Write::Put(RecordKey::new(Kind::DeviceIdentity, 0), vec![0xD1; 700]),
        Write::Put(RecordKey::new(Kind::Counters, 0), vec![1, 2, 3, 4]),
    ])
    .unwrap();
    medium.image()
}

/// Runs the script on a fresh copy of `base` with a cut at write `cut` (if any). Returns the
/// index of the interrupted transaction (None if none was), the states before every
/// transaction, and the medium.
struct Run {
    interrupted: Option<usize>,
    states: Vec<State>,
    writes: usize,
    medium: RamMedium,
    full_refusals: usize,
    compactions: u64,
}

fn run(base: &[u8], txns: &[Vec<Write>], cut: Option<usize>, tear: bool) -> Run {
    let medium = RamMedium::from_bytes(base.to_vec());
    let faulty = FaultyMedium::new(medium.clone(), cut, tear);
    let handle = faulty.handle();
    let mut store = EepromStore::open_with_medium(faulty, key()).unwrap();
    let mut states = vec![state_of(&store)];
    let mut interrupted = None;
    let mut full_refusals = 0;
    for (i, t) in txns.iter().enumerate() {
        let before = states[i].clone();
        match store.commit(t.clone()) {
            Ok(()) => {
                let after = apply(&before, t);
                assert_eq!(state_of(&store), after, "txn {i}");
                states.push(after);
            }
            Err(StoreError::Full { .. }) => {
                full_refusals += 1;
                assert_eq!(
                    state_of(&store),
                    before,
                    "Full must change nothing (txn {i})"
                );
                states.push(before);
            }
            Err(StoreError::Io(_)) => {
                assert!(cut.is_some(), "I/O error without a cut at txn {i}");
                assert_eq!(
                    state_of(&store),
                    before,
                    "a failed commit must not change RAM"
                );
                // The store refuses everything after a medium failure.
                assert!(store
                    .commit(vec![Write::Delete(RecordKey::new(Kind::Key, 0))])
                    .is_err());
                states.push(apply(&before, t));
                interrupted = Some(i);
                break;
            }
            Err(e) => panic!("txn {i}: {e}"),
        }
    }
    Run {
        interrupted,
        states,
        writes: handle.writes(),
        medium,
        full_refusals,
        compactions: store.stats().compactions,
    }
}

#[test]
fn every_write_of_the_workload_can_be_cut_or_torn() {
    let base = base_image();
    let txns = script(0x5EED_0001, 120);
    let reference = run(&base, &txns, None, false);
    let total = reference.writes;
    assert!(reference.interrupted.is_none());
    assert!(
        reference.compactions > 3,
        "the script must exercise compaction"
    );
    assert!(total > 100, "too few writes: {total}");

    let mut points = 0;
    let (mut before, mut after) = (0, 0);
    for tear in [false, true] {
        for k in 1..=total {
            let r = run(&base, &txns, Some(k), tear);
            let i = r
                .interrupted
                .unwrap_or_else(|| panic!("cut at {k} did not interrupt"));
            points += 1;
            let recovered_medium = r.medium.deep_clone();
            let mut store = EepromStore::open_with_medium(recovered_medium.clone(), key())
                .unwrap_or_else(|e| panic!("k={k} tear={tear}: reopen failed: {e}"));
            let got = state_of(&store);
            if got == r.states[i] {
                before += 1;
            } else if got == r.states[i + 1] {
                after += 1;
            } else {
                panic!(
                    "k={k} tear={tear}: recovered a state that is neither before nor after txn {i}"
                );
            }
            // The recovered store keeps working: run the rest of the script on it.
            let mut model = got;
            for t in &txns[i + 1..] {
                match store.commit(t.clone()) {
                    Ok(()) => model = apply(&model, t),
                    Err(StoreError::Full { .. }) => {}
                    Err(e) => panic!("k={k} tear={tear}: after recovery: {e}"),
                }
                assert_eq!(state_of(&store), model);
            }
            drop(store);
            let reopened = EepromStore::open_with_medium(recovered_medium, key()).unwrap();
            assert_eq!(
                state_of(&reopened),
                model,
                "k={k} tear={tear}: final reopen"
            );
        }
    }
    assert_eq!(points, 2 * total);
    println!(
        "power-cut injection: {total} page writes in {} transactions ({} refused Full, {} \
         compactions); {points} injection points (cut and torn); recovered to before: {before}, \
         after: {after}",
        txns.len(),
        reference.full_refusals,
        reference.compactions
    );
}

/// A second, independent workload and seed: cuts during a run that started from a torn image.
#[test]
fn cuts_after_an_earlier_cut_also_recover() {
    let base = base_image();
    let txns = script(0xC0FF_EE02, 60);
    // First cut: tear the 37th write, recover, then take that image as the new base.
    let first = run(&base, &txns, Some(37), true);
    let base2 = first.medium.image();
    let start = first.interrupted.unwrap() + 1;
    let rest = &txns[start..];
    let reference = run(&base2, rest, None, false);
    for tear in [false, true] {
        for k in 1..=reference.writes {
            let r = run(&base2, rest, Some(k), tear);
            let i = r.interrupted.unwrap();
            let store = EepromStore::open_with_medium(r.medium.deep_clone(), key()).unwrap();
            let got = state_of(&store);
            assert!(
                got == r.states[i] || got == r.states[i + 1],
                "k={k} tear={tear}"
            );
        }
    }
}
