//! A KeyGen2 issuer (server side of `shared/keygen2/PROTOCOL.md`) on top of the provisioning
//! emulation: [`KeyGen2Server`] produces the requests for a [`Scenario`] and checks the
//! proxy's responses; [`http`] serves it on localhost.

pub mod files;
pub mod http;
pub mod scenario;
pub mod server;

pub use scenario::*;
pub use server::{Credential, KeyGen2Server, Outcome, Reply};
