//! PIN and PUK value rules (spec 5.5 PIN Patterns, 5.6 PIN and PUK Formats, 5.7 PIN Grouping;
//! spec-notes §5.1-5.3). Everything works on the raw bytes of the value.

use crate::db::PinPolicy;
use crate::error::option;
use apdu_spec::SksError;

pub const FORMAT_NUMERIC: u8 = 0;
pub const FORMAT_ALPHANUMERIC: u8 = 1;
pub const FORMAT_STRING: u8 = 2;
pub const FORMAT_BINARY: u8 = 3;

pub const PATTERN_TWO_IN_A_ROW: u8 = 0x01;
pub const PATTERN_THREE_IN_A_ROW: u8 = 0x02;
pub const PATTERN_SEQUENCE: u8 = 0x04;
pub const PATTERN_REPEATED: u8 = 0x08;
pub const PATTERN_MISSING_GROUP: u8 = 0x10;

pub const GROUPING_NONE: u8 = 0;
pub const GROUPING_SHARED: u8 = 1;
pub const GROUPING_SIGNATURE_PLUS_STANDARD: u8 = 2;
pub const GROUPING_UNIQUE: u8 = 3;

pub const APP_USAGE_SIGNATURE: u8 = 0;

/// Whether every byte is allowed by `format`: numeric = digits, alphanumeric = digits and
/// upper-case letters, string and binary = anything (spec 5.6).
pub fn syntax_ok(format: u8, value: &[u8]) -> bool {
    match format {
        FORMAT_NUMERIC => value.iter().all(u8::is_ascii_digit),
        FORMAT_ALPHANUMERIC => value
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()),
        _ => true,
    }
}

/// Checks a PIN against its policy: length in bytes, format syntax and pattern restrictions.
pub fn check_pin(policy: &PinPolicy, pin: &[u8]) -> Result<(), SksError> {
    if pin.len() < usize::from(policy.min_length) || pin.len() > usize::from(policy.max_length) {
        return Err(option("PIN length error"));
    }
    if !syntax_ok(policy.format, pin) {
        return Err(option("PIN syntax error"));
    }
    check_patterns(policy.pattern_restrictions, policy.format, pin)
}

fn check_patterns(patterns: u8, format: u8, pin: &[u8]) -> Result<(), SksError> {
    let run = |n: usize| pin.windows(n).any(|w| w.iter().all(|b| *b == w[0]));
    if patterns & PATTERN_TWO_IN_A_ROW != 0 && run(2) {
        return Err(option("PIN with 2 or more of the same character in a row"));
    }
    if patterns & PATTERN_THREE_IN_A_ROW != 0 && run(3) {
        return Err(option("PIN with 3 or more of the same character in a row"));
    }
    if patterns & PATTERN_SEQUENCE != 0 && pin.len() > 1 {
        let step = i16::from(pin[1]) - i16::from(pin[0]);
        if (step == 1 || step == -1)
            && pin
                .windows(2)
                .all(|w| i16::from(w[1]) - i16::from(w[0]) == step)
        {
            return Err(option("PIN must not be a sequence"));
        }
    }
    if patterns & PATTERN_REPEATED != 0 {
        let mut seen = [false; 256];
        for b in pin {
            if std::mem::replace(&mut seen[usize::from(*b)], true) {
                return Err(option("Repeated PIN character"));
            }
        }
    }
    if patterns & PATTERN_MISSING_GROUP != 0 {
        let upper = pin.iter().any(u8::is_ascii_uppercase);
        let digit = pin.iter().any(u8::is_ascii_digit);
        let lower = pin.iter().any(u8::is_ascii_lowercase);
        let other = pin.iter().any(|b| !b.is_ascii_alphanumeric());
        let complete = upper && digit && (format != FORMAT_STRING || (lower && other));
        if !complete {
            return Err(option("Missing character group in PIN"));
        }
    }
    Ok(())
}

/// Whether two keys under the same policy must share (`true`) or must not share (`false`) a
/// PIN, or are unconstrained (`None`), by the policy's grouping (spec 5.7, spec-notes §5.3).
pub fn grouping_rule(grouping: u8, app_usage_a: u8, app_usage_b: u8) -> Option<bool> {
    match grouping {
        GROUPING_SHARED => Some(true),
        GROUPING_UNIQUE => Some(app_usage_a == app_usage_b),
        GROUPING_SIGNATURE_PLUS_STANDARD => {
            Some((app_usage_a == APP_USAGE_SIGNATURE) == (app_usage_b == APP_USAGE_SIGNATURE))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(format: u8, patterns: u8) -> PinPolicy {
        PinPolicy {
            handle: 1,
            session: 1,
            id: "PIN".into(),
            puk: None,
            user_defined: true,
            user_modifiable: true,
            format,
            retry_limit: 3,
            grouping: 0,
            pattern_restrictions: patterns,
            min_length: 1,
            max_length: 8,
            input_method: 0,
            referenced: true,
        }
    }

    fn ok(format: u8, patterns: u8, pin: &str) -> bool {
        check_pin(&policy(format, patterns), pin.as_bytes()).is_ok()
    }

    #[test]
    fn formats_and_lengths() {
        assert!(ok(FORMAT_NUMERIC, 0, "0123"));
        assert!(!ok(FORMAT_NUMERIC, 0, "012a"));
        assert!(ok(FORMAT_ALPHANUMERIC, 0, "AB12"));
        assert!(
            !ok(FORMAT_ALPHANUMERIC, 0, "ab12"),
            "lower case is not alphanumeric"
        );
        assert!(ok(FORMAT_STRING, 0, "a b!"));
        assert!(check_pin(&policy(FORMAT_BINARY, 0), &[0, 0xff]).is_ok());
        assert!(!ok(FORMAT_NUMERIC, 0, "123456789"), "longer than 8");
        assert!(!ok(FORMAT_NUMERIC, 0, ""), "shorter than 1");
    }

    #[test]
    fn patterns_from_the_notes() {
        assert!(!ok(FORMAT_NUMERIC, PATTERN_TWO_IN_A_ROW, "1124"));
        assert!(!ok(FORMAT_NUMERIC, PATTERN_TWO_IN_A_ROW, "13455"));
        assert!(ok(FORMAT_NUMERIC, PATTERN_TWO_IN_A_ROW, "1213"));
        assert!(!ok(FORMAT_NUMERIC, PATTERN_THREE_IN_A_ROW, "1114"));
        assert!(!ok(FORMAT_NUMERIC, PATTERN_THREE_IN_A_ROW, "134555"));
        assert!(ok(FORMAT_NUMERIC, PATTERN_THREE_IN_A_ROW, "1124"));
        for seq in ["1234", "8765", "abcd"] {
            assert!(!ok(FORMAT_STRING, PATTERN_SEQUENCE, seq), "{seq}");
        }
        for fine in ["1235", "1345", "7"] {
            assert!(ok(FORMAT_STRING, PATTERN_SEQUENCE, fine), "{fine}");
        }
        assert!(!ok(FORMAT_NUMERIC, PATTERN_REPEATED, "1315"));
        assert!(ok(FORMAT_NUMERIC, PATTERN_REPEATED, "1325"));
        assert!(ok(FORMAT_ALPHANUMERIC, PATTERN_MISSING_GROUP, "AB34"));
        assert!(ok(FORMAT_STRING, PATTERN_MISSING_GROUP, "2aZ."));
        for bad in ["2aZA", "a.jZ", "2 ZA", "2a 6"] {
            assert!(!ok(FORMAT_STRING, PATTERN_MISSING_GROUP, bad), "{bad}");
        }
    }

    #[test]
    fn grouping_rules() {
        assert_eq!(grouping_rule(GROUPING_NONE, 0, 1), None);
        assert_eq!(grouping_rule(GROUPING_SHARED, 0, 1), Some(true));
        assert_eq!(grouping_rule(GROUPING_UNIQUE, 1, 1), Some(true));
        assert_eq!(grouping_rule(GROUPING_UNIQUE, 1, 2), Some(false));
        assert_eq!(
            grouping_rule(GROUPING_SIGNATURE_PLUS_STANDARD, 1, 2),
            Some(true)
        );
        assert_eq!(
            grouping_rule(GROUPING_SIGNATURE_PLUS_STANDARD, 0, 2),
            Some(false)
        );
    }
}
