//! The SKS applet's state and its start-up: load the credential database, or personalize a new
//! card. The dispatcher is in [`crate::dispatch`], the handlers in [`crate::methods`].

use crate::db::Db;
use crate::device::DeviceIdentity;
use crate::error::{Error, StartupError};
use crate::platform::{CardRng, Clock};
use crate::store::{Kind, RecordKey, Store, Write};

const IDENTITY: RecordKey = RecordKey::new(Kind::DeviceIdentity, 0);

/// The SKS applet: persistent state in `S`, plus the injected RNG and clock.
pub struct SksApplet<S> {
    pub(crate) store: S,
    pub(crate) rng: CardRng,
    pub(crate) clock: Box<dyn Clock>,
    pub(crate) device: DeviceIdentity,
    pub(crate) db: Db,
    /// Parsed private keys (RAM only; cleared on power-off, reset and reselection).
    pub(crate) key_cache:
        std::collections::BTreeMap<u32, std::sync::Arc<crate::crypto::PrivateKey>>,
    pub(crate) options: crate::CardOptions,
    /// Store bytes the current call must leave free ([`STORE_RESERVE`] for provisioning calls).
    pub(crate) reserve: usize,
}

/// Store capacity that provisioning may not use: PIN and PUK counters must always commit, since
/// an attempt is committed before it is judged (issue 9: a full store made every PIN-protected
/// key fail with ERROR_STORAGE).
pub const STORE_RESERVE: usize = 4096;

impl<S: Store> SksApplet<S> {
    /// Starts the applet over `store`. A store without a device identity is a new card: it is
    /// personalized and the identity committed before the card answers anything.
    pub fn start(
        mut store: S,
        mut rng: CardRng,
        clock: Box<dyn Clock>,
        options: crate::CardOptions,
    ) -> Result<Self, StartupError> {
        let device = match store.get(IDENTITY) {
            Some(record) => DeviceIdentity::from_record(record)
                .map_err(|e| StartupError::Load(Error::Device(e)))?,
            None => {
                let personalized = DeviceIdentity::personalize(&mut rng, clock.now())
                    .and_then(|device| Ok((device.to_record()?, device)))
                    .map_err(Error::Device)
                    .and_then(|(record, device)| {
                        store.commit(vec![Write::Put(IDENTITY, record.to_vec())])?;
                        Ok(device)
                    });
                let device = personalized.map_err(StartupError::Personalization)?;
                log::info!("personalized a new card");
                device
            }
        };
        let db = Db::load(&store).map_err(|e| StartupError::Load(e.into()))?;
        let mut applet = Self {
            store,
            rng,
            clock,
            device,
            db,
            key_cache: Default::default(),
            options,
            reserve: 0,
        };
        applet.date_undated_sessions();
        if let Err(e) = applet.expire_sessions() {
            log::error!("expired provisioning sessions could not be aborted: {e}");
        }
        Ok(applet)
    }

    pub fn device(&self) -> &DeviceIdentity {
        &self.device
    }
}
