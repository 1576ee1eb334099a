//! PIN and PUK value rules (spec 5.5 PIN Patterns, 5.6 PIN and PUK Formats, 5.7 PIN Grouping;
//! spec-notes §5.1-5.3). Everything works on the raw bytes of the value.

use crate::db::PinPolicy;
use crate::error::option;
use apdu_spec::values::{PatternRestriction as P, PatternRestrictions, PinFormat};
use apdu_spec::SksError;

/// Whether every byte is allowed by `format`: numeric = digits, alphanumeric = digits and
/// upper-case letters, string and binary = anything (spec 5.6).
pub fn syntax_ok(format: PinFormat, value: &[u8]) -> bool {
    match format {
        PinFormat::Numeric => value.iter().all(u8::is_ascii_digit),
        PinFormat::Alphanumeric => value
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()),
        PinFormat::String | PinFormat::Binary => true,
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

fn check_patterns(
    patterns: PatternRestrictions,
    format: PinFormat,
    pin: &[u8],
) -> Result<(), SksError> {
    let run = |n: usize| pin.windows(n).any(|w| w.iter().all(|b| *b == w[0]));
    if patterns.contains(P::TwoInARow) && run(2) {
        return Err(option("PIN with 2 or more of the same character in a row"));
    }
    if patterns.contains(P::ThreeInARow) && run(3) {
        return Err(option("PIN with 3 or more of the same character in a row"));
    }
    if patterns.contains(P::Sequence) && pin.len() > 1 {
        let step = i16::from(pin[1]) - i16::from(pin[0]);
        if (step == 1 || step == -1)
            && pin
                .windows(2)
                .all(|w| i16::from(w[1]) - i16::from(w[0]) == step)
        {
            return Err(option("PIN must not be a sequence"));
        }
    }
    if patterns.contains(P::Repeated) {
        let mut seen = [false; 256];
        for b in pin {
            if std::mem::replace(&mut seen[usize::from(*b)], true) {
                return Err(option("Repeated PIN character"));
            }
        }
    }
    if patterns.contains(P::MissingGroup) {
        let upper = pin.iter().any(u8::is_ascii_uppercase);
        let digit = pin.iter().any(u8::is_ascii_digit);
        let lower = pin.iter().any(u8::is_ascii_lowercase);
        let other = pin.iter().any(|b| !b.is_ascii_alphanumeric());
        let complete = upper && digit && (format != PinFormat::String || (lower && other));
        if !complete {
            return Err(option("Missing character group in PIN"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use apdu_spec::values::{Grouping, InputMethod};

    fn policy(format: PinFormat, patterns: impl Into<PatternRestrictions>) -> PinPolicy {
        PinPolicy {
            handle: 1,
            session: 1,
            id: "PIN".into(),
            puk: None,
            user_defined: true,
            user_modifiable: true,
            format,
            retry_limit: 3,
            grouping: Grouping::None,
            pattern_restrictions: patterns.into(),
            min_length: 1,
            max_length: 8,
            input_method: InputMethod::Any,
            referenced: true,
        }
    }

    fn ok(format: PinFormat, patterns: impl Into<PatternRestrictions>, pin: &str) -> bool {
        check_pin(&policy(format, patterns), pin.as_bytes()).is_ok()
    }

    #[test]
    fn formats_and_lengths() {
        assert!(ok(PinFormat::Numeric, PatternRestrictions::EMPTY, "0123"));
        assert!(!ok(PinFormat::Numeric, PatternRestrictions::EMPTY, "012a"));
        assert!(ok(
            PinFormat::Alphanumeric,
            PatternRestrictions::EMPTY,
            "AB12"
        ));
        assert!(
            !ok(PinFormat::Alphanumeric, PatternRestrictions::EMPTY, "ab12"),
            "lower case is not alphanumeric"
        );
        assert!(ok(PinFormat::String, PatternRestrictions::EMPTY, "a b!"));
        assert!(check_pin(
            &policy(PinFormat::Binary, PatternRestrictions::EMPTY),
            &[0, 0xff]
        )
        .is_ok());
        assert!(
            !ok(PinFormat::Numeric, PatternRestrictions::EMPTY, "123456789"),
            "longer than 8"
        );
        assert!(
            !ok(PinFormat::Numeric, PatternRestrictions::EMPTY, ""),
            "shorter than 1"
        );
    }

    #[test]
    fn patterns_from_the_notes() {
        assert!(!ok(PinFormat::Numeric, P::TwoInARow, "1124"));
        assert!(!ok(PinFormat::Numeric, P::TwoInARow, "13455"));
        assert!(ok(PinFormat::Numeric, P::TwoInARow, "1213"));
        assert!(!ok(PinFormat::Numeric, P::ThreeInARow, "1114"));
        assert!(!ok(PinFormat::Numeric, P::ThreeInARow, "134555"));
        assert!(ok(PinFormat::Numeric, P::ThreeInARow, "1124"));
        for seq in ["1234", "8765", "abcd"] {
            assert!(!ok(PinFormat::String, P::Sequence, seq), "{seq}");
        }
        for fine in ["1235", "1345", "7"] {
            assert!(ok(PinFormat::String, P::Sequence, fine), "{fine}");
        }
        assert!(!ok(PinFormat::Numeric, P::Repeated, "1315"));
        assert!(ok(PinFormat::Numeric, P::Repeated, "1325"));
        assert!(ok(PinFormat::Alphanumeric, P::MissingGroup, "AB34"));
        assert!(ok(PinFormat::String, P::MissingGroup, "2aZ."));
        for bad in ["2aZA", "a.jZ", "2 ZA", "2a 6"] {
            assert!(!ok(PinFormat::String, P::MissingGroup, bad), "{bad}");
        }
    }
}
