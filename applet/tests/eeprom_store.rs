//! The EEPROM-model store: round trips, capacity, sealing (corrupted, truncated, foreign and
//! wrong-version images), the file image and its key file, format stability (golden image),
//! and a small measurement (ignored by default; run with `--ignored --nocapture`).

#[path = "support/golden_image.rs"]
mod golden_image;

use applet::store::{
    default_key_path, EepromStore, Geometry, Kind, MasterKey, Medium, RamMedium, RecordKey, Store,
    StoreError, Write,
};
use golden_image::{golden_dir, golden_records, GOLDEN_GEOMETRY};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SMALL: Geometry = Geometry {
    page_size: 256,
    page_count: 256, // 64 KiB
};

fn key() -> MasterKey {
    MasterKey::new([1; 16], [2; 32])
}

fn k(kind: Kind, id: u32) -> RecordKey {
    RecordKey::new(kind, id)
}

fn state_of(s: &impl Store) -> BTreeMap<RecordKey, Vec<u8>> {
    s.keys()
        .into_iter()
        .map(|k| (k, s.get(k).unwrap().to_vec()))
        .collect()
}

fn new_store(g: Geometry) -> (EepromStore<RamMedium>, RamMedium) {
    let m = RamMedium::new(g.total_bytes() as usize);
    (EepromStore::format(m.clone(), key(), g).unwrap(), m)
}

fn reopen(m: &RamMedium) -> Result<EepromStore<RamMedium>, StoreError> {
    EepromStore::open_with_medium(m.deep_clone(), key())
}

fn corrupt_msg(r: Result<EepromStore<RamMedium>, StoreError>) -> String {
    match r {
        Err(StoreError::Corrupt(m)) => m,
        Err(e) => panic!("expected Corrupt, got {e:?}"),
        Ok(_) => panic!("expected Corrupt, the image opened"),
    }
}

/// How opening an image file must fail.
#[derive(Debug, PartialEq)]
enum Refused {
    Io,
    Corrupt,
}

/// The message of `EepromStore::open(image)` failing as `how`; panics on anything else.
fn open_error(image: &Path, how: Refused) -> String {
    match (EepromStore::open(image, SMALL), how) {
        (Err(StoreError::Io(e)), Refused::Io) => e.to_string(),
        (Err(StoreError::Corrupt(msg)), Refused::Corrupt) => msg,
        (other, how) => panic!("expected {how:?}, got {other:?}"),
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sks-eeprom-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A populated image: several transactions, overwrites, a delete, a multi-page record.
fn populated() -> (EepromStore<RamMedium>, RamMedium) {
    let (mut s, m) = new_store(SMALL);
    s.commit(vec![
        Write::Put(k(Kind::DeviceIdentity, 0), vec![0xAA; 900]),
        Write::Put(k(Kind::Counters, 0), vec![0, 0, 0, 1]),
    ])
    .unwrap();
    s.commit(vec![
        Write::Put(k(Kind::Session, 1), b"session one".to_vec()),
        Write::Put(k(Kind::Key, 1), vec![0x11; 600]),
        Write::Put(k(Kind::PinPolicy, 1), b"pin".to_vec()),
    ])
    .unwrap();
    s.commit(vec![
        Write::Put(k(Kind::Counters, 0), vec![0, 0, 0, 2]),
        Write::Delete(k(Kind::Session, 1)),
        Write::Put(k(Kind::Key, 2), vec![]),
    ])
    .unwrap();
    (s, m)
}

// ---- layout and recovery ----

#[test]
fn records_survive_reopen_with_deletes_overwrites_and_empty_values() {
    let (s, m) = populated();
    let want = state_of(&s);
    assert_eq!(want.len(), 5);
    assert_eq!(want[&k(Kind::Counters, 0)], vec![0, 0, 0, 2]);
    assert_eq!(want[&k(Kind::Key, 2)], Vec::<u8>::new());
    assert!(!want.contains_key(&k(Kind::Session, 1)));
    let r = reopen(&m).unwrap();
    assert_eq!(state_of(&r), want);
    assert_eq!(r.stats().live_transactions, 3);
    assert_eq!(r.card_id(), [1; 16]);
}

#[test]
fn writes_in_one_commit_apply_in_order_and_noops_write_nothing() {
    let (mut s, _m) = new_store(SMALL);
    let before = s.stats().pages_written;
    s.commit(vec![]).unwrap();
    s.commit(vec![Write::Delete(k(Kind::Key, 9))]).unwrap();
    assert_eq!(
        s.stats().pages_written,
        before,
        "no-op commits write nothing"
    );
    s.commit(vec![
        Write::Put(k(Kind::Key, 1), vec![1]),
        Write::Delete(k(Kind::Key, 1)),
        Write::Put(k(Kind::Key, 2), vec![2]),
        Write::Put(k(Kind::Key, 2), vec![3]),
    ])
    .unwrap();
    assert_eq!(s.get(k(Kind::Key, 1)), None);
    assert_eq!(s.get(k(Kind::Key, 2)), Some(&[3][..]));
    assert_eq!(s.stats().last_commit.pages_written, 1);
}

#[test]
fn a_small_transaction_writes_one_page_and_a_multi_page_record_spans_pages() {
    let (mut s, _m) = new_store(SMALL);
    s.commit(vec![Write::Put(k(Kind::Counters, 0), vec![9; 8])])
        .unwrap();
    let c = s.stats().last_commit;
    assert_eq!((c.pages_written, c.bytes_written), (1, 256));
    let payload = SMALL.payload_per_page();
    s.commit(vec![Write::Put(k(Kind::Key, 1), vec![7; 3 * payload])])
        .unwrap();
    assert_eq!(s.stats().last_commit.pages_written, 4);
}

#[test]
fn compaction_keeps_state_and_spreads_wear() {
    let (mut s, m) = new_store(SMALL);
    for i in 0..20 {
        s.commit(vec![Write::Put(k(Kind::Key, i), vec![i as u8; 600])])
            .unwrap();
    }
    // Thousands of small updates (a PIN error counter) on a card holding 20 keys.
    for n in 0..3000u32 {
        s.commit(vec![Write::Put(
            k(Kind::Counters, 0),
            n.to_be_bytes().to_vec(),
        )])
        .unwrap();
    }
    let st = s.stats();
    assert!(st.compactions > 0);
    assert!(st.live_pages <= (SMALL.page_count as usize - 1) / 2 + 1);
    // Wear levelling: 3000+ writes over 255 data pages.
    assert!(st.max_wear() < 40, "max wear {}", st.max_wear());
    let want = state_of(&s);
    let r = reopen(&m).unwrap();
    assert_eq!(state_of(&r), want);
    assert_eq!(r.stats().wear, st.wear, "wear counters survive a restart");
}

// ---- capacity ----

#[test]
fn filling_the_card_gives_full_without_changing_state_and_deletes_free_space() {
    let (mut s, m) = new_store(SMALL);
    let mut n = 0;
    let err = loop {
        match s.commit(vec![Write::Put(k(Kind::Key, n), vec![n as u8; 600])]) {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
    };
    let StoreError::Full { needed, capacity } = err else {
        panic!("expected Full, got {err:?}");
    };
    assert!(needed > capacity);
    assert_eq!(capacity, SMALL.capacity_bytes());
    assert!(n >= 40, "only {n} records of 600 bytes fit in 64 KiB");
    let full = state_of(&s);
    assert_eq!(full.len(), n as usize);
    assert_eq!(
        state_of(&reopen(&m).unwrap()),
        full,
        "the refused commit wrote nothing"
    );
    // A transaction with several puts is refused as a whole.
    assert!(matches!(
        s.commit(vec![
            Write::Put(k(Kind::Counters, 0), vec![1]),
            Write::Put(k(Kind::Key, 999), vec![0; 2000]),
        ]),
        Err(StoreError::Full { .. })
    ));
    assert_eq!(state_of(&s), full);
    // Same-size updates still work on a full card; a delete frees room for a new record.
    s.commit(vec![Write::Put(k(Kind::Key, 0), vec![0xEE; 600])])
        .unwrap();
    s.commit(vec![Write::Delete(k(Kind::Key, 1))]).unwrap();
    s.commit(vec![Write::Put(k(Kind::Key, 1000), vec![0xBB; 600])])
        .unwrap();
    let r = reopen(&m).unwrap();
    assert_eq!(r.get(k(Kind::Key, 1000)), Some(&[0xBB; 600][..]));
    assert_eq!(r.get(k(Kind::Key, 1)), None);
    assert_eq!(r.keys().len(), n as usize);
}

#[test]
fn a_record_larger_than_the_card_is_refused() {
    let (mut s, _m) = new_store(SMALL);
    let r = s.commit(vec![Write::Put(k(Kind::Key, 1), vec![0; 64 * 1024])]);
    assert!(matches!(r, Err(StoreError::Full { .. })));
    assert!(s.keys().is_empty());
}

// ---- sealing: corrupted, truncated, foreign, wrong version ----

#[test]
fn every_single_page_edit_is_refused_or_harmless() {
    let (mut s, m) = populated();
    let previous = state_of(&s);
    // The newest transaction: two records in one page, then a record of two pages.
    s.commit(vec![Write::Put(k(Kind::PukPolicy, 1), vec![0x50; 300])])
        .unwrap();
    assert_eq!(s.stats().last_commit.pages_written, 2);
    let want = state_of(&s);
    let image = m.image();
    let mut refused = 0;
    let mut rolled_back = 0;
    for p in 0..SMALL.page_count as usize {
        for offset in [0, 100, 255] {
            let mut edited = image.clone();
            edited[p * 256 + offset] ^= 0x01;
            match EepromStore::open_with_medium(RamMedium::from_bytes(edited), key()) {
                // Damage to the last page of the newest transaction looks exactly like a
                // power cut tearing that page: the card opens in the previous committed state
                // (a rollback, which no image-only design can tell from an old copy).
                Ok(r) if state_of(&r) == previous => rolled_back += 1,
                Ok(r) => assert_eq!(state_of(&r), want, "page {p} edit changed the state"),
                Err(StoreError::Corrupt(msg)) => {
                    refused += 1;
                    assert!(!msg.is_empty());
                }
                Err(e) => panic!("page {p}: {e:?}"),
            }
        }
    }
    // Edits of the header and of every live page are refused.
    assert!(refused >= 3 * 8, "only {refused} edits refused");
    assert!(
        rolled_back <= 3,
        "{rolled_back} edits rolled back more than the last page"
    );
}

#[test]
fn an_edited_live_page_names_the_damaged_transaction() {
    let (_s, m) = new_store(SMALL);
    let mut s = EepromStore::open_with_medium(m.clone(), key()).unwrap();
    s.commit(vec![Write::Put(k(Kind::Key, 1), vec![1; 10])])
        .unwrap();
    s.commit(vec![Write::Put(k(Kind::Key, 2), vec![2; 10])])
        .unwrap();
    // Page 1 holds the first transaction (fresh pages are taken in order).
    let mut img = m.image();
    img[256 + 40] ^= 0x80;
    let msg = corrupt_msg(EepromStore::open_with_medium(
        RamMedium::from_bytes(img),
        key(),
    ));
    assert!(
        msg.contains("transaction 1") && msg.contains("edited"),
        "{msg}"
    );
}

#[test]
fn swapped_pages_are_refused() {
    let (_s, m) = populated();
    let mut img = m.image();
    let (a, b) = (256..512, 512..768);
    let pa = img[a.clone()].to_vec();
    let pb = img[b.clone()].to_vec();
    img[a].copy_from_slice(&pb);
    img[b].copy_from_slice(&pa);
    corrupt_msg(EepromStore::open_with_medium(
        RamMedium::from_bytes(img),
        key(),
    ));
}

#[test]
fn truncated_and_foreign_files_are_refused_with_clear_messages() {
    let (_s, m) = populated();
    let img = m.image();
    for (bytes, expect) in [
        (img[..img.len() - 1].to_vec(), "truncated"),
        (img[..img.len() / 2].to_vec(), "truncated"),
        (img[..256].to_vec(), "truncated"),
        (img[..20].to_vec(), "too short"),
        (Vec::new(), "too short"),
        ([img.clone(), vec![0; 256]].concat(), "longer"),
        (vec![0; 65536], "bad magic"),
        (
            b"PK\x03\x04 this is a zip file, not a card image, really not at all".repeat(10),
            "bad magic",
        ),
    ] {
        let msg = corrupt_msg(EepromStore::open_with_medium(
            RamMedium::from_bytes(bytes),
            key(),
        ));
        assert!(msg.contains(expect), "{msg}");
    }
}

#[test]
fn an_image_of_another_card_or_under_another_key_is_refused() {
    let (_s, m) = populated();
    let other_card = MasterKey::new([3; 16], [2; 32]);
    let msg = corrupt_msg(EepromStore::open_with_medium(m.deep_clone(), other_card));
    assert!(
        msg.contains("belongs to card 01010101") && msg.contains("foreign"),
        "{msg}"
    );
    let same_id_other_key = MasterKey::new([1; 16], [4; 32]);
    let msg = corrupt_msg(EepromStore::open_with_medium(
        m.deep_clone(),
        same_id_other_key,
    ));
    assert!(msg.contains("header authentication failed"), "{msg}");
    // A page transplanted from another card's image does not authenticate here.
    let (mut other, om) = {
        let g = SMALL;
        let om = RamMedium::new(g.total_bytes() as usize);
        (
            EepromStore::format(om.clone(), other_card_key(), g).unwrap(),
            om,
        )
    };
    other
        .commit(vec![Write::Put(k(Kind::Key, 1), vec![5; 100])])
        .unwrap();
    let mut img = m.image();
    img[256..512].copy_from_slice(&om.image()[256..512]);
    corrupt_msg(EepromStore::open_with_medium(
        RamMedium::from_bytes(img),
        key(),
    ));
}

fn other_card_key() -> MasterKey {
    MasterKey::new([1; 16], [2; 32]) // same card and key, but a different image (format)
}

#[test]
fn newer_and_invalid_versions_are_refused() {
    let (_s, m) = populated();
    let mut img = m.image();
    img[8..10].copy_from_slice(&2u16.to_be_bytes());
    let msg = corrupt_msg(EepromStore::open_with_medium(
        RamMedium::from_bytes(img.clone()),
        key(),
    ));
    assert!(msg.contains("version 2 is newer"), "{msg}");
    img[8..10].copy_from_slice(&0u16.to_be_bytes());
    let msg = corrupt_msg(EepromStore::open_with_medium(
        RamMedium::from_bytes(img.clone()),
        key(),
    ));
    assert!(msg.contains("version 0 is not a valid version"), "{msg}");
    // A header whose geometry was edited.
    let mut img = m.image();
    img[10..14].copy_from_slice(&100u32.to_be_bytes());
    let msg = corrupt_msg(EepromStore::open_with_medium(
        RamMedium::from_bytes(img),
        key(),
    ));
    assert!(msg.contains("invalid geometry"), "{msg}");
}

// ---- the file image and its key file ----

#[test]
fn file_image_is_created_with_a_private_key_file_and_reopens() {
    let dir = temp_dir("file");
    let image = dir.join("card.img");
    let mut s = EepromStore::open(&image, SMALL).unwrap();
    s.commit(vec![Write::Put(k(Kind::Key, 1), vec![7; 1000])])
        .unwrap();
    assert_eq!(s.medium().path(), image);
    drop(s);
    let key_file = default_key_path(&image);
    assert_eq!(key_file, dir.join("card.img.key"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(
        std::fs::metadata(&image).unwrap().len(),
        SMALL.total_bytes()
    );
    // Reopening ignores the geometry argument: the header's wins.
    let s = EepromStore::open(&image, Geometry::DEFAULT).unwrap();
    assert_eq!(s.get(k(Kind::Key, 1)), Some(&[7; 1000][..]));
    assert_eq!(s.geometry(), SMALL);
    drop(s);

    // Missing key file: a clear error naming it.
    std::fs::rename(&key_file, dir.join("moved.key")).unwrap();
    let msg = open_error(&image, Refused::Io);
    assert!(
        msg.contains("card.img.key") && msg.contains("not found"),
        "{msg}"
    );
    // Not a key file.
    std::fs::write(&key_file, b"hello").unwrap();
    let msg = open_error(&image, Refused::Corrupt);
    assert!(msg.contains("not an SKS master key file"), "{msg}");
    // Another card's key file.
    std::fs::remove_file(&key_file).unwrap();
    MasterKey::generate().unwrap().save_new(&key_file).unwrap();
    let msg = open_error(&image, Refused::Corrupt);
    assert!(
        msg.contains("card.img") && msg.contains("belongs to card"),
        "{msg}"
    );
    // A truncated image file.
    std::fs::rename(dir.join("moved.key"), &key_file).unwrap_or_else(|_| {
        std::fs::remove_file(&key_file).unwrap();
        std::fs::rename(dir.join("moved.key"), &key_file).unwrap();
    });
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&image)
        .unwrap();
    f.set_len(SMALL.total_bytes() - 100).unwrap();
    match EepromStore::open(&image, SMALL) {
        Err(StoreError::Corrupt(msg)) => assert!(msg.contains("truncated"), "{msg}"),
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn save_new_refuses_to_overwrite_a_key_file() {
    let dir = temp_dir("keyfile");
    let path = dir.join("k.key");
    let a = MasterKey::load_or_create(&path).unwrap();
    let b = MasterKey::load_or_create(&path).unwrap();
    assert_eq!(a.card_id(), b.card_id());
    assert!(MasterKey::generate().unwrap().save_new(&path).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- format stability (the golden image: tests/support/golden_image.rs) ----

#[test]
fn golden_image_of_format_version_1_opens() {
    let dir = golden_dir();
    let image = std::fs::read(dir.join("eeprom_v1.img"))
        .expect("golden image (written by `cargo run -p applet --example write_golden_image`)");
    let key = MasterKey::load(&dir.join("eeprom_v1.key")).unwrap();
    assert_eq!(&image[..8], b"SKSEEPRM");
    assert_eq!(u16::from_be_bytes([image[8], image[9]]), 1);
    let mut s =
        EepromStore::open_with_medium(RamMedium::from_bytes(image.clone()), key.clone()).unwrap();
    let want: BTreeMap<_, _> = golden_records().into_iter().collect();
    assert_eq!(state_of(&s), want);
    assert_eq!(s.geometry(), GOLDEN_GEOMETRY);
    // It stays writable.
    s.commit(vec![Write::Delete(k(Kind::Key, 1))]).unwrap();

    let mut newer = image;
    newer[8..10].copy_from_slice(&2u16.to_be_bytes());
    let msg = corrupt_msg(EepromStore::open_with_medium(
        RamMedium::from_bytes(newer),
        key,
    ));
    assert!(
        msg.contains("newer than this card software supports"),
        "{msg}"
    );
}

// ---- measurement (not a test of timing: prints figures for docs/store.md) ----

#[test]
#[ignore = "measurement; run with --ignored --nocapture (release)"]
fn measure() {
    // Typical transaction: a key entry (~1 KB), its PIN policy and the counters: ~1.5 KB.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/store-measure");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let image = dir.join("card.img");
    let mut s = EepromStore::open(&image, Geometry::DEFAULT).unwrap();
    let mut lat = Vec::new();
    let mut pages = Vec::new();
    let mut bytes = Vec::new();
    for i in 0..200u32 {
        let w = vec![
            Write::Put(k(Kind::Key, i % 50), vec![i as u8; 1100]),
            Write::Put(k(Kind::PinPolicy, i % 50), vec![1; 250]),
            Write::Put(k(Kind::Counters, 0), vec![2; 24]),
            Write::Put(k(Kind::Session, i % 50), vec![3; 150]),
        ];
        let t = std::time::Instant::now();
        s.commit(w).unwrap();
        lat.push(t.elapsed());
        let c = s.stats().last_commit;
        pages.push(c.pages_written);
        bytes.push(c.bytes_written);
    }
    lat.sort();
    pages.sort();
    bytes.sort();
    println!(
        "typical txn (4 records, 1524 value bytes): median {} pages / {} bytes written, max {} pages; \
         commit latency median {:?} (min {:?}, p90 {:?})",
        pages[100], bytes[100], pages[199], lat[100], lat[0], lat[180]
    );
    let small: Vec<_> = {
        let mut v = Vec::new();
        for i in 0..200u32 {
            let t = std::time::Instant::now();
            s.commit(vec![Write::Put(
                k(Kind::Counters, 1),
                i.to_be_bytes().to_vec(),
            )])
            .unwrap();
            v.push(t.elapsed());
        }
        v.sort();
        v
    };
    println!(
        "PIN-counter-sized txn: {} page(s) / {} bytes; latency median {:?}",
        s.stats().last_commit.pages_written,
        s.stats().last_commit.bytes_written,
        small[100]
    );
    let t = std::time::Instant::now();
    drop(s);
    let s = EepromStore::open(&image, Geometry::DEFAULT).unwrap();
    println!(
        "reopen (1 MiB scan + recovery): {:?}, {} records",
        t.elapsed(),
        s.keys().len()
    );

    let (mut s, _m) = new_store(SMALL);
    let mut n = 0;
    while s
        .commit(vec![Write::Put(k(Kind::Key, n), vec![0; 600])])
        .is_ok()
    {
        n += 1;
    }
    println!(
        "capacity: {n} records of 600 bytes per 64 KiB (256-byte pages); capacity {} bytes of records",
        SMALL.capacity_bytes()
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = Medium::size(s.medium());
}

#[test]
fn one_process_per_image_and_the_second_open_names_the_holder() {
    // Issue 9: two cards on one image each keep their own RAM view and lose each other's
    // acknowledged transactions; the second open must fail at once.
    let dir = temp_dir("lock");
    let image = dir.join("card.img");
    let first = EepromStore::open(&image, SMALL).expect("first open creates the card");
    for _ in 0..2 {
        match EepromStore::open(&image, SMALL) {
            Err(StoreError::InUse(msg)) => {
                assert!(
                    msg.contains(&format!("process {}", std::process::id())),
                    "names the holder: {msg}"
                );
                assert!(msg.contains("card.img"), "{msg}");
            }
            Err(e) => panic!("expected InUse, got {e:?}"),
            Ok(_) => panic!("a second store opened the same image"),
        }
    }
    drop(first);
    EepromStore::open(&image, SMALL).expect("reopens after the holder closed it");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_card_creation_leaves_no_half_written_image_or_key_file() {
    // Issue 9 item 10: an invalid geometry fails after the key file was made.
    let dir = temp_dir("failed-create");
    let image = dir.join("card.img");
    let bad = Geometry {
        page_size: 100,
        page_count: 3,
    };
    assert!(EepromStore::open(&image, bad).is_err());
    for leftover in ["card.img", "card.img.new", "card.img.key"] {
        assert!(!dir.join(leftover).exists(), "{leftover} left behind");
    }
    // A key file that was there before is kept.
    let key_file = default_key_path(&image);
    key().save_new(&key_file).unwrap();
    assert!(EepromStore::open(&image, bad).is_err());
    assert!(key_file.exists(), "an existing key file is never removed");
    assert!(!dir.join("card.img.new").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
