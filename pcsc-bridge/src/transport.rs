//! The transport abstraction: one command APDU in, one response APDU out.

use crate::status::sw_meaning;
use std::time::Duration;

/// Why a transport could not carry an APDU or could not reach the card.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// A PC/SC call failed.
    #[error("PC/SC {operation} failed: {source}")]
    Pcsc {
        /// The PC/SC function, e.g. `SCardTransmit`.
        operation: &'static str,
        #[source]
        source: pcsc::Error,
    },
    /// No card appeared in a matching reader before the timeout.
    #[error("no card in a reader {} within {waited:?} (readers seen: {readers:?})", match .pattern { Some(p) => format!("whose name contains {p:?}"), None => "of any name".to_owned() })]
    NoCard {
        /// The reader name pattern, if one was given.
        pattern: Option<String>,
        /// How long we waited.
        waited: Duration,
        /// The readers present when we gave up.
        readers: Vec<String>,
    },
    /// SELECT of the SKS applet did not answer `9000`.
    #[error("SELECT of the SKS applet failed with status {0:04X} ({m})", m = sw_meaning(*.0))]
    SelectFailed(u16),
    /// The card was reset (by another process or a power cycle) in the middle of an exchange
    /// whose earlier APDUs it has therefore forgotten.
    #[error("the card was reset in the middle of a multi-APDU exchange")]
    CardReset,
    /// A response APDU shorter than its two status bytes.
    #[error("response APDU of {0} bytes is shorter than a status word")]
    ShortResponse(usize),
    /// The transport was closed.
    #[error("the transport is closed")]
    Closed,
    /// Anything else a transport wants to report.
    #[error("{0}")]
    Other(String),
}

impl TransportError {
    pub(crate) fn pcsc(operation: &'static str) -> impl FnOnce(pcsc::Error) -> Self {
        move |source| Self::Pcsc { operation, source }
    }
}

/// Carries command APDUs to a card and response APDUs back.
///
/// Implementors only need [`transmit`](Transport::transmit). Transports shared with other
/// processes (PC/SC) also override [`exclusive`](Transport::exclusive) so that the APDUs of one
/// SKS call (chained frames + GET RESPONSE) are not interleaved with anybody else's.
pub trait Transport {
    /// One APDU round trip: a command APDU in, the response APDU (data ‖ SW1 SW2) out.
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError>;

    /// Runs `body` with exclusive access to the card: nothing else reaches the card between
    /// the APDUs `body` sends through the transport it is given. The default runs `body` on
    /// `self` directly (right for transports nobody else shares).
    fn exclusive(
        &mut self,
        body: &mut dyn FnMut(&mut dyn Transport),
    ) -> Result<(), TransportError> {
        let mut this = self;
        body(&mut this);
        Ok(())
    }
}

/// A reference or box of a transport is that transport.
macro_rules! forward_transport {
    ($($ptr:ty),+) => {$(
        impl<T: Transport + ?Sized> Transport for $ptr {
            fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
                (**self).transmit(command)
            }

            fn exclusive(
                &mut self,
                body: &mut dyn FnMut(&mut dyn Transport),
            ) -> Result<(), TransportError> {
                (**self).exclusive(body)
            }
        }
    )+};
}

forward_transport!(&mut T, Box<T>);

/// Logs one exchange at trace level without its data: method, handle, lengths, SKS status and
/// status word (APDUs carry PINs, keys and plaintexts, which no log level may show).
pub(crate) fn log_exchange(command: &[u8], response: &[u8]) {
    thread_local! {
        static EXCHANGES: std::cell::RefCell<apdu_spec::log::ExchangeLog> = Default::default();
    }
    if log::log_enabled!(log::Level::Trace) {
        EXCHANGES.with_borrow_mut(|x| log::trace!("{}", x.describe(command, response)));
    }
}
