//! The ISO 7816-4 layer, in one place: APDU parsing, CLA/INS checks, SELECT, command chaining
//! reassembly, response buffering with `61xx` + GET RESPONSE, and the volatile reset on power-on
//! and reset. It knows nothing of SKS: calls are handed to an [`Application`] as whole
//! (reassembled) data and its answer is handed out in chunks the client asked for.
//!
//! Envelope rules are documented in `apdu-spec/README.md`; the constants live in
//! `apdu_spec::envelope`.

pub mod card;

pub use card::Card;

use crate::secret::Secret;
use apdu_spec::envelope::{self, Status};
use iso7816::command::CommandView;

/// An application behind the ISO layer (JavaCard's `Applet`).
pub trait Application {
    /// The AID that selects this application.
    fn aid(&self) -> &[u8];
    /// Volatile state is dropped: power-on, reset, (re)selection and deselection.
    fn clear_transient(&mut self);
    /// One complete call: INS [`envelope::INS_SKS_CALL`], the parameters and the reassembled
    /// data. Returns the response data, or an ISO status word for envelope errors.
    fn call(&mut self, p1: u8, p2: u8, data: &[u8]) -> Result<Vec<u8>, Status>;
}

/// The Answer To Reset: T=1, with COMPACT-TLV historical bytes that announce the card
/// capabilities a client needs to know (ISO 7816-4 8.1.1.2.7): selection by full DF name,
/// command chaining and extended Lc/Le. Tag 5 (card issuer's data) carries "SKS".
pub const ATR: [u8; 14] = with_tck([
    0x3B, // TS: direct convention
    0x89, // T0: TD1 follows, 9 historical bytes
    0x80, // TD1: TD2 follows, T=0 announced
    0x01, // TD2: T=1
    0x80, // historical bytes: category indicator, COMPACT-TLV objects follow
    0x73, 0x80, 0x21, 0xC0, // card capabilities: selection by full DF name; data units of
    //                         one byte; command chaining + extended Lc and Le
    0x53, 0x53, 0x4B, 0x53, // card issuer's data: "SKS"
    0x00, // TCK, computed
]);

/// Sets the check byte: XOR of T0 up to the last historical byte (ISO 7816-3 8.2.5).
const fn with_tck<const N: usize>(mut atr: [u8; N]) -> [u8; N] {
    let mut tck = 0u8;
    let mut i = 1;
    while i < N - 1 {
        tck ^= atr[i];
        i += 1;
    }
    atr[N - 1] = tck;
    atr
}

/// Where a chained call is being assembled.
#[derive(Debug)]
struct Chain {
    ins: u8,
    p1: u8,
    p2: u8,
    /// Call arguments: PINs, keys, plaintexts.
    data: Secret,
}

/// Response data waiting for GET RESPONSE.
#[derive(Debug)]
struct Pending {
    /// Results: exported keys, plaintexts.
    data: Secret,
    offset: usize,
}

/// A card built from the ISO layer and one application.
pub struct IsoCard<A> {
    app: A,
    selected: bool,
    chain: Option<Chain>,
    pending: Option<Pending>,
}

impl<A: Application> IsoCard<A> {
    pub fn new(app: A) -> Self {
        Self {
            app,
            selected: false,
            chain: None,
            pending: None,
        }
    }

    pub fn app(&self) -> &A {
        &self.app
    }

    pub fn app_mut(&mut self) -> &mut A {
        &mut self.app
    }

    fn clear_volatile(&mut self) {
        self.selected = false;
        self.chain = None;
        self.pending = None;
        self.app.clear_transient();
    }

    fn handle(&mut self, apdu: &[u8]) -> Response {
        let Ok(cmd) = CommandView::try_from(apdu) else {
            // Shorter than a header, a bad CLA or Lc/Le inconsistent with the length.
            return Response::status(classify_parse_error(apdu));
        };
        let cla = cmd.class().into_inner();
        let ins = cmd.instruction().into();
        let chained = cla & envelope::CLA_CHAINING_BIT != 0;
        let base_cla = cla & !envelope::CLA_CHAINING_BIT;
        let is_call = base_cla == envelope::CLA_PROPRIETARY && ins == envelope::INS_SKS_CALL;

        // Any command but GET RESPONSE gives up a pending response (ISO 7816-4 5.3.4).
        if ins != envelope::INS_GET_RESPONSE {
            self.pending = None;
        }
        // A chain continues only with the same command; anything else breaks it.
        if let Some(chain) = &self.chain {
            let continues = is_call && (chain.ins, chain.p1, chain.p2) == (ins, cmd.p1, cmd.p2);
            if !continues {
                self.chain = None;
                if is_call {
                    return Response::status(Status::LastCommandOfChainExpected);
                }
            }
        }

        match (base_cla, ins) {
            (envelope::CLA_ISO, envelope::INS_SELECT) if !chained => self.select(&cmd),
            (envelope::CLA_ISO | envelope::CLA_PROPRIETARY, envelope::INS_GET_RESPONSE)
                if !chained =>
            {
                self.get_response(&cmd)
            }
            (envelope::CLA_ISO, envelope::INS_SELECT | envelope::INS_GET_RESPONSE)
            | (envelope::CLA_PROPRIETARY, envelope::INS_GET_RESPONSE) => {
                Response::status(Status::CommandChainingNotSupported)
            }
            (envelope::CLA_PROPRIETARY, envelope::INS_SKS_CALL) => self.call(&cmd, chained),
            (envelope::CLA_ISO | envelope::CLA_PROPRIETARY, _) => {
                Response::status(Status::InstructionNotSupportedOrInvalid)
            }
            _ => Response::status(Status::ClassNotSupported),
        }
    }

    /// SELECT by DF name (ISO 7816-4 11.2.2): only our exact AID, first or only occurrence.
    /// With P2 = 0x00 and Le present the answer is an FCI template holding the AID; P2 = 0x0C
    /// or no Le returns no data.
    fn select(&mut self, cmd: &CommandView<'_>) -> Response {
        if cmd.p1 != envelope::P1_SELECT_BY_NAME || !matches!(cmd.p2, 0x00 | 0x0C) {
            return Response::status(Status::IncorrectP1OrP2Parameter);
        }
        if cmd.data() != self.app.aid() {
            return Response::status(Status::NotFound);
        }
        // (Re)selection starts the application afresh, like JavaCard's deselect/select.
        self.clear_volatile();
        self.selected = true;
        if cmd.p2 == 0x0C || cmd.expected() == 0 {
            return Response::ok(Vec::new());
        }
        let aid = self.app.aid();
        let mut fci = vec![0x6F, (aid.len() + 2) as u8, 0x84, aid.len() as u8];
        fci.extend_from_slice(aid);
        self.respond(fci, cmd.expected())
    }

    fn get_response(&mut self, cmd: &CommandView<'_>) -> Response {
        if (cmd.p1, cmd.p2) != (0, 0) {
            return Response::status(Status::IncorrectP1OrP2Parameter);
        }
        match self.pending.take() {
            None => Response::status(Status::ConditionsOfUseNotSatisfied),
            Some(pending) => self.next_chunk(pending, cmd.expected()),
        }
    }

    fn call(&mut self, cmd: &CommandView<'_>, chained: bool) -> Response {
        if !self.selected {
            self.chain = None;
            return Response::status(Status::ConditionsOfUseNotSatisfied);
        }
        let chain = self.chain.get_or_insert_with(|| Chain {
            ins: cmd.instruction().into(),
            p1: cmd.p1,
            p2: cmd.p2,
            data: Secret::default(),
        });
        if chain.data.len() + cmd.data().len() > envelope::MAX_CALL_DATA {
            self.chain = None;
            return Response::status(Status::WrongLength);
        }
        chain.data.extend_zeroizing(cmd.data());
        if chained {
            return Response::ok(Vec::new());
        }
        let Some(chain) = self.chain.take() else {
            return Response::status(Status::UnspecifiedCheckingError);
        };
        match self.app.call(chain.p1, chain.p2, &chain.data) {
            Ok(data) => self.respond(data, cmd.expected()),
            Err(status) => Response::status(status),
        }
    }

    /// Hands out response data: as much as the client's Ne allows (and at most
    /// [`envelope::MAX_RESPONSE_CHUNK`]), the rest through `61xx`. Without Le (Ne = 0) all data
    /// waits for GET RESPONSE, as ISO 7816-4 requires for a command that expects none.
    fn respond(&mut self, data: Vec<u8>, ne: usize) -> Response {
        let data = Secret::new(data);
        self.next_chunk(Pending { data, offset: 0 }, ne)
    }

    fn next_chunk(&mut self, pending: Pending, ne: usize) -> Response {
        let left = pending.data.len() - pending.offset;
        if left == 0 {
            return Response::ok(Vec::new());
        }
        let (n, sw) = envelope::next_response_chunk(left, ne);
        let chunk = pending.data[pending.offset..pending.offset + n].to_vec();
        if n < left {
            self.pending = Some(Pending {
                offset: pending.offset + n,
                ..pending
            });
        }
        Response { data: chunk, sw }
    }
}

/// The status word for an APDU that `CommandView` refused.
fn classify_parse_error(apdu: &[u8]) -> Status {
    match apdu.first() {
        Some(&cla) if apdu.len() >= 4 && cla == 0xFF => Status::ClassNotSupported,
        _ => Status::WrongLength,
    }
}

struct Response {
    data: Vec<u8>,
    sw: Status,
}

impl Response {
    fn ok(data: Vec<u8>) -> Self {
        Self {
            data,
            sw: Status::Success,
        }
    }

    fn status(sw: Status) -> Self {
        Self {
            data: Vec::new(),
            sw,
        }
    }

    fn into_apdu(self) -> Vec<u8> {
        envelope::response_apdu(self.data, self.sw)
    }
}

impl<A: Application> Card for IsoCard<A> {
    fn atr(&self) -> &[u8] {
        &ATR
    }

    fn power_on(&mut self) {
        self.clear_volatile();
    }

    fn power_off(&mut self) {
        self.clear_volatile();
    }

    fn reset(&mut self) {
        self.clear_volatile();
    }

    fn process(&mut self, command: &[u8]) -> Vec<u8> {
        self.handle(command).into_apdu()
    }
}

#[cfg(test)]
mod tests {
    //! The ISO layer with a fake application whose responses have known lengths and contents
    //! (exact reassembly, exact 61xx counts). The envelope rules themselves (malformed APDUs,
    //! SELECT, chaining abuse, GET RESPONSE misuse, unknown CLA/INS/method id) are APDU scripts
    //! run on the real card: `apdu-spec/tests/scripts/*.apdu`.

    use super::*;
    use apdu_spec::envelope::sw;
    use apdu_spec::envelope::{call_apdus, extended_apdu, get_response_apdu, select_apdu};

    /// P1 1: echo; P1 2: a response of the u32 length given in the data; else 6A86.
    struct Fake {
        cleared: usize,
    }

    impl Application for Fake {
        fn aid(&self) -> &[u8] {
            &envelope::AID
        }
        fn clear_transient(&mut self) {
            self.cleared += 1;
        }
        fn call(&mut self, p1: u8, _p2: u8, data: &[u8]) -> Result<Vec<u8>, Status> {
            match p1 {
                1 => Ok(data.to_vec()),
                2 => {
                    let n = u32::from_be_bytes(
                        data.try_into()
                            .map_err(|_| Status::IncorrectDataParameter)?,
                    );
                    Ok((0..n).map(|i| i as u8).collect())
                }
                _ => Err(Status::IncorrectP1OrP2Parameter),
            }
        }
    }

    fn card() -> IsoCard<Fake> {
        let mut c = IsoCard::new(Fake { cleared: 0 });
        c.power_on();
        c
    }

    fn selected() -> IsoCard<Fake> {
        let mut c = card();
        assert_eq!(sw_of(&c.process(&select_apdu())), sw::OK);
        c
    }

    fn sw_of(resp: &[u8]) -> u16 {
        envelope::split_response(resp).unwrap().1
    }

    /// Sends a whole call (chained as needed) and collects the response via GET RESPONSE.
    fn exchange(c: &mut IsoCard<Fake>, p1: u8, data: &[u8], chunk: usize, le: u16) -> Vec<u8> {
        let frames = call_apdus(p1, data, chunk, le);
        let last = frames.len() - 1;
        let mut resp = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            resp = c.process(f);
            if i < last {
                assert_eq!(resp, vec![0x90, 0x00], "intermediate chained part");
            }
        }
        let mut out = Vec::new();
        loop {
            let (data, status) = envelope::split_response(&resp).unwrap();
            out.extend_from_slice(data);
            match status {
                sw::OK => return out,
                s if s >> 8 == u16::from(sw::BYTES_REMAINING) => {
                    resp = c.process(&get_response_apdu(le))
                }
                s => panic!("unexpected status {s:04x}"),
            }
        }
    }

    #[test]
    fn atr_check_byte_and_capabilities() {
        let tck = ATR[1..ATR.len() - 1].iter().fold(0, |a, b| a ^ b);
        assert_eq!(ATR[ATR.len() - 1], tck);
        assert_eq!(ATR[1] & 0x0F, 9, "nine historical bytes");
        // Card capabilities, third byte: command chaining (b8) and extended Lc/Le (b7).
        assert_eq!(&ATR[5..9], &[0x73, 0x80, 0x21, 0xC0]);
    }

    #[test]
    fn long_calls_chain_and_long_responses_need_get_response() {
        let mut c = selected();
        let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(exchange(&mut c, 1, &big, 65_535, 0), big);
        // javax.smartcardio-sized parts.
        assert_eq!(exchange(&mut c, 1, &big, 8_191, 8_190), big);
        let n = 100_000u32;
        let out = exchange(&mut c, 2, &n.to_be_bytes(), 255, 0);
        assert_eq!(out.len(), n as usize);
        assert!(out.iter().enumerate().all(|(i, b)| *b == i as u8));
    }

    #[test]
    fn response_chunks_follow_le() {
        let mut c = selected();
        // Short Le = 0x00 means 256.
        let resp = c.process(&[0x80, 0x52, 0x02, 0x00, 0x04, 0, 0, 1, 44, 0x00]);
        assert_eq!(resp.len(), 256 + 2);
        assert_eq!(sw_of(&resp), 0x612C);
        let rest = c.process(&[0x00, 0xC0, 0x00, 0x00, 0x00]);
        assert_eq!(rest.len(), 44 + 2);
        assert_eq!(sw_of(&rest), sw::OK);
        // No Le: nothing but 61xx, the data waits for GET RESPONSE.
        let resp = c.process(&[0x80, 0x52, 0x02, 0x00, 0x04, 0, 0, 0, 10]);
        assert_eq!(resp, vec![0x61, 10]);
        assert_eq!(
            c.process(&[0x00, 0xC0, 0x00, 0x00, 10]),
            [(0..10).collect::<Vec<u8>>(), vec![0x90, 0]].concat()
        );
        // A full extended Le stops at MAX_RESPONSE_CHUNK.
        let resp = c.process(&extended_apdu(
            0x80,
            0x52,
            2,
            0,
            &70_000u32.to_be_bytes(),
            Some(0),
        ));
        assert_eq!(resp.len(), envelope::MAX_RESPONSE_CHUNK + 2);
        assert_eq!(sw_of(&resp), 0x6100);
    }

    /// Reset and power-off/on reach the application (the volatile state the ISO layer drops
    /// is checked by the APDU scripts `apdu-spec/tests/scripts/power_and_reset.apdu`).
    #[test]
    fn power_and_reset_clear_the_application() {
        let mut c = selected();
        let _ = c.process(&[0x80, 0x52, 0x02, 0x00, 0x04, 0, 0, 1, 0, 0x10]);
        let before = c.app().cleared;
        c.reset();
        assert!(c.app().cleared > before);
        assert_eq!(
            sw_of(&c.process(&get_response_apdu(0))),
            sw::CONDITIONS_NOT_SATISFIED
        );
        let before = c.app().cleared;
        c.power_off();
        c.power_on();
        assert!(c.app().cleared > before);
        assert_eq!(sw_of(&c.process(&select_apdu())), sw::OK);
        assert_eq!(exchange(&mut c, 1, b"y", 255, 0), b"y");
    }
}
