//! Serves a [`Card`] to pcscd through vsmartcard's vpcd reader driver.
//!
//! # Protocol
//!
//! vpcd (the `libifdvpcd.so` reader driver inside pcscd) listens on a TCP port (35963 by default,
//! [`DEFAULT_PORT`]); the card connects to it. Every message in both directions is a 2-byte
//! big-endian length followed by that many payload bytes. From vpcd to the card:
//!
//! | payload | meaning | card does | reply |
//! |---|---|---|---|
//! | `00` | power off | [`Card::power_off`] | none |
//! | `01` | power on | [`Card::power_on`] | none |
//! | `02` | reset | [`Card::reset`] | none |
//! | `04` | get ATR | — | [`Card::atr`] |
//! | 2 bytes or more | command APDU | [`Card::process`] | the response APDU |
//!
//! Edge cases, decided here:
//!
//! * **Zero-length frame**: answered `67 00` (wrong length). vpcd itself never sends one: for an
//!   empty APDU it sends nothing and waits for an answer (pcsc-lite's SCardTransmit already
//!   refuses empty APDUs with SCARD_E_INVALID_PARAMETER).
//! * **Unknown 1-byte payload** (not 00/01/02/04): the only way vpcd produces one is a client
//!   transmitting a 1-byte "APDU", for which vpcd then waits for a response. It is answered with
//!   `67 00` (wrong length) so the reader does not hang.
//! * **Stalls**: a client transmitting the single byte 00, 01 or 02 is indistinguishable from a
//!   power control message, which gets no reply (a vpcd protocol limitation); vpcd then waits
//!   for an answer forever, holding its lock, so even its presence poll (a GET ATR every
//!   ~400 ms) stops. The card notices the silence: no frame for
//!   [`VpcdOptions::stall_timeout`] (3 s) ends the connection (vpcd sees the card removed, the
//!   client gets an empty response or an error instead of hanging) and the card reconnects, so the reader
//!   works again for every client. A 1-byte APDU 04 gets the ATR as its answer.
//! * **Response the frame cannot carry**: vpcd treats an empty reply as a dead card and drops
//!   the connection, and the length field cannot exceed 65,535. A [`Card::process`] result that
//!   is empty or longer than 65,535 bytes is logged at error level and replaced by `6F 00`.
//!
//! # Connection lifecycle
//!
//! [`serve`] connects, serves until the connection drops, and reconnects with exponential
//! backoff ([`VpcdOptions::backoff_min`] doubling to [`VpcdOptions::backoff_max`]) while vpcd
//! is not there (pcscd stopped or restarting). The card object lives across reconnections; a
//! dropped connection counts as power loss, so [`Card::power_off`] is called when a connection
//! ends while the card was powered. Cancelling the shutdown token ends [`serve`] promptly with
//! `Ok(())`, also while it waits for vpcd or for a frame.
//!
//! Note that vpcd accepts the card only at pcscd's presence poll (every ~400 ms); until then the
//! TCP connection sits in vpcd's listen backlog. A second card connecting to a port already
//! served waits there until the first card goes away.
//!
//! # Latency
//!
//! vpcd writes the length and the payload of each frame in two `send()` calls without
//! TCP_NODELAY. With Nagle on its side and delayed ACK on ours, every APDU would cost ~40 ms.
//! The card side therefore sets TCP_NODELAY and re-arms TCP_QUICKACK after every read system
//! call ([`QuickAckStream`]), which brings a tiny APDU round trip to ~0.1 ms.
//!
//! # Logging (`log` crate)
//!
//! info: connected / disconnected / vpcd unavailable; warn: stalls, odd frames; debug: power
//! on/off/reset, backoff, and one line per APDU: method, the handle it names, lengths, SKS
//! status, status word and duration ([`apdu_spec::log::ExchangeLog`]). No level ever logs APDU
//! data: PINs, PUKs, keys and plaintexts travel in it. trace: each GET ATR.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use apdu_spec::log::ExchangeLog;
use applet::Card;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, LengthDelimitedCodec};
pub use tokio_util::sync::CancellationToken;

/// vpcd's default port (`/etc/reader.conf.d/vpcd`: `DEVICENAME /dev/null:0x8C7B`).
pub const DEFAULT_PORT: u16 = 35963;
/// The host vpcd normally runs on.
pub const DEFAULT_HOST: &str = "127.0.0.1";

/// vpcd control message: power off.
pub const CTRL_POWER_OFF: u8 = 0x00;
/// vpcd control message: power on.
pub const CTRL_POWER_ON: u8 = 0x01;
/// vpcd control message: (warm) reset.
pub const CTRL_RESET: u8 = 0x02;
/// vpcd control message: get ATR (the only control message that is answered).
pub const CTRL_GET_ATR: u8 = 0x04;

/// Largest payload one vpcd frame can carry (2-byte length field).
pub const MAX_FRAME: usize = 0xFFFF;

/// SW 67 00: the answer to an unknown 1-byte "APDU".
const SW_WRONG_LENGTH: [u8; 2] = [0x67, 0x00];
/// SW 6F 00: the answer substituted for a response no vpcd frame can carry.
const SW_NO_PRECISE_DIAGNOSIS: [u8; 2] = [0x6F, 0x00];

/// Where and how to reach vpcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcdOptions {
    /// Host name or address vpcd listens on.
    pub host: String,
    /// vpcd's TCP port (the first reader of a reader.conf entry listens on PORT, the second on
    /// PORT+1).
    pub port: u16,
    /// First reconnection delay.
    pub backoff_min: Duration,
    /// Reconnection delay ceiling.
    pub backoff_max: Duration,
    /// Silence after which vpcd is taken to wait for an answer the card cannot give (see the
    /// crate documentation, "Stalls"): the card drops the connection and reconnects.
    pub stall_timeout: Duration,
}

impl Default for VpcdOptions {
    fn default() -> Self {
        Self {
            host: DEFAULT_HOST.to_owned(),
            port: DEFAULT_PORT,
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
            stall_timeout: Duration::from_secs(3),
        }
    }
}

impl VpcdOptions {
    /// Default options with another host and port.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            ..Self::default()
        }
    }
}

/// A TCP stream that re-arms TCP_QUICKACK after every read, so that our ACKs are never delayed
/// (see the crate documentation, "Latency"). Writes pass through.
#[derive(Debug)]
pub struct QuickAckStream {
    inner: TcpStream,
}

impl QuickAckStream {
    /// Wraps a connected stream; sets TCP_NODELAY and TCP_QUICKACK.
    pub fn new(inner: TcpStream) -> io::Result<Self> {
        inner.set_nodelay(true)?;
        let stream = Self { inner };
        stream.arm_quickack();
        Ok(stream)
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &TcpStream {
        &self.inner
    }

    fn arm_quickack(&self) {
        // The kernel leaves quick-ACK mode on its own; it has to be re-armed after each read.
        if let Err(e) = socket2::SockRef::from(&self.inner).set_quickack(true) {
            log::trace!("setsockopt(TCP_QUICKACK) failed: {e}");
        }
    }
}

impl AsyncRead for QuickAckStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            this.arm_quickack();
        }
        result
    }
}

impl AsyncWrite for QuickAckStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The vpcd framing: 2-byte big-endian length, payload up to 65,535 bytes.
pub fn vpcd_codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(2)
        .big_endian()
        .max_frame_length(MAX_FRAME)
        .new_codec()
}

/// What one frame from vpcd asks of the card, and the reply, if any.
fn handle_frame<C: Card + ?Sized>(
    card: &mut C,
    frame: &[u8],
    powered: &mut bool,
    exchanges: &mut ExchangeLog,
) -> Option<Vec<u8>> {
    match frame {
        [] => {
            log::warn!("empty APDU; answered 67 00");
            Some(SW_WRONG_LENGTH.to_vec())
        }
        [CTRL_POWER_OFF] => {
            log::debug!("power off");
            card.power_off();
            *powered = false;
            None
        }
        [CTRL_POWER_ON] => {
            log::debug!("power on");
            card.power_on();
            *powered = true;
            None
        }
        [CTRL_RESET] => {
            log::debug!("reset");
            card.reset();
            *powered = true;
            None
        }
        [CTRL_GET_ATR] => {
            let atr = card.atr();
            log::trace!("get ATR -> {}", hex(atr));
            if atr.is_empty() || atr.len() > MAX_FRAME {
                log::error!(
                    "the card's ATR is {} bytes long; vpcd will drop the card",
                    atr.len()
                );
            }
            Some(atr.to_vec())
        }
        [other] => {
            log::warn!("unknown 1-byte message {other:02X} from vpcd; answered 67 00");
            Some(SW_WRONG_LENGTH.to_vec())
        }
        command => {
            let started = std::time::Instant::now();
            let mut response = card.process(command);
            if response.is_empty() || response.len() > MAX_FRAME {
                log::error!(
                    "the card answered {} bytes, which vpcd cannot carry; answered 6F 00",
                    response.len()
                );
                response = SW_NO_PRECISE_DIAGNOSIS.to_vec();
            }
            // Never the APDUs themselves: they carry PINs, keys and plaintexts.
            if log::log_enabled!(log::Level::Debug) {
                log::debug!(
                    "{} ({:.2} ms)",
                    exchanges.describe(command, &response),
                    started.elapsed().as_secs_f64() * 1e3
                );
            }
            Some(response)
        }
    }
}

/// The ATR in hex (public: the reader shows it to everyone).
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// How a session with vpcd ended.
enum SessionEnd {
    Shutdown,
    Disconnected,
    /// No frame for `stall_timeout`: vpcd waits for an answer to something the card never saw.
    Stalled,
}

/// Serves one connection until vpcd closes it, an I/O error happens or shutdown is requested.
async fn session<C: Card + ?Sized>(
    card: &mut C,
    stream: TcpStream,
    shutdown: &CancellationToken,
    powered: &mut bool,
    stall_timeout: Duration,
) -> io::Result<SessionEnd> {
    let mut framed = Framed::new(QuickAckStream::new(stream)?, vpcd_codec());
    let mut exchanges = ExchangeLog::new();
    loop {
        let frame = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Ok(SessionEnd::Shutdown),
            frame = tokio::time::timeout(stall_timeout, framed.next()) => frame,
        };
        let frame = match frame {
            Err(_) => return Ok(SessionEnd::Stalled),
            Ok(None) => return Ok(SessionEnd::Disconnected),
            Ok(Some(frame)) => frame?,
        };
        if let Some(reply) = handle_frame(card, &frame, powered, &mut exchanges) {
            framed.send(Bytes::from(reply)).await?;
        }
    }
}

/// Serves `card` to vpcd at `opts.host:opts.port` until `shutdown` is cancelled, reconnecting
/// whenever vpcd is unreachable or drops the connection.
///
/// Returns `Ok(())` after shutdown. It never gives up on its own: connection errors are logged
/// and retried. The card is left powered off when the function returns.
pub async fn serve<C: Card + ?Sized>(
    card: &mut C,
    opts: &VpcdOptions,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let addr = format!("{}:{}", opts.host, opts.port);
    let mut backoff = opts.backoff_min;
    let mut unreachable_logged = false;
    loop {
        let connected = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Ok(()),
            connected = TcpStream::connect((opts.host.as_str(), opts.port)) => connected,
        };
        match connected {
            Ok(stream) => {
                log::info!("connected to vpcd at {addr}");
                unreachable_logged = false;
                backoff = opts.backoff_min;
                let mut powered = false;
                let end = session(card, stream, &shutdown, &mut powered, opts.stall_timeout).await;
                if powered {
                    log::debug!("power off (connection ended)");
                    card.power_off();
                }
                match end {
                    Ok(SessionEnd::Shutdown) => {
                        log::info!("disconnected from vpcd at {addr}: shutting down");
                        return Ok(());
                    }
                    Ok(SessionEnd::Disconnected) => {
                        log::info!("vpcd at {addr} closed the connection; reconnecting")
                    }
                    Ok(SessionEnd::Stalled) => log::warn!(
                        "vpcd at {addr} sent nothing for {:?}: it waits for an answer to an \
                         APDU the card never received (a 1-byte APDU 00, 01 or 02 reads as a \
                         vpcd control message); reconnecting so the reader recovers",
                        opts.stall_timeout
                    ),
                    Err(e) => log::info!("connection to vpcd at {addr} lost: {e}; reconnecting"),
                }
                // A short pause, so that a vpcd that keeps closing at once is not hammered.
                if sleep_or_shutdown(opts.backoff_min, &shutdown).await {
                    return Ok(());
                }
            }
            Err(e) => {
                if unreachable_logged {
                    log::debug!("vpcd at {addr} unreachable: {e}; retrying in {backoff:?}");
                } else {
                    log::info!("vpcd at {addr} unreachable: {e}; retrying with backoff");
                    unreachable_logged = true;
                }
                if sleep_or_shutdown(backoff, &shutdown).await {
                    return Ok(());
                }
                backoff = (backoff * 2).min(opts.backoff_max).max(opts.backoff_min);
            }
        }
    }
}

/// Sleeps; true when shutdown was requested meanwhile.
async fn sleep_or_shutdown(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        biased;
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep(delay) => false,
    }
}

/// A [`serve`] loop running on its own thread (current-thread tokio runtime); see
/// [`run_blocking`]. Dropping the handle stops the adapter and joins the thread (the card is
/// dropped with it); [`AdapterHandle::stop`] does the same and gives the card back.
#[must_use = "dropping the handle stops the adapter"]
pub struct AdapterHandle<C: Card + Send + ?Sized + 'static> {
    shutdown: CancellationToken,
    thread: Option<thread::JoinHandle<(Box<C>, io::Result<()>)>>,
}

impl<C: Card + Send + ?Sized + 'static> AdapterHandle<C> {
    /// Stops serving (the card is powered off as on a dropped connection; vpcd sees the card
    /// removed at its next presence poll), joins the thread and returns the card and the result
    /// of [`serve`]. Propagates a panic of the adapter thread.
    pub fn stop(mut self) -> (Box<C>, io::Result<()>) {
        self.shutdown.cancel();
        let thread = self.thread.take().expect("the thread is joined only once");
        match thread.join() {
            Ok(done) => done,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// A token that stops the adapter when cancelled (without joining).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Whether the adapter thread has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }
}

impl<C: Card + Send + ?Sized + 'static> Drop for AdapterHandle<C> {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(thread) = self.thread.take() {
            // A panic of the adapter thread is not re-raised from a destructor.
            let _ = thread.join();
        }
    }
}

/// Serves `card` on a new thread with a current-thread tokio runtime; for tests and tools that
/// are not async. Fails only when the runtime or the thread cannot be created.
pub fn run_blocking<C: Card + Send + ?Sized + 'static>(
    card: Box<C>,
    opts: VpcdOptions,
) -> io::Result<AdapterHandle<C>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let thread = thread::Builder::new()
        .name(format!("vpcd-adapter-{}", opts.port))
        .spawn(move || {
            let mut card = card;
            let result = runtime.block_on(serve(&mut *card, &opts, token));
            (card, result)
        })?;
    Ok(AdapterHandle {
        shutdown,
        thread: Some(thread),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Probe {
        events: Vec<&'static str>,
    }

    impl Card for Probe {
        fn atr(&self) -> &[u8] {
            &[0x3B, 0x80, 0x80, 0x01, 0x01]
        }
        fn power_on(&mut self) {
            self.events.push("on");
        }
        fn power_off(&mut self) {
            self.events.push("off");
        }
        fn reset(&mut self) {
            self.events.push("reset");
        }
        fn process(&mut self, command: &[u8]) -> Vec<u8> {
            if command == [0xEE, 0xEE] {
                return Vec::new();
            }
            let mut r = command.to_vec();
            r.extend_from_slice(&[0x90, 0x00]);
            r
        }
    }

    fn probe() -> Probe {
        Probe { events: Vec::new() }
    }

    #[test]
    fn frames_map_to_card_calls() {
        let mut card = probe();
        let mut powered = false;
        let mut exchanges = ExchangeLog::new();
        let mut handle_frame = |card: &mut Probe, frame: &[u8], powered: &mut bool| {
            handle_frame(card, frame, powered, &mut exchanges)
        };
        assert_eq!(
            handle_frame(&mut card, &[], &mut powered),
            Some(vec![0x67, 0x00]),
            "an empty APDU gets a status word (issue 9)"
        );
        assert_eq!(handle_frame(&mut card, &[1], &mut powered), None);
        assert!(powered);
        assert_eq!(handle_frame(&mut card, &[2], &mut powered), None);
        assert_eq!(handle_frame(&mut card, &[0], &mut powered), None);
        assert!(!powered);
        assert_eq!(
            handle_frame(&mut card, &[4], &mut powered),
            Some(vec![0x3B, 0x80, 0x80, 0x01, 0x01])
        );
        assert_eq!(
            handle_frame(&mut card, &[9], &mut powered),
            Some(vec![0x67, 0x00])
        );
        assert_eq!(
            handle_frame(&mut card, &[0, 0xA4], &mut powered),
            Some(vec![0, 0xA4, 0x90, 0x00])
        );
        assert_eq!(
            handle_frame(&mut card, &[0xEE, 0xEE], &mut powered),
            Some(vec![0x6F, 0x00])
        );
        assert_eq!(card.events, ["on", "reset", "off"]);
    }

    /// A fake vpcd on a local listener: the adapter connects, answers, survives a dropped
    /// connection (counted as power off) and stops on request.
    #[test]
    fn serves_reconnects_and_stops() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = run_blocking(Box::new(probe()), VpcdOptions::new("127.0.0.1", port)).unwrap();

        fn send(s: &mut std::net::TcpStream, payload: &[u8]) {
            let mut frame = (payload.len() as u16).to_be_bytes().to_vec();
            frame.extend_from_slice(payload);
            s.write_all(&frame).unwrap();
        }
        fn recv(s: &mut std::net::TcpStream) -> Vec<u8> {
            let mut len = [0u8; 2];
            s.read_exact(&mut len).unwrap();
            let mut payload = vec![0; u16::from_be_bytes(len) as usize];
            s.read_exact(&mut payload).unwrap();
            payload
        }

        for _ in 0..2 {
            let (mut s, _) = listener.accept().unwrap();
            send(&mut s, &[CTRL_GET_ATR]);
            assert_eq!(recv(&mut s), [0x3B, 0x80, 0x80, 0x01, 0x01]);
            send(&mut s, &[CTRL_POWER_ON]);
            send(&mut s, &[]);
            assert_eq!(recv(&mut s), [0x67, 0x00], "an empty frame is answered");
            let big = vec![0x5A; MAX_FRAME - 2];
            send(&mut s, &big);
            let r = recv(&mut s);
            assert_eq!(r.len(), MAX_FRAME);
            assert_eq!(&r[MAX_FRAME - 2..], [0x90, 0x00]);
            drop(s); // connection lost while powered: power off
        }
        let (_s, _) = listener.accept().unwrap();
        let (card, result) = handle.stop();
        result.unwrap();
        assert_eq!(card.events, ["on", "off", "on", "off"]);
    }

    #[test]
    fn a_stalled_vpcd_is_dropped_and_reconnected() {
        // Issue 9: a client's 1-byte APDU 01 reads as "power on" (no reply), and vpcd then waits
        // for an answer forever, with no frame (not even its presence poll) in the meantime.
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let opts = VpcdOptions {
            stall_timeout: Duration::from_millis(300),
            ..VpcdOptions::new("127.0.0.1", port)
        };
        let handle = run_blocking(Box::new(probe()), opts).unwrap();
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(&[0, 1, CTRL_POWER_ON]).unwrap();
        let started = std::time::Instant::now();
        let mut buf = [0u8; 8];
        assert_eq!(
            s.read(&mut buf).unwrap(),
            0,
            "the card ends the stalled connection"
        );
        assert!(started.elapsed() >= Duration::from_millis(250));
        let (_s2, _) = listener.accept().unwrap(); // and comes back
        let (card, result) = handle.stop();
        result.unwrap();
        assert_eq!(card.events, ["on", "off"]);
    }

    #[test]
    fn stops_while_vpcd_is_absent() {
        // A port nobody listens on: connect fails, backoff, then a prompt stop.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let handle = run_blocking(Box::new(probe()), VpcdOptions::new("127.0.0.1", port)).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let started = std::time::Instant::now();
        let (_card, result) = handle.stop();
        result.unwrap();
        assert!(started.elapsed() < Duration::from_millis(500));
    }
}
