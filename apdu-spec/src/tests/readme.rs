//! The worked examples of README.md, recomputed with the crate's own functions: the README must
//! contain them verbatim.

use crate::codec::Wire;
use crate::envelope::{
    call_apdus, get_response_apdu, response_apdus, split_response, MAX_COMMAND_CHUNK,
};
use crate::method::{decode_response, encode_response, Method};
use crate::methods::*;
use crate::types::{Blob, Mac, Uri};

const README: &str = include_str!("../../README.md");

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first and last 16 bytes of `b`, with offsets.
fn ends(b: &[u8]) -> String {
    let n = b.len();
    format!(
        "    bytes {:>5}-{:<5}  {}\n    bytes {:>5}-{:<5}  {}\n",
        0,
        15,
        hex(&b[..16]),
        n - 16,
        n - 1,
        hex(&b[n - 16..])
    )
}

fn chained_call_example() -> String {
    // addExtension whose encoding is exactly 70,000 bytes.
    let r#type = Uri::new("https://example.com/ext").unwrap();
    let fixed = 4 + (2 + r#type.len()) + 1 + 2 + 4 + 34;
    let args = AddExtensionArgs {
        key_handle: 1,
        r#type,
        sub_type: 0,
        qualifier: String::new(),
        extension_data: Blob((0..70_000 - fixed).map(|i| i as u8).collect()),
        mac: Mac([0xEE; 32]),
    };
    let body = args.to_wire().unwrap();
    assert_eq!(body.len(), 70_000);
    let frames = call_apdus(AddExtension::ID as u8, &body, MAX_COMMAND_CHUNK, 0);
    assert_eq!(frames.len(), 2);
    let mut s = String::from("```text\n");
    s += &format!(
        "addExtension call body: {} bytes (extensionData of {} bytes)\n\n",
        body.len(),
        args.extension_data.len()
    );
    for (i, f) in frames.iter().enumerate() {
        let last = i + 1 == frames.len();
        let data = if last { &f[7..f.len() - 2] } else { &f[7..] };
        s += &format!(
            "APDU {} ({} bytes): header {}   (CLA INS P1 P2, Lc = 00 {})\n",
            i + 1,
            f.len(),
            hex(&f[..7]),
            hex(&f[5..7]),
        );
        s += &format!("  data, {} bytes:\n", data.len());
        s += &ends(data);
        if last {
            s += &format!("  Le: {}\n", hex(&f[f.len() - 2..]));
        }
        s += "\n";
    }
    let resp = encode_response::<()>(&Ok(())).unwrap();
    let apdus = response_apdus(&resp);
    s += &format!(
        "card answers APDU 1 with: {}   (SW 9000, no data)\n",
        hex(&[0x90, 0x00])
    );
    s += &format!(
        "card answers APDU 2 with: {}   (status 00 = success, SW 9000)\n",
        hex(&apdus[0])
    );
    s += "```\n";
    s
}

fn get_response_example() -> String {
    // getExtension returning a logotype whose response is exactly 100,000 bytes.
    let args = GetExtensionArgs {
        key_handle: 1,
        r#type: Uri::new("https://webpki.github.io/keygen2/logotype#application").unwrap(),
    };
    let fixed = 1 + 1 + (2 + "image/png".len()) + 4;
    let out = GetExtensionOutput {
        sub_type: 3,
        qualifier: "image/png".into(),
        extension_data: Blob((0..100_000 - fixed).map(|i| (i * 3) as u8).collect()),
    };
    let resp = encode_response(&Ok(out.clone())).unwrap();
    assert_eq!(resp.len(), 100_000);
    let call = call_apdus(
        GetExtension::ID as u8,
        &args.to_wire().unwrap(),
        MAX_COMMAND_CHUNK,
        0,
    );
    assert_eq!(call.len(), 1);
    let apdus = response_apdus(&resp);
    assert_eq!(apdus.len(), 2);

    // The client side: reassemble and decode.
    let mut joined = Vec::new();
    for a in &apdus {
        joined.extend_from_slice(split_response(a).unwrap().0);
    }
    assert_eq!(decode_response::<GetExtension>(&joined), Ok(Ok(out)));

    let mut s = String::from("```text\n");
    s += &format!("getExtension response body: {} bytes\n\n", resp.len());
    s += &format!("call  ({} bytes): {}\n", call[0].len(), hex(&call[0]));
    let (d1, sw1) = split_response(&apdus[0]).unwrap();
    s += &format!(
        "reply ({} bytes): {} data bytes, then SW {:04X}\n",
        apdus[0].len(),
        d1.len(),
        sw1
    );
    s += &ends(d1);
    let gr = get_response_apdu(0);
    s += &format!("GET RESPONSE ({} bytes): {}\n", gr.len(), hex(&gr));
    let (d2, sw2) = split_response(&apdus[1]).unwrap();
    s += &format!(
        "reply ({} bytes): {} data bytes, then SW {:04X}\n",
        apdus[1].len(),
        d2.len(),
        sw2
    );
    s += &ends(d2);
    s += "```\n";
    s
}

#[test]
fn readme_contains_the_computed_examples() {
    for (name, block) in [
        ("chained call", chained_call_example()),
        ("GET RESPONSE", get_response_example()),
    ] {
        if std::env::var_os("SKS_PRINT_README_EXAMPLES").is_some() {
            println!("{block}");
        }
        assert!(
            README.contains(&block),
            "README lacks the {name} example, which is:\n{block}"
        );
    }
}

#[test]
fn readme_lists_every_method_and_error_code() {
    for m in MethodId::ALL {
        let heading = format!("### {} [{}]", m.name(), *m as u8);
        assert!(README.contains(&heading), "README lacks `{heading}`");
    }
    for c in crate::error::ErrorCode::ALL {
        let row = format!("| 0x{:02X} | {} | {} |", c as u8, c.name(), c.description());
        assert!(README.contains(&row), "README lacks `{row}`");
    }
}
