//! A [`Store`] wrapper that counts and times the card's commits (its durable transactions), to
//! show where provisioning time goes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use applet::store::{EepromStore, RamStore, RecordKey, Store, StoreError, Write};
use applet::Card;

/// Commits seen so far: how many, their summed duration, the last image size in records.
#[derive(Debug, Default, Clone, Copy)]
pub struct CommitTotals {
    pub count: u64,
    pub time: Duration,
}

pub type Meter = Arc<Mutex<CommitTotals>>;

pub fn totals(meter: &Meter) -> CommitTotals {
    *meter.lock().unwrap_or_else(|e| e.into_inner())
}

/// Delegates to `inner`, timing every [`Store::commit`].
pub struct Metered<S> {
    inner: S,
    meter: Meter,
}

impl<S: Store> Store for Metered<S> {
    fn get(&self, key: RecordKey) -> Option<&[u8]> {
        self.inner.get(key)
    }

    fn keys(&self) -> Vec<RecordKey> {
        self.inner.keys()
    }

    fn commit_reserving(&mut self, writes: Vec<Write>, reserve: usize) -> Result<(), StoreError> {
        let t = Instant::now();
        let r = self.inner.commit_reserving(writes, reserve);
        let d = t.elapsed();
        let mut m = self.meter.lock().unwrap_or_else(|e| e.into_inner());
        m.count += 1;
        m.time += d;
        r
    }
}

/// The product card as `applet::open_card` builds it (OS-seeded RNG, system clock, the EEPROM
/// model store in a file image of `applet::PRODUCT_GEOMETRY` at `path`, or a RAM store), with
/// the store metered.
pub fn metered_card(
    path: Option<&std::path::Path>,
) -> crate::Result<(Box<dyn Card + Send>, Meter)> {
    let meter = Meter::default();
    let rng = applet::platform::os_seeded_rng()?;
    let clock = Box::new(applet::platform::SystemClock);
    let card: Box<dyn Card + Send> = match path {
        Some(p) => {
            let inner = EepromStore::open(p, applet::PRODUCT_GEOMETRY)?;
            Box::new(applet::card_with(
                Metered {
                    inner,
                    meter: meter.clone(),
                },
                rng,
                clock,
            )?)
        }
        None => Box::new(applet::card_with(
            Metered {
                inner: RamStore::new(),
                meter: meter.clone(),
            },
            rng,
            clock,
        )?),
    };
    Ok((card, meter))
}

/// A transport wrapper that sums the time spent in the transport (for an in-process card: in
/// the card; over PC/SC: PC/SC transaction + round trips + card), so that the rest of a call's
/// time can be attributed to the host (client encoding, issuer emulation).
pub struct Timed<T> {
    pub inner: T,
    pub spent: Duration,
}

impl<T> Timed<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            spent: Duration::ZERO,
        }
    }
}

impl<T: pcsc_bridge::Transport> pcsc_bridge::Transport for Timed<T> {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, pcsc_bridge::TransportError> {
        let t = Instant::now();
        let r = self.inner.transmit(command);
        self.spent += t.elapsed();
        r
    }

    fn exclusive(
        &mut self,
        body: &mut dyn FnMut(&mut dyn pcsc_bridge::Transport),
    ) -> Result<(), pcsc_bridge::TransportError> {
        let t = Instant::now();
        let r = self.inner.exclusive(body);
        self.spent += t.elapsed();
        r
    }
}
