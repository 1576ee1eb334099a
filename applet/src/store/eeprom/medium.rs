//! The persistent medium under the EEPROM store: a flat array of bytes that the store reads
//! freely (only at open) and writes one whole page per [`Medium::write_at`] call. Its errors are
//! `std::io::Error`s; a file medium names its path and the failed operation in them.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// A page-writable persistent medium. Every `write_at` is one low-level page write (the unit a
/// power cut can interrupt or tear); `sync` makes every completed write durable.
pub trait Medium {
    /// Size of the medium in bytes.
    fn size(&self) -> io::Result<u64>;
    /// Reads `buf.len()` bytes at `offset`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Writes one page (`data` is exactly one page) at `offset`.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Makes every completed write durable (fdatasync for a file).
    fn sync(&mut self) -> io::Result<()>;
}

impl<M: Medium + ?Sized> Medium for Box<M> {
    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        (**self).read_at(offset, buf)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        (**self).write_at(offset, data)
    }
    fn sync(&mut self) -> io::Result<()> {
        (**self).sync()
    }
}

/// A medium in a file: `pwrite` per page, `fdatasync` per sync.
#[derive(Debug)]
pub struct FileMedium {
    file: File,
    path: PathBuf,
    /// The image's process lock, held as long as the medium is open.
    lock: Option<super::lock::ImageLock>,
}

impl FileMedium {
    /// Opens an existing image file for reading and writing.
    pub fn open(path: impl Into<PathBuf>) -> io::Result<Self> {
        let path = path.into();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(at(&path, "open"))?;
        Ok(Self {
            file,
            path,
            lock: None,
        })
    }

    /// Creates a new, blank (all zero) image file of `size` bytes; fails if it exists. The
    /// zeros are written (not a sparse file), so that later page writes never allocate blocks
    /// and an fdatasync flushes data only, not file-system metadata.
    pub fn create(path: impl Into<PathBuf>, size: u64) -> io::Result<Self> {
        let path = path.into();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(at(&path, "create"))?;
        let zeros = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        let mut fill = || -> io::Result<()> {
            while written < size {
                use std::os::unix::fs::FileExt;
                let n = (size - written).min(zeros.len() as u64) as usize;
                file.write_all_at(&zeros[..n], written)?;
                written += n as u64;
            }
            file.sync_all()
        };
        fill().map_err(at(&path, "write"))?;
        Ok(Self {
            file,
            path,
            lock: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn hold(&mut self, lock: super::lock::ImageLock) {
        self.lock = Some(lock);
    }

    pub(super) fn set_path(&mut self, path: PathBuf) {
        self.path = path;
    }
}

impl Medium for FileMedium {
    fn size(&self) -> io::Result<u64> {
        self.file
            .metadata()
            .map(|m| m.len())
            .map_err(at(&self.path, "size"))
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.file
            .read_exact_at(buf, offset)
            .map_err(at(&self.path, "read"))
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.file
            .write_all_at(data, offset)
            .map_err(at(&self.path, "write"))
    }

    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data().map_err(at(&self.path, "fdatasync"))
    }
}

/// Adds the file and the operation to an I/O error (keeping its kind).
fn at<'a>(path: &'a Path, op: &'static str) -> impl Fn(io::Error) -> io::Error + 'a {
    move |e| io::Error::new(e.kind(), format!("{}: {op}: {e}", path.display()))
}

/// An access outside a RAM medium.
fn out_of_range(op: &str, offset: u64, len: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("{op} at {offset} of {len} bytes past the end"),
    )
}

/// A medium in RAM, for tests. Clones share the same bytes, so a test can keep a clone and
/// reopen a store from what reached the "medium" after the store is gone.
#[derive(Debug, Clone, Default)]
pub struct RamMedium {
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl RamMedium {
    /// A blank (all zero) medium of `size` bytes.
    pub fn new(size: usize) -> Self {
        Self::from_bytes(vec![0; size])
    }

    /// A medium holding `bytes` (e.g. an image file read into memory).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self {
            bytes: Arc::new(Mutex::new(bytes)),
        }
    }

    /// A copy of the current content.
    pub fn image(&self) -> Vec<u8> {
        self.lock().clone()
    }

    /// An independent copy (not sharing bytes with `self`).
    pub fn deep_clone(&self) -> Self {
        Self::from_bytes(self.image())
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        self.bytes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Medium for RamMedium {
    fn size(&self) -> io::Result<u64> {
        Ok(self.lock().len() as u64)
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut bytes = self.lock();
        let start =
            usize::try_from(offset).map_err(|_| out_of_range("write", offset, data.len()))?;
        let end = start
            .checked_add(data.len())
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| out_of_range("write", offset, data.len()))?;
        bytes[start..end].copy_from_slice(data);
        Ok(())
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let bytes = self.lock();
        let start = usize::try_from(offset).map_err(|_| out_of_range("read", offset, buf.len()))?;
        let src = start
            .checked_add(buf.len())
            .and_then(|end| bytes.get(start..end))
            .ok_or_else(|| out_of_range("read", offset, buf.len()))?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}
