//! Helpers of the KeyGen2 conformance tests: the card over PC/SC, a scripted user, exchanges
//! issuer ↔ proxy (over HTTP on localhost or in memory), and independent checks on the card.
#![allow(dead_code)]

use apdu_spec::{
    GetKeyAttributesArgs, GetKeyAttributesOutput, GetKeyProtectionInfoArgs,
    GetKeyProtectionInfoOutput,
};
use conformance_tests::CardUnderTest;
#[allow(unused_imports)] // not every test binary that includes this file uses them
pub use conformance_tests::{all_keys, sessions};
use keygen2::proxy::{PinPrompt, Proxy, ProxyConfig, ProxyError, UserInterface};
use pcsc_bridge::{PcscTransport, Sks, Transport};
use sks_issuer::keygen2::{Credential, KeyGen2Server, Outcome, Reply, Scenario};
use std::collections::VecDeque;
use zeroize::Zeroizing;

pub type PcscCard = Sks<PcscTransport>;

/// A card in the private pcscd's reader and a PC/SC client of it.
pub fn pcsc_card() -> (CardUnderTest<'static>, PcscCard) {
    conformance_tests::init_logging();
    let cut = CardUnderTest::start(applet::open_card(None).expect("open card"));
    let sks = cut.client();
    (cut, sks)
}

/// A scripted user: PINs in order; `None` cancels the dialog. Records every prompt.
#[derive(Default)]
pub struct User {
    pub answers: VecDeque<Option<&'static str>>,
    pub prompts: Vec<PinPrompt>,
}

impl User {
    pub fn pins(p: &[&'static str]) -> Self {
        Self {
            answers: p.iter().map(|s| Some(*s)).collect(),
            prompts: Vec::new(),
        }
    }
}

impl UserInterface for User {
    fn pin(&mut self, p: &PinPrompt) -> Option<Zeroizing<String>> {
        self.prompts.push(p.clone());
        self.answers
            .pop_front()
            .flatten()
            .map(|s| Zeroizing::new(s.to_string()))
    }
}

pub fn config(server: &KeyGen2Server) -> ProxyConfig {
    ProxyConfig {
        issuer_uri: server.issuer_uri().to_string(),
        server_certificate: server.server_certificate().to_vec(),
        client_attributes: Vec::new(),
        image_preferences: Vec::new(),
        client_time: None,
    }
}

/// Runs an exchange in memory. `tamper` may change each request before the proxy sees it.
pub fn exchange<T: Transport>(
    server: &mut KeyGen2Server,
    sks: &mut Sks<T>,
    scenario: Scenario,
    user: User,
    mut tamper: impl FnMut(&str, String) -> String,
) -> Result<Outcome, ProxyError> {
    let cfg = config(server);
    let mut proxy = Proxy::new(sks, user, cfg);
    let mut request = server.start(scenario).expect("start");
    loop {
        let q = qualifier(&request);
        let request_sent = tamper(&q, request);
        let response = proxy.handle_json(&request_sent)?;
        match server
            .respond(&response)
            .expect("the issuer accepts the response")
        {
            Reply::Request(r) => request = r,
            Reply::Done(o) => return Ok(*o),
        }
    }
}

pub fn qualifier(json: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["@qualifier"].as_str().unwrap().to_string()
}

pub fn attributes<T: Transport>(sks: &mut Sks<T>, key: u32) -> GetKeyAttributesOutput {
    sks.get_key_attributes(&GetKeyAttributesArgs { key_handle: key })
        .expect("getKeyAttributes")
}

pub fn protection<T: Transport>(sks: &mut Sks<T>, key: u32) -> GetKeyProtectionInfoOutput {
    sks.get_key_protection_info(&GetKeyProtectionInfoArgs { key_handle: key })
        .expect("getKeyProtectionInfo")
}

/// The key handle on the card of an issued credential, found independently: the key whose
/// certificate path is the one issued.
pub fn find<T: Transport>(sks: &mut Sks<T>, c: &Credential) -> Option<u32> {
    all_keys(sks).into_iter().map(|(k, _)| k).find(|&k| {
        let a = attributes(sks, k);
        a.certificates
            .iter()
            .map(|c| c.0.clone())
            .collect::<Vec<_>>()
            == c.key.certificate_path
    })
}

/// The handle of the closed session with these ids.
pub fn session_of<T: Transport>(sks: &mut Sks<T>, server: &str, client: &str) -> Option<u32> {
    sessions(sks, false)
        .into_iter()
        .find(|(_, i)| {
            i.client_session_id.as_str() == client && i.server_session_id.as_str() == server
        })
        .map(|(h, _)| h)
}

/// The credential `id` of an outcome.
pub fn cred<'a>(o: &'a Outcome, id: &str) -> &'a Credential {
    o.credentials
        .iter()
        .find(|c| c.key.id == id)
        .unwrap_or_else(|| panic!("no credential {id}"))
}

/// Checks an outcome on the card: every credential present in a closed session with the
/// issued certificate path, the public key of the certificate being the attested one, and the
/// app usage requested. Returns the key handles.
pub fn verify_on_card<T: Transport>(sks: &mut Sks<T>, o: &Outcome) -> Vec<u32> {
    assert!(
        sessions(sks, true).is_empty(),
        "no provisioning session stays open"
    );
    let mut handles = Vec::new();
    for c in &o.credentials {
        let k = find(sks, c).unwrap_or_else(|| panic!("{} is not on the card", c.key.id));
        let owner = all_keys(sks)
            .into_iter()
            .find(|(h, _)| *h == k)
            .map(|(_, p)| p);
        assert_eq!(
            owner,
            session_of(sks, &o.server_session_id, &o.client_session_id),
            "{} belongs to the exchange's closed session",
            c.key.id
        );
        let a = attributes(sks, k);
        assert_eq!(a.app_usage, c.key.app_usage, "{}: appUsage", c.key.id);
        handles.push(k);
    }
    handles
}

/// Verifies `signature` (DER for ECDSA, PKCS#1 for RSA) over `data` with the public key of the
/// DER certificate `cert`, with the `openssl` command.
pub fn openssl_verify(cert: &[u8], data: &[u8], signature: &[u8]) {
    let dir = conformance_tests::TempDir::new("kg2-openssl");
    let p = |n: &str| dir.file(n);
    std::fs::write(p("cert.der"), cert).unwrap();
    std::fs::write(p("data"), data).unwrap();
    std::fs::write(p("sig"), signature).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["x509", "-inform", "DER", "-in"])
        .arg(p("cert.der"))
        .args(["-pubkey", "-noout", "-out"])
        .arg(p("pub.pem"))
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl x509: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(p("pub.pem"))
        .arg("-signature")
        .arg(p("sig"))
        .arg(p("data"))
        .output()
        .expect("openssl is installed");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("Verified OK"),
        "openssl dgst -verify: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
