//! Open provisioning sessions cannot pile up (issue 9 item 8): sessionLifeTime is enforced by the
//! card's clock (at the next call and at start), the number of open sessions is capped, and the
//! store keeps a reserve so that PIN and PUK attempts always commit.

#[path = "support/user.rs"]
mod user;

use apdu_spec::ErrorCode;
use applet::platform::{seeded_rng, ManualClock};
use applet::store::{EepromStore, MasterKey, RamMedium, RamStore, Store};
use pcsc_bridge::{InProcess, Sks};
use std::time::Duration;
use user::*;

const START: Duration = Duration::from_secs(1_750_000_000);

fn card_on<S: Store + Send + 'static>(store: S, clock: &ManualClock) -> Card {
    let card = applet::card_with(store, seeded_rng(7), Box::new(clock.clone())).expect("card");
    let boxed: Box<dyn applet::Card + Send> = Box::new(card);
    Sks::new(InProcess::from_box(boxed).expect("select"))
}

#[test]
fn an_expired_session_is_aborted_at_the_next_call() {
    let clock = ManualClock::at(START);
    let mut sks = card_on(RamStore::new(), &clock);
    let issuer = issuer();
    let (short, long) = {
        let mut s = issuer.session(&mut sks).life_time(60).open().unwrap();
        key(&mut s, "Left.behind", alg::EC_P256, &[], |_| {});
        let short = s.provisioning_handle();
        drop(s);
        let s = issuer.session(&mut sks).life_time(600).open().unwrap();
        (short, s.provisioning_handle())
    };
    clock.advance(Duration::from_secs(59));
    let open: Vec<u32> = sks.sessions(true).unwrap().iter().map(|s| s.0).collect();
    assert_eq!(
        open,
        [short, long],
        "alive until its sessionLifeTime has passed"
    );
    clock.advance(Duration::from_secs(1));
    let open: Vec<u32> = sks.sessions(true).unwrap().iter().map(|s| s.0).collect();
    assert_eq!(open, [long], "60 s after creation the session is gone");
    let abort = sks.abort_provisioning_session(&apdu_spec::AbortProvisioningSessionArgs {
        provisioning_handle: short,
    });
    expect_err(
        abort,
        ErrorCode::NoSession,
        "the expired session is no more",
    );
}

#[test]
fn expired_sessions_are_aborted_at_start() {
    let dir = conformance_tests::TempDir::new("expiry-at-start");
    let image = dir.file("card.img");
    let clock = ManualClock::at(START);
    let open = || EepromStore::open(&image, applet::PRODUCT_GEOMETRY).expect("image");
    let issuer = issuer();
    let handle = {
        let mut sks = card_on(open(), &clock);
        let s = issuer.session(&mut sks).life_time(30).open().unwrap();
        s.provisioning_handle()
    };
    clock.advance(Duration::from_secs(31));
    // The applet aborts it while starting, before any call: the image no longer holds it.
    drop(card_on(open(), &clock));
    let store = open();
    let sessions = store
        .keys()
        .into_iter()
        .filter(|k| k.kind == applet::store::Kind::Session && k.id == handle)
        .count();
    assert_eq!(sessions, 0, "the expired session was removed at start");
}

#[test]
fn open_sessions_are_capped() {
    let clock = ManualClock::at(START);
    let mut sks = card_on(RamStore::new(), &clock);
    let issuer = issuer();
    let cap = applet::MAX_OPEN_SESSIONS;
    let mut handles = Vec::new();
    for _ in 0..cap {
        handles.push(
            issuer
                .session(&mut sks)
                .open()
                .unwrap()
                .provisioning_handle(),
        );
    }
    let err = issuer.session(&mut sks).open().map(|_| ()).unwrap_err();
    assert_eq!(err.sks_code(), Some(ErrorCode::NotAllowed), "{err}");
    assert!(
        err.to_string().contains("provisioning sessions are open"),
        "{err}"
    );
    ok(
        sks.abort_provisioning_session(&apdu_spec::AbortProvisioningSessionArgs {
            provisioning_handle: handles[0],
        }),
        "abort one",
    );
    issuer.session(&mut sks).open().expect("room for one again");
}

#[test]
fn provisioning_leaves_a_reserve_so_pin_attempts_always_commit() {
    // Fill the store through provisioning (keys with extension data in closed sessions, 1 KB at
    // a time) until it refuses with ERROR_STORAGE. The refusal must come while a reserve is
    // still free, and a PIN attempt must then be counted and judged (never ERROR_STORAGE).
    let clock = ManualClock::at(START);
    let geometry = applet::store::Geometry {
        page_size: 256,
        page_count: 512,
    };
    let medium = RamMedium::new(geometry.total_bytes() as usize);
    let master = || MasterKey::new([3; 16], [4; 32]);
    let store = EepromStore::format(medium.clone(), master(), geometry).unwrap();
    let mut sks = card_on(store, &clock);
    let issuer = issuer();
    let closed = provision(&mut sks, &issuer, |s| {
        key_with_own_pin(s, "Pinned", alg::EC_P256, &[alg::ECDSA_SHA256], b"1234");
    });
    let k = closed.key("Pinned").unwrap();
    let mut refused = false;
    for i in 0..1000 {
        let mut s = issuer.session(&mut sks).open().unwrap();
        let filled = s
            .create_key(&sks_issuer::KeySpec::new("Filler"))
            .and_then(|f| s.certify(&f))
            .and_then(|f| s.extension(&f, &format!("urn:filler:{i}"), &[0xA5; 1024]))
            .and_then(|()| s.close().map(|_| ()));
        if let Err(e) = filled {
            assert_eq!(e.sks_code(), Some(ErrorCode::Storage), "{e}");
            refused = true;
            break;
        }
    }
    assert!(refused, "the store never filled up");
    let stats = EepromStore::open_with_medium(medium.deep_clone(), master())
        .unwrap()
        .stats();
    let free = stats.capacity_bytes - stats.used_bytes;
    assert!(
        free >= applet::STORE_RESERVE,
        "provisioning left only {free} bytes for PIN and PUK counters"
    );
    let data = random(32);
    expect_err(
        sign(&mut sks, k.handle, alg::ECDSA_SHA256, b"9999", &data),
        ErrorCode::Authorization,
        "a wrong PIN is counted, not refused for storage",
    );
    assert_eq!(protection(&mut sks, k.handle).pin_error_count, 1);
    assert_signs(
        &mut sks,
        k,
        ES256,
        b"1234",
        &data,
        "the right PIN still works",
    );
    assert_eq!(protection(&mut sks, k.handle).pin_error_count, 0);
}
