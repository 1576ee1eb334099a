//! The wire format of the virtual SKS card: the spec's data types (spec 7.1), every method's
//! typed arguments and results (spec 7.4), SKS status codes (spec 7.2-7.3) and the ISO 7816-4
//! envelope that carries them. Applet and client both build on this crate, so they cannot drift
//! apart. `README.md` documents the format for implementers in other languages.

pub mod algorithms;
pub mod codec;
pub mod envelope;
pub mod error;
pub mod log;
pub mod method;
pub mod methods;
pub mod property_bag;
pub mod script;
pub mod types;
pub mod values;

#[cfg(test)]
mod tests;

pub use codec::{DecodeError, EncodeError, Reader, Wire, Writer};
pub use error::{ErrorCode, SksError};
pub use method::{decode_response, encode_response, Method};
pub use methods::*;
pub use types::{Blob, Bytes, ErrorString, Id, InvalidValue, Mac, Uri};
pub use values::*;
