//! Local SKS issuer emulation: the server side of SKS provisioning.
//!
//! Written from the SKS specification and the team's spec notes only, independently of the
//! applet, so that every provisioning test checks the card against a second implementation.
//!
//! * [`crypto`]: curves, ECDH, canonical SubjectPublicKeyInfo, SHA-256 signature checks,
//!   HMAC and AES-256-CBC.
//! * [`session`]: session key derivation ([`ServerEphemeral::derive`]), MACs with the shared
//!   counter, attestation checks, Encrypted Data and the Target Key Reference
//!   ([`SessionKeys`]).
//! * [`macdata`]: the *Data* layout of every provisioning MAC.
//! * [`Ca`]: a self-signed P-256 CA; [`Kmk`]: key management keys and their authorizations.
//! * [`driver`]: [`Issuer`] and [`Session`], which run provisioning sessions against a
//!   [`pcsc_bridge::Sks`] over any transport.
//!
//! ```no_run
//! use pcsc_bridge::{Sks, Transport};
//! use sks_issuer::{alg, Issuer, Kmk, PinPolicy};
//!
//! fn provision<T: Transport>(sks: &mut Sks<T>) -> Result<(), sks_issuer::Error> {
//!     let issuer = Issuer::new()?;
//!     let kmk = Kmk::generate_p256();
//!
//!     // E2ES session: the attestation is checked against getDeviceInfo's certificate.
//!     let mut s = issuer.session(sks).privacy(false).kmk(&kmk).key_limit(50).open()?;
//!     let puk = s.puk("PUK.1", b"123456", 0, 3)?;
//!     s.pin_policy("PIN.1", Some(&puk), PinPolicy::default())?;
//!     let key = s
//!         .key("Key.1")
//!         .pin("PIN.1", b"1234")
//!         .algorithm(alg::EC_P256)
//!         .endorse(&[alg::ECDSA_SHA256])
//!         .create()?; // key attestation verified
//!     s.certify(&key)?; // the CA issues [EE, CA], setCertificatePath
//!     let closed = s.close()?; // close attestation verified
//!
//!     // Later: delete that key from a new session, authorized by its session's KMK.
//!     let mut s2 = issuer.session(sks).open()?;
//!     s2.post_delete(closed.key("Key.1").unwrap())?;
//!     // Negative test: corrupt a MAC and expect ERROR_MAC.
//!     let mut args = s2.state_mut().puk_args("PUK.9", b"1111", 0, 3)?;
//!     args.mac.0[0] ^= 1;
//!     let err = s2.send_puk(&args).unwrap_err();
//!     assert_eq!(err.sks_code(), Some(sks_issuer::ErrorCode::Mac));
//!     Ok(())
//! }
//! ```

pub mod ca;
pub mod crypto;
pub mod driver;
pub mod keygen2;
pub mod kmk;
pub mod macdata;
pub mod session;

#[cfg(test)]
mod vectors;

pub use apdu_spec::{ErrorCode, SksError};
pub use ca::Ca;
pub use crypto::{canonical_spki, curve_oid, Curve, EcdhKey, PublicKey};
pub use driver::*;
pub use kmk::Kmk;
pub use macdata::Property;
pub use session::{ServerEphemeral, SessionKeys};

/// Why an issuer operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The card (or the transport to it) failed the call `method`; for SKS errors the card's
    /// code is in [`Error::sks_code`].
    #[error("{method}: {source}")]
    Card {
        method: &'static str,
        #[source]
        source: pcsc_bridge::Error,
    },
    /// An attestation (or another value the card produced) did not verify on the issuer side.
    #[error("attestation check failed: {0}")]
    Attestation(String),
    /// A cryptographic operation or key parsing failed on the issuer side.
    #[error("crypto: {0}")]
    Crypto(String),
    /// A certificate could not be built or parsed.
    #[error("certificate: {0}")]
    Certificate(String),
    /// A KeyGen2 message broke the protocol (order, session ids, an unexpected value).
    #[error("KeyGen2: {0}")]
    Protocol(String),
    /// The issuer API was used inconsistently (unknown id, missing certificate, ...).
    #[error("usage: {0}")]
    Usage(String),
}

impl Error {
    /// The SKS error the card reported, if that is what failed.
    pub fn sks_error(&self) -> Option<&SksError> {
        match self {
            Error::Card {
                source: pcsc_bridge::Error::Sks(e),
                ..
            } => Some(e),
            _ => None,
        }
    }

    /// The SKS error code the card reported, if that is what failed.
    pub fn sks_code(&self) -> Option<ErrorCode> {
        self.sks_error().map(|e| e.code)
    }
}
