//! Persistent state. The applet sees a set of records (kind + id → bytes) and changes them only
//! through [`Store::commit`], the one atomic transaction primitive: after it returns `Ok`, all
//! writes of the transaction are durable; after `Err` (or a power cut during the call), none
//! are. Implementations: [`RamStore`] (volatile, for tests and `--ram`) and [`EepromStore`]
//! (the EEPROM model: sealed pages, shadow-written transactions, recovery, wear counters and
//! power-cut injection; see docs/store.md).

mod eeprom;
mod ram;

pub use eeprom::{
    default_key_path, fault, lock_path, CommitStats, EepromStats, EepromStore, FileMedium,
    Geometry, GeometryError, MasterKey, Medium, RamMedium,
};
pub use ram::RamStore;

use crate::secret::Secret;
use core::fmt;

/// The kind of object a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Kind {
    /// The device attestation key and certificate path, written at personalization.
    DeviceIdentity = 1,
    /// A provisioning session.
    Session = 2,
    /// A key entry.
    Key = 3,
    /// A PIN policy object.
    PinPolicy = 4,
    /// A PUK policy object.
    PukPolicy = 5,
    /// The handle counters.
    Counters = 6,
    /// A key's PIN error counter (kept apart from the key so that counting a PIN attempt
    /// rewrites a few bytes, not the whole key entry).
    PinErrors = 7,
    /// When an open provisioning session expires, by the card's clock (kept apart from the
    /// session record so that images written before it existed still load).
    SessionDeadline = 8,
}

impl Kind {
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::DeviceIdentity),
            2 => Some(Self::Session),
            3 => Some(Self::Key),
            4 => Some(Self::PinPolicy),
            5 => Some(Self::PukPolicy),
            6 => Some(Self::Counters),
            7 => Some(Self::PinErrors),
            8 => Some(Self::SessionDeadline),
            _ => None,
        }
    }
}

/// Identifies one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordKey {
    pub kind: Kind,
    pub id: u32,
}

impl RecordKey {
    pub const fn new(kind: Kind, id: u32) -> Self {
        Self { kind, id }
    }
}

/// One change inside a transaction.
#[derive(Clone, PartialEq, Eq)]
pub enum Write {
    Put(RecordKey, Vec<u8>),
    Delete(RecordKey),
}

/// The record's key and length only: record values hold keys and PINs.
impl fmt::Debug for Write {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Put(k, v) => write!(f, "Put({k:?}, {} bytes)", v.len()),
            Self::Delete(k) => write!(f, "Delete({k:?})"),
        }
    }
}

/// Why the store refused or failed a transaction, or could not be opened.
#[derive(Debug)]
pub enum StoreError {
    /// Not enough capacity; nothing was written.
    Full { needed: usize, capacity: usize },
    /// The medium (or the key file, or the OS) failed; nothing of the transaction is visible.
    Io(std::io::Error),
    /// A geometry the EEPROM model does not support, or a medium of another size.
    Geometry(GeometryError),
    /// The persistent image is not a valid image of this card.
    Corrupt(String),
    /// Another process has the image open (one process per card image).
    InUse(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full { needed, capacity } => {
                write!(
                    f,
                    "storage full: {needed} bytes needed, capacity {capacity}"
                )
            }
            Self::Io(e) => write!(f, "storage I/O error: {e}"),
            Self::Geometry(e) => write!(f, "bad geometry: {e}"),
            Self::Corrupt(e) => write!(f, "storage image rejected: {e}"),
            Self::InUse(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

impl StoreError {
    /// A failure that is not the OS's but has to stop the transaction like one.
    pub(crate) fn io(msg: impl Into<String>) -> Self {
        Self::Io(std::io::Error::other(msg.into()))
    }
}

/// Persistent records with one atomic transaction primitive.
pub trait Store {
    /// The current value of a record.
    fn get(&self, key: RecordKey) -> Option<&[u8]>;
    /// Every record key, in key order.
    fn keys(&self) -> Vec<RecordKey>;
    /// Applies all `writes` atomically and durably, or none of them.
    fn commit(&mut self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.commit_reserving(writes, 0)
    }
    /// [`Store::commit`], except that a transaction which grows the records is refused
    /// ([`StoreError::Full`]) when it would leave fewer than `reserve` bytes of capacity: the
    /// room kept for PIN and PUK counters, which must always commit (issue 9).
    fn commit_reserving(&mut self, writes: Vec<Write>, reserve: usize) -> Result<(), StoreError>;
}

/// Whether a store of `capacity` bytes, `used` now and `needed` after a transaction, refuses it
/// when `reserve` bytes must stay free for shrinking or same-size transactions.
pub(crate) fn refuses(used: usize, needed: usize, capacity: usize, reserve: usize) -> bool {
    needed > capacity || (needed > used && needed.saturating_add(reserve) > capacity)
}

impl<S: Store + ?Sized> Store for Box<S> {
    fn get(&self, key: RecordKey) -> Option<&[u8]> {
        (**self).get(key)
    }
    fn keys(&self) -> Vec<RecordKey> {
        (**self).keys()
    }
    fn commit_reserving(&mut self, writes: Vec<Write>, reserve: usize) -> Result<(), StoreError> {
        (**self).commit_reserving(writes, reserve)
    }
}

/// The record map both implementations keep in RAM.
/// Record values hold serialized keys and PINs: [`Secret`]s, zeroized whenever a copy drops.
pub(crate) type Records = std::collections::BTreeMap<RecordKey, Secret>;

/// `records` with `writes` applied, leaving `records` untouched.
pub(crate) fn applied(records: &Records, writes: Vec<Write>) -> Records {
    let mut next = records.clone();
    for w in writes {
        match w {
            Write::Put(k, v) => {
                next.insert(k, Secret::new(v));
            }
            Write::Delete(k) => {
                next.remove(&k);
            }
        }
    }
    next
}

/// Bytes the records take in an image (the capacity measure).
pub(crate) fn footprint(records: &Records) -> usize {
    records.values().map(|v| RECORD_OVERHEAD + v.len()).sum()
}

/// Per-record header in an image: kind (1), id (4), length (4).
pub(crate) const RECORD_OVERHEAD: usize = 9;
