//! The ISO 7816-4 envelope that carries SKS calls (see the crate README for the full picture).
//!
//! * SELECT the applet by [`AID`] (`00 A4 04 00 Lc AID`).
//! * A call is `CLA=80 INS=52 P1=method id P2=00`, the data field being the method's argument
//!   encoding, sent with extended Lc/Le. Calls larger than one frame use command chaining
//!   (`CLA=90` on every part but the last).
//! * The response data is the spec's byte stream: status byte, then results or the error string
//!   (spec 7.2). It is returned with `9000`, or in parts with `61xx` + GET RESPONSE
//!   (`00 C0 00 00 Le`).
//! * Envelope errors (malformed APDU, unknown class or instruction, ...) use ISO status words
//!   and carry no data.

/// The applet's AID: the 5-byte RID `F0 53 4B 53 01` (category `F`, proprietary and unregistered
/// under ISO/IEC 7816-5: `F0` ‖ "SKS" ‖ `01`) and the PIX `00` (applet version).
pub const AID: [u8; 6] = [0xF0, 0x53, 0x4B, 0x53, 0x01, 0x00];

/// CLA of an SKS call: proprietary class, no secure messaging, logical channel 0.
pub const CLA_PROPRIETARY: u8 = 0x80;
/// The command-chaining bit of CLA (ISO 7816-4 5.4.1): set on every part but the last.
pub const CLA_CHAINING_BIT: u8 = 0x10;
/// CLA of interindustry commands (SELECT, GET RESPONSE).
pub const CLA_ISO: u8 = 0x00;

/// SELECT.
pub const INS_SELECT: u8 = 0xA4;
/// GET RESPONSE.
pub const INS_GET_RESPONSE: u8 = 0xC0;
/// "SKS call": P1 holds the method id. Chosen outside the invalid 6X/9X ranges and outside the
/// instructions GlobalPlatform assigns under CLA 80.
pub const INS_SKS_CALL: u8 = 0x52;

/// SELECT P1: select by DF name (AID).
pub const P1_SELECT_BY_NAME: u8 = 0x04;

/// Most data bytes the card returns in one response APDU. vpcd frames are at most 65,535 bytes
/// (2-byte length), so a full 65,536-byte chunk plus SW would not pass; the rest of a longer
/// response follows through GET RESPONSE.
pub const MAX_RESPONSE_CHUNK: usize = 0xFF00;

/// Largest data field of one command APDU that vpcd carries: its frames are at most 65,535
/// bytes, and an extended APDU adds a 4-byte header, a 3-byte Lc and a 2-byte Le. Clients
/// split longer calls into chained parts of this size (the card accepts any part size).
pub const MAX_COMMAND_CHUNK: usize = 65_526;

/// Most data bytes of a whole (reassembled) call. Large enough for addExtension with a blob of
/// the advertised extensionDataSize plus every other argument.
pub const MAX_CALL_DATA: usize = 256 * 1024;

pub use iso7816::Status;

/// ISO 7816-4 status words used by the envelope, as the `u16` clients compare with. Each is
/// defined by its [`Status`] (iso7816), the type the card's ISO layer answers with.
pub mod sw {
    use iso7816::Status;

    /// Normal processing.
    pub const OK: u16 = Status::Success.to_u16();
    /// `61xx`: xx more bytes (00 = 256 or more) are available with GET RESPONSE.
    pub const BYTES_REMAINING: u8 = 0x61;
    /// Wrong length (Lc/Le inconsistent, or the call exceeds [`super::MAX_CALL_DATA`]).
    pub const WRONG_LENGTH: u16 = Status::WrongLength.to_u16();
    /// Last command of the chain expected (a chain was broken by another command).
    pub const LAST_COMMAND_EXPECTED: u16 = Status::LastCommandOfChainExpected.to_u16();
    /// Command chaining not supported (chaining bit on a command that cannot be chained).
    pub const CHAINING_NOT_SUPPORTED: u16 = Status::CommandChainingNotSupported.to_u16();
    /// Security status not satisfied.
    pub const SECURITY_STATUS: u16 = Status::SecurityStatusNotSatisfied.to_u16();
    /// Conditions of use not satisfied (SKS call before SELECT, GET RESPONSE with nothing
    /// pending).
    pub const CONDITIONS_NOT_SATISFIED: u16 = Status::ConditionsOfUseNotSatisfied.to_u16();
    /// Wrong data (malformed SELECT data).
    pub const WRONG_DATA: u16 = Status::IncorrectDataParameter.to_u16();
    /// File or application not found (SELECT of another AID).
    pub const FILE_NOT_FOUND: u16 = Status::NotFound.to_u16();
    /// Incorrect P1-P2 (including an unknown method id in P1).
    pub const INCORRECT_P1P2: u16 = Status::IncorrectP1OrP2Parameter.to_u16();
    /// Instruction not supported.
    pub const INS_NOT_SUPPORTED: u16 = Status::InstructionNotSupportedOrInvalid.to_u16();
    /// Class not supported.
    pub const CLA_NOT_SUPPORTED: u16 = Status::ClassNotSupported.to_u16();
    /// No precise diagnosis (the card could not encode its answer).
    pub const UNKNOWN: u16 = Status::UnspecifiedCheckingError.to_u16();
}

/// Builds the APDUs of one SKS call: extended-length frames of at most `max_chunk` data bytes,
/// chained when the call is larger. The last frame asks for `le` response bytes
/// (0 = the extended maximum, 65,536).
pub fn call_apdus(method: u8, data: &[u8], max_chunk: usize, le: u16) -> Vec<Vec<u8>> {
    let max_chunk = max_chunk.clamp(1, usize::from(u16::MAX));
    let mut parts: Vec<&[u8]> = data.chunks(max_chunk).collect();
    if parts.is_empty() {
        parts.push(&[]);
    }
    let last = parts.len() - 1;
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let cla = if i == last {
                CLA_PROPRIETARY
            } else {
                CLA_PROPRIETARY | CLA_CHAINING_BIT
            };
            extended_apdu(
                cla,
                INS_SKS_CALL,
                method,
                0,
                part,
                (i == last).then_some(le),
            )
        })
        .collect()
}

/// An extended-length APDU (ISO 7816-4 5.1, built by iso7816's `CommandBuilder`): `Lc` as
/// `00 hi lo` when there is data, `Le` as two bytes after data or as `00 hi lo` without data
/// (`Some(0)` = 65,536). At most 65,535 data bytes fit in one APDU; longer data is cut there
/// (split calls with [`call_apdus`]).
pub fn extended_apdu(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<u16>) -> Vec<u8> {
    use iso7816::command::{class::Class, CommandBuilder, ExpectedLen};
    let data = &data[..data.len().min(usize::from(u16::MAX))];
    let le = match le {
        None => ExpectedLen::Ne(0),
        Some(0) => ExpectedLen::Max,
        Some(n) => ExpectedLen::Ne(n),
    };
    // iso7816 has no `Class` for the invalid CLA FF (which tests send on purpose): frame such
    // an APDU as class 00 and put the caller's byte back.
    const ISO: Class = match Class::from_byte(CLA_ISO) {
        Ok(class) => class,
        Err(_) => panic!("00 is an interindustry class"),
    };
    let class = Class::try_from(cla).unwrap_or(ISO);
    let mut apdu = CommandBuilder::new(class, ins.into(), p1, p2, data, le)
        .force_extended()
        .serialize_to_vec();
    apdu[0] = cla;
    apdu
}

/// `00 A4 04 00 Lc AID` (short APDU, no Le, as every PC/SC tool sends it).
pub fn select_apdu() -> Vec<u8> {
    let mut apdu = vec![
        CLA_ISO,
        INS_SELECT,
        P1_SELECT_BY_NAME,
        0x00,
        AID.len() as u8,
    ];
    apdu.extend_from_slice(&AID);
    apdu
}

/// GET RESPONSE for `le` bytes (extended form; 0 = 65,536).
pub fn get_response_apdu(le: u16) -> Vec<u8> {
    extended_apdu(CLA_ISO, INS_GET_RESPONSE, 0, 0, &[], Some(le))
}

/// Splits a response APDU into its data and status word. `None` when shorter than a SW.
pub fn split_response(resp: &[u8]) -> Option<(&[u8], u16)> {
    let n = resp.len().checked_sub(2)?;
    Some((&resp[..n], u16::from_be_bytes([resp[n], resp[n + 1]])))
}

/// The `61xx` status word announcing `remaining` more response bytes (ISO 7816-4 5.1.3): `xx`
/// is the count, or `00` for 256 and more.
pub fn sw_bytes_remaining(remaining: usize) -> u16 {
    Status::MoreAvailable(u8::try_from(remaining).unwrap_or(0)).to_u16()
}

/// The next response APDU of `remaining` response bytes when the reader asks for `ne` bytes:
/// how many it carries (at most `ne` and [`MAX_RESPONSE_CHUNK`]) and its status, `61xx`
/// ([`sw_bytes_remaining`]) while more is pending, `9000` on the last (ISO 7816-4 5.1.3). The
/// card's ISO layer and [`response_apdus`] frame responses with it.
pub fn next_response_chunk(remaining: usize, ne: usize) -> (usize, Status) {
    let n = remaining.min(ne).min(MAX_RESPONSE_CHUNK);
    let rest = remaining - n;
    let status = if rest == 0 {
        Status::Success
    } else {
        Status::MoreAvailable(u8::try_from(rest).unwrap_or(0))
    };
    (n, status)
}

/// A response APDU: `data ‖ SW1 SW2`. The card's ISO layer and [`response_apdus`] build them
/// here; clients take them apart with [`split_response`].
pub fn response_apdu(mut data: Vec<u8>, status: Status) -> Vec<u8> {
    data.extend_from_slice(&status.to_u16().to_be_bytes());
    data
}

/// The response APDUs that carry a call's response `data` when the reader always asks for the
/// most (extended `Le` = `00 00`, i.e. 65,536): the answer to the call, then the answer to each
/// GET RESPONSE. Each holds at most [`MAX_RESPONSE_CHUNK`] data bytes and ends with
/// `61xx` ([`sw_bytes_remaining`]) while more data is pending, with `9000` on the last one.
pub fn response_apdus(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = data;
    loop {
        let (n, status) = next_response_chunk(rest.len(), 65_536);
        let (chunk, tail) = rest.split_at(n);
        out.push(response_apdu(chunk.to_vec(), status));
        if tail.is_empty() {
            return out;
        }
        rest = tail;
    }
}
