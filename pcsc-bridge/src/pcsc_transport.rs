//! The PC/SC transport (pcsc-lite through the `pcsc` crate).

use crate::transport::{log_exchange, Transport, TransportError};
use apdu_spec::envelope::{select_apdu, split_response, sw};
use pcsc::{Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State};
use std::ffi::{CStr, CString};
use std::time::{Duration, Instant};

/// The longest single wait in [`wait_for_card`] before the reader list is re-read anyway (in
/// case the PC/SC service does not support the `\\?PnP?\Notification` pseudo-reader).
const MAX_WAIT_SLICE: Duration = Duration::from_secs(1);

/// A connection to the SKS applet on a card in a PC/SC reader.
///
/// * Connects in shared mode with any protocol and SELECTs the applet.
/// * Disconnects with `Disposition::LeaveCard` (never resets the card), also on drop.
/// * [`Transport::exclusive`] runs its body inside a PC/SC transaction
///   (`SCardBeginTransaction`), so one SKS call is never interleaved with another process.
/// * A card reset reported by PC/SC (another process reset it, or it was power cycled) is
///   handled once per operation by reconnecting and SELECTing again, when it is reported
///   before an exchange starts (on a single [`transmit`](Transport::transmit) or at the start
///   of a transaction). A reset reported in the middle of an exchange is
///   [`TransportError::CardReset`]: the card forgot the earlier frames, so retrying blindly
///   could execute a truncated or duplicate call.
pub struct PcscTransport {
    card: Option<pcsc::Card>,
    reader: CString,
    buf: Vec<u8>,
}

impl PcscTransport {
    /// Establishes a user-scope PC/SC context, waits up to `timeout` for a card in a reader
    /// whose name contains `pattern` (any reader when `None`), connects and SELECTs the applet.
    pub fn connect(pattern: Option<&str>, timeout: Duration) -> Result<Self, TransportError> {
        let ctx = Context::establish(Scope::User)
            .map_err(TransportError::pcsc("SCardEstablishContext"))?;
        Self::connect_with_context(&ctx, pattern, timeout)
    }

    /// Like [`connect`](Self::connect), with a context the caller established (the connection
    /// keeps its own reference to it).
    ///
    /// Readers with a card are tried in the order PC/SC lists them; the first whose card
    /// accepts the SELECT of the SKS applet wins. When every present card refuses the SELECT,
    /// the last refusal is returned.
    pub fn connect_with_context(
        ctx: &Context,
        pattern: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, TransportError> {
        let deadline = Instant::now().checked_add(timeout);
        let mut seen = CardSeen::default();
        loop {
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let readers = wait_for_cards(ctx, pattern, remaining, &mut seen)?;
            let mut last_err = None;
            for reader in readers {
                match Self::connect_reader(ctx, &reader) {
                    Ok(t) => return Ok(t),
                    Err(e) => {
                        log::debug!("reader {reader:?}: {e}");
                        last_err = Some(e);
                    }
                }
            }
            match last_err {
                // The card went away between the status change and SCardConnect: wait again.
                Some(TransportError::Pcsc {
                    source:
                        pcsc::Error::NoSmartcard
                        | pcsc::Error::RemovedCard
                        | pcsc::Error::ResetCard
                        | pcsc::Error::UnpoweredCard
                        | pcsc::Error::UnresponsiveCard,
                    ..
                }) => continue,
                Some(e) => return Err(e),
                None => continue,
            }
        }
    }

    /// Connects (shared, any protocol) to the card in the reader named exactly `reader` and
    /// SELECTs the applet. Does not wait.
    pub fn connect_reader(ctx: &Context, reader: &CStr) -> Result<Self, TransportError> {
        let card = ctx
            .connect(reader, ShareMode::Shared, Protocols::ANY)
            .map_err(TransportError::pcsc("SCardConnect"))?;
        log::debug!("connected to {reader:?}");
        let mut this = Self {
            card: Some(card),
            reader: reader.to_owned(),
            buf: vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED],
        };
        this.select()?;
        Ok(this)
    }

    /// The name of the reader this transport is connected to.
    pub fn reader_name(&self) -> String {
        self.reader.to_string_lossy().into_owned()
    }

    /// The underlying PC/SC card handle (for status or attribute queries).
    pub fn pcsc_card(&self) -> Option<&pcsc::Card> {
        self.card.as_ref()
    }

    /// SELECTs the SKS applet again.
    pub fn select(&mut self) -> Result<(), TransportError> {
        let card = self.card.as_ref().ok_or(TransportError::Closed)?;
        select_on(card, &mut self.buf)
    }

    /// Reconnects after PC/SC reported a reset (keeping the card as it is) and SELECTs again.
    pub fn reconnect(&mut self) -> Result<(), TransportError> {
        let card = self.card.as_mut().ok_or(TransportError::Closed)?;
        log::debug!("card in {:?} was reset: reconnecting", self.reader);
        card.reconnect(ShareMode::Shared, Protocols::ANY, Disposition::LeaveCard)
            .map_err(TransportError::pcsc("SCardReconnect"))?;
        self.select()
    }

    /// Disconnects, leaving the card as it is (no reset), and reports a failure.
    pub fn close(mut self) -> Result<(), TransportError> {
        self.disconnect()
    }

    fn disconnect(&mut self) -> Result<(), TransportError> {
        match self.card.take() {
            None => Ok(()),
            Some(card) => card
                .disconnect(Disposition::LeaveCard)
                .map_err(|(_card, e)| TransportError::pcsc("SCardDisconnect")(e)),
        }
    }
}

impl Drop for PcscTransport {
    fn drop(&mut self) {
        if let Err(e) = self.disconnect() {
            log::warn!("disconnecting from {:?}: {e}", self.reader);
        }
    }
}

impl std::fmt::Debug for PcscTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscTransport")
            .field("reader", &self.reader)
            .field("connected", &self.card.is_some())
            .finish()
    }
}

impl Transport for PcscTransport {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let card = self.card.as_ref().ok_or(TransportError::Closed)?;
        match transmit_on(card, command, &mut self.buf) {
            Err(TransportError::CardReset) => {
                self.reconnect()?;
                let card = self.card.as_ref().ok_or(TransportError::Closed)?;
                transmit_on(card, command, &mut self.buf)
            }
            other => other,
        }
    }

    fn exclusive(
        &mut self,
        body: &mut dyn FnMut(&mut dyn Transport),
    ) -> Result<(), TransportError> {
        let mut reconnected = false;
        loop {
            let card = self.card.as_mut().ok_or(TransportError::Closed)?;
            let error = match card.transaction2() {
                Ok(tx) => {
                    let mut inner = InTransaction {
                        card: &tx,
                        buf: &mut self.buf,
                    };
                    body(&mut inner);
                    if let Err((_tx, e)) = tx.end(Disposition::LeaveCard) {
                        log::warn!("SCardEndTransaction on {:?}: {e}", self.reader);
                    }
                    return Ok(());
                }
                Err((_, e)) => e,
            };
            if error == pcsc::Error::ResetCard && !reconnected {
                reconnected = true;
                self.reconnect()?;
            } else {
                return Err(TransportError::pcsc("SCardBeginTransaction")(error));
            }
        }
    }
}

/// The transport handed to the body of [`PcscTransport::exclusive`]: APDUs inside the
/// transaction. Nested `exclusive` calls run in the same transaction.
struct InTransaction<'a> {
    card: &'a pcsc::Card,
    buf: &'a mut Vec<u8>,
}

impl Transport for InTransaction<'_> {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        transmit_on(self.card, command, self.buf)
    }
}

fn transmit_on(
    card: &pcsc::Card,
    command: &[u8],
    buf: &mut [u8],
) -> Result<Vec<u8>, TransportError> {
    match card.transmit(command, buf) {
        Ok(resp) => {
            log_exchange(command, resp);
            Ok(resp.to_vec())
        }
        Err(pcsc::Error::ResetCard) => Err(TransportError::CardReset),
        Err(e) => Err(TransportError::pcsc("SCardTransmit")(e)),
    }
}

fn select_on(card: &pcsc::Card, buf: &mut [u8]) -> Result<(), TransportError> {
    let resp = transmit_on(card, &select_apdu(), buf)?;
    match split_response(&resp) {
        Some((_, sw::OK)) => Ok(()),
        Some((_, status)) => Err(TransportError::SelectFailed(status)),
        None => Err(TransportError::ShortResponse(resp.len())),
    }
}

/// The reader states [`wait_for_cards`] last saw, so that a second wait (after a card vanished
/// between its status change and `SCardConnect`) blocks until the next change.
#[derive(Default)]
struct CardSeen {
    states: Vec<ReaderState>,
}

/// Waits up to `timeout` (forever when `None`) until at least one reader whose name contains
/// `pattern` (any reader when `None`) holds a card, and returns the names of all such readers
/// with a card, in PC/SC order. Readers that appear during the wait are found: the wait
/// listens on the `\\?PnP?\Notification` pseudo-reader and re-lists readers after every change
/// (and at least every second).
pub fn wait_for_card(
    ctx: &Context,
    pattern: Option<&str>,
    timeout: Duration,
) -> Result<Vec<CString>, TransportError> {
    let timeout = Instant::now().checked_add(timeout).map(|_| timeout);
    wait_for_cards(ctx, pattern, timeout, &mut CardSeen::default())
}

fn wait_for_cards(
    ctx: &Context,
    pattern: Option<&str>,
    timeout: Option<Duration>,
    seen: &mut CardSeen,
) -> Result<Vec<CString>, TransportError> {
    let start = Instant::now();
    let deadline = timeout.and_then(|t| start.checked_add(t));
    let states = &mut seen.states;
    let pnp = pcsc::PNP_NOTIFICATION();
    let mut use_pnp = true;
    if states.is_empty() {
        states.push(ReaderState::new(pnp, State::UNAWARE));
    }
    loop {
        // Re-read the reader list: drop readers that went away, add new ones as UNAWARE (which
        // makes the next SCardGetStatusChange return their state at once).
        let names = match ctx.list_readers_owned() {
            Ok(names) => names,
            Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
            Err(e) => return Err(TransportError::pcsc("SCardListReaders")(e)),
        };
        let matches = |name: &CStr| pattern.is_none_or(|p| name.to_string_lossy().contains(p));
        states.retain(|rs| {
            rs.name() == pnp
                || (names.iter().any(|n| n.as_c_str() == rs.name())
                    && !rs.event_state().intersects(State::UNKNOWN | State::IGNORE))
        });
        for name in names.iter().filter(|n| matches(n)) {
            if !states.iter().any(|rs| rs.name() == name.as_c_str()) {
                states.push(ReaderState::new(name.clone(), State::UNAWARE));
            }
        }

        let now = Instant::now();
        let remaining = match deadline {
            Some(d) if now >= d => Duration::ZERO,
            Some(d) => d - now,
            None => MAX_WAIT_SLICE,
        };
        let slice = if use_pnp {
            remaining.min(MAX_WAIT_SLICE)
        } else {
            remaining.min(MAX_WAIT_SLICE / 4)
        };
        let changed = if states.is_empty() {
            // No PnP support and no reader yet: nothing to wait on but time.
            std::thread::sleep(slice);
            false
        } else {
            match ctx.get_status_change(slice, states) {
                Ok(()) => true,
                Err(pcsc::Error::Timeout) => false,
                // A reader vanished between listing and waiting: list again.
                Err(pcsc::Error::UnknownReader | pcsc::Error::ReaderUnavailable) => {
                    for rs in states.iter_mut() {
                        rs.sync_current_state();
                    }
                    false
                }
                Err(e) => return Err(TransportError::pcsc("SCardGetStatusChange")(e)),
            }
        };
        if changed {
            let with_card: Vec<CString> = states
                .iter()
                .filter(|rs| rs.name() != pnp)
                .filter(|rs| {
                    let s = rs.event_state();
                    s.contains(State::PRESENT) && !s.intersects(State::MUTE | State::EXCLUSIVE)
                })
                .map(|rs| rs.name().to_owned())
                .collect();
            if let Some(rs) = states.iter().find(|rs| rs.name() == pnp) {
                if rs.event_state().intersects(State::UNKNOWN | State::IGNORE) {
                    // No PnP support: rely on polling the reader list.
                    use_pnp = false;
                }
            }
            for rs in states.iter_mut() {
                rs.sync_current_state();
            }
            states.retain(|rs| use_pnp || rs.name() != pnp);
            if !with_card.is_empty() {
                // Keep PC/SC's reader order.
                let mut ordered: Vec<CString> = names
                    .into_iter()
                    .filter(|n| with_card.contains(n))
                    .collect();
                if ordered.is_empty() {
                    ordered = with_card;
                }
                return Ok(ordered);
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(TransportError::NoCard {
                pattern: pattern.map(str::to_owned),
                waited: start.elapsed(),
                readers: ctx
                    .list_readers_owned()
                    .unwrap_or_default()
                    .iter()
                    .map(|n| n.to_string_lossy().into_owned())
                    .collect(),
            });
        }
    }
}
