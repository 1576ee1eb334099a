//! Provisioning profiles: what `sks provision` creates in one session, from a TOML or JSON
//! file (`--profile`) or built from the command-line flags. The format is in docs/cli.md.

use crate::fail::Fail;
use apdu_spec::algorithms::{
    asymmetric_encryption as ae, hmac, key_agreement, key_generation as kg, signature, symmetric,
};
use apdu_spec::values::{
    AppUsage, ExportProtection, Grouping, InputMethod, PatternRestriction, PatternRestrictions,
    PinFormat, UnknownName,
};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::str::FromStr;

fn yes() -> bool {
    true
}
fn three() -> u16 {
    3
}
fn four() -> u16 {
    4
}
fn eight() -> u16 {
    8
}
fn numeric() -> String {
    PinFormat::Numeric.to_string()
}
fn none() -> String {
    Grouping::None.to_string()
}
fn any() -> String {
    InputMethod::Any.to_string()
}
fn universal() -> String {
    AppUsage::Universal.to_string()
}
fn forbidden() -> String {
    "forbidden".into()
}

/// One provisioning session.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Privacy-enabled provisioning.
    #[serde(default)]
    pub privacy: bool,
    #[serde(default)]
    pub puk: Vec<PukSpec>,
    #[serde(default)]
    pub pin: Vec<PinSpec>,
    #[serde(default, rename = "key")]
    pub keys: Vec<KeyProfile>,
}

/// A PUK policy. `value` is a secret source (env:VAR, fd:N, file:PATH, prompt or the value).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct PukSpec {
    pub id: String,
    pub value: crate::secret::SecretSource,
    #[serde(default = "numeric")]
    pub format: String,
    #[serde(default = "three")]
    pub retry_limit: u16,
}

/// A PIN policy.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct PinSpec {
    pub id: String,
    /// Id of the PUK policy that governs it.
    pub puk: Option<String>,
    #[serde(default = "numeric")]
    pub format: String,
    #[serde(default = "four")]
    pub min_length: u16,
    #[serde(default = "eight")]
    pub max_length: u16,
    #[serde(default = "three")]
    pub retry_limit: u16,
    #[serde(default = "none")]
    pub grouping: String,
    #[serde(default)]
    pub patterns: Vec<String>,
    #[serde(default = "yes")]
    pub user_defined: bool,
    #[serde(default = "yes")]
    pub user_modifiable: bool,
    #[serde(default = "any")]
    pub input_method: String,
}

/// A key.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct KeyProfile {
    pub id: String,
    /// p256|p384|p521|rsa1024..rsa4096[,exp=N]|aes128|aes192|aes256|hmac or a URI; with a
    /// private key `import` it may be left out.
    pub alg: Option<String>,
    /// Id of the PIN policy protecting the key.
    pub pin: Option<String>,
    /// The PIN value (a secret source).
    pub pin_value: Option<crate::secret::SecretSource>,
    #[serde(default)]
    pub friendly_name: String,
    #[serde(default = "universal")]
    pub app_usage: String,
    #[serde(default = "forbidden")]
    pub export: String,
    #[serde(default = "none")]
    pub delete: String,
    /// Endorsed algorithms (short names or URIs); default every one the key can do.
    pub endorse: Option<Vec<String>>,
    /// Private key (PKCS#8 PEM/DER) or symmetric key (raw or hex) to import.
    pub import: Option<PathBuf>,
    #[serde(default)]
    pub extension: Vec<ExtensionSpec>,
    #[serde(default)]
    pub property_bag: Vec<PropertyBagSpec>,
    /// Demo: print a generated symmetric secret.
    #[serde(skip)]
    pub show_secret: bool,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ExtensionSpec {
    #[serde(rename = "type")]
    pub type_uri: String,
    /// UTF-8 data, or `file` for binary.
    pub data: Option<String>,
    pub file: Option<PathBuf>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct PropertyBagSpec {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub properties: Vec<PropertySpec>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct PropertySpec {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub writable: bool,
}

impl Profile {
    /// Reads a profile: JSON for `.json`, TOML otherwise. Relative `import`/`file` paths are
    /// relative to the profile's directory.
    pub fn load(path: &Path) -> Result<Profile, Fail> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Fail::usage(format!("cannot read {}: {e}", path.display())))?;
        let mut p: Profile = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text)
                .map_err(|e| Fail::usage(format!("{}: {e}", path.display())))?
        } else {
            toml::from_str(&text).map_err(|e| Fail::usage(format!("{}: {e}", path.display())))?
        };
        let base = path.parent().unwrap_or(Path::new("."));
        for k in &mut p.keys {
            if let Some(i) = &mut k.import {
                *i = base.join(&*i);
            }
            for x in &mut k.extension {
                if let Some(f) = &mut x.file {
                    *f = base.join(&*f);
                }
            }
        }
        Ok(p)
    }
}

/// What a key algorithm name stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    Ec,
    Rsa(u32),
    Aes(usize),
    Hmac,
}

/// A parsed `--alg`.
#[derive(Debug, Clone)]
pub struct KeyAlg {
    pub kind: KeyKind,
    /// createKeyEntry's keyAlgorithm (P-256 for symmetric keys, whose secret is imported).
    pub uri: &'static str,
    pub parameters: Vec<u8>,
}

impl KeyAlg {
    pub fn parse(s: &str) -> Result<KeyAlg, Fail> {
        let bad = || {
            Fail::usage(format!(
                "unknown key algorithm {s:?}: use p256, p384, p521, rsa1024, rsa2048, rsa3072, \
                 rsa4096 (optionally ,exp=N), aes128, aes192, aes256 or hmac"
            ))
        };
        let lower = s.to_ascii_lowercase();
        let (name, exp) = match lower.split_once(',') {
            Some((n, e)) => {
                let v = e.strip_prefix("exp=").ok_or_else(bad)?;
                let v: u64 = v
                    .parse()
                    .map_err(|_| Fail::usage(format!("{s}: exp must be a number")))?;
                (n, Some(v))
            }
            None => (lower.as_str(), None),
        };
        let (kind, uri) = match name {
            "p256" | "ec.nist.p256" => (KeyKind::Ec, kg::EC_NIST_P256),
            "p384" | "ec.nist.p384" => (KeyKind::Ec, kg::EC_NIST_P384),
            "p521" | "ec.nist.p521" => (KeyKind::Ec, kg::EC_NIST_P521),
            "rsa1024" => (
                KeyKind::Rsa(1024),
                if exp.is_some() {
                    kg::RSA1024_EXP
                } else {
                    kg::RSA1024
                },
            ),
            "rsa2048" => (
                KeyKind::Rsa(2048),
                if exp.is_some() {
                    kg::RSA2048_EXP
                } else {
                    kg::RSA2048
                },
            ),
            "rsa3072" => (
                KeyKind::Rsa(3072),
                if exp.is_some() {
                    kg::RSA3072_EXP
                } else {
                    kg::RSA3072
                },
            ),
            "rsa4096" => (
                KeyKind::Rsa(4096),
                if exp.is_some() {
                    kg::RSA4096_EXP
                } else {
                    kg::RSA4096
                },
            ),
            "aes128" => (KeyKind::Aes(16), kg::EC_NIST_P256),
            "aes192" => (KeyKind::Aes(24), kg::EC_NIST_P256),
            "aes256" => (KeyKind::Aes(32), kg::EC_NIST_P256),
            "hmac" => (KeyKind::Hmac, kg::EC_NIST_P256),
            _ => return Err(bad()),
        };
        if exp.is_some() && !matches!(kind, KeyKind::Rsa(_)) {
            return Err(bad());
        }
        let parameters = match exp {
            Some(e) => {
                let b = e.to_be_bytes();
                let first = b.iter().position(|x| *x != 0).unwrap_or(7);
                b[first..].to_vec()
            }
            None => Vec::new(),
        };
        Ok(KeyAlg {
            kind,
            uri,
            parameters,
        })
    }

    /// Every algorithm a key of this kind can be used with, sorted as the card wants.
    pub fn default_endorsed(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = match self.kind {
            KeyKind::Ec => vec![
                signature::ECDSA_SHA256,
                signature::ECDSA_SHA384,
                signature::ECDSA_SHA512,
                signature::ECDSA_NONE,
                key_agreement::ECDH_RAW,
            ],
            KeyKind::Rsa(_) => vec![
                signature::RSA_SHA256,
                signature::RSA_SHA384,
                signature::RSA_SHA512,
                signature::RSA_PKCS1_NONE,
                ae::RSA_OAEP_SHA256,
                ae::RSA_OAEP_SHA1,
                ae::RSA_ES_PKCS1_5,
            ],
            KeyKind::Aes(n) => vec![
                symmetric::AES_CBC,
                symmetric::AES_ECB_NOPAD,
                match n {
                    16 => symmetric::AES128_CBC,
                    24 => symmetric::AES192_CBC,
                    _ => symmetric::AES256_CBC,
                },
            ],
            KeyKind::Hmac => hmac::ALL.to_vec(),
        };
        v.sort_unstable();
        v
    }

    pub fn describe(&self) -> String {
        match self.kind {
            KeyKind::Ec => match self.uri {
                kg::EC_NIST_P384 => "EC P-384".into(),
                kg::EC_NIST_P521 => "EC P-521".into(),
                _ => "EC P-256".into(),
            },
            KeyKind::Rsa(b) => format!("RSA-{b}"),
            KeyKind::Aes(n) => format!("AES-{}", n * 8),
            KeyKind::Hmac => "HMAC".into(),
        }
    }
}

/// A spec value by its KeyGen2 name; the error lists the names.
fn named<T: FromStr<Err = UnknownName>>(what: &str, s: &str) -> Result<T, Fail> {
    s.parse().map_err(|e: UnknownName| {
        let (last, rest) = e.expected.split_last().unwrap_or((&"", &[]));
        Fail::usage(format!("{what} {s:?}: {} or {last}", rest.join(", ")))
    })
}

/// exportProtection or deleteProtection (the same byte): none, pin, puk, or forbidden for
/// non-exportable / non-deletable.
pub fn protection(s: &str) -> Result<u8, Fail> {
    let p = match s {
        "forbidden" => Some(ExportProtection::NonExportable),
        _ => s
            .parse::<ExportProtection>()
            .ok()
            .filter(|p| *p != ExportProtection::NonExportable),
    };
    p.map(u8::from)
        .ok_or_else(|| Fail::usage(format!("protection {s:?}: none, pin, puk or forbidden")))
}

pub fn app_usage(s: &str) -> Result<AppUsage, Fail> {
    named("appUsage", s)
}

pub fn pin_format(s: &str) -> Result<PinFormat, Fail> {
    named("PIN format", s)
}

pub fn grouping(s: &str) -> Result<Grouping, Fail> {
    named("grouping", s)
}

pub fn input_method(s: &str) -> Result<InputMethod, Fail> {
    named("input method", s)
}

pub fn patterns(list: &[String]) -> Result<PatternRestrictions, Fail> {
    list.iter()
        .map(|p| named::<PatternRestriction>("pattern", p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_algs() {
        let a = KeyAlg::parse("rsa2048,exp=3").unwrap();
        assert_eq!(a.uri, kg::RSA2048_EXP);
        assert_eq!(a.parameters, vec![3]);
        let a = KeyAlg::parse("rsa4096,exp=65537").unwrap();
        assert_eq!(a.parameters, vec![1, 0, 1]);
        assert_eq!(KeyAlg::parse("aes192").unwrap().kind, KeyKind::Aes(24));
        assert!(KeyAlg::parse("p256,exp=3").is_err());
        assert!(KeyAlg::parse("dsa").is_err());
        let e = KeyAlg::parse("p384").unwrap().default_endorsed();
        assert!(e.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn toml_profile() {
        let p: Profile = toml::from_str(
            r#"
            [[puk]]
            id = "PUK.1"
            value = "env:X"
            [[pin]]
            id = "PIN.1"
            puk = "PUK.1"
            patterns = ["sequence"]
            [[key]]
            id = "K"
            alg = "p384"
            pin = "PIN.1"
            pin_value = "1234"
            [[key.property_bag]]
            type = "urn:x"
            properties = [{ name = "a", value = "b", writable = true }]
            "#,
        )
        .unwrap();
        assert_eq!(p.keys[0].property_bag[0].properties[0].name, "a");
        assert!(toml::from_str::<Profile>("[[key]]\nid='x'\nbogus=1").is_err());
    }
}
