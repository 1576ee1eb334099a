//! Strict parsing: every kind of malformed message gives a precise error and never a panic.

use keygen2::{Message, ParseError};

const INVOCATION: &str = r#"{"@context":"https://webpki.github.io/keygen2#20190318","@qualifier":"InvocationRequest","serverSessionId":"S-1","action":"manage"}"#;

fn close_request(mac: &str) -> String {
    format!(
        r#"{{"@context":"https://webpki.github.io/keygen2#20190318","@qualifier":"ProvisioningFinalizationRequest","serverSessionId":"S-1","clientSessionId":"C-1","sessionCloseData":{{"nonce":"AAAA","mac":"{mac}"}}}}"#
    )
}

fn err(text: &str) -> String {
    match Message::parse(text) {
        Ok(m) => panic!("accepted: {m:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_valid_base_cases_parse() {
    assert!(Message::parse(INVOCATION).is_ok());
    assert!(Message::parse(&close_request(&"A".repeat(43))).is_ok());
}

#[test]
fn precise_errors() {
    let cases: Vec<(String, &str)> = vec![
        (INVOCATION.replace("InvocationRequest", "Bogus"), "unknown @qualifier \"Bogus\""),
        (INVOCATION.replace("#20190318", ""), "unknown @context"),
        (INVOCATION.replace(r#","action":"manage""#, ""), "missing field `action`"),
        (INVOCATION.replace(r#""manage""#, r#""update""#), "unknown variant `update`"),
        (INVOCATION.replace(r#""manage""#, "1"), "invalid type"),
        (INVOCATION.replace('}', r#","nonce":"AAAA"}"#), "unknown field `nonce`"),
        (INVOCATION.replace('}', r#","action":"manage"}"#), "duplicate field `action`"),
        (INVOCATION.replace('}', r#","privacyEnabled":1}"#), "invalid type: integer"),
        (INVOCATION.replace('}', r#","preferredLanguages":[]}"#), "empty array"),
        (INVOCATION.replace("S-1", "has space"), "bad id"),
        (INVOCATION.replace('}', r#","clientCapabilityQuery":["relative"]}"#), "absolute URI"),
        (close_request("AAAA"), "MAC must be 32 bytes, got 3"),
        (close_request(&format!("{}=", "A".repeat(43))), "bad base64url"),
        (close_request(&"A".repeat(42).replace("AA", "A+")), "bad base64url"),
        ("[]".into(), "not a KeyGen2 message"),
        ("not json".into(), "not a KeyGen2 message"),
        (
            r#"{"@context":"https://webpki.github.io/keygen2#20190318","@qualifier":"ProvisioningInitializationRequest","serverSessionId":"S","serverTime":"2026-11-27T12:34:00.1Z","sessionKeyAlgorithm":"urn:x","sessionKeyLimit":1,"sessionLifeTime":1,"serverEphemeralKey":{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}}"#.into(),
            "bad time",
        ),
        (
            r#"{"@context":"https://webpki.github.io/keygen2#20190318","@qualifier":"ProvisioningInitializationRequest","serverSessionId":"S","serverTime":"2026-11-27T12:34:00Z","sessionKeyAlgorithm":"urn:x","sessionKeyLimit":70000,"sessionLifeTime":1,"serverEphemeralKey":{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}}"#.into(),
            "invalid value: integer `70000`",
        ),
        (
            r#"{"@context":"https://webpki.github.io/keygen2#20190318","@qualifier":"ProvisioningInitializationRequest","serverSessionId":"S","serverTime":"2026-11-27T12:34:00Z","sessionKeyAlgorithm":"urn:x","sessionKeyLimit":1.0,"sessionLifeTime":1,"serverEphemeralKey":{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}}"#.into(),
            "invalid type: floating point",
        ),
        (
            r#"{"@context":"https://webpki.github.io/keygen2#20190318","@qualifier":"ProvisioningInitializationRequest","serverSessionId":"S","serverTime":"2026-11-27T12:34:00Z","sessionKeyAlgorithm":"urn:x","sessionKeyLimit":1,"sessionLifeTime":1,"serverEphemeralKey":{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}}"#.into(),
            "not normalized",
        ),
    ];
    for (text, expected) in cases {
        let e = err(&text);
        assert!(
            e.contains(expected),
            "{text}\n→ {e}\n(expected \"{expected}\")"
        );
    }
}

#[test]
fn qualifier_errors_name_the_message() {
    let e = Message::parse(&INVOCATION.replace(r#","action":"manage""#, "")).unwrap_err();
    assert!(matches!(
        e,
        ParseError::Invalid {
            qualifier: "InvocationRequest",
            ..
        }
    ));
}

/// Every prefix of every transcript, and every transcript with one byte changed at a
/// spread of positions, parses or fails without panicking.
#[test]
fn no_panic_on_damaged_transcripts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts");
    let mut seen = 0;
    for run in std::fs::read_dir(&dir).unwrap() {
        let run = run.unwrap().path();
        if !run.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&run).unwrap() {
            let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
            let bytes = text.as_bytes();
            for cut in (0..bytes.len()).step_by(97) {
                let _ = Message::parse(&String::from_utf8_lossy(&bytes[..cut]));
            }
            for (i, pos) in (0..bytes.len()).step_by(61).enumerate() {
                let mut b = bytes.to_vec();
                b[pos] = b"\"{}[],:0aZ_-\\"[i % 13];
                let _ = Message::parse(&String::from_utf8_lossy(&b));
            }
            seen += 1;
        }
    }
    assert_eq!(seen, 338);
}
