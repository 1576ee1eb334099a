//! Power-cut injection for tests: a [`Medium`] wrapper that cuts power after the k-th page write.
//!
//! ```text
//! cut_after = Some(k), tear = false: writes 1..=k complete; the k-th returns Ok, and from then
//!                                    on every write, sync and read fails (power is off).
//! cut_after = Some(k), tear = true:  writes 1..k complete; the k-th write reaches the medium
//!                                    only half-way (a prefix of the page) and fails.
//! cut_after = None:                  never cuts; counts writes (to size an exhaustive run).
//! ```
//! A test keeps a [`FaultHandle`] (or a clone of the inner [`RamMedium`]) and, after the cut,
//! reopens a store from the inner medium's bytes.

use super::medium::{Medium, RamMedium};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug)]
struct FaultState {
    cut_after: Option<usize>,
    tear: bool,
    writes: usize,
    syncs: usize,
    powered: bool,
}

/// Shared view of a [`FaultyMedium`]'s counters, usable after the medium moved into a store.
#[derive(Debug, Clone)]
pub struct FaultHandle(Arc<Mutex<FaultState>>);

impl FaultHandle {
    fn lock(&self) -> MutexGuard<'_, FaultState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Page writes attempted so far (including the cut one).
    pub fn writes(&self) -> usize {
        self.lock().writes
    }

    /// Syncs that succeeded so far.
    pub fn syncs(&self) -> usize {
        self.lock().syncs
    }

    /// Whether power has been cut.
    pub fn is_cut(&self) -> bool {
        !self.lock().powered
    }

    /// Changes the cut point, counted in writes from the medium's creation.
    pub fn arm(&self, cut_after: Option<usize>, tear: bool) {
        let mut s = self.lock();
        s.cut_after = cut_after;
        s.tear = tear;
    }
}

/// A medium that loses power after a chosen page write.
#[derive(Debug)]
pub struct FaultyMedium<M: Medium = RamMedium> {
    inner: M,
    state: FaultHandle,
}

impl<M: Medium> FaultyMedium<M> {
    /// Wraps `inner`; see the module documentation for `cut_after` and `tear`.
    pub fn new(inner: M, cut_after: Option<usize>, tear: bool) -> Self {
        Self {
            inner,
            state: FaultHandle(Arc::new(Mutex::new(FaultState {
                cut_after,
                tear,
                writes: 0,
                syncs: 0,
                powered: true,
            }))),
        }
    }

    pub fn handle(&self) -> FaultHandle {
        self.state.clone()
    }

    pub fn writes(&self) -> usize {
        self.state.writes()
    }

    pub fn inner(&self) -> &M {
        &self.inner
    }

    pub fn into_inner(self) -> M {
        self.inner
    }
}

/// What the medium answers once the power is cut.
fn power_off() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::BrokenPipe,
        "power cut (fault injection)",
    )
}

impl<M: Medium> Medium for FaultyMedium<M> {
    fn size(&self) -> std::io::Result<u64> {
        self.inner.size()
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        if self.state.is_cut() {
            return Err(power_off());
        }
        self.inner.read_at(offset, buf)
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        let (n, cut_after, tear) = {
            let mut s = self.state.lock();
            if !s.powered {
                return Err(power_off());
            }
            s.writes += 1;
            (s.writes, s.cut_after, s.tear)
        };
        match cut_after {
            Some(k) if n >= k => {
                self.state.lock().powered = false;
                if tear {
                    self.inner.write_at(offset, &data[..data.len() / 2])?;
                    Err(power_off())
                } else {
                    self.inner.write_at(offset, data)
                }
            }
            _ => self.inner.write_at(offset, data),
        }
    }

    fn sync(&mut self) -> std::io::Result<()> {
        if self.state.is_cut() {
            return Err(power_off());
        }
        self.inner.sync()?;
        self.state.lock().syncs += 1;
        Ok(())
    }
}
