//! The KeyGen2 proxy (spec App. A; PROTOCOL.md §3–§7): consumes each issuer request, calls the
//! SKS methods in protocol order over [`pcsc_bridge::Sks`], and produces the response.
//!
//! One [`Proxy`] runs one provisioning exchange. On any failure (a bad request, a message out
//! of order, an SKS error, a lookup signature that does not verify, a user who cancels) it
//! aborts the SKS provisioning session it opened, ignoring the abort's own result, and
//! returns the error: KeyGen2 has no error message, so the issuer learns of the failure only
//! because no further response arrives (§7).

pub mod certpath;
pub mod discovery;
pub mod pin;

use crate::b64::{Mac32, B64};
use crate::jwk::Jwk;
use crate::message::{Message, ParseError};
use crate::messages::*;
use crate::types::{
    uris, Action, BiometricProtection, DeleteProtection, ExportProtection, Grouping, Id,
    InputMethod, LocalTime, Uri,
};
use apdu_spec::values::{ProtectionFlag, ProtectionStatus};
use apdu_spec::{
    AbortProvisioningSessionArgs, AddExtensionArgs, Blob, Bytes, CloseProvisioningSessionArgs,
    CreateKeyEntryArgs, CreatePinPolicyArgs, CreateProvisioningSessionArgs, CreatePukPolicyArgs,
    DeviceInfo, EnumerateKeysArgs, EnumerateProvisioningSessionsArgs, GetKeyAttributesArgs,
    GetKeyHandleArgs, GetKeyProtectionInfoArgs, ImportPrivateKeyArgs, ImportSymmetricKeyArgs, Mac,
    PostCloneKeyProtectionArgs, PostDeleteKeyArgs, PostUnlockKeyArgs, PostUpdateKeyArgs,
    ProvisioningSessionInfo, SetCertificatePathArgs, UpdateKeyManagementKeyArgs,
};
use pcsc_bridge::{Sks, Transport};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub use pin::PinPrompt;

/// Why the exchange ended. The SKS session (if one was opened) has been aborted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The request did not parse.
    #[error("bad request: {0}")]
    Parse(#[from] ParseError),
    /// The request is valid JSON but breaks the protocol (order, session ids, nonce, ...).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The request asks for something this proxy or card does not do.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// An SKS call failed.
    #[error("SKS {method} failed: {source}")]
    Sks {
        method: &'static str,
        #[source]
        source: pcsc_bridge::Error,
    },
    /// The user cancelled.
    #[error("cancelled by the user")]
    Cancelled,
}

impl ProxyError {
    /// The SKS error code, when an SKS call failed with one.
    pub fn sks_code(&self) -> Option<apdu_spec::ErrorCode> {
        match self {
            ProxyError::Sks { source, .. } => source.sks_code(),
            _ => None,
        }
    }
}

fn sks(method: &'static str) -> impl FnOnce(pcsc_bridge::Error) -> ProxyError {
    move |source| ProxyError::Sks { method, source }
}

fn protocol(m: impl Into<String>) -> ProxyError {
    ProxyError::Protocol(m.into())
}

/// The user side of the exchange: consent, PINs, progress.
pub trait UserInterface {
    /// Consent to the exchange `action` with the issuer `issuer` (false = cancel).
    fn consent(&mut self, _issuer: &str, _action: Action) -> bool {
        true
    }
    /// Asks for one user-defined PIN; `None` = the user cancels.
    fn pin(&mut self, prompt: &PinPrompt) -> Option<Zeroizing<String>>;
    /// A progress note ("creating key Key.1", ...).
    fn progress(&mut self, _note: &str) {}
}

/// Inputs that are in no message but enter the SKS cryptography (§1).
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// issuerUri of createProvisioningSession (the issuer's URL unless overridden).
    pub issuer_uri: String,
    /// serverCertificate: DER of the issuer's TLS certificate (or the agreed one over http).
    pub server_certificate: Vec<u8>,
    /// Values for client attribute queries (`clientattr#…` URI → values).
    pub client_attributes: Vec<(String, Vec<String>)>,
    /// Image attributes the platform wants for logotype queries (`logotype#…` URI → MIME
    /// type and size); other logotype queries are answered `supported: false`.
    pub image_preferences: Vec<(String, ImageAttributes)>,
    /// clientTime override (seconds since the epoch); `None` = now.
    pub client_time: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    Invoked,
    Session,
    Discovered,
    KeysCreated,
    Done,
    Aborted,
}

/// What was provisioned, for the summary.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub server_session_id: String,
    pub client_session_id: String,
    pub privacy_enabled: bool,
    /// `(id, keyAlgorithm)` of every key created.
    pub keys: Vec<(String, String)>,
    /// Ids of the credentials that received a certificate.
    pub certified: Vec<String>,
    pub kmk_updates: usize,
    pub discovered: usize,
    pub unlocked: usize,
    pub deleted: usize,
    pub updated: usize,
    pub cloned: usize,
}

/// One provisioning exchange with the SKS behind `sks`.
pub struct Proxy<'a, T: Transport, U: UserInterface> {
    sks: &'a mut Sks<T>,
    ui: U,
    config: ProxyConfig,
    state: State,
    device_info: Option<DeviceInfo>,
    action: Action,
    privacy: bool,
    server_session_id: Option<Id>,
    client_session_id: Option<Id>,
    /// The open provisioning session (None before creation and after close or abort).
    handle: Option<u32>,
    summary: Summary,
}

impl<'a, T: Transport, U: UserInterface> Proxy<'a, T, U> {
    pub fn new(sks: &'a mut Sks<T>, ui: U, config: ProxyConfig) -> Self {
        Self {
            sks,
            ui,
            config,
            state: State::Start,
            device_info: None,
            action: Action::Manage,
            privacy: false,
            server_session_id: None,
            client_session_id: None,
            handle: None,
            summary: Summary::default(),
        }
    }

    /// Whether the exchange has completed (the session is closed and committed).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// What was provisioned so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    pub fn ui_mut(&mut self) -> &mut U {
        &mut self.ui
    }

    /// Handles one request given as JSON text and returns the response as JSON text.
    pub fn handle_json(&mut self, request: &str) -> Result<String, ProxyError> {
        match Message::parse(request) {
            Ok(m) => self.handle(m).map(|r| r.to_json()),
            Err(e) => {
                self.abort();
                Err(e.into())
            }
        }
    }

    /// Handles one request. Any error aborts the exchange (and its SKS session).
    pub fn handle(&mut self, request: Message) -> Result<Message, ProxyError> {
        if matches!(self.state, State::Done | State::Aborted) {
            return Err(protocol(format!(
                "{} after the exchange ended",
                request.qualifier()
            )));
        }
        let r = self.dispatch(request);
        if r.is_err() {
            self.abort();
        }
        r
    }

    /// Aborts the exchange: abortProvisioningSession on the open session, result ignored.
    pub fn abort(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = self
                .sks
                .abort_provisioning_session(&AbortProvisioningSessionArgs {
                    provisioning_handle: h,
                });
        }
        if self.state != State::Done {
            self.state = State::Aborted;
        }
    }

    fn dispatch(&mut self, request: Message) -> Result<Message, ProxyError> {
        match (self.state, request) {
            (State::Start, Message::InvocationRequest(r)) => self.invocation(r).map(Into::into),
            (State::Invoked, Message::ProvisioningInitializationRequest(r)) => {
                self.initialization(r).map(Into::into)
            }
            (State::Session, Message::CredentialDiscoveryRequest(r)) => {
                self.discovery(r).map(Into::into)
            }
            (State::Session | State::Discovered, Message::KeyCreationRequest(r)) => {
                self.key_creation(r).map(Into::into)
            }
            (
                State::Session | State::Discovered | State::KeysCreated,
                Message::ProvisioningFinalizationRequest(r),
            ) => self.finalization(r).map(Into::into),
            (_, m) if !m.is_request() => Err(protocol(format!(
                "{} is a response, not a request",
                m.qualifier()
            ))),
            (state, m) => Err(protocol(format!(
                "{} out of order (state {state:?})",
                m.qualifier()
            ))),
        }
    }

    fn check_ids(&self, server: &Id, client: Option<&Id>) -> Result<(), ProxyError> {
        if Some(server) != self.server_session_id.as_ref() {
            return Err(protocol(format!(
                "serverSessionId {server} does not match the session"
            )));
        }
        if let Some(c) = client {
            if Some(c) != self.client_session_id.as_ref() {
                return Err(protocol(format!(
                    "clientSessionId {c} does not match the session"
                )));
            }
        }
        Ok(())
    }

    fn handle_open(&self) -> Result<u32, ProxyError> {
        self.handle
            .ok_or_else(|| protocol("no open provisioning session"))
    }

    // -----------------------------------------------------------------------------------------
    // §4.1

    fn invocation(&mut self, r: InvocationRequest) -> Result<InvocationResponse, ProxyError> {
        if !self.ui.consent(&self.config.issuer_uri, r.action) {
            return Err(ProxyError::Cancelled);
        }
        let info = self.sks.get_device_info().map_err(sks("getDeviceInfo"))?;
        self.privacy = r.privacy_enabled.unwrap_or(false);
        self.action = r.action;
        let caps = each(&r.client_capability_query)
            .map(|uri| self.capability(uri, &info))
            .collect::<Vec<_>>();
        let mut seen = std::collections::HashSet::new();
        for c in &caps {
            if !seen.insert(c.type_.as_str().to_string()) {
                return Err(protocol(format!("capability {} queried twice", c.type_)));
            }
        }
        self.device_info = Some(info);
        self.server_session_id = Some(r.server_session_id.clone());
        self.summary.server_session_id = r.server_session_id.to_string();
        self.summary.privacy_enabled = self.privacy;
        self.state = State::Invoked;
        self.ui.progress("invocation answered");
        Ok(InvocationResponse {
            context: Context,
            qualifier: InvocationResponseQ,
            server_session_id: r.server_session_id,
            client_capabilities: NonEmpty::new(caps),
        })
    }

    fn capability(&self, uri: &Uri, info: &DeviceInfo) -> ClientCapability {
        let u = uri.as_str();
        let mut c = ClientCapability {
            type_: uri.clone(),
            supported: None,
            values: None,
            image_attributes: None,
        };
        if u.starts_with(uris::CLIENT_ATTRIBUTE_PREFIX) && !self.privacy {
            if let Some((_, v)) = self.config.client_attributes.iter().find(|(k, _)| k == u) {
                if let Some(values) = NonEmpty::new(v.clone()) {
                    c.values = Some(values);
                    return c;
                }
            }
        }
        if u.starts_with(uris::LOGOTYPE_PREFIX) {
            if let Some((_, a)) = self.config.image_preferences.iter().find(|(k, _)| k == u) {
                c.image_attributes = Some(a.clone());
                return c;
            }
        }
        c.supported = Some(match u {
            uris::FEATURE_DEVICE_PIN => info.device_pin_support,
            uris::FEATURE_BIOMETRIC => info.biometric_support,
            _ => info.supported_algorithms.iter().any(|a| a.as_str() == u),
        });
        c
    }

    // -----------------------------------------------------------------------------------------
    // §4.2

    fn initialization(
        &mut self,
        r: ProvisioningInitializationRequest,
    ) -> Result<ProvisioningInitializationResponse, ProxyError> {
        self.check_ids(&r.server_session_id, None)?;
        if r.updatable_key_management_keys.is_some() && r.key_management_key.is_none() {
            return Err(protocol(
                "updatableKeyManagementKeys without keyManagementKey",
            ));
        }
        if r.server_ephemeral_key.curve().is_none() {
            return Err(ProxyError::Unsupported(
                "serverEphemeralKey must be an EC key on P-256, P-384 or P-521".into(),
            ));
        }
        let spki = |j: &Jwk| j.to_spki().map_err(protocol);
        let kmk = r.key_management_key.as_ref().map(spki).transpose()?;
        if let (Some(kmk), Some(nodes)) = (&kmk, &r.updatable_key_management_keys) {
            self.roll_over(kmk, nodes)?;
        }
        let client_time = self.config.client_time.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as u32)
                .unwrap_or(0)
        });
        let args = CreateProvisioningSessionArgs {
            session_key_algorithm: apdu_uri(&r.session_key_algorithm)?,
            privacy_enabled: self.privacy,
            server_session_id: apdu_id(&r.server_session_id)?,
            server_ephemeral_key: Bytes(spki(&r.server_ephemeral_key)?),
            issuer_uri: apdu_spec::Uri::new(&self.config.issuer_uri)
                .map_err(|e| protocol(format!("issuerUri: {e}")))?,
            key_management_key: Bytes(kmk.unwrap_or_default()),
            client_time,
            session_life_time: r.session_life_time,
            session_key_limit: r.session_key_limit,
            server_certificate: Bytes(self.config.server_certificate.clone()),
        };
        let out = self
            .sks
            .create_provisioning_session(&args)
            .map_err(sks("createProvisioningSession"))?;
        self.handle = Some(out.provisioning_handle);
        let client_session_id = Id::new(out.client_session_id.as_str()).map_err(protocol)?;
        self.client_session_id = Some(client_session_id.clone());
        self.summary.client_session_id = client_session_id.to_string();
        self.state = State::Session;
        self.ui.progress("provisioning session created");
        let info = self
            .device_info
            .as_ref()
            .ok_or_else(|| protocol("no device info"))?;
        let device_id = if self.privacy {
            None
        } else {
            NonEmpty::new(info.certificates.iter().map(|c| B64(c.0.clone())).collect()).map(|p| {
                DeviceId {
                    certificate_path: p,
                }
            })
        };
        Ok(ProvisioningInitializationResponse {
            context: Context,
            qualifier: ProvisioningInitializationResponseQ,
            server_session_id: r.server_session_id,
            client_session_id,
            server_time: r.server_time,
            client_time: LocalTime::from_unix(i64::from(client_time)),
            client_ephemeral_key: Jwk::from_spki(&out.client_ephemeral_key).map_err(protocol)?,
            device_id,
            attestation: B64(out.attestation.0),
        })
    }

    /// KMK roll-over, leaf first (§4.2): each node's key is replaced, in every closed session
    /// that holds it, by its parent's key.
    fn roll_over(
        &mut self,
        parent: &[u8],
        nodes: &NonEmpty<UpdatableKeyManagementKey>,
    ) -> Result<(), ProxyError> {
        for node in nodes.iter() {
            let old = node.public_key.to_spki().map_err(protocol)?;
            if let Some(children) = &node.updatable_key_management_keys {
                self.roll_over(&old, children)?;
            }
            for (h, info) in self.closed_sessions()? {
                if info.key_management_key.0 == old {
                    self.sks
                        .update_key_management_key(&UpdateKeyManagementKeyArgs {
                            provisioning_handle: h,
                            key_management_key: Bytes(parent.to_vec()),
                            authorization: Bytes(node.authorization.0.clone()),
                        })
                        .map_err(sks("updateKeyManagementKey"))?;
                    self.summary.kmk_updates += 1;
                }
            }
        }
        Ok(())
    }

    fn sessions(&mut self, open: bool) -> Result<Vec<(u32, ProvisioningSessionInfo)>, ProxyError> {
        let mut out = Vec::new();
        let mut h = 0;
        loop {
            let r = self
                .sks
                .enumerate_provisioning_sessions(&EnumerateProvisioningSessionsArgs {
                    provisioning_handle: h,
                    provisioning_state: open,
                })
                .map_err(sks("enumerateProvisioningSessions"))?;
            match r.session {
                Some((handle, info)) => {
                    h = handle.get();
                    out.push((h, info));
                }
                None => return Ok(out),
            }
        }
    }

    fn closed_sessions(&mut self) -> Result<Vec<(u32, ProvisioningSessionInfo)>, ProxyError> {
        self.sessions(false)
    }

    /// All keys: (keyHandle, provisioningHandle).
    fn keys(&mut self) -> Result<Vec<(u32, u32)>, ProxyError> {
        let mut out = Vec::new();
        let mut h = 0;
        loop {
            let r = self
                .sks
                .enumerate_keys(&EnumerateKeysArgs { key_handle: h })
                .map_err(sks("enumerateKeys"))?;
            match r.key {
                Some((k, p)) => {
                    h = k.get();
                    out.push((h, p));
                }
                None => return Ok(out),
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // §4.3

    fn discovery(
        &mut self,
        r: CredentialDiscoveryRequest,
    ) -> Result<CredentialDiscoveryResponse, ProxyError> {
        self.check_ids(&r.server_session_id, Some(&r.client_session_id))?;
        let nonce =
            discovery::lookup_nonce(r.client_session_id.as_str(), r.server_session_id.as_str());
        let mut ids = std::collections::HashSet::new();
        let mut compiled = Vec::new();
        for l in r.lookup_specifiers.iter() {
            if !ids.insert(l.id.clone()) {
                return Err(protocol(format!("duplicate lookup id {}", l.id)));
            }
            if l.nonce.0 != nonce {
                return Err(protocol(format!("lookup {}: wrong nonce", l.id)));
            }
            if l.search_filter.as_ref() == Some(&SearchFilter::default()) {
                return Err(protocol(format!("lookup {}: empty searchFilter", l.id)));
            }
            crate::jcs::verify_lookup_signature(l)
                .map_err(|e| protocol(format!("lookup {}: {e}", l.id)))?;
            let filter =
                discovery::CompiledFilter::new(&l.search_filter.clone().unwrap_or_default())
                    .map_err(|e| protocol(format!("lookup {}: {e}", l.id)))?;
            let kmk = l.signature.public_key.to_spki().map_err(protocol)?;
            compiled.push((l, filter, kmk));
        }
        let sessions = self.closed_sessions()?;
        let keys = self.keys()?;
        let mut results = Vec::new();
        for (l, filter, kmk) in compiled {
            let mut matching = Vec::new();
            for (sh, info) in sessions
                .iter()
                .filter(|(_, i)| i.key_management_key.0 == kmk)
            {
                for &(kh, _) in keys.iter().filter(|(_, p)| p == sh) {
                    let attrs = self
                        .sks
                        .get_key_attributes(&GetKeyAttributesArgs { key_handle: kh })
                        .map_err(sks("getKeyAttributes"))?;
                    let path: Vec<Vec<u8>> =
                        attrs.certificates.iter().map(|c| c.0.clone()).collect();
                    if path.is_empty() || !filter.matches(&path) {
                        continue;
                    }
                    if filter
                        .app_usage()
                        .is_some_and(|u| u8::from(u) != attrs.app_usage)
                    {
                        continue;
                    }
                    let prot = self
                        .sks
                        .get_key_protection_info(&GetKeyProtectionInfoArgs { key_handle: kh })
                        .map_err(sks("getKeyProtectionInfo"))?;
                    let status = ProtectionStatus::from_bits_truncate(prot.protection_status);
                    if let Some(g) = filter.grouping() {
                        if !status.contains(ProtectionFlag::PinProtected)
                            || prot.grouping != u8::from(g)
                        {
                            continue;
                        }
                    }
                    matching.push(MatchingCredential {
                        server_session_id: Id::new(info.server_session_id.as_str())
                            .map_err(protocol)?,
                        client_session_id: Id::new(info.client_session_id.as_str())
                            .map_err(protocol)?,
                        certificate_path: NonEmpty(path.into_iter().map(B64).collect()),
                        locked: status.contains(ProtectionFlag::PinBlocked).then_some(true),
                    });
                }
            }
            self.summary.discovered += matching.len();
            results.push(LookupResult {
                id: l.id.clone(),
                matching_credentials: matching,
            });
        }
        self.state = State::Discovered;
        self.ui.progress("credential discovery answered");
        Ok(CredentialDiscoveryResponse {
            context: Context,
            qualifier: CredentialDiscoveryResponseQ,
            server_session_id: r.server_session_id,
            client_session_id: r.client_session_id,
            lookup_results: NonEmpty(results),
        })
    }

    // -----------------------------------------------------------------------------------------
    // §4.4

    fn key_creation(&mut self, r: KeyCreationRequest) -> Result<KeyCreationResponse, ProxyError> {
        self.check_ids(&r.server_session_id, Some(&r.client_session_id))?;
        if self.action != Action::Manage {
            return Err(protocol("KeyCreationRequest in an \"unlock\" exchange"));
        }
        if r.deferred_issuance == Some(true) {
            return Err(ProxyError::Unsupported("deferredIssuance".into()));
        }
        let h = self.handle_open()?;
        // Every PIN dialog before the first SKS call.
        let mut user_pins: Vec<Vec<Zeroizing<Vec<u8>>>> = Vec::new();
        for (_, p) in r.pin_policies() {
            if p.user_defined() {
                let ui = &mut self.ui;
                user_pins.push(pin::collect_pins(p, &mut |prompt| ui.pin(prompt))?);
            } else {
                user_pins.push(Vec::new());
            }
        }
        let mut generated = Vec::new();
        let mut puk_handles: Vec<(Id, u32)> = Vec::new();
        for (pi, (puk, p)) in r.pin_policies().into_iter().enumerate() {
            let puk_handle = match puk {
                None => 0,
                Some(puk) => match puk_handles.iter().find(|(id, _)| *id == puk.id) {
                    Some((_, hh)) => *hh,
                    None => {
                        self.ui.progress(&format!("creating PUK policy {}", puk.id));
                        let out = self
                            .sks
                            .create_puk_policy(&CreatePukPolicyArgs {
                                provisioning_handle: h,
                                id: apdu_id(&puk.id)?,
                                encrypted_puk: Bytes(puk.encrypted_puk.0.clone()),
                                format: puk.format.into(),
                                retry_limit: puk.retry_limit,
                                mac: mac(&puk.mac),
                            })
                            .map_err(sks("createPukPolicy"))?;
                        puk_handles.push((puk.id.clone(), out.puk_policy_handle));
                        out.puk_policy_handle
                    }
                },
            };
            self.ui.progress(&format!("creating PIN policy {}", p.id));
            let out = self
                .sks
                .create_pin_policy(&CreatePinPolicyArgs {
                    provisioning_handle: h,
                    id: apdu_id(&p.id)?,
                    puk_policy_handle: puk_handle,
                    user_defined: p.user_defined(),
                    user_modifiable: p.user_modifiable.unwrap_or(true),
                    format: p.format.into(),
                    retry_limit: p.retry_limit,
                    grouping: p.grouping.unwrap_or(Grouping::None).into(),
                    pattern_restrictions: p.pattern_restrictions().into(),
                    min_length: p.min_length,
                    max_length: p.max_length,
                    input_method: p.input_method.unwrap_or(InputMethod::Any).into(),
                    mac: mac(&p.mac),
                })
                .map_err(sks("createPinPolicy"))?;
            for (ki, k) in p.key_entry_specifiers.iter().enumerate() {
                let pin_value = match &k.encrypted_pin {
                    Some(e) => Zeroizing::new(e.0.clone()),
                    None => user_pins[pi].get(ki).cloned().unwrap_or_default(),
                };
                generated.push(self.create_key(h, &r, k, out.pin_policy_handle, &pin_value)?);
            }
        }
        for k in each(&r.key_entry_specifiers) {
            generated.push(self.create_key(h, &r, k, 0, &Zeroizing::new(Vec::new()))?);
        }
        self.state = State::KeysCreated;
        Ok(KeyCreationResponse {
            context: Context,
            qualifier: KeyCreationResponseQ,
            server_session_id: r.server_session_id,
            client_session_id: r.client_session_id,
            generated_keys: NonEmpty::new(generated)
                .ok_or_else(|| protocol("KeyCreationRequest without keys"))?,
        })
    }

    fn create_key(
        &mut self,
        h: u32,
        r: &KeyCreationRequest,
        k: &KeyEntrySpecifier,
        pin_policy_handle: u32,
        pin_value: &[u8],
    ) -> Result<GeneratedKey, ProxyError> {
        self.ui
            .progress(&format!("creating key {} ({})", k.id, k.key_algorithm));
        let out = self
            .sks
            .create_key_entry(&CreateKeyEntryArgs {
                provisioning_handle: h,
                id: apdu_id(&k.id)?,
                key_entry_algorithm: apdu_uri(&r.key_entry_algorithm)?,
                server_seed: Bytes(
                    k.server_seed
                        .as_ref()
                        .map(|s| s.0.clone())
                        .unwrap_or_default(),
                ),
                device_pin_protection: k.device_pin_protection.unwrap_or(false),
                pin_policy_handle,
                pin_value: Bytes(pin_value.to_vec()),
                enable_pin_caching: k.enable_pin_caching.unwrap_or(false),
                biometric_protection: k
                    .biometric_protection
                    .unwrap_or(BiometricProtection::None)
                    .into(),
                export_protection: k
                    .export_protection
                    .unwrap_or(ExportProtection::NonExportable)
                    .into(),
                delete_protection: k.delete_protection.unwrap_or(DeleteProtection::None).into(),
                app_usage: k.app_usage.into(),
                friendly_name: k.friendly_name.clone().unwrap_or_default(),
                key_algorithm: apdu_uri(&k.key_algorithm)?,
                key_parameters: Bytes(
                    k.key_parameters
                        .as_ref()
                        .map(|p| p.0.clone())
                        .unwrap_or_default(),
                ),
                endorsed_algorithms: each(&k.endorsed_algorithms)
                    .map(apdu_uri)
                    .collect::<Result<_, _>>()?,
                mac: mac(&k.mac),
            })
            .map_err(sks("createKeyEntry"))?;
        self.summary
            .keys
            .push((k.id.to_string(), k.key_algorithm.to_string()));
        Ok(GeneratedKey {
            id: k.id.clone(),
            public_key: Jwk::from_spki(&out.public_key).map_err(protocol)?,
            attestation: B64(out.attestation.0.to_vec()),
        })
    }

    // -----------------------------------------------------------------------------------------
    // §4.5

    fn finalization(
        &mut self,
        r: ProvisioningFinalizationRequest,
    ) -> Result<ProvisioningFinalizationResponse, ProxyError> {
        self.check_ids(&r.server_session_id, Some(&r.client_session_id))?;
        let h = self.handle_open()?;
        for c in each(&r.issued_credentials) {
            let path: Vec<Vec<u8>> = c.certificate_path.iter().map(|b| b.0.clone()).collect();
            certpath::check_path(&path, c.trust_anchor.unwrap_or(false))
                .map_err(|e| protocol(format!("credential {}: {e}", c.id)))?;
            let k = self
                .sks
                .get_key_handle(&GetKeyHandleArgs {
                    provisioning_handle: h,
                    id: apdu_id(&c.id)?,
                })
                .map_err(sks("getKeyHandle"))?
                .key_handle;
            self.ui.progress(&format!("certificate path for {}", c.id));
            self.sks
                .set_certificate_path(&SetCertificatePathArgs {
                    key_handle: k,
                    certificates: path.iter().map(|c| Bytes(c.clone())).collect(),
                    mac: mac(&c.mac),
                })
                .map_err(sks("setCertificatePath"))?;
            self.summary.certified.push(c.id.to_string());
            if let Some(i) = &c.import_symmetric_key {
                self.sks
                    .import_symmetric_key(&ImportSymmetricKeyArgs {
                        key_handle: k,
                        encrypted_key: Bytes(i.encrypted_key.0.clone()),
                        mac: mac(&i.mac),
                    })
                    .map_err(sks("importSymmetricKey"))?;
            }
            if let Some(i) = &c.import_private_key {
                self.sks
                    .import_private_key(&ImportPrivateKeyArgs {
                        key_handle: k,
                        encrypted_key: Bytes(i.encrypted_key.0.clone()),
                        mac: mac(&i.mac),
                    })
                    .map_err(sks("importPrivateKey"))?;
            }
            for e in each(&c.extensions) {
                self.extension(k, &e.type_, 0, "", e.extension_data.0.clone(), &e.mac)?;
            }
            for e in each(&c.encrypted_extensions) {
                self.extension(k, &e.type_, 1, "", e.extension_data.0.clone(), &e.mac)?;
            }
            for e in each(&c.property_bags) {
                let blob = e.blob().map_err(protocol)?;
                self.extension(k, &e.type_, 2, "", blob, &e.mac)?;
            }
            for e in each(&c.logotypes) {
                self.extension(
                    k,
                    &e.type_,
                    3,
                    &e.mime_type,
                    e.extension_data.0.clone(),
                    &e.mac,
                )?;
            }
            if let Some(op) = &c.update_key {
                let t = self.find_target(op)?;
                self.sks
                    .post_update_key(&PostUpdateKeyArgs {
                        key_handle: k,
                        target_key_handle: t,
                        authorization: Bytes(op.authorization.0.clone()),
                        mac: mac(&op.mac),
                    })
                    .map_err(sks("postUpdateKey"))?;
                self.summary.updated += 1;
            }
            if let Some(op) = &c.clone_key_protection {
                let t = self.find_target(op)?;
                self.sks
                    .post_clone_key_protection(&PostCloneKeyProtectionArgs {
                        key_handle: k,
                        target_key_handle: t,
                        authorization: Bytes(op.authorization.0.clone()),
                        mac: mac(&op.mac),
                    })
                    .map_err(sks("postCloneKeyProtection"))?;
                self.summary.cloned += 1;
            }
        }
        for op in each(&r.unlock_keys) {
            let t = self.find_target(op)?;
            self.sks
                .post_unlock_key(&PostUnlockKeyArgs {
                    provisioning_handle: h,
                    target_key_handle: t,
                    authorization: Bytes(op.authorization.0.clone()),
                    mac: mac(&op.mac),
                })
                .map_err(sks("postUnlockKey"))?;
            self.summary.unlocked += 1;
        }
        for op in each(&r.delete_keys) {
            let t = self.find_target(op)?;
            self.sks
                .post_delete_key(&PostDeleteKeyArgs {
                    provisioning_handle: h,
                    target_key_handle: t,
                    authorization: Bytes(op.authorization.0.clone()),
                    mac: mac(&op.mac),
                })
                .map_err(sks("postDeleteKey"))?;
            self.summary.deleted += 1;
        }
        self.ui.progress("closing the provisioning session");
        let out = self
            .sks
            .close_provisioning_session(&CloseProvisioningSessionArgs {
                provisioning_handle: h,
                nonce: Bytes(r.session_close_data.nonce.0.clone()),
                mac: mac(&r.session_close_data.mac),
            })
            .map_err(sks("closeProvisioningSession"))?;
        self.handle = None;
        self.state = State::Done;
        Ok(ProvisioningFinalizationResponse {
            context: Context,
            qualifier: ProvisioningFinalizationResponseQ,
            server_session_id: r.server_session_id,
            client_session_id: r.client_session_id,
            attestation: Mac32(out.attestation.0),
        })
    }

    fn extension(
        &mut self,
        key_handle: u32,
        type_: &Uri,
        sub_type: u8,
        qualifier: &str,
        data: Vec<u8>,
        m: &Mac32,
    ) -> Result<(), ProxyError> {
        self.sks
            .add_extension(&AddExtensionArgs {
                key_handle,
                r#type: apdu_uri(type_)?,
                sub_type,
                qualifier: qualifier.to_string(),
                extension_data: Blob(data),
                mac: mac(m),
            })
            .map_err(sks("addExtension"))
    }

    /// The target key of a post-operation: the closed session with both ids, then its key
    /// whose EE certificate has the fingerprint.
    fn find_target(&mut self, op: &PostOperation) -> Result<u32, ProxyError> {
        let session = self
            .closed_sessions()?
            .into_iter()
            .find(|(_, i)| {
                i.client_session_id.as_str() == op.client_session_id.as_str()
                    && i.server_session_id.as_str() == op.server_session_id.as_str()
            })
            .map(|(h, _)| h)
            .ok_or_else(|| {
                protocol(format!(
                    "old provisioning session not found (serverSessionId {}, clientSessionId {})",
                    op.server_session_id, op.client_session_id
                ))
            })?;
        for (kh, ph) in self.keys()? {
            if ph != session {
                continue;
            }
            let attrs = self
                .sks
                .get_key_attributes(&GetKeyAttributesArgs { key_handle: kh })
                .map_err(sks("getKeyAttributes"))?;
            if attrs
                .certificates
                .first()
                .is_some_and(|c| Sha256::digest(&c.0).as_slice() == &op.finger_print[..])
            {
                return Ok(kh);
            }
        }
        Err(protocol(format!(
            "old key not found (serverSessionId {}, fingerprint {})",
            op.server_session_id,
            crate::b64::encode(&op.finger_print)
        )))
    }
}

impl<T: Transport, U: UserInterface> Drop for Proxy<'_, T, U> {
    /// An exchange dropped half-way (transport failure, caller gave up) is aborted.
    fn drop(&mut self) {
        self.abort();
    }
}

fn mac(m: &Mac32) -> Mac {
    Mac(m.0)
}

fn apdu_id(id: &Id) -> Result<apdu_spec::Id, ProxyError> {
    apdu_spec::Id::new(id.as_str()).map_err(|e| protocol(format!("id {id}: {e}")))
}

fn apdu_uri(u: &Uri) -> Result<apdu_spec::Uri, ProxyError> {
    apdu_spec::Uri::new(u.as_str()).map_err(|e| protocol(format!("URI {u}: {e}")))
}
