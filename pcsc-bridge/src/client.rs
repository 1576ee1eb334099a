//! The SKS client: the call logic shared by every transport.

use crate::status::sw_meaning;
use crate::transport::{Transport, TransportError};
use apdu_spec::envelope::{call_apdus, get_response_apdu, split_response, sw, MAX_CALL_DATA};
use apdu_spec::{decode_response, DecodeError, EncodeError, ErrorCode, Method, SksError, Wire};

/// Why an SKS call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The APDUs could not be carried (PC/SC failure, no card, card reset mid-call, ...).
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// The card answered with an ISO status word other than `9000` / `61xx` (an envelope error:
    /// malformed APDU, unknown method id, broken chain, ...).
    #[error("card returned status word {0:04X} ({m})", m = sw_meaning(*.0))]
    Status(u16),
    /// The card executed the call and reported an SKS error (spec 7.2-7.3).
    #[error("SKS error {0}")]
    Sks(#[from] SksError),
    /// The arguments do not fit their wire encoding.
    #[error("cannot encode the call's arguments: {0}")]
    Encode(#[from] EncodeError),
    /// The card's response is not a valid response of the method called.
    #[error("cannot decode the card's response: {0}")]
    Decode(#[from] DecodeError),
    /// The encoded arguments exceed the most one call may carry (the card would refuse the
    /// chain with `6700`).
    #[error("the call's arguments are {len} bytes; the card takes at most {limit} bytes per call")]
    CallTooLong {
        /// The encoded arguments' length.
        len: usize,
        /// [`apdu_spec::envelope::MAX_CALL_DATA`].
        limit: usize,
    },
    /// The card kept sending `61xx` beyond [`CallOptions::max_response`] bytes.
    #[error("the card's response exceeds {limit} bytes")]
    ResponseTooLong {
        /// The limit that was exceeded.
        limit: usize,
    },
}

impl Error {
    /// The SKS error code, when the card reported an SKS error.
    pub fn sks_code(&self) -> Option<ErrorCode> {
        match self {
            Error::Sks(e) => Some(e.code),
            _ => None,
        }
    }

    /// The ISO status word, when the card refused the envelope.
    pub fn status_word(&self) -> Option<u16> {
        match self {
            Error::Status(sw) => Some(*sw),
            Error::Transport(TransportError::SelectFailed(sw)) => Some(*sw),
            _ => None,
        }
    }
}

/// How calls are framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOptions {
    /// Most data bytes per command APDU; longer calls are chained (`CLA=90` frames). Clamped to
    /// 1..=65,535.
    pub max_chunk: usize,
    /// Le of the last frame of a call and of every GET RESPONSE (0 = 65,536, the extended
    /// maximum).
    pub le: u16,
    /// Most bytes a whole (reassembled) response may have before the call is abandoned.
    pub max_response: usize,
}

impl CallOptions {
    /// The limits of javax.smartcardio (Java 17): 8,191 data bytes per command, 8,190 per
    /// response. Useful to exercise chaining and GET RESPONSE as a Java client would.
    pub const JAVAX_SMARTCARDIO: CallOptions = CallOptions {
        max_chunk: 8191,
        le: 8190,
        max_response: 16 * MAX_CALL_DATA,
    };
}

impl Default for CallOptions {
    /// Parts of `MAX_COMMAND_CHUNK` (65,526) bytes, the largest a vpcd frame carries with
    /// header, Lc and Le; Le = 65,536.
    fn default() -> Self {
        CallOptions {
            max_chunk: apdu_spec::envelope::MAX_COMMAND_CHUNK,
            le: 0,
            max_response: 16 * MAX_CALL_DATA,
        }
    }
}

/// An SKS client over a [`Transport`]: the generic [`call`](Sks::call) and one typed method per
/// SKS method (see the `impl` blocks below).
#[derive(Debug)]
pub struct Sks<T: Transport> {
    transport: T,
    options: CallOptions,
}

impl<T: Transport> Sks<T> {
    /// A client with the default [`CallOptions`]. The transport must already have SELECTed the
    /// applet (the transports of this crate do so when they connect).
    pub fn new(transport: T) -> Self {
        Self::with_options(transport, CallOptions::default())
    }

    /// A client with explicit framing options.
    pub fn with_options(transport: T, options: CallOptions) -> Self {
        Sks { transport, options }
    }

    /// The framing options.
    pub fn options(&self) -> &CallOptions {
        &self.options
    }

    /// The framing options, to change them.
    pub fn options_mut(&mut self) -> &mut CallOptions {
        &mut self.options
    }

    /// Sets the largest command APDU data field (builder style).
    pub fn with_max_chunk(mut self, max_chunk: usize) -> Self {
        self.options.max_chunk = max_chunk;
        self
    }

    /// Sets Le for the last call frame and GET RESPONSE (builder style).
    pub fn with_le(mut self, le: u16) -> Self {
        self.options.le = le;
        self
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport, mutably.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Gives the transport back.
    pub fn into_transport(self) -> T {
        self.transport
    }

    /// Calls SKS method `M`: encodes `args`, sends the call (chained as needed), collects the
    /// response (GET RESPONSE as needed) and decodes it as `M`'s results or an SKS error.
    pub fn call<M: Method>(&mut self, args: &M::Args) -> Result<M::Output, Error> {
        let data = args.to_wire()?;
        if data.len() > MAX_CALL_DATA {
            return Err(Error::CallTooLong {
                len: data.len(),
                limit: MAX_CALL_DATA,
            });
        }
        let response = self.call_raw(M::ID as u8, &data)?;
        decode_response::<M>(&response)?.map_err(Error::Sks)
    }

    /// Sends method id `method` with an arbitrary argument encoding and returns the response's
    /// bytes (status byte ‖ results or error), undecoded. For tests of malformed calls.
    pub fn call_raw(&mut self, method: u8, data: &[u8]) -> Result<Vec<u8>, Error> {
        let apdus = call_apdus(method, data, self.options.max_chunk, self.options.le);
        self.exchange(&apdus)
    }

    /// Sends `commands` in one exclusive exchange: every frame but the last must answer
    /// `9000` (its data is ignored); the last frame's response is collected through
    /// `61xx` + GET RESPONSE and returned without its status word.
    ///
    /// A single command APDU is atomic by itself (one SCardTransmit) and is sent without a
    /// PC/SC transaction, which would cost two more round trips to pcscd; a chained call always
    /// runs in one. Should another client's APDU come between a single call and the GET
    /// RESPONSE for the rest of a long answer (> 65,280 bytes), the card drops the pending data
    /// and GET RESPONSE fails with `6985`: an error, never wrong data. Use
    /// [`Sks::transaction`] to rule that out.
    pub fn exchange(&mut self, commands: &[Vec<u8>]) -> Result<Vec<u8>, Error> {
        if let [_] = commands {
            return exchange_on(&mut self.transport, commands, &self.options);
        }
        let options = &self.options;
        let mut result = None;
        self.transport
            .exclusive(&mut |t| result = Some(exchange_on(t, commands, options)))?;
        result.unwrap_or(Err(Error::Transport(TransportError::Other(
            "the transport did not run the exchange".into(),
        ))))
    }

    /// Raw passthrough: one command APDU, its complete response APDU (data ‖ SW1 SW2). No
    /// status word checking, no GET RESPONSE. For tests that send malformed APDUs.
    pub fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(self.transport.transmit(command)?)
    }

    /// Runs `f` with exclusive access to the card (one PC/SC transaction for PC/SC
    /// transports): no other process's APDUs come between the calls `f` makes.
    pub fn transaction<R>(
        &mut self,
        f: impl FnOnce(&mut Sks<&mut dyn Transport>) -> R,
    ) -> Result<R, Error> {
        let options = self.options.clone();
        let mut f = Some(f);
        let mut out = None;
        self.transport.exclusive(&mut |t| {
            if let Some(f) = f.take() {
                let mut held = Held(t);
                let mut sks = Sks {
                    transport: &mut held as &mut dyn Transport,
                    options: options.clone(),
                };
                out = Some(f(&mut sks));
            }
        })?;
        out.ok_or_else(|| {
            Error::Transport(TransportError::Other(
                "the transport did not run the transaction".into(),
            ))
        })
    }
}

/// A transport inside an exclusive section: calls made in [`Sks::transaction`] run in that
/// section instead of opening nested ones.
struct Held<'a>(&'a mut dyn Transport);

impl Transport for Held<'_> {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.0.transmit(command)
    }
}

/// The exchange of one call on a transport that is already exclusive.
fn exchange_on(
    t: &mut dyn Transport,
    commands: &[Vec<u8>],
    options: &CallOptions,
) -> Result<Vec<u8>, Error> {
    let Some((last, chained)) = commands.split_last() else {
        return Ok(Vec::new());
    };
    for frame in chained {
        let resp = t.transmit(frame)?;
        match split_response(&resp) {
            Some((_, sw::OK)) => {}
            Some((_, status)) => return Err(Error::Status(status)),
            None => return Err(TransportError::ShortResponse(resp.len()).into()),
        }
    }
    let mut resp = t.transmit(last)?;
    let mut out = Vec::new();
    loop {
        let Some((data, status)) = split_response(&resp) else {
            return Err(TransportError::ShortResponse(resp.len()).into());
        };
        if out.len() + data.len() > options.max_response {
            return Err(Error::ResponseTooLong {
                limit: options.max_response,
            });
        }
        out.extend_from_slice(data);
        match status {
            sw::OK => return Ok(out),
            s if (s >> 8) as u8 == sw::BYTES_REMAINING => {
                resp = t.transmit(&get_response_apdu(options.le))?;
            }
            s => return Err(Error::Status(s)),
        }
    }
}
