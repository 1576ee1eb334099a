//! Recovery that drops a torn newest transaction says so in the log (issue 9 item 9).

use applet::store::{EepromStore, Geometry, Kind, MasterKey, RamMedium, RecordKey, Store, Write};
use std::sync::Mutex;

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        let line = format!("{} {}", record.level(), record.args());
        LINES.lock().unwrap().push(line);
    }
    fn flush(&self) {}
}

const SMALL: Geometry = Geometry {
    page_size: 256,
    page_count: 256,
};

#[test]
fn a_torn_newest_transaction_is_dropped_with_a_warning_naming_it() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let key = || MasterKey::new([1; 16], [2; 32]);
    let medium = RamMedium::new(SMALL.total_bytes() as usize);
    let mut s = EepromStore::format(medium.clone(), key(), SMALL).unwrap();
    let rec = |id| RecordKey::new(Kind::Key, id);
    s.commit(vec![Write::Put(rec(1), vec![1; 10])]).unwrap(); // transaction 1, page 1
    s.commit(vec![Write::Put(rec(2), vec![2; 10])]).unwrap(); // transaction 2, page 2
    s.commit(vec![Write::Put(rec(3), vec![3; 600])]).unwrap(); // transaction 3, pages 3..
    let pages = s.stats().last_commit.pages_written;
    assert!(pages >= 2, "transaction 3 must span pages");
    // Tear its last page, as a power cut during that write would.
    let mut image = medium.image();
    let last = 2 + pages;
    image[last * 256..(last + 1) * 256].fill(0xFF);

    let reopened = EepromStore::open_with_medium(RamMedium::from_bytes(image), key()).unwrap();
    assert!(
        reopened.get(rec(3)).is_none(),
        "transaction 3 is rolled back"
    );
    assert_eq!(reopened.get(rec(2)), Some(&[2u8; 10][..]));
    let lines = LINES.lock().unwrap();
    let warning = lines
        .iter()
        .find(|l| l.starts_with("WARN") && l.contains("discarded transaction 3"))
        .unwrap_or_else(|| panic!("no warning naming transaction 3 in {lines:?}"));
    assert!(warning.contains("state of transaction 2"), "{warning}");
}
