//! Typed forms of the spec's enumerated bytes: protection attributes (spec 5.1-5.8), the
//! `deviceType` of getDeviceInfo, the `subType` of addExtension, and the `protectionStatus` and
//! `keyBackup` bit fields of getKeyProtectionInfo.
//!
//! The method argument and result structs ([`crate::methods`]) keep these as plain `u8`: the card
//! must refuse a bad byte with the error the spec orders at that point of its checks, so the
//! conversion (`TryFrom<u8>`) happens where the value is checked. Each type converts back with
//! `u8::from`, prints its KeyGen2 (or spec) name with `Display` and parses it with `FromStr`.
//! With the `serde` feature the names are also the types' serialized form.

use core::fmt;
use core::str::FromStr;

/// A byte that is not one of the spec's values for an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InvalidByte {
    /// The spec's name of the attribute, e.g. `exportProtection`.
    pub what: &'static str,
    /// The refused byte.
    pub value: u8,
}

impl fmt::Display for InvalidByte {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} 0x{:02x}", self.what, self.value)
    }
}

impl std::error::Error for InvalidByte {}

/// A name that is not one of the KeyGen2 names of an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnknownName {
    /// The spec's name of the attribute, e.g. `exportProtection`.
    pub what: &'static str,
    /// The accepted names.
    pub expected: &'static [&'static str],
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} (expected {})",
            self.what,
            self.expected.join(", ")
        )
    }
}

impl std::error::Error for UnknownName {}

/// The serde impls shared by every type here: the `Display` name out, `FromStr` in.
macro_rules! serde_by_name {
    ($name:ident) => {
        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(|e: UnknownName| {
                    <D::Error as serde::de::Error>::unknown_variant(&s, e.expected)
                })
            }
        }
    };
}

/// One enumerated byte: `#[repr(u8)]` enum, `TryFrom<u8>`, `From<_> for u8`, `Display` and
/// `FromStr` with the names of the spec's table.
macro_rules! spec_enum {
    (
        $(#[$m:meta])*
        $name:ident = $what:literal {
            $($(#[$vm:meta])* $variant:ident = $value:literal => $text:literal),+ $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vm])* $variant = $value),+
        }

        impl $name {
            /// The spec's name of the attribute.
            pub const WHAT: &'static str = $what;
            /// Every value, in byte order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];
            /// The names of [`Self::ALL`], in the same order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The spec's (KeyGen2) name.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl TryFrom<u8> for $name {
            type Error = InvalidByte;
            fn try_from(value: u8) -> Result<Self, InvalidByte> {
                match value {
                    $($value => Ok(Self::$variant),)+
                    _ => Err(InvalidByte { what: $what, value }),
                }
            }
        }

        impl From<$name> for u8 {
            fn from(v: $name) -> u8 {
                v as u8
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(UnknownName { what: $what, expected: Self::NAMES }),
                }
            }
        }

        serde_by_name!($name);
    };
}

/// A byte holding a set of bits: the flag enum (one bit each, made by `spec_enum!`) and the set
/// newtype, which refuses bytes with bits the spec does not define. The set prints as its flags'
/// names joined by `,` (`none` when empty) and parses the same (also from the empty string).
macro_rules! spec_bits {
    (
        $(#[$fm:meta])*
        $flag:ident,
        $(#[$sm:meta])*
        $set:ident = $what:literal {
            $($(#[$vm:meta])* $variant:ident = $value:literal => $text:literal),+ $(,)?
        }
    ) => {
        spec_enum!(
            $(#[$fm])*
            $flag = $what { $($(#[$vm])* $variant = $value => $text),+ }
        );

        $(#[$sm])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $set(u8);

        impl $set {
            /// No bit set.
            pub const EMPTY: Self = Self(0);
            /// Every bit the spec defines.
            pub const MASK: u8 = 0 $(| $value)+;

            /// The bits of `v` the spec defines, dropping the others (for reading a card's
            /// answer leniently; `TryFrom<u8>` refuses undefined bits).
            pub const fn from_bits_truncate(v: u8) -> Self {
                Self(v & Self::MASK)
            }

            /// The byte.
            pub const fn bits(self) -> u8 {
                self.0
            }

            pub const fn is_empty(self) -> bool {
                self.0 == 0
            }

            pub const fn contains(self, flag: $flag) -> bool {
                self.0 & flag as u8 != 0
            }

            /// This set and `flag`.
            #[must_use]
            pub const fn with(self, flag: $flag) -> Self {
                Self(self.0 | flag as u8)
            }

            pub fn insert(&mut self, flag: $flag) {
                self.0 |= flag as u8;
            }

            /// The flags that are set, in bit order.
            pub fn iter(self) -> impl Iterator<Item = $flag> {
                $flag::ALL.iter().copied().filter(move |f| self.contains(*f))
            }
        }

        impl From<$flag> for $set {
            fn from(flag: $flag) -> Self {
                Self(flag as u8)
            }
        }

        impl FromIterator<$flag> for $set {
            fn from_iter<I: IntoIterator<Item = $flag>>(flags: I) -> Self {
                flags.into_iter().fold(Self::EMPTY, Self::with)
            }
        }

        impl core::ops::BitOr<$flag> for $set {
            type Output = Self;
            fn bitor(self, flag: $flag) -> Self {
                self.with(flag)
            }
        }

        impl core::ops::BitOr for $flag {
            type Output = $set;
            fn bitor(self, other: $flag) -> $set {
                $set::from(self).with(other)
            }
        }

        impl TryFrom<u8> for $set {
            type Error = InvalidByte;
            fn try_from(value: u8) -> Result<Self, InvalidByte> {
                if value & !Self::MASK == 0 {
                    Ok(Self(value))
                } else {
                    Err(InvalidByte { what: $what, value })
                }
            }
        }

        impl From<$set> for u8 {
            fn from(v: $set) -> u8 {
                v.0
            }
        }

        impl fmt::Debug for $set {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($set))
                    .field(&format_args!("0x{:02x}: {}", self.0, self))
                    .finish()
            }
        }

        impl fmt::Display for $set {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if self.is_empty() {
                    return f.write_str("none");
                }
                for (i, flag) in self.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    f.write_str(flag.name())?;
                }
                Ok(())
            }
        }

        impl FromStr for $set {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                if s.is_empty() || s == "none" {
                    return Ok(Self::EMPTY);
                }
                s.split(',').map(|n| n.trim().parse::<$flag>()).collect()
            }
        }

        serde_by_name!($set);
    };
}

spec_enum!(
    /// `exportProtection` of createKeyEntry (spec 5.1 "Export Protection").
    ExportProtection = "exportProtection" {
        /// No authorization needed for exporting the key.
        None = 0x00 => "none",
        /// Correct PIN is required.
        Pin = 0x01 => "pin",
        /// Correct PUK is required.
        Puk = 0x02 => "puk",
        /// The key must not be exported.
        NonExportable = 0x03 => "non-exportable",
    }
);

spec_enum!(
    /// `deleteProtection` of createKeyEntry (spec 5.2 "Delete Protection").
    DeleteProtection = "deleteProtection" {
        /// No delete restrictions apply.
        None = 0x00 => "none",
        /// Correct PIN is required.
        Pin = 0x01 => "pin",
        /// Correct PUK is required.
        Puk = 0x02 => "puk",
        /// The key must not be deleted.
        NonDeletable = 0x03 => "non-deletable",
    }
);

spec_enum!(
    /// `biometricProtection` of createKeyEntry (spec 5.3 "Biometric Protection").
    BiometricProtection = "biometricProtection" {
        /// No biometric protection.
        None = 0x00 => "none",
        /// The key may be authorized with a PIN or by biometrics.
        Alternative = 0x01 => "alternative",
        /// The key is protected by a PIN and by biometrics.
        Combined = 0x02 => "combined",
        /// The key is only protected by biometrics.
        Exclusive = 0x03 => "exclusive",
    }
);

spec_enum!(
    /// `inputMethod` of createPinPolicy (spec 5.4 "PIN Input Methods").
    InputMethod = "inputMethod" {
        /// No restrictions.
        Any = 0x00 => "any",
        /// PINs should only be given through the SKS User API.
        Programmatic = 0x01 => "programmatic",
        /// Keys should only be used through a trusted GUI.
        TrustedGui = 0x02 => "trusted-gui",
    }
);

spec_bits!(
    /// One bit of `patternRestrictions` (spec 5.5 "PIN Patterns").
    PatternRestriction,
    /// `patternRestrictions` of createPinPolicy, a set of [`PatternRestriction`] bits (spec 5.5
    /// "PIN Patterns"): 0x00 means no restrictions.
    PatternRestrictions = "patternRestrictions" {
        /// Flags 1124 as invalid.
        TwoInARow = 0x01 => "two-in-a-row",
        /// Flags 1114 as invalid.
        ThreeInARow = 0x02 => "three-in-a-row",
        /// Flags 1234, 9876, etc as invalid.
        Sequence = 0x04 => "sequence",
        /// All PIN bytes must be unique.
        Repeated = 0x08 => "repeated",
        /// The PIN must mix letters and digits (and for `string`, lowercase and other
        /// characters).
        MissingGroup = 0x10 => "missing-group",
    }
);

spec_enum!(
    /// `format` of createPinPolicy and createPukPolicy (spec 5.6 "PIN and PUK Formats").
    PinFormat = "format" {
        /// 0 - 9.
        Numeric = 0x00 => "numeric",
        /// 0 - 9, A - Z.
        Alphanumeric = 0x01 => "alphanumeric",
        /// Any valid UTF-8 encoded string.
        String = 0x02 => "string",
        /// Binary value, typically expressed as hexadecimal data.
        Binary = 0x03 => "binary",
    }
);

spec_enum!(
    /// `grouping` of createPinPolicy (spec 5.7 "PIN Grouping").
    Grouping = "grouping" {
        /// No restrictions.
        None = 0x00 => "none",
        /// All keys must share the same PIN.
        Shared = 0x01 => "shared",
        /// Keys with appUsage = signature share one PIN, all other keys another.
        SignaturePlusStandard = 0x02 => "signature+standard",
        /// Each appUsage has its own PIN, shared by the keys of that appUsage.
        Unique = 0x03 => "unique",
    }
);

spec_enum!(
    /// `appUsage` of createKeyEntry (spec 5.8 "Application Usage").
    AppUsage = "appUsage" {
        /// Signature applications like S/MIME.
        Signature = 0x00 => "signature",
        /// Applications like TLS client certificate authentication.
        Authentication = 0x01 => "authentication",
        /// Encryption applications.
        Encryption = 0x02 => "encryption",
        /// No restrictions on key usage.
        Universal = 0x03 => "universal",
    }
);

spec_enum!(
    /// `subType` of addExtension and getExtension: how the extension data was supplied (spec
    /// 7.4 addExtension, the table of KeyGen2 property names).
    ExtensionSubType = "subType" {
        /// `extensions`: plain binary data.
        Extension = 0x00 => "extensions",
        /// `encryptedExtensions`: data encrypted as in spec 6.1, stored decrypted.
        EncryptedExtension = 0x01 => "encryptedExtensions",
        /// `propertyBags`: a normalized property bag.
        PropertyBag = 0x02 => "propertyBags",
        /// `logotypes`: image data; the qualifier is its MIME type.
        Logotype = 0x03 => "logotypes",
    }
);

spec_bits!(
    /// One bit of `protectionStatus` (spec 7.4 getKeyProtectionInfo).
    ProtectionFlag,
    /// `protectionStatus` of getKeyProtectionInfo, a set of [`ProtectionFlag`] bits (spec 7.4
    /// getKeyProtectionInfo): all zero means the key is not PIN protected.
    ProtectionStatus = "protectionStatus" {
        /// The key is protected by a local PIN policy object.
        PinProtected = 0x01 => "PIN_PROTECTED",
        /// The key is protected by a local PUK policy object (with `PIN_PROTECTED`).
        PukProtected = 0x02 => "PUK_PROTECTED",
        /// The key has locked up due to PIN errors (with `PIN_PROTECTED`).
        PinBlocked = 0x04 => "PIN_BLOCKED",
        /// The key has locked up due to PUK errors (with `PUK_PROTECTED`).
        PukBlocked = 0x08 => "PUK_BLOCKED",
        /// The key is protected by a device PIN (the only bit when set).
        DevicePin = 0x10 => "DEVICE_PIN",
    }
);

spec_bits!(
    /// One bit of `keyBackup` (spec 7.4 getKeyProtectionInfo).
    KeyBackupFlag,
    /// `keyBackup` of getKeyProtectionInfo, a set of [`KeyBackupFlag`] bits (spec 7.4
    /// getKeyProtectionInfo): whether a copy of the key exists.
    KeyBackup = "keyBackup" {
        /// Supplied through importPrivateKey or importSymmetricKey.
        Imported = 0x01 => "IMPORTED",
        /// Subject to an exportKey operation.
        Exported = 0x02 => "EXPORTED",
    }
);

spec_enum!(
    /// Bits 0-1 of `deviceType` (spec 7.4 getDeviceInfo): where the SKS is.
    DeviceLocation = "deviceType location" {
        /// Connected device.
        External = 0x00 => "LOCATION_EXTERNAL",
        /// Embedded in the client platform.
        Embedded = 0x01 => "LOCATION_EMBEDDED",
        /// Mounted inside a socket.
        Socketed = 0x02 => "LOCATION_SOCKETED",
        /// SIM/USIM card.
        Sim = 0x03 => "LOCATION_SIM",
    }
);

spec_enum!(
    /// Bits 2-3 of `deviceType` (spec 7.4 getDeviceInfo): how the SKS is implemented.
    DeviceImplementation = "deviceType type" {
        /// Software implementation.
        Software = 0x00 => "TYPE_SOFTWARE",
        /// Unqualified hardware implementation.
        Hardware = 0x04 => "TYPE_HARDWARE",
        /// Hardware Security Module.
        Hsm = 0x08 => "TYPE_HSM",
        /// Implemented inside of the main CPU.
        Cpu = 0x0C => "TYPE_CPU",
    }
);

/// `deviceType` of getDeviceInfo (spec 7.4 getDeviceInfo): a location (bits 0-1) and an
/// implementation (bits 2-3); bits 4-7 are undefined and refused by `TryFrom<u8>`. It prints as
/// `LOCATION_…,TYPE_…` and parses the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceType {
    pub location: DeviceLocation,
    pub implementation: DeviceImplementation,
}

impl DeviceType {
    /// The bits the spec defines.
    pub const MASK: u8 = 0x0F;

    /// The two fields of `v`, ignoring the undefined bits 4-7.
    pub const fn ignoring_undefined_bits(v: u8) -> Self {
        let location = match v & 0x03 {
            0x00 => DeviceLocation::External,
            0x01 => DeviceLocation::Embedded,
            0x02 => DeviceLocation::Socketed,
            _ => DeviceLocation::Sim,
        };
        let implementation = match v & 0x0C {
            0x00 => DeviceImplementation::Software,
            0x04 => DeviceImplementation::Hardware,
            0x08 => DeviceImplementation::Hsm,
            _ => DeviceImplementation::Cpu,
        };
        Self {
            location,
            implementation,
        }
    }
}

impl TryFrom<u8> for DeviceType {
    type Error = InvalidByte;
    fn try_from(value: u8) -> Result<Self, InvalidByte> {
        if value & !Self::MASK == 0 {
            Ok(Self::ignoring_undefined_bits(value))
        } else {
            Err(InvalidByte {
                what: "deviceType",
                value,
            })
        }
    }
}

impl From<DeviceType> for u8 {
    fn from(v: DeviceType) -> u8 {
        v.location as u8 | v.implementation as u8
    }
}

impl fmt::Display for DeviceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.location, self.implementation)
    }
}

impl FromStr for DeviceType {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        let (location, implementation) = s.split_once(',').ok_or(UnknownName {
            what: "deviceType",
            expected: &["LOCATION_…,TYPE_…"],
        })?;
        Ok(Self {
            location: location.trim().parse()?,
            implementation: implementation.trim().parse()?,
        })
    }
}

serde_by_name!(DeviceType);

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Debug;

    /// Every byte either converts and round-trips (byte and name), or is refused with itself.
    fn check<T>(what: &'static str, valid: &[u8])
    where
        T: Copy + Debug + PartialEq + TryFrom<u8, Error = InvalidByte> + fmt::Display + FromStr,
        u8: From<T>,
        <T as FromStr>::Err: Debug,
    {
        for b in 0..=255u8 {
            match T::try_from(b) {
                Ok(v) => {
                    assert!(valid.contains(&b), "{what}: 0x{b:02x} accepted");
                    assert_eq!(u8::from(v), b);
                    assert_eq!(v.to_string().parse::<T>().unwrap(), v, "{what} {v}");
                }
                Err(e) => {
                    assert!(!valid.contains(&b), "{what}: 0x{b:02x} refused");
                    assert_eq!(e, InvalidByte { what, value: b });
                }
            }
        }
    }

    #[test]
    fn enums_round_trip_and_refuse_the_rest() {
        check::<ExportProtection>("exportProtection", &[0, 1, 2, 3]);
        check::<DeleteProtection>("deleteProtection", &[0, 1, 2, 3]);
        check::<BiometricProtection>("biometricProtection", &[0, 1, 2, 3]);
        check::<InputMethod>("inputMethod", &[0, 1, 2]);
        check::<PatternRestriction>("patternRestrictions", &[1, 2, 4, 8, 0x10]);
        check::<PinFormat>("format", &[0, 1, 2, 3]);
        check::<Grouping>("grouping", &[0, 1, 2, 3]);
        check::<AppUsage>("appUsage", &[0, 1, 2, 3]);
        check::<ExtensionSubType>("subType", &[0, 1, 2, 3]);
        check::<ProtectionFlag>("protectionStatus", &[1, 2, 4, 8, 0x10]);
        check::<KeyBackupFlag>("keyBackup", &[1, 2]);
        check::<DeviceLocation>("deviceType location", &[0, 1, 2, 3]);
        check::<DeviceImplementation>("deviceType type", &[0, 4, 8, 12]);
    }

    #[test]
    fn bit_sets_round_trip_and_refuse_undefined_bits() {
        check::<PatternRestrictions>("patternRestrictions", &(0..0x20).collect::<Vec<_>>());
        check::<ProtectionStatus>("protectionStatus", &(0..0x20).collect::<Vec<_>>());
        check::<KeyBackup>("keyBackup", &[0, 1, 2, 3]);
        check::<DeviceType>("deviceType", &(0..0x10).collect::<Vec<_>>());
    }

    #[test]
    fn names_are_the_spec_tables() {
        assert_eq!(
            ExportProtection::NonExportable.to_string(),
            "non-exportable"
        );
        assert_eq!(DeleteProtection::NonDeletable.to_string(), "non-deletable");
        assert_eq!(
            Grouping::SignaturePlusStandard.to_string(),
            "signature+standard"
        );
        assert_eq!(InputMethod::TrustedGui.to_string(), "trusted-gui");
        assert_eq!(AppUsage::Authentication.to_string(), "authentication");
        assert_eq!(u8::from(Grouping::Unique), 3);
        assert_eq!(u8::from(DeviceImplementation::Cpu), 0x0C);
        assert_eq!("pin".parse(), Ok(ExportProtection::Pin));
        assert_eq!(
            "bogus".parse::<AppUsage>(),
            Err(UnknownName {
                what: "appUsage",
                expected: AppUsage::NAMES
            })
        );
        assert_eq!(AppUsage::ALL.len(), AppUsage::NAMES.len());
    }

    #[test]
    fn bit_set_names() {
        let p = PatternRestriction::ThreeInARow | PatternRestriction::Sequence;
        assert_eq!(p.bits(), 0x06);
        assert_eq!(p.to_string(), "three-in-a-row,sequence");
        assert_eq!("three-in-a-row, sequence".parse(), Ok(p));
        assert_eq!(PatternRestrictions::EMPTY.to_string(), "none");
        assert_eq!("".parse(), Ok(PatternRestrictions::EMPTY));
        assert!("sequence,bogus".parse::<PatternRestrictions>().is_err());
        assert_eq!(
            p.iter().collect::<Vec<_>>(),
            [
                PatternRestriction::ThreeInARow,
                PatternRestriction::Sequence
            ]
        );
        let s =
            ProtectionStatus::from(ProtectionFlag::PinProtected).with(ProtectionFlag::PinBlocked);
        assert!(
            s.contains(ProtectionFlag::PinBlocked) && !s.contains(ProtectionFlag::PukProtected)
        );
        assert_eq!(
            format!("{s:?}"),
            "ProtectionStatus(0x05: PIN_PROTECTED,PIN_BLOCKED)"
        );
    }

    #[test]
    fn device_type_fields() {
        let d = DeviceType::try_from(0x09).unwrap();
        assert_eq!(d.location, DeviceLocation::Embedded);
        assert_eq!(d.implementation, DeviceImplementation::Hsm);
        assert_eq!(d.to_string(), "LOCATION_EMBEDDED,TYPE_HSM");
        assert_eq!(DeviceType::ignoring_undefined_bits(0xF9), d);
        assert!("LOCATION_SIM".parse::<DeviceType>().is_err());
    }
}

impl Grouping {
    /// Whether two keys of usages `a` and `b` under a PIN policy with this grouping must have
    /// the same PIN (`Some(true)`), different PINs (`Some(false)`), or are unconstrained
    /// (`None`) (spec 5.7, spec-notes §5.3).
    pub fn ties(self, a: AppUsage, b: AppUsage) -> Option<bool> {
        match self {
            Self::None => None,
            Self::Shared => Some(true),
            Self::Unique => Some(a == b),
            Self::SignaturePlusStandard => {
                Some((a == AppUsage::Signature) == (b == AppUsage::Signature))
            }
        }
    }
}

#[cfg(test)]
mod grouping_tests {
    use super::{AppUsage as U, Grouping as G};

    #[test]
    fn grouping_ties_usages_as_spec_5_7_says() {
        assert_eq!(G::None.ties(U::Signature, U::Authentication), None);
        assert_eq!(G::Shared.ties(U::Signature, U::Authentication), Some(true));
        assert_eq!(
            G::Unique.ties(U::Authentication, U::Authentication),
            Some(true)
        );
        assert_eq!(
            G::Unique.ties(U::Authentication, U::Encryption),
            Some(false)
        );
        assert_eq!(
            G::SignaturePlusStandard.ties(U::Authentication, U::Encryption),
            Some(true)
        );
        assert_eq!(
            G::SignaturePlusStandard.ties(U::Signature, U::Encryption),
            Some(false)
        );
    }
}
