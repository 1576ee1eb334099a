//! The device identity (spec 2.1 "Device Certificate" and "Attestation Private Key", 2.7
//! "Device ID") and its creation at first start ("personalization").
//!
//! A real card gets its identity at the factory: a device key pair and a device certificate
//! issued by the vendor CA. This virtual card plays the factory once, on its first start: it
//! creates a vendor CA key, a P-256 device attestation key, an IEEE 802.1AR (DevID) device
//! certificate signed by the CA and the CA's self-signed certificate, persists the device key
//! and the two-certificate path, and forgets the CA key. The attestation key is P-256 so E2ES
//! attestations are SHA256withECDSA, raw r‖s (spec-notes §3.9).

use crate::error::DeviceError;
use apdu_spec::{Bytes, DecodeError, Reader, Wire, Writer};
use der::{Decode, Encode};
use p256::ecdsa::{DerSignature, SigningKey};
use p256::elliptic_curve::Generate;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rand_core::CryptoRng;
use std::str::FromStr;
use std::time::Duration;
use x509_cert::builder::profile::{cabf, devid};
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfo;
use x509_cert::time::{Time, Validity};
use zeroize::Zeroizing;

/// Organisation named in the certificates.
const VENDOR: &str = "SKS Virtual Card";

/// The card's attestation key and its certificate path (device certificate first).
pub struct DeviceIdentity {
    key: SigningKey,
    certificates: Vec<Vec<u8>>,
}

impl DeviceIdentity {
    /// Creates a new identity, as the factory would (see the module docs). `now` is the
    /// certificates' notBefore; they never expire (notAfter 99991231235959Z, RFC 5280 4.1.2.5).
    pub fn personalize<R: CryptoRng + ?Sized>(
        rng: &mut R,
        now: Duration,
    ) -> Result<Self, DeviceError> {
        let fail = DeviceError::at::<x509_cert::builder::Error>;
        let not_before = Time::GeneralTime(
            der::asn1::GeneralizedTime::from_unix_duration(now)
                .map_err(DeviceError::at("clock out of range"))?,
        );
        let validity = Validity::new(not_before, Time::INFINITY);

        let ca_key = SigningKey::generate_from_rng(rng);
        let ca_name = Name::from_str(&format!("CN={VENDOR} Vendor CA,O={VENDOR},C=SE"))
            .map_err(DeviceError::at("CA name"))?;
        let ca_profile = cabf::Root::new(false, ca_name.clone()).map_err(fail("CA profile"))?;
        let ca_cert = CertificateBuilder::new(
            ca_profile,
            SerialNumber::generate(rng),
            validity,
            spki(&ca_key)?,
        )
        .map_err(fail("CA certificate"))?
        .build::<_, DerSignature>(&ca_key)
        .map_err(fail("CA certificate"))?;

        let key = SigningKey::generate_from_rng(rng);
        let serial = SerialNumber::generate(rng);
        let device_name = Name::from_str(&format!(
            "CN={VENDOR} {},O={VENDOR}",
            hex_upper(&serial.as_bytes()[..8])
        ))
        .map_err(DeviceError::at("device name"))?;
        let device_profile =
            devid::DevId::new(ca_name, device_name, None).map_err(fail("device profile"))?;
        let device_cert = CertificateBuilder::new(device_profile, serial, validity, spki(&key)?)
            .map_err(fail("device certificate"))?
            .build::<_, DerSignature>(&ca_key)
            .map_err(fail("device certificate"))?;

        let der = |c: &x509_cert::Certificate| c.to_der().map_err(DeviceError::at("DER"));
        Ok(Self {
            key,
            certificates: vec![der(&device_cert)?, der(&ca_cert)?],
        })
    }

    /// The attestation private key (spec 2.1).
    pub fn attestation_key(&self) -> &SigningKey {
        &self.key
    }

    /// The certificate path, device certificate first (spec 7.4 getDeviceInfo).
    pub fn certificates(&self) -> &[Vec<u8>] {
        &self.certificates
    }

    /// The Device ID of E2ES mode: the device certificate's DER (spec 2.7).
    pub fn device_certificate(&self) -> &[u8] {
        &self.certificates[0]
    }

    /// The persistent form: `byte[] PKCS#8(key) ‖ list of byte[] certificates`.
    pub fn to_record(&self) -> Result<Zeroizing<Vec<u8>>, DeviceError> {
        let pkcs8 = self.key.to_pkcs8_der().map_err(DeviceError::at("PKCS#8"))?;
        let mut w = Writer::new();
        Bytes(pkcs8.as_bytes().to_vec()).encode(&mut w);
        let certs: Vec<Bytes> = self.certificates.iter().map(|c| Bytes(c.clone())).collect();
        certs.encode(&mut w);
        w.finish()
            .map(Zeroizing::new)
            .map_err(DeviceError::at("identity record"))
    }

    pub fn from_record(bytes: &[u8]) -> Result<Self, DeviceError> {
        let bad = &DeviceError::at::<DecodeError>("device identity record");
        let mut r = Reader::new(bytes);
        let pkcs8 = Zeroizing::new(Bytes::decode(&mut r).map_err(bad)?.0);
        let certs = Vec::<Bytes>::decode(&mut r).map_err(bad)?;
        r.finish().map_err(bad)?;
        let key =
            SigningKey::from_pkcs8_der(&pkcs8).map_err(DeviceError::at("device identity key"))?;
        let certificates: Vec<Vec<u8>> = certs.into_iter().map(|c| c.0).collect();
        let device = certificates.first().ok_or(DeviceError::NoCertificate)?;
        let cert = x509_cert::Certificate::from_der(device)
            .map_err(DeviceError::at("device certificate"))?;
        let expected = spki(&key)?;
        if cert.tbs_certificate().subject_public_key_info() != &expected {
            return Err(DeviceError::KeyMismatch);
        }
        Ok(Self { key, certificates })
    }
}

fn spki(
    key: &SigningKey,
) -> Result<SubjectPublicKeyInfo<der::asn1::Any, der::asn1::BitString>, DeviceError> {
    SubjectPublicKeyInfo::from_key(key.verifying_key()).map_err(DeviceError::at("SPKI"))
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn personalization_makes_a_chain_that_round_trips() {
        let mut rng = ChaCha20Rng::from_seed([7; 32]);
        let id = DeviceIdentity::personalize(&mut rng, Duration::from_secs(1_700_000_000)).unwrap();
        assert_eq!(id.certificates().len(), 2);
        let device = x509_cert::Certificate::from_der(id.device_certificate()).unwrap();
        let ca = x509_cert::Certificate::from_der(&id.certificates()[1]).unwrap();
        assert_eq!(
            device.tbs_certificate().issuer(),
            ca.tbs_certificate().subject()
        );

        let back = DeviceIdentity::from_record(&id.to_record().unwrap()).unwrap();
        assert_eq!(back.certificates(), id.certificates());
        assert_eq!(
            back.attestation_key().verifying_key(),
            id.attestation_key().verifying_key()
        );
    }

    #[test]
    fn record_with_foreign_certificate_is_rejected() {
        let mut rng = ChaCha20Rng::from_seed([1; 32]);
        let a = DeviceIdentity::personalize(&mut rng, Duration::from_secs(1_700_000_000)).unwrap();
        let b = DeviceIdentity::personalize(&mut rng, Duration::from_secs(1_700_000_000)).unwrap();
        let mixed = DeviceIdentity {
            key: a.key.clone(),
            certificates: b.certificates.clone(),
        };
        let err = DeviceIdentity::from_record(&mixed.to_record().unwrap())
            .err()
            .unwrap();
        assert!(matches!(err, DeviceError::KeyMismatch), "{err}");
        assert!(DeviceIdentity::from_record(&[0, 5, 1]).is_err());
    }
}
