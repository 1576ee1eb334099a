//! The card's errors. Handlers answer with the spec's [`SksError`] (code + message, spec 7.2);
//! everything below them that can fail (store, crypto engine, stored records, the device
//! identity) has a typed error gathered in [`Error`], whose one conversion into [`SksError`]
//! picks the spec code. [`StartupError`] says why a card could not start.

use crate::crypto::CryptoError;
use crate::store::{RecordKey, StoreError};
use apdu_spec::{ErrorCode, SksError};
use core::fmt;
use std::path::PathBuf;

/// ERROR_OPTION: an argument value the spec does not allow (spec 7.2).
pub(crate) fn option(msg: impl Into<String>) -> SksError {
    SksError::new(ErrorCode::Option, msg)
}

/// A failure below the handlers.
#[derive(Debug)]
pub enum Error {
    /// The store refused or failed a transaction.
    Store(StoreError),
    /// A cryptographic operation failed.
    Crypto(CryptoError),
    /// A private key the card stored itself does not parse.
    StoredKey(CryptoError),
    /// A credential-database record does not encode or decode.
    Record(RecordError),
    /// The device identity could not be made or read.
    Device(DeviceError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store(e) => e.fmt(f),
            Self::Crypto(e) => e.fmt(f),
            Self::StoredKey(e) => write!(f, "stored key unreadable: {e}"),
            Self::Record(e) => e.fmt(f),
            Self::Device(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<CryptoError> for Error {
    fn from(e: CryptoError) -> Self {
        Self::Crypto(e)
    }
}

impl From<RecordError> for Error {
    fn from(e: RecordError) -> Self {
        Self::Record(e)
    }
}

/// The one conversion of an internal failure into the spec's error (spec 7.2): a store failure is
/// ERROR_STORAGE, a cryptographic one ERROR_CRYPTO, anything the card should never meet in its
/// own data ERROR_INTERNAL.
impl From<Error> for SksError {
    fn from(e: Error) -> Self {
        let code = match e {
            Error::Store(_) => ErrorCode::Storage,
            Error::Crypto(_) => ErrorCode::Crypto,
            Error::StoredKey(_) | Error::Record(_) | Error::Device(_) => ErrorCode::Internal,
        };
        SksError::new(code, e.to_string())
    }
}

impl From<StoreError> for SksError {
    fn from(e: StoreError) -> Self {
        Error::Store(e).into()
    }
}

impl From<CryptoError> for SksError {
    fn from(e: CryptoError) -> Self {
        Error::Crypto(e).into()
    }
}

/// A credential-database record that does not encode or decode (postcard).
#[derive(Debug)]
pub struct RecordError {
    pub key: RecordKey,
    pub encoding: bool,
    pub source: postcard::Error,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.encoding { "encode" } else { "decode" };
        write!(
            f,
            "cannot {what} record {:?} {}: {}",
            self.key.kind, self.key.id, self.source
        )
    }
}

impl std::error::Error for RecordError {}

/// The device identity could not be made (personalization) or read back.
#[derive(Debug)]
pub enum DeviceError {
    /// A step of building or parsing the identity failed.
    Step {
        step: &'static str,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The identity record holds no certificate.
    NoCertificate,
    /// The device certificate does not certify the attestation key.
    KeyMismatch,
}

impl DeviceError {
    /// Wraps a library error of `step`.
    pub(crate) fn at<E: std::error::Error + Send + Sync + 'static>(
        step: &'static str,
    ) -> impl Fn(E) -> Self {
        move |e| Self::Step {
            step,
            source: Box::new(e),
        }
    }
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Step { step, source } => write!(f, "{step}: {source}"),
            Self::NoCertificate => f.write_str("device identity has no certificate"),
            Self::KeyMismatch => f.write_str("device certificate does not certify the device key"),
        }
    }
}

impl std::error::Error for DeviceError {}

/// Why the card could not start.
#[derive(Debug)]
pub enum StartupError {
    /// No entropy from the operating system.
    Entropy(getrandom::Error),
    /// The image's directory cannot be created.
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The store cannot be opened (in use by another process, damaged, I/O).
    Store(StoreError),
    /// A new card could not be personalized, or its identity not persisted.
    Personalization(Error),
    /// The device identity or the credential database does not load.
    Load(Error),
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Entropy(e) => write!(f, "no entropy from the OS: {e}"),
            Self::Directory { path, source } => {
                write!(f, "cannot create {}: {source}", path.display())
            }
            Self::Store(e) => e.fmt(f),
            Self::Personalization(e) => write!(f, "personalization failed: {e}"),
            Self::Load(e) => write!(f, "card state unreadable: {e}"),
        }
    }
}

impl std::error::Error for StartupError {}
