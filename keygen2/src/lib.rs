//! KeyGen2 for the SKS card (spec 002 Appendix A and D; `shared/keygen2/PROTOCOL.md`).
//!
//! * [`messages`]: one type per request and response, parsed strictly with serde_json and
//!   written back in the reference's property order; [`Message`] dispatches on `@qualifier`.
//! * [`jwk`]: public keys as JWK and their canonical SubjectPublicKeyInfo.
//! * [`b64`], [`types`]: base64url, ids, URIs, the time formats and the enumerations.
//! * [`jcs`]: RFC 8785 canonicalization and the JSF signature check.
//! * [`proxy`]: the proxy over [`pcsc_bridge::Sks`].

pub mod b64;
pub mod jcs;
pub mod jwk;
pub mod message;
pub mod messages;
pub mod proxy;
pub mod transport;
pub mod types;

pub use jwk::Jwk;
pub use message::{Message, ParseError};
pub use types::{Id, LocalTime, Uri, UtcTime, CONTEXT};
