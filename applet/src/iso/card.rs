//! What a transport needs from a card: the JavaCard-style lifecycle of a contact card as a
//! reader drives it (ISO 7816-3 power and reset, ISO 7816-4 command/response).

/// A card as a reader sees it. Implemented by the SKS applet and by the benchmark's echo card.
pub trait Card {
    /// The Answer To Reset the reader reports.
    fn atr(&self) -> &[u8];
    /// Contacts powered: volatile (RAM) state starts fresh.
    fn power_on(&mut self);
    /// Power removed: volatile state is lost; persistent state is what the store holds.
    fn power_off(&mut self);
    /// Warm reset: volatile state is cleared as on power-on.
    fn reset(&mut self);
    /// One command APDU in, one response APDU (data ‖ SW1 SW2) out. Never panics.
    fn process(&mut self, command: &[u8]) -> Vec<u8>;
}
