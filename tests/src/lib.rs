//! Harness for conformance tests over the real stack: a private pcscd with a vpcd reader
//! ([`PrivatePcscd`]), a card served to it through the vsmartcard adapter ([`CardUnderTest`]),
//! PC/SC helpers ([`wait_for_card`], [`transmit`]) and small test cards ([`test_cards`]).
//!
//! # Requirements
//!
//! Root (the private pcscd runs in its own mount namespace) and the Debian packages `pcscd`,
//! `vsmartcard-vpcd` and `util-linux` (`unshare`); `libpcsclite-dev` + `pkg-config` to build.
//! `scripts/install-deps.sh` installs them. A missing piece is a loud panic, never a skip.
//!
//! # PCSCLITE_CSOCK_NAME: one pcscd per test process
//!
//! The PC/SC client library (libpcsclite) reads `PCSCLITE_CSOCK_NAME` once, at the first PC/SC
//! call in the process, and keeps that socket for the life of the process. Tests in one binary
//! run as threads of one process, so they all talk to one pcscd:
//!
//! * Call [`PrivatePcscd::shared()`] (or [`pcsc_context()`], or [`CardUnderTest::start`], which
//!   call it) **before anything in the process touches PC/SC** (a `pcsc::Context`, pcsc-bridge,
//!   ...). It starts the process-wide private pcscd once and sets `PCSCLITE_CSOCK_NAME` to its
//!   socket. It is stopped and its directory removed at process exit (atexit; should the
//!   process die abruptly, pcscd gets SIGTERM through PR_SET_PDEATHSIG).
//! * Its reader.conf entry gives two vpcd readers (slots 0 and 1, ports PORT and PORT+1).
//!   [`CardUnderTest`] leases one slot for its lifetime, so at most two cards run at once and
//!   further tests wait for a free slot. A test may thus run in parallel with others.
//! * [`PrivatePcscd::start()`] makes an additional, independent instance (dropped = stopped).
//!   The in-process PC/SC library cannot reach it; use subprocess clients (`opensc-tool`,
//!   `scriptor`, pyscard) with [`PrivatePcscd::client_env()`]. A test that needs its own pcscd
//!   for in-process PC/SC (e.g. to restart pcscd) belongs in its own test binary
//!   (`tests/tests/NAME.rs`) and should set the variable itself, before any PC/SC use:
//!   `std::env::set_var("PCSCLITE_CSOCK_NAME", pcscd.socket_path())`.
//!
//! Set `SKS_PCSCD_DEBUG=1` to run pcscd with `--debug`; its log is in `DIR/pcscd.log` and is
//! printed when startup fails. `RUST_LOG=vsmartcard_adapter=trace` plus [`init_logging()`]
//! shows every APDU the adapter carries.

mod card_under_test;
mod enumerate;
mod pcscd;
pub mod test_cards;

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use card_under_test::CardUnderTest;
pub use enumerate::{all_keys, session_handles, sessions};
pub use pcscd::{PrivatePcscd, VPCD_DRIVER};

/// Receive buffer size that holds any response vpcd can carry (65,535 bytes) plus slack.
pub const MAX_RESPONSE: usize = 65_538;

/// An SKS client of a card in this process.
pub type InProcessCard = pcsc_bridge::Sks<pcsc_bridge::InProcess<dyn applet::Card + Send>>;

/// A fresh product card in RAM behind the in-process transport (SELECTed).
pub fn in_process_card(options: applet::CardOptions) -> InProcessCard {
    let card = applet::open_card_with(None, options).expect("open in-process card");
    pcsc_bridge::Sks::new(pcsc_bridge::InProcess::from_box(card).expect("SELECT the SKS applet"))
}

/// [`in_process_card`] simulating a biometric reader (the insecure test option).
pub fn in_process_bio_card() -> InProcessCard {
    in_process_card(applet::CardOptions {
        simulate_biometric: true,
    })
}

/// Creates the PUK policy "PUK" (numeric PUK "123456", retry limit 3) and, governed by it, the
/// PIN policies `pins` (id, policy), in order. Returns the PUK policy.
pub fn puk_with_pins<T: pcsc_bridge::Transport>(
    s: &mut sks_issuer::Session<'_, T>,
    pins: &[(&str, sks_issuer::PinPolicy)],
) -> sks_issuer::PukPolicy {
    let numeric = apdu_spec::values::PinFormat::Numeric;
    puk_with_pins_of(s, (b"123456", numeric, 3), pins)
}

/// [`puk_with_pins`] with the PUK policy "PUK" of `puk`: (PUK value, format, retry limit).
pub fn puk_with_pins_of<T: pcsc_bridge::Transport>(
    s: &mut sks_issuer::Session<'_, T>,
    (puk, format, retry_limit): (&[u8], apdu_spec::values::PinFormat, u16),
    pins: &[(&str, sks_issuer::PinPolicy)],
) -> sks_issuer::PukPolicy {
    let puk = s
        .puk("PUK", puk, format.into(), retry_limit)
        .expect("createPukPolicy");
    for (id, policy) in pins {
        s.pin_policy(id, Some(&puk), policy.clone())
            .unwrap_or_else(|e| panic!("createPinPolicy {id}: {e}"));
    }
    puk
}

/// The OTP-style property bag several tests provision: `Counter` = `counter` (writable),
/// `Digits` = 8 (read-only) and, when given, `extra` = (name, value), writable.
pub fn otp_bag(counter: &str, extra: Option<(&str, &str)>) -> Vec<sks_issuer::Property> {
    let mut bag = vec![
        sks_issuer::Property::new("Counter", counter, true),
        sks_issuer::Property::new("Digits", "8", false),
    ];
    bag.extend(extra.map(|(name, value)| sks_issuer::Property::new(name, value, true)));
    bag
}

/// A temporary directory, removed with its contents on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new, empty directory `sks-TAG-PID-NANOS` under the system's temporary directory.
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("sks-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("create temp dir {}: {e}", dir.display()));
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `name` inside the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Logs to the test output (captured per test) at the level RUST_LOG sets; idempotent.
pub fn init_logging() {
    let _ = env_logger::Builder::from_default_env()
        .is_test(true)
        .try_init();
}

/// A PC/SC context on the process-wide private pcscd (starting it if needed; see the crate
/// documentation).
pub fn pcsc_context() -> pcsc::Context {
    PrivatePcscd::shared();
    pcsc::Context::establish(pcsc::Scope::User)
        .unwrap_or_else(|e| panic!("SCardEstablishContext on the private pcscd failed: {e}"))
}

/// The reader's state, as SCardGetStatusChange reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderSnapshot {
    /// `dwEventState` without the event counter.
    pub state: pcsc::State,
    /// pcscd's card event counter for the reader (insertions + removals).
    pub event_count: u32,
}

impl ReaderSnapshot {
    /// A card is in the reader (and answered GET ATR).
    pub fn present(&self) -> bool {
        self.state.contains(pcsc::State::PRESENT) && !self.state.contains(pcsc::State::MUTE)
    }
}

/// The reader's current state (SCardGetStatusChange with UNAWARE, no waiting).
pub fn reader_snapshot(ctx: &pcsc::Context, reader: &CStr) -> Result<ReaderSnapshot, pcsc::Error> {
    let mut states = [pcsc::ReaderState::new(reader, pcsc::State::UNAWARE)];
    ctx.get_status_change(Duration::ZERO, &mut states)?;
    Ok(snapshot(&states[0]))
}

fn snapshot(state: &pcsc::ReaderState) -> ReaderSnapshot {
    ReaderSnapshot {
        state: state.event_state(),
        event_count: state.event_count(),
    }
}

/// Blocks in SCardGetStatusChange (no polling) until `done` accepts the reader's state, or
/// `timeout` passes (then `Err` with the last state seen).
pub fn wait_for_reader(
    ctx: &pcsc::Context,
    reader: &CStr,
    timeout: Duration,
    mut done: impl FnMut(&ReaderSnapshot) -> bool,
) -> Result<ReaderSnapshot, String> {
    let deadline = Instant::now() + timeout;
    let mut states = [pcsc::ReaderState::new(reader, pcsc::State::UNAWARE)];
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match ctx.get_status_change(remaining, &mut states) {
            Ok(()) => {
                let now = snapshot(&states[0]);
                if now.state.contains(pcsc::State::UNKNOWN) {
                    return Err(format!("reader {reader:?} is unknown to pcscd"));
                }
                if done(&now) {
                    return Ok(now);
                }
                states[0].sync_current_state();
            }
            Err(pcsc::Error::Timeout) => {
                return Err(format!(
                    "reader {reader:?}: condition not reached within {timeout:?}; last state {:?}",
                    snapshot(&states[0])
                ))
            }
            Err(e) => return Err(format!("SCardGetStatusChange({reader:?}): {e}")),
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "reader {reader:?}: condition not reached within {timeout:?}; last state {:?}",
                snapshot(&states[0])
            ));
        }
    }
}

/// Waits until a card is present (`present`) or absent (`!present`) in the reader.
pub fn wait_for_card(
    ctx: &pcsc::Context,
    reader: &CStr,
    present: bool,
    timeout: Duration,
) -> Result<ReaderSnapshot, String> {
    wait_for_reader(ctx, reader, timeout, |s| s.present() == present)
}

/// Sends one APDU and returns the response (data ‖ SW1 SW2). Panics on a PC/SC error.
pub fn transmit(card: &pcsc::Card, apdu: &[u8]) -> Vec<u8> {
    let mut buffer = vec![0u8; MAX_RESPONSE];
    match card.transmit(apdu, &mut buffer) {
        Ok(response) => response.to_vec(),
        Err(e) => panic!("SCardTransmit({} bytes) failed: {e}", apdu.len()),
    }
}
