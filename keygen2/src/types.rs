//! Scalar types of the protocol: ids, URIs, the two time formats and the enumerations
//! (PROTOCOL.md §2.2, §2.4), each validated when parsed.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! string_newtype {
    ($(#[$m:meta])* $name:ident, $check:path) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates `s`.
            pub fn new(s: impl Into<String>) -> Result<Self, String> {
                let s = s.into();
                $check(&s)?;
                Ok(Self(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(D::Error::custom)
            }
        }
    };
}

fn check_id(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(format!(
            "bad id \"{}\": 1-32 characters in 0x21-0x7E expected",
            s.escape_debug()
        ));
    }
    Ok(())
}

/// An absolute URI: `scheme ":" rest` (RFC 3986 §4.3), with no whitespace or control
/// characters.
fn check_uri(s: &str) -> Result<(), String> {
    let bad = || format!("\"{}\" is not an absolute URI", s.escape_debug());
    let (scheme, rest) = s.split_once(':').ok_or_else(bad)?;
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let scheme_ok = chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !first_ok
        || !scheme_ok
        || rest.is_empty()
        || s.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad());
    }
    Ok(())
}

fn check_utc(s: &str) -> Result<(), String> {
    parse_time(s, true).map(|_| ())
}

fn check_local(s: &str) -> Result<(), String> {
    parse_time(s, false).map(|_| ())
}

string_newtype!(
    /// An object or session id: 1-32 characters in 0x21-0x7E (`KeyGen2Validator.validateID`).
    Id,
    check_id
);
string_newtype!(
    /// An absolute URI.
    Uri,
    check_uri
);
string_newtype!(
    /// `YYYY-MM-DDThh:mm:ssZ` (serverTime, issuedBefore, issuedAfter).
    UtcTime,
    check_utc
);
string_newtype!(
    /// `YYYY-MM-DDThh:mm:ss±hh:mm` (clientTime): a numeric offset, never `Z`.
    LocalTime,
    check_local
);

impl UtcTime {
    /// Seconds since the epoch.
    pub fn unix_seconds(&self) -> i64 {
        parse_time(&self.0, true).unwrap_or(0)
    }

    /// The time `t` (seconds since the epoch) in this format.
    pub fn from_unix(t: i64) -> Self {
        let ts = jiff::Timestamp::from_second(t).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        Self(ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
    }
}

impl LocalTime {
    /// Seconds since the epoch.
    pub fn unix_seconds(&self) -> i64 {
        parse_time(&self.0, false).unwrap_or(0)
    }

    /// The time `t` (seconds since the epoch) in UTC, written `+00:00` as the reference does.
    pub fn from_unix(t: i64) -> Self {
        let ts = jiff::Timestamp::from_second(t).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        Self(ts.strftime("%Y-%m-%dT%H:%M:%S+00:00").to_string())
    }
}

/// Parses the two fixed layouts: `YYYY-MM-DDThh:mm:ss` then `Z` (utc) or `±hh:mm`.
fn parse_time(s: &str, utc: bool) -> Result<i64, String> {
    let bad = || {
        format!(
            "bad time \"{}\": {} expected",
            s.escape_debug(),
            if utc {
                "YYYY-MM-DDThh:mm:ssZ"
            } else {
                "YYYY-MM-DDThh:mm:ss±hh:mm"
            }
        )
    };
    let b = s.as_bytes();
    let layout_ok = b.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
            .iter()
            .all(|&i| b[i].is_ascii_digit());
    if !layout_ok {
        return Err(bad());
    }
    let zone = &s[19..];
    let zone_ok = if utc {
        zone == "Z"
    } else {
        let z = zone.as_bytes();
        z.len() == 6
            && (z[0] == b'+' || z[0] == b'-')
            && z[3] == b':'
            && [1, 2, 4, 5].iter().all(|&i| z[i].is_ascii_digit())
    };
    if !zone_ok {
        return Err(bad());
    }
    s.parse::<jiff::Timestamp>()
        .map(|t| t.as_second())
        .map_err(|_| bad())
}

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $text)] $variant),+
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                match s.as_str() {
                    $($text => Ok(Self::$variant),)+
                    other => Err(D::Error::unknown_variant(other, &[$($text),+])),
                }
            }
        }

        impl $name {
            /// The JSON name.
            pub fn name(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }
    };
}

// The SKS attribute enums are apdu-spec's (one definition of each byte and name): KeyGen2
// carries them by their spec names (the `serde` feature of apdu-spec).
pub use apdu_spec::values::{
    AppUsage, BiometricProtection, DeleteProtection, ExportProtection, Grouping, InputMethod,
    PatternRestriction, PatternRestrictions, PinFormat,
};

wire_enum!(
    /// `action` of an InvocationRequest.
    Action { Manage = "manage", Unlock = "unlock" }
);
wire_enum!(
    /// `targetKeyContainers` elements.
    KeyContainer { Software = "software", Embedded = "embedded", Uicc = "uicc", Sdcard = "sdcard", External = "external" }
);

/// The `@context` every message carries.
pub const CONTEXT: &str = "https://webpki.github.io/keygen2#20190318";

/// Fixed URIs of the protocol (PROTOCOL.md §2.5).
pub mod uris {
    pub const SESSION_1: &str = "https://webpki.github.io/sks/algorithm#session.1";
    pub const KEY_1: &str = "https://webpki.github.io/sks/algorithm#key.1";
    pub const FEATURE_DEVICE_PIN: &str =
        "https://webpki.github.io/keygen2/feature#device-pin-support";
    pub const FEATURE_BIOMETRIC: &str =
        "https://webpki.github.io/keygen2/feature#biometric-support";
    pub const CLIENT_ATTRIBUTE_PREFIX: &str = "https://webpki.github.io/keygen2/clientattr#";
    pub const LOGOTYPE_PREFIX: &str = "https://webpki.github.io/keygen2/logotype#";
    pub const SKS_ALGORITHM_PREFIX: &str = "https://webpki.github.io/sks/algorithm#";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(Id::new("PIN.1").is_ok());
        assert!(Id::new("").is_err());
        assert!(Id::new("a b").is_err());
        assert!(Id::new("x".repeat(33)).is_err());
    }

    #[test]
    fn uris() {
        assert!(Uri::new("https://webpki.github.io/sks/algorithm#key.1").is_ok());
        assert!(Uri::new("urn:x").is_ok());
        assert!(Uri::new("relative/path").is_err());
        assert!(Uri::new("1http:x").is_err());
        assert!(Uri::new("http:").is_err());
    }

    #[test]
    fn times() {
        let t = UtcTime::new("2026-11-27T12:34:00Z").unwrap();
        assert_eq!(UtcTime::from_unix(t.unix_seconds()), t);
        assert!(UtcTime::new("2026-11-27T12:34:00.5Z").is_err());
        assert!(UtcTime::new("2026-11-27T12:34:00+00:00").is_err());
        let l = LocalTime::new("2026-11-27T12:34:00+00:00").unwrap();
        assert_eq!(l.unix_seconds(), t.unix_seconds());
        assert_eq!(LocalTime::from_unix(t.unix_seconds()), l);
        assert_eq!(
            LocalTime::new("2026-11-27T13:34:00+01:00")
                .unwrap()
                .unix_seconds(),
            t.unix_seconds()
        );
        assert!(LocalTime::new("2026-11-27T12:34:00Z").is_err());
        assert!(LocalTime::new("2026-13-27T12:34:00+00:00").is_err());
    }

    #[test]
    fn enums() {
        assert_eq!(u8::from(Grouping::SignaturePlusStandard), 2);
        assert_eq!(
            ExportProtection::try_from(3).ok(),
            Some(ExportProtection::NonExportable)
        );
        assert!(serde_json::from_str::<AppUsage>("\"bogus\"").is_err());
        assert_eq!(
            serde_json::to_string(&Grouping::SignaturePlusStandard).unwrap(),
            "\"signature+standard\""
        );
        assert_eq!(
            serde_json::from_str::<PatternRestriction>("\"two-in-a-row\"").unwrap(),
            PatternRestriction::TwoInARow
        );
    }
}
