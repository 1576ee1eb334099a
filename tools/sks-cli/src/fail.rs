//! Errors as the user sees them: one line (sometimes two) and an exit code per kind of failure
//! (the table is in docs/cli.md and `sks --help`).

use apdu_spec::SksError;
use pcsc_bridge::{sw_meaning, TransportError};
use serde_json::json;
use std::fmt;

/// Exit status of a failure that is not the card's (see [`Fail::exit_code`]).
pub mod exit {
    /// Any other failure (a file that cannot be read, local crypto, the issuer's checks).
    pub const OTHER: u8 = 1;
    /// The command line is wrong (also what clap uses for its own usage errors).
    pub const USAGE: u8 = 2;
    /// The card cannot be reached: no pcscd, no reader, no card, no SKS applet, I/O failure.
    pub const TRANSPORT: u8 = 3;
    /// The card answered an ISO status word other than 9000 (an envelope error).
    pub const STATUS: u8 = 4;
    /// `sks verify`: the signature does not verify.
    pub const BAD_SIGNATURE: u8 = 5;
    /// An SKS error with code N exits with `SKS_BASE + N` (ERROR_AUTHORIZATION 0x01 → 11).
    pub const SKS_BASE: u8 = 10;
}

/// Why a command failed.
#[derive(Debug)]
pub enum Fail {
    /// The card reported an SKS error (`method` is the call that failed, when known).
    Sks {
        method: Option<&'static str>,
        error: SksError,
    },
    /// The command line is wrong or incomplete.
    Usage(String),
    /// The card could not be reached or the exchange broke down.
    Transport(String),
    /// The card answered an ISO status word.
    Status(String),
    /// A signature did not verify.
    BadSignature(String),
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
            Fail::Usage(m)
            | Fail::Transport(m)
            | Fail::Status(m)
            | Fail::BadSignature(m)
            | Fail::Msg(m) => f.write_str(m),
        }
    }
}

impl Fail {
    pub fn msg(m: impl Into<String>) -> Self {
        Fail::Msg(m.into())
    }

    pub fn usage(m: impl Into<String>) -> Self {
        Fail::Usage(m.into())
    }

    /// The process exit status of this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Fail::Sks { error, .. } => exit::SKS_BASE + error.code as u8,
            Fail::Usage(_) => exit::USAGE,
            Fail::Transport(_) => exit::TRANSPORT,
            Fail::Status(_) => exit::STATUS,
            Fail::BadSignature(_) => exit::BAD_SIGNATURE,
            Fail::Msg(_) => exit::OTHER,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Fail::Sks { .. } => "sks",
            Fail::Usage(_) => "usage",
            Fail::Transport(_) => "transport",
            Fail::Status(_) => "status",
            Fail::BadSignature(_) => "bad-signature",
            Fail::Msg(_) => "other",
        }
    }

    /// The `--json` form of the failure (schema `error` in docs/cli.md).
    pub fn to_json(&self) -> serde_json::Value {
        let mut e = json!({
            "kind": self.kind(),
            "exit": self.exit_code(),
            "message": self.to_string(),
        });
        if let Fail::Sks { method, error } = self {
            e["sks_code"] = json!(error.code as u8);
            e["sks_name"] = json!(error.code.name());
            e["card_message"] = json!(error.message.as_str());
            if let Some(m) = method {
                e["method"] = json!(m);
            }
        }
        json!({ "error": e })
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
        E::Status(sw) => Fail::Status(format!(
            "{prefix}the card answered status word {sw:04X} ({})",
            sw_meaning(sw)
        )),
        E::Transport(t) => Fail::Transport(format!("{prefix}{}", transport_text(&t))),
        E::CallTooLong { .. } => Fail::Usage(format!("{prefix}{e}")),
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
            sks_issuer::Error::Usage(m) => Fail::Usage(format!("issuer: {m}")),
            other => Fail::Msg(format!("issuer: {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apdu_spec::ErrorCode;

    #[test]
    fn exit_codes_are_distinct_per_sks_code() {
        let codes: Vec<u8> = ErrorCode::ALL
            .iter()
            .map(|c| {
                Fail::Sks {
                    method: None,
                    error: SksError::new(*c, "x"),
                }
                .exit_code()
            })
            .collect();
        assert_eq!(codes.first(), Some(&11));
        assert_eq!(codes.last(), Some(&23));
        for other in [
            exit::OTHER,
            exit::USAGE,
            exit::TRANSPORT,
            exit::STATUS,
            exit::BAD_SIGNATURE,
        ] {
            assert!(!codes.contains(&other));
        }
    }
}
