//! A volatile store: everything is lost when the process ends.

use super::{applied, footprint, refuses, RecordKey, Records, Store, StoreError, Write};

/// Records in RAM, with an optional capacity limit.
#[derive(Debug, Default, Clone)]
pub struct RamStore {
    records: Records,
    capacity: Option<usize>,
}

impl RamStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store that refuses transactions which would exceed `capacity` bytes of records.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            records: Records::new(),
            capacity: Some(capacity),
        }
    }
}

impl Store for RamStore {
    fn get(&self, key: RecordKey) -> Option<&[u8]> {
        self.records.get(&key).map(|v| v.as_slice())
    }

    fn keys(&self) -> Vec<RecordKey> {
        self.records.keys().copied().collect()
    }

    fn commit_reserving(&mut self, writes: Vec<Write>, reserve: usize) -> Result<(), StoreError> {
        let next = applied(&self.records, writes);
        if let Some(capacity) = self.capacity {
            let needed = footprint(&next);
            if refuses(footprint(&self.records), needed, capacity, reserve) {
                return Err(StoreError::Full { needed, capacity });
            }
        }
        self.records = next;
        Ok(())
    }
}
