//! Host-side client of the virtual SKS (Secure Key Store) card.
//!
//! * [`Transport`]: one command APDU in, one response APDU out, plus an
//!   [`exclusive`](Transport::exclusive) section so the APDUs of one call are not interleaved
//!   with another process's.
//! * [`PcscTransport`]: a card in a PC/SC reader (pcsc-lite, e.g. vpcd). Waits for the card,
//!   connects shared, SELECTs the applet, runs every call in a PC/SC transaction, recovers once
//!   from a reported card reset and never resets the card itself.
//! * [`InProcess`]: an [`applet::Card`] in the same process, no PC/SC.
//! * [`Sks`]: the client. [`Sks::call`] is the generic call of any [`apdu_spec::Method`]:
//!   arguments encoded, sent as extended APDUs (command chaining above
//!   [`CallOptions::max_chunk`]), the response collected through `61xx` + GET RESPONSE and
//!   decoded as the method's results or an SKS error. Every SKS method also has a typed
//!   method named after it (`getDeviceInfo` → [`Sks::get_device_info`],
//!   `createProvisioningSession` → [`Sks::create_provisioning_session`], ...).
//!
//! Errors: [`Error`] tells an SKS error reported by the card ([`Error::Sks`], with the spec's
//! code and message) from an ISO status word ([`Error::Status`]), a transport failure, and
//! arguments or responses that do not encode or decode.
//!
//! ```no_run
//! use pcsc_bridge::{PcscTransport, Sks};
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Wait up to 5 s for a card in a reader whose name contains "Virtual PCD".
//! let transport = PcscTransport::connect(Some("Virtual PCD"), Duration::from_secs(5))?;
//! let mut sks = Sks::new(transport);
//! let info = sks.get_device_info()?;
//! println!("{} (API level {:#06x})", info.vendor_name, info.api_level);
//!
//! // Several calls with nobody else in between:
//! let (a, b) = sks.transaction(|sks| (sks.get_device_info(), sks.get_device_info()))?;
//! # let _ = (a, b);
//! # Ok(())
//! # }
//! ```
//!
//! In-process, with javax.smartcardio's frame limits to exercise chaining:
//!
//! ```no_run
//! use pcsc_bridge::{CallOptions, InProcess, Sks};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let card = applet::open_card(None)?;
//! let mut sks = Sks::with_options(InProcess::from_box(card)?, CallOptions::JAVAX_SMARTCARDIO);
//! match sks.get_device_info() {
//!     Ok(info) => println!("{}", info.vendor_name),
//!     Err(pcsc_bridge::Error::Sks(e)) => println!("card said {}: {}", e.code, e.message),
//!     Err(e) => return Err(e.into()),
//! }
//! # Ok(())
//! # }
//! ```

mod client;
mod enumerate;
mod in_process;
mod pcsc_transport;
mod status;
mod transport;
mod typed;

pub use apdu_spec;
pub use client::{CallOptions, Error, Sks};
pub use in_process::InProcess;
pub use pcsc_transport::{wait_for_card, PcscTransport};
pub use status::sw_meaning;
pub use transport::{Transport, TransportError};

/// Re-exported so callers can pass their own context to
/// [`PcscTransport::connect_with_context`].
pub use pcsc;

#[cfg(test)]
mod tests;
