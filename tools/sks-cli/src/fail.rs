//! Errors as the user sees them: one line (sometimes two), exit code 1.

use apdu_spec::SksError;
use pcsc_bridge::{sw_meaning, TransportError};
use std::fmt;

/// Why a command failed.
#[derive(Debug)]
pub enum Fail {
    /// The card reported an SKS error (`method` is the call that failed, when known).
    Sks {
        method: Option<&'static str>,
        error: SksError,
    },
    /// Anything else, already worded.
    Msg(String),
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // e.g. "ERROR_AUTHORIZATION (0x01): Incorrect PIN"
            Fail::Sks {
                method: None,
                error,
            } => write!(f, "{}: {}", error.code, error.message),
            Fail::Sks {
                method: Some(m),
                error,
            } => write!(f, "{}: {} (in {m})", error.code, error.message),
            Fail::Msg(m) => f.write_str(m),
        }
    }
}

impl Fail {
    pub fn msg(m: impl Into<String>) -> Self {
        Fail::Msg(m.into())
    }
}

/// The wording of a transport failure.
pub fn transport_text(e: &TransportError) -> String {
    match e {
        TransportError::SelectFailed(sw) => format!(
            "the card has no SKS applet: SELECT answered status word {sw:04X} ({})",
            sw_meaning(*sw)
        ),
        other => other.to_string(),
    }
}

fn bridge_text(e: pcsc_bridge::Error, method: Option<&'static str>) -> Fail {
    use pcsc_bridge::Error as E;
    let prefix = method.map(|m| format!("{m}: ")).unwrap_or_default();
    match e {
        E::Sks(error) => Fail::Sks { method, error },
        E::Status(sw) => Fail::Msg(format!(
            "{prefix}the card answered status word {sw:04X} ({})",
            sw_meaning(sw)
        )),
        E::Transport(t) => Fail::Msg(format!("{prefix}{}", transport_text(&t))),
        other => Fail::Msg(format!("{prefix}{other}")),
    }
}

impl From<pcsc_bridge::Error> for Fail {
    fn from(e: pcsc_bridge::Error) -> Self {
        bridge_text(e, None)
    }
}

impl From<sks_issuer::Error> for Fail {
    fn from(e: sks_issuer::Error) -> Self {
        match e {
            sks_issuer::Error::Card { method, source } => bridge_text(source, Some(method)),
            sks_issuer::Error::Attestation(m) => {
                Fail::Msg(format!("issuer: attestation check failed: {m}"))
            }
            other => Fail::Msg(format!("issuer: {other}")),
        }
    }
}
