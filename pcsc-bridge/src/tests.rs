//! Unit tests of the call logic over a scripted fake transport.

use crate::{CallOptions, Error, InProcess, Sks, Transport, TransportError};
use apdu_spec::envelope::AID;
use apdu_spec::{
    encode_response, Bytes, DeviceImplementation, DeviceInfo, DeviceLocation, DeviceType,
    ErrorCode, ExportKey, ExportKeyArgs, ExportKeyOutput, Method, SksError, Uri, Wire,
};
use std::collections::VecDeque;

/// `"80 52 01"` → bytes.
fn h(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len() & 1 == 0, "odd hex string {s:?}");
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `data ‖ SW`.
fn resp(data: &[u8], sw: u16) -> Vec<u8> {
    let mut r = data.to_vec();
    r.extend_from_slice(&sw.to_be_bytes());
    r
}

/// A transport that expects exactly the scripted command APDUs, in order, and answers each
/// with its scripted response. Records whether each APDU was sent inside `exclusive`.
#[derive(Default)]
struct Script {
    steps: VecDeque<(Vec<u8>, Vec<u8>)>,
    exclusive_sections: usize,
    in_exclusive: bool,
    outside_exclusive: usize,
}

impl Script {
    fn new() -> Self {
        Self::default()
    }

    fn expect(mut self, command: Vec<u8>, response: Vec<u8>) -> Self {
        self.steps.push_back((command, response));
        self
    }

    fn assert_done(&self) {
        assert!(
            self.steps.is_empty(),
            "{} scripted APDUs were not sent, next: {}",
            self.steps.len(),
            hex(&self.steps[0].0)
        );
    }
}

impl Transport for Script {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        if !self.in_exclusive {
            self.outside_exclusive += 1;
        }
        let (expected, response) = self
            .steps
            .pop_front()
            .unwrap_or_else(|| panic!("unexpected APDU {}", hex(command)));
        assert_eq!(hex(command), hex(&expected), "command APDU");
        Ok(response)
    }

    fn exclusive(
        &mut self,
        body: &mut dyn FnMut(&mut dyn Transport),
    ) -> Result<(), TransportError> {
        assert!(!self.in_exclusive, "nested exclusive section");
        self.exclusive_sections += 1;
        self.in_exclusive = true;
        let mut this = &mut *self;
        body(&mut this);
        self.in_exclusive = false;
        Ok(())
    }
}

fn export_args(key_handle: u32, authorization: &[u8]) -> ExportKeyArgs {
    ExportKeyArgs {
        key_handle,
        authorization: Bytes(authorization.to_vec()),
    }
}

fn exported(key: &[u8]) -> ExportKeyOutput {
    ExportKeyOutput {
        key: Bytes(key.to_vec()),
    }
}

fn device_info() -> DeviceInfo {
    DeviceInfo {
        api_level: 0x0100,
        device_type: DeviceType {
            location: DeviceLocation::External,
            implementation: DeviceImplementation::Software,
        }
        .into(),
        update_url: Uri::default(),
        vendor_name: "Test vendor".into(),
        vendor_description: "A scripted card".into(),
        certificates: vec![Bytes(vec![0x30, 0x03, 0x02, 0x01, 0x01])],
        supported_algorithms: vec![Uri::new("http://www.w3.org/2001/04/xmlenc#sha256").unwrap()],
        crypto_data_size: 256,
        extension_data_size: 65536,
        device_pin_support: false,
        biometric_support: false,
    }
}

fn ok_response<T: Wire>(out: T) -> Vec<u8> {
    encode_response::<T>(&Ok(out)).unwrap()
}

#[test]
fn small_call() {
    let info = device_info();
    let script = Script::new().expect(
        h("80 52 01 00 00 00 00"),
        resp(&ok_response(info.clone()), 0x9000),
    );
    let mut sks = Sks::new(script);
    assert_eq!(sks.get_device_info().unwrap(), info);
    let t = sks.into_transport();
    t.assert_done();
    // One APDU is atomic by itself: no PC/SC transaction around it.
    assert_eq!(t.exclusive_sections, 0);
    assert_eq!(t.outside_exclusive, 1);
}

#[test]
fn small_call_with_data_and_le() {
    // exportKey [81 = 0x51]: key handle 01020304, authorization AA BB CC; Le = 0x0100.
    let script = Script::new().expect(
        h("80 52 51 00 00 00 09 01 02 03 04 00 03 AA BB CC 01 00"),
        resp(&ok_response(exported(&[1, 2])), 0x9000),
    );
    let mut sks = Sks::new(script).with_le(0x0100);
    let out = sks
        .export_key(&export_args(0x01020304, &[0xAA, 0xBB, 0xCC]))
        .unwrap();
    assert_eq!(out, exported(&[1, 2]));
    sks.transport().assert_done();
}

#[test]
fn chained_call_in_small_frames() {
    // Args: 01 02 03 04 | 00 04 05 06 07 08 (10 bytes) in frames of 4.
    let script = Script::new()
        .expect(h("90 52 51 00 00 00 04 01 02 03 04"), resp(&[], 0x9000))
        .expect(h("90 52 51 00 00 00 04 00 04 05 06"), resp(&[], 0x9000))
        .expect(
            h("80 52 51 00 00 00 02 07 08 00 00"),
            resp(&ok_response(exported(&[9])), 0x9000),
        );
    let mut sks = Sks::new(script).with_max_chunk(4);
    let out = sks
        .call::<ExportKey>(&export_args(0x01020304, &[5, 6, 7, 8]))
        .unwrap();
    assert_eq!(out, exported(&[9]));
    let t = sks.into_transport();
    t.assert_done();
    assert_eq!(t.exclusive_sections, 1, "one call, one exclusive section");
    assert_eq!(t.outside_exclusive, 0);
}

#[test]
fn javax_limits_frame_sizes() {
    let args = export_args(7, &[0x5A; 20_000]);
    let data = args.to_wire().unwrap(); // 20,006 bytes
    let frames = apdu_spec::envelope::call_apdus(ExportKey::ID as u8, &data, 8191, 8190);
    assert_eq!(frames.len(), 3);
    let mut script = Script::new();
    for (i, f) in frames.iter().enumerate() {
        let last = i == frames.len() - 1;
        assert_eq!(f[0], if last { 0x80 } else { 0x90 });
        assert_eq!(f[2], 0x51);
        let r = if last {
            resp(&ok_response(exported(&[])), 0x9000)
        } else {
            resp(&[], 0x9000)
        };
        script = script.expect(f.clone(), r);
    }
    assert_eq!(&frames[0][4..7], &[0x00, 0x1F, 0xFF]); // Lc 8191
    assert_eq!(&frames[2][4..7], &[0x00, 0x0E, 0x28]); // Lc 3624
    assert_eq!(&frames[2][frames[2].len() - 2..], &[0x1F, 0xFE]); // Le 8190
    let mut sks = Sks::with_options(script, CallOptions::JAVAX_SMARTCARDIO);
    sks.export_key(&args).unwrap();
    sks.transport().assert_done();
}

#[test]
fn response_through_get_response() {
    let key: Vec<u8> = (0u8..=99).collect();
    let body = ok_response(exported(&key)); // 103 bytes
    let (a, rest) = body.split_at(40);
    let (b, c) = rest.split_at(40);
    let script = Script::new()
        .expect(
            h("80 52 51 00 00 00 06 00 00 00 00 00 00 00 28"),
            resp(a, 0x6100),
        )
        .expect(h("00 C0 00 00 00 00 28"), resp(b, 0x6117))
        .expect(h("00 C0 00 00 00 00 28"), resp(c, 0x9000));
    let mut sks = Sks::new(script).with_le(40);
    assert_eq!(
        sks.export_key(&export_args(0, &[])).unwrap(),
        exported(&key)
    );
    let t = sks.into_transport();
    t.assert_done();
    assert_eq!(
        t.exclusive_sections, 0,
        "a single-frame call needs no transaction"
    );
}

#[test]
fn get_response_with_default_le() {
    let body = ok_response(device_info());
    let (a, b) = body.split_at(10);
    let script = Script::new()
        .expect(h("80 52 01 00 00 00 00"), resp(a, 0x6100))
        .expect(h("00 C0 00 00 00 00 00"), resp(b, 0x9000));
    let mut sks = Sks::new(script);
    assert_eq!(sks.get_device_info().unwrap(), device_info());
    sks.transport().assert_done();
}

#[test]
fn sks_error_is_decoded() {
    let body = encode_response::<()>(&Err(SksError::new(ErrorCode::Mac, "MAC mismatch"))).unwrap();
    assert_eq!(body[0], 0x04);
    let script = Script::new().expect(h("80 52 01 00 00 00 00"), resp(&body, 0x9000));
    let mut sks = Sks::new(script);
    let err = sks.get_device_info().unwrap_err();
    match &err {
        Error::Sks(e) => {
            assert_eq!(e.code, ErrorCode::Mac);
            assert_eq!(e.message, "MAC mismatch");
        }
        other => panic!("expected an SKS error, got {other:?}"),
    }
    assert_eq!(err.sks_code(), Some(ErrorCode::Mac));
    assert_eq!(err.to_string(), "SKS error ERROR_MAC (0x04): MAC mismatch");
}

#[test]
fn unexpected_status_word() {
    let script = Script::new().expect(h("80 52 01 00 00 00 00"), resp(&[], 0x6A86));
    let mut sks = Sks::new(script);
    let err = sks.get_device_info().unwrap_err();
    assert!(matches!(err, Error::Status(0x6A86)), "{err:?}");
    assert_eq!(err.status_word(), Some(0x6A86));
    assert_eq!(
        err.to_string(),
        "card returned status word 6A86 (incorrect parameters P1-P2)"
    );
}

#[test]
fn status_word_on_a_chained_frame_stops_the_call() {
    let script = Script::new().expect(h("90 52 51 00 00 00 04 01 02 03 04"), resp(&[], 0x6883));
    let mut sks = Sks::new(script).with_max_chunk(4);
    let err = sks
        .export_key(&export_args(0x01020304, &[5, 6, 7, 8]))
        .unwrap_err();
    assert!(matches!(err, Error::Status(0x6883)), "{err:?}");
    sks.transport().assert_done(); // no further frame was sent
}

#[test]
fn garbage_response_is_a_decode_error() {
    // Status 00 then a truncated DeviceInfo.
    let script = Script::new().expect(h("80 52 01 00 00 00 00"), resp(&[0x00, 0x01], 0x9000));
    let mut sks = Sks::new(script);
    let err = sks.get_device_info().unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("cannot decode the card's response: "),
        "{err}"
    );

    // A status byte that is no SKS status.
    let script = Script::new().expect(h("80 52 01 00 00 00 00"), resp(&[0x77, 0, 0], 0x9000));
    let err = Sks::new(script).get_device_info().unwrap_err();
    assert!(
        matches!(
            err,
            Error::Decode(apdu_spec::DecodeError::BadStatus { value: 0x77, .. })
        ),
        "{err:?}"
    );

    // Trailing bytes after a complete result.
    let mut body = ok_response(exported(&[1]));
    body.push(0xEE);
    let script = Script::new().expect(
        h("80 52 51 00 00 00 06 00 00 00 00 00 00 00 00"),
        resp(&body, 0x9000),
    );
    let err = Sks::new(script)
        .export_key(&export_args(0, &[]))
        .unwrap_err();
    assert!(
        matches!(err, Error::Decode(apdu_spec::DecodeError::Trailing { .. })),
        "{err:?}"
    );
}

#[test]
fn empty_success_body_is_a_decode_error() {
    let script = Script::new().expect(h("80 52 01 00 00 00 00"), resp(&[], 0x9000));
    let err = Sks::new(script).get_device_info().unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
}

#[test]
fn response_shorter_than_a_status_word() {
    let script = Script::new().expect(h("80 52 01 00 00 00 00"), vec![0x90]);
    let err = Sks::new(script).get_device_info().unwrap_err();
    assert!(
        matches!(err, Error::Transport(TransportError::ShortResponse(1))),
        "{err:?}"
    );
}

#[test]
fn endless_get_response_is_bounded() {
    let mut script = Script::new().expect(h("80 52 01 00 00 00 00"), resp(&[0; 100], 0x6100));
    for _ in 0..2 {
        script = script.expect(h("00 C0 00 00 00 00 00"), resp(&[0; 100], 0x6100));
    }
    let mut sks = Sks::new(script);
    sks.options_mut().max_response = 250;
    let err = sks.get_device_info().unwrap_err();
    assert!(
        matches!(err, Error::ResponseTooLong { limit: 250 }),
        "{err:?}"
    );
}

#[test]
fn raw_transmit_and_call_raw() {
    let script = Script::new()
        .expect(h("80 52 FF 00"), resp(&[], 0x6A86))
        .expect(
            h("80 52 02 00 00 00 01 EE 00 00"),
            resp(&[0x05, 0x00, 0x01, b'x'], 0x9000),
        );
    let mut sks = Sks::new(script);
    assert_eq!(sks.transmit(&h("80 52 FF 00")).unwrap(), h("6A 86"));
    assert_eq!(
        sks.call_raw(2, &[0xEE]).unwrap(),
        vec![0x05, 0x00, 0x01, b'x']
    );
    let t = sks.into_transport();
    t.assert_done();
    assert_eq!(
        t.outside_exclusive, 2,
        "raw transmit and a single-frame call need no exclusive section"
    );
}

#[test]
fn transaction_groups_calls_in_one_exclusive_section() {
    let info = device_info();
    let script = Script::new()
        .expect(
            h("80 52 01 00 00 00 00"),
            resp(&ok_response(info.clone()), 0x9000),
        )
        .expect(
            h("80 52 01 00 00 00 00"),
            resp(&ok_response(info.clone()), 0x9000),
        );
    let mut sks = Sks::new(script);
    // Nested exclusive sections would trip the script's assertion: calls inside a transaction
    // run on the transport the section handed out.
    let (a, b) = sks
        .transaction(|s| (s.get_device_info(), s.get_device_info()))
        .unwrap();
    assert_eq!(a.unwrap(), info);
    assert_eq!(b.unwrap(), info);
    let t = sks.into_transport();
    t.assert_done();
    assert_eq!(t.exclusive_sections, 1);
}

#[test]
fn boxed_dyn_transport_works() {
    let script = Script::new().expect(h("80 52 01 00 00 00 00"), resp(&[], 0x6D00));
    let boxed: Box<dyn Transport> = Box::new(script);
    let err = Sks::new(boxed).get_device_info().unwrap_err();
    assert!(matches!(err, Error::Status(0x6D00)));
}

/// A minimal card: answers SELECT of the SKS AID with 9000, anything else with 6D00.
struct MiniCard {
    powered: bool,
    resets: usize,
    accept_select: bool,
}

impl applet::Card for MiniCard {
    fn atr(&self) -> &[u8] {
        &[0x3B, 0x80, 0x80, 0x01, 0x01]
    }
    fn power_on(&mut self) {
        self.powered = true;
    }
    fn power_off(&mut self) {
        self.powered = false;
    }
    fn reset(&mut self) {
        self.resets += 1;
    }
    fn process(&mut self, command: &[u8]) -> Vec<u8> {
        assert!(self.powered, "APDU to an unpowered card");
        if command.len() > 5 && command[..4] == [0x00, 0xA4, 0x04, 0x00] && command[5..] == AID {
            return if self.accept_select {
                resp(&[], 0x9000)
            } else {
                resp(&[], 0x6A82)
            };
        }
        resp(&[], 0x6D00)
    }
}

#[test]
fn in_process_powers_on_and_selects() {
    let card = MiniCard {
        powered: false,
        resets: 0,
        accept_select: true,
    };
    let mut t = InProcess::new(card).unwrap();
    assert!(t.card().powered);
    t.reset().unwrap();
    assert_eq!(t.card().resets, 1);
    let mut sks = Sks::new(t);
    assert!(matches!(
        sks.get_device_info().unwrap_err(),
        Error::Status(0x6D00)
    ));
    let card = sks.into_transport().into_card();
    assert!(!card.powered);

    let boxed: Box<dyn applet::Card + Send> = Box::new(MiniCard {
        powered: false,
        resets: 0,
        accept_select: true,
    });
    InProcess::from_box(boxed).unwrap();
}

#[test]
fn in_process_reports_a_refused_select() {
    let card = MiniCard {
        powered: false,
        resets: 0,
        accept_select: false,
    };
    let err = InProcess::new(card).err().expect("SELECT must fail");
    assert!(
        matches!(err, TransportError::SelectFailed(0x6A82)),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "SELECT of the SKS applet failed with status 6A82 (file or application not found)"
    );
}

#[test]
fn a_call_over_the_card_limit_names_the_limit_and_sends_nothing() {
    // Issue 9 item 10: the card would refuse the chain with 6700 after 256 KiB were sent.
    let card = applet::open_card(None).unwrap();
    let mut sks = Sks::new(InProcess::from_box(card).unwrap());
    let args = apdu_spec::PerformHmacArgs {
        key_handle: 1,
        algorithm: apdu_spec::Uri::new("http://www.w3.org/2001/04/xmldsig-more#hmac-sha256")
            .unwrap(),
        parameters: apdu_spec::Bytes::empty(),
        biometric_auth: false,
        authorization: apdu_spec::Bytes::empty(),
        data: apdu_spec::Blob(vec![0; 300_000]),
    };
    let err = sks.perform_hmac(&args).unwrap_err();
    assert!(
        matches!(err, Error::CallTooLong { limit, .. } if limit == 256 * 1024),
        "{err:?}"
    );
    assert!(err.to_string().contains("at most 262144 bytes"), "{err}");
}
