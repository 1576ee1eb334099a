//! A card served to a [`PrivatePcscd`] through the vsmartcard adapter, on a background thread.

use std::ffi::{CStr, CString};
use std::time::Duration;

use applet::Card;
use pcsc_bridge::{CallOptions, PcscTransport, Sks};
use vsmartcard_adapter::{run_blocking, AdapterHandle, VpcdOptions};

use crate::pcscd::{PrivatePcscd, SlotLease};
use crate::{wait_for_card, wait_for_reader};

/// How long to wait for pcscd to notice a card coming or going (it polls every ~400 ms).
pub const CARD_EVENT_TIMEOUT: Duration = Duration::from_secs(10);

type BoxedCard = Box<dyn Card + Send>;

/// A card in one of the private pcscd's two vpcd readers (a leased slot), served by the
/// adapter on its own thread. Dropping it stops the adapter, waits until pcscd has seen the
/// card leave, and frees the slot.
///
/// PC/SC helpers ([`CardUnderTest::connect`], waiting for presence) need the pcscd to be the
/// process's PC/SC service ([`PrivatePcscd::shared`]); with another instance they panic.
pub struct CardUnderTest<'a> {
    pcscd: &'a PrivatePcscd,
    adapter: Option<AdapterHandle<dyn Card + Send>>,
    ctx: Option<pcsc::Context>,
    reader: Option<CString>,
    // Dropped last: the slot is free only once the card is out of the reader.
    lease: SlotLease<'a>,
}

impl CardUnderTest<'static> {
    /// Serves `card` to the process-wide private pcscd ([`PrivatePcscd::shared`]) and waits
    /// until pcscd reports it present.
    pub fn start(card: BoxedCard) -> CardUnderTest<'static> {
        CardUnderTest::start_on(PrivatePcscd::shared(), card)
    }
}

impl<'a> CardUnderTest<'a> {
    /// Serves `card` to `pcscd` (waiting for a free slot). When `pcscd` is the process's PC/SC
    /// service, also waits until the card is present.
    pub fn start_on(pcscd: &'a PrivatePcscd, card: BoxedCard) -> CardUnderTest<'a> {
        let lease = pcscd.lease_slot();
        let (ctx, reader) = if pcscd.is_process_default() {
            let ctx = pcsc::Context::establish(pcsc::Scope::User)
                .unwrap_or_else(|e| panic!("SCardEstablishContext failed: {e}"));
            let reader = pcscd.reader_name(&ctx, lease.slot);
            // The previous user of the slot waited for the removal; be sure anyway.
            if let Err(e) = wait_for_card(&ctx, &reader, false, CARD_EVENT_TIMEOUT) {
                panic!("reader slot {} is not empty: {e}", lease.slot);
            }
            (Some(ctx), Some(reader))
        } else {
            (None, None)
        };
        let mut cut = CardUnderTest {
            pcscd,
            adapter: None,
            ctx,
            reader,
            lease,
        };
        cut.serve(card);
        if cut.ctx.is_some() {
            cut.wait_present();
        }
        cut
    }

    fn serve(&mut self, card: BoxedCard) {
        assert!(self.adapter.is_none(), "the card is already being served");
        let opts = VpcdOptions::new("127.0.0.1", self.vpcd_port());
        let adapter = run_blocking(card, opts)
            .unwrap_or_else(|e| panic!("cannot start the vsmartcard adapter: {e}"));
        self.adapter = Some(adapter);
    }

    /// The reader slot (0 or 1) this card sits in.
    pub fn slot(&self) -> usize {
        self.lease.slot
    }

    /// The vpcd port the adapter connects to.
    pub fn vpcd_port(&self) -> u16 {
        self.pcscd.vpcd_port_for_slot(self.lease.slot)
    }

    /// The pcscd instance.
    pub fn pcscd(&self) -> &'a PrivatePcscd {
        self.pcscd
    }

    fn pcsc(&self) -> (&pcsc::Context, &CStr) {
        match (&self.ctx, &self.reader) {
            (Some(ctx), Some(reader)) => (ctx, reader),
            _ => panic!(
                "this pcscd is not the process's PC/SC service (PCSCLITE_CSOCK_NAME); use \
                 PrivatePcscd::shared() / CardUnderTest::start, or subprocess clients"
            ),
        }
    }

    /// The PC/SC context the harness uses for this card (on the process-wide pcscd).
    pub fn context(&self) -> &pcsc::Context {
        self.pcsc().0
    }

    /// The exact PC/SC name of the card's reader.
    pub fn reader_name(&self) -> &CStr {
        self.pcsc().1
    }

    /// The Rust client (pcsc-bridge) connected to this card's reader, SELECT done, with the
    /// default call options.
    pub fn client(&self) -> Sks<PcscTransport> {
        self.client_with(CallOptions::default())
    }

    /// [`CardUnderTest::client`] with `options` (chunk size, Le).
    pub fn client_with(&self, options: CallOptions) -> Sks<PcscTransport> {
        let reader = self.reader_name().to_string_lossy().into_owned();
        let transport =
            PcscTransport::connect_with_context(self.context(), Some(&reader), CARD_EVENT_TIMEOUT)
                .unwrap_or_else(|e| panic!("connect pcsc-bridge to {reader:?}: {e}"));
        Sks::with_options(transport, options)
    }

    /// Waits (SCardGetStatusChange) until pcscd reports the card present; panics after
    /// [`CARD_EVENT_TIMEOUT`].
    pub fn wait_present(&self) {
        let (ctx, reader) = self.pcsc();
        if let Err(e) = wait_for_card(ctx, reader, true, CARD_EVENT_TIMEOUT) {
            panic!(
                "the card did not appear: {e}\n--- pcscd log ---\n{}",
                self.pcscd.log()
            );
        }
    }

    /// Waits until pcscd reports the reader empty; panics after [`CARD_EVENT_TIMEOUT`].
    pub fn wait_absent(&self) {
        let (ctx, reader) = self.pcsc();
        if let Err(e) = wait_for_card(ctx, reader, false, CARD_EVENT_TIMEOUT) {
            panic!("the card did not leave: {e}");
        }
    }

    /// `SCardConnect` (shared, T=0 or T=1) to the card, which must be present.
    pub fn connect(&self) -> pcsc::Card {
        let (ctx, reader) = self.pcsc();
        ctx.connect(reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
            .unwrap_or_else(|e| panic!("SCardConnect({reader:?}) failed: {e}"))
    }

    /// Whether the adapter is serving a card now.
    pub fn is_running(&self) -> bool {
        self.adapter.is_some()
    }

    /// Stops the adapter (closing the vpcd connection: the card loses power and pcscd sees
    /// it removed at its next poll) and returns the card object. `None` if already stopped.
    pub fn stop(&mut self) -> Option<BoxedCard> {
        let adapter = self.adapter.take()?;
        let (card, result) = adapter.stop();
        if let Err(e) = result {
            panic!("the vsmartcard adapter failed: {e}");
        }
        Some(card)
    }

    /// Serves `card` after [`CardUnderTest::stop`]; does not wait (see
    /// [`CardUnderTest::wait_present`]).
    pub fn start_card(&mut self, card: BoxedCard) {
        self.serve(card);
    }

    /// Stops the card, drops it (releasing e.g. its store file), serves the card `reopen`
    /// returns (e.g. `applet::open_card(Some(path))` again), and, with PC/SC available, waits
    /// until pcscd has seen the old card go and the new one come.
    pub fn restart(&mut self, reopen: impl FnOnce() -> BoxedCard) {
        let before = self.event_count();
        drop(self.stop());
        self.serve(reopen());
        self.wait_reinserted(before);
    }

    /// Drops the vpcd connection and reconnects with the same card object (its state survives,
    /// as across a pcscd restart), then waits like [`CardUnderTest::restart`].
    pub fn reconnect(&mut self) {
        let before = self.event_count();
        let card = self.stop().expect("the card is not running");
        self.serve(card);
        self.wait_reinserted(before);
    }

    fn event_count(&self) -> Option<u32> {
        let (ctx, reader) = (self.ctx.as_ref()?, self.reader.as_ref()?);
        crate::reader_snapshot(ctx, reader)
            .ok()
            .map(|s| s.event_count)
    }

    fn wait_reinserted(&self, before: Option<u32>) {
        let (Some(ctx), Some(reader), Some(before)) = (&self.ctx, &self.reader, before) else {
            return;
        };
        let result = wait_for_reader(ctx, reader, CARD_EVENT_TIMEOUT, |s| {
            s.event_count != before && s.present()
        });
        if let Err(e) = result {
            panic!(
                "the card did not come back: {e}\n--- pcscd log ---\n{}",
                self.pcscd.log()
            );
        }
    }
}

impl Drop for CardUnderTest<'_> {
    fn drop(&mut self) {
        let Some(adapter) = self.adapter.take() else {
            return;
        };
        drop(adapter);
        // Free the slot only once pcscd has seen the card go, so that the next card in this
        // reader is not mistaken for this one. Never panic in a destructor.
        if let (Some(ctx), Some(reader)) = (&self.ctx, &self.reader) {
            if let Err(e) = wait_for_card(ctx, reader, false, CARD_EVENT_TIMEOUT) {
                log::warn!("card still present after the adapter stopped: {e}");
            }
        }
    }
}
