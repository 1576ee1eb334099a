//! A transport that calls an applet [`Card`] in the same process: no PC/SC, no sockets.

use crate::transport::{log_exchange, Transport, TransportError};
use apdu_spec::envelope::{select_apdu, split_response, sw};
use applet::Card;

/// Drives a [`Card`] directly: [`Transport::transmit`] is `card.process(command)`.
///
/// The card is kept boxed so that both concrete cards (`InProcess::new(card)`) and the
/// `Box<dyn Card + Send>` that `applet::open_card` returns (`InProcess::from_box(card)`) fit.
pub struct InProcess<C: Card + ?Sized> {
    card: Box<C>,
}

impl<C: Card> InProcess<C> {
    /// Powers `card` on and SELECTs the SKS applet.
    pub fn new(card: C) -> Result<Self, TransportError> {
        Self::from_box(Box::new(card))
    }
}

impl<C: Card + ?Sized> InProcess<C> {
    /// Powers `card` on and SELECTs the SKS applet.
    pub fn from_box(mut card: Box<C>) -> Result<Self, TransportError> {
        card.power_on();
        let mut this = Self { card };
        this.select()?;
        Ok(this)
    }

    /// SELECTs the SKS applet (again), failing unless the card answers `9000`.
    pub fn select(&mut self) -> Result<(), TransportError> {
        let resp = self.transmit(&select_apdu())?;
        match split_response(&resp) {
            Some((_, sw::OK)) => Ok(()),
            Some((_, status)) => Err(TransportError::SelectFailed(status)),
            None => Err(TransportError::ShortResponse(resp.len())),
        }
    }

    /// Warm-resets the card (its volatile state is lost, as over PC/SC) and SELECTs again.
    pub fn reset(&mut self) -> Result<(), TransportError> {
        self.card.reset();
        self.select()
    }

    /// Powers the card off and on again (volatile state lost) and SELECTs again.
    pub fn power_cycle(&mut self) -> Result<(), TransportError> {
        self.card.power_off();
        self.card.power_on();
        self.select()
    }

    /// The card.
    pub fn card(&self) -> &C {
        &self.card
    }

    /// The card, mutably.
    pub fn card_mut(&mut self) -> &mut C {
        &mut self.card
    }

    /// Powers the card off and hands it back.
    pub fn into_card(mut self) -> Box<C> {
        self.card.power_off();
        self.card
    }
}

impl<C: Card + ?Sized> Transport for InProcess<C> {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let resp = self.card.process(command);
        log_exchange(command, &resp);
        Ok(resp)
    }
}
