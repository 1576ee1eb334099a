//! A small certification authority: a self-signed P-256 issuer CA that certifies the keys the
//! card generates (or any key, for negative tests).

use crate::crypto::canonical_spki;
use crate::Error;
use spki::der::{Decode, Encode};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::time::Validity;

/// The simplest profile that gives v3 certificates: basicConstraints (+ keyUsage for the CA).
struct Profile {
    issuer: Name,
    subject: Name,
    ca: bool,
}

impl BuilderProfile for Profile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut ext = Vec::new();
        ext.push(
            BasicConstraints {
                ca: self.ca,
                path_len_constraint: None,
            }
            .to_extension(tbs.subject(), &ext)?,
        );
        if self.ca {
            ext.push(
                KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign)
                    .to_extension(tbs.subject(), &ext)?,
            );
        }
        Ok(ext)
    }
}

/// A self-signed P-256 CA.
pub struct Ca {
    key: p256::ecdsa::SigningKey,
    name: Name,
    certificate: Vec<u8>,
    serial: AtomicU64,
}

impl core::fmt::Debug for Ca {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Ca({})", self.name)
    }
}

fn name(cn: &str) -> Result<Name, Error> {
    let escaped: String = cn
        .chars()
        .flat_map(|c| {
            let esc = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=');
            esc.then_some('\\').into_iter().chain(std::iter::once(c))
        })
        .collect();
    Name::from_str(&format!("CN={escaped}"))
        .map_err(|e| Error::Certificate(format!("bad subject name {cn:?}: {e}")))
}

fn cert_err(e: impl core::fmt::Display) -> Error {
    Error::Certificate(format!("certificate building failed: {e}"))
}

impl Ca {
    /// A new CA with a fresh P-256 key and a self-signed certificate `CN=<common_name>`.
    pub fn new(common_name: &str) -> Result<Self, Error> {
        let key = p256::ecdsa::SigningKey::from(
            <p256::SecretKey as p256::elliptic_curve::Generate>::generate_from_rng(
                &mut crate::crypto::rng(),
            ),
        );
        Self::from_key(key, common_name)
    }

    /// A CA with a given P-256 key (e.g. one kept in a file) and a fresh self-signed
    /// certificate `CN=<common_name>`.
    pub fn from_key(key: p256::ecdsa::SigningKey, common_name: &str) -> Result<Self, Error> {
        let name = name(common_name)?;
        let spki = SubjectPublicKeyInfoOwned::from_key(key.verifying_key()).map_err(cert_err)?;
        let profile = Profile {
            issuer: name.clone(),
            subject: name.clone(),
            ca: true,
        };
        let builder = CertificateBuilder::new(
            profile,
            SerialNumber::from(1u64),
            Validity::from_now(Duration::from_secs(10 * 365 * 86400)).map_err(cert_err)?,
            spki,
        )
        .map_err(cert_err)?;
        let cert = builder
            .build::<_, p256::ecdsa::DerSignature>(&key)
            .map_err(cert_err)?;
        let certificate = cert.to_der().map_err(cert_err)?;
        Ok(Self {
            key,
            name,
            certificate,
            serial: AtomicU64::new(2),
        })
    }

    /// The CA certificate (DER).
    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }

    /// Certifies `spki_der` after canonical re-encoding (spec-notes §2.5), so the certificate's
    /// SubjectPublicKeyInfo is byte-for-byte the canonical form of the key. Subject `CN=<subject>`.
    /// Every call gives a new serial number, hence a distinct certificate.
    pub fn certify(&self, spki_der: &[u8], subject: &str) -> Result<Vec<u8>, Error> {
        self.certify_raw(&canonical_spki(spki_der)?, subject)
    }

    /// Certifies the SubjectPublicKeyInfo exactly as given (it need only be well-formed DER):
    /// for certificates of arbitrary or mismatching keys.
    pub fn certify_raw(&self, spki_der: &[u8], subject: &str) -> Result<Vec<u8>, Error> {
        let spki = SubjectPublicKeyInfoOwned::from_der(spki_der)
            .map_err(|e| Error::Certificate(format!("bad SPKI: {e}")))?;
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let profile = Profile {
            issuer: self.name.clone(),
            subject: name(subject)?,
            ca: false,
        };
        let builder = CertificateBuilder::new(
            profile,
            SerialNumber::from(serial),
            Validity::from_now(Duration::from_secs(2 * 365 * 86400)).map_err(cert_err)?,
            spki,
        )
        .map_err(cert_err)?;
        let cert = builder
            .build::<_, p256::ecdsa::DerSignature>(&self.key)
            .map_err(cert_err)?;
        cert.to_der().map_err(cert_err)
    }

    /// A certificate path for `spki_der`: `[EE certificate, CA certificate]`.
    pub fn certify_path(&self, spki_der: &[u8], subject: &str) -> Result<Vec<Vec<u8>>, Error> {
        Ok(vec![
            self.certify(spki_der, subject)?,
            self.certificate.clone(),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{certificate_spki, Curve, EcdhKey};
    use crate::Kmk;

    #[test]
    fn certificates_carry_the_key_verbatim() {
        let ca = Ca::new("Test CA").unwrap();
        for spki in [
            EcdhKey::generate(Curve::P256).public_key_spki(),
            EcdhKey::generate(Curve::P521).public_key_spki(),
            Kmk::generate_rsa(1024).unwrap().spki(),
        ] {
            let c1 = ca.certify(&spki, "Key.1").unwrap();
            let c2 = ca.certify(&spki, "Key.1").unwrap();
            assert_ne!(c1, c2, "distinct serials");
            assert_eq!(certificate_spki(&c1).unwrap(), spki);
        }
        // The CA certificate itself parses, and its key is P-256.
        let ca_spki = certificate_spki(ca.certificate()).unwrap();
        assert_eq!(
            crate::PublicKey::from_spki(&ca_spki).unwrap().curve(),
            Some(Curve::P256)
        );
        // Names with special characters are escaped.
        ca.certify(&EcdhKey::generate(Curve::P256).public_key_spki(), "a,b=c")
            .unwrap();
    }
}
