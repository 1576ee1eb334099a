//! The KeyGen2 issuer: builds each request of an exchange from a [`Scenario`], checks each
//! response (session ids, the session attestation, every key attestation, the close
//! attestation) and keeps the credentials it issued for later post-operations.

use super::scenario::{Scenario, TargetRef};
use crate::crypto::random_bytes;
use crate::driver::{CloseRequest, Key, KeyRequest, PinPolicyObject, PukPolicy, SessionState};
use crate::macdata::{self, SessionAttestationInput};
use crate::session::{self, ServerEphemeral};
use crate::{canonical_spki, Error, Issuer, Kmk};
use apdu_spec::{Bytes, CreateKeyEntryOutput, DeviceInfo, Mac};
use keygen2::b64::{Mac32, Sized, B64};
use keygen2::messages::*;
use keygen2::types::*;
use keygen2::{jcs, Jwk, Message};
use std::collections::HashMap;

/// A credential the server issued in a completed exchange.
#[derive(Debug, Clone)]
pub struct Credential {
    /// The serverSessionId of the exchange that issued it ([`TargetRef`]s name this one).
    pub issued_in: String,
    /// The ids of the provisioning session that owns it now: the issuing session, or the
    /// session that took it over by a post-operation on a key of its session (spec-notes
    /// §4.3 step 8).
    pub server_session_id: String,
    pub client_session_id: String,
    pub key: Key,
    /// The KMK of its session (as rolled over since).
    pub kmk: Option<Kmk>,
}

/// The result of a completed exchange.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub scenario: String,
    pub server_session_id: String,
    pub client_session_id: String,
    pub privacy: bool,
    /// The keys created, with their certificate paths.
    pub credentials: Vec<Credential>,
    pub capabilities: Vec<ClientCapability>,
    pub discovery: Option<CredentialDiscoveryResponse>,
    pub close_attestation: [u8; 32],
}

/// What the server answers to a response.
#[derive(Debug, Clone)]
pub enum Reply {
    /// The next request (JSON).
    Request(String),
    /// The exchange is complete.
    Done(Box<Outcome>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Invocation,
    Initialization,
    Discovery,
    KeyCreation,
    Finalization,
}

struct Exchange {
    scenario: Scenario,
    server_session_id: String,
    phase: Phase,
    ephemeral: ServerEphemeral,
    init: Option<ProvisioningInitializationRequest>,
    state: Option<SessionState>,
    key_requests: Vec<KeyRequest>,
    close: Option<CloseRequest>,
    capabilities: Vec<ClientCapability>,
    discovery: Option<CredentialDiscoveryResponse>,
}

/// The KeyGen2 issuer: a CA, an issuer URI, the serverCertificate both sides agreed on, the
/// exchanges in progress and the credentials issued.
pub struct KeyGen2Server {
    issuer: Issuer,
    server_certificate: Vec<u8>,
    exchanges: HashMap<String, Exchange>,
    issued: Vec<Credential>,
}

fn proto(m: impl Into<String>) -> Error {
    Error::Protocol(m.into())
}

fn id(s: &str) -> Result<Id, Error> {
    Id::new(s).map_err(proto)
}

fn uri(s: &str) -> Result<Uri, Error> {
    Uri::new(s).map_err(proto)
}

fn jwk(spki: &[u8]) -> Result<Jwk, Error> {
    Jwk::from_spki(spki).map_err(Error::Crypto)
}

fn random_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    random_bytes(32)
        .iter()
        .map(|b| ALPHABET[usize::from(b & 0x3f)] as char)
        .collect()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl KeyGen2Server {
    /// A server with a fresh CA, `issuer_uri` (the URL the proxy uses, or the one it is told
    /// to use) and the CA certificate as serverCertificate.
    pub fn new(issuer_uri: &str) -> Result<Self, Error> {
        let issuer = Issuer::new()?.with_uri(issuer_uri);
        let server_certificate = issuer.ca().certificate().to_vec();
        Ok(Self {
            issuer,
            server_certificate,
            exchanges: HashMap::new(),
            issued: Vec::new(),
        })
    }

    /// Uses `der` as serverCertificate (e.g. the TLS certificate of an https front end).
    pub fn with_server_certificate(mut self, der: Vec<u8>) -> Self {
        self.server_certificate = der;
        self
    }

    pub fn issuer_uri(&self) -> &str {
        self.issuer.issuer_uri()
    }

    /// The DER certificate that enters the session attestation as serverCertificate.
    pub fn server_certificate(&self) -> &[u8] {
        &self.server_certificate
    }

    pub fn ca(&self) -> &crate::Ca {
        self.issuer.ca()
    }

    /// Credentials issued so far (in completed exchanges, minus deleted or replaced ones).
    pub fn issued(&self) -> &[Credential] {
        &self.issued
    }

    /// The issued credential `key_id` of the exchange `server_session_id`.
    pub fn credential(&self, target: &TargetRef) -> Option<&Credential> {
        self.issued
            .iter()
            .find(|c| c.issued_in == target.server_session_id && c.key.id == target.key_id)
    }

    /// Exchanges in progress.
    pub fn pending(&self) -> usize {
        self.exchanges.len()
    }

    /// Starts an exchange: the InvocationRequest (JSON).
    pub fn start(&mut self, scenario: Scenario) -> Result<String, Error> {
        let server_session_id = random_id();
        let m = InvocationRequest {
            context: Context,
            qualifier: InvocationRequestQ,
            server_session_id: id(&server_session_id)?,
            action: if scenario.unlock {
                Action::Unlock
            } else {
                Action::Manage
            },
            privacy_enabled: scenario.privacy.then_some(true),
            preferred_languages: NonEmpty::new(scenario.preferred_languages.clone()),
            target_key_containers: NonEmpty::new(
                scenario
                    .target_key_containers
                    .iter()
                    .map(|c| serde_json::from_value(serde_json::Value::String(c.clone())))
                    .collect::<Result<Vec<KeyContainer>, _>>()
                    .map_err(|e| Error::Usage(e.to_string()))?,
            ),
            client_capability_query: NonEmpty::new(
                scenario
                    .capability_query
                    .iter()
                    .map(|u| uri(u))
                    .collect::<Result<_, _>>()?,
            ),
        };
        let ephemeral = ServerEphemeral::generate(scenario.curve);
        self.exchanges.insert(
            server_session_id.clone(),
            Exchange {
                scenario,
                server_session_id,
                phase: Phase::Invocation,
                ephemeral,
                init: None,
                state: None,
                key_requests: Vec::new(),
                close: None,
                capabilities: Vec::new(),
                discovery: None,
            },
        );
        Ok(Message::from(m).to_json())
    }

    /// Consumes a response and gives the next request or the outcome. Any error ends the
    /// exchange.
    pub fn respond(&mut self, json: &str) -> Result<Reply, Error> {
        let m = Message::parse(json).map_err(|e| proto(e.to_string()))?;
        let sid = match &m {
            Message::InvocationResponse(r) => r.server_session_id.clone(),
            Message::ProvisioningInitializationResponse(r) => r.server_session_id.clone(),
            Message::CredentialDiscoveryResponse(r) => r.server_session_id.clone(),
            Message::KeyCreationResponse(r) => r.server_session_id.clone(),
            Message::ProvisioningFinalizationResponse(r) => r.server_session_id.clone(),
            other => return Err(proto(format!("{} is not a response", other.qualifier()))),
        };
        let mut ex = self
            .exchanges
            .remove(sid.as_str())
            .ok_or_else(|| proto(format!("no exchange with serverSessionId {sid}")))?;
        let r = self.step(&mut ex, m);
        if let Ok(Reply::Request(_)) = r {
            self.exchanges.insert(ex.server_session_id.clone(), ex);
        }
        r
    }

    fn step(&mut self, ex: &mut Exchange, m: Message) -> Result<Reply, Error> {
        match (ex.phase, m) {
            (Phase::Invocation, Message::InvocationResponse(r)) => self.invocation_response(ex, r),
            (Phase::Initialization, Message::ProvisioningInitializationResponse(r)) => {
                self.initialization_response(ex, r)?;
                self.after_session(ex)
            }
            (Phase::Discovery, Message::CredentialDiscoveryResponse(r)) => {
                check_ids(ex, &r.server_session_id, &r.client_session_id)?;
                let expected: Vec<&str> =
                    ex.scenario.lookups.iter().map(|l| l.id.as_str()).collect();
                let got: Vec<&str> = r.lookup_results.iter().map(|l| l.id.as_str()).collect();
                if expected != got {
                    return Err(proto(format!(
                        "lookup results {got:?}, expected {expected:?}"
                    )));
                }
                ex.discovery = Some(r);
                self.after_discovery(ex)
            }
            (Phase::KeyCreation, Message::KeyCreationResponse(r)) => {
                self.key_creation_response(ex, r)?;
                self.finalization_request(ex)
            }
            (Phase::Finalization, Message::ProvisioningFinalizationResponse(r)) => {
                self.finalization_response(ex, r)
            }
            (phase, m) => Err(proto(format!(
                "{} where the response to {phase:?} was expected",
                m.qualifier()
            ))),
        }
    }

    fn invocation_response(
        &mut self,
        ex: &mut Exchange,
        r: InvocationResponse,
    ) -> Result<Reply, Error> {
        let caps: Vec<ClientCapability> = each(&r.client_capabilities).cloned().collect();
        let mut queried = ex.scenario.capability_query.clone();
        let mut answered: Vec<String> = caps.iter().map(|c| c.type_.to_string()).collect();
        queried.sort();
        answered.sort();
        if queried != answered {
            return Err(proto("clientCapabilities do not answer exactly the query"));
        }
        ex.capabilities = caps;
        let s = &ex.scenario;
        let init = ProvisioningInitializationRequest {
            context: Context,
            qualifier: ProvisioningInitializationRequestQ,
            server_session_id: id(&ex.server_session_id)?,
            server_time: UtcTime::from_unix(now()),
            session_key_algorithm: uri(keygen2::types::uris::SESSION_1)?,
            session_key_limit: s.session_key_limit,
            session_life_time: s.session_life_time,
            server_ephemeral_key: jwk(&ex.ephemeral.public_key_spki())?,
            key_management_key: s.kmk.as_ref().map(|k| jwk(&k.spki())).transpose()?,
            updatable_key_management_keys: rollover_tree(s)?,
        };
        ex.init = Some(init.clone());
        ex.phase = Phase::Initialization;
        Ok(Reply::Request(Message::from(init).to_json()))
    }

    fn initialization_response(
        &mut self,
        ex: &mut Exchange,
        r: ProvisioningInitializationResponse,
    ) -> Result<(), Error> {
        let init = ex
            .init
            .as_ref()
            .ok_or_else(|| proto("no initialization request"))?;
        if r.server_session_id != init.server_session_id {
            return Err(proto("serverSessionId mismatch"));
        }
        if r.server_time != init.server_time {
            return Err(proto("serverTime not echoed verbatim"));
        }
        let privacy = ex.scenario.privacy;
        let device_certificate = match (&r.device_id, privacy) {
            (Some(_), true) => return Err(proto("deviceId in privacy mode")),
            (None, false) => return Err(proto("deviceId missing")),
            (Some(d), false) => Some(d.certificate_path[0].0.clone()),
            (None, true) => None,
        };
        let device_id = session::device_id(privacy, device_certificate.as_deref().unwrap_or(&[]));
        let client_key = canonical_spki(&r.client_ephemeral_key.to_spki().map_err(Error::Crypto)?)?;
        let client_time = u32::try_from(r.client_time.unix_seconds())
            .map_err(|_| proto("clientTime out of range"))?;
        let issuer_uri = self.issuer.issuer_uri().to_string();
        let keys = ex.ephemeral.derive(
            &client_key,
            r.client_session_id.as_str(),
            &ex.server_session_id,
            &issuer_uri,
            &device_id,
        )?;
        let kdf = macdata::session_kdf(
            r.client_session_id.as_str(),
            &ex.server_session_id,
            &issuer_uri,
            &device_id,
        );
        let kmk_spki = ex.scenario.kmk.as_ref().map(Kmk::spki).unwrap_or_default();
        let input = SessionAttestationInput {
            session_key_algorithm: init.session_key_algorithm.as_str(),
            privacy_enabled: privacy,
            server_ephemeral_key: &ex.ephemeral.public_key_spki(),
            client_ephemeral_key: &client_key,
            key_management_key: &kmk_spki,
            client_time,
            session_life_time: init.session_life_time,
            session_key_limit: init.session_key_limit,
            server_certificate: &self.server_certificate,
        };
        session::verify_session_attestation(
            &keys,
            &kdf,
            &input,
            device_certificate.as_deref(),
            &r.attestation,
        )?;
        // The roll-over is done: sessions under the old keys now have the new one.
        if let Some(new) = &ex.scenario.kmk {
            for c in &mut self.issued {
                if c.kmk
                    .as_ref()
                    .is_some_and(|k| ex.scenario.rollover.iter().any(|o| o.spki() == k.spki()))
                {
                    c.kmk = Some(new.clone());
                }
            }
        }
        ex.state = Some(SessionState {
            keys,
            provisioning_handle: 0,
            client_session_id: r.client_session_id.to_string(),
            server_session_id: ex.server_session_id.clone(),
            issuer_uri,
            privacy,
            device_info: placeholder_device_info(device_certificate),
            kmk: ex.scenario.kmk.clone(),
            session_key_limit: init.session_key_limit,
            attestation: r.attestation.0.clone(),
            puks: Vec::new(),
            pins: Vec::new(),
            created: Vec::new(),
        });
        Ok(())
    }

    fn after_session(&mut self, ex: &mut Exchange) -> Result<Reply, Error> {
        if ex.scenario.lookups.is_empty() {
            return self.after_discovery(ex);
        }
        let st = ex.state.as_ref().ok_or_else(|| proto("no session"))?;
        let nonce =
            keygen2::proxy::discovery::lookup_nonce(&st.client_session_id, &st.server_session_id);
        let mut lookups = Vec::new();
        for l in &ex.scenario.lookups {
            lookups.push(sign_lookup(l, &nonce)?);
        }
        let m = CredentialDiscoveryRequest {
            context: Context,
            qualifier: CredentialDiscoveryRequestQ,
            server_session_id: id(&st.server_session_id)?,
            client_session_id: id(&st.client_session_id)?,
            lookup_specifiers: NonEmpty(lookups),
        };
        ex.phase = Phase::Discovery;
        Ok(Reply::Request(Message::from(m).to_json()))
    }

    fn after_discovery(&mut self, ex: &mut Exchange) -> Result<Reply, Error> {
        if ex.scenario.keys.is_empty() || ex.scenario.unlock {
            return self.finalization_request(ex);
        }
        self.key_creation_request(ex)
    }

    fn key_creation_request(&mut self, ex: &mut Exchange) -> Result<Reply, Error> {
        let s = ex.scenario.clone();
        let st = ex.state.as_mut().ok_or_else(|| proto("no session"))?;
        let mut handle = 0u32;
        let mut next = || {
            handle += 1;
            handle
        };
        let mut key_requests = Vec::new();
        let key_json = |st: &mut SessionState,
                        pin: Option<&str>,
                        reqs: &mut Vec<KeyRequest>|
         -> Result<Vec<KeyEntrySpecifier>, Error> {
            let mut out = Vec::new();
            for k in s
                .keys
                .iter()
                .filter(|k| k.spec.pin_policy.as_deref() == pin)
            {
                let mut spec = k.spec.clone();
                let plan = pin.and_then(|p| s.pins.iter().find(|x| x.id == p));
                if let Some(preset) = plan.and_then(|p| p.preset.clone()) {
                    spec.pin_value = preset;
                }
                let req = st.key_args(&spec)?;
                out.push(key_entry_json(&req, pin.is_none())?);
                reqs.push(req);
            }
            Ok(out)
        };
        let pin_json = |st: &mut SessionState,
                        puk: Option<&PukPolicy>,
                        reqs: &mut Vec<KeyRequest>,
                        next: &mut dyn FnMut() -> u32|
         -> Result<Vec<PinPolicySpecifier>, Error> {
            let mut out = Vec::new();
            for p in s
                .pins
                .iter()
                .filter(|p| p.puk.as_deref() == puk.map(|x| x.id.as_str()))
            {
                let mut policy = p.policy.clone();
                policy.user_defined = p.preset.is_none();
                let args = st.pin_policy_args(&p.id, puk, &policy)?;
                st.pins.push(PinPolicyObject {
                    id: p.id.clone(),
                    handle: next(),
                    puk: puk.map(|x| x.id.clone()),
                    policy: policy.clone(),
                });
                let keys = key_json(st, Some(&p.id), reqs)?;
                out.push(PinPolicySpecifier {
                    id: id(&p.id)?,
                    min_length: policy.min_length,
                    max_length: policy.max_length,
                    retry_limit: policy.retry_limit,
                    format: PinFormat::try_from(policy.format)
                        .map_err(|_| Error::Usage("PIN format".into()))?,
                    user_modifiable: (!policy.user_modifiable).then_some(false),
                    grouping: Grouping::try_from(policy.grouping)
                        .ok()
                        .filter(|g| *g != Grouping::None),
                    input_method: InputMethod::try_from(policy.input_method)
                        .ok()
                        .filter(|m| *m != InputMethod::Any),
                    pattern_restrictions: NonEmpty::new(
                        PatternRestrictions::from_bits_truncate(policy.pattern_restrictions)
                            .iter()
                            .collect(),
                    ),
                    mac: Mac32(args.mac.0),
                    key_entry_specifiers: NonEmpty::new(keys)
                        .ok_or_else(|| Error::Usage(format!("PIN policy {} without keys", p.id)))?,
                });
            }
            Ok(out)
        };
        let mut puks = Vec::new();
        for p in &s.puks {
            let args = st.puk_args(&p.id, &p.value, p.format, p.retry_limit)?;
            let obj = PukPolicy {
                id: p.id.clone(),
                handle: next(),
            };
            st.puks.push(obj.clone());
            let pins = pin_json(st, Some(&obj), &mut key_requests, &mut next)?;
            puks.push(PukPolicySpecifier {
                id: id(&p.id)?,
                encrypted_puk: Sized(args.encrypted_puk.0.clone()),
                retry_limit: p.retry_limit,
                format: PinFormat::try_from(p.format)
                    .map_err(|_| Error::Usage("PUK format".into()))?,
                mac: Mac32(args.mac.0),
                pin_policy_specifiers: NonEmpty::new(pins)
                    .ok_or_else(|| Error::Usage(format!("PUK {} without PIN policies", p.id)))?,
            });
        }
        let pins = pin_json(st, None, &mut key_requests, &mut next)?;
        let bare = key_json(st, None, &mut key_requests)?;
        let m = KeyCreationRequest {
            context: Context,
            qualifier: KeyCreationRequestQ,
            server_session_id: id(&st.server_session_id)?,
            client_session_id: id(&st.client_session_id)?,
            key_entry_algorithm: uri(keygen2::types::uris::KEY_1)?,
            deferred_issuance: None,
            puk_policy_specifiers: NonEmpty::new(puks),
            pin_policy_specifiers: NonEmpty::new(pins),
            key_entry_specifiers: NonEmpty::new(bare),
        };
        ex.key_requests = key_requests;
        ex.phase = Phase::KeyCreation;
        Ok(Reply::Request(Message::from(m).to_json()))
    }

    fn key_creation_response(
        &mut self,
        ex: &mut Exchange,
        r: KeyCreationResponse,
    ) -> Result<(), Error> {
        check_ids(ex, &r.server_session_id, &r.client_session_id)?;
        let st = ex.state.as_mut().ok_or_else(|| proto("no session"))?;
        if r.generated_keys.len() != ex.key_requests.len() {
            return Err(proto("generatedKeys: wrong number of keys"));
        }
        for (i, (g, req)) in r.generated_keys.iter().zip(&ex.key_requests).enumerate() {
            if g.id.as_str() != req.spec.id {
                return Err(proto(format!(
                    "generatedKeys[{i}] is {}, expected {}",
                    g.id, req.spec.id
                )));
            }
            let attestation: [u8; 32] = g
                .attestation
                .0
                .as_slice()
                .try_into()
                .map_err(|_| proto("key attestation is not 32 bytes"))?;
            let out = CreateKeyEntryOutput {
                key_handle: (i + 1) as u32,
                public_key: Bytes(g.public_key.to_spki().map_err(Error::Crypto)?),
                attestation: Mac(attestation),
            };
            st.key_created(req, &out)?;
        }
        Ok(())
    }

    fn finalization_request(&mut self, ex: &mut Exchange) -> Result<Reply, Error> {
        let s = ex.scenario.clone();
        let st = ex.state.as_mut().ok_or_else(|| proto("no session"))?;
        let mut creds = Vec::new();
        for k in s.keys.iter().filter(|_| !s.unlock) {
            let c = &k.credential;
            let mut key = st
                .key(&k.spec.id)
                .cloned()
                .ok_or_else(|| proto(format!("key {} was not created", k.spec.id)))?;
            let cert_key = match &c.import_private {
                Some((_, spki)) => spki.clone(),
                None => key.public_key.clone(),
            };
            let path = self.issuer.ca().certify_path(&cert_key, &k.spec.id)?;
            let cp = st.certificate_path_args(&key, &path);
            key.certificate_path = path.clone();
            if let Some(x) = st.created.iter_mut().find(|x| x.id == key.id) {
                x.certificate_path = path.clone();
            }
            let mut ic = IssuedCredential {
                id: id(&k.spec.id)?,
                certificate_path: NonEmpty(path.into_iter().map(B64).collect()),
                mac: Mac32(cp.mac.0),
                trust_anchor: c.trust_anchor.then_some(true),
                import_symmetric_key: None,
                import_private_key: None,
                extensions: None,
                encrypted_extensions: None,
                property_bags: None,
                logotypes: None,
                update_key: None,
                clone_key_protection: None,
            };
            if let Some(secret) = &c.import_symmetric {
                let a = st.import_symmetric_args(&key, secret)?;
                ic.import_symmetric_key = Some(ImportKey {
                    encrypted_key: B64(a.encrypted_key.0),
                    mac: Mac32(a.mac.0),
                });
            }
            if let Some((pkcs8, _)) = &c.import_private {
                let a = st.import_private_args(&key, pkcs8)?;
                ic.import_private_key = Some(ImportKey {
                    encrypted_key: B64(a.encrypted_key.0),
                    mac: Mac32(a.mac.0),
                });
            }
            let mut ext = Vec::new();
            for (t, data) in &c.extensions {
                let a = st.extension_args(&key, t, 0, "", data)?;
                ext.push(Extension {
                    type_: uri(t)?,
                    extension_data: B64(a.extension_data.0),
                    mac: Mac32(a.mac.0),
                });
            }
            ic.extensions = NonEmpty::new(ext);
            let mut enc = Vec::new();
            for (t, plain) in &c.encrypted_extensions {
                let a = st.encrypted_extension_args(&key, t, plain)?;
                enc.push(Extension {
                    type_: uri(t)?,
                    extension_data: B64(a.extension_data.0),
                    mac: Mac32(a.mac.0),
                });
            }
            ic.encrypted_extensions = NonEmpty::new(enc);
            let mut bags = Vec::new();
            for (t, props) in &c.property_bags {
                let a = st.extension_args(&key, t, 2, "", &macdata::property_bag(props))?;
                bags.push(PropertyBag {
                    type_: uri(t)?,
                    properties: NonEmpty::new(
                        props
                            .iter()
                            .map(|p| Property {
                                name: p.name.clone(),
                                value: p.value.clone(),
                                writable: p.writable.then_some(true),
                            })
                            .collect(),
                    )
                    .ok_or_else(|| Error::Usage("empty property bag".into()))?,
                    mac: Mac32(a.mac.0),
                });
            }
            ic.property_bags = NonEmpty::new(bags);
            let mut logos = Vec::new();
            for (t, mime, image) in &c.logotypes {
                let a = st.extension_args(&key, t, 3, mime, image)?;
                logos.push(Logotype {
                    type_: uri(t)?,
                    mime_type: mime.clone(),
                    extension_data: B64(a.extension_data.0),
                    mac: Mac32(a.mac.0),
                });
            }
            ic.logotypes = NonEmpty::new(logos);
            if let Some(t) = &c.update_key {
                let (target, auth) = self.authorized_target(st, t)?;
                let a = st.post_update_args(&key, &target.key, &auth)?;
                ic.update_key = Some(post_op(&target, auth, a.mac)?);
            }
            if let Some(t) = &c.clone_key_protection {
                let (target, auth) = self.authorized_target(st, t)?;
                let a = st.post_clone_args(&key, &target.key, &auth)?;
                ic.clone_key_protection = Some(post_op(&target, auth, a.mac)?);
            }
            creds.push(ic);
        }
        let mut unlocks = Vec::new();
        for t in &s.unlock_keys {
            let (target, auth) = self.authorized_target(st, t)?;
            let a = st.post_unlock_args(&target.key, &auth);
            unlocks.push(post_op(&target, auth, a.mac)?);
        }
        let mut deletes = Vec::new();
        for t in &s.delete_keys {
            let (target, auth) = self.authorized_target(st, t)?;
            let a = st.post_delete_args(&target.key, &auth);
            deletes.push(post_op(&target, auth, a.mac)?);
        }
        let close = st.close_args(&random_bytes(32));
        let m = ProvisioningFinalizationRequest {
            context: Context,
            qualifier: ProvisioningFinalizationRequestQ,
            server_session_id: id(&st.server_session_id)?,
            client_session_id: id(&st.client_session_id)?,
            issued_credentials: NonEmpty::new(creds),
            unlock_keys: NonEmpty::new(unlocks),
            delete_keys: NonEmpty::new(deletes),
            session_close_data: SessionCloseData {
                nonce: B64(close.args.nonce.0.clone()),
                mac: Mac32(close.args.mac.0),
            },
        };
        ex.close = Some(close);
        ex.phase = Phase::Finalization;
        Ok(Reply::Request(Message::from(m).to_json()))
    }

    /// The credential `t` names and the Target Key Reference authorization by its KMK.
    fn authorized_target(
        &self,
        st: &mut SessionState,
        t: &TargetRef,
    ) -> Result<(Credential, Vec<u8>), Error> {
        let target = self.target(t)?;
        let kmk = target
            .kmk
            .as_ref()
            .ok_or_else(|| Error::Usage("target without KMK".into()))?;
        let auth = st.authorization(&target.key, kmk)?;
        Ok((target, auth))
    }

    fn target(&self, t: &TargetRef) -> Result<Credential, Error> {
        self.credential(t).cloned().ok_or_else(|| {
            Error::Usage(format!(
                "no issued credential {} of exchange {}",
                t.key_id, t.server_session_id
            ))
        })
    }

    fn finalization_response(
        &mut self,
        ex: &mut Exchange,
        r: ProvisioningFinalizationResponse,
    ) -> Result<Reply, Error> {
        check_ids(ex, &r.server_session_id, &r.client_session_id)?;
        let st = ex.state.as_ref().ok_or_else(|| proto("no session"))?;
        let close = ex.close.as_ref().ok_or_else(|| proto("no close request"))?;
        st.keys.verify_close_attestation(
            close.attestation_counter,
            &close.args.nonce,
            &r.attestation.0,
        )?;
        let s = &ex.scenario;
        // Targets that no longer exist on the card.
        let gone: Vec<TargetRef> = s
            .delete_keys
            .iter()
            .cloned()
            .chain(
                s.keys
                    .iter()
                    .filter_map(|k| k.credential.update_key.clone()),
            )
            .collect();
        // The sessions owning a post-op target are taken over by this session.
        let taken: Vec<(String, String)> = s
            .unlock_keys
            .iter()
            .chain(s.delete_keys.iter())
            .chain(
                s.keys
                    .iter()
                    .filter_map(|k| k.credential.update_key.as_ref()),
            )
            .chain(
                s.keys
                    .iter()
                    .filter_map(|k| k.credential.clone_key_protection.as_ref()),
            )
            .filter_map(|t| self.credential(t))
            .map(|c| (c.server_session_id.clone(), c.client_session_id.clone()))
            .collect();
        self.issued.retain(|c| {
            !gone
                .iter()
                .any(|t| t.server_session_id == c.issued_in && t.key_id == c.key.id)
        });
        for c in &mut self.issued {
            if taken.contains(&(c.server_session_id.clone(), c.client_session_id.clone())) {
                c.server_session_id = st.server_session_id.clone();
                c.client_session_id = st.client_session_id.clone();
                c.kmk = st.kmk.clone();
            }
        }
        let credentials: Vec<Credential> = st
            .created
            .iter()
            .map(|k| Credential {
                issued_in: st.server_session_id.clone(),
                server_session_id: st.server_session_id.clone(),
                client_session_id: st.client_session_id.clone(),
                key: k.clone(),
                kmk: st.kmk.clone(),
            })
            .collect();
        self.issued.extend(credentials.iter().cloned());
        Ok(Reply::Done(Box::new(Outcome {
            scenario: s.name.clone(),
            server_session_id: st.server_session_id.clone(),
            client_session_id: st.client_session_id.clone(),
            privacy: st.privacy,
            credentials,
            capabilities: ex.capabilities.clone(),
            discovery: ex.discovery.clone(),
            close_attestation: r.attestation.0,
        })))
    }
}

fn check_ids(ex: &Exchange, server: &Id, client: &Id) -> Result<(), Error> {
    let st = ex.state.as_ref().ok_or_else(|| proto("no session"))?;
    if server.as_str() != st.server_session_id || client.as_str() != st.client_session_id {
        return Err(proto("session ids do not match"));
    }
    Ok(())
}

fn post_op(target: &Credential, authorization: Vec<u8>, mac: Mac) -> Result<PostOperation, Error> {
    use sha2::Digest;
    let ee = target
        .key
        .ee_certificate()
        .ok_or_else(|| Error::Usage("target without certificate".into()))?;
    Ok(PostOperation {
        finger_print: Sized(sha2::Sha256::digest(ee).to_vec()),
        server_session_id: id(&target.server_session_id)?,
        client_session_id: id(&target.client_session_id)?,
        authorization: B64(authorization),
        mac: Mac32(mac.0),
    })
}

fn key_entry_json(req: &KeyRequest, top_level: bool) -> Result<KeyEntrySpecifier, Error> {
    let a = &req.args;
    let s = &req.spec;
    let encrypted =
        req.spec.pin_policy.is_some() && !a.pin_value.is_empty() && s.encrypt_pin != Some(false);
    Ok(KeyEntrySpecifier {
        id: id(&s.id)?,
        encrypted_pin: encrypted.then(|| Sized(a.pin_value.0.clone())),
        user_modifiable: None,
        enable_pin_caching: s.enable_pin_caching.then_some(true),
        device_pin_protection: (top_level && s.device_pin_protection).then_some(true),
        server_seed: (!s.server_seed.is_empty()).then(|| B64(s.server_seed.clone())),
        biometric_protection: BiometricProtection::try_from(s.biometric_protection)
            .ok()
            .filter(|b| *b != BiometricProtection::None),
        export_protection: ExportProtection::try_from(s.export_protection)
            .ok()
            .filter(|e| *e != ExportProtection::NonExportable),
        delete_protection: DeleteProtection::try_from(s.delete_protection)
            .ok()
            .filter(|d| *d != DeleteProtection::None),
        friendly_name: (!s.friendly_name.is_empty()).then(|| s.friendly_name.clone()),
        app_usage: AppUsage::try_from(s.app_usage).map_err(|_| Error::Usage("appUsage".into()))?,
        key_algorithm: uri(&s.key_algorithm)?,
        key_parameters: (!s.key_parameters.is_empty()).then(|| B64(s.key_parameters.clone())),
        endorsed_algorithms: NonEmpty::new(
            s.endorsed_algorithms
                .iter()
                .map(|u| uri(u))
                .collect::<Result<_, _>>()?,
        ),
        mac: Mac32(a.mac.0),
    })
}

/// `updatableKeyManagementKeys` for the roll-over chain: each node holds an older key that
/// authorizes its parent (the newer key).
fn rollover_tree(s: &Scenario) -> Result<Option<NonEmpty<UpdatableKeyManagementKey>>, Error> {
    let Some(top) = &s.kmk else {
        return Ok(None);
    };
    let mut node: Option<NonEmpty<UpdatableKeyManagementKey>> = None;
    let chain: Vec<(&Kmk, &Kmk)> = s
        .rollover
        .iter()
        .enumerate()
        .map(|(i, old)| (old, if i == 0 { top } else { &s.rollover[i - 1] }))
        .collect();
    for (old, parent) in chain.into_iter().rev() {
        node = Some(NonEmpty(vec![UpdatableKeyManagementKey {
            public_key: jwk(&old.spki())?,
            authorization: B64(old.authorize_roll_over(parent)),
            updatable_key_management_keys: node,
        }]));
    }
    Ok(node)
}

/// A lookup specifier signed (JSF over JCS) with the lookup's KMK: ES256 or RS256.
fn sign_lookup(l: &super::scenario::LookupPlan, nonce: &[u8]) -> Result<LookupSpecifier, Error> {
    let pk = jwk(&l.kmk.spki())?;
    let algorithm = match &pk {
        Jwk::Rsa { .. } => "RS256",
        Jwk::Ec { crv, .. } if crv == "P-256" => "ES256",
        _ => {
            return Err(Error::Usage(
                "lookup KMKs must be P-256 or RSA (SHA-256)".into(),
            ))
        }
    };
    let mut spec = LookupSpecifier {
        id: id(&l.id)?,
        nonce: B64(nonce.to_vec()),
        search_filter: (l.filter != SearchFilter::default()).then(|| l.filter.clone()),
        signature: JsfSignature {
            algorithm: algorithm.into(),
            key_id: None,
            public_key: pk,
            value: B64(Vec::new()),
        },
    };
    let data = jcs::jsf_signed_data(&spec).map_err(Error::Crypto)?;
    spec.signature.value = B64(l.kmk.sign(&data));
    Ok(spec)
}

fn placeholder_device_info(device_certificate: Option<Vec<u8>>) -> DeviceInfo {
    DeviceInfo {
        api_level: 0,
        device_type: 0,
        update_url: apdu_spec::Uri::new("urn:unknown").expect("valid URI"),
        vendor_name: String::new(),
        vendor_description: String::new(),
        certificates: device_certificate.into_iter().map(Bytes).collect(),
        supported_algorithms: Vec::new(),
        crypto_data_size: 0,
        extension_data_size: 0,
        device_pin_support: false,
        biometric_support: false,
    }
}
