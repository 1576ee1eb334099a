//! The SKS applet: a JavaCard-style card that implements the SKS API (spec 002) behind an
//! ISO 7816-4 envelope (see apdu-spec). Transport-free: `Card::process` maps a command APDU to
//! a response APDU over an injected store, RNG and clock.

pub mod card;

pub use card::Card;

/// Why the card could not start (store unreadable, personalization failed).
#[derive(Debug)]
pub struct StartupError(pub String);

impl core::fmt::Display for StartupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartupError {}

/// Opens the product card: persistent state in the file image at `store` (created and
/// personalized on first start), or in RAM only when `store` is `None`.
pub fn open_card(
    store: Option<&std::path::Path>,
) -> Result<Box<dyn Card + Send>, StartupError> {
    let _ = store;
    Err(StartupError("the SKS applet is not assembled yet".into()))
}
