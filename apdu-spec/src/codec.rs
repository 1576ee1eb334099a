//! The serialized form of the spec's data types (spec 7.1 "Data Types", spec-notes §2).
//!
//! Everything is big-endian. `byte[]`, `string`, `uri` and `id` carry a `u16` length prefix,
//! `blob` a `u32` one. Lists (`certificate...`, `endorsedAlgorithm...`) are a `u16` element
//! count followed by the elements, each with its own prefix (the count is this project's choice,
//! spec-notes §12.1; MAC data never contains it).

use core::fmt;

/// Why a byte string did not decode as the expected message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended inside a value.
    Truncated { offset: usize, needed: usize },
    /// Bytes were left after the last field.
    Trailing { offset: usize, extra: usize },
    /// A `bool` was neither 0x00 nor 0x01.
    BadBool { offset: usize, value: u8 },
    /// A `string`, `uri` or `id` was not valid UTF-8.
    BadUtf8 { offset: usize },
    /// An `id` was empty, longer than 32 bytes or held a byte outside 0x21-0x7E.
    BadId { offset: usize },
    /// A value was longer than its type allows.
    TooLong {
        offset: usize,
        what: &'static str,
        len: usize,
        max: usize,
    },
    /// A fixed-length array (`byte[32]`) had another length.
    WrongLength {
        offset: usize,
        expected: usize,
        len: usize,
    },
    /// A response status byte that is neither 0x00 nor an SKS error code.
    BadStatus { offset: usize, value: u8 },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { offset, needed } => {
                write!(
                    f,
                    "input truncated at byte {offset} ({needed} more bytes needed)"
                )
            }
            Self::Trailing { offset, extra } => {
                write!(f, "{extra} unexpected trailing bytes at byte {offset}")
            }
            Self::BadBool { offset, value } => {
                write!(
                    f,
                    "bool at byte {offset} is 0x{value:02x}, not 0x00 or 0x01"
                )
            }
            Self::BadUtf8 { offset } => write!(f, "text at byte {offset} is not valid UTF-8"),
            Self::BadId { offset } => write!(
                f,
                "id at byte {offset} is not 1-32 characters of printable ASCII (0x21-0x7e)"
            ),
            Self::TooLong {
                offset,
                what,
                len,
                max,
            } => {
                write!(
                    f,
                    "{what} at byte {offset} is {len} bytes long, at most {max} allowed"
                )
            }
            Self::WrongLength {
                offset,
                expected,
                len,
            } => {
                write!(
                    f,
                    "array at byte {offset} is {len} bytes long, exactly {expected} required"
                )
            }
            Self::BadStatus { offset, value } => {
                write!(
                    f,
                    "status byte 0x{value:02x} at byte {offset} is not an SKS status"
                )
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// A value too large for its length prefix, found while encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    pub what: &'static str,
    pub len: usize,
    pub max: usize,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} bytes exceeds the maximum of {}",
            self.what, self.len, self.max
        )
    }
}

impl std::error::Error for EncodeError {}

/// Serializer. Length overflows are remembered and reported once by [`Writer::finish`], so
/// that `encode` implementations stay straight-line code.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
    error: Option<EncodeError>,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    /// A writer that appends to `buf` (used to put a header in front without copying).
    pub fn with_buffer(buf: Vec<u8>) -> Self {
        Self { buf, error: None }
    }

    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Raw bytes, no prefix.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// `u16` length ‖ bytes (`byte[]`, `string`, `uri`, `id`).
    pub fn short_array(&mut self, what: &'static str, bytes: &[u8]) {
        match u16::try_from(bytes.len()) {
            Ok(len) => {
                self.u16(len);
                self.raw(bytes);
            }
            Err(_) => self.fail(EncodeError {
                what,
                len: bytes.len(),
                max: u16::MAX.into(),
            }),
        }
    }

    /// `u32` length ‖ bytes (`blob`).
    pub fn long_array(&mut self, bytes: &[u8]) {
        match u32::try_from(bytes.len()) {
            Ok(len) => {
                self.u32(len);
                self.raw(bytes);
            }
            Err(_) => self.fail(EncodeError {
                what: "blob",
                len: bytes.len(),
                max: u32::MAX as usize,
            }),
        }
    }

    /// Records an encoding failure; the first one wins.
    pub fn fail(&mut self, error: EncodeError) {
        self.error.get_or_insert(error);
    }

    pub fn finish(self) -> Result<Vec<u8>, EncodeError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.buf),
        }
    }
}

/// Zero-copy deserializer over one message.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Self { input, pos: 0 }
    }

    pub fn offset(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                offset: self.pos,
                needed: n - self.remaining(),
            });
        }
        let out = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// `u16` length ‖ bytes.
    pub fn short_array(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u16()?;
        self.take(len.into())
    }

    /// `u32` length ‖ bytes.
    pub fn long_array(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u32()?;
        // A u32 always fits a usize on the targets this crate builds for (32 and 64 bit).
        self.take(len as usize)
    }

    /// Fails unless the whole input was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(DecodeError::Trailing {
                offset: self.pos,
                extra,
            }),
        }
    }
}

/// A value with a wire form.
pub trait Wire: Sized {
    fn encode(&self, w: &mut Writer);
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// The complete encoding of one value.
    fn to_wire(&self) -> Result<Vec<u8>, EncodeError> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.finish()
    }

    /// Decodes one value that must span all of `bytes`.
    fn from_wire(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = Self::decode(&mut r)?;
        r.finish()?;
        Ok(v)
    }
}

/// `byte`
impl Wire for u8 {
    fn encode(&self, w: &mut Writer) {
        w.u8(*self);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.u8()
    }
}

/// `ushort`
impl Wire for u16 {
    fn encode(&self, w: &mut Writer) {
        w.u16(*self);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.u16()
    }
}

/// `uint`
impl Wire for u32 {
    fn encode(&self, w: &mut Writer) {
        w.u32(*self);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.u32()
    }
}

/// `bool`: 0x01 or 0x00, anything else is rejected (spec-notes §2.1).
impl Wire for bool {
    fn encode(&self, w: &mut Writer) {
        w.u8(u8::from(*self));
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let offset = r.offset();
        match r.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(DecodeError::BadBool { offset, value }),
        }
    }
}

/// `string`: UTF-8 with a `u16` byte-length prefix, arbitrary content.
impl Wire for String {
    fn encode(&self, w: &mut Writer) {
        w.short_array("string", self.as_bytes());
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let offset = r.offset();
        let bytes = r.short_array()?;
        core::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| DecodeError::BadUtf8 { offset })
    }
}

/// A list: `u16` element count, then the elements.
impl<T: Wire> Wire for Vec<T> {
    fn encode(&self, w: &mut Writer) {
        match u16::try_from(self.len()) {
            Ok(n) => {
                w.u16(n);
                for item in self {
                    item.encode(w);
                }
            }
            Err(_) => w.fail(EncodeError {
                what: "list",
                len: self.len(),
                max: u16::MAX.into(),
            }),
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.u16()?;
        // Every element takes at least one byte: cap the pre-allocation by what is left.
        let mut out = Vec::with_capacity(usize::from(n).min(r.remaining()));
        for _ in 0..n {
            out.push(T::decode(r)?);
        }
        Ok(out)
    }
}
