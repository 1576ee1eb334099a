//! What the applet gets from its platform, injected so tests are deterministic: time and
//! randomness. The applet does no other I/O (persistent state goes through `store`).

use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Wall-clock time, as a duration since the Unix epoch.
pub trait Clock: Send {
    fn now(&self) -> Duration;

    /// Waits, e.g. before a PUK check without retry limit (spec 5: PUK delay).
    fn delay(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// The host's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
    }
}

/// A clock that always tells the same time and does not really wait; it adds up the delays it
/// was asked for, so tests can check them (tests).
#[derive(Debug, Clone, Default)]
pub struct FixedClock(pub Duration, pub std::sync::Arc<std::sync::Mutex<Duration>>);

impl FixedClock {
    pub fn at(now: Duration) -> Self {
        Self(now, Default::default())
    }

    /// A handle on the total of the delays requested so far.
    pub fn delays(&self) -> std::sync::Arc<std::sync::Mutex<Duration>> {
        self.1.clone()
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Duration {
        self.0
    }

    fn delay(&self, d: Duration) {
        if let Ok(mut total) = self.1.lock() {
            *total += d;
        }
    }
}

/// A clock that stands still until a test moves it; clones share the time. Delays pass no
/// real time and move it forward (tests).
#[derive(Debug, Clone, Default)]
pub struct ManualClock(std::sync::Arc<std::sync::Mutex<Duration>>);

impl ManualClock {
    pub fn at(now: Duration) -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(now)))
    }

    pub fn advance(&self, d: Duration) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn delay(&self, d: Duration) {
        self.advance(d);
    }
}

/// The card's random number generator: ChaCha20, seeded once; its state is zeroized on drop.
pub type CardRng = ChaCha20Rng;

/// A generator seeded from the operating system's entropy source.
pub fn os_seeded_rng() -> Result<CardRng, getrandom::Error> {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut *seed)?;
    Ok(CardRng::from_seed(*seed))
}

/// A deterministic generator (tests and benchmarks).
pub fn seeded_rng(seed: u64) -> CardRng {
    CardRng::seed_from_u64(seed)
}
