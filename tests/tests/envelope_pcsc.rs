//! The APDU envelope (apdu-spec/README.md §4) over the real stack: the applet served through the
//! vsmartcard adapter to the process-wide private pcscd, talked to with the `pcsc` crate and
//! pcsc-bridge.
//!
//! * getDeviceInfo through the Rust client, and the device certificate path checked with
//!   `openssl` (subprocess).
//! * A chained call of more than 70,000 bytes and a response of more than 65,536 bytes through
//!   `61xx` + GET RESPONSE, with real methods (addExtension / getExtension of a 100,000-byte
//!   extension provisioned with sks-issuer), with the default framing and with
//!   javax.smartcardio-sized frames, checked at the client and at the raw APDU level.
//! * Malformed APDUs, each answered with the status word the README names, the card answering
//!   normally afterwards.
//!
//! pcscd/vpcd facts this file relies on (and documents; see `short_header_*`): APDUs shorter
//! than 4 bytes never reach the card over PC/SC, so the short-header case is also tested
//! in-process through `applet::Card::process`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use apdu_spec::envelope::{
    call_apdus, extended_apdu, get_response_apdu, select_apdu, split_response, sw, AID,
    MAX_CALL_DATA, MAX_RESPONSE_CHUNK,
};
use apdu_spec::{
    decode_response, DeviceInfo, ErrorCode, GetDeviceInfo, GetExtensionArgs, Method, MethodId, Uri,
    Wire,
};
use conformance_tests::{transmit, CardUnderTest, MAX_RESPONSE};
use pcsc_bridge::{CallOptions, PcscTransport, Sks};

// ------------------------------------------------------------------------------------------
// Helpers

/// getDeviceInfo, ISO case 2E, Le = 65,536.
const GET_DEVICE_INFO: [u8; 7] = [0x80, 0x52, 0x01, 0x00, 0x00, 0x00, 0x00];

/// The mandatory algorithms of spec 002 section 4.1, copied from the spec text.
const MANDATORY_ALGORITHMS: &[&str] = &[
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes192-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
    "https://webpki.github.io/sks/algorithm#aes.cbc",
    "https://webpki.github.io/sks/algorithm#aes.ecb.nopad",
    "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
    "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#hmac-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#hmac-sha512",
    "https://webpki.github.io/sks/algorithm#rsa.es.pkcs1_5",
    "https://webpki.github.io/sks/algorithm#rsa.oaep.sha1",
    "https://webpki.github.io/sks/algorithm#rsa.oaep.sha256",
    "https://webpki.github.io/sks/algorithm#ecdh.raw",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
    "https://webpki.github.io/sks/algorithm#rsa.pkcs1.none",
    "https://webpki.github.io/sks/algorithm#ecdsa.none",
    "https://webpki.github.io/sks/algorithm#rsa1024",
    "https://webpki.github.io/sks/algorithm#rsa2048",
    "https://webpki.github.io/sks/algorithm#ec.nist.p256",
    "https://webpki.github.io/sks/algorithm#ec.nist.p384",
    "https://webpki.github.io/sks/algorithm#ec.nist.p521",
];

/// A fresh in-memory card in a reader of the process-wide private pcscd.
fn start_card() -> CardUnderTest<'static> {
    CardUnderTest::start(applet::open_card(None).expect("open an in-memory card"))
}

/// The Rust client over PC/SC, connected to `cut`'s reader (SELECT done).
fn client(cut: &CardUnderTest<'_>, options: CallOptions) -> Sks<PcscTransport> {
    let reader = cut.reader_name().to_string_lossy().into_owned();
    let transport =
        PcscTransport::connect_with_context(cut.context(), Some(&reader), Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("connect pcsc-bridge to {reader:?}: {e}"));
    Sks::with_options(transport, options)
}

/// A raw PC/SC connection with the applet selected.
fn raw_selected(cut: &CardUnderTest<'_>) -> pcsc::Card {
    let card = cut.connect();
    let r = transmit(&card, &select_apdu());
    assert_eq!(r, [0x90, 0x00], "SELECT of the SKS applet");
    card
}

fn sw_of(resp: &[u8]) -> u16 {
    split_response(resp)
        .unwrap_or_else(|| panic!("response shorter than a status word: {resp:02X?}"))
        .1
}

/// Sends `apdu`, asserts the status word and that an error status carries no data.
#[track_caller]
fn expect_sw(card: &pcsc::Card, apdu: &[u8], expected: u16, what: &str) -> Vec<u8> {
    let resp = transmit(card, apdu);
    let (data, got) = split_response(&resp).expect("status word");
    assert_eq!(
        got,
        expected,
        "{what}: expected SW {expected:04X}, got {got:04X} (APDU {})",
        abbrev(apdu)
    );
    if got != sw::OK && got >> 8 != 0x61 {
        assert!(
            data.is_empty(),
            "{what}: an envelope error carries no data, got {} bytes",
            data.len()
        );
    }
    data.to_vec()
}

/// A valid getDeviceInfo answers `9000` with a decodable DeviceInfo (the card still works).
#[track_caller]
fn assert_alive(card: &pcsc::Card, after: &str) -> DeviceInfo {
    let resp = transmit(card, &GET_DEVICE_INFO);
    let (data, got) = split_response(&resp).expect("status word");
    assert_eq!(
        got,
        sw::OK,
        "getDeviceInfo after {after}: expected 9000, got {got:04X}"
    );
    match decode_response::<GetDeviceInfo>(data) {
        Ok(Ok(info)) => info,
        other => panic!("getDeviceInfo after {after}: bad response {other:?}"),
    }
}

fn abbrev(apdu: &[u8]) -> String {
    let shown: Vec<String> = apdu.iter().take(12).map(|b| format!("{b:02X}")).collect();
    if apdu.len() > 12 {
        format!("{} ... ({} bytes)", shown.join(" "), apdu.len())
    } else {
        shown.join(" ")
    }
}

/// Deterministic, non-repeating-looking test data.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(12345);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 7) as u8
        })
        .collect()
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("sks-envelope-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a command, panics loudly if it cannot be started; returns (success, stdout+stderr).
fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (is it installed?): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

// ------------------------------------------------------------------------------------------
// 1. getDeviceInfo through the Rust client, device certificate checked with openssl

#[test]
fn device_info_over_pcsc() {
    let cut = start_card();
    let mut sks = client(&cut, CallOptions::default());
    let info = sks.get_device_info().expect("getDeviceInfo over PC/SC");

    assert_eq!(info.api_level, 100, "apiLevel");
    assert_eq!(info.certificates.len(), 2, "device certificate path length");
    assert!(
        !info.supported_algorithms.is_empty(),
        "supportedAlgorithm list is empty"
    );
    let algorithms: Vec<&str> = info.supported_algorithms.iter().map(|u| &**u).collect();
    let missing: Vec<&&str> = MANDATORY_ALGORITHMS
        .iter()
        .filter(|a| !algorithms.contains(a))
        .collect();
    assert!(
        missing.is_empty(),
        "mandatory algorithms (spec 4.1) missing from getDeviceInfo: {missing:?}"
    );
    assert!(
        info.crypto_data_size >= 16_384,
        "cryptoDataSize {}",
        info.crypto_data_size
    );
    assert!(
        info.extension_data_size >= 65_536,
        "extensionDataSize {}",
        info.extension_data_size
    );
    assert!(!info.vendor_name.is_empty() && info.vendor_name.chars().count() <= 128);
    assert!(!info.vendor_description.is_empty() && info.vendor_description.chars().count() <= 1000);

    // The same bytes through a plain transmit (no client logic) decode to the same value.
    let raw = sks.transmit(&GET_DEVICE_INFO).expect("raw getDeviceInfo");
    let (data, status) = split_response(&raw).unwrap();
    assert_eq!(status, sw::OK);
    let again = decode_response::<GetDeviceInfo>(data).unwrap().unwrap();
    assert_eq!(again, info);

    // openssl: every certificate parses; the device certificate verifies against the second.
    let dir = TempDir::new("devinfo");
    let mut pems = Vec::new();
    for (i, cert) in info.certificates.iter().enumerate() {
        let der = dir.path().join(format!("cert{i}.der"));
        std::fs::write(&der, &cert.0).unwrap();
        let (ok, text) = run(Command::new("openssl")
            .args(["x509", "-inform", "DER", "-noout", "-text", "-in"])
            .arg(&der));
        assert!(ok, "openssl x509 cannot parse certificate {i}:\n{text}");
        assert!(text.contains("Certificate:"), "openssl output:\n{text}");
        let pem = dir.path().join(format!("cert{i}.pem"));
        let (ok, text) = run(Command::new("openssl")
            .args(["x509", "-inform", "DER", "-in"])
            .arg(&der)
            .arg("-out")
            .arg(&pem));
        assert!(ok, "openssl x509 DER->PEM of certificate {i}:\n{text}");
        pems.push(pem);
    }
    let (ok, text) = run(Command::new("openssl")
        .args(["verify", "-partial_chain", "-CAfile"])
        .arg(&pems[1])
        .arg(&pems[0]));
    assert!(
        ok && text.contains(": OK"),
        "openssl verify of the device certificate against the second certificate failed:\n{text}"
    );
    // And it does not verify against an unrelated anchor (the check can fail).
    let (ok, _) = run(Command::new("openssl")
        .args(["verify", "-partial_chain", "-CAfile"])
        .arg(&pems[0])
        .arg(&pems[1]));
    assert!(
        !ok,
        "the CA certificate must not verify under the device certificate"
    );
}

// ------------------------------------------------------------------------------------------
// 2. A chained call ≥ 70,000 bytes and a response ≥ 65,536 bytes, with real methods

const EXTENSION_SIZE: usize = 100_000;
const TYPE_CLIENT: &str = "https://example.com/conformance/big-client";
const TYPE_RAW: &str = "https://example.com/conformance/big-raw";

fn large_call_and_response(options: CallOptions) {
    let cut = start_card();
    let mut sks = client(&cut, options.clone());
    let info = sks.get_device_info().expect("getDeviceInfo");
    assert!(
        info.extension_data_size as usize >= EXTENSION_SIZE,
        "extensionDataSize {} < {EXTENSION_SIZE}",
        info.extension_data_size
    );
    let data_client = pattern(EXTENSION_SIZE, 1);
    let data_raw = pattern(EXTENSION_SIZE, 2);

    let issuer = sks_issuer::Issuer::new().expect("issuer");
    let key_handle = {
        let mut s = issuer
            .session(&mut sks)
            .open()
            .expect("createProvisioningSession over PC/SC");
        let key = s.key("Big.1").create().expect("createKeyEntry");
        let key = s.certify(&key).expect("setCertificatePath");

        // (a) through pcsc-bridge, which chains with options.max_chunk.
        s.extension(&key, TYPE_CLIENT, &data_client)
            .unwrap_or_else(|e| {
                panic!(
                    "addExtension of 100,000 bytes through pcsc-bridge with chained parts of {} \
                     bytes (APDUs of {} bytes; vpcd carries at most 65,535): {e}",
                    options.max_chunk,
                    options.max_chunk + 7
                )
            });

        // (b) the same method sent as raw chained APDUs: every part but the last answers a bare
        // 9000, the last one the SKS response.
        let args = s
            .state_mut()
            .extension_args(&key, TYPE_RAW, 0, "", &data_raw)
            .expect("addExtension arguments");
        let body = args.to_wire().expect("encode addExtension");
        assert!(
            body.len() >= 70_000,
            "addExtension call is {} bytes",
            body.len()
        );
        let apdus = call_apdus(
            MethodId::AddExtension as u8,
            &body,
            options.max_chunk,
            options.le,
        );
        let expected_parts = body.len().div_ceil(options.max_chunk);
        assert_eq!(apdus.len(), expected_parts);
        assert!(apdus.len() >= 2, "the call must be chained");
        let last = apdus.len() - 1;
        for (i, apdu) in apdus.iter().enumerate() {
            assert_eq!(apdu[0], if i == last { 0x80 } else { 0x90 });
            let resp = s.sks().transmit(apdu).expect("transmit chained part");
            if i < last {
                assert_eq!(resp, [0x90, 0x00], "chained part {i} of {}", apdus.len());
            } else {
                assert_eq!(
                    resp,
                    [0x00, 0x90, 0x00],
                    "last part: addExtension succeeded"
                );
            }
        }
        s.close().expect("closeProvisioningSession");
        key.handle
    };

    // getExtension through the client (GET RESPONSE handled by pcsc-bridge).
    for (type_uri, data) in [(TYPE_CLIENT, &data_client), (TYPE_RAW, &data_raw)] {
        let out = sks
            .get_extension(&GetExtensionArgs {
                key_handle,
                r#type: Uri::new(type_uri).unwrap(),
            })
            .unwrap_or_else(|e| panic!("getExtension {type_uri}: {e}"));
        assert_eq!(out.sub_type, 0);
        assert_eq!(out.qualifier, "");
        assert_eq!(out.extension_data.0.len(), EXTENSION_SIZE, "{type_uri}");
        assert!(out.extension_data.0 == *data, "{type_uri}: bytes differ");
    }

    // The raw APDU level: the answer to the call carries 61xx, the rest comes with GET RESPONSE.
    let call = GetExtensionArgs {
        key_handle,
        r#type: Uri::new(TYPE_RAW).unwrap(),
    }
    .to_wire()
    .unwrap();
    let mut expected = vec![0x00, 0x00, 0x00, 0x00]; // status, subType, empty qualifier
    expected.extend_from_slice(&(EXTENSION_SIZE as u32).to_be_bytes());
    expected.extend_from_slice(&data_raw);
    assert!(expected.len() >= 65_536);

    let per_apdu = if options.le == 0 {
        MAX_RESPONSE_CHUNK
    } else {
        usize::from(options.le).min(MAX_RESPONSE_CHUNK)
    };
    let card = sks.transport().pcsc_card().expect("PC/SC card handle");
    let mut buf = vec![0u8; MAX_RESPONSE];
    let apdus = call_apdus(MethodId::GetExtension as u8, &call, 0xFFFF, options.le);
    assert_eq!(apdus.len(), 1);
    let mut got = Vec::new();
    let mut command = apdus[0].clone();
    let mut exchanges = 0;
    loop {
        let resp = card
            .transmit(&command, &mut buf)
            .unwrap_or_else(|e| panic!("SCardTransmit: {e}"));
        let (data, status) = split_response(resp).unwrap();
        got.extend_from_slice(data);
        let remaining = expected.len() - got.len();
        if exchanges == 0 {
            assert_eq!(
                status >> 8,
                0x61,
                "the first answer to getExtension must carry 61xx, got {status:04X}"
            );
        }
        exchanges += 1;
        if remaining == 0 {
            assert_eq!(status, sw::OK, "last piece");
            assert!(data.len() <= per_apdu);
            break;
        }
        assert_eq!(
            data.len(),
            per_apdu,
            "piece {exchanges}: full chunk expected"
        );
        let xx = u8::try_from(remaining).unwrap_or(0);
        assert_eq!(status, u16::from_be_bytes([0x61, xx]), "piece {exchanges}");
        command = get_response_apdu(options.le);
        assert!(exchanges < 100, "runaway GET RESPONSE loop");
    }
    assert_eq!(exchanges, expected.len().div_ceil(per_apdu));
    assert!(got == expected, "reassembled getExtension response differs");
    // Everything was fetched: nothing pending any more.
    let resp = card.transmit(&get_response_apdu(0), &mut buf).unwrap();
    assert_eq!(sw_of(resp), sw::CONDITIONS_NOT_SATISFIED);
}

/// pcsc-bridge's default framing: chained parts of MAX_COMMAND_CHUNK (65,526) data bytes, the
/// largest a vpcd frame carries with header, extended Lc and Le (apdu-spec README 4.3).
#[test]
fn chained_call_and_get_response_default_framing() {
    let options = CallOptions::default();
    assert_eq!(
        (options.max_chunk, options.le),
        (apdu_spec::envelope::MAX_COMMAND_CHUNK, 0)
    );
    assert_eq!(
        options.max_chunk + 9,
        65_535,
        "header + Lc + Le fill a vpcd frame"
    );
    large_call_and_response(options);
}

#[test]
fn chained_call_and_get_response_javax_smartcardio_framing() {
    let options = CallOptions::JAVAX_SMARTCARDIO;
    assert_eq!((options.max_chunk, options.le), (8191, 8190));
    large_call_and_response(options);
}

/// README 4.4: a call sent without Le gets no data, only 61xx; GET RESPONSE fetches it all.
#[test]
fn call_without_le_answers_61xx_only() {
    let cut = start_card();
    let card = raw_selected(&cut);
    let expected = assert_alive(&card, "SELECT");
    let resp = transmit(&card, &[0x80, 0x52, 0x01, 0x00]);
    let (data, status) = split_response(&resp).unwrap();
    assert!(data.is_empty(), "case 1 call returned {} bytes", data.len());
    assert_eq!(status >> 8, 0x61, "case 1 call: {status:04X}");
    let resp = transmit(&card, &get_response_apdu(0));
    let (data, status) = split_response(&resp).unwrap();
    assert_eq!(status, sw::OK);
    assert_eq!(
        decode_response::<GetDeviceInfo>(data).unwrap().unwrap(),
        expected
    );
    let announced = usize::from((sw_of(&transmit(&card, &[0x80, 0x52, 0x01, 0x00]))) & 0xFF);
    assert!(announced == 0 || announced == data.len());
    // A smaller GET RESPONSE Le is honoured.
    let resp = transmit(&card, &get_response_apdu(16));
    let (piece, status) = split_response(&resp).unwrap();
    assert_eq!(piece, &data[..16]);
    assert_eq!(status >> 8, 0x61);
}

// ------------------------------------------------------------------------------------------
// 4. Malformed APDUs

/// Short header over PC/SC. pcsc-lite 1.9.9 and vpcd carry commands of 1-3 bytes to the card
/// unchanged; the card answers `6700`. (Measured; not tested because it would break the reader:
/// a 0-byte command is not sent by vpcd at all, vpcd then waits for an answer forever and the
/// reader is blocked; and a 1-byte command 00, 01, 02 or 04 is indistinguishable from a vpcd
/// control message (power off, power on, reset, get ATR). Both are tested in-process below.)
#[test]
fn short_header_over_pcsc() {
    let cut = start_card();
    let card = raw_selected(&cut);
    for apdu in [&[0x80u8, 0x52, 0x01][..], &[0x80, 0x52][..], &[0x80][..]] {
        let resp = transmit(&card, apdu);
        assert_eq!(
            resp,
            [0x67, 0x00],
            "{}-byte APDU over PC/SC: expected 6700",
            apdu.len()
        );
        assert_alive(&card, &format!("a {}-byte APDU", apdu.len()));
    }
}

/// vpcd frames carry at most 65,535 bytes (2-byte length): a command APDU of 65,535 bytes
/// reaches the card; one of 65,536 bytes fails in SCardTransmit with SCARD_E_NOT_TRANSACTED
/// (pcscd log: "ifd-vpcd.c IFDHTransmitToICC() could not send apdu or receive rapdu") and vpcd
/// drops the card's connection. The adapter reconnects within a second, so the card is power
/// cycled (selection lost) without pcscd noticing a removal: PC/SC clients get no reset
/// notification, only `6985` until they SELECT again. So a command data field is at most
/// 65,528 bytes without Le and 65,526 bytes with an extended Le.
#[test]
fn vpcd_frame_limit() {
    let cut = start_card();
    let mut card = raw_selected(&cut);
    let mut buf = vec![0u8; MAX_RESPONSE];
    // 7 + 65,526 + 2 = 65,535 bytes: carried (an enumerateProvisioningSessions with garbage
    // arguments: SKS error, SW 9000).
    let fits = extended_apdu(0x80, 0x52, 0x04, 0x00, &[0xAB; 65_526], Some(0));
    assert_eq!(fits.len(), 65_535);
    let data = expect_sw(&card, &fits, sw::OK, "65,535-byte APDU");
    assert_eq!(data.first(), Some(&(ErrorCode::Option as u8)));
    // One byte more: not carried.
    let too_big = extended_apdu(0x80, 0x52, 0x04, 0x00, &[0xAB; 65_527], Some(0));
    assert_eq!(too_big.len(), 65_536);
    match card.transmit(&too_big, &mut buf) {
        Err(e) => assert_eq!(e, pcsc::Error::NotTransacted, "65,536-byte APDU"),
        Ok(resp) => panic!(
            "a 65,536-byte APDU passed vpcd (SW {:04X}): the frame limit changed",
            sw_of(resp)
        ),
    }
    // Wait until the card answers again (reconnecting the handle should pcscd have seen a
    // removal), then check that it lost its volatile state and works after SELECT.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let first = loop {
        match card.transmit(&GET_DEVICE_INFO, &mut buf) {
            Ok(resp) => break resp.to_vec(),
            Err(pcsc::Error::NotTransacted) => {}
            Err(pcsc::Error::ResetCard | pcsc::Error::RemovedCard) => {
                cut.wait_present();
                let _ = card.reconnect(
                    pcsc::ShareMode::Shared,
                    pcsc::Protocols::ANY,
                    pcsc::Disposition::LeaveCard,
                );
            }
            Err(e) => panic!("after the oversize APDU: {e}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the card did not come back within 10 s after vpcd dropped it"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        sw_of(&first),
        sw::CONDITIONS_NOT_SATISFIED,
        "after vpcd dropped the connection the card was power cycled: selection lost"
    );
    expect_sw(&card, &select_apdu(), sw::OK, "SELECT after the drop");
    assert_alive(&card, "an APDU vpcd could not carry");
}

/// The card's answer to APDUs shorter than a header, without pcscd in between.
#[test]
fn short_header_in_process() {
    let mut card = applet::open_card(None).expect("open card");
    card.power_on();
    assert_eq!(card.process(&select_apdu()), [0x90, 0x00]);
    for apdu in [
        &[][..],
        &[0x80u8][..],
        &[0x80, 0x52][..],
        &[0x80, 0x52, 0x01][..],
    ] {
        let resp = card.process(apdu);
        assert_eq!(
            resp,
            [0x67, 0x00],
            "{}-byte APDU: expected 6700",
            apdu.len()
        );
        let resp = card.process(&GET_DEVICE_INFO);
        assert_eq!(sw_of(&resp), sw::OK, "getDeviceInfo after a short APDU");
        assert_eq!(resp[0], 0x00);
    }
}

#[test]
fn lc_mismatch_is_wrong_length() {
    let cut = start_card();
    let card = raw_selected(&cut);
    let cases: [(&str, Vec<u8>); 6] = [
        // Extended Lc = 5, only 3 data bytes.
        (
            "extended Lc > data",
            vec![0x80, 0x52, 0x04, 0x00, 0x00, 0x00, 0x05, 1, 2, 3],
        ),
        // Extended Lc = 2, 5 data bytes and no room for a 2-byte Le.
        (
            "extended Lc < data",
            vec![0x80, 0x52, 0x04, 0x00, 0x00, 0x00, 0x02, 1, 2, 3, 4, 5],
        ),
        // Short Lc = 5, only 2 data bytes.
        ("short Lc > data", vec![0x80, 0x52, 0x04, 0x00, 0x05, 1, 2]),
        // Short Lc = 1, 4 data bytes.
        (
            "short Lc < data",
            vec![0x80, 0x52, 0x04, 0x00, 0x01, 1, 2, 3, 4],
        ),
        // Extended length marker with a truncated Lc/Le.
        (
            "truncated extended length",
            vec![0x80, 0x52, 0x01, 0x00, 0x00, 0x00],
        ),
        // Extended Lc = 0 (not allowed: 00 00 00 with data following).
        (
            "extended Lc = 0 with data",
            vec![0x80, 0x52, 0x04, 0x00, 0x00, 0x00, 0x00, 1, 2, 3, 4, 5],
        ),
    ];
    for (what, apdu) in &cases {
        expect_sw(&card, apdu, sw::WRONG_LENGTH, what);
        assert_alive(&card, what);
    }
}

#[test]
fn unknown_class_instruction_method_and_p2() {
    let cut = start_card();
    let card = raw_selected(&cut);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "CLA 40",
            vec![0x40, 0x52, 0x01, 0x00, 0x00, 0x00, 0x00],
            sw::CLA_NOT_SUPPORTED,
        ),
        (
            "CLA A0",
            vec![0xA0, 0x52, 0x01, 0x00, 0x00, 0x00, 0x00],
            sw::CLA_NOT_SUPPORTED,
        ),
        (
            "CLA 84 (secure messaging)",
            vec![0x84, 0x52, 0x01, 0x00, 0x00, 0x00, 0x00],
            sw::CLA_NOT_SUPPORTED,
        ),
        (
            "CLA 81 (logical channel 1)",
            vec![0x81, 0x52, 0x01, 0x00, 0x00, 0x00, 0x00],
            sw::CLA_NOT_SUPPORTED,
        ),
        (
            "CLA 20 (RFU class)",
            vec![0x20, 0x52, 0x01, 0x00, 0x00, 0x00, 0x00],
            sw::CLA_NOT_SUPPORTED,
        ),
        (
            "CLA 80 INS 60",
            vec![0x80, 0x60, 0x00, 0x00],
            sw::INS_NOT_SUPPORTED,
        ),
        (
            "CLA 80 INS 50",
            vec![0x80, 0x50, 0x00, 0x00, 0x00, 0x00, 0x00],
            sw::INS_NOT_SUPPORTED,
        ),
        (
            "CLA 00 INS 52 (call with the interindustry class)",
            vec![0x00, 0x52, 0x01, 0x00, 0x00, 0x00, 0x00],
            sw::INS_NOT_SUPPORTED,
        ),
        (
            "CLA 00 INS B0 (READ BINARY)",
            vec![0x00, 0xB0, 0x00, 0x00, 0x00],
            sw::INS_NOT_SUPPORTED,
        ),
        (
            "method id 0 in P1",
            vec![0x80, 0x52, 0x00, 0x00, 0x00, 0x00, 0x00],
            sw::INCORRECT_P1P2,
        ),
        (
            "method id 6 in P1 (not a method)",
            vec![0x80, 0x52, 0x06, 0x00, 0x00, 0x00, 0x00],
            sw::INCORRECT_P1P2,
        ),
        (
            "method id 16 in P1 (not a method)",
            vec![0x80, 0x52, 0x10, 0x00, 0x00, 0x00, 0x00],
            sw::INCORRECT_P1P2,
        ),
        (
            "method id 105 in P1 (not a method)",
            vec![0x80, 0x52, 0x69, 0x00, 0x00, 0x00, 0x00],
            sw::INCORRECT_P1P2,
        ),
        (
            "method id 255 in P1",
            vec![0x80, 0x52, 0xFF, 0x00, 0x00, 0x00, 0x00],
            sw::INCORRECT_P1P2,
        ),
        (
            "P2 = 01",
            vec![0x80, 0x52, 0x01, 0x01, 0x00, 0x00, 0x00],
            sw::INCORRECT_P1P2,
        ),
        (
            "P2 = FF with data",
            extended_apdu(0x80, 0x52, 0x04, 0xFF, &[0, 0, 0, 0, 1], Some(0)),
            sw::INCORRECT_P1P2,
        ),
        (
            "SELECT with P1 = 00",
            [&[0x00, 0xA4, 0x00, 0x00, 0x06][..], &AID].concat(),
            sw::INCORRECT_P1P2,
        ),
        (
            "GET RESPONSE with P1 = 01",
            vec![0x00, 0xC0, 0x01, 0x00, 0x00, 0x00, 0x00],
            sw::INCORRECT_P1P2,
        ),
    ];
    for (what, apdu, expected) in &cases {
        expect_sw(&card, apdu, *expected, what);
        assert_alive(&card, what);
    }
    // SELECT of another AID: 6A82; after re-selecting ours the card answers normally.
    let other = [
        0x00, 0xA4, 0x04, 0x00, 0x06, 0xF0, 0x53, 0x4B, 0x53, 0x02, 0x00,
    ];
    expect_sw(&card, &other, sw::FILE_NOT_FOUND, "SELECT of another AID");
    expect_sw(&card, &select_apdu(), sw::OK, "SELECT again");
    assert_alive(&card, "SELECT of another AID");
    // SELECT with P2 = 00 and Le returns the FCI (README 4.1).
    let with_le = [&select_apdu()[..], &[0x00]].concat();
    let fci = expect_sw(&card, &with_le, sw::OK, "SELECT with Le");
    assert_eq!(fci, [&[0x6F, 0x08, 0x84, 0x06][..], &AID].concat());
    assert_alive(&card, "SELECT with Le");
}

#[test]
fn call_before_select_is_conditions_not_satisfied() {
    // A fresh card: nothing has selected the applet since power-on.
    let cut = start_card();
    let card = cut.connect();
    expect_sw(
        &card,
        &GET_DEVICE_INFO,
        sw::CONDITIONS_NOT_SATISFIED,
        "call before SELECT",
    );
    expect_sw(
        &card,
        &[0x90, 0x52, 0x0F, 0x00, 0x00, 0x00, 0x02, 0xAA, 0xBB],
        sw::CONDITIONS_NOT_SATISFIED,
        "chained part before SELECT",
    );
    expect_sw(&card, &select_apdu(), sw::OK, "SELECT");
    assert_alive(&card, "SELECT");

    // A warm reset (SCardReconnect with SCARD_RESET_CARD) clears the selection again.
    let mut card = card;
    card.reconnect(
        pcsc::ShareMode::Shared,
        pcsc::Protocols::ANY,
        pcsc::Disposition::ResetCard,
    )
    .expect("SCardReconnect(RESET)");
    expect_sw(
        &card,
        &GET_DEVICE_INFO,
        sw::CONDITIONS_NOT_SATISFIED,
        "call after reset",
    );
    expect_sw(&card, &select_apdu(), sw::OK, "SELECT after reset");
    assert_alive(&card, "SELECT after reset");
}

#[test]
fn chaining_abuse() {
    let cut = start_card();
    let card = raw_selected(&cut);
    let part = |p1: u8, p2: u8| extended_apdu(0x90, 0x52, p1, p2, &[0xAA; 10], None);

    // A chained part followed by a call with another P1: 6883.
    expect_sw(&card, &part(0x0F, 0), sw::OK, "chained addExtension part");
    expect_sw(
        &card,
        &GET_DEVICE_INFO,
        sw::LAST_COMMAND_EXPECTED,
        "getDeviceInfo inside an addExtension chain",
    );
    // The chain was discarded: the next call is processed normally.
    assert_alive(&card, "a broken chain");

    // ... followed by a chained part with another P1: 6883 as well.
    expect_sw(&card, &part(0x0F, 0), sw::OK, "chained part");
    expect_sw(
        &card,
        &part(0x48, 0),
        sw::LAST_COMMAND_EXPECTED,
        "part with another P1",
    );
    assert_alive(&card, "a chain broken by another chained P1");

    // ... followed by a call with the same P1 but another P2: 6883.
    expect_sw(&card, &part(0x04, 0), sw::OK, "chained part");
    expect_sw(
        &card,
        &extended_apdu(0x80, 0x52, 0x04, 0x01, &[0xAA], Some(0)),
        sw::LAST_COMMAND_EXPECTED,
        "last part with another P2",
    );
    assert_alive(&card, "a chain broken by another P2");

    // A chain interrupted by SELECT: SELECT is processed, the chain is gone.
    expect_sw(&card, &part(0x0F, 0), sw::OK, "chained part");
    expect_sw(&card, &select_apdu(), sw::OK, "SELECT inside a chain");
    assert_alive(&card, "a chain broken by SELECT");

    // A chain interrupted by GET RESPONSE: processed normally (nothing pending: 6985).
    expect_sw(&card, &part(0x0F, 0), sw::OK, "chained part");
    expect_sw(
        &card,
        &get_response_apdu(0),
        sw::CONDITIONS_NOT_SATISFIED,
        "GET RESPONSE inside a chain",
    );
    assert_alive(&card, "a chain broken by GET RESPONSE");

    // The chaining bit on SELECT and GET RESPONSE: 6884.
    let mut chained_select = select_apdu();
    chained_select[0] |= 0x10;
    expect_sw(
        &card,
        &chained_select,
        sw::CHAINING_NOT_SUPPORTED,
        "SELECT with CLA 10",
    );
    assert_alive(&card, "SELECT with the chaining bit");
    let mut chained_gr = get_response_apdu(0);
    chained_gr[0] |= 0x10;
    expect_sw(
        &card,
        &chained_gr,
        sw::CHAINING_NOT_SUPPORTED,
        "GET RESPONSE with CLA 10",
    );
    assert_alive(&card, "GET RESPONSE with the chaining bit");

    // After all that abuse a well-formed chain still works: enumerateProvisioningSessions
    // (handle 0, open sessions) split into parts of 2 and 3 bytes.
    expect_sw(
        &card,
        &extended_apdu(0x90, 0x52, 0x04, 0x00, &[0, 0], None),
        sw::OK,
        "first part of a 5-byte call",
    );
    let data = expect_sw(
        &card,
        &extended_apdu(0x80, 0x52, 0x04, 0x00, &[0, 0, 1], Some(0)),
        sw::OK,
        "last part of a 5-byte call",
    );
    assert_eq!(
        data,
        [0, 0, 0, 0, 0],
        "enumerateProvisioningSessions(0, true) on an empty card"
    );
}

#[test]
fn get_response_with_nothing_pending() {
    let cut = start_card();
    let card = raw_selected(&cut);
    expect_sw(
        &card,
        &get_response_apdu(0),
        sw::CONDITIONS_NOT_SATISFIED,
        "GET RESPONSE right after SELECT",
    );
    assert_alive(&card, "GET RESPONSE with nothing pending");
    // After a response that was returned completely.
    expect_sw(
        &card,
        &[0x80, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00],
        sw::CONDITIONS_NOT_SATISFIED,
        "GET RESPONSE (CLA 80) after a complete response",
    );
    // Short form GET RESPONSE.
    expect_sw(
        &card,
        &[0x00, 0xC0, 0x00, 0x00, 0x00],
        sw::CONDITIONS_NOT_SATISFIED,
        "short GET RESPONSE",
    );
    // Pending data is discarded by any other command (ISO 7816-4 5.3.4).
    let resp = transmit(&card, &[0x80, 0x52, 0x01, 0x00]);
    assert_eq!(
        sw_of(&resp) >> 8,
        0x61,
        "call without Le leaves data pending"
    );
    expect_sw(
        &card,
        &select_apdu(),
        sw::OK,
        "SELECT discards pending data",
    );
    expect_sw(
        &card,
        &get_response_apdu(0),
        sw::CONDITIONS_NOT_SATISFIED,
        "GET RESPONSE after SELECT discarded the pending data",
    );
    assert_alive(&card, "discarded response");
}

#[test]
fn oversize_chain_is_wrong_length() {
    let cut = start_card();
    let card = raw_selected(&cut);
    // The largest chained part vpcd can carry (see `vpcd_frame_limit`): 7 + 65,528 bytes.
    const PART: usize = 65_528;
    let full = vec![0x5A; PART];
    let send_four = |what: &str| {
        for i in 0..4 {
            expect_sw(
                &card,
                &extended_apdu(0x90, 0x52, 0x0F, 0x00, &full, None),
                sw::OK,
                &format!("{what}: chained part {i}"),
            );
        }
    };
    // 4 × 65,528 = 262,112 bytes fit MAX_CALL_DATA (262,144).
    const { assert!(4 * PART < MAX_CALL_DATA) };
    send_four("oversize call");
    // The last part brings the call to 262,212 bytes: 6700.
    expect_sw(
        &card,
        &extended_apdu(0x80, 0x52, 0x0F, 0x00, &[0x5A; 100], Some(0)),
        sw::WRONG_LENGTH,
        "call of 262,212 bytes",
    );
    assert_alive(&card, "an oversize chain");

    // Exceeding in a chained part: 6700 at once.
    send_four("oversize chained part");
    expect_sw(
        &card,
        &extended_apdu(0x90, 0x52, 0x0F, 0x00, &[0x5A; 100], None),
        sw::WRONG_LENGTH,
        "chained part beyond 262,144 bytes",
    );
    assert_alive(&card, "an oversize chained part");

    // Exactly MAX_CALL_DATA passes the envelope (the call itself is then an invalid
    // addExtension: an SKS error with SW 9000).
    send_four("maximal call");
    let data = expect_sw(
        &card,
        &extended_apdu(
            0x80,
            0x52,
            0x0F,
            0x00,
            &[0x5A; MAX_CALL_DATA - 4 * PART],
            Some(0),
        ),
        sw::OK,
        "call of exactly 262,144 bytes",
    );
    assert!(
        !data.is_empty() && data[0] != 0,
        "a garbage addExtension must fail"
    );
    assert_alive(&card, "a maximal call");
}

/// Arguments that do not decode: SW 9000 with SKS ERROR_OPTION ‖ message.
#[test]
fn malformed_arguments_are_error_option() {
    let cut = start_card();
    let card = raw_selected(&cut);
    let get_extension = MethodId::GetExtension as u8;
    let enumerate = MethodId::EnumerateProvisioningSessions as u8;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "getExtension truncated",
            extended_apdu(0x80, 0x52, get_extension, 0, &[0, 0, 1], Some(0)),
        ),
        (
            "getExtension uri length beyond the data",
            extended_apdu(
                0x80,
                0x52,
                get_extension,
                0,
                &[0, 0, 0, 1, 0, 9, b'a'],
                Some(0),
            ),
        ),
        (
            "getDeviceInfo with a trailing byte",
            extended_apdu(0x80, 0x52, 0x01, 0, &[0xFF], Some(0)),
        ),
        (
            "enumerateProvisioningSessions with bool 02",
            extended_apdu(0x80, 0x52, enumerate, 0, &[0, 0, 0, 0, 2], Some(0)),
        ),
        (
            "enumerateProvisioningSessions with a trailing byte",
            extended_apdu(0x80, 0x52, enumerate, 0, &[0, 0, 0, 0, 1, 0], Some(0)),
        ),
        (
            "getExtension with invalid UTF-8 in the uri",
            extended_apdu(
                0x80,
                0x52,
                get_extension,
                0,
                &[0, 0, 0, 1, 0, 2, 0xC3, 0x28],
                Some(0),
            ),
        ),
    ];
    for (what, apdu) in &cases {
        let data = expect_sw(&card, apdu, sw::OK, what);
        assert!(!data.is_empty(), "{what}: no SKS response");
        assert_eq!(
            data[0],
            ErrorCode::Option as u8,
            "{what}: expected ERROR_OPTION, got status {:02X} ({data:02X?})",
            data[0]
        );
        // status ‖ string(ushort length ‖ UTF-8), nothing else.
        let n = usize::from(u16::from_be_bytes([data[1], data[2]]));
        assert_eq!(data.len(), 3 + n, "{what}: error string framing");
        assert!(std::str::from_utf8(&data[3..]).is_ok() && n > 0 && n <= 2000);
        assert_alive(&card, what);
    }
    // The same through the client: an SKS error, not an envelope error.
    let mut sks = client(&cut, CallOptions::default());
    let err = sks
        .call_raw(get_extension, &[0, 0, 1])
        .expect("transported");
    assert_eq!(err[0], ErrorCode::Option as u8);
    assert_eq!(
        <GetDeviceInfo as Method>::ID as u8,
        1,
        "getDeviceInfo is method 1"
    );
}
