//! The SKS applet: a JavaCard-style card that implements the SKS API (spec 002) behind an
//! ISO 7816-4 envelope (see apdu-spec). Transport-free: `Card::process` maps a command APDU to
//! a response APDU over an injected store, RNG and clock.

pub mod card;

pub use card::Card;
