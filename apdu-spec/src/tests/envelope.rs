//! The ISO 7816-4 envelope: framing of calls and responses.

use crate::envelope::*;
use crate::methods::MethodId;
use proptest::prelude::*;

/// An independent ISO 7816-4 (5.1) command APDU parser for extended or short length fields:
/// returns (header, data, Ne) where Ne is `None` when there is no Le field.
type Parsed<'a> = ([u8; 4], &'a [u8], Option<usize>);

fn parse_apdu(apdu: &[u8]) -> Result<Parsed<'_>, String> {
    let header: [u8; 4] = apdu.get(..4).ok_or("short header")?.try_into().unwrap();
    let body = &apdu[4..];
    let ext_ne = |hi: u8, lo: u8| match usize::from(u16::from_be_bytes([hi, lo])) {
        0 => 65536,
        n => n,
    };
    match body {
        [] => Ok((header, &[], None)), // case 1
        [le] => Ok((
            header,
            &[],
            Some(if *le == 0 { 256 } else { usize::from(*le) }),
        )), // case 2S
        [0, hi, lo] => Ok((header, &[], Some(ext_ne(*hi, *lo)))), // case 2E
        [0, hi, lo, rest @ ..] => {
            let nc = usize::from(u16::from_be_bytes([*hi, *lo]));
            if nc == 0 {
                return Err("extended Lc of 0".into());
            }
            match rest.len().checked_sub(nc) {
                Some(0) => Ok((header, rest, None)), // case 3E
                Some(2) => Ok((header, &rest[..nc], Some(ext_ne(rest[nc], rest[nc + 1])))), // case 4E
                _ => Err(format!(
                    "extended body of {} bytes does not fit Lc {nc}",
                    rest.len()
                )),
            }
        }
        [lc, rest @ ..] => {
            let nc = usize::from(*lc);
            match rest.len().checked_sub(nc) {
                Some(0) => Ok((header, rest, None)),
                Some(1) => Ok((header, &rest[..nc], Some(usize::from(rest[nc])))),
                _ => Err("short body does not fit Lc".into()),
            }
        }
    }
}

/// Checks the frames of one call and returns the reassembled data.
fn check_call(method: u8, frames: &[Vec<u8>], max_chunk: usize, le: u16) -> Vec<u8> {
    assert!(!frames.is_empty());
    let mut data = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        let last = i == frames.len() - 1;
        let (header, part, ne) = parse_apdu(frame).unwrap();
        let cla = if last { 0x80 } else { 0x90 };
        assert_eq!(header, [cla, 0x52, method, 0x00], "frame {i}");
        // Every frame uses the extended form: Lc is 00 hi lo.
        if !part.is_empty() {
            assert_eq!(frame[4], 0x00);
        }
        assert!(part.len() <= max_chunk);
        if !last {
            assert_eq!(part.len(), max_chunk, "only the last frame may be short");
            assert_eq!(ne, None, "Le only on the last frame");
        } else {
            let expect = if le == 0 { 65536 } else { usize::from(le) };
            assert_eq!(ne, Some(expect));
            assert_eq!(&frame[frame.len() - 2..], &le.to_be_bytes());
        }
        data.extend_from_slice(part);
    }
    data
}

#[test]
fn call_apdus_chain_large_calls() {
    for (size, frames_expected) in [
        (0, 1),
        (1, 1),
        (65535, 1),
        (65536, 2),
        (70000, 2),
        (200_000, 4),
    ] {
        let data: Vec<u8> = (0..size).map(|i| (i * 7 % 256) as u8).collect();
        let frames = call_apdus(MethodId::AddExtension as u8, &data, 65535, 0);
        assert_eq!(frames.len(), frames_expected, "size {size}");
        assert_eq!(check_call(15, &frames, 65535, 0), data, "size {size}");
        let total: usize = frames.iter().map(Vec::len).sum();
        // 7 header bytes per frame (CLA INS P1 P2 00 Lc Lc) plus 2 Le bytes on the last, except
        // that an empty call is case 2E (4 + 3 bytes).
        let expected_total = if size == 0 {
            7
        } else {
            size + 7 * frames_expected + 2
        };
        assert_eq!(total, expected_total, "size {size}");
    }
}

#[test]
fn empty_call_is_case_2e() {
    let frames = call_apdus(1, &[], 65535, 0);
    assert_eq!(frames, vec![vec![0x80, 0x52, 0x01, 0x00, 0x00, 0x00, 0x00]]);
}

proptest! {
    #[test]
    fn call_apdus_reassemble(
        data in prop::collection::vec(any::<u8>(), 0..3000),
        max_chunk in 1usize..700,
        method in any::<u8>(),
        le in any::<u16>(),
    ) {
        let frames = call_apdus(method, &data, max_chunk, le);
        prop_assert_eq!(frames.len(), data.len().div_ceil(max_chunk).max(1));
        prop_assert_eq!(check_call(method, &frames, max_chunk, le), data);
    }

    #[test]
    fn response_apdus_reassemble(len in 0usize..200_000) {
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let apdus = response_apdus(&data);
        let mut joined = Vec::new();
        for (i, apdu) in apdus.iter().enumerate() {
            let (part, sw) = split_response(apdu).unwrap();
            prop_assert!(part.len() <= MAX_RESPONSE_CHUNK);
            joined.extend_from_slice(part);
            let remaining = len - joined.len();
            if i == apdus.len() - 1 {
                prop_assert_eq!(sw, sw::OK);
                prop_assert_eq!(remaining, 0);
            } else {
                prop_assert_eq!(part.len(), MAX_RESPONSE_CHUNK);
                prop_assert_eq!(sw >> 8, 0x61);
                prop_assert_eq!(usize::from(sw & 0xff), if remaining >= 256 { 0 } else { remaining });
            }
        }
        prop_assert_eq!(joined, data);
    }
}

#[test]
fn extended_apdu_cases() {
    // Case 1: header only.
    assert_eq!(
        extended_apdu(0x80, 0x52, 1, 0, &[], None),
        [0x80, 0x52, 0x01, 0x00]
    );
    // Case 2E: 00 Le1 Le2.
    assert_eq!(
        extended_apdu(0x00, 0xC0, 0, 0, &[], Some(0)),
        [0x00, 0xC0, 0, 0, 0, 0, 0]
    );
    assert_eq!(
        extended_apdu(0x00, 0xC0, 0, 0, &[], Some(0x1234)),
        [0x00, 0xC0, 0, 0, 0, 0x12, 0x34]
    );
    // Case 3E: 00 Lc1 Lc2 data.
    assert_eq!(
        extended_apdu(0x80, 0x52, 3, 0, &[0xAA, 0xBB], None),
        [0x80, 0x52, 0x03, 0x00, 0x00, 0x00, 0x02, 0xAA, 0xBB]
    );
    // Case 4E: 00 Lc1 Lc2 data Le1 Le2 (no second 00 before Le).
    assert_eq!(
        extended_apdu(0x80, 0x52, 3, 0, &[0xAA], Some(0x0100)),
        [0x80, 0x52, 0x03, 0x00, 0x00, 0x00, 0x01, 0xAA, 0x01, 0x00]
    );
    let big = vec![0x11; 65535];
    let apdu = extended_apdu(0x90, 0x52, 15, 0, &big, None);
    assert_eq!(&apdu[..7], &[0x90, 0x52, 0x0F, 0x00, 0x00, 0xFF, 0xFF]);
    assert_eq!(apdu.len(), 7 + 65535);
    for apdu in [
        extended_apdu(0x80, 0x52, 1, 0, &[], None),
        extended_apdu(0x80, 0x52, 1, 0, &[], Some(7)),
        extended_apdu(0x80, 0x52, 1, 0, &[1, 2, 3], None),
        extended_apdu(0x80, 0x52, 1, 0, &[1, 2, 3], Some(0)),
    ] {
        parse_apdu(&apdu).unwrap();
    }
}

#[test]
fn select_and_get_response() {
    assert_eq!(
        select_apdu(),
        [0x00, 0xA4, 0x04, 0x00, 0x06, 0xF0, 0x53, 0x4B, 0x53, 0x01, 0x00]
    );
    assert_eq!(
        get_response_apdu(0),
        [0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00]
    );
    let gr = get_response_apdu(0);
    let (header, data, ne) = parse_apdu(&gr).unwrap();
    assert_eq!(
        (header, data, ne),
        ([0x00, 0xC0, 0x00, 0x00], &[][..], Some(65536))
    );
}

#[test]
fn split_response_cases() {
    assert_eq!(split_response(&[]), None);
    assert_eq!(split_response(&[0x90]), None);
    assert_eq!(split_response(&[0x90, 0x00]), Some((&[][..], 0x9000)));
    assert_eq!(
        split_response(&[0x00, 0x61, 0x00]),
        Some((&[0x00][..], 0x6100))
    );
    assert_eq!(
        split_response(&[1, 2, 3, 0x6A, 0x86]),
        Some((&[1, 2, 3][..], 0x6A86))
    );
}

#[test]
fn sw_bytes_remaining_cases() {
    assert_eq!(sw_bytes_remaining(1), 0x6101);
    assert_eq!(sw_bytes_remaining(255), 0x61FF);
    assert_eq!(sw_bytes_remaining(256), 0x6100);
    assert_eq!(sw_bytes_remaining(34_720), 0x6100);
}

#[test]
fn instruction_and_method_ids_fit_iso_rules() {
    // INS values 6X and 9X are invalid (ISO 7816-3/-4); INS must also be even for T=0.
    let invalid_ins = |ins: u8| matches!(ins >> 4, 0x6 | 0x9) || ins & 1 == 1;
    assert!(!invalid_ins(INS_SKS_CALL));
    // Using the method id as INS would not work for the User API: 100-104 = 0x64-0x68.
    let user_api: Vec<u8> = MethodId::ALL
        .iter()
        .map(|m| *m as u8)
        .filter(|id| *id >= 100)
        .collect();
    assert_eq!(user_api, [0x64, 0x65, 0x66, 0x67, 0x68]);
    assert!(user_api.iter().all(|id| invalid_ins(*id)));
    // P1 carries any id.
    const { assert!(MAX_RESPONSE_CHUNK + 2 <= 65535) };
    assert_eq!(MAX_RESPONSE_CHUNK, 65280);
}

/// The status words are the ones README §4 documents, whichever iso7816 `Status` names them.
#[test]
fn status_words_are_the_documented_numbers() {
    let documented = [
        (sw::OK, 0x9000),
        (sw::WRONG_LENGTH, 0x6700),
        (sw::LAST_COMMAND_EXPECTED, 0x6883),
        (sw::CHAINING_NOT_SUPPORTED, 0x6884),
        (sw::SECURITY_STATUS, 0x6982),
        (sw::CONDITIONS_NOT_SATISFIED, 0x6985),
        (sw::WRONG_DATA, 0x6A80),
        (sw::FILE_NOT_FOUND, 0x6A82),
        (sw::INCORRECT_P1P2, 0x6A86),
        (sw::INS_NOT_SUPPORTED, 0x6D00),
        (sw::CLA_NOT_SUPPORTED, 0x6E00),
        (sw::UNKNOWN, 0x6F00),
    ];
    for (sw, number) in documented {
        assert_eq!(sw, number, "{sw:04X}");
        assert_eq!(
            Status::from(number).to_u16(),
            number,
            "{number:04X} round-trips"
        );
    }
    assert_eq!(
        response_apdu(vec![1, 2], Status::MoreAvailable(7)),
        [1, 2, 0x61, 0x07]
    );
}
