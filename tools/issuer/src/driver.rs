//! The provisioning driver: describe a session in a few lines and run it against
//! [`pcsc_bridge::Sks`] over any transport.
//!
//! Layers, from high to low:
//! * [`Session`] methods (`puk`, `pin_policy`, `key(..).create()`, `certify`, `import_*`,
//!   extensions, `post_*`, `close`) build the arguments, send them, check every attestation and
//!   record the objects created;
//! * `Session::send_*` send arguments prepared (and possibly corrupted) by the test;
//! * [`SessionState`] `*_args` methods only build arguments (consuming MAC counter values), and
//!   [`Session::sks`] gives the raw client for anything else: skip, reorder or replay calls.
//!
//! The driver assumes nothing about the card beyond the spec and the spec notes.

use crate::ca::Ca;
use crate::crypto::{canonical_spki, random_bytes};
use crate::macdata::{self, constants, method, Property, SessionAttestationInput};
use crate::session::{self, ServerEphemeral, SessionKeys};
use crate::{Curve, Error, Kmk};
use apdu_spec::values::{
    AppUsage, BiometricProtection, DeleteProtection, ExportProtection, ExtensionSubType, Grouping,
    InputMethod, PatternRestrictions, PinFormat,
};
use apdu_spec::{
    AbortProvisioningSessionArgs, AddExtensionArgs, Blob, Bytes, CloseProvisioningSessionArgs,
    CreateKeyEntryArgs, CreatePinPolicyArgs, CreateProvisioningSessionArgs, CreatePukPolicyArgs,
    DeviceInfo, GetKeyHandleArgs, Id, ImportPrivateKeyArgs, ImportSymmetricKeyArgs, Mac,
    PostCloneKeyProtectionArgs, PostDeleteKeyArgs, PostUnlockKeyArgs, PostUpdateKeyArgs,
    SetCertificatePathArgs, UpdateKeyManagementKeyArgs, Uri,
};
use pcsc_bridge::{Sks, Transport};

/// Algorithm URIs used with the driver (spec 4, spec-notes §6.1).
pub mod alg {
    pub const EC_P256: &str = "https://webpki.github.io/sks/algorithm#ec.nist.p256";
    pub const EC_P384: &str = "https://webpki.github.io/sks/algorithm#ec.nist.p384";
    pub const EC_P521: &str = "https://webpki.github.io/sks/algorithm#ec.nist.p521";
    pub const RSA1024: &str = "https://webpki.github.io/sks/algorithm#rsa1024";
    pub const RSA1024_EXP: &str = "https://webpki.github.io/sks/algorithm#rsa1024.exp";
    pub const RSA2048: &str = "https://webpki.github.io/sks/algorithm#rsa2048";
    pub const RSA2048_EXP: &str = "https://webpki.github.io/sks/algorithm#rsa2048.exp";
    pub const ED25519: &str = "https://webpki.github.io/sks/algorithm#ed25519";
    pub const SESSION_1: &str = "https://webpki.github.io/sks/algorithm#session.1";
    pub const KEY_1: &str = "https://webpki.github.io/sks/algorithm#key.1";
    pub const NONE: &str = "https://webpki.github.io/sks/algorithm#none";
    pub const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
    pub const ECDSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384";
    pub const ECDSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512";
    pub const ECDSA_NONE: &str = "https://webpki.github.io/sks/algorithm#ecdsa.none";
    pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
    pub const RSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
    pub const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
    pub const RSA_PKCS1_NONE: &str = "https://webpki.github.io/sks/algorithm#rsa.pkcs1.none";
    pub const RSA_ES_PKCS1_5: &str = "https://webpki.github.io/sks/algorithm#rsa.es.pkcs1_5";
    pub const RSA_OAEP_SHA1: &str = "https://webpki.github.io/sks/algorithm#rsa.oaep.sha1";
    pub const RSA_OAEP_SHA256: &str = "https://webpki.github.io/sks/algorithm#rsa.oaep.sha256";
    pub const ECDH_RAW: &str = "https://webpki.github.io/sks/algorithm#ecdh.raw";
    pub const HMAC_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#hmac-sha1";
    pub const HMAC_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256";
    pub const HMAC_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha384";
    pub const HMAC_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha512";
    pub const AES128_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes128-cbc";
    pub const AES192_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes192-cbc";
    pub const AES256_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
    pub const AES_CBC: &str = "https://webpki.github.io/sks/algorithm#aes.cbc";
    pub const AES_ECB_NOPAD: &str = "https://webpki.github.io/sks/algorithm#aes.ecb.nopad";
}

fn card(method: &'static str) -> impl FnOnce(pcsc_bridge::Error) -> Error {
    move |source| Error::Card { method, source }
}

fn uri(s: &str) -> Result<Uri, Error> {
    Uri::new(s).map_err(|e| Error::Usage(e.to_string()))
}

fn id(s: &str) -> Result<Id, Error> {
    Id::new(s).map_err(|e| Error::Usage(e.to_string()))
}

fn mac(m: [u8; 32]) -> Mac {
    Mac(m)
}

/// The canonical form of `spki` if it parses, else the bytes as they are (the card decides
/// what to do with malformed keys; the issuer MACs what it would have sent).
fn canonical_or_raw(spki: &[u8]) -> Vec<u8> {
    canonical_spki(spki).unwrap_or_else(|_| spki.to_vec())
}

/// A random `id` of 32 base64url characters.
fn random_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    random_bytes(32)
        .iter()
        .map(|b| ALPHABET[usize::from(b & 0x3f)] as char)
        .collect()
}

/// The issuer: a CA and an issuer URI, from which sessions are started.
#[derive(Debug)]
pub struct Issuer {
    ca: Ca,
    issuer_uri: String,
}

impl Issuer {
    /// The default issuer URI.
    pub const DEFAULT_URI: &'static str = "https://issuer.example.com/kg2";

    /// A new issuer with a fresh CA ("CN=SKS Test Issuer CA") and [`Issuer::DEFAULT_URI`].
    pub fn new() -> Result<Self, Error> {
        Ok(Self::with_ca(Ca::new("SKS Test Issuer CA")?))
    }

    /// An issuer using `ca`.
    pub fn with_ca(ca: Ca) -> Self {
        Self {
            ca,
            issuer_uri: Self::DEFAULT_URI.into(),
        }
    }

    /// Sets the issuer URI of the sessions it starts.
    pub fn with_uri(mut self, issuer_uri: &str) -> Self {
        self.issuer_uri = issuer_uri.into();
        self
    }

    pub fn ca(&self) -> &Ca {
        &self.ca
    }

    pub fn issuer_uri(&self) -> &str {
        &self.issuer_uri
    }

    /// Starts describing a provisioning session with the card behind `sks`.
    pub fn session<'a, T: Transport>(&'a self, sks: &'a mut Sks<T>) -> SessionBuilder<'a, T> {
        SessionBuilder {
            issuer: self,
            sks,
            privacy: false,
            kmk: None,
            key_limit: 1000,
            life_time: 10000,
            client_time: None,
            server_session_id: None,
            curve: Curve::P256,
            issuer_uri: None,
            session_key_algorithm: constants::SESSION_1.into(),
            server_certificate: None,
        }
    }
}

/// updateKeyManagementKey: replaces the KMK `old` of closed session `provisioning_handle` by
/// `new`, authorized by `old` (RollOverAuthorization).
pub fn update_key_management_key<T: Transport>(
    sks: &mut Sks<T>,
    provisioning_handle: u32,
    old: &Kmk,
    new: &Kmk,
) -> Result<(), Error> {
    let args = UpdateKeyManagementKeyArgs {
        provisioning_handle,
        key_management_key: Bytes(new.spki()),
        authorization: Bytes(old.authorize_roll_over(new)),
    };
    sks.update_key_management_key(&args)
        .map_err(card("updateKeyManagementKey"))
}

/// The parameters of a createProvisioningSession, before it is sent.
pub struct SessionBuilder<'a, T: Transport> {
    issuer: &'a Issuer,
    sks: &'a mut Sks<T>,
    privacy: bool,
    kmk: Option<Kmk>,
    key_limit: u16,
    life_time: u16,
    client_time: Option<u32>,
    server_session_id: Option<String>,
    curve: Curve,
    issuer_uri: Option<String>,
    session_key_algorithm: String,
    server_certificate: Option<Vec<u8>>,
}

impl<'a, T: Transport> SessionBuilder<'a, T> {
    /// Privacy Enabled Provisioning (default: off, i.e. E2ES).
    pub fn privacy(mut self, on: bool) -> Self {
        self.privacy = on;
        self
    }

    /// The session's key management key (default: none, keys not updatable).
    pub fn kmk(mut self, kmk: &Kmk) -> Self {
        self.kmk = Some(kmk.clone());
        self
    }

    /// sessionKeyLimit (default 1000).
    pub fn key_limit(mut self, limit: u16) -> Self {
        self.key_limit = limit;
        self
    }

    /// sessionLifeTime in seconds (default 10000).
    pub fn life_time(mut self, seconds: u16) -> Self {
        self.life_time = seconds;
        self
    }

    /// clientTime (default: now).
    pub fn client_time(mut self, t: u32) -> Self {
        self.client_time = Some(t);
        self
    }

    /// serverSessionId (default: 32 random base64url characters).
    pub fn server_session_id(mut self, id: &str) -> Self {
        self.server_session_id = Some(id.into());
        self
    }

    /// Curve of the server's ephemeral key (default P-256).
    pub fn curve(mut self, curve: Curve) -> Self {
        self.curve = curve;
        self
    }

    /// issuerUri (default: the issuer's).
    pub fn issuer_uri(mut self, uri: &str) -> Self {
        self.issuer_uri = Some(uri.into());
        self
    }

    /// sessionKeyAlgorithm (default `#session.1`; for negative tests).
    pub fn session_key_algorithm(mut self, uri: &str) -> Self {
        self.session_key_algorithm = uri.into();
        self
    }

    /// serverCertificate (default: the issuer's CA certificate).
    pub fn server_certificate(mut self, der: &[u8]) -> Self {
        self.server_certificate = Some(der.to_vec());
        self
    }

    /// Reads getDeviceInfo and builds the createProvisioningSession arguments without sending
    /// them; change [`PendingSession::args`] and then [`PendingSession::open`].
    pub fn prepare(self) -> Result<PendingSession<'a, T>, Error> {
        let device_info = self.sks.get_device_info().map_err(card("getDeviceInfo"))?;
        let ephemeral = ServerEphemeral::generate(self.curve);
        let client_time = self.client_time.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as u32)
                .unwrap_or(0)
        });
        let args = CreateProvisioningSessionArgs {
            session_key_algorithm: uri(&self.session_key_algorithm)?,
            privacy_enabled: self.privacy,
            server_session_id: id(&self.server_session_id.unwrap_or_else(random_id))?,
            server_ephemeral_key: Bytes(ephemeral.public_key_spki()),
            issuer_uri: uri(self
                .issuer_uri
                .as_deref()
                .unwrap_or(&self.issuer.issuer_uri))?,
            key_management_key: Bytes(self.kmk.as_ref().map(Kmk::spki).unwrap_or_default()),
            client_time,
            session_life_time: self.life_time,
            session_key_limit: self.key_limit,
            server_certificate: Bytes(
                self.server_certificate
                    .unwrap_or_else(|| self.issuer.ca.certificate().to_vec()),
            ),
        };
        Ok(PendingSession {
            args,
            ephemeral,
            device_info,
            kmk: self.kmk,
            issuer: self.issuer,
            sks: self.sks,
        })
    }

    /// Creates the session and verifies its attestation: the device certificate's signature
    /// (E2ES) or the HMAC with the session key (privacy mode).
    pub fn open(self) -> Result<Session<'a, T>, Error> {
        self.prepare()?.open()
    }
}

/// A createProvisioningSession about to be sent.
pub struct PendingSession<'a, T: Transport> {
    /// The arguments that will be sent (tests may change them; the issuer then derives and
    /// verifies with what was actually sent).
    pub args: CreateProvisioningSessionArgs,
    /// The server's ephemeral key (its public half is in `args` unless changed).
    pub ephemeral: ServerEphemeral,
    /// getDeviceInfo as read before the session.
    pub device_info: DeviceInfo,
    /// The KMK whose public key is in `args` (used to sign authorizations for this session's
    /// keys later).
    pub kmk: Option<Kmk>,
    issuer: &'a Issuer,
    sks: &'a mut Sks<T>,
}

impl<'a, T: Transport> PendingSession<'a, T> {
    /// Sends createProvisioningSession, derives the session key and verifies the attestation.
    pub fn open(self) -> Result<Session<'a, T>, Error> {
        let args = self.args;
        let out = self
            .sks
            .create_provisioning_session(&args)
            .map_err(card("createProvisioningSession"))?;
        let privacy = args.privacy_enabled;
        let device_certificate = self.device_info.certificates.first().map(|c| c.0.clone());
        let device_id = match (&device_certificate, privacy) {
            (_, true) => session::device_id(true, &[]),
            (Some(c), false) => session::device_id(false, c),
            (None, false) => {
                return Err(Error::Usage(
                    "getDeviceInfo returned no device certificate".into(),
                ))
            }
        };
        let client_key = canonical_spki(&out.client_ephemeral_key)?;
        if client_key != out.client_ephemeral_key.0 {
            return Err(Error::Attestation(
                "clientEphemeralKey is not a canonical SubjectPublicKeyInfo".into(),
            ));
        }
        let keys = self.ephemeral.derive(
            &client_key,
            out.client_session_id.as_str(),
            args.server_session_id.as_str(),
            args.issuer_uri.as_str(),
            &device_id,
        )?;
        let kdf = macdata::session_kdf(
            out.client_session_id.as_str(),
            args.server_session_id.as_str(),
            args.issuer_uri.as_str(),
            &device_id,
        );
        let server_key = canonical_or_raw(&args.server_ephemeral_key);
        let kmk_key = if args.key_management_key.is_empty() {
            Vec::new()
        } else {
            canonical_or_raw(&args.key_management_key)
        };
        let input = SessionAttestationInput {
            session_key_algorithm: args.session_key_algorithm.as_str(),
            privacy_enabled: privacy,
            server_ephemeral_key: &server_key,
            client_ephemeral_key: &client_key,
            key_management_key: &kmk_key,
            client_time: args.client_time,
            session_life_time: args.session_life_time,
            session_key_limit: args.session_key_limit,
            server_certificate: &args.server_certificate,
        };
        session::verify_session_attestation(
            &keys,
            &kdf,
            &input,
            device_certificate.as_deref(),
            &out.attestation,
        )?;
        Ok(Session {
            sks: self.sks,
            issuer: self.issuer,
            state: SessionState {
                keys,
                provisioning_handle: out.provisioning_handle,
                client_session_id: out.client_session_id.as_str().into(),
                server_session_id: args.server_session_id.as_str().into(),
                issuer_uri: args.issuer_uri.as_str().into(),
                privacy,
                device_info: self.device_info,
                kmk: self.kmk,
                session_key_limit: args.session_key_limit,
                attestation: out.attestation.0,
                puks: Vec::new(),
                pins: Vec::new(),
                created: Vec::new(),
            },
        })
    }
}

/// A PUK policy object created in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PukPolicy {
    pub id: String,
    pub handle: u32,
}

/// The attributes of a createPinPolicy. `Default`: user-defined and user-modifiable, numeric,
/// 3 retries, no grouping, no pattern restrictions, 4-8 digits, any input method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinPolicy {
    pub user_defined: bool,
    pub user_modifiable: bool,
    /// A [`PinFormat`] (a byte, so negative tests can send any).
    pub format: u8,
    pub retry_limit: u16,
    /// A [`Grouping`].
    pub grouping: u8,
    /// [`PatternRestrictions`] bits.
    pub pattern_restrictions: u8,
    pub min_length: u16,
    pub max_length: u16,
    /// An [`InputMethod`].
    pub input_method: u8,
}

impl Default for PinPolicy {
    fn default() -> Self {
        Self {
            user_defined: true,
            user_modifiable: true,
            format: PinFormat::Numeric.into(),
            retry_limit: 3,
            grouping: Grouping::None.into(),
            pattern_restrictions: PatternRestrictions::EMPTY.into(),
            min_length: 4,
            max_length: 8,
            input_method: InputMethod::Any.into(),
        }
    }
}

/// A PIN policy object created in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinPolicyObject {
    pub id: String,
    pub handle: u32,
    pub puk: Option<String>,
    pub policy: PinPolicy,
}

/// Everything createKeyEntry takes, in the driver's terms. `Default`: `#key.1`, P-256, no PIN,
/// not exportable (0x03, the KeyGen2 default), deletable (0x00), appUsage universal (0x03), no
/// endorsed algorithms, empty friendly name.
#[derive(Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub id: String,
    pub key_entry_algorithm: String,
    pub server_seed: Vec<u8>,
    pub device_pin_protection: bool,
    /// Id of a PIN policy of this session.
    pub pin_policy: Option<String>,
    /// Overrides the PIN policy handle sent (negative tests); the MAC still names `pin_policy`.
    pub pin_policy_handle: Option<u32>,
    /// The PIN in clear text; encrypted by the driver when the policy is issuer-set.
    pub pin_value: Vec<u8>,
    /// Overrides whether `pin_value` is sent encrypted (and MACed); default: the policy's
    /// `!user_defined`.
    pub encrypt_pin: Option<bool>,
    pub enable_pin_caching: bool,
    /// The protection attributes as bytes (so negative tests can send any): a
    /// [`BiometricProtection`], [`ExportProtection`], [`DeleteProtection`] and [`AppUsage`].
    pub biometric_protection: u8,
    pub export_protection: u8,
    pub delete_protection: u8,
    pub app_usage: u8,
    pub friendly_name: String,
    pub key_algorithm: String,
    pub key_parameters: Vec<u8>,
    /// Sent in the given order (the card requires them sorted).
    pub endorsed_algorithms: Vec<String>,
}

/// Every field but the PIN, which shows as its length only.
impl std::fmt::Debug for KeySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySpec")
            .field("id", &self.id)
            .field("key_entry_algorithm", &self.key_entry_algorithm)
            .field("server_seed", &self.server_seed)
            .field("device_pin_protection", &self.device_pin_protection)
            .field("pin_policy", &self.pin_policy)
            .field("pin_policy_handle", &self.pin_policy_handle)
            .field(
                "pin_value",
                &format_args!("<{} bytes>", self.pin_value.len()),
            )
            .field("encrypt_pin", &self.encrypt_pin)
            .field("enable_pin_caching", &self.enable_pin_caching)
            .field("biometric_protection", &self.biometric_protection)
            .field("export_protection", &self.export_protection)
            .field("delete_protection", &self.delete_protection)
            .field("app_usage", &self.app_usage)
            .field("friendly_name", &self.friendly_name)
            .field("key_algorithm", &self.key_algorithm)
            .field("key_parameters", &self.key_parameters)
            .field("endorsed_algorithms", &self.endorsed_algorithms)
            .finish()
    }
}

impl KeySpec {
    pub fn new(id: &str) -> Self {
        Self {
            id: id.into(),
            key_entry_algorithm: constants::KEY_1.into(),
            server_seed: Vec::new(),
            device_pin_protection: false,
            pin_policy: None,
            pin_policy_handle: None,
            pin_value: Vec::new(),
            encrypt_pin: None,
            enable_pin_caching: false,
            biometric_protection: BiometricProtection::None.into(),
            export_protection: ExportProtection::NonExportable.into(),
            delete_protection: DeleteProtection::None.into(),
            app_usage: AppUsage::Universal.into(),
            friendly_name: String::new(),
            key_algorithm: alg::EC_P256.into(),
            key_parameters: Vec::new(),
            endorsed_algorithms: Vec::new(),
        }
    }
}

/// A createKeyEntry about to be sent: the arguments and the counter value reserved for the
/// key attestation.
#[derive(Debug, Clone)]
pub struct KeyRequest {
    pub args: CreateKeyEntryArgs,
    pub attestation_counter: u16,
    pub spec: KeySpec,
}

/// A key created in a provisioning session, as the issuer knows it.
#[derive(Debug, Clone)]
pub struct Key {
    pub id: String,
    pub handle: u32,
    /// The generated public key (canonical SPKI, as returned and attested).
    pub public_key: Vec<u8>,
    pub attestation: [u8; 32],
    pub key_algorithm: String,
    pub app_usage: u8,
    pub pin_policy: Option<String>,
    /// The certificate path set with setCertificatePath (empty until then).
    pub certificate_path: Vec<Vec<u8>>,
    /// The provisioning session that created the key.
    pub provisioning_handle: u32,
    pub privacy: bool,
    /// The KMK of the session that created the key (signs post-op authorizations).
    pub kmk: Option<Kmk>,
}

impl Key {
    /// The end-entity certificate, once set.
    pub fn ee_certificate(&self) -> Option<&[u8]> {
        self.certificate_path.first().map(Vec::as_slice)
    }

    fn ee(&self) -> Result<&[u8], Error> {
        self.ee_certificate()
            .ok_or_else(|| Error::Usage(format!("key {} has no certificate path yet", self.id)))
    }

    fn owner_kmk(&self) -> Result<&Kmk, Error> {
        self.kmk.as_ref().ok_or_else(|| {
            Error::Usage(format!(
                "key {}'s session has no KMK: give one explicitly",
                self.id
            ))
        })
    }
}

/// A closeProvisioningSession about to be sent.
#[derive(Debug, Clone)]
pub struct CloseRequest {
    pub args: CloseProvisioningSessionArgs,
    pub attestation_counter: u16,
}

/// The result of a successful close.
#[derive(Debug, Clone)]
pub struct Closed {
    pub provisioning_handle: u32,
    pub attestation: [u8; 32],
    /// The keys created in the session, with their certificate paths.
    pub keys: Vec<Key>,
    pub kmk: Option<Kmk>,
    /// sessionKey operations the card should have counted (spec-notes §3.4).
    pub session_key_uses: u32,
}

impl Closed {
    /// The key with id `id`.
    pub fn key(&self, id: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id)
    }
}

/// The issuer's state of one open provisioning session, without the card: session keys and
/// counter, ids, and the objects created so far. Its `*_args` methods build (MACed) arguments
/// without sending them.
#[derive(Debug, Clone)]
pub struct SessionState {
    pub keys: SessionKeys,
    pub provisioning_handle: u32,
    pub client_session_id: String,
    pub server_session_id: String,
    pub issuer_uri: String,
    pub privacy: bool,
    pub device_info: DeviceInfo,
    pub kmk: Option<Kmk>,
    pub session_key_limit: u16,
    /// The createProvisioningSession attestation.
    pub attestation: Vec<u8>,
    pub puks: Vec<PukPolicy>,
    pub pins: Vec<PinPolicyObject>,
    pub created: Vec<Key>,
}

impl SessionState {
    /// The PIN policy object with id `id`.
    pub fn pin(&self, id: &str) -> Option<&PinPolicyObject> {
        self.pins.iter().find(|p| p.id == id)
    }

    /// The key of this session with id `id`, in its latest state.
    pub fn key(&self, id: &str) -> Option<&Key> {
        self.created.iter().find(|k| k.id == id)
    }

    /// `key` in its latest state if this session created it, else as given.
    fn latest(&self, key: &Key) -> Key {
        self.created
            .iter()
            .find(|k| k.handle == key.handle && k.provisioning_handle == key.provisioning_handle)
            .cloned()
            .unwrap_or_else(|| key.clone())
    }

    fn record(&mut self, key: Key) {
        match self.created.iter_mut().find(|k| k.handle == key.handle) {
            Some(k) => *k = key,
            None => self.created.push(key),
        }
    }

    /// createPukPolicy arguments: the PUK encrypted, MACed with "createPUKPolicy".
    pub fn puk_args(
        &mut self,
        puk_id: &str,
        puk: &[u8],
        format: u8,
        retry_limit: u16,
    ) -> Result<CreatePukPolicyArgs, Error> {
        let mut args = CreatePukPolicyArgs {
            provisioning_handle: self.provisioning_handle,
            id: id(puk_id)?,
            encrypted_puk: Bytes(self.keys.encrypt(puk)),
            format,
            retry_limit,
            mac: Mac::default(),
        };
        args.mac = mac(self.keys.mac(
            method::CREATE_PUK_POLICY,
            &macdata::create_puk_policy(&args),
        ));
        Ok(args)
    }

    /// createPinPolicy arguments, MACed with "createPINPolicy" (PUKReference = the PUK's id).
    pub fn pin_policy_args(
        &mut self,
        pin_id: &str,
        puk: Option<&PukPolicy>,
        p: &PinPolicy,
    ) -> Result<CreatePinPolicyArgs, Error> {
        let mut args = CreatePinPolicyArgs {
            provisioning_handle: self.provisioning_handle,
            id: id(pin_id)?,
            puk_policy_handle: puk.map_or(0, |p| p.handle),
            user_defined: p.user_defined,
            user_modifiable: p.user_modifiable,
            format: p.format,
            retry_limit: p.retry_limit,
            grouping: p.grouping,
            pattern_restrictions: p.pattern_restrictions,
            min_length: p.min_length,
            max_length: p.max_length,
            input_method: p.input_method,
            mac: Mac::default(),
        };
        let data = macdata::create_pin_policy(&args, puk.map(|p| p.id.as_str()));
        args.mac = mac(self.keys.mac(method::CREATE_PIN_POLICY, &data));
        Ok(args)
    }

    /// createKeyEntry arguments and the counter reserved for the attestation.
    pub fn key_args(&mut self, spec: &KeySpec) -> Result<KeyRequest, Error> {
        let policy =
            match &spec.pin_policy {
                Some(pin_id) => Some(self.pin(pin_id).cloned().ok_or_else(|| {
                    Error::Usage(format!("no PIN policy {pin_id} in this session"))
                })?),
                None => None,
            };
        let pin_policy_handle = spec
            .pin_policy_handle
            .unwrap_or_else(|| policy.as_ref().map_or(0, |p| p.handle));
        let encrypt = spec
            .encrypt_pin
            .unwrap_or_else(|| policy.as_ref().is_some_and(|p| !p.policy.user_defined));
        let pin_value = if encrypt {
            self.keys.encrypt(&spec.pin_value)
        } else {
            spec.pin_value.clone()
        };
        let mut args = CreateKeyEntryArgs {
            provisioning_handle: self.provisioning_handle,
            id: id(&spec.id)?,
            key_entry_algorithm: uri(&spec.key_entry_algorithm)?,
            server_seed: Bytes(spec.server_seed.clone()),
            device_pin_protection: spec.device_pin_protection,
            pin_policy_handle,
            pin_value: Bytes(pin_value),
            enable_pin_caching: spec.enable_pin_caching,
            biometric_protection: spec.biometric_protection,
            export_protection: spec.export_protection,
            delete_protection: spec.delete_protection,
            app_usage: spec.app_usage,
            friendly_name: spec.friendly_name.clone(),
            key_algorithm: uri(&spec.key_algorithm)?,
            key_parameters: Bytes(spec.key_parameters.clone()),
            endorsed_algorithms: spec
                .endorsed_algorithms
                .iter()
                .map(|a| uri(a))
                .collect::<Result<_, _>>()?,
            mac: Mac::default(),
        };
        let data = macdata::create_key_entry(&args, spec.pin_policy.as_deref(), encrypt);
        args.mac = mac(self.keys.mac(method::CREATE_KEY_ENTRY, &data));
        let attestation_counter = self.keys.reserve_attestation();
        Ok(KeyRequest {
            args,
            attestation_counter,
            spec: spec.clone(),
        })
    }

    /// Checks a createKeyEntry result against its request and records the key.
    pub fn key_created(
        &mut self,
        req: &KeyRequest,
        out: &apdu_spec::CreateKeyEntryOutput,
    ) -> Result<Key, Error> {
        let canonical = canonical_spki(&out.public_key)?;
        if canonical != out.public_key.0 {
            return Err(Error::Attestation(format!(
                "public key of {} is not a canonical SubjectPublicKeyInfo",
                req.spec.id
            )));
        }
        self.keys.verify_key_attestation(
            req.attestation_counter,
            &canonical,
            &req.args.mac.0,
            &out.attestation.0,
        )?;
        let key = Key {
            id: req.spec.id.clone(),
            handle: out.key_handle,
            public_key: canonical,
            attestation: out.attestation.0,
            key_algorithm: req.spec.key_algorithm.clone(),
            app_usage: req.spec.app_usage,
            pin_policy: req.spec.pin_policy.clone(),
            certificate_path: Vec::new(),
            provisioning_handle: self.provisioning_handle,
            privacy: self.privacy,
            kmk: self.kmk.clone(),
        };
        self.record(key.clone());
        Ok(key)
    }

    /// setCertificatePath arguments for `path` (EE certificate first).
    pub fn certificate_path_args(&mut self, key: &Key, path: &[Vec<u8>]) -> SetCertificatePathArgs {
        let data = macdata::set_certificate_path(&key.public_key, &key.id, path);
        SetCertificatePathArgs {
            key_handle: key.handle,
            certificates: path.iter().map(|c| Bytes(c.clone())).collect(),
            mac: mac(self.keys.mac(method::SET_CERTIFICATE_PATH, &data)),
        }
    }

    /// importSymmetricKey arguments (the key encrypted).
    pub fn import_symmetric_args(
        &mut self,
        key: &Key,
        secret: &[u8],
    ) -> Result<ImportSymmetricKeyArgs, Error> {
        let key = self.latest(key);
        let encrypted_key = self.keys.encrypt(secret);
        let data = macdata::import_key(key.ee()?, &encrypted_key);
        Ok(ImportSymmetricKeyArgs {
            key_handle: key.handle,
            encrypted_key: Bytes(encrypted_key),
            mac: mac(self.keys.mac(method::IMPORT_SYMMETRIC_KEY, &data)),
        })
    }

    /// importPrivateKey arguments (the PKCS#8 DER encrypted).
    pub fn import_private_args(
        &mut self,
        key: &Key,
        pkcs8: &[u8],
    ) -> Result<ImportPrivateKeyArgs, Error> {
        let key = self.latest(key);
        let encrypted_key = self.keys.encrypt(pkcs8);
        let data = macdata::import_key(key.ee()?, &encrypted_key);
        Ok(ImportPrivateKeyArgs {
            key_handle: key.handle,
            encrypted_key: Bytes(encrypted_key),
            mac: mac(self.keys.mac(method::IMPORT_PRIVATE_KEY, &data)),
        })
    }

    /// addExtension arguments with `extension_data` exactly as it is to be sent (for subType
    /// 0x01 the caller encrypts; see [`SessionState::encrypted_extension_args`]).
    pub fn extension_args(
        &mut self,
        key: &Key,
        type_uri: &str,
        sub_type: u8,
        qualifier: &str,
        extension_data: &[u8],
    ) -> Result<AddExtensionArgs, Error> {
        let key = self.latest(key);
        let mut args = AddExtensionArgs {
            key_handle: key.handle,
            r#type: uri(type_uri)?,
            sub_type,
            qualifier: qualifier.into(),
            extension_data: Blob(extension_data.to_vec()),
            mac: Mac::default(),
        };
        let data = macdata::add_extension(key.ee()?, &args);
        args.mac = mac(self.keys.mac(method::ADD_EXTENSION, &data));
        Ok(args)
    }

    /// addExtension subType 0x01 arguments: `plaintext` encrypted.
    pub fn encrypted_extension_args(
        &mut self,
        key: &Key,
        type_uri: &str,
        plaintext: &[u8],
    ) -> Result<AddExtensionArgs, Error> {
        let ct = self.keys.encrypt(plaintext);
        self.extension_args(
            key,
            type_uri,
            ExtensionSubType::EncryptedExtension.into(),
            "",
            &ct,
        )
    }

    /// A Target Key Reference authorization for `target`, signed by `kmk` (spec 6.4).
    pub fn authorization(&mut self, target: &Key, kmk: &Kmk) -> Result<Vec<u8>, Error> {
        let r = self.keys.key_reference(target.ee()?);
        self.keys.count_uses(1);
        Ok(kmk.authorize_target(&r))
    }

    /// postDeleteKey arguments with the given authorization.
    pub fn post_delete_args(&mut self, target: &Key, authorization: &[u8]) -> PostDeleteKeyArgs {
        PostDeleteKeyArgs {
            provisioning_handle: self.provisioning_handle,
            target_key_handle: target.handle,
            authorization: Bytes(authorization.to_vec()),
            mac: mac(self.keys.mac(
                method::POST_DELETE_KEY,
                &macdata::post_target(authorization),
            )),
        }
    }

    /// postUnlockKey arguments with the given authorization.
    pub fn post_unlock_args(&mut self, target: &Key, authorization: &[u8]) -> PostUnlockKeyArgs {
        PostUnlockKeyArgs {
            provisioning_handle: self.provisioning_handle,
            target_key_handle: target.handle,
            authorization: Bytes(authorization.to_vec()),
            mac: mac(self.keys.mac(
                method::POST_UNLOCK_KEY,
                &macdata::post_target(authorization),
            )),
        }
    }

    /// postUpdateKey arguments: `new_key` (of this session, certified) replaces `target`.
    pub fn post_update_args(
        &mut self,
        new_key: &Key,
        target: &Key,
        authorization: &[u8],
    ) -> Result<PostUpdateKeyArgs, Error> {
        let new_key = self.latest(new_key);
        let data = macdata::post_new_key(new_key.ee()?, authorization);
        Ok(PostUpdateKeyArgs {
            key_handle: new_key.handle,
            target_key_handle: target.handle,
            authorization: Bytes(authorization.to_vec()),
            mac: mac(self.keys.mac(method::POST_UPDATE_KEY, &data)),
        })
    }

    /// postCloneKeyProtection arguments: `new_key` gets `target`'s PIN protection.
    pub fn post_clone_args(
        &mut self,
        new_key: &Key,
        target: &Key,
        authorization: &[u8],
    ) -> Result<PostCloneKeyProtectionArgs, Error> {
        let new_key = self.latest(new_key);
        let data = macdata::post_new_key(new_key.ee()?, authorization);
        Ok(PostCloneKeyProtectionArgs {
            key_handle: new_key.handle,
            target_key_handle: target.handle,
            authorization: Bytes(authorization.to_vec()),
            mac: mac(self.keys.mac(method::POST_CLONE_KEY_PROTECTION, &data)),
        })
    }

    /// closeProvisioningSession arguments and the counter reserved for its attestation.
    pub fn close_args(&mut self, nonce: &[u8]) -> CloseRequest {
        let data = macdata::close_provisioning_session(
            &self.client_session_id,
            &self.server_session_id,
            &self.issuer_uri,
            nonce,
        );
        let args = CloseProvisioningSessionArgs {
            provisioning_handle: self.provisioning_handle,
            nonce: Bytes(nonce.to_vec()),
            mac: mac(self.keys.mac(method::CLOSE_PROVISIONING_SESSION, &data)),
        };
        CloseRequest {
            args,
            attestation_counter: self.keys.reserve_attestation(),
        }
    }
}

/// An open provisioning session on a card: the issuer's [`SessionState`] plus the client.
pub struct Session<'a, T: Transport> {
    sks: &'a mut Sks<T>,
    issuer: &'a Issuer,
    state: SessionState,
}

impl<'a, T: Transport> Session<'a, T> {
    /// Re-attaches a detached state (see [`Session::into_state`]) to a client.
    pub fn attach(issuer: &'a Issuer, sks: &'a mut Sks<T>, state: SessionState) -> Self {
        Self { sks, issuer, state }
    }

    /// Detaches the issuer state, releasing the client (e.g. to interleave sessions).
    pub fn into_state(self) -> SessionState {
        self.state
    }

    /// The raw client, for calls the driver does not make (or makes differently).
    pub fn sks(&mut self) -> &mut Sks<T> {
        self.sks
    }

    pub fn state(&self) -> &SessionState {
        &self.state
    }

    /// The state, to build arguments by hand or move the MAC counter.
    pub fn state_mut(&mut self) -> &mut SessionState {
        &mut self.state
    }

    pub fn provisioning_handle(&self) -> u32 {
        self.state.provisioning_handle
    }

    /// The next MAC counter value.
    pub fn counter(&self) -> u16 {
        self.state.keys.counter()
    }

    /// createPukPolicy with `puk` (`format`: a [`PinFormat`] byte).
    pub fn puk(
        &mut self,
        id: &str,
        puk: &[u8],
        format: u8,
        retry_limit: u16,
    ) -> Result<PukPolicy, Error> {
        let args = self.state.puk_args(id, puk, format, retry_limit)?;
        self.send_puk(&args)
    }

    /// Sends prepared createPukPolicy arguments and records the PUK policy.
    pub fn send_puk(&mut self, args: &CreatePukPolicyArgs) -> Result<PukPolicy, Error> {
        let out = self
            .sks
            .create_puk_policy(args)
            .map_err(card("createPukPolicy"))?;
        let p = PukPolicy {
            id: args.id.as_str().into(),
            handle: out.puk_policy_handle,
        };
        self.state.puks.push(p.clone());
        Ok(p)
    }

    /// createPinPolicy, governed by `puk` if given.
    pub fn pin_policy(
        &mut self,
        id: &str,
        puk: Option<&PukPolicy>,
        policy: PinPolicy,
    ) -> Result<PinPolicyObject, Error> {
        let args = self.state.pin_policy_args(id, puk, &policy)?;
        self.send_pin_policy(&args, puk, policy)
    }

    /// Sends prepared createPinPolicy arguments and records the PIN policy.
    pub fn send_pin_policy(
        &mut self,
        args: &CreatePinPolicyArgs,
        puk: Option<&PukPolicy>,
        policy: PinPolicy,
    ) -> Result<PinPolicyObject, Error> {
        let out = self
            .sks
            .create_pin_policy(args)
            .map_err(card("createPinPolicy"))?;
        let p = PinPolicyObject {
            id: args.id.as_str().into(),
            handle: out.pin_policy_handle,
            puk: puk.map(|p| p.id.clone()),
            policy,
        };
        self.state.pins.push(p.clone());
        Ok(p)
    }

    /// Starts describing a createKeyEntry.
    pub fn key(&mut self, id: &str) -> KeyBuilder<'_, 'a, T> {
        KeyBuilder {
            session: self,
            spec: KeySpec::new(id),
        }
    }

    /// createKeyEntry from a full spec.
    pub fn create_key(&mut self, spec: &KeySpec) -> Result<Key, Error> {
        let req = self.state.key_args(spec)?;
        self.send_key(&req)
    }

    /// Sends a prepared createKeyEntry, verifies the key attestation and records the key.
    pub fn send_key(&mut self, req: &KeyRequest) -> Result<Key, Error> {
        let out = self
            .sks
            .create_key_entry(&req.args)
            .map_err(card("createKeyEntry"))?;
        self.state.key_created(req, &out)
    }

    /// Has the CA certify the key (subject `CN=<id>`) and sets the path `[EE, CA]`.
    pub fn certify(&mut self, key: &Key) -> Result<Key, Error> {
        let path = self.issuer.ca.certify_path(&key.public_key, &key.id)?;
        self.set_certificate_path(key, path)
    }

    /// setCertificatePath with an arbitrary path (EE certificate first).
    pub fn set_certificate_path(&mut self, key: &Key, path: Vec<Vec<u8>>) -> Result<Key, Error> {
        let args = self.state.certificate_path_args(key, &path);
        self.send_certificate_path(key, &args)
    }

    /// Sends prepared setCertificatePath arguments and records the path on the key.
    pub fn send_certificate_path(
        &mut self,
        key: &Key,
        args: &SetCertificatePathArgs,
    ) -> Result<Key, Error> {
        self.sks
            .set_certificate_path(args)
            .map_err(card("setCertificatePath"))?;
        let mut k = self.state.latest(key);
        k.certificate_path = args.certificates.iter().map(|c| c.0.clone()).collect();
        self.state.record(k.clone());
        Ok(k)
    }

    /// importSymmetricKey of `secret` (raw key bytes).
    pub fn import_symmetric(&mut self, key: &Key, secret: &[u8]) -> Result<(), Error> {
        let args = self.state.import_symmetric_args(key, secret)?;
        self.sks
            .import_symmetric_key(&args)
            .map_err(card("importSymmetricKey"))
    }

    /// importPrivateKey of a PKCS#8 DER private key.
    pub fn import_private(&mut self, key: &Key, pkcs8: &[u8]) -> Result<(), Error> {
        let args = self.state.import_private_args(key, pkcs8)?;
        self.sks
            .import_private_key(&args)
            .map_err(card("importPrivateKey"))
    }

    /// addExtension with the data exactly as given.
    pub fn add_extension(
        &mut self,
        key: &Key,
        type_uri: &str,
        sub_type: u8,
        qualifier: &str,
        data: &[u8],
    ) -> Result<(), Error> {
        let args = self
            .state
            .extension_args(key, type_uri, sub_type, qualifier, data)?;
        self.sks.add_extension(&args).map_err(card("addExtension"))
    }

    /// A plain extension (subType 0x00).
    pub fn extension(&mut self, key: &Key, type_uri: &str, data: &[u8]) -> Result<(), Error> {
        self.add_extension(key, type_uri, ExtensionSubType::Extension.into(), "", data)
    }

    /// An encrypted extension (subType 0x01): `plaintext` is encrypted for the card.
    pub fn encrypted_extension(
        &mut self,
        key: &Key,
        type_uri: &str,
        plaintext: &[u8],
    ) -> Result<(), Error> {
        let args = self
            .state
            .encrypted_extension_args(key, type_uri, plaintext)?;
        self.sks.add_extension(&args).map_err(card("addExtension"))
    }

    /// A property bag (subType 0x02).
    pub fn property_bag(
        &mut self,
        key: &Key,
        type_uri: &str,
        props: &[Property],
    ) -> Result<(), Error> {
        self.add_extension(
            key,
            type_uri,
            ExtensionSubType::PropertyBag.into(),
            "",
            &macdata::property_bag(props),
        )
    }

    /// A logotype (subType 0x03) with its MIME type as qualifier.
    pub fn logotype(
        &mut self,
        key: &Key,
        type_uri: &str,
        mime_type: &str,
        image: &[u8],
    ) -> Result<(), Error> {
        self.add_extension(
            key,
            type_uri,
            ExtensionSubType::Logotype.into(),
            mime_type,
            image,
        )
    }

    /// postDeleteKey of `target`, authorized by the KMK of its session.
    pub fn post_delete(&mut self, target: &Key) -> Result<(), Error> {
        let kmk = target.owner_kmk()?.clone();
        self.post_delete_with(target, &kmk)
    }

    /// postDeleteKey of `target`, authorized by `kmk`.
    pub fn post_delete_with(&mut self, target: &Key, kmk: &Kmk) -> Result<(), Error> {
        let auth = self.state.authorization(target, kmk)?;
        let args = self.state.post_delete_args(target, &auth);
        self.sks
            .post_delete_key(&args)
            .map_err(card("postDeleteKey"))
    }

    /// postUnlockKey of `target`, authorized by the KMK of its session.
    pub fn post_unlock(&mut self, target: &Key) -> Result<(), Error> {
        let kmk = target.owner_kmk()?.clone();
        self.post_unlock_with(target, &kmk)
    }

    /// postUnlockKey of `target`, authorized by `kmk`.
    pub fn post_unlock_with(&mut self, target: &Key, kmk: &Kmk) -> Result<(), Error> {
        let auth = self.state.authorization(target, kmk)?;
        let args = self.state.post_unlock_args(target, &auth);
        self.sks
            .post_unlock_key(&args)
            .map_err(card("postUnlockKey"))
    }

    /// postUpdateKey: `new_key` (created and certified in this session) replaces `target`.
    pub fn post_update(&mut self, new_key: &Key, target: &Key) -> Result<(), Error> {
        let kmk = target.owner_kmk()?.clone();
        self.post_update_with(new_key, target, &kmk)
    }

    /// postUpdateKey authorized by `kmk`.
    pub fn post_update_with(
        &mut self,
        new_key: &Key,
        target: &Key,
        kmk: &Kmk,
    ) -> Result<(), Error> {
        let auth = self.state.authorization(target, kmk)?;
        let args = self.state.post_update_args(new_key, target, &auth)?;
        self.sks
            .post_update_key(&args)
            .map_err(card("postUpdateKey"))
    }

    /// postCloneKeyProtection: `new_key` gets the PIN protection of `target`.
    pub fn post_clone(&mut self, new_key: &Key, target: &Key) -> Result<(), Error> {
        let kmk = target.owner_kmk()?.clone();
        self.post_clone_with(new_key, target, &kmk)
    }

    /// postCloneKeyProtection authorized by `kmk`.
    pub fn post_clone_with(&mut self, new_key: &Key, target: &Key, kmk: &Kmk) -> Result<(), Error> {
        let auth = self.state.authorization(target, kmk)?;
        let args = self.state.post_clone_args(new_key, target, &auth)?;
        self.sks
            .post_clone_key_protection(&args)
            .map_err(card("postCloneKeyProtection"))
    }

    /// getKeyHandle of a key of this session.
    pub fn key_handle(&mut self, key_id: &str) -> Result<u32, Error> {
        let args = GetKeyHandleArgs {
            provisioning_handle: self.state.provisioning_handle,
            id: id(key_id)?,
        };
        Ok(self
            .sks
            .get_key_handle(&args)
            .map_err(card("getKeyHandle"))?
            .key_handle)
    }

    /// abortProvisioningSession.
    pub fn abort(&mut self) -> Result<(), Error> {
        let args = AbortProvisioningSessionArgs {
            provisioning_handle: self.state.provisioning_handle,
        };
        self.sks
            .abort_provisioning_session(&args)
            .map_err(card("abortProvisioningSession"))
    }

    /// closeProvisioningSession with a random 32-byte nonce; verifies the close attestation.
    pub fn close(&mut self) -> Result<Closed, Error> {
        self.close_with_nonce(&random_bytes(32))
    }

    /// closeProvisioningSession with `nonce`.
    pub fn close_with_nonce(&mut self, nonce: &[u8]) -> Result<Closed, Error> {
        let req = self.state.close_args(nonce);
        self.send_close(&req)
    }

    /// Sends a prepared close and verifies its attestation.
    pub fn send_close(&mut self, req: &CloseRequest) -> Result<Closed, Error> {
        let out = self
            .sks
            .close_provisioning_session(&req.args)
            .map_err(card("closeProvisioningSession"))?;
        self.state.keys.verify_close_attestation(
            req.attestation_counter,
            &req.args.nonce,
            &out.attestation.0,
        )?;
        Ok(Closed {
            provisioning_handle: self.state.provisioning_handle,
            attestation: out.attestation.0,
            keys: self.state.created.clone(),
            kmk: self.state.kmk.clone(),
            session_key_uses: self.state.keys.uses(),
        })
    }
}

/// Describes one createKeyEntry (see [`KeySpec`] for the defaults).
pub struct KeyBuilder<'s, 'a, T: Transport> {
    session: &'s mut Session<'a, T>,
    spec: KeySpec,
}

impl<T: Transport> KeyBuilder<'_, '_, T> {
    /// Protects the key with PIN policy `pin_policy_id` and PIN `value` (clear text; the driver
    /// encrypts it when the policy is issuer-set).
    pub fn pin(mut self, pin_policy_id: &str, value: &[u8]) -> Self {
        self.spec.pin_policy = Some(pin_policy_id.into());
        self.spec.pin_value = value.to_vec();
        self
    }

    pub fn device_pin(mut self, on: bool) -> Self {
        self.spec.device_pin_protection = on;
        self
    }

    /// The keyAlgorithm URI, e.g. [`alg::EC_P256`].
    pub fn algorithm(mut self, key_algorithm: &str) -> Self {
        self.spec.key_algorithm = key_algorithm.into();
        self
    }

    pub fn key_parameters(mut self, params: &[u8]) -> Self {
        self.spec.key_parameters = params.to_vec();
        self
    }

    pub fn server_seed(mut self, seed: &[u8]) -> Self {
        self.spec.server_seed = seed.to_vec();
        self
    }

    /// Endorsed algorithms, sent in the given order.
    pub fn endorse(mut self, algorithms: &[&str]) -> Self {
        self.spec.endorsed_algorithms = algorithms.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn friendly_name(mut self, name: &str) -> Self {
        self.spec.friendly_name = name.into();
        self
    }

    pub fn export_protection(mut self, v: u8) -> Self {
        self.spec.export_protection = v;
        self
    }

    pub fn delete_protection(mut self, v: u8) -> Self {
        self.spec.delete_protection = v;
        self
    }

    pub fn app_usage(mut self, v: u8) -> Self {
        self.spec.app_usage = v;
        self
    }

    pub fn biometric(mut self, v: u8) -> Self {
        self.spec.biometric_protection = v;
        self
    }

    pub fn pin_caching(mut self, on: bool) -> Self {
        self.spec.enable_pin_caching = on;
        self
    }

    /// keyEntryAlgorithm (default `#key.1`; for negative tests).
    pub fn key_entry_algorithm(mut self, uri: &str) -> Self {
        self.spec.key_entry_algorithm = uri.into();
        self
    }

    /// Changes anything else in the spec.
    pub fn with(mut self, f: impl FnOnce(&mut KeySpec)) -> Self {
        f(&mut self.spec);
        self
    }

    /// The spec as described so far.
    pub fn spec(&self) -> &KeySpec {
        &self.spec
    }

    /// Builds the arguments (consuming the MAC and attestation counter values) without sending.
    pub fn prepare(self) -> Result<KeyRequest, Error> {
        self.session.state.key_args(&self.spec)
    }

    /// Sends createKeyEntry and verifies the key attestation.
    pub fn create(self) -> Result<Key, Error> {
        let req = self.session.state.key_args(&self.spec)?;
        self.session.send_key(&req)
    }
}

#[cfg(test)]
mod debug_tests {
    #[test]
    fn a_key_spec_never_shows_its_pin() {
        let mut spec = super::KeySpec::new("K");
        spec.pin_value = b"739158".to_vec();
        let shown = format!("{spec:?}");
        assert!(shown.contains("<6 bytes>"), "{shown}");
        assert!(!shown.contains("55, 51, 57"), "{shown}"); // the bytes of "739"
        assert!(!shown.contains("739158"), "{shown}");
    }
}
