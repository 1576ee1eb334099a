//! Fixed cases: each type's limits, the method table, known encodings.

use crate::codec::{DecodeError, EncodeError, Wire};
use crate::error::{ErrorCode, SksError};
use crate::method::{decode_response, encode_response};
use crate::methods::*;
use crate::types::{Blob, Bytes, ErrorString, Id, Mac, Uri};
use core::num::NonZeroU32;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// `u16` length prefix ‖ bytes.
fn prefixed(b: &[u8]) -> Vec<u8> {
    let mut v = (b.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(b);
    v
}

#[test]
fn method_ids_match_spec_7_4() {
    let expected: &[(u8, &str)] = &[
        (1, "getDeviceInfo"),
        (2, "createProvisioningSession"),
        (3, "closeProvisioningSession"),
        (4, "enumerateProvisioningSessions"),
        (5, "abortProvisioningSession"),
        (7, "updateKeyManagementKey"),
        (8, "createPukPolicy"),
        (9, "createPinPolicy"),
        (10, "createKeyEntry"),
        (11, "getKeyHandle"),
        (12, "setCertificatePath"),
        (13, "importSymmetricKey"),
        (14, "importPrivateKey"),
        (15, "addExtension"),
        (50, "postDeleteKey"),
        (51, "postUnlockKey"),
        (52, "postUpdateKey"),
        (53, "postCloneKeyProtection"),
        (70, "enumerateKeys"),
        (71, "getKeyAttributes"),
        (72, "getKeyProtectionInfo"),
        (73, "getExtension"),
        (74, "setProperty"),
        (80, "deleteKey"),
        (81, "exportKey"),
        (82, "unlockKey"),
        (83, "changePin"),
        (84, "setPin"),
        (90, "updateFirmware"),
        (100, "signHashedData"),
        (101, "asymmetricKeyDecrypt"),
        (102, "keyAgreement"),
        (103, "performHmac"),
        (104, "symmetricKeyEncrypt"),
    ];
    let actual: Vec<(u8, &str)> = MethodId::ALL.iter().map(|m| (*m as u8, m.name())).collect();
    assert_eq!(actual, expected);
    for &(id, name) in expected {
        assert_eq!(MethodId::try_from(id).unwrap().name(), name);
    }
    for id in (0..=255u8).filter(|id| !expected.iter().any(|(e, _)| e == id)) {
        assert_eq!(MethodId::try_from(id), Err(id));
    }
}

#[test]
fn error_codes_match_spec_7_3() {
    let names: Vec<(u8, &str)> = ErrorCode::ALL
        .iter()
        .map(|c| (*c as u8, c.name()))
        .collect();
    assert_eq!(
        names,
        [
            (0x01, "ERROR_AUTHORIZATION"),
            (0x02, "ERROR_NOT_ALLOWED"),
            (0x03, "ERROR_STORAGE"),
            (0x04, "ERROR_MAC"),
            (0x05, "ERROR_CRYPTO"),
            (0x06, "ERROR_NO_SESSION"),
            (0x07, "ERROR_NO_KEY"),
            (0x08, "ERROR_ALGORITHM"),
            (0x09, "ERROR_OPTION"),
            (0x0A, "ERROR_INTERNAL"),
            (0x0B, "ERROR_EXTERNAL"),
            (0x0C, "ERROR_USER_ABORT"),
            (0x0D, "ERROR_NOT_AVAILABLE"),
        ]
    );
    assert_eq!(ErrorCode::try_from(0x00), Err(0x00));
    assert_eq!(ErrorCode::try_from(0x0E), Err(0x0E));
}

#[test]
fn bool_accepts_only_0_and_1() {
    assert_eq!(bool::from_wire(&[0]), Ok(false));
    assert_eq!(bool::from_wire(&[1]), Ok(true));
    assert_eq!(
        bool::from_wire(&[2]),
        Err(DecodeError::BadBool {
            offset: 0,
            value: 2
        })
    );
    assert_eq!(
        bool::from_wire(&[0xff]),
        Err(DecodeError::BadBool {
            offset: 0,
            value: 0xff
        })
    );
    // Inside a call: enumerateProvisioningSessions(0, 0x02).
    assert_eq!(
        Command::decode(MethodId::EnumerateProvisioningSessions, &hex("00000000 02")),
        Err(DecodeError::BadBool {
            offset: 4,
            value: 2
        })
    );
}

#[test]
fn id_rules() {
    let ok32 = "!~".repeat(16);
    assert_eq!(Id::new(ok32.clone()).unwrap().as_str(), ok32);
    assert_eq!(
        Id::from_wire(&prefixed(ok32.as_bytes())).unwrap().as_str(),
        ok32
    );
    assert!(Id::new("x").is_ok());
    let bad: [&[u8]; 6] = [
        b"",
        &[b'a'; 33],
        b"a b",
        b"a\x7fb",
        "é".as_bytes(),
        b"a\x00",
    ];
    for b in bad {
        assert_eq!(
            Id::from_wire(&prefixed(b)),
            Err(DecodeError::BadId { offset: 0 }),
            "{b:?}"
        );
        if let Ok(s) = core::str::from_utf8(b) {
            assert!(Id::new(s).is_err(), "{b:?}");
        }
    }
    // In a call the offset points at the id's length prefix.
    let mut body = 1u32.to_be_bytes().to_vec();
    body.extend(prefixed(b"has space"));
    assert_eq!(
        Command::decode(MethodId::GetKeyHandle, &body),
        Err(DecodeError::BadId { offset: 4 })
    );
}

#[test]
fn uri_limit_is_1000_bytes() {
    let max = "a".repeat(1000);
    assert!(Uri::new(max.clone()).is_ok());
    assert_eq!(
        Uri::from_wire(&prefixed(max.as_bytes())).unwrap().as_str(),
        max
    );
    // 500 two-byte characters are exactly 1000 bytes; one more byte is too many.
    let multi = "é".repeat(500);
    assert!(Uri::new(multi.clone()).is_ok());
    let over = format!("{multi}a");
    assert_eq!(over.len(), 1001);
    assert!(Uri::new(over.clone()).is_err());
    assert_eq!(
        Uri::from_wire(&prefixed(over.as_bytes())),
        Err(DecodeError::TooLong {
            offset: 0,
            what: "uri",
            len: 1001,
            max: 1000
        })
    );
    assert!(Uri::from_wire(&prefixed(&[b'a'; 1001])).is_err());
    assert_eq!(
        Uri::from_wire(&prefixed(b"\xff")),
        Err(DecodeError::BadUtf8 { offset: 0 })
    );
    assert_eq!(
        String::from_wire(&prefixed(b"\xc3")),
        Err(DecodeError::BadUtf8 { offset: 0 })
    );
    assert_eq!(Uri::from_wire(&[0, 0]).unwrap().as_str(), "");
}

#[test]
fn byte_array_limit_is_65535() {
    let max = Bytes(vec![7; 65535]);
    let enc = max.to_wire().unwrap();
    assert_eq!(&enc[..2], &[0xff, 0xff]);
    assert_eq!(Bytes::from_wire(&enc).unwrap(), max);
    assert_eq!(
        Bytes(vec![0; 65536]).to_wire(),
        Err(EncodeError {
            what: "byte[]",
            len: 65536,
            max: 65535
        })
    );
    // Inside a struct the error surfaces from to_wire as well.
    let args = SignHashedDataArgs {
        key_handle: 1,
        algorithm: Uri::new(crate::algorithms::signature::ECDSA_NONE).unwrap(),
        parameters: Bytes::empty(),
        biometric_auth: false,
        authorization: Bytes::empty(),
        data: Bytes(vec![0; 65536]),
    };
    assert_eq!(args.to_wire().unwrap_err().len, 65536);
    // So does a string and a list.
    assert_eq!(
        "x".repeat(65536).to_wire(),
        Err(EncodeError {
            what: "string",
            len: 65536,
            max: 65535
        })
    );
    assert_eq!(vec![0u8; 65536].to_wire().unwrap_err().what, "list");
    assert_eq!(vec![0u8; 65535].to_wire().unwrap().len(), 2 + 65535);
}

#[test]
fn large_values_round_trip() {
    let blob = Blob((0..200_000u32).map(|i| (i % 251) as u8).collect());
    let enc = blob.to_wire().unwrap();
    assert_eq!(&enc[..4], &200_000u32.to_be_bytes());
    assert_eq!(Blob::from_wire(&enc).unwrap(), blob);
    assert!(Blob::from_wire(&enc[..enc.len() - 1]).is_err());

    let certs: Vec<Bytes> = (0..3).map(|i| Bytes(vec![i; 60_000])).collect();
    let out = GetKeyAttributesOutput {
        symmetric_key_length: 0,
        certificates: certs,
        app_usage: 3,
        friendly_name: "ü".repeat(30_000),
        endorsed_algorithms: vec![Uri::new("u".repeat(1000)).unwrap(); 300],
        types: vec![],
    };
    let enc = out.to_wire().unwrap();
    assert_eq!(GetKeyAttributesOutput::from_wire(&enc).unwrap(), out);
    let resp = encode_response(&Ok(out.clone())).unwrap();
    assert_eq!(decode_response::<GetKeyAttributes>(&resp).unwrap(), Ok(out));
}

#[test]
fn mac_must_be_32_bytes() {
    let m = Mac([0xab; 32]);
    let enc = m.to_wire().unwrap();
    assert_eq!(enc.len(), 34);
    assert_eq!(&enc[..2], &[0x00, 0x20]);
    assert_eq!(Mac::from_wire(&enc), Ok(m));
    assert_eq!(
        Mac::from_wire(&prefixed(&[0; 31])),
        Err(DecodeError::WrongLength {
            offset: 0,
            expected: 32,
            len: 31
        })
    );
    assert!(Mac::from_wire(&prefixed(&[0; 33])).is_err());
}

#[test]
fn error_string_truncation_fixed_cases() {
    let s = format!("a{}", "é".repeat(1000)); // 2001 bytes
    let t = ErrorString::truncating(s.clone());
    assert_eq!(t.as_str().len(), 1999);
    assert!(s.starts_with(t.as_str()));
    assert_eq!(
        ErrorString::truncating("x".repeat(2000)).as_str().len(),
        2000
    );
    assert_eq!(
        ErrorString::truncating("x".repeat(2001)).as_str().len(),
        2000
    );
    let four = "𝄞".repeat(600); // 2400 bytes of 4-byte characters
    assert_eq!(ErrorString::truncating(four).as_str().len(), 2000);
    // An over-long error string is rejected on decode, truncated on encode.
    assert!(ErrorString::from_wire(&prefixed(&[b'x'; 2001])).is_err());
    let err = SksError::new(ErrorCode::Option, "y".repeat(5000));
    let resp = encode_response::<()>(&Err(err)).unwrap();
    assert_eq!(resp.len(), 1 + 2 + 2000);
    assert_eq!(
        decode_response::<AbortProvisioningSession>(&resp)
            .unwrap()
            .unwrap_err()
            .message,
        "y".repeat(2000)
    );
}

proptest! {
    #[test]
    fn error_string_truncating_cuts_at_a_char_boundary(s in "\\PC{0,800}") {
        let t = ErrorString::truncating(s.clone());
        let t = t.as_str();
        prop_assert!(t.len() <= ErrorString::MAX_LEN);
        prop_assert!(s.starts_with(t));
        if s.len() <= ErrorString::MAX_LEN {
            prop_assert_eq!(t, s.as_str());
        } else {
            // Cut no further than needed: the next character would not have fitted.
            let next = s[t.len()..].chars().next().unwrap();
            prop_assert!(t.len() + next.len_utf8() > ErrorString::MAX_LEN);
        }
    }
}

#[test]
fn unknown_status_byte_is_rejected() {
    for status in [0x0E, 0x0F, 0x80, 0xFF] {
        let resp = [status, 0x00, 0x00];
        assert_eq!(
            decode_response::<GetDeviceInfo>(&resp),
            Err(DecodeError::BadStatus {
                offset: 0,
                value: status
            })
        );
    }
    assert_eq!(
        decode_response::<GetDeviceInfo>(&[]),
        Err(DecodeError::Truncated {
            offset: 0,
            needed: 1
        })
    );
    // Each real code with an empty message decodes.
    for code in ErrorCode::ALL {
        assert_eq!(
            decode_response::<SetPin>(&[code as u8, 0, 0]),
            Ok(Err(SksError::new(code, "")))
        );
    }
    // Status 0 with a body that only `()` accepts when empty.
    assert_eq!(decode_response::<SetPin>(&[0]), Ok(Ok(())));
    assert!(decode_response::<SetPin>(&[0, 0]).is_err());
}

/// createPukPolicy in the fields of spec-notes §11 (counter 0): the call body is the session
/// handle followed by exactly the MAC Data encoding, then the MAC.
#[test]
fn known_encoding_create_puk_policy() {
    let encrypted_puk = hex("000102030405060708090a0b0c0d0e0f332f18b30636842de75db2ed442e69e7");
    let mac = hex("1b5c7119060efe8f38155a95f9229172c0248260783d196c888d2d26b0306e59");
    let args = CreatePukPolicyArgs {
        provisioning_handle: 1,
        id: Id::new("PUK.1").unwrap(),
        encrypted_puk: Bytes(encrypted_puk.clone()),
        format: 0,
        retry_limit: 3,
        mac: Mac(mac.clone().try_into().unwrap()),
    };
    let mac_data = hex(&format!(
        "000550554b2e31 0020{} 00 0003",
        encrypted_puk
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ));
    let mut expected = hex("00000001");
    expected.extend(&mac_data);
    expected.extend(prefixed(&mac));
    assert_eq!(args.to_wire().unwrap(), expected);
    assert_eq!(
        Command::decode(MethodId::CreatePukPolicy, &expected),
        Ok(Command::CreatePukPolicy(args))
    );
}

#[test]
fn known_encoding_create_pin_policy() {
    // spec-notes §11 counter 1: PIN.1 / PUK.1 ... the MAC Data has the PUK's id where the call
    // has its handle; everything else is the same field encodings in the same order.
    let args = CreatePinPolicyArgs {
        provisioning_handle: 0x0102_0304,
        id: Id::new("PIN.1").unwrap(),
        puk_policy_handle: 9,
        user_defined: true,
        user_modifiable: true,
        format: 0,
        retry_limit: 3,
        grouping: 1,
        pattern_restrictions: 6,
        min_length: 4,
        max_length: 8,
        input_method: 0,
        mac: Mac([0x5a; 32]),
    };
    let expected = hex(&format!(
        "01020304 000550494e2e31 00000009 01 01 00 0003 01 06 0004 0008 00 0020{}",
        "5a".repeat(32)
    ));
    assert_eq!(args.to_wire().unwrap(), expected);
}

#[test]
fn known_encoding_device_info_and_lists() {
    let info = DeviceInfo {
        api_level: 100,
        device_type: 0x01,
        update_url: Uri::default(),
        vendor_name: "V".into(),
        vendor_description: "D".into(),
        certificates: vec![Bytes(vec![0x30, 0x82]), Bytes(vec![0x30])],
        supported_algorithms: vec![Uri::new("u").unwrap()],
        crypto_data_size: 16384,
        extension_data_size: 131072,
        device_pin_support: true,
        biometric_support: false,
    };
    let expected =
        hex("00 0064 01 0000 0001 56 0001 44 0002 0002 3082 0001 30 0001 0001 75 00004000 00020000 01 00");
    let resp = encode_response(&Ok(info.clone())).unwrap();
    assert_eq!(resp, expected);
    assert_eq!(decode_response::<GetDeviceInfo>(&expected), Ok(Ok(info)));
    // An empty list is a zero count.
    assert_eq!(Vec::<Uri>::new().to_wire().unwrap(), [0, 0]);
}

#[test]
fn known_encoding_enumerations() {
    assert_eq!(EnumerateKeysOutput::END.to_wire().unwrap(), [0, 0, 0, 0]);
    assert_eq!(EnumerateKeysOutput::END.key_handle(), 0);
    let k = EnumerateKeysOutput {
        key: Some((NonZeroU32::new(5).unwrap(), 2)),
    };
    assert_eq!(k.to_wire().unwrap(), hex("00000005 00000002"));
    assert_eq!(k.key_handle(), 5);
    assert_eq!(
        EnumerateKeysOutput::from_wire(&hex("00000005 00000002")),
        Ok(k)
    );
    // Handle 0 ends the output: nothing may follow.
    assert!(EnumerateKeysOutput::from_wire(&hex("00000000 00000002")).is_err());
    assert!(EnumerateKeysOutput::from_wire(&hex("00000005")).is_err());

    assert_eq!(
        EnumerateProvisioningSessionsOutput::END.to_wire().unwrap(),
        [0, 0, 0, 0]
    );
    let info = ProvisioningSessionInfo {
        session_key_algorithm: Uri::new("s").unwrap(),
        privacy_enabled: true,
        key_management_key: Bytes::empty(),
        client_time: 0x5e15_a831,
        session_life_time: 10000,
        server_session_id: Id::new("S").unwrap(),
        client_session_id: Id::new("C").unwrap(),
        issuer_uri: Uri::new("i").unwrap(),
    };
    let out = EnumerateProvisioningSessionsOutput {
        session: Some((NonZeroU32::new(0x0102_0304).unwrap(), info)),
    };
    let expected = hex("01020304 0001 73 01 0000 5e15a831 00002710 0001 53 0001 43 0001 69");
    assert_eq!(out.to_wire().unwrap(), expected);
    assert_eq!(out.provisioning_handle(), 0x0102_0304);
    assert_eq!(
        EnumerateProvisioningSessionsOutput::from_wire(&expected),
        Ok(out)
    );
    assert!(EnumerateProvisioningSessionsOutput::from_wire(&hex("00000000 0001 73")).is_err());
}

#[test]
fn empty_argument_methods_take_an_empty_body() {
    assert_eq!(
        Command::decode(MethodId::GetDeviceInfo, &[]),
        Ok(Command::GetDeviceInfo(()))
    );
    assert!(Command::decode(MethodId::GetDeviceInfo, &[0]).is_err());
}
