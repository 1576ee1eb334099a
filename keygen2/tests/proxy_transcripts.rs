//! The proxy answers the reference issuer's requests of the transcripts as the reference proxy
//! did, with this card in process: every InvocationResponse is identical (canonical JSON), and
//! every ProvisioningInitializationRequest (KMK roll-over and P-521 included) opens a session
//! whose response has the reference's shape. Later messages are bound to the reference run's
//! session keys and cannot be replayed (transcripts/README.md).

use keygen2::messages::ImageAttributes;
use keygen2::proxy::{PinPrompt, Proxy, ProxyConfig, UserInterface};
use keygen2::{jcs, Message};
use pcsc_bridge::{InProcess, Sks};
use std::path::PathBuf;
use zeroize::Zeroizing;

struct NoUser;

impl UserInterface for NoUser {
    fn pin(&mut self, _: &PinPrompt) -> Option<Zeroizing<String>> {
        None
    }
}

fn runs() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("tests/transcripts")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

fn file(run: &PathBuf, prefix: &str) -> Option<String> {
    std::fs::read_dir(run)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .map(|p| std::fs::read_to_string(p).unwrap())
}

fn config() -> ProxyConfig {
    let attr = |a: &str, v: &[&str]| {
        (
            format!("https://webpki.github.io/keygen2/clientattr#{a}"),
            v.iter().map(|s| s.to_string()).collect(),
        )
    };
    ProxyConfig {
        issuer_uri: "http://issuer.example.com/invocation".into(),
        server_certificate: vec![0x30, 0x03, 0x02, 0x01, 0x01],
        // The reference test proxy's fixed answers.
        client_attributes: vec![
            attr("imei-number", &["490154203237518"]),
            attr(
                "ip-address",
                &["fe80::4465:62dc:5fa5:4766%10", "192.168.0.202"],
            ),
        ],
        image_preferences: vec![(
            "https://webpki.github.io/keygen2/logotype#card".into(),
            ImageAttributes {
                mime_type: "image/png".into(),
                width: 200,
                height: 120,
            },
        )],
        client_time: None,
    }
}

#[test]
fn invocation_and_initialization_as_the_reference_proxy() {
    let mut checked = 0;
    for run in runs() {
        // The transcripts were recorded against this card before it stopped claiming a
        // biometric reader (issue 9); the simulation answers BiometricSupport.1 as it did then.
        let options = applet::CardOptions {
            simulate_biometric: true,
        };
        let card = applet::open_card_with(None, options).expect("card");
        let mut sks = Sks::new(InProcess::from_box(card).expect("select"));
        let mut proxy = Proxy::new(&mut sks, NoUser, config());
        let name = run.file_name().unwrap().to_string_lossy().to_string();
        let ours = proxy.handle_json(&file(&run, "01-").unwrap()).unwrap();
        assert_eq!(
            jcs::canonicalize_text(&ours).unwrap(),
            jcs::canonicalize_text(&file(&run, "02-").unwrap()).unwrap(),
            "{name}: InvocationResponse"
        );
        let Some(init) = file(&run, "03-") else {
            continue; // DevicePIN.1: the issuer stopped
        };
        let Message::ProvisioningInitializationRequest(req) = Message::parse(&init).unwrap() else {
            panic!("{name}: 03 is not a ProvisioningInitializationRequest")
        };
        let ours = proxy
            .handle_json(&init)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let Message::ProvisioningInitializationResponse(r) = Message::parse(&ours).unwrap() else {
            panic!("{name}: not a ProvisioningInitializationResponse")
        };
        let Message::ProvisioningInitializationResponse(reference) =
            Message::parse(&file(&run, "04-").unwrap()).unwrap()
        else {
            panic!("{name}: 04")
        };
        assert_eq!(r.server_time, req.server_time, "{name}: serverTime echoed");
        assert_eq!(
            r.client_ephemeral_key.curve(),
            req.server_ephemeral_key.curve(),
            "{name}"
        );
        assert_eq!(
            r.device_id.is_some(),
            reference.device_id.is_some(),
            "{name}: deviceId"
        );
        assert_eq!(
            r.attestation.len(),
            reference.attestation.len(),
            "{name}: attestation"
        );
        assert_eq!(r.client_session_id.as_str().len(), 32, "{name}");
        checked += 1;
    }
    assert_eq!(checked, 41);
}
