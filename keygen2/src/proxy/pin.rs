//! User-defined PINs (PROTOCOL.md §4.4 "User-defined PINs", spec-notes §5): how many to ask
//! for, and the local checks that must pass before the first createKeyEntry, because a PIN the
//! SKS rejects tears the whole provisioning session down.

use crate::messages::{KeyEntrySpecifier, PinPolicySpecifier};
use crate::types::{AppUsage, Grouping, PatternRestriction, PinFormat};
use zeroize::Zeroizing;

/// One PIN the user is asked for.
#[derive(Debug, Clone)]
pub struct PinPrompt {
    /// The PIN policy id.
    pub policy_id: String,
    /// The ids of the keys this PIN will protect.
    pub key_ids: Vec<String>,
    pub format: PinFormat,
    pub min_length: u16,
    pub max_length: u16,
    /// Why the previous attempt was refused, if it was.
    pub retry_reason: Option<String>,
}

/// A PIN class within one policy: which keys share one PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// grouping none: one PIN per key (index of the key in the policy).
    Key(usize),
    /// shared: one PIN for the policy.
    Policy,
    /// unique: one PIN per appUsage.
    Usage(AppUsage),
    /// signature+standard: signature keys / the others.
    Signature(bool),
}

fn class(grouping: Grouping, index: usize, k: &KeyEntrySpecifier) -> Class {
    match grouping {
        Grouping::None => Class::Key(index),
        Grouping::Shared => Class::Policy,
        Grouping::Unique => Class::Usage(k.app_usage),
        Grouping::SignaturePlusStandard => Class::Signature(k.app_usage == AppUsage::Signature),
    }
}

/// The PIN classes of a user-defined policy, in key order: (class, key indexes).
fn classes(p: &PinPolicySpecifier) -> Vec<(Class, Vec<usize>)> {
    let g = p.grouping.unwrap_or(Grouping::None);
    let mut out: Vec<(Class, Vec<usize>)> = Vec::new();
    for (i, k) in p.key_entry_specifiers.iter().enumerate() {
        let c = class(g, i, k);
        match out.iter_mut().find(|(x, _)| *x == c) {
            Some((_, v)) => v.push(i),
            None => out.push((c, vec![i])),
        }
    }
    out
}

/// Decodes what the user typed: hex for format binary, UTF-8 otherwise.
pub fn decode_typed(format: PinFormat, typed: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    match format {
        PinFormat::Binary => {
            let t = typed.trim();
            if !t.len().is_multiple_of(2) || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err("PIN syntax error: hexadecimal expected".into());
            }
            Ok(Zeroizing::new(
                (0..t.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&t[i..i + 2], 16).unwrap_or(0))
                    .collect(),
            ))
        }
        _ => Ok(Zeroizing::new(typed.as_bytes().to_vec())),
    }
}

/// Checks a PIN against its policy: length in bytes, syntax, pattern restrictions.
pub fn check_pin(p: &PinPolicySpecifier, pin: &[u8]) -> Result<(), String> {
    let len = pin.len();
    if len < usize::from(p.min_length) || len > usize::from(p.max_length) {
        return Err(format!(
            "PIN length error: {}..{} {} expected",
            p.min_length,
            p.max_length,
            if p.format == PinFormat::Binary {
                "bytes"
            } else {
                "characters"
            }
        ));
    }
    let syntax_ok = match p.format {
        PinFormat::Numeric => pin.iter().all(u8::is_ascii_digit),
        PinFormat::Alphanumeric => pin
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()),
        PinFormat::String | PinFormat::Binary => true,
    };
    if !syntax_ok {
        return Err(match p.format {
            PinFormat::Numeric => "PIN syntax error: digits only".into(),
            _ => "PIN syntax error: digits and upper-case letters only".into(),
        });
    }
    let bits = p.pattern_restrictions();
    if bits.contains(PatternRestriction::TwoInARow)
        || bits.contains(PatternRestriction::ThreeInARow)
    {
        let run = if bits.contains(PatternRestriction::TwoInARow) {
            2
        } else {
            3
        };
        let mut same = 1;
        for w in pin.windows(2) {
            same = if w[0] == w[1] { same + 1 } else { 1 };
            if same >= run {
                return Err(format!(
                    "PIN with {run} or more of the same character in a row"
                ));
            }
        }
    }
    if bits.contains(PatternRestriction::Sequence) && len > 1 {
        let step = i16::from(pin[1]) - i16::from(pin[0]);
        if (step == 1 || step == -1)
            && pin
                .windows(2)
                .all(|w| i16::from(w[1]) - i16::from(w[0]) == step)
        {
            return Err("PIN must not be a sequence".into());
        }
    }
    if bits.contains(PatternRestriction::Repeated) {
        for (i, b) in pin.iter().enumerate() {
            if pin[i + 1..].contains(b) {
                return Err("Repeated PIN character".into());
            }
        }
    }
    if bits.contains(PatternRestriction::MissingGroup) {
        let upper = pin.iter().any(u8::is_ascii_uppercase);
        let digit = pin.iter().any(u8::is_ascii_digit);
        let lower = pin.iter().any(u8::is_ascii_lowercase);
        let other = pin.iter().any(|b| !b.is_ascii_alphanumeric());
        let ok = upper && digit && (p.format != PinFormat::String || (lower && other));
        if !ok {
            return Err("Missing character group in PIN".into());
        }
    }
    Ok(())
}

/// Asks for every PIN of a user-defined policy through `ask` (which returns `None` when the
/// user cancels) and returns the PIN of each key, in key order. A PIN that fails the policy
/// or the grouping rules is asked for again, with the reason.
pub fn collect_pins(
    p: &PinPolicySpecifier,
    ask: &mut dyn FnMut(&PinPrompt) -> Option<Zeroizing<String>>,
) -> Result<Vec<Zeroizing<Vec<u8>>>, super::ProxyError> {
    let classes = classes(p);
    let mut per_key: Vec<Option<Zeroizing<Vec<u8>>>> = vec![None; p.key_entry_specifiers.len()];
    let mut given: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    let must_differ = matches!(
        p.grouping,
        Some(Grouping::Unique) | Some(Grouping::SignaturePlusStandard)
    );
    for (_, keys) in &classes {
        let mut prompt = PinPrompt {
            policy_id: p.id.to_string(),
            key_ids: keys
                .iter()
                .map(|&i| p.key_entry_specifiers[i].id.to_string())
                .collect(),
            format: p.format,
            min_length: p.min_length,
            max_length: p.max_length,
            retry_reason: None,
        };
        let pin = loop {
            let typed = ask(&prompt).ok_or(super::ProxyError::Cancelled)?;
            let checked = decode_typed(p.format, &typed).and_then(|pin| {
                check_pin(p, &pin)?;
                if must_differ
                    && given
                        .iter()
                        .any(|g| subtle::ConstantTimeEq::ct_eq(&g[..], &pin[..]).into())
                {
                    return Err("this PIN must differ from the other PINs of the policy".into());
                }
                Ok(pin)
            });
            match checked {
                Ok(pin) => break pin,
                Err(reason) => prompt.retry_reason = Some(reason),
            }
        };
        for &i in keys {
            per_key[i] = Some(pin.clone());
        }
        given.push(pin);
    }
    Ok(per_key.into_iter().map(Option::unwrap_or_default).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::PatternRestriction as P;

    fn policy(format: PinFormat, patterns: &[P], min: u16, max: u16) -> PinPolicySpecifier {
        let mut json = serde_json::json!({
            "id": "PIN.1", "minLength": min, "maxLength": max, "retryLimit": 3,
            "format": format.name(),
            "mac": crate::b64::encode(&[0; 32]),
            "keyEntrySpecifiers": [{"id": "Key.1", "appUsage": "signature",
                "keyAlgorithm": "https://webpki.github.io/sks/algorithm#ec.nist.p256",
                "mac": crate::b64::encode(&[0; 32])}]
        });
        if !patterns.is_empty() {
            json["patternRestrictions"] =
                serde_json::json!(patterns.iter().map(|p| p.name()).collect::<Vec<_>>());
        }
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn the_rules_of_spec_notes_5() {
        let numeric = policy(PinFormat::Numeric, &[], 4, 8);
        assert!(check_pin(&numeric, b"1234").is_ok());
        assert!(check_pin(&numeric, b"123").is_err());
        assert!(check_pin(&numeric, b"12a4").is_err());
        let alnum = policy(PinFormat::Alphanumeric, &[], 4, 8);
        assert!(check_pin(&alnum, b"AB34").is_ok());
        assert!(check_pin(&alnum, b"ab34").is_err(), "lower case");
        let rows = policy(PinFormat::Numeric, &[P::TwoInARow, P::ThreeInARow], 4, 8);
        assert!(check_pin(&rows, b"1124").is_err(), "two-in-a-row wins");
        let three = policy(PinFormat::Numeric, &[P::ThreeInARow], 4, 8);
        assert!(check_pin(&three, b"1124").is_ok());
        assert!(check_pin(&three, b"1114").is_err());
        let seq = policy(PinFormat::Numeric, &[P::Sequence], 4, 8);
        assert!(check_pin(&seq, b"1234").is_err());
        assert!(check_pin(&seq, b"8765").is_err());
        assert!(check_pin(&seq, b"1235").is_ok());
        let rep = policy(PinFormat::Numeric, &[P::Repeated], 4, 8);
        assert!(check_pin(&rep, b"1315").is_err());
        let groups = policy(PinFormat::String, &[P::MissingGroup], 4, 8);
        assert!(check_pin(&groups, b"2aZ.").is_ok());
        for bad in [&b"2aZA"[..], b"a.jZ", b"2 ZA", b"2a 6"] {
            assert!(check_pin(&groups, bad).is_err());
        }
    }

    #[test]
    fn cancel_and_retry() {
        let p = policy(PinFormat::Numeric, &[], 4, 8);
        let mut answers = vec![Some("12"), Some("1234")].into_iter();
        let mut reasons = Vec::new();
        let pins = collect_pins(&p, &mut |prompt| {
            reasons.push(prompt.retry_reason.clone());
            answers
                .next()
                .flatten()
                .map(|s| Zeroizing::new(s.to_string()))
        })
        .unwrap();
        assert_eq!(&pins[0][..], b"1234");
        assert!(reasons[1].as_deref().unwrap().contains("length"));
        let r = collect_pins(&p, &mut |_| None);
        assert!(matches!(r, Err(super::super::ProxyError::Cancelled)));
    }
}
