//! The golden EEPROM image of store format version 1 (`applet/tests/golden/eeprom_v1.img` and
//! its `.key`): what it holds and how it was made. The test `eeprom_store` only compares
//! against the committed files; `cargo run -p applet --example write_golden_image` rewrites
//! them (only when the format changes on purpose: a new version gets a new golden image).

use applet::store::{EepromStore, Geometry, Kind, MasterKey, RamMedium, RecordKey, Store, Write};
use std::path::{Path, PathBuf};

pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

pub const GOLDEN_GEOMETRY: Geometry = Geometry {
    page_size: 256,
    page_count: 32,
};

fn k(kind: Kind, id: u32) -> RecordKey {
    RecordKey::new(kind, id)
}

/// The records of the golden image (after the transactions of [`write_golden`]).
pub fn golden_records() -> Vec<(RecordKey, Vec<u8>)> {
    vec![
        (
            k(Kind::DeviceIdentity, 0),
            (0..700u32).map(|i| (i % 251) as u8).collect(),
        ),
        (k(Kind::Session, 1), b"golden session".to_vec()),
        (k(Kind::Key, 1), vec![0x4B; 300]),
        (k(Kind::PinPolicy, 2), vec![]),
        (k(Kind::Counters, 0), vec![0, 0, 0, 3]),
    ]
}

/// Writes `eeprom_v1.img` and `eeprom_v1.key` into `dir` (the example's job, never a test's).
#[allow(dead_code)] // used by the example only
pub fn write_golden(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let key = MasterKey::new(*b"golden-card-0001", *b"golden master key, test only!!!!");
    let m = RamMedium::new(GOLDEN_GEOMETRY.total_bytes() as usize);
    let mut s = EepromStore::format(m.clone(), key.clone(), GOLDEN_GEOMETRY).unwrap();
    let recs = golden_records();
    s.commit(vec![
        Write::Put(recs[0].0, recs[0].1.clone()),
        Write::Put(recs[4].0, vec![0, 0, 0, 1]),
        Write::Put(k(Kind::Session, 9), b"deleted later".to_vec()),
    ])
    .unwrap();
    s.commit(vec![
        Write::Put(recs[1].0, recs[1].1.clone()),
        Write::Put(recs[2].0, recs[2].1.clone()),
        Write::Delete(k(Kind::Session, 9)),
    ])
    .unwrap();
    s.commit(vec![
        Write::Put(recs[3].0, recs[3].1.clone()),
        Write::Put(recs[4].0, recs[4].1.clone()),
    ])
    .unwrap();
    std::fs::write(dir.join("eeprom_v1.img"), m.image()).unwrap();
    let key_path = dir.join("eeprom_v1.key");
    let _ = std::fs::remove_file(&key_path);
    key.save_new(&key_path).unwrap();
}
