//! ISO 7816-4 status words in words, for error messages.

use apdu_spec::envelope::sw;

/// The ISO 7816-4 meaning of a status word, as short English text.
pub fn sw_meaning(status: u16) -> &'static str {
    let [sw1, sw2] = status.to_be_bytes();
    match status {
        sw::OK => "normal processing",
        sw::WRONG_LENGTH => "wrong length",
        0x6881 => "logical channel not supported",
        0x6882 => "secure messaging not supported",
        sw::LAST_COMMAND_EXPECTED => "last command of the chain expected",
        sw::CHAINING_NOT_SUPPORTED => "command chaining not supported",
        0x6981 => "command incompatible with file structure",
        sw::SECURITY_STATUS => "security status not satisfied",
        0x6983 => "authentication method blocked",
        0x6984 => "reference data not usable",
        sw::CONDITIONS_NOT_SATISFIED => "conditions of use not satisfied",
        0x6986 => "command not allowed (no current EF)",
        sw::WRONG_DATA => "incorrect parameters in the data field",
        0x6A81 => "function not supported",
        sw::FILE_NOT_FOUND => "file or application not found",
        0x6A84 => "not enough memory space",
        0x6A85 => "Nc inconsistent with TLV structure",
        sw::INCORRECT_P1P2 => "incorrect parameters P1-P2",
        0x6A87 => "Nc inconsistent with parameters P1-P2",
        0x6A88 => "referenced data not found",
        0x6B00 => "wrong parameters P1-P2",
        sw::INS_NOT_SUPPORTED => "instruction code not supported or invalid",
        sw::CLA_NOT_SUPPORTED => "class not supported",
        sw::UNKNOWN => "no precise diagnosis",
        0x6400 => "execution error, state of non-volatile memory unchanged",
        0x6581 => "memory failure",
        _ => match sw1 {
            sw::BYTES_REMAINING => "response bytes still available (GET RESPONSE)",
            0x6C => "wrong Le field (SW2 gives the exact length)",
            0x62 => "warning, state of non-volatile memory unchanged",
            0x63 if sw2 & 0xF0 == 0xC0 => "verification failed (SW2 low nibble: retries left)",
            0x63 => "warning, state of non-volatile memory changed",
            0x64 => "execution error, state of non-volatile memory unchanged",
            0x65 => "execution error, state of non-volatile memory changed",
            0x66 => "security-related issue",
            0x67 => "wrong length",
            0x68 => "functions in CLA not supported",
            0x69 => "command not allowed",
            0x6A => "wrong parameters",
            0x90 => "normal processing (with extra information)",
            _ => "unknown status word",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meanings() {
        assert_eq!(sw_meaning(0x6A86), "incorrect parameters P1-P2");
        assert_eq!(
            sw_meaning(0x6110),
            "response bytes still available (GET RESPONSE)"
        );
        assert_eq!(
            sw_meaning(0x63C2),
            "verification failed (SW2 low nibble: retries left)"
        );
        assert_eq!(sw_meaning(0x1234), "unknown status word");
    }
}
