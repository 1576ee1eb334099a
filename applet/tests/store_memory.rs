//! The EEPROM store's memory stays flat under an unbounded stream of commits (issue 9 item 6):
//! live heap bytes are counted by a global allocator wrapper around the system allocator.
//! On e7028d3 every commit kept a list of all ~16k page numbers alive in its transaction
//! (about 64 KB per commit, until compaction retired it).

use applet::store::{EepromStore, Kind, MasterKey, RamMedium, RecordKey, Store, Write};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only counts the bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Like a PIN-protected signature: a small counter record rewritten, with a key record now
/// and then.
fn commit(store: &mut EepromStore<RamMedium>, i: u32) {
    let mut writes = vec![Write::Put(
        RecordKey::new(Kind::PinErrors, i % 8),
        (i % 3).to_be_bytes().to_vec(),
    )];
    if i.is_multiple_of(50) {
        writes.push(Write::Put(RecordKey::new(Kind::Key, i % 16), vec![7; 600]));
    }
    store.commit(writes).expect("commit");
}

#[test]
fn memory_is_flat_over_20000_commits_on_the_product_geometry() {
    let geometry = applet::PRODUCT_GEOMETRY;
    let medium = RamMedium::new(geometry.total_bytes() as usize);
    let mut store =
        EepromStore::format(medium, MasterKey::new([1; 16], [2; 32]), geometry).expect("format");
    let before = LIVE.load(Ordering::Relaxed);
    let mut peak = before;
    for i in 0..20_000 {
        commit(&mut store, i);
        peak = peak.max(LIVE.load(Ordering::Relaxed));
    }
    assert!(
        store.stats().compactions > 0,
        "the workload must run through compactions"
    );
    // The records themselves are a few KB; the chain's bookkeeping is a few bytes per page.
    let growth = peak - before;
    assert!(
        growth < 1024 * 1024,
        "live heap peaked {growth} bytes above the fresh store over 20,000 commits"
    );
}
