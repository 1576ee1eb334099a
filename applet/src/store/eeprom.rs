//! An EEPROM-model store: a persistent image of fixed-size, individually sealed pages, written
//! page by page, with atomic and durable transactions that survive a power cut at any write
//! (including a torn page write). The design and the exact layout are in `docs/store.md`.
//!
//! In short: the image is a log of *transactions*. Each [`Store::commit`] writes one new
//! transaction into free pages only (never over a page that the current state needs), then
//! syncs. A transaction is a byte stream `prev ‖ tail ‖ entries` cut into pages; every page names
//! its transaction (`seq`), its index and the transaction's page count, so a transaction exists
//! exactly when all its pages authenticate. Recovery takes the newest complete transaction and
//! follows its `prev` links down to its `tail`; every link must be complete, or the image is
//! refused. Replaying that chain gives the state. Space is reclaimed by moving the low-water
//! mark `tail` forward, copying the still-live records of the retired transactions into the new
//! one; their pages become free once the new transaction is durable.

pub mod fault;
mod lock;
mod medium;
mod seal;

pub use lock::lock_path;
pub use medium::{FileMedium, Medium, RamMedium};
pub use seal::MasterKey;

use super::{Kind, RecordKey, Records, Store, StoreError, Write};
use crate::secret::Secret;
use core::fmt;
use seal::{hex16, Sealer, HEADER_MAC_LEN, IV_LEN, TAG_LEN};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// Image magic, at offset 0 of page 0.
pub const MAGIC: &[u8; 8] = b"SKSEEPRM";
/// The image format version this code writes and reads.
pub const FORMAT_VERSION: u16 = 1;

/// Header: magic 8 ‖ version 2 ‖ page size 4 ‖ page count 4 ‖ card id 16 ‖ image id 16 ‖ MAC 32.
const HEADER_FIELDS: usize = 8 + 2 + 4 + 4 + 16 + 16;
const HEADER_LEN: usize = HEADER_FIELDS + HEADER_MAC_LEN;
/// Plaintext page header: seq 8 ‖ index 4 ‖ count 4 ‖ used 2 ‖ wear 4.
const BODY_HEADER: usize = 8 + 4 + 4 + 2 + 4;
/// Transaction stream header: prev 8 ‖ tail 8 ‖ entry count 4.
const TXN_HEADER: usize = 8 + 8 + 4;
/// Put entry: op 1 ‖ kind 1 ‖ id 4 ‖ length 4 ‖ value.
const PUT_OVERHEAD: usize = 10;
/// Delete entry (tombstone): op 1 ‖ kind 1 ‖ id 4.
const DELETE_OVERHEAD: usize = 6;
const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;

/// Page size and page count of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Bytes per page: a multiple of 16 from 128 to 32768.
    pub page_size: usize,
    /// Pages in the image, including the header page: at least 8.
    pub page_count: u32,
}

impl Default for Geometry {
    /// 256-byte pages, 1 MiB.
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Geometry {
    /// 256-byte pages, 1 MiB.
    pub const DEFAULT: Geometry = Geometry {
        page_size: 256,
        page_count: 4096,
    };

    /// `total_bytes` of medium cut into pages of `page_size` (rounded down).
    pub fn new(page_size: usize, total_bytes: usize) -> Self {
        let pages = total_bytes / page_size.max(1);
        Self {
            page_size,
            page_count: u32::try_from(pages).unwrap_or(u32::MAX),
        }
    }

    /// Bytes of medium the image takes.
    pub fn total_bytes(&self) -> u64 {
        self.page_size as u64 * u64::from(self.page_count)
    }

    /// Transaction bytes one page carries.
    pub fn payload_per_page(&self) -> usize {
        self.page_size - IV_LEN - TAG_LEN - BODY_HEADER
    }

    fn data_pages(&self) -> usize {
        self.page_count as usize - 1
    }

    /// Pages the live state may take: half of the data pages, so that a compacted copy of the
    /// whole state always fits beside the current one.
    fn snapshot_pages(&self) -> usize {
        self.data_pages() / 2
    }

    /// The largest record stream (transaction header + entries) the store accepts.
    pub fn capacity_bytes(&self) -> usize {
        self.snapshot_pages() * self.payload_per_page()
    }

    fn validate(&self) -> Result<(), GeometryError> {
        if !self.page_size.is_multiple_of(16) || !(128..=32768).contains(&self.page_size) {
            return Err(GeometryError::PageSize(self.page_size));
        }
        if !(8..=(1 << 24)).contains(&self.page_count) {
            return Err(GeometryError::PageCount(self.page_count));
        }
        Ok(())
    }
}

/// A [`Geometry`] the store cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeometryError {
    /// Page size not a multiple of 16 between 128 and 32768.
    PageSize(usize),
    /// Page count not between 8 and 2^24.
    PageCount(u32),
    /// The medium's size does not match the geometry.
    MediumSize { size: u64, needed: u64 },
}

impl fmt::Display for GeometryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PageSize(n) => write!(
                f,
                "page size {n} is not a multiple of 16 between 128 and 32768"
            ),
            Self::PageCount(n) => write!(f, "page count {n} is not between 8 and 2^24"),
            Self::MediumSize { size, needed } => {
                write!(f, "medium is {size} bytes, the geometry needs {needed}")
            }
        }
    }
}

impl std::error::Error for GeometryError {}

/// What one commit wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Pages written (each one low-level write).
    pub pages_written: usize,
    /// Bytes written to the medium (whole pages).
    pub bytes_written: usize,
    /// Transaction stream bytes (header + entries) carried by those pages.
    pub payload_bytes: usize,
    /// Old transactions retired (their pages freed) by this commit.
    pub retired_transactions: usize,
    /// Live records copied forward from retired transactions.
    pub relocated_records: usize,
}

/// Counters of an [`EepromStore`].
#[derive(Debug, Clone)]
pub struct EepromStats {
    pub geometry: Geometry,
    /// The largest record stream accepted ([`Geometry::capacity_bytes`]).
    pub capacity_bytes: usize,
    /// The record stream of the current state (what `capacity_bytes` limits).
    pub used_bytes: usize,
    /// Data pages holding transactions the current state needs.
    pub live_pages: usize,
    /// Data pages free for new transactions.
    pub free_pages: usize,
    /// Transactions the current state is built from.
    pub live_transactions: usize,
    /// Commits that wrote something since open.
    pub commits: u64,
    /// Commits that retired old transactions since open.
    pub compactions: u64,
    /// Pages written since open (including the header at format).
    pub pages_written: u64,
    /// Bytes written since open.
    pub bytes_written: u64,
    /// The last commit that wrote something.
    pub last_commit: CommitStats,
    /// Write count of every page (index = page number). Kept inside each page, so it survives
    /// restarts; a page that does not authenticate (never written, torn) restarts from 0.
    pub wear: Vec<u32>,
}

impl EepromStats {
    pub fn max_wear(&self) -> u32 {
        self.wear.iter().copied().max().unwrap_or(0)
    }
}

/// One transaction of the live chain.
#[derive(Debug, Clone)]
struct Txn {
    seq: u64,
    /// Page numbers, in index order.
    pages: Vec<u32>,
    /// Keys this transaction puts.
    puts: Vec<RecordKey>,
}

/// The EEPROM-model store over a [`Medium`] (a file by default).
pub struct EepromStore<M: Medium = FileMedium> {
    medium: M,
    sealer: Sealer,
    geometry: Geometry,
    card_id: [u8; 16],
    records: Records,
    /// The live chain, oldest first.
    chain: VecDeque<Txn>,
    /// For every present record, the seq of the transaction holding its current value.
    latest_put: BTreeMap<RecordKey, u64>,
    /// Pages of the live chain.
    live: BTreeSet<u32>,
    /// Every other data page, ordered least worn first: commits take pages from the front, so
    /// picking pages costs O(n log N) and no memory beyond this index (never a list of all
    /// pages per commit).
    free: BTreeSet<(u32, u32)>,
    next_seq: u64,
    used_bytes: usize,
    wear: Vec<u32>,
    commits: u64,
    compactions: u64,
    pages_written: u64,
    last_commit: CommitStats,
    /// Set after a medium error: the medium may hold a complete transaction that RAM does not
    /// (or a torn page), so nothing more is written until the card restarts and recovers.
    failed: Option<String>,
}

impl<M: Medium> std::fmt::Debug for EepromStore<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EepromStore")
            .field("geometry", &self.geometry)
            .field("card_id", &hex16(&self.card_id))
            .field("records", &self.records.len())
            .field("chain", &self.chain.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// The key file that goes with an image: `<image>.key`.
pub fn default_key_path(image: &Path) -> PathBuf {
    let mut name = image.as_os_str().to_os_string();
    name.push(".key");
    PathBuf::from(name)
}

impl EepromStore<FileMedium> {
    /// Opens the image file at `image` sealed by the key file `<image>.key`. A missing image is
    /// a new card: the key file is created if missing (mode 0600) and a blank image of
    /// `geometry` is written. An existing image keeps the geometry of its header.
    pub fn open(image: impl AsRef<Path>, geometry: Geometry) -> Result<Self, StoreError> {
        let image = image.as_ref();
        Self::open_with_key_file(image, &default_key_path(image), geometry)
    }

    /// Like [`EepromStore::open`] with an explicit key file.
    pub fn open_with_key_file(
        image: &Path,
        key_file: &Path,
        geometry: Geometry,
    ) -> Result<Self, StoreError> {
        let at = |e: StoreError| match e {
            StoreError::Corrupt(m) => StoreError::Corrupt(format!("{}: {m}", image.display())),
            other => other,
        };
        let lock = lock::ImageLock::acquire(image)?;
        match std::fs::metadata(image) {
            Ok(_) => {
                let key = MasterKey::load(key_file)?;
                let mut medium = FileMedium::open(image)?;
                medium.hold(lock);
                Self::open_with_medium(medium, key).map_err(at)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Format under a temporary name and rename: a card is created whole or not at
                // all, and a failed creation leaves neither a half-written image nor a key
                // file it made.
                let mut tmp = image.as_os_str().to_os_string();
                tmp.push(".new");
                let tmp = PathBuf::from(tmp);
                let key_existed = key_file.exists();
                let created = Self::create(image, &tmp, key_file, geometry).map_err(at);
                match created {
                    Ok(mut store) => {
                        store.medium.hold(lock);
                        Ok(store)
                    }
                    Err(e) => {
                        let _ = std::fs::remove_file(&tmp);
                        if !key_existed {
                            let _ = std::fs::remove_file(key_file);
                        }
                        Err(e)
                    }
                }
            }
            Err(e) => Err(StoreError::Io(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", image.display()),
            ))),
        }
    }

    /// A new card: key file (if missing), blank image at `tmp`, formatted, renamed to `image`.
    fn create(
        image: &Path,
        tmp: &Path,
        key_file: &Path,
        geometry: Geometry,
    ) -> Result<Self, StoreError> {
        let key = MasterKey::load_or_create(key_file)?;
        geometry.validate().map_err(StoreError::Geometry)?;
        let _ = std::fs::remove_file(tmp);
        let medium = FileMedium::create(tmp, geometry.total_bytes())?;
        let mut store = Self::format(medium, key, geometry)?;
        let io = |e: std::io::Error| {
            StoreError::Io(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", image.display()),
            ))
        };
        std::fs::rename(tmp, image).map_err(io)?;
        let dir = match image.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        store.medium.set_path(image.to_path_buf());
        Ok(store)
    }
}

impl<M: Medium> EepromStore<M> {
    /// Writes a new, empty image of `geometry` on `medium` (whose size must match), sealed by
    /// `key`. Existing pages are ignored: each format draws a fresh image id, under which no
    /// old page authenticates.
    pub fn format(mut medium: M, key: MasterKey, geometry: Geometry) -> Result<Self, StoreError> {
        geometry.validate().map_err(StoreError::Geometry)?;
        let size = medium.size()?;
        if size != geometry.total_bytes() {
            return Err(StoreError::Geometry(GeometryError::MediumSize {
                size,
                needed: geometry.total_bytes(),
            }));
        }
        let mut image_id = [0u8; 16];
        getrandom::fill(&mut image_id).map_err(|e| StoreError::Io(std::io::Error::other(e)))?;
        let sealer = Sealer::new(&key, &image_id);
        let mut page = vec![0u8; geometry.page_size];
        page[..8].copy_from_slice(MAGIC);
        page[8..10].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
        page[10..14].copy_from_slice(&(geometry.page_size as u32).to_be_bytes());
        page[14..18].copy_from_slice(&geometry.page_count.to_be_bytes());
        page[18..34].copy_from_slice(&key.card_id());
        page[34..50].copy_from_slice(&image_id);
        let mac = sealer.header_mac(&page[..HEADER_FIELDS]);
        page[HEADER_FIELDS..HEADER_LEN].copy_from_slice(&mac);
        medium.write_at(0, &page)?;
        medium.sync()?;
        let mut wear = vec![0u32; geometry.page_count as usize];
        wear[0] = 1;
        Ok(Self {
            medium,
            sealer,
            geometry,
            card_id: key.card_id(),
            records: Records::new(),
            chain: VecDeque::new(),
            latest_put: BTreeMap::new(),
            live: BTreeSet::new(),
            free: BTreeSet::new(),
            next_seq: 1,
            used_bytes: TXN_HEADER,
            wear,
            commits: 0,
            compactions: 0,
            pages_written: 1,
            last_commit: CommitStats::default(),
            failed: None,
        }
        .with_free_index())
    }

    /// Opens the image on `medium` sealed by `key`, recovering from any interrupted
    /// transaction. A damaged, truncated, edited or foreign image gives `StoreError::Corrupt`.
    pub fn open_with_medium(mut medium: M, key: MasterKey) -> Result<Self, StoreError> {
        let corrupt = |m: String| StoreError::Corrupt(m);
        let size = medium.size()?;
        if size < HEADER_LEN as u64 {
            return Err(corrupt(format!(
                "the image is {size} bytes: too short to be an SKS EEPROM image"
            )));
        }
        let mut header = [0u8; HEADER_LEN];
        medium.read_at(0, &mut header)?;
        if &header[..8] != MAGIC {
            return Err(corrupt(
                "not an SKS EEPROM image (bad magic): foreign or damaged file".into(),
            ));
        }
        let version = u16::from_be_bytes([header[8], header[9]]);
        if version > FORMAT_VERSION {
            return Err(corrupt(format!(
                "image format version {version} is newer than this card software supports \
                 (version {FORMAT_VERSION}); refusing to open it"
            )));
        }
        if version != FORMAT_VERSION {
            return Err(corrupt(format!(
                "image format version {version} is not a valid version (this software reads \
                 version {FORMAT_VERSION})"
            )));
        }
        let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let geometry = Geometry {
            page_size: be32(&header[10..14]) as usize,
            page_count: be32(&header[14..18]),
        };
        geometry
            .validate()
            .map_err(|e| corrupt(format!("the header declares an invalid geometry: {e}")))?;
        if size != geometry.total_bytes() {
            let what = if size < geometry.total_bytes() {
                "truncated"
            } else {
                "longer than its header declares"
            };
            return Err(corrupt(format!(
                "the image is {what}: {size} bytes, the header declares {} ({} pages of {} bytes)",
                geometry.total_bytes(),
                geometry.page_count,
                geometry.page_size
            )));
        }
        let mut card_id = [0u8; 16];
        card_id.copy_from_slice(&header[18..34]);
        if card_id != key.card_id() {
            return Err(corrupt(format!(
                "the image belongs to card {} but the master key is card {}'s: a foreign image \
                 or the wrong key file",
                hex16(&card_id),
                hex16(&key.card_id())
            )));
        }
        let mut image_id = [0u8; 16];
        image_id.copy_from_slice(&header[34..50]);
        let sealer = Sealer::new(&key, &image_id);
        if !sealer.header_mac_ok(&header[..HEADER_FIELDS], &header[HEADER_FIELDS..]) {
            return Err(corrupt(
                "header authentication failed: the image was edited, or the master key file \
                 does not belong to it"
                    .into(),
            ));
        }
        Recovery::run(medium, sealer, geometry, card_id)
    }

    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    pub fn card_id(&self) -> [u8; 16] {
        self.card_id
    }

    pub fn medium(&self) -> &M {
        &self.medium
    }

    pub fn into_medium(self) -> M {
        self.medium
    }

    pub fn stats(&self) -> EepromStats {
        let live_pages = self.live.len();
        EepromStats {
            geometry: self.geometry,
            capacity_bytes: self.geometry.capacity_bytes(),
            used_bytes: self.used_bytes,
            live_pages,
            free_pages: self.geometry.data_pages().saturating_sub(live_pages),
            live_transactions: self.chain.len(),
            commits: self.commits,
            compactions: self.compactions,
            pages_written: self.pages_written,
            bytes_written: self.pages_written * self.geometry.page_size as u64,
            last_commit: self.last_commit.clone(),
            wear: self.wear.clone(),
        }
    }

    fn plan(&self, eff: &BTreeMap<RecordKey, Option<Secret>>) -> Option<Plan> {
        let data_pages = self.geometry.data_pages();
        let limit = data_pages - self.geometry.snapshot_pages();
        let chain_pages = self.live.len();
        let free_now = data_pages.saturating_sub(chain_pages);
        let payload = self.geometry.payload_per_page();
        let put_bytes: usize = eff.values().flatten().map(|v| PUT_OVERHEAD + v.len()).sum();
        let mut relocate = Vec::new();
        let mut relocate_bytes = 0;
        let mut retired_pages = 0;
        for retire in 0..=self.chain.len() {
            if retire > 0 {
                let t = &self.chain[retire - 1];
                retired_pages += t.pages.len();
                for k in &t.puts {
                    if self.latest_put.get(k) == Some(&t.seq) && !eff.contains_key(k) {
                        relocate.push(*k);
                        relocate_bytes += PUT_OVERHEAD + self.records.get(k).map_or(0, |v| v.len());
                    }
                }
            }
            // Transactions older than `boundary` are retired by this plan.
            let boundary = self.chain.get(retire).map_or(u64::MAX, |t| t.seq);
            let tombstones: Vec<RecordKey> = eff
                .iter()
                .filter(|(k, v)| {
                    v.is_none() && self.latest_put.get(k).is_some_and(|&s| s >= boundary)
                })
                .map(|(k, _)| *k)
                .collect();
            let stream =
                TXN_HEADER + put_bytes + relocate_bytes + tombstones.len() * DELETE_OVERHEAD;
            let pages = stream.div_ceil(payload);
            if pages <= free_now && chain_pages.saturating_sub(retired_pages) + pages <= limit {
                return Some(Plan {
                    retire,
                    relocate,
                    tombstones,
                });
            }
        }
        None
    }

    /// The transaction's plaintext stream (records in the clear until sealed page by page).
    fn encode(&self, seq: u64, plan: &Plan, eff: &BTreeMap<RecordKey, Option<Secret>>) -> Secret {
        let prev = self.chain.back().map_or(0, |t| t.seq);
        let tail = self.chain.get(plan.retire).map_or(seq, |t| t.seq);
        let mut out = Secret::default();
        out.extend_from_slice(&prev.to_be_bytes());
        out.extend_from_slice(&tail.to_be_bytes());
        let puts = eff
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v.as_slice())));
        let relocated = plan
            .relocate
            .iter()
            .map(|k| (*k, self.records.get(k).map_or(&[][..], |v| v.as_slice())));
        let all_puts: Vec<(RecordKey, &[u8])> = relocated.chain(puts).collect();
        let n = all_puts.len() + plan.tombstones.len();
        out.extend_from_slice(&(n as u32).to_be_bytes());
        for (k, v) in all_puts {
            out.push(OP_PUT);
            out.push(k.kind as u8);
            out.extend_from_slice(&k.id.to_be_bytes());
            out.extend_from_slice(&(v.len() as u32).to_be_bytes());
            out.extend_from_slice(v);
        }
        for k in &plan.tombstones {
            out.push(OP_DELETE);
            out.push(k.kind as u8);
            out.extend_from_slice(&k.id.to_be_bytes());
        }
        out
    }

    /// Builds the free-page index from `live` and `wear` (at format and after recovery).
    fn with_free_index(mut self) -> Self {
        self.free = (1..self.geometry.page_count)
            .filter(|p| !self.live.contains(p))
            .map(|p| (self.wear[p as usize], p))
            .collect();
        self
    }

    /// Free pages for a transaction of `n` pages: the least worn first.
    fn pick_pages(&self, n: usize) -> Vec<u32> {
        self.free.iter().take(n).map(|&(_, p)| p).collect()
    }

    fn write_transaction(
        &mut self,
        seq: u64,
        stream: &[u8],
        pages: &[u32],
    ) -> Result<(), StoreError> {
        let payload = self.geometry.payload_per_page();
        let body_len = self.geometry.page_size - IV_LEN - TAG_LEN;
        let count = pages.len() as u32;
        let mut page = vec![0u8; self.geometry.page_size];
        for (idx, (&p, chunk)) in pages.iter().zip(stream.chunks(payload)).enumerate() {
            let wear = self.wear[p as usize].saturating_add(1);
            let mut body = zeroize::Zeroizing::new(vec![0u8; body_len]);
            body[..8].copy_from_slice(&seq.to_be_bytes());
            body[8..12].copy_from_slice(&(idx as u32).to_be_bytes());
            body[12..16].copy_from_slice(&count.to_be_bytes());
            body[16..18].copy_from_slice(&(chunk.len() as u16).to_be_bytes());
            body[18..22].copy_from_slice(&wear.to_be_bytes());
            body[BODY_HEADER..BODY_HEADER + chunk.len()].copy_from_slice(chunk);
            self.sealer.seal(p, &body, &mut page)?;
            self.pages_written += 1;
            self.wear[p as usize] = wear;
            self.medium
                .write_at(u64::from(p) * self.geometry.page_size as u64, &page)?;
        }
        Ok(self.medium.sync()?)
    }
}

struct Plan {
    /// How many of the oldest chain transactions to retire.
    retire: usize,
    /// Live records of the retired transactions to copy forward.
    relocate: Vec<RecordKey>,
    /// Deletes that must be written (an older live transaction holds the key).
    tombstones: Vec<RecordKey>,
}

impl<M: Medium> Store for EepromStore<M> {
    fn get(&self, key: RecordKey) -> Option<&[u8]> {
        self.records.get(&key).map(|v| v.as_slice())
    }

    fn keys(&self) -> Vec<RecordKey> {
        self.records.keys().copied().collect()
    }

    fn commit_reserving(&mut self, writes: Vec<Write>, reserve: usize) -> Result<(), StoreError> {
        if let Some(why) = &self.failed {
            return Err(StoreError::io(format!(
                "the store failed earlier ({why}); restart the card to recover"
            )));
        }
        // The net effect per key, in order; deletes of absent records are no-ops.
        let mut eff: BTreeMap<RecordKey, Option<Secret>> = BTreeMap::new();
        for w in writes {
            match w {
                Write::Put(k, v) => eff.insert(k, Some(Secret::new(v))),
                Write::Delete(k) => eff.insert(k, None),
            };
        }
        eff.retain(|k, v| v.is_some() || self.records.contains_key(k));
        if eff.is_empty() {
            return Ok(());
        }
        let mut needed = self.used_bytes;
        for (k, v) in &eff {
            if let Some(old) = self.records.get(k) {
                needed -= PUT_OVERHEAD + old.len();
            }
            if let Some(v) = v {
                needed += PUT_OVERHEAD + v.len();
            }
        }
        let capacity = self.geometry.capacity_bytes();
        if super::refuses(self.used_bytes, needed, capacity, reserve) {
            return Err(StoreError::Full { needed, capacity });
        }
        // With the invariant live pages ≤ data pages − snapshot pages, a plan that retires
        // everything (a compacted snapshot) always fits; `None` is a defensive refusal.
        let plan = self
            .plan(&eff)
            .ok_or(StoreError::Full { needed, capacity })?;
        let seq = self.next_seq;
        self.next_seq += 1;
        let stream = self.encode(seq, &plan, &eff);
        let count = stream.len().div_ceil(self.geometry.payload_per_page());
        let pages = self.pick_pages(count);
        if pages.len() != count {
            return Err(StoreError::Full { needed, capacity });
        }
        for &p in &pages {
            self.free.remove(&(self.wear[p as usize], p));
        }
        if let Err(e) = self.write_transaction(seq, &stream, &pages) {
            self.failed = Some(e.to_string());
            return Err(e);
        }

        // Durable: update the RAM view.
        for t in self.chain.drain(..plan.retire) {
            for &p in &t.pages {
                self.live.remove(&p);
                self.free.insert((self.wear[p as usize], p));
            }
        }
        let mut puts = plan.relocate.clone();
        for (k, v) in eff {
            match v {
                Some(v) => {
                    puts.push(k);
                    self.records.insert(k, v);
                }
                None => {
                    self.records.remove(&k);
                    self.latest_put.remove(&k);
                }
            }
        }
        for k in &puts {
            self.latest_put.insert(*k, seq);
        }
        self.live.extend(pages.iter().copied());
        self.chain.push_back(Txn { seq, pages, puts });
        self.used_bytes = needed;
        self.commits += 1;
        if plan.retire > 0 {
            self.compactions += 1;
        }
        self.last_commit = CommitStats {
            pages_written: count,
            bytes_written: count * self.geometry.page_size,
            payload_bytes: stream.len(),
            retired_transactions: plan.retire,
            relocated_records: plan.relocate.len(),
        };
        Ok(())
    }
}

/// Says when recovery drops the newest transaction(s): a torn or unreadable transaction newer
/// than the last complete one. The card opens one step back, in the state before that commit,
/// which was never acknowledged (a commit answers only after its fdatasync). Whether the
/// dropped transaction was the last one written cannot be told from the image alone (see
/// docs/store.md, "Rollback").
fn warn_discarded(txns: &BTreeMap<u64, BTreeMap<u32, PageInfo>>, head: Option<u64>) {
    for (seq, pages) in txns.range(head.map_or(0, |h| h + 1)..) {
        let count = pages.values().next().map_or(0, |i| i.count);
        log::warn!(
            "store recovery: discarded transaction {seq} ({} of its {count} pages readable, \
             torn by a power cut or damaged); the card opens in the state of transaction {}",
            pages.len(),
            head.map_or_else(|| "0 (empty)".to_string(), |h| h.to_string())
        );
    }
}

/// A page that authenticated at open.
struct PageInfo {
    page_no: u32,
    count: u32,
    payload: zeroize::Zeroizing<Vec<u8>>,
}

/// The decoded stream of one transaction.
#[derive(Debug)]
struct Decoded {
    prev: u64,
    tail: u64,
    entries: Vec<(RecordKey, Option<Vec<u8>>)>,
}

struct Recovery;

impl Recovery {
    fn run<M: Medium>(
        mut medium: M,
        sealer: Sealer,
        geometry: Geometry,
        card_id: [u8; 16],
    ) -> Result<EepromStore<M>, StoreError> {
        let corrupt = StoreError::Corrupt;
        let payload_max = geometry.payload_per_page();
        let mut wear = vec![0u32; geometry.page_count as usize];
        wear[0] = 1;
        // seq → idx → page
        let mut txns: BTreeMap<u64, BTreeMap<u32, PageInfo>> = BTreeMap::new();
        let mut buf = vec![0u8; geometry.page_size];
        for p in 1..geometry.page_count {
            medium.read_at(u64::from(p) * geometry.page_size as u64, &mut buf)?;
            let Some(body) = sealer.open(p, &buf) else {
                continue; // never written, torn, or garbage: a free page
            };
            let be32 =
                |o: usize| u32::from_be_bytes([body[o], body[o + 1], body[o + 2], body[o + 3]]);
            let mut seq8 = [0u8; 8];
            seq8.copy_from_slice(&body[..8]);
            let seq = u64::from_be_bytes(seq8);
            let (idx, count) = (be32(8), be32(12));
            let used = usize::from(u16::from_be_bytes([body[16], body[17]]));
            wear[p as usize] = be32(18);
            if seq == 0 || count == 0 || idx >= count || used > payload_max {
                return Err(corrupt(format!(
                    "page {p} authenticates but its header is invalid (seq {seq}, page {idx} of \
                     {count}, {used} bytes)"
                )));
            }
            let info = PageInfo {
                page_no: p,
                count,
                payload: zeroize::Zeroizing::new(body[BODY_HEADER..BODY_HEADER + used].to_vec()),
            };
            let t = txns.entry(seq).or_default();
            if let Some(other) = t.get(&idx) {
                return Err(corrupt(format!(
                    "pages {} and {p} both claim to be page {idx} of transaction {seq}: the \
                     image was edited",
                    other.page_no
                )));
            }
            if t.values().any(|o| o.count != count) {
                return Err(corrupt(format!(
                    "the pages of transaction {seq} disagree on its length: the image was edited"
                )));
            }
            t.insert(idx, info);
        }
        let max_seen = txns.keys().next_back().copied().unwrap_or(0);
        let complete = |seq: u64| {
            txns.get(&seq).filter(|t| {
                t.values()
                    .next()
                    .is_some_and(|i| i.count as usize == t.len())
            })
        };
        let head = txns.keys().rev().copied().find(|&s| complete(s).is_some());

        let mut store = EepromStore {
            medium,
            sealer,
            geometry,
            card_id,
            records: Records::new(),
            chain: VecDeque::new(),
            latest_put: BTreeMap::new(),
            live: BTreeSet::new(),
            free: BTreeSet::new(),
            next_seq: max_seen + 1,
            used_bytes: TXN_HEADER,
            wear,
            commits: 0,
            compactions: 0,
            pages_written: 0,
            last_commit: CommitStats::default(),
            failed: None,
        };
        // Pages of one transaction are written in index order, and a transaction newer than the
        // head never completed; so if such a transaction has its last page, it had all of them,
        // and a missing one was damaged after the fact.
        for (&seq, t) in txns.range(head.map_or(0, |h| h + 1)..) {
            let count = t.values().next().map_or(0, |i| i.count);
            if count
                .checked_sub(1)
                .is_some_and(|last| t.contains_key(&last))
            {
                if let Some(missing) = (0..count).find(|i| !t.contains_key(i)) {
                    return Err(corrupt(format!(
                        "page {missing} of transaction {seq} is unreadable although the page \
                         written after it is intact: the image was edited or damaged"
                    )));
                }
            }
        }
        warn_discarded(&txns, head);
        let Some(head) = head else {
            return Ok(store.with_free_index());
        };

        // Walk the chain from the head down to its tail.
        let mut chain: Vec<(u64, Vec<u32>, Decoded)> = Vec::new();
        let mut cur = head;
        let mut tail = 0;
        loop {
            let pages = complete(cur).ok_or_else(|| {
                corrupt(format!(
                    "transaction {cur}, which the committed state depends on, is incomplete or \
                     unreadable (pages damaged, removed or edited)"
                ))
            })?;
            let stream: Vec<u8> = pages
                .values()
                .flat_map(|i| i.payload.iter().copied())
                .collect();
            let decoded = decode(&stream).map_err(|e| {
                corrupt(format!(
                    "transaction {cur} authenticates but is malformed: {e}"
                ))
            })?;
            if cur == head {
                tail = decoded.tail;
                if tail == 0 || tail > head {
                    return Err(corrupt(format!(
                        "the newest transaction {head} has an invalid tail {tail}"
                    )));
                }
            }
            let prev = decoded.prev;
            chain.push((cur, pages.values().map(|i| i.page_no).collect(), decoded));
            if prev == 0 || prev < tail {
                break;
            }
            if prev >= cur {
                return Err(corrupt(format!(
                    "transaction {cur} links back to {prev}, not to an older one"
                )));
            }
            cur = prev;
        }

        // Replay, oldest first.
        for (seq, pages, decoded) in chain.into_iter().rev() {
            let mut puts = Vec::new();
            for (k, v) in decoded.entries {
                match v {
                    Some(v) => {
                        store.latest_put.insert(k, seq);
                        store.records.insert(k, Secret::new(v));
                        puts.push(k);
                    }
                    None => {
                        store.latest_put.remove(&k);
                        store.records.remove(&k);
                    }
                }
            }
            store.live.extend(pages.iter().copied());
            store.chain.push_back(Txn { seq, pages, puts });
        }
        store.used_bytes = TXN_HEADER
            + store
                .records
                .values()
                .map(|v| PUT_OVERHEAD + v.len())
                .sum::<usize>();
        Ok(store.with_free_index())
    }
}

/// Why a transaction stream (which authenticated, so the card wrote it) does not decode.
#[derive(Debug, PartialEq, Eq)]
enum StreamError {
    Truncated { at: usize, wanted: usize },
    UnknownKind(u8),
    UnknownEntry(u8),
    Trailing(usize),
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { at, wanted } => {
                write!(f, "truncated at byte {at} (wanted {wanted} more)")
            }
            Self::UnknownKind(k) => write!(f, "unknown record kind {k}"),
            Self::UnknownEntry(op) => write!(f, "unknown entry type {op}"),
            Self::Trailing(n) => write!(f, "{n} trailing bytes"),
        }
    }
}

fn decode(stream: &[u8]) -> Result<Decoded, StreamError> {
    let mut r = Cursor { b: stream, at: 0 };
    let prev = r.u64()?;
    let tail = r.u64()?;
    let n = r.u32()?;
    let mut entries = Vec::new();
    for _ in 0..n {
        let op = r.take(1)?[0];
        let kind = r.take(1)?[0];
        let kind = Kind::from_u8(kind).ok_or(StreamError::UnknownKind(kind))?;
        let key = RecordKey::new(kind, r.u32()?);
        match op {
            OP_PUT => {
                let len = r.u32()? as usize;
                entries.push((key, Some(r.take(len)?.to_vec())));
            }
            OP_DELETE => entries.push((key, None)),
            _ => return Err(StreamError::UnknownEntry(op)),
        }
    }
    if r.at != stream.len() {
        return Err(StreamError::Trailing(stream.len() - r.at));
    }
    Ok(Decoded {
        prev,
        tail,
        entries,
    })
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StreamError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or(StreamError::Truncated {
            at: self.at,
            wanted: n,
        })?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, StreamError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, StreamError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_figures() {
        let g = Geometry::DEFAULT;
        assert_eq!(g.total_bytes(), 1 << 20);
        assert_eq!(g.payload_per_page(), 256 - 16 - 16 - 22);
        assert_eq!(g.snapshot_pages(), 2047);
        assert_eq!(g.capacity_bytes(), 2047 * 202);
        assert!(Geometry::new(100, 4096).validate().is_err());
        assert!(Geometry::new(256, 1024).validate().is_err());
        assert_eq!(Geometry::new(256, 64 * 1024).page_count, 256);
    }

    #[test]
    fn decoding_never_panics_on_any_prefix_or_garbage() {
        let mut stream = Vec::new();
        stream.extend_from_slice(&3u64.to_be_bytes());
        stream.extend_from_slice(&1u64.to_be_bytes());
        stream.extend_from_slice(&2u32.to_be_bytes());
        stream.extend_from_slice(&[OP_PUT, Kind::Key as u8, 0, 0, 0, 5, 0, 0, 0, 3, 1, 2, 3]);
        stream.extend_from_slice(&[OP_DELETE, Kind::Session as u8, 0, 0, 0, 1]);
        let d = decode(&stream).unwrap();
        assert_eq!((d.prev, d.tail, d.entries.len()), (3, 1, 2));
        for n in 0..stream.len() {
            assert!(decode(&stream[..n]).is_err(), "prefix {n}");
        }
        assert!(decode(&[stream.clone(), vec![0]].concat()).is_err());
        let mut bad_kind = stream.clone();
        bad_kind[21] = 99;
        assert_eq!(
            decode(&bad_kind).unwrap_err().to_string(),
            "unknown record kind 99"
        );
        let mut bad_op = stream.clone();
        bad_op[20] = 7;
        assert_eq!(decode(&bad_op).unwrap_err(), StreamError::UnknownEntry(7));
        let mut huge = stream;
        huge[26..30].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode(&huge).is_err());
    }

    #[test]
    fn a_page_sealed_for_one_position_does_not_open_at_another() {
        let key = MasterKey::new([1; 16], [2; 32]);
        let sealer = Sealer::new(&key, &[3; 16]);
        let body = vec![0x5A; 224];
        let mut page = vec![0; 256];
        sealer.seal(7, &body, &mut page).unwrap();
        assert_eq!(sealer.open(7, &page).as_deref(), Some(&body));
        assert!(sealer.open(8, &page).is_none());
        let other_image = Sealer::new(&key, &[4; 16]);
        assert!(other_image.open(7, &page).is_none());
        let mut torn = page.clone();
        torn[128..].fill(0);
        assert!(sealer.open(7, &torn).is_none());
    }
}
