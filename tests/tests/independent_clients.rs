//! Independent clients over the same private pcscd as the Rust client:
//!
//! * `tests/py/device_info.py` (pyscard on Debian's /usr/bin/python3, its own APDU encoding and
//!   response parsing written from apdu-spec/README.md) reads getDeviceInfo; the result must
//!   equal what pcsc-bridge reads. It runs once with Le = 65,536 and once with Le = 256, which
//!   forces its own 61xx + GET RESPONSE loop.
//! * `opensc-tool` SELECTs the applet (`-s 00A4040006F0534B53010000` and the form without Le).
//!
//! Subprocesses reach the process-wide private pcscd only through `PCSCLITE_CSOCK_NAME`
//! ([`PrivatePcscd::client_env`]), set explicitly on each command.

use std::path::PathBuf;
use std::process::Command;

use apdu_spec::DeviceInfo;
use conformance_tests::{CardUnderTest, PrivatePcscd};
use serde_json::Value;

const PYTHON: &str = "/usr/bin/python3";

fn py_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("py")
        .join(name)
}

/// Runs `cmd` against the private pcscd; panics loudly if it cannot be started.
fn run_on_pcscd(cmd: &mut Command) -> (bool, String, String) {
    let (var, socket) = PrivatePcscd::shared().client_env();
    cmd.env(var, socket);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (is it installed?): {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn rust_device_info(cut: &CardUnderTest<'_>) -> DeviceInfo {
    cut.client()
        .get_device_info()
        .expect("getDeviceInfo through pcsc-bridge")
}

fn python_device_info(reader: &str, le: u16) -> Value {
    let script = py_script("device_info.py");
    let (ok, stdout, stderr) = run_on_pcscd(
        Command::new(PYTHON)
            .arg(&script)
            .arg(reader)
            .arg("--le")
            .arg(le.to_string()),
    );
    assert!(
        ok,
        "{} {} failed:\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        PYTHON,
        script.display()
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("device_info.py printed no JSON ({e}):\n{stdout}\n{stderr}"))
}

fn assert_same(py: &Value, rust: &DeviceInfo, what: &str) {
    let certs: Vec<String> = rust
        .certificates
        .iter()
        .map(|c| hex::encode(&c.0))
        .collect();
    let algs: Vec<&str> = rust.supported_algorithms.iter().map(|u| &**u).collect();
    let expected = serde_json::json!({
        "apiLevel": rust.api_level,
        "deviceType": rust.device_type,
        "updateUrl": &*rust.update_url,
        "vendorName": rust.vendor_name,
        "vendorDescription": rust.vendor_description,
        "certificates": certs,
        "supportedAlgorithms": algs,
        "cryptoDataSize": rust.crypto_data_size,
        "extensionDataSize": rust.extension_data_size,
        "devicePinSupport": rust.device_pin_support,
        "biometricSupport": rust.biometric_support,
    });
    for (key, want) in expected.as_object().unwrap() {
        assert_eq!(
            py.get(key),
            Some(want),
            "{what}: field {key} differs between pyscard and pcsc-bridge"
        );
    }
}

#[test]
fn pyscard_reads_the_same_device_info() {
    let cut = CardUnderTest::start(applet::open_card(None).expect("open card"));
    let reader = cut.reader_name().to_string_lossy().into_owned();
    let rust = rust_device_info(&cut);

    // Le = 65,536: getDeviceInfo fits one response APDU.
    let py = python_device_info(&reader, 0);
    assert_same(&py, &rust, "pyscard, Le 65,536");
    let transport = &py["transport"];
    assert_eq!(transport["selectSw"], "9000");
    let length = transport["responseLength"].as_u64().unwrap() as usize;
    assert!(
        length > 256,
        "getDeviceInfo response is only {length} bytes"
    );

    // Le = 256: the card answers 61xx and pyscard fetches the rest with GET RESPONSE.
    let py = python_device_info(&reader, 256);
    assert_same(&py, &rust, "pyscard, Le 256");
    let transport = &py["transport"];
    assert!(
        transport["firstSw"].as_str().unwrap().starts_with("61"),
        "first SW with Le 256: {}",
        transport["firstSw"]
    );
    let chunks: Vec<u64> = transport["chunkSizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(
        chunks.len(),
        length.div_ceil(256),
        "chunks {chunks:?} for {length} bytes"
    );
    assert!(chunks[..chunks.len() - 1].iter().all(|&n| n == 256));
    assert_eq!(
        transport["getResponses"].as_u64().unwrap() as usize,
        chunks.len() - 1
    );

    // The Rust client still works after the independent client (it left the card as it was).
    assert_eq!(rust_device_info(&cut), rust);
}

/// `opensc-tool -l` lines look like `0    Yes             Test PCD 00 00`; returns the index
/// of the line naming `reader`.
fn opensc_reader_index(listing: &str, reader: &str) -> Option<String> {
    listing.lines().find_map(|line| {
        let line = line.trim();
        let index = line.split_whitespace().next()?;
        (index.chars().all(|c| c.is_ascii_digit()) && line.ends_with(reader))
            .then(|| index.to_string())
    })
}

#[test]
fn opensc_tool_selects_the_applet() {
    let cut = CardUnderTest::start(applet::open_card(None).expect("open card"));
    let reader = cut.reader_name().to_string_lossy().into_owned();

    let (ok, listing, stderr) = run_on_pcscd(Command::new("opensc-tool").arg("-l"));
    assert!(ok, "opensc-tool -l failed:\n{listing}\n{stderr}");
    let index = opensc_reader_index(&listing, &reader)
        .unwrap_or_else(|| panic!("reader {reader:?} not in opensc-tool -l:\n{listing}"));

    // SELECT with Le = 00 (the form in the brief): 90 00 with the FCI 6F 08 84 06 AID.
    let (ok, _, all) = opensc_send(&index, &["00A4040006F0534B53010000"]);
    assert!(ok, "opensc-tool -s failed:\n{all}");
    let upper = all.to_uppercase();
    assert!(
        upper.contains("SW1=0X90, SW2=0X00"),
        "SELECT through opensc-tool did not answer 90 00:\n{all}"
    );
    assert!(
        upper.contains("6F 08 84 06 F0 53 4B 53 01 00"),
        "SELECT with Le through opensc-tool: FCI missing:\n{all}"
    );

    // SELECT without Le: 90 00, no data.
    let (ok, _, all) = opensc_send(&index, &["00A4040006F0534B530100"]);
    assert!(ok, "opensc-tool -s failed:\n{all}");
    assert!(
        all.to_uppercase().contains("SW1=0X90, SW2=0X00"),
        "SELECT without Le through opensc-tool:\n{all}"
    );

    // SELECT of another AID through opensc-tool: 6A 82 (the check can fail).
    let (_, _, all) = opensc_send(&index, &["00A4040006F0534B530200"]);
    assert!(
        all.to_uppercase().contains("SW1=0X6A, SW2=0X82"),
        "SELECT of another AID through opensc-tool:\n{all}"
    );

    // getDeviceInfo after SELECT in one opensc-tool run (it keeps the connection), with a short
    // Le: the card answers 61xx and opensc-tool fetches the rest with GET RESPONSE itself. The
    // bytes must equal the response the Rust client reads. (opensc-tool refuses extended
    // APDUs such as `80 52 01 00 00 00 00` with "APDU transmit failed: Invalid arguments":
    // OpenSC does not know that this unknown card supports extended length.)
    let (ok, stdout, all) = opensc_send(&index, &["00A4040006F0534B530100", "8052010000"]);
    assert!(ok, "opensc-tool getDeviceInfo failed:\n{all}");
    let dumped = opensc_received_data(&stdout, 1)
        .unwrap_or_else(|| panic!("no data in the second answer:\n{all}"));
    let mut sks = cut.client();
    let raw = sks
        .call_raw(0x01, &[])
        .expect("getDeviceInfo through pcsc-bridge");
    assert_eq!(
        hex::encode(&dumped),
        hex::encode(&raw),
        "getDeviceInfo bytes through opensc-tool differ from pcsc-bridge's"
    );
}

/// `opensc-tool -r INDEX -s APDU...` (one connection): success, stdout, stdout + stderr.
fn opensc_send(index: &str, apdus: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new("opensc-tool");
    cmd.args(["-r", index]);
    for apdu in apdus {
        cmd.args(["-s", apdu]);
    }
    let (ok, stdout, stderr) = run_on_pcscd(&mut cmd);
    let all = format!("{stdout}\n{stderr}");
    (ok, stdout, all)
}

/// The data of the `n`-th (0-based) "Received (...)" block of opensc-tool's output: hex dump
/// lines of up to 16 bytes, `XX ` each (48 characters), then the ASCII column.
fn opensc_received_data(output: &str, n: usize) -> Option<Vec<u8>> {
    let mut blocks = output.split("Received (").skip(n + 1);
    let block = blocks.next()?;
    let mut data = Vec::new();
    for line in block.lines().skip(1) {
        if line.starts_with("Sending:") || line.trim().is_empty() {
            break;
        }
        let hex_part: String = line.chars().take(48).collect();
        for token in hex_part.split_whitespace() {
            data.push(u8::from_str_radix(token, 16).ok()?);
        }
    }
    Some(data)
}

#[test]
fn a_one_byte_apdu_does_not_wedge_the_reader() {
    // Issue 9 item 7: a 1-byte APDU 01 reads as vpcd's "power on" and gets no answer; vpcd then
    // waited forever and the reader was dead for every client until the card restarted.
    let cut = CardUnderTest::start(applet::open_card(None).expect("open card"));
    let reader = cut.reader_name().to_string_lossy().into_owned();
    for byte in ["05", "01"] {
        let (ok, stdout, stderr) = run_on_pcscd(
            Command::new(PYTHON)
                .arg(py_script("one_byte_apdu.py"))
                .args([&reader, byte]),
        );
        assert!(
            ok,
            "APDU {byte}: the reader did not recover: {stdout}{stderr}"
        );
        let v: Value = serde_json::from_str(stdout.trim()).expect("json");
        let seconds = v["oneByte"]["seconds"].as_f64().unwrap();
        assert!(seconds < 10.0, "APDU {byte} blocked for {seconds} s: {v}");
        if byte == "05" {
            assert_eq!(v["oneByte"]["sw"], "6700", "{v}");
        } else {
            // pcscd hands the client an empty response (or an error) once the card dropped
            // the stalled connection.
            let one = &v["oneByte"];
            assert!(one["error"].is_string() || one["sw"] == "", "{v}");
            assert!(seconds >= 2.0, "answered by the stall detection: {v}");
        }
        assert_eq!(v["after"]["sw"], "9000", "{v}");
    }
}
