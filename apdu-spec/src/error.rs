//! SKS status codes and errors (spec 7.2 "Return Values", 7.3 "Error Codes").

use crate::codec::{DecodeError, Reader, Wire, Writer};
use crate::types::ErrorString;
use core::fmt;

/// The standard SKS error codes (spec 7.3). Status 0x00 is success and never an `ErrorCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ErrorCode {
    Authorization = 0x01,
    NotAllowed = 0x02,
    Storage = 0x03,
    Mac = 0x04,
    Crypto = 0x05,
    NoSession = 0x06,
    NoKey = 0x07,
    Algorithm = 0x08,
    Option = 0x09,
    Internal = 0x0A,
    External = 0x0B,
    UserAbort = 0x0C,
    NotAvailable = 0x0D,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 13] = [
        Self::Authorization,
        Self::NotAllowed,
        Self::Storage,
        Self::Mac,
        Self::Crypto,
        Self::NoSession,
        Self::NoKey,
        Self::Algorithm,
        Self::Option,
        Self::Internal,
        Self::External,
        Self::UserAbort,
        Self::NotAvailable,
    ];

    /// The spec's constant name, e.g. `ERROR_MAC`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Authorization => "ERROR_AUTHORIZATION",
            Self::NotAllowed => "ERROR_NOT_ALLOWED",
            Self::Storage => "ERROR_STORAGE",
            Self::Mac => "ERROR_MAC",
            Self::Crypto => "ERROR_CRYPTO",
            Self::NoSession => "ERROR_NO_SESSION",
            Self::NoKey => "ERROR_NO_KEY",
            Self::Algorithm => "ERROR_ALGORITHM",
            Self::Option => "ERROR_OPTION",
            Self::Internal => "ERROR_INTERNAL",
            Self::External => "ERROR_EXTERNAL",
            Self::UserAbort => "ERROR_USER_ABORT",
            Self::NotAvailable => "ERROR_NOT_AVAILABLE",
        }
    }

    /// The spec's English description of the code.
    pub fn description(self) -> &'static str {
        match self {
            Self::Authorization => "Something is wrong with a supplied PIN or PUK code",
            Self::NotAllowed => "Operation is not allowed",
            Self::Storage => "No persistent storage available for the operation",
            Self::Mac => "MAC does not match supplied data",
            Self::Crypto => "Various cryptographic errors",
            Self::NoSession => "Provisioning session not found",
            Self::NoKey => "Key not found",
            Self::Algorithm => "Unknown or non-matching algorithm",
            Self::Option => "Invalid or unsupported option",
            Self::Internal => "Internal error",
            Self::External => "External error like communication link failure",
            Self::UserAbort => "User aborted PIN input or similar",
            Self::NotAvailable => "External error when a requested SKS is unavailable",
        }
    }
}

impl TryFrom<u8> for ErrorCode {
    type Error = u8;
    fn try_from(v: u8) -> Result<Self, u8> {
        Self::ALL.into_iter().find(|c| *c as u8 == v).ok_or(v)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:02x})", self.name(), *self as u8)
    }
}

/// A failed SKS call: the status code and the card's English message (spec 7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SksError {
    pub code: ErrorCode,
    pub message: String,
}

impl SksError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for SksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for SksError {}

/// The body of a failed call after its status byte: the error string.
impl Wire for SksError {
    fn encode(&self, w: &mut Writer) {
        w.u8(self.code as u8);
        ErrorString::truncating(self.message.clone()).encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let offset = r.offset();
        let status = r.u8()?;
        let code = ErrorCode::try_from(status)
            .map_err(|value| DecodeError::BadStatus { offset, value })?;
        let message = ErrorString::decode(r)?;
        Ok(Self {
            code,
            message: message.as_str().to_owned(),
        })
    }
}
