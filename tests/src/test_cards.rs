//! Small [`Card`] implementations for transport tests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use applet::Card;

/// A valid minimal ATR: direct convention, T=1, no historical bytes, TCK.
pub const TEST_ATR: [u8; 5] = [0x3B, 0x80, 0x80, 0x01, 0x01];

/// Counts of what a test card saw; shared with the test through an `Arc`.
#[derive(Debug, Default)]
pub struct CardEvents {
    /// Power-on control messages.
    pub power_on: AtomicUsize,
    /// Power-off control messages and dropped connections while powered.
    pub power_off: AtomicUsize,
    /// Reset control messages.
    pub reset: AtomicUsize,
    /// Command APDUs processed.
    pub apdus: AtomicUsize,
}

impl CardEvents {
    /// `(power_on, power_off, reset, apdus)`.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        (
            self.power_on.load(Ordering::SeqCst),
            self.power_off.load(Ordering::SeqCst),
            self.reset.load(Ordering::SeqCst),
            self.apdus.load(Ordering::SeqCst),
        )
    }
}

/// Answers every command APDU with the command itself followed by `90 00` (or `67 00` when
/// that would not fit in a vpcd frame). ATR [`TEST_ATR`].
#[derive(Debug, Default)]
pub struct EchoCard {
    /// What the card saw.
    pub events: Arc<CardEvents>,
}

impl EchoCard {
    /// A new card and a handle on its event counters.
    pub fn new() -> (Self, Arc<CardEvents>) {
        let card = Self::default();
        let events = Arc::clone(&card.events);
        (card, events)
    }
}

impl Card for EchoCard {
    fn atr(&self) -> &[u8] {
        &TEST_ATR
    }

    fn power_on(&mut self) {
        self.events.power_on.fetch_add(1, Ordering::SeqCst);
    }

    fn power_off(&mut self) {
        self.events.power_off.fetch_add(1, Ordering::SeqCst);
    }

    fn reset(&mut self) {
        self.events.reset.fetch_add(1, Ordering::SeqCst);
    }

    fn process(&mut self, command: &[u8]) -> Vec<u8> {
        self.events.apdus.fetch_add(1, Ordering::SeqCst);
        if command.len() > vsmartcard_adapter::MAX_FRAME - 2 {
            return vec![0x67, 0x00];
        }
        let mut response = Vec::with_capacity(command.len() + 2);
        response.extend_from_slice(command);
        response.extend_from_slice(&[0x90, 0x00]);
        response
    }
}
