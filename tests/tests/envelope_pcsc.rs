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
//! * The envelope's APDU scripts (`apdu-spec/tests/scripts/*.apdu`: malformed headers and
//!   lengths, SELECT rules, chaining and its abuse, GET RESPONSE misuse, 61xx chunking by Le,
//!   reset and power cycle, unknown CLA/INS/method id, undecodable arguments), each answered
//!   with the status word the README names, the card answering normally afterwards; the same
//!   files run in process in `cargo test -p applet --test apdu_scripts`.
//! * The vpcd frame limit.
//!
//! pcscd/vpcd facts this file relies on (and the scripts mark with `in-process-only`): a 0-byte
//! APDU is not sent by vpcd at all (the reader would block), and an APDU longer than 65,535
//! bytes does not fit a vpcd frame (see `vpcd_frame_limit`).

use std::process::Command;
use std::time::Duration;

use apdu_spec::envelope::{
    call_apdus, extended_apdu, get_response_apdu, select_apdu, split_response, sw,
    MAX_RESPONSE_CHUNK,
};
use apdu_spec::script::{run_all, Power, Transport};
use apdu_spec::{
    decode_response, DeviceInfo, ErrorCode, GetDeviceInfo, GetExtensionArgs, Method, MethodId, Uri,
    Wire,
};
use conformance_tests::{transmit, CardUnderTest, TempDir, MAX_RESPONSE};
use pcsc_bridge::CallOptions;

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
    let mut sks = cut.client();
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
    let dir = TempDir::new("envelope-devinfo");
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
    let mut sks = cut.client_with(options.clone());
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

/// Arguments that do not decode reach the client as an SKS error, not an envelope error (the
/// raw cases are in the script `malformed_arguments.apdu`).
#[test]
fn malformed_arguments_are_an_sks_error_at_the_client() {
    let cut = start_card();
    let mut sks = cut.client();
    let err = sks
        .call_raw(MethodId::GetExtension as u8, &[0, 0, 1])
        .expect("transported");
    assert_eq!(err[0], ErrorCode::Option as u8);
    assert_eq!(
        <GetDeviceInfo as Method>::ID as u8,
        1,
        "getDeviceInfo is method 1"
    );
}

// ------------------------------------------------------------------------------------------
// 5. The envelope's APDU scripts (apdu-spec/tests/scripts/*.apdu) over PC/SC

/// The same script files and runner as `cargo test -p applet --test apdu_scripts`, over the
/// private pcscd: one fresh card per script, `reset` as SCardReconnect(SCARD_RESET_CARD),
/// `power-cycle` as SCardReconnect(SCARD_UNPOWER_CARD). Steps marked `in-process-only` (APDUs
/// vpcd cannot carry) are skipped and listed in the output (`--nocapture`).
#[test]
fn apdu_scripts_over_pcsc() {
    let outcomes = run_all(
        Transport::Pcsc,
        || {
            let cut = start_card();
            let card = cut.connect();
            (cut, card)
        },
        |(_, card), apdu| transmit(card, apdu),
        |(_, card), power| {
            let how = match power {
                Power::Reset => pcsc::Disposition::ResetCard,
                Power::Cycle => pcsc::Disposition::UnpowerCard,
            };
            card.reconnect(pcsc::ShareMode::Shared, pcsc::Protocols::ANY, how)
                .unwrap_or_else(|e| panic!("SCardReconnect({how:?}): {e}"));
        },
    );
    let skipped: Vec<_> = outcomes.iter().flat_map(|(_, o)| &o.skipped).collect();
    println!(
        "APDU scripts over PC/SC: {} scripts, {} steps run, {} skipped by design (in-process-only)",
        outcomes.len(),
        outcomes.iter().map(|(_, o)| o.steps).sum::<usize>(),
        skipped.len()
    );
    // The scripts do mark such steps (the 0-byte APDU, parts larger than a vpcd frame).
    assert!(!skipped.is_empty());
}
