//! A file image replaced atomically on every commit: the new image is written to a temporary
//! file, flushed with fdatasync, renamed over the old one and the directory is synced. A power
//! cut leaves either the old or the new image, never a mix.
//!
//! Image format, version 1 (all integers big-endian):
//! `"SKSIMG" ‖ u16 version ‖ u32 record count ‖ records ‖ SHA-256(everything before)`, each
//! record `u8 kind ‖ u32 id ‖ u32 length ‖ bytes`, in key order.

use super::{applied, Kind, RecordKey, Records, Store, StoreError, Write};
use apdu_spec::Reader;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 6] = b"SKSIMG";
const VERSION: u16 = 1;

/// Records persisted in one file image.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    records: Records,
}

impl FileStore {
    /// Opens the image at `path`; a missing file is an empty (new) card.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let path = path.into();
        let records = match fs::read(&path) {
            Ok(bytes) => parse(&bytes)
                .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Records::new(),
            Err(e) => return Err(StoreError::Io(format!("{}: {e}", path.display()))),
        };
        Ok(Self { path, records })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Store for FileStore {
    fn get(&self, key: RecordKey) -> Option<&[u8]> {
        self.records.get(&key).map(Vec::as_slice)
    }

    fn keys(&self) -> Vec<RecordKey> {
        self.records.keys().copied().collect()
    }

    fn commit(&mut self, writes: Vec<Write>) -> Result<(), StoreError> {
        let next = applied(&self.records, writes);
        write_atomically(&self.path, &serialize(&next))
            .map_err(|e| StoreError::Io(format!("{}: {e}", self.path.display())))?;
        self.records = next;
        Ok(())
    }
}

fn serialize(records: &Records) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    // Record counts and lengths are far below u32::MAX: the image is bounded by RAM.
    out.extend_from_slice(&(records.len() as u32).to_be_bytes());
    for (key, value) in records {
        out.push(key.kind as u8);
        out.extend_from_slice(&key.id.to_be_bytes());
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value);
    }
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

fn parse(bytes: &[u8]) -> Result<Records, String> {
    if bytes.len() < MAGIC.len() + 2 + 4 + 32 || &bytes[..MAGIC.len()] != MAGIC {
        return Err("not an SKS card image (bad magic or too short)".into());
    }
    let (body, digest) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != digest {
        return Err("checksum mismatch: the image is damaged or was edited".into());
    }
    let mut r = Reader::new(&body[MAGIC.len()..]);
    let bad = |e: apdu_spec::DecodeError| format!("malformed image: {e}");
    let version = r.u16().map_err(bad)?;
    if version != VERSION {
        return Err(format!(
            "image format version {version} is not supported (this card reads {VERSION})"
        ));
    }
    let count = r.u32().map_err(bad)?;
    let mut records = Records::new();
    for _ in 0..count {
        let kind = r.u8().map_err(bad)?;
        let kind = Kind::from_u8(kind).ok_or_else(|| format!("unknown record kind {kind}"))?;
        let id = r.u32().map_err(bad)?;
        let len = r.u32().map_err(bad)?;
        let value = r.take(len as usize).map_err(bad)?;
        records.insert(RecordKey::new(kind, id), value.to_vec());
    }
    r.finish().map_err(bad)?;
    Ok(records)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
    }
    fs::rename(&tmp, path)?;
    fs::File::open(&dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u32) -> RecordKey {
        RecordKey::new(Kind::DeviceIdentity, id)
    }

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sks-filestore-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir.join("card.img")
    }

    #[test]
    fn survives_reopen_and_applies_deletes() {
        let path = temp_path("reopen");
        let mut s = FileStore::open(&path).unwrap();
        s.commit(vec![
            Write::Put(key(1), b"one".to_vec()),
            Write::Put(key(2), b"two".to_vec()),
        ])
        .unwrap();
        s.commit(vec![Write::Delete(key(1))]).unwrap();
        let s = FileStore::open(&path).unwrap();
        assert_eq!(s.get(key(1)), None);
        assert_eq!(s.get(key(2)), Some(&b"two"[..]));
        assert_eq!(s.keys(), vec![key(2)]);
    }

    #[test]
    fn rejects_damaged_truncated_and_foreign_images() {
        let path = temp_path("damage");
        let mut s = FileStore::open(&path).unwrap();
        s.commit(vec![Write::Put(key(7), vec![0xAB; 100])]).unwrap();
        let good = fs::read(&path).unwrap();

        let mut flipped = good.clone();
        flipped[20] ^= 1;
        for (bytes, expect) in [
            (flipped, "checksum"),
            (good[..good.len() - 1].to_vec(), "checksum"),
            (good[..10].to_vec(), "magic"),
            (
                b"PK\x03\x04 not a card image at all, just some other file".to_vec(),
                "magic",
            ),
        ] {
            fs::write(&path, &bytes).unwrap();
            match FileStore::open(&path) {
                Err(StoreError::Corrupt(msg)) => assert!(msg.contains(expect), "{msg}"),
                other => panic!("expected Corrupt, got {other:?}"),
            }
        }
    }

    #[test]
    fn failed_commit_changes_nothing() {
        // A path whose parent is a file: every write fails.
        let blocker = temp_path("blocker");
        fs::create_dir_all(blocker.parent().unwrap()).unwrap();
        fs::write(&blocker, b"x").unwrap();
        let mut s = FileStore {
            path: blocker.join("card.img"),
            records: Records::new(),
        };
        assert!(matches!(
            s.commit(vec![Write::Put(key(1), vec![1])]),
            Err(StoreError::Io(_))
        ));
        assert_eq!(s.get(key(1)), None);
    }
}
