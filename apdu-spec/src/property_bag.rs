//! Property bags (addExtension subType 0x02; spec-notes §4.14, §4.20): the one codec of the
//! card, the issuer and the CLI.
//!
//! A bag is a non-empty sequence of properties, each `u16 len ‖ name ‖ writable byte (00|01) ‖
//! u16 len ‖ value`; names are 1-255 bytes; names and values are UTF-8; the blob is consumed
//! exactly.

use crate::codec::{EncodeError, Reader, Writer};

/// One property, borrowed from a bag blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PropertyRef<'a> {
    pub name: &'a str,
    pub writable: bool,
    pub value: &'a str,
}

/// Why a bag operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BagError {
    /// The blob is not a well-formed property bag.
    Malformed,
    /// [`rewrite`]: the property is not writable.
    ReadOnly,
    /// [`rewrite`]: no property has that name.
    NoSuchProperty,
    /// [`rewrite`]: the new value does not fit a `u16` length.
    ValueTooLong,
}

/// The longest property name, in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// Parses and validates a bag.
pub fn parse(blob: &[u8]) -> Result<Vec<PropertyRef<'_>>, BagError> {
    if blob.is_empty() {
        return Err(BagError::Malformed);
    }
    let mut r = Reader::new(blob);
    let mut out = Vec::new();
    while r.remaining() > 0 {
        let name = r.short_array().map_err(|_| BagError::Malformed)?;
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(BagError::Malformed);
        }
        let writable = match r.u8().map_err(|_| BagError::Malformed)? {
            0 => false,
            1 => true,
            _ => return Err(BagError::Malformed),
        };
        let value = r.short_array().map_err(|_| BagError::Malformed)?;
        out.push(PropertyRef {
            name: core::str::from_utf8(name).map_err(|_| BagError::Malformed)?,
            writable,
            value: core::str::from_utf8(value).map_err(|_| BagError::Malformed)?,
        });
    }
    Ok(out)
}

/// Encodes properties as given (no validation: an issuer may build a malformed bag on purpose
/// to test a card; [`parse`] is the check).
pub fn encode<'a>(
    props: impl IntoIterator<Item = PropertyRef<'a>>,
) -> Result<Vec<u8>, EncodeError> {
    let mut w = Writer::new();
    for p in props {
        w.short_array("property name", p.name.as_bytes());
        w.u8(u8::from(p.writable));
        w.short_array("property value", p.value.as_bytes());
    }
    w.finish()
}

/// The bag with the value of writable property `name` replaced by `value`.
pub fn rewrite(blob: &[u8], name: &[u8], value: &[u8]) -> Result<Vec<u8>, BagError> {
    if u16::try_from(value.len()).is_err() {
        return Err(BagError::ValueTooLong);
    }
    let props = parse(blob)?;
    // Every property of that name (a bag may repeat one) is rewritten, so each must be
    // writable.
    let mut matching = props
        .iter()
        .filter(|p| p.name.as_bytes() == name)
        .peekable();
    if matching.peek().is_none() {
        return Err(BagError::NoSuchProperty);
    }
    if matching.any(|p| !p.writable) {
        return Err(BagError::ReadOnly);
    }
    let mut w = Writer::with_buffer(Vec::with_capacity(blob.len() + value.len()));
    for p in &props {
        w.short_array("property name", p.name.as_bytes());
        w.u8(u8::from(p.writable));
        if p.name.as_bytes() == name {
            w.short_array("property value", value);
        } else {
            w.short_array("property value", p.value.as_bytes());
        }
    }
    w.finish().map_err(|_| BagError::ValueTooLong)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p<'a>(name: &'a str, value: &'a str, writable: bool) -> PropertyRef<'a> {
        PropertyRef {
            name,
            writable,
            value,
        }
    }

    #[test]
    fn round_trip_and_wire_bytes() {
        let bag = encode([p("Counter", "0", true), p("Digits", "8", false)]).unwrap();
        assert_eq!(
            bag,
            [
                &[0x00, 0x07][..],
                b"Counter",
                &[0x01, 0x00, 0x01],
                b"0",
                &[0x00, 0x06],
                b"Digits",
                &[0x00, 0x00, 0x01],
                b"8"
            ]
            .concat()
        );
        assert_eq!(
            parse(&bag).unwrap(),
            vec![p("Counter", "0", true), p("Digits", "8", false)]
        );
        let new = rewrite(&bag, b"Counter", b"42").unwrap();
        assert_eq!(parse(&new).unwrap()[0], p("Counter", "42", true));
        assert_eq!(rewrite(&bag, b"Digits", b"6"), Err(BagError::ReadOnly));
        assert_eq!(rewrite(&bag, b"Nope", b"6"), Err(BagError::NoSuchProperty));
        assert_eq!(
            rewrite(&bag, b"Counter", &vec![b'x'; 70_000]),
            Err(BagError::ValueTooLong)
        );
    }

    #[test]
    fn malformed_bags() {
        assert_eq!(parse(&[]), Err(BagError::Malformed));
        assert_eq!(parse(&[0, 1, b'a', 2, 0, 0]), Err(BagError::Malformed)); // writable 2
        assert_eq!(parse(&[0, 0, 0, 0, 0]), Err(BagError::Malformed)); // empty name
        assert_eq!(parse(&[0, 1, b'a', 0, 0]), Err(BagError::Malformed)); // truncated
        assert_eq!(parse(&[0, 1, 0xFF, 0, 0, 0]), Err(BagError::Malformed)); // not UTF-8
        let long = encode([p(&"n".repeat(256), "", false)]).unwrap();
        assert_eq!(parse(&long), Err(BagError::Malformed));
    }
}
