//! One process per card image: an exclusive `flock` on `<image>.lock`, taken before the image
//! or its key file is read or created and held for the store's lifetime (the kernel drops it
//! when the process ends, however it ends). Two cards on one image would each keep their own
//! RAM view and overwrite each other's acknowledged transactions.

use super::super::StoreError;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file of an image: `<image>.lock`.
pub fn lock_path(image: &Path) -> PathBuf {
    let mut name = image.as_os_str().to_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

/// The held lock; released when dropped.
#[derive(Debug)]
pub struct ImageLock {
    _file: File,
}

impl ImageLock {
    /// Takes the lock of `image` or fails at once, naming the holder when it can.
    pub fn acquire(image: &Path) -> Result<Self, StoreError> {
        let path = lock_path(image);
        let io = |e: std::io::Error| StoreError::io(format!("{}: {e}", path.display()));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::InUse(format!(
                    "the card image {} is in use by {}; one process per card image",
                    image.display(),
                    holder(&mut file)
                )))
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        // Informational only (the flock is the lock): who holds it, for the next one to say.
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(Self { _file: file })
    }
}

/// "process 1234 (sks-card)", or "another process" when the lock file does not say.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let pid = file
        .read_to_string(&mut text)
        .ok()
        .and_then(|_| text.trim().parse::<u32>().ok());
    match pid {
        Some(pid) => match std::fs::read_to_string(format!("/proc/{pid}/comm")) {
            Ok(name) => format!("process {pid} ({})", name.trim()),
            Err(_) => format!("process {pid}"),
        },
        None => "another process".into(),
    }
}
