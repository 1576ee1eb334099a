//! Where cards come from: PC/SC readers (the default) or one in-process card
//! (`SKS_PKCS11_INPROCESS=ram|<store path>`, for tests and experiments without pcscd).
//! `SKS_PKCS11_READER=<text>` limits the slots to readers whose name contains the text.

use pcsc_bridge::{InProcess, PcscTransport, Sks, Transport};
use std::ffi::CString;

/// A connection to the SKS applet on one card.
pub type Card = Sks<Box<dyn Transport + Send>>;

/// Lists readers and connects to the card in one.
pub enum Backend {
    /// pcsc-lite. The context is established lazily and re-established after pcscd restarts.
    Pcsc(Option<pcsc::Context>),
    /// One applet card in this process, in a reader of this name.
    InProcess(Option<Box<dyn applet::Card + Send>>),
}

/// The reader name of the in-process card.
pub const IN_PROCESS_READER: &str = "SKS in-process card";

impl Backend {
    /// The backend the environment asks for.
    pub fn from_env() -> Self {
        match std::env::var("SKS_PKCS11_INPROCESS") {
            Ok(v) if !v.is_empty() => {
                let path = (v != "ram").then(|| std::path::PathBuf::from(v));
                match applet::open_card(path.as_deref()) {
                    Ok(card) => Backend::InProcess(Some(card)),
                    Err(e) => {
                        log::error!("SKS_PKCS11_INPROCESS: cannot open the card: {e}");
                        Backend::InProcess(None)
                    }
                }
            }
            _ => Backend::Pcsc(None),
        }
    }

    /// The reader names present now, in the order the service lists them.
    pub fn readers(&mut self) -> Vec<String> {
        match self {
            Backend::InProcess(_) => vec![IN_PROCESS_READER.to_owned()],
            Backend::Pcsc(ctx) => {
                for attempt in 0..2 {
                    let c = match ctx {
                        Some(c) => c,
                        None => match pcsc::Context::establish(pcsc::Scope::User) {
                            Ok(c) => ctx.insert(c),
                            Err(e) => {
                                log::debug!("SCardEstablishContext: {e}");
                                return Vec::new();
                            }
                        },
                    };
                    match c.list_readers_owned() {
                        Ok(names) => {
                            let only = std::env::var("SKS_PKCS11_READER").unwrap_or_default();
                            return names
                                .iter()
                                .map(|n| n.to_string_lossy().into_owned())
                                .filter(|n| n.contains(&only))
                                .collect();
                        }
                        Err(pcsc::Error::NoReadersAvailable) => return Vec::new(),
                        Err(e) => {
                            log::debug!("SCardListReaders (attempt {attempt}): {e}");
                            *ctx = None; // pcscd restarted: establish a new context
                        }
                    }
                }
                Vec::new()
            }
        }
    }

    /// Connects to the card in `reader` and SELECTs the SKS applet; `None` when the reader is
    /// empty or its card is not an SKS card.
    pub fn connect(&mut self, reader: &str) -> Option<Card> {
        match self {
            Backend::InProcess(card) => {
                let card = card.take()?;
                match InProcess::from_box(card) {
                    Ok(t) => Some(Sks::new(Box::new(t) as Box<dyn Transport + Send>)),
                    Err(e) => {
                        log::warn!("in-process card: {e}");
                        None
                    }
                }
            }
            Backend::Pcsc(ctx) => {
                let ctx = ctx.as_ref()?;
                let name = CString::new(reader).ok()?;
                match PcscTransport::connect_reader(ctx, &name) {
                    Ok(t) => Some(Sks::new(Box::new(t) as Box<dyn Transport + Send>)),
                    Err(e) => {
                        log::debug!("reader {reader:?}: no SKS token ({e})");
                        None
                    }
                }
            }
        }
    }
}
