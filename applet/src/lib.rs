//! The SKS applet: a JavaCard-style card that implements the SKS API (spec 002) behind an
//! ISO 7816-4 envelope (see apdu-spec). Transport-free: `Card::process` maps a command APDU to
//! a response APDU over an injected store, RNG and clock.
//!
//! Layers, outside in: [`iso`] (APDUs, SELECT, chaining, GET RESPONSE) → [`applet`]
//! (dispatcher: method id → typed command → handler) → handlers ([`info`], ...) → [`store`]
//! (persistent records, one atomic transaction primitive).

pub mod auth;
pub mod crypto;
pub mod db;
pub mod device;
mod dispatch;
pub mod error;
pub mod iso;
pub mod methods;
pub mod platform;
pub mod secret;
pub mod state;
pub mod store;
pub(crate) mod txn;

pub use error::StartupError;
pub use iso::{Card, IsoCard};
pub use methods::provisioning::MAX_OPEN_SESSIONS;
pub use state::{SksApplet, STORE_RESERVE};

use std::path::Path;
use store::Store;

/// The SKS card: the ISO layer in front of the SKS applet.
pub type SksCard<S> = IsoCard<SksApplet<S>>;

/// How a card behaves, chosen when it starts (nothing of it is persistent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CardOptions {
    /// **Insecure, for middleware testing only.** Pretend to have a biometric reader:
    /// getDeviceInfo reports biometricSupport, createKeyEntry accepts biometricProtection and the
    /// User API trusts the caller's `biometricAuth` flag. Off (the default), the card has no
    /// biometrics (spec 7.4 createKeyEntry: a non-zero biometricProtection is an error) and
    /// refuses `biometricAuth = true`, so keys made while simulating never open by the flag.
    pub simulate_biometric: bool,
}

/// Builds a card over `store` with the given RNG and clock.
pub fn card_with<S: Store>(
    store: S,
    rng: platform::CardRng,
    clock: Box<dyn platform::Clock>,
) -> Result<SksCard<S>, StartupError> {
    card_with_options(store, rng, clock, CardOptions::default())
}

/// [`card_with`] with [`CardOptions`].
pub fn card_with_options<S: Store>(
    store: S,
    rng: platform::CardRng,
    clock: Box<dyn platform::Clock>,
    options: CardOptions,
) -> Result<SksCard<S>, StartupError> {
    Ok(IsoCard::new(SksApplet::start(store, rng, clock, options)?))
}

/// The product card's EEPROM: 256-byte pages, 4 MiB (half of it usable for live records, see
/// docs/store.md), room for many keys and a few extensions of the full extensionDataSize.
pub const PRODUCT_GEOMETRY: store::Geometry = store::Geometry {
    page_size: 256,
    page_count: 16 * 1024,
};

/// Opens the product card: persistent state in the sealed EEPROM image at `store` (created and
/// personalized on first start; its master key lives in `<store>.key`), or in RAM only when
/// `store` is `None`.
pub fn open_card(store: Option<&Path>) -> Result<Box<dyn Card + Send>, StartupError> {
    open_card_with(store, CardOptions::default())
}

/// [`open_card`] with [`CardOptions`].
pub fn open_card_with(
    store: Option<&Path>,
    options: CardOptions,
) -> Result<Box<dyn Card + Send>, StartupError> {
    if options.simulate_biometric {
        log::warn!(
            "INSECURE: simulating a biometric reader; any client can pass biometric checks by \
             asserting biometricAuth (for middleware testing only)"
        );
    }
    let rng = platform::os_seeded_rng().map_err(StartupError::Entropy)?;
    let clock = Box::new(platform::SystemClock);
    Ok(match store {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| StartupError::Directory {
                    path: dir.to_owned(),
                    source,
                })?;
            }
            let store =
                store::EepromStore::open(path, PRODUCT_GEOMETRY).map_err(StartupError::Store)?;
            Box::new(card_with_options(store, rng, clock, options)?)
        }
        None => Box::new(card_with_options(
            store::RamStore::new(),
            rng,
            clock,
            options,
        )?),
    })
}
