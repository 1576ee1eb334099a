//! Public keys as JWK (PROTOCOL.md §2.3) and their canonical SubjectPublicKeyInfo DER, the form
//! the SKS takes and MACs: EC named curve + uncompressed point; RSA `rsaEncryption` with NULL
//! parameters and minimal integers.

use crate::b64;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use spki::der::{Decode, Encode};
use spki::{DecodePublicKey, EncodePublicKey, ObjectIdentifier};

const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// The EC curves KeyGen2 carries as JWK (`crv`: the JOSE name, or the SKS URI on input).
pub use apdu_spec::algorithms::Curve;

/// The named-curve OID of `curve`.
pub fn curve_oid(curve: Curve) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(curve.oid())
}

/// The curve named by `oid`, if the SKS has it.
pub fn curve_of_oid(oid: ObjectIdentifier) -> Option<Curve> {
    Curve::ALL.into_iter().find(|c| curve_oid(*c) == oid)
}

/// The named-curve OID in the parameters of an id-ecPublicKey algorithm identifier; `Err`: why
/// there is none.
pub fn named_curve(
    algorithm: &spki::AlgorithmIdentifierRef<'_>,
) -> Result<ObjectIdentifier, String> {
    algorithm
        .parameters
        .as_ref()
        .ok_or("EC key without parameters")?
        .decode_as::<ObjectIdentifier>()
        .map_err(|e| e.to_string())
}

/// A public key as the protocol writes it.
#[derive(Clone, PartialEq, Eq)]
pub enum Jwk {
    /// `crv` as written (JOSE name, or the SKS URI accepted on input).
    Ec {
        crv: String,
        x: Vec<u8>,
        y: Vec<u8>,
    },
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// Ed25519 (parsed, written back; the card does not support it).
    Okp {
        crv: String,
        x: Vec<u8>,
    },
}

impl core::fmt::Debug for Jwk {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Jwk::Ec { crv, .. } => write!(f, "Jwk(EC {crv})"),
            Jwk::Rsa { n, .. } => write!(f, "Jwk(RSA-{})", n.len() * 8),
            Jwk::Okp { crv, .. } => write!(f, "Jwk(OKP {crv})"),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJwk {
    kty: String,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

fn field(v: Option<String>, name: &str, kty: &str) -> Result<Vec<u8>, String> {
    let s = v.ok_or_else(|| format!("{kty} JWK without \"{name}\""))?;
    b64::decode(&s).map_err(|e| format!("JWK \"{name}\": {e}"))
}

impl Jwk {
    fn from_raw(r: RawJwk) -> Result<Self, String> {
        let extra = |names: &[(&str, bool)]| -> Result<(), String> {
            match names.iter().find(|(_, present)| *present) {
                Some((n, _)) => Err(format!("unexpected JWK member \"{n}\" for kty {}", r.kty)),
                None => Ok(()),
            }
        };
        let jwk = match r.kty.as_str() {
            "EC" => {
                extra(&[("n", r.n.is_some()), ("e", r.e.is_some())])?;
                let crv = r.crv.clone().ok_or("EC JWK without \"crv\"")?;
                let curve = Curve::from_name(&crv)
                    .ok_or_else(|| format!("unsupported EC curve \"{crv}\""))?;
                let x = field(r.x, "x", "EC")?;
                let y = field(r.y, "y", "EC")?;
                if x.len() != curve.coordinate_len() || y.len() != curve.coordinate_len() {
                    return Err(format!(
                        "EC JWK coordinates not normalized: {} bytes expected",
                        curve.coordinate_len()
                    ));
                }
                Jwk::Ec { crv, x, y }
            }
            "RSA" => {
                extra(&[
                    ("crv", r.crv.is_some()),
                    ("x", r.x.is_some()),
                    ("y", r.y.is_some()),
                ])?;
                let n = field(r.n, "n", "RSA")?;
                let e = field(r.e, "e", "RSA")?;
                if n.first().is_none_or(|b| *b == 0) || e.first().is_none_or(|b| *b == 0) {
                    return Err("RSA JWK value with a leading zero byte (or empty)".into());
                }
                Jwk::Rsa { n, e }
            }
            "OKP" => {
                extra(&[
                    ("y", r.y.is_some()),
                    ("n", r.n.is_some()),
                    ("e", r.e.is_some()),
                ])?;
                let crv = r.crv.clone().ok_or("OKP JWK without \"crv\"")?;
                if crv != "Ed25519" {
                    return Err(format!("unsupported OKP curve \"{crv}\""));
                }
                let x = field(r.x, "x", "OKP")?;
                if x.len() != 32 {
                    return Err("Ed25519 JWK \"x\" must be 32 bytes".into());
                }
                Jwk::Okp { crv, x }
            }
            other => return Err(format!("unsupported JWK kty \"{other}\"")),
        };
        // The key must be a valid public key (EC point on the curve, RSA size accepted).
        jwk.to_spki()?;
        Ok(jwk)
    }

    /// Canonical SubjectPublicKeyInfo DER.
    pub fn to_spki(&self) -> Result<Vec<u8>, String> {
        let enc = |r: Result<spki::Document, spki::Error>| {
            r.map(|d| d.as_bytes().to_vec())
                .map_err(|e| format!("public key does not encode: {e}"))
        };
        match self {
            Jwk::Ec { crv, x, y } => {
                let curve = Curve::from_name(crv).ok_or("unsupported curve")?;
                let mut point = vec![4u8];
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                let bad = |_| "EC point is not on the curve".to_string();
                match curve {
                    Curve::P256 => enc(p256::PublicKey::from_sec1_bytes(&point)
                        .map_err(bad)?
                        .to_public_key_der()),
                    Curve::P384 => enc(p384::PublicKey::from_sec1_bytes(&point)
                        .map_err(bad)?
                        .to_public_key_der()),
                    Curve::P521 => enc(p521::PublicKey::from_sec1_bytes(&point)
                        .map_err(bad)?
                        .to_public_key_der()),
                }
            }
            Jwk::Rsa { n, e } => {
                let key = rsa::pkcs1::RsaPublicKey {
                    modulus: der::asn1::UintRef::new(n).map_err(|e| e.to_string())?,
                    public_exponent: der::asn1::UintRef::new(e).map_err(|e| e.to_string())?,
                };
                let pkcs1 = key.to_der().map_err(|e| e.to_string())?;
                let spki = spki::SubjectPublicKeyInfoRef {
                    algorithm: spki::AlgorithmIdentifierRef {
                        oid: OID_RSA,
                        parameters: Some(der::asn1::AnyRef::NULL),
                    },
                    subject_public_key: der::asn1::BitStringRef::from_bytes(&pkcs1)
                        .map_err(|e| e.to_string())?,
                };
                spki.to_der().map_err(|e| e.to_string())
            }
            Jwk::Okp { x, .. } => spki::SubjectPublicKeyInfoRef {
                algorithm: spki::AlgorithmIdentifierRef {
                    oid: OID_ED25519,
                    parameters: None,
                },
                subject_public_key: der::asn1::BitStringRef::from_bytes(x)
                    .map_err(|e| e.to_string())?,
            }
            .to_der()
            .map_err(|e| e.to_string()),
        }
    }

    /// The JWK of SubjectPublicKeyInfo DER (RSA, EC P-256/384/521, Ed25519).
    pub fn from_spki(der_bytes: &[u8]) -> Result<Self, String> {
        let bad = |e: &dyn core::fmt::Display| format!("bad SubjectPublicKeyInfo: {e}");
        let info = spki::SubjectPublicKeyInfoRef::from_der(der_bytes).map_err(|e| bad(&e))?;
        let raw = info
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| bad(&"unused bits"))?;
        match info.algorithm.oid {
            OID_RSA => {
                let k = rsa::pkcs1::RsaPublicKey::<der::asn1::UintRef<'_>>::from_der(raw)
                    .map_err(|e| bad(&e))?;
                Ok(Jwk::Rsa {
                    n: k.modulus.as_bytes().to_vec(),
                    e: k.public_exponent.as_bytes().to_vec(),
                })
            }
            OID_EC => {
                let curve_oid = named_curve(&info.algorithm).map_err(|e| bad(&e))?;
                let curve = curve_of_oid(curve_oid)
                    .ok_or_else(|| format!("unsupported EC curve {curve_oid}"))?;
                // Normalizes compressed points: decode through the curve crate.
                let point = match curve {
                    Curve::P256 => p256::PublicKey::from_public_key_der(der_bytes)
                        .map(|k| k.to_sec1_bytes().to_vec()),
                    Curve::P384 => p384::PublicKey::from_public_key_der(der_bytes)
                        .map(|k| k.to_sec1_bytes().to_vec()),
                    Curve::P521 => p521::PublicKey::from_public_key_der(der_bytes)
                        .map(|k| k.to_sec1_bytes().to_vec()),
                }
                .map_err(|e| bad(&e))?;
                let l = curve.coordinate_len();
                if point.len() != 1 + 2 * l {
                    return Err(bad(&"EC point length"));
                }
                Ok(Jwk::Ec {
                    crv: curve.jose().into(),
                    x: point[1..1 + l].to_vec(),
                    y: point[1 + l..].to_vec(),
                })
            }
            OID_ED25519 if raw.len() == 32 => Ok(Jwk::Okp {
                crv: "Ed25519".into(),
                x: raw.to_vec(),
            }),
            other => Err(format!("unsupported public key algorithm {other}")),
        }
    }

    /// The EC curve, for EC keys.
    pub fn curve(&self) -> Option<Curve> {
        match self {
            Jwk::Ec { crv, .. } => Curve::from_name(crv),
            _ => None,
        }
    }
}

impl Serialize for Jwk {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        match self {
            Jwk::Ec { crv, x, y } => {
                m.serialize_entry("kty", "EC")?;
                m.serialize_entry("crv", crv)?;
                m.serialize_entry("x", &b64::encode(x))?;
                m.serialize_entry("y", &b64::encode(y))?;
            }
            Jwk::Rsa { n, e } => {
                m.serialize_entry("kty", "RSA")?;
                m.serialize_entry("n", &b64::encode(n))?;
                m.serialize_entry("e", &b64::encode(e))?;
            }
            Jwk::Okp { crv, x } => {
                m.serialize_entry("kty", "OKP")?;
                m.serialize_entry("crv", crv)?;
                m.serialize_entry("x", &b64::encode(x))?;
            }
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Jwk {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Jwk::from_raw(RawJwk::deserialize(d)?).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_round_trip_through_spki() {
        let j: Jwk = serde_json::from_str(
            r#"{"kty":"EC","crv":"P-256","x":"lNxNvAUEE8t7DSQBft93LVSXxKCiVjhbWWfyg023FCk","y":"LmTlQxXB3LgZrNLmhOfMaCnDizczC_RfQ6Kx8iNwfFA"}"#,
        )
        .unwrap();
        let spki = j.to_spki().unwrap();
        assert_eq!(Jwk::from_spki(&spki).unwrap(), j);
    }

    #[test]
    fn rejects_bad_keys() {
        for (json, why) in [
            (
                r#"{"kty":"EC","crv":"P-256","x":"AQ","y":"AQ"}"#,
                "not normalized",
            ),
            (r#"{"kty":"RSA","n":"AAEC","e":"AQAB"}"#, "leading zero"),
            (
                r#"{"kty":"RSA","n":"AQID","e":"AQAB","d":"AQ"}"#,
                "unknown field",
            ),
            (r#"{"kty":"XX"}"#, "unsupported JWK kty"),
            (r#"{"kty":"RSA","n":"AQID"}"#, "without \"e\""),
        ] {
            let e = serde_json::from_str::<Jwk>(json).unwrap_err().to_string();
            assert!(e.contains(why), "{json}: {e}");
        }
    }
}
