//! Newtypes for the spec's data types whose wire form or limits differ from a plain Rust type
//! (spec 7.1). Limits are checked when decoding and when constructing with `new`.

use crate::codec::{DecodeError, Reader, Wire, Writer};
use core::fmt;
use core::ops::Deref;

/// `Debug` (`Name(N bytes)`, never the content), `Deref<Target = [u8]>` and `From<Vec<u8>>` of a
/// `Vec<u8>` newtype.
macro_rules! byte_newtype {
    ($name:ident) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({} bytes)"), self.0.len())
            }
        }

        impl Deref for $name {
            type Target = [u8];
            fn deref(&self) -> &[u8] {
                &self.0
            }
        }

        impl From<Vec<u8>> for $name {
            fn from(v: Vec<u8>) -> Self {
                Self(v)
            }
        }
    };
}

/// `byte[]`: up to 65,535 bytes with a `u16` length prefix. A zero-length array stands for
/// "absent" wherever the Java reference uses `null` (spec-notes §2.4).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    pub fn empty() -> Self {
        Self(Vec::new())
    }
}

byte_newtype!(Bytes);

impl From<&[u8]> for Bytes {
    fn from(v: &[u8]) -> Self {
        Self(v.to_vec())
    }
}

impl Wire for Bytes {
    fn encode(&self, w: &mut Writer) {
        w.short_array("byte[]", &self.0);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self(r.short_array()?.to_vec()))
    }
}

/// `blob`: up to 2^32-1 bytes with a `u32` length prefix (extension data).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Blob(pub Vec<u8>);

byte_newtype!(Blob);

impl Wire for Blob {
    fn encode(&self, w: &mut Writer) {
        w.long_array(&self.0);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self(r.long_array()?.to_vec()))
    }
}

/// `byte[32]`: a MAC or an HMAC attestation. On the wire it is a `byte[]` whose length must be
/// exactly 32.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Mac(pub [u8; 32]);

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mac({})", hex_prefix(&self.0))
    }
}

impl Deref for Mac {
    type Target = [u8; 32];
    fn deref(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<[u8; 32]> for Mac {
    fn from(v: [u8; 32]) -> Self {
        Self(v)
    }
}

impl Wire for Mac {
    fn encode(&self, w: &mut Writer) {
        w.short_array("byte[32]", &self.0);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let offset = r.offset();
        let bytes = r.short_array()?;
        <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| DecodeError::WrongLength {
                offset,
                expected: 32,
                len: bytes.len(),
            })
    }
}

/// `new` (checked with `$valid`, `InvalidValue` named `$what` if not), `as_str`, `Debug`
/// (`Name("...")`), `Display` (the text) and `Deref<Target = str>` of a validated `String`
/// newtype.
macro_rules! text_newtype {
    ($name:ident, $what:literal, $valid:expr) => {
        impl $name {
            pub fn new(s: impl Into<String>) -> Result<Self, InvalidValue> {
                let s = s.into();
                let valid: fn(&str) -> bool = $valid;
                if valid(&s) {
                    Ok(Self(s))
                } else {
                    Err(InvalidValue {
                        what: $what,
                        value: s,
                    })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// The `Wire` form of a `String` newtype of at most `MAX_LEN` bytes: a `u16`-prefixed UTF-8
/// array, `$what` naming it in errors.
macro_rules! bounded_text_wire {
    ($name:ident, $what:literal) => {
        impl Wire for $name {
            fn encode(&self, w: &mut Writer) {
                w.short_array($what, self.0.as_bytes());
            }
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                let offset = r.offset();
                let s = String::decode(r)?;
                if s.len() > Self::MAX_LEN {
                    return Err(DecodeError::TooLong {
                        offset,
                        what: $what,
                        len: s.len(),
                        max: Self::MAX_LEN,
                    });
                }
                Ok(Self(s))
            }
        }
    };
}

/// `id`: 1-32 bytes of printable ASCII (0x21-0x7E), `u16` length prefix.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(String);

impl Id {
    pub const MAX_LEN: usize = 32;

    /// Whether `s` is a well-formed `id`.
    pub fn is_valid(s: &[u8]) -> bool {
        (1..=Self::MAX_LEN).contains(&s.len()) && s.iter().all(|b| (0x21..=0x7e).contains(b))
    }
}

text_newtype!(Id, "id", |s| Id::is_valid(s.as_bytes()));

impl Wire for Id {
    fn encode(&self, w: &mut Writer) {
        w.short_array("id", self.0.as_bytes());
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let offset = r.offset();
        let bytes = r.short_array()?;
        if !Self::is_valid(bytes) {
            return Err(DecodeError::BadId { offset });
        }
        // Printable ASCII is valid UTF-8.
        Ok(Self(bytes.iter().map(|&b| char::from(b)).collect()))
    }
}

/// `uri`: UTF-8, at most 1000 bytes, `u16` length prefix. May be empty where the spec allows a
/// zero-length value (updateUrl); methods that need a non-empty URI check that themselves.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uri(String);

impl Uri {
    pub const MAX_LEN: usize = 1000;
}

text_newtype!(Uri, "uri", |s| s.len() <= Uri::MAX_LEN);

bounded_text_wire!(Uri, "uri");

/// The English error description of a failed call (spec 7.2): a `string` of at most 2000 bytes.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct ErrorString(String);

impl ErrorString {
    pub const MAX_LEN: usize = 2000;

    /// Builds an error string, cutting it at a character boundary to fit 2000 bytes.
    pub fn truncating(s: impl Into<String>) -> Self {
        let mut s = s.into();
        if s.len() > Self::MAX_LEN {
            let mut end = Self::MAX_LEN;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
        }
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ErrorString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

bounded_text_wire!(ErrorString, "error string");

/// A value rejected by a checked constructor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidValue {
    pub what: &'static str,
    pub value: String,
}

impl fmt::Display for InvalidValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {:?}", self.what, self.value)
    }
}

impl std::error::Error for InvalidValue {}

fn hex_prefix(bytes: &[u8]) -> String {
    const SHOWN: usize = 24;
    let mut s: String = bytes
        .iter()
        .take(SHOWN)
        .map(|b| format!("{b:02x}"))
        .collect();
    if bytes.len() > SHOWN {
        s.push_str(&format!("… ({} bytes)", bytes.len()));
    }
    s
}

/// Generators for the property tests: only values that satisfy each type's limits, with sizes
/// kept small (large values have their own tests).
#[cfg(test)]
mod arbitrary_impls {
    use super::*;
    use proptest::prelude::*;

    /// Cuts `s` at the last character boundary at or below `max` bytes.
    fn cut(mut s: String, max: usize) -> String {
        if s.len() > max {
            let mut end = max;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
        }
        s
    }

    /// Up to 300 arbitrary bytes.
    macro_rules! arbitrary_bytes {
        ($name:ident) => {
            impl Arbitrary for $name {
                type Parameters = ();
                type Strategy = BoxedStrategy<Self>;
                fn arbitrary_with((): ()) -> Self::Strategy {
                    prop::collection::vec(any::<u8>(), 0..=300)
                        .prop_map($name)
                        .boxed()
                }
            }
        };
    }

    arbitrary_bytes!(Bytes);
    arbitrary_bytes!(Blob);

    impl Arbitrary for Mac {
        type Parameters = ();
        type Strategy = BoxedStrategy<Self>;
        fn arbitrary_with((): ()) -> Self::Strategy {
            any::<[u8; 32]>().prop_map(Mac).boxed()
        }
    }

    impl Arbitrary for Id {
        type Parameters = ();
        type Strategy = BoxedStrategy<Self>;
        fn arbitrary_with((): ()) -> Self::Strategy {
            "[!-~]{1,32}".prop_map(Id).boxed()
        }
    }

    impl Arbitrary for Uri {
        type Parameters = ();
        type Strategy = BoxedStrategy<Self>;
        fn arbitrary_with((): ()) -> Self::Strategy {
            prop_oneof![
                // Typical algorithm-style URIs.
                "https?://[a-z.]{1,20}/[a-zA-Z0-9/#._-]{0,60}",
                // Any UTF-8, sometimes close to the 1000-byte limit.
                any::<String>(),
                "\\PC{900,1000}",
            ]
            .prop_map(|s| Uri(cut(s, Uri::MAX_LEN)))
            .boxed()
        }
    }

    impl Arbitrary for ErrorString {
        type Parameters = ();
        type Strategy = BoxedStrategy<Self>;
        fn arbitrary_with((): ()) -> Self::Strategy {
            prop_oneof![any::<String>(), "\\PC{1900,2000}"]
                .prop_map(|s| ErrorString(cut(s, ErrorString::MAX_LEN)))
                .boxed()
        }
    }
}
