//! SKS keys as the card reports them (getKeyAttributes, getKeyProtectionInfo) and the PKCS #11
//! objects made from each: private key (or secret key), public key, certificates.

use crate::object::{Attrs, Kind, Object};
use apdu_spec::algorithms::{asymmetric_encryption, hmac, key_agreement, signature, symmetric};
use apdu_spec::methods::{GetKeyAttributesOutput, GetKeyProtectionInfoOutput};
use apdu_spec::values::{
    AppUsage, ExportProtection, KeyBackup, KeyBackupFlag, ProtectionFlag, ProtectionStatus,
};
use cryptoki_sys::*;
use der::{Decode, Encode};
use sha1::{Digest, Sha1};
use sks_issuer::Curve;
use x509_cert::Certificate;

/// The kind of key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// An EC key on a NIST curve.
    Ec(Curve),
    /// An RSA key of this many modulus bytes.
    Rsa(usize),
    /// A symmetric key of this many bytes.
    Symmetric(usize),
    /// Ed25519 (optional on SKS cards): exposed as CKK_EC_EDWARDS; no mechanism offered.
    Ed25519,
    /// Anything else: exposed, not usable through this module.
    Other,
}

/// What a key may be used for, as PKCS #11 attributes say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// CKA_SIGN (signatures, HMAC).
    Sign,
    /// CKA_DECRYPT (RSA decryption, AES decryption).
    Decrypt,
    /// CKA_ENCRYPT (AES encryption).
    Encrypt,
    /// CKA_DERIVE (ECDH).
    Derive,
}

/// One SKS key.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    /// The SKS key handle.
    pub handle: u32,
    /// The provisioning session that owns it.
    pub provisioning: u32,
    /// getKeyAttributes.
    pub attrs: GetKeyAttributesOutput,
    /// getKeyProtectionInfo.
    pub protection: GetKeyProtectionInfoOutput,
    /// The key material's kind.
    pub key_type: KeyType,
    /// The end-entity certificate's SubjectPublicKeyInfo (DER).
    pub spki: Vec<u8>,
    /// The raw subjectPublicKey bits (EC point, or RSAPublicKey DER).
    pub public_bits: Vec<u8>,
    /// CKA_ID: SHA-1 of `public_bits`, the same for the key's objects.
    pub id: Vec<u8>,
    /// Created by this module's local issuer (C_GenerateKeyPair).
    pub local: bool,
}

fn uri_in(list: &[apdu_spec::types::Uri], set: &[&str]) -> bool {
    list.iter().any(|u| set.contains(&u.as_str()))
}

impl KeyInfo {
    /// Builds the key from the card's answers; `None` when the certificate path is unusable.
    pub fn new(
        handle: u32,
        provisioning: u32,
        attrs: GetKeyAttributesOutput,
        protection: GetKeyProtectionInfoOutput,
        local: bool,
    ) -> Option<Self> {
        let ee = attrs.certificates.first()?;
        let cert = Certificate::from_der(&ee.0).ok()?;
        let info = cert.tbs_certificate().subject_public_key_info();
        let spki = info.to_der().ok()?;
        let public_bits = info.subject_public_key.as_bytes()?.to_vec();
        let key_type = if attrs.symmetric_key_length > 0 {
            KeyType::Symmetric(usize::from(attrs.symmetric_key_length))
        } else {
            match sks_issuer::PublicKey::from_spki(&spki) {
                Ok(sks_issuer::PublicKey::Ed25519(_)) => KeyType::Ed25519,
                Ok(k) => match k.curve() {
                    Some(c) => KeyType::Ec(c),
                    None if k.is_rsa() => {
                        let rsa =
                            pkcs1::RsaPublicKey::<der::asn1::UintRef<'_>>::from_der(&public_bits)
                                .ok()?;
                        KeyType::Rsa(rsa.modulus.as_bytes().len())
                    }
                    None => KeyType::Other,
                },
                Err(_) => KeyType::Other,
            }
        };
        let id = Sha1::digest(&public_bits).to_vec();
        Some(Self {
            handle,
            provisioning,
            attrs,
            protection,
            key_type,
            spki,
            public_bits,
            id,
            local,
        })
    }

    /// getKeyProtectionInfo's protectionStatus (bits the spec does not define ignored).
    pub fn status(&self) -> ProtectionStatus {
        ProtectionStatus::from_bits_truncate(self.protection.protection_status)
    }

    /// getKeyProtectionInfo's keyBackup (bits the spec does not define ignored).
    pub fn backup(&self) -> KeyBackup {
        KeyBackup::from_bits_truncate(self.protection.key_backup)
    }

    /// PIN protected (a PIN goes with every use).
    pub fn pin_protected(&self) -> bool {
        self.status().contains(ProtectionFlag::PinProtected)
    }

    /// CKA_LABEL: the friendly name, else the certificate subject's CN-less fallback "SKS key N".
    pub fn label(&self) -> String {
        if self.attrs.friendly_name.is_empty() {
            format!("SKS key {}", self.handle)
        } else {
            self.attrs.friendly_name.clone()
        }
    }

    /// Whether the key's endorsed algorithms and appUsage allow `usage`. A non-empty endorsed
    /// list decides alone; an empty one (the card then accepts any algorithm of the key's type)
    /// defers to appUsage: 0/1 (signature, authentication) sign, 2 (encryption) decrypts and
    /// derives, 3 (universal) does everything.
    pub fn allows(&self, usage: Usage) -> bool {
        let endorsed = &self.attrs.endorsed_algorithms;
        let by_type = match (self.key_type, usage) {
            (KeyType::Ec(_), Usage::Sign) => endorsed.is_empty() || uri_in(endorsed, &EC_SIGN),
            (KeyType::Ec(_), Usage::Derive) => {
                endorsed.is_empty() || uri_in(endorsed, &key_agreement::ALL)
            }
            (KeyType::Rsa(_), Usage::Sign) => endorsed.is_empty() || uri_in(endorsed, &RSA_SIGN),
            (KeyType::Rsa(_), Usage::Decrypt) => {
                endorsed.is_empty() || uri_in(endorsed, &asymmetric_encryption::ALL)
            }
            (KeyType::Symmetric(_), Usage::Sign) => {
                endorsed.is_empty() || uri_in(endorsed, &hmac::ALL)
            }
            (KeyType::Symmetric(n), Usage::Encrypt | Usage::Decrypt) => {
                matches!(n, 16 | 24 | 32)
                    && (endorsed.is_empty()
                        || uri_in(endorsed, &[symmetric::AES_CBC, symmetric::AES_ECB_NOPAD]))
            }
            _ => false,
        };
        if !by_type {
            return false;
        }
        if !endorsed.is_empty() {
            return true;
        }
        match AppUsage::try_from(self.attrs.app_usage) {
            Ok(AppUsage::Signature | AppUsage::Authentication) => usage == Usage::Sign,
            Ok(AppUsage::Encryption) => usage != Usage::Sign,
            _ => true,
        }
    }

    /// Whether the endorsed list lets the card run `uri` on this key.
    pub fn endorses(&self, uri: &str) -> bool {
        let e = &self.attrs.endorsed_algorithms;
        e.is_empty() || e.iter().any(|u| u.as_str() == uri)
    }

    /// The object handle of this key's object of `kind`.
    pub fn object_handle(&self, kind: Kind) -> CK_OBJECT_HANDLE {
        let offset = match kind {
            Kind::Private => 1,
            Kind::Public => 2,
            Kind::Secret => 3,
            Kind::Certificate(i) => 4 + i as CK_OBJECT_HANDLE,
            Kind::Derived => 0,
        };
        CK_OBJECT_HANDLE::from(self.handle) * 16 + offset
    }

    /// The key's objects.
    pub fn objects(&self, always_authenticate: bool) -> Vec<Object> {
        let mut out = Vec::new();
        let subject = self.subject();
        // The module never reveals key values (no attribute reads through exportKey, which
        // would also mark the key EXPORTED on the card): CKA_SENSITIVE is always true.
        // CKA_EXTRACTABLE tells whether the SKS exportKey may release the key at all.
        let sensitive = true;
        let extractable =
            self.protection.export_protection != u8::from(ExportProtection::NonExportable);
        let private = self.pin_protected();
        let label = self.label();
        let common = |a: &mut Attrs, class: CK_OBJECT_CLASS, private: bool| {
            a.ulong(CKA_CLASS, class)
                .flag(CKA_TOKEN, true)
                .flag(CKA_PRIVATE, private)
                .flag(CKA_MODIFIABLE, false)
                .flag(CKA_COPYABLE, false)
                .flag(CKA_DESTROYABLE, class != CKO_CERTIFICATE)
                .set(CKA_LABEL, label.as_bytes().to_vec())
                .set(CKA_ID, self.id.clone());
        };
        let key_common = |a: &mut Attrs, key_type: CK_KEY_TYPE| {
            a.ulong(CKA_KEY_TYPE, key_type)
                .set(CKA_START_DATE, Vec::new())
                .set(CKA_END_DATE, Vec::new())
                // Generated inside the card (not importPrivateKey/importSymmetricKey).
                .flag(CKA_LOCAL, !self.backup().contains(KeyBackupFlag::Imported))
                .ulong(
                    CKA_KEY_GEN_MECHANISM,
                    match self.key_type {
                        KeyType::Ec(_) => CKM_EC_KEY_PAIR_GEN,
                        KeyType::Rsa(_) => CKM_RSA_PKCS_KEY_PAIR_GEN,
                        _ => CK_UNAVAILABLE_INFORMATION,
                    },
                );
        };
        let material = |a: &mut Attrs, public: bool| match self.key_type {
            KeyType::Ec(curve) => {
                a.set(CKA_EC_PARAMS, curve_oid_der(curve));
                if public {
                    a.set(CKA_EC_POINT, octet_string(&self.public_bits));
                }
            }
            KeyType::Rsa(len) => {
                if let Ok(k) =
                    pkcs1::RsaPublicKey::<der::asn1::UintRef<'_>>::from_der(&self.public_bits)
                {
                    a.set(CKA_MODULUS, k.modulus.as_bytes().to_vec())
                        .set(CKA_PUBLIC_EXPONENT, k.public_exponent.as_bytes().to_vec())
                        .ulong(CKA_MODULUS_BITS, (len * 8) as CK_ULONG);
                }
            }
            _ => {}
        };
        let pkcs11_key_type = match self.key_type {
            KeyType::Ec(_) => CKK_EC,
            KeyType::Rsa(_) => CKK_RSA,
            KeyType::Symmetric(16 | 24 | 32) if self.allows(Usage::Encrypt) => CKK_AES,
            KeyType::Symmetric(_) => CKK_GENERIC_SECRET,
            KeyType::Ed25519 => CKK_EC_EDWARDS,
            KeyType::Other => CKK_VENDOR_DEFINED,
        };

        match self.key_type {
            KeyType::Symmetric(len) => {
                let mut a = Attrs::default();
                common(&mut a, CKO_SECRET_KEY, private);
                key_common(&mut a, pkcs11_key_type);
                a.ulong(CKA_VALUE_LEN, len as CK_ULONG)
                    .flag(CKA_SIGN, self.allows(Usage::Sign))
                    .flag(CKA_VERIFY, false)
                    .flag(CKA_ENCRYPT, self.allows(Usage::Encrypt))
                    .flag(CKA_DECRYPT, self.allows(Usage::Decrypt))
                    .flag(CKA_DERIVE, false)
                    .flag(CKA_WRAP, false)
                    .flag(CKA_UNWRAP, false);
                self.secret_flags(&mut a, sensitive, extractable, always_authenticate);
                out.push(self.object(Kind::Secret, a));
            }
            _ => {
                let mut a = Attrs::default();
                common(&mut a, CKO_PRIVATE_KEY, private);
                key_common(&mut a, pkcs11_key_type);
                material(&mut a, false);
                a.set(CKA_SUBJECT, subject.clone())
                    .set(CKA_PUBLIC_KEY_INFO, self.spki.clone())
                    .flag(CKA_SIGN, self.allows(Usage::Sign))
                    .flag(CKA_SIGN_RECOVER, false)
                    .flag(CKA_DECRYPT, self.allows(Usage::Decrypt))
                    .flag(CKA_DERIVE, self.allows(Usage::Derive))
                    .flag(CKA_UNWRAP, false)
                    .flag(CKA_WRAP_WITH_TRUSTED, false);
                self.secret_flags(&mut a, sensitive, extractable, always_authenticate);
                out.push(self.object(Kind::Private, a));

                let mut a = Attrs::default();
                common(&mut a, CKO_PUBLIC_KEY, false);
                key_common(&mut a, pkcs11_key_type);
                material(&mut a, true);
                a.set(CKA_SUBJECT, subject.clone())
                    .set(CKA_PUBLIC_KEY_INFO, self.spki.clone())
                    .flag(CKA_VERIFY, self.allows(Usage::Sign))
                    .flag(CKA_VERIFY_RECOVER, false)
                    .flag(CKA_ENCRYPT, self.allows(Usage::Decrypt))
                    .flag(CKA_DERIVE, false)
                    .flag(CKA_WRAP, false)
                    .flag(CKA_TRUSTED, false);
                out.push(self.object(Kind::Public, a));
            }
        }

        for (i, der_cert) in self.attrs.certificates.iter().enumerate().take(12) {
            let Ok(cert) = Certificate::from_der(&der_cert.0) else {
                continue;
            };
            let tbs = cert.tbs_certificate();
            let mut a = Attrs::default();
            common(&mut a, CKO_CERTIFICATE, false);
            if i > 0 {
                // CA certificates: their own id and label, so they do not pair with the key.
                let bits = tbs
                    .subject_public_key_info()
                    .subject_public_key
                    .raw_bytes()
                    .to_vec();
                a.set(CKA_ID, Sha1::digest(&bits).to_vec())
                    .set(CKA_LABEL, format!("{label} CA {i}").into_bytes());
            }
            a.ulong(CKA_CERTIFICATE_TYPE, CKC_X_509)
                .flag(CKA_TRUSTED, false)
                .ulong(CKA_CERTIFICATE_CATEGORY, if i == 0 { 1 } else { 2 })
                .set(CKA_SUBJECT, tbs.subject().to_der().unwrap_or_default())
                .set(CKA_ISSUER, tbs.issuer().to_der().unwrap_or_default())
                .set(
                    CKA_SERIAL_NUMBER,
                    tbs.serial_number().to_der().unwrap_or_default(),
                )
                .set(CKA_VALUE, der_cert.0.clone())
                .set(CKA_START_DATE, Vec::new())
                .set(CKA_END_DATE, Vec::new())
                .set(CKA_URL, Vec::new())
                .ulong(CKA_JAVA_MIDP_SECURITY_DOMAIN, 0);
            out.push(self.object(Kind::Certificate(i), a));
        }
        out
    }

    fn secret_flags(
        &self,
        a: &mut Attrs,
        sensitive: bool,
        extractable: bool,
        always_authenticate: bool,
    ) {
        let exported = self.backup().contains(KeyBackupFlag::Exported);
        a.flag(CKA_SENSITIVE, sensitive)
            .flag(CKA_ALWAYS_SENSITIVE, sensitive && !exported)
            .flag(CKA_EXTRACTABLE, extractable)
            .flag(CKA_NEVER_EXTRACTABLE, !extractable)
            .flag(CKA_ALWAYS_AUTHENTICATE, always_authenticate);
    }

    fn object(&self, kind: Kind, a: Attrs) -> Object {
        Object {
            handle: self.object_handle(kind),
            key: Some(self.handle),
            kind,
            attrs: a.0,
            secret: None,
            session: None,
        }
    }

    fn subject(&self) -> Vec<u8> {
        self.attrs
            .certificates
            .first()
            .and_then(|c| Certificate::from_der(&c.0).ok())
            .and_then(|c| c.tbs_certificate().subject().to_der().ok())
            .unwrap_or_default()
    }

    /// The signature length of an asymmetric key (raw r‖s for EC).
    pub fn signature_len(&self) -> Option<usize> {
        match self.key_type {
            KeyType::Ec(c) => Some(2 * c.coordinate_len()),
            KeyType::Rsa(n) => Some(n),
            _ => None,
        }
    }
}

/// The ECDSA signature algorithms.
pub const EC_SIGN: [&str; 4] = [
    signature::ECDSA_SHA256,
    signature::ECDSA_SHA384,
    signature::ECDSA_SHA512,
    signature::ECDSA_NONE,
];

/// The RSA signature algorithms.
pub const RSA_SIGN: [&str; 4] = [
    signature::RSA_SHA256,
    signature::RSA_SHA384,
    signature::RSA_SHA512,
    signature::RSA_PKCS1_NONE,
];

/// CKA_EC_PARAMS: the named curve's OID, DER.
pub fn curve_oid_der(curve: Curve) -> Vec<u8> {
    sks_issuer::curve_oid(curve).to_der().unwrap_or_default()
}

/// A DER OCTET STRING around `bytes` (CKA_EC_POINT).
pub fn octet_string(bytes: &[u8]) -> Vec<u8> {
    der::asn1::OctetStringRef::new(bytes)
        .and_then(|o| o.to_der())
        .unwrap_or_default()
}
